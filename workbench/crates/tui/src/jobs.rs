//! Long work of the Data, Pitfalls and Train tabs, on threads of its own: loading datasets
//! (captures through `features::extract`, tables through `dataset::load`), inspecting them
//! (`pitfalls::inspect`), training (`train::run` + the model file) and scoring a model on other
//! data (`eval::evaluate`): the code of `workbench features`, `inspect`, `train` and `eval`. Progress and
//! results come back as events; each result carries the generation of its request, and the app
//! ignores any but the newest (at most one live job of each kind counts).

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::Arc;

use crate::error::Result;

use super::event::Event;
use super::state::data::{DataSummary, Loaded};
use super::state::eval::EvalRun;
use super::state::train::{DatasetResult, FeatureSet, Finished, RunNotes, TrainForm, TrainResult};
use crate::shell;
use workbench_data::dataset::{self, LoadOptions};
use workbench_data::features::{self, DecisionPoint, FeaturesOptions};

/// What the app asks for.
#[derive(Debug, Clone)]
pub enum JobRequest {
    Load {
        generation: u64,
        paths: Vec<PathBuf>,
        options: LoadOptions,
    },
    Train {
        generation: u64,
        dataset: Arc<Loaded>,
        form: TrainForm,
        model_dir: PathBuf,
    },
    /// `workbench train DATA --cost-depths ...` (the Train tab's `c`).
    Cost {
        generation: u64,
        dataset: Arc<Loaded>,
        form: TrainForm,
    },
    /// `workbench eval MODEL DATA...` (the Train tab's evaluation view).
    Eval {
        generation: u64,
        options: workbench_data::eval::EvalOptions,
        data_name: String,
        /// The same run as a command (`EvalChoice::command`).
        command: String,
    },
}

/// What a job reports back (delivered to the app as `Action::Job`).
#[derive(Debug, Clone)]
pub enum JobUpdate {
    LoadProgress {
        generation: u64,
        stage: String,
        fraction: f64,
    },
    Loaded {
        generation: u64,
        sets: Vec<Arc<Loaded>>,
        errors: Vec<String>,
    },
    TrainProgress {
        generation: u64,
        stage: String,
        fraction: f64,
    },
    Trained {
        generation: u64,
        result: Result<Finished, String>,
    },
    Evaluated {
        generation: u64,
        result: Result<Arc<EvalRun>, String>,
    },
    CostProgress {
        generation: u64,
        stage: String,
        fraction: f64,
    },
    Costed {
        generation: u64,
        result: Result<Arc<super::state::cost::CostCandidates>, String>,
    },
}

fn is_capture(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("pcap") || e.eq_ignore_ascii_case("pcapng"))
}

/// The labelled sample captures in `dir` (`X.pcap` with `labels-X.csv` beside it), by name.
pub fn sample_captures(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_capture(p) && labels_beside(p).is_some())
        .collect();
    out.sort();
    out
}

/// `labels-STEM.csv` next to capture `STEM.pcap` (the ground truth `gen-pcaps` writes).
fn labels_beside(capture: &Path) -> Option<PathBuf> {
    let stem = capture.file_stem()?.to_str()?;
    let p = capture.with_file_name(format!("labels-{stem}.csv"));
    p.is_file().then_some(p)
}

/// This process's private folder for what it derives from captures: made at the first capture
/// load, removed when the TUI ends (`remove_work_dir`).
static WORK: std::sync::Mutex<Option<tempfile::TempDir>> = std::sync::Mutex::new(None);

/// The private folder, made if it is not there yet: `$TMPDIR/ebpf-ml-workbench-tui-PID-RANDOM`,
/// a new directory (never one already there: another user could have made a guessable name
/// first, or planted a symlink, and the TUI may run as root) with mode 0700.
fn work() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let mut work = WORK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(w) = work.as_ref() {
        return Ok(w.path().to_path_buf());
    }
    let prefix = format!("ebpf-ml-workbench-tui-{}-", std::process::id());
    let w = tempfile::Builder::new()
        .prefix(&prefix)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()?;
    let path = w.path().to_path_buf();
    *work = Some(w);
    Ok(path)
}

/// Where this process keeps the feature tables and rules it derives from captures (removed
/// when the TUI ends: `remove_work_dir`); made when first asked for (empty if it cannot be).
pub fn work_dir() -> PathBuf {
    work().unwrap_or_default()
}

/// A directory of its own for one load, so that loads running at once never share files.
fn fresh_dir() -> std::io::Result<PathBuf> {
    static LOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = LOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(work()?.join(format!("load-{n}")))
}

pub fn remove_work_dir() {
    // Nothing there when no capture was loaded; nothing to report either way (the TempDir's
    // drop removes it).
    let work = WORK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    drop(work);
}

