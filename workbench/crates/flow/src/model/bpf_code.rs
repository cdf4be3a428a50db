//! A model compiled to eBPF instructions (issue 14, "the model as code"): a tree or a forest
//! becomes straight-line compares and jumps on the feature values, which the kernel verifies
//! when the code engine loads it (`workbench_kernel::code`). The table interpreter
//! (`Model::score_into`) stays the reference: the code computes the same i64 score for every
//! feature vector (tested here on random models with an interpreter of the instructions, and
//! in the kernel by `verify`).
//!
//! The function's contract (the probe's `workbench_code_active` / `_shadow` placeholders): r1
//! points at the feature vector (`[i64; FEATURE_COUNT]`), r2 at the score's i64 slot, r3 holds
//! the id of the model in the slot the probe looked up. One function holds several models
//! ([`dispatch`]): the one whose id is r3 writes the score to *r2 and returns its id
//! (zero-extended); no such model returns [`NO_MODEL`]. Only r0-r5 are used, and no stack, so
//! the code engine can inline the function into the probe. The score's slot is also the i64
//! right after the feature vector (`shared::decide::SCORE_AFTER_FEATURES_BYTES`): a logistic
//! model, which needs r2 for its sum, writes it through r1. A forest's sum goes through *r2, never a
//! register: a register would hold a different known value on every path and the verifier could
//! not merge the paths at the end of a tree; a logistic model has no branch, so its sum does.

use shared::decide::SCORE_AFTER_FEATURES_BYTES;
use shared::features::{feature_max, FEATURE_COUNT};
use shared::model::{
    Model, KIND_FOREST, KIND_LOGISTIC, KIND_TREE, LOG2_FRAC_BITS, MAX_DEPTH, MAX_NODES, MAX_TREES,
    TRANSFORM_LOG2,
};

/// One eBPF instruction, as the kernel reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    /// The 8 bytes of `struct bpf_insn` (little-endian: the probe's target is bpfel).
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.src << 4) | (self.dst & 0x0f);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

// Opcodes used (include/uapi/linux/bpf.h): class | size/op | source.
const LDX_DW: u8 = 0x79; // BPF_LDX | BPF_MEM | BPF_DW
const STX_DW: u8 = 0x7b; // BPF_STX | BPF_MEM | BPF_DW
const ST_DW: u8 = 0x7a; // BPF_ST | BPF_MEM | BPF_DW
const ADD64_K: u8 = 0x07; // BPF_ALU64 | BPF_ADD | BPF_K
const MOV32_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K (zero-extends)
const LD_IMM64: u8 = 0x18; // BPF_LD | BPF_IMM | BPF_DW (two slots)
const ADD64_X: u8 = 0x0f;
const SUB64_K: u8 = 0x17;
const SUB64_X: u8 = 0x1f;
const MUL64_K: u8 = 0x27;
const AND64_K: u8 = 0x57;
const AND64_X: u8 = 0x5f;
const LSH64_K: u8 = 0x67;
const LSH64_X: u8 = 0x6f;
const RSH64_K: u8 = 0x77;
const RSH64_X: u8 = 0x7f;
const MOV64_K: u8 = 0xb7;
const MOV64_X: u8 = 0xbf;
const ARSH64_K: u8 = 0xc7;
const JSGT_K: u8 = 0x65; // BPF_JMP | BPF_JSGT | BPF_K
const JSGT_X: u8 = 0x6d; // BPF_JMP | BPF_JSGT | BPF_X
const JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const JA: u8 = 0x05;
const EXIT: u8 = 0x95;

const R0: u8 = 0;
const FEATURES: u8 = 1;
const SCORE: u8 = 2;
const VALUE: u8 = 3;
/// The slot's model id on entry (then free: a model's code starts by loading a feature).
const ID: u8 = 3;
const WIDE: u8 = 4;
const TEMP: u8 = 5;
/// A logistic model's running sum (it writes the score through r1, at
/// [`SCORE_AFTER_FEATURES`]).
const SUM: u8 = 2;
/// The score's slot from r1 (`shared::decide::SCORE_AFTER_FEATURES_BYTES`, 328 bytes: within
/// an instruction's 16-bit offset).
const SCORE_AFTER_FEATURES: i16 = SCORE_AFTER_FEATURES_BYTES as i16;
const _: () = assert!(SCORE_AFTER_FEATURES_BYTES <= i16::MAX as usize);

