//! From a loaded dataset to the rows `train::train` takes: each column with a probe counterpart
//! becomes its kernel feature (`workbench train` and the TUI's Train tab both go through here, so
//! there is one conversion from dataset columns to kernel features), and the provenance a model
//! file records.

use color_eyre::eyre::{bail, Result};
use shared::features::{FeatureVector, FEATURES, FEATURE_COUNT};

use super::{select, Dataset, TrainOptions, TrainReport};
use crate::dataset::{kernel_map::kernel_mapping, kernel_map::MappedColumn, LoadedDataset};

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
    loaded: &LoadedDataset,
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
    prepare_rows(loaded, features, positive, true)
}

/// [`prepare`] for scoring a model (`workbench eval`, `workbench skew`): the same conversion,
/// but data of one class is accepted (an all-benign capture set is a fair test of false
/// positives); the metrics that need both classes then say why they are missing.
pub fn prepare_for_scoring(
    loaded: &LoadedDataset,
    features: &str,
    positive: Option<&str>,
) -> Result<Prepared> {
    prepare_rows(loaded, features, positive, false)
}

fn prepare_rows(
    loaded: &LoadedDataset,
    features: &str,
    positive: Option<&str>,
    need_both_classes: bool,
) -> Result<Prepared> {
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
    if need_both_classes {
        check_two_classes(&file, loaded, &malicious, positive)?;
    }
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
        (workbench_flow::model::file::TRAINING_QUANTILES_KEY):
            super::quantiles::with_origin(report.training_quantiles.clone(), loaded),
    })
}
