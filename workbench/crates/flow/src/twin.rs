//! The userspace twin of the probe: the same `shared` flow update and decision code, fed with
//! parsed packets and timestamps, producing the flow table the kernel would hold.
//!
//! It mirrors `probe-ebpf/src/main.rs` step by step: canonical key, new flow (`restart`) or
//! update, then `decide` with the active and shadow models. Keep the two in step. (The probe's
//! other two steps have nothing to do here: a packet whose new-flow insert lost to another CPU
//! is added to the winner's entry, which is this map's update of an existing flow; and a
//! GSO/GRO super-packet, which `shared::packet::segment` turns into its frames at tc, never
//! comes from a capture, whose frames are the wire's already.)

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use shared::abi::ProbeConfig;
use shared::decide::{decide, Scratch};
use shared::model::Model;
use shared::{FlowEntry, FlowKey, ParsedPacket};

/// A map keyed by flow. foldhash rather than std's SipHash: the per-packet lookup is the
/// twin's hottest step (SipHash was about 15% of `workbench features` in a profile), and
/// foldhash's per-map random seed still keeps a hostile capture from choosing colliding keys in
/// advance.
pub type FlowMap<V> = HashMap<FlowKey, V, foldhash::fast::RandomState>;

/// The twin's flow table: the entries in the order their flows were first seen, found by key
/// through an index of positions. Why not a map of entries: on a capture of short flows (a SYN
/// flood: nearly a flow per packet) growing a map of 192-byte entries (rehashing, and touching
/// fresh pages for each larger copy) cost more than the flows' own update. A flow's position
/// never changes, so callers keep their own bookkeeping per flow in a vector beside it
/// ([`Twin::step`] says which position a packet went to, and whether the flow is new).
#[derive(Default)]
pub struct Flows {
    keys: Vec<FlowKey>,
    entries: Vec<FlowEntry>,
    index: FlowMap<usize>,
}

impl Flows {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The flow's position (first seen = 0).
    pub fn position(&self, key: &FlowKey) -> Option<usize> {
        self.index.get(key).copied()
    }

    pub fn get(&self, key: &FlowKey) -> Option<&FlowEntry> {
        self.find(key).map(|(_, entry)| entry)
    }

    /// The flow of `key` with its position (first-seen order), in one lookup.
    pub fn find(&self, key: &FlowKey) -> Option<(usize, &FlowEntry)> {
        let i = self.position(key)?;
        Some((i, self.entries.get(i)?))
    }

    /// The flow at `position` (from [`Flows::position`] or [`Twin::step`]).
    pub fn at(&self, position: usize) -> Option<(&FlowKey, &FlowEntry)> {
        Some((self.keys.get(position)?, self.entries.get(position)?))
    }

    /// Every flow, in the order first seen.
    pub fn iter(&self) -> impl Iterator<Item = (&FlowKey, &FlowEntry)> {
        self.keys.iter().zip(&self.entries)
    }

    pub fn values(&self) -> impl Iterator<Item = &FlowEntry> {
        self.entries.iter()
    }

    /// The keys and entries in the order first seen, the index dropped: for a caller that
    /// only reads the flows in order from here on and wants the index's memory back.
    pub fn into_parts(self) -> (Vec<FlowKey>, Vec<FlowEntry>) {
        (self.keys, self.entries)
    }
}

impl<'a> IntoIterator for &'a Flows {
    type Item = (&'a FlowKey, &'a FlowEntry);
    type IntoIter = std::iter::Zip<std::slice::Iter<'a, FlowKey>, std::slice::Iter<'a, FlowEntry>>;

    fn into_iter(self) -> Self::IntoIter {
        self.keys.iter().zip(&self.entries)
    }
}

/// Where [`Twin::step`] put a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// The flow's position in [`Twin::flows`].
    pub flow: usize,
    /// The packet started the flow.
    pub new: bool,
}

pub struct Twin {
    pub config: ProbeConfig,
    pub active: Option<Box<Model>>,
    pub shadow: Option<Box<Model>>,
    pub flows: Flows,
    scratch: Box<Scratch>,
}

impl Twin {
    pub fn new(config: ProbeConfig, active: Option<Box<Model>>, shadow: Option<Box<Model>>) -> Self {
        Twin {
            config,
            active,
            shadow,
            flows: Flows::default(),
            scratch: Box::default(),
        }
    }

    /// The flow table, the models and scratch let go.
    pub fn into_flows(self) -> Flows {
        self.flows
    }

    /// One parsed packet seen at `ts_ns` (the kernel's clock when replaying kernel records).
    /// Returns the flow's entry after the update (`features` reads the state at this packet).
    pub fn packet(&mut self, p: &ParsedPacket, ts_ns: u64) -> &FlowEntry {
        let at = self.step(p, ts_ns).flow;
        &self.flows.entries[at]
    }

