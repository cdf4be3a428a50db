//! The Train tab's state: the form (model, depth or regularisation, feature set, split), the
//! background run's progress and its result. A run is `commands::train::prepare` +
//! `train::train` + `model::file::write`, the path of `workbench train -o`, so the command line
//! shown beside the form does exactly what the tab does.

use std::path::PathBuf;

use shared::model::MAX_DEPTH;

use super::data::JobStatus;
use workbench_data::train::{ModelKind, SplitKind, TrainOptions, TrainReport};

/// Which columns the model may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureSet {
    /// Every column with a probe counterpart (`--features kernel`).
    Kernel,
    /// The same without the host artefacts the Pitfalls tab warns about (TTL, TCP window,
    /// destination port): `--features` with the remaining list.
    NoArtefacts,
}

/// Kernel features left out by [`FeatureSet::NoArtefacts`].
pub const ARTEFACTS: &[&str] = &[
    "fwd_ttl",
    "bwd_ttl",
    "fwd_init_window",
    "bwd_init_window",
    "dst_port",
];

/// Regularisation strengths offered for the logistic model.
pub const ALPHAS: &[f64] = &[0.01, 0.1, 1.0, 10.0, 100.0];

#[derive(Debug, Clone, PartialEq)]
pub struct TrainForm {
    pub model: ModelKind,
    pub max_depth: usize,
    pub alpha: f64,
    pub features: FeatureSet,
    pub split: SplitKind,
    /// The focused field (0..FIELDS).
    pub field: usize,
}

pub const FIELDS: usize = 4;

impl Default for TrainForm {
    fn default() -> Self {
        TrainForm {
            model: ModelKind::Tree,
            max_depth: 6,
            alpha: 1.0,
            features: FeatureSet::Kernel,
            split: SplitKind::Time,
            field: 0,
        }
    }
}

fn split_name(s: SplitKind) -> &'static str {
    match s {
        SplitKind::Random => "random",
        SplitKind::Time => "time",
        SplitKind::Host => "host",
    }
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
                    FeatureSet::Kernel => "kernel (all mapped)".into(),
                    FeatureSet::NoArtefacts => "kernel minus host artefacts".into(),
                },
            ),
            ("split", split_name(self.split).into()),
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
                self.features = match self.features {
                    FeatureSet::Kernel => FeatureSet::NoArtefacts,
                    FeatureSet::NoArtefacts => FeatureSet::Kernel,
                }
            }
            _ => {
                let all = [SplitKind::Random, SplitKind::Time, SplitKind::Host];
                let i = all.iter().position(|&s| s == self.split).unwrap_or(1) as isize;
                self.split = all[(i + step).rem_euclid(3) as usize];
            }
        }
    }

    /// The `--features` value for the dataset's mapped kernel features (`mapped`).
    pub fn features_arg(&self, mapped: &[&'static str]) -> String {
        match self.features {
            FeatureSet::Kernel => "kernel".into(),
            FeatureSet::NoArtefacts => mapped
                .iter()
                .filter(|f| !ARTEFACTS.contains(f))
                .copied()
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    pub fn options(&self, feature_ids: Vec<usize>) -> TrainOptions {
        TrainOptions {
            kind: self.model,
            max_depth: self.max_depth,
            alpha: self.alpha,
            split: self.split,
            feature_ids,
            ..TrainOptions::default()
        }
    }

    /// The same run as a command line (complete, so that it can be pasted).
    pub fn command(&self, files: &[String], features_arg: &str, out: &str) -> String {
        let knob = match self.model {
            ModelKind::Tree => format!("--max-depth {}", self.max_depth),
            ModelKind::Logistic => format!("--alpha {}", self.alpha),
        };
        format!(
            "workbench train {} --model {} {knob} --features {} --split {} -o {}",
            crate::shell::words(files.iter().map(String::as_str)),
            self.model_name(),
            crate::shell::word(features_arg),
            split_name(self.split),
            crate::shell::word(out),
        )
    }
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct TrainResult {
    pub report: TrainReport,
    pub model_path: PathBuf,
    /// (dataset column, kernel feature) pairs used.
    pub mapping: Vec<(String, &'static str)>,
    pub command: String,
    /// The form that produced it.
    pub form: TrainForm,
}

#[derive(Debug)]
pub struct TrainState {
    pub form: TrainForm,
    pub status: JobStatus,
    pub result: Option<std::sync::Arc<TrainResult>>,
    pub generation: u64,
    /// Where trained models are written.
    pub model_dir: PathBuf,
}

impl Default for TrainState {
    fn default() -> Self {
        TrainState {
            form: TrainForm::default(),
            status: JobStatus::Idle,
            result: None,
            generation: 0,
            model_dir: std::env::temp_dir().join("ebpf-ml-workbench-models"),
        }
    }
}
