//! The compact, validated byte form of a [`Model`] (little-endian, field by field).
//!
//! Layout: header (48 bytes) | roots (MAX_TREES x u16) | terms (F x 8 bytes) | nodes
//! (node_count x 24 bytes), where F, the header's feature count, is fixed by the layout
//! version: 40 in layout 1, 41 in layout 2 (which added the opt-in `vlan_id`). A model is
//! encoded in the oldest layout that holds every feature it reads, so a model without
//! `vlan_id` has the bytes (and the content id) it had before layout 2, and builds that read
//! only layout 1 still load it. The checksum is FNV-1a 32 over all of it with the checksum
//! field set to 0.

use super::*;

pub const HEADER_BYTES: usize = 48;
const ROOTS_BYTES: usize = 2 * MAX_TREES;
const NODE_BYTES: usize = 24;
const CHECKSUM_AT: usize = 40;
/// The oldest layout: the first 40 features.
pub const LAYOUT_V1: u16 = 1;
pub const LAYOUT_V1_FEATURES: usize = 40;

/// Features a layout version holds.
pub fn layout_features(version: u16) -> Option<usize> {
    match version {
        LAYOUT_V1 => Some(LAYOUT_V1_FEATURES),
        MODEL_LAYOUT_VERSION => Some(FEATURE_COUNT),
        _ => None,
    }
}

/// Whether the model reads a feature with id `first` or above.
fn reads_from(m: &Model, first: usize) -> bool {
    if m.header.kind == KIND_LOGISTIC {
        m.terms.iter().skip(first).any(|t| t.weight != 0)
    } else {
        let nodes = (m.header.node_count as usize).min(MAX_NODES);
        m.nodes[..nodes]
            .iter()
            .any(|n| n.is_leaf == 0 && n.feature as usize >= first)
    }
}

/// The layout `m` is written in (version, features): the oldest that holds what it reads.
pub fn layout_of(m: &Model) -> (u16, usize) {
    if reads_from(m, LAYOUT_V1_FEATURES) {
        (MODEL_LAYOUT_VERSION, FEATURE_COUNT)
    } else {
        (LAYOUT_V1, LAYOUT_V1_FEATURES)
    }
}

/// What is wrong with a model's bytes. Every variant names the fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelError {
    Truncated {
        expected_bytes: usize,
        got_bytes: usize,
    },
    /// More bytes than the layout the header describes: something was added, not cut.
    TrailingBytes {
        expected_bytes: usize,
        got_bytes: usize,
    },
    BadMagic {
        found: u32,
    },
    UnsupportedVersion {
        found: u16,
    },
    UnknownKind {
        found: u8,
    },
    FeatureCount {
        found: u8,
    },
    NoNodes,
    TooManyNodes {
        count: usize,
    },
    TooManyTrees {
        count: usize,
    },
    RootOutOfRange {
        tree: usize,
        root: u16,
    },
    FeatureOutOfRange {
        node: usize,
        feature: u8,
    },
    ChildOutOfRange {
        node: usize,
        child: u16,
    },
    /// Children must come after their parent: this rules out cycles and shared subtrees.
    ChildNotAfterParent {
        node: usize,
        child: u16,
    },
    DepthOverLimit {
        node: usize,
        depth: usize,
    },
    ShiftOutOfRange {
        feature: usize,
        shift: u8,
    },
    UnknownTransform {
        feature: usize,
        transform: u8,
    },
    FeatureMaskMismatch {
        declared: u64,
        used: u64,
    },
    ChecksumMismatch {
        stored: u32,
        computed: u32,
    },
}

