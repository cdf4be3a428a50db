//! The Train tab's cost candidates as a background job: the run the form describes (rows,
//! features, split resolved as `workbench train` resolves them), one tree per depth on those
//! rows, and their kernel cost per packet (`workbench_kernel::cost::model_cost`: a private
//! probe load, attached to nothing, removed after). Without kernel access the F1 column stays
//! and the cost says why it is missing. What `workbench train ... --cost-depths --json` does.

use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::state::cost::{self, CostCandidates, CostRow};
use crate::state::data::Loaded;
use crate::state::train::{FeatureSet, TrainForm};
use workbench_data::train::candidates;
use workbench_data::train::run::{self, Input, RunOptions};
use workbench_data::train::ModelKind;
use workbench_kernel::cost::CostOptions;

/// Held while a measurement has its private probe loaded: the TUI waits for it before exiting,
/// so that a quit in the middle still removes the pins (the measurement takes about a second).
static MEASURING: Mutex<()> = Mutex::new(());

/// Waits until no measurement is running.
pub fn wait_idle() {
    drop(MEASURING.lock());
}

type Progress<'a> = &'a (dyn Fn(&str, f64) + Sync);

pub fn run(loaded: &Loaded, form: &TrainForm, progress: Progress) -> Result<CostCandidates> {
    if form.model != ModelKind::Tree {
        return Err(Error::Refused(
            "cost candidates are trees of several depths: choose model tree (a logistic model has no depth)"
                .into(),
        ));
    }
    if form.features == FeatureSet::Dataset {
        return Err(Error::Refused(
            "the dataset's own columns cannot run in the probe: choose kernel features to compare costs"
                .into(),
        ));
    }
    let depths = cost::depths(form);
    progress("columns, leakage gate, split (as a training run)", 0.1);
    let opts = RunOptions {
        features: form.features_arg().to_string(),
        keep_flagged: form.features == FeatureSet::KernelAll,
        split: form.split,
        at: None,
        decision: Default::default(),
        positive: None,
        train: form.options(),
    };
    let (out, ds) = run::run_keeping_rows(Input::Table(&loaded.dataset), &opts)?;
    let n = depths.len() as f64;
    let fitted = candidates::fit(&ds, &out.options, &depths, &|d| {
        let i = depths.iter().position(|&x| x == d).unwrap_or(0) as f64;
        progress(&format!("fitting the depth-{d} candidate"), 0.2 + 0.5 * i / n);
    })?;
    drop(ds);
    let measured = match workbench_kernel::cost::unavailable() {
        Some(why) => Err(why),
        None => {
            progress("measuring each candidate in the kernel (BPF_PROG_TEST_RUN)", 0.75);
            let _measuring = MEASURING.lock();
            let models: Vec<&shared::model::Model> = fitted.iter().map(|c| &*c.model).collect();
            workbench_kernel::cost::model_cost(&models, &CostOptions::default())
                .map_err(|e| crate::error::line(&e))
        }
    };
    let (report, unavailable) = match measured {
        Ok(r) => (Some(r), None),
        Err(why) => (None, Some(why)),
    };
    Ok(CostCandidates {
        rows: fitted
            .iter()
            .enumerate()
            .map(|(i, c)| CostRow {
                depth: c.depth,
                tree_depth: c.tree_depth,
                f1: c.f1,
                nodes: c.nodes,
                ns: report.as_ref().and_then(|r| r.model_ns.get(i).copied()),
            })
            .collect(),
        empty_ns: report.as_ref().map(|r| r.empty_ns),
        no_model_ns: report.as_ref().map(|r| r.no_model_ns),
        unavailable,
        command: loaded.shown_command(cost::command(form, &loaded.command_files, &depths)),
    })
}
