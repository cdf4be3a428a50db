//! Which library fits the float model: `fit` (the histogram CART and L-BFGS logistic regression
//! of `workbench-fit`, the default: measured faster than scikit-learn) or `linfa` (linfa-trees
//! and linfa-logistic, the Rust ML ecosystem's, 12-22x slower on large tables: docs/BENCHMARKS.md).
//! Either way the result is the same float reference model, compiled to the same integer form,
//! so everything after the fit (scores, splits, compilation, agreement) is shared; a linfa run
//! also reports how often the default engine, fitted on the same rows, decides the same.

use super::Result;
use serde::Serialize;
use shared::features::FeatureVector;

use super::metrics::Metrics;
use super::split::Split;
use super::{fit as fitting, linfa_engine, Dataset, Fitted, ModelKind, TrainOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    /// workbench-fit: histogram CART, L-BFGS logistic regression (the default).
    Fit,
    /// linfa-trees (CART) and linfa-logistic.
    Linfa,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Fit => "fit",
            Engine::Linfa => "linfa",
        }
    }
}

/// Fits `opts.kind` on the `train` rows with `engine`.
pub(crate) fn fit(ds: &Dataset, train: &[usize], opts: &TrainOptions, engine: Engine) -> Result<Fitted> {
    let rows: Vec<&FeatureVector> = train.iter().map(|&i| &ds.features[i]).collect();
    let y: Vec<bool> = train.iter().map(|&i| ds.malicious[i]).collect();
    let weights = ds.weights_of(train);
    let w = weights.as_deref();
    Ok(match (engine, opts.kind) {
        (Engine::Fit, ModelKind::Tree) => {
            Fitted::Tree(fitting::tree(&rows, &y, w, &opts.feature_ids, opts.max_depth)?)
        }
        (Engine::Fit, ModelKind::Logistic) => Fitted::Logistic(Box::new(fitting::logistic(
            &rows,
            &y,
            w,
            &opts.feature_ids,
            opts.alpha,
        )?)),
        (Engine::Linfa, ModelKind::Tree) => Fitted::Tree(linfa_engine::tree(
            &rows,
            &y,
            w,
            &opts.feature_ids,
            opts.max_depth,
        )?),
        (Engine::Linfa, ModelKind::Logistic) => Fitted::Logistic(Box::new(linfa_engine::logistic(
            &rows,
            &y,
            &opts.feature_ids,
            opts.alpha,
        )?)),
    })
}

/// How the chosen engine's model and the default engine's, fitted on the same training rows,
/// decide on the same test rows.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EngineAgreement {
    /// The engine compared with (the default, `fit`).
    pub other_engine: Engine,
    pub rows: usize,
    /// Test rows both float models decide the same way.
    pub identical_decisions: usize,
    pub share_identical: f64,
    pub f1: f64,
    pub other_f1: f64,
    /// linfa-logistic takes no sample weights: said when the rows had weights.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Fits the default engine on `split.train` and compares its test decisions with `predicted`
/// (the chosen engine's, per test row).
pub(crate) fn agreement(
    ds: &Dataset,
    split: &Split,
    opts: &TrainOptions,
    chosen: Engine,
    predicted: &[bool],
    metrics: &Metrics,
) -> Result<EngineAgreement> {
    let other = fit(ds, &split.train, opts, Engine::Fit)?;
    let evaluated = super::evaluate(ds, &split.test, &other, opts.threshold);
    let identical = evaluated
        .predicted
        .iter()
        .zip(predicted)
        .filter(|(a, b)| a == b)
        .count();
    let note = (chosen == Engine::Linfa && opts.kind == ModelKind::Logistic && !ds.weight.is_empty()).then(|| {
        "linfa-logistic takes no sample weights: every decision point counted once (long flows weigh more); the fit engine weighs each flow once".to_string()
    });
    Ok(EngineAgreement {
        other_engine: Engine::Fit,
        rows: predicted.len(),
        identical_decisions: identical,
        share_identical: identical as f64 / predicted.len().max(1) as f64,
        f1: metrics.f1,
        other_f1: evaluated.reading.metrics.f1,
        note,
    })
}
