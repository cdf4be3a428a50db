//! Scoring a model on captures as the probe would: every packet through the userspace twin (the
//! probe's own parser, flow update and decision code), one fresh flow table per capture file as
//! `workbench features` keeps them. At the probe's decision points the twin's `decide` runs the
//! model exactly as the kernel does, so the flows flagged at their last decision point are the
//! flows `workbench verify` finds flagged in the kernel's table (given the same packet times:
//! verify replays at its own pace, so models reading durations or rates can differ there).

use std::path::Path;

use super::{invalid, Result};
use serde::Serialize;
use shared::abi::ProbeConfig;
use shared::flow::VERDICT_MALICIOUS;
use shared::model::Model;
use shared::FlowKey;

use super::flow_detail::{Decision, Details, FlowDetail, Place};
use super::score::FlowOutcome;
use super::skew::{flow_key, Decisions};
use super::At;
use crate::dataset::clean::is_benign;
use crate::features::labels::Labeler;
use workbench_flow::capture::{InterfaceCount, InterfaceSelector};
use workbench_flow::flowfmt::FlowTuple;
use workbench_flow::twin::Twin;

/// What one capture file held and what the model made of it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FileScore {
    pub file: String,
    pub packets: u64,
    /// Packets the shared parser refused (not IP, truncated, ...): not in any flow.
    pub unparsed_packets: u64,
    pub flows: u64,
    pub labelled_flows: u64,
    pub benign_flows: u64,
    pub attack_flows: u64,
    /// Flagged at the flow's last decision point, labelled or not.
    pub flagged_flows: u64,
    pub flagged_benign_flows: u64,
    pub flagged_attack_flows: u64,
    /// Flows no decision point was reached in (e.g. `--decide-first 0` and short flows).
    pub undecided_flows: u64,
    /// The capture's interfaces with their packets (in the report's top-level `interfaces`).
    #[serde(skip)]
    pub interfaces: Vec<InterfaceCount>,
}

/// Per flow while the capture is read: its label and its first flagged decision.
struct Track {
    key: FlowKey,
    class: Option<String>,
    malicious: bool,
    first_flag: Option<(u32, u64)>,
    /// `--at packet N`: the verdict at packet N, once reached.
    at_n: Option<bool>,
    /// `--flows-out`: the latest decision, with the values the model read.
    last: Option<Decision>,
}

fn label_of(
    labeler: &mut Option<&mut Labeler>,
    p: &shared::ParsedPacket,
    ts_ns: u64,
) -> (Option<String>, bool) {
    let Some(l) = labeler.as_deref_mut() else {
        return (None, false);
    };
    match l.label(&crate::features::facts(p, ts_ns)) {
        Some(a) => {
            let label = l.name(a.label).to_string();
            let class = a
                .attack_type
                .map(|t| l.name(t).to_string())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| label.clone());
            (Some(class), !is_benign(&label))
        }
        None => (None, false),
    }
}

/// How the captures of one run are scored.
#[derive(Clone, Copy)]
pub struct Scoring<'a> {
    pub model: &'a Model,
    pub at: At,
    /// The probe's decision points.
    pub config: ProbeConfig,
    pub lenient: bool,
    /// Only this pcapng interface's packets (`None`: every interface's).
    pub interface: Option<&'a InterfaceSelector>,
}

/// What a scan adds to: one outcome per flow, and the features at every decision; with
/// `details` (`--flows-out`), each flow's place and last decision too.
pub struct Sinks<'a> {
    pub decisions: &'a mut Decisions,
    pub outcomes: &'a mut Vec<FlowOutcome>,
    pub details: Option<&'a mut Details>,
}

