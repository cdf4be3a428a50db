//! `bench probe`'s report: per packet and variant the median cost, every run, the return codes;
//! the targets checked; the flows the private probe saw; and the section's figures.

use std::collections::BTreeMap;

use serde::Serialize;
use workbench_kernel::cost::median;

use super::dispatch::DispatchReport;
use super::figure::Figure;
use super::machine::Machine;
use super::models::ModelInfo;
use super::probe::{
    BenchPacket, Measured, Variant, TARGET_FOREST_NS, TARGET_LOGISTIC_NS, TARGET_MODEL_PART_NS,
    TARGET_TREE_NS,
};

#[derive(Debug, Clone, Serialize)]
pub struct PacketResult {
    pub packet: &'static str,
    pub frame_bytes: usize,
    #[serde(flatten)]
    pub ns: VariantNs,
    /// Every run's mean per repetition, by variant, in run order.
    pub runs_ns: BTreeMap<&'static str, Vec<u32>>,
    /// The distinct return codes of the program's test runs, by variant (as u32: 4294967295 =
    /// TC_ACT_UNSPEC, the probe passing a packet on to the next filter or program).
    pub return_codes: BTreeMap<&'static str, Vec<u32>>,
}

/// The median cost of every variant on one packet (flattened into the report: its keys are the
/// contract `empty_ns`, `no_model_ns`, `tree_ns`, `logistic_ns`, ...).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct VariantNs {
    pub empty_ns: u32,
    /// The probe with the tree installed but no decision point: parse, flow update, lookups.
    pub no_decision_ns: u32,
    /// Every packet a decision point, no model: the above plus the decision's bookkeeping (no
    /// model reads a feature, so none is computed).
    pub no_model_ns: u32,
    pub tree_ns: u32,
    /// The tree at the default decision points (1-32, then every 16th packet): a long flow.
    pub tree_default_decisions_ns: u32,
    pub logistic_ns: u32,
    pub forest_ns: u32,
    /// `no_model_ns` on the probe built without the per-flow lock (what kernels before 5.12 run).
    pub no_model_unlocked_ns: u32,
    /// tree_ns - no_model_ns: what evaluating the tree adds (negative only through noise).
    pub model_part_ns: i64,
    /// no_model_ns - no_model_unlocked_ns: what the per-flow lock adds (an uncontended
    /// compare-and-exchange and an exchange).
    pub flow_lock_ns: i64,
    /// `no_model_ns` with the coarse clock (`deploy --clock coarse`).
    pub no_model_coarse_clock_ns: u32,
    /// The tree, the forest and the logistic model scored by compiled code (`deploy --engine
    /// code`, the default).
    pub tree_code_ns: u32,
    pub forest_code_ns: u32,
    pub logistic_code_ns: u32,
    /// tree_code_ns - no_model_ns: what the compiled tree adds (the tail call included).
    pub model_part_code_ns: i64,
    /// no_model_ns - no_model_coarse_clock_ns: what the nanosecond clock costs beyond the
    /// coarse one.
    pub clock_ns: i64,
    /// `no_model_ns` with the code engine on: the tail call into its copy succeeds.
    pub no_model_code_ns: u32,
    /// no_model_code_ns - no_model_ns: the code engine's tail call (part of
    /// `model_part_code_ns`).
    pub tail_call_ns: i64,
}

