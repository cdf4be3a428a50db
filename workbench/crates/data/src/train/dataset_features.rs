//! `train --features dataset`: a model on every usable column of the dataset (numbers as they
//! are, text categories one-hot when they have few values, else as codes), scored under the
//! same splits as a kernel-feature model, for teaching: next to the kernel-feature score it
//! shows how much is left when only what the kernel can compute is used. Identifiers and the
//! other columns the pitfall report flags are left out by the leakage gate unless kept.
//! The kernel cannot run it (see `workbench_flow::model::dataset_model`).

use std::collections::{BTreeMap, HashMap};

use super::{bail, Result, TrainError};
use ndarray::Array2;
use polars::prelude::DataType;
use serde::Serialize;

use super::gate::{self, Candidate, Flagged, Values};
use super::metrics::{self, CurvePoint, Metrics};
use super::split::{Split, SplitKind};
use super::{choose, linfa_engine, ClassRecall, Dataset, Engine, ModelKind, TrainOptions};
use crate::dataset::LoadedDataset;
use workbench_flow::model::dataset_model::{
    DatasetFloatModel, DatasetInput, DatasetModel, DatasetNode, Encoding,
};
use workbench_flow::model::quantize::FloatNode;

/// Text columns with at most this many distinct values are one-hot encoded; others get codes.
pub const MAX_ONE_HOT: usize = 32;

/// Why such a model cannot go to the kernel (written into its file).
pub const NOT_DEPLOYABLE: &str = "trained on the dataset's own columns (end-of-flow statistics, content, aggregates over other connections, categories), which the probe does not compute per packet";

/// One dataset column as the model's inputs.
struct Source {
    column: String,
    inputs: Vec<DatasetInput>,
    /// Column-major values of each input.
    values: Vec<Vec<f64>>,
    /// The column for the gate.
    numeric: Option<Vec<f64>>,
    text: Option<Vec<String>>,
}

fn encode(loaded: &LoadedDataset, name: &str) -> Result<Option<Source>> {
    let col = loaded.frame.column(name)?;
    if let Ok(f) = col.f64() {
        let v: Vec<f64> = f.into_iter().map(|v| v.unwrap_or(0.0)).collect();
        return Ok(Some(Source {
            column: name.to_string(),
            inputs: vec![DatasetInput {
                name: name.to_string(),
                column: name.to_string(),
                encoding: Encoding::Number,
            }],
            values: vec![v.clone()],
            numeric: Some(v),
            text: None,
        }));
    }
    let Ok(text) = col.cast(&DataType::String) else {
        return Ok(None);
    };
    let text: Vec<String> = text
        .str()?
        .into_iter()
        .map(|v| v.unwrap_or("").to_string())
        .collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for v in &text {
        *counts.entry(v.as_str()).or_default() += 1;
    }
    let mut values: Vec<(&str, usize)> = counts.into_iter().collect();
    values.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if values.len() < 2 {
        return Ok(None);
    }
    let (inputs, columns) = if values.len() <= MAX_ONE_HOT {
        values
            .iter()
            .map(|(v, _)| {
                (
                    DatasetInput {
                        name: format!("{name}={v}"),
                        column: name.to_string(),
                        encoding: Encoding::OneHot { value: v.to_string() },
                    },
                    text.iter().map(|t| f64::from(u8::from(t == v))).collect(),
                )
            })
            .unzip()
    } else {
        let code: HashMap<&str, f64> = values
            .iter()
            .enumerate()
            .map(|(i, (v, _))| (*v, i as f64))
            .collect();
        (
            vec![DatasetInput {
                name: name.to_string(),
                column: name.to_string(),
                encoding: Encoding::Codes {
                    values: values.iter().map(|(v, _)| v.to_string()).collect(),
                },
            }],
            vec![text.iter().map(|t| code[t.as_str()]).collect()],
        )
    };
    Ok(Some(Source {
        column: name.to_string(),
        inputs,
        values: columns,
        numeric: None,
        text: Some(text),
    }))
}

