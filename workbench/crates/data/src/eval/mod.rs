//! `workbench eval` and `workbench skew`: score a model file on any data the other commands read,
//! and compare what it was trained on with what it meets.
//!
//! Captures go through the userspace twin (the probe's own per-packet code) at the probe's
//! decision points by default, labelled by `--labels FILE` or the generator's `labels-NAME.csv`
//! beside them; tables go through the dataset loader and `train::prepare`. Two readings of a
//! capture: the verdict at each flow's last decision point (what monitor mode ends with: the
//! main metrics) and "ever flagged" at any decision point (what enforce mode would have dropped).
//! The report types are plain serde structs, for `--json` and for a TUI view to render.

pub(crate) mod capture;
pub(crate) mod flow_detail;
pub(crate) mod flows_out;
pub mod matrix;
pub(crate) mod score;
pub mod skew;
pub(crate) mod table;

/// Why scoring a model failed: a load, capture, labels, training or model-file error passed
/// through, a file that could not be read or written, or a refusal whose message names the
/// input and what to do.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Data(#[from] crate::dataset::DataError),
    #[error(transparent)]
    Features(#[from] crate::features::FeaturesError),
    #[error(transparent)]
    Labels(#[from] crate::features::labels::LabelsError),
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
    #[error(transparent)]
    Capture(#[from] workbench_flow::capture::CaptureError),
    #[error(transparent)]
    Polars(#[from] polars::prelude::PolarsError),
    /// A model file that cannot be read, or whose recorded training quantiles are damaged.
    #[error(transparent)]
    ModelFile(#[from] workbench_flow::model::ModelFileError),
    /// A file or folder that could not be read or made; `what` says which (`reading PATH`).
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// Inputs or options the evaluation cannot use; the message names them and what to do.
    #[error("{0}")]
    Invalid(String),
}

impl EvalError {
    /// The capture error this is or wraps, if any (for the `--lenient` hint).
    pub fn capture(&self) -> Option<&workbench_flow::capture::CaptureError> {
        match self {
            EvalError::Capture(c) => Some(c),
            EvalError::Features(f) => f.capture(),
            EvalError::Train(t) => t.capture(),
            _ => None,
        }
    }
}

pub type Result<T, E = EvalError> = std::result::Result<T, E>;

/// An `Io` error saying what was being done, for `map_err`.
pub(crate) fn io_error(what: String) -> impl FnOnce(std::io::Error) -> EvalError {
    move |source| EvalError::Io { what, source }
}

/// Returns `EvalError::Invalid` from a format string.
macro_rules! bail {
    ($($t:tt)*) => {
        return Err($crate::eval::EvalError::Invalid(format!($($t)*)))
    };
}
pub(crate) use bail;

/// `EvalError::Invalid` from a format string.
macro_rules! invalid {
    ($($t:tt)*) => {
        $crate::eval::EvalError::Invalid(format!($($t)*))
    };
}
pub(crate) use invalid;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use shared::abi::ProbeConfig;
use workbench_flow::capture::{InterfaceCount, InterfaceSelector};
use workbench_flow::model::{file, ModelFile};

use crate::dataset::{self, Dropped, LoadOptions};
use crate::features::labels::{CicOptions, LabelReport, Labeler};
pub use capture::FileScore;
use flow_detail::Details;
pub use flows_out::FlowsOutInfo;
pub use score::{ClassDetection, ClassScore, EvalMetrics, FlowOutcome};
pub use skew::{Decisions, SkewReport};

/// Where in each flow the model decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum At {
    /// The probe's decision points (packets 1..=decide_first, then every decide_every-th).
    #[default]
    DecisionPoints,
    /// Once, at the flow's last packet in the capture (as CIC-style training rows are taken).
    LastPacket,
    /// Once, at packet N (at the last packet for shorter flows).
    Packet { n: u32 },
}

impl At {
    /// `decision-points`, `last-packet`, `packet N` (also `packet:N`, `packet=N`, `packet-N`).
    /// Returns the reading and a value that was not part of it (clap hands `--at last-packet
    /// FILE` over as two values: FILE is a data file).
    pub fn parse(values: &[String]) -> Result<(At, Option<String>)> {
        let first = values.first().map_or("", String::as_str);
        let number = |s: &str| -> Result<u32> {
            s.trim()
                .parse::<u32>()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| invalid!("--at packet N: `{s}` is not a packet number (1 or more)"))
        };
        let rest = values.get(1).cloned();
        match first {
            "decision-points" => Ok((At::DecisionPoints, rest)),
            "last-packet" => Ok((At::LastPacket, rest)),
            "packet" => match rest {
                Some(n) => Ok((At::Packet { n: number(&n)? }, None)),
                None => bail!("--at packet needs a packet number: --at packet N"),
            },
            s if s.starts_with("packet") && s.len() > 7 => Ok((At::Packet { n: number(&s[7..])? }, rest)),
            other => bail!("--at `{other}`: expected decision-points, last-packet or packet N"),
        }
    }

    pub fn name(self) -> String {
        match self {
            At::DecisionPoints => "decision_points".into(),
            At::LastPacket => "last_packet".into(),
            At::Packet { n } => format!("packet_{n}"),
        }
    }

    /// Where the model decided, in words (the skew report's second half).
    pub fn words(self, config: &ProbeConfig) -> String {
        match self {
            At::DecisionPoints => match (config.decide_first_packets, config.decide_every) {
                (0, 0) => "never decided (no decision point configured)".into(),
                (0, e) => format!("decided at every {e}th packet"),
                (1, 0) => "decided at packet 1".into(),
                (f, 0) => format!("decided at packets 1-{f}"),
                (f, e) => format!("decided at packets 1-{f}, then every {e}th"),
            },
            At::LastPacket => "decided at each flow's last packet".into(),
            At::Packet { n } => format!("decided at packet {n} (the last, for shorter flows)"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub model: PathBuf,
    pub data: Vec<PathBuf>,
    /// Labels for captures (rules TOML, CIC CSV or generator CSV); default `labels-NAME.csv`
    /// beside each capture.
    pub labels: Option<PathBuf>,
    pub at: At,
    /// The probe's decision points (`--decide-first`, `--decide-every`).
    pub config: ProbeConfig,
    /// Tables: the label column and the labels counted as malicious (as `train` takes them).
    pub load: LoadOptions,
    pub positive: Option<String>,
    pub lenient: bool,
    /// Captures: only this pcapng interface's packets (`None`: every interface's).
    pub interface: Option<InterfaceSelector>,
}

/// The model scored.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelInfo {
    pub file: String,
    pub model_id: String,
    pub kind: String,
    pub features: Vec<String>,
    pub threshold: i64,
}

/// The decision points a capture was scored at.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct DecisionConfig {
    pub decide_first_packets: u32,
    pub decide_every: u32,
}

/// The "ever flagged" reading: a flow flagged at any decision point (what enforce mode drops).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EverFlagged {
    pub flagged_flows: u64,
    pub metrics: EvalMetrics,
    /// Benign flows flagged at some decision point, over all benign flows.
    pub benign_flows_ever_flagged_share: Option<f64>,
}

/// Time to detect per attack class: the first flagged decision of each attack flow.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimeToDetect {
    pub per_class: BTreeMap<String, ClassDetection>,
    /// Every attack flow together (null when there is no time to detect).
    pub all_attacks: Option<ClassDetection>,
    /// Why there is no time to detect (tables: a row is one end-of-flow decision); null when
    /// there is one.
    pub undefined: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EvalReport {
    pub model: ModelInfo,
    pub data: Vec<String>,
    /// `captures`, or the dataset kind of a table.
    pub data_kind: String,
    /// `decision_points`, `last_packet`, `packet_N` (captures) or `table_rows`.
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_points: Option<DecisionConfig>,
    /// Flows (captures) or rows (tables), labelled or not.
    pub flows: u64,
    pub labelled_flows: u64,
    pub unlabelled_flows: u64,
    /// Flows flagged at their last decision point, labelled or not (captures: what `workbench
    /// verify` counts as `malicious_flows` in the kernel's table).
    pub flagged_flows: u64,
    pub undecided_flows: u64,
    /// At the last decision point.
    pub metrics: EvalMetrics,
    pub per_class: BTreeMap<String, ClassScore>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ever_flagged: Option<EverFlagged>,
    pub time_to_detect: TimeToDetect,
    /// Per capture file.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileScore>,
    /// Every capture's interfaces with the packets recorded on each (absent for tables).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<InterfaceCount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<LabelReport>,
    pub skew: SkewReport,
    /// Tables: the rows the cleaning step removed before scoring, and why (as `train` reports
    /// them): a missing, NaN or infinite value in a column the model reads, no label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped: Option<Dropped>,
    /// `--flows-out`: the file written and its rows (one per flow or table row).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flows_out: Option<FlowsOutInfo>,
    pub notes: Vec<String>,
}

/// The model file, read and described.
pub fn model_info(path: &Path) -> Result<(ModelFile, ModelInfo)> {
    let m = file::read(path)?;
    let info = ModelInfo {
        file: path.display().to_string(),
        model_id: m.meta.model_id.clone(),
        kind: m.meta.kind.clone(),
        features: m.meta.features.iter().map(|f| f.name.clone()).collect(),
        threshold: m.meta.threshold,
    };
    Ok((m, info))
}

/// What the data gave before the figures are computed.
struct Scanned {
    data_kind: String,
    outcomes: Vec<FlowOutcome>,
    decisions: Decisions,
    files: Vec<FileScore>,
    labels: Option<LabelReport>,
    decided_at: String,
    /// Tables: what cleaning removed.
    dropped: Option<Dropped>,
    notes: Vec<String>,
}

fn scan_captures(
    m: &ModelFile,
    recorded: &[usize],
    opts: &EvalOptions,
    need_labels: bool,
    mut details: Option<&mut Details>,
) -> Result<Scanned> {
    let mut labeler = match &opts.labels {
        Some(p) => Some(Labeler::load(p, &CicOptions::default())?),
        None => None,
    };
    let mut outcomes = Vec::new();
    let mut decisions = Decisions::new(recorded.to_vec());
    let mut files = Vec::new();
    let mut notes = Vec::new();
    let mut beside_reports = Vec::new();
    for (i, path) in opts.data.iter().enumerate() {
        let mut beside = match (&labeler, need_labels) {
            (None, true) => match capture::labels_beside(path) {
                Some(l) => Some(Labeler::load(&l, &CicOptions::default())?),
                None => {
                    notes.push(format!(
                        "{}: no labels (no --labels, no labels-{}.csv beside it): its flows are scored but not in the metrics",
                        path.display(),
                        path.file_stem().and_then(|s| s.to_str()).unwrap_or("NAME")
                    ));
                    None
                }
            },
            _ => None,
        };
        let had_labels = labeler.is_some() || beside.is_some();
        let l = labeler.as_mut().or(beside.as_mut());
        let how = capture::Scoring {
            model: &m.model,
            at: opts.at,
            config: opts.config,
            lenient: opts.lenient,
            interface: opts.interface.as_ref(),
        };
        let sinks = capture::Sinks {
            decisions: &mut decisions,
            outcomes: &mut outcomes,
            details: details.as_deref_mut(),
        };
        let score = capture::scan(path, i, how, l, sinks)?;
        if let Some(b) = beside {
            beside_reports.push(b.report());
        }
        if had_labels && need_labels && score.flows > 0 && score.labelled_flows == 0 {
            notes.push(format!(
                "{}: the labels match none of its {} flows: they are scored but not in the metrics",
                score.file, score.flows
            ));
        }
        files.push(score);
    }
    if let (Some(l), true) = (&labeler, need_labels) {
        let flows: u64 = files.iter().map(|f| f.flows).sum();
        let data: Vec<String> = opts.data.iter().map(|d| d.display().to_string()).collect();
        if files.iter().all(|f| f.labelled_flows == 0) {
            if let Some(e) = l.none_matched(flows, &data.join(", ")) {
                return Err(e.into());
            }
        }
    }
    let labels = labeler.map(|l| l.report());
    Ok(Scanned {
        data_kind: "captures".into(),
        outcomes,
        decisions,
        files,
        labels: labels.or_else(|| (beside_reports.len() == 1).then(|| beside_reports.remove(0))),
        decided_at: opts.at.words(&opts.config),
        dropped: None,
        notes,
    })
}

fn scan_table(
    m: &ModelFile,
    recorded: &[usize],
    opts: &EvalOptions,
    details: Option<&mut Details>,
) -> Result<Scanned> {
    if let Some(l) = &opts.labels {
        bail!(
            "--labels {}: labels files label flows of captures; a table carries its own label column \
             (choose it with --label COL)",
            l.display()
        );
    }
    if opts.at != At::DecisionPoints {
        bail!(
            "--at {}: a table row is already one decision (the values the table holds); --at applies to captures",
            opts.at.name().replace('_', "-")
        );
    }
    let loaded = dataset::load(&opts.data, &opts.load)?;
    let ids: Vec<usize> = m.meta.features.iter().map(|f| f.id).collect();
    // As `train` does: a row goes for a missing value in a column the model reads, not in one
    // it never reads.
    let narrowed = crate::train::prepare::used_columns(&loaded, &table::feature_spec(&ids))
        .map(|used| loaded.cleaning_only(&used));
    let loaded = narrowed.as_ref().unwrap_or(&loaded);
    let mut outcomes = Vec::new();
    let scanned = table::scan(
        loaded,
        &m.model,
        &ids,
        recorded,
        opts.positive.as_deref(),
        &mut outcomes,
        details,
    )?;
    let taken = crate::train::quantiles::taken_at(loaded);
    Ok(Scanned {
        data_kind: loaded.kind.to_string(),
        outcomes,
        decisions: scanned.decisions,
        files: Vec::new(),
        labels: None,
        decided_at: format!(
            "decided on the table's {} rows of {}",
            taken.words(),
            loaded.sources.join(", ")
        ),
        dropped: Some(loaded.dropped.clone()),
        notes: Vec::new(),
    })
}

/// Reads the data as captures or as one table (never both at once); with `details`, each flow's
/// place and last decision too.
fn scan(
    m: &ModelFile,
    recorded: &[usize],
    opts: &EvalOptions,
    need_labels: bool,
    details: Option<&mut Details>,
) -> Result<Scanned> {
    if opts.data.is_empty() {
        bail!("no data given: eval MODEL DATA...");
    }
    for p in &opts.data {
        if !p.exists() {
            bail!("{}: no such file or directory", p.display());
        }
    }
    let captures: Vec<bool> = opts
        .data
        .iter()
        .map(|p| p.is_file() && capture::is_capture(p))
        .collect();
    if captures.iter().all(|&c| c) {
        scan_captures(m, recorded, opts, need_labels, details)
    } else if captures.iter().any(|&c| c) {
        let first = opts
            .data
            .iter()
            .zip(&captures)
            .find(|(_, &c)| c)
            .map(|(p, _)| p.display().to_string())
            .unwrap_or_default();
        bail!("{first} is a capture and other inputs are tables: score captures and tables in separate runs")
    } else {
        scan_table(m, recorded, opts, details)
    }
}

/// The feature ids whose training quantiles the model file holds (all 40 when it holds none, so
/// that the skew report can still list where the model decides).
fn recorded_ids(
    m: &ModelFile,
) -> Result<(
    Option<workbench_flow::model::distribution::TrainingQuantiles>,
    Vec<usize>,
)> {
    let q = m.meta.training_quantiles()?;
    let ids = match &q {
        Some(q) => q.features.iter().map(|f| f.id).collect(),
        None => Vec::new(),
    };
    Ok((q, ids))
}

/// `workbench eval`: the whole report.
pub fn evaluate(opts: &EvalOptions) -> Result<EvalReport> {
    evaluate_with(opts, None)
}

/// [`evaluate`], also writing each flow's last decision and why to `flows_out` (`eval
/// --flows-out FILE`: `.csv` or `.jsonl`).
pub fn evaluate_with(opts: &EvalOptions, flows_out: Option<&Path>) -> Result<EvalReport> {
    let (m, model) = model_info(&opts.model)?;
    let (quantiles, recorded) = recorded_ids(&m)?;
    let mut inputs: Vec<&Path> = opts.data.iter().map(PathBuf::as_path).collect();
    inputs.push(&opts.model);
    inputs.extend(opts.labels.as_deref());
    // Before the data is read: a bad name or an unwritable folder fails at once.
    let writer = flows_out
        .map(|p| flows_out::FlowsOut::create(p, &inputs))
        .transpose()?;
    let mut details = writer.as_ref().map(|_| Details::new(&m.model));
    let s = scan(&m, &recorded, opts, true, details.as_mut())?;
    let flows_out = match (writer, &details) {
        (Some(w), Some(d)) => {
            let files: Vec<String> = opts.data.iter().map(|p| p.display().to_string()).collect();
            Some(w.write(&m.model, &files, &s.outcomes, d)?)
        }
        _ => None,
    };
    let decisions = s.decisions.sorted();
    let skew = skew::compare(quantiles.as_ref(), &m.model, &decisions, &s.decided_at);
    let o = &s.outcomes;
    let is_capture = s.data_kind == "captures";
    let labelled = o.iter().filter(|f| f.class.is_some()).count() as u64;
    let metrics = score::metrics(o, |f| f.flagged);
    let ever_flagged = (is_capture && opts.at == At::DecisionPoints).then(|| {
        let m = score::metrics(o, |f| f.ever_flagged);
        let benign = m.benign_flows;
        EverFlagged {
            flagged_flows: o.iter().filter(|f| f.ever_flagged).count() as u64,
            benign_flows_ever_flagged_share: (benign > 0)
                .then(|| m.confusion.false_positive as f64 / benign as f64),
            metrics: m,
        }
    });
    let time_to_detect = TimeToDetect {
        per_class: if is_capture {
            score::time_to_detect(o, false)
        } else {
            BTreeMap::new()
        },
        all_attacks: if is_capture {
            score::time_to_detect(o, true).into_values().next()
        } else {
            None
        },
        undefined: (!is_capture).then(|| {
            "a table row is one decision on the table's own values: no packet to detect at; score a capture for time to detect"
                .to_string()
        }),
    };
    let mut notes = s.notes;
    if is_capture && opts.at == At::DecisionPoints {
        notes.push(
            "flagged_flows (at each flow's last decision point) is what `workbench verify` counts in the kernel's \
             table on the same capture and model; verify replays at its own pace, so a model reading durations or \
             rates can decide otherwise there"
                .into(),
        );
    }
    Ok(EvalReport {
        model,
        data: opts.data.iter().map(|d| d.display().to_string()).collect(),
        data_kind: s.data_kind,
        at: if is_capture {
            opts.at.name()
        } else {
            "table_rows".into()
        },
        decision_points: (is_capture && opts.at == At::DecisionPoints).then_some(DecisionConfig {
            decide_first_packets: opts.config.decide_first_packets,
            decide_every: opts.config.decide_every,
        }),
        flows: o.len() as u64,
        labelled_flows: labelled,
        unlabelled_flows: o.len() as u64 - labelled,
        flagged_flows: o.iter().filter(|f| f.flagged).count() as u64,
        undecided_flows: o.iter().filter(|f| !f.decided).count() as u64,
        metrics,
        per_class: score::per_class(o, ever_flagged.is_some()),
        ever_flagged,
        time_to_detect,
        interfaces: s
            .files
            .iter()
            .flat_map(|f| f.interfaces.iter().cloned())
            .collect(),
        files: s.files,
        labels: s.labels,
        skew,
        dropped: s.dropped,
        flows_out,
        notes,
    })
}

/// `workbench skew`: the skew report alone (no labels needed), and for a table the rows its
/// cleaning step removed (as `eval` reports them).
pub fn skew_report(opts: &EvalOptions) -> Result<(ModelInfo, SkewReport, Option<Dropped>)> {
    let (m, model) = model_info(&opts.model)?;
    let (quantiles, recorded) = recorded_ids(&m)?;
    let s = scan(&m, &recorded, opts, false, None)?;
    let decisions = s.decisions.sorted();
    Ok((
        model,
        skew::compare(quantiles.as_ref(), &m.model, &decisions, &s.decided_at),
        s.dropped,
    ))
}