/// Why a model has no code (the table interpreter scores it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("a {0} model is not compiled to code (the table interpreter scores it)")]
    Kind(&'static str),
    #[error("node {node} is out of the model's {count} nodes or deeper than {MAX_DEPTH}")]
    Malformed { node: usize, count: usize },
    #[error("the compiled model needs a jump of {0} instructions, beyond eBPF's 16-bit offsets")]
    TooFar(usize),
    #[error("the logistic model's terms could add up beyond i64 (the interpreter saturates there; the code would not)")]
    MaySaturate,
}

/// The return value of a slot without code (the probe's placeholders return it too).
pub use shared::abi::CODE_NO_MODEL as NO_MODEL;

/// The function for an empty slot or a model without code: returns [`NO_MODEL`].
pub fn no_model() -> Vec<Insn> {
    let mut out = Vec::new();
    ld_imm64(&mut out, R0, NO_MODEL as i64);
    out.push(op(EXIT, 0, 0, 0, 0));
    out
}

/// One function holding every `(id, code)` of `models` (each from [`compile`]): a compare of r3
/// with each id in turn, the matching model's code, [`NO_MODEL`] when none matches. So one copy
/// of the probe serves the active, previous and next model alike, and a swap among them needs
/// no new copy.
pub fn dispatch(models: &[(u32, Vec<Insn>)]) -> Result<Vec<Insn>, CodeError> {
    let mut out = Vec::new();
    for (id, code) in models {
        // mov32 zero-extends: r3 holds the id as the probe widened it (u32 to u64).
        out.push(op(MOV32_K, R0, 0, 0, *id as i32));
        let skip = i16::try_from(code.len()).map_err(|_| CodeError::TooFar(code.len()))?;
        out.push(op(JNE_X, ID, R0, skip, 0));
        out.extend_from_slice(code);
    }
    out.extend(no_model());
    Ok(out)
}

/// `model` compiled to the code of one model (it ends in an exit returning the model's id).
pub fn compile(model: &Model) -> Result<Vec<Insn>, CodeError> {
    let trees = match model.header.kind {
        KIND_TREE => 1,
        KIND_FOREST => (model.header.tree_count as usize).min(MAX_TREES),
        KIND_LOGISTIC => return logistic(model),
        _ => return Err(CodeError::Kind("unknown")),
    };
    let mut e = Emitter {
        model,
        out: Vec::new(),
        to_end: Vec::new(),
    };
    if model.header.kind == KIND_FOREST {
        // A forest with no trees scores 0, as the interpreter's sum starts at 0.
        e.out.push(op(ST_DW, SCORE, 0, 0, 0));
    }
    for t in 0..trees {
        let first = model.header.kind == KIND_TREE;
        e.node(model.roots[t] as usize, 0, first)?;
        // Every leaf of this tree jumps to the next tree (or to the end).
        let next = e.out.len();
        for at in std::mem::take(&mut e.to_end) {
            e.patch(at, next)?;
        }
    }
    e.out.push(op(MOV32_K, R0, 0, 0, model.header.model_id as i32));
    e.out.push(op(EXIT, 0, 0, 0, 0));
    Ok(e.out)
}