#[derive(Debug, Clone, Serialize)]
pub struct DatasetReport {
    pub model_kind: ModelKind,
    pub split: SplitKind,
    pub rows_train: usize,
    pub rows_test: usize,
    /// The model's inputs (one-hot columns as `column=value`).
    pub features: Vec<String>,
    pub metrics: Metrics,
    pub per_class: BTreeMap<String, ClassRecall>,
    pub roc: Vec<CurvePoint>,
    pub pr: Vec<CurvePoint>,
    pub other_splits: BTreeMap<String, Metrics>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub splits_unavailable: BTreeMap<String, String>,
    /// Tree: impurity importance; logistic: |standardized weight|. Largest first.
    pub importance: Vec<(String, f64)>,
    pub model_id: String,
    pub engine: Engine,
    /// Why the kernel cannot run it (the output's `deployable` is false).
    pub not_deployable: &'static str,
}

pub struct DatasetTrained {
    pub model: DatasetModel,
    pub report: DatasetReport,
    /// Columns the gate left out (or kept with `keep_flagged`).
    pub left_out: Vec<Flagged>,
    pub kept_flagged: Vec<Flagged>,
}

/// The cleaned table's usable columns as model inputs (label and attack type excluded), with
/// what the leakage gate found for each.
fn sources(loaded: &LoadedDataset) -> Result<(Vec<Source>, Vec<gate::Gated>)> {
    let skip = loaded.label_columns();
    let mut all = Vec::new();
    for name in loaded.column_names() {
        if skip.contains(&name.as_str()) {
            continue;
        }
        if let Some(s) = encode(loaded, &name)? {
            all.push(s);
        }
    }
    let candidates: Vec<Candidate> = all
        .iter()
        .map(|s| Candidate {
            column: s.column.clone(),
            feature: s.column.clone(),
            values: match (&s.numeric, &s.text) {
                (Some(x), _) => Values::Numeric(x.as_slice().into()),
                (None, Some(t)) => Values::Text(t),
                (None, None) => Values::Numeric(Vec::new().into()),
            },
        })
        .collect();
    let flags = gate::flags(&candidates, &loaded.malicious, loaded.host_column.as_deref());
    drop(candidates);
    Ok((all, flags))
}

/// The inputs of the sources kept, column-major.
fn inputs_of(sources: &[Source], keep: &[bool]) -> (Vec<DatasetInput>, Vec<Vec<f64>>) {
    let mut inputs = Vec::new();
    let mut columns = Vec::new();
    for (s, _) in sources.iter().zip(keep).filter(|(_, k)| **k) {
        inputs.extend(s.inputs.iter().cloned());
        columns.extend(s.values.iter().cloned());
    }
    (inputs, columns)
}

fn fit(
    columns: &[Vec<f64>],
    ds: &Dataset,
    train: &[usize],
    opts: &TrainOptions,
) -> Result<(DatasetFloatModel, Vec<f64>)> {
    let y: Vec<bool> = train.iter().map(|&i| ds.malicious[i]).collect();
    super::fit::check_classes(&y)?;
    let x = Array2::from_shape_fn((train.len(), columns.len()), |(r, c)| columns[c][train[r]]);
    Ok(match opts.kind {
        ModelKind::Tree => {
            let (nodes, importance) = match opts.engine {
                Engine::Fit => {
                    let cols: Vec<Vec<f64>> = (0..columns.len()).map(|c| x.column(c).to_vec()).collect();
                    let slices: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
                    let t = workbench_fit::fit(
                        &slices,
                        &y,
                        workbench_fit::HistTreeParams {
                            max_depth: opts.max_depth,
                            ..Default::default()
                        },
                    );
                    (t.tree.nodes, t.importance)
                }
                Engine::Linfa => {
                    let t = linfa_engine::fit_tree_matrix(x.clone(), &y, None, opts.max_depth)?;
                    let ids: Vec<usize> = (0..columns.len()).collect();
                    (linfa_engine::float_tree(&t, &ids).nodes, t.feature_importance())
                }
            };
            let mut nodes: Vec<DatasetNode> = nodes
                .into_iter()
                .map(|n| match n {
                    FloatNode::Split {
                        feature,
                        threshold,
                        left,
                        right,
                    } => DatasetNode::Split {
                        input: feature,
                        threshold,
                        left,
                        right,
                    },
                    FloatNode::Leaf { p_malicious } => DatasetNode::Leaf { p_malicious },
                })
                .collect();
            leaf_probabilities(&mut nodes, &x, &y);
            (DatasetFloatModel::Tree { nodes }, importance)
        }
        ModelKind::Logistic => {
            let d = columns.len();
            let mut xs = x;
            let mut mean = vec![0.0; d];
            let mut std = vec![0.0; d];
            let n = xs.nrows() as f64;
            for c in 0..d {
                let col = xs.column(c);
                mean[c] = col.sum() / n;
                std[c] = (col.iter().map(|v| (v - mean[c]).powi(2)).sum::<f64>() / n).sqrt();
                let (m, s) = (mean[c], std[c]);
                xs.column_mut(c)
                    .mapv_inplace(|v| if s > 0.0 { (v - m) / s } else { 0.0 });
            }
            let (bias, weights) = match opts.engine {
                Engine::Fit => {
                    let flat: Vec<f64> = xs.iter().copied().collect();
                    let m = workbench_fit::logistic::fit(
                        &flat,
                        &y,
                        d,
                        workbench_fit::logistic::LogisticParams {
                            alpha: opts.alpha,
                            max_iterations: 300,
                            tolerance: 1e-4,
                        },
                    );
                    (m.intercept, m.weights)
                }
                Engine::Linfa => linfa_engine::fit_logistic_matrix(xs, &y, opts.alpha, 300)?,
            };
            if !bias.is_finite() || weights.iter().any(|w| !w.is_finite()) {
                bail!("logistic regression training failed: the fit diverged (non-finite weights)");
            }
            let importance = weights.iter().map(|w| w.abs()).collect();
            (
                DatasetFloatModel::Logistic {
                    bias,
                    weights,
                    mean,
                    std,
                },
                importance,
            )
        }
    })
}

