//! The workbench's tc classifier. Attached at ingress and egress of an interface, it parses each
//! frame with the `shared` parser and keeps per-flow counters in an LRU map keyed by the
//! canonical bidirectional 5-tuple. Monitor only: every packet passes (TC_ACT_OK).
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::TC_ACT_OK,
    helpers::bpf_ktime_get_ns,
    macros::{classifier, map},
    maps::{LruHashMap, PerCpuArray},
    programs::TcContext,
};
use workbench_shared::{
    flow::{FlowEntry, FlowKey},
    packet::{parse_ethernet, PacketBytes},
    stats, ParseError,
};

/// Flow table size; userspace may override it at load time.
const FLOW_TABLE_ENTRIES: u32 = 131_072;

#[map]
static FLOWS: LruHashMap<FlowKey, FlowEntry> = LruHashMap::with_max_entries(FLOW_TABLE_ENTRIES, 0);

#[map]
static STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(stats::COUNT, 0);

/// The shared parser reads the skb through `bpf_skb_load_bytes`.
struct Skb<'a>(&'a TcContext);

impl PacketBytes for Skb<'_> {
    #[inline(always)]
    fn read<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        self.0.load::<[u8; N]>(offset).ok()
    }

    #[inline(always)]
    fn frame_len(&self) -> u32 {
        self.0.len()
    }
}

#[inline(always)]
fn count(index: u32) {
    if let Some(slot) = STATS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, no other writer on this CPU while the program runs.
        unsafe { *slot += 1 };
    }
}

#[classifier]
pub fn workbench_tc(ctx: TcContext) -> i32 {
    count(stats::PACKETS);
    match try_track(&ctx) {
        Ok(()) => count(stats::PARSED),
        Err(reason) => count(reason.stat_index()),
    }
    TC_ACT_OK
}

#[inline(always)]
fn try_track(ctx: &TcContext) -> Result<(), ParseError> {
    let packet = parse_ethernet(&Skb(ctx))?;
    // SAFETY: helper without preconditions.
    let now_ns = unsafe { bpf_ktime_get_ns() };
    let oriented = FlowKey::of(&packet);
    if let Some(entry) = FLOWS.get_ptr_mut(&oriented.key) {
        // SAFETY: the pointer is into the map value and valid for this program run. Two CPUs
        // updating one flow at the same instant can lose an increment (documented in docs/).
        unsafe { (*entry).update(oriented.from_lo, packet.frame_bytes, now_ns) };
        return Ok(());
    }
    let mut entry = FlowEntry::new(oriented.from_lo, now_ns);
    entry.update(oriented.from_lo, packet.frame_bytes, now_ns);
    match FLOWS.insert(&oriented.key, &entry, 0) {
        Ok(()) => count(stats::FLOWS_CREATED),
        Err(_) => count(stats::FLOW_INSERT_FAILED),
    }
    Ok(())
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // SAFETY: the verifier rejects any program with a reachable panic path, so this is dead.
    unsafe { core::hint::unreachable_unchecked() }
}
