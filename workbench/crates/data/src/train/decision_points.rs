//! Training rows as the probe sees them (`train --at decision-points`): one sample per decision
//! point per flow (packets 1..=decide_first, then every decide_every-th: `shared::flow::
//! is_decision_point`, the probe's own test), each weighing 1 / (the flow's samples) so that
//! long flows do not outvote short ones.
//!
//! From captures, every packet goes through the userspace twin (the probe's parser and flow
//! update), labelled per flow by `--labels FILE` or the generator's `labels-NAME.csv` beside
//! each capture. From `workbench features --every-packet` tables, the rows at decision points
//! are kept and grouped back into flows (by file, 5-tuple and first packet time).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{bail, invalid, Result, TrainError};
use polars::prelude::DataType;
use shared::features::FeatureVector;
use shared::flow::is_decision_point;

use super::flows::DecidedAt;
use super::{prepare, Dataset, Prepared};
use crate::dataset::clean::is_benign;
use crate::dataset::LoadedDataset;
use crate::features::labels::{CicOptions, LabelReport, Labeler};
use workbench_flow::flowfmt::FlowTuple;
use workbench_flow::twin::Twin;

/// The probe's decision points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionConfig {
    pub decide_first: u32,
    pub decide_every: u32,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        let c = shared::abi::ProbeConfig::default();
        DecisionConfig {
            decide_first: c.decide_first_packets,
            decide_every: c.decide_every,
        }
    }
}

/// Which packets of a flow become samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// Every decision point of the probe (several samples per flow, weighted per flow).
    DecisionPoints(DecisionConfig),
    /// The flow's last packet in the capture only (one row per flow, as `workbench features`
    /// writes by default).
    LastPacket,
}

/// One flow's samples while reading.
struct FlowSamples {
    label: Option<(String, String)>,
    host: String,
    first_ts_ns: u64,
    file: u32,
    samples: Vec<(FeatureVector, DecidedAt)>,
}

/// The labels file of a capture: `labels` if given, else the generator's `labels-STEM.csv`.
pub fn labels_for(capture: &Path, labels: Option<&Path>) -> Result<PathBuf> {
    if let Some(l) = labels {
        return Ok(l.to_path_buf());
    }
    let stem = capture.file_stem().and_then(|s| s.to_str()).unwrap_or("capture");
    let beside = capture.with_file_name(format!("labels-{stem}.csv"));
    if beside.is_file() {
        return Ok(beside);
    }
    bail!(
        "{}: no labels: pass --labels FILE (rules .toml, a CIC-IDS2017 CSV or a generator labels file), or put labels-{stem}.csv beside it",
        capture.display()
    )
}

/// What the captures gave.
pub struct CaptureSamples {
    pub ds: Dataset,
    pub flows: usize,
    /// Flows no label matched (left out).
    pub unlabelled_flows: usize,
    pub labels: Vec<LabelReport>,
}

