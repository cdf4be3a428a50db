//! The demo's second model: a tree trained on the embedded Kaggle slice (CIC-IDS2017, end-of-flow
//! CICFlowMeter columns mapped to kernel features, as `workbench train DATA --model tree
//! --max-depth 6` does: [`train_command`], in the summary as `shadow.train_command`)
//! goes in as the SHADOW beside the honest active model. It scores well on its own test split,
//! yet on the sample capture, decided at the probe's decision points, it disagrees with the
//! active model: the explanation is `workbench eval` of it on the capture the Live tab replays
//! (its skew report names the features whose training values the decisions never meet).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use color_eyre::eyre::{bail, Result};
use serde::Serialize;
use shared::model::Model;

use super::embedded;
use super::samples::Samples;
use workbench_data::dataset::{self, LoadOptions};
use workbench_data::eval::skew::words;
use workbench_data::train::run::{self, Input, Outcome, RunOptions};
use workbench_data::train::{ModelKind, SplitKind, TrainOptions};
use workbench_tui::state::eval::{self as tui_eval, EvalRun, ShadowStory};
use workbench_tui::state::train::{feature_mapping, RunNotes, TrainForm, TrainResult};

/// How many shifted features the summary lists.
const TOP_FEATURES: usize = 5;

/// The depth of the Kaggle tree (`workbench train` defaults to 8: the command that reproduces
/// the shadow model says `--max-depth 6`).
pub const MAX_DEPTH: usize = 6;

/// The `workbench train` command that writes the same model (the same model id) from the
/// embedded slice at `data_file`.
pub fn train_command(data_file: &Path, out: &str) -> String {
    format!(
        "workbench train {} --model tree --max-depth {MAX_DEPTH} -o {out}",
        data_file.display()
    )
}

/// The shadow model and its evaluation on the demo's capture.
pub struct Shadow {
    pub model: Box<Model>,
    pub model_id: String,
    pub path: PathBuf,
    pub split: SplitKind,
    pub test_f1: f64,
    pub run: Arc<EvalRun>,
    /// The `workbench train` command that writes the same model.
    pub train_command: String,
    /// Its training run as the Train tab shows one (the tab opens on it).
    pub trained: Arc<TrainResult>,
}

/// One shifted feature, as the headless summary reports it.
#[derive(Debug, Clone, Serialize)]
pub struct ShiftedFeature {
    pub feature: String,
    pub psi: f64,
    pub used_by_model: bool,
    pub outside_training_range_share: f64,
    pub words: String,
}

/// The shadow part of `workbench demo --json` (keys in shared/CLI.md).
#[derive(Debug, Clone, Serialize)]
pub struct ShadowSummary {
    pub model_id: String,
    pub trained_on: String,
    pub split: SplitKind,
    /// On its own test split (end-of-flow rows of the slice).
    pub test_f1: f64,
    /// On the replayed capture, at the probe's decision points (`workbench eval`).
    pub eval_data: String,
    pub eval_recall: Option<f64>,
    pub eval_false_positive_rate: Option<f64>,
    pub eval_benign_flows_ever_flagged_share: Option<f64>,
    /// The features most shifted between its training rows and the decisions, by PSI.
    pub shifted_features: Vec<ShiftedFeature>,
    /// The skew report's sentences: what happened, in words.
    pub explanation: Vec<String>,
    /// The same evaluation headless (the model file stays in the demo's cache folder).
    pub command: String,
    /// The `workbench train` command that writes this model again (the same model id).
    pub train_command: String,
}

pub fn trained_on() -> String {
    format!(
        "the embedded Kaggle slice ({}), end-of-flow columns",
        embedded::DESCRIPTION
    )
}

