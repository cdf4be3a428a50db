//! The histogram CART of `workbench-fit` (see that crate for why it replaces linfa-trees on
//! large tables), returned as the float reference tree that `model::quantize` compiles.

use crate::model::quantize::{FloatNode, FloatTree};
pub use workbench_fit::HistTreeParams;

pub struct HistTree {
    /// Split features index the columns of the training matrix.
    pub tree: FloatTree,
    /// Impurity-based importance per column (sums to 1, or all 0 for a single leaf).
    pub importance: Vec<f64>,
}

/// Fits on `columns[f][row]` (one slice per feature, all of `y.len()` rows).
pub fn fit(columns: &[&[f64]], y: &[bool], params: HistTreeParams) -> HistTree {
    let t = workbench_fit::fit(columns, y, params);
    let nodes = t
        .tree
        .nodes
        .into_iter()
        .map(|n| match n {
            workbench_fit::FloatNode::Split {
                feature,
                threshold,
                left,
                right,
            } => FloatNode::Split {
                feature,
                threshold,
                left,
                right,
            },
            workbench_fit::FloatNode::Leaf { p_malicious } => FloatNode::Leaf { p_malicious },
        })
        .collect();
    HistTree {
        tree: FloatTree { nodes },
        importance: t.importance,
    }
}
