//! The workbench's tc classifier. Attached at ingress and egress of an interface, for every frame
//! it: parses it with the `shared` parser, updates the flow's feature state in an LRU map, and at
//! the configured decision points evaluates the active model (and the shadow model, if any) with
//! the `shared` decision code. A verdict change goes to a ring buffer. In enforce mode, packets of
//! flows whose active verdict is malicious are dropped; otherwise every packet passes.
//!
//! Models live in inner array maps of an ARRAY_OF_MAPS; the probe looks each slot up once per
//! packet and reads the whole model from that one inner map, so a swap (userspace replaces the
//! inner map; the kernel waits for running programs) never mixes two models.
#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]

use core::cell::UnsafeCell;

mod flow_lock;

use aya_ebpf::{
    bindings::{
        bpf_map_def, bpf_map_type::BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_F_NO_PREALLOC, BPF_NOEXIST, TC_ACT_SHOT,
        TC_ACT_UNSPEC,
    },
    cty::c_void,
    helpers::{bpf_ktime_get_coarse_ns, bpf_ktime_get_ns, bpf_map_lookup_elem},
    macros::{classifier, map},
    maps::{lpm_trie::Key, Array, LpmTrie, LruHashMap, PerCpuArray, ProgramArray, RingBuf},
    programs::TcContext,
};
use workbench_shared::{
    abi::{
        allow_key, unparsed_action, PacketRecord, ProbeConfig, UnparsedAction, VerdictEvent, ALLOW_KEY_BYTES,
        ALLOW_VERSION_BITS, CLOCK_COARSE, CODE_NO_MODEL, MODEL_SLOTS, MODE_ENFORCE, MODE_MONITOR,
        SLOT_ACTIVE, SLOT_SHADOW,
    },
    decide::{decide_with, Decision, Scratch as DecideScratch, Slot},
    flow::{update_decides, FlowEntry, FlowKey, FLOW_LOCKED, VERDICT_MALICIOUS, VERDICT_NONE},
    model::Model,
    packet::{parse_ethernet, segment, PacketBytes, ParsedPacket, Segmentation, VlanTag},
    stats, ParseError,
};

/// Flow table size; userspace may override it at load time.
const FLOW_TABLE_ENTRIES: u32 = 131_072;
const EVENT_RING_BYTES: u32 = 256 * 1024;

#[map]
static FLOWS: LruHashMap<FlowKey, FlowEntry> = LruHashMap::with_max_entries(FLOW_TABLE_ENTRIES, 0);

#[map]
static STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(stats::COUNT, 0);

#[map]
static CONFIG: Array<ProbeConfig> = Array::with_max_entries(1, 0);

#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(EVENT_RING_BYTES, 0);

/// Addresses enforce mode never drops (CIDRs; see `shared::abi::allow_key`).
#[map]
static ALLOW: LpmTrie<[u8; ALLOW_KEY_BYTES], u8> = LpmTrie::with_max_entries(4096, BPF_F_NO_PREALLOC);

/// Packet records for `workbench verify`; one page unless userspace sizes it at load.
#[map]
static PACKETS: RingBuf = RingBuf::with_byte_size(4096, 0);

/// Per-CPU scratch space: the feature vector (320 bytes) and a new flow entry (192 bytes) do not
/// fit beside the rest on the 512-byte BPF stack.
#[repr(C)]
struct Scratch {
    decide: DecideScratch,
    fresh: FlowEntry,
    packet: ParsedPacket,
    key: FlowKey,
}

#[map]
static SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

/// The code engine (issue 14, docs/MODEL_ENGINE.md "The model as code"): slot 0 holds, when
/// `deploy --engine code` put one there, a copy of this probe (`workbench_tc_code`) whose
/// `workbench_code_active` and `workbench_code_shadow` functions userspace replaced with the
/// models compiled to instructions (the active one with the previous and the next, so that a
/// swap among them needs no new copy). `workbench_tc` jumps there first; an empty slot
/// (the table engine) makes the tail call fail and the packet runs on here.
#[map]
static CODE: ProgramArray = ProgramArray::with_max_entries(1, 0);

