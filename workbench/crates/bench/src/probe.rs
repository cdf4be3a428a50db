//! `workbench bench probe`: the probe's cost per packet, measured by the kernel with
//! BPF_PROG_TEST_RUN on a private load of the probe that is attached to no interface.
//!
//! Seven variants on each benchmark packet: an empty tc program (the floor: test-run overhead and
//! the program call), the probe configured to decide nothing (parse, flow update, lookups), the
//! probe with no model, and the probe with a depth-12 tree, a 40-feature logistic model and a
//! forest of four depth-12 trees in the active slot. In those the configuration makes every
//! packet a decision point, where the probe computes the features the installed model reads
//! (none without a model). One more runs the tree at the default decision points (packets 1-32
//! of a flow, then every 16th): the per-packet cost of a long flow, decisions included. One test
//! run repeats the packet `repeat` times in the kernel;
//! the first repetition creates the flow, the rest update it, so the mean is the steady-state
//! cost of a packet of a known flow. Each variant is measured `runs` times, round-robin across
//! variants (so a slow phase of the machine hits all of them alike), and reported as the median.

use std::collections::BTreeMap;
use std::os::fd::AsFd;

use crate::error::{err, fail, Context, Result};
use aya::programs::SchedClassifier;
use aya::Ebpf;
use shared::abi::ProbeConfig;
use shared::features::{FeatureVector, FlowState};
use shared::model::Model;
use shared::packet::{parse_ethernet, FrameBytes, ParsedPacket};
use workbench_kernel::code::Engine;
use workbench_kernel::Error as KernelError;

pub use super::dispatch::{DispatchReport, FreplaceReport};
use super::machine::Machine;
use super::models::{self, ModelInfo, DEPTH};
pub use super::probe_report::{figures, BenchReport, FlowSeen, PacketResult, TargetCheck, VariantNs};
use super::probe_report::{packet_result, targets};
use workbench_flow::flowfmt::proto_name;
use workbench_kernel::lifecycle::private_pins::PrivatePins;
use workbench_kernel::models::ProbeModels;
use workbench_kernel::{caps, flows, probe, sys};

pub const DEFAULT_REPEAT: u32 = 200_000;
pub const DEFAULT_RUNS: usize = 7;
/// `--quick`: enough to show the shape in a few seconds.
pub const QUICK_REPEAT: u32 = 50_000;
pub const QUICK_RUNS: usize = 3;
/// The do-nothing classifier in the probe object.
pub use workbench_kernel::cost::EMPTY_PROGRAM;
/// Targets of the kernel model engine issue, checked on every benchmark packet.
/// Issue 14's targets, on the default engine (compiled code for the tree and the forest; a
/// logistic model is scored by the table interpreter).
pub const TARGET_TREE_NS: i64 = 130;
pub const TARGET_MODEL_PART_NS: i64 = 25;
pub const TARGET_LOGISTIC_NS: i64 = 150;
pub const TARGET_FOREST_NS: i64 = 170;
/// The packet whose numbers are the report's top-level keys.
pub const HEADLINE_PACKET: &str = "udp";

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Repetitions of the packet inside one BPF_PROG_TEST_RUN.
    pub repeat: u32,
    /// Test runs per variant and packet; the median is reported.
    pub runs: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            repeat: DEFAULT_REPEAT,
            runs: DEFAULT_RUNS,
        }
    }
}

/// A measured variant (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    Empty,
    NoDecision,
    NoModel,
    Tree,
    /// The tree with the default decision points (packets 1-32 of a flow, then every 16th):
    /// the benchmark flow is long past packet 32, so this is a long flow's per-packet cost.
    TreeDefaultDecisions,
    Logistic,
    Forest,
    /// `NoModel` on the probe built without the per-flow lock (a second private load): the
    /// lock's cost is `no_model_ns - no_model_unlocked_ns`.
    NoModelUnlocked,
    /// `NoModel` with the coarse clock (`deploy --clock coarse`): the clock's share of the cost
    /// is `no_model_ns - no_model_coarse_clock_ns`.
    NoModelCoarseClock,
    /// `Tree` and `Forest` scored by the code engine (`deploy --engine code`, the default): the
    /// models compiled to instructions in a copy of the probe reached by a tail call.
    TreeCode,
    ForestCode,
    /// The logistic model compiled (straight-line arithmetic, no branch).
    LogisticCode,
    /// `NoModel` with the code engine on (a copy of the probe in the program array holding
    /// only the previous model): the tail call into the copy succeeds, and nothing is scored.
    /// Its cost beyond `NoModel` is the tail call's (`tail_call_ns`).
    NoModelCode,
}