/// Each leaf's weighted share of malicious training rows.
fn leaf_probabilities(nodes: &mut [DatasetNode], x: &Array2<f64>, y: &[bool]) {
    let model = DatasetModel {
        inputs: Vec::new(),
        model: DatasetFloatModel::Tree {
            nodes: nodes.to_vec(),
        },
        threshold: 0.5,
    };
    let mut sums = vec![(0u64, 0u64); nodes.len()];
    for (r, &m) in y.iter().enumerate() {
        let row = x.row(r);
        let leaf = leaf_of(&model, row.as_slice().unwrap_or(&[]));
        sums[leaf].0 += 1;
        sums[leaf].1 += u64::from(m);
    }
    for (node, (n, pos)) in nodes.iter_mut().zip(sums) {
        if let DatasetNode::Leaf { p_malicious } = node {
            if n > 0 {
                *p_malicious = pos as f64 / n as f64;
            }
        }
    }
}

fn leaf_of(model: &DatasetModel, x: &[f64]) -> usize {
    let DatasetFloatModel::Tree { nodes } = &model.model else {
        return 0;
    };
    let mut i = 0;
    for _ in 0..=nodes.len() {
        match nodes.get(i) {
            Some(DatasetNode::Split {
                input,
                threshold,
                left,
                right,
            }) => {
                i = if x.get(*input).copied().unwrap_or(0.0) <= *threshold {
                    *left
                } else {
                    *right
                }
            }
            _ => return i,
        }
    }
    i
}

fn score(model: &DatasetModel, columns: &[Vec<f64>], rows: &[usize]) -> Vec<f64> {
    let mut x = vec![0.0; columns.len()];
    rows.iter()
        .map(|&r| {
            for (v, c) in x.iter_mut().zip(columns) {
                *v = c[r];
            }
            model.probability(&x)
        })
        .collect()
}

fn evaluate(
    model: &DatasetModel,
    columns: &[Vec<f64>],
    ds: &Dataset,
    s: &Split,
) -> (Metrics, Vec<bool>, Vec<f64>, Vec<bool>) {
    let scores = score(model, columns, &s.test);
    let predicted: Vec<bool> = scores.iter().map(|&p| p >= model.threshold).collect();
    let truth: Vec<bool> = s.test.iter().map(|&i| ds.malicious[i]).collect();
    (
        metrics::metrics(&truth, &predicted, &scores),
        truth,
        scores,
        predicted,
    )
}

