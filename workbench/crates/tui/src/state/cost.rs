//! The Train tab's cost candidates (`c`): trees of several depths fitted on the run's rows,
//! features and split, each with its F1 next to its kernel cost per packet on this machine
//! (what `workbench train ... --cost-depths 2,4,8,12 --json` prints), so the user picks a depth
//! within a budget (`C` puts the next candidate's depth into the form; Enter trains it, d
//! deploys it). And the Deploy tab's live cost: BPF statistics on while the tab is open.

use std::sync::Arc;

use super::data::JobStatus;
use super::train::TrainForm;
use workbench_kernel::live_cost::ProgramCost;

/// The depths offered (the form's own depth is added).
pub const DEPTHS: [usize; 4] = [2, 4, 8, 12];

/// One candidate's row.
#[derive(Debug, Clone, PartialEq)]
pub struct CostRow {
    pub depth: usize,
    pub tree_depth: usize,
    pub f1: f64,
    pub nodes: usize,
    /// The probe's cost per packet with this tree (None: not measured, see `unavailable`).
    pub ns: Option<u32>,
}

/// A finished candidates run.
#[derive(Debug, Clone, PartialEq)]
pub struct CostCandidates {
    pub rows: Vec<CostRow>,
    pub empty_ns: Option<u32>,
    pub no_model_ns: Option<u32>,
    /// Why there is no cost (no CAP_BPF, a kernel refusal).
    pub unavailable: Option<String>,
    /// The same run as a command.
    pub command: String,
}

#[derive(Debug)]
pub struct CostState {
    pub status: JobStatus,
    pub result: Option<Arc<CostCandidates>>,
    pub generation: u64,
}

impl Default for CostState {
    fn default() -> Self {
        CostState {
            status: JobStatus::Idle,
            result: None,
            generation: 0,
        }
    }
}

/// The depths a run with `form` measures: [`DEPTHS`] and the form's depth, in order.
pub fn depths(form: &TrainForm) -> Vec<usize> {
    let mut d: Vec<usize> = DEPTHS.to_vec();
    if !d.contains(&form.max_depth) {
        d.push(form.max_depth);
        d.sort_unstable();
    }
    d
}

/// The command that prints the same candidates.
pub fn command(form: &TrainForm, files: &[String], depths: &[usize]) -> String {
    let list: Vec<String> = depths.iter().map(ToString::to_string).collect();
    let run = form.command(files, "MODEL");
    format!("{run} --cost-depths {} --json", list.join(","))
}

/// The Deploy tab's view of BPF statistics (the event loop holds the fd: `stats_view`).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum StatsState {
    /// Not counting: the tab is closed, the source is simulated, or never asked.
    #[default]
    Off,
    On,
    /// Asked for and refused (no permission): the reason.
    Failed(String),
}

/// The live cost the Deploy tab shows: the counters when statistics came on, to average over
/// the time the view has been open.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveCost {
    pub stats: StatsState,
    pub base: Option<ProgramCost>,
}

impl LiveCost {
    /// The mean cost per packet since the view opened; before any packet, the kernel's mean
    /// over everything it counted. (ns, runs counted).
    pub fn shown(&self, now: Option<&ProgramCost>) -> Option<(f64, u64)> {
        let now = now?;
        if self.stats != StatsState::On {
            return None;
        }
        match &self.base {
            Some(b) if now.run_count > b.run_count => {
                Some((now.ns_per_packet_since(b)?, now.run_count - b.run_count))
            }
            _ => now.ns_per_packet().map(|ns| (ns, now.run_count)),
        }
    }
}
