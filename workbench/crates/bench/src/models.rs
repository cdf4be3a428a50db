//! The models `bench probe` installs, and the userspace check that the benchmark packets really
//! walk them to the full depth.
//!
//! A per-packet cost only means something for a known amount of model work, so the trees are
//! built so that every benchmark packet's walk visits [`DEPTH`] splits: the single tree is full
//! (8,191 nodes, every leaf at depth 12, so any feature vector walks 12 levels). A forest of
//! [`MAX_TREES`] full depth-12 trees would need 32,764 nodes, four times the probe's node array,
//! so each forest tree is full for its first [`FOREST_FULL_LEVELS`] levels and continues below
//! every node of that level with a chain of splits on per-flow constants (protocol, port, TTL,
//! largest payload, initial window) whose thresholds send the benchmark packets down the chain.
//! The walk then still costs 12 node visits per tree; [`walk_depth`] proves it per packet.
//!
//! Leaf scores and the logistic threshold keep every verdict benign: in the steady state a
//! flow's verdict does not change, so no verdict event is emitted per packet.

use crate::error::{err, fail, Result};
use serde::Serialize;
use shared::features::{feature_id, is_opt_in, FeatureVector, FEATURE_COUNT};
use shared::model::{
    LogisticTerm, Model, MAX_DEPTH, MAX_NODES, MAX_TREES, SCORE_ONE, TRANSFORM_IDENTITY, TRANSFORM_LOG2,
};

use workbench_flow::model::build::{self, Node};

/// Splits on every benchmark packet's path through each tree.
pub const DEPTH: usize = 12;
/// Levels of each forest tree that are full (the rest are chains, see the module doc).
pub const FOREST_FULL_LEVELS: usize = 7;

/// Split features of the full levels, one per level, with a threshold each: a mix of counters,
/// times, rates and sizes, as a trained tree would use.
const LEVEL_SPLITS: [(&str, i64); DEPTH] = [
    ("packets", 1_000),
    ("duration_us", 50_000),
    ("fwd_len_mean", 40),
    ("syn_count", 3),
    ("packets_per_s", 100_000),
    ("iat_max_us", 1_000),
    ("fwd_payload_bytes", 100_000),
    ("dst_port", 1_024),
    ("avg_frame_bytes", 200),
    ("fwd_header_bytes", 10_000),
    ("ack_count", 5),
    ("bytes_per_s", 1_000_000),
];

/// Chain splits below the full levels of a forest tree: (feature, threshold, the benchmark
/// packets continue on the left). Each holds for every packet of both benchmark flows at every
/// packet count: UDP and TCP are protocols 17 and 6, TTL 64, destination ports 53 and 80, the
/// payloads at most 22 bytes, the initial forward window 0 (UDP) or 64,240 (TCP).
const CHAIN_SPLITS: [(&str, i64, bool); DEPTH - FOREST_FULL_LEVELS] = [
    ("proto", 17, true),
    ("fwd_ttl", 1, false),
    ("dst_port", 0, false),
    ("fwd_len_max", 1_500, true),
    ("fwd_init_window", 65_535, true),
];

/// Leaf scores stay below half of the malicious threshold: every verdict is benign.
const TREE_THRESHOLD: i64 = SCORE_ONE / 2;

fn feature(name: &str) -> Result<usize> {
    feature_id(name).ok_or_else(|| err!(Invalid, "the probe computes no feature named {name:?}"))
}

/// A deterministic leaf score in 0..SCORE_ONE/4, different from leaf to leaf.
fn leaf_score(index: usize) -> i32 {
    ((index as u64).wrapping_mul(2_654_435_761) % (SCORE_ONE as u64 / 4)) as i32
}

