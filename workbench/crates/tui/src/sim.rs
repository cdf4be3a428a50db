//! The simulated source: the userspace twin (`workbench_flow::twin`, the probe's own flow update and
//! decision code) replays a capture in a loop at the capture's pace. Used where the kernel is
//! out of reach (no privileges, no probe attached); the UI labels it as a simulation. Every pass
//! after the first makes new flows as `workbench replay --loop` does (`capture::unique`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Result;
use shared::abi::ProbeConfig;
use shared::features::feature_id;
use shared::model::{Model, SCORE_ONE};
use shared::FlowKey;

use super::source::{Control, FlowRow, Snapshot, Source};
use workbench_flow::capture::unique::PassRewriter;
use workbench_flow::capture::{self, CaptureReader, LinkType};
use workbench_flow::model::build::{self, Node};
use workbench_flow::model::scale::ScaleBook;
use workbench_flow::model::{id_string, kind_name};
use workbench_flow::twin::Twin;
use workbench_kernel::flows::FlowRecord;
use workbench_kernel::models::{ModelsReport, SlotInfo};

/// Packets replayed per poll at most, so that one poll stays short whatever the capture's pace.
const MAX_PACKETS_PER_POLL: usize = 200_000;

/// A small hand-written tree used when no model file is given: flows that send SYNs and get no
/// answer are flagged. Not trained; the Deploy tab says so.
pub fn demo_model() -> Result<Box<Model>> {
    let (Some(bwd), Some(syn)) = (feature_id("bwd_packets"), feature_id("syn_count")) else {
        return Err(crate::error::Error::Invalid(
            "feature table lacks bwd_packets or syn_count".into(),
        ));
    };
    Ok(build::tree(
        &[
            Node::Split {
                feature: bwd,
                threshold: 0,
                left: 1,
                right: 4,
            },
            Node::Split {
                feature: syn,
                threshold: 0,
                left: 2,
                right: 3,
            },
            Node::Leaf {
                score: (SCORE_ONE / 5) as i32,
            },
            Node::Leaf {
                score: (SCORE_ONE * 9 / 10) as i32,
            },
            Node::Leaf {
                score: (SCORE_ONE / 20) as i32,
            },
        ],
        SCORE_ONE / 2,
    )?)
}

/// Where the simulation's time comes from: the wall clock, or one a test moves by hand, so that
/// tests of the pacing assert what was replayed at a given time, not how fast the machine was.
pub trait Clock: Send {
    /// Time since the simulation started.
    fn elapsed(&self) -> Duration;
}

/// The wall clock, from when the simulation was made.
pub struct WallClock(Instant);

impl Clock for WallClock {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// A clock that moves only when told to (tests); clones share the time.
#[derive(Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        let ns = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(ns, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }
}

pub struct SimSource {
    path: PathBuf,
    reader: CaptureReader,
    twin: Twin,
    model: Arc<Model>,
    model_note: String,
    /// A model running beside the active one (deployed from the Train tab as shadow).
    shadow: Option<Arc<Model>>,
    clock: Box<dyn Clock>,
    /// Capture time runs this many times faster than the wall clock (1: the capture's pace).
    speed: u64,
    /// Capture time of the first packet of this loop, and the shift added to every stamp so
    /// that time keeps increasing across loops.
    base_ts: Option<u64>,
    shift_ns: u64,
    last_ts: u64,
    pending: Option<capture::Packet>,
    /// Moves each flow's initiator per pass, so a pass replays the captured flows anew.
    rewriter: PassRewriter,
    packets: u64,
    verdict_changes: u64,
    unparsed: u64,
    last_poll: Option<(Duration, u64, u64)>,
    /// A line after the label (how to get real traffic, when the simulation is a fallback).
    hint: Option<String>,
}

impl SimSource {
    /// `model`: a model file; None uses [`demo_model`].
    pub fn new(path: &Path, model: Option<&Path>) -> Result<Self> {
        let (model, model_note) = match model {
            Some(p) => (
                workbench_flow::model::file::read(p)?.model,
                "model file".to_string(),
            ),
            None => (demo_model()?, "built-in demo tree (not trained)".to_string()),
        };
        Self::with_model(path, model, model_note)
    }

