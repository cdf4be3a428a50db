//! The linfa engine (`train --engine linfa`): linfa-trees' CART and linfa-logistic fitted on the
//! same matrices as the default engine, then turned into the same float reference models, so
//! the compiler, the splits and the reports do not know which engine ran. (Moved here from the
//! benchmark, which times these same calls against scikit-learn: docs/BENCHMARKS.md.)

use super::{Result, TrainError};
use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use linfa_trees::{DecisionTree, TreeNode};
use ndarray::{Array1, Array2};
use shared::features::FeatureVector;

use super::fit::{
    check_classes, matrix, set_leaf_probabilities, standardized, unstandardize, FittedLogistic, FittedTree,
};
use workbench_flow::model::quantize::{FloatNode, FloatTree};

/// A fitted linfa tree on a matrix (rows x selected columns), with sample weights if given.
pub fn fit_tree_matrix(
    x: Array2<f64>,
    y: &[bool],
    weights: Option<&[f64]>,
    max_depth: usize,
) -> Result<DecisionTree<f64, bool>> {
    let mut data = linfa::Dataset::new(x, Array1::from(y.to_vec()));
    // A side of a split must hold some weight: one row's worth (1) without weights, the
    // smallest row's with them (a decision-point sample of a long flow weighs 1/its samples).
    let mut min_leaf = 1.0f32;
    if let Some(w) = weights {
        data = data.with_weights(w.iter().map(|&v| v as f32).collect());
        min_leaf = w.iter().copied().fold(f64::INFINITY, f64::min).max(1e-9) as f32 * 0.5;
    }
    DecisionTree::params()
        .max_depth(Some(max_depth))
        .min_weight_split(2.0)
        .min_weight_leaf(min_leaf)
        .fit(&data)
        .map_err(|e| TrainError::Linfa {
            engine: "linfa-trees",
            source: Box::new(e),
        })
}

/// The float tree of a linfa tree, split features mapped through `feature_ids` (node 0 the root,
/// `x <= threshold` left, as linfa decides).
pub fn float_tree(tree: &DecisionTree<f64, bool>, feature_ids: &[usize]) -> FloatTree {
    fn walk(node: &TreeNode<f64, bool>, feature_ids: &[usize], out: &mut Vec<FloatNode>) -> usize {
        let me = out.len();
        let prediction = node.prediction().unwrap_or(false);
        out.push(FloatNode::Leaf {
            p_malicious: f64::from(u8::from(prediction)),
        });
        if node.is_leaf() {
            return me;
        }
        let children = node.children();
        let (Some(left), Some(right)) = (children[0].as_deref(), children[1].as_deref()) else {
            return me;
        };
        let (feature, threshold, _) = node.split();
        let l = walk(left, feature_ids, out);
        let r = walk(right, feature_ids, out);
        out[me] = FloatNode::Split {
            feature: feature_ids[feature],
            threshold,
            left: l,
            right: r,
        };
        me
    }
    let mut nodes = Vec::new();
    walk(tree.root_node(), feature_ids, &mut nodes);
    FloatTree { nodes }
}

/// A CART tree by linfa-trees (Gini), as the float reference tree with leaf probabilities
/// measured on the training rows.
pub fn tree(
    rows: &[&FeatureVector],
    y: &[bool],
    weights: Option<&[f64]>,
    feature_ids: &[usize],
    max_depth: usize,
) -> Result<FittedTree> {
    check_classes(y)?;
    let x = matrix(rows, feature_ids, |v| v as f64);
    let fitted = fit_tree_matrix(x, y, weights, max_depth)?;
    let mut tree = float_tree(&fitted, feature_ids);
    set_leaf_probabilities(&mut tree, rows, y, weights);
    let importance = fitted.feature_importance();
    let total: f64 = importance.iter().sum();
    Ok(FittedTree {
        tree,
        importance: importance
            .iter()
            .map(|v| if total > 0.0 { v / total } else { 0.0 })
            .collect(),
    })
}

/// linfa-logistic on a standardized matrix: the logit of "malicious" as (intercept, weights).
/// linfa models the larger class as positive, so the signs are turned when benign is larger.
pub fn fit_logistic_matrix(
    x: Array2<f64>,
    y: &[bool],
    alpha: f64,
    max_iterations: u64,
) -> Result<(f64, Vec<f64>)> {
    let data = linfa::Dataset::new(x, Array1::from(y.to_vec()));
    let model = LogisticRegression::default()
        .alpha(alpha)
        .max_iterations(max_iterations)
        .fit(&data)
        .map_err(|e| TrainError::Linfa {
            engine: "linfa-logistic",
            source: Box::new(e),
        })?;
    let sign = if model.labels().pos.class { 1.0 } else { -1.0 };
    Ok((
        sign * model.intercept(),
        model.params().iter().map(|w| sign * w).collect(),
    ))
}

/// L2-regularised logistic regression by linfa-logistic on the same log2-transformed,
/// standardized features as the default engine. (It takes no sample weights.)
pub fn logistic(
    rows: &[&FeatureVector],
    y: &[bool],
    feature_ids: &[usize],
    alpha: f64,
) -> Result<FittedLogistic> {
    check_classes(y)?;
    let s = standardized(rows, feature_ids);
    let (intercept, weights) = fit_logistic_matrix(s.x, y, alpha, 300)?;
    unstandardize(intercept, &weights, feature_ids, &s.mean, &s.std)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::features::FEATURE_COUNT;

    #[test]
    fn linfa_models_become_float_models_that_decide_like_linfa() {
        // Malicious when feature 3 > 18 or feature 7 == 2 (a third of the rows).
        let mut rows = Vec::new();
        let mut y = Vec::new();
        for i in 0..400i64 {
            let mut x = [0i64; FEATURE_COUNT];
            x[3] = i % 23;
            x[7] = i % 5;
            y.push(x[3] > 18 || x[7] == 2);
            rows.push(x);
        }
        let refs: Vec<&FeatureVector> = rows.iter().collect();
        let ids = [3, 7];
        let t = tree(&refs, &y, None, &ids, 6).expect("tree");
        let linfa_tree = fit_tree_matrix(matrix(&refs, &ids, |v| v as f64), &y, None, 6).expect("linfa");
        let linfa_says = linfa_tree.predict(&matrix(&refs, &ids, |v| v as f64));
        for (r, (x, want)) in refs.iter().zip(linfa_says.iter()).enumerate() {
            let p = workbench_flow::model::quantize::predict(&t.tree, x);
            assert_eq!(p >= 0.5, *want, "row {r}");
        }
        assert!(
            y.iter().zip(linfa_says.iter()).all(|(a, b)| a == b),
            "separable rule learnt"
        );
        let l = logistic(&refs, &y, &ids, 1.0).expect("logistic");
        assert!(
            l.model.weights[3] > 0.0,
            "more of feature 3, more malicious: {:?}",
            l.model.weights
        );
        // The benign class is the larger one here: the signs were turned to "malicious".
        assert!(y.iter().filter(|&&m| m).count() * 2 < y.len());
    }
}