/// Appends the subtree of one node at `depth` to `nodes` (children after their parent, as the
/// layout requires) and returns its index. `full_levels` levels are full; below them, chains.
fn grow(nodes: &mut Vec<Node>, depth: usize, full_levels: usize, rotate: usize) -> Result<usize> {
    let index = nodes.len();
    if depth == DEPTH {
        nodes.push(Node::Leaf {
            score: leaf_score(index),
        });
        return Ok(index);
    }
    // Reserved now, filled once the children have their indices.
    nodes.push(Node::Leaf { score: 0 });
    let split = if depth < full_levels {
        let (name, threshold) = LEVEL_SPLITS[(depth + rotate) % DEPTH];
        let left = grow(nodes, depth + 1, full_levels, rotate)?;
        let right = grow(nodes, depth + 1, full_levels, rotate)?;
        Node::Split {
            feature: feature(name)?,
            // Neighbouring nodes split at different points, as in a trained tree.
            threshold: threshold + (index % 7) as i64,
            left,
            right,
        }
    } else {
        let (name, threshold, deep_left) = CHAIN_SPLITS[depth - full_levels];
        let deep = grow(nodes, depth + 1, full_levels, rotate)?;
        let leaf = nodes.len();
        nodes.push(Node::Leaf {
            score: leaf_score(leaf),
        });
        let (left, right) = if deep_left { (deep, leaf) } else { (leaf, deep) };
        Node::Split {
            feature: feature(name)?,
            threshold,
            left,
            right,
        }
    };
    nodes[index] = split;
    Ok(index)
}

/// The full depth-12 decision tree (8,191 nodes).
pub fn full_tree() -> Result<Box<Model>> {
    let mut nodes = Vec::new();
    grow(&mut nodes, 0, DEPTH, 0)?;
    Ok(build::tree(&nodes, TREE_THRESHOLD)?)
}

/// [`MAX_TREES`] trees of depth 12 whose benchmark walks are 12 deep (see the module doc).
pub fn forest() -> Result<Box<Model>> {
    let mut trees = Vec::new();
    for t in 0..MAX_TREES {
        let mut nodes = Vec::new();
        // Each tree puts other features at the top.
        grow(&mut nodes, 0, FOREST_FULL_LEVELS, 3 * t)?;
        trees.push(nodes);
    }
    let total: usize = trees.iter().map(Vec::len).sum();
    if total > MAX_NODES {
        fail!(
            Invalid,
            "the benchmark forest needs {total} nodes, the probe holds {MAX_NODES}"
        );
    }
    // The sum of four leaves stays below SCORE_ONE, the threshold: benign.
    Ok(build::forest(&trees, SCORE_ONE)?)
}

/// A logistic model over the 40 default features (what `train --features kernel` can use; not
/// the opt-in VLAN id), every weight non-zero; counts, bytes, times and rates go through the
/// log2 transform, as a trained model's large-range features do.
pub fn logistic() -> Result<Box<Model>> {
    let log2_features = [
        "duration_us",
        "fwd_payload_bytes",
        "bwd_payload_bytes",
        "fwd_len_var",
        "bwd_len_var",
        "bytes_per_s",
        "packets_per_s",
        "iat_mean_us",
        "iat_max_us",
        "iat_min_us",
        "fwd_header_bytes",
        "bwd_header_bytes",
        "fwd_packets_per_s",
        "bwd_packets_per_s",
        "packets",
    ]
    .iter()
    .map(|n| feature(n))
    .collect::<Result<Vec<_>>>()?;
    let terms: Vec<(usize, LogisticTerm)> = (0..FEATURE_COUNT)
        .filter(|&i| !is_opt_in(i))
        .map(|i| {
            let sign = if i % 3 == 0 { -1 } else { 1 };
            let term = LogisticTerm {
                weight: sign * (97 + 31 * i as i32),
                shift: 4 + (i % 5) as u8,
                transform: if log2_features.contains(&i) {
                    TRANSFORM_LOG2
                } else {
                    TRANSFORM_IDENTITY
                },
                _pad: [0; 2],
            };
            (i, term)
        })
        .collect();
    // Values are clamped to i32 and weights are small: the logit stays far below this
    // threshold, so every verdict is benign.
    Ok(build::logistic(&terms, -SCORE_ONE, SCORE_ONE << 40)?)
}

