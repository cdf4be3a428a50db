//! `workbench inspect DATA... [--label COL] [--kind K] [--no-cache] [--json]`: load a dataset and
//! report its pitfalls, most severe first, each with its evidence and what to do.

use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::Result;
use serde::Serialize;
use serde_json::Value;

use super::print_json;
use workbench_data::dataset::{self, ColumnHealth, DatasetKind, Dropped, LoadOptions, LoadedDataset};
use workbench_data::pitfalls::evidence::words;
use workbench_data::pitfalls::{self, Finding};

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// CSV or Parquet files, folders of them, or a .zip archive (read without unpacking).
    #[arg(required = true)]
    pub data: Vec<PathBuf>,
    /// The label column (default: found by name: label, target, class, attack_cat).
    #[arg(long)]
    pub label: Option<String>,
    /// Read the files as this dataset kind instead of detecting it.
    #[arg(long, value_enum)]
    pub kind: Option<DatasetKind>,
    /// Neither read nor write the parsed-dataset cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Directory of the parsed-dataset cache (default $XDG_CACHE_HOME/ebpf-ml-workbench/datasets).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Also drop exact duplicate rows while cleaning (reported under `dropped`).
    #[arg(long)]
    pub drop_duplicates: bool,
    /// Print the report as one JSON document on stdout (keys dataset, rows, columns, dropped, findings).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct DatasetInfo {
    pub kind: DatasetKind,
    pub kind_reason: String,
    pub sources: Vec<String>,
    pub label_column: String,
    pub class_column: Option<String>,
    pub time_column: Option<String>,
    pub host_column: Option<String>,
    pub from_cache: bool,
    /// The Parquet cache file read or written (null with --no-cache).
    pub cache_path: Option<String>,
    pub load_ms: u64,
}

#[derive(Debug, Serialize)]
pub struct ColumnInfo {
    pub name: String,
    /// `numeric` or `text`.
    pub dtype: &'static str,
}

/// The `--json` document: keys `dataset`, `rows`, `columns`, `dropped`, `findings`.
#[derive(Debug, Serialize)]
pub struct InspectReport {
    pub dataset: DatasetInfo,
    /// Rows of the loaded table (all of them; `dropped` says what cleaning removes before
    /// training, and the detectors look at the rows it keeps).
    pub rows: usize,
    pub columns: Vec<ColumnInfo>,
    /// Missing, NaN and infinite values per column.
    pub column_health: Vec<ColumnHealth>,
    pub dropped: Dropped,
    pub findings: Vec<Finding>,
}

pub fn report(ds: &LoadedDataset) -> InspectReport {
    let columns = ds
        .frame
        .get_columns()
        .iter()
        .map(|c| ColumnInfo {
            name: c.name().to_string(),
            dtype: if c.f64().is_ok() { "numeric" } else { "text" },
        })
        .collect();
    InspectReport {
        dataset: DatasetInfo {
            kind: ds.kind,
            kind_reason: ds.kind_reason.clone(),
            sources: ds.sources.clone(),
            label_column: ds.label_column.clone(),
            class_column: ds.class_column.clone(),
            time_column: ds.time_column.clone(),
            host_column: ds.host_column.clone(),
            from_cache: ds.from_cache,
            cache_path: ds.cache_path.clone(),
            load_ms: ds.load_ms,
        },
        rows: ds.rows(),
        columns,
        column_health: ds.health.clone(),
        dropped: ds.dropped.clone(),
        findings: pitfalls::inspect(ds),
    }
}

/// Items of an evidence list printed in the text report (`--json` has them all).
const LIST_ITEMS: usize = 8;

/// One evidence entry as lines: a list of objects one item per line (the first few).
fn evidence_lines(key: &str, v: &Value) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        Value::Array(items) if items.iter().any(Value::is_object) => {
            let mut out = vec![format!("    {key}:")];
            out.extend(
                items
                    .iter()
                    .take(LIST_ITEMS)
                    .map(|i| format!("      - {}", words(i))),
            );
            if items.len() > LIST_ITEMS {
                out.push(format!(
                    "      ... and {} more (`--json` has them all)",
                    items.len() - LIST_ITEMS
                ));
            }
            out
        }
        Value::Object(m) if m.values().any(serde_json::Value::is_object) => {
            let mut out = vec![format!("    {key}:")];
            out.extend(m.iter().map(|(k, x)| format!("      - {k}: {}", words(x))));
            out
        }
        _ => vec![format!("    {key}: {}", words(v))],
    }
}

pub fn run(args: InspectArgs) -> Result<()> {
    let opts = LoadOptions {
        label: args.label,
        kind: args.kind,
        drop_duplicates: args.drop_duplicates,
        no_cache: args.no_cache,
        cache_dir: args.cache_dir.clone(),
        // The pitfall report looks at every column.
        columns: None,
    };
    let ds = dataset::load(&args.data, &opts)?;
    eprintln!(
        "{}: {} ({}){}, {} ms",
        ds.sources.join(", "),
        ds.kind,
        ds.kind_reason,
        if ds.from_cache { ", from cache" } else { "" },
        ds.load_ms
    );
    let r = report(&ds);
    if args.json {
        return print_json(&r);
    }
    println!(
        "dataset: {} rows x {} columns, label `{}`",
        r.rows,
        r.columns.len(),
        r.dataset.label_column
    );
    let d = &r.dropped;
    // Counted over every column: `train --features kernel` drops only the rows missing a
    // column it reads (and says how many), `--features dataset` all of these.
    println!(
        "cleaning, over every column: {} rows read, {} with a missing or unusable value (train drops only those missing a column it uses, and says how many)",
        d.rows_read, d.rows_dropped
    );
    for reason in &d.rows_by_reason {
        println!("  {}", reason.words());
    }
    for c in &d.columns {
        println!("  column {} dropped: {}", c.column, c.reason);
    }
    for h in r
        .column_health
        .iter()
        .filter(|h| h.missing + h.nan + h.infinite > 0)
    {
        println!(
            "  column {}: {} missing, {} NaN, {} infinite",
            h.column, h.missing, h.nan, h.infinite
        );
    }
    for f in &r.findings {
        let severity = format!("{:?}", f.severity).to_uppercase();
        println!("\n[{severity}] {}: {}", f.id, f.summary);
        if let Value::Object(m) = f.evidence.to_json() {
            for (k, v) in m {
                for line in evidence_lines(&k, &v) {
                    println!("{line}");
                }
            }
        }
        println!("  -> {}", f.advice);
    }
    Ok(())
}
