//! The demo's kernel side: a replay lab (one namespace holding both ends of a veth pair), the
//! probe attached to the receiving end, the demo model deployed, and the sample capture replayed
//! into the sending end in a loop on a background thread. Everything is undone in reverse order
//! by `shutdown` (called by `Drop` too, so an error or a panic unwinding through the demo cleans
//! up as well): stop the sender, remove the probe's pins (the kernel detaches its TCX links),
//! delete the namespace (its veth pair goes with it).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use color_eyre::eyre::{bail, eyre, Result};
use serde::Serialize;
use shared::model::Model;

use workbench_flow::capture::unique::PassRewriter;
use workbench_kernel::caps;
use workbench_kernel::lab::afpacket::FrameSender;
use workbench_kernel::lab::{guard, netns, ReplayLab};
use workbench_kernel::lifecycle::claims::{Claim, Object};
use workbench_kernel::models::ProbeModels;
use workbench_kernel::probe::{self, AttachOptions};

/// Pause between two passes over the capture.
const PASS_GAP: Duration = Duration::from_secs(1);
/// Longest sleep between two looks at the stop flag, so quitting never waits on a slow capture.
const STOP_CHECK: Duration = Duration::from_millis(50);

/// The capabilities the kernel demo needs that this process lacks (empty: it may run). Root
/// has them all; loading the probe needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (README), the
/// lab namespace CAP_SYS_ADMIN, the replay's AF_PACKET socket CAP_NET_RAW.
pub fn missing_capabilities() -> Vec<&'static str> {
    let admin = caps::has(caps::CAP_SYS_ADMIN);
    let mut missing = Vec::new();
    for (cap, name, admin_stands_in) in [
        (caps::CAP_BPF, "CAP_BPF", true),
        (caps::CAP_NET_ADMIN, "CAP_NET_ADMIN", false),
        (caps::CAP_PERFMON, "CAP_PERFMON", true),
        (caps::CAP_SYS_ADMIN, "CAP_SYS_ADMIN", false),
        (caps::CAP_NET_RAW, "CAP_NET_RAW", false),
    ] {
        let held = caps::has(cap) || (admin_stands_in && admin);
        if !held {
            missing.push(name);
        }
    }
    missing
}

/// Replay counters, shared with the sender thread.
#[derive(Debug, Default)]
pub struct ReplayCounters {
    pub packets: AtomicU64,
    pub passes: AtomicU64,
    pub errors: AtomicU64,
    /// Why the replay thread stopped on its own, if it did.
    pub failure: std::sync::Mutex<Option<String>>,
}

/// What shutting down removed (the demo's summary reports it).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cleanup {
    pub namespace: String,
    pub removed_pins: Vec<String>,
    pub namespace_removed: bool,
    /// What another command removed while the demo ran (`lab down`, `probe detach`): not
    /// removed by the demo, and no error.
    pub already_gone: Vec<String>,
    pub errors: Vec<String>,
}

impl Cleanup {
    /// One line: what the demo removed, what was gone already, what failed.
    pub fn words(&self) -> String {
        let mut removed = Vec::new();
        if !self.removed_pins.is_empty() {
            removed.push(format!("probe pins [{}]", self.removed_pins.join(", ")));
        }
        if self.namespace_removed {
            removed.push(format!("namespace {} (its veth pair with it)", self.namespace));
        }
        let mut parts = Vec::new();
        if !removed.is_empty() {
            parts.push(format!("removed {}", removed.join(" and ")));
        }
        if !self.already_gone.is_empty() {
            parts.push(format!(
                "already removed by another command: {}",
                self.already_gone.join(", ")
            ));
        }
        if !self.errors.is_empty() {
            parts.push(format!("errors: {}", self.errors.join("; ")));
        }
        if parts.is_empty() {
            parts.push("nothing to remove".into());
        }
        format!("demo: {}", parts.join("; "))
    }
}

pub struct KernelDemo {
    pub netns: String,
    pub send_iface: String,
    /// The probe's interface (the Live tab reads its pins).
    pub iface: String,
    pub counters: Arc<ReplayCounters>,
    stop: Arc<AtomicBool>,
    sender: Option<JoinHandle<Result<()>>>,
    attached: bool,
    lab: Option<ReplayLab>,
    done: Option<Cleanup>,
    /// The note of what this run made (`lifecycle::claims`), so a killed demo's leftovers are
    /// named by the next command; removed after the cleanup.
    claim: Option<Claim>,
    /// Why the code engine could not take the models (the table interpreter scores them).
    pub code_warning: Option<String>,
}

