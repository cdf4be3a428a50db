//! Training: fit a tree or a logistic model on kernel features under an honest split, score it
//! next to the other splits, compile it to the probe's integer form and report how well the
//! integer model agrees with the float one.

pub mod fit;
pub mod hist_tree;
pub mod metrics;
pub mod select;
pub mod split;

use std::collections::BTreeMap;

use color_eyre::eyre::{bail, Result};
use serde::Serialize;
use shared::features::{FeatureVector, FEATURES};
use shared::model::{Model, SCORE_ONE};

use crate::model::quantize;
use metrics::{CurvePoint, Metrics};
pub use split::SplitKind;

/// Rows to learn from: one per flow, its 40 kernel features at the decision point.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub features: Vec<FeatureVector>,
    pub malicious: Vec<bool>,
    /// The multi-class label (attack type or BENIGN), kept for per-class recall.
    pub class: Vec<String>,
    /// First-seen time of each flow (for the time split).
    pub time_ns: Vec<i64>,
    /// The flow's initiator address (for the host split).
    pub host: Vec<String>,
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
}

pub struct Trained {
    pub model: Box<Model>,
    pub report: TrainReport,
}

fn split_of(ds: &Dataset, kind: SplitKind, opts: &TrainOptions) -> Result<split::Split> {
    let n = ds.features.len();
    Ok(match kind {
        SplitKind::Random => split::random(n, opts.test_share, opts.seed),
        SplitKind::Time => {
            if ds.time_ns.len() != n {
                bail!("a time split needs a timestamp per row");
            }
            split::by_time(&ds.time_ns, opts.test_share)
        }
        SplitKind::Host => {
            if ds.host.len() != n {
                bail!("a host split needs a host per row");
            }
            split::by_host(&ds.host, opts.test_share, opts.seed)?
        }
    })
}

/// A fitted float model: P(malicious) per row, and the compiled integer model.
enum Fitted {
    Tree(fit::FittedTree),
    Logistic(Box<fit::FittedLogistic>),
}

impl Fitted {
    fn probability(&self, x: &FeatureVector) -> f64 {
        match self {
            Fitted::Tree(t) => crate::model::quantize::predict(&t.tree, x),
            Fitted::Logistic(l) => fit::sigmoid(l.model.logit(x)),
        }
    }
}

fn fit(ds: &Dataset, train: &[usize], opts: &TrainOptions) -> Result<Fitted> {
    let rows: Vec<&FeatureVector> = train.iter().map(|&i| &ds.features[i]).collect();
    let y: Vec<bool> = train.iter().map(|&i| ds.malicious[i]).collect();
    Ok(match opts.kind {
        ModelKind::Tree => Fitted::Tree(fit::tree(&rows, &y, &opts.feature_ids, opts.max_depth)?),
        ModelKind::Logistic => {
            Fitted::Logistic(Box::new(fit::logistic(&rows, &y, &opts.feature_ids, opts.alpha)?))
        }
    })
}

fn evaluate(ds: &Dataset, test: &[usize], fitted: &Fitted, threshold: f64) -> (Metrics, Vec<f64>, Vec<bool>) {
    let truth: Vec<bool> = test.iter().map(|&i| ds.malicious[i]).collect();
    let scores: Vec<f64> = test
        .iter()
        .map(|&i| fitted.probability(&ds.features[i]))
        .collect();
    let predicted: Vec<bool> = scores.iter().map(|&p| p >= threshold).collect();
    (metrics::metrics(&truth, &predicted, &scores), scores, predicted)
}

/// Trains, evaluates under every split the data allows, and compiles for the kernel.
pub fn train(ds: &Dataset, opts: &TrainOptions) -> Result<Trained> {
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
            "the {:?} split left an empty side ({} train, {} test rows)",
            opts.split,
            split.train.len(),
            split.test.len()
        );
    }
    let fitted = fit(ds, &split.train, opts)?;
    let (metrics, scores, predicted) = evaluate(ds, &split.test, &fitted, opts.threshold);
    let truth: Vec<bool> = split.test.iter().map(|&i| ds.malicious[i]).collect();

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
    let class: Vec<&str> = split
        .test
        .iter()
        .map(|&i| ds.class.get(i).map_or("", String::as_str))
        .collect();
    let per_class = metrics::per_class_recall(&class, &truth, &predicted)
        .into_iter()
        .map(|(c, (rows, correct))| {
            (
                c,
                ClassRecall {
                    rows,
                    correct,
                    recall: correct as f64 / rows.max(1) as f64,
                },
            )
        })
        .collect();
    let mut other_splits = BTreeMap::new();
    for kind in [SplitKind::Random, SplitKind::Time, SplitKind::Host] {
        if kind == opts.split {
            continue;
        }
        // Splits the data cannot support (no times, one host, one class in a side) are left out.
        if let Ok(s) = split_of(ds, kind, opts) {
            if let Ok(f) = fit(ds, &s.train, opts) {
                let name = serde_json::to_value(kind)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from));
                other_splits.insert(
                    name.unwrap_or_default(),
                    evaluate(ds, &s.test, &f, opts.threshold).0,
                );
            }
        }
    }
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
        metrics,
        per_class,
        roc: metrics::thin(metrics::roc(&truth, &scores), 50),
        pr: metrics::thin(metrics::pr(&truth, &scores), 50),
        other_splits,
        agreement: Agreement {
            rows: split.test.len(),
            identical_decisions: identical,
            share_identical: identical as f64 / split.test.len() as f64,
            max_score_error: max_err,
        },
        importance,
        model_id: crate::model::id_string(model.header.model_id),
    };
    Ok(Trained { model, report })
}

#[cfg(test)]
mod tests;