    /// A simulation with a model already in memory (`workbench demo` trains one), described
    /// on screen by `model_note`.
    pub fn with_model(path: &Path, model: Box<Model>, model_note: String) -> Result<Self> {
        let model: Arc<Model> = Arc::from(model);
        Ok(SimSource {
            path: path.to_path_buf(),
            reader: capture::open(path, true)?,
            twin: Twin::new(ProbeConfig::default(), Some(Box::new(*model)), None),
            model,
            model_note,
            shadow: None,
            clock: Box::new(WallClock(Instant::now())),
            speed: 1,
            base_ts: None,
            shift_ns: 0,
            last_ts: 0,
            pending: None,
            rewriter: PassRewriter::new(),
            packets: 0,
            verdict_changes: 0,
            unparsed: 0,
            last_poll: None,
            hint: None,
        })
    }

    /// Adds `hint` to the label (how to get real traffic).
    pub fn with_hint(mut self, hint: String) -> Self {
        self.hint = Some(hint);
        self
    }

    /// Takes its time from `clock` instead of the wall clock.
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// Replays `speed` times faster than the capture was recorded (the demo's `--speed`).
    pub fn with_speed(mut self, speed: u32) -> Self {
        self.speed = u64::from(speed.max(1));
        self
    }

    /// Runs `model` beside the active one as the shadow (the demo's Kaggle tree), as `workbench
    /// deploy --shadow` does in the kernel.
    pub fn with_shadow(mut self, model: Box<Model>) -> Self {
        let model: Arc<Model> = Arc::from(model);
        self.twin.shadow = Some(Box::new(*model));
        self.shadow = Some(model);
        self
    }

    fn next_packet(&mut self) -> Result<Option<capture::Packet>> {
        if let Some(p) = self.pending.take() {
            return Ok(Some(p));
        }
        match self.reader.next() {
            Some(p) => Ok(Some(p?)),
            None => {
                // End of the capture: start over, later in time than everything so far.
                self.reader = capture::open(&self.path, true)?;
                // One wall-clock second between passes, whatever the speed.
                self.shift_ns = self.last_ts + 1_000_000_000 * self.speed;
                self.base_ts = None;
                let pass = self.rewriter.pass() + 1;
                self.rewriter.start_pass(pass);
                match self.reader.next() {
                    Some(p) => Ok(Some(p?)),
                    None => Err(crate::error::Error::Invalid(format!(
                        "{}: the capture holds no packets",
                        self.path.display()
                    ))),
                }
            }
        }
    }

    /// The packet as the probe sees it on this pass: as captured on the first, with its flow's
    /// initiator moved on the others (parsed from the Ethernet frame replay would send).
    fn parse(&mut self, p: &capture::Packet) -> Result<shared::ParsedPacket, shared::ParseError> {
        if self.rewriter.pass() == 0 {
            return p.parse();
        }
        let mut frame = p.to_ethernet_frame();
        // The link header may have changed size; the bytes on the wire past the capture did not.
        let uncaptured = (p.wire_len_bytes as usize).saturating_sub(p.data.len());
        let wire_len_bytes = (frame.len() + uncaptured) as u32;
        self.rewriter.rewrite(&mut frame, wire_len_bytes);
        LinkType::Ethernet.parse(&frame, wire_len_bytes)
    }

    fn replay_until(&mut self, wall_ns: u64) -> Result<()> {
        for _ in 0..MAX_PACKETS_PER_POLL {
            let Some(p) = self.next_packet()? else { break };
            let base = *self.base_ts.get_or_insert(p.ts_ns);
            let ts = self.shift_ns + p.ts_ns.saturating_sub(base);
            if ts > wall_ns {
                self.pending = Some(p);
                break;
            }
            self.last_ts = ts;
            self.packets += 1;
            let Ok(parsed) = self.parse(&p) else {
                self.unparsed += 1;
                continue;
            };
            let key = FlowKey::of(&parsed).key;
            let before = self.twin.flows.get(&key).map_or(0, |e| e.verdict);
            let after = self.twin.packet(&parsed, ts).verdict;
            if after != before {
                self.verdict_changes += 1;
            }
        }
        Ok(())
    }
}

