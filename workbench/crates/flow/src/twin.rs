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

pub struct Twin {
    pub config: ProbeConfig,
    pub active: Option<Box<Model>>,
    pub shadow: Option<Box<Model>>,
    pub flows: FlowMap<FlowEntry>,
    scratch: Box<Scratch>,
}

impl Twin {
    pub fn new(config: ProbeConfig, active: Option<Box<Model>>, shadow: Option<Box<Model>>) -> Self {
        Twin {
            config,
            active,
            shadow,
            flows: FlowMap::default(),
            scratch: Box::default(),
        }
    }

    /// One parsed packet seen at `ts_ns` (the kernel's clock when replaying kernel records).
    /// Returns the flow's entry after the update (`features` reads the state at this packet).
    pub fn packet(&mut self, p: &ParsedPacket, ts_ns: u64) -> &FlowEntry {
        let oriented = FlowKey::of(p);
        let entry = match self.flows.entry(oriented.key) {
            Entry::Occupied(e) => {
                let e = e.into_mut();
                e.update(p, oriented.from_lo, ts_ns);
                e
            }
            Entry::Vacant(v) => v.insert(FlowEntry::new(p, oriented.from_lo, ts_ns)),
        };
        decide(
            entry,
            self.active.as_deref(),
            self.shadow.as_deref(),
            &self.config,
            &mut self.scratch,
        );
        entry
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
        p.src_addr[..4].copy_from_slice(&[10, 0, 0, 2]);
        p.dst_addr[..4].copy_from_slice(&[10, 0, 0, 1]);
        p
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
}