/// Decision-point samples from captures (see the module comment). `progress(stage, share)`.
pub fn from_captures(
    pcaps: &[PathBuf],
    labels: Option<&Path>,
    cic: &CicOptions,
    sampling: Sampling,
    progress: &(dyn Fn(&str, f64) + Sync),
) -> Result<CaptureSamples> {
    let mut flows: Vec<FlowSamples> = Vec::new();
    let mut reports = Vec::new();
    let mut shared_labeler = match labels {
        Some(l) => Some(Labeler::load(l, cic)?),
        None => None,
    };
    for (file_index, pcap) in pcaps.iter().enumerate() {
        let name = pcap.display().to_string();
        progress(
            &format!("decision points of {name}"),
            file_index as f64 / pcaps.len() as f64,
        );
        let mut own = match shared_labeler {
            Some(_) => None,
            None => Some(Labeler::load(&labels_for(pcap, None)?, cic)?),
        };
        let ((Some(labeler), _) | (None, Some(labeler))) = (&mut shared_labeler, &mut own) else {
            bail!("{name}: no labels")
        };
        // Rules with `capture = ...` match by the capture's name, as `features` and `eval` tell
        // the labeler (without it, a rules file naming its captures labelled no flow here).
        labeler.start_capture(pcap);
        let mut twin = Twin::new(shared::abi::ProbeConfig::default(), None, None);
        // This capture's flows follow the earlier captures' in `flows`, in the twin's order.
        let base = flows.len();
        let reader = workbench_flow::capture::open(pcap, false).map_err(|e| TrainError::In {
            file: format!("{name}: cannot read"),
            source: Box::new(e.into()),
        })?;
        for packet in reader {
            let packet = packet?;
            // Frames the parser refuses are not flows: the probe skips them too.
            let Ok(p) = packet.parse() else { continue };
            let step = twin.step(&p, packet.ts_ns);
            let Some((key, entry)) = twin.flows.at(step.flow) else {
                bail!("{name}: packet {}: internal: the twin lost a flow", packet.index)
            };
            let k = entry.state.packets();
            let i = base + step.flow;
            if step.new {
                let label = labeler.label(&crate::features::facts(&p, packet.ts_ns)).map(|a| {
                    let label = labeler.name(a.label).to_string();
                    let class = a
                        .attack_type
                        .map_or_else(|| label.clone(), |t| labeler.name(t).to_string());
                    (label, class)
                });
                let t = FlowTuple::of(key, entry.initiator_is_lo != 0);
                flows.push(FlowSamples {
                    label,
                    host: t.src_ip.to_string(),
                    first_ts_ns: entry.state.first_ts_ns,
                    file: file_index as u32,
                    samples: Vec::new(),
                });
            }
            if i >= flows.len() {
                bail!(
                    "{name}: packet {}: internal: a flow without bookkeeping",
                    packet.index
                )
            }
            let sample = match sampling {
                Sampling::DecisionPoints(c) => is_decision_point(k, c.decide_first, c.decide_every),
                Sampling::LastPacket => false,
            };
            if sample {
                let elapsed_us = entry.state.last_ts_ns.saturating_sub(entry.state.first_ts_ns) / 1000;
                flows[i].samples.push((
                    entry.state.features(),
                    DecidedAt {
                        packet: k,
                        elapsed_us,
                    },
                ));
            }
        }
        if sampling == Sampling::LastPacket {
            // Each flow's features at its last packet, from the twin's table.
            for (at, (_, entry)) in twin.flows.iter().enumerate() {
                if let Some(flow) = flows.get_mut(base + at) {
                    let s = &entry.state;
                    flow.samples = vec![(
                        s.features(),
                        DecidedAt {
                            packet: s.packets(),
                            elapsed_us: s.last_ts_ns.saturating_sub(s.first_ts_ns) / 1000,
                        },
                    )];
                }
            }
        }
        if let Some(l) = own {
            reports.push(l.report());
        }
    }
    if let Some(l) = shared_labeler {
        reports.push(l.report());
    }
    let total = flows.len();
    let unlabelled = flows.iter().filter(|f| f.label.is_none()).count();
    if total == 0 {
        bail!(
            "{}: no IPv4/IPv6 TCP/UDP/ICMP flow in the capture(s)",
            names(pcaps)
        );
    }
    if unlabelled == total {
        let files: Vec<String> = reports.iter().map(|r| r.file.clone()).collect();
        bail!(
            "{}: the labels ({}) match none of the {total} flows: do they belong to other captures?",
            names(pcaps),
            files.join(", ")
        );
    }
    let per_flow = match sampling {
        Sampling::DecisionPoints(c) => Some((c.decide_first, c.decide_every)),
        Sampling::LastPacket => None,
    };
    let mut ds = Dataset {
        files: pcaps.iter().map(|p| p.display().to_string()).collect(),
        decision_config: per_flow,
        ..Dataset::default()
    };
    for (id, f) in flows.into_iter().filter(|f| f.label.is_some()).enumerate() {
        let Some((label, class)) = f.label else { continue };
        let n = f.samples.len() as f64;
        for (features, at) in f.samples {
            ds.features.push(features);
            ds.malicious.push(!is_benign(&label));
            ds.class.push(class.clone());
            ds.time_ns.push(f.first_ts_ns as i64);
            ds.host.push(f.host.clone());
            ds.file.push(f.file);
            // One row per flow needs no grouping (and gets no weights).
            if per_flow.is_some() {
                ds.flow.push(id as u32);
                ds.weight.push(1.0 / n);
                ds.decided_at.push(at);
            }
        }
    }
    Ok(CaptureSamples {
        ds,
        flows: total - unlabelled,
        unlabelled_flows: unlabelled,
        labels: reports,
    })
}

