//! The split comparison's figures, from `workbench train`'s own run: one run per split, with
//! train's defaults (a tree of depth 8, the `fit` engine, seed 1, 30% tested), its features (the
//! kernel features it keeps after leaving out identifiers and host artefacts; the dataset's own
//! columns when no kernel feature is left) and its split definitions. Each figure is what the
//! printed `workbench train ... --split S --json` reports as its test metrics, number for number.
//! A table above [`MAX_FIT_ROWS`] rows is sampled as `train --sample-rows` samples it.

use std::borrow::Cow;

use crate::dataset::detect::column_key;
use crate::dataset::LoadedDataset;
use crate::train::decision_points::DecisionConfig;
use crate::train::metrics::Metrics;
use crate::train::run::{self, Input, Outcome, RunOptions, RunOutput};
use crate::train::split::SplitKind;
use crate::train::{sample, ModelKind, TrainError, TrainOptions};

/// Loaded rows the comparison trains on at most (the detectors' sample size): a larger table is
/// sampled, and `reproduce` says `--sample-rows` so that `train` fits the same sample.
pub const MAX_FIT_ROWS: usize = super::MAX_ROWS;

/// One split as `workbench train --split S` scores it.
#[derive(Debug, Clone)]
pub struct SplitScore {
    pub split: SplitKind,
    pub rows_train: usize,
    pub rows_test: usize,
    pub malicious_test: usize,
    /// The run's test metrics (None: `train` refuses the split, `note` says why).
    pub metrics: Option<Metrics>,
    /// Why there is no score, or why it says little (one class on the test side).
    pub note: Option<String>,
    /// The model's inputs.
    pub features: Vec<String>,
    /// The `workbench train` command that prints these figures.
    pub reproduce: String,
}

/// What the runs fitted, for the evidence's `model` text.
#[derive(Debug, Clone, Default)]
pub struct Fitted {
    /// `kernel` or `dataset` (no kernel feature left: the dataset's own columns).
    pub feature_set: &'static str,
    pub depth: usize,
    pub seed: u64,
    /// Rows of the first scored run (after cleaning), and of the table loaded.
    pub rows: usize,
    pub loaded_rows: usize,
    /// The sample, in words, when the table had more than [`MAX_FIT_ROWS`] rows.
    pub sample: Option<String>,
    /// The columns train's gate left out, with the kernel feature each stands for.
    pub left_out: Vec<String>,
    /// Why the runs fall back to the dataset's own columns (the kernel-feature run's error).
    pub why_not_kernel: Option<String>,
}

pub struct Comparison {
    /// The first scored run's inputs.
    pub features: Vec<String>,
    pub scores: Vec<SplitScore>,
    pub fitted: Fitted,
}

/// The split options of a `workbench train` command with its defaults.
fn options(spec: &str, kind: SplitKind) -> RunOptions {
    RunOptions {
        features: spec.to_string(),
        keep_flagged: false,
        split: Some(kind),
        at: None,
        decision: DecisionConfig::default(),
        positive: None,
        train: TrainOptions {
            kind: ModelKind::Tree,
            ..TrainOptions::default()
        },
    }
}

/// The files as `train` takes them: a zip archive once, not each member (`a.zip:b.csv`).
fn data_arguments(sources: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in sources {
        let lower = s.to_ascii_lowercase();
        let path = match lower.find(".zip:") {
            Some(at) => s[..at + 4].to_string(),
            None => s.clone(),
        };
        if !out.contains(&path) {
            out.push(path);
        }
    }
    out
}