impl Source for SimSource {
    fn poll(&mut self) -> Result<Snapshot> {
        let now = self.clock.elapsed();
        let wall_ns = u64::try_from(now.as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_mul(self.speed);
        self.replay_until(wall_ns)?;
        let (pps, verdicts_per_s) = match self.last_poll {
            Some((t, p, v)) => {
                let dt = now.saturating_sub(t).as_secs_f64().max(1e-3);
                (
                    ((self.packets - p) as f64 / dt) as u64,
                    ((self.verdict_changes - v) as f64 / dt) as u64,
                )
            }
            None => (0, 0),
        };
        self.last_poll = Some((now, self.packets, self.verdict_changes));
        let mut book = ScaleBook::default();
        book.insert(&self.model);
        let flows = self
            .twin
            .flows
            .iter()
            .map(|(k, e)| FlowRow {
                record: FlowRecord::from_entry_scaled(k, e, &book),
                state: e.state,
            })
            .collect();
        let stats = BTreeMap::from([
            ("packets", self.packets),
            ("parsed", self.packets - self.unparsed),
            ("flows_created", self.twin.flows.len() as u64),
            ("verdict_changes", self.verdict_changes),
        ]);
        let model_id = id_string(self.model.header.model_id);
        Ok(Snapshot {
            // The hint first: a long capture path must not cut it off.
            label: format!(
                "SIMULATED (userspace twin, no kernel): {}{} · {}",
                self.hint
                    .as_deref()
                    .map(|h| format!("{h} · "))
                    .unwrap_or_default(),
                // The file's name: the status line has no room for a long path, and would
                // then leave out the model note after it (items are left out whole).
                std::path::Path::new(self.reader.file_name())
                    .file_name()
                    .map_or_else(|| self.reader.file_name().into(), |n| n.to_string_lossy()),
                self.model_note,
            ),
            simulated: true,
            iface: None,
            events_read: None,
            now_ns: self.last_ts,
            flows,
            stats,
            models: Some(ModelsReport {
                iface: "simulated".into(),
                active: Some(SlotInfo {
                    model: model_id,
                    kind: kind_name(self.model.header.kind),
                    kernel_map_id: 0,
                }),
                shadow: self.shadow.as_ref().map(|m| SlotInfo {
                    model: id_string(m.header.model_id),
                    kind: kind_name(m.header.kind),
                    kernel_map_id: 0,
                }),
                previous: None,
                mode: "monitor",
                attach_mode: "none",
                engine: "table",
                code_program_id: None,
                decide_first_packets: self.twin.config.decide_first_packets,
                decide_every: self.twin.config.decide_every,
                // The simulation replays the capture's own timestamps.
                clock: "ns",
                drop_unparsed: workbench_kernel::models::unparsed::names(shared::abi::DROP_UNPARSED_DEFAULT),
                older_probe_lacks: Vec::new(),
                allowlist: Vec::new(),
            }),
            active_model: Some(self.model.clone()),
            pps,
            verdicts_per_s,
            ifaces: Vec::new(),
            program_cost: None,
            prepared: None,
        })
    }

    fn control(&mut self, control: &Control) -> Result<String> {
        let Control::DeployModel { path, shadow } = control else {
            return Err(crate::error::Error::Refused("simulated source: there is no kernel probe to change (attach one with `workbench probe attach --iface IF`)".into()));
        };
        // The twin's own hot swap: flows keep their state and are decided by the new model
        // from their next decision point on, as in the kernel.
        let file = workbench_flow::model::file::read(path)?;
        let model: Arc<Model> = Arc::from(file.model);
        let id = id_string(model.header.model_id);
        let name = path
            .file_name()
            .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().to_string());
        if *shadow {
            self.twin.shadow = Some(Box::new(*model));
            self.shadow = Some(model);
            Ok(format!("simulation: {id} now runs as the shadow model"))
        } else {
            self.twin.active = Some(Box::new(*model));
            self.model = model;
            self.model_note = format!("trained model {name}");
            Ok(format!("simulation: {id} is now the active model"))
        }
    }
}
