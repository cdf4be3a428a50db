//! `workbench demo`: the whole path in one command, on data that ships with the program.
//!
//! 1. the embedded CIC-IDS2017 slice is written to a cache file for the Data and Pitfalls stages
//!    (`embedded`);
//! 2. the sample capture and its ground truth are found or generated (`samples`);
//! 3. a tree is trained on the capture's kernel features with `train::train`, as `workbench
//!    train` does; a second tree, trained on the embedded Kaggle slice's end-of-flow columns
//!    (`shadow`), is scored on the capture with `eval::evaluate` (its skew report explains why it
//!    disagrees);
//! 4. with the privileges for it, a replay lab is made, the probe attached, the model deployed and
//!    the capture replayed on a loop (`kernel_lab`), the Kaggle tree beside it as the shadow
//!    model; without them, the userspace twin replays it
//!    and everything says SIMULATED;
//! 5. the Live source (`live`) feeds the TUI, or a headless run that prints a summary.
//!
//! Everything the demo creates belongs to a [`Demo`] value whose drop removes it: the scratch
//! directory, and in kernel mode the replay thread, the probe's pins and the lab namespace. What
//! the commands it prints name (the Kaggle tree, generated samples) stays in the cache folder
//! with the embedded dataset (`~/.cache/ebpf-ml-workbench/demo`), so they work afterwards.

pub mod embedded;
pub mod kernel_lab;
pub mod live;
pub mod samples;
pub mod shadow;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr};
use serde::Serialize;

use kernel_lab::{Cleanup, KernelDemo, KernelOptions};
use live::{DemoSource, SharedProgress};
use samples::{Samples, Truth};
use workbench_data::train::Trained;
use workbench_flow::model::id_string;
use workbench_tui::sim::SimSource;
use workbench_tui::source::{KernelSource, Source};

#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Directory with the sample capture and labels (default: ./sample-pcaps, else generated).
    pub samples: Option<PathBuf>,
    /// Replay this many times faster than the capture was recorded.
    pub speed: u32,
    /// Run the simulation even with the privileges for the kernel.
    pub simulated: bool,
    /// The replay lab's id (default: `d` and this process's id).
    pub lab_id: Option<String>,
    /// Run the embedded dataset through the Data and Pitfalls code first (headless: the TUI's
    /// Data tab loads it by itself).
    pub inspect: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            samples: None,
            speed: 100,
            simulated: false,
            lab_id: None,
            inspect: false,
        }
    }
}

/// A directory of this run's files, removed on drop: `$TMPDIR/workbench-demo-PID-RANDOM`, a
/// new directory with mode 0700 (never one already there: another user could make a guessable
/// name first, or plant a symlink, and swap the files a root demo trains on).
pub struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new() -> Result<Scratch> {
        Self::in_dir(&std::env::temp_dir())
    }

    fn in_dir(parent: &Path) -> Result<Scratch> {
        use std::os::unix::fs::PermissionsExt;
        let prefix = format!("workbench-demo-{}-", std::process::id());
        let dir = tempfile::Builder::new()
            .prefix(&prefix)
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(parent)
            .wrap_err_with(|| format!("creating a private folder {}*", parent.join(&prefix).display()))?;
        Ok(Scratch(dir))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// Where the Live tab's verdicts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Kernel,
    Simulated,
}

/// The model the demo trained, as the summary shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ModelSummary {
    pub model_id: String,
    pub kind: &'static str,
    pub split: workbench_data::train::SplitKind,
    pub features: usize,
    pub rows_train: usize,
    pub rows_test: usize,
    pub test_f1: f64,
    pub test_recall_by_class: BTreeMap<String, f64>,
    pub float_integer_agreement: f64,
}

