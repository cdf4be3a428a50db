//! `workbench bench clock`: what the coarse clock (`deploy --clock coarse`) does to the features.
//!
//! The coarse clock is the monotonic clock as of the last timer tick: every packet between two
//! ticks gets the same timestamp. This replays captures through the shared flow update twice,
//! once with the capture's timestamps and once with each timestamp cut down to its tick
//! (`floor(ts / tick) * tick`, the coarse clock's reading), and compares the feature vectors at
//! the probe's default decision points (packets 1-32, then every 16th) feature by feature: the
//! share of decisions where a feature's value differs and, where it differs, the median
//! relative change. Features that do not depend on time are unchanged by construction, and the
//! report shows it.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use shared::features::{FlowState, FEATURES, FEATURE_COUNT};
use shared::flow::{is_decision_point, FlowKey};
use shared::model::Model;
use shared::ParsedPacket;

use crate::error::{fail, Error, Result};

/// Debian's kernels tick at 250 Hz (CONFIG_HZ_250): 4 ms between ticks.
pub const DEFAULT_TICK_MS: u64 = 4;

#[derive(Debug, Clone, Serialize)]
pub struct FeatureChange {
    pub feature: &'static str,
    /// Decision points where the coarse clock gives another value.
    pub changed: u64,
    pub changed_share: f64,
    /// Median of |coarse - exact| / max(|exact|, 1) over the changed decision points (0 when
    /// none changed).
    pub median_relative_change: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClockReport {
    pub captures: Vec<String>,
    pub tick_ms: u64,
    pub packets: u64,
    pub flows: u64,
    /// Decision points compared (packets 1-32 of every flow, then every 16th).
    pub decisions: u64,
    /// Decisions whose whole feature vector is the same with both clocks.
    pub decisions_unchanged: u64,
    /// With `--model`: its id, and the decisions whose verdict differs between the clocks.
    pub model: Option<String>,
    pub verdicts_differ: Option<u64>,
    /// Every feature, most often changed first.
    pub features: Vec<FeatureChange>,
}

/// One flow replayed with both clocks.
struct Pair {
    exact: FlowState,
    coarse: FlowState,
    initiator_is_lo: bool,
}

/// The comparison so far: per feature, the relative changes where it differs.
struct Tally {
    tick_ns: u64,
    model: Option<Box<Model>>,
    verdicts_differ: u64,
    config: shared::abi::ProbeConfig,
    changes: Vec<Vec<f64>>,
    packets: u64,
    flows: u64,
    decisions: u64,
    unchanged: u64,
}

impl Tally {
    fn new(tick_ns: u64, model: Option<Box<Model>>) -> Tally {
        Tally {
            tick_ns,
            model,
            verdicts_differ: 0,
            config: shared::abi::ProbeConfig::default(),
            changes: vec![Vec::new(); FEATURE_COUNT],
            packets: 0,
            flows: 0,
            decisions: 0,
            unchanged: 0,
        }
    }

    /// One capture's packets, in capture order, into a flow table of their own.
    fn capture(&mut self, packets: impl Iterator<Item = (u64, ParsedPacket)>) {
        let mut table: HashMap<FlowKey, Pair> = HashMap::new();
        for (ts, p) in packets {
            self.packets += 1;
            let coarse_ts = ts / self.tick_ns * self.tick_ns;
            let o = FlowKey::of(&p);
            let pair = match table.entry(o.key) {
                Entry::Occupied(e) => {
                    let pair = e.into_mut();
                    let forward = pair.initiator_is_lo == o.from_lo;
                    pair.exact.update(&p, forward, ts);
                    pair.coarse.update(&p, forward, coarse_ts);
                    pair
                }
                Entry::Vacant(v) => {
                    self.flows += 1;
                    v.insert(Pair {
                        exact: FlowState::start(&p, ts),
                        coarse: FlowState::start(&p, coarse_ts),
                        initiator_is_lo: o.from_lo,
                    })
                }
            };
            let (first, every) = (self.config.decide_first_packets, self.config.decide_every);
            if !is_decision_point(pair.exact.packets(), first, every) {
                continue;
            }
            self.decisions += 1;
            let (e, c) = (pair.exact.features(), pair.coarse.features());
            if e == c {
                self.unchanged += 1;
            } else if let Some(m) = &self.model {
                if m.is_malicious(m.score(&e)) != m.is_malicious(m.score(&c)) {
                    self.verdicts_differ += 1;
                }
            }
            for (i, (&e, &c)) in e.iter().zip(c.iter()).enumerate() {
                if e != c {
                    self.changes[i].push(e.abs_diff(c) as f64 / e.unsigned_abs().max(1) as f64);
                }
            }
        }
    }

