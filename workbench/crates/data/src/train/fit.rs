//! Fitting (the histogram CART and L-BFGS logistic regression of `workbench-fit`, which replaced
//! linfa-trees and linfa-logistic after measuring them 17-22x and 12-19x slower than
//! scikit-learn: docs/BENCHMARKS.md, "Training") and turning the result into the float reference
//! models that `model::quantize` compiles for the kernel.

use super::{bail, Result};
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

pub fn check_classes(y: &[bool]) -> Result<()> {
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
    weights: Option<&[f64]>,
    feature_ids: &[usize],
    max_depth: usize,
) -> Result<FittedTree> {
    check_classes(y)?;
    // One column of floats at a time (binned, then dropped), not all of them at once.
    let fitted = workbench_fit::fit_columns(
        feature_ids.len(),
        |c| rows.iter().map(|r| r[feature_ids[c]] as f64).collect(),
        y,
        weights,
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
            leaf @ FloatNode::Leaf { .. } => leaf,
        })
        .collect();
    let mut tree = FloatTree { nodes };
    set_leaf_probabilities(&mut tree, rows, y, weights);
    Ok(FittedTree {
        tree,
        importance: fitted.importance,
    })
}

/// Routes the training rows to their leaves and sets each leaf's P(malicious) (weighted), through
/// the thresholds exactly as the compiled model will route them.
pub fn set_leaf_probabilities(
    tree: &mut FloatTree,
    rows: &[&FeatureVector],
    y: &[bool],
    weights: Option<&[f64]>,
) {
    let mut sums = vec![(0f64, 0f64); tree.nodes.len()];
    for (i, (row, &m)) in rows.iter().zip(y).enumerate() {
        let leaf = leaf_of(tree, row);
        let w = weights.map_or(1.0, |w| w[i]);
        sums[leaf].0 += w;
        if m {
            sums[leaf].1 += w;
        }
    }
    for (node, (n, pos)) in tree.nodes.iter_mut().zip(sums) {
        if let FloatNode::Leaf { p_malicious } = node {
            if n > 0.0 {
                *p_malicious = pos / n;
            }
        }
    }
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
    weights: Option<&[f64]>,
    feature_ids: &[usize],
    alpha: f64,
) -> Result<FittedLogistic> {
    check_classes(y)?;
    let Standardized { x, mean, std } = standardized(rows, feature_ids);
    let d = feature_ids.len();
    // The matrix's own buffer (row-major, as `x.iter()` reads it), not a copy of it.
    let flat: Vec<f64> = if x.is_standard_layout() {
        x.into_raw_vec_and_offset().0
    } else {
        x.iter().copied().collect()
    };
    let fitted = workbench_fit::logistic::fit_weighted(
        &flat,
        y,
        weights,
        d,
        workbench_fit::logistic::LogisticParams {
            alpha,
            max_iterations: 300,
            tolerance: 1e-4,
        },
    );
    unstandardize(fitted.intercept, &fitted.weights, feature_ids, &mean, &std)
}

/// The logistic model's training matrix: log2-transformed features, standardized with the
/// training rows' mean and (population) deviation.
pub struct Standardized {
    pub x: Array2<f64>,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

pub fn standardized(rows: &[&FeatureVector], feature_ids: &[usize]) -> Standardized {
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
    Standardized { x, mean, std }
}

/// The float reference model from weights on standardized features (the logit of
/// "malicious"): the standardization is folded into the weights and the intercept.
pub fn unstandardize(
    intercept: f64,
    fitted_weights: &[f64],
    feature_ids: &[usize],
    mean: &[f64],
    std: &[f64],
) -> Result<FittedLogistic> {
    if !intercept.is_finite() || fitted_weights.iter().any(|w| !w.is_finite()) {
        bail!("logistic regression training failed: the fit diverged (non-finite weights)");
    }
    let mut weights = [0.0; FEATURE_COUNT];
    let mut bias = intercept;
    for (c, &f) in feature_ids.iter().enumerate() {
        let w = fitted_weights[c];
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
    let standardized_weights = fitted_weights.iter().map(|w| w.abs()).collect();
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