    /// [`Twin::packet`], saying where the packet went: the flow's position and whether the
    /// packet started it.
    pub fn step(&mut self, p: &ParsedPacket, ts_ns: u64) -> Step {
        let oriented = FlowKey::of(p);
        let flows = &mut self.flows;
        let step = match flows.index.entry(oriented.key) {
            Entry::Occupied(e) => {
                let at = *e.get();
                flows.entries[at].update(p, oriented.from_lo, ts_ns);
                Step { flow: at, new: false }
            }
            Entry::Vacant(v) => {
                let at = flows.entries.len();
                v.insert(at);
                flows.keys.push(oriented.key);
                flows.entries.push(FlowEntry::new(p, oriented.from_lo, ts_ns));
                Step { flow: at, new: true }
            }
        };
        decide(
            &mut flows.entries[step.flow],
            p.extra_segments.saturating_add(1),
            self.active.as_deref(),
            self.shadow.as_deref(),
            &self.config,
            &mut self.scratch,
        );
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::build;

    fn syn(src_port: u16, flags: u8) -> ParsedPacket {
        let mut p = ParsedPacket {
            proto: 6,
            ip_version: 4,
            src_port,
            dst_port: 80,
            tcp_flags: flags,
            ..Default::default()
        };
        p.src_addr = shared::packet::Addr::v4([10, 0, 0, 2]);
        p.dst_addr = shared::packet::Addr::v4([10, 0, 0, 1]);
        p
    }

    /// A shadow that stays benign where the active model flags: its disagreements are the
    /// active model's malicious decisions, each counted as a miss beside one, and a shadow with
    /// the active model's verdicts misses none.
    #[test]
    fn a_shadow_is_counted_beside_each_malicious_decision_and_missing_it() {
        let active = build::syn_count_tree(3).expect("tree");
        let tally = |shadow: &Model| {
            let mut entry = FlowEntry::new(&syn(1000, 0x02), true, 0);
            let mut scratch = Scratch::default();
            let mut counts = [0u32; 4];
            for i in 0..9u64 {
                if i > 0 {
                    entry.update(&syn(1000, 0x02), true, 1_000 * i);
                }
                let d = decide(
                    &mut entry,
                    1,
                    Some(&active),
                    Some(shadow),
                    &ProbeConfig::default(),
                    &mut scratch,
                );
                for (c, b) in counts.iter_mut().zip([
                    d.evaluated,
                    d.shadow_disagreed,
                    d.shadow_beside_malicious,
                    d.shadow_missed,
                ]) {
                    *c += u32::from(b);
                }
            }
            counts
        };
        // Malicious from the third SYN on: 7 of 9 decisions.
        let lenient = build::syn_count_tree(100).expect("tree");
        assert_eq!(tally(&lenient), [9, 7, 7, 7]);
        let same = build::syn_count_tree(3).expect("tree");
        assert_eq!(tally(&same), [9, 0, 7, 0]);
        // Stricter than the active one: it flags what the active model flags, and more.
        let strict = build::syn_count_tree(1).expect("tree");
        assert_eq!(tally(&strict), [9, 2, 7, 0]);
    }

    #[test]
    fn twin_scores_flows_like_the_probe_decides() {
        let tree = build::syn_count_tree(3).expect("tree");
        let mut twin = Twin::new(ProbeConfig::default(), Some(tree), None);
        for i in 0..3 {
            twin.packet(&syn(1000, 0x02), 1_000 * i);
        }
        twin.packet(&syn(2000, 0x02), 5_000);
        let flagged: Vec<_> = twin
            .flows
            .values()
            .filter(|e| e.verdict == shared::flow::VERDICT_MALICIOUS)
            .collect();
        assert_eq!(flagged.len(), 1);
        assert_eq!(flagged[0].state.syn_count, 3);
        assert_eq!(flagged[0].decided_at_packet, 3);
        assert_eq!(twin.flows.len(), 2);
    }

    #[test]
    fn flows_keep_their_first_seen_positions_and_step_says_which_packet_started_one() {
        let mut twin = Twin::new(ProbeConfig::default(), None, None);
        let steps: Vec<Step> = [
            (1000, 0x02),
            (2000, 0x02),
            (1000, 0x10),
            (3000, 0x02),
            (2000, 0x10),
        ]
        .iter()
        .map(|&(port, flags)| twin.step(&syn(port, flags), 1_000))
        .collect();
        let at = |flow, new| Step { flow, new };
        assert_eq!(
            steps,
            [at(0, true), at(1, true), at(0, false), at(2, true), at(1, false)]
        );
        let ports: Vec<u16> = twin.flows.iter().map(|(k, _)| k.port_lo.min(k.port_hi)).collect();
        assert_eq!(ports, [80, 80, 80]);
        let sources: Vec<u16> = twin.flows.iter().map(|(k, _)| k.port_lo.max(k.port_hi)).collect();
        assert_eq!(sources, [1000, 2000, 3000], "first-seen order");
        let key = FlowKey::of(&syn(2000, 0)).key;
        assert_eq!(twin.flows.position(&key), Some(1));
        assert_eq!(twin.flows.get(&key).map(|e| e.state.packets()), Some(2));
        assert_eq!(
            twin.flows.find(&key).map(|(i, e)| (i, e.state.packets())),
            Some((1, 2))
        );
        assert_eq!(twin.flows.at(2).map(|(_, e)| e.state.packets()), Some(1));
        assert!(twin.flows.at(3).is_none());
        let (keys, entries) = twin.into_flows().into_parts();
        assert_eq!((keys.len(), entries.len()), (3, 3));
        assert_eq!(keys[1], key);
    }

    /// Two tenants on a trunk, one 5-tuple on VLANs 100 and 200 (and in QinQ, the outer tag
    /// decides): two flows, each with its own packets, through the shared parser as `features`
    /// and `verify` run it. Untagged, the same conversation is one flow, keyed as before.
    #[test]
    fn one_5_tuple_on_two_vlans_is_two_flows_and_untagged_stays_one() {
        use crate::craft::{ipv4_tcp, Ipv4Endpoints, TcpSegment};
        use crate::gen::vlan::{tag_frame, VlanTags};
        use shared::{parse_ethernet, FrameBytes};
        let ep = |forward: bool| {
            let (a, b) = ([10, 2, 0, 1].into(), [10, 2, 0, 2].into());
            let (src, dst) = if forward { (a, b) } else { (b, a) };
            Ipv4Endpoints {
                src_mac: [2, 0, 0, 0, 0, 1],
                dst_mac: [2, 0, 0, 0, 0, 2],
                src,
                dst,
                ttl: 64,
            }
        };
        let segment = |forward: bool, flags: u8, payload: &[u8]| {
            let (src_port, dst_port) = if forward { (40_000, 443) } else { (443, 40_000) };
            ipv4_tcp(
                &ep(forward),
                &TcpSegment {
                    src_port,
                    dst_port,
                    seq: 1,
                    ack: 0,
                    flags,
                    window: 1024,
                    payload,
                },
            )
        };
        let conversation = |tags: Option<VlanTags>, request_bytes: usize| -> Vec<Vec<u8>> {
            let request = vec![b'q'; request_bytes];
            [
                segment(true, 0x02, b""),
                segment(false, 0x12, b""),
                segment(true, 0x18, &request),
            ]
            .iter()
            .map(|f| tags.map_or_else(|| f.clone(), |t| tag_frame(f, &t.bytes())))
            .collect()
        };
        let run = |frames: &[Vec<u8>]| {
            let mut twin = Twin::new(ProbeConfig::default(), None, None);
            for (i, f) in frames.iter().enumerate() {
                let bytes = FrameBytes {
                    data: f,
                    wire_len_bytes: f.len() as u32,
                };
                let p = parse_ethernet(&bytes).expect("parses");
                twin.packet(&p, 1_000 * i as u64);
            }
            twin.into_flows()
        };
        // Interleaved, as on a trunk: tenant A's request is 100 bytes, tenant B's 7.
        let (a, b) = (
            conversation(Some(VlanTags::Dot1q(100)), 100),
            conversation(
                Some(VlanTags::QinQ {
                    outer: 200,
                    inner: 100,
                }),
                7,
            ),
        );
        let trunk: Vec<Vec<u8>> = a
            .iter()
            .zip(&b)
            .flat_map(|(x, y)| [x.clone(), y.clone()])
            .collect();
        let flows = run(&trunk);
        assert_eq!(flows.len(), 2, "one flow per VLAN");
        let by_vlan: Vec<(u16, u32, u64)> = flows
            .iter()
            .map(|(k, e)| (k.vlan_id, e.state.packets(), e.state.fwd_payload_bytes))
            .collect();
        assert_eq!(by_vlan, [(100, 3, 100), (200, 3, 7)]);
        let keys: Vec<FlowKey> = flows.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            FlowKey {
                vlan_id: 0,
                ..keys[0]
            },
            FlowKey {
                vlan_id: 0,
                ..keys[1]
            }
        );

        let untagged = run(&conversation(None, 100));
        assert_eq!(untagged.len(), 1);
        let (key, entry) = untagged.at(0).expect("a flow");
        assert_eq!(
            *key,
            FlowKey {
                vlan_id: 0,
                ..keys[0]
            },
            "the 5-tuple's key as it was"
        );
        assert_eq!(entry.state.packets(), 3);
    }
}