    fn report(self, captures: Vec<String>, tick_ms: u64) -> ClockReport {
        let decisions = self.decisions;
        let mut features: Vec<FeatureChange> = self
            .changes
            .into_iter()
            .enumerate()
            .map(|(i, mut rel)| {
                rel.sort_by(f64::total_cmp);
                FeatureChange {
                    feature: FEATURES[i].name,
                    changed: rel.len() as u64,
                    changed_share: rel.len() as f64 / decisions.max(1) as f64,
                    median_relative_change: rel.get(rel.len() / 2).copied().unwrap_or(0.0),
                }
            })
            .collect();
        features.sort_by(|a, b| b.changed.cmp(&a.changed).then(a.feature.cmp(b.feature)));
        ClockReport {
            captures,
            tick_ms,
            packets: self.packets,
            flows: self.flows,
            decisions,
            decisions_unchanged: self.unchanged,
            model: self
                .model
                .as_ref()
                .map(|m| workbench_flow::model::id_string(m.header.model_id)),
            verdicts_differ: self.model.is_some().then_some(self.verdicts_differ),
            features,
        }
    }
}

/// Compares the features with exact and tick-cut timestamps on `captures`.
/// With `model`, also counts the decisions whose verdict the coarse clock changes.
pub fn run(captures: &[PathBuf], tick_ms: u64, model: Option<Box<Model>>) -> Result<ClockReport> {
    if tick_ms == 0 {
        fail!(Invalid, "--tick-ms must be at least 1");
    }
    if captures.is_empty() {
        fail!(Invalid, "no capture to compare on");
    }
    let mut tally = Tally::new(tick_ms * 1_000_000, model);
    for path in captures {
        let reader = workbench_flow::capture::open(path, true).map_err(|e| Error::Data(Box::new(e)))?;
        let mut failed = None;
        let packets = reader.map_while(|packet| match packet {
            Ok(packet) => Some(Some((packet.ts_ns, packet.parse().ok()?))),
            Err(e) => {
                failed = Some(e);
                None
            }
        });
        tally.capture(packets.flatten());
        if let Some(e) = failed {
            return Err(Error::Data(Box::new(e)));
        }
    }
    Ok(tally.report(
        captures.iter().map(|p| p.display().to_string()).collect(),
        tick_ms,
    ))
}

/// The report as text: the features that change, then the count of those that never do.
pub fn text(r: &ClockReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "coarse clock ({} ms ticks) vs the capture's timestamps: {} packets, {} flows, {} decision points, {} ({:.1}%) with every feature unchanged",
        r.tick_ms,
        r.packets,
        r.flows,
        r.decisions,
        r.decisions_unchanged,
        100.0 * r.decisions_unchanged as f64 / r.decisions.max(1) as f64
    );
    if let (Some(m), Some(n)) = (&r.model, r.verdicts_differ) {
        let _ = writeln!(
            out,
            "model {m}: {n} decision points ({:.2}%) get another verdict with the coarse clock",
            100.0 * n as f64 / r.decisions.max(1) as f64
        );
    }
    let _ = writeln!(
        out,
        "{:<28} {:>10} {:>9} {:>16}",
        "feature", "changed", "share", "median change"
    );
    for f in r.features.iter().filter(|f| f.changed > 0) {
        let _ = writeln!(
            out,
            "{:<28} {:>10} {:>8.1}% {:>15.1}%",
            f.feature,
            f.changed,
            100.0 * f.changed_share,
            100.0 * f.median_relative_change
        );
    }
    let same = r.features.iter().filter(|f| f.changed == 0).count();
    let _ = writeln!(out, "{same} features never change");
    out
}

/// The captures of `dir` (pcap and pcapng), sorted.
pub fn captures_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_within_one_tick_loses_its_times_and_keeps_its_counts() {
        // Three packets 1 ms apart inside one 4 ms tick: duration and gaps become 0 with the
        // coarse clock; packet and byte counts stay.
        let ep = workbench_flow::craft::Ipv4Endpoints {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src: std::net::Ipv4Addr::new(10, 0, 0, 1),
            dst: std::net::Ipv4Addr::new(10, 0, 0, 2),
            ttl: 64,
        };
        let frame = workbench_flow::craft::ipv4_udp(&ep, 40_000, 53, &[7; 20]);
        let p = shared::parse_ethernet(&shared::FrameBytes {
            data: &frame,
            wire_len_bytes: frame.len() as u32,
        })
        .expect("parses");
        let t0 = 4_000_000_000u64; // on a tick boundary
        let mut tally = Tally::new(4_000_000, None);
        tally.capture((0..3).map(|i| (t0 + i * 1_000_000, p)));
        let r = tally.report(Vec::new(), 4);
        assert_eq!((r.packets, r.flows, r.decisions), (3, 1, 3));
        let by = |name: &str| r.features.iter().find(|f| f.feature == name).expect(name);
        // Packet 1: nothing differs; packets 2 and 3: the duration (1 and 2 ms vs 0) does.
        assert_eq!(r.decisions_unchanged, 1);
        assert_eq!(by("duration_us").changed, 2);
        assert!((by("duration_us").median_relative_change - 1.0).abs() < 1e-9);
        assert_eq!(by("fwd_packets").changed, 0);
    }
}
