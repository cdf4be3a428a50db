//! The rows of a feature table and how they reach the disk: CSV formatted row by row
//! ([`super::csv_rows`]), Parquet buffered column by column and written in batches through
//! polars (the format by the output's extension), into a temporary file
//! next to the output that is renamed into place only when the whole run succeeded, so a failed
//! run never leaves a half-written table that looks complete.

use std::fs::File;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::csv_rows::CsvRows;
use super::{FeaturesError, Result};
use polars::prelude::*;
use shared::features::{is_opt_in, FeatureVector, FEATURES, FEATURE_COUNT};

/// Rows held in memory before they are written: bounds memory in `--every-packet` mode, and is
/// a reasonable Parquet row group.
pub const BATCH_ROWS: usize = 65_536;

/// The identifying columns that come before the features. `dst_port` and `proto` are also
/// feature names (features 0 and 1, with the same values, since both are oriented from the
/// initiator), so they appear once, here.
pub const TUPLE_COLUMNS: [&str; 5] = ["src_ip", "src_port", "dst_ip", "dst_port", "proto"];

/// The flow's outermost VLAN tag's id (0 untagged), after the tuple columns: part of the flow's
/// key, so one 5-tuple on two VLANs is two rows. Not `vlan_id`: that is the opt-in feature 40
/// (the same value, a model input only when asked for), whose column stays out of a default
/// table.
pub const VLAN_COLUMN: &str = "vlan";

/// The flow's total packet count in the capture. Not `packets`: that is the name of feature 39
/// (packets so far, at the decision point).
pub const FLOW_PACKETS_COLUMN: &str = "flow_packets";

/// Values of `decided_at` (only with `--decision-at N`).
pub const DECIDED_AT_PACKET_N: &str = "packet_n";
pub const DECIDED_AT_LAST_PACKET: &str = "last_packet";

/// Features whose names are already tuple columns.
fn feature_is_tuple_column(id: usize) -> bool {
    TUPLE_COLUMNS.contains(&FEATURES[id].name)
}

/// The feature columns of a table, by id: every default feature that is not a tuple column,
/// and the opt-in features in `opt_in` (a host artefact such as the VLAN id is a column only
/// when asked for).
fn table_features(opt_in: u64) -> impl Iterator<Item = usize> {
    (0..FEATURE_COUNT)
        .filter(|&id| !feature_is_tuple_column(id))
        .filter(move |&id| !is_opt_in(id) || opt_in & (1 << id) != 0)
}

/// Which optional columns the table has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub decided_at: bool,
    pub label: bool,
    pub attack_type: bool,
    /// Opt-in features with a column (see [`table_features`]).
    pub opt_in: u64,
}

impl Layout {
    /// Column names in order.
    pub fn columns(&self) -> Vec<&'static str> {
        let mut c: Vec<&'static str> = TUPLE_COLUMNS.to_vec();
        c.extend([VLAN_COLUMN, "first_seen_ns", "decision_packet"]);
        if self.decided_at {
            c.push("decided_at");
        }
        c.push(FLOW_PACKETS_COLUMN);
        c.extend(table_features(self.opt_in).map(|id| FEATURES[id].name));
        if self.label {
            c.push("label");
        }
        if self.attack_type {
            c.push("attack_type");
        }
        c.push("source_file");
        c
    }
}

/// One output row.
pub struct Row<'a> {
    pub src_ip: IpAddr,
    pub src_port: u16,
    pub dst_ip: IpAddr,
    pub dst_port: u16,
    pub proto: u8,
    pub vlan: u16,
    pub first_seen_ns: u64,
    pub decision_packet: u32,
    /// Some only with `--decision-at`.
    pub decided_at: Option<&'static str>,
    pub flow_packets: u32,
    pub features: &'a FeatureVector,
    pub label: Option<&'a str>,
    pub attack_type: Option<&'a str>,
    pub source_file: &'a str,
}