type Progress<'a> = &'a (dyn Fn(&str, f64) + Sync);

/// `features::extract`'s progress (bytes of the capture read) as the load job's own progress:
/// the share read moves the job over the first 60% of the capture's span, one event per percent.
struct CaptureProgress<'a> {
    stage: String,
    report: Progress<'a>,
    span: (f64, f64),
    total_bytes: Cell<u64>,
    read_bytes: Cell<u64>,
    shown_percent: Cell<Option<u64>>,
}

impl<'a> CaptureProgress<'a> {
    fn new(name: &str, report: Progress<'a>, span: (f64, f64)) -> Self {
        CaptureProgress {
            stage: format!("features of {name}"),
            report,
            span,
            total_bytes: Cell::new(0),
            read_bytes: Cell::new(0),
            shown_percent: Cell::new(None),
        }
    }

    fn show(&self) {
        let share = (self.read_bytes.get() as f64 / self.total_bytes.get().max(1) as f64).min(1.0);
        let percent = (share * 100.0) as u64;
        if self.shown_percent.get() != Some(percent) {
            self.shown_percent.set(Some(percent));
            (self.report)(
                &self.stage,
                self.span.0 + share * (self.span.1 - self.span.0) * 0.6,
            );
        }
    }
}

impl workbench_data::progress::Progress for CaptureProgress<'_> {
    fn set_total(&self, total: u64) {
        self.total_bytes.set(total);
        self.show();
    }

    fn advance(&self, done: u64) {
        self.read_bytes.set(self.read_bytes.get().saturating_add(done));
        self.show();
    }
}

/// A capture (with its labels) as a feature table, then loaded like any table.
fn load_capture(
    pcap: &Path,
    options: &LoadOptions,
    dir: &Path,
    progress: Progress,
    span: (f64, f64),
) -> Result<Loaded> {
    let name = pcap.display().to_string();
    let stem = pcap.file_stem().and_then(|s| s.to_str()).unwrap_or("capture");
    let labels = labels_beside(pcap).ok_or_else(|| {
        crate::error::Error::Missing(format!("{name}: no labels-{stem}.csv beside it; make a feature table with `workbench features {name} -o OUT.parquet --labels RULES.toml` and load that"))
    })?;
    std::fs::create_dir_all(dir)
        .map_err(|e| crate::error::Error::io(format!("creating {}", dir.display()), e))?;
    let table = dir.join(format!("features-{stem}.parquet"));
    let opts = FeaturesOptions {
        pcaps: vec![pcap.to_path_buf()],
        output: table.clone(),
        decision: DecisionPoint::LastPacket,
        labels: Some(labels.clone()),
        cic: Default::default(),
        lenient: false,
        interface: None,
        opt_in: 0,
    };
    features::extract(&opts, &CaptureProgress::new(&name, progress, span))?;
    progress(
        &format!("loading {}", table.display()),
        span.0 + (span.1 - span.0) * 0.6,
    );
    let mut ds = dataset::load(std::slice::from_ref(&table), options)?;
    // The commands name the table as the features step writes it in the working folder: the
    // TUI's own copy goes with its temporary folder when it ends. A model trained here names
    // it so too (its provenance), as the shown command's model does: the same file.
    let shown_table = format!("{stem}.parquet");
    ds.sources = vec![shown_table.clone()];
    progress(&format!("inspecting {name}"), span.0 + (span.1 - span.0) * 0.75);
    let findings = workbench_data::pitfalls::inspect(&ds);
    let prelude = format!(
        "workbench features {} --labels {} -o {}",
        shell::word(&name),
        shell::word(&labels.display().to_string()),
        shell::word(&shown_table),
    );
    let commands = vec![
        prelude.clone(),
        format!("workbench inspect {} --json", shell::word(&shown_table)),
    ];
    let mut summary = DataSummary::of(&ds, stem, commands);
    summary.files = vec![name.clone(), labels.display().to_string()];
    Ok(Loaded {
        dataset: Arc::new(ds),
        summary,
        findings,
        table_files: vec![table.display().to_string()],
        command_files: vec![shown_table],
        prelude: Some(prelude),
    })
}

