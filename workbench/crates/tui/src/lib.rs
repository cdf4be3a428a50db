//! The workbench TUI: five tabs along the path (Data, Pitfalls, Train, Deploy, Live), backed by
//! the same library code as the subcommands.
//!
//! Layout (after trippy and gitui): `app` holds the state and its one mutator `update(Action)`;
//! `keymap` turns keys into `action`s; `event` merges input, ticks and the background poller;
//! `source` reads the kernel probe (or `sim` replays a capture through the userspace twin);
//! `ui` renders one region per module; `terminal` enters/restores the terminal.

pub mod action;
// Fixed states of every screen (screenshots, the frame benchmark, tests): not part of the TUI a
// user runs, so behind a feature the binary turns on for `workbench screenshots` and `bench tui`.
pub mod app;
#[cfg(feature = "fixtures")]
pub mod bench;
mod cost_job;
pub mod error;
pub mod event;
#[cfg(feature = "fixtures")]
pub mod fake;
#[cfg(feature = "fixtures")]
mod fake_tabs;
pub mod groups;
pub mod jobs;
pub mod keymap;
pub(crate) mod samples;
pub mod script;
mod shell;
pub mod sim;
pub mod source;
pub mod state;
pub mod stats_view;
pub mod svg;
pub mod terminal;
pub mod theme;
pub mod ui;
pub mod view;
pub mod words;

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use crate::error::Result;

use self::action::Action;
use self::app::App;
use self::event::Event;
use self::source::{KernelSource, Snapshot, Source};

/// How the TUI is started (from `workbench tui` or `workbench` alone).
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub iface: Option<String>,
    pub pcap: Option<PathBuf>,
    pub model: Option<PathBuf>,
    pub debug_panic: bool,
    /// Datasets for Data, Pitfalls and Train, loaded in the background at start (tables, or
    /// captures with `labels-NAME.csv` beside them). Empty: the sample captures
    /// ([`samples::locate`]).
    pub data: Vec<PathBuf>,
    /// Theme at start (`tui --theme`, config `theme`); the default theme when None.
    pub theme: Option<theme::ThemeKind>,
    /// Why the shadow model disagrees (the demo's Kaggle tree on its capture): opened from the
    /// Live tab's disagreement count.
    pub shadow_story: Option<Arc<state::eval::ShadowStory>>,
    /// Where the evaluation view finds labelled sample captures. None: [`samples::locate`]
    /// (by [`run`]; [`run_with`] takes it as given).
    pub sample_dir: Option<PathBuf>,
    /// Where the Train tab writes models (`tui --model-dir`, config `train.model_dir`; made
    /// absolute). None: `models/` in the working folder.
    pub model_dir: Option<PathBuf>,
    /// The Train form's tree depth at start (`tui --max-depth`, config `train.max_depth`).
    /// None: `workbench train`'s default.
    pub max_depth: Option<usize>,
    /// The parsed-dataset cache (`tui --cache-dir`, config `data.cache_dir`). None: the default
    /// of `workbench inspect`.
    pub cache_dir: Option<PathBuf>,
    /// The tab shown first. None: Data when [`run`] is given datasets (`data`), else Live.
    pub start_tab: Option<action::Tab>,
    /// A model already trained on `data` (the demo's Kaggle tree): the Train tab shows its
    /// result from the start instead of "no model trained yet", and `d` deploys it.
    pub trained: Option<Arc<state::train::TrainResult>>,
}

/// Started with a sender into the event loop once the terminal is set up (the demo's autoplay
/// or script). It runs on its own thread.
pub type Driver = Box<dyn FnOnce(mpsc::Sender<Event>) + Send>;

const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The first capture file in `dir`, by name.
fn first_capture(dir: &Path) -> Option<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e == "pcap" || e == "pcapng")
        })
        .collect();
    files.sort();
    files.into_iter().next()
}

/// Picks the data source: the probe on `--iface`, a simulation of `--pcap`, else the first
/// interface with the probe attached (when we may read it), else the first sample capture.
/// Also returns the sample captures when it had to locate them (so they are found once).
fn choose_source(config: &Config) -> Result<(Box<dyn Source>, Option<samples::Samples>)> {
    if let Some(iface) = &config.iface {
        // Fail before the screen switches, with the line the subcommands print.
        workbench_kernel::caps::require_kernel_access("reading the probe")?;
        if !workbench_kernel::bpffs::iface_dir(iface).exists() {
            return Err(crate::error::Error::Missing(format!(
                "the probe is not attached to {iface}; {}",
                workbench_kernel::probe::not_attached_fix(iface)
            )));
        }
        return Ok((Box::new(KernelSource::new(iface)), None));
    }
    if let Some(pcap) = &config.pcap {
        return Ok((
            Box::new(sim::SimSource::new(pcap, config.model.as_deref())?),
            None,
        ));
    }
    let kernel = workbench_kernel::caps::require_kernel_access("reading the probe").is_ok();
    if let Some(iface) = workbench_kernel::bpffs::pinned_ifaces()
        .first()
        .filter(|_| kernel)
    {
        return Ok((Box::new(KernelSource::new(iface)), None));
    }
    // No probe to show: simulate a sample capture, from the clone's sample-pcaps/ or generated
    // (so `workbench tui DATA` works from any folder), and say how to get real traffic.
    let samples = match &config.sample_dir {
        Some(dir) => samples::Samples { dir: dir.clone() },
        None => samples::locate()?,
    };
    if let Some(pcap) = first_capture(&samples.dir) {
        let hint = format!(
            "no probe attached{} (real traffic: `workbench probe attach --iface IF` as root; another capture: --pcap FILE)",
            if kernel { "" } else { " or no permission to read it" }
        );
        let source = sim::SimSource::new(&pcap, config.model.as_deref())?.with_hint(hint);
        return Ok((Box::new(source), Some(samples)));
    }
    Err(crate::error::Error::Missing(format!(
        "nothing to show: no probe attached{} and no capture. Attach one (`workbench probe attach --iface IF`, as root), or simulate a capture: `workbench tui --pcap FILE` (or put captures in sample-pcaps/)",
        if kernel { "" } else { " (or no permission to read it)" }
    )))
}

