//! Models in integer form: the layout the probe evaluates and userspace validates.
//!
//! One [`Model`] value holds a decision tree, a forest (sum of leaf scores over up to
//! [`MAX_TREES`] trees) or a logistic regression. In the kernel it is the single value of an
//! inner array map; the probe looks the model up once per packet and takes every field from that
//! one value, so a hot swap never mixes two models. Scores are fixed point:
//! tree leaves hold P(malicious) x 2^16, a forest sums its trees' leaves, a logistic model
//! accumulates the logit x 2^16. A flow is malicious when `score >= threshold`.
//!
//! On disk and on the wire the model travels in a compact little-endian form ([`codec`]) with a
//! checksum; [`codec::decode`] validates everything (magic, version, kind, ranges, child order,
//! depth, checksum) before a model can reach the kernel. Layout 1 holds the first 40 features,
//! layout 2 all 41 (the opt-in `vlan_id` came later); a model is written in layout 1 unless it
//! reads `vlan_id`, so its bytes, its id and older readers stay as they were.

pub mod codec;

use crate::features::{FeatureSource, FEATURE_COUNT};

/// Logistic terms every model evaluates: the features before the opt-in ones (ids below 40).
const DEFAULT_TERMS: usize = codec::LAYOUT_V1_FEATURES;
const _: () = assert!(
    crate::features::OPT_IN_FEATURES >> DEFAULT_TERMS << DEFAULT_TERMS == crate::features::OPT_IN_FEATURES
);

pub const MODEL_MAGIC: u32 = u32::from_le_bytes(*b"EBML");
/// The layout of a model in memory (and in the kernel): every feature has a logistic term. On
/// disk a model takes the oldest layout that holds the features it reads (see [`codec`]).
pub const MODEL_LAYOUT_VERSION: u16 = 2;
/// Node capacity (a power of two: the probe masks indices with it).
pub const MAX_NODES: usize = 8192;
/// Deepest path the probe walks (its loop bound).
pub const MAX_DEPTH: usize = 24;
/// Trees in a forest. Measured (docs/MODEL_ENGINE.md): 16 trees in both slots cost the verifier
/// 227k of its 1M instruction budget and 16 depth-12 walks exceed the per-packet budget, so the
/// ensemble is a small one.
pub const MAX_TREES: usize = 4;
/// Fixed-point scale of scores and probabilities.
pub const SCORE_ONE: i64 = 1 << 16;
/// Fractional bits of the integer log2 transform.
pub const LOG2_FRAC_BITS: u32 = 8;

pub const KIND_TREE: u8 = 1;
pub const KIND_LOGISTIC: u8 = 2;
pub const KIND_FOREST: u8 = 3;

pub const TRANSFORM_IDENTITY: u8 = 0;
/// log2(1 + x) with [`LOG2_FRAC_BITS`] fractional bits (see [`log2fx`]).
pub const TRANSFORM_LOG2: u8 = 1;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ModelHeader {
    pub magic: u32,
    pub layout_version: u16,
    pub kind: u8,
    pub feature_count: u8,
    pub node_count: u16,
    pub tree_count: u16,
    /// Short id of the model (first 4 bytes of its content hash); every verdict carries it.
    pub model_id: u32,
    /// Bit i set: feature i is read by the model (the probe computes only those).
    pub feature_mask: u64,
    /// Decision: malicious when score >= threshold.
    pub threshold: i64,
    /// Logistic intercept (x 2^16).
    pub bias: i64,
    pub checksum: u32,
    pub _pad: u32,
}
const _: () = assert!(core::mem::size_of::<ModelHeader>() == 48);

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TreeNode {
    /// Split: go left when feature <= threshold.
    pub threshold: i64,
    /// Leaf: P(malicious) x 2^16 (or a boosting increment).
    pub score: i32,
    pub feature: u8,
    pub is_leaf: u8,
    pub left: u16,
    pub right: u16,
    pub _pad: [u8; 6],
}
const _: () = assert!(core::mem::size_of::<TreeNode>() == 24);

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LogisticTerm {
    /// Contribution = (transform(x) * weight) >> shift, in units of 2^-16 of the logit.
    pub weight: i32,
    pub shift: u8,
    pub transform: u8,
    pub _pad: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<LogisticTerm>() == 8);

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Model {
    pub header: ModelHeader,
    pub roots: [u16; MAX_TREES],
    pub terms: [LogisticTerm; FEATURE_COUNT],
    pub nodes: [TreeNode; MAX_NODES],
}

/// log2(1 + x) in fixed point with [`LOG2_FRAC_BITS`] fractional bits: the integer part from the
/// position of the leading one, the fraction from the bits below it (linear between powers of
/// two). Deterministic on both sides; training applies the same function.
#[inline(always)]
pub fn log2fx(x: i64) -> i64 {
    let v = (x.max(0) as u64).saturating_add(1);
    let int_part = 63 - v.leading_zeros();
    let frac_mask = (1u64 << LOG2_FRAC_BITS) - 1;
    let frac = if int_part >= LOG2_FRAC_BITS {
        (v >> (int_part - LOG2_FRAC_BITS)) & frac_mask
    } else {
        (v << (LOG2_FRAC_BITS - int_part)) & frac_mask
    };
    ((int_part as i64) << LOG2_FRAC_BITS) | frac as i64
}