impl VariantNs {
    fn from_medians(medians: &BTreeMap<&'static str, u32>) -> Self {
        let get = |v: Variant| medians.get(v.key()).copied().unwrap_or(0);
        VariantNs {
            empty_ns: get(Variant::Empty),
            no_decision_ns: get(Variant::NoDecision),
            no_model_ns: get(Variant::NoModel),
            tree_ns: get(Variant::Tree),
            tree_default_decisions_ns: get(Variant::TreeDefaultDecisions),
            logistic_ns: get(Variant::Logistic),
            forest_ns: get(Variant::Forest),
            no_model_unlocked_ns: get(Variant::NoModelUnlocked),
            model_part_ns: get(Variant::Tree) as i64 - get(Variant::NoModel) as i64,
            flow_lock_ns: get(Variant::NoModel) as i64 - get(Variant::NoModelUnlocked) as i64,
            no_model_coarse_clock_ns: get(Variant::NoModelCoarseClock),
            clock_ns: get(Variant::NoModel) as i64 - get(Variant::NoModelCoarseClock) as i64,
            tree_code_ns: get(Variant::TreeCode),
            forest_code_ns: get(Variant::ForestCode),
            logistic_code_ns: get(Variant::LogisticCode),
            model_part_code_ns: get(Variant::TreeCode) as i64 - get(Variant::NoModel) as i64,
            no_model_code_ns: get(Variant::NoModelCode),
            tail_call_ns: get(Variant::NoModelCode) as i64 - get(Variant::NoModel) as i64,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    pub packet: &'static str,
    pub metric: &'static str,
    pub target_ns: i64,
    pub measured_ns: i64,
    pub met: bool,
    /// measured - target: negative is headroom, positive is how much the target is missed by.
    pub difference_ns: i64,
}

/// A flow the private probe holds after the runs.
#[derive(Debug, Clone, Serialize)]
pub struct FlowSeen {
    /// The benchmark packet the flow belongs to, or "other".
    pub packet: &'static str,
    pub proto: &'static str,
    pub src_port: u16,
    pub dst_port: u16,
    pub packets: u64,
    /// The packet number of the latest decision (equals `packets` when every packet decides).
    pub decided_at_packet: u32,
    pub verdict: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub headline_packet: &'static str,
    /// The headline packet's medians.
    #[serde(flatten)]
    pub ns: VariantNs,
    pub repeat: u32,
    pub runs: usize,
    pub kernel: String,
    pub machine: Machine,
    /// Instructions the verifier processed for the probe program.
    pub verified_instructions: Option<u32>,
    /// The same for the probe built without the per-flow lock.
    pub verified_instructions_unlocked: Option<u32>,
    /// Instructions the verifier processed for the code engine's copy of the probe, by variant
    /// (`tree_code_ns`: the depth-12 tree compiled; `forest_code_ns`: the forest).
    pub code_verified_instructions: BTreeMap<&'static str, u32>,
    /// Whether the probe reaches each compiled variant's model by a jump (`true`) or a call
    /// (a single model too large for eBPF's 16-bit jumps).
    pub code_inlined: BTreeMap<&'static str, bool>,
    pub packets: Vec<PacketResult>,
    pub targets: Vec<TargetCheck>,
    pub models: BTreeMap<&'static str, ModelInfo>,
    pub flows: Vec<FlowSeen>,
    /// The private probe's statistics after the runs (summed over CPUs).
    pub probe_stats: BTreeMap<&'static str, u64>,
    /// Where the private load was pinned (removed again before the report is returned).
    pub pin_dir: String,
    /// The tail call and the static call the code engine uses against an extension
    /// (`BPF_PROG_TYPE_EXT`) replacing a global function, each measured alone on the headline
    /// packet (`dispatch.rs`); absent when this kernel could not run it, with the reason in
    /// `dispatch_skipped`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispatch: Option<DispatchReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispatch_skipped: Option<String>,
}

pub(crate) fn packet_result(p: &BenchPacket, measured: Measured) -> PacketResult {
    let mut runs_ns = BTreeMap::new();
    let mut return_codes = BTreeMap::new();
    let mut medians = BTreeMap::new();
    for (variant, durations, mut codes) in measured {
        codes.sort_unstable();
        medians.insert(variant.key(), median(&durations));
        runs_ns.insert(variant.key(), durations);
        return_codes.insert(variant.key(), codes);
    }
    PacketResult {
        packet: p.name,
        frame_bytes: p.frame.len(),
        ns: VariantNs::from_medians(&medians),
        runs_ns,
        return_codes,
    }
}

fn target(packet: &'static str, metric: &'static str, target_ns: i64, measured_ns: i64) -> TargetCheck {
    TargetCheck {
        packet,
        metric,
        target_ns,
        measured_ns,
        met: measured_ns <= target_ns,
        difference_ns: measured_ns - target_ns,
    }
}

/// Issue 14's targets, each on the engine `workbench deploy` uses by default for the model.
pub(crate) fn targets(r: &PacketResult) -> [TargetCheck; 4] {
    [
        target(r.packet, "tree_code_ns", TARGET_TREE_NS, r.ns.tree_code_ns as i64),
        target(
            r.packet,
            "model_part_code_ns",
            TARGET_MODEL_PART_NS,
            r.ns.model_part_code_ns,
        ),
        target(
            r.packet,
            "logistic_code_ns",
            TARGET_LOGISTIC_NS,
            r.ns.logistic_code_ns as i64,
        ),
        target(
            r.packet,
            "forest_code_ns",
            TARGET_FOREST_NS,
            r.ns.forest_code_ns as i64,
        ),
    ]
}

/// The section's figures (headline packet): each probe variant against the empty program, the
/// tree and the model part against their targets; then the dispatch mechanisms' costs.
pub fn figures(r: &BenchReport) -> Vec<Figure> {
    let mut all = probe_figures(r);
    all.extend(r.dispatch.as_ref().map(dispatch_figures).unwrap_or_default());
    all
}

/// How the compiled model is reached, each mechanism against a tc program that returns at once.
fn dispatch_figures(d: &DispatchReport) -> Vec<Figure> {
    let baseline = "tc program returning at once (dispatch measurement)";
    let extra =
        |name: &str, v: i64| Figure::versus(name, v as f64, "ns", baseline, d.direct_ns as f64, false);
    let mut out = vec![
        extra(
            "probe_dispatch_tail_call_ns",
            d.tail_call_ns as i64 - d.direct_ns as i64,
        ),
        extra(
            "probe_dispatch_static_call_ns",
            d.static_call_ns as i64 - d.direct_ns as i64,
        ),
        extra("probe_dispatch_code_engine_ns", d.code_engine_extra_ns),
    ];
    if let Some(f) = &d.freplace {
        out.push(extra("probe_dispatch_freplace_ns", f.freplace_extra_ns));
    }
    out
}

fn probe_figures(r: &BenchReport) -> Vec<Figure> {
    let ns = &r.ns;
    let empty = ns.empty_ns as f64;
    let baseline = "empty tc program (BPF_PROG_TEST_RUN)";
    let vs = |name: &str, v: u32| Figure::versus(name, v as f64, "ns", baseline, empty, false);
    vec![
        vs("probe_no_model_ns_per_packet", ns.no_model_ns),
        vs("probe_tree_ns_per_packet", ns.tree_ns),
        vs("probe_tree_code_ns_per_packet", ns.tree_code_ns).with_target(
            &format!("<= {TARGET_TREE_NS} ns"),
            ns.tree_code_ns as i64 <= TARGET_TREE_NS,
        ),
        vs("probe_logistic_ns_per_packet", ns.logistic_ns),
        vs("probe_logistic_code_ns_per_packet", ns.logistic_code_ns).with_target(
            &format!("<= {TARGET_LOGISTIC_NS} ns"),
            ns.logistic_code_ns as i64 <= TARGET_LOGISTIC_NS,
        ),
        vs("probe_forest_ns_per_packet", ns.forest_ns),
        vs("probe_forest_code_ns_per_packet", ns.forest_code_ns).with_target(
            &format!("<= {TARGET_FOREST_NS} ns"),
            ns.forest_code_ns as i64 <= TARGET_FOREST_NS,
        ),
        vs(
            "probe_no_model_coarse_clock_ns_per_packet",
            ns.no_model_coarse_clock_ns,
        ),
        Figure::versus(
            "probe_flow_lock_ns_per_packet",
            ns.flow_lock_ns as f64,
            "ns",
            "probe with no model, built without the lock (no_model_unlocked_ns)",
            ns.no_model_unlocked_ns as f64,
            false,
        ),
        Figure::versus(
            "probe_model_part_ns_per_packet",
            ns.model_part_ns as f64,
            "ns",
            "probe with no model (no_model_ns)",
            ns.no_model_ns as f64,
            false,
        ),
        Figure::versus(
            "probe_model_part_code_ns_per_packet",
            ns.model_part_code_ns as f64,
            "ns",
            "probe with no model (no_model_ns)",
            ns.no_model_ns as f64,
            false,
        )
        .with_target(
            &format!("<= {TARGET_MODEL_PART_NS} ns"),
            ns.model_part_code_ns <= TARGET_MODEL_PART_NS,
        ),
    ]
}