/// libbpf/aya legacy pinning value "by name" (aya-ebpf keeps its PinningType private).
const PINNING_BY_NAME: u32 = 1;

/// aya-ebpf 0.1.1 has no map-of-maps type, so the definition is written out. Userspace creates
/// and pins this map before loading (aya cannot create it); pinning by name makes aya reuse it.
#[repr(transparent)]
struct MapOfModels(UnsafeCell<bpf_map_def>);
// SAFETY: the definition is only read by the loader; the program passes its address to helpers.
unsafe impl Sync for MapOfModels {}

#[link_section = "maps"]
#[export_name = "MODELS"]
static MODELS: MapOfModels = MapOfModels(UnsafeCell::new(bpf_map_def {
    type_: BPF_MAP_TYPE_ARRAY_OF_MAPS,
    key_size: 4,
    value_size: 4,
    max_entries: MODEL_SLOTS,
    map_flags: 0,
    id: 0,
    pinning: PINNING_BY_NAME,
}));

/// The model in `slot`, if one is installed.
#[inline(always)]
fn model(slot: u32) -> Option<&'static Model> {
    let key = slot;
    let zero = 0u32;
    // SAFETY: lookups on map-in-map: the outer lookup yields the inner map or null; the inner
    // lookup yields a pointer to its single value (a Model) or null. Both stay valid for this
    // program run (RCU).
    unsafe {
        let inner = bpf_map_lookup_elem(MODELS.0.get() as *mut c_void, &key as *const u32 as *const c_void);
        if inner.is_null() {
            return None;
        }
        let value = bpf_map_lookup_elem(inner, &zero as *const u32 as *const c_void);
        (value as *const Model).as_ref()
    }
}

/// Headers the parser reads directly lie within this many bytes of the frame's start (two VLAN
/// tags, an IPv6 header and a TCP header: 98 bytes; with IPv6 extension headers, a short one
/// such as an 8-byte destination options header still fits); anything further goes through
/// `bpf_skb_load_bytes`. The bound also keeps the verifier's packet offsets small.
const DIRECT_READ_LIMIT: usize = 128;

/// The shared parser reads the skb directly from its linear data when the bytes are there, and
/// through `bpf_skb_load_bytes` otherwise (headers in paged data): either way the same bytes, so
/// the parse result does not depend on which. Direct reads save a helper call per header.
struct Skb<'a>(&'a TcContext);

impl PacketBytes for Skb<'_> {
    #[inline(always)]
    fn read<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        if offset < DIRECT_READ_LIMIT {
            let start = self.0.data();
            let end = self.0.data_end();
            if start + offset + N <= end {
                // SAFETY: the N bytes at `offset` lie inside the linear packet data (checked
                // above, and by the verifier); [u8; N] has no alignment requirement.
                return Some(unsafe { core::ptr::read_unaligned((start + offset) as *const [u8; N]) });
            }
        }
        self.0.load::<[u8; N]>(offset).ok()
    }

    #[inline(always)]
    fn frame_len(&self) -> u32 {
        self.0.len()
    }

    /// The receive path takes the outermost tag out of the frame before tc (NIC offload or
    /// `skb_vlan_untag`); the parser counts it back. `vlan_proto` is not read: either kind of
    /// tag is 4 bytes and one tag on the wire.
    #[inline(always)]
    fn metadata_vlan(&self) -> Option<VlanTag> {
        let skb = self.0.skb.skb;
        // SAFETY: reads of context fields, which the verifier rewrites into loads from the skb.
        let present = unsafe { core::ptr::read_volatile(&(*skb).vlan_present) };
        if present == 0 {
            return None;
        }
        // SAFETY: as above.
        let tci = unsafe { core::ptr::read_volatile(&(*skb).vlan_tci) };
        Some(VlanTag { tci: tci as u16 })
    }
}

