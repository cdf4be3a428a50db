//! `workbench train DATA... --model tree|logistic -o MODEL`: load a dataset, map its columns to the
//! probe's features, train under an honest split, compile for the kernel and write the model.

use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::{bail, Result};
use serde::Serialize;
use shared::features::{FeatureVector, FEATURES, FEATURE_COUNT};
use shared::model::MAX_DEPTH;

use super::print_json;
use crate::data::{self, kernel_map::kernel_mapping, LoadOptions};
use crate::model::file;
use crate::train::{self, Dataset, ModelKind, SplitKind, TrainOptions, TrainReport};

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
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long)]
    pub no_cache: bool,
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

pub fn run(args: TrainArgs) -> Result<()> {
    if args.max_depth == 0 || args.max_depth > MAX_DEPTH {
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
            ..Default::default()
        },
    )?;
    // The cleaning step before training: rows with NaN/Infinity or no label go (`dropped`).
    let dropped = loaded.dropped.clone();
    let loaded = loaded.cleaned()?;
    let columns: Vec<String> = loaded
        .frame
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let mapping = kernel_mapping(&columns);
    let mut mapped = mapping.mapped.clone();
    mapped.retain(|m| m.column != loaded.label_column && Some(&m.column) != loaded.class_column.as_ref());
    if args.features != "kernel" {
        let wanted: Vec<&str> = args
            .features
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let missing: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|w| !mapped.iter().any(|m| m.feature == *w || m.column == *w))
            .collect();
        if !missing.is_empty() {
            bail!(
                "these features have no kernel counterpart in this dataset (the probe could not compute them): {}",
                missing.join(", ")
            );
        }
        mapped.retain(|m| wanted.contains(&m.feature) || wanted.contains(&m.column.as_str()));
    }
    mapped.sort_by_key(|m| m.feature_id);
    mapped.dedup_by_key(|m| m.feature_id);
    if mapped.is_empty() {
        bail!(
            "no column of {} maps to a kernel feature; see `workbench inspect` for the mapping table",
            args.data[0].display()
        );
    }

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
    let malicious = match &args.positive {
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
    let opts = TrainOptions {
        kind: args.model,
        max_depth: args.max_depth,
        feature_ids: mapped.iter().map(|m| m.feature_id).collect(),
        split: args.split,
        seed: args.seed,
        threshold: args.threshold,
        ..TrainOptions::default()
    };
    let trained = train::train(&ds, &opts)?;
    let provenance = serde_json::json!({
        "sources": loaded.sources,
        "dataset_kind": format!("{:?}", loaded.kind),
        "rows": rows,
        "split": args.split,
        "seed": args.seed,
        "max_depth": args.max_depth,
        "threshold": args.threshold,
        "metrics": trained.report.metrics,
        "agreement": trained.report.agreement,
    });
    file::write(&args.out, &trained.model, provenance)?;
    let output = TrainOutput {
        model_file: args.out.display().to_string(),
        dataset: format!("{:?}", loaded.kind),
        rows,
        dropped,
        feature_mapping: mapped.iter().map(|m| (m.column.clone(), m.feature)).collect(),
        unmapped_columns: mapping
            .unmapped
            .iter()
            .map(|u| (u.column.clone(), u.why))
            .collect(),
        report: &trained.report,
    };
    if args.json {
        return print_json(&output);
    }
    let r = &trained.report;
    let m = &r.metrics;
    println!(
        "{} model {} on {} rows ({} train / {} test, {:?} split): precision {:.3}, recall {:.3}, F1 {:.3}, ROC-AUC {:.3}",
        serde_json::to_value(r.model_kind)?.as_str().unwrap_or("?"),
        r.model_id,
        rows,
        r.rows_train,
        r.rows_test,
        r.split,
        m.precision,
        m.recall,
        m.f1,
        m.roc_auc
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
