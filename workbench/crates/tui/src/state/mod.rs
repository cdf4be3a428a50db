//! Per-tab state of Data, Pitfalls and Train, and the part of `App::update` that serves them
//! (kept here so that `app.rs` stays the Live/Deploy core plus dispatch).

pub mod cost;
pub mod data;
pub mod eval;
pub(crate) mod pitfalls;
pub mod train;

use std::path::PathBuf;
use std::sync::Arc;

use super::action::Tab;
use super::app::{App, Overlay};
use super::jobs::{JobRequest, JobUpdate};
use super::source::Control;
use super::ui::layout;
use data::JobStatus;
use workbench_data::dataset::LoadOptions;

impl App {
    /// Starts loading `paths` in the background (a newer load replaces an older one).
    pub fn start_load(&mut self, paths: Vec<PathBuf>, options: LoadOptions) {
        self.data.generation += 1;
        self.data.status = JobStatus::Running {
            stage: "starting".into(),
            fraction: 0.0,
        };
        self.jobs.push(JobRequest::Load {
            generation: self.data.generation,
            paths,
            options,
        });
    }

    /// Starts a training run on the active dataset with the form's settings.
    pub fn start_train(&mut self) {
        let Some(set) = self.data.current().cloned() else {
            if matches!(self.data.status, JobStatus::Running { .. }) {
                // Still loading (the TUI just started, or a script pressed Enter early): the
                // run starts when the dataset is there.
                self.train.pending = true;
                self.status = Some("training starts once the dataset is loaded".into());
            } else {
                self.status = Some("nothing to train on: load a dataset first (Data tab)".into());
            }
            return;
        };
        self.train.pending = false;
        self.train.generation += 1;
        self.train.status = JobStatus::Running {
            stage: "starting".into(),
            fraction: 0.0,
        };
        self.jobs.push(JobRequest::Train {
            generation: self.train.generation,
            dataset: set,
            form: self.train.form.clone(),
            model_dir: self.train.model_dir.clone(),
        });
    }

    /// `c` on the Train tab: the cost candidates of the form's run (F1 and kernel ns per
    /// packet per depth), in the background.
    pub fn start_cost(&mut self) {
        if self.tab != Tab::Train || self.eval.showing {
            return;
        }
        if matches!(self.train.cost.status, JobStatus::Running { .. }) {
            return;
        }
        let Some(set) = self.data.current().cloned() else {
            self.status = Some("nothing to train on: load a dataset first (Data tab)".into());
            return;
        };
        self.train.cost.generation += 1;
        self.train.cost.status = JobStatus::Running {
            stage: "starting".into(),
            fraction: 0.0,
        };
        self.jobs.push(JobRequest::Cost {
            generation: self.train.cost.generation,
            dataset: set,
            form: self.train.form.clone(),
        });
    }

    /// `C` on the Train tab: the next candidate's depth into the form (Enter trains it).
    pub fn pick_candidate(&mut self) {
        if self.tab != Tab::Train
            || self.eval.showing
            || matches!(self.train.status, JobStatus::Running { .. })
        {
            return;
        }
        let Some(c) = &self.train.cost.result else {
            self.status = Some("no candidates yet: c measures F1 and kernel cost per depth".into());
            return;
        };
        let form = &mut self.train.form;
        let next = c
            .rows
            .iter()
            .find(|r| r.depth > form.max_depth)
            .or(c.rows.first())
            .map(|r| (r.depth, r.ns));
        if let Some((depth, ns)) = next {
            form.model = workbench_data::train::ModelKind::Tree;
            form.max_depth = depth;
            self.status = Some(format!(
                "depth {depth} picked{}: Enter trains it, then d deploys",
                ns.map_or(String::new(), |ns| format!(" ({ns} ns per packet)"))
            ));
        }
    }