impl Model {
    /// Walks one tree from `root`; bounded by MAX_DEPTH + 1 steps.
    #[inline(always)]
    fn walk<F: FeatureSource>(&self, root: u16, features: &F) -> i64 {
        let mut idx = root as usize;
        // An exclusive range: RangeInclusive carries an extra "exhausted" flag that hides the
        // trip count from the verifier.
        for _ in 0..=MAX_DEPTH {
            let node = &self.nodes[idx & (MAX_NODES - 1)];
            if node.is_leaf != 0 {
                return node.score as i64;
            }
            let value = features.feature(node.feature as usize);
            idx = if value <= node.threshold {
                node.left
            } else {
                node.right
            } as usize;
        }
        // Unreachable for validated models (depth <= MAX_DEPTH).
        0
    }

    /// The model's score for one feature vector.
    pub fn score<F: FeatureSource>(&self, features: &F) -> i64 {
        let mut acc = 0;
        self.score_into(features, &mut acc);
        acc
    }

    /// [`Model::score`] written to `acc`, which also holds the running sum of a forest or
    /// logistic model; every step reads and writes it through memory. In the probe `acc` lives
    /// in a map. Why: the verifier merges two paths through the program only where their live
    /// registers agree; a sum or score held in a register has a different value range on every
    /// path (per model kind, per branch in the loop), so nothing merges and the verifier gives
    /// up. A value read back from a map is an opaque number on every path, and paths merge.
    #[inline(always)]
    pub fn score_into<F: FeatureSource>(&self, features: &F, acc: &mut i64) {
        let acc: *mut i64 = acc;
        // SAFETY: `acc` comes from a valid, exclusive reference that outlives this call.
        let get = || unsafe { core::ptr::read_volatile(acc) };
        let set = |v: i64| unsafe { core::ptr::write_volatile(acc, v) };
        match self.header.kind {
            // The root index is read from the model, not the constant 0: the walk's pointer
            // arithmetic must see the same kind of offset on every iteration, or a verifier
            // without CAP_PERFMON refuses it (Spectre v1 sanitation).
            KIND_TREE => set(self.walk(self.roots[0], features)),
            KIND_FOREST => {
                set(0);
                for t in 0..MAX_TREES {
                    if t >= self.header.tree_count as usize {
                        break;
                    }
                    set(get().saturating_add(self.walk(self.roots[t], features)));
                }
            }
            KIND_LOGISTIC => {
                set(self.header.bias);
                let mut i = 0;
                while i < DEFAULT_TERMS {
                    set(get().saturating_add(self.term(i, features.feature(i))));
                    i += 1;
                }
                // The opt-in features' terms only for a model that reads them: a model without
                // them costs what it did before they existed (their weights are 0, so the
                // score is the same either way).
                while i < FEATURE_COUNT {
                    // SAFETY: a valid reference (volatile: no knowledge about the mask is kept
                    // across iterations, see `features_masked_into`).
                    let mask = unsafe { core::ptr::read_volatile(&raw const self.header.feature_mask) };
                    if mask & (1 << i) != 0 {
                        set(get().saturating_add(self.term(i, features.feature(i))));
                    }
                    i += 1;
                }
            }
            _ => set(0),
        }
    }

    /// Integer contribution of feature `i` with value `value` to a logistic score. Operands
    /// are clamped to the i32 range so the product fits in i64 without a 128-bit multiply.
    #[inline(always)]
    pub fn term(&self, i: usize, value: i64) -> i64 {
        let Some(term) = self.terms.get(i) else { return 0 };
        let x = if term.transform == TRANSFORM_LOG2 {
            log2fx(value)
        } else {
            value
        };
        let x = x.clamp(0, i32::MAX as i64);
        (x * term.weight as i64) >> (term.shift & 63)
    }

    #[inline(always)]
    pub fn is_malicious(&self, score: i64) -> bool {
        score >= self.header.threshold
    }

    /// An empty model (kind 0: scores 0). Only for building one field by field in userspace.
    pub const fn zeroed() -> Model {
        Model {
            header: ModelHeader {
                magic: 0,
                layout_version: 0,
                kind: 0,
                feature_count: 0,
                node_count: 0,
                tree_count: 0,
                model_id: 0,
                feature_mask: 0,
                threshold: 0,
                bias: 0,
                checksum: 0,
                _pad: 0,
            },
            roots: [0; MAX_TREES],
            terms: [LogisticTerm {
                weight: 0,
                shift: 0,
                transform: 0,
                _pad: [0; 2],
            }; FEATURE_COUNT],
            nodes: [TreeNode {
                threshold: 0,
                score: 0,
                feature: 0,
                is_leaf: 0,
                left: 0,
                right: 0,
                _pad: [0; 6],
            }; MAX_NODES],
        }
    }
}

#[cfg(test)]
mod layout_tests;
#[cfg(test)]
mod tests;

// Every byte of a Model is a declared field (no implicit padding), so userspace may hand its
// bytes to the kernel as they are.
const _: () = assert!(
    core::mem::size_of::<Model>()
        == core::mem::size_of::<ModelHeader>()
            + 2 * MAX_TREES
            + core::mem::size_of::<LogisticTerm>() * FEATURE_COUNT
            + core::mem::size_of::<TreeNode>() * MAX_NODES
);