pub fn run(config: Config) -> Result<()> {
    let (source, samples) = choose_source(&config)?;
    let config = Config {
        // Found once: choosing the source may already have located (or generated) them.
        sample_dir: config
            .sample_dir
            .clone()
            .or_else(|| samples.or_else(|| samples::locate().ok()).map(|s| s.dir)),
        // Given datasets, the TUI opens where they are; otherwise on the traffic.
        start_tab: config
            .start_tab
            .or_else(|| (!config.data.is_empty()).then_some(action::Tab::Data)),
        ..config
    };
    run_with(source, &config, Vec::new())
}

/// The TUI on a source chosen by the caller, with `drivers` feeding the event loop.
pub fn run_with(source: Box<dyn Source>, config: &Config, drivers: Vec<Driver>) -> Result<()> {
    workbench_kernel::lifecycle::install()?;
    terminal::install_panic_hook(terminal::restore);
    let mut term = terminal::enter()?;
    let size = term.size()?;
    let initial = Snapshot {
        label: "connecting…".into(),
        ..Snapshot::default()
    };
    let mut app = App::new(initial, (size.width, size.height));
    app.debug_panic = config.debug_panic;
    // The sample captures (the clone's, or generated into the cache; located by the caller):
    // the default data and the evaluation view's list.
    let sample_dir = config.sample_dir.clone();
    app.tab = config.start_tab.unwrap_or(action::Tab::Live);
    if let Some(dir) = &config.model_dir {
        app.train.model_dir = state::train::absolute(dir);
    }
    if let Some(depth) = config.max_depth {
        app.train.form.max_depth = depth.clamp(1, shared::model::MAX_DEPTH);
    }
    if let Some(trained) = &config.trained {
        app.train.form = trained.form.clone();
        app.train.result = Some(trained.clone());
    }
    let data = if config.data.is_empty() {
        sample_dir
            .as_deref()
            .map(jobs::sample_captures)
            .unwrap_or_default()
    } else {
        config.data.clone()
    };
    if !data.is_empty() {
        app.start_load(
            data,
            workbench_data::dataset::LoadOptions {
                cache_dir: config.cache_dir.clone(),
                ..Default::default()
            },
        );
    }
    if let Some(t) = config.theme {
        app.theme = t;
    }
    app.shadow_story = config.shadow_story.clone();
    // `--model`: what the Train tab's evaluation view scores until a model is trained.
    app.eval.model = config.model.clone();
    if let Some(dir) = sample_dir {
        app.eval.sample_dir = dir;
    }
    let (tx, rx) = mpsc::channel();
    event::spawn_input(tx.clone());
    let spec = Arc::new(std::sync::Mutex::new(app.view_spec()));
    for driver in drivers {
        let tx = tx.clone();
        std::thread::spawn(move || driver(tx));
    }
    let poller = event::spawn_poller(source, tx.clone(), POLL_INTERVAL, spec.clone());
    // BPF statistics while the Deploy tab shows a kernel probe (dropped, and so off, on leaving).
    let mut stats = stats_view::StatsView::default();
    while !app.quit {
        let want = app.tab == action::Tab::Deploy && !app.snapshot.simulated && app.snapshot.iface.is_some();
        app.set_stats(stats.sync(want));
        term.draw(|f| ui::render(f, &app))?;
        // Block for one event, then take whatever else is queued before drawing again.
        let Ok(first) = rx.recv() else { break };
        for ev in std::iter::once(first).chain(rx.try_iter()) {
            if let Some(action) = to_action(ev, &app, &poller) {
                app.update(action);
            }
        }
        for request in app.requests.drain(..) {
            poller.request(request);
        }
        for job in app.jobs.drain(..) {
            jobs::spawn(job, tx.clone());
        }
        if let Ok(mut published) = spec.lock() {
            if *published != app.view_spec() {
                *published = app.view_spec();
            }
        }
        // SIGTERM/SIGHUP (Ctrl-C is a key in raw mode): leave through `term`'s drop, which
        // restores the terminal. The poller's snapshots wake this loop every POLL_INTERVAL.
        if workbench_kernel::lifecycle::stop_requested() {
            break;
        }
    }
    drop(stats);
    // A cost measurement still running has a private probe loaded: let it remove it.
    cost_job::wait_idle();
    jobs::remove_work_dir();
    // Stopped by a signal: the terminal is restored when `term` goes; main names the signal.
    Ok(workbench_kernel::lifecycle::check()?)
}

fn to_action(ev: Event, app: &App, poller: &event::Poller) -> Option<Action> {
    use crossterm::event::{Event as Ct, KeyEventKind};
    match ev {
        Event::Input(Ct::Key(k)) if k.kind == KeyEventKind::Press => keymap::key(k, app.context()),
        Event::Input(Ct::Mouse(m)) => keymap::mouse(m),
        Event::Input(Ct::Resize(width, height)) => Some(Action::Resize { width, height }),
        Event::Input(_) | Event::Tick => None,
        Event::Snapshot => poller.take().map(|s| Action::Snapshot(Arc::new(s))),
        Event::Notice(line) => Some(Action::Notice(line)),
        Event::Controlled(line) => Some(Action::Controlled(line)),
        Event::Action(action) => Some(action),
        Event::Job(update) => Some(Action::Job(update)),
    }
}