impl Skb<'_> {
    /// A GSO super-packet at egress (the host's own TCP/UDP sends, cut into frames after tc)
    /// or a GRO one at ingress (frames merged before tc): `gso_size` is 0 for a plain frame, so
    /// a plain frame costs one context load here.
    #[inline(always)]
    fn segmentation(&self) -> Option<Segmentation> {
        let skb = self.0.skb.skb;
        // SAFETY: context field reads, as above.
        let size = unsafe { core::ptr::read_volatile(&(*skb).gso_size) };
        if size == 0 {
            return None;
        }
        // SAFETY: as above.
        let segments = unsafe { core::ptr::read_volatile(&(*skb).gso_segs) };
        Some(Segmentation {
            segment_payload_bytes: size,
            segments,
        })
    }
}

#[inline(always)]
fn count(index: u32) {
    if let Some(slot) = STATS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, no other writer on this CPU while the program runs.
        unsafe { *slot += 1 };
    }
}

#[inline(always)]
fn add(index: u32, n: u64) {
    if let Some(slot) = STATS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, as in `count`.
        unsafe { *slot += n };
    }
}

/// What the probe returns for every packet it does not drop: TC_ACT_UNSPEC, which is TCX_NEXT
/// under TCX. The packet goes on to the next program or filter on the hook, as if the probe were
/// not there; TC_ACT_OK (TCX_PASS) would end the chain and skip the user's own tc filters and
/// programs after ours (a policer, a firewall): a monitor must not change what they see.
const PASS_ON: i32 = TC_ACT_UNSPEC;

#[classifier]
pub fn workbench_tc(ctx: TcContext) -> i32 {
    // SAFETY: a tail call into a program of the same type; on success it does not return.
    let _ = unsafe { CODE.tail_call(&ctx, 0) };
    run::<false>(&ctx)
}

/// The probe with compiled models: only ever loaded by the code engine, with its two
/// `workbench_code_*` functions replaced, and reached through `CODE`.
#[classifier]
pub fn workbench_tc_code(ctx: TcContext) -> i32 {
    run::<true>(&ctx)
}

/// Placeholders for the compiled models: userspace replaces the body (each lives in a text
/// section of its own, so nothing else's relocations fall inside it). The contract the
/// generated code keeps: r1 points at the feature vector, r2 at the score's slot, r3 holds the
/// slot's model id; the code of the model with that id writes the score to *r2 (the `acc` right
/// after the features in `Scratch`, `SCORE_AFTER_FEATURES_BYTES` from r1) and returns the id,
/// touching only r0-r5 and no stack, so userspace turns the call into a jump (the code
/// engine's `inline`). The caller uses the score only when the id
/// returned is the slot's model's, so a model without code, or this placeholder, fall back to
/// the table interpreter.
#[no_mangle]
#[inline(never)]
#[link_section = ".text.workbench_code_active"]
pub extern "C" fn workbench_code_active(features: *const i64, acc: *mut i64, model_id: u64) -> u64 {
    placeholder(features, acc, model_id)
}

/// As [`workbench_code_active`], for the shadow slot.
#[no_mangle]
#[inline(never)]
#[link_section = ".text.workbench_code_shadow"]
pub extern "C" fn workbench_code_shadow(features: *const i64, acc: *mut i64, model_id: u64) -> u64 {
    placeholder(features, acc, model_id)
}

/// What an unreplaced placeholder does: returns `CODE_NO_MODEL` (never a model's id: the table
/// scores the slot). Volatile, so that LLVM keeps the three arguments and cannot fold the result
/// into the caller.
#[inline(always)]
fn placeholder(features: *const i64, acc: *mut i64, model_id: u64) -> u64 {
    let none = CODE_NO_MODEL;
    // SAFETY: the caller passes the scratch's feature vector and score slot; `none` is a local.
    unsafe {
        let first = core::ptr::read_volatile(features);
        core::ptr::write_volatile(acc, first ^ model_id as i64);
        core::ptr::read_volatile(&none)
    }
}

#[inline(always)]
fn run<const CODE_ENGINE: bool>(ctx: &TcContext) -> i32 {
    count(stats::PACKETS);
    // Parsed frames are not counted: userspace derives them (`stats::parsed`), which saves an
    // increment on every packet.
    match try_classify::<CODE_ENGINE>(ctx) {
        Ok(action) => action,
        Err(reason) => {
            count(reason.stat_index());
            unparsed(reason)
        }
    }
}

