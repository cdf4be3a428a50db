//! The Train tab's state: the form (model, depth or regularisation, feature set, split,
//! engine), the background run's progress and its results. A run is
//! `workbench_data::train::run` + the model file, what `workbench train -o` runs, so the
//! command line shown beside the form does exactly what the tab does. The last kernel-feature
//! and dataset-feature results are both kept, so the tab shows their scores side by side.

use std::path::PathBuf;

use shared::model::MAX_DEPTH;

use super::data::JobStatus;
use workbench_data::train::dataset_features::DatasetReport;
use workbench_data::train::gate::Flagged;
use workbench_data::train::run::At;
use workbench_data::train::{Engine, ModelKind, SplitKind, TrainOptions, TrainReport};

/// Which columns the model may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureSet {
    /// Every column with a probe counterpart, minus what the pitfall report flags (ports, TTL,
    /// window, leaky columns): `--features kernel`, the default.
    Kernel,
    /// Every column with a probe counterpart, flagged ones kept: `--keep-flagged`.
    KernelAll,
    /// The dataset's own columns (not deployable): `--features dataset`.
    Dataset,
}
/// Regularisation strengths offered for the logistic model.
pub const ALPHAS: &[f64] = &[0.01, 0.1, 1.0, 10.0, 100.0];

#[derive(Debug, Clone, PartialEq)]
pub struct TrainForm {
    pub model: ModelKind,
    pub max_depth: usize,
    pub alpha: f64,
    pub features: FeatureSet,
    /// None: the most honest split the data allows (`--split auto`).
    pub split: Option<SplitKind>,
    pub engine: Engine,
    /// The focused field (0..FIELDS).
    pub field: usize,
}

pub const FIELDS: usize = 5;

/// The split field's values, in order.
const SPLITS: [Option<SplitKind>; 5] = [
    None,
    Some(SplitKind::Random),
    Some(SplitKind::Time),
    Some(SplitKind::Host),
    Some(SplitKind::File),
];

impl Default for TrainForm {
    fn default() -> Self {
        TrainForm {
            model: ModelKind::Tree,
            // One default everywhere: `workbench train --max-depth` and the config's
            // `train.max_depth` start from the same value.
            max_depth: TrainOptions::default().max_depth,
            alpha: 1.0,
            features: FeatureSet::Kernel,
            split: None,
            engine: Engine::Fit,
            field: 0,
        }
    }
}

fn split_name(s: Option<SplitKind>) -> &'static str {
    s.map_or("auto", SplitKind::name)
}

impl TrainForm {
    /// (label, value) of each field, for the form.
    pub fn fields(&self) -> [(&'static str, String); FIELDS] {
        [
            ("model", self.model_name().to_string()),
            match self.model {
                ModelKind::Tree => ("max depth", self.max_depth.to_string()),
                ModelKind::Logistic => ("L2 alpha", format!("{}", self.alpha)),
            },
            (
                "features",
                match self.features {
                    FeatureSet::Kernel => "kernel (gated)".into(),
                    FeatureSet::KernelAll => "kernel, all".into(),
                    FeatureSet::Dataset => "dataset columns".into(),
                },
            ),
            (
                "split",
                match self.split {
                    None => "auto".into(),
                    Some(s) => s.name().into(),
                },
            ),
            ("engine", self.engine.name().into()),
        ]
    }

    pub fn model_name(&self) -> &'static str {
        match self.model {
            ModelKind::Tree => "tree",
            ModelKind::Logistic => "logistic",
        }
    }

    /// Changes the focused field by one step (left: -1, right: +1).
    pub fn change(&mut self, step: isize) {
        match self.field {
            0 => {
                self.model = match self.model {
                    ModelKind::Tree => ModelKind::Logistic,
                    ModelKind::Logistic => ModelKind::Tree,
                }
            }
            1 => match self.model {
                ModelKind::Tree => {
                    self.max_depth = self.max_depth.saturating_add_signed(step).clamp(1, MAX_DEPTH);
                }
                ModelKind::Logistic => {
                    let i = ALPHAS.iter().position(|&a| a == self.alpha).unwrap_or(2);
                    let j = i.saturating_add_signed(step).min(ALPHAS.len() - 1);
                    self.alpha = ALPHAS[j];
                }
            },
            2 => {
                let all = [FeatureSet::Kernel, FeatureSet::KernelAll, FeatureSet::Dataset];
                let i = all.iter().position(|&f| f == self.features).unwrap_or(0) as isize;
                self.features = all[(i + step).rem_euclid(3) as usize];
            }
            3 => {
                let i = SPLITS.iter().position(|&s| s == self.split).unwrap_or(0) as isize;
                self.split = SPLITS[(i + step).rem_euclid(SPLITS.len() as isize) as usize];
            }
            _ => {
                self.engine = match self.engine {
                    Engine::Fit => Engine::Linfa,
                    Engine::Linfa => Engine::Fit,
                }
            }
        }
    }

