//! The Train tab's evaluation view (`v`): which data to score the model on (the labelled sample
//! captures, the loaded datasets, a path typed after `/`), the background run of
//! `workbench_data::eval::evaluate` (what `workbench eval MODEL DATA --json` runs, so the view
//! and the command print the same report) and its result. Also the shadow model's story the
//! demo hands to the Live tab: the same report of the shadow model on the replayed capture,
//! opened from the disagreement count (`w`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use shared::abi::ProbeConfig;
use workbench_data::dataset::LoadOptions;
use workbench_data::eval::{At, EvalOptions, EvalReport};

use super::data::{JobStatus, Loaded};
use crate::shell;

/// Where a choice of evaluation data came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A capture of `sample-pcaps/` with `labels-NAME.csv` beside it.
    Sample,
    /// A dataset loaded on the Data tab (its tables).
    Dataset,
    /// A path typed on the view.
    Typed,
}

/// One entry of the view's data list.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalChoice {
    pub name: String,
    pub origin: Origin,
    pub files: Vec<PathBuf>,
    /// The files as the command shown names them, and the command making them first (a
    /// loaded capture's feature table: `Loaded::command_files`, `Loaded::prelude`).
    pub command_files: Vec<String>,
    pub prelude: Option<String>,
}

impl EvalChoice {
    fn file(name: String, origin: Origin, path: &Path) -> Self {
        EvalChoice {
            name,
            origin,
            files: vec![path.to_path_buf()],
            command_files: vec![path.display().to_string()],
            prelude: None,
        }
    }

    /// The command doing the same run, valid after the TUI has ended.
    pub fn command(&self, model: &Path) -> String {
        let run = format!(
            "workbench eval {} {} --json",
            shell::word(&model.display().to_string()),
            shell::words(self.command_files.iter().map(String::as_str))
        );
        match &self.prelude {
            Some(p) => format!("{p} && {run}"),
            None => run,
        }
    }

    pub fn describe(&self) -> String {
        match self.origin {
            Origin::Sample => format!("{} · sample, labels beside", self.name),
            Origin::Dataset => format!("{} · loaded dataset", self.name),
            Origin::Typed => format!("{} · file", self.name),
        }
    }
}

/// A finished evaluation.
#[derive(Debug, Clone)]
pub struct EvalRun {
    pub report: EvalReport,
    /// The data's name in the list.
    pub data_name: String,
    /// `workbench eval ... --json`, the same run headless.
    pub command: String,
}

/// The shadow model's disagreement explained (the demo's story): its evaluation on the data the
/// Live tab replays, skew report included.
#[derive(Debug, Clone)]
pub struct ShadowStory {
    pub model_id: String,
    /// What it was trained on, in words.
    pub trained_on: String,
    /// The data it was scored on (the replayed capture).
    pub data: String,
    pub run: Arc<EvalRun>,
}

#[derive(Debug)]
pub struct EvalState {
    /// The Train tab shows the evaluation view instead of the form.
    pub showing: bool,
    /// Labelled sample captures (read from `sample_dir` when the view opens).
    pub samples: Vec<PathBuf>,
    pub sample_dir: PathBuf,
    /// Paths typed on the view, newest last.
    pub typed: Vec<PathBuf>,
    pub selected: usize,
    pub status: JobStatus,
    pub generation: u64,
    pub result: Option<Arc<EvalRun>>,
    /// The model scored when no model was trained in this session (`workbench tui --model`).
    pub model: Option<PathBuf>,
}