fn load_tables(
    paths: &[PathBuf],
    options: &LoadOptions,
    progress: Progress,
    span: (f64, f64),
) -> Result<Loaded> {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    progress(&format!("loading {}", names.join(", ")), span.0);
    let ds = dataset::load(paths, options)?;
    progress("inspecting pitfalls", span.0 + (span.1 - span.0) * 0.5);
    let findings = workbench_data::pitfalls::inspect(&ds);
    let name = match paths {
        [one] => one
            .file_name()
            .map_or_else(|| names[0].clone(), |n| n.to_string_lossy().to_string()),
        _ => format!("{} files", paths.len()),
    };
    let summary = DataSummary::of(
        &ds,
        &name,
        vec![format!(
            "workbench inspect {} --json",
            shell::words(names.iter().map(String::as_str))
        )],
    );
    Ok(Loaded {
        dataset: Arc::new(ds),
        summary,
        findings,
        command_files: names.clone(),
        table_files: names,
        prelude: None,
    })
}

/// Loads `paths`: every capture is one dataset (its features and labels), the tables of each
/// layout another (as `workbench inspect` reads several files of one layout; `groups`). A
/// dataset that fails is reported and the others still load.
pub fn load(paths: &[PathBuf], options: &LoadOptions, progress: Progress) -> (Vec<Arc<Loaded>>, Vec<String>) {
    if !paths.iter().any(|p| is_capture(p)) {
        // Tables only: nothing derived, no folder needed.
        return load_in(paths, options, Path::new(""), progress);
    }
    match fresh_dir() {
        Ok(dir) => load_in(paths, options, &dir, progress),
        Err(e) => (
            Vec::new(),
            vec![format!(
                "cannot make a private temporary folder for the feature tables of the captures: {e}"
            )],
        ),
    }
}

/// [`load`] with the directory for derived files (feature tables, rules) given.
pub fn load_in(
    paths: &[PathBuf],
    options: &LoadOptions,
    dir: &Path,
    progress: Progress,
) -> (Vec<Arc<Loaded>>, Vec<String>) {
    let (captures, tables): (Vec<PathBuf>, Vec<PathBuf>) = paths.iter().cloned().partition(|p| is_capture(p));
    let groups = super::groups::group(&tables);
    let parts = captures.len() + groups.len();
    let span = |i: usize| (i as f64 / parts as f64, (i + 1) as f64 / parts as f64);
    let mut sets = Vec::new();
    let mut errors = Vec::new();
    for (i, group) in groups.iter().enumerate() {
        match load_tables(&group.paths, options, progress, span(i)) {
            Ok(mut l) => {
                l.summary.name = group.name.clone();
                l.summary.note = group.note.clone();
                sets.push(Arc::new(l));
            }
            Err(e) => errors.push(crate::error::line(&e)),
        }
    }
    let first = groups.len();
    for (i, pcap) in captures.iter().enumerate() {
        match load_capture(pcap, options, dir, progress, span(first + i)) {
            Ok(l) => sets.push(Arc::new(l)),
            Err(e) => errors.push(crate::error::line(&e)),
        }
    }
    (sets, errors)
}

/// One training run on a loaded dataset (`workbench_data::train::run`, what `workbench train`
/// runs); the model is written to `model_dir`.
pub fn train(loaded: &Loaded, form: &TrainForm, model_dir: &Path, progress: Progress) -> Result<Finished> {
    use workbench_data::train::run::{self, Input, Outcome, RunOptions};
    let ds = &loaded.dataset;
    progress(
        "columns, leakage gate, split; fitting, then scoring under every split",
        0.2,
    );
    let opts = RunOptions {
        features: form.features_arg().to_string(),
        keep_flagged: form.features == FeatureSet::KernelAll,
        split: form.split,
        at: None,
        decision: Default::default(),
        positive: None,
        train: form.options(),
    };
    let out = run::run(Input::Table(ds), &opts)?;
    // As `workbench train`: a side with one class scores nothing, so no model is written; the
    // split selector offers the one that works (the command line can force it).
    if let Some(why) = &out.split.one_class_side {
        let fix = match out.split.would_work.first() {
            Some(k) => format!("choose the {} split", k.name()),
            None => "no split of this data leaves both classes on both sides".to_string(),
        };
        return Err(crate::error::Error::Refused(format!(
            "no model written: under the {} split {why}; {fix} (or `workbench train ... --allow-one-class-split`)",
            out.split.split.name()
        )));
    }
    progress("writing the model file", 0.9);
    std::fs::create_dir_all(model_dir)
        .map_err(|e| crate::error::Error::io(format!("creating {}", model_dir.display()), e))?;
    let suffix = if out.deployable() { "" } else { "-dataset" };
    let path = model_dir.join(format!("{}{suffix}-{}.ebml", form.model_name(), out.model_id()));
    out.write(&path, out.provenance(Some(ds)))?;
    let command = loaded.shown_command(form.command(&loaded.command_files, &path.display().to_string()));
    let notes = RunNotes::of(&out);
    let mapping = crate::state::train::feature_mapping(&out);
    Ok(match out.outcome {
        Outcome::Kernel(t) => Finished::Kernel(Arc::new(TrainResult {
            command,
            mapping,
            report: t.report,
            model_path: path,
            form: form.clone(),
            notes,
        })),
        Outcome::Dataset(d) => Finished::Dataset(Arc::new(DatasetResult {
            command,
            report: d.report,
            model_path: path,
            form: form.clone(),
            notes,
        })),
    })
}

