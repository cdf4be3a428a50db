//! Fixed states of the Data, Pitfalls and Train tabs: the project's own sample captures
//! (`gen::write_all` with the default seed, so byte-identical on every run) loaded, inspected
//! and trained on by the same code the tabs run in the background. File paths of the
//! temporary directory are replaced by the names they have in the repository, so snapshots
//! and screenshots do not depend on where the fixture was built.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::error::Result;

use super::action::Tab;
use super::app::{App, Overlay};
use super::jobs;
use super::source::Control;
use super::state::data::{JobStatus, Loaded};
use super::state::eval::{self, EvalRun, ShadowStory};
use super::state::train::{Finished, TrainForm, TrainResult};
use workbench_data::dataset::LoadOptions;

pub struct Fixture {
    /// honest, naive (sorted by file name, as `sample_captures` finds them).
    pub sets: Vec<Arc<Loaded>>,
    /// A tree of the default depth (8) on the honest capture with the default form (kernel features through
    /// the leakage gate, the most honest split).
    pub trained: Arc<TrainResult>,
    /// That tree scored on the honest capture (`workbench eval MODEL honest.pcap`).
    pub evaluated: Arc<EvalRun>,
}

static FIXTURE: OnceLock<Result<Fixture, String>> = OnceLock::new();

/// Built once per process (a second of work in a debug build), then shared.
pub fn fixture() -> Result<&'static Fixture> {
    FIXTURE
        .get_or_init(|| build().map_err(|e| crate::error::line(&e)))
        .as_ref()
        .map_err(|e| crate::error::Error::Invalid(format!("building the Data/Pitfalls/Train fixture: {e}")))
}

fn rename(text: &str, dir: &Path) -> String {
    text.replace(&format!("{}/", dir.join("work").display()), "")
        .replace(&format!("{}/", dir.display()), "sample-pcaps/")
}