/// A logistic model: its terms are branch-free (no path for the verifier to multiply), so each
/// is straight-line arithmetic on the feature: `log2fx` by a binary search of shifts, the clamp
/// to `i32::MAX` by sign masks, the product and the shift. With no branch the sum can live in a
/// register (r2; the score is written through r1 at the end): no path to merge. Terms
/// of weight 0 add 0 whatever the feature holds and are left out (their features are not even
/// computed). The interpreter adds with saturation; the code adds plainly, so a model whose
/// terms could reach i64's bounds keeps the interpreter.
///
/// The probe computes every feature in `0..=feature_max(id)` (tested in `shared`), so the code
/// leaves out what the interpreter does for values outside it: the clamp below 0 (4
/// instructions a term) and, for the features of a `u8`/`u16` field, the clamp to `i32::MAX` (5).
/// On every vector the probe can compute, the score is the interpreter's.
fn logistic(model: &Model) -> Result<Vec<Insn>, CodeError> {
    const CLAMP: i64 = i32::MAX as i64;
    // The largest |log2fx(x)|: integer part 63, fraction 255.
    const LOG2_MAX: i64 = (63 << LOG2_FRAC_BITS) | ((1 << LOG2_FRAC_BITS) - 1);
    let mut bound = model.header.bias.unsigned_abs() as u128;
    let mut out = Vec::new();
    match i32::try_from(model.header.bias) {
        Ok(b) => out.push(op(MOV64_K, SUM, 0, 0, b)),
        Err(_) => ld_imm64(&mut out, SUM, model.header.bias),
    }
    for (i, t) in model.terms.iter().enumerate().take(FEATURE_COUNT) {
        if t.weight == 0 {
            continue;
        }
        let log2 = t.transform == TRANSFORM_LOG2;
        let x_max = if log2 { LOG2_MAX } else { CLAMP.min(feature_max(i)) } as u128;
        bound += ((x_max * t.weight.unsigned_abs() as u128) >> (t.shift & 63)) + 1;
        out.push(op(LDX_DW, VALUE, FEATURES, (i * 8) as i16, 0));
        if log2 {
            log2fx(&mut out);
        } else if feature_max(i) > CLAMP {
            // x = min(x, CLAMP) = CLAMP + (d & (d >> 63)) with d = x - CLAMP (x >= 0).
            out.push(op(SUB64_K, VALUE, 0, 0, CLAMP as i32));
            out.push(op(MOV64_X, WIDE, VALUE, 0, 0));
            out.push(op(ARSH64_K, WIDE, 0, 0, 63));
            out.push(op(AND64_X, VALUE, WIDE, 0, 0));
            out.push(op(ADD64_K, VALUE, 0, 0, CLAMP as i32));
        }
        out.push(op(MUL64_K, VALUE, 0, 0, t.weight));
        if t.shift & 63 != 0 {
            out.push(op(ARSH64_K, VALUE, 0, 0, i32::from(t.shift & 63)));
        }
        out.push(op(ADD64_X, SUM, VALUE, 0, 0));
    }
    out.push(op(STX_DW, FEATURES, SUM, SCORE_AFTER_FEATURES, 0));
    if bound >= 1 << 63 {
        return Err(CodeError::MaySaturate);
    }
    out.push(op(MOV32_K, R0, 0, 0, model.header.model_id as i32));
    out.push(op(EXIT, 0, 0, 0, 0));
    Ok(out)
}

/// `VALUE = log2fx(VALUE)` for `VALUE >= 0` (`shared::model::log2fx`), without a branch: v = x + 1
/// (no overflow: x < 2^63), m = 63 - n for its leading one's position n, then the leading one
/// and the 8 bits below it from v shifted up by m. m comes from four steps of a binary search
/// and a table: a step asks whether the bits still unsearched hold a one at or above 2^k, as
/// `(2^k - 1 - w) >> 63` (1 exactly when w > 2^k - 1: w <= 2^63 and 2^k - 1 < 2^32, so the
/// difference never wraps past the sign), and if so shifts w down by k and takes k off m;
/// after k = 32, 16, 8 and 4, w is in 1..=15 and [`LOG2_NIBBLE`] holds floor(log2 w) in two bits
/// per value, one 32-bit immediate. The result n * 256 + frac is (v << m) >> 55 (the leading
/// one at bit 8, frac below it) + (62 - m) * 256. 37 instructions (43 with six search steps
/// and n counted up: `bench probe`'s logistic model 231-234 -> 217-223 ns).
fn log2fx(out: &mut Vec<Insn>) {
    out.push(op(ADD64_K, VALUE, 0, 0, 1));
    out.push(op(MOV64_X, WIDE, VALUE, 0, 0));
    out.push(op(MOV64_K, TEMP, 0, 0, 63));
    for bits in [5, 4, 3, 2] {
        let k = 1i64 << bits;
        // 2^k - 1 in R0: for k = 32 a 32-bit move, which zero-extends 0xffff_ffff.
        if k == 32 {
            out.push(op(MOV32_K, R0, 0, 0, -1));
        } else {
            out.push(op(MOV64_K, R0, 0, 0, ((1i64 << k) - 1) as i32));
        }
        out.push(op(SUB64_X, R0, WIDE, 0, 0));
        out.push(op(RSH64_K, R0, 0, 0, 63));
        out.push(op(LSH64_K, R0, 0, 0, bits));
        out.push(op(RSH64_X, WIDE, R0, 0, 0));
        out.push(op(SUB64_X, TEMP, R0, 0, 0));
    }
    // m -= floor(log2 w) for w in 1..=15: two bits of the table at 2w.
    out.push(op(LSH64_K, WIDE, 0, 0, 1));
    out.push(op(MOV32_K, R0, 0, 0, LOG2_NIBBLE as i32));
    out.push(op(RSH64_X, R0, WIDE, 0, 0));
    out.push(op(AND64_K, R0, 0, 0, 3));
    out.push(op(SUB64_X, TEMP, R0, 0, 0));
    // ((v << m) >> 55) + 62 * 256 - m * 256.
    out.push(op(LSH64_X, VALUE, TEMP, 0, 0));
    out.push(op(RSH64_K, VALUE, 0, 0, 63 - LOG2_FRAC_BITS as i32));
    out.push(op(LSH64_K, TEMP, 0, 0, LOG2_FRAC_BITS as i32));
    out.push(op(SUB64_X, VALUE, TEMP, 0, 0));
    out.push(op(ADD64_K, VALUE, 0, 0, 62 << LOG2_FRAC_BITS));
}

