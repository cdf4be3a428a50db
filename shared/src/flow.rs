//! Flow keys and per-flow state, as stored in the probe's flow map.
//!
//! A flow is bidirectional: both directions of a conversation map to one canonical key (the
//! endpoint that sorts lower comes first), and the entry remembers which endpoint sent the
//! first packet, the *initiator*. "Forward" means from the initiator, as in CICFlowMeter.

use crate::features::FlowState;
use crate::packet::{Addr, ParsedPacket};

/// Canonical bidirectional 5-tuple and VLAN. Addresses in network byte order (IPv4 in the
/// first 4 bytes, the rest zero), ports in host order. `lo` is the endpoint (address, port) that
/// sorts lower, `hi` the other. Aligned to 8 bytes (its size and field offsets unchanged): the
/// probe copies a key in five 8-byte moves instead of twenty 2-byte ones (LLVM copies a struct
/// by its alignment), about 7 ns a packet (docs/BENCHMARKS.md, "Where the fixed cost goes,
/// second pass").
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    pub addr_lo: [u8; 16],
    pub addr_hi: [u8; 16],
    pub port_lo: u16,
    pub port_hi: u16,
    pub proto: u8,
    pub ip_version: u8,
    /// The outermost VLAN tag's id (`ParsedPacket::vlan_id`; 0 untagged), as Suricata tracks
    /// flows (`vlan.use-for-tracking`): two tenants on a trunk using one 5-tuple on two VLANs are
    /// two flows. With QinQ the outer (service) tag's id: the inner one is not kept
    /// (docs/FEATURES.md). In the bytes that were padding: the key stays 40 bytes.
    pub vlan_id: u16,
}
const _: () = assert!(core::mem::size_of::<FlowKey>() == 40);

/// The endpoints of a packet in flow-key order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Oriented {
    pub key: FlowKey,
    /// The packet was sent by the `lo` endpoint.
    pub from_lo: bool,
}

/// (addr, port) ordering without memcmp (which the BPF target cannot call).
#[inline(always)]
fn endpoint_le(a: Addr, a_port: u16, b: Addr, b_port: u16) -> bool {
    let (a0, a1) = a.ordered();
    let (b0, b1) = b.ordered();
    (a0, a1, a_port) <= (b0, b1, b_port)
}

impl FlowKey {
    /// The canonical key of a packet and which endpoint sent it.
    #[inline(always)]
    pub fn of(p: &ParsedPacket) -> Oriented {
        let from_lo = endpoint_le(p.src_addr, p.src_port, p.dst_addr, p.dst_port);
        let (addr_lo, port_lo, addr_hi, port_hi) = if from_lo {
            (p.src_addr, p.src_port, p.dst_addr, p.dst_port)
        } else {
            (p.dst_addr, p.dst_port, p.src_addr, p.src_port)
        };
        Oriented {
            key: FlowKey {
                addr_lo: addr_lo.bytes(),
                addr_hi: addr_hi.bytes(),
                port_lo,
                port_hi,
                proto: p.proto,
                ip_version: p.ip_version,
                vlan_id: p.vlan_id,
            },
            from_lo,
        }
    }
}

/// Per-flow entry of the probe's flow map: the feature state plus the latest decision of the
/// active model and of the shadow model.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FlowEntry {
    pub state: FlowState,
    /// Latest score of the active model (fixed point, see `model`), and the model that made it.
    pub score: i64,
    pub shadow_score: i64,
    pub model_id: u32,
    pub shadow_model_id: u32,
    /// Decisions where the shadow model's verdict differed from the active one's.
    pub shadow_disagreements: u32,
    /// Packet number (1-based) of the latest decision.
    pub decided_at_packet: u32,
    pub verdict: u8,
    pub shadow_verdict: u8,
    /// 1 when the initiator (sender of the first packet seen) is the key's `lo` endpoint.
    pub initiator_is_lo: u8,
    pub _pad: [u8; 5],
    /// The probe's per-flow lock (0 free, [`FLOW_LOCKED`] held): the CPU that holds it is the
    /// only one updating the entry, deciding on it and recording the packet, so concurrent
    /// packets of one flow are applied one after another in the order of their packet records.
    /// Always 0 in userspace and in an entry at rest.
    pub lock: u64,
}
const _: () = assert!(core::mem::size_of::<FlowEntry>() == 144 + 48);

/// Value of [`FlowEntry::lock`] while a CPU holds it.
pub const FLOW_LOCKED: u64 = 1;

pub const VERDICT_NONE: u8 = 0;
pub const VERDICT_BENIGN: u8 = 1;
pub const VERDICT_MALICIOUS: u8 = 2;

impl FlowEntry {
    /// A new flow whose first packet `p` was sent by `lo` (if `from_lo`) at `now_ns`.
    #[inline(always)]
    pub fn new(p: &ParsedPacket, from_lo: bool, now_ns: u64) -> Self {
        let mut e = FlowEntry::default();
        e.restart(p, from_lo, now_ns);
        e
    }

