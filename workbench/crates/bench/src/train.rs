//! `workbench bench train`: tree and logistic training against scikit-learn on the same rows.
//!
//! The rows: a seeded sample of the CIC-IDS2017-sized file's rows that the cleaning step keeps,
//! with all its numeric columns (78 features of the MachineLearningCVE layout) and the label
//! as malicious/benign; a seeded random 70/30 split. They are written to a CSV in the bench data
//! folder with every float in Rust's shortest round-trip form, so scikit-learn reads exactly the
//! values the workbench trained on. Each side times the fit alone.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use linfa::prelude::*;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::cic_file::{self, CicFile};
use super::figure::{Figure, Section};
use super::load::build_profile;
use super::machine::Machine;
use super::{child, python};
use crate::error::{err, Context, Error, Result};
use workbench_data::dataset::{self, LoadOptions};
use workbench_data::train::hist_tree::{self, HistTreeParams};
use workbench_data::train::linfa_engine;
use workbench_data::train::split::{self, SplitMix64};

pub const MAX_DEPTH: usize = 12;

#[derive(Debug, Clone)]
pub struct Options {
    /// Rows of the CIC-sized file the sample is drawn from.
    pub file_rows: usize,
    /// Rows sampled for training and testing.
    pub rows: usize,
    /// Training rows linfa-trees is timed on (it is too slow for all of them).
    pub linfa_rows: usize,
    /// Training rows linfa-logistic is timed on.
    pub linfa_logistic_rows: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FitTime {
    pub fit_s: f64,
    pub accuracy: f64,
    #[serde(default)]
    pub rows_train: Option<usize>,
    #[serde(default)]
    pub nodes: Option<usize>,
    #[serde(default)]
    pub iterations: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sklearn {
    pub sklearn_version: String,
    pub tree: FitTime,
    pub tree_small: FitTime,
    pub logistic: FitTime,
    pub logistic_small: FitTime,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrainBench {
    #[serde(flatten)]
    pub section: Section,
    pub file: CicFile,
    pub rows_train: usize,
    pub rows_test: usize,
    pub features: usize,
    /// Our CART with the histogram split finder (what `workbench train --model tree` fits).
    pub hist_tree: FitTime,
    /// linfa-trees on the first `linfa_rows` training rows.
    pub linfa_tree: FitTime,
    /// Our L-BFGS logistic regression (`workbench-fit`).
    pub logistic: FitTime,
    /// linfa-logistic on the first `linfa_logistic_rows` training rows.
    pub linfa_logistic: FitTime,
    pub sklearn: Option<Sklearn>,
    pub build_profile: &'static str,
    pub machine: Machine,
}

struct Rows {
    names: Vec<String>,
    /// Column-major features.
    columns: Vec<Vec<f64>>,
    y: Vec<bool>,
    train: Vec<usize>,
    test: Vec<usize>,
}

fn sample(file: &Path, opts: &Options) -> Result<Rows> {
    let cache_dir = cic_file::bench_data_dir().join("dataset-cache");
    let ds = dataset::load(
        &[file.to_path_buf()],
        &LoadOptions {
            cache_dir: Some(cache_dir),
            ..Default::default()
        },
    )
    .map_err(Error::data)?;
    let mut idx: Vec<usize> = ds
        .usable_rows()
        .into_iter()
        .enumerate()
        .filter_map(|(i, k)| (k == Some(true)).then_some(i))
        .collect();
    SplitMix64(opts.seed).shuffle(&mut idx);
    idx.truncate(opts.rows);
    idx.sort_unstable();
    let (names, columns) = ds.numeric_rows(&idx, &ds.label_column);
    let y: Vec<bool> = idx.iter().map(|&i| ds.malicious[i]).collect();
    let s = split::random(y.len(), 0.3, opts.seed);
    Ok(Rows {
        names,
        columns,
        y,
        train: s.train,
        test: s.test,
    })
}

/// The rows for scikit-learn: features, `label`, `is_test`; floats in shortest round-trip form.
fn write_csv(rows: &Rows, path: &Path) -> Result<()> {
    write_csv_to(rows, path).context(|| path.display().to_string())
}

fn write_csv_to(rows: &Rows, path: &Path) -> std::io::Result<()> {
    let mut w = BufWriter::new(std::fs::File::create(path)?);
    let mut is_test = vec![false; rows.y.len()];
    for &i in &rows.test {
        is_test[i] = true;
    }
    let header: Vec<String> = rows
        .names
        .iter()
        .map(|n| format!("\"{}\"", n.replace('"', "")))
        .collect();
    writeln!(w, "{},label,is_test", header.join(","))?;
    let mut line = String::new();
    for r in 0..rows.y.len() {
        line.clear();
        for c in &rows.columns {
            line.push_str(&c[r].to_string());
            line.push(',');
        }
        line.push_str(if rows.y[r] { "1," } else { "0," });
        line.push_str(if is_test[r] { "1\n" } else { "0\n" });
        w.write_all(line.as_bytes())?;
    }
    w.flush()
}

fn accuracy(truth: &[bool], predicted: impl Iterator<Item = bool>) -> f64 {
    let correct = truth.iter().zip(predicted).filter(|(t, p)| *t == p).count();
    correct as f64 / truth.len().max(1) as f64
}

fn matrix(rows: &Rows, idx: &[usize]) -> Array2<f64> {
    Array2::from_shape_fn((idx.len(), rows.columns.len()), |(r, c)| rows.columns[c][idx[r]])
}

fn ours_hist(rows: &Rows) -> FitTime {
    let train_cols: Vec<Vec<f64>> = rows
        .columns
        .iter()
        .map(|c| rows.train.iter().map(|&i| c[i]).collect())
        .collect();
    let slices: Vec<&[f64]> = train_cols.iter().map(Vec::as_slice).collect();
    let y: Vec<bool> = rows.train.iter().map(|&i| rows.y[i]).collect();
    let started = Instant::now();
    let t = hist_tree::fit(
        &slices,
        &y,
        HistTreeParams {
            max_depth: MAX_DEPTH,
            ..HistTreeParams::default()
        },
    );
    let fit_s = started.elapsed().as_secs_f64();
    let truth: Vec<bool> = rows.test.iter().map(|&i| rows.y[i]).collect();
    let acc = accuracy(
        &truth,
        rows.test
            .iter()
            .map(|&i| t.tree.predict_with(|f| rows.columns[f][i]) >= 0.5),
    );
    FitTime {
        fit_s,
        accuracy: acc,
        rows_train: Some(y.len()),
        nodes: Some(t.tree.nodes.len()),
        iterations: None,
    }
}

/// linfa-trees through the data crate's linfa engine (what `workbench train --engine linfa`
/// fits), on the first `n` training rows.
fn ours_linfa(rows: &Rows, n: usize) -> Result<FitTime> {
    let train = &rows.train[..n.min(rows.train.len())];
    let x = matrix(rows, train);
    let y: Vec<bool> = train.iter().map(|&i| rows.y[i]).collect();
    let started = Instant::now();
    let tree = linfa_engine::fit_tree_matrix(x, &y, None, MAX_DEPTH).map_err(Error::data)?;
    let fit_s = started.elapsed().as_secs_f64();
    let predicted = tree.predict(&matrix(rows, &rows.test));
    let truth: Vec<bool> = rows.test.iter().map(|&i| rows.y[i]).collect();
    Ok(FitTime {
        fit_s,
        accuracy: accuracy(&truth, predicted.iter().copied()),
        rows_train: Some(train.len()),
        nodes: Some(tree.iter_nodes().count()),
        iterations: None,
    })
}

/// Training and test matrices standardised with the training side's mean and (population)
/// deviation, as StandardScaler does.
fn standardised(rows: &Rows, train: &[usize]) -> (Array2<f64>, Array2<f64>) {
    let mut x = matrix(rows, train);
    let mut xt = matrix(rows, &rows.test);
    for c in 0..x.ncols() {
        let n = x.nrows() as f64;
        let mean = x.column(c).sum() / n;
        let sd = (x.column(c).iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let scale = |v: f64| if sd > 0.0 { (v - mean) / sd } else { 0.0 };
        x.column_mut(c).mapv_inplace(scale);
        xt.column_mut(c).mapv_inplace(scale);
    }
    (x, xt)
}

/// L-BFGS logistic regression of `workbench-fit` (alpha 1 = scikit-learn's C 1).
fn ours_logistic(rows: &Rows) -> FitTime {
    let (x, xt) = standardised(rows, &rows.train);
    let d = x.ncols();
    let flat: Vec<f64> = x.iter().copied().collect();
    let y: Vec<bool> = rows.train.iter().map(|&i| rows.y[i]).collect();
    let started = Instant::now();
    let m = workbench_fit::logistic::fit(&flat, &y, d, workbench_fit::logistic::LogisticParams::default());
    let fit_s = started.elapsed().as_secs_f64();
    let truth: Vec<bool> = rows.test.iter().map(|&i| rows.y[i]).collect();
    let predicted = xt
        .rows()
        .into_iter()
        .map(|r| m.logit(r.as_slice().unwrap_or(&[])) > 0.0)
        .collect::<Vec<_>>();
    FitTime {
        fit_s,
        accuracy: accuracy(&truth, predicted.into_iter()),
        rows_train: Some(y.len()),
        nodes: None,
        iterations: Some(m.iterations),
    }
}

/// linfa-logistic through the data crate's linfa engine, on the first `n` training rows (it is
/// too slow for all of them).
fn linfa_logistic(rows: &Rows, n: usize) -> Result<FitTime> {
    let train = &rows.train[..n.min(rows.train.len())];
    let (x, xt) = standardised(rows, train);
    let y: Vec<bool> = train.iter().map(|&i| rows.y[i]).collect();
    let started = Instant::now();
    let (intercept, weights) = linfa_engine::fit_logistic_matrix(x, &y, 1.0, 100).map_err(Error::data)?;
    let fit_s = started.elapsed().as_secs_f64();
    let predicted = xt
        .rows()
        .into_iter()
        .map(|r| intercept + r.iter().zip(&weights).map(|(a, w)| a * w).sum::<f64>() > 0.0);
    let truth: Vec<bool> = rows.test.iter().map(|&i| rows.y[i]).collect();
    Ok(FitTime {
        fit_s,
        accuracy: accuracy(&truth, predicted),
        rows_train: Some(train.len()),
        nodes: None,
        iterations: None,
    })
}

fn sklearn(csv: &Path, linfa_rows: usize, linfa_logistic_rows: usize) -> Result<Sklearn> {
    let b = python::baseline("sklearn_train.py", &["pandas", "scikit-learn"])?;
    let r = child::checked(
        Command::new(&b.python)
            .arg(&b.script)
            .arg(csv)
            .arg(linfa_rows.to_string())
            .arg(linfa_logistic_rows.to_string()),
    )?;
    serde_json::from_slice(&r.stdout).map_err(|e| {
        err!(
            Child,
            "sklearn_train.py printed no JSON ({e}): {}",
            r.stderr.trim()
        )
    })
}

fn speed(name: &str, ours: &FitTime, theirs: &FitTime, baseline: &str) -> Figure {
    let f = Figure::versus(name, ours.fit_s, "s", baseline, theirs.fit_s, false);
    let met = f.ratio.is_some_and(|r| r >= 1.0);
    f.with_target("no slower than scikit-learn", met)
}

fn agreement(name: &str, ours: &FitTime, theirs: &FitTime, baseline: &str) -> Figure {
    let f = Figure::versus(name, ours.accuracy, "share", baseline, theirs.accuracy, true);
    let met = (ours.accuracy - theirs.accuracy).abs() <= 0.005;
    f.with_target("within 0.5 points of scikit-learn", met)
}

pub fn run(opts: &Options) -> Result<TrainBench> {
    let file = super::load::prepare_file(opts.file_rows, cic_file::DEFAULT_SEED)?;
    eprintln!("bench: sampling {} rows of {}", opts.rows, file.path.display());
    let rows = sample(&file.path, opts)?;
    let csv = cic_file::bench_data_dir().join(format!("train-rows{}-seed{}.csv", opts.rows, opts.seed));
    write_csv(&rows, &csv)?;
    eprintln!("bench: our tree (histogram CART, depth {MAX_DEPTH})");
    let hist = ours_hist(&rows);
    eprintln!("bench: linfa-trees on {} training rows", opts.linfa_rows);
    let linfa = ours_linfa(&rows, opts.linfa_rows)?;
    eprintln!("bench: our logistic regression (L-BFGS)");
    let logistic = ours_logistic(&rows);
    eprintln!(
        "bench: linfa-logistic on {} training rows",
        opts.linfa_logistic_rows
    );
    let linfa_log = linfa_logistic(&rows, opts.linfa_logistic_rows)?;
    eprintln!("bench: scikit-learn (child process)");
    let mut notes = vec![
        format!(
            "rows: {} sampled (seed {}) from {} ({} rows; real CIC-IDS2017 lines resampled), NaN/Infinity rows removed first; {} numeric columns; random 70/30 split",
            rows.y.len(),
            opts.seed,
            file.path.display(),
            file.rows,
            rows.columns.len()
        ),
        "the file repeats 2,299 distinct real rows, so trees reach near-perfect accuracy on it; the figures are about fit time at equal accuracy".into(),
        format!("build profile: {}", build_profile()),
    ];
    let sk = match sklearn(&csv, opts.linfa_rows, opts.linfa_logistic_rows) {
        Ok(s) => Some(s),
        Err(e) => {
            notes.push(format!("scikit-learn baseline skipped: {e:#}"));
            None
        }
    };
    let _ = std::fs::remove_file(&csv);
    let mut figures = Vec::new();
    match &sk {
        Some(s) => {
            figures.push(speed(
                "tree_fit_s",
                &hist,
                &s.tree,
                "sklearn DecisionTreeClassifier(max_depth=12)",
            ));
            figures.push(agreement(
                "tree_accuracy",
                &hist,
                &s.tree,
                "sklearn DecisionTreeClassifier(max_depth=12)",
            ));
            figures.push(speed(
                "linfa_tree_fit_s",
                &linfa,
                &s.tree_small,
                "sklearn DecisionTreeClassifier(max_depth=12) on the same rows",
            ));
            figures.push(agreement(
                "linfa_tree_accuracy",
                &linfa,
                &s.tree_small,
                "sklearn DecisionTreeClassifier(max_depth=12) on the same rows",
            ));
            figures.push(speed(
                "logistic_fit_s",
                &logistic,
                &s.logistic,
                "sklearn LogisticRegression",
            ));
            figures.push(agreement(
                "logistic_accuracy",
                &logistic,
                &s.logistic,
                "sklearn LogisticRegression",
            ));
            figures.push(speed(
                "linfa_logistic_fit_s",
                &linfa_log,
                &s.logistic_small,
                "sklearn LogisticRegression on the same rows",
            ));
            figures.push(agreement(
                "linfa_logistic_accuracy",
                &linfa_log,
                &s.logistic_small,
                "sklearn LogisticRegression on the same rows",
            ));
        }
        None => {
            figures.push(Figure::absolute("tree_fit_s", hist.fit_s, "s", false));
            figures.push(Figure::absolute("linfa_tree_fit_s", linfa.fit_s, "s", false));
            figures.push(Figure::absolute("logistic_fit_s", logistic.fit_s, "s", false));
            figures.push(Figure::absolute(
                "linfa_logistic_fit_s",
                linfa_log.fit_s,
                "s",
                false,
            ));
        }
    }
    Ok(TrainBench {
        section: Section {
            section: "train".into(),
            figures,
            notes,
        },
        file,
        rows_train: rows.train.len(),
        rows_test: rows.test.len(),
        features: rows.columns.len(),
        hist_tree: hist,
        linfa_tree: linfa,
        logistic,
        linfa_logistic: linfa_log,
        sklearn: sk,
        build_profile: build_profile(),
        machine: Machine::this(),
    })
}