/// The `workbench train` command line of one split's figures.
fn reproduce(ds: &LoadedDataset, spec: &str, kind: SplitKind, sampled: bool, one_class_side: bool) -> String {
    let mut words: Vec<String> = vec!["workbench".into(), "train".into()];
    words.extend(data_arguments(&ds.sources));
    words.extend(["--model".into(), "tree".into()]);
    if spec != "kernel" {
        words.extend(["--features".into(), spec.to_string()]);
    }
    // Without `--label`, loading picks a column named `label` (in any case) first.
    if column_key(&ds.label_column) != "label" {
        words.extend(["--label".into(), ds.label_column.clone()]);
    }
    // Read as inspect read it: the kind it was told, the duplicates it dropped.
    if ds.kind_forced() {
        words.extend(["--kind".into(), ds.kind.key().replace('_', "-")]);
    }
    if ds.drops_duplicates() {
        words.push("--drop-duplicates".into());
    }
    words.extend(["--split".into(), kind.name().to_string()]);
    if sampled {
        words.extend(["--sample-rows".into(), MAX_FIT_ROWS.to_string()]);
    }
    if one_class_side {
        words.push("--allow-one-class-split".into());
    }
    words.extend([
        "-o".into(),
        format!("split-{}.ebml", kind.name()),
        "--json".into(),
    ]);
    words
        .iter()
        .map(|w| {
            shlex::try_quote(w)
                .unwrap_or(Cow::Borrowed(w.as_str()))
                .into_owned()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One run, or why `train` refuses it (without the file name the report already gives).
fn run_one(ds: &LoadedDataset, spec: &str, kind: SplitKind) -> Result<RunOutput, String> {
    run::run_split_only(Input::Table(ds), &options(spec, kind)).map_err(|e| match e {
        TrainError::In { source, .. } => crate::error_chain(&*source),
        e => crate::error_chain(&e),
    })
}

/// The test figures of a run, as `train --json` prints them.
fn score(
    ds: &LoadedDataset,
    spec: &str,
    kind: SplitKind,
    sampled: bool,
    run: Result<RunOutput, String>,
) -> SplitScore {
    let out = match run {
        Ok(out) => out,
        Err(why) => {
            return SplitScore {
                split: kind,
                rows_train: 0,
                rows_test: 0,
                malicious_test: 0,
                metrics: None,
                note: Some(format!("`train` refuses it: {why}")),
                features: Vec::new(),
                reproduce: reproduce(ds, spec, kind, sampled, false),
            }
        }
    };
    let (rows_train, rows_test, metrics, features) = match &out.outcome {
        Outcome::Kernel(t) => (
            t.report.rows_train,
            t.report.rows_test,
            t.report.metrics.clone(),
            t.report.features.iter().map(ToString::to_string).collect(),
        ),
        Outcome::Dataset(d) => (
            d.report.rows_train,
            d.report.rows_test,
            d.report.metrics.clone(),
            d.report.features.clone(),
        ),
    };
    let one_class = out.split.one_class_side.clone();
    SplitScore {
        split: kind,
        rows_train,
        rows_test,
        malicious_test: (metrics.confusion.true_positive + metrics.confusion.false_negative) as usize,
        metrics: Some(metrics),
        note: one_class
            .as_ref()
            .map(|why| format!("{why}: `train` writes a model for it only with --allow-one-class-split")),
        features,
        reproduce: reproduce(ds, spec, kind, sampled, one_class.is_some()),
    }
}

/// The random, time-ordered and per-host split as `workbench train` runs them (see the module
/// comment). A table of one class gives no scores.
pub fn compare(loaded: &LoadedDataset) -> Comparison {
    let defaults = options("kernel", SplitKind::Random).train;
    let mut fitted = Fitted {
        feature_set: "kernel",
        depth: defaults.max_depth,
        seed: defaults.seed,
        loaded_rows: loaded.rows(),
        ..Fitted::default()
    };
    let attacks = loaded.malicious.iter().filter(|&&m| m).count();
    if attacks == 0 || attacks == loaded.malicious.len() {
        return Comparison {
            features: Vec::new(),
            scores: Vec::new(),
            fitted,
        };
    }
    // A sample that cannot be taken (a polars error) leaves the whole table: slower, and the
    // `reproduce` lines then have no `--sample-rows` either.
    let sample = sample::sample_rows(loaded, MAX_FIT_ROWS, defaults.seed)
        .ok()
        .flatten();
    let sampled = sample.is_some();
    if sampled {
        fitted.sample = Some(sample::sample_words(MAX_FIT_ROWS, loaded.rows(), defaults.seed));
    }
    let ds = sample.as_ref().unwrap_or(loaded);
    // `train`'s default is the kernel features; with none left (no column maps to one, or the
    // gate leaves every one out) `--features dataset` is the run that still has a model.
    let mut spec = "kernel";
    let mut first = run_one(ds, spec, SplitKind::Random);
    if let Err(why) = &first {
        fitted.why_not_kernel = Some(why.clone());
        spec = "dataset";
        first = run_one(ds, spec, SplitKind::Random);
    }
    fitted.feature_set = spec;
    if let Ok(out) = &first {
        fitted.rows = out.rows;
        fitted.left_out = out
            .left_out
            .iter()
            .map(|f| {
                if f.feature == f.column {
                    f.column.clone()
                } else {
                    format!("{} ({})", f.column, f.feature)
                }
            })
            .collect();
    }
    let mut scores = vec![score(ds, spec, SplitKind::Random, sampled, first)];
    for kind in [SplitKind::Time, SplitKind::Host] {
        scores.push(score(ds, spec, kind, sampled, run_one(ds, spec, kind)));
    }
    Comparison {
        features: scores[0].features.clone(),
        scores,
        fitted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zip_archive_is_named_once() {
        let s = |v: &[&str]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(
            data_arguments(&s(&["d/a.ZIP:x.csv", "d/a.ZIP:y.csv", "b.csv"])),
            s(&["d/a.ZIP", "b.csv"])
        );
    }
}