/// Splits visited from `root` to a leaf for `features`, as the probe walks.
pub fn walk_depth(model: &Model, root: u16, features: &FeatureVector) -> usize {
    let mut index = root as usize;
    for depth in 0..=MAX_DEPTH {
        let Some(node) = model.nodes.get(index) else {
            return depth;
        };
        if node.is_leaf != 0 {
            return depth;
        }
        let value = features.get(node.feature as usize).copied().unwrap_or(0);
        index = if value <= node.threshold {
            node.left
        } else {
            node.right
        } as usize;
    }
    MAX_DEPTH + 1
}

/// The shallowest walk over the trees of `model` for `features`.
pub fn min_walk_depth(model: &Model, features: &FeatureVector) -> usize {
    let trees = if model.header.kind == shared::model::KIND_FOREST {
        model.header.tree_count as usize
    } else {
        1
    };
    model.roots[..trees.min(MAX_TREES)]
        .iter()
        .map(|&root| walk_depth(model, root, features))
        .min()
        .unwrap_or(0)
}

/// What the report says about one installed model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub model: String,
    pub kind: &'static str,
    pub nodes: u16,
    pub trees: u16,
    /// Features with a non-zero weight or a split.
    pub features_used: u32,
    /// Shallowest walk (splits visited) of any benchmark packet at the checked flow states;
    /// None for a logistic model.
    pub min_walk_depth: Option<usize>,
}

impl ModelInfo {
    pub fn of(model: &Model, min_walk_depth: Option<usize>) -> Self {
        ModelInfo {
            model: workbench_flow::model::id_string(model.header.model_id),
            kind: workbench_flow::model::kind_name(model.header.kind),
            nodes: model.header.node_count,
            trees: model.header.tree_count,
            features_used: model.header.feature_mask.count_ones(),
            min_walk_depth,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_is_full_to_depth_12() {
        let m = full_tree().expect("tree");
        assert_eq!(m.header.node_count as usize, (1 << (DEPTH + 1)) - 1);
        // Every leaf at depth 12: all-zero and all-huge vectors go opposite ways at every split.
        assert_eq!(walk_depth(&m, 0, &[0; FEATURE_COUNT]), DEPTH);
        assert_eq!(walk_depth(&m, 0, &[i64::MAX; FEATURE_COUNT]), DEPTH);
        let leaves = m.nodes[..m.header.node_count as usize]
            .iter()
            .filter(|n| n.is_leaf != 0)
            .count();
        assert_eq!(leaves, 1 << DEPTH);
    }

    #[test]
    fn forest_chains_end_early_for_other_flows() {
        let m = forest().expect("forest");
        assert_eq!(m.header.tree_count as usize, MAX_TREES);
        // A flow that fails the first chain split (protocol above 17) leaves each tree at
        // depth 8: the depth check can fail.
        let mut v = [0; FEATURE_COUNT];
        v[feature("proto").expect("proto")] = 47;
        v[feature("fwd_ttl").expect("ttl")] = 64;
        v[feature("dst_port").expect("port")] = 80;
        assert_eq!(min_walk_depth(&m, &v), FOREST_FULL_LEVELS + 1);
        v[feature("proto").expect("proto")] = 6;
        assert_eq!(min_walk_depth(&m, &v), DEPTH);
    }

    #[test]
    fn logistic_uses_every_feature_some_through_log2() {
        let m = logistic().expect("logistic");
        assert_eq!(m.header.feature_mask, shared::features::DEFAULT_FEATURES);
        assert!(m
            .terms
            .iter()
            .enumerate()
            .all(|(i, t)| (t.weight != 0) != is_opt_in(i)));
        assert!(m.terms.iter().any(|t| t.transform == TRANSFORM_LOG2));
        assert!(m.terms.iter().any(|t| t.transform == TRANSFORM_IDENTITY));
        // Benign even for the largest values.
        assert!(!m.is_malicious(m.score(&[i64::MAX; FEATURE_COUNT])));
    }
}
