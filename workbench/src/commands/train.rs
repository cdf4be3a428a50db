//! `workbench train DATA... --model tree|logistic -o MODEL`: load a dataset (or read captures),
//! take its kernel features (or its own columns), leave out what the pitfall report flags, pick
//! the most honest split the data allows, train, compile for the kernel and write the model.
//! The run itself is `workbench_data::train::run` (the TUI's Train tab runs it too).

use std::fmt;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use color_eyre::eyre::{bail, Result};
use serde::Serialize;
use shared::model::MAX_DEPTH;

use crate::output::Output;
use workbench_data::dataset::{self, DatasetKind, LoadOptions};
use workbench_data::train::choose::SplitOption;
use workbench_data::train::columns::{self, ColumnsRead};
use workbench_data::train::dataset_features::DatasetReport;
use workbench_data::train::decision_points::DecisionConfig;
use workbench_data::train::gate::Flagged;
use workbench_data::train::run::{self, At, Input, Outcome, RunOptions, RunOutput};
use workbench_data::train::sample;
use workbench_data::train::{Dataset, Engine, ModelKind, SplitKind, TrainOptions, TrainReport};

/// `--split`: a split, or `auto` (the most honest one the data allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    Auto,
    Random,
    Time,
    Host,
    File,
}

impl SplitArg {
    pub fn kind(self) -> Option<SplitKind> {
        match self {
            SplitArg::Auto => None,
            SplitArg::Random => Some(SplitKind::Random),
            SplitArg::Time => Some(SplitKind::Time),
            SplitArg::Host => Some(SplitKind::Host),
            SplitArg::File => Some(SplitKind::File),
        }
    }
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Dataset files (CSV, Parquet, a CIC-IDS2017 zip or folder, `workbench features` output),
    /// or captures (.pcap/.pcapng, labelled by --labels or the labels-NAME.csv beside each).
    #[arg(required = true)]
    pub data: Vec<PathBuf>,
    /// The model kind: a decision tree or a logistic regression (both run in the probe).
    #[arg(long, value_enum)]
    pub model: ModelKind,
    /// Deepest tree level (the probe walks at most 24).
    #[arg(long, default_value_t = workbench_data::train::TrainOptions::default().max_depth)]
    pub max_depth: usize,
    /// `kernel` (every dataset column with a probe counterpart, minus what the pitfall report
    /// flags), `dataset` (the dataset's own columns: a model for comparison that the kernel
    /// cannot run) or a comma list of kernel feature names.
    #[arg(long, default_value = "kernel")]
    pub features: String,
    /// Keep the columns the pitfall report flags (ports, TTL, TCP window, a column that alone
    /// scores like a model), which the default feature set leaves out.
    #[arg(long)]
    pub keep_flagged: bool,
    /// The split; `auto` picks the most honest one the data allows (time, host, file, random)
    /// and says why.
    #[arg(long, value_enum, default_value = "auto")]
    pub split: SplitArg,
    /// Where the training values are taken: `end-of-flow` (one row per flow, what public
    /// datasets hold; the default for tables) or `decision-points` (one sample per decision
    /// point of the probe per flow; the default for captures; tables must come from `workbench
    /// features --every-packet`).
    #[arg(long, value_enum)]
    pub at: Option<At>,
    /// Labels of the captures (rules .toml, a CIC-IDS2017 CSV or a generator labels file);
    /// default: labels-NAME.csv beside each capture.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Decision points: packets 1-N of each flow ...
    #[arg(long, value_name = "N")]
    pub decide_first: Option<u32>,
    /// ... then every M-th packet (0: never again).
    #[arg(long, value_name = "M")]
    pub decide_every: Option<u32>,
    /// Which library fits the model: `fit` (the default, faster) or `linfa`.
    #[arg(long, value_enum, default_value = "fit")]
    pub engine: Engine,
    /// The label column (detected for known datasets).
    #[arg(long)]
    pub label: Option<String>,
    /// Read the tables as this dataset kind instead of detecting it (as `inspect --kind`).
    #[arg(long, value_enum)]
    pub kind: Option<DatasetKind>,
    /// Also drop exact duplicate rows while cleaning, as `inspect --drop-duplicates` does.
    /// Duplicates are judged over every column, so every column is read (more memory).
    #[arg(long)]
    pub drop_duplicates: bool,
    /// Comma list of labels that count as malicious (default: everything but benign/normal).
    #[arg(long)]
    pub positive: Option<String>,
    /// P(malicious) at or above which a flow is malicious.
    #[arg(long, default_value_t = 0.5, value_parser = crate::argcheck::probability)]
    pub threshold: f64,
    /// L2 regularisation strength of the logistic model (larger: smaller weights).
    #[arg(long, default_value_t = 1.0, value_parser = crate::argcheck::non_negative)]
    pub alpha: f64,
    /// Seed of the split and the fit (the same seed, the same model).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Neither read nor write the parsed-dataset cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Directory of the parsed-dataset cache (default $XDG_CACHE_HOME/ebpf-ml-workbench/datasets).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Write the model even when a side of the split holds one class only (its precision,
    /// recall and F1 then measure the split, not the model).
    #[arg(long)]
    pub allow_one_class_split: bool,
    /// Train on a random sample of N of the table's loaded rows (seeded by --seed), as the
    /// pitfall report's split comparison does on a larger table: its `reproduce` lines say so.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub sample_rows: Option<u64>,
    /// Also fit one candidate tree per depth in this comma list (same rows, features and split)
    /// and show each one's F1 next to its kernel cost per packet, measured on this machine with
    /// BPF_PROG_TEST_RUN (needs CAP_BPF; otherwise the cost is null with the reason).
    #[arg(long, value_name = "D,D,...")]
    pub cost_depths: Option<String>,
    /// The model file to write.
    #[arg(short = 'o', long = "out", value_name = "MODEL")]
    pub out: PathBuf,
    #[command(flatten)]
    pub output: Output,
}