    /// Accepts a background job's progress or result (stale generations are dropped).
    pub(super) fn job(&mut self, update: JobUpdate) {
        match update {
            JobUpdate::LoadProgress {
                generation,
                stage,
                fraction,
            } if generation == self.data.generation => {
                self.data.status = JobStatus::Running { stage, fraction };
            }
            JobUpdate::Loaded {
                generation,
                sets,
                errors,
            } if generation == self.data.generation => {
                self.data.status = if sets.is_empty() && !errors.is_empty() {
                    JobStatus::Failed(errors.join("; "))
                } else {
                    JobStatus::Done
                };
                let names: Vec<&str> = sets.iter().map(|s| s.summary.name.as_str()).collect();
                let note = sets.iter().find_map(|s| s.summary.note.clone());
                self.status = Some(format!(
                    "loaded {}{}{}",
                    crate::words::plural(sets.len() as u64, "dataset", "datasets"),
                    match names.len() {
                        0 => String::new(),
                        1 => format!(": {}", names[0]),
                        _ => format!(" (n: next): {}", names.join(", ")),
                    },
                    match (errors.is_empty(), note) {
                        (false, _) => format!(", {} failed: {}", errors.len(), errors.join("; ")),
                        (true, Some(note)) => format!("; {note}"),
                        (true, None) => String::new(),
                    }
                ));
                self.data.sets = sets;
                self.data.errors = errors;
                self.data.active = 0;
                self.data.selected = 0;
                self.data.offset = 0;
                self.pitfalls.selected = 0;
                self.data.reorder();
                if std::mem::take(&mut self.train.pending) {
                    self.start_train();
                }
            }
            JobUpdate::TrainProgress {
                generation,
                stage,
                fraction,
            } if generation == self.train.generation => {
                self.train.status = JobStatus::Running { stage, fraction };
            }
            JobUpdate::Evaluated { generation, result } => self.eval_done(generation, result),
            JobUpdate::CostProgress {
                generation,
                stage,
                fraction,
            } if generation == self.train.cost.generation => {
                self.train.cost.status = JobStatus::Running { stage, fraction };
            }
            JobUpdate::Costed { generation, result } if generation == self.train.cost.generation => {
                match result {
                    Ok(c) => {
                        self.status = Some(match &c.unavailable {
                            None => format!(
                                "{} candidates measured: F1 beside kernel ns per packet; C picks one",
                                c.rows.len()
                            ),
                            Some(why) => format!("candidates fitted; no kernel cost: {why}"),
                        });
                        self.train.cost.status = JobStatus::Done;
                        self.train.cost.result = Some(c);
                    }
                    Err(e) => self.train.cost.status = JobStatus::Failed(e),
                }
            }
            JobUpdate::Trained { generation, result } if generation == self.train.generation => {
                match result {
                    Ok(train::Finished::Kernel(r)) => {
                        self.status = Some(format!(
                            "trained {} {}: F1 {:.3} ({} split); written to {}",
                            r.form.model_name(),
                            r.report.model_id,
                            r.report.metrics.f1,
                            r.report.split.name(),
                            shown_path(&r.model_path)
                        ));
                        self.train.status = JobStatus::Done;
                        self.train.result = Some(r);
                        self.train.showing_dataset = false;
                    }
                    Ok(train::Finished::Dataset(r)) => {
                        self.status = Some(format!(
                            "trained {} {} on dataset columns: F1 {:.3} ({} split); not deployable; written to {}",
                            r.form.model_name(),
                            r.report.model_id,
                            r.report.metrics.f1,
                            r.report.split.name(),
                            shown_path(&r.model_path)
                        ));
                        self.train.status = JobStatus::Done;
                        self.train.dataset_result = Some(r);
                        self.train.showing_dataset = true;
                    }
                    Err(e) => self.train.status = JobStatus::Failed(e),
                }
            }
            _ => {}
        }
    }

    /// Up/down on the new tabs: column rows, findings, form fields.
    pub(super) fn move_tab(&mut self, delta: isize) {
        match self.tab {
            Tab::Data => self.data.move_by(delta, layout::data_table_rows(self.size)),
            Tab::Pitfalls => {
                let n = self.data.current().map_or(0, |s| s.findings.len());
                self.pitfalls.selected = self
                    .pitfalls
                    .selected
                    .saturating_add_signed(delta)
                    .min(n.saturating_sub(1));
            }
            Tab::Train if self.eval.showing => self.move_eval(delta),
            Tab::Train => {
                let last = train::FIELDS as isize - 1;
                self.train.form.field =
                    (self.train.form.field as isize + delta.signum()).clamp(0, last) as usize;
            }
            _ => {}
        }
    }