fn build() -> Result<Fixture> {
    let dir = std::env::temp_dir().join(format!("ebpf-ml-workbench-fixture-{}", std::process::id()));
    let result = (|| {
        workbench_flow::gen::write_all(&dir, workbench_flow::gen::DEFAULT_SEED)?;
        let paths = jobs::sample_captures(&dir);
        let options = LoadOptions {
            no_cache: true,
            ..LoadOptions::default()
        };
        let (sets, errors) = jobs::load_in(&paths, &options, &dir.join("work"), &|_, _| {});
        if !errors.is_empty() {
            return Err(crate::error::Error::Invalid(errors.join("; ")));
        }
        let mut fixed = Vec::new();
        for set in sets {
            let mut l = Arc::try_unwrap(set)
                .map_err(|_| crate::error::Error::Invalid("fixture dataset still shared".into()))?;
            l.summary.files = l.summary.files.iter().map(|f| rename(f, &dir)).collect();
            l.summary.commands = l.summary.commands.iter().map(|c| rename(c, &dir)).collect();
            l.table_files = l.table_files.iter().map(|f| rename(f, &dir)).collect();
            l.prelude = l.prelude.as_deref().map(|p| rename(p, &dir));
            fixed.push(Arc::new(l));
        }
        let form = TrainForm::default();
        let first = fixed.first().ok_or_else(|| {
            crate::error::Error::Invalid(format!("no labelled capture in {}", dir.display()))
        })?;
        let Finished::Kernel(trained) = jobs::train(first, &form, &dir.join("models"), &|_, _| {})? else {
            return Err(crate::error::Error::Invalid(
                "the fixture's default form trains a kernel-feature model".into(),
            ));
        };
        let mut trained = Arc::try_unwrap(trained)
            .map_err(|_| crate::error::Error::Invalid("fixture result still shared".into()))?;
        let honest = paths.first().ok_or_else(|| {
            crate::error::Error::Invalid(format!("no labelled capture in {}", dir.display()))
        })?;
        let evaluated = jobs::evaluate(
            &eval::options(&trained.model_path, std::slice::from_ref(honest)),
            "honest.pcap".into(),
            eval::command(&trained.model_path, std::slice::from_ref(honest)),
        )?;
        let mut evaluated = Arc::try_unwrap(evaluated)
            .map_err(|_| crate::error::Error::Invalid("fixture eval still shared".into()))?;
        let name = trained
            .model_path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        trained.model_path = PathBuf::from("models").join(&name);
        let models = dir.join("models").display().to_string();
        trained.command = rename(&trained.command.replace(&models, "models"), &dir);
        let fix = |s: &mut String| *s = rename(&s.replace(&models, "models"), &dir);
        let r = &mut evaluated.report;
        fix(&mut r.model.file);
        r.data.iter_mut().for_each(fix);
        r.files.iter_mut().for_each(|f| fix(&mut f.file));
        if let Some(l) = r.labels.as_mut() {
            fix(&mut l.file);
        }
        if let Some(t) = r.skew.trained_on.as_mut() {
            fix(&mut t.source);
        }
        fix(&mut evaluated.command);
        Ok(Fixture {
            sets: fixed,
            trained: Arc::new(trained),
            evaluated: Arc::new(evaluated),
        })
    })();
    // The fixture lives in memory; its files are not needed any more.
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn with_data(app: &mut App, active: usize) -> Result<()> {
    let f = fixture()?;
    app.data.sets = f.sets.clone();
    app.data.status = JobStatus::Done;
    app.data.active = active.min(f.sets.len().saturating_sub(1));
    app.data.reorder();
    Ok(())
}

/// Puts `app` in the fixed state of a Data/Pitfalls/Train screen; false if `name` is not one.
pub fn screen(app: &mut App, name: &str) -> Result<bool> {
    match name {
        "data" => {
            with_data(app, 0)?;
            app.tab = Tab::Data;
        }
        "data-sorted-naive" => {
            with_data(app, 1)?;
            app.tab = Tab::Data;
            app.update(super::action::Action::CycleSort);
            app.update(super::action::Action::CycleSort);
        }
        "pitfalls" | "pitfalls-honest" => {
            // The naive capture: its leaks are what the tab is for.
            with_data(app, 1)?;
            app.tab = Tab::Pitfalls;
            app.pitfalls.selected = app
                .findings()
                .iter()
                .position(|f| f.id == "single_feature_leakage")
                .unwrap_or(0);
            app.pitfalls.honest = name == "pitfalls-honest";
        }
        "train" | "train-running" | "deploy-trained-confirm" => {
            with_data(app, 0)?;
            app.tab = Tab::Train;
            if name == "train-running" {
                app.train.status = JobStatus::Running {
                    stage: "fitting, then scoring under every split".into(),
                    fraction: 0.3,
                };
            } else {
                let trained = fixture()?.trained.clone();
                app.train.status = JobStatus::Done;
                if name == "deploy-trained-confirm" {
                    app.tab = Tab::Deploy;
                    app.overlay = Overlay::Confirm(Control::DeployModel {
                        path: trained.model_path.clone(),
                        shadow: true,
                    });
                }
                app.train.result = Some(trained);
            }
        }
        "train-cost" | "train-cost-unavailable" => {
            with_data(app, 0)?;
            app.tab = Tab::Train;
            app.train.result = Some(fixture()?.trained.clone());
            app.train.status = JobStatus::Done;
            app.train.form.max_depth = 8;
            app.train.cost.status = JobStatus::Done;
            app.train.cost.result = Some(Arc::new(cost_fixture(name == "train-cost")));
        }
        "eval" => {
            with_data(app, 0)?;
            app.tab = Tab::Train;
            let f = fixture()?;
            app.train.result = Some(f.trained.clone());
            app.train.status = JobStatus::Done;
            app.eval.showing = true;
            app.eval.samples = vec![
                PathBuf::from("sample-pcaps/honest.pcap"),
                PathBuf::from("sample-pcaps/naive.pcap"),
            ];
            app.eval.status = JobStatus::Done;
            app.eval.result = Some(f.evaluated.clone());
        }
        "live-shadow-why" => {
            let f = fixture()?;
            app.shadow_story = Some(Arc::new(ShadowStory {
                model_id: f.evaluated.report.model.model_id.clone(),
                trained_on: "the honest sample's flows at their last packet (fixture)".into(),
                data: "honest.pcap".into(),
                run: f.evaluated.clone(),
            }));
            app.overlay = Overlay::Shadow;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Fixed candidates (the numbers of a run on this VM, rounded), measured or not.
fn cost_fixture(measured: bool) -> crate::state::cost::CostCandidates {
    use crate::state::cost::{CostCandidates, CostRow};
    let rows = [
        (2, 2, 0.912, 7, 101),
        (4, 4, 0.957, 27, 108),
        (8, 8, 0.981, 143, 117),
        (12, 11, 0.983, 301, 124),
    ];
    CostCandidates {
        rows: rows
            .iter()
            .map(|&(depth, tree_depth, f1, nodes, ns)| CostRow {
                depth,
                tree_depth,
                f1,
                nodes,
                ns: measured.then_some(ns),
            })
            .collect(),
        empty_ns: measured.then_some(12),
        no_model_ns: measured.then_some(88),
        unavailable: (!measured).then(|| {
            "measuring a model's kernel cost needs CAP_BPF and CAP_NET_ADMIN; run as root".to_string()
        }),
        command: "workbench features sample-pcaps/honest.pcap --labels sample-pcaps/labels-honest.csv -o honest.parquet && workbench train honest.parquet --model tree --max-depth 8 --features kernel --split auto -o MODEL --cost-depths 2,4,8,12 --json".into(),
    }
}
