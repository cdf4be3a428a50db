//! Where the Live and Deploy tabs get their data: the probe on an interface, or a simulation
//! (the userspace twin replaying a capture) when there is no kernel access. Both produce a
//! [`Snapshot`]; the background poller (`event.rs`) calls `poll` and the UI only ever reads the
//! latest snapshot, so a slow kernel read never blocks a frame.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use crate::error::Result;
use shared::abi::{MODE_ENFORCE, MODE_MONITOR, SLOT_ACTIVE};
use shared::features::FlowState;
use shared::model::Model;

use workbench_flow::model::scale::ScaleBook;
use workbench_kernel::enforce::DefaultRoute;
use workbench_kernel::flows::FlowRecord;
use workbench_kernel::models::{self, ModelsReport, ProbeModels};
use workbench_kernel::{bpffs, events, flows};

/// One flow: what the table shows, plus the feature state the verdict explanation needs.
#[derive(Debug, Clone)]
pub struct FlowRow {
    pub record: FlowRecord,
    pub state: FlowState,
}

/// Everything one poll of a source saw.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Shown in the status bar; a simulated source says so in capitals.
    pub label: String,
    pub simulated: bool,
    pub iface: Option<String>,
    /// The source's clock (kernel monotonic, or the capture's time), for flow ages.
    pub now_ns: u64,
    pub flows: Vec<FlowRow>,
    pub stats: BTreeMap<&'static str, u64>,
    pub models: Option<ModelsReport>,
    /// The active model itself, to explain verdicts (re-read only when its id changes).
    pub active_model: Option<Arc<Model>>,
    pub pps: u64,
    pub verdicts_per_s: u64,
    /// Interfaces with the probe attached (the Deploy tab's picker).
    pub ifaces: Vec<String>,
    /// The kernel's run time and runs of the probe program (they grow only while BPF
    /// statistics are on: the Deploy tab turns them on while it is open).
    pub program_cost: Option<workbench_kernel::live_cost::ProgramCost>,
    /// Whether a process reads the probe's verdict events (the agent, `live --jsonl`); None for
    /// a simulation. Without a reader `events_lost` climbs, and the Deploy tab says why.
    pub events_read: Option<bool>,
    /// Table order, histogram and counts, filled in by the poller (`view::prepare`).
    pub prepared: Option<super::view::Prepared>,
}

/// Kernel changes the Deploy tab asks for, after confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    Rollback,
    PromoteShadow,
    ToggleMode,
    /// Hot-swap a model file (the Train tab's result) in as the active or the shadow model.
    DeployModel {
        path: std::path::PathBuf,
        shadow: bool,
    },
}

impl Control {
    /// The mode `ToggleMode` switches to from `mode`.
    pub fn toggled(mode: Option<&str>) -> &'static str {
        if mode == Some("enforce") {
            "monitor"
        } else {
            "enforce"
        }
    }

    /// The equivalent subcommand, shown in the confirmation dialog; `mode` is the probe's mode
    /// now (`ToggleMode` switches enforce to monitor, anything else to enforce, as `control`
    /// does).
    pub fn command(&self, iface: &str, mode: Option<&str>) -> String {
        match self {
            Control::Rollback => format!("workbench deploy --rollback --iface {iface}"),
            Control::PromoteShadow => format!("workbench deploy --promote-shadow --iface {iface}"),
            Control::ToggleMode => format!(
                "workbench deploy --mode {} --iface {iface}",
                Control::toggled(mode)
            ),
            Control::DeployModel { path, shadow } => format!(
                "workbench deploy {} --iface {iface}{}",
                crate::shell::word(&path.display().to_string()),
                if *shadow { " --shadow" } else { "" }
            ),
        }
    }
}

pub trait Source: Send {
    fn poll(&mut self) -> Result<Snapshot>;
    /// Runs a confirmed kernel change; returns the line for the status bar.
    fn control(&mut self, control: &Control) -> Result<String>;
}

/// Rates from two readings of a counter.
#[derive(Default)]
pub(crate) struct Rate {
    last: Option<(Instant, u64)>,
}

impl Rate {
    pub(crate) fn per_second(&mut self, now: Instant, total: u64) -> u64 {
        let rate = match self.last {
            Some((t, v)) => {
                let dt = now.duration_since(t).as_secs_f64();
                if dt > 0.0 {
                    (total.saturating_sub(v) as f64 / dt) as u64
                } else {
                    0
                }
            }
            None => 0,
        };
        self.last = Some((now, total));
        rate
    }
}

/// The probe attached to one interface, read through its pinned maps.
pub struct KernelSource {
    iface: String,
    packets: Rate,
    verdicts: Rate,
    model_cache: Option<(String, Arc<Model>)>,
    /// Scales of every model seen in the slots: scores shown as P(malicious).
    book: ScaleBook,
    /// The Deploy tab lists this interface alone ([`KernelSource::own_only`]).
    own_only: bool,
}

