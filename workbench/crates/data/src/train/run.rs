//! One training run, from data to what a model file and a report need: what `workbench train`
//! and the TUI's Train tab both do. The steps: rows (end-of-flow table rows, or decision-point
//! samples from captures or `features --every-packet` tables), the columns the model may use
//! (kernel features, or the dataset's own), the leakage gate, the split (asked for, or the most
//! honest one the data allows), the fit (either engine), and what the values are (end of flow
//! or decision points) in words.

use std::path::{Path, PathBuf};

use super::{bail, invalid, Result, TrainError};
use serde::Serialize;
use shared::features::FEATURES;

use super::choose::{self, SplitChoice};
use super::dataset_features::{self, DatasetTrained};
use super::decision_points::{self, DecisionConfig, Sampling};
use super::gate::{self, Candidate, Flagged, Values};
use super::values_note::values_note;
use super::{prepare, provenance, select, train, Dataset, Prepared, SplitKind, TrainOptions, Trained};
use crate::dataset::kernel_map::MappedColumn;
use crate::dataset::{DatasetKind, Dropped, LoadedDataset};
use crate::features::labels::{CicOptions, LabelReport};
use workbench_flow::model::file::{self, ModelMeta};

/// Where in a flow the training values are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum At {
    /// One row per flow with its values when the flow ended (every public dataset's CSV; a
    /// `workbench features` table at each flow's last packet).
    EndOfFlow,
    /// One sample per decision point of the probe per flow, weighted per flow.
    DecisionPoints,
}

impl At {
    pub fn name(self) -> &'static str {
        match self {
            At::EndOfFlow => "end-of-flow",
            At::DecisionPoints => "decision-points",
        }
    }
}

/// What is trained on.
pub enum Input<'a> {
    /// A loaded table: a public dataset, a flow table, or a `features --every-packet` table.
    Table(&'a LoadedDataset),
    /// Captures, each flow labelled by `labels` or the `labels-NAME.csv` beside its capture.
    Captures {
        pcaps: &'a [PathBuf],
        labels: Option<&'a Path>,
        cic: CicOptions,
    },
    /// A table's rows already taken at the end of the flow (`columns::prepare_table`: its
    /// cleaning narrowed to the columns the model reads, its rows given up once converted, so
    /// the run holds the features and not the table too); `table` describes the data.
    Prepared {
        table: &'a LoadedDataset,
        rows: Box<Prepared>,
    },
}

pub struct RunOptions {
    /// `kernel` (the default: every mapped column, through the gate), `dataset` (the dataset's
    /// own columns, not deployable) or a comma list of kernel features.
    pub features: String,
    /// Keep the columns the pitfall report flags (the gate lists them as kept).
    pub keep_flagged: bool,
    /// None: the most honest split the data allows.
    pub split: Option<SplitKind>,
    /// None: decision points for captures, end of flow for tables.
    pub at: Option<At>,
    pub decision: DecisionConfig,
    pub positive: Option<String>,
    /// Model kind, depth, alpha, threshold, seed, engine, test share (split and features are
    /// set by the run).
    pub train: TrainOptions,
}

pub enum Outcome {
    /// A model on kernel features, compiled for the kernel.
    Kernel(Box<Trained>),
    /// A model on the dataset's own columns (not deployable).
    Dataset(Box<DatasetTrained>),
}

pub struct RunOutput {
    pub dataset: String,
    pub sources: Vec<String>,
    pub rows: usize,
    pub values_at: At,
    /// What the values are, in words (end-of-flow values and `workbench skew`, or the decision
    /// points).
    pub values_note: String,
    pub split: SplitChoice,
    /// Columns the gate left out, with why.
    pub left_out: Vec<Flagged>,
    /// Flagged columns kept (`--keep-flagged`, or named in a `--features` list).
    pub kept_flagged: Vec<Flagged>,
    pub feature_mapping: Vec<MappedColumn>,
    pub unmapped_columns: Vec<(String, &'static str)>,
    /// Tables: what cleaning removed.
    pub dropped: Option<Dropped>,
    /// Captures: the labels files' reports.
    pub labels: Vec<LabelReport>,
    pub outcome: Outcome,
    /// The options the model was trained with (split and features resolved).
    pub options: TrainOptions,
}

impl RunOutput {
    pub fn model_id(&self) -> &str {
        match &self.outcome {
            Outcome::Kernel(t) => &t.report.model_id,
            Outcome::Dataset(d) => &d.report.model_id,
        }
    }