/// In this order in every round. The last one decides at every packet, so a flow's latest
/// decision is at its latest packet when the runs end.
const VARIANTS: [Variant; 13] = [
    Variant::Empty,
    Variant::NoDecision,
    Variant::NoModelUnlocked,
    Variant::NoModelCoarseClock,
    // After the coarse clock: sets the configuration back to the nanosecond clock.
    Variant::NoModel,
    Variant::Tree,
    Variant::TreeDefaultDecisions,
    Variant::Logistic,
    Variant::Forest,
    Variant::NoModelCode,
    Variant::TreeCode,
    Variant::ForestCode,
    Variant::LogisticCode,
];

impl Variant {
    pub(crate) fn key(self) -> &'static str {
        match self {
            Variant::Empty => "empty_ns",
            Variant::NoDecision => "no_decision_ns",
            Variant::NoModel => "no_model_ns",
            Variant::Tree => "tree_ns",
            Variant::TreeDefaultDecisions => "tree_default_decisions_ns",
            Variant::Logistic => "logistic_ns",
            Variant::Forest => "forest_ns",
            Variant::NoModelUnlocked => "no_model_unlocked_ns",
            Variant::NoModelCoarseClock => "no_model_coarse_clock_ns",
            Variant::TreeCode => "tree_code_ns",
            Variant::ForestCode => "forest_code_ns",
            Variant::LogisticCode => "logistic_code_ns",
            Variant::NoModelCode => "no_model_code_ns",
        }
    }
}

/// A benchmark packet: its frame and the flow it belongs to.
pub struct BenchPacket {
    pub name: &'static str,
    pub frame: Vec<u8>,
    pub proto: &'static str,
    pub src_port: u16,
    pub dst_port: u16,
}

/// The kernel crate's benchmark packets ([`workbench_kernel::cost::packets`]: a 64-byte
/// Ethernet/IPv4/UDP frame, as a DNS-sized datagram's frame without FCS, and a 54-byte TCP SYN
/// frame), each with the flow it belongs to. Their addresses change no figure here: no feature
/// reads an address, and the private load holds only these flows.
pub fn bench_packets() -> Result<Vec<BenchPacket>> {
    workbench_kernel::cost::packets()
        .into_iter()
        .map(|(name, frame)| {
            let p = parse(&frame)?;
            Ok(BenchPacket {
                name,
                proto: proto_name(p.proto),
                src_port: p.src_port,
                dst_port: p.dst_port,
                frame,
            })
        })
        .collect()
}

fn parse(frame: &[u8]) -> Result<ParsedPacket> {
    parse_ethernet(&FrameBytes {
        data: frame,
        wire_len_bytes: frame.len() as u32,
    })
    .map_err(|e| err!(Invalid, "a benchmark frame does not parse: {}", e.name()))
}

/// The feature vectors of a flow of copies of `frame` at packets 1, 2 and 1000 (one packet per
/// 100 ns, about the pace of a test run): the states a model sees in the benchmark.
fn flow_feature_vectors(frame: &[u8]) -> Result<Vec<FeatureVector>> {
    let parsed = parse(frame)?;
    let mut state = FlowState::start(&parsed, 0);
    let mut vectors = vec![state.features()];
    for n in 2..=1000u64 {
        state.update(&parsed, true, 100 * n);
        if n == 2 || n == 1000 {
            vectors.push(state.features());
        }
    }
    Ok(vectors)
}

/// The shallowest walk of any benchmark packet through `model`; fails below [`DEPTH`].
fn check_walk_depth(model: &Model, name: &str, packets: &[BenchPacket]) -> Result<usize> {
    let mut shallowest = usize::MAX;
    for p in packets {
        for v in flow_feature_vectors(&p.frame)? {
            let depth = models::min_walk_depth(model, &v);
            if depth < DEPTH {
                fail!(
                    Invalid,
                    "the benchmark {name} walks only {depth} levels for the {} packet; expected {DEPTH}",
                    p.name
                );
            }
            shallowest = shallowest.min(depth);
        }
    }
    Ok(shallowest)
}

/// A configuration where every packet is a decision point, or none is.
fn decide(every_packet: bool) -> ProbeConfig {
    let (first, every) = if every_packet { (u32::MAX, 1) } else { (0, 0) };
    ProbeConfig {
        decide_first_packets: first,
        decide_every: every,
        ..ProbeConfig::default()
    }
}

