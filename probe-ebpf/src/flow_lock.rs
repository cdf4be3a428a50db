//! The per-flow lock: one word in the flow entry (`FlowEntry::lock`), taken with a compare-and-
//! exchange before a packet touches the entry and released with an exchange after its decision.
//!
//! Why a lock of our own: `bpf_spin_lock` is refused in LRU hash maps (the kernel allows it in
//! hash, array and the storage maps only) and needs BTF-defined maps; per-CPU entries cannot be
//! merged exactly for order-dependent features (inter-arrival times, first-packet fields).
//! The word is 64 bits and the two atomics are written in assembly: Rust's BPF target has
//! 64-bit loads and stores only (no compare-and-exchange), and LLVM has both instructions.
//! BPF atomics with a fetched result (`cmpxchg`, `xchg`) are Linux 5.12; on older kernels the
//! loader turns the lock off (`LOCK_FLOWS` below) and the update is the unlocked one of before.
//!
//! Holding the lock is short (the update, the model, one or two ring reservations) and tc runs
//! with bottom halves off, so the holder is never interrupted by another packet on its own CPU:
//! a waiter tries once, then at most [`SPINS`] times more, and then leaves its packet out of the
//! flow (it still passes, and enforce mode still acts on the flow's verdict), counted in
//! `flow_lock_busy`, rather than spin without bound or write into an entry another CPU is
//! writing.

use aya_ebpf::helpers::bpf_ktime_get_ns;
use workbench_shared::flow::FLOW_LOCKED;

/// Tries before a waiter gives up; each try is one compare-and-exchange.
const SPINS: u32 = 2048;

/// Whether this build locks flows: the loader picks the build without the lock (feature
/// `before-5-12`) on kernels before 5.12, whose verifier refuses the instructions themselves
/// even on a branch that never runs.
#[inline(always)]
pub const fn enabled() -> bool {
    !cfg!(feature = "before-5-12")
}

/// Takes the lock at `lock`; false when another CPU held it for the first try and all
/// [`SPINS`] tries of [`wait`]. The first try is inline: a free lock (nearly every packet) costs
/// one `cmpxchg` and no call. With every try behind the call, the lock cost 10-15 ns a packet
/// (`flow_lock_ns` in `bench probe`); with the first one here, 0-3 ns (docs/BENCHMARKS.md,
/// "Where the fixed cost goes, second pass").
#[inline(always)]
pub fn acquire(lock: *mut u64) -> bool {
    compare_exchange(lock, 0, FLOW_LOCKED) == 0 || wait(lock)
}

/// The tries after a busy first one. A function of its own (a BPF-to-BPF call): the verifier
/// walks every try, and each one returns to the caller with nothing but a 0 or 1, so the rest of
/// the program is verified once per result.
#[inline(never)]
fn wait(lock: *mut u64) -> bool {
    for _ in 0..SPINS {
        if compare_exchange(lock, 0, FLOW_LOCKED) == 0 {
            return true;
        }
        // Busy: wait a little before the next try (four clock reads, 30-100 ns), so that the
        // tries outlast a holder interrupted by a hard IRQ or descheduled for a while by a
        // hypervisor (2,048 tries: about 200 us on this project's VM), and waiters do not hammer the entry's
        // cache line. The verifier walks every try, so tries are dear and time is not; one
        // branch a try (no plain read before the exchange) keeps the walk short.
        for _ in 0..4 {
            // SAFETY: helper without preconditions.
            unsafe { bpf_ktime_get_ns() };
        }
    }
    false
}

/// Releases a lock this program run holds.
#[inline(always)]
pub fn release(lock: *mut u64) {
    // An exchange, not a store: it is a full barrier in every BPF JIT, so the entry's writes are
    // visible before the next holder reads them (a plain store is not a release on arm64).
    let mut value = 0u64;
    // SAFETY: `lock` points at an 8-byte-aligned u64 inside a map value, valid for this program
    // run (the callers' contract); BPF_XCHG stores `value` and returns the old word in its place.
    unsafe {
        core::arch::asm!(
            "{v} = xchg_64({p} + 0, {v})",
            p = in(reg) lock,
            v = inout(reg) value,
            options(nostack),
        );
    }
    let _ = value;
}

/// BPF_CMPXCHG: if `*lock == expected`, store `new`; returns the old value either way.
#[inline(always)]
fn compare_exchange(lock: *mut u64, expected: u64, new: u64) -> u64 {
    let old: u64;
    // SAFETY: `lock` points at an 8-byte-aligned u64 inside a map value, valid for this program
    // run (the callers' contract); the instruction compares with and returns in r0.
    unsafe {
        core::arch::asm!(
            "r0 = cmpxchg_64({p} + 0, r0, {n})",
            p = in(reg) lock,
            n = in(reg) new,
            inout("r0") expected => old,
            options(nostack),
        );
    }
    old
}