/// Trains the Kaggle tree on `data_file` into `dir` (the demo's cache folder: the commands the
/// `w` panel prints name the file, and they must work after the demo), and scores it on the
/// samples.
pub fn train(data_file: &Path, dir: &Path, samples: &Samples) -> Result<Shadow> {
    let ds = dataset::load(&[data_file.to_path_buf()], &LoadOptions::default())?;
    let opts = RunOptions {
        features: "kernel".into(),
        keep_flagged: false,
        split: None,
        at: None,
        decision: Default::default(),
        positive: None,
        train: TrainOptions {
            kind: ModelKind::Tree,
            max_depth: MAX_DEPTH,
            ..TrainOptions::default()
        },
    };
    let out = run::run(Input::Table(&ds), &opts)?;
    let path = dir.join(format!("kaggle-tree-{}.ebml", out.model_id()));
    // Named by its id, so demos sharing the cache folder write the same bytes to it.
    super::embedded::write_whole(&path, |tmp| Ok(out.write(tmp, out.provenance(Some(&ds)))?))?;
    let notes = RunNotes::of(&out);
    let mapping = feature_mapping(&out);
    let Outcome::Kernel(t) = out.outcome else {
        bail!("the Kaggle slice trained a dataset-column model: the kernel cannot run it");
    };
    let trained = Arc::new(TrainResult {
        report: t.report.clone(),
        model_path: path.clone(),
        mapping,
        command: train_command(data_file, &path.display().to_string()),
        // The form that trains it again: Enter on the Train tab gives the same model id.
        form: TrainForm {
            max_depth: MAX_DEPTH,
            ..TrainForm::default()
        },
        notes,
    });
    let mut eval_opts = tui_eval::options(&path, std::slice::from_ref(&samples.pcap));
    eval_opts.labels = Some(samples.labels.clone());
    let report = workbench_data::eval::evaluate(&eval_opts)?;
    let command = format!(
        "workbench eval {} {} --labels {} --json",
        path.display(),
        samples.pcap.display(),
        samples.labels.display()
    );
    let data_name = samples.pcap.file_name().map_or_else(
        || samples.pcap.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    Ok(Shadow {
        model_id: t.report.model_id.clone(),
        split: t.report.split,
        test_f1: t.report.metrics.f1,
        model: t.model,
        train_command: train_command(data_file, "kaggle-tree.ebml"),
        trained,
        path,
        run: Arc::new(EvalRun {
            report,
            data_name,
            command,
        }),
    })
}

impl Shadow {
    /// What the Live tab opens from its disagreement count.
    pub fn story(&self) -> ShadowStory {
        ShadowStory {
            model_id: self.model_id.clone(),
            trained_on: trained_on(),
            data: self.run.data_name.clone(),
            run: self.run.clone(),
        }
    }

    pub fn summary(&self) -> ShadowSummary {
        let r = &self.run.report;
        ShadowSummary {
            model_id: self.model_id.clone(),
            trained_on: trained_on(),
            split: self.split,
            test_f1: self.test_f1,
            eval_data: r.data.join(", "),
            eval_recall: r.metrics.recall,
            eval_false_positive_rate: r.metrics.false_positive_rate,
            eval_benign_flows_ever_flagged_share: r
                .ever_flagged
                .as_ref()
                .and_then(|e| e.benign_flows_ever_flagged_share),
            shifted_features: r
                .skew
                .features
                .iter()
                .take(TOP_FEATURES)
                .map(|f| ShiftedFeature {
                    feature: f.feature.clone(),
                    psi: f.psi,
                    used_by_model: f.used_by_model,
                    outside_training_range_share: f.outside_training_range_share,
                    words: f.words.clone(),
                })
                .collect(),
            explanation: r.skew.summary.clone(),
            command: self.run.command.clone(),
            train_command: self.train_command.clone(),
        }
    }

    /// One line for the demo's progress output.
    pub fn line(&self) -> String {
        let r = &self.run.report;
        let top = r
            .skew
            .features
            .iter()
            .find(|f| f.used_by_model)
            .map_or(String::new(), |f| {
                format!(
                    "; most shifted feature it reads: `{}` PSI {:.2}",
                    f.feature, f.psi
                )
            });
        format!(
            "demo: shadow tree {} trained on the Kaggle slice ({} split, test F1 {:.3}); on {} at the probe's decision points: recall {}, false positive rate {}, benign flows ever flagged {}{top}",
            self.model_id,
            self.split.name(),
            self.test_f1,
            self.run.data_name,
            tui_eval::figure(r.metrics.recall),
            tui_eval::figure(r.metrics.false_positive_rate),
            r.ever_flagged
                .as_ref()
                .and_then(|e| e.benign_flows_ever_flagged_share)
                .map_or("n/a".into(), words::percent),
        )
    }
}