/// The report of either model.
#[derive(Serialize)]
#[serde(untagged)]
enum Report<'a> {
    Kernel(&'a TrainReport),
    Dataset(&'a DatasetReport),
}

#[derive(Serialize)]
struct TrainOutput<'a> {
    model_file: String,
    dataset: &'a str,
    rows: usize,
    /// `end_of_flow` or `decision_points`.
    values_at: At,
    /// What the values are, in words (end-of-flow values: see `workbench skew`).
    values_note: &'a str,
    /// Why this split (the most honest one the data allows, unless asked for).
    split_reason: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    splits_considered: &'a [SplitOption],
    /// Columns the default feature set leaves out, because the pitfall report flags them.
    left_out: &'a [Flagged],
    /// Flagged columns kept (`--keep-flagged`, or named with `--features LIST`).
    kept_flagged: &'a [Flagged],
    deployable: bool,
    /// Rows the cleaning step removed before training, and why (tables).
    #[serde(skip_serializing_if = "Option::is_none")]
    dropped: Option<&'a dataset::Dropped>,
    /// Dataset columns used, each with the probe feature it feeds, its unit conversion and how
    /// the value still differs from the probe's.
    feature_mapping: &'a [workbench_data::dataset::kernel_map::MappedColumn],
    /// Columns with no kernel counterpart (left out), with why.
    unmapped_columns: &'a [(String, &'static str)],
    /// Columns cleaning removed (e.g. every value NaN), with the reason.
    dropped_columns: &'a [dataset::DroppedColumn],
    /// Captures: what each labels file matched.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    labels: &'a [workbench_data::features::labels::LabelReport],
    #[serde(flatten)]
    report: Report<'a>,
    /// `--cost-depths`: `candidates` and their cost's keys.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    cost: Option<&'a super::train_cost::CandidatesReport>,
    /// `--sample-rows`: the sample trained on, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    sample: Option<String>,
    /// Tables: which columns were read into memory, and the process's peak memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    memory: Option<Memory>,
    #[serde(skip)]
    run: &'a RunOutput,
}

/// `memory` in `train --json`.
#[derive(Serialize)]
struct Memory {
    #[serde(flatten)]
    columns: ColumnsRead,
    /// The largest resident memory of this process so far (VmHWM), None where unknown.
    peak_rss_bytes: Option<u64>,
}

impl fmt::Display for TrainOutput<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        print_human(&self.model_file, self.run, f)?;
        if let Some(sample) = &self.sample {
            writeln!(f, "  trained and tested on {sample}")?;
        }
        match self.cost {
            Some(c) => write!(f, "{c}"),
            None => Ok(()),
        }
    }
}

/// A capture by its name or, whatever it is called (`x.cap`, `dump`), by its first bytes.
fn is_capture(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("pcap") || e.eq_ignore_ascii_case("pcapng"))
        || dataset::sniff::capture_format_of(p).is_some()
}

