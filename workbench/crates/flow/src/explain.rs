//! Why a flow got its verdict, from a model and the flow's feature values: the tree's decision
//! path with each feature's value against its threshold, or each feature's integer contribution
//! to the logistic score. Uses `Model::score`/`Model::term`, the code the probe runs. The TUI's
//! flow detail shows it step by step; `workbench eval --flows-out` writes it per flow, as one
//! line ([`Explanation::line`]) and as the steps themselves.

use shared::features::{FeatureVector, FlowState, FEATURES, FEATURE_COUNT};
use shared::model::{
    Model, KIND_FOREST, KIND_LOGISTIC, KIND_TREE, MAX_DEPTH, MAX_NODES, MAX_TREES, SCORE_ONE,
};

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
    explain_features(model, &state.features())
}

/// Explains `model`'s decision on the feature values `x` (a flow's state at a decision point, or
/// a table row). Only the features the model reads matter (its `feature_mask`).
pub fn explain_features(model: &Model, x: &FeatureVector) -> Explanation {
    let mut steps = Vec::new();
    let kind = crate::model::kind_name(model.header.kind);
    match model.header.kind {
        KIND_TREE => walk(model, 0, 0, x, &mut steps),
        KIND_FOREST => {
            let trees = (model.header.tree_count as usize).min(MAX_TREES);
            for t in 0..trees {
                walk(model, t, model.roots[t], x, &mut steps);
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
    let score = model.score(x);
    Explanation {
        kind,
        score,
        threshold: model.header.threshold,
        malicious: model.is_malicious(score),
        steps,
    }
}

/// Logistic terms the one-line form names; the rest are summed into one figure.
pub const LINE_TERMS: usize = 3;

/// A fixed-point score (x 2^16) as a decimal: up to 4 places (2^16 steps are finer than that),
/// trailing zeros dropped down to 2 (`0.93`, `0.9312`).
pub fn score_decimal(raw: i64) -> String {
    let mut s = format!("{:.4}", raw as f64 / SCORE_ONE as f64);
    while s.ends_with('0') && s.len() - s.find('.').map_or(s.len(), |d| d + 1) > 2 {
        s.pop();
    }
    s
}

/// A logit contribution (x 2^16) with its sign, 3 places (`+0.153`).
fn contribution_decimal(raw: i64) -> String {
    format!("{:+.3}", raw as f64 / SCORE_ONE as f64)
}

impl Explanation {
    /// The explanation on one line, for a table cell: a tree's path
    /// (`syn_count=3 <= 4 -> fwd_ttl=64 > 60 -> leaf 0.93`), a forest's paths per tree
    /// (`t0: ... -> leaf 0.93 | t1: ...`), a logistic model's largest terms by |contribution|,
    /// the rest summed, the bias and the logit
    /// (`syn_count=2 +0.153, bwd_packets=0 +0.000, bias -0.015 -> logit 0.138`).
    pub fn line(&self) -> String {
        let mut trees: Vec<(usize, Vec<String>)> = Vec::new();
        let mut terms = Vec::new();
        let mut rest = (0usize, 0i64);
        let mut bias = None;
        for step in &self.steps {
            match step {
                Step::Split {
                    tree,
                    feature,
                    value,
                    threshold,
                    went_left,
                    ..
                } => tree_steps(&mut trees, *tree).push(format!(
                    "{feature}={value} {} {threshold}",
                    if *went_left { "<=" } else { ">" }
                )),
                Step::Leaf { tree, score } => {
                    tree_steps(&mut trees, *tree).push(format!("leaf {}", score_decimal(*score)));
                }
                Step::Bias(b) => bias = Some(*b),
                Step::Term {
                    feature,
                    value,
                    contribution,
                    ..
                } => {
                    // Steps come largest first.
                    if terms.len() < LINE_TERMS {
                        terms.push(format!(
                            "{feature}={value} {}",
                            contribution_decimal(*contribution)
                        ));
                    } else {
                        rest = (rest.0 + 1, rest.1.saturating_add(*contribution));
                    }
                }
            }
        }
        if let Some(b) = bias {
            if rest.0 > 0 {
                terms.push(format!(
                    "{} more term{} {}",
                    rest.0,
                    if rest.0 == 1 { "" } else { "s" },
                    contribution_decimal(rest.1)
                ));
            }
            terms.push(format!("bias {}", contribution_decimal(b)));
            return format!(
                "{} -> logit {:.3}",
                terms.join(", "),
                self.score as f64 / SCORE_ONE as f64
            );
        }
        match trees.as_slice() {
            [(_, path)] if self.kind == "tree" => path.join(" -> "),
            _ => trees
                .iter()
                .map(|(t, path)| format!("t{t}: {}", path.join(" -> ")))
                .collect::<Vec<_>>()
                .join(" | "),
        }
    }
}

/// The steps of tree `tree` (trees are walked one after the other).
fn tree_steps(trees: &mut Vec<(usize, Vec<String>)>, tree: usize) -> &mut Vec<String> {
    if trees.last().is_none_or(|(t, _)| *t != tree) {
        trees.push((tree, Vec::new()));
    }
    let last = trees.len() - 1;
    &mut trees[last].1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::build::{self, Node};
    use shared::features::feature_id;
    use shared::model::{LogisticTerm, SCORE_ONE};

    /// The TUI's built-in demo tree: no answer (`bwd_packets <= 0`) and SYNs sent
    /// (`syn_count > 0`) is malicious.
    fn demo_tree() -> Box<Model> {
        let (bwd, syn) = (
            feature_id("bwd_packets").expect("id"),
            feature_id("syn_count").expect("id"),
        );
        let leaf = |score: i64| Node::Leaf { score: score as i32 };
        build::tree(
            &[
                Node::Split {
                    feature: bwd,
                    threshold: 0,
                    left: 1,
                    right: 4,
                },
                Node::Split {
                    feature: syn,
                    threshold: 0,
                    left: 2,
                    right: 3,
                },
                leaf(SCORE_ONE / 5),
                leaf(SCORE_ONE * 9 / 10),
                leaf(SCORE_ONE / 20),
            ],
            SCORE_ONE / 2,
        )
        .expect("demo tree")
    }

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
        let model = demo_tree();
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
        assert_eq!(e.line(), "bwd_packets=0 <= 0 -> syn_count=3 > 0 -> leaf 0.90");
        assert_eq!(benign.line(), "bwd_packets=2 > 0 -> leaf 0.05");
    }

    #[test]
    fn a_forest_line_gives_each_trees_path() {
        let syn = feature_id("syn_count").expect("id");
        let stump = |threshold, low: i64, high: i64| {
            vec![
                Node::Split {
                    feature: syn,
                    threshold,
                    left: 1,
                    right: 2,
                },
                Node::Leaf { score: low as i32 },
                Node::Leaf { score: high as i32 },
            ]
        };
        let model = build::forest(
            &[stump(1, 0, SCORE_ONE), stump(5, SCORE_ONE / 4, 12_345)],
            SCORE_ONE,
        )
        .expect("forest");
        let e = explain_features(&model, &state(3, 0, 0).features());
        assert_eq!(e.score, SCORE_ONE + SCORE_ONE / 4);
        assert_eq!(
            e.line(),
            "t0: syn_count=3 > 1 -> leaf 1.00 | t1: syn_count=3 <= 5 -> leaf 0.25"
        );
        assert_eq!(score_decimal(12_345), "0.1884");
        assert_eq!(score_decimal(-SCORE_ONE / 2), "-0.50");
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
        assert_eq!(
            e.line(),
            "syn_count=2 +0.153, fwd_payload_bytes=100 -0.005, bias -0.015 -> logit 0.133"
        );
    }

    #[test]
    fn a_logistic_line_names_three_terms_and_sums_the_rest() {
        let term = |weight| LogisticTerm {
            weight,
            shift: 0,
            transform: 0,
            _pad: [0; 2],
        };
        let id = |name| feature_id(name).expect("id");
        let model = build::logistic(
            &[
                (id("syn_count"), term(5000)),
                (id("fwd_payload_bytes"), term(-3)),
                (id("bwd_packets"), term(100)),
                (id("fwd_packets"), term(2)),
                (id("ack_count"), term(7)),
            ],
            SCORE_ONE,
            0,
        )
        .expect("model");
        let e = explain(&model, &state(2, 4, 100));
        // 10,000 (syn), -300 (bytes), 400 (bwd); then fwd_packets 6 and ack_count 0 summed.
        assert_eq!(
            e.line(),
            "syn_count=2 +0.153, bwd_packets=4 +0.006, fwd_payload_bytes=100 -0.005, 2 more terms +0.000, bias +1.000 -> logit 1.154"
        );
    }
}
