//! BPF run-time statistics for the Deploy tab: on through a BPF_ENABLE_STATS fd while the tab is
//! open on a kernel probe, off (the fd closed) when the user leaves the tab or quits. The
//! kernel turns the statistics off itself once the fd is closed, also when the process dies,
//! so the sysctl `kernel.bpf_stats_enabled` is never written and never left on.

use workbench_kernel::live_cost::StatsSession;

use crate::state::cost::StatsState;

#[derive(Debug, Default)]
pub struct StatsView {
    session: Option<StatsSession>,
    /// The refusal of the last attempt: not retried on every frame while the tab stays open.
    refused: Option<String>,
}

impl StatsView {
    /// Statistics on (`want`) or off; the state to show.
    pub fn sync(&mut self, want: bool) -> StatsState {
        if !want {
            self.session = None;
            self.refused = None;
            return StatsState::Off;
        }
        if self.session.is_none() && self.refused.is_none() {
            match StatsSession::enable() {
                Ok(s) => self.session = Some(s),
                Err(e) => self.refused = Some(workbench_flow::errors::line(&e)),
            }
        }
        match (&self.session, &self.refused) {
            (Some(_), _) => StatsState::On,
            (None, Some(why)) => StatsState::Failed(why.clone()),
            (None, None) => StatsState::Off,
        }
    }

    pub fn is_on(&self) -> bool {
        self.session.is_some()
    }
}
