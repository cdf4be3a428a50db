//! Why a flow got its verdict, from the active model and the flow's feature state: the tree's
//! decision path with each feature's value against its threshold, or each feature's integer
//! contribution to the logistic score. Uses `Model::score`/`Model::term`, the code the probe runs.

use shared::features::{FlowState, FEATURES, FEATURE_COUNT};
use shared::model::{Model, KIND_FOREST, KIND_LOGISTIC, KIND_TREE, MAX_DEPTH, MAX_NODES, MAX_TREES};

/// One line of an explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A tree split: `value <= threshold` went left.
    Split {
        tree: usize,
        feature: &'static str,
        unit: &'static str,
        value: i64,
        threshold: i64,
        went_left: bool,
    },
    Leaf {
        tree: usize,
        score: i64,
    },
    Bias(i64),
    /// A logistic term: feature value and its contribution to the logit (x 2^16).
    Term {
        feature: &'static str,
        unit: &'static str,
        value: i64,
        contribution: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub kind: &'static str,
    pub score: i64,
    pub threshold: i64,
    pub malicious: bool,
    pub steps: Vec<Step>,
}

fn feature_info(i: usize) -> (&'static str, &'static str) {
    FEATURES.get(i).map_or(("?", ""), |f| (f.name, f.unit))
}

fn walk(model: &Model, tree: usize, root: u16, x: &[i64; FEATURE_COUNT], steps: &mut Vec<Step>) {
    let mut idx = root as usize;
    // Same bound and index mask as Model::walk, so a damaged model cannot loop here either.
    for _ in 0..=MAX_DEPTH {
        let node = &model.nodes[idx & (MAX_NODES - 1)];
        if node.is_leaf != 0 {
            steps.push(Step::Leaf {
                tree,
                score: node.score as i64,
            });
            return;
        }
        let f = node.feature as usize;
        let value = x.get(f).copied().unwrap_or(0);
        let went_left = value <= node.threshold;
        let (feature, unit) = feature_info(f);
        steps.push(Step::Split {
            tree,
            feature,
            unit,
            value,
            threshold: node.threshold,
            went_left,
        });
        idx = if went_left { node.left } else { node.right } as usize;
    }
}

/// Explains `model`'s decision on the flow's current state. The score is recomputed now, so it
/// can differ from the stored verdict when packets arrived after the last decision point.
pub fn explain(model: &Model, state: &FlowState) -> Explanation {
    let x = state.features();
    let mut steps = Vec::new();
    let kind = workbench_flow::model::kind_name(model.header.kind);
    match model.header.kind {
        KIND_TREE => walk(model, 0, 0, &x, &mut steps),
        KIND_FOREST => {
            let trees = (model.header.tree_count as usize).min(MAX_TREES);
            for t in 0..trees {
                walk(model, t, model.roots[t], &x, &mut steps);
            }
        }
        KIND_LOGISTIC => {
            steps.push(Step::Bias(model.header.bias));
            let mut terms: Vec<Step> = (0..FEATURE_COUNT)
                .filter(|&i| model.terms[i].weight != 0)
                .map(|i| {
                    let (feature, unit) = feature_info(i);
                    Step::Term {
                        feature,
                        unit,
                        value: x[i],
                        contribution: model.term(i, x[i]),
                    }
                })
                .collect();
            // Largest influence first: that is what an analyst asks about.
            terms.sort_by_key(|s| match s {
                Step::Term { contribution, .. } => std::cmp::Reverse(contribution.unsigned_abs()),
                _ => std::cmp::Reverse(0),
            });
            steps.extend(terms);
        }
        _ => {}
    }
    let score = model.score(&x);
    Explanation {
        kind,
        score,
        threshold: model.header.threshold,
        malicious: model.is_malicious(score),
        steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::features::feature_id;
    use shared::model::{LogisticTerm, SCORE_ONE};
    use workbench_flow::model::build;

    fn state(syn: u16, bwd: u32, fwd_bytes: u64) -> FlowState {
        FlowState {
            syn_count: syn,
            bwd_packets: bwd,
            fwd_packets: 3,
            fwd_payload_bytes: fwd_bytes,
            ..Default::default()
        }
    }

    #[test]
    fn tree_path_names_each_feature_against_its_threshold() {
        let model = super::super::sim::demo_model().expect("demo");
        let e = explain(&model, &state(3, 0, 0));
        assert!(e.malicious);
        assert_eq!(e.score, SCORE_ONE * 9 / 10);
        assert_eq!(e.steps.len(), 3);
        assert!(matches!(
            e.steps[0],
            Step::Split {
                feature: "bwd_packets",
                value: 0,
                threshold: 0,
                went_left: true,
                ..
            }
        ));
        assert!(matches!(
            e.steps[1],
            Step::Split {
                feature: "syn_count",
                value: 3,
                went_left: false,
                ..
            }
        ));
        let benign = explain(&model, &state(3, 2, 0));
        assert!(!benign.malicious);
        assert_eq!(benign.steps.len(), 2);
    }

    #[test]
    fn logistic_contributions_sum_to_the_score() {
        let syn = feature_id("syn_count").expect("id");
        let bytes = feature_id("fwd_payload_bytes").expect("id");
        let term = |weight| LogisticTerm {
            weight,
            shift: 0,
            transform: 0,
            _pad: [0; 2],
        };
        let model = build::logistic(&[(syn, term(5000)), (bytes, term(-3))], -1000, 0).expect("model");
        let e = explain(&model, &state(2, 0, 100));
        let total: i64 = e
            .steps
            .iter()
            .map(|s| match s {
                Step::Bias(b) => *b,
                Step::Term { contribution, .. } => *contribution,
                _ => 0,
            })
            .sum();
        assert_eq!(total, e.score);
        assert_eq!(e.score, -1000 + 10_000 - 300);
        // Largest contribution first.
        assert!(matches!(
            e.steps[1],
            Step::Term {
                feature: "syn_count",
                contribution: 10_000,
                ..
            }
        ));
    }
}
