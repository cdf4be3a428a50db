//! Pitfall detectors: why a 99.9% score on this dataset may measure the dataset, not detection
//! (Arp et al., "Dos and Don'ts of Machine Learning in Computer Security", USENIX Security 2022;
//! Engelen et al. 2021 on CIC-IDS2017's labelling; Flood et al., EuroS&P 2024).
//!
//! Each detector returns findings with a severity, a one-line summary, the numbers behind it and
//! what to do. They work on a [`Table`]: the loaded dataset, sampled deterministically to at most
//! [`MAX_ROWS`] rows so that a 2.8-million-row CIC-IDS2017 stays interactive. The split
//! comparison is `workbench train`'s own run per split on the loaded table (`split_runs`), so
//! that its figures are those `train` prints.

pub(crate) mod columns;
pub mod evidence;
pub(crate) mod identifiers;
pub(crate) mod rows;
pub(crate) mod split_runs;
pub(crate) mod splits;
pub(crate) mod stump;

use polars::prelude::{IdxCa, IdxSize};
use serde::Serialize;

use crate::dataset::detect::column_key;
use crate::dataset::LoadedDataset;
use crate::train::split::SplitMix64;
pub use evidence::Evidence;

/// Rows the detectors look at; larger datasets are sampled (the evidence says so).
pub const MAX_ROWS: usize = 200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    High,
    Medium,
    Low,
    Info,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: String,
    pub evidence: Evidence,
    pub advice: String,
}

/// One column of the analysed sample: numbers, or text (addresses, names, categories).
pub enum Values {
    Numeric(Vec<f64>),
    Text(Vec<String>),
}

pub struct Col {
    pub name: String,
    pub values: Values,
    /// An address, port, timestamp, flow id or row id.
    pub identifier: bool,
}

/// The sample the detectors share.
pub struct Table {
    pub columns: Vec<Col>,
    pub malicious: Vec<bool>,
    pub class: Vec<String>,
    pub time_ns: Option<Vec<i64>>,
    pub hosts: Option<Vec<String>>,
    pub time_column: Option<String>,
    pub host_column: Option<String>,
    /// Rows of the whole dataset (the sample may be smaller).
    pub total_rows: usize,
}

const IDENTIFIER_KEYS: &[&str] = &[
    "flowid",
    "sourceip",
    "destinationip",
    "sourceport",
    "destinationport",
    "timestamp",
    "srcip",
    "dstip",
    "sport",
    "dsport",
    "dport",
    "srcport",
    "dstport",
    "stime",
    "ltime",
    "id",
    "src",
    "dst",
    "saddr",
    "daddr",
    "firsttsns",
    "lasttsns",
    // `workbench features` tables: the flow's first and last packet time, and its VLAN (part of
    // the flow's key: where the traffic was, not what it did).
    "firstseenns",
    "lastseenns",
    "vlan",
];

pub fn is_identifier(name: &str) -> bool {
    IDENTIFIER_KEYS.contains(&column_key(name).as_str())
}

/// Columns a model would be trained on: not identifiers of the flow's endpoints or time. The
/// destination port stays (the kernel has it as a feature); source ports, addresses and times go.
pub fn is_model_feature(col: &Col) -> bool {
    let k = column_key(&col.name);
    matches!(col.values, Values::Numeric(_))
        && (!col.identifier || matches!(k.as_str(), "destinationport" | "dsport" | "dport" | "dstport"))
}

