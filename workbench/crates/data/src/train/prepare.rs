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
    class: &[String],
    malicious: &[bool],
    positive: Option<&str>,
) -> Result<()> {
    let attacks = malicious.iter().filter(|&&m| m).count();
    if attacks > 0 && attacks < malicious.len() {
        return Ok(());
    }
    let mut seen: Vec<&str> = class.iter().map(String::as_str).collect();
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

/// [`prepare`] of a table given up: the same rows, but the table's columns and per-row views are
/// freed as soon as they are converted (the features are then most of the memory, not the
/// table and the features: docs/BENCHMARKS.md, "Training's memory"). Afterwards `loaded`
/// describes the data but holds no rows ([`LoadedDataset::shed_rows`]; a flow table keeps the
/// columns the model file's provenance reads).
pub fn prepare_owned(loaded: &mut LoadedDataset, features: &str, positive: Option<&str>) -> Result<Prepared> {
    // A cache write still running holds the table's columns: they would outlive the conversion.
    crate::dataset::cache::wait_for_writes();
    let mut from_frame = from_frame(loaded, features, false)?;
    // The kept rows' times (and where a kept row has none) while the table still says where
    // each row is.
    let time_ns = kept_times(loaded, from_frame.keep.as_deref());
    loaded.time_ns = None;
    let views = RowViews {
        malicious: std::mem::take(&mut loaded.malicious),
        class: std::mem::take(&mut loaded.class),
        time_ns,
        hosts: loaded.hosts.take(),
        row_source: std::mem::take(&mut loaded.row_source),
    };
    // The provenance's columns stay; the rest of the table is converted and freed column by
    // column.
    let frame = std::mem::take(&mut loaded.frame);
    loaded.frame = frame.clone();
    loaded.shed_rows(&super::columns::PROVENANCE_COLUMNS);
    from_frame.features =
        super::convert_blocks::kernel_values_owned(frame, &from_frame.all, from_frame.keep.as_deref())?;
    let views = views.retain(from_frame.keep.as_deref());
    with_views(loaded, from_frame, views, positive, true)
}

/// The times of the rows `keep` marks (every row with None): see [`LoadedDataset::times_of`].
fn kept_times(
    loaded: &LoadedDataset,
    keep: Option<&[bool]>,
) -> Option<std::result::Result<Vec<i64>, String>> {
    loaded.times_of((0..loaded.rows()).filter(|&i| keep.is_none_or(|k| k[i])))
}

/// A table's per-row views (of the rows the cleaning step keeps, once `retain`ed; the times are
/// the kept rows' from the start).
struct RowViews {
    malicious: Vec<bool>,
    class: Vec<String>,
    /// None: no time column; `Err`: a kept row without a time, named.
    time_ns: Option<std::result::Result<Vec<i64>, String>>,
    hosts: Option<Vec<String>>,
    row_source: Vec<u32>,
}

impl RowViews {
    /// The kept rows' views of a borrowed table (copies).
    fn of(loaded: &LoadedDataset, keep: Option<&[bool]>) -> RowViews {
        fn picked<T: Clone>(v: &[T], pick: impl Fn(usize) -> bool) -> Vec<T> {
            v.iter()
                .enumerate()
                .filter(|(i, _)| pick(*i))
                .map(|(_, x)| x.clone())
                .collect()
        }
        let pick = |i: usize| keep.is_none_or(|k| k[i]);
        RowViews {
            malicious: picked(&loaded.malicious, pick),
            class: picked(&loaded.class, pick),
            time_ns: kept_times(loaded, keep),
            hosts: loaded.hosts.as_deref().map(|h| picked(h, pick)),
            row_source: picked(&loaded.row_source, pick),
        }
    }

    /// Only the rows `keep` marks (all with None), in place.
    fn retain(mut self, keep: Option<&[bool]>) -> RowViews {
        fn kept<T>(v: &mut Vec<T>, keep: &[bool]) {
            let mut i = 0;
            v.retain(|_| {
                i += 1;
                keep.get(i - 1).copied().unwrap_or(false)
            });
        }
        if let Some(k) = keep {
            kept(&mut self.malicious, k);
            kept(&mut self.class, k);
            if let Some(h) = &mut self.hosts {
                kept(h, k);
            }
            kept(&mut self.row_source, k);
        }
        self
    }
}

/// What the rows take from the table's columns: the kept rows, the selected and converted
/// features, and a flow table's own time and initiator columns.
struct FromFrame {
    keep: Option<Vec<bool>>,
    mapped: Vec<MappedColumn>,
    /// Every mapped column (converted: a derived feature reads its inputs whether or not they
    /// were selected).
    all: Vec<MappedColumn>,
    unmapped: Vec<(String, &'static str)>,
    features: Vec<shared::features::FeatureVector>,
    first_seen_ns: Option<Vec<i64>>,
    src_ip: Option<Vec<String>>,
}

/// `convert`: the features converted here (else left empty for the caller to convert).
fn from_frame(loaded: &LoadedDataset, features: &str, convert: bool) -> Result<FromFrame> {
    // The cleaning step before training: rows with NaN/Infinity or no label go (reported under
    // `dropped`); the loaded table keeps them for the Data tab and `inspect`. The kept rows'
    // values are converted where they lie (the table is not copied filtered first).
    let keep = loaded.kept_rows()?;
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
    let features = if convert {
        convert::kernel_values(&loaded.frame, &all, keep.as_deref())?
    } else {
        Vec::new()
    };
    let kept = |i: usize| keep.as_deref().is_none_or(|k| k[i]);
    // Flow tables from `workbench features` carry their time and initiator in these columns.
    let first_seen_ns = match (&loaded.time_ns, loaded.frame.column("first_seen_ns")) {
        (None, Ok(c)) => Some(
            c.cast(&polars::prelude::DataType::Int64)?
                .i64()?
                .into_iter()
                .enumerate()
                .filter(|(i, _)| kept(*i))
                .map(|(_, v)| v.unwrap_or(0))
                .collect(),
        ),
        _ => None,
    };
    let src_ip = match (&loaded.hosts, loaded.frame.column("src_ip")) {
        (None, Ok(c)) => Some(
            c.cast(&polars::prelude::DataType::String)?
                .str()?
                .into_iter()
                .enumerate()
                .filter(|(i, _)| kept(*i))
                .map(|(_, v)| v.unwrap_or("").to_string())
                .collect(),
        ),
        _ => None,
    };
    let unmapped = mapping
        .unmapped
        .iter()
        .map(|u| (u.column.clone(), u.why))
        .collect();
    Ok(FromFrame {
        keep,
        mapped,
        all,
        unmapped,
        features,
        first_seen_ns,
        src_ip,
    })
}

fn prepare_rows(
    loaded: &LoadedDataset,
    features: &str,
    positive: Option<&str>,
    need_both_classes: bool,
) -> Result<Prepared> {
    let from_frame = from_frame(loaded, features, true)?;
    let views = RowViews::of(loaded, from_frame.keep.as_deref());
    with_views(loaded, from_frame, views, positive, need_both_classes)
}

/// The rows from the converted features and the kept rows' views.
fn with_views(
    loaded: &LoadedDataset,
    f: FromFrame,
    views: RowViews,
    positive: Option<&str>,
    need_both_classes: bool,
) -> Result<Prepared> {
    let file = loaded.sources.join(", ");
    let malicious = match &positive {
        Some(list) => {
            let positive: Vec<&str> = list.split(',').map(str::trim).collect();
            views
                .class
                .iter()
                .map(|c| positive.contains(&c.as_str()))
                .collect()
        }
        None => views.malicious,
    };
    if need_both_classes {
        check_two_classes(&file, loaded, &views.class, &malicious, positive)?;
    }
    let (time_ns, untimed) = match views.time_ns {
        Some(Ok(ns)) => (ns, None),
        Some(Err(why)) => (Vec::new(), Some(why)),
        None => (f.first_seen_ns.unwrap_or_default(), None),
    };
    let host = views.hosts.or(f.src_ip).unwrap_or_default();
    let (file, files) = files_of(&loaded.sources, &views.row_source);
    let ds = Dataset {
        features: f.features,
        malicious,
        class: views.class,
        time_ns,
        untimed,
        host,
        file,
        files,
        ..Dataset::default()
    };
    Ok(Prepared {
        ds,
        mapped: f.mapped,
        unmapped: f.unmapped,
    })
}

/// The columns a kernel-feature model on `loaded` reads: those `spec` maps to kernel features (a
/// derived feature's inputs, a packet count its conversion needs). `train`, `eval` and `skew`
/// drop a row for a missing value in these only ([`LoadedDataset::cleaning_only`]); train adds
/// the time column its splits order by. None when `spec` selects nothing (the caller names the
/// error).
pub fn used_columns(loaded: &LoadedDataset, spec: &str) -> Option<Vec<String>> {
    let columns = loaded.column_names();
    let file = loaded.sources.join(", ");
    let label_columns = loaded.label_columns();
    let mapped = select::select(
        spec,
        &select::Columns {
            file: &file,
            kind: loaded.kind,
            columns: &columns,
            label_columns: &label_columns,
            dropped: &loaded.dropped.columns,
        },
    )
    .ok()?;
    Some(mapped.iter().flat_map(|m| m.input_columns(&columns)).collect())
}

/// For the file split: each row's source file as its rank in time, and the files in that order.
pub fn files_in_time_order(loaded: &LoadedDataset) -> (Vec<u32>, Vec<String>) {
    files_of(&loaded.sources, &loaded.row_source)
}

/// [`files_in_time_order`] of rows whose source files are `row_source` (indices in `sources`).
fn files_of(sources: &[String], row_source: &[u32]) -> (Vec<u32>, Vec<String>) {
    let (order, _) = super::files::time_order(sources);
    let mut rank = vec![0u32; sources.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r as u32;
    }
    let file = row_source
        .iter()
        .map(|&s| rank.get(s as usize).copied().unwrap_or(0))
        .collect();
    (file, order.iter().map(|&i| sources[i].clone()).collect())
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