/// A running demo. Dropping it removes everything it made (kernel demo first, then files).
pub struct Demo {
    pub started: Instant,
    pub mode: Mode,
    /// Why the Live tab is simulated (no privileges, `--simulated`, or the kernel setup's error).
    pub simulated_reason: Option<String>,
    pub data_file: PathBuf,
    /// The embedded dataset's inspection (with `DemoOptions::inspect`).
    pub dataset: Option<DatasetSummary>,
    pub samples: Samples,
    pub truth: Arc<Truth>,
    pub classes: BTreeMap<String, usize>,
    pub trained: Trained,
    /// The Kaggle tree deployed as the shadow model, with its evaluation on the capture (None
    /// when it could not be trained: the demo says why and goes on without it).
    pub shadow: Option<shadow::Shadow>,
    pub kernel: Option<KernelDemo>,
    pub setup_ms: u64,
    opts: DemoOptions,
    // Last: files outlive the kernel demo that may still read them while stopping.
    _scratch: Scratch,
}

impl Demo {
    /// Steps 1-4; `say` receives one line per step (stderr in the command).
    pub fn start(opts: DemoOptions, say: &dyn Fn(&str)) -> Result<Demo> {
        let started = Instant::now();
        let scratch = Scratch::new()?;
        let data_file = embedded::write(scratch.path())?;
        say(&format!(
            "demo: dataset {} ({})",
            data_file.display(),
            embedded::DESCRIPTION
        ));
        let dataset = match opts.inspect {
            true => {
                let d = inspect_dataset(&data_file)?;
                say(&format!(
                    "demo: {} rows of {}; pitfalls: {}",
                    d.rows,
                    d.kind,
                    d.findings.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")
                ));
                Some(d)
            }
            false => None,
        };
        workbench_kernel::lifecycle::check()?;
        // What the printed commands name outlives the demo: the cache folder (scratch without one).
        let keep = embedded::cache_dir()
            .filter(|d| std::fs::create_dir_all(d).is_ok())
            .unwrap_or_else(|| scratch.path().to_path_buf());
        let samples = samples::locate(opts.samples.as_deref(), &keep)?;
        say(&format!(
            "demo: traffic {}{}, ground truth {}",
            samples.pcap.display(),
            if samples.generated {
                " (generated: no sample-pcaps/ here)"
            } else {
                ""
            },
            samples.labels.display()
        ));
        workbench_kernel::lifecycle::check()?;
        let (trained, truth, classes) = samples::train(&samples)?;
        say(&format!(
            "demo: trained tree {} on {} flows ({} features, {} split): test F1 {:.3}",
            trained.report.model_id,
            trained.report.rows_train + trained.report.rows_test,
            trained.report.features.len(),
            trained.report.split.name(),
            trained.report.metrics.f1
        ));
        workbench_kernel::lifecycle::check()?;
        let shadow = match shadow::train(&data_file, &keep, &samples) {
            Ok(s) => {
                say(&s.line());
                say(&format!("demo: the same shadow model: {}", s.train_command));
                Some(s)
            }
            Err(e) => {
                say(&format!("demo: no shadow model: {e:#}"));
                None
            }
        };
        workbench_kernel::lifecycle::check()?;
        let mut demo = Demo {
            started,
            mode: Mode::Simulated,
            simulated_reason: None,
            data_file,
            dataset,
            samples,
            truth: Arc::new(truth),
            classes,
            trained,
            shadow,
            kernel: None,
            setup_ms: 0,
            opts,
            _scratch: scratch,
        };
        let missing = kernel_lab::missing_capabilities();
        demo.simulated_reason = if demo.opts.simulated {
            Some("--simulated".into())
        } else if !missing.is_empty() {
            Some(format!(
                "no privileges for the kernel (lacks {})",
                missing.join(", ")
            ))
        } else {
            let id = demo
                .opts
                .lab_id
                .clone()
                .unwrap_or_else(|| format!("d{}", std::process::id() % 100_000));
            // A lab id asked for by name whose namespace is there (a demo killed before, or one
            // running): an error, not a quiet fall back to the simulated Live tab on stage.
            let netns = format!("{}{id}", workbench_kernel::lab::PREFIX);
            if demo.opts.lab_id.is_some() && workbench_kernel::lab::project_namespaces().contains(&netns) {
                color_eyre::eyre::bail!(
                    "--lab-id {id}: namespace {netns} already exists (a demo killed before, or one still running); remove it with `workbench lab down --id {id}`, or give another --lab-id"
                );
            }
            match KernelDemo::start(&KernelOptions {
                lab_id: &id,
                pcap: &demo.samples.pcap,
                model: &demo.trained.model,
                shadow: demo.shadow.as_ref().map(|s| &*s.model),
                speed: demo.opts.speed,
            }) {
                Ok(k) => {
                    say(&format!(
                        "demo: lab {} up, probe on {}, model {} deployed{}, replaying {}x",
                        k.netns,
                        k.iface,
                        demo.trained.report.model_id,
                        demo.shadow
                            .as_ref()
                            .map_or(String::new(), |s| format!(" with {} as its shadow", s.model_id)),
                        demo.opts.speed
                    ));
                    if let Some(w) = &k.code_warning {
                        say(&format!("demo: the table engine scores the models: {w}"));
                    }
                    demo.kernel = Some(k);
                    demo.mode = Mode::Kernel;
                    None
                }
                // Interrupted (Ctrl-C during setup): no TUI, no SIMULATED fallback, just the end.
                Err(e) if workbench_kernel::lifecycle::stop_requested() => return Err(e),
                // A stage demo goes on without the kernel, and says why on screen.
                Err(e) => Some(format!("the kernel demo failed: {e:#}")),
            }
        };
        workbench_kernel::lifecycle::check()?;
        if let Some(why) = &demo.simulated_reason {
            say(&format!("demo: SIMULATED Live tab: {why}"));
        }
        demo.setup_ms = started.elapsed().as_millis() as u64;
        Ok(demo)
    }