    pub fn deployable(&self) -> bool {
        matches!(self.outcome, Outcome::Kernel(_))
    }

    /// Writes the model file (`provenance` from [`RunOutput::provenance`], possibly extended).
    pub fn write(&self, path: &Path, provenance: serde_json::Value) -> Result<()> {
        match &self.outcome {
            Outcome::Kernel(t) => {
                file::write(path, &t.model, provenance)?;
            }
            Outcome::Dataset(d) => {
                let meta = ModelMeta::not_deployable(
                    d.model.clone(),
                    dataset_features::NOT_DEPLOYABLE.to_string(),
                    provenance,
                );
                file::write_not_deployable(path, &meta)?;
            }
        }
        Ok(())
    }

    /// The training quantiles of a model trained on captures: the rows are the probe's own
    /// values, at the decision points or at each flow's last packet.
    fn capture_quantiles(
        &self,
        report: &super::TrainReport,
    ) -> workbench_flow::model::distribution::TrainingQuantiles {
        let mut q = report.training_quantiles.clone();
        q.taken_at = match self.values_at {
            At::DecisionPoints => workbench_flow::model::distribution::TakenAt::DecisionPoints,
            At::EndOfFlow => workbench_flow::model::distribution::TakenAt::LastPacket,
        };
        q.source = format!("captures ({})", self.sources.join(", "));
        q
    }

    /// The provenance a model file records: data, split and why, features left out, values at.
    pub fn provenance(&self, loaded: Option<&LoadedDataset>) -> serde_json::Value {
        let mut p = match (&self.outcome, loaded) {
            (Outcome::Kernel(t), Some(l)) => provenance(l, self.rows, &self.options, &t.report),
            (Outcome::Kernel(t), None) => serde_json::json!({
                "sources": self.sources,
                "dataset_kind": self.dataset,
                "rows": self.rows,
                "split": self.options.split,
                "seed": self.options.seed,
                "max_depth": self.options.max_depth,
                "alpha": self.options.alpha,
                "threshold": self.options.threshold,
                "metrics": t.report.metrics,
                "agreement": t.report.agreement,
                (workbench_flow::model::file::TRAINING_QUANTILES_KEY): self.capture_quantiles(&t.report),
            }),
            (Outcome::Dataset(d), _) => serde_json::json!({
                "sources": self.sources,
                "dataset_kind": self.dataset,
                "rows": self.rows,
                "split": self.options.split,
                "seed": self.options.seed,
                "max_depth": self.options.max_depth,
                "alpha": self.options.alpha,
                "threshold": self.options.threshold,
                "metrics": d.report.metrics,
            }),
        };
        if let serde_json::Value::Object(m) = &mut p {
            m.insert("values_at".into(), serde_json::json!(self.values_at));
            m.insert("split_reason".into(), serde_json::json!(self.split.reason));
            m.insert("left_out".into(), serde_json::json!(self.left_out));
            m.insert("engine".into(), serde_json::json!(self.options.engine));
            if let Some((first, every)) = self.decision() {
                m.insert(
                    "decision_points".into(),
                    serde_json::json!({"decide_first": first, "decide_every": every}),
                );
            }
        }
        p
    }