/// Output format, from the extension of the output path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
}

impl Format {
    pub fn of(path: &Path) -> Result<Format> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => Ok(Format::Csv),
            Some("parquet" | "pq") => Ok(Format::Parquet),
            _ => Err(FeaturesError::Invalid(format!(
                "{}: unknown output format: expected a file name ending in .csv or .parquet",
                path.display()
            ))),
        }
    }
}

enum Sink {
    Csv(CsvRows),
    // Boxed: the writer is hundreds of bytes.
    Parquet(Box<polars::io::parquet::write::BatchedWriter<File>>),
}

/// Column buffers (Parquet) plus the writer behind them.
pub struct TableWriter {
    layout: Layout,
    path: PathBuf,
    tmp: PathBuf,
    sink: Option<Sink>,
    schema: Schema,
    strings: [Vec<String>; 2],
    ints: Vec<Vec<i64>>,
    decided_at: Vec<&'static str>,
    label: Vec<Option<String>>,
    attack_type: Vec<Option<String>>,
    /// The source file of the buffered rows, as runs (file, rows): one string per file rather
    /// than one per row.
    source_file: Vec<(String, usize)>,
    /// Rows buffered since the last flush.
    batch_rows: usize,
    /// The features that are not already tuple columns, in column order (computed once: the
    /// per-row check by name cost a quarter of a flow-heavy run in a profile).
    feature_ids: Vec<usize>,
    rows: u64,
}

/// Integer columns in order: ports, proto, vlan, first_seen_ns, decision_packet, flow_packets,
/// then the features that are not tuple columns.
fn int_column_names(opt_in: u64) -> Vec<&'static str> {
    let mut c = vec![
        "src_port",
        "dst_port",
        "proto",
        VLAN_COLUMN,
        "first_seen_ns",
        "decision_packet",
        FLOW_PACKETS_COLUMN,
    ];
    c.extend(table_features(opt_in).map(|id| FEATURES[id].name));
    c
}

/// A new file beside `path` (`.NAME.RANDOM.tmp`, in the output's own folder so that the final
/// rename stays on one filesystem), made by tempfile with O_EXCL: a name someone planted there
/// first (a symlink to a file of root's, a file of theirs) is never opened; another name is tried.
/// Kept (not removed on drop): the writer renames or removes it itself.
pub(crate) fn create_temporary(path: &Path, name: &std::ffi::OsStr) -> std::io::Result<(PathBuf, File)> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    let (file, tmp) = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        // What create_new gave: 0o666 less the umask.
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)?
        .keep()
        .map_err(|e| e.error)?;
    Ok((tmp, file))
}

impl TableWriter {
    /// Creates the temporary file next to `path` (so that an unwritable output fails before any
    /// capture is read).
    pub fn create(path: &Path, layout: Layout) -> Result<TableWriter> {
        let format = Format::of(path)?;
        if path.is_dir() {
            return Err(FeaturesError::Invalid(format!(
                "{}: is a directory, expected an output file",
                path.display()
            )));
        }
        let name = path
            .file_name()
            .ok_or_else(|| FeaturesError::Invalid(format!("{}: no file name", path.display())))?;
        let (tmp, file) = create_temporary(path, name).map_err(|source| FeaturesError::Io {
            file: path.display().to_string(),
            action: "cannot create the output file".into(),
            source,
        })?;
        let schema = Self::schema(layout);
        let sink = match format {
            Format::Csv => Sink::Csv(CsvRows::new(file, &layout.columns())),
            Format::Parquet => Sink::Parquet(Box::new(ParquetWriter::new(file).batched(&schema)?)),
        };
        let ints = int_column_names(layout.opt_in)
            .iter()
            .map(|_| Vec::new())
            .collect();
        Ok(TableWriter {
            layout,
            path: path.to_path_buf(),
            tmp,
            sink: Some(sink),
            schema,
            strings: [Vec::new(), Vec::new()],
            ints,
            decided_at: Vec::new(),
            label: Vec::new(),
            attack_type: Vec::new(),
            source_file: Vec::new(),
            batch_rows: 0,
            feature_ids: table_features(layout.opt_in).collect(),
            rows: 0,
        })
    }

