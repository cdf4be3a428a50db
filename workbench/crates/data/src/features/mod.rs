//! `workbench features`: training data from captures, computed by the probe's own code.
//!
//! Every packet goes through the `shared` parser, canonical flow key, and `FlowEntry`/`FlowState`
//! update the probe runs: the userspace twin ([`workbench_flow::twin::Twin`]) without a
//! model. A row holds the feature
//! vector at the decision point: the flow's last packet (default, as CICFlowMeter computes at flow
//! end), its N-th packet (`--decision-at N`; at the last packet for shorter flows, marked in
//! `decided_at`), or every packet (`--every-packet`).
//!
//! Memory: the reader streams with one bounded buffer; the flow table is the only state that
//! grows, and it is per capture file (files are processed in order, each with a fresh table, so a
//! row's `source_file` is unambiguous). Rows go to disk in batches. `--every-packet` needs each
//! flow's total before its first row, so it reads each file twice (once to count) rather than
//! holding the rows.

pub(crate) mod csv_rows;
pub mod labels;
pub(crate) mod output;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use shared::features::FeatureVector;
use shared::{FlowEntry, FlowKey};

use crate::progress::{Position, Progress};
use labels::{Assigned, CicOptions, FlowFacts, LabelReport, Labeler, LabelsError};
use output::{Layout, Row, TableWriter, DECIDED_AT_LAST_PACKET, DECIDED_AT_PACKET_N};
use workbench_flow::capture::{InterfaceCount, InterfaceSelector, UnsupportedSkip};
use workbench_flow::flowfmt::FlowTuple;
use workbench_flow::twin::{FlowMap, Twin};

