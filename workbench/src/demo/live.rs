//! The demo's Live source: the probe in the demo lab (`KernelSource`) or the userspace twin
//! (`SimSource`), wrapped so that the status line tells the demo's state (lab, replay passes, or
//! why it is simulated) and every poll is scored against the ground truth: which flows are
//! flagged, from which sample scenario, and when the first one was. The TUI and the headless
//! run read the same numbers.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use workbench_tui::error::Result;

use super::kernel_lab::ReplayCounters;
use super::samples::{Truth, FLOOD_SCENARIO};
use workbench_tui::source::{Control, Snapshot, Source};

/// What the Live source has shown so far (shared with whoever started the demo).
#[derive(Debug, Clone, Default, Serialize)]
pub struct LiveProgress {
    /// The source's label at the last poll (what the status line showed).
    pub source_label: String,
    pub flows: usize,
    /// Flows whose active verdict is malicious.
    pub flagged_flows: usize,
    /// Flagged flows per sample scenario (ground truth from the labels file).
    pub flagged_by_scenario: BTreeMap<String, usize>,
    /// Flows the labels call benign, and those of them flagged.
    pub benign_flows: usize,
    pub flagged_benign_flows: usize,
    /// Flows without a label (0: every flow shown, of every replay pass, has its label;
    /// `samples::Truth::of`).
    pub unlabelled_flows: usize,
    /// Flows of the SYN flood sample flagged malicious.
    pub flood_flows_flagged: usize,
    /// Decisions where the shadow model's verdict differed from the active one's, summed over
    /// the flows shown (the Live tab's "shadow disagreed on N decisions"), and the flows with any.
    pub shadow_disagreements: u64,
    pub shadow_disagreeing_flows: usize,
    /// Packets the source has seen (the probe's counter, or the twin's).
    pub packets_seen: u64,
    /// Packets the replay loop sent into the lab, and its full passes over the capture (kernel
    /// mode; 0 when simulated: nothing is sent anywhere).
    pub packets_replayed: u64,
    pub replay_passes: u64,
    /// Packets the userspace twin read from the capture, and the full passes over it that makes
    /// (simulated mode; 0 in kernel mode, where nothing is simulated).
    pub packets_simulated: u64,
    pub simulated_passes: u64,
    /// From the start of `workbench demo` (setup and training included) to the first poll that
    /// showed a flagged flow, and one of the SYN flood.
    pub first_flagged_ms: Option<u64>,
    pub first_flood_flagged_ms: Option<u64>,
    pub polls: u64,
    pub replay_failure: Option<String>,
}

/// The progress record, shared between the poller thread and whoever started the demo.
pub type SharedProgress = Arc<Mutex<LiveProgress>>;

pub struct DemoSource {
    inner: Box<dyn Source>,
    /// Prefix of the status line: KERNEL ... or SIMULATED (why).
    label: String,
    truth: Arc<Truth>,
    replay: Option<Arc<ReplayCounters>>,
    /// Simulated: the packets in one pass of the capture the twin reads.
    simulated_pass_packets: Option<u64>,
    started: Instant,
    progress: SharedProgress,
}

impl DemoSource {
    pub fn new(
        inner: Box<dyn Source>,
        label: String,
        truth: Arc<Truth>,
        replay: Option<Arc<ReplayCounters>>,
        started: Instant,
    ) -> Self {
        DemoSource {
            inner,
            label,
            truth,
            replay,
            simulated_pass_packets: None,
            started,
            progress: Arc::default(),
        }
    }

    /// A simulation: the twin reads a capture of `packets` packets per pass.
    pub fn simulating(mut self, packets: u64) -> Self {
        self.simulated_pass_packets = Some(packets);
        self
    }

    pub fn progress(&self) -> SharedProgress {
        self.progress.clone()
    }

    fn score(&self, s: &Snapshot) -> LiveProgress {
        let mut p = self.progress.lock().map(|p| p.clone()).unwrap_or_default();
        p.polls += 1;
        p.flows = s.flows.len();
        p.flagged_by_scenario.clear();
        p.flagged_benign_flows = 0;
        p.benign_flows = 0;
        p.unlabelled_flows = 0;
        p.flagged_flows = 0;
        p.shadow_disagreements = 0;
        p.shadow_disagreeing_flows = 0;
        for f in &s.flows {
            let d = u64::from(f.record.shadow_disagreements);
            p.shadow_disagreements += d;
            p.shadow_disagreeing_flows += usize::from(d > 0);
            let truth = self.truth.of(&f.record);
            match truth {
                None => p.unlabelled_flows += 1,
                Some(t) if !t.malicious() => p.benign_flows += 1,
                Some(_) => {}
            }
            if f.record.verdict != "malicious" {
                continue;
            }
            p.flagged_flows += 1;
            let scenario = truth.map_or("unlabelled", |t| t.scenario.as_str());
            *p.flagged_by_scenario.entry(scenario.to_string()).or_insert(0) += 1;
            if truth.is_some_and(|t| !t.malicious()) {
                p.flagged_benign_flows += 1;
            }
        }
        p.flood_flows_flagged = p.flagged_by_scenario.get(FLOOD_SCENARIO).copied().unwrap_or(0);
        let now_ms = self.started.elapsed().as_millis() as u64;
        if p.flagged_flows > 0 {
            p.first_flagged_ms.get_or_insert(now_ms);
        }
        if p.flood_flows_flagged > 0 {
            p.first_flood_flagged_ms.get_or_insert(now_ms);
        }
        p.packets_seen = s.stats.get("packets").copied().unwrap_or(0);
        if let Some(r) = &self.replay {
            p.packets_replayed = r.packets.load(Ordering::Relaxed);
            p.replay_passes = r.passes.load(Ordering::Relaxed);
            p.replay_failure = r.failure.lock().ok().and_then(|f| f.clone());
        }
        if let Some(per_pass) = self.simulated_pass_packets {
            // The twin counts every packet it reads, pass after pass.
            p.packets_simulated = p.packets_seen;
            p.simulated_passes = p.packets_seen.checked_div(per_pass).unwrap_or(0);
        }
        p
    }
}

impl Source for DemoSource {
    fn poll(&mut self) -> Result<Snapshot> {
        let mut s = self.inner.poll()?;
        let mut p = self.score(&s);
        s.label = match (&self.replay, &p.replay_failure) {
            (Some(_), Some(e)) => format!("{} · replay stopped: {e}", self.label),
            (Some(_), None) => format!(
                "{} · replay pass {} · {} packets sent",
                self.label,
                p.replay_passes + 1,
                p.packets_replayed
            ),
            (None, _) => self.label.clone(),
        };
        p.source_label = s.label.clone();
        if let Ok(mut shared) = self.progress.lock() {
            *shared = p;
        }
        Ok(s)
    }

    fn control(&mut self, control: &Control) -> Result<String> {
        self.inner.control(control)
    }
}