/// floor(log2 w) for w in 0..16, two bits each at bit 2w (w = 0 never occurs: 0).
const LOG2_NIBBLE: u32 = {
    let mut table = 0u32;
    let mut w = 2;
    while w < 16 {
        table |= (31 - (w as u32).leading_zeros()) << (2 * w);
        w += 1;
    }
    table
};

struct Emitter<'a> {
    model: &'a Model,
    out: Vec<Insn>,
    /// Jumps to the end of the current tree, patched when it is known.
    to_end: Vec<usize>,
}

impl Emitter<'_> {
    /// Depth first, left subtree falling through: a split is a load and one jump to its right
    /// subtree; a leaf writes (or adds) its score and jumps to the end of the tree.
    fn node(&mut self, idx: usize, depth: usize, single_tree: bool) -> Result<(), CodeError> {
        let count = self.model.header.node_count as usize;
        if idx >= count.min(MAX_NODES) || depth > MAX_DEPTH {
            return Err(CodeError::Malformed { node: idx, count });
        }
        let n = self.model.nodes[idx];
        if n.is_leaf != 0 {
            if single_tree {
                self.out.push(op(ST_DW, SCORE, 0, 0, n.score));
            } else {
                self.out.push(op(LDX_DW, VALUE, SCORE, 0, 0));
                self.out.push(op(ADD64_K, VALUE, 0, 0, n.score));
                self.out.push(op(STX_DW, SCORE, VALUE, 0, 0));
            }
            self.to_end.push(self.out.len());
            self.out.push(op(JA, 0, 0, 0, 0));
            return Ok(());
        }
        let feature = n.feature as usize;
        if feature >= FEATURE_COUNT {
            return Err(CodeError::Malformed { node: idx, count });
        }
        self.out
            .push(op(LDX_DW, VALUE, FEATURES, (feature * 8) as i16, 0));
        let jump = match i32::try_from(n.threshold) {
            Ok(t) => {
                self.out.push(op(JSGT_K, VALUE, 0, 0, t));
                self.out.len() - 1
            }
            Err(_) => {
                ld_imm64(&mut self.out, WIDE, n.threshold);
                self.out.push(op(JSGT_X, VALUE, WIDE, 0, 0));
                self.out.len() - 1
            }
        };
        self.node(n.left as usize, depth + 1, single_tree)?;
        let right = self.out.len();
        self.patch(jump, right)?;
        self.node(n.right as usize, depth + 1, single_tree)
    }

    fn patch(&mut self, at: usize, target: usize) -> Result<(), CodeError> {
        let off = target as i64 - at as i64 - 1;
        self.out[at].off = i16::try_from(off).map_err(|_| CodeError::TooFar(off.unsigned_abs() as usize))?;
        Ok(())
    }
}

fn op(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

fn ld_imm64(out: &mut Vec<Insn>, dst: u8, value: i64) {
    out.push(op(LD_IMM64, dst, 0, 0, value as i32));
    out.push(op(0, 0, 0, 0, (value >> 32) as i32));
}

#[cfg(test)]
#[path = "bpf_code_tests.rs"]
mod tests;