/// Options of the kernel demo.
pub struct KernelOptions<'a> {
    pub lab_id: &'a str,
    pub pcap: &'a Path,
    pub model: &'a Model,
    /// Deployed beside `model` as the shadow (the demo's Kaggle tree).
    pub shadow: Option<&'a Model>,
    /// Capture time runs this many times faster than the wall clock.
    pub speed: u32,
}

impl KernelDemo {
    /// Creates the lab, attaches the probe, deploys `model` and starts the replay loop. On an
    /// error, what was made so far is removed before returning.
    pub fn start(opts: &KernelOptions) -> Result<KernelDemo> {
        let frames = load_frames(opts.pcap)?;
        workbench_kernel::lab::replay_lab::validate_id(opts.lab_id)?;
        // Noted before each object is made (a kill half-way is covered too).
        let mut claim = Claim::new("demo");
        claim.add(Object::Lab {
            id: opts.lab_id.to_string(),
        });
        claim.add(Object::Probe {
            iface: format!("{}{}b", workbench_kernel::lab::PREFIX, opts.lab_id),
        });
        let lab = ReplayLab::create(opts.lab_id)?;
        let info = lab.info.clone();
        let mut demo = KernelDemo {
            netns: info.netns.clone(),
            send_iface: info.send_iface.clone(),
            iface: info.receive_iface.clone(),
            counters: Arc::default(),
            stop: Arc::new(AtomicBool::new(false)),
            sender: None,
            attached: false,
            lab: Some(lab),
            done: None,
            claim: Some(claim),
            code_warning: None,
        };
        probe::attach_in(Some(&demo.netns), &demo.iface, &AttachOptions::default())?;
        demo.attached = true;
        // As `workbench deploy MODEL --iface IF` deploys (the compiled code engine)...
        let models = ProbeModels::open(&demo.iface)?;
        crate::commands::deploy::deploy_model(&models, opts.model, false, None)?;
        // ... and `workbench deploy SHADOW --shadow --iface IF`.
        if let Some(shadow) = opts.shadow {
            crate::commands::deploy::deploy_model(&models, shadow, true, None)?;
        }
        demo.code_warning = models.take_code_warning();
        // The replay safety check, re-read from the kernel, before the first frame.
        guard::check_replay_target(&demo.send_iface, Some(&demo.netns))?;
        let (ns, iface, stop, counters, speed) = (
            demo.netns.clone(),
            demo.send_iface.clone(),
            demo.stop.clone(),
            demo.counters.clone(),
            opts.speed.max(1),
        );
        let handle = std::thread::Builder::new()
            .name("demo-replay".into())
            .spawn(move || {
                let result = netns::run_in(&ns, || send_loop(&iface, &frames, speed, &stop, &counters))
                    .map_err(Into::into)
                    .and_then(|r| r);
                if let Err(e) = &result {
                    if let Ok(mut f) = counters.failure.lock() {
                        *f = Some(format!("{e:#}"));
                    }
                }
                result
            })
            .map_err(|e| eyre!("starting the replay thread: {e}"))?;
        demo.sender = Some(handle);
        Ok(demo)
    }

    /// Stops the replay loop and waits for its thread (the probe and the lab stay). Safe to call
    /// twice; the error is the thread's, if it failed.
    pub fn stop_replay(&mut self) -> std::result::Result<(), String> {
        self.stop.store(true, Ordering::SeqCst);
        match self.sender.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => Err(format!("replay: {e:#}")),
            Some(Err(_)) => Err("the replay thread panicked".into()),
            Some(Ok(Ok(()))) | None => Ok(()),
        }
    }

    /// Stops the replay and removes the probe and the lab. Safe to call twice.
    pub fn shutdown(&mut self) -> Cleanup {
        if let Some(done) = &self.done {
            return done.clone();
        }
        let mut report = Cleanup {
            namespace: self.netns.clone(),
            ..Cleanup::default()
        };
        if let Err(e) = self.stop_replay() {
            report.errors.push(e);
        }
        if self.attached {
            self.attached = false;
            if workbench_kernel::bpffs::iface_dir(&self.iface).exists() {
                match probe::detach(&self.iface) {
                    Ok(d) => report.removed_pins = d.removed_pins,
                    Err(e) => report.errors.push(format!("detaching the probe: {e:#}")),
                }
            } else {
                report.already_gone.push(format!("the probe on {}", self.iface));
            }
        }
        if let Some(mut lab) = self.lab.take() {
            if workbench_kernel::lab::project_namespaces().contains(&self.netns) {
                match lab.remove() {
                    Ok(()) => report.namespace_removed = true,
                    Err(e) => report.errors.push(format!("removing the lab: {e:#}")),
                }
            } else {
                report.already_gone.push(format!("namespace {}", self.netns));
            }
        }
        // All removed: the note goes. Something left: the note stays for the next command to
        // name (its file outlives this process).
        match report.errors.is_empty() {
            true => self.claim = None,
            false => std::mem::forget(self.claim.take()),
        }
        self.done = Some(report.clone());
        report
    }
}

