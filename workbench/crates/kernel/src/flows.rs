//! Reading the probe's flow table and statistics back from the pinned maps.

use std::net::IpAddr;

use crate::error::{Context, Result};
use aya::maps::{HashMap, Map, PerCpuArray};
use serde::Serialize;
use shared::{stats, FlowEntry, FlowKey};

use super::{caps, probe};
use workbench_flow::flowfmt::{endpoint_addr, proto_name};
use workbench_flow::model::scale::ScaleBook;

/// One flow as the probe saw it, oriented from its initiator (`src_ip`). The endpoint keys are
/// the ones `live --jsonl`, `eval` and the agent's EVE events use (`src_ip`, `src_port`,
/// `dest_ip`, `dest_port`), and `flow_id` is theirs too ([`crate::eve::flow_id`]), so a flow
/// joins its verdict events.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlowRecord {
    /// The flow's id in `live --jsonl` and the agent's events ([`crate::eve::flow_id`] of its key).
    pub flow_id: u64,
    #[serde(rename = "src_ip")]
    pub src: IpAddr,
    pub src_port: u16,
    #[serde(rename = "dest_ip")]
    pub dst: IpAddr,
    #[serde(rename = "dest_port")]
    pub dst_port: u16,
    pub proto: &'static str,
    /// The outermost VLAN tag's id, part of the flow's key (0 untagged): one 5-tuple on two VLANs
    /// is two flows.
    pub vlan_id: u16,
    pub fwd_packets: u64,
    pub bwd_packets: u64,
    pub fwd_bytes: u64,
    pub bwd_bytes: u64,
    /// Kernel monotonic clock (CLOCK_MONOTONIC / bpf_ktime_get_ns), nanoseconds.
    pub first_seen_ns: u64,
    pub last_seen_ns: u64,
    /// Latest active-model decision: "none" until a model has scored the flow.
    pub verdict: &'static str,
    /// P(malicious) in 0..1 by the model that decided (see `workbench_flow::model::scale`);
    /// null before a decision, or when that model has left every slot of the probe.
    #[serde(rename = "score")]
    pub probability: Option<f64>,
    /// The probe's fixed-point score as it is (a logistic model's logit x 2^16).
    #[serde(rename = "score_raw")]
    pub score: i64,
    pub model: Option<String>,
    pub decided_at_packet: u32,
    pub shadow_verdict: &'static str,
    #[serde(rename = "shadow_score")]
    pub shadow_probability: Option<f64>,
    #[serde(rename = "shadow_score_raw")]
    pub shadow_score: i64,
    pub shadow_model: Option<String>,
    pub shadow_disagreements: u32,
}

pub fn verdict_name(v: u8) -> &'static str {
    match v {
        shared::flow::VERDICT_BENIGN => "benign",
        shared::flow::VERDICT_MALICIOUS => "malicious",
        _ => "none",
    }
}

impl FlowRecord {
    pub fn from_entry(key: &FlowKey, entry: &FlowEntry) -> Self {
        let lo = (endpoint_addr(key.ip_version, &key.addr_lo), key.port_lo);
        let hi = (endpoint_addr(key.ip_version, &key.addr_hi), key.port_hi);
        let ((src, src_port), (dst, dst_port)) = if entry.initiator_is_lo != 0 {
            (lo, hi)
        } else {
            (hi, lo)
        };
        FlowRecord {
            flow_id: crate::eve::flow_id(key),
            src,
            src_port,
            dst,
            dst_port,
            proto: proto_name(key.proto),
            vlan_id: key.vlan_id,
            fwd_packets: entry.state.fwd_packets as u64,
            bwd_packets: entry.state.bwd_packets as u64,
            fwd_bytes: entry.state.fwd_frame_bytes,
            bwd_bytes: entry.state.bwd_frame_bytes,
            first_seen_ns: entry.state.first_ts_ns,
            last_seen_ns: entry.state.last_ts_ns,
            verdict: verdict_name(entry.verdict),
            probability: None,
            score: entry.score,
            model: (entry.verdict != 0).then(|| workbench_flow::model::id_string(entry.model_id)),
            decided_at_packet: entry.decided_at_packet,
            shadow_verdict: verdict_name(entry.shadow_verdict),
            shadow_probability: None,
            shadow_score: entry.shadow_score,
            shadow_model: (entry.shadow_verdict != 0)
                .then(|| workbench_flow::model::id_string(entry.shadow_model_id)),
            shadow_disagreements: entry.shadow_disagreements,
        }
    }