    /// The Live source for this demo, and the progress it records.
    pub fn source(&self) -> Result<(Box<dyn Source>, SharedProgress)> {
        let (inner, label, replay): (Box<dyn Source>, String, _) = match &self.kernel {
            Some(k) => (
                Box::new(KernelSource::new(&k.iface).own_only()),
                format!("KERNEL probe on {} (demo lab {})", k.iface, k.netns),
                Some(k.counters.clone()),
            ),
            None => {
                let mut sim = SimSource::with_model(
                    &self.samples.pcap,
                    self.trained.model.clone(),
                    "demo tree trained on the samples".into(),
                )?
                .with_speed(self.opts.speed);
                if let Some(s) = &self.shadow {
                    sim = sim.with_shadow(s.model.clone());
                }
                let why = self.simulated_reason.as_deref().unwrap_or("no kernel");
                (
                    Box::new(sim),
                    format!(
                        "SIMULATED (userspace twin, no kernel: {why}) · {} replayed {}x",
                        file_name(&self.samples.pcap),
                        self.opts.speed
                    ),
                    None,
                )
            }
        };
        let mut source = DemoSource::new(inner, label, self.truth.clone(), replay, self.started);
        if self.kernel.is_none() {
            source = source.simulating(capture_packets(&self.samples.pcap)?);
        }
        let progress = source.progress();
        Ok((Box::new(source), progress))
    }

    pub fn model_summary(&self) -> ModelSummary {
        let r = &self.trained.report;
        ModelSummary {
            model_id: r.model_id.clone(),
            kind: "tree",
            split: r.split,
            features: r.features.len(),
            rows_train: r.rows_train,
            rows_test: r.rows_test,
            test_f1: r.metrics.f1,
            test_recall_by_class: r.per_class.iter().map(|(c, v)| (c.clone(), v.recall)).collect(),
            float_integer_agreement: r.agreement.share_identical,
        }
    }

    /// Stops the kernel demo and removes the lab and the probe now (drop does the same).
    pub fn shutdown(&mut self) -> Option<Cleanup> {
        self.kernel.as_mut().map(KernelDemo::shutdown)
    }

    /// The shadow model's file when it outlives the demo (in the cache folder, not scratch):
    /// the `w` panel's commands name it.
    pub fn kept_model(&self) -> Option<&Path> {
        self.shadow
            .as_ref()
            .map(|s| s.path.as_path())
            .filter(|p| !p.starts_with(self._scratch.path()))
    }

