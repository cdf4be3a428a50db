//! From a loaded dataset to the rows `train::train` takes: each column with a probe counterpart
//! becomes its kernel feature (`workbench train` and the TUI's Train tab both go through here, so
//! there is one conversion from dataset columns to kernel features), and the provenance a model
//! file records.

use super::{bail, Result};

use super::{convert, select, Dataset, TrainOptions, TrainReport};
use crate::dataset::{kernel_map::kernel_mapping_for, kernel_map::MappedColumn, LoadedDataset};

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
    let label_columns = loaded.label_columns();
    let select_columns = select::Columns {
        file: &file,
        kind: loaded.kind,
        columns: &columns,
        label_columns: &label_columns,
        dropped: &loaded.dropped.columns,
    };
    let mapped = select::select(features, &select_columns)?;
    let mapping = kernel_mapping_for(loaded.kind, &columns);
    // Every mapped column is converted (a derived feature reads its inputs whether or not they
    // were selected); the model reads the selected ones.
    let all = select::select("kernel", &select_columns)?;
    let features = convert::kernel_values(&loaded.frame, &all)?;
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
    let (file, files) = files_in_time_order(loaded);
    let ds = Dataset {
        features,
        malicious,
        class: loaded.class.clone(),
        time_ns,
        host,
        file,
        files,
        ..Dataset::default()
    };
    let unmapped = mapping
        .unmapped
        .iter()
        .map(|u| (u.column.clone(), u.why))
        .collect();
    Ok(Prepared { ds, mapped, unmapped })
}

/// For the file split: each row's source file as its rank in time, and the files in that order.
pub fn files_in_time_order(loaded: &LoadedDataset) -> (Vec<u32>, Vec<String>) {
    let (order, _) = super::files::time_order(&loaded.sources);
    let mut rank = vec![0u32; loaded.sources.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r as u32;
    }
    let file = loaded
        .row_source
        .iter()
        .map(|&s| rank.get(s as usize).copied().unwrap_or(0))
        .collect();
    (file, order.iter().map(|&i| loaded.sources[i].clone()).collect())
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
        "dataset_kind": loaded.kind.key(),
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
