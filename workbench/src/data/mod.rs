//! Loading intrusion-detection datasets into one typed, cleaned table.
//!
//! Every public dataset has its own damage: CIC-IDS2017 writes header names with leading spaces,
//! repeats `Fwd Header Length`, writes `Infinity` and `NaN`, and spells a dash in its Web Attack
//! labels with a byte that is not UTF-8; UNSW-NB15's raw files and NSL-KDD have no header at all.
//! The loader recognises each layout (and says why), reads every file as text first so that no
//! type guess can fail half-way through 2.8 million rows, then types and cleans the columns in one
//! reported step: nothing is dropped silently.

pub mod cache;
pub mod clean;
pub mod detect;
pub mod kernel_map;
pub mod parquet_check;
pub mod source;
pub mod time;

use std::path::PathBuf;
use std::time::Instant;

use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

pub use detect::DatasetKind;
pub use kernel_map::{kernel_mapping, KernelMapping};

/// A load failure: always names the file (and line where one is known).
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("{0}")]
    Other(String),
}

impl DataError {
    pub fn file(file: impl Into<String>, message: impl Into<String>) -> Self {
        DataError::File {
            file: file.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The label column; found by name (label, class, target, ...) when not given.
    pub label: Option<String>,
    /// Skip detection and read the files as this kind.
    pub kind: Option<DatasetKind>,
    /// Also drop exact duplicate rows (reported like every other drop).
    pub drop_duplicates: bool,
    /// Neither read nor write the Parquet cache.
    pub no_cache: bool,
    /// Cache directory; default `$XDG_CACHE_HOME/ebpf-ml-workbench/datasets`.
    pub cache_dir: Option<PathBuf>,
}

/// Rows or columns removed by cleaning, and why.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Dropped {
    /// Data rows in the files before cleaning.
    pub rows_read: usize,
    pub rows_dropped: usize,
    pub rows_by_reason: Vec<DropReason>,
    pub columns: Vec<DroppedColumn>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DropReason {
    /// `nan_or_infinity`, `unparseable`, `missing_value`, `missing_label`, `duplicate`.
    pub reason: String,
    pub rows: usize,
    /// Columns where the offending values were (most frequent first, at most 5).
    pub columns: Vec<String>,
    /// Rows dropped for the value in each of `columns` (same order; a row counts for its
    /// first offending column). Absent in caches written before it existed.
    #[serde(default)]
    pub column_rows: Vec<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DroppedColumn {
    pub column: String,
    pub reason: String,
}

/// The cleaned table and what the rest of the workbench needs to know about it.
#[derive(Debug, Clone)]
pub struct LoadedDataset {
    /// Numeric columns are Float64, categorical and identifier columns String.
    pub frame: DataFrame,
    pub kind: DatasetKind,
    /// Why the kind was chosen (printed to the user).
    pub kind_reason: String,
    pub sources: Vec<String>,
    pub label_column: String,
    /// The attack-type column, when it is not the label itself (UNSW-NB15's `attack_cat`).
    pub class_column: Option<String>,
    /// Per row: malicious (true) or benign (BENIGN, normal, 0).
    pub malicious: Vec<bool>,
    /// Per row: the attack type, or the benign label.
    pub class: Vec<String>,
    pub time_column: Option<String>,
    /// Per row, nanoseconds on the dataset's clock (ordering is what matters).
    pub time_ns: Option<Vec<i64>>,
    pub host_column: Option<String>,
    /// Per row: the flow's source (initiator) address.
    pub hosts: Option<Vec<String>>,
    pub dropped: Dropped,
    pub from_cache: bool,
    pub load_ms: u64,
}

impl LoadedDataset {
    pub fn rows(&self) -> usize {
        self.frame.height()
    }

    /// Every column name of the cleaned table, in order.
    pub fn column_names(&self) -> Vec<String> {
        self.frame
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
}

/// Loads one dataset from files, folders or .zip archives (all of one kind), through the cache.
pub fn load(paths: &[PathBuf], opts: &LoadOptions) -> Result<LoadedDataset, DataError> {
    let started = Instant::now();
    if paths.is_empty() {
        return Err(DataError::Other("no data files given".into()));
    }
    let files = source::expand(paths)?;
    let key = cache::fingerprint(&files, opts)?;
    let cached = if opts.no_cache {
        None
    } else {
        cache::read(opts, &key)
    };
    let (frame, meta, from_cache) = match cached {
        Some((frame, meta)) => (frame, meta, true),
        None => {
            let raw = source::read_all(&files, opts.kind)?;
            let cleaned = clean::clean(raw, opts)?;
            if !opts.no_cache {
                // A cache that cannot be written only costs time next run: say so, go on.
                if let Err(e) = cache::write(opts, &key, &cleaned.frame, &cleaned.meta) {
                    eprintln!("note: dataset cache not written: {e}");
                }
            }
            (cleaned.frame, cleaned.meta, false)
        }
    };
    let derived = clean::derive(&frame, &meta)?;
    Ok(LoadedDataset {
        frame,
        kind: meta.kind,
        kind_reason: meta.kind_reason.clone(),
        sources: files.iter().map(|f| f.display_name()).collect(),
        label_column: meta.label_column.clone(),
        class_column: meta.class_column.clone(),
        malicious: derived.malicious,
        class: derived.class,
        time_column: meta.time_column.clone(),
        time_ns: derived.time_ns,
        host_column: meta.host_column.clone(),
        hosts: derived.hosts,
        dropped: meta.dropped,
        from_cache,
        load_ms: started.elapsed().as_millis() as u64,
    })
}

impl LoadedDataset {
    /// The rows as the kernel's 40 features (for `workbench train --features kernel`): each
    /// mapped column fills its feature, rounded to an integer; CIC's standard deviations become
    /// the variance the probe computes; features without a column stay 0 (listed in the result).
    pub fn kernel_dataset(&self) -> (crate::train::Dataset, Vec<&'static str>) {
        use shared::features::{FEATURES, FEATURE_COUNT};
        let mapping = kernel_mapping(&self.column_names());
        let n = self.rows();
        let mut features = vec![[0i64; FEATURE_COUNT]; n];
        let mut filled = [false; FEATURE_COUNT];
        for m in &mapping.mapped {
            let Some(values) = self.frame.column(&m.column).ok().and_then(|c| c.f64().ok()) else {
                continue;
            };
            if filled[m.feature_id] {
                continue;
            }
            filled[m.feature_id] = true;
            let squared = m.column.to_ascii_lowercase().contains("std");
            for (row, v) in features.iter_mut().zip(values) {
                let v = v.unwrap_or(0.0);
                let v = if squared { v * v } else { v };
                // `as` saturates, and CIC's -1 "no window" becomes the probe's 0.
                row[m.feature_id] = (v.round() as i64).max(0);
            }
        }
        // CIC has no total packet count, but it is the sum of the two directions it does have.
        let ids = |n| shared::features::feature_id(n).unwrap_or(usize::MAX);
        let (fwd, bwd, total) = (ids("fwd_packets"), ids("bwd_packets"), ids("packets"));
        if total < FEATURE_COUNT
            && !filled[total]
            && filled.get(fwd) == Some(&true)
            && filled.get(bwd) == Some(&true)
        {
            for row in &mut features {
                row[total] = row[fwd].saturating_add(row[bwd]);
            }
            filled[total] = true;
        }
        let missing = (0..FEATURE_COUNT)
            .filter(|&i| !filled[i])
            .map(|i| FEATURES[i].name)
            .collect();
        let ds = crate::train::Dataset {
            features,
            malicious: self.malicious.clone(),
            class: self.class.clone(),
            time_ns: self.time_ns.clone().unwrap_or_default(),
            host: self.hosts.clone().unwrap_or_default(),
        };
        (ds, missing)
    }
}