    fn decision(&self) -> Option<(u32, u32)> {
        match &self.outcome {
            Outcome::Kernel(t) => t
                .report
                .decision_points
                .as_ref()
                .map(|d| (d.decide_first, d.decide_every)),
            Outcome::Dataset(_) => None,
        }
    }
}

/// The kernel features of captures as mapped columns (their own names).
fn capture_mapping(spec: &str) -> Result<Vec<MappedColumn>> {
    let names: Vec<String> = FEATURES.iter().map(|f| f.name.to_string()).collect();
    select::select(
        spec,
        &select::Columns {
            file: "the captures",
            kind: DatasetKind::FlowTable,
            columns: &names,
            label_columns: &[],
            dropped: &[],
        },
    )
}

/// The rows and columns of a kernel-feature run.
fn kernel_rows(input: &Input, at: At, spec: &str, opts: &RunOptions) -> Result<(Prepared, Vec<LabelReport>)> {
    Ok(match (input, at) {
        (Input::Table(loaded) | Input::Prepared { table: loaded, .. }, At::EndOfFlow) => {
            (prepare(loaded, spec, opts.positive.as_deref())?, Vec::new())
        }
        (Input::Table(loaded) | Input::Prepared { table: loaded, .. }, At::DecisionPoints) => (
            decision_points::from_every_packet_table(loaded, spec, opts.positive.as_deref(), opts.decision)?,
            Vec::new(),
        ),
        (Input::Captures { pcaps, labels, cic }, at) => {
            let none = |_: &str, _: f64| {};
            let sampling = match at {
                At::DecisionPoints => Sampling::DecisionPoints(opts.decision),
                At::EndOfFlow => Sampling::LastPacket,
            };
            let mut s = decision_points::from_captures(pcaps, *labels, cic, sampling, &none)?;
            if let Some(list) = &opts.positive {
                let positive: Vec<&str> = list.split(',').map(str::trim).collect();
                s.ds.malicious =
                    s.ds.class
                        .iter()
                        .map(|c| positive.contains(&c.as_str()))
                        .collect();
            }
            if s.ds.features.is_empty() {
                bail!(
                    "{}: no flow reaches a decision point with --decide-first {} --decide-every {}",
                    pcaps
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    opts.decision.decide_first,
                    opts.decision.decide_every
                );
            }
            let attacks = s.ds.malicious.iter().filter(|&&m| m).count();
            if attacks == 0 || attacks == s.ds.malicious.len() {
                bail!(
                    "{}: every labelled flow is {}: a detector needs malicious and benign flows",
                    pcaps
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    if attacks == 0 { "benign" } else { "malicious" }
                );
            }
            (
                Prepared {
                    ds: s.ds,
                    mapped: capture_mapping(spec)?,
                    unmapped: Vec::new(),
                },
                s.labels,
            )
        }
    })
}

/// The gate's findings over the selected kernel features, on the pitfall report's sample of
/// the rows (a column of 2.8 million floats per feature is not needed to score a stump).
fn gate_kernel(ds: &Dataset, mapped: &[MappedColumn], host_column: Option<&str>) -> Vec<gate::Gated> {
    let sample = gate::sample_rows(ds.features.len());
    let malicious: Vec<bool> = sample.iter().map(|&i| ds.malicious[i]).collect();
    let candidates: Vec<Candidate> = mapped
        .iter()
        .map(|m| Candidate {
            column: m.column.clone(),
            feature: m.feature.to_string(),
            values: Values::Numeric(
                sample
                    .iter()
                    .map(|&i| ds.features[i][m.feature_id] as f64)
                    .collect::<Vec<f64>>()
                    .into(),
            ),
        })
        .collect();
    gate::flags(&candidates, &malicious, host_column)
}

/// The kernel-feature run: identifiers and host artefacts out (unless kept), a fit, then the
/// leaky columns that score like that model out and a second fit (unless kept).
fn train_kernel(
    ds: &Dataset,
    mapped: &[MappedColumn],
    gated: &[gate::Gated],
    keep: bool,
    options: &mut TrainOptions,
    file: &str,
    fit: TrainFn,
) -> Result<(Trained, Vec<Flagged>, Vec<Flagged>)> {
    let (mut ids, mut left_out, mut kept) = (Vec::new(), Vec::new(), Vec::new());
    for (m, g) in mapped.iter().zip(gated) {
        match &g.flag {
            Some(f) if !keep => left_out.push(f.clone()),
            Some(f) => {
                kept.push(f.clone());
                ids.push(m.feature_id);
            }
            None => ids.push(m.feature_id),
        }
    }
    let empty = |left_out: &[Flagged]| {
        let why: Vec<String> = left_out
            .iter()
            .map(|f| format!("`{}` ({}): {}", f.column, f.feature, f.reason))
            .collect();
        invalid!(
            "{file}: the pitfall report flags every mapped column, so the default feature set is empty: {}; pass --keep-flagged to train on them anyway",
            why.join("; ")
        )
    };
    if ids.is_empty() {
        return Err(empty(&left_out));
    }
    check_informative(ds, mapped, &ids, file)?;
    options.feature_ids = ids.clone();
    let first = fit(ds, options)?;
    let accuracy = first.report.metrics.accuracy;
    let leaks: Vec<(usize, Flagged)> = mapped
        .iter()
        .zip(gated)
        .filter(|(m, _)| ids.contains(&m.feature_id))
        .filter_map(|(m, g)| {
            g.leak
                .as_ref()
                .and_then(|l| gate::leak_flag(l, accuracy))
                .map(|f| (m.feature_id, f))
        })
        .collect();
    if leaks.is_empty() {
        return Ok((first, left_out, kept));
    }
    if keep {
        kept.extend(leaks.into_iter().map(|(_, f)| f));
        return Ok((first, left_out, kept));
    }
    ids.retain(|id| !leaks.iter().any(|(l, _)| l == id));
    left_out.extend(leaks.into_iter().map(|(_, f)| f));
    if ids.is_empty() {
        return Err(empty(&left_out));
    }
    check_informative(ds, mapped, &ids, file)?;
    options.feature_ids = ids;
    Ok((fit(ds, options)?, left_out, kept))
}

/// Refuses features that cannot teach anything: every one constant over the rows.
fn check_informative(ds: &Dataset, mapped: &[MappedColumn], ids: &[usize], file: &str) -> Result<()> {
    let constant = |f: usize| ds.features.windows(2).all(|w| w[0][f] == w[1][f]);
    if ids.iter().all(|&f| constant(f)) {
        let named: Vec<String> = mapped
            .iter()
            .filter(|m| ids.contains(&m.feature_id))
            .map(|m| {
                format!(
                    "`{}` ({}: always {})",
                    m.column,
                    m.feature,
                    ds.features.first().map_or(0, |x| x[m.feature_id])
                )
            })
            .collect();
        bail!(
            "{file}: every column that maps to a kernel feature is constant after cleaning: {}; nothing to learn from",
            named.join(", ")
        );
    }
    Ok(())
}

/// One training run (see the module comment).
pub fn run(input: Input, opts: &RunOptions) -> Result<RunOutput> {
    run_keeping_rows(input, opts).map(|(out, _)| out)
}

/// [`run`] scoring the run's split only (`other_splits` left empty): the figures `workbench
/// train --split S` reports for S, without the fits of the other splits. The pitfall report's
/// split comparison is one of these per split.
pub fn run_split_only(input: Input, opts: &RunOptions) -> Result<RunOutput> {
    run_rows(input, opts, super::train_split_only).map(|(out, _)| out)
}

/// [`run`], also returning the rows it trained on (resolved features and split in
/// `RunOutput::options`): candidates of other depths are fitted on exactly these
/// (`candidates::fit`).
pub fn run_keeping_rows(input: Input, opts: &RunOptions) -> Result<(RunOutput, Dataset)> {
    run_rows(input, opts, train)
}

/// How a kernel-feature run fits and scores: [`train`], or [`super::train_split_only`].
type TrainFn = fn(&Dataset, &TrainOptions) -> Result<Trained>;

fn run_rows(input: Input, opts: &RunOptions, fit: TrainFn) -> Result<(RunOutput, Dataset)> {
    let at = opts.at.unwrap_or(match input {
        Input::Captures { .. } => At::DecisionPoints,
        Input::Table(_) | Input::Prepared { .. } => At::EndOfFlow,
    });
    let (input, given) = match input {
        Input::Prepared { table, rows } => (Input::Table(table), Some(rows)),
        input => (input, None),
    };
    let spec = opts.features.trim();
    let dataset_features = spec == "dataset";
    // Rows go for missing values in the columns the model reads only (a dataset-feature model
    // reads them all).
    let narrowed = match &input {
        Input::Table(l) if given.is_none() && !dataset_features && at == At::EndOfFlow => {
            // ... and the time column the splits order by.
            prepare::used_columns(l, spec).map(|mut used| {
                used.extend(l.time_column.iter().cloned());
                l.cleaning_only(&used)
            })
        }
        _ => None,
    };
    let input = match (&narrowed, input) {
        (Some(n), Input::Table(_)) => Input::Table(n),
        (_, input) => input,
    };
    let (loaded, kind, sources) = match &input {
        Input::Table(l) | Input::Prepared { table: l, .. } => (Some(*l), Some(l.kind), l.sources.clone()),
        Input::Captures { pcaps, .. } => (
            None,
            None,
            pcaps.iter().map(|p| p.display().to_string()).collect(),
        ),
    };
    if dataset_features && (loaded.is_none() || at == At::DecisionPoints) {
        bail!("--features dataset trains on a table's own columns at the end of the flow; captures and decision points have kernel features only (use --features kernel)");
    }
    let file = sources.join(", ");
    let rows = match given {
        Some(rows) => Ok((*rows, Vec::new())),
        None => kernel_rows(&input, at, if dataset_features { "kernel" } else { spec }, opts),
    };
    let (prepared, labels) = match (rows, loaded) {
        (Ok(p), _) => p,
        // A dataset without kernel counterparts still has its own columns.
        (Err(_), Some(l)) if dataset_features => (dataset_rows(l, opts)?, Vec::new()),
        (Err(e), _) => return Err(e),
    };
    let Prepared { ds, mapped, unmapped } = prepared;
    if at == At::DecisionPoints && ds.features.is_empty() {
        bail!(
            "{}: no flow reaches a decision point with --decide-first {} --decide-every {}",
            sources.join(", "),
            opts.decision.decide_first,
            opts.decision.decide_every
        );
    }
    let host_column = loaded.and_then(|l| l.host_column.as_deref());
    let explicit_list = !dataset_features && spec != "kernel";
    let mut options = opts.train.clone();
    let (left_out, kept_flagged, outcome);
    let split =
        choose::choose(&ds, opts.split, options.test_share, options.seed).map_err(|e| TrainError::In {
            file: file.clone(),
            source: Box::new(e.into()),
        })?;
    options.split = split.split;
    if dataset_features {
        let Some(l) = loaded else {
            bail!("--features dataset needs a table");
        };
        let d = dataset_features::train(l, &ds, &options, opts.keep_flagged)?;
        left_out = d.left_out.clone();
        kept_flagged = d.kept_flagged.clone();
        outcome = Outcome::Dataset(Box::new(d));
    } else {
        let gated = gate_kernel(&ds, &mapped, host_column);
        let (trained, out, kept) = train_kernel(
            &ds,
            &mapped,
            &gated,
            explicit_list || opts.keep_flagged,
            &mut options,
            &file,
            fit,
        )?;
        left_out = out;
        kept_flagged = kept;
        outcome = Outcome::Kernel(Box::new(trained));
    }
    let feature_mapping = if dataset_features {
        Vec::new()
    } else {
        mapped
            .into_iter()
            .filter(|m| options.feature_ids.contains(&m.feature_id))
            .collect()
    };
    let out = RunOutput {
        dataset: kind.map_or("captures".to_string(), |k| k.key().to_string()),
        sources,
        rows: if ds.is_decision_points() {
            ds.features.len()
        } else {
            ds.malicious.len()
        },
        values_at: at,
        values_note: values_note(at, kind, opts.decision),
        split,
        left_out,
        kept_flagged,
        feature_mapping,
        unmapped_columns: unmapped,
        dropped: loaded.map(|l| l.dropped.clone()),
        labels,
        outcome,
        options,
    };
    Ok((out, ds))
}

/// The rows of a dataset with no kernel counterpart, for a dataset-feature run: labels, times,
/// hosts and files without kernel values.
fn dataset_rows(loaded: &LoadedDataset, opts: &RunOptions) -> Result<Prepared> {
    let cleaned = loaded.cleaned()?;
    let malicious = match &opts.positive {
        Some(list) => {
            let positive: Vec<&str> = list.split(',').map(str::trim).collect();
            cleaned
                .class
                .iter()
                .map(|c| positive.contains(&c.as_str()))
                .collect()
        }
        None => cleaned.malicious.clone(),
    };
    let (file, files) = super::prepare::files_in_time_order(&cleaned);
    let (time_ns, untimed) = match cleaned.times_of(0..cleaned.rows()) {
        Some(Ok(ns)) => (ns, None),
        Some(Err(why)) => (Vec::new(), Some(why)),
        None => (Vec::new(), None),
    };
    let ds = Dataset {
        features: Vec::new(),
        malicious,
        class: cleaned.class.clone(),
        time_ns,
        untimed,
        host: cleaned.hosts.clone().unwrap_or_default(),
        file,
        files,
        ..Dataset::default()
    };
    Ok(Prepared {
        ds,
        mapped: Vec::new(),
        unmapped: Vec::new(),
    })
}