fn check(args: &TrainArgs) -> Result<()> {
    // The depth limits the tree only; a logistic model ignores it.
    if args.model == ModelKind::Tree && (args.max_depth == 0 || args.max_depth > MAX_DEPTH) {
        bail!(
            "--max-depth {} cannot run in the probe: it walks trees of depth 1 to {MAX_DEPTH}; give --max-depth 1 to {MAX_DEPTH}",
            args.max_depth
        );
    }
    let captures = args.data.iter().filter(|p| is_capture(p)).count();
    if captures > 0 && captures < args.data.len() {
        bail!("give captures or tables, not both (captures: .pcap/.pcapng; make a table of them with `workbench features`)");
    }
    if let Some(list) = &args.cost_depths {
        workbench_data::train::candidates::parse_depths(list)?;
    }
    if captures > 0 && args.sample_rows.is_some() {
        bail!("--sample-rows samples a table's rows; captures are read whole (make a table of them with `workbench features`)");
    }
    if captures > 0 && (args.kind.is_some() || args.drop_duplicates) {
        bail!(
            "--kind and --drop-duplicates are for tables; captures are read by `workbench features`'s rules"
        );
    }
    if captures == 0 && args.labels.is_some() {
        bail!("--labels labels captures; a table carries its own label column (see --label)");
    }
    Ok(())
}

pub fn run(args: TrainArgs) -> Result<()> {
    check(&args)?;
    let defaults = DecisionConfig::default();
    let opts = RunOptions {
        features: args.features.clone(),
        keep_flagged: args.keep_flagged,
        split: args.split.kind(),
        at: args.at,
        decision: DecisionConfig {
            decide_first: args.decide_first.unwrap_or(defaults.decide_first),
            decide_every: args.decide_every.unwrap_or(defaults.decide_every),
        },
        positive: args.positive.clone(),
        train: TrainOptions {
            kind: args.model,
            max_depth: args.max_depth,
            seed: args.seed,
            threshold: args.threshold,
            alpha: args.alpha,
            engine: args.engine,
            ..TrainOptions::default()
        },
    };
    let depths = match &args.cost_depths {
        Some(list) => Some(workbench_data::train::candidates::parse_depths(list)?),
        None => None,
    };
    // The rows are kept only when candidates are fitted on them after the run.
    let run_it = |input: Input| -> Result<(RunOutput, Option<Dataset>)> {
        Ok(if depths.is_some() {
            let (out, ds) = run::run_keeping_rows(input, &opts)?;
            (out, Some(ds))
        } else {
            (run::run(input, &opts)?, None)
        })
    };
    let table;
    let mut sampled = None;
    let mut columns_read = None;
    let ((mut output, rows), loaded) = if args.data.iter().all(|p| is_capture(p)) {
        let input = Input::Captures {
            pcaps: &args.data,
            labels: args.labels.as_deref(),
            cic: Default::default(),
        };
        (run_it(input)?, None)
    } else {
        // Only the columns a kernel-feature model reads at the end of the flow (a dataset-feature
        // model reads them all, a decision-point table its own bookkeeping columns too).
        // Duplicates are rows equal in every column: judged on fewer, more rows would go.
        let projected =
            args.features.trim() != "dataset" && args.at != Some(At::DecisionPoints) && !args.drop_duplicates;
        let (loaded, read) = columns::load(
            &args.data,
            &LoadOptions {
                label: args.label.clone(),
                kind: args.kind,
                drop_duplicates: args.drop_duplicates,
                no_cache: args.no_cache,
                cache_dir: args.cache_dir.clone(),
                ..Default::default()
            },
            projected,
        )?;
        columns_read = Some((read, projected));
        let chosen = match args.sample_rows {
            Some(n) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                match sample::sample_rows(&loaded, n, args.seed)? {
                    Some(s) => {
                        sampled = Some(sample::sample_words(n, loaded.rows(), args.seed));
                        // The whole table is not needed beside its sample.
                        drop(loaded);
                        s
                    }
                    None => loaded,
                }
            }
            None => loaded,
        };
        // Projected, the run is given the rows and not the table: its columns are freed once
        // converted, so the features are not held beside the table.
        let rows = if projected {
            let (described, rows) = columns::prepare_table(chosen, &opts)?;
            table = described;
            Some(Box::new(rows))
        } else {
            table = chosen;
            None
        };
        let input = match rows {
            Some(rows) => Input::Prepared { table: &table, rows },
            None => Input::Table(&table),
        };
        let ran = run_it(input)?;
        columns::stage("fitted and scored");
        (ran, Some(&table))
    };
    if let (Some((read, true)), Some(l), true) = (&columns_read, loaded, output.deployable()) {
        // The columns not read have no kernel counterpart either: listed as a full load lists them.
        output.unmapped_columns = read.unmapped(l);
    }
    refuse_one_class_split(&output, &args)?;
    let mut provenance = output.provenance(loaded);
    if let (Some(words), serde_json::Value::Object(m)) = (&sampled, &mut provenance) {
        m.insert("sample".into(), serde_json::json!(words));
    }
    output.write(&args.out, provenance)?;
    let cost = match (&depths, &rows, output.deployable()) {
        (Some(depths), Some(ds), true) => Some(super::train_cost::candidates(ds, &output.options, depths)?),
        (Some(_), _, _) => Some(super::train_cost::not_deployable()),
        _ => None,
    };
    drop(rows);
    let mut doc = json_output(&args.out, &output, loaded);
    doc.cost = cost.as_ref();
    doc.sample = sampled;
    doc.memory = columns_read.map(|(read, _)| Memory {
        columns: read,
        peak_rss_bytes: columns::peak_rss_bytes(),
    });
    args.output.emit(&doc)
}

