//! The live cost of the probe on an interface, from the kernel's own statistics: the pinned
//! program's `run_time_ns / run_cnt` (issue 14 item 6; the Deploy tab and
//! `workbench probe cost --json` show it).
//!
//! The kernel counts run time only while BPF statistics are on. They are turned on through a
//! BPF_ENABLE_STATS file descriptor ([`StatsSession`]) rather than by writing the sysctl
//! `kernel.bpf_stats_enabled`: the kernel turns them off by itself when the last such fd closes,
//! also when the process is killed, so a crash cannot leave the machine counting (and paying
//! for the clock reads of every BPF program), and the sysctl an administrator set is never
//! touched.

use std::os::fd::OwnedFd;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::{bpffs, caps, probe};

/// Where the kernel says whether statistics are on globally (`sysctl kernel.bpf_stats_enabled`).
pub const BPF_STATS_SYSCTL: &str = "/proc/sys/kernel/bpf_stats_enabled";

/// BPF run-time statistics on for as long as this lives (the fd closes on drop).
#[derive(Debug)]
pub struct StatsSession {
    _fd: OwnedFd,
}

impl StatsSession {
    /// Turns run-time statistics on (CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON, as the kernel
    /// requires for BPF_ENABLE_STATS).
    pub fn enable() -> Result<StatsSession> {
        caps::require_kernel_access("counting the probe's run time")?;
        let fd = aya::sys::enable_stats(aya::sys::Stats::RunTime).map_err(|e| {
            Error::io(
                "turning BPF run-time statistics on (BPF_ENABLE_STATS)",
                e.io_error,
            )
        })?;
        Ok(StatsSession { _fd: fd })
    }
}

/// The sysctl's value (statistics on for every program, whatever fds are open); None when it
/// cannot be read.
pub fn sysctl_enabled() -> Option<bool> {
    std::fs::read_to_string(BPF_STATS_SYSCTL)
        .ok()
        .map(|s| s.trim() == "1")
}

/// What the kernel counted for the probe's program on one interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct ProgramCost {
    /// Total run time while statistics were on.
    pub run_time_ns: u64,
    /// Runs counted while statistics were on.
    pub run_count: u64,
}

impl ProgramCost {
    /// `run_time_ns / run_count`: the mean cost of a packet (None before any counted run).
    pub fn ns_per_packet(&self) -> Option<f64> {
        (self.run_count > 0).then(|| self.run_time_ns as f64 / self.run_count as f64)
    }

    /// The mean over the runs counted since `earlier` (None if none were).
    pub fn ns_per_packet_since(&self, earlier: &ProgramCost) -> Option<f64> {
        ProgramCost {
            run_time_ns: self.run_time_ns.saturating_sub(earlier.run_time_ns),
            run_count: self.run_count.saturating_sub(earlier.run_count),
        }
        .ns_per_packet()
    }
}

/// The kernel's counters of the probe program pinned for `iface`.
pub fn program_cost(iface: &str) -> Result<ProgramCost> {
    let pin = bpffs::iface_dir(iface).join(probe::PIN_PROGRAM);
    let info = aya::programs::ProgramInfo::from_pin(&pin)
        .map_err(|e| Error::bpf(format!("{iface}: reading the probe program's statistics"), e))?;
    Ok(ProgramCost {
        run_time_ns: info.run_time().as_nanos() as u64,
        run_count: info.run_count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_is_time_over_runs_and_none_before_a_run() {
        let c = ProgramCost {
            run_time_ns: 1_500,
            run_count: 10,
        };
        assert_eq!(c.ns_per_packet(), Some(150.0));
        assert_eq!(ProgramCost::default().ns_per_packet(), None);
        let later = ProgramCost {
            run_time_ns: 2_500,
            run_count: 15,
        };
        assert_eq!(later.ns_per_packet_since(&c), Some(200.0));
        assert_eq!(c.ns_per_packet_since(&c), None);
    }
}
