//! Loading intrusion-detection datasets into one typed, cleaned table.
//!
//! Every public dataset has its own damage: CIC-IDS2017 writes header names with leading spaces,
//! repeats `Fwd Header Length`, writes `Infinity` and `NaN`, and spells a dash in its Web Attack
//! labels with a byte that is not UTF-8; UNSW-NB15's raw files and NSL-KDD have no header at all.
//! The loader recognises each layout (and says why), reads each file in one streaming pass with
//! column types decided from its first lines (falling back to text if a later value does not
//! fit), and counts every column's missing, NaN and infinite values. The loaded table keeps every
//! row; [`LoadedDataset::cleaned`] is the reported cleaning step before training (rows dropped
//! and why, under `dropped`): nothing is dropped silently.

pub mod cache;
pub(crate) mod clean;
mod column_numbers;
mod csv_blocks;
mod csv_fast;
mod csv_lines;
mod csv_read;
pub mod detect;
pub(crate) mod kept;
pub mod kernel_map;
pub(crate) mod kernel_units;
pub mod layout;
pub(crate) mod parquet_check;
pub(crate) mod projection;
mod ragged;
mod repeated_header;
mod row_lines;
mod row_views;
mod rows;
pub mod sniff;
pub(crate) mod source;
pub(crate) mod time;
mod usable;

use std::path::PathBuf;
use std::time::Instant;

use polars::prelude::{BooleanChunked, DataFrame, IdxCa, IdxSize, PlSmallStr, PolarsError};
use serde::{Deserialize, Serialize};

pub use clean::ColumnHealth;
pub use detect::DatasetKind;
pub use kernel_map::{kernel_mapping, kernel_mapping_for, KernelMapping};
pub use row_lines::{RowLines, RowPlace};

/// A load failure: always names the file (and line where one is known). A failure of the
/// system, the zip reader or polars carries that error as its source: the message says what was
/// being done (`cannot open`), the source why; printed as a chain (`{:#}` of an eyre report, as
/// the binary and the TUI do) it reads `FILE: cannot open: No such file or directory (os error 2)`.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("{file}{}", action_suffix(.action))]
    Io {
        file: String,
        /// What was being done (`cannot open`, `cannot read`, ...); empty when the source says it.
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}{}", action_suffix(.action))]
    Zip {
        file: String,
        action: String,
        #[source]
        source: ::zip::result::ZipError,
    },
    #[error("{file}{}", action_suffix(.action))]
    Polars {
        file: String,
        action: String,
        #[source]
        source: polars::prelude::PolarsError,
    },
    /// A Parquet file that fails the page-header check before polars reads it.
    #[error("{file}: not a readable Parquet file")]
    Parquet {
        file: String,
        #[source]
        source: parquet_check::ParquetCheckError,
    },
    /// A CSV header with no separator between its fields.
    #[error("{file}")]
    Separator {
        file: String,
        #[source]
        source: sniff::NoSeparator,
    },
    /// A step over the whole table (no one file to name), with polars' reason.
    #[error("{what}")]
    Table {
        what: &'static str,
        #[source]
        source: polars::prelude::PolarsError,
    },
    #[error("{0}")]
    Other(String),
}

fn action_suffix(action: &str) -> String {
    if action.is_empty() {
        String::new()
    } else {
        format!(": {action}")
    }
}

impl DataError {
    pub fn file(file: impl Into<String>, message: impl Into<String>) -> Self {
        DataError::File {
            file: file.into(),
            message: message.into(),
        }
    }

    pub fn io(file: impl Into<String>, action: &'static str, source: std::io::Error) -> Self {
        DataError::Io {
            file: file.into(),
            action,
            source,
        }
    }

    pub fn zip(file: impl Into<String>, action: impl Into<String>, source: ::zip::result::ZipError) -> Self {
        DataError::Zip {
            file: file.into(),
            action: action.into(),
            source,
        }
    }