/// What happens to a frame the probe could not read: it joins no flow, so the model never
/// judges it; enforce mode drops it when the configuration's policy names its reason (by
/// default a chain of IPv6 extension headers longer than the parser walks, which exists to hide
/// the transport header), and dry-run counts it. Reached only by unparsed frames.
#[inline(always)]
fn unparsed(reason: ParseError) -> i32 {
    let config = match CONFIG.get(0) {
        Some(c) => c,
        None => return PASS_ON,
    };
    match unparsed_action(config.mode, config.drop_unparsed, reason) {
        UnparsedAction::Pass => PASS_ON,
        UnparsedAction::Drop => {
            count(stats::DROPPED_UNPARSED);
            TC_ACT_SHOT
        }
        UnparsedAction::WouldDrop => {
            count(stats::WOULD_DROP_UNPARSED);
            PASS_ON
        }
    }
}

#[inline(always)]
fn try_classify<const CODE_ENGINE: bool>(ctx: &TcContext) -> Result<i32, ParseError> {
    let scratch = match SCRATCH.get_ptr_mut(0) {
        // SAFETY: per-CPU scratch, used only within this run.
        Some(s) => unsafe { &mut *s },
        None => return Ok(PASS_ON),
    };
    // Launder the parse result through map memory: every parse path (VLAN tags, IPv4/IPv6,
    // TCP/UDP/ICMP) leaves different known values in registers and on the stack, and the
    // verifier would walk the rest of the program once per path. Read back from a map, they
    // are opaque numbers on every path, and the paths merge here. The parser's result is
    // stored straight into the map (a volatile store of the whole struct went byte by byte
    // through a copy on the stack).
    let skb = Skb(ctx);
    scratch.packet = parse_ethernet(&skb)?;
    // A GSO/GRO super-packet counts as the frames it stands for on the wire, worked out on the
    // parse result in place.
    if let Some(s) = skb.segmentation() {
        segment(&mut scratch.packet, s);
    }
    // SAFETY: the empty asm block tells LLVM that memory may have changed, so every later read
    // of the packet is a load from the map, not the value still in a register.
    unsafe { core::arch::asm!("") };
    let packet = &scratch.packet;
    let config = match CONFIG.get(0) {
        Some(c) => *c,
        None => return Ok(PASS_ON),
    };
    let now_ns = clock(&config);
    let oriented = FlowKey::of(packet);
    let from_lo = oriented.from_lo;
    // The key too: the comparisons that ordered its endpoints left their marks on it.
    scratch.key = oriented.key;
    // SAFETY: as above.
    unsafe { core::arch::asm!("") };
    let key = &scratch.key;
    // The flow's entry, locked (see flow_lock.rs): from here to `release` this CPU is the only
    // one updating it, so the packet record below is in the order the updates were applied,
    // which is the order verify's userspace twin replays them in.
    let (e, lock) = match flow_entry(key, &mut scratch.fresh, packet, from_lo, now_ns) {
        Some(found) => found,
        None => return Ok(PASS_ON),
    };
    if lock == Lock::Busy {
        // Left out of the flow (counted); the verdict is one byte, read whole.
        // SAFETY: pointer into the map value, valid for this run.
        let verdict = unsafe { core::ptr::read_volatile(&raw const (*e).verdict) };
        return Ok(act(&config, key, verdict));
    }
    // SAFETY: pointer into the map value, valid for this run; this CPU holds its lock (or the
    // probe was built without the lock).
    let entry = unsafe { &mut *e };
    if config.record_packets != 0 {
        record(packet, from_lo, now_ns);
    }
    // The models are looked up only at a decision point: past a flow's first packets (1-32
    // by default, then every 16th) most packets skip the two map-in-map lookups. No time
    // measurable in `bench probe`, but the verifier walks 8,192 fewer instructions.
    // `decide_with` tests the point again, the same test on the same count.
    let mut decision = Decision::default();
    let mut shadow_evaluated = false;
    // A GSO/GRO super-packet adds its frames at once: a decision point among them counts.
    let frames = packet.extra_segments.saturating_add(1);
    if update_decides(
        entry.state.packets(),
        frames,
        config.decide_first_packets,
        config.decide_every,
    ) {
        let shadow = model(SLOT_SHADOW);
        shadow_evaluated = shadow.is_some();
        decision = decide_with(
            entry,
            frames,
            model(SLOT_ACTIVE),
            shadow,
            &config,
            &mut scratch.decide,
            |slot, m, s| {
                if !CODE_ENGINE {
                    return false;
                }
                let (features, acc) = (s.features.as_ptr(), &raw mut s.acc);
                let want = u64::from(m.header.model_id);
                let id = match slot {
                    Slot::Active => workbench_code_active(features, acc, want),
                    Slot::Shadow => workbench_code_shadow(features, acc, want),
                };
                id == want
            },
        );
    }
    if decision.verdict_changed {
        emit(key, entry, shadow_evaluated);
    }
    let verdict = entry.verdict;
    if lock == Lock::Held {
        flow_lock::release(&raw mut entry.lock);
    }
    if decision.evaluated {
        count(stats::EVALUATIONS);
    }
    if decision.shadow_disagreed {
        count(stats::SHADOW_DISAGREEMENTS);
    }
    if decision.shadow_beside_malicious {
        count(stats::SHADOW_BESIDE_MALICIOUS);
    }
    if decision.shadow_missed {
        count(stats::SHADOW_MISSED);
    }
    if decision.verdict_changed {
        count(stats::VERDICT_CHANGES);
    }
    if decision.code_scored > 0 {
        add(stats::CODE_EVALUATIONS, decision.code_scored as u64);
    }
    Ok(act(&config, key, verdict))
}