    /// `s`/`S` on the Data tab: next column order / reverse.
    pub(super) fn sort_columns(&mut self, reverse: bool) {
        if reverse {
            self.data.desc = !self.data.desc;
        } else {
            self.data.sort = self.data.sort.next();
        }
        self.data.reorder();
    }

    pub(super) fn next_dataset(&mut self) {
        let n = self.data.sets.len();
        if n > 1 {
            self.data.active = (self.data.active + 1) % n;
            self.data.selected = 0;
            self.data.offset = 0;
            self.pitfalls.selected = 0;
            self.data.reorder();
            if let Some(s) = self.data.current() {
                self.status = Some(format!("dataset {}", s.summary.name));
            }
        }
    }

    /// Left/right on the Train tab: change the focused field.
    pub(super) fn change_field(&mut self, step: isize) {
        if self.tab == Tab::Train
            && !self.eval.showing
            && !matches!(self.train.status, JobStatus::Running { .. })
        {
            self.train.form.change(step);
        }
    }

    pub(super) fn toggle_honest(&mut self) {
        if self.tab == Tab::Pitfalls {
            self.pitfalls.honest = !self.pitfalls.honest;
        }
    }

    /// `d` / `D`: deploy the trained model (active / shadow), after a confirmation that shows
    /// the command doing the same. On a simulated source it replaces the twin's model.
    pub(super) fn ask_deploy_trained(&mut self, shadow: bool) {
        if !matches!(self.tab, Tab::Train | Tab::Deploy) {
            return;
        }
        if self.tab == Tab::Train && self.train.showing_dataset {
            if let Some(d) = &self.train.dataset_result {
                self.status = Some(format!(
                    "model {} is not deployable: it reads the dataset's own columns; train with kernel features to deploy",
                    d.report.model_id
                ));
                return;
            }
        }
        let Some(r) = &self.train.result else {
            self.status = Some("no trained model yet: train one on the Train tab (Enter)".into());
            return;
        };
        let control = Control::DeployModel {
            path: r.model_path.clone(),
            shadow,
        };
        self.tab = Tab::Deploy;
        self.overlay = Overlay::Confirm(control);
    }

    /// A click in the body of the new tabs selects the row under it.
    pub(super) fn click_tab(&mut self, column: u16, row: u16) {
        match self.tab {
            Tab::Data => {
                if let Some(r) = layout::data_row_at(self.size, column, row) {
                    let target = self.data.offset + r;
                    if target < self.data.order.len() {
                        self.data.selected = target;
                    }
                }
            }
            Tab::Pitfalls => {
                if let Some(r) = layout::pitfalls_row_at(self.size, column, row) {
                    let n = self.data.current().map_or(0, |s| s.findings.len());
                    let first = layout::pitfalls_first_row(self.pitfalls.selected, self.size);
                    if first + r < n {
                        self.pitfalls.selected = first + r;
                    }
                }
            }
            Tab::Train if self.eval.showing => self.click_eval(column, row),
            Tab::Train => {
                if let Some(f) = layout::train_field_at(self.size, column, row) {
                    self.train.form.field = f;
                }
            }
            _ => {}
        }
    }

    /// The active dataset's findings (empty before loading).
    pub fn findings(&self) -> &[workbench_data::pitfalls::Finding] {
        self.data.current().map_or(&[], |s| s.findings.as_slice())
    }

    /// The active dataset, shared with a training job.
    pub fn dataset(&self) -> Option<Arc<data::Loaded>> {
        self.data.current().cloned()
    }
}

/// A path for the status line: relative to the working folder when it is inside it (the Train
/// tab shows the absolute path).
fn shown_path(path: &std::path::Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string())
}
