//! The compiled models reached by jumps instead of BPF-to-BPF calls (issue 14, the model part).
//!
//! Why: on kernels with return-stack mitigations a call costs several ns (7 on this project's
//! VM, where every return goes through the SRSO "Safe RET" thunk: `bench probe`'s `dispatch`),
//! and in a program that makes tail calls the JIT also passes the tail-call counter along.
//! Measured on the probe with a real tree deciding at every packet (BPF_PROG_TEST_RUN, 2,000,000
//! repetitions, alternating loads): 158-161 ns with the call, 150-152 ns inlined
//! (docs/BENCHMARKS.md, "The compiled models inlined").
//!
//! How: the compiled code keeps a contract that makes it runnable in its caller's frame (r1-r5
//! and r0 only, no stack, no call: `workbench_flow::model::bpf_code`), so once the copy is
//! linked each call from the program's main function to a compiled function becomes a `ja` to
//! a copy of that function appended to the main function, whose `exit`s become `ja`s back to
//! the instruction after the call. The main function's instructions keep their places (none of
//! its jumps changes); the functions after it move as blocks and the calls into them are
//! re-aimed; a function no call reaches any more is left out (the verifier refuses unreachable
//! code). A function holds several models one after another (`bpf_code::dispatch`), each ending
//! in an exit: an exit too far from the call site for eBPF's 16-bit offsets jumps to the
//! previous model's jump back instead, so only a single model longer than about 31,000
//! instructions (or two exits that far apart) keeps its function a call, as does anything that
//! is not a compiled model. The verifier checks the result as it checked the calls: after a call the
//! caller reads none of r1-r5, so the values the inlined code leaves there change nothing.

/// `call` (BPF_JMP | BPF_CALL) with src_reg BPF_PSEUDO_CALL: a call of a function in the program.
const CALL: u8 = 0x85;
const PSEUDO_CALL: u8 = 1;
/// `ld_imm64`, two slots; src_reg BPF_PSEUDO_FUNC: a function's address (a callback).
const LD_IMM64: u8 = 0x18;
const PSEUDO_FUNC: u8 = 4;
const EXIT: u8 = 0x95;
const JA: u8 = 0x05;
const FP: u8 = 10;

fn code(w: u64) -> u8 {
    w as u8
}
fn dst(w: u64) -> u8 {
    (w >> 8) as u8 & 0x0f
}
fn src(w: u64) -> u8 {
    (w >> 12) as u8 & 0x0f
}
fn imm(w: u64) -> i32 {
    (w >> 32) as u32 as i32
}
fn with_imm(w: u64, imm: i32) -> u64 {
    (w & 0xffff_ffff) | ((imm as u32 as u64) << 32)
}
/// `ja` from instruction `from` to instruction `to`, if the offset fits.
fn ja(from: usize, to: usize) -> Option<u64> {
    let off = i16::try_from(to as i64 - from as i64 - 1).ok()?;
    Some(JA as u64 | ((off as u16 as u64) << 16))
}

/// Indexes of the program's instructions, the second slot of each `ld_imm64` left out.
fn starts(insns: &[u64]) -> Vec<usize> {
    let mut out = Vec::with_capacity(insns.len());
    let mut pc = 0;
    while pc < insns.len() {
        out.push(pc);
        pc += if code(insns[pc]) == LD_IMM64 { 2 } else { 1 };
    }
    out
}

fn is_call(w: u64) -> bool {
    code(w) == CALL && src(w) == PSEUDO_CALL
}

/// A function that runs the same in its caller's frame: no stack, no call, no callback address.
fn inlinable(body: &[u64]) -> bool {
    starts(body).into_iter().all(|pc| {
        let w = body[pc];
        let c = code(w);
        dst(w) != FP && src(w) != FP && c != CALL && !(c == LD_IMM64 && src(w) == PSEUDO_FUNC)
    })
}

/// A linked program with some calls inlined.
pub(super) struct Inlined {
    pub insns: Vec<u64>,
    /// Per body given, whether a call of it was turned into a jump.
    pub bodies: Vec<bool>,
}