    /// The record with its scores as P(malicious), by the scales of the models that made them.
    pub fn from_entry_scaled(key: &FlowKey, entry: &FlowEntry, book: &ScaleBook) -> Self {
        let mut r = Self::from_entry(key, entry);
        if entry.verdict != 0 {
            r.probability = book.probability(entry.model_id, entry.score);
        }
        if entry.shadow_verdict != 0 {
            r.shadow_probability = book.probability(entry.shadow_model_id, entry.shadow_score);
        }
        r
    }
}

/// The `flow_id` of the flow between `a` and `b` (address, port; either order) over `proto`
/// (6 TCP, 17 UDP, ...): [`crate::eve::flow_id`] of the key the probe makes for its packets
/// (`shared::FlowKey::of`) when untagged, for records made without a key (the TUI's fixtures).
pub fn endpoints_flow_id(proto: u8, a: (IpAddr, u16), b: (IpAddr, u16)) -> u64 {
    let bytes = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => {
            let mut out = [0u8; 16];
            out[..4].copy_from_slice(&v4.octets());
            out
        }
        IpAddr::V6(v6) => v6.octets(),
    };
    let ip_version = if a.0.is_ipv4() { 4 } else { 6 };
    let (a, b) = ((bytes(a.0), a.1), (bytes(b.0), b.1));
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    crate::eve::flow_id(&FlowKey {
        addr_lo: lo.0,
        addr_hi: hi.0,
        port_lo: lo.1,
        port_hi: hi.1,
        proto,
        ip_version,
        vlan_id: 0,
    })
}

