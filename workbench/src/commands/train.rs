//! `workbench train DATA... --model tree|logistic -o MODEL`: load a dataset, map its columns to the
//! probe's features, train under an honest split, compile for the kernel and write the model.

use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::{bail, Result};
use serde::Serialize;
use shared::model::MAX_DEPTH;

use super::print_json;
use workbench_data::dataset::{self, LoadOptions};
use workbench_data::train::{self, prepare, provenance, ModelKind, SplitKind, TrainOptions, TrainReport};
use workbench_flow::model::file;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Dataset files (CSV, Parquet, a CIC-IDS2017 zip or folder, or `workbench features` output).
    #[arg(required = true)]
    pub data: Vec<PathBuf>,
    #[arg(long, value_enum)]
    pub model: ModelKind,
    /// Deepest tree level (the probe walks at most 24).
    #[arg(long, default_value_t = 8)]
    pub max_depth: usize,
    /// `kernel` (every dataset column with a probe counterpart) or a comma list of feature names.
    #[arg(long, default_value = "kernel")]
    pub features: String,
    #[arg(long, value_enum, default_value = "time")]
    pub split: SplitKind,
    /// The label column (detected for known datasets).
    #[arg(long)]
    pub label: Option<String>,
    /// Comma list of labels that count as malicious (default: everything but benign/normal).
    #[arg(long)]
    pub positive: Option<String>,
    /// P(malicious) at or above which a flow is malicious.
    #[arg(long, default_value_t = 0.5, value_parser = crate::argcheck::probability)]
    pub threshold: f64,
    /// L2 regularisation strength of the logistic model (larger: smaller weights).
    #[arg(long, default_value_t = 1.0, value_parser = crate::argcheck::non_negative)]
    pub alpha: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long)]
    pub no_cache: bool,
    /// Directory of the parsed-dataset cache (default $XDG_CACHE_HOME/ebpf-ml-workbench/datasets).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct TrainOutput<'a> {
    model_file: String,
    dataset: String,
    rows: usize,
    /// Rows the cleaning step removed before training, and why.
    dropped: dataset::Dropped,
    /// Dataset columns used, each with the probe feature it feeds.
    feature_mapping: Vec<(String, &'static str)>,
    /// Columns with no kernel counterpart (left out).
    unmapped_columns: Vec<(String, &'static str)>,
    /// Columns cleaning removed (e.g. every value NaN), with the reason.
    dropped_columns: &'a [dataset::DroppedColumn],
    #[serde(flatten)]
    report: &'a TrainReport,
}

pub fn run(args: TrainArgs) -> Result<()> {
    // The depth limits the tree only; a logistic model ignores it.
    if args.model == ModelKind::Tree && (args.max_depth == 0 || args.max_depth > MAX_DEPTH) {
        bail!(
            "--max-depth {} cannot run in the probe: it walks trees of depth 1 to {MAX_DEPTH}",
            args.max_depth
        );
    }
    let loaded = dataset::load(
        &args.data,
        &LoadOptions {
            label: args.label.clone(),
            no_cache: args.no_cache,
            cache_dir: args.cache_dir.clone(),
            ..Default::default()
        },
    )?;
    let prepared = prepare(&loaded, &args.features, args.positive.as_deref())?;
    let rows = prepared.ds.features.len();
    let mapped = &prepared.mapped;
    let ds = prepared.ds;
    let opts = TrainOptions {
        kind: args.model,
        max_depth: args.max_depth,
        feature_ids: mapped.iter().map(|m| m.feature_id).collect(),
        split: args.split,
        seed: args.seed,
        threshold: args.threshold,
        alpha: args.alpha,
        ..TrainOptions::default()
    };
    let trained = train::train(&ds, &opts)?;
    file::write(
        &args.out,
        &trained.model,
        provenance(&loaded, rows, &opts, &trained.report),
    )?;
    let output = TrainOutput {
        model_file: args.out.display().to_string(),
        dataset: format!("{:?}", loaded.kind),
        rows,
        dropped: loaded.dropped.clone(),
        feature_mapping: mapped.iter().map(|m| (m.column.clone(), m.feature)).collect(),
        unmapped_columns: prepared.unmapped,
        dropped_columns: &loaded.dropped.columns,
        report: &trained.report,
    };
    if args.json {
        return print_json(&output);
    }
    let r = &trained.report;
    let m = &r.metrics;
    let auc = match (m.roc_auc, &m.auc_undefined) {
        (Some(a), _) => format!("{a:.3}"),
        (None, Some(why)) => format!("undefined ({why})"),
        (None, None) => "undefined".into(),
    };
    println!(
        "{} model {} on {} rows ({} train / {} test, {:?} split): precision {:.3}, recall {:.3}, F1 {:.3}, ROC-AUC {}",
        serde_json::to_value(r.model_kind)?.as_str().unwrap_or("?"),
        r.model_id,
        rows,
        r.rows_train,
        r.rows_test,
        r.split,
        m.precision,
        m.recall,
        m.f1,
        auc
    );
    for (name, other) in &r.other_splits {
        println!(
            "  under the {name} split: precision {:.3}, recall {:.3}, F1 {:.3}",
            other.precision, other.recall, other.f1
        );
    }
    println!(
        "  integer model agrees with the float model on {:.2}% of test rows (largest score error {:.2e}); written to {}",
        100.0 * r.agreement.share_identical,
        r.agreement.max_score_error,
        args.out.display()
    );
    Ok(())
}
