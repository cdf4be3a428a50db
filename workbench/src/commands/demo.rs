//! `workbench demo`: the one-command demo (see `crate::demo` for the steps). With no flags it
//! opens the TUI on the demo's Live source; `--autoplay` / `--script FILE` walk the tabs for a
//! stage; `--headless` / `--json` run the same demo without a terminal for `--seconds` and print
//! a summary. Whatever way it ends (q, Ctrl-C, a signal, an error, a panic unwinding), the
//! `Demo` value is dropped and removes what it created.

use std::path::Path;

use color_eyre::eyre::{bail, Result};
use serde::Serialize;

use crate::cli::DemoArgs;
use crate::demo::kernel_lab::Cleanup;
use crate::demo::live::LiveProgress;
use crate::demo::samples::Samples;
use crate::demo::shadow::ShadowSummary;
use crate::demo::{self, note, DatasetSummary, Demo, DemoOptions, Mode, ModelSummary};
use crate::output::Output;
use workbench_tui::script;
use workbench_tui::words::plural;

/// The headless summary (`--json`).
#[derive(Debug, Serialize)]
struct Summary {
    mode: Mode,
    simulated_reason: Option<String>,
    model_id: String,
    /// The Kaggle tree beside the active model (null when it could not be trained).
    shadow_model_id: Option<String>,
    /// Decisions where it disagreed with the active model (the Live tab's count).
    shadow_disagreements: u64,
    flows: usize,
    flagged_flows: usize,
    flood_flows_flagged: usize,
    /// Kernel mode: packets the replay loop sent into the lab and its full passes over the
    /// capture (0 when simulated: nothing is sent anywhere).
    packets_replayed: u64,
    replay_passes: u64,
    /// Simulated mode: packets the userspace twin read from the capture and the full passes
    /// over it (0 in kernel mode).
    packets_simulated: u64,
    simulated_passes: u64,
    /// Start of the command to the Live source running (training and lab included).
    setup_ms: u64,
    /// Start of the command to the end of the Live stage.
    elapsed_ms: u64,
    dataset: DatasetSummary,
    samples: Samples,
    sample_flows_by_class: std::collections::BTreeMap<String, usize>,
    model: ModelSummary,
    /// Why the shadow disagrees: its evaluation and skew on the replayed capture.
    shadow: Option<ShadowSummary>,
    live: LiveProgress,
    lab: Option<LabSummary>,
    cleanup: Option<Cleanup>,
    /// What was still there after cleanup (namespace, pins), re-read from the system: empty.
    leftovers: Vec<String>,
}

#[derive(Debug, Serialize)]
struct LabSummary {
    namespace: String,
    send_iface: String,
    probe_iface: String,
}

fn options(args: &DemoArgs) -> DemoOptions {
    DemoOptions {
        samples: args.samples.clone(),
        speed: args.speed,
        simulated: args.simulated,
        lab_id: args.lab_id.clone(),
        inspect: args.headless || args.json,
    }
}

/// What is left of the demo's lab after cleanup, re-read from the system.
fn leftovers(lab: Option<&LabSummary>) -> Vec<String> {
    let Some(lab) = lab else { return Vec::new() };
    let mut left = Vec::new();
    if Path::new("/run/netns").join(&lab.namespace).exists() {
        left.push(format!("namespace {}", lab.namespace));
    }
    let pins = crate::demo::kernel_lab::pin_dir(&lab.probe_iface);
    if pins.exists() {
        left.push(format!("pins {}", pins.display()));
    }
    left
}