/// A split with one class on a side scores nothing: no model unless asked, with the split that
/// would work (or what the data lacks).
fn refuse_one_class_split(o: &RunOutput, args: &TrainArgs) -> Result<()> {
    let (Some(why), false) = (&o.split.one_class_side, args.allow_one_class_split) else {
        return Ok(());
    };
    let split = o.split.split.name();
    let fix = workbench_data::train::choose::use_instead(&o.split.would_work, o.split.automatic);
    bail!(
        "no model written to {}: under the {split} split {why}, so its precision, recall and F1 would measure the split, not the model; {fix}, or give --allow-one-class-split to write it anyway",
        args.out.display()
    )
}

fn json_output<'a>(
    out: &Path,
    o: &'a RunOutput,
    loaded: Option<&'a dataset::LoadedDataset>,
) -> TrainOutput<'a> {
    TrainOutput {
        model_file: out.display().to_string(),
        dataset: &o.dataset,
        rows: o.rows,
        values_at: o.values_at,
        values_note: &o.values_note,
        split_reason: &o.split.reason,
        splits_considered: &o.split.considered,
        left_out: &o.left_out,
        kept_flagged: &o.kept_flagged,
        deployable: o.deployable(),
        dropped: o.dropped.as_ref(),
        feature_mapping: &o.feature_mapping,
        unmapped_columns: &o.unmapped_columns,
        dropped_columns: loaded.map_or(&[], |l| &l.dropped.columns),
        labels: &o.labels,
        report: match &o.outcome {
            Outcome::Kernel(t) => Report::Kernel(&t.report),
            Outcome::Dataset(d) => Report::Dataset(&d.report),
        },
        cost: None,
        sample: None,
        memory: None,
        run: o,
    }
}

fn auc(m: &workbench_data::train::metrics::Metrics) -> String {
    match (m.roc_auc, &m.auc_undefined) {
        (Some(a), _) => format!("{a:.3}"),
        (None, Some(why)) => format!("undefined ({why})"),
        (None, None) => "undefined".into(),
    }
}

