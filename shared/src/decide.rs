//! The per-packet decision, shared by the probe and the userspace twin: at a decision point,
//! compute the features the models read, score the active and the shadow model, and record
//! verdicts in the flow entry.

use crate::abi::ProbeConfig;
use crate::features::FeatureVector;
use crate::flow::{update_decides, FlowEntry, VERDICT_BENIGN, VERDICT_MALICIOUS};
use crate::model::Model;

/// Working memory of a decision (a per-CPU map value in the probe: it does not fit on the BPF
/// stack, and the running sum must live in memory, see `Model::score_with`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scratch {
    pub features: FeatureVector,
    pub acc: i64,
    /// Features the installed models read (the union of their masks); in memory so that every
    /// feature's guard reads it afresh (see `FlowState::features_masked_into`).
    pub mask: u64,
}

/// Where the score's slot is, in bytes from the feature vector: right after it. Compiled models
/// are given both pointers, but a logistic model needs every register but r1 (the features) for
/// its sum and its `log2fx`, so it writes the score through r1 at this offset; with no stack
/// frame of its own it can be inlined into the probe (`workbench_kernel::code::inline`).
pub const SCORE_AFTER_FEATURES_BYTES: usize =
    core::mem::offset_of!(Scratch, acc) - core::mem::offset_of!(Scratch, features);
const _: () = assert!(SCORE_AFTER_FEATURES_BYTES == core::mem::size_of::<FeatureVector>());

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            features: [0; crate::features::FEATURE_COUNT],
            acc: 0,
            mask: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// The active model was evaluated on this packet.
    pub evaluated: bool,
    /// The active verdict differs from the flow's previous one.
    pub verdict_changed: bool,
    /// The shadow model was evaluated and disagreed with the active one.
    pub shadow_disagreed: bool,
    /// The shadow model was evaluated where the active one said malicious ...
    pub shadow_beside_malicious: bool,
    /// ... and said benign: a flow the active model flags that the shadow would let pass.
    /// Counted apart because the disagreements are diluted by the benign decisions both make
    /// (at a 1% base rate a shadow that flags nothing disagrees in 1% of the decisions).
    pub shadow_missed: bool,
    /// Models scored by their compiled code (0, 1 or 2: active and shadow).
    pub code_scored: u32,
}

/// Which slot's model a [`decide_with`] scorer is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Active,
    Shadow,
}

#[inline(always)]
fn verdict_of(model: &Model, score: i64) -> u8 {
    if model.is_malicious(score) {
        VERDICT_MALICIOUS
    } else {
        VERDICT_BENIGN
    }
}

/// Reads a score back from memory (see `Model::score_into` for why it goes through memory).
#[inline(always)]
fn read_back(v: &i64) -> i64 {
    // SAFETY: a valid reference.
    unsafe { core::ptr::read_volatile(v) }
}

/// Runs after the flow's state was updated with the current packet, which stood for `frames`
/// frames on the wire (1; more for a GSO/GRO super-packet: `extra_segments + 1`).
#[inline(always)]
pub fn decide(
    entry: &mut FlowEntry,
    frames: u32,
    active: Option<&Model>,
    shadow: Option<&Model>,
    config: &ProbeConfig,
    scratch: &mut Scratch,
) -> Decision {
    decide_with(entry, frames, active, shadow, config, scratch, |_, _, _| false)
}

/// [`decide`] with a compiled scorer tried first: `code(slot, model, scratch)` writes the
/// model's score to `scratch.acc` and returns true, or returns false (no code for exactly this
/// model: the table interpreter scores it). The probe's code engine passes its compiled
/// functions here; the score is the same either way (tested bit for bit), so the userspace
/// twin, which has no code, decides the same.
#[inline(always)]
pub fn decide_with(
    entry: &mut FlowEntry,
    frames: u32,
    active: Option<&Model>,
    shadow: Option<&Model>,
    config: &ProbeConfig,
    scratch: &mut Scratch,
    code: impl Fn(Slot, &Model, &mut Scratch) -> bool,
) -> Decision {
    let mut d = Decision::default();
    let packets = entry.state.packets();
    // (No combined "both models absent" test: LLVM turns it into an OR of two pointers, which
    // the verifier rejects.)
    if !update_decides(packets, frames, config.decide_first_packets, config.decide_every) {
        return d;
    }
    // Only the features a model reads: a model's mask is exactly the features its nodes or
    // terms use (checked by `codec::decode`), so the entries left alone are never read.
    let mut mask = 0;
    if let Some(m) = active {
        mask |= m.header.feature_mask;
    }
    if let Some(m) = shadow {
        mask |= m.header.feature_mask;
    }
    // SAFETY: a valid reference; volatile so that the store is not folded into the reads.
    unsafe { core::ptr::write_volatile(&raw mut scratch.mask, mask) };
    // No model, nothing to compute (the cheap features are computed whatever the mask says).
    if mask != 0 {
        entry
            .state
            .features_masked_into(&mut scratch.features, &scratch.mask);
    }
    if let Some(m) = active {
        if code(Slot::Active, m, scratch) {
            d.code_scored += 1;
        } else {
            m.score_into(&scratch.features, &mut scratch.acc);
        }
        let score = read_back(&scratch.acc);
        let verdict = verdict_of(m, score);
        d.evaluated = true;
        d.verdict_changed = verdict != entry.verdict;
        entry.score = score;
        entry.verdict = verdict;
        entry.model_id = m.header.model_id;
        entry.decided_at_packet = packets;
    }
    if let Some(m) = shadow {
        if code(Slot::Shadow, m, scratch) {
            d.code_scored += 1;
        } else {
            m.score_into(&scratch.features, &mut scratch.acc);
        }
        let score = read_back(&scratch.acc);
        let verdict = verdict_of(m, score);
        entry.shadow_score = score;
        entry.shadow_verdict = verdict;
        entry.shadow_model_id = m.header.model_id;
        if active.is_some() && verdict != entry.verdict {
            entry.shadow_disagreements = entry.shadow_disagreements.saturating_add(1);
            d.shadow_disagreed = true;
        }
        if active.is_some() && entry.verdict == VERDICT_MALICIOUS {
            d.shadow_beside_malicious = true;
            d.shadow_missed = verdict != VERDICT_MALICIOUS;
        }
    }
    d
}