/// Writes `config` into a private load's configuration map (`bench probe`, `bench events`):
/// straight through aya, as the load has no interface for `models::write_config` to find.
pub(crate) fn set_config(ebpf: &mut Ebpf, config: ProbeConfig) -> Result<()> {
    Ok(workbench_kernel::cost::set_config(ebpf, config)?)
}

struct BenchModels {
    tree: Box<Model>,
    logistic: Box<Model>,
    forest: Box<Model>,
}

/// Puts the private probe in the state `variant` measures (model in the active slot, decision
/// points) and returns the program to run.
fn prepare(
    variant: Variant,
    slots: &ProbeModels,
    ebpf: &mut Ebpf,
    m: &BenchModels,
    code_verified: &mut BTreeMap<&'static str, u32>,
    code_inlined: &mut BTreeMap<&'static str, bool>,
) -> Result<&'static str> {
    // The table engine first for every variant (an empty code slot: the tail call at the
    // probe's start fails and costs what it costs in a table-engine deployment); the code
    // variants then compile their model once.
    slots.set_engine(Engine::Table)?;
    match variant {
        Variant::Empty => return Ok(EMPTY_PROGRAM),
        Variant::NoDecision => {
            slots.deploy(&m.tree)?;
            set_config(ebpf, decide(false))?;
        }
        Variant::NoModel => {
            slots.clear_active()?;
            set_config(ebpf, decide(true))?;
        }
        Variant::NoModelCoarseClock => {
            slots.clear_active()?;
            set_config(
                ebpf,
                ProbeConfig {
                    clock: shared::abi::CLOCK_COARSE,
                    ..decide(true)
                },
            )?;
        }
        Variant::Tree => slots.deploy(&m.tree)?,
        Variant::TreeDefaultDecisions => {
            slots.deploy(&m.tree)?;
            set_config(ebpf, ProbeConfig::default())?;
        }
        Variant::Logistic => {
            slots.deploy(&m.logistic)?;
            set_config(ebpf, decide(true))?;
        }
        Variant::Forest => slots.deploy(&m.forest)?,
        Variant::TreeCode | Variant::ForestCode | Variant::LogisticCode => {
            slots.deploy(match variant {
                Variant::TreeCode => &m.tree,
                Variant::ForestCode => &m.forest,
                _ => &m.logistic,
            })?;
            // Compiles the active model into a new copy of the probe (a verifier load per
            // round: outside the timed test runs).
            let code = slots.set_engine(Engine::Code)?;
            // A model the code engine left to the table would measure the table here.
            if code.active.as_ref().is_none_or(|a| a.instructions == 0) {
                fail!(
                    Measure,
                    "{}: the benchmark model was not compiled ({:?})",
                    variant.key(),
                    code.active.and_then(|a| a.table_because)
                );
            }
            if let Some(n) = code.verified_instructions {
                code_verified.insert(variant.key(), n);
            }
            code_inlined.insert(variant.key(), code.active.is_some_and(|a| a.inlined));
        }
        Variant::NoModelCode => {
            slots.clear_active()?;
            set_config(ebpf, decide(true))?;
            let code = slots.set_engine(Engine::Code)?;
            if code.program_id.is_none() {
                fail!(
                    Measure,
                    "no_model_code_ns: the code engine installed no copy of the probe"
                );
            }
        }
        // The unlocked load keeps its configuration (set once) and has no model.
        Variant::NoModelUnlocked => {}
    }
    Ok(probe::PROGRAM_NAME)
}

/// Measurements of one packet: (variant, durations and return codes of every run).
pub(crate) type Measured = Vec<(Variant, Vec<u32>, Vec<u32>)>;