/// The scales of the models in the probe's slots on `iface` (active, shadow, previous); empty
/// when none can be read.
pub fn scale_book(iface: &str) -> ScaleBook {
    let mut book = ScaleBook::default();
    if let Ok(probe) = crate::models::ProbeModels::open(iface) {
        probe.add_scales(&mut book);
    }
    book
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_record_carries_the_flow_id_of_its_events() {
        let p = |src: [u8; 4], src_port: u16, dst: [u8; 4], dst_port: u16| {
            use shared::packet::Addr;
            shared::packet::ParsedPacket {
                ip_version: 4,
                proto: 6,
                src_addr: Addr::v4(src),
                dst_addr: Addr::v4(dst),
                src_port,
                dst_port,
                ..Default::default()
            }
        };
        // Both directions make one key; the record keys on the initiator but the id is the
        // key's, as in the events.
        let out = FlowKey::of(&p([10, 0, 0, 9], 44001, [10, 0, 0, 1], 9));
        let back = FlowKey::of(&p([10, 0, 0, 1], 9, [10, 0, 0, 9], 44001));
        assert_eq!(out.key, back.key);
        let entry = FlowEntry {
            initiator_is_lo: u8::from(out.from_lo),
            ..FlowEntry::default()
        };
        let record = FlowRecord::from_entry(&out.key, &entry);
        assert_eq!(record.flow_id, crate::eve::flow_id(&out.key));
        assert_eq!(
            record.flow_id,
            endpoints_flow_id(6, (record.src, record.src_port), (record.dst, record.dst_port))
        );
        assert_eq!(
            record.flow_id,
            endpoints_flow_id(6, (record.dst, record.dst_port), (record.src, record.src_port))
        );
        let json = serde_json::to_value(&record).expect("json");
        assert_eq!(json["flow_id"], record.flow_id);
        assert!(record.flow_id < 1 << 53);
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FlowTable {
    pub iface: String,
    pub flows: Vec<FlowRecord>,
    /// Probe statistics summed over CPUs, by name (packets, parsed, and one per unparsed reason).
    pub stats: std::collections::BTreeMap<&'static str, u64>,
}

/// Reads every flow and statistic of the probe attached to `iface`.
pub fn read(iface: &str) -> Result<FlowTable> {
    caps::require_kernel_access("reading the probe's flows")?;
    read_maps_scaled(
        iface,
        Map::LruHashMap(probe::open_pinned_map(iface, probe::PIN_FLOWS)?),
        Map::PerCpuArray(probe::open_pinned_map(iface, probe::PIN_STATS)?),
        &scale_book(iface),
    )
}

/// Reads every flow and statistic from the probe's flow and statistics maps; `label` names the
/// probe in the result (its interface, or what a private load is for).
pub fn read_maps(label: &str, flows: Map, stats_map: Map) -> Result<FlowTable> {
    read_maps_scaled(label, flows, stats_map, &ScaleBook::default())
}

/// [`read_maps`] with every score also as P(malicious), by the scales in `book`.
pub fn read_maps_scaled(label: &str, flows: Map, stats_map: Map, book: &ScaleBook) -> Result<FlowTable> {
    let flows_map: HashMap<_, FlowKey, FlowEntry> = HashMap::try_from(flows)?;
    let mut flows = Vec::new();
    for item in flows_map.iter() {
        // An entry evicted while we iterate ends the walk with ENOENT on some kernels; what was
        // read so far is still right.
        let Ok((key, entry)) = item else { break };
        flows.push(FlowRecord::from_entry_scaled(&key, &entry, book));
    }
    flows.sort_by_key(|f| (f.first_seen_ns, f.src, f.src_port, f.dst, f.dst_port, f.vlan_id));
    Ok(FlowTable {
        iface: label.to_string(),
        flows,
        stats: sum_stats(stats_map)?,
    })
}

/// The probe's statistics on `iface`, summed over CPUs, by name.
pub fn read_stats(iface: &str) -> Result<std::collections::BTreeMap<&'static str, u64>> {
    caps::require_kernel_access("reading the probe's statistics")?;
    sum_stats(Map::PerCpuArray(probe::open_pinned_map(iface, probe::PIN_STATS)?))
}

/// One of the probe's statistics on `iface` (a `shared::stats` index), CPU by CPU: which CPUs
/// ran the probe, and how often. `stats::PARSED` is derived per CPU (`stats::parsed`).
pub fn read_stat_per_cpu(iface: &str, index: u32) -> Result<Vec<u64>> {
    caps::require_kernel_access("reading the probe's statistics")?;
    let stats_map: PerCpuArray<_, u64> =
        PerCpuArray::try_from(Map::PerCpuArray(probe::open_pinned_map(iface, probe::PIN_STATS)?))?;
    let read = |i: u32| -> Result<Vec<u64>> {
        let per_cpu = stats_map
            .get(&i, 0)
            .context(|| format!("reading statistic {i}"))?;
        Ok(per_cpu.iter().copied().collect())
    };
    if index != stats::PARSED {
        return read(index);
    }
    let all = (0..stats_map.len().min(stats::COUNT))
        .map(read)
        .collect::<Result<Vec<_>>>()?;
    let cpus = all.first().map_or(0, Vec::len);
    Ok((0..cpus)
        .map(|cpu| stats::parsed(|i| all.get(i as usize).map_or(0, |v| v[cpu])))
        .collect())
}

fn sum_stats(stats_map: Map) -> Result<std::collections::BTreeMap<&'static str, u64>> {
    let stats_map: PerCpuArray<_, u64> = PerCpuArray::try_from(stats_map)?;
    // A probe attached by an older workbench has fewer counters (new ones are appended): read
    // what it has; the missing ones read 0.
    let present = stats_map.len().min(stats::COUNT);
    let by_index = (0..present)
        .map(|index| {
            let per_cpu = stats_map
                .get(&index, 0)
                .context(|| format!("reading statistic {index}"))?;
            Ok(per_cpu.iter().copied().sum())
        })
        .collect::<Result<Vec<u64>>>()?;
    Ok(stats::named(&by_index).collect())
}