impl Default for EvalState {
    fn default() -> Self {
        EvalState {
            showing: false,
            samples: Vec::new(),
            sample_dir: PathBuf::from("sample-pcaps"),
            typed: Vec::new(),
            selected: 0,
            status: JobStatus::Idle,
            generation: 0,
            result: None,
            model: None,
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

impl EvalState {
    /// The first entry the list shows: it scrolls so that the selection stays in view.
    pub fn first_shown(&self, list_rows: usize) -> usize {
        self.selected.saturating_sub(list_rows.max(1) - 1)
    }

    /// The data list: sample captures, then the loaded datasets, then typed paths.
    pub fn choices(&self, loaded: &[Arc<Loaded>]) -> Vec<EvalChoice> {
        let mut out: Vec<EvalChoice> = self
            .samples
            .iter()
            .map(|p| EvalChoice::file(file_name(p), Origin::Sample, p))
            .collect();
        out.extend(loaded.iter().map(|l| EvalChoice {
            name: l.summary.name.clone(),
            origin: Origin::Dataset,
            files: l.table_files.iter().map(PathBuf::from).collect(),
            command_files: l.command_files.clone(),
            prelude: l.prelude.clone(),
        }));
        out.extend(
            self.typed
                .iter()
                .map(|p| EvalChoice::file(p.display().to_string(), Origin::Typed, p)),
        );
        out
    }
}

/// The options `workbench eval MODEL DATA...` runs with by default: the probe's decision points,
/// labels beside each capture, tables read as `train` reads them.
pub fn options(model: &Path, files: &[PathBuf]) -> EvalOptions {
    EvalOptions {
        model: model.to_path_buf(),
        data: files.to_vec(),
        labels: None,
        at: At::DecisionPoints,
        config: ProbeConfig::default(),
        load: LoadOptions::default(),
        positive: None,
        lenient: false,
        interface: None,
    }
}

/// The command line doing the same run.
pub fn command(model: &Path, files: &[PathBuf]) -> String {
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    format!(
        "workbench eval {} {} --json",
        shell::word(&model.display().to_string()),
        shell::words(names.iter().map(String::as_str))
    )
}

impl crate::app::App {
    /// `v` on the Train tab: the evaluation view or the form.
    pub fn toggle_eval(&mut self) {
        if self.tab != crate::action::Tab::Train {
            return;
        }
        self.eval.showing = !self.eval.showing;
        if self.eval.showing {
            // Read once here, not on every frame.
            self.eval.samples = crate::jobs::sample_captures(&self.eval.sample_dir);
            let n = self.eval.choices(&self.data.sets).len();
            self.eval.selected = self.eval.selected.min(n.saturating_sub(1));
        }
    }

    /// The model the view scores: the one trained in this session, else `--model`.
    pub fn eval_model(&self) -> Option<PathBuf> {
        self.train
            .result
            .as_ref()
            .map(|r| r.model_path.clone())
            .or_else(|| self.eval.model.clone())
    }

    pub(crate) fn move_eval(&mut self, delta: isize) {
        let n = self.eval.choices(&self.data.sets).len();
        self.eval.selected = self
            .eval
            .selected
            .saturating_add_signed(delta)
            .min(n.saturating_sub(1));
    }

    /// A click on the data list selects the entry under it.
    pub(crate) fn click_eval(&mut self, column: u16, row: u16) {
        let Some(r) = crate::ui::layout::eval_choice_at(self.size, column, row) else {
            return;
        };
        let target = self
            .eval
            .first_shown(crate::ui::layout::eval_list_rows(self.size))
            + r;
        if target < self.eval.choices(&self.data.sets).len() {
            self.eval.selected = target;
        }
    }

    /// A path typed after `/` on the view joins the list, selected.
    pub(crate) fn add_eval_path(&mut self, text: String) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        self.eval.typed.push(PathBuf::from(text));
        self.eval.selected = self.eval.choices(&self.data.sets).len() - 1;
    }

    /// Enter on the view: score the model on the selected data in the background.
    pub fn start_eval(&mut self) {
        if matches!(self.eval.status, JobStatus::Running { .. }) {
            return;
        }
        let Some(model) = self.eval_model() else {
            self.status = Some(
                "no model to evaluate: train one (v back to the form, Enter), or start with `workbench tui --model FILE`"
                    .into(),
            );
            return;
        };
        let choices = self.eval.choices(&self.data.sets);
        let Some(choice) = choices.get(self.eval.selected) else {
            self.status = Some("no data to evaluate on: sample-pcaps/, the Data tab, or / and a path".into());
            return;
        };
        self.eval.generation += 1;
        self.eval.status = JobStatus::Running {
            stage: format!("scoring {} on {}", file_name(&model), choice.name),
            fraction: 0.3,
        };
        self.jobs.push(crate::jobs::JobRequest::Eval {
            generation: self.eval.generation,
            options: options(&model, &choice.files),
            data_name: choice.name.clone(),
            command: choice.command(&model),
        });
    }

    pub(crate) fn eval_done(&mut self, generation: u64, result: Result<Arc<EvalRun>, String>) {
        if generation != self.eval.generation {
            return;
        }
        match result {
            Ok(run) => {
                let r = &run.report;
                self.status = Some(format!(
                    "evaluated {} on {}: {} flows, false positive rate {}",
                    r.model.model_id,
                    run.data_name,
                    r.flows,
                    figure(r.metrics.false_positive_rate)
                ));
                self.eval.status = JobStatus::Done;
                self.eval.result = Some(run);
            }
            Err(e) => self.eval.status = JobStatus::Failed(e),
        }
    }

    /// `w` on Live (or a click on the disagreement count): the shadow model's story.
    pub fn explain_shadow(&mut self) {
        if self.tab != crate::action::Tab::Live {
            return;
        }
        if self.shadow_story.is_some() {
            self.overlay = crate::app::Overlay::Shadow;
        } else {
            self.status = Some(
                "no shadow explanation here: `workbench eval SHADOW CAPTURE --json` scores a shadow model and reports its skew"
                    .into(),
            );
        }
    }
}

/// A rate or share with three decimals, `n/a` when undefined (as `workbench eval` prints it).
pub fn figure(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_samples_then_typed_paths_and_the_command_pastes_back() {
        let mut s = EvalState {
            samples: vec![PathBuf::from("sample-pcaps/honest.pcap")],
            ..EvalState::default()
        };
        s.typed.push(PathBuf::from("/data/my capture.pcap"));
        let c = s.choices(&[]);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].origin, c[0].name.as_str()), (Origin::Sample, "honest.pcap"));
        assert_eq!(c[1].origin, Origin::Typed);
        assert_eq!(
            command(Path::new("m.ebml"), &c[1].files),
            "workbench eval m.ebml '/data/my capture.pcap' --json"
        );
        assert_eq!(
            c[1].command(Path::new("m.ebml")),
            command(Path::new("m.ebml"), &c[1].files)
        );
        let o = options(Path::new("m.ebml"), &c[0].files);
        assert_eq!((o.at, o.labels), (At::DecisionPoints, None));
        assert_eq!(o.config, ProbeConfig::default());
        // The list scrolls so that the selection stays in view.
        s.selected = 5;
        assert_eq!(s.first_shown(3), 3);
        assert_eq!(s.first_shown(10), 0);
    }
}