fn names(pcaps: &[PathBuf]) -> String {
    pcaps
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A column of the cleaned table as text (numbers written as integers).
fn text(frame: &polars::prelude::DataFrame, name: &str) -> Option<Vec<String>> {
    let c = frame.column(name).ok()?;
    if let Ok(f) = c.f64() {
        return Some(
            f.into_iter()
                .map(|v| format!("{}", v.unwrap_or(0.0) as i64))
                .collect(),
        );
    }
    let c = c.cast(&DataType::String).ok()?;
    Some(
        c.str()
            .ok()?
            .into_iter()
            .map(|v| v.unwrap_or("").to_string())
            .collect(),
    )
}

/// Decision-point samples from a `workbench features --every-packet` table: the prepared rows
/// (every kernel feature) at decision points, grouped into flows. `features`/`positive` as for
/// [`prepare`].
pub fn from_every_packet_table(
    loaded: &LoadedDataset,
    features: &str,
    positive: Option<&str>,
    config: DecisionConfig,
) -> Result<Prepared> {
    let loaded = loaded.cleaned()?;
    let file = loaded.sources.join(", ");
    let frame = &loaded.frame;
    let column = |name: &str| {
        text(frame, name).ok_or_else(|| {
            invalid!(
                "{file}: `--at decision-points` needs captures or a `workbench features --every-packet` table; this table has no `{name}` column"
            )
        })
    };
    let packet = column("decision_packet")?;
    let total = column("flow_packets")?;
    let key_columns = [
        "src_ip",
        "src_port",
        "dst_ip",
        "dst_port",
        "proto",
        "first_seen_ns",
    ];
    let mut keys: Vec<Vec<String>> = key_columns.iter().map(|c| column(c)).collect::<Result<_>>()?;
    // The VLAN is part of a flow's key (one 5-tuple on two VLANs is two flows); a table written
    // before it had the column holds no such pair.
    keys.extend(text(frame, crate::features::output::VLAN_COLUMN));
    let source = text(frame, "source_file");
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut flow = Vec::with_capacity(frame.height());
    for r in 0..frame.height() {
        let mut key = source.as_ref().map_or(String::new(), |s| s[r].clone());
        for k in &keys {
            key.push('|');
            key.push_str(&k[r]);
        }
        let next = ids.len() as u32;
        flow.push(*ids.entry(key).or_insert(next));
    }
    let number = |v: &str| v.parse::<u32>().unwrap_or(0);
    // One row per packet: every flow has as many rows as packets.
    let mut rows_of = vec![0u32; ids.len()];
    let mut packets_of = vec![0u32; ids.len()];
    for (r, &f) in flow.iter().enumerate() {
        rows_of[f as usize] += 1;
        packets_of[f as usize] = number(&total[r]);
    }
    if let Some(f) = (0..ids.len()).find(|&f| rows_of[f] != packets_of[f]) {
        bail!(
            "{file}: not a `workbench features --every-packet` table: a flow of {} packets has {} rows (a table of one row per flow holds end-of-flow values; make one with `workbench features PCAP --every-packet --labels FILE`)",
            packets_of[f],
            rows_of[f]
        );
    }
    let mut prepared = prepare(&loaded, features, positive)?;
    let all = std::mem::take(&mut prepared.ds);
    let mut keep: Vec<usize> = (0..frame.height())
        .filter(|&r| is_decision_point(number(&packet[r]), config.decide_first, config.decide_every))
        .collect();
    keep.sort_by_key(|&r| (flow[r], number(&packet[r])));
    let mut samples_of = vec![0u32; ids.len()];
    for &r in &keep {
        samples_of[flow[r] as usize] += 1;
    }
    let duration = shared::features::feature_id("duration_us").unwrap_or(2);
    let pick = |v: &Vec<String>| keep.iter().map(|&r| v[r].clone()).collect::<Vec<_>>();
    let ds = Dataset {
        features: keep.iter().map(|&r| all.features[r]).collect(),
        malicious: keep.iter().map(|&r| all.malicious[r]).collect(),
        class: pick(&all.class),
        time_ns: if all.time_ns.len() == all.features.len() {
            keep.iter().map(|&r| all.time_ns[r]).collect()
        } else {
            Vec::new()
        },
        untimed: all.untimed,
        host: if all.host.len() == all.features.len() {
            pick(&all.host)
        } else {
            Vec::new()
        },
        file: if all.file.len() == all.features.len() {
            keep.iter().map(|&r| all.file[r]).collect()
        } else {
            Vec::new()
        },
        files: all.files,
        flow: keep.iter().map(|&r| flow[r]).collect(),
        weight: keep
            .iter()
            .map(|&r| 1.0 / f64::from(samples_of[flow[r] as usize]))
            .collect(),
        decided_at: keep
            .iter()
            .map(|&r| DecidedAt {
                packet: number(&packet[r]),
                elapsed_us: all.features[r][duration].max(0) as u64,
            })
            .collect(),
        decision_config: Some((config.decide_first, config.decide_every)),
    };
    Ok(Prepared { ds, ..prepared })
}
