//! `train_peak_rss_bytes` in `workbench bench train`: the peak resident memory of `workbench
//! train` (a tree, every default) on the CIC-IDS2017-sized file that `bench load` and `bench
//! pitfalls` read, in a child process (wait4's ru_maxrss, as every section measures), against
//! the file's size. Target: at most twice the file, so that a laptop trains on what it can
//! hold twice (a reviewer measured 5.6x before training read only the columns it uses).

use std::process::Command;

use serde::Serialize;

use super::child;
use super::cic_file::{CicFile, CIC_ROWS};
use super::figure::Figure;
use super::load::prepare_file;
use crate::error::{err, Context, Result};

/// The target: peak resident memory at most this many times the input file's size.
pub const MAX_RATIO: f64 = 2.0;

#[derive(Debug, Clone, Serialize)]
pub struct TrainMemory {
    pub file: CicFile,
    /// The measured command (the file and the model's path aside).
    pub command: String,
    pub peak_rss_bytes: u64,
    /// `peak_rss_bytes / file.size_bytes`.
    pub peak_to_file: f64,
    pub process_s: f64,
    pub rows: u64,
    /// From the report's `memory`: the columns of the file and those read.
    pub columns_in_files: u64,
    pub columns_loaded: Vec<String>,
}

/// Trains on the file of `rows` rows (built or reused) and measures the process.
pub fn run(rows: usize, seed: u64) -> Result<(TrainMemory, Figure)> {
    let file = prepare_file(rows, seed)?;
    let out = tempfile::tempdir().context(|| "a temporary folder for the model")?;
    let model = out.path().join("model.json");
    let args = ["--model", "tree", "--no-cache", "--json"];
    eprintln!("bench: workbench train {} (child process)", args.join(" "));
    let exe = std::env::current_exe().context(|| "own executable")?;
    let r = child::checked(
        Command::new(exe)
            .arg("train")
            .arg(&file.path)
            .args(args)
            .arg("-o")
            .arg(&model),
    )?;
    let v: serde_json::Value = serde_json::from_slice(&r.stdout)
        .map_err(|e| err!(Child, "train printed no JSON ({e}): {}", r.stderr.trim()))?;
    let memory = &v["memory"];
    let columns_loaded: Vec<String> = memory["columns_loaded"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c.as_str().map(String::from)).collect())
        .unwrap_or_default();
    let size = file.size_bytes.max(1) as f64;
    let figure = Figure::versus(
        "train_peak_rss_bytes",
        r.peak_rss_bytes as f64,
        "bytes",
        "the input CSV's size",
        size,
        false,
    );
    let ratio = r.peak_rss_bytes as f64 / size;
    let figure = if rows >= CIC_ROWS {
        figure.with_target("<= 2x the input file's size", ratio <= MAX_RATIO)
    } else {
        // A small file's peak is mostly the program itself: judged on the full-size file only.
        figure
    };
    Ok((
        TrainMemory {
            command: format!("workbench train FILE {} -o MODEL", args.join(" ")),
            peak_rss_bytes: r.peak_rss_bytes,
            peak_to_file: ratio,
            process_s: r.wall_ns as f64 / 1e9,
            rows: v["rows"].as_u64().unwrap_or(0),
            columns_in_files: memory["columns_in_files"].as_u64().unwrap_or(0),
            columns_loaded,
            file,
        },
        figure,
    ))
}