    fn schema(layout: Layout) -> Schema {
        let ints = int_column_names(layout.opt_in);
        layout
            .columns()
            .into_iter()
            .map(|name| {
                let dtype = if ints.contains(&name) {
                    DataType::Int64
                } else {
                    DataType::String
                };
                Field::new(name.into(), dtype)
            })
            .collect()
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn push(&mut self, row: Row<'_>) -> Result<()> {
        if let Some(Sink::Csv(csv)) = self.sink.as_mut() {
            Self::csv_row(csv, &self.feature_ids, &self.layout, &row).map_err(|source| {
                FeaturesError::Io {
                    file: self.path.display().to_string(),
                    action: "writing rows".into(),
                    source,
                }
            })?;
            self.rows += 1;
            return Ok(());
        }
        self.strings[0].push(row.src_ip.to_string());
        self.strings[1].push(row.dst_ip.to_string());
        let fixed = [
            row.src_port as i64,
            row.dst_port as i64,
            row.proto as i64,
            row.vlan as i64,
            // Nanoseconds since 1970 fit i64 until 2262.
            row.first_seen_ns.min(i64::MAX as u64) as i64,
            row.decision_packet as i64,
            row.flow_packets as i64,
        ];
        let features = self.feature_ids.iter().map(|&id| row.features[id]);
        for (column, value) in self.ints.iter_mut().zip(fixed.into_iter().chain(features)) {
            column.push(value);
        }
        if self.layout.decided_at {
            self.decided_at
                .push(row.decided_at.unwrap_or(DECIDED_AT_LAST_PACKET));
        }
        if self.layout.label {
            self.label.push(row.label.map(str::to_string));
        }
        if self.layout.attack_type {
            self.attack_type.push(row.attack_type.map(str::to_string));
        }
        match self.source_file.last_mut() {
            Some((file, n)) if file == row.source_file => *n += 1,
            _ => self.source_file.push((row.source_file.to_string(), 1)),
        }
        self.rows += 1;
        self.batch_rows += 1;
        if self.batch_rows >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    /// One row of the CSV table, in the order of [`Layout::columns`] (the Parquet path's
    /// `fixed`, features, then the string columns).
    fn csv_row(
        csv: &mut CsvRows,
        feature_ids: &[usize],
        layout: &Layout,
        row: &Row<'_>,
    ) -> std::io::Result<()> {
        csv.ip(row.src_ip);
        csv.int(row.src_port as i64);
        csv.ip(row.dst_ip);
        csv.int(row.dst_port as i64);
        csv.int(row.proto as i64);
        csv.int(row.vlan as i64);
        csv.int(row.first_seen_ns.min(i64::MAX as u64) as i64);
        csv.int(row.decision_packet as i64);
        if layout.decided_at {
            csv.str(Some(row.decided_at.unwrap_or(DECIDED_AT_LAST_PACKET)));
        }
        csv.int(row.flow_packets as i64);
        for &id in feature_ids {
            csv.int(row.features[id]);
        }
        if layout.label {
            csv.str(row.label);
        }
        if layout.attack_type {
            csv.str(row.attack_type);
        }
        csv.str(Some(row.source_file));
        csv.end_row()
    }

    /// Writes the buffered rows as one batch.
    fn flush(&mut self) -> Result<()> {
        if self.batch_rows == 0 {
            return Ok(());
        }
        self.batch_rows = 0;
        let names = int_column_names(self.layout.opt_in);
        let mut by_name: Vec<(&str, Column)> = Vec::with_capacity(self.schema.len());
        by_name.push((
            "src_ip",
            Column::new("src_ip".into(), std::mem::take(&mut self.strings[0])),
        ));
        by_name.push((
            "dst_ip",
            Column::new("dst_ip".into(), std::mem::take(&mut self.strings[1])),
        ));
        for (name, values) in names.iter().zip(self.ints.iter_mut()) {
            by_name.push((name, Column::new((*name).into(), std::mem::take(values))));
        }
        if self.layout.decided_at {
            let v = std::mem::take(&mut self.decided_at);
            by_name.push(("decided_at", Column::new("decided_at".into(), v)));
        }
        if self.layout.label {
            let v = std::mem::take(&mut self.label);
            by_name.push(("label", Column::new("label".into(), v)));
        }
        if self.layout.attack_type {
            let v = std::mem::take(&mut self.attack_type);
            by_name.push(("attack_type", Column::new("attack_type".into(), v)));
        }
        let runs = std::mem::take(&mut self.source_file);
        let files: Vec<&str> = runs
            .iter()
            .flat_map(|(file, n)| std::iter::repeat_n(file.as_str(), *n))
            .collect();
        by_name.push(("source_file", Column::new("source_file".into(), files)));
        // Put the columns in the layout's order.
        let mut columns = Vec::with_capacity(by_name.len());
        for name in self.layout.columns() {
            let i = by_name
                .iter()
                .position(|(n, _)| *n == name)
                .ok_or_else(|| FeaturesError::Invalid(format!("internal: column {name} was not buffered")))?;
            columns.push(by_name.swap_remove(i).1);
        }
        let df = DataFrame::new(columns)?;
        let path = self.path.display().to_string();
        match self.sink.as_mut() {
            Some(Sink::Parquet(w)) => w.write_batch(&df),
            // CSV rows are written as they come; nothing is buffered for them.
            Some(Sink::Csv(_)) => Ok(()),
            None => {
                return Err(FeaturesError::Invalid(format!(
                    "{path}: the table was already finished"
                )))
            }
        }
        .map_err(|source| FeaturesError::Table {
            file: path,
            action: "writing rows",
            source,
        })?;
        Ok(())
    }

    /// Writes what is buffered, closes the file and moves it into place.
    pub fn finish(mut self) -> Result<PathBuf> {
        self.flush()?;
        let path = self.path.display().to_string();
        match self.sink.take() {
            Some(Sink::Csv(w)) => w.finish().map_err(|source| FeaturesError::Io {
                file: path.clone(),
                action: "finishing the file".into(),
                source,
            })?,
            Some(Sink::Parquet(w)) => {
                w.finish().map_err(|source| FeaturesError::Table {
                    file: path.clone(),
                    action: "finishing the file",
                    source,
                })?;
            }
            None => {}
        }
        std::fs::rename(&self.tmp, &self.path).map_err(|source| FeaturesError::Io {
            file: path,
            action: format!("cannot move {} into place", self.tmp.display()),
            source,
        })?;
        Ok(self.path.clone())
    }
}

impl Drop for TableWriter {
    /// A writer dropped before `finish` (an error on the way) removes its temporary file.
    fn drop(&mut self) {
        if self.sink.is_some() {
            self.sink = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// The feature table of `docs/FEATURES.md`, generated from `shared::features::FEATURES` (a test
/// checks that the document holds exactly this text).
#[cfg(test)]
pub fn markdown_feature_table() -> String {
    let mut s =
        String::from("| id | column | unit | CIC-IDS2017 counterpart | meaning |\n|---|---|---|---|---|\n");
    for (id, f) in FEATURES.iter().enumerate() {
        s.push_str(&format!(
            "| {id} | `{}` | {} | {} | {} |\n",
            f.name,
            f.unit,
            f.cic_column.map_or_else(|| "none".into(), |c| format!("`{c}`")),
            f.doc.replace('|', "\\|")
        ));
    }
    s
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;