/// Reads one capture (input number `file_index`), labelling its flows with `labeler`.
pub fn scan(
    path: &Path,
    file_index: usize,
    how: Scoring,
    mut labeler: Option<&mut Labeler>,
    sinks: Sinks,
) -> Result<FileScore> {
    let Scoring {
        model,
        at,
        config,
        lenient,
        interface,
    } = how;
    let Sinks {
        decisions,
        outcomes,
        mut details,
    } = sinks;
    let file = path.display().to_string();
    if let Some(l) = labeler.as_deref_mut() {
        l.start_capture(path);
    }
    // At the decision points the twin decides with the model (the probe's code path); at the
    // last packet or packet N it only keeps the flow state and the model is applied here.
    let (twin_config, active) = match at {
        At::DecisionPoints => (config, Some(Box::new(*model))),
        At::LastPacket | At::Packet { .. } => (
            ProbeConfig {
                decide_first_packets: 0,
                decide_every: 0,
                ..config
            },
            None,
        ),
    };
    let mut twin = Twin::new(twin_config, active, None);
    let mut tracks: Vec<Track> = Vec::new();
    let mut score = FileScore {
        file: file.clone(),
        ..FileScore::default()
    };
    let mut reader = workbench_flow::capture::open(path, lenient)?.keep_interface(interface.cloned());
    for packet in reader.by_ref() {
        let packet = packet?;
        score.packets += 1;
        let Ok(p) = packet.parse() else {
            score.unparsed_packets += 1;
            continue;
        };
        // Tracks follow the twin's flows, position for position.
        let step = twin.step(&p, packet.ts_ns);
        let Some((&key, entry)) = twin.flows.at(step.flow) else {
            return Err(invalid!(
                "{file}: packet {}: internal: the twin lost a flow",
                packet.index
            ));
        };
        let k = entry.state.packets();
        let i = step.flow;
        if step.new {
            let (class, malicious) = label_of(&mut labeler, &p, packet.ts_ns);
            tracks.push(Track {
                key,
                class,
                malicious,
                first_flag: None,
                at_n: None,
                last: None,
            });
        }
        if i >= tracks.len() {
            return Err(invalid!(
                "{file}: packet {}: internal: flow without bookkeeping",
                packet.index
            ));
        }
        let since_ns = packet.ts_ns.saturating_sub(entry.state.first_ts_ns);
        let flagged_now = match at {
            At::DecisionPoints if entry.decided_at_packet == k => {
                let x = entry.state.features();
                decisions.push_in_flow(&x, k, flow_key(file_index, i));
                let flagged = entry.verdict == VERDICT_MALICIOUS;
                if let Some(d) = details.as_deref() {
                    tracks[i].last = Some(d.decision(&x, Some(k), entry.score, flagged));
                }
                Some(flagged)
            }
            At::Packet { n } if k == n => {
                let x = entry.state.features();
                decisions.push_in_flow(&x, k, flow_key(file_index, i));
                let score = model.score(&x);
                let flagged = model.is_malicious(score);
                tracks[i].at_n = Some(flagged);
                if let Some(d) = details.as_deref() {
                    tracks[i].last = Some(d.decision(&x, Some(k), score, flagged));
                }
                Some(flagged)
            }
            _ => None,
        };
        if flagged_now == Some(true) && tracks[i].first_flag.is_none() {
            tracks[i].first_flag = Some((k, since_ns));
        }
    }
    score.interfaces = reader.interfaces();
    score.flows = tracks.len() as u64;
    for (i, t) in tracks.into_iter().enumerate() {
        let entry = twin
            .flows
            .get(&t.key)
            .ok_or_else(|| invalid!("{file}: internal: a flow left the twin's table"))?;
        let mut last = t.last;
        let (flagged, decided, first_flag) = match at {
            At::DecisionPoints => (
                entry.verdict == VERDICT_MALICIOUS,
                entry.decided_at_packet > 0,
                t.first_flag,
            ),
            At::Packet { .. } if t.at_n.is_some() => (t.at_n == Some(true), true, t.first_flag),
            // At the last packet, and packet N for flows that ended before it.
            At::LastPacket | At::Packet { .. } => {
                let x = entry.state.features();
                let k = entry.state.packets();
                decisions.push_in_flow(&x, k, flow_key(file_index, i));
                let score = model.score(&x);
                let flagged = model.is_malicious(score);
                if let Some(d) = details.as_deref() {
                    last = Some(d.decision(&x, Some(k), score, flagged));
                }
                let since = entry.state.last_ts_ns.saturating_sub(entry.state.first_ts_ns);
                (flagged, true, flagged.then_some((k, since)))
            }
        };
        if let Some(d) = details.as_deref_mut() {
            d.rows.push(FlowDetail {
                place: Place::Flow {
                    file: file_index,
                    tuple: FlowTuple::of(&t.key, entry.initiator_is_lo != 0),
                },
                packets: Some(entry.state.packets()),
                decision: last,
            });
        }
        score.flagged_flows += flagged as u64;
        score.undecided_flows += (!decided) as u64;
        if t.class.is_some() {
            score.labelled_flows += 1;
            if t.malicious {
                score.attack_flows += 1;
                score.flagged_attack_flows += flagged as u64;
            } else {
                score.benign_flows += 1;
                score.flagged_benign_flows += flagged as u64;
            }
        }
        outcomes.push(FlowOutcome {
            class: t.class,
            malicious: t.malicious,
            flagged,
            ever_flagged: first_flag.is_some(),
            decided,
            first_flag,
            file: file_index,
        });
    }
    Ok(score)
}

/// Whether a file is a capture (pcap or pcapng magic), else a table.
pub fn is_capture(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic));
    if read.is_err() {
        return path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ["pcap", "pcapng", "cap"].contains(&e.to_ascii_lowercase().as_str()));
    }
    matches!(
        u32::from_le_bytes(magic),
        0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0x0a0d_0d0a
    )
}

/// The generator's ground truth beside a capture: `labels-STEM.csv`.
pub fn labels_beside(capture: &Path) -> Option<std::path::PathBuf> {
    let stem = capture.file_stem()?.to_str()?;
    let p = capture.with_file_name(format!("labels-{stem}.csv"));
    p.is_file().then_some(p)
}
