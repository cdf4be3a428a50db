//! A model compiled to eBPF instructions (issue 14, "the model as code"): a tree or a forest
//! becomes straight-line compares and jumps on the feature values, which the kernel verifies
//! when the code engine loads it (`workbench_kernel::code`). The table interpreter
//! (`Model::score_into`) stays the reference: the code computes the same i64 score for every
//! feature vector (tested here on random models with an interpreter of the instructions, and
//! in the kernel by `verify`).
//!
//! The function's contract (the probe's `workbench_code_active` / `_shadow` placeholders): r1
//! points at the feature vector (`[i64; FEATURE_COUNT]`), r2 at the score's i64 slot. The code
//! writes the score to *r2 and returns the model id (zero-extended), using only r0-r5. Sums go
//! through *r2, never a register: a register would hold a different known value on every path
//! and the verifier could not merge the paths at the end of a tree.

use shared::features::FEATURE_COUNT;
use shared::model::{Model, KIND_FOREST, KIND_TREE, MAX_DEPTH, MAX_NODES, MAX_TREES};

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
const JSGT_K: u8 = 0x65; // BPF_JMP | BPF_JSGT | BPF_K
const JSGT_X: u8 = 0x6d; // BPF_JMP | BPF_JSGT | BPF_X
const JA: u8 = 0x05;
const EXIT: u8 = 0x95;

const R0: u8 = 0;
const FEATURES: u8 = 1;
const SCORE: u8 = 2;
const VALUE: u8 = 3;
const WIDE: u8 = 4;

/// Why a model has no code (the table interpreter scores it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("a {0} model is not compiled to code (the table interpreter scores it)")]
    Kind(&'static str),
    #[error("node {node} is out of the model's {count} nodes or deeper than {MAX_DEPTH}")]
    Malformed { node: usize, count: usize },
    #[error("the compiled model needs a jump of {0} instructions, beyond eBPF's 16-bit offsets")]
    TooFar(usize),
}

/// The return value of a slot without code: above every u32, so it is never a model's id.
pub const NO_MODEL: u64 = 1 << 32;

/// The function for an empty slot or a model without code: returns [`NO_MODEL`].
pub fn no_model() -> Vec<Insn> {
    let mut out = Vec::new();
    ld_imm64(&mut out, R0, NO_MODEL as i64);
    out.push(op(EXIT, 0, 0, 0, 0));
    out
}

/// `model` compiled to the function described in the module comment.
pub fn compile(model: &Model) -> Result<Vec<Insn>, CodeError> {
    let trees = match model.header.kind {
        KIND_TREE => 1,
        KIND_FOREST => (model.header.tree_count as usize).min(MAX_TREES),
        shared::model::KIND_LOGISTIC => return Err(CodeError::Kind("logistic")),
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
