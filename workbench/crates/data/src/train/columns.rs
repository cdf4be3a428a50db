//! Which columns of a table `workbench train` reads, decided from the files' header before any
//! row is: those that map to kernel features (with the inputs of derived features and the packet
//! counts and protocol a unit conversion needs), the label and attack type, the time and source
//! host the splits use, and a flow table's own time, host and decision-point columns. Loading
//! only these ([`LoadOptions::columns`]) keeps the other columns (most of CIC-IDS2017's 79) out
//! of memory: docs/BENCHMARKS.md, "Training's memory".

use std::path::PathBuf;

use serde::Serialize;

use crate::dataset::clean::{CLASS_NAMES, HOST_NAMES, LABEL_NAMES, TIME_NAMES};
use crate::dataset::detect::column_key;
use crate::dataset::kernel_map::kernel_mapping_for;
use crate::dataset::projection::{self, TableHeader};
use crate::dataset::{self, DataError, LoadOptions, LoadedDataset};

/// Columns a flow table from `workbench features` is read by besides its features: its time and
/// initiator (`prepare`), and where its rows were taken ([`PROVENANCE_COLUMNS`]).
const FLOW_TABLE_COLUMNS: [&str; 2] = ["first_seen_ns", "src_ip"];

/// A flow table's columns that say where its rows were taken (`quantiles::taken_at`, which the
/// model file's provenance records after the fit): kept when a table gives its rows up.
pub const PROVENANCE_COLUMNS: [&str; 3] = ["decided_at", "decision_packet", "flow_packets"];

/// Columns that say a UNSW-NB15 row is TCP when it has no protocol column
/// (`convert::headers_per_packet`).
const TCP_HINT_COLUMNS: [&str; 4] = ["swin", "dwin", "stcpb", "dtcpb"];

/// The columns of `header` a kernel-feature model is trained from (file order); `label`: the
/// user's `--label`.
pub fn needed(header: &TableHeader, label: Option<&str>) -> Vec<String> {
    let mut wanted: Vec<String> = Vec::new();
    let mapping = kernel_mapping_for(header.kind, &header.columns);
    for m in &mapping.mapped {
        wanted.extend(m.input_columns(&header.columns));
    }
    let names = LABEL_NAMES
        .iter()
        .chain(&CLASS_NAMES)
        .chain(&TIME_NAMES)
        .chain(&HOST_NAMES)
        .chain(&FLOW_TABLE_COLUMNS)
        .chain(&PROVENANCE_COLUMNS)
        .chain(&TCP_HINT_COLUMNS);
    wanted.extend(names.map(|n| (*n).to_string()));
    wanted.extend(label.map(str::to_string));
    let keys: Vec<String> = wanted.iter().map(|w| column_key(w)).collect();
    header
        .columns
        .iter()
        .filter(|c| keys.contains(&column_key(c)))
        .cloned()
        .collect()
}

/// The rows of a table given up to a training run at the end of the flow on kernel features
/// (`Input::Prepared`): its cleaning narrowed to the columns the model reads, as the run
/// narrows a borrowed table, and its rows converted and then freed
/// ([`super::prepare::prepare_owned`]). Returns the table (describing the data, holding no
/// rows) and the rows.
pub fn prepare_table(
    loaded: LoadedDataset,
    opts: &super::run::RunOptions,
) -> super::Result<(LoadedDataset, super::Prepared)> {
    let spec = opts.features.trim();
    let mut table = match super::prepare::used_columns(&loaded, spec) {
        Some(mut used) => {
            // ... and the time column the splits order by.
            used.extend(loaded.time_column.iter().cloned());
            loaded.into_cleaning_only(&used)
        }
        None => loaded,
    };
    stage("cleaning narrowed");
    let rows = super::prepare::prepare_owned(&mut table, spec, opts.positive.as_deref())?;
    stage("features built, table freed");
    Ok((table, rows))
}

/// What a training load read, for the report (`memory` in `train --json`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ColumnsRead {
    /// Columns of the files.
    pub columns_in_files: usize,
    /// The columns read into memory, in file order (every column when the run needs them all:
    /// `--features dataset`, `--at decision-points`).
    pub columns_loaded: Vec<String>,
    /// The column names of the files, in order (for the columns without a kernel counterpart).
    #[serde(skip)]
    pub header: Vec<String>,
}

