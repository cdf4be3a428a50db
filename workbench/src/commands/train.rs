//! `workbench train DATA... --model tree|logistic -o MODEL`: load a dataset, map its columns to the
//! probe's features, train under an honest split, compile for the kernel and write the model.

use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::{bail, Result};
use serde::Serialize;
use shared::features::{FeatureVector, FEATURES, FEATURE_COUNT};
use shared::model::MAX_DEPTH;

use super::print_json;
use crate::data::{self, kernel_map::kernel_mapping, kernel_map::MappedColumn, LoadOptions, LoadedDataset};
use crate::model::file;
use crate::train::{self, select, Dataset, ModelKind, SplitKind, TrainOptions, TrainReport};

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
    dropped: data::Dropped,
    /// Dataset columns used, each with the probe feature it feeds.
    feature_mapping: Vec<(String, &'static str)>,
    /// Columns with no kernel counterpart (left out).
    unmapped_columns: Vec<(String, &'static str)>,
    /// Columns cleaning removed (e.g. every value NaN), with the reason.
    dropped_columns: &'a [data::DroppedColumn],
    #[serde(flatten)]
    report: &'a TrainReport,
}

/// CIC-IDS2017 gives standard deviations where the probe keeps variances: square them.
fn to_feature_value(feature: usize, column: &str, v: f64) -> i64 {
    let v = if FEATURES[feature].unit == "bytes^2" && column.to_ascii_lowercase().contains("std") {
        v * v
    } else {
        v
    };
    if v.is_finite() {
        v.round().clamp(0.0, i64::MAX as f64) as i64
    } else {
        0
    }
}

/// A detector needs malicious and benign rows: say which column held one class only, and what it
/// held, before any split is made.
fn check_two_classes(
    file: &str,
    loaded: &data::LoadedDataset,
    malicious: &[bool],
    positive: Option<&str>,
) -> Result<()> {
    let attacks = malicious.iter().filter(|&&m| m).count();
    if attacks > 0 && attacks < malicious.len() {
        return Ok(());
    }
    let mut seen: Vec<&str> = loaded.class.iter().map(String::as_str).collect();
    seen.sort_unstable();
    seen.dedup();
    let shown = seen.iter().take(5).copied().collect::<Vec<_>>().join(", ");
    let hint = match positive {
        Some(p) => format!(
            "--positive {p} matched {} of them",
            if attacks == 0 { "none" } else { "all" }
        ),
        None => "pass --positive LABELS to say which labels are malicious".to_string(),
    };
    bail!(
        "{file}: label column `{}` has one class only: all {} rows are {} (labels: {shown}); a \
         detector needs malicious and benign rows ({hint})",
        loaded.label_column,
        malicious.len(),
        if attacks == 0 { "benign" } else { "malicious" },
    )
}

/// The rows of a loaded dataset as kernel features, ready for `train::train`: the columns with a
/// probe counterpart (all of them for `features == "kernel"`, else the comma list), labels
/// (`positive`: the classes counted as malicious) and the time and host of each row for the
/// honest splits. `workbench train` and the TUI's Train tab both go through here.
pub fn prepare(loaded: &LoadedDataset, features: &str, positive: Option<&str>) -> Result<Prepared> {
    // The cleaning step before training: rows with NaN/Infinity or no label go (reported under
    // `dropped`); the loaded table keeps them for the Data tab and `inspect`.
    let loaded = &loaded.cleaned()?;
    let columns = loaded.column_names();
    let file = loaded.sources.join(", ");
    let mut label_columns = vec![loaded.label_column.as_str()];
    label_columns.extend(loaded.class_column.as_deref());
    let mapped = select::select(
        features,
        &select::Columns {
            file: &file,
            columns: &columns,
            label_columns: &label_columns,
            dropped: &loaded.dropped.columns,
        },
    )?;
    let mapping = kernel_mapping(&columns);

    let rows = loaded.frame.height();
    let mut features = vec![[0i64; FEATURE_COUNT] as FeatureVector; rows];
    for m in &mapped {
        let col = loaded
            .frame
            .column(&m.column)?
            .cast(&polars::prelude::DataType::Float64)?;
        let values = col.f64()?;
        for (r, v) in values.into_iter().enumerate() {
            features[r][m.feature_id] = to_feature_value(m.feature_id, &m.column, v.unwrap_or(0.0));
        }
    }
    let malicious = match &positive {
        Some(list) => {
            let positive: Vec<&str> = list.split(',').map(str::trim).collect();
            loaded
                .class
                .iter()
                .map(|c| positive.contains(&c.as_str()))
                .collect()
        }
        None => loaded.malicious.clone(),
    };
    check_two_classes(&file, loaded, &malicious, positive)?;
    // Flow tables from `workbench features` carry their time and initiator in these columns.
    let time_ns = match &loaded.time_ns {
        Some(t) => t.clone(),
        None => match loaded.frame.column("first_seen_ns") {
            Ok(c) => c
                .cast(&polars::prelude::DataType::Int64)?
                .i64()?
                .into_iter()
                .map(|v| v.unwrap_or(0))
                .collect(),
            Err(_) => Vec::new(),
        },
    };
    let host = match &loaded.hosts {
        Some(h) => h.clone(),
        None => match loaded.frame.column("src_ip") {
            Ok(c) => c
                .cast(&polars::prelude::DataType::String)?
                .str()?
                .into_iter()
                .map(|v| v.unwrap_or("").to_string())
                .collect(),
            Err(_) => Vec::new(),
        },
    };
    let ds = Dataset {
        features,
        malicious,
        class: loaded.class.clone(),
        time_ns,
        host,
    };
    let unmapped = mapping
        .unmapped
        .iter()
        .map(|u| (u.column.clone(), u.why))
        .collect();
    Ok(Prepared { ds, mapped, unmapped })
}

/// What `prepare` made of a dataset.
pub struct Prepared {
    pub ds: Dataset,
    /// Dataset columns used, one per kernel feature, in feature order.
    pub mapped: Vec<MappedColumn>,
    /// Columns with no kernel counterpart, and why.
    pub unmapped: Vec<(String, &'static str)>,
}

/// The provenance stored in the model file.
pub fn provenance(
    loaded: &LoadedDataset,
    rows: usize,
    opts: &TrainOptions,
    report: &TrainReport,
) -> serde_json::Value {
    serde_json::json!({
        "sources": loaded.sources,
        "dataset_kind": format!("{:?}", loaded.kind),
        "rows": rows,
        "split": opts.split,
        "seed": opts.seed,
        "max_depth": opts.max_depth,
        "alpha": opts.alpha,
        "threshold": opts.threshold,
        "metrics": report.metrics,
        "agreement": report.agreement,
    })
}

pub fn run(args: TrainArgs) -> Result<()> {
    // The depth limits the tree only; a logistic model ignores it.
    if args.model == ModelKind::Tree && (args.max_depth == 0 || args.max_depth > MAX_DEPTH) {
        bail!(
            "--max-depth {} cannot run in the probe: it walks trees of depth 1 to {MAX_DEPTH}",
            args.max_depth
        );
    }
    let loaded = data::load(
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