/// The run in words: the figures under the chosen split, what was left out and why, the
/// other splits, the decision points, and where the model went.
fn print_human(out: &str, o: &RunOutput, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let (kind, id, rows_train, rows_test, metrics, others, unavailable) = match &o.outcome {
        Outcome::Kernel(t) => {
            let r = &t.report;
            (
                r.model_kind,
                &r.model_id,
                r.rows_train,
                r.rows_test,
                &r.metrics,
                &r.other_splits,
                &r.splits_unavailable,
            )
        }
        Outcome::Dataset(d) => {
            let r = &d.report;
            (
                r.model_kind,
                &r.model_id,
                r.rows_train,
                r.rows_test,
                &r.metrics,
                &r.other_splits,
                &r.splits_unavailable,
            )
        }
    };
    let kind = match kind {
        ModelKind::Tree => "tree",
        ModelKind::Logistic => "logistic",
    };
    let per_flow = if o.values_at == At::DecisionPoints {
        " (per flow, at its last decision point)"
    } else {
        ""
    };
    writeln!(
        f,
        "{kind} model {id} on {} {} ({rows_train} train / {rows_test} test, {} split){per_flow}: precision {}, recall {}, F1 {}, false positive rate {}, ROC-AUC {}",
        o.rows,
        if o.values_at == At::DecisionPoints { "samples" } else { "rows" },
        o.options.split.name(),
        metrics.shown("precision", metrics.precision),
        metrics.shown("recall", metrics.recall),
        metrics.shown("f1", metrics.f1),
        metrics.shown("false_positive_rate", metrics.false_positive_rate),
        auc(metrics)
    )?;
    if let Some(why) = metrics.one_class() {
        writeln!(f, "  undefined figures: {why}")?;
    }
    if let Some(dropped) = o
        .dropped
        .as_ref()
        .and_then(workbench_data::dataset::Dropped::summary)
    {
        writeln!(f, "  {dropped}")?;
    }
    writeln!(f, "  split: {}", o.split.reason)?;
    if !o.left_out.is_empty() {
        writeln!(
            f,
            "  left out, because the pitfall report flags them (--keep-flagged keeps them):"
        )?;
        for flagged in &o.left_out {
            writeln!(
                f,
                "    {} ({}): {}",
                flagged.column, flagged.feature, flagged.reason
            )?;
        }
    }
    for flagged in &o.kept_flagged {
        writeln!(
            f,
            "  kept although flagged: {} ({}): {}",
            flagged.column, flagged.feature, flagged.reason
        )?;
    }
    for (name, other) in others {
        writeln!(
            f,
            "  under the {name} split: precision {}, recall {}, F1 {}",
            other.shown("precision", other.precision),
            other.shown("recall", other.recall),
            other.shown("f1", other.f1)
        )?;
    }
    for (name, why) in unavailable {
        writeln!(f, "  no {name} split: {why}")?;
    }
    writeln!(f, "  values: {}", o.values_note)?;
    match &o.outcome {
        Outcome::Kernel(t) => {
            let r = &t.report;
            if let Some(d) = &r.decision_points {
                writeln!(
                    f,
                    "  decision points: {} test flows ({} samples); per decision F1 {:.3}; ever flagged: F1 {:.3}, {:.1}% of benign flows",
                    d.flows_test,
                    d.samples_test,
                    d.per_decision.f1,
                    d.ever_flagged.f1,
                    100.0 * d.benign_ever_flagged_share
                )?;
                for (class, t) in &d.time_to_detect {
                    writeln!(
                        f,
                        "  time to detect {class}: {}/{} flows flagged; packet median {} p90 {}; after {} (median), {} (p90)",
                        t.detected,
                        t.flows,
                        t.packet_median.map_or("-".into(), |v| v.to_string()),
                        t.packet_p90.map_or("-".into(), |v| v.to_string()),
                        t.elapsed_us_median.map_or("-".into(), duration),
                        t.elapsed_us_p90.map_or("-".into(), duration),
                    )?;
                }
            }
            if let Some(e) = &r.engine_agreement {
                writeln!(
                    f,
                    "  engine {}: decides like the {} engine on {}/{} test rows ({:.2}%); F1 {:.3} vs {:.3}{}",
                    r.engine.name(),
                    e.other_engine.name(),
                    e.identical_decisions,
                    e.rows,
                    100.0 * e.share_identical,
                    e.f1,
                    e.other_f1,
                    e.note.as_ref().map_or(String::new(), |n| format!(" ({n})"))
                )?;
            }
            writeln!(
                f,
                "  integer model agrees with the float model on {:.2}% of test rows (largest score error {:.2e}); written to {}",
                100.0 * r.agreement.share_identical,
                r.agreement.max_score_error,
                out
            )?;
        }
        Outcome::Dataset(d) => {
            writeln!(
                f,
                "  {} inputs from the dataset's own columns; not deployable: {}; written to {}",
                d.report.features.len(),
                d.report.not_deployable,
                out
            )?;
        }
    }
    Ok(())
}

/// Microseconds in a readable unit.
fn duration(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{:.1} s", us as f64 / 1e6)
    } else if us >= 1_000 {
        format!("{:.1} ms", us as f64 / 1e3)
    } else {
        format!("{us} us")
    }
}