    /// [`FlowEntry::new`] in place.
    #[inline(always)]
    pub fn restart(&mut self, p: &ParsedPacket, from_lo: bool, now_ns: u64) {
        crate::zero_words(self);
        self.initiator_is_lo = from_lo as u8;
        self.state.restart(p, now_ns);
    }

    /// The packet travels from the initiator.
    #[inline(always)]
    pub fn is_forward(&self, from_lo: bool) -> bool {
        (self.initiator_is_lo != 0) == from_lo
    }

    /// Adds one packet to the flow's state.
    #[inline(always)]
    pub fn update(&mut self, p: &ParsedPacket, from_lo: bool, now_ns: u64) {
        let forward = self.is_forward(from_lo);
        self.state.update(p, forward, now_ns);
    }
}

/// When the probe evaluates the model: at packets 1..=first_packets of a flow, then at every
/// `every`-th packet (0: never again).
#[inline(always)]
pub fn is_decision_point(packets: u32, first_packets: u32, every: u32) -> bool {
    packets <= first_packets || (every != 0 && packets.is_multiple_of(every))
}

/// Whether the update that brought a flow to `packets` by adding `frames` packets at once (1; a
/// GSO/GRO super-packet adds its frames together) passed a decision point: the model decides when
/// any count in `packets - frames + 1 ..= packets` is one. Testing the new count alone, a bulk
/// flow's super-packets of 20 frames jumped over 32 and most multiples of 16, and its verdict
/// stayed the one from packet 21.
#[inline(always)]
pub fn update_decides(packets: u32, frames: u32, first_packets: u32, every: u32) -> bool {
    if frames <= 1 {
        return is_decision_point(packets, first_packets, every);
    }
    let before = packets.saturating_sub(frames);
    before < first_packets || (every != 0 && packets / every > before / every)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(vlan_id: u16, from_client: bool) -> ParsedPacket {
        let (client, server) = (([10, 0, 0, 2], 40000), ([10, 0, 0, 1], 443));
        let ((src, src_port), (dst, dst_port)) = if from_client {
            (client, server)
        } else {
            (server, client)
        };
        let mut p = ParsedPacket {
            src_port,
            dst_port,
            proto: 6,
            ip_version: 4,
            vlan_id,
            ..ParsedPacket::default()
        };
        p.src_addr = Addr::v4(src);
        p.dst_addr = Addr::v4(dst);
        p
    }

    /// One 5-tuple on two VLANs is two keys; both directions of each share one; an untagged
    /// packet's key is the one it was before the VLAN was part of it (its last two bytes, the
    /// padding they were, are 0).
    #[test]
    fn the_vlan_id_tells_flows_with_one_5_tuple_apart() {
        let (a, b) = (FlowKey::of(&packet(100, true)), FlowKey::of(&packet(200, true)));
        assert_ne!(a.key, b.key);
        assert_eq!((a.key.vlan_id, b.key.vlan_id), (100, 200));
        assert_eq!(FlowKey::of(&packet(100, false)).key, a.key);
        assert_eq!(FlowKey::of(&packet(200, false)).key, b.key);
        let untagged = FlowKey::of(&packet(0, true)).key;
        assert_eq!(untagged, FlowKey { vlan_id: 0, ..a.key });
        // SAFETY: FlowKey is repr(C) plain old data of 40 bytes without padding.
        let bytes: [u8; 40] = unsafe { core::mem::transmute(untagged) };
        assert_eq!(&bytes[36..], &[6, 4, 0, 0]);
        // SAFETY: as above.
        let tagged: [u8; 40] = unsafe { core::mem::transmute(a.key) };
        assert_eq!(&tagged[38..], &100u16.to_ne_bytes());
    }

    /// One frame at a time, the update decides exactly at the decision points; a super-packet
    /// decides when any count it adds is one (and only then).
    #[test]
    fn an_update_decides_when_its_frames_pass_a_decision_point() {
        for packets in 1..200 {
            assert_eq!(
                update_decides(packets, 1, 32, 16),
                is_decision_point(packets, 32, 16),
                "{packets}"
            );
        }
        // 1 -> 21 -> 41 -> ...: 21 lies in 1-32, 41..61 holds 48, 61..81 holds 64 and 80.
        assert!(update_decides(21, 20, 32, 16));
        assert!(update_decides(41, 20, 32, 16), "22-41 holds 22-32");
        assert!(update_decides(61, 20, 32, 16), "passes 48");
        assert!(!update_decides(47, 5, 32, 16), "43-47: no decision point");
        assert!(update_decides(2001, 20, 32, 16), "passes 1984 and 2000");
        // No later decisions: only the first packets count.
        assert!(!update_decides(2001, 20, 32, 0));
        assert!(update_decides(40, 20, 32, 0), "21-40 holds 21-32");
        // Every packet a decision point, and none.
        assert!(update_decides(100, 7, 0, 1));
        assert!(!update_decides(100, 7, 0, 0));
    }
}