/// Why a feature table could not be made: a capture, the labels, or the output file.
#[derive(Debug, thiserror::Error)]
pub enum FeaturesError {
    #[error(transparent)]
    Capture(#[from] workbench_flow::capture::CaptureError),
    #[error(transparent)]
    Labels(#[from] labels::LabelsError),
    /// A file could not be opened, created or moved; `action` says which.
    #[error("{file}: {action}")]
    Io {
        file: String,
        action: String,
        #[source]
        source: std::io::Error,
    },
    /// polars could not write the table.
    #[error("{file}: {action}")]
    Table {
        file: String,
        action: &'static str,
        #[source]
        source: polars::prelude::PolarsError,
    },
    #[error(transparent)]
    Polars(#[from] polars::prelude::PolarsError),
    /// An argument or state the run cannot use (the message names it).
    #[error("{0}")]
    Invalid(String),
}

impl FeaturesError {
    /// The capture error this is, if it is one (for the `--lenient` hint).
    pub fn capture(&self) -> Option<&workbench_flow::capture::CaptureError> {
        match self {
            FeaturesError::Capture(c) => Some(c),
            _ => None,
        }
    }
}

pub type Result<T, E = FeaturesError> = std::result::Result<T, E>;

/// Where in a flow the features are taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecisionPoint {
    /// At the flow's last packet in the capture (CIC-like).
    LastPacket,
    /// At packet N of the flow (at the last one for shorter flows).
    Packet(u32),
    /// One row per packet.
    EveryPacket,
}

impl DecisionPoint {
    fn name(&self) -> String {
        match self {
            DecisionPoint::LastPacket => "last_packet".into(),
            DecisionPoint::Packet(n) => format!("packet_{n}"),
            DecisionPoint::EveryPacket => "every_packet".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct FeaturesOptions {
    pub pcaps: Vec<PathBuf>,
    pub output: PathBuf,
    pub decision: DecisionPoint,
    pub labels: Option<PathBuf>,
    pub cic: CicOptions,
    pub lenient: bool,
    /// Read only this pcapng interface's packets (`None`: every interface's).
    pub interface: Option<InterfaceSelector>,
    /// Opt-in features (`shared::features::OPT_IN_FEATURES`, e.g. the VLAN id) to add as
    /// columns; 0: the default set only.
    pub opt_in: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct FeaturesReport {
    pub output: String,
    pub decision: String,
    pub rows: u64,
    pub flows: u64,
    /// Packets read from the captures.
    pub packets: u64,
    /// Packets that became flow packets (the rest are in `unparsed`).
    pub parsed_packets: u64,
    /// Packets the shared parser refused, by reason (the probe's statistics names).
    pub unparsed: BTreeMap<&'static str, u64>,
    /// Damaged places skipped with `--lenient`.
    pub skipped_records: u64,
    /// Packets skipped with `--lenient` because their interface's link type is not decoded
    /// (not damage: not in `skipped_records`).
    pub skipped_unsupported: Vec<UnsupportedSkip>,
    /// Every capture's interfaces with the packets recorded on each.
    pub interfaces: Vec<InterfaceCount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<LabelReport>,
    /// The whole run, loading the labels file included.
    pub elapsed_ns: u64,
    /// Loading (and indexing) the labels file; 0 without `--labels`.
    pub labels_load_ns: u64,
    /// Packets over the time spent on captures and the table (`elapsed_ns - labels_load_ns`).
    pub packets_per_s: u64,
}

/// Per-flow bookkeeping beside the twin's entry (same position as the flow in the twin).
struct FlowMeta {
    label: Option<Assigned>,
    /// `--decision-at N`: the features at packet N, once reached.
    decided: Option<Box<FeatureVector>>,
}

/// The run's counters and outputs, shared by all files.
struct Run<'a> {
    opts: &'a FeaturesOptions,
    writer: TableWriter,
    labeler: Option<Labeler>,
    report: FeaturesReport,
    progress: Position<'a>,
    /// Progress position where the current pass over the current file started.
    progress_base: u64,
}

/// Packets between progress updates: often enough for the eye, rare enough to cost nothing.
const PROGRESS_EVERY: u64 = 4096;

/// The facts a label source matches on, oriented from the initiator (the first packet's sender).
pub(crate) fn facts(p: &shared::ParsedPacket, ts_ns: u64) -> FlowFacts {
    let o = FlowKey::of(p);
    let t = FlowTuple::of(&o.key, o.from_lo);
    FlowFacts {
        src_ip: t.src_ip,
        src_port: t.src_port,
        dst_ip: t.dest_ip,
        dst_port: t.dest_port,
        proto: p.proto,
        first_seen_ns: ts_ns,
    }
}

impl Run<'_> {
    #[allow(clippy::too_many_arguments)]
    fn row(
        &mut self,
        key: FlowKey,
        meta: &FlowMeta,
        entry: &FlowEntry,
        features: &FeatureVector,
        decision_packet: u32,
        flow_packets: u32,
        file: &str,
    ) -> Result<()> {
        let t = FlowTuple::of(&key, entry.initiator_is_lo != 0);
        let decided_at = match self.opts.decision {
            DecisionPoint::Packet(n) if decision_packet == n => Some(DECIDED_AT_PACKET_N),
            DecisionPoint::Packet(_) => Some(DECIDED_AT_LAST_PACKET),
            _ => None,
        };
        let names = self.labeler.as_ref();
        let label = meta.label.and_then(|a| names.map(|l| l.name(a.label)));
        let attack_type = meta
            .label
            .and_then(|a| a.attack_type)
            .and_then(|id| names.map(|l| l.name(id)));
        self.writer.push(Row {
            src_ip: t.src_ip,
            src_port: t.src_port,
            dst_ip: t.dest_ip,
            dst_port: t.dest_port,
            proto: key.proto,
            vlan: key.vlan_id,
            first_seen_ns: entry.state.first_ts_ns,
            decision_packet,
            decided_at,
            flow_packets,
            features,
            label,
            attack_type,
            source_file: file,
        })
    }

    fn open(&self, path: &Path) -> Result<workbench_flow::capture::CaptureReader> {
        Ok(workbench_flow::capture::open(path, self.opts.lenient)?
            .keep_interface(self.opts.interface.clone()))
    }

    /// `--every-packet`, first pass: each flow's total packet count.
    fn count_flows(&mut self, path: &Path) -> Result<FlowMap<u32>> {
        let mut reader = self.open(path)?;
        let mut totals: FlowMap<u32> = FlowMap::default();
        let mut n = 0u64;
        while let Some(packet) = reader.next() {
            let packet = packet?;
            n += 1;
            if n.is_multiple_of(PROGRESS_EVERY) {
                self.progress.set(self.progress_base + reader.bytes_read());
            }
            if let Ok(p) = packet.parse() {
                let total = totals.entry(FlowKey::of(&p).key).or_default();
                *total = total.saturating_add(1);
            }
        }
        self.progress_base += reader.bytes_read();
        Ok(totals)
    }

    /// One capture file: every packet through the twin, rows written as the mode says.
    fn file(&mut self, path: &Path) -> Result<()> {
        let file = path.display().to_string();
        self.progress.progress().message(&file);
        if let Some(l) = self.labeler.as_mut() {
            l.start_capture(path);
        }
        let totals = match self.opts.decision {
            DecisionPoint::EveryPacket => Some(self.count_flows(path)?),
            _ => None,
        };
        // No decision points: without a model the twin's decision does nothing anyway.
        let no_decisions = shared::abi::ProbeConfig {
            decide_first_packets: 0,
            decide_every: 0,
            ..shared::abi::ProbeConfig::default()
        };
        let mut twin = Twin::new(no_decisions, None, None);
        let mut metas: Vec<FlowMeta> = Vec::new();
        let mut reader = self.open(path)?;
        while let Some(packet) = reader.next() {
            let packet = packet?;
            self.report.packets += 1;
            if self.report.packets.is_multiple_of(PROGRESS_EVERY) {
                self.progress.set(self.progress_base + reader.bytes_read());
            }
            let p = match packet.parse() {
                Ok(p) => p,
                Err(e) => {
                    *self.report.unparsed.entry(e.name()).or_default() += 1;
                    continue;
                }
            };
            self.report.parsed_packets += 1;
            let step = twin.step(&p, packet.ts_ns);
            if step.new {
                let label = self
                    .labeler
                    .as_mut()
                    .and_then(|l| l.label(&facts(&p, packet.ts_ns)));
                metas.push(FlowMeta { label, decided: None });
            }
            let (Some((key, entry)), Some(meta)) = (twin.flows.at(step.flow), metas.get_mut(step.flow))
            else {
                return Err(FeaturesError::Invalid(format!(
                    "{file}: packet {}: internal: a flow without its bookkeeping",
                    packet.index
                )));
            };
            // At the flow's last packet (the default) nothing happens per packet: the rows
            // come from the table at the end.
            let k = entry.state.packets();
            match (self.opts.decision, &totals) {
                (DecisionPoint::Packet(n), _) if k == n => {
                    meta.decided = Some(Box::new(entry.state.features()));
                }
                (DecisionPoint::EveryPacket, Some(totals)) => {
                    let features = entry.state.features();
                    let total = totals.get(key).copied().unwrap_or(k).max(k);
                    self.row(*key, meta, entry, &features, k, total, &file)?;
                }
                _ => {}
            }
        }
        self.report.skipped_records += reader.skipped();
        self.report.skipped_unsupported.extend(reader.unsupported_skips());
        self.report.interfaces.extend(reader.interfaces());
        self.progress_base += reader.bytes_read();
        self.progress.set(self.progress_base);
        self.report.flows += twin.flows.len() as u64;
        if self.opts.decision == DecisionPoint::EveryPacket {
            return Ok(());
        }
        // The index is not needed any more: freed before the rows are written.
        let (keys, entries) = twin.into_flows().into_parts();
        for ((key, entry), meta) in keys.iter().zip(&entries).zip(&metas) {
            let total = entry.state.packets();
            let (features, k) = match &meta.decided {
                Some(v) => (**v, self.decision_packet().unwrap_or(total)),
                None => (entry.state.features(), total),
            };
            self.row(*key, meta, entry, &features, k, total, &file)?;
        }
        Ok(())
    }

    fn decision_packet(&self) -> Option<u32> {
        match self.opts.decision {
            DecisionPoint::Packet(n) => Some(n),
            _ => None,
        }
    }
}

/// Runs the whole pipeline; `progress` is advanced in bytes of capture read (every pass over a
/// file counted; pass [`crate::progress::NoProgress`] when nobody watches).
pub fn extract(opts: &FeaturesOptions, progress: &dyn Progress) -> Result<FeaturesReport> {
    let started = Instant::now();
    let labeler = match &opts.labels {
        Some(path) => Some(Labeler::load(path, &opts.cic)?),
        None => None,
    };
    let labels_load_ns = started.elapsed().as_nanos().min(u64::MAX as u128) as u64;
    let layout = Layout {
        decided_at: matches!(opts.decision, DecisionPoint::Packet(_)),
        label: labeler.is_some(),
        attack_type: labeler.as_ref().is_some_and(Labeler::has_attack_type),
        opt_in: opts.opt_in,
    };
    let writer = TableWriter::create(&opts.output, layout)?;
    let passes = if opts.decision == DecisionPoint::EveryPacket {
        2
    } else {
        1
    };
    let mut total_bytes = 0;
    for path in &opts.pcaps {
        let meta = std::fs::metadata(path).map_err(|source| FeaturesError::Io {
            file: path.display().to_string(),
            action: "cannot open".into(),
            source,
        })?;
        total_bytes += meta.len() * passes;
    }
    progress.set_total(total_bytes);
    let mut run = Run {
        opts,
        writer,
        labeler,
        report: FeaturesReport {
            output: opts.output.display().to_string(),
            decision: opts.decision.name(),
            rows: 0,
            flows: 0,
            packets: 0,
            parsed_packets: 0,
            unparsed: BTreeMap::new(),
            skipped_records: 0,
            skipped_unsupported: Vec::new(),
            interfaces: Vec::new(),
            labels: None,
            elapsed_ns: 0,
            labels_load_ns,
            packets_per_s: 0,
        },
        progress: Position::new(progress),
        progress_base: 0,
    };
    for path in &opts.pcaps {
        run.file(path)?;
    }
    let Run {
        writer,
        labeler,
        mut report,
        ..
    } = run;
    // A labels file that labels no flow is for other traffic (or read at the wrong time
    // zone): an empty label column written with exit 0 would pass for labels. Nothing is
    // written (the writer's temporary file goes when it is dropped).
    if let Some(refused) = labeler.as_ref().and_then(|l| {
        let data: Vec<String> = opts.pcaps.iter().map(|p| p.display().to_string()).collect();
        l.none_matched(report.flows, &data.join(", "))
    }) {
        drop(writer);
        return Err(FeaturesError::Labels(match refused {
            LabelsError::Invalid(m) => {
                LabelsError::Invalid(format!("{m}; nothing written to {}", opts.output.display()))
            }
            other => other,
        }));
    }
    report.rows = writer.rows();
    writer.finish()?;
    report.labels = labeler.map(|l| l.report());
    let elapsed = started.elapsed();
    report.elapsed_ns = elapsed.as_nanos().min(u64::MAX as u128) as u64;
    let working_s = elapsed.as_secs_f64() - labels_load_ns as f64 / 1e9;
    report.packets_per_s = (report.packets as f64 / working_s.max(1e-9)) as u64;
    Ok(report)
}
