//! Fitting (the histogram CART and L-BFGS logistic regression of `workbench-fit`, which replaced
//! linfa-trees and linfa-logistic after measuring them 17-22x and 12-19x slower than
//! scikit-learn: docs/BENCHMARKS.md, "Training") and turning the result into the float reference
//! models that `model::quantize` compiles for the kernel.

use color_eyre::eyre::{bail, Result};
use ndarray::Array2;
use shared::features::{FeatureVector, FEATURE_COUNT};
use shared::model::{LOG2_FRAC_BITS, TRANSFORM_LOG2};

use workbench_flow::model::quantize::{FloatLogistic, FloatNode, FloatTree};

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

/// A CART tree (Gini, the histogram split finder of `workbench-fit`; linfa-trees' split search
/// costs nodes x features x all rows, see `train::hist_tree`), as the float reference tree with
/// leaf probabilities measured on the training rows (the probe needs P(malicious)).
pub fn tree(
    rows: &[&FeatureVector],
    y: &[bool],
    feature_ids: &[usize],
    max_depth: usize,
) -> Result<FittedTree> {
    check_classes(y)?;
    let columns: Vec<Vec<f64>> = feature_ids
        .iter()
        .map(|&f| rows.iter().map(|r| r[f] as f64).collect())
        .collect();
    let slices: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
    let fitted = super::hist_tree::fit(
        &slices,
        y,
        super::hist_tree::HistTreeParams {
            max_depth,
            min_samples_split: 2,
            min_samples_leaf: 1,
        },
    );
    // Split features index the selected columns: map them to kernel feature ids.
    let nodes = fitted
        .tree
        .nodes
        .into_iter()
        .map(|n| match n {
            FloatNode::Split {
                feature,
                threshold,
                left,
                right,
            } => FloatNode::Split {
                feature: feature_ids[feature],
                threshold,
                left,
                right,
            },
            leaf => leaf,
        })
        .collect();
    let mut tree = FloatTree { nodes };
    // Route the training rows to their leaves and set each leaf's P(malicious), through the
    // thresholds exactly as the compiled model will route them.
    let mut counts = vec![(0u64, 0u64); tree.nodes.len()];
    for (row, &m) in rows.iter().zip(y) {
        let leaf = leaf_of(&tree, row);
        counts[leaf].0 += 1;
        counts[leaf].1 += m as u64;
    }
    for (node, (n, pos)) in tree.nodes.iter_mut().zip(counts) {
        if let FloatNode::Leaf { p_malicious } = node {
            if n > 0 {
                *p_malicious = pos as f64 / n as f64;
            }
        }
    }
    Ok(FittedTree {
        tree,
        importance: fitted.importance,
    })
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
    workbench_flow::model::quantize::transformed(v, TRANSFORM_LOG2) as f64 / (1u64 << LOG2_FRAC_BITS) as f64
}

pub struct FittedLogistic {
    pub model: FloatLogistic,
    /// |weight| on standardized features, per selected feature.
    pub standardized_weights: Vec<f64>,
}

/// L2-regularised logistic regression (L-BFGS, `workbench-fit`; linfa-logistic was two orders of
/// magnitude slower than scikit-learn on the same rows, docs/BENCHMARKS.md) on log2-transformed,
/// standardized features; the standardization (fitted on the training rows only) is folded into
/// the weights and the intercept.
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
    let d = feature_ids.len();
    let flat: Vec<f64> = x.iter().copied().collect();
    let fitted = workbench_fit::logistic::fit(
        &flat,
        y,
        d,
        workbench_fit::logistic::LogisticParams {
            alpha,
            max_iterations: 300,
            tolerance: 1e-4,
        },
    );
    if !fitted.intercept.is_finite() || fitted.weights.iter().any(|w| !w.is_finite()) {
        bail!("logistic regression training failed: the fit diverged (non-finite weights)");
    }
    // The fit's logit is that of "malicious" (y = true).
    let mut weights = [0.0; FEATURE_COUNT];
    let mut bias = fitted.intercept;
    for (c, &f) in feature_ids.iter().enumerate() {
        let w = fitted.weights[c];
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
    let standardized_weights = fitted.weights.iter().map(|w| w.abs()).collect();
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