    pub fn polars(
        file: impl Into<String>,
        action: impl Into<String>,
        source: polars::prelude::PolarsError,
    ) -> Self {
        DataError::Polars {
            file: file.into(),
            action: action.into(),
            source,
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
    /// Read only these columns (compared as [`detect::column_key`] compares names; names no file
    /// has are ignored); None: every column. The readers skip the others, so they never take
    /// memory (`workbench train` asks for the columns its model reads: [`projection`]). The
    /// loaded table, its cache entry and its cleaning counts cover these columns only.
    pub columns: Option<Vec<String>>,
}

/// Rows or columns removed by cleaning, and why. Columns are removed when loading (every value
/// empty, NaN or infinite); rows by the cleaning step before training.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Dropped {
    /// Data rows in the files before cleaning.
    pub rows_read: usize,
    pub rows_dropped: usize,
    pub rows_by_reason: Vec<DropReason>,
    pub columns: Vec<DroppedColumn>,
}

impl Dropped {
    /// One line for a summary: `N of M rows dropped: missing values in COLS` (each reason with
    /// its rows when there are several); None when no row is dropped.
    pub fn summary(&self) -> Option<String> {
        if self.rows_dropped == 0 {
            return None;
        }
        let several = self.rows_by_reason.len() > 1;
        let why: Vec<String> = self
            .rows_by_reason
            .iter()
            .map(|r| {
                let mut w = r.reason_words().to_string();
                if !r.columns.is_empty() {
                    w.push_str(&format!(" in {}", r.columns.join(", ")));
                }
                if several {
                    w.push_str(&format!(
                        " ({} row{})",
                        r.rows,
                        if r.rows == 1 { "" } else { "s" }
                    ));
                }
                w
            })
            .collect();
        Some(format!(
            "{} of {} rows dropped: {}",
            self.rows_dropped,
            self.rows_read,
            why.join("; ")
        ))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DropReason {
    /// `repeated_header`, `nan_or_infinity`, `unparseable`, `missing_value`, `missing_label`,
    /// `duplicate`.
    pub reason: String,
    pub rows: usize,
    /// Columns where the offending values were (most frequent first, at most 5).
    pub columns: Vec<String>,
    /// Rows dropped for the value in each of `columns` (same order; a row counts for its
    /// first offending column). Absent in caches written before it existed.
    #[serde(default)]
    pub column_rows: Vec<usize>,
    /// The first few offending values with the file and line they are on (`unparseable`
    /// only: a value that is not a number is a typo to find). Absent in caches written before
    /// it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<BadValue>,
}

/// One offending value and where it is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BadValue {
    /// The source file (a zip archive's entry as `ARCHIVE:ENTRY`).
    pub file: String,
    /// The line in that file (one line per row after the header); None for Parquet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based data row in that file.
    pub row: usize,
    pub column: String,
    pub value: String,
}

impl std::fmt::Display for BadValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} line {line}", self.file)?,
            None => write!(f, "{} row {}", self.file, self.row)?,
        }
        write!(f, ": `{}` in {}", self.value, self.column)
    }
}

impl DropReason {
    /// The reason in words (`missing values`, `NaN or Infinity`, ...).
    pub fn reason_words(&self) -> &str {
        match self.reason.as_str() {
            "missing_value" => "missing values",
            "nan_or_infinity" => "NaN or Infinity",
            "unparseable" => "values that are not numbers",
            "missing_label" => "no label",
            "repeated_header" => "repeated header lines",
            "duplicate" => "exact duplicates",
            other => other,
        }
    }

    /// `N rows: REASON (in COLUMNS)`, and where the first offending values are when known.
    pub fn words(&self) -> String {
        let mut out = format!(
            "{} rows: {} (in {})",
            self.rows,
            self.reason,
            self.columns.join(", ")
        );
        if !self.examples.is_empty() {
            let first: Vec<String> = self.examples.iter().map(ToString::to_string).collect();
            out.push_str(&format!("; first at {}", first.join(", ")));
        }
        out
    }
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
    /// Per row, nanoseconds on the dataset's clock (ordering is what matters); a row of
    /// `untimed` holds a placeholder: read times with [`LoadedDataset::times_of`].
    pub time_ns: Option<Vec<i64>>,
    /// The rows whose time cell is empty or no time, ascending (see `time::ColumnTimes`).
    pub untimed: Vec<u32>,
    pub host_column: Option<String>,
    /// Per row: the flow's source (initiator) address.
    pub hosts: Option<Vec<String>>,
    /// Per row: the index in `sources` of the file it was read from (the file split).
    pub row_source: Vec<u32>,
    /// Per row: its 0-based place among its file's data rows (see [`LoadedDataset::row_place`]).
    pub row_in_file: Vec<u32>,
    /// Per source: the line each data row starts on; None for Parquet (and where it could not
    /// be told).
    pub row_lines: Vec<Option<RowLines>>,
    /// What [`LoadedDataset::cleaned`] removes (the table here still has those rows).
    pub dropped: Dropped,
    /// Missing, NaN and infinite values per column.
    pub health: Vec<ColumnHealth>,
    /// Whether cleaning removes exact duplicates too (`--drop-duplicates`).
    drop_duplicates: bool,
    /// The columns whose missing, NaN or infinite values drop a row (None: every column); see
    /// [`LoadedDataset::cleaning_only`].
    clean_only: Option<Vec<String>>,
    pub from_cache: bool,
    /// The cache file read or written (None with `no_cache`, or when it could not be written).
    pub cache_path: Option<String>,
    pub load_ms: u64,
}

