//! Candidate trees of several depths fitted on the rows, features and split of one training run
//! (`workbench train --cost-depths`, the Train tab's `c`): the F1 of each, to be shown next to
//! its kernel cost per packet (measured by `workbench_kernel::cost`) so that a user picks a
//! model within a budget.

use serde::Serialize;
use shared::model::Model;

use super::{bail, train, Dataset, ModelKind, Result, TrainOptions};

/// One fitted candidate.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The depth asked for (`--max-depth` of this candidate).
    pub depth: usize,
    /// The depth the fitted tree reached (the fit stops early where a node is pure).
    pub tree_depth: usize,
    pub f1: f64,
    pub roc_auc: Option<f64>,
    pub nodes: usize,
    pub model_id: String,
    pub model: Box<Model>,
}

/// What `train --json` carries of a candidate besides the cost.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateFigures {
    pub depth: usize,
    pub tree_depth: usize,
    pub f1: f64,
    pub roc_auc: Option<f64>,
    pub nodes: usize,
    pub model_id: String,
}

impl Candidate {
    pub fn figures(&self) -> CandidateFigures {
        CandidateFigures {
            depth: self.depth,
            tree_depth: self.tree_depth,
            f1: self.f1,
            roc_auc: self.roc_auc,
            nodes: self.nodes,
            model_id: self.model_id.clone(),
        }
    }
}

/// Why a model kind has no depth candidates (None: it has).
pub fn unsupported(kind: ModelKind) -> Option<&'static str> {
    match kind {
        ModelKind::Tree => None,
        ModelKind::Logistic => Some(
            "a logistic model has no depth: its kernel cost grows with the number of features it reads, and candidates by depth are trees only (train --model tree --cost-depths ...)",
        ),
    }
}

/// Parses `4,8,12`: depths the probe can walk (1..=MAX_DEPTH), deduplicated, in order.
pub fn parse_depths(list: &str) -> Result<Vec<usize>> {
    let mut depths = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Ok(d) = part.parse::<usize>() else {
            bail!("--cost-depths: {part:?} is not a depth; give a comma list such as 4,8,12");
        };
        if d == 0 || d > shared::model::MAX_DEPTH {
            bail!(
                "--cost-depths: depth {d} cannot run in the probe; give depths 1 to {}",
                shared::model::MAX_DEPTH
            );
        }
        if !depths.contains(&d) {
            depths.push(d);
        }
    }
    if depths.is_empty() {
        bail!("--cost-depths: no depth given; give a comma list such as 4,8,12");
    }
    depths.sort_unstable();
    Ok(depths)
}

/// The deepest leaf of every tree of `model` (0 for a logistic model or a lone leaf).
pub fn tree_depth(model: &Model) -> usize {
    let count = (model.header.node_count as usize).min(model.nodes.len());
    let mut deepest = 0;
    for t in 0..(model.header.tree_count as usize).min(model.roots.len()) {
        // (node, depth) pairs; bounded by the node count, so a malformed model cannot loop.
        let mut stack = vec![(model.roots[t] as usize, 0usize)];
        let mut visits = 0;
        while let Some((i, depth)) = stack.pop() {
            visits += 1;
            if i >= count || visits > count {
                break;
            }
            let n = &model.nodes[i];
            if n.is_leaf != 0 {
                deepest = deepest.max(depth);
            } else {
                stack.push((n.left as usize, depth + 1));
                stack.push((n.right as usize, depth + 1));
            }
        }
    }
    deepest
}

/// Fits one tree per depth on `ds` with `base` (the run's resolved options: features, split,
/// seed), only the depth changed. `progress` is told each depth before its fit.
pub fn fit(
    ds: &Dataset,
    base: &TrainOptions,
    depths: &[usize],
    progress: &dyn Fn(usize),
) -> Result<Vec<Candidate>> {
    if let Some(why) = unsupported(base.kind) {
        bail!("{why}");
    }
    depths
        .iter()
        .map(|&depth| {
            progress(depth);
            let options = TrainOptions {
                max_depth: depth,
                ..base.clone()
            };
            let t = train(ds, &options)?;
            Ok(Candidate {
                depth,
                tree_depth: tree_depth(&t.model),
                f1: t.report.metrics.f1,
                roc_auc: t.report.metrics.roc_auc,
                nodes: t.model.header.node_count as usize,
                model_id: t.report.model_id.clone(),
                model: t.model,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depths_parse_sorted_and_unique_and_bad_ones_are_named() {
        assert_eq!(parse_depths("12, 4,8,4").expect("depths"), vec![4, 8, 12]);
        let e = parse_depths("4,x").expect_err("not a number").to_string();
        assert!(e.contains("\"x\" is not a depth"), "{e}");
        let e = parse_depths("0").expect_err("zero").to_string();
        assert!(e.contains("depth 0 cannot run"), "{e}");
        assert!(parse_depths(" , ").is_err());
    }

    #[test]
    fn a_built_tree_reports_its_depth() {
        use workbench_flow::model::build::{tree, Node};
        let nodes = [
            Node::Split {
                feature: 0,
                threshold: 1,
                left: 1,
                right: 2,
            },
            Node::Leaf { score: 0 },
            Node::Split {
                feature: 1,
                threshold: 1,
                left: 3,
                right: 4,
            },
            Node::Leaf { score: 0 },
            Node::Leaf { score: 1 },
        ];
        assert_eq!(tree_depth(&tree(&nodes, 1).expect("tree")), 2);
    }
}