pub fn run(args: DemoArgs) -> Result<()> {
    // SIGINT/SIGTERM/SIGHUP become a flag the demo's loops poll, so it ends through its cleanup.
    workbench_kernel::lifecycle::install()?;
    if let Some(id) = &args.lab_id {
        workbench_kernel::lab::replay_lab::validate_id(id)?;
    }
    // Scripts (and the lab id) are checked before anything is created: a typo costs nothing.
    let steps = match (&args.script, args.autoplay) {
        (Some(path), _) => Some(script::read(path)?),
        (None, true) => Some(script::autoplay()),
        (None, false) => None,
    };
    let headless = args.headless || args.json;
    let mut demo = Demo::start(options(&args), &|line| note(line))?;
    let (mut source, progress) = demo.source()?;
    // A signal during setup ends here: the demo's drop cleans up, `main` says it in one line.
    workbench_kernel::lifecycle::check()?;
    let lab = demo.kernel.as_ref().map(|k| LabSummary {
        namespace: k.netns.clone(),
        send_iface: k.send_iface.clone(),
        probe_iface: k.iface.clone(),
    });
    if !headless {
        let mut drivers: Vec<workbench_tui::Driver> = Vec::new();
        if let Some(steps) = steps {
            drivers.push(Box::new(move |tx| script::play(&steps, &tx)));
        }
        let config = workbench_tui::Config {
            data: vec![demo.data_file.clone()],
            shadow_story: demo.shadow.as_ref().map(|s| std::sync::Arc::new(s.story())),
            // The Train tab's evaluation view scores the Kaggle tree on the demo's samples.
            model: demo.shadow.as_ref().map(|s| s.path.clone()),
            // The Train form at the shadow's settings: Enter (the autoplay's too) trains the
            // shadow itself, the same model id and numbers as the `w` panel's, not another tree.
            max_depth: Some(crate::demo::shadow::MAX_DEPTH),
            // ... and showing that result already: the demo trained it during setup.
            trained: demo.shadow.as_ref().map(|s| s.trained.clone()),
            sample_dir: demo.samples.pcap.parent().map(Path::to_path_buf),
            debug_panic: args.debug_panic,
            ..Default::default()
        };
        let result = workbench_tui::run_with(source, &config, drivers);
        // Cleanup before any line: after a closed terminal (SIGHUP) nothing can be printed.
        let cleanup = demo.shutdown();
        let p = progress.lock().map(|p| p.clone()).unwrap_or_default();
        match p.first_flagged_ms {
            Some(ms) => note(&format!(
                "demo: first flagged flow on screen {:.1} s after start (SYN flood: {})",
                ms as f64 / 1000.0,
                p.first_flood_flagged_ms
                    .map_or("not yet".into(), |f| format!("{:.1} s", f as f64 / 1000.0))
            )),
            None => note("demo: no flow was flagged while the TUI ran"),
        }
        report_cleanup(cleanup.as_ref(), &leftovers(lab.as_ref()));
        note_kept(&demo);
        return result.map_err(|e| {
            super::tui::terminal_error(
                e,
                "without one, `workbench demo --headless` (or --json) walks the same path and prints it",
            )
        });
    }

    let Some(dataset) = demo.dataset.clone() else {
        bail!("internal: the headless demo inspects its dataset first");
    };
    note(&format!("demo: Live stage for up to {} s", args.seconds));
    let mut run = demo::run_headless(source.as_mut(), &progress, args.seconds, args.until_flagged);
    // Settle the numbers: stop sending, let the last frames through the probe, read once more,
    // so that the probe's packet count and the replayed count describe the same moment.
    if let Some(k) = demo.kernel.as_mut() {
        if let Err(e) = k.stop_replay() {
            note(&format!("demo: {e}"));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        if run.is_ok() {
            run = source.poll().map(|_| ()).map_err(Into::into);
        }
    }
    let elapsed_ms = demo.started.elapsed().as_millis() as u64;
    drop(source);
    let cleanup = demo.shutdown();
    let left = leftovers(lab.as_ref());
    if let Err(e) = run {
        report_cleanup(cleanup.as_ref(), &left);
        // The probe or the lab removed by another command while the Live stage ran.
        if cleanup.as_ref().is_some_and(|c| !c.already_gone.is_empty()) {
            bail!(
                "the Live stage stopped: another command (`lab down`, `probe detach`, `probe cleanup`) removed the demo's lab while it ran ({e:#}); nothing of the demo is left"
            );
        }
        return Err(e);
    }
    if workbench_kernel::lifecycle::stop_requested() {
        report_cleanup(cleanup.as_ref(), &left);
        // Cleaned up: `main` names the signal and exits with its status, as other commands do.
        return Ok(workbench_kernel::lifecycle::check()?);
    }
    let live = progress.lock().map(|p| p.clone()).unwrap_or_default();
    let summary = Summary {
        mode: demo.mode,
        simulated_reason: demo.simulated_reason.clone(),
        model_id: demo.model_id(),
        shadow_model_id: demo.shadow.as_ref().map(|s| s.model_id.clone()),
        shadow_disagreements: live.shadow_disagreements,
        flows: live.flows,
        flagged_flows: live.flagged_flows,
        flood_flows_flagged: live.flood_flows_flagged,
        packets_replayed: live.packets_replayed,
        replay_passes: live.replay_passes,
        packets_simulated: live.packets_simulated,
        simulated_passes: live.simulated_passes,
        setup_ms: demo.setup_ms,
        elapsed_ms,
        dataset,
        samples: demo.samples.clone(),
        sample_flows_by_class: demo.classes.clone(),
        model: demo.model_summary(),
        shadow: demo
            .shadow
            .as_ref()
            .map(super::super::demo::shadow::Shadow::summary),
        live,
        lab,
        cleanup,
        leftovers: left,
    };
    Output { json: args.json }.emit(&summary)?;
    if !args.json {
        report_cleanup(summary.cleanup.as_ref(), &summary.leftovers);
        note_kept(&demo);
    }
    Ok(())
}

/// Where the shadow model stays: the `w` panel's and the summary's commands name that file.
fn note_kept(demo: &Demo) {
    if let Some(path) = demo.kept_model() {
        note(&format!(
            "demo: the Kaggle tree stays in {} for the commands the demo printed",
            path.display()
        ));
    }
}

/// The headless summary in words (`--headless`); cleanup notes go to stderr.
impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let summary = self;
        writeln!(
            f,
            "mode {}{}",
            match summary.mode {
                Mode::Kernel => "kernel",
                Mode::Simulated => "simulated",
            },
            summary
                .simulated_reason
                .as_ref()
                .map_or(String::new(), |r| format!(" ({r})"))
        )?;
        writeln!(
            f,
            "dataset: {} rows, findings: {}",
            summary.dataset.rows,
            summary
                .dataset
                .findings
                .iter()
                .map(|(id, sev)| format!("{id} ({sev:?})"))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        writeln!(
            f,
            "model {}: test F1 {:.3} on {} flows ({} split)",
            summary.model_id,
            summary.model.test_f1,
            summary.model.rows_test,
            summary.model.split.name()
        )?;
        let pcap = summary.samples.pcap.file_name().map_or_else(
            || summary.samples.pcap.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let packets = match summary.mode {
            Mode::Kernel => format!(
                "{} packets seen by the probe, {} replayed into the lab ({} of {pcap})",
                summary.live.packets_seen,
                summary.packets_replayed,
                plural(summary.replay_passes, "full pass", "full passes"),
            ),
            Mode::Simulated => format!(
                "{} packets simulated by the userspace twin ({} of {pcap}; none sent anywhere)",
                summary.packets_simulated,
                plural(summary.simulated_passes, "full pass", "full passes"),
            ),
        };
        writeln!(
            f,
            "live: {} flows, {} flagged ({} from the SYN flood, {} benign), {packets}",
            summary.flows,
            summary.flagged_flows,
            summary.flood_flows_flagged,
            summary.live.flagged_benign_flows,
        )?;
        if let Some(s) = &summary.shadow {
            writeln!(
                f,
                "shadow {} (trained on the Kaggle slice): disagreed with the active model on {}, in {}",
                s.model_id,
                plural(summary.shadow_disagreements, "decision", "decisions"),
                plural(summary.live.shadow_disagreeing_flows as u64, "flow", "flows"),
            )?;
            for line in &s.explanation {
                writeln!(f, "  {line}")?;
            }
        }
        if let Some(ms) = summary.live.first_flagged_ms {
            writeln!(f, "first flagged flow {:.1} s after start", ms as f64 / 1000.0)?;
        }
        Ok(())
    }
}

fn report_cleanup(cleanup: Option<&Cleanup>, left: &[String]) {
    if let Some(c) = cleanup {
        note(&c.words());
    }
    if !left.is_empty() {
        note(&format!(
            "demo: WARNING: still present after cleanup: {}",
            left.join(", ")
        ));
    }
}