impl LoadedDataset {
    pub fn rows(&self) -> usize {
        self.frame.height()
    }

    /// The table of these rows only (indices into this one, in the order given): a sample.
    pub(crate) fn with_rows(&self, idx: &[usize]) -> Result<LoadedDataset, PolarsError> {
        let take = IdxCa::from_vec("idx".into(), idx.iter().map(|&i| i as IdxSize).collect());
        Ok(self.rows_of(self.frame.take(&take)?, idx))
    }

    /// This table with `frame` (its rows `idx`, in that order) and every per-row field picked
    /// alike, the rest copied: never a clone of the whole table's per-row vectors (a sample or
    /// the cleaned rows of a 2.8M-row table are made beside the table, not beside two of it).
    fn rows_of(&self, frame: DataFrame, idx: &[usize]) -> LoadedDataset {
        fn pick<T: Clone>(v: &[T], idx: &[usize]) -> Vec<T> {
            idx.iter().map(|&i| v[i].clone()).collect()
        }
        LoadedDataset {
            frame,
            kind: self.kind,
            kind_reason: self.kind_reason.clone(),
            sources: self.sources.clone(),
            label_column: self.label_column.clone(),
            class_column: self.class_column.clone(),
            malicious: pick(&self.malicious, idx),
            class: pick(&self.class, idx),
            time_column: self.time_column.clone(),
            time_ns: self.time_ns.as_deref().map(|t| pick(t, idx)),
            untimed: idx
                .iter()
                .enumerate()
                .filter(|(_, &i)| self.untimed.binary_search(&(i as u32)).is_ok())
                .map(|(j, _)| j as u32)
                .collect(),
            host_column: self.host_column.clone(),
            hosts: self.hosts.as_deref().map(|h| pick(h, idx)),
            row_source: pick(&self.row_source, idx),
            row_in_file: pick(&self.row_in_file, idx),
            row_lines: self.row_lines.clone(),
            dropped: self.dropped.clone(),
            health: self.health.clone(),
            drop_duplicates: self.drop_duplicates,
            clean_only: self.clean_only.clone(),
            from_cache: self.from_cache,
            cache_path: self.cache_path.clone(),
            load_ms: self.load_ms,
        }
    }

    /// Columns that describe the label, not the traffic, and so are never a model's input: the
    /// label, the attack type, and NSL-KDD's `difficulty` (how many of 21 classifiers labelled
    /// the row right: a property of the labelling that would leak it).
    pub fn label_columns(&self) -> Vec<&str> {
        let mut columns = vec![self.label_column.as_str()];
        columns.extend(self.class_column.as_deref());
        if self.kind == DatasetKind::NslKdd {
            columns.extend(
                self.frame
                    .get_column_names()
                    .into_iter()
                    .map(PlSmallStr::as_str)
                    .filter(|c| *c == "difficulty"),
            );
        }
        columns
    }

    /// Where row `i` of this table is in its source file (also after [`LoadedDataset::cleaned`],
    /// which keeps each row's place).
    pub fn row_place(&self, i: usize) -> RowPlace {
        let source = self.row_source.get(i).copied().unwrap_or(0) as usize;
        let in_file = self.row_in_file.get(i).copied().map_or(i, |r| r as usize);
        RowPlace {
            file: self.sources.get(source).cloned().unwrap_or_default(),
            line: row_lines::line_of(&self.row_lines, source, in_file),
            row: in_file + 1,
        }
    }

    /// Whether the kind was given with `--kind` rather than detected.
    pub fn kind_forced(&self) -> bool {
        self.kind_reason.starts_with(detect::FORCED)
    }

    /// Whether cleaning drops exact duplicate rows too (`--drop-duplicates`).
    pub fn drops_duplicates(&self) -> bool {
        self.drop_duplicates
    }

    /// Every column name of the cleaned table, in order.
    pub fn column_names(&self) -> Vec<String> {
        self.frame
            .get_column_names()
            .iter()
            .map(std::string::ToString::to_string)
            .collect()
    }
}

