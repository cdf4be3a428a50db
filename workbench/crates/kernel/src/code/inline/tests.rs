//! Inlining on small programs, run by a tiny interpreter before and after.

use super::*;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    code as u64
        | (dst as u64) << 8
        | (src as u64) << 12
        | (off as u16 as u64) << 16
        | (imm as u32 as u64) << 32
}
fn call(imm: i32) -> u64 {
    insn(CALL, 0, PSEUDO_CALL, 0, imm)
}
fn mov(dst: u8, imm: i32) -> u64 {
    insn(0xb7, dst, 0, 0, imm)
}
fn exit() -> u64 {
    insn(EXIT, 0, 0, 0, 0)
}

/// Runs what the tests use (mov imm/reg, add reg, ja, jeq imm, call, exit); returns r0.
fn run(p: &[u64]) -> i64 {
    let mut regs = [0i64; 11];
    let mut stack = Vec::new();
    let mut pc = 0usize;
    for _ in 0..1_000_000 {
        let w = p[pc];
        let off = (w >> 16) as u16 as i16 as i64;
        match code(w) {
            0xb7 => regs[dst(w) as usize] = imm(w) as i64,
            0x0f => regs[dst(w) as usize] += regs[src(w) as usize],
            0xbf => regs[dst(w) as usize] = regs[src(w) as usize],
            JA => pc = (pc as i64 + off) as usize,
            0x15 if regs[dst(w) as usize] == imm(w) as i64 => pc = (pc as i64 + off) as usize,
            0x15 => {}
            CALL => {
                stack.push(pc);
                pc = (pc as i64 + imm(w) as i64) as usize;
            }
            EXIT => match stack.pop() {
                Some(back) => pc = back,
                None => return regs[0],
            },
            other => panic!("opcode {other:#x}"),
        }
        pc += 1;
    }
    panic!("no exit")
}

fn calls_in(p: &[u64]) -> Vec<usize> {
    (0..p.len()).filter(|&pc| is_call(p[pc])).collect()
}

/// main: r6 = 1; r1 = 0; call A; r6 += r0; if r6 == 0 skip two; call B; r6 += r0; call A;
/// r6 += r0; r0 = r6; exit. A (a model) returns 10, or 20 when r1 is 0; B (the lock) 100.
fn program() -> (Vec<u64>, Vec<u64>) {
    let a = vec![insn(0x15, 1, 0, 2, 0), mov(0, 10), exit(), mov(0, 20), exit()];
    let b = vec![mov(0, 100), exit()];
    let main_len = 12;
    let (a_at, b_at) = (main_len, main_len + a.len());
    let mut p = vec![
        mov(6, 1),
        mov(1, 0),
        call((a_at - 3) as i32),
        insn(0x0f, 6, 0, 0, 0),
        insn(0x15, 6, 0, 2, 0),
        call((b_at - 6) as i32),
        insn(0x0f, 6, 0, 0, 0),
        call((a_at - 8) as i32),
        insn(0x0f, 6, 0, 0, 0),
        insn(0xbf, 0, 6, 0, 0),
        exit(),
        exit(),
    ];
    assert_eq!(p.len(), main_len);
    p.extend_from_slice(&a);
    p.extend_from_slice(&b);
    (p, a)
}

#[test]
fn calls_of_a_body_become_jumps_and_the_rest_stays_a_call() {
    let (p, a) = program();
    // r6 = 1 + 20 + 100 + 20.
    assert_eq!(run(&p), 141);
    let q = inline_calls(&p, &[&a]);
    assert_eq!(q.bodies, vec![true]);
    assert_eq!(run(&q.insns), 141);
    // No call of A is left; the one of B is re-aimed at B's new place.
    assert_eq!(calls_in(&q.insns), vec![5]);
    let b_at = (5 + imm(q.insns[5]) + 1) as usize;
    assert_eq!(&q.insns[b_at..b_at + 2], &[mov(0, 100), exit()]);
    // The main function keeps its place; two copies of A follow it, then B; A itself is gone.
    assert_eq!(&q.insns[..2], &p[..2]);
    assert_eq!(q.insns.len(), 12 + 2 * a.len() + 2);
    // Both slots' functions can be the same instructions (two empty slots): both are inlined.
    let twice = inline_calls(&p, &[&a, &a]);
    assert_eq!((twice.insns, twice.bodies), (q.insns, vec![true, true]));
}

#[test]
fn a_body_with_stack_or_calls_or_no_match_stays_called() {
    let (p, a) = program();
    let none = inline_calls(&p, &[&[mov(0, 1), exit()]]);
    assert_eq!((&none.insns, &none.bodies[..]), (&p, &[false][..]));
    let mut stacked = a.clone();
    stacked[1] = insn(0x7b, FP, 2, -8, 0);
    let mut q = p.clone();
    q[12 + 1] = stacked[1];
    assert_eq!(inline_calls(&q, &[&stacked]).bodies, vec![false]);
    assert!(!inlinable(&[call(1), exit()]));
}

#[test]
fn a_copy_beyond_16_bit_jumps_stays_a_call_and_the_others_are_inlined() {
    // A big body alone: its exit would jump back 40,000 instructions.
    let mut big = vec![mov(0, 1); 40_000];
    big.push(exit());
    let mut p = vec![call(1), exit()];
    p.extend_from_slice(&big);
    let q = inline_calls(&p, &[&big]);
    assert_eq!((&q.insns, &q.bodies[..]), (&p, &[false][..]));

    // main: call small; r6 = r0; call big; r0 += r6; exit. The small body fits, the big one
    // does not: the first becomes a jump, the second stays a call, re-aimed past the copy.
    let small = vec![mov(0, 5), exit()];
    let main = 5;
    let mut p = vec![
        call((main - 1) as i32),
        insn(0xbf, 6, 0, 0, 0),
        call((main + small.len() - 3) as i32),
        insn(0x0f, 0, 6, 0, 0),
        exit(),
    ];
    p.extend_from_slice(&small);
    p.extend_from_slice(&big);
    assert_eq!(run(&p), 6);
    let q = inline_calls(&p, &[&small, &big]);
    assert_eq!(q.bodies, vec![true, false]);
    assert_eq!(run(&q.insns), 6);
    assert_eq!(calls_in(&q.insns), vec![2]);
    assert_eq!(q.insns.len(), p.len());
}

#[test]
fn an_exit_beyond_16_bits_hops_through_the_previous_exit() {
    // One function of two "models" of 20,000 instructions each, picked by r1: its second exit
    // is 40,000 instructions from the call site, its first 20,000.
    let half = 20_000;
    let mut body = vec![insn(0x15, 1, 0, (half + 1) as i16, 0)];
    body.extend(vec![mov(0, 1); half]);
    body.push(exit());
    body.extend(vec![mov(0, 2); half]);
    body.push(exit());
    for (r1, expected) in [(1, 1), (0, 2)] {
        let mut p = vec![mov(1, r1), call(1), exit()];
        p.extend_from_slice(&body);
        assert_eq!(run(&p), expected);
        let q = inline_calls(&p, &[&body]);
        assert_eq!(q.bodies, vec![true]);
        assert!(calls_in(&q.insns).is_empty());
        assert_eq!(run(&q.insns), expected, "r1 = {r1}");
    }
}