    pub fn model_id(&self) -> String {
        id_string(self.trained.model.header.model_id)
    }
}

/// One line on stderr. Unlike `eprintln!` it never panics: the terminal may be gone (a closed
/// window, a dropped SSH session), and a panic there would skip the cleanup that follows.
pub fn note(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// The embedded dataset through the Data and Pitfalls code (`workbench inspect`).
#[derive(Debug, Clone, Serialize)]
pub struct DatasetSummary {
    pub file: String,
    pub description: &'static str,
    pub citation: &'static str,
    pub kind: workbench_data::dataset::DatasetKind,
    pub rows: usize,
    pub malicious_rows: usize,
    /// Finding ids with their severity, most severe first.
    pub findings: Vec<(&'static str, workbench_data::pitfalls::Severity)>,
}

pub fn inspect_dataset(file: &Path) -> Result<DatasetSummary> {
    let ds = workbench_data::dataset::load(
        &[file.to_path_buf()],
        &workbench_data::dataset::LoadOptions::default(),
    )?;
    let findings = workbench_data::pitfalls::inspect(&ds);
    Ok(DatasetSummary {
        file: file.display().to_string(),
        description: embedded::DESCRIPTION,
        citation: embedded::CITATION,
        kind: ds.kind,
        rows: ds.rows(),
        malicious_rows: ds.malicious.iter().filter(|m| **m).count(),
        findings: findings.iter().map(|f| (f.id, f.severity)).collect(),
    })
}

/// Polls `source` every `interval` until `seconds` pass, a signal asks to stop, or (with
/// `until_flood`) a flow of the SYN flood sample is flagged.
pub fn run_headless(
    source: &mut dyn Source,
    progress: &SharedProgress,
    seconds: u64,
    until_flood: bool,
) -> Result<()> {
    let interval = Duration::from_millis(250);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        source.poll()?;
        let flood = progress.lock().is_ok_and(|p| p.flood_flows_flagged > 0);
        if (until_flood && flood)
            || workbench_kernel::lifecycle::stop_requested()
            || Instant::now() >= deadline
        {
            return Ok(());
        }
        std::thread::sleep(interval);
    }
}

/// The packets in one pass of `pcap` as the userspace twin reads it (leniently, as it does).
fn capture_packets(pcap: &Path) -> Result<u64> {
    let reader = workbench_flow::capture::open(pcap, true)
        .wrap_err_with(|| format!("counting the packets of {}", pcap.display()))?;
    Ok(reader.flatten().count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scratch folder is a new private directory, not `$TMPDIR/workbench-demo-PID`, which
    /// another user can make first or point elsewhere with a symlink; it goes with the demo.
    #[test]
    fn demo_scratch_is_private_and_unguessable() {
        use std::os::unix::fs::PermissionsExt;
        let pid = std::process::id();
        let guessable = std::env::temp_dir().join(format!("workbench-demo-{pid}"));
        let victim = tempfile::tempdir().expect("victim");
        let _ = std::fs::remove_file(&guessable);
        std::os::unix::fs::symlink(victim.path(), &guessable).expect("planted");
        let scratch = Scratch::new();
        let _ = std::fs::remove_file(&guessable);
        let scratch = scratch.expect("made");
        let path = scratch.path().to_path_buf();
        assert_ne!(path, guessable);
        let name = path.file_name().expect("name").to_string_lossy().to_string();
        assert!(name.starts_with(&format!("workbench-demo-{pid}-")), "{name}");
        let meta = std::fs::symlink_metadata(&path).expect("stat");
        assert!(meta.is_dir(), "a directory, not a symlink");
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        std::fs::write(path.join("f"), "x").expect("write");
        assert_eq!(std::fs::read_dir(victim.path()).expect("ls").count(), 0);
        drop(scratch);
        assert!(!path.exists(), "removed with the demo");
    }
}