/// One evaluation: `workbench_data::eval::evaluate`, the call `workbench eval` makes.
pub fn evaluate(
    options: &workbench_data::eval::EvalOptions,
    data_name: String,
    command: String,
) -> Result<Arc<EvalRun>> {
    let report = workbench_data::eval::evaluate(options)?;
    Ok(Arc::new(EvalRun {
        report,
        data_name,
        command,
    }))
}

/// Runs `job` on a thread of its own; its progress and result arrive as `Event::Job`.
pub fn spawn(job: JobRequest, tx: Sender<Event>) {
    std::thread::spawn(move || match job {
        JobRequest::Load {
            generation,
            paths,
            options,
        } => {
            let send = tx.clone();
            let progress = move |stage: &str, fraction: f64| {
                let _ = send.send(Event::Job(JobUpdate::LoadProgress {
                    generation,
                    stage: stage.to_string(),
                    fraction,
                }));
            };
            let progress = std::sync::Mutex::new(progress);
            let report = |s: &str, f: f64| {
                if let Ok(p) = progress.lock() {
                    p(s, f);
                }
            };
            let (sets, errors) = load(&paths, &options, &report);
            let _ = tx.send(Event::Job(JobUpdate::Loaded {
                generation,
                sets,
                errors,
            }));
        }
        JobRequest::Train {
            generation,
            dataset,
            form,
            model_dir,
        } => {
            let send = std::sync::Mutex::new(tx.clone());
            let report = |stage: &str, fraction: f64| {
                if let Ok(s) = send.lock() {
                    let _ = s.send(Event::Job(JobUpdate::TrainProgress {
                        generation,
                        stage: stage.to_string(),
                        fraction,
                    }));
                }
            };
            let result = train(&dataset, &form, &model_dir, &report).map_err(|e| crate::error::line(&e));
            let _ = tx.send(Event::Job(JobUpdate::Trained { generation, result }));
        }
        JobRequest::Cost {
            generation,
            dataset,
            form,
        } => {
            let send = std::sync::Mutex::new(tx.clone());
            let report = |stage: &str, fraction: f64| {
                if let Ok(s) = send.lock() {
                    let _ = s.send(Event::Job(JobUpdate::CostProgress {
                        generation,
                        stage: stage.to_string(),
                        fraction,
                    }));
                }
            };
            let result = super::cost_job::run(&dataset, &form, &report)
                .map(Arc::new)
                .map_err(|e| crate::error::line(&e));
            let _ = tx.send(Event::Job(JobUpdate::Costed { generation, result }));
        }
        JobRequest::Eval {
            generation,
            options,
            data_name,
            command,
        } => {
            let result = evaluate(&options, data_name, command).map_err(|e| crate::error::line(&e));
            let _ = tx.send(Event::Job(JobUpdate::Evaluated { generation, result }));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The folder the feature tables go to is not `$TMPDIR/ebpf-ml-workbench-tui-PID`, which
    /// another user can make (or point elsewhere with a symlink) before a root TUI loads a
    /// capture: a new directory of its own, mode 0700.
    #[test]
    fn tui_work_dir_is_private_and_unguessable() {
        use std::os::unix::fs::PermissionsExt;
        let guessable = std::env::temp_dir().join(format!("ebpf-ml-workbench-tui-{}", std::process::id()));
        let victim = std::env::temp_dir().join(format!("wb-tui-victim-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&victim);
        std::fs::create_dir_all(&victim).expect("victim");
        let _ = std::fs::remove_file(&guessable);
        std::os::unix::fs::symlink(&victim, &guessable).expect("planted");
        let work = work_dir();
        let load = fresh_dir().expect("a load's folder");
        std::fs::create_dir_all(&load).expect("made");
        let _ = std::fs::remove_file(&guessable);
        let planted_into = std::fs::read_dir(&victim).expect("ls").count();
        let _ = std::fs::remove_dir_all(&victim);
        assert!(!work.starts_with(&guessable), "{}", work.display());
        assert!(load.starts_with(&work), "{}", load.display());
        assert_eq!(planted_into, 0, "nothing went through the planted symlink");
        let meta = std::fs::symlink_metadata(&work).expect("stat");
        assert!(meta.is_dir(), "a directory, not a symlink");
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        remove_work_dir();
        assert!(!work.exists(), "removed");
    }
}