/// `insns` (a linked program: its main function, then the functions it calls) with every call
/// from the main function to a function whose instructions are one of `bodies` (and which
/// [`inlinable`] accepts) turned into a jump to a copy of that function, where the jumps fit;
/// the program as it was when none could be.
pub(super) fn inline_calls(insns: &[u64], bodies: &[&[u64]]) -> Inlined {
    let unchanged = || Inlined {
        insns: insns.to_vec(),
        bodies: vec![false; bodies.len()],
    };
    let pcs = starts(insns);
    // A callback's address would need re-aiming too; the probe takes none.
    if pcs
        .iter()
        .any(|&pc| code(insns[pc]) == LD_IMM64 && src(insns[pc]) == PSEUDO_FUNC)
    {
        return unchanged();
    }
    let target = |pc: usize| pc as i64 + imm(insns[pc]) as i64 + 1;
    let calls: Vec<usize> = pcs.iter().copied().filter(|&pc| is_call(insns[pc])).collect();
    if calls
        .iter()
        .any(|&pc| target(pc) <= 0 || target(pc) >= insns.len() as i64)
    {
        return unchanged();
    }
    let target = |pc: usize| target(pc) as usize;
    let mut functions: Vec<usize> = calls.iter().map(|&pc| target(pc)).collect();
    functions.sort_unstable();
    functions.dedup();
    let Some(&main_end) = functions.first() else {
        return unchanged();
    };
    let end_of = |start: usize| {
        functions
            .iter()
            .copied()
            .find(|&f| f > start)
            .unwrap_or(insns.len())
    };
    let region = |start: usize| &insns[start..end_of(start)];

    let mut out: Vec<u64> = insns[..main_end].to_vec();
    let mut sites = Vec::new();
    let mut inlined = vec![false; bodies.len()];
    for &site in calls.iter().filter(|&&pc| pc < main_end) {
        let body = region(target(site));
        if !bodies.contains(&body) || !inlinable(body) {
            continue;
        }
        if let (Some(copy), Some(jump)) = (copy_at(body, site, out.len()), ja(site, out.len())) {
            out[site] = jump;
            out.extend(copy);
            sites.push(site);
            // Every body given with these instructions (the two slots' functions can be equal).
            for (flag, _) in inlined.iter_mut().zip(bodies).filter(|(_, b)| **b == body) {
                *flag = true;
            }
        }
    }
    if sites.is_empty() {
        return unchanged();
    }
    // The functions a remaining call still reaches, moved as blocks after the copies.
    let remaining: Vec<usize> = calls.iter().copied().filter(|pc| !sites.contains(pc)).collect();
    let mut moved = Vec::new();
    for &f in &functions {
        if remaining.iter().any(|&pc| target(pc) == f) {
            moved.push((f, out.len()));
            out.extend_from_slice(region(f));
        }
    }
    let new_place = |old: usize| -> Option<usize> {
        if old < main_end {
            return Some(old);
        }
        let &(f, at) = moved.iter().rev().find(|(f, _)| *f <= old)?;
        (old < end_of(f)).then_some(at + (old - f))
    };
    for &pc in &remaining {
        // Every remaining call sits in the main function or in a moved function, and calls a
        // moved function: both places are known.
        let (Some(from), Some(to)) = (new_place(pc), new_place(target(pc))) else {
            return unchanged();
        };
        let Ok(off) = i32::try_from(to as i64 - from as i64 - 1) else {
            return unchanged();
        };
        out[from] = with_imm(insns[pc], off);
    }
    Inlined {
        insns: out,
        bodies: inlined,
    }
}

/// `body` placed at instruction `at`, each `exit` a `ja` back to the instruction after `site`,
/// or, when that is beyond 16 bits, to the previous exit's `ja` back (a hop: it changes no
/// register, so the model's id in r0 passes through); `None` if neither fits.
fn copy_at(body: &[u64], site: usize, at: usize) -> Option<Vec<u64>> {
    let mut copy = Vec::with_capacity(body.len());
    let mut hop = None;
    for pc in starts(body) {
        if code(body[pc]) == EXIT {
            let here = at + copy.len();
            let back = ja(here, site + 1).or_else(|| ja(here, hop?))?;
            copy.push(back);
            hop = Some(here);
        } else {
            copy.push(body[pc]);
            if code(body[pc]) == LD_IMM64 {
                copy.push(*body.get(pc + 1)?);
            }
        }
    }
    Some(copy)
}

#[cfg(test)]
mod tests;