/// Trains a dataset-feature model on the cleaned table. `ds` carries the labels, times, hosts
/// and files of the rows (from `prepare`, features unused); `opts.split` is the split to use.
pub fn train(
    loaded: &LoadedDataset,
    ds: &Dataset,
    opts: &TrainOptions,
    keep_flagged: bool,
) -> Result<DatasetTrained> {
    let loaded = loaded.cleaned()?;
    let (sources, gated) = sources(&loaded)?;
    let (mut left_out, mut kept_flagged) = (Vec::new(), Vec::new());
    let mut keep: Vec<bool> = Vec::with_capacity(sources.len());
    for g in &gated {
        match &g.flag {
            Some(f) if !keep_flagged => {
                left_out.push(f.clone());
                keep.push(false);
            }
            Some(f) => {
                kept_flagged.push(f.clone());
                keep.push(true);
            }
            None => keep.push(true),
        }
    }
    // Leaky columns are judged against a model fitted with them (as for kernel features).
    let split = choose::split_rows(ds, opts.split, opts.test_share, opts.seed)?;
    let (inputs, columns) = inputs_of(&sources, &keep);
    if !columns.is_empty() && gated.iter().any(|g| g.leak.is_some()) {
        let (first, _) = fit(&columns, ds, &split.train, opts)?;
        let model = DatasetModel {
            inputs: inputs.clone(),
            model: first,
            threshold: opts.threshold,
        };
        let accuracy = evaluate(&model, &columns, ds, &split).0.accuracy;
        for (i, g) in gated.iter().enumerate() {
            let Some(f) = g.leak.as_ref().and_then(|l| gate::leak_flag(l, accuracy)) else {
                continue;
            };
            if !keep[i] {
                continue;
            }
            if keep_flagged {
                kept_flagged.push(f);
            } else {
                left_out.push(f);
                keep[i] = false;
            }
        }
    }
    let (inputs, columns) = inputs_of(&sources, &keep);
    if columns.is_empty() {
        let why: Vec<String> = left_out
            .iter()
            .map(|f| format!("`{}`: {}", f.column, f.reason))
            .collect();
        bail!(
            "{}: no usable column left for a dataset-feature model{}",
            loaded.sources.join(", "),
            if why.is_empty() {
                String::new()
            } else {
                format!(" (left out: {}; --keep-flagged keeps them)", why.join("; "))
            }
        );
    }
    let build = |s: &Split| -> Result<DatasetModel> {
        let (model, _) = fit(&columns, ds, &s.train, opts)?;
        Ok(DatasetModel {
            inputs: inputs.clone(),
            model,
            threshold: opts.threshold,
        })
    };
    let (fitted, importance_raw) = fit(&columns, ds, &split.train, opts)?;
    let model = DatasetModel {
        inputs: inputs.clone(),
        model: fitted,
        threshold: opts.threshold,
    };
    let (m, truth, scores, predicted) = evaluate(&model, &columns, ds, &split);
    let class: Vec<&str> = split.test.iter().map(|&i| ds.class[i].as_str()).collect();
    let per_class = metrics::per_class_recall(&class, &truth, &predicted);
    let mut other_splits = BTreeMap::new();
    let mut splits_unavailable = BTreeMap::new();
    for kind in choose::PREFERENCE {
        if kind == opts.split {
            continue;
        }
        match choose::split_rows(ds, kind, opts.test_share, opts.seed)
            .map_err(TrainError::from)
            .and_then(|s| Ok((build(&s)?, s)))
        {
            Ok((mdl, s)) => {
                other_splits.insert(kind.name().to_string(), evaluate(&mdl, &columns, ds, &s).0);
            }
            Err(e) => {
                splits_unavailable.insert(kind.name().to_string(), format!("{e}"));
            }
        }
    }
    let mut importance: Vec<(String, f64)> = inputs
        .iter()
        .map(|i| i.name.clone())
        .zip(importance_raw)
        .collect();
    importance.sort_by(|a, b| b.1.total_cmp(&a.1));
    let report = DatasetReport {
        model_kind: opts.kind,
        split: opts.split,
        rows_train: split.train.len(),
        rows_test: split.test.len(),
        features: inputs.iter().map(|i| i.name.clone()).collect(),
        metrics: m,
        per_class,
        roc: metrics::thin(metrics::roc(&truth, &scores), 50),
        pr: metrics::thin(metrics::pr(&truth, &scores), 50),
        other_splits,
        splits_unavailable,
        importance,
        model_id: model.id(),
        engine: opts.engine,
        not_deployable: NOT_DEPLOYABLE,
    };
    Ok(DatasetTrained {
        model,
        report,
        left_out,
        kept_flagged,
    })
}