/// The packet's timestamp by the configured clock. The coarse clock (5.11) is not in the build
/// for kernels before 5.12, which refuse the helper even on a branch that never runs.
#[inline(always)]
fn clock(config: &ProbeConfig) -> u64 {
    if cfg!(not(feature = "before-5-12")) && config.clock == CLOCK_COARSE {
        // SAFETY: helper without preconditions.
        unsafe { bpf_ktime_get_coarse_ns() }
    } else {
        // SAFETY: helper without preconditions.
        unsafe { bpf_ktime_get_ns() }
    }
}

/// What happens to a packet of a flow whose active verdict is `verdict`, by mode.
#[inline(always)]
fn act(config: &ProbeConfig, key: &FlowKey, verdict: u8) -> i32 {
    if config.mode != MODE_MONITOR && verdict == VERDICT_MALICIOUS {
        if allowed(key) {
            count(stats::ALLOWLISTED);
        } else if config.mode == MODE_ENFORCE {
            count(stats::DROPPED);
            return TC_ACT_SHOT;
        } else {
            count(stats::WOULD_DROP);
        }
    }
    PASS_ON
}

/// A flow entry's lock as [`flow_entry`] leaves it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lock {
    /// This run holds it: release it after the decision.
    Held,
    /// This probe is built without the lock (kernels before 5.12).
    Unused,
    /// Another CPU held it for all the tries: the packet was not added.
    Busy,
}

