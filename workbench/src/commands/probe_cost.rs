//! `workbench probe cost --iface IF [--window-ms N] [--json]`: the probe's live cost per packet
//! from the kernel's own statistics, what the Deploy tab shows while it is open. Statistics are
//! on only during the window, through a BPF_ENABLE_STATS fd that closes when it ends
//! (`workbench_kernel::live_cost`); the sysctl is read before and after, never written.

use std::fmt;
use std::time::{Duration, Instant};

use color_eyre::eyre::Result;
use serde::Serialize;

use workbench_kernel::live_cost::{self, ProgramCost, StatsSession};
use workbench_kernel::models::ProbeModels;

#[derive(Debug, Serialize)]
pub struct CostReport {
    pub iface: String,
    /// The model in the active slot while counting (None: no model, the probe only counts).
    pub active_model: Option<String>,
    pub window_ms: u64,
    /// Runs of the probe program counted in the window (packets at ingress and egress).
    pub run_count: u64,
    pub run_time_ns: u64,
    /// run_time_ns / run_count; null when no packet passed in the window.
    pub ns_per_packet: Option<f64>,
    /// `kernel.bpf_stats_enabled` before and after (statistics were on through an fd in between).
    pub bpf_stats_sysctl_before: Option<bool>,
    pub bpf_stats_sysctl_after: Option<bool>,
}

impl fmt::Display for CostReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let model = self.active_model.as_deref().unwrap_or("no model");
        match self.ns_per_packet {
            Some(ns) => writeln!(
                f,
                "{}: {ns:.0} ns per packet ({model}) over {} runs in {} ms, from the kernel's run_time_ns / run_cnt",
                self.iface, self.run_count, self.window_ms
            ),
            None => writeln!(
                f,
                "{}: no packet passed the probe in {} ms ({model}); nothing to average (send traffic and retry, or a longer --window-ms)",
                self.iface, self.window_ms
            ),
        }
    }
}

pub fn measure(iface: &str, window_ms: u64) -> Result<CostReport> {
    let before_sysctl = live_cost::sysctl_enabled();
    let active_model = ProbeModels::open(iface)?.report()?.active.map(|s| s.model);
    let session = StatsSession::enable()?;
    let start = live_cost::program_cost(iface)?;
    let deadline = Instant::now() + Duration::from_millis(window_ms);
    while Instant::now() < deadline {
        // Ctrl-C ends the window early; the fd closes on the way out.
        workbench_kernel::lifecycle::check()?;
        std::thread::sleep(Duration::from_millis(50).min(deadline.saturating_duration_since(Instant::now())));
    }
    let end = live_cost::program_cost(iface)?;
    drop(session);
    let window = ProgramCost {
        run_time_ns: end.run_time_ns.saturating_sub(start.run_time_ns),
        run_count: end.run_count.saturating_sub(start.run_count),
    };
    Ok(CostReport {
        iface: iface.to_string(),
        active_model,
        window_ms,
        run_count: window.run_count,
        run_time_ns: window.run_time_ns,
        ns_per_packet: window.ns_per_packet(),
        bpf_stats_sysctl_before: before_sysctl,
        bpf_stats_sysctl_after: live_cost::sysctl_enabled(),
    })
}