    /// The `--features` value.
    pub fn features_arg(&self) -> &'static str {
        match self.features {
            FeatureSet::Kernel | FeatureSet::KernelAll => "kernel",
            FeatureSet::Dataset => "dataset",
        }
    }

    /// Model kind, depth, alpha and engine (the run resolves the split and the features).
    pub fn options(&self) -> TrainOptions {
        TrainOptions {
            kind: self.model,
            max_depth: self.max_depth,
            alpha: self.alpha,
            engine: self.engine,
            ..TrainOptions::default()
        }
    }

    /// The same run as a command line (complete, so that it can be pasted).
    pub fn command(&self, files: &[String], out: &str) -> String {
        let knob = match self.model {
            ModelKind::Tree => format!("--max-depth {}", self.max_depth),
            ModelKind::Logistic => format!("--alpha {}", self.alpha),
        };
        let keep = if self.features == FeatureSet::KernelAll {
            " --keep-flagged"
        } else {
            ""
        };
        let engine = if self.engine == Engine::Linfa {
            " --engine linfa"
        } else {
            ""
        };
        format!(
            "workbench train {} --model {} {knob} --features {}{keep} --split {}{engine} -o {}",
            crate::shell::words(files.iter().map(String::as_str)),
            self.model_name(),
            self.features_arg(),
            split_name(self.split),
            crate::shell::word(out),
        )
    }
}

/// What a run says beside its scores: the split and why, what the gate left out, what the
/// values are.
#[derive(Debug, Clone)]
pub struct RunNotes {
    pub split_reason: String,
    pub left_out: Vec<Flagged>,
    pub kept_flagged: Vec<Flagged>,
    pub values_at: At,
    pub values_note: String,
}

impl RunNotes {
    /// The notes of a finished run.
    pub fn of(out: &workbench_data::train::run::RunOutput) -> RunNotes {
        RunNotes {
            split_reason: out.split.reason.clone(),
            left_out: out.left_out.clone(),
            kept_flagged: out.kept_flagged.clone(),
            values_at: out.values_at,
            values_note: out.values_note.clone(),
        }
    }
}

/// The (dataset column, kernel feature) pairs a run used.
pub fn feature_mapping(out: &workbench_data::train::run::RunOutput) -> Vec<(String, &'static str)> {
    out.feature_mapping
        .iter()
        .map(|m| (m.column.clone(), m.feature))
        .collect()
}

/// A finished kernel-feature run (a deployable model).
#[derive(Debug, Clone)]
pub struct TrainResult {
    pub report: TrainReport,
    pub model_path: PathBuf,
    /// (dataset column, kernel feature) pairs used.
    pub mapping: Vec<(String, &'static str)>,
    pub command: String,
    /// The form that produced it.
    pub form: TrainForm,
    pub notes: RunNotes,
}

/// A finished dataset-feature run (not deployable; shown next to the kernel one).
#[derive(Debug, Clone)]
pub struct DatasetResult {
    pub report: DatasetReport,
    pub model_path: PathBuf,
    pub command: String,
    pub form: TrainForm,
    pub notes: RunNotes,
}

/// Either run's result.
#[derive(Debug, Clone)]
pub enum Finished {
    Kernel(std::sync::Arc<TrainResult>),
    Dataset(std::sync::Arc<DatasetResult>),
}

#[derive(Debug)]
pub struct TrainState {
    pub form: TrainForm,
    pub status: JobStatus,
    /// The last kernel-feature model (what `d`/`D` deploy).
    pub result: Option<std::sync::Arc<TrainResult>>,
    /// The last dataset-feature model.
    pub dataset_result: Option<std::sync::Arc<DatasetResult>>,
    /// Which of the two the tab shows (the newer).
    pub showing_dataset: bool,
    pub generation: u64,
    /// Where trained models are written (absolute: the path shown is the path to use).
    pub model_dir: PathBuf,
    /// Enter pressed while the dataset was still loading: train once it is loaded.
    pub pending: bool,
    /// `c`: candidates of several depths with their kernel cost.
    pub cost: super::cost::CostState,
}

/// The default model folder: `models/` in the working folder, where the user looks (not a
/// temporary folder that the shown path would lose).
pub fn default_model_dir() -> PathBuf {
    absolute(std::path::Path::new("models"))
}

/// `path` made absolute against the working folder (unchanged if that cannot be read).
pub fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

impl Default for TrainState {
    fn default() -> Self {
        TrainState {
            form: TrainForm::default(),
            status: JobStatus::Idle,
            result: None,
            dataset_result: None,
            showing_dataset: false,
            generation: 0,
            model_dir: default_model_dir(),
            pending: false,
            cost: Default::default(),
        }
    }
}