/// The packet's flow entry with the packet added (unless the lock stayed busy), and its lock.
/// A new flow's entry is inserted already locked, holding its first packet; a CPU that lost the
/// race to insert it (another CPU's packet of the same flow, at the same time) waits for that
/// lock. `None`: no entry (the insert failed and none is there).
#[inline(always)]
fn flow_entry(
    key: &FlowKey,
    fresh: &mut FlowEntry,
    packet: &ParsedPacket,
    from_lo: bool,
    now_ns: u64,
) -> Option<(*mut FlowEntry, Lock)> {
    let lock_flows = flow_lock::enabled();
    let e = match FLOWS.get_ptr_mut(key) {
        Some(e) => e,
        None => {
            fresh.restart(packet, from_lo, now_ns);
            if lock_flows {
                fresh.lock = FLOW_LOCKED;
            }
            // BPF_NOEXIST: another CPU may have created this flow since the lookup above (the
            // first packets of both directions at once); BPF_ANY would overwrite its entry and
            // lose its first packet. Then the insert fails and this packet joins that entry.
            let created = FLOWS.insert(key, fresh, BPF_NOEXIST as u64).is_ok();
            if created {
                count(stats::FLOWS_CREATED);
            }
            match FLOWS.get_ptr_mut(key) {
                Some(e) if created => return Some((e, if lock_flows { Lock::Held } else { Lock::Unused })),
                Some(e) => e,
                None => {
                    if !created {
                        // Neither inserted nor there: the insert failed for another reason.
                        count(stats::FLOW_INSERT_FAILED);
                    }
                    return None;
                }
            }
        }
    };
    // One place that takes the lock: the verifier walks every try of its loop once per place.
    let lock = if !lock_flows {
        Lock::Unused
    // SAFETY: `e` points into the map value, valid for this run; only the address is taken.
    } else if flow_lock::acquire(unsafe { &raw mut (*e).lock }) {
        Lock::Held
    } else {
        count(stats::FLOW_LOCK_BUSY);
        return Some((e, Lock::Busy));
    };
    // SAFETY: as above.
    unsafe { (*e).update(packet, from_lo, now_ns) };
    Some((e, lock))
}

/// Either endpoint of the flow is on the allowlist.
#[inline(always)]
fn allowed(key: &FlowKey) -> bool {
    let full = ALLOW_VERSION_BITS + 128;
    ALLOW
        .get(&Key::new(full, allow_key(key.ip_version, &key.addr_lo)))
        .is_some()
        || ALLOW
            .get(&Key::new(full, allow_key(key.ip_version, &key.addr_hi)))
            .is_some()
}

#[inline(always)]
fn record(packet: &ParsedPacket, from_lo: bool, now_ns: u64) {
    match PACKETS.reserve::<PacketRecord>(0) {
        Some(mut slot) => {
            // SAFETY: the reservation is a PacketRecord-sized, exclusively owned slot.
            unsafe {
                let r = slot.as_mut_ptr();
                (*r).packet = *packet;
                (*r).ts_ns = now_ns;
                (*r).from_lo = from_lo as u32;
                (*r)._pad = 0;
            }
            slot.submit(0);
        }
        None => count(stats::RECORDS_LOST),
    }
}

/// `shadow_evaluated`: a shadow model was scored at this decision, so the entry's shadow fields
/// are this decision's (otherwise they may be a removed shadow model's, and are not sent).
#[inline(always)]
fn emit(key: &FlowKey, entry: &FlowEntry, shadow_evaluated: bool) {
    match EVENTS.reserve::<VerdictEvent>(0) {
        Some(mut slot) => {
            // Written field by field into the ring buffer: no 72-byte copy on the stack.
            // SAFETY: the reservation is a VerdictEvent-sized, exclusively owned slot.
            unsafe {
                let ev = slot.as_mut_ptr();
                (*ev).key = *key;
                (*ev).ts_ns = entry.state.last_ts_ns;
                (*ev).score = entry.score;
                (*ev).model_id = entry.model_id;
                (*ev).packets = entry.state.packets();
                (*ev).verdict = entry.verdict;
                (*ev).initiator_is_lo = entry.initiator_is_lo;
                if shadow_evaluated {
                    (*ev).shadow_verdict = entry.shadow_verdict;
                    (*ev).shadow_model_id = entry.shadow_model_id;
                } else {
                    (*ev).shadow_verdict = VERDICT_NONE;
                    (*ev).shadow_model_id = 0;
                }
                (*ev)._pad8 = 0;
            }
            slot.submit(0);
        }
        None => count(stats::EVENTS_LOST),
    }
}

/// Does nothing: `workbench bench probe` measures it as the floor of a tc program's cost
/// (BPF_PROG_TEST_RUN's own overhead), which the probe's numbers are compared with.
#[classifier]
pub fn workbench_empty(_ctx: TcContext) -> i32 {
    PASS_ON
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // SAFETY: the verifier rejects any program with a reachable panic path, so this is dead.
    unsafe { core::hint::unreachable_unchecked() }
}
