//! Training: fit a tree or a logistic model on kernel features under an honest split, score it
//! next to the other splits, compile it to the probe's integer form and report how well the
//! integer model agrees with the float one.

pub(crate) mod base_rate;
pub mod candidates;
pub mod choose;
pub mod columns;
pub(crate) mod convert;
mod convert_blocks;
pub mod dataset_features;
pub mod decision_points;
pub(crate) mod engine;
pub(crate) mod files;
pub(crate) mod fit;
pub(crate) mod flows;
pub mod gate;
pub mod hist_tree;
pub mod linfa_engine;
pub mod metrics;
mod metrics_json;
pub mod prepare;
pub(crate) mod quantiles;
pub mod run;
pub mod sample;
pub(crate) mod select;
pub mod split;
mod values_note;

/// Why training (or preparing its rows) failed: a load, a capture or a model file's error passed
/// through, or a refusal whose message names the file, column or split and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] crate::dataset::DataError),
    #[error(transparent)]
    Features(#[from] crate::features::FeaturesError),
    #[error(transparent)]
    Capture(#[from] workbench_flow::capture::CaptureError),
    #[error(transparent)]
    Labels(#[from] crate::features::labels::LabelsError),
    #[error(transparent)]
    Polars(#[from] polars::prelude::PolarsError),
    #[error(transparent)]
    Split(#[from] choose::SplitRefused),
    /// A capture or table the error belongs to, named in front of it.
    #[error("{file}")]
    In {
        file: String,
        #[source]
        source: Box<TrainError>,
    },
    /// A model file that cannot be written.
    #[error(transparent)]
    ModelFile(#[from] workbench_flow::model::ModelFileError),
    /// The compiler refused the fitted model (too many nodes, a threshold that cannot separate).
    #[error(transparent)]
    Compile(#[from] workbench_flow::model::CompileError),
    /// The linfa engine refused the data (`train --engine linfa`).
    #[error("{engine}")]
    Linfa {
        engine: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Data or options training cannot use; the message names them and what to do.
    #[error("{0}")]
    Invalid(String),
}

impl TrainError {
    /// The capture error this is or wraps, if any (for the `--lenient` hint).
    pub fn capture(&self) -> Option<&workbench_flow::capture::CaptureError> {
        match self {
            TrainError::Capture(c) => Some(c),
            TrainError::Features(f) => f.capture(),
            _ => None,
        }
    }
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;

/// Returns `TrainError::Invalid` from a format string.
macro_rules! bail {
    ($($t:tt)*) => {
        return Err($crate::train::TrainError::Invalid(format!($($t)*)))
    };
}
pub(crate) use bail;

/// `TrainError::Invalid` from a format string.
macro_rules! invalid {
    ($($t:tt)*) => {
        $crate::train::TrainError::Invalid(format!($($t)*))
    };
}
pub(crate) use invalid;

use std::collections::BTreeMap;

use serde::Serialize;
use shared::features::{FeatureVector, FEATURES};
use shared::model::{Model, SCORE_ONE};

pub use engine::Engine;
use metrics::{CurvePoint, Metrics};
pub use prepare::{prepare, provenance, Prepared};
pub use split::SplitKind;
use workbench_flow::model::quantize;

/// Rows to learn from: one per flow, its 40 kernel features at the decision point.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub features: Vec<FeatureVector>,
    pub malicious: Vec<bool>,
    /// The multi-class label (attack type or BENIGN), kept for per-class recall.
    pub class: Vec<String>,
    /// First-seen time of each flow (for the time split).
    pub time_ns: Vec<i64>,
    /// Why `time_ns` is empty though the data has a time column: a row trained or tested on
    /// has no time (named by file and line).
    pub untimed: Option<String>,
    /// The flow's initiator address (for the host split).
    pub host: Vec<String>,
    /// Per row: the index in `files` of the file it came from (empty: unknown; the file split).
    pub file: Vec<u32>,
    /// The source files, earliest first (the file split tests on the last ones).
    pub files: Vec<String>,
    /// Per row: the flow it was taken from. Decision-point samples have one row per decision
    /// point, so a flow has many; every split keeps a flow's rows on one side. Empty: every
    /// row is a flow of its own.
    pub flow: Vec<u32>,
    /// Per row: its weight in training (empty: 1 each). Decision-point samples weigh
    /// 1 / (the flow's decision points), so every flow counts once, long or short.
    pub weight: Vec<f64>,
    /// Per row of decision-point samples: the decision (packet k of the flow, microseconds
    /// since its first packet); empty for one row per flow.
    pub decided_at: Vec<flows::DecidedAt>,
    /// The probe's decision points the samples were taken at (`decide_first`, `decide_every`).
    pub decision_config: Option<(u32, u32)>,
}

impl Dataset {
    /// Rows are decision-point samples (several per flow), not one row per flow.
    pub fn is_decision_points(&self) -> bool {
        !self.flow.is_empty()
    }

    /// The training weights of `rows` (None when every row weighs 1).
    pub fn weights_of(&self, rows: &[usize]) -> Option<Vec<f64>> {
        (!self.weight.is_empty()).then(|| rows.iter().map(|&i| self.weight[i]).collect())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Tree,
    Logistic,
}

#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub kind: ModelKind,
    pub max_depth: usize,
    /// Kernel feature ids the model may use.
    pub feature_ids: Vec<usize>,
    pub split: SplitKind,
    pub test_share: f64,
    pub seed: u64,
    /// P(malicious) at or above which a flow is malicious.
    pub threshold: f64,
    /// L2 regularisation of the logistic model.
    pub alpha: f64,
    /// Which library fits the model (the compiled kernel model is the same kind either way).
    pub engine: Engine,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            kind: ModelKind::Tree,
            max_depth: 8,
            feature_ids: (0..shared::features::FEATURE_COUNT)
                .filter(|&id| !shared::features::is_opt_in(id))
                .collect(),
            split: SplitKind::Time,
            test_share: 0.3,
            seed: 1,
            threshold: 0.5,
            alpha: 1.0,
            engine: Engine::Fit,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ClassRecall {
    pub rows: u64,
    pub correct: u64,
    pub recall: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Agreement {
    pub rows: usize,
    pub identical_decisions: usize,
    pub share_identical: f64,
    /// Largest |integer score - float score|, in probability (tree) or logit (logistic) units.
    pub max_score_error: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub model_kind: ModelKind,
    pub split: SplitKind,
    pub rows_train: usize,
    pub rows_test: usize,
    pub features: Vec<&'static str>,
    pub metrics: Metrics,
    pub per_class: BTreeMap<String, ClassRecall>,
    pub roc: Vec<CurvePoint>,
    pub pr: Vec<CurvePoint>,
    /// The same model kind under the other splits, for comparison.
    pub other_splits: BTreeMap<String, Metrics>,
    pub agreement: Agreement,
    /// Tree: impurity importance; logistic: |standardized weight|. Largest first.
    pub importance: Vec<(&'static str, f64)>,
    pub model_id: String,
    /// Per-feature quantiles of the training rows (for the model file; not in `train --json`).
    #[serde(skip)]
    pub training_quantiles: workbench_flow::model::distribution::TrainingQuantiles,
    /// The other splits the data does not allow, and why (no timestamps, one attacker host, ...).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub splits_unavailable: BTreeMap<String, String>,
    /// The library that fitted the model.
    pub engine: Engine,
    /// With `--engine linfa`: how the same model kind fitted by the default engine on the same
    /// rows decides on the test rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_agreement: Option<engine::EngineAgreement>,
    /// Decision-point samples: per decision, ever flagged, and time to detect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_points: Option<flows::DecisionPointReport>,
}

pub struct Trained {
    pub model: Box<Model>,
    pub report: TrainReport,
}

/// The rows of each side under `kind`, or an error saying why the data does not allow it.
fn split_of(ds: &Dataset, kind: SplitKind, opts: &TrainOptions) -> Result<split::Split> {
    Ok(choose::split_rows(ds, kind, opts.test_share, opts.seed)?)
}

/// A fitted float model: P(malicious) per row, and the compiled integer model.
pub(crate) enum Fitted {
    Tree(fit::FittedTree),
    Logistic(Box<fit::FittedLogistic>),
}

impl Fitted {
    fn probability(&self, x: &FeatureVector) -> f64 {
        match self {
            Fitted::Tree(t) => workbench_flow::model::quantize::predict(&t.tree, x),
            Fitted::Logistic(l) => fit::sigmoid(l.model.logit(x)),
        }
    }
}

fn fit(ds: &Dataset, train: &[usize], opts: &TrainOptions) -> Result<Fitted> {
    engine::fit(ds, train, opts, opts.engine)
}

/// Scores and decisions on the test rows, and the metrics of the main reading (per row, or per
/// flow at its last decision point for decision-point samples).
struct Evaluated {
    scores: Vec<f64>,
    predicted: Vec<bool>,
    reading: flows::Reading,
}

fn evaluate(ds: &Dataset, test: &[usize], fitted: &Fitted, threshold: f64) -> Evaluated {
    let scores: Vec<f64> = test
        .iter()
        .map(|&i| fitted.probability(&ds.features[i]))
        .collect();
    let predicted: Vec<bool> = scores.iter().map(|&p| p >= threshold).collect();
    let reading = flows::main_reading(ds, test, &scores, &predicted);
    Evaluated {
        scores,
        predicted,
        reading,
    }
}

/// Trains, evaluates under every split the data allows, and compiles for the kernel.
pub fn train(ds: &Dataset, opts: &TrainOptions) -> Result<Trained> {
    train_scored(ds, opts, true)
}

/// [`train`] without fitting the other splits (`other_splits` and `splits_unavailable` left
/// empty): the chosen split's figures are the same, for one fit instead of four. The pitfall
/// report's split comparison runs one per split.
pub fn train_split_only(ds: &Dataset, opts: &TrainOptions) -> Result<Trained> {
    train_scored(ds, opts, false)
}

fn train_scored(ds: &Dataset, opts: &TrainOptions, score_others: bool) -> Result<Trained> {
    if ds.features.is_empty() {
        bail!("no rows to train on (after cleaning)");
    }
    if !(0.0..1.0).contains(&opts.threshold) || opts.threshold == 0.0 {
        bail!(
            "--threshold must be a probability strictly between 0 and 1, got {}",
            opts.threshold
        );
    }
    if opts.feature_ids.is_empty() {
        bail!("no features selected");
    }
    let split = split_of(ds, opts.split, opts)?;
    if split.test.is_empty() || split.train.is_empty() {
        bail!(
            "the {} split left an empty side ({} train, {} test rows)",
            opts.split.name(),
            split.train.len(),
            split.test.len()
        );
    }
    let fitted = fit(ds, &split.train, opts)?;
    let Evaluated {
        scores,
        predicted,
        reading,
    } = evaluate(ds, &split.test, &fitted, opts.threshold);

    let (model, importance_raw) = match &fitted {
        Fitted::Tree(t) => (
            quantize::compile_tree(&t.tree, opts.threshold)?,
            t.importance.clone(),
        ),
        Fitted::Logistic(l) => (
            quantize::compile_logistic(&l.model, fit::logit(opts.threshold))?.model,
            l.standardized_weights.clone(),
        ),
    };
    // Float vs integer on the test rows.
    let mut identical = 0;
    let mut max_err: f64 = 0.0;
    for (k, &i) in split.test.iter().enumerate() {
        let x = &ds.features[i];
        let int_score = model.score(x);
        if model.is_malicious(int_score) == predicted[k] {
            identical += 1;
        }
        let err = match &fitted {
            Fitted::Tree(_) => (int_score as f64 / SCORE_ONE as f64 - scores[k]).abs(),
            Fitted::Logistic(l) => (int_score as f64 / SCORE_ONE as f64 - l.model.logit(x)).abs(),
        };
        max_err = max_err.max(err);
    }
    let class: Vec<&str> = reading.class.iter().map(String::as_str).collect();
    let per_class = metrics::per_class_recall(&class, &reading.truth, &reading.predicted);
    let mut other_splits = BTreeMap::new();
    let mut splits_unavailable = BTreeMap::new();
    for kind in [
        SplitKind::Random,
        SplitKind::Time,
        SplitKind::Host,
        SplitKind::File,
    ] {
        if kind == opts.split || !score_others {
            continue;
        }
        // Splits the data cannot support (no times, one host, one attacker host, one file, one
        // class in a side) are named with the reason instead of a score.
        match split_of(ds, kind, opts).and_then(|s| Ok((fit(ds, &s.train, opts)?, s))) {
            Ok((f, s)) => {
                other_splits.insert(
                    kind.name().to_string(),
                    evaluate(ds, &s.test, &f, opts.threshold).reading.metrics,
                );
            }
            Err(e) => {
                splits_unavailable.insert(kind.name().to_string(), format!("{e}"));
            }
        }
    }
    let engine_agreement = match opts.engine {
        Engine::Fit => None,
        other @ Engine::Linfa => Some(engine::agreement(
            ds,
            &split,
            opts,
            other,
            &predicted,
            &reading.metrics,
        )?),
    };
    let decision_points = ds
        .is_decision_points()
        .then(|| flows::decision_point_report(ds, &split, &predicted));
    let mut importance: Vec<(&'static str, f64)> = opts
        .feature_ids
        .iter()
        .zip(importance_raw)
        .map(|(&f, v)| (FEATURES[f].name, v))
        .collect();
    importance.sort_by(|a, b| b.1.total_cmp(&a.1));
    let report = TrainReport {
        model_kind: opts.kind,
        split: opts.split,
        rows_train: split.train.len(),
        rows_test: split.test.len(),
        features: opts.feature_ids.iter().map(|&f| FEATURES[f].name).collect(),
        metrics: reading.metrics,
        per_class,
        roc: metrics::thin(metrics::roc(&reading.truth, &reading.scores), 50),
        pr: metrics::thin(metrics::pr(&reading.truth, &reading.scores), 50),
        other_splits,
        agreement: Agreement {
            rows: split.test.len(),
            identical_decisions: identical,
            share_identical: identical as f64 / split.test.len() as f64,
            max_score_error: max_err,
        },
        importance,
        model_id: workbench_flow::model::id_string(model.header.model_id),
        training_quantiles: quantiles::of_rows(ds, &split.train, &opts.feature_ids),
        splits_unavailable,
        engine: opts.engine,
        engine_agreement,
        decision_points,
    };
    Ok(Trained { model, report })
}

#[cfg(test)]
mod tests;