impl KernelSource {
    pub fn new(iface: &str) -> Self {
        KernelSource {
            iface: iface.to_string(),
            packets: Rate::default(),
            verdicts: Rate::default(),
            model_cache: None,
            book: ScaleBook::default(),
            own_only: false,
        }
    }

    /// The Deploy tab offers this interface alone, not every probe on the host: the demo's
    /// TUI must not switch, roll back or deploy on a probe it does not own (another demo's, an
    /// agent's) on a shared machine.
    pub fn own_only(mut self) -> Self {
        self.own_only = true;
        self
    }
}

fn monotonic_ns() -> u64 {
    // SAFETY: clock_gettime writes into the timespec we pass.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Source for KernelSource {
    fn poll(&mut self) -> Result<Snapshot> {
        let now = Instant::now();
        // Raw entries rather than flows::read: one walk of the map gives both the table and
        // the feature state that explains a verdict.
        let probe = ProbeModels::open(&self.iface)?;
        probe.add_scales(&mut self.book);
        let flows = events::raw_flows(&self.iface)?
            .iter()
            .map(|(k, e)| FlowRow {
                record: FlowRecord::from_entry_scaled(k, e, &self.book),
                state: e.state,
            })
            .collect();
        let stats = flows::read_stats(&self.iface)?;
        let report = probe.report()?;
        let active_id = report.active.as_ref().map(|s| s.model.clone());
        let active_model = match (&self.model_cache, active_id) {
            (Some((id, m)), Some(want)) if *id == want => Some(m.clone()),
            (_, Some(want)) => {
                let model = probe.read_slot(SLOT_ACTIVE)?.map(|(_, m)| Arc::new(*m));
                self.model_cache = model.clone().map(|m| (want, m));
                model
            }
            (_, None) => None,
        };
        // Rates from the probe's counters, not from draining the event ring buffer: draining
        // would steal the events from a `workbench live --jsonl` running beside the TUI.
        let pps = self
            .packets
            .per_second(now, stats.get("packets").copied().unwrap_or(0));
        let verdicts_per_s = self
            .verdicts
            .per_second(now, stats.get("verdict_changes").copied().unwrap_or(0));
        Ok(Snapshot {
            label: format!("KERNEL probe on {}", self.iface),
            simulated: false,
            iface: Some(self.iface.clone()),
            now_ns: monotonic_ns(),
            flows,
            stats,
            models: Some(report),
            active_model,
            pps,
            verdicts_per_s,
            ifaces: if self.own_only {
                vec![self.iface.clone()]
            } else {
                bpffs::pinned_ifaces()
            },
            // A read that fails (the probe detached between two reads) shows as "no cost".
            program_cost: workbench_kernel::live_cost::program_cost(&self.iface).ok(),
            events_read: Some(events::reader_active(&self.iface)),
            prepared: None,
        })
    }

    fn control(&mut self, control: &Control) -> Result<String> {
        let probe = ProbeModels::open(&self.iface)?;
        let iface = &self.iface;
        match control {
            Control::Rollback => {
                probe.rollback()?;
                Ok(format!("rolled back on {iface}"))
            }
            Control::PromoteShadow => {
                probe.promote_shadow()?;
                Ok(format!("shadow promoted to active on {iface}"))
            }
            Control::ToggleMode => {
                let mut config = models::read_config(iface)?;
                if config.mode == MODE_ENFORCE {
                    config.mode = MODE_MONITOR;
                } else {
                    config.mode = MODE_ENFORCE;
                }
                // Refuses enforce on the default-route interface, as `workbench deploy` does.
                models::write_config(iface, &config, DefaultRoute::Refuse)?;
                Ok(format!("{iface} now in {} mode", models::mode_name(config.mode)))
            }
            Control::DeployModel { path, shadow } => {
                // What `workbench deploy MODEL --iface IF [--shadow]` does: validate the file,
                // then swap the whole model into a new inner map.
                let file = workbench_flow::model::file::read(path)?;
                // The engine `deploy` gives a new model (code unless the table was chosen),
                // in place before the slot changes.
                probe.set_intent(workbench_kernel::models::EngineIntent::Default);
                if *shadow {
                    probe.deploy_shadow(&file.model)?;
                } else {
                    probe.deploy(&file.model)?;
                }
                let engine = match probe.take_code_warning() {
                    Some(why) => format!(" (the table scores it: {why})"),
                    None => String::new(),
                };
                Ok(format!(
                    "deployed {} as the {} model on {iface}{engine}",
                    workbench_flow::model::id_string(file.model.header.model_id),
                    if *shadow { "shadow" } else { "active" }
                ))
            }
        }
    }
}