impl core::fmt::Display for ModelError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use ModelError::*;
        match *self {
            Truncated { expected_bytes, got_bytes } => {
                write!(f, "model is truncated: {got_bytes} bytes, expected {expected_bytes}")
            }
            TrailingBytes { expected_bytes, got_bytes } => {
                let extra = got_bytes - expected_bytes;
                write!(
                    f,
                    "model has {extra} byte{} more than its layout: {got_bytes} bytes, expected {expected_bytes} (the file was appended to or is not one model)",
                    if extra == 1 { "" } else { "s" }
                )
            }
            BadMagic { found } => write!(f, "bad magic 0x{found:08x}: not a workbench model"),
            UnsupportedVersion { found } => write!(
                f,
                "model layout version {found} is not supported (this build reads {LAYOUT_V1} to {MODEL_LAYOUT_VERSION})"
            ),
            UnknownKind { found } => write!(f, "unknown model kind {found} (1 tree, 2 logistic, 3 forest)"),
            FeatureCount { found } => write!(
                f,
                "model expects {found} features, but its layout version holds {LAYOUT_V1_FEATURES} (layout 1) or {FEATURE_COUNT} (layout 2)"
            ),
            NoNodes => write!(f, "tree model without nodes"),
            TooManyNodes { count } => write!(f, "{count} nodes exceed the probe's limit of {MAX_NODES}"),
            TooManyTrees { count } => write!(f, "{count} trees exceed the probe's limit of {MAX_TREES}"),
            RootOutOfRange { tree, root } => write!(f, "tree {tree} has root {root} outside the node array"),
            FeatureOutOfRange { node, feature } => {
                write!(
                    f,
                    "node {node} splits on feature {feature}, which its layout does not hold (layout 1: ids below {LAYOUT_V1_FEATURES}, layout 2: below {FEATURE_COUNT})"
                )
            }
            ChildOutOfRange { node, child } => write!(f, "node {node} points to child {child} outside the node array"),
            ChildNotAfterParent { node, child } => write!(
                f,
                "node {node} points back to node {child}: a cycle or shared subtree (children must come after their parent)"
            ),
            DepthOverLimit { node, depth } => {
                write!(f, "node {node} is at depth {depth}, over the probe's limit of {MAX_DEPTH}")
            }
            ShiftOutOfRange { feature, shift } => write!(f, "feature {feature} has shift {shift} (at most 62)"),
            UnknownTransform { feature, transform } => write!(f, "feature {feature} has unknown transform {transform}"),
            FeatureMaskMismatch { declared, used } => {
                write!(f, "feature mask 0x{declared:x} does not match the features the model uses (0x{used:x})")
            }
            ChecksumMismatch { stored, computed } => {
                write!(f, "checksum mismatch: stored 0x{stored:08x}, computed 0x{computed:08x} (corrupted model)")
            }
        }
    }
}