/// With `WORKBENCH_LOAD_PHASES` set, the time of each loading phase on stderr (for profiling).
fn phase(name: &str, started: Instant) {
    if std::env::var_os("WORKBENCH_LOAD_PHASES").is_some() {
        // SAFETY: getrusage fills the zeroed plain-data struct.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut u) };
        let cpu_ms =
            (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1000;
        eprintln!(
            "load phase {name}: {} ms wall, {cpu_ms} ms cpu, peak {} MB",
            started.elapsed().as_millis(),
            u.ru_maxrss / 1024
        );
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
        cache::wait_for_writes();
        cache::read(opts, &key)
    };
    let (frame, meta, from_cache, cache_path) = match cached {
        Some((frame, meta, path)) => (frame, meta, true, Some(path)),
        None => {
            let raw = source::read_all(&files, opts.kind, opts.columns.as_deref())?;
            phase("read", started);
            let cleaned = clean::clean(raw, opts)?;
            phase("clean", started);
            let mut cache_path = None;
            if !opts.no_cache {
                // A cache that cannot be written only costs time next run: say so, go on.
                match cache::write_in_background(opts, &key, &cleaned.frame, &cleaned.meta) {
                    Ok(p) => cache_path = Some(p),
                    Err(e) => eprintln!("note: dataset cache not written: {}", crate::error_chain(&e)),
                }
            }
            (cleaned.frame, cleaned.meta, false, cache_path)
        }
    };
    phase("cache", started);
    let derived = row_views::derive(&frame, &meta)?;
    let (row_source, row_in_file) = row_lines::row_sources(&meta.file_rows, frame.height());
    // Lines only when every row's file is known (the counts add up).
    let row_lines = if meta.file_rows.iter().sum::<usize>() == frame.height() {
        meta.row_lines.clone()
    } else {
        Vec::new()
    };
    phase("derive", started);
    Ok(LoadedDataset {
        frame,
        kind: meta.kind,
        kind_reason: match derived.clock.note() {
            Some(note) => format!("{}; {note}", meta.kind_reason),
            None => meta.kind_reason.clone(),
        },
        sources: files.iter().map(source::SourceFile::display_name).collect(),
        label_column: meta.label_column.clone(),
        class_column: meta.class_column.clone(),
        malicious: derived.malicious,
        class: derived.class,
        time_column: meta.time_column.clone(),
        time_ns: derived.time_ns,
        untimed: derived.untimed,
        host_column: meta.host_column.clone(),
        hosts: derived.hosts,
        row_source,
        row_in_file,
        row_lines,
        dropped: meta.dropped,
        health: meta.health,
        drop_duplicates: meta.drop_duplicates,
        clean_only: None,
        from_cache,
        cache_path: cache_path.map(|p| p.display().to_string()),
        load_ms: started.elapsed().as_millis() as u64,
    })
}

impl LoadedDataset {
    /// Per row: kept by the cleaning step (every numeric feature finite, a label present and,
    /// with `--drop-duplicates`, not a repeat; only the features of
    /// [`LoadedDataset::cleaning_only`] when it was called).
    pub fn usable_rows(&self) -> BooleanChunked {
        let meta = self.meta_for_cleaning();
        usable::usable_rows(&self.frame, &meta, self.clean_only.as_deref())
    }

    /// The same table, with the cleaning step before training dropping a row only for a missing,
    /// NaN or infinite value in `columns` (and for a missing label, a repeated header line or,
    /// with `--drop-duplicates`, a repeat), and `dropped` counting those rows only. A model
    /// reads a few columns: a blank in a column it never reads (CIC's `Idle Std`, say) must not
    /// cost it the row. Columns not in the table are ignored.
    #[must_use]
    pub fn cleaning_only(&self, columns: &[String]) -> LoadedDataset {
        self.clone().into_cleaning_only(columns)
    }

    /// [`LoadedDataset::cleaning_only`] of a table given up (its per-row views moved, not copied).
    #[must_use]
    pub fn into_cleaning_only(self, columns: &[String]) -> LoadedDataset {
        let meta = self.meta_for_cleaning();
        let dropped = usable::dropped_for(&self.frame, &meta, &self.dropped, columns);
        LoadedDataset {
            dropped,
            clean_only: Some(columns.to_vec()),
            ..self
        }
    }

    fn meta_for_cleaning(&self) -> clean::Meta {
        clean::Meta {
            kind: self.kind,
            kind_reason: String::new(),
            label_column: self.label_column.clone(),
            class_column: self.class_column.clone(),
            time_column: None,
            host_column: None,
            dropped: Dropped::default(),
            health: Vec::new(),
            drop_duplicates: self.drop_duplicates,
            file_rows: Vec::new(),
            row_lines: Vec::new(),
        }
    }

    /// The cleaning step before training: the rows listed under `dropped` removed. An error
    /// naming the sources and the reasons when no row is left.
    pub fn cleaned(&self) -> Result<LoadedDataset, DataError> {
        let Some(mask) = self.kept_rows()? else {
            return Ok(self.clone());
        };
        let keep: BooleanChunked = mask.iter().copied().collect();
        let frame = self.frame.filter(&keep).map_err(|source| DataError::Table {
            what: "cleaning",
            source,
        })?;
        let idx: Vec<usize> = mask
            .iter()
            .enumerate()
            .filter_map(|(i, &k)| k.then_some(i))
            .collect();
        Ok(self.rows_of(frame, &idx))
    }
}