/// Runs the benchmark. Needs CAP_BPF; attaches nothing; removes its pins also on error.
pub fn run(options: &Options) -> Result<BenchReport> {
    caps::require_kernel_access("benchmarking the probe")?;
    if options.repeat == 0 || options.runs == 0 {
        fail!(Invalid, "--repeat and the number of runs must be at least 1");
    }
    let packets = bench_packets()?;
    let bench_models = BenchModels {
        tree: models::full_tree()?,
        logistic: models::logistic()?,
        forest: models::forest()?,
    };
    let (tree, forest) = (&bench_models.tree, &bench_models.forest);
    let mut model_info = BTreeMap::new();
    model_info.insert(
        "tree",
        ModelInfo::of(tree, Some(check_walk_depth(tree, "tree", &packets)?)),
    );
    model_info.insert(
        "forest",
        ModelInfo::of(forest, Some(check_walk_depth(forest, "forest", &packets)?)),
    );
    model_info.insert("logistic", ModelInfo::of(&bench_models.logistic, None));

    let pid = std::process::id();
    let pins = PrivatePins::create("bench probe", &format!("bench-{pid}"))?;
    let pins_unlocked = PrivatePins::create("bench probe", &format!("bench-{pid}-unlocked"))?;
    let (dir, dir_unlocked) = (pins.dir().to_path_buf(), pins_unlocked.dir().to_path_buf());

    let mut loaded = probe::load(&dir, &probe::AttachOptions::default())?;
    if !loaded.flow_lock {
        fail!(
            Unavailable,
            "this kernel ({}) refuses BPF atomics (Linux 5.12): the probe runs without its per-flow lock, so there is no lock cost to measure",
            workbench_kernel::features::kernel_release()
        );
    }
    let mut unlocked = probe::load(
        &dir_unlocked,
        &probe::AttachOptions {
            flow_lock: probe::FlowLock::Off,
            ..Default::default()
        },
    )?;
    set_config(&mut unlocked.ebpf, decide(true))?;
    // Everything below works on file descriptors, not on the pins: a `probe cleanup` from
    // another process that removes them mid-run cannot make the benchmark read the wrong maps.
    let slots = ProbeModels::open_dir(&dir, "bench")?;
    let empty: &mut SchedClassifier = loaded
        .ebpf
        .program_mut(EMPTY_PROGRAM)
        .ok_or_else(|| KernelError::missing_program(EMPTY_PROGRAM))?
        .try_into()?;
    empty
        .load()
        .context(|| "the kernel verifier rejected the empty program")?;

    eprintln!(
        "bench probe: {} runs x {} variants x {} packets, {} repetitions each",
        options.runs,
        VARIANTS.len(),
        packets.len(),
        options.repeat
    );
    let mut measured: Vec<Measured> = packets
        .iter()
        .map(|_| VARIANTS.iter().map(|&v| (v, Vec::new(), Vec::new())).collect())
        .collect();
    let (mut code_verified, mut code_inlined) = (BTreeMap::new(), BTreeMap::new());
    for _ in 0..options.runs {
        workbench_kernel::lifecycle::check()?;
        for (vi, &variant) in VARIANTS.iter().enumerate() {
            let program = prepare(
                variant,
                &slots,
                &mut loaded.ebpf,
                &bench_models,
                &mut code_verified,
                &mut code_inlined,
            )?;
            let ebpf = if variant == Variant::NoModelUnlocked {
                &unlocked.ebpf
            } else {
                &loaded.ebpf
            };
            let fd = ebpf
                .program(program)
                .ok_or_else(|| KernelError::missing_program(program))?
                .fd()?
                .as_fd();
            for (pi, p) in packets.iter().enumerate() {
                let run = sys::prog_test_run(fd, &p.frame, options.repeat).map_err(|e| {
                    e.within(format!("test run of {} on the {} packet", variant.key(), p.name))
                })?;
                let (_, durations, codes) = &mut measured[pi][vi];
                durations.push(run.duration_ns);
                if !codes.contains(&run.retval) {
                    codes.push(run.retval);
                }
            }
        }
    }

    let mut take = |name: &str| {
        loaded
            .ebpf
            .take_map(name)
            .ok_or_else(|| KernelError::missing_map(name))
    };
    let (flow_map, stats_map) = (take(probe::FLOWS_MAP)?, take(probe::STATS_MAP)?);
    let table = flows::read_maps("bench", flow_map, stats_map)?;
    let verified_instructions = loaded.verified_instructions;
    let verified_instructions_unlocked = unlocked.verified_instructions;
    drop(loaded);
    drop(unlocked);
    pins.remove()?;
    pins_unlocked.remove()?;

    let results: Vec<PacketResult> = packets
        .iter()
        .zip(measured)
        .map(|(p, m)| packet_result(p, m))
        .collect();
    let headline_frame = packets
        .iter()
        .find(|p| p.name == HEADLINE_PACKET)
        .map_or(&[][..], |p| p.frame.as_slice());
    let headline = results
        .iter()
        .find(|r| r.packet == HEADLINE_PACKET)
        .ok_or_else(|| err!(Measure, "no {HEADLINE_PACKET} packet among the benchmark packets"))?;
    let flows = table
        .flows
        .iter()
        .map(|f| FlowSeen {
            packet: packets
                .iter()
                .find(|p| p.proto == f.proto && p.src_port == f.src_port && p.dst_port == f.dst_port)
                .map_or("other", |p| p.name),
            proto: f.proto,
            src_port: f.src_port,
            dst_port: f.dst_port,
            packets: f.fwd_packets + f.bwd_packets,
            decided_at_packet: f.decided_at_packet,
            verdict: f.verdict,
        })
        .collect();
    // The dispatch mechanisms alone, after the probe's runs (its loads are gone by now).
    let dispatch =
        super::dispatch::measure(headline_frame, options.repeat, options.runs).map_err(|e| format!("{e:#}"));
    let machine = Machine::this();
    Ok(BenchReport {
        headline_packet: HEADLINE_PACKET,
        ns: headline.ns,
        repeat: options.repeat,
        runs: options.runs,
        kernel: machine.kernel.clone(),
        machine,
        verified_instructions,
        verified_instructions_unlocked,
        code_verified_instructions: code_verified,
        code_inlined,
        targets: results.iter().flat_map(targets).collect(),
        packets: results,
        models: model_info,
        flows,
        probe_stats: table.stats,
        pin_dir: dir.display().to_string(),
        dispatch_skipped: dispatch.as_ref().err().cloned(),
        dispatch: dispatch.ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_report_met_and_missed_with_the_difference() {
        let [tree, part, logistic, forest] = targets(&PacketResult {
            packet: "udp",
            frame_bytes: 64,
            ns: VariantNs {
                empty_ns: 20,
                no_decision_ns: 90,
                no_model_ns: 100,
                no_model_unlocked_ns: 90,
                flow_lock_ns: 10,
                no_model_coarse_clock_ns: 80,
                clock_ns: 20,
                tree_ns: 140,
                tree_default_decisions_ns: 0,
                logistic_ns: 0,
                forest_ns: 0,
                model_part_ns: 40,
                tree_code_ns: 120,
                forest_code_ns: 170,
                logistic_code_ns: 160,
                model_part_code_ns: 30,
                no_model_code_ns: 108,
                tail_call_ns: 8,
            },
            runs_ns: BTreeMap::new(),
            return_codes: BTreeMap::new(),
        });
        assert_eq!(
            (tree.metric, tree.met, tree.difference_ns),
            ("tree_code_ns", true, -10)
        );
        assert_eq!((part.met, part.difference_ns), (false, 5));
        assert_eq!((logistic.met, logistic.difference_ns), (false, 10));
        assert_eq!((forest.met, forest.difference_ns), (true, 0));
    }

    #[test]
    fn benchmark_packets_are_what_they_claim() {
        let packets = bench_packets().expect("the benchmark frames parse");
        let [udp, syn] = &packets[..] else {
            panic!("two benchmark packets, got {}", packets.len());
        };
        assert_eq!(
            (udp.name, udp.frame.len(), udp.proto, udp.src_port, udp.dst_port),
            ("udp", 64, "udp", 40_000, 53)
        );
        assert_eq!(
            (syn.name, syn.frame.len(), syn.proto, syn.src_port, syn.dst_port),
            ("tcp_syn", 54, "tcp", 40_001, 80)
        );
        let p = parse(&syn.frame).expect("parses");
        assert_eq!(p.tcp_flags, workbench_flow::craft::TCP_SYN);
    }

    #[test]
    fn every_benchmark_walk_is_12_deep() {
        let packets = bench_packets().expect("the benchmark frames parse");
        for m in [models::full_tree(), models::forest()] {
            let m = m.expect("model");
            assert_eq!(check_walk_depth(&m, "model", &packets).expect("deep"), DEPTH);
        }
        // A two-level tree is refused.
        let shallow = workbench_flow::model::build::tree(
            &[
                workbench_flow::model::build::Node::Split {
                    feature: 39,
                    threshold: 1,
                    left: 1,
                    right: 2,
                },
                workbench_flow::model::build::Node::Leaf { score: 0 },
                workbench_flow::model::build::Node::Leaf { score: 1 },
            ],
            1,
        )
        .expect("tree");
        let err = check_walk_depth(&shallow, "shallow", &packets).expect_err("too shallow");
        assert!(err.to_string().contains("walks only 1 levels"), "{err}");
    }
}
