//! Fitting with linfa and turning the result into the float reference models that
//! `model::quantize` compiles for the kernel.

use color_eyre::eyre::{bail, eyre, Result};
use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use linfa_trees::{DecisionTree, TreeNode};
use ndarray::{Array1, Array2};
use shared::features::{FeatureVector, FEATURE_COUNT};
use shared::model::{LOG2_FRAC_BITS, TRANSFORM_LOG2};

use crate::model::quantize::{FloatLogistic, FloatNode, FloatTree};

/// The training matrix over the selected kernel features.
pub fn matrix(rows: &[&FeatureVector], feature_ids: &[usize], transform: impl Fn(i64) -> f64) -> Array2<f64> {
    let mut x = Array2::zeros((rows.len(), feature_ids.len()));
    for (r, row) in rows.iter().enumerate() {
        for (c, &f) in feature_ids.iter().enumerate() {
            x[(r, c)] = transform(row[f]);
        }
    }
    x
}

fn check_classes(y: &[bool]) -> Result<()> {
    let positives = y.iter().filter(|&&m| m).count();
    if positives == 0 || positives == y.len() {
        bail!(
            "the training split has only one class ({} rows, {} malicious): a detector needs both",
            y.len(),
            positives
        );
    }
    Ok(())
}

pub struct FittedTree {
    pub tree: FloatTree,
    /// Impurity-based importance per selected feature (sums to 1).
    pub importance: Vec<f64>,
}

/// A linfa decision tree, converted into the float reference tree with leaf probabilities
/// measured on the training rows (linfa's leaves hold a class, the probe needs P(malicious)).
pub fn tree(
    rows: &[&FeatureVector],
    y: &[bool],
    feature_ids: &[usize],
    max_depth: usize,
) -> Result<FittedTree> {
    check_classes(y)?;
    let x = matrix(rows, feature_ids, |v| v as f64);
    let data = linfa::Dataset::new(x, Array1::from(y.to_vec()));
    let fitted = DecisionTree::params()
        .max_depth(Some(max_depth))
        .min_weight_split(2.0)
        .min_weight_leaf(1.0)
        .fit(&data)
        .map_err(|e| eyre!("decision tree training failed: {e}"))?;
    let mut nodes = Vec::new();
    convert(fitted.root_node(), feature_ids, &mut nodes);
    let mut tree = FloatTree { nodes };
    // Route the training rows to their leaves and set each leaf's P(malicious).
    let mut counts = vec![(0u64, 0u64); tree.nodes.len()];
    for (row, &m) in rows.iter().zip(y) {
        let leaf = leaf_of(&tree, row);
        counts[leaf].0 += 1;
        counts[leaf].1 += m as u64;
    }
    for (node, (n, pos)) in tree.nodes.iter_mut().zip(counts) {
        if let FloatNode::Leaf { p_malicious } = node {
            // A leaf no training row reaches keeps linfa's class (0 or 1).
            if n > 0 {
                *p_malicious = pos as f64 / n as f64;
            }
        }
    }
    let importance = fitted.feature_importance();
    Ok(FittedTree { tree, importance })
}

fn convert(node: &TreeNode<f64, bool>, feature_ids: &[usize], out: &mut Vec<FloatNode>) -> usize {
    let me = out.len();
    let children: Vec<_> = node.children().into_iter().map(|c| c.as_deref()).collect();
    match (node.is_leaf(), children.as_slice()) {
        (false, [Some(left), Some(right)]) => {
            let (feature, threshold, _) = node.split();
            out.push(FloatNode::Leaf { p_malicious: 0.0 });
            let l = convert(left, feature_ids, out);
            let r = convert(right, feature_ids, out);
            out[me] = FloatNode::Split {
                feature: feature_ids[feature],
                threshold,
                left: l,
                right: r,
            };
        }
        _ => {
            let p = if node.prediction().unwrap_or(false) {
                1.0
            } else {
                0.0
            };
            out.push(FloatNode::Leaf { p_malicious: p });
        }
    }
    me
}

fn leaf_of(tree: &FloatTree, x: &FeatureVector) -> usize {
    let mut i = 0;
    while let Some(FloatNode::Split {
        feature,
        threshold,
        left,
        right,
    }) = tree.nodes.get(i)
    {
        i = if (x[*feature] as f64) <= *threshold {
            *left
        } else {
            *right
        };
    }
    i
}

/// The transformed value the logistic model sees: log2(1 + x) as the probe computes it.
pub fn log2_value(v: i64) -> f64 {
    crate::model::quantize::transformed(v, TRANSFORM_LOG2) as f64 / (1u64 << LOG2_FRAC_BITS) as f64
}

pub struct FittedLogistic {
    pub model: FloatLogistic,
    /// |weight| on standardized features, per selected feature.
    pub standardized_weights: Vec<f64>,
}

/// A linfa logistic regression on log2-transformed, standardized features; the standardization
/// (fitted on the training rows only) is folded into the weights and the intercept.
pub fn logistic(
    rows: &[&FeatureVector],
    y: &[bool],
    feature_ids: &[usize],
    alpha: f64,
) -> Result<FittedLogistic> {
    check_classes(y)?;
    let mut x = matrix(rows, feature_ids, log2_value);
    let n = x.nrows() as f64;
    let mut mean = vec![0.0; feature_ids.len()];
    let mut std = vec![0.0; feature_ids.len()];
    for c in 0..feature_ids.len() {
        let col = x.column(c);
        mean[c] = col.sum() / n;
        std[c] = (col.iter().map(|v| (v - mean[c]).powi(2)).sum::<f64>() / n).sqrt();
        let (m, s) = (mean[c], std[c]);
        x.column_mut(c)
            .mapv_inplace(|v| if s > 0.0 { (v - m) / s } else { 0.0 });
    }
    let data = linfa::Dataset::new(x, Array1::from(y.to_vec()));
    let fitted = LogisticRegression::default()
        .alpha(alpha)
        .max_iterations(300)
        .fit(&data)
        .map_err(|e| eyre!("logistic regression training failed: {e}"))?;
    // linfa-logistic models P(the *more frequent* class); flip the sign when that is benign so
    // that the logit is always that of "malicious".
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    let mut weights = [0.0; FEATURE_COUNT];
    let mut bias = sign * fitted.intercept();
    for (c, &f) in feature_ids.iter().enumerate() {
        let w = sign * fitted.params()[c];
        if std[c] > 0.0 {
            weights[f] = w / std[c];
            bias -= w * mean[c] / std[c];
        }
    }
    let model = FloatLogistic {
        bias,
        weights,
        transforms: [TRANSFORM_LOG2; FEATURE_COUNT],
    };
    let standardized_weights = fitted.params().iter().map(|w| w.abs()).collect();
    Ok(FittedLogistic {
        model,
        standardized_weights,
    })
}

pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// The logit of probability `p` (the logistic model's decision threshold).
pub fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}