impl Drop for KernelDemo {
    fn drop(&mut self) {
        // An early end (an error or a panic unwinding) has not reported its cleanup yet.
        // A stop signal: `main`'s one line says what this run made was removed.
        let early = self.done.is_none() && !workbench_kernel::lifecycle::stop_requested();
        let report = self.shutdown();
        // Never `eprintln!` here: on a closed terminal it panics, and a panic in a drop while
        // unwinding aborts the process.
        if early {
            super::note(&report.words());
        } else {
            for e in report.errors {
                super::note(&format!("demo: cleanup: {e}"));
            }
        }
    }
}

/// One frame of the capture, ready to send (padded to its wire length as `replay` pads it), and
/// its capture time.
struct Frame {
    ts_ns: u64,
    bytes: Vec<u8>,
    wire_len_bytes: u32,
}

/// Reads the whole capture once (the samples are ~2 MB), so every pass replays from memory.
fn load_frames(pcap: &Path) -> Result<Vec<Frame>> {
    let mut frames = Vec::new();
    for packet in workbench_flow::capture::open(pcap, false)? {
        let packet = packet?;
        let wire = packet.wire_frame();
        frames.push(Frame {
            ts_ns: packet.ts_ns,
            bytes: wire.bytes,
            wire_len_bytes: wire.wire_len_bytes,
        });
    }
    if frames.is_empty() {
        bail!("{}: the capture holds no packets", pcap.display());
    }
    Ok(frames)
}

/// Sleeps until `due` or until asked to stop; true when stopped.
fn sleep_until(due: Instant, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        let now = Instant::now();
        if now >= due {
            return false;
        }
        std::thread::sleep((due - now).min(STOP_CHECK));
    }
}

/// The replay loop, on a thread inside the lab namespace: each pass sends the capture's frames
/// at `speed` times their recorded pace, then waits `PASS_GAP` and starts again. Every pass after
/// the first moves each flow's initiator address by the pass number x 65,536
/// (`capture::unique`), so the Live tab shows each captured flow again with its captured packets,
/// as a new flow; the demo's ground truth finds its label through the same shift
/// (`samples::Truth::of`).
fn send_loop(
    iface: &str,
    frames: &[Frame],
    speed: u32,
    stop: &AtomicBool,
    counters: &ReplayCounters,
) -> Result<()> {
    let sender = FrameSender::open(iface)?;
    let first_ts = frames[0].ts_ns;
    let mut rewriter = PassRewriter::new();
    let mut rewritten = Vec::new();
    for pass in 0u64.. {
        rewriter.start_pass(pass);
        let start = Instant::now();
        for f in frames {
            let offset_ns = f.ts_ns.saturating_sub(first_ts) / u64::from(speed);
            if sleep_until(start + Duration::from_nanos(offset_ns), stop) {
                return Ok(());
            }
            let bytes: &[u8] = if pass == 0 {
                &f.bytes
            } else {
                rewritten.clear();
                rewritten.extend_from_slice(&f.bytes);
                rewriter.rewrite(&mut rewritten, f.wire_len_bytes);
                &rewritten
            };
            match sender.send(bytes) {
                Ok(()) => counters.packets.fetch_add(1, Ordering::Relaxed),
                Err(_) => counters.errors.fetch_add(1, Ordering::Relaxed),
            };
        }
        counters.passes.fetch_add(1, Ordering::Relaxed);
        if sleep_until(Instant::now() + PASS_GAP, stop) {
            return Ok(());
        }
    }
    Ok(())
}

/// Paths the demo made in bpffs for `iface` (tests check they are gone).
pub fn pin_dir(iface: &str) -> PathBuf {
    workbench_kernel::bpffs::iface_dir(iface)
}