/// FNV-1a 32, continuing from `hash` (start with [`FNV_OFFSET`]).
pub const FNV_OFFSET: u32 = 0x811c_9dc5;
pub fn fnv1a(mut hash: u32, bytes: &[u8]) -> u32 {
    for b in bytes {
        hash ^= *b as u32;
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// Bytes of the compact form of `model`.
pub fn encoded_len(model: &Model) -> usize {
    let nodes = if model.header.kind == KIND_LOGISTIC {
        0
    } else {
        model.header.node_count as usize
    };
    HEADER_BYTES + ROOTS_BYTES + 8 * layout_of(model).1 + nodes * NODE_BYTES
}

struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.out[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }
}

/// Writes the compact form into `out` (at least [`encoded_len`] bytes), computing the checksum.
/// Returns the bytes written. Panics if `out` is too short (a caller bug, not input).
pub fn encode(model: &Model, out: &mut [u8]) -> usize {
    let len = encoded_len(model);
    let (version, features) = layout_of(model);
    let h = &model.header;
    let mut w = Writer {
        out: &mut out[..len],
        at: 0,
    };
    w.put(&h.magic.to_le_bytes());
    w.put(&version.to_le_bytes());
    w.put(&[h.kind, features as u8]);
    w.put(&h.node_count.to_le_bytes());
    w.put(&h.tree_count.to_le_bytes());
    w.put(&h.model_id.to_le_bytes());
    w.put(&h.feature_mask.to_le_bytes());
    w.put(&h.threshold.to_le_bytes());
    w.put(&h.bias.to_le_bytes());
    w.put(&0u32.to_le_bytes());
    w.put(&0u32.to_le_bytes());
    for r in &model.roots {
        w.put(&r.to_le_bytes());
    }
    for t in &model.terms[..features] {
        w.put(&t.weight.to_le_bytes());
        w.put(&[t.shift, t.transform, 0, 0]);
    }
    let nodes = (len - HEADER_BYTES - ROOTS_BYTES - 8 * features) / NODE_BYTES;
    for n in &model.nodes[..nodes] {
        w.put(&n.threshold.to_le_bytes());
        w.put(&n.score.to_le_bytes());
        w.put(&[n.feature, n.is_leaf]);
        w.put(&n.left.to_le_bytes());
        w.put(&n.right.to_le_bytes());
        w.put(&[0; 6]);
    }
    let sum = fnv1a(FNV_OFFSET, &out[..len]);
    out[CHECKSUM_AT..CHECKSUM_AT + 4].copy_from_slice(&sum.to_le_bytes());
    len
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Reads and validates a compact model into `out` (which must start zeroed or be overwritten
/// whole: every field is written). Either layout; in memory the model is in the current one
/// (terms of features a layout 1 model cannot read are 0).
pub fn decode(bytes: &[u8], out: &mut Model) -> Result<(), ModelError> {
    if bytes.len() < HEADER_BYTES {
        return Err(ModelError::Truncated {
            expected_bytes: HEADER_BYTES + ROOTS_BYTES + 8 * LAYOUT_V1_FEATURES,
            got_bytes: bytes.len(),
        });
    }
    let mut h = ModelHeader {
        magic: u32_at(bytes, 0),
        layout_version: u16_at(bytes, 4),
        kind: bytes[6],
        feature_count: bytes[7],
        node_count: u16_at(bytes, 8),
        tree_count: u16_at(bytes, 10),
        model_id: u32_at(bytes, 12),
        feature_mask: u64_at(bytes, 16),
        threshold: u64_at(bytes, 24) as i64,
        bias: u64_at(bytes, 32) as i64,
        checksum: u32_at(bytes, 40),
        _pad: 0,
    };
    if h.magic != MODEL_MAGIC {
        return Err(ModelError::BadMagic { found: h.magic });
    }
    let Some(features) = layout_features(h.layout_version) else {
        return Err(ModelError::UnsupportedVersion {
            found: h.layout_version,
        });
    };
    if !matches!(h.kind, KIND_TREE | KIND_LOGISTIC | KIND_FOREST) {
        return Err(ModelError::UnknownKind { found: h.kind });
    }
    if h.feature_count as usize != features {
        return Err(ModelError::FeatureCount {
            found: h.feature_count,
        });
    }
    let fixed = HEADER_BYTES + ROOTS_BYTES + 8 * features;
    if bytes.len() < fixed {
        return Err(ModelError::Truncated {
            expected_bytes: fixed,
            got_bytes: bytes.len(),
        });
    }
    let node_count = h.node_count as usize;
    if node_count > MAX_NODES {
        return Err(ModelError::TooManyNodes { count: node_count });
    }
    let stored_nodes = if h.kind == KIND_LOGISTIC { 0 } else { node_count };
    let expected = fixed + stored_nodes * NODE_BYTES;
    if bytes.len() > expected {
        return Err(ModelError::TrailingBytes {
            expected_bytes: expected,
            got_bytes: bytes.len(),
        });
    }
    if bytes.len() < expected {
        return Err(ModelError::Truncated {
            expected_bytes: expected,
            got_bytes: bytes.len(),
        });
    }
    let mut zeroed = [0u8; 4];
    zeroed.copy_from_slice(&bytes[CHECKSUM_AT..CHECKSUM_AT + 4]);
    let computed = fnv1a(
        fnv1a(fnv1a(FNV_OFFSET, &bytes[..CHECKSUM_AT]), &[0; 4]),
        &bytes[CHECKSUM_AT + 4..],
    );
    if computed != h.checksum {
        return Err(ModelError::ChecksumMismatch {
            stored: h.checksum,
            computed,
        });
    }
    h.layout_version = MODEL_LAYOUT_VERSION;
    h.feature_count = FEATURE_COUNT as u8;
    out.header = h;
    for (t, r) in out.roots.iter_mut().enumerate() {
        *r = u16_at(bytes, HEADER_BYTES + 2 * t);
    }
    let mut used = 0u64;
    for (i, t) in out.terms.iter_mut().enumerate() {
        if i >= features {
            *t = LogisticTerm::default();
            continue;
        }
        let at = HEADER_BYTES + ROOTS_BYTES + 8 * i;
        *t = LogisticTerm {
            weight: u32_at(bytes, at) as i32,
            shift: bytes[at + 4],
            transform: bytes[at + 5],
            _pad: [0; 2],
        };
        if h.kind == KIND_LOGISTIC && t.weight != 0 {
            if t.shift > 62 {
                return Err(ModelError::ShiftOutOfRange {
                    feature: i,
                    shift: t.shift,
                });
            }
            if t.transform > TRANSFORM_LOG2 {
                return Err(ModelError::UnknownTransform {
                    feature: i,
                    transform: t.transform,
                });
            }
            used |= 1 << i;
        }
    }
    for (i, n) in out.nodes.iter_mut().enumerate() {
        *n = TreeNode::default();
        if i >= stored_nodes {
            continue;
        }
        let at = fixed + NODE_BYTES * i;
        *n = TreeNode {
            threshold: u64_at(bytes, at) as i64,
            score: u32_at(bytes, at + 8) as i32,
            feature: bytes[at + 12],
            is_leaf: bytes[at + 13],
            left: u16_at(bytes, at + 14),
            right: u16_at(bytes, at + 16),
            _pad: [0; 6],
        };
    }
    if h.kind != KIND_LOGISTIC {
        used = validate_trees(out, node_count, features)?;
    }
    if used != h.feature_mask {
        return Err(ModelError::FeatureMaskMismatch {
            declared: h.feature_mask,
            used,
        });
    }
    Ok(())
}

/// Checks roots, children, features (below `features`, the layout's count) and depth; returns
/// the mask of features the trees use.
fn validate_trees(m: &Model, node_count: usize, features: usize) -> Result<u64, ModelError> {
    if node_count == 0 {
        return Err(ModelError::NoNodes);
    }
    let trees = if m.header.kind == KIND_FOREST {
        m.header.tree_count as usize
    } else {
        1
    };
    if trees > MAX_TREES || (m.header.kind == KIND_FOREST && trees == 0) {
        return Err(ModelError::TooManyTrees { count: trees });
    }
    for (t, &root) in m.roots.iter().enumerate().take(trees) {
        if root as usize >= node_count {
            return Err(ModelError::RootOutOfRange { tree: t, root });
        }
    }
    // Depth of each node; children come after parents, so one pass in index order suffices.
    let mut depth = [0u8; MAX_NODES];
    let mut used = 0u64;
    for (i, n) in m.nodes.iter().enumerate().take(node_count) {
        if n.is_leaf != 0 {
            continue;
        }
        if n.feature as usize >= features {
            return Err(ModelError::FeatureOutOfRange {
                node: i,
                feature: n.feature,
            });
        }
        used |= 1 << n.feature;
        for child in [n.left, n.right] {
            if child as usize >= node_count {
                return Err(ModelError::ChildOutOfRange { node: i, child });
            }
            if child as usize <= i {
                return Err(ModelError::ChildNotAfterParent { node: i, child });
            }
            let d = depth[i] as usize + 1;
            if d > MAX_DEPTH {
                return Err(ModelError::DepthOverLimit {
                    node: child as usize,
                    depth: d,
                });
            }
            depth[child as usize] = depth[child as usize].max(d as u8);
        }
    }
    Ok(used)
}