impl Table {
    /// The rows the cleaning step keeps (NaN and Infinity are counted per column when loading
    /// and removed before training), sampled to at most [`MAX_ROWS`]. The sample is gathered by
    /// polars in one step per column, so a 2.8-million-row table costs one pass.
    pub fn from_dataset(ds: &LoadedDataset) -> Table {
        let usable = ds.usable_rows();
        let mut idx: Vec<usize> = usable
            .into_iter()
            .enumerate()
            .filter_map(|(i, k)| (k == Some(true)).then_some(i))
            .collect();
        let n = idx.len();
        if n > MAX_ROWS {
            SplitMix64(7).shuffle(&mut idx);
            idx.truncate(MAX_ROWS);
            idx.sort_unstable();
        }
        let take = IdxCa::from_vec("idx".into(), idx.iter().map(|&i| i as IdxSize).collect());
        let skip = ds.label_columns();
        let mut columns = Vec::new();
        for c in ds.frame.get_columns() {
            if skip.contains(&c.name().as_str()) {
                continue;
            }
            let Ok(picked) = c.take(&take) else {
                continue;
            };
            let values = if let Ok(f) = picked.f64() {
                Values::Numeric(f.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
            } else if let Ok(s) = picked.str() {
                Values::Text(s.into_iter().map(|v| v.unwrap_or("").to_string()).collect())
            } else {
                continue;
            };
            columns.push(Col {
                name: c.name().to_string(),
                identifier: is_identifier(c.name()),
                values,
            });
        }
        let pick = |v: &Vec<String>| idx.iter().map(|&i| v[i].clone()).collect::<Vec<_>>();
        Table {
            columns,
            malicious: idx.iter().map(|&i| ds.malicious[i]).collect(),
            class: pick(&ds.class),
            // A sampled row without a time: no times, so the time column is scored as text.
            time_ns: ds.times_of(idx.iter().copied()).and_then(Result::ok),
            hosts: ds.hosts.as_ref().map(pick),
            time_column: ds.time_column.clone(),
            host_column: ds.host_column.clone(),
            total_rows: n,
        }
    }

    pub fn rows(&self) -> usize {
        self.malicious.len()
    }

    pub fn both_classes(&self) -> bool {
        let m = self.malicious.iter().filter(|&&m| m).count();
        m > 0 && m < self.rows()
    }

    /// A note for evidence when the detectors saw a sample.
    pub fn sample_note(&self) -> Option<String> {
        (self.rows() < self.total_rows).then(|| {
            format!(
                "computed on a random sample of {} of {} rows",
                self.rows(),
                self.total_rows
            )
        })
    }
}

/// `f` over `items` on every CPU (scoped threads over contiguous chunks), results in order: the
/// per-column detectors are independent, and a 2.8-million-row dataset makes them the longest
/// part of the report.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if threads < 2 || items.len() < 2 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// With `WORKBENCH_LOAD_PHASES` set, each detector's time on stderr (for profiling).
struct Phases(Option<std::time::Instant>);

impl Phases {
    fn new() -> Self {
        Phases(std::env::var_os("WORKBENCH_LOAD_PHASES").map(|_| std::time::Instant::now()))
    }

    fn lap(&mut self, name: &str) {
        if let Some(t) = &mut self.0 {
            eprintln!("pitfalls phase {name}: {} ms", t.elapsed().as_millis());
            *t = std::time::Instant::now();
        }
    }
}

/// Runs every detector; findings sorted by severity (most severe first).
pub fn inspect(ds: &LoadedDataset) -> Vec<Finding> {
    let mut clock = Phases::new();
    let t = Table::from_dataset(ds);
    clock.lap("sample");
    let mut findings = Vec::new();
    let singles = identifiers::single_features(&t);
    clock.lap("single_features");
    findings.extend(identifiers::identifier_columns(&t, &singles));
    findings.extend(identifiers::leakage(&t, &singles));
    findings.extend(identifiers::host_artefacts(&t, &singles));
    // Independent detectors two at a time: rows on one thread, columns and splits on another.
    let ((row_findings, synthetic), (comparison, column_findings)) = std::thread::scope(|s| {
        let rows_side = s.spawn(|| {
            let mut f: Vec<Finding> = rows::duplicates(&t).into_iter().collect();
            f.extend(rows::label_noise(&t));
            (f, columns::synthetic(&t))
        });
        // `workbench train`'s own runs, on the loaded table (what `train` reads), not the sample.
        let comparison = splits::compare(ds);
        let mut f: Vec<Finding> = columns::constant(&t).into_iter().collect();
        f.extend(columns::correlated(&t));
        let rows_side = rows_side.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        (rows_side, (comparison, f))
    });
    clock.lap("rows, splits and columns");
    findings.extend(row_findings);
    findings.extend(splits::split_finding(&comparison));
    findings.extend(splits::imbalance(&t, &comparison));
    findings.extend(column_findings);
    findings.extend(synthetic);
    findings.push(columns::kernel_features(&ds.column_names(), ds));
    if let Some(note) = t.sample_note() {
        // The split comparison's runs say their own sample (`train --sample-rows`).
        for f in findings.iter_mut().filter(|f| f.id != "split_comparison") {
            f.evidence.set_sample(note.clone());
        }
    }
    findings.sort_by_key(|f| f.severity);
    findings
}

/// Rounds for evidence: four decimals are enough to read and keep JSON short.
pub fn r4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}