/// Loads `paths` for a training run: only the columns a kernel-feature model reads when
/// `projected` (a run at the end of the flow on kernel features), else every column.
pub fn load(
    paths: &[PathBuf],
    opts: &LoadOptions,
    projected: bool,
) -> Result<(LoadedDataset, ColumnsRead), DataError> {
    let header = projection::header(paths, opts)?;
    let columns = projected.then(|| needed(&header, opts.label.as_deref()));
    let loaded = dataset::load(
        paths,
        &LoadOptions {
            columns,
            ..opts.clone()
        },
    )?;
    let read = ColumnsRead {
        columns_in_files: header.columns.len(),
        columns_loaded: loaded.column_names(),
        header: header.columns,
    };
    Ok((loaded, read))
}

impl ColumnsRead {
    /// The columns of the files with no kernel counterpart, with why, as `prepare` lists them
    /// for a table of every column (the columns cleaning dropped whole left out).
    pub fn unmapped(&self, loaded: &LoadedDataset) -> Vec<(String, &'static str)> {
        let present: Vec<String> = self
            .header
            .iter()
            .filter(|c| !loaded.dropped.columns.iter().any(|d| &d.column == *c))
            .cloned()
            .collect();
        kernel_mapping_for(loaded.kind, &present)
            .unmapped
            .into_iter()
            .map(|u| (u.column, u.why))
            .collect()
    }
}

/// The largest resident memory of this process so far (`VmHWM` of /proc/self/status), None
/// where that is not readable (not Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// A `/proc/self/status` field given in kB, in bytes.
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// With `WORKBENCH_LOAD_PHASES` set (as for the load's phases), the resident memory now and at
/// its peak so far on stderr, after training stage `name`: where the memory goes.
pub fn stage(name: &str) {
    if std::env::var_os("WORKBENCH_LOAD_PHASES").is_some() {
        let mb = |b: Option<u64>| b.map_or_else(|| "?".to_string(), |b| (b >> 20).to_string());
        eprintln!(
            "train stage {name}: resident {} MB, peak {} MB",
            mb(status_bytes("VmRSS:")),
            mb(status_bytes("VmHWM:"))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::DatasetKind;

    fn header(kind: DatasetKind, columns: &[&str]) -> TableHeader {
        TableHeader {
            kind,
            columns: columns.iter().map(ToString::to_string).collect(),
            sources: vec!["t.csv".into()],
        }
    }

    #[test]
    fn the_columns_a_model_reads_and_those_its_splits_and_provenance_use() {
        // CIC TrafficLabelling: mapped columns, label, time and host; not the identifiers or
        // the end-of-flow statistics.
        let cic = header(
            DatasetKind::CicTrafficLabelling,
            &[
                "Flow ID",
                "Source IP",
                "Source Port",
                "Timestamp",
                "Flow Duration",
                "Total Fwd Packets",
                "Idle Mean",
                "Active Std",
                "Label",
            ],
        );
        assert_eq!(
            needed(&cic, None),
            [
                "Source IP",
                "Timestamp",
                "Flow Duration",
                "Total Fwd Packets",
                "Label"
            ]
        );
        // A label named with --label is read whatever it is called.
        assert!(needed(&cic, Some("active_std")).contains(&"Active Std".to_string()));
        // UNSW-NB15's sets: the header-removing conversion's packet count, and the columns
        // that say a row is TCP when there is no protocol column.
        let unsw = header(
            DatasetKind::UnswSets,
            &[
                "dur",
                "sbytes",
                "spkts",
                "swin",
                "smean",
                "sjit",
                "attack_cat",
                "label",
            ],
        );
        let n = needed(&unsw, None);
        for c in ["dur", "sbytes", "spkts", "swin", "attack_cat", "label"] {
            assert!(n.contains(&c.to_string()), "{c} not in {n:?}");
        }
        assert!(!n.contains(&"sjit".to_string()), "{n:?}");
        // A flow table's own time, host and decision-point columns.
        let flows = header(
            DatasetKind::FlowTable,
            &[
                "first_seen_ns",
                "src_ip",
                "decision_packet",
                "flow_packets",
                "syn_count",
                "note",
                "label",
            ],
        );
        assert_eq!(
            needed(&flows, None),
            [
                "first_seen_ns",
                "src_ip",
                "decision_packet",
                "flow_packets",
                "syn_count",
                "label"
            ]
        );
    }
}
