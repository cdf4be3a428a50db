//! Hot swap under traffic: while UDP flows stream through the probe, userspace swaps the active
//! model between A and B 1000 times; afterwards every flow's recorded decision must be exactly
//! what one of the two complete models gives for that flow's state, never a mix of both.
//!
//! A and B are logistic models built so that any mix of their parts (id, threshold, bias,
//! terms) records a decision that neither complete model would: every term of B adds strictly
//! more than A's on every flow sent here (all the features they read are >= 1 on such flows),
//! so a score made of some parts of each lies strictly between A's and B's. The tests check
//! that property on the flows themselves, so the kernel check can actually fail.
//!
//! Traffic goes only between the two ends of a veth pair whose other end lives in a namespace
//! the test creates. The test runs twice: with the probe attached as the kernel chooses (TCX
//! here) and forced through the classic path (cls_bpf filters, as on kernels before 6.6); one
//! after the other, since each keeps a CPU busy sending.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::{report, DetachOnDrop};
use shared::abi::ProbeConfig;
use shared::features::{feature_id, FeatureVector, FlowState, FEATURE_COUNT};
use shared::flow::{VERDICT_BENIGN, VERDICT_MALICIOUS, VERDICT_NONE};
use shared::model::{LogisticTerm, Model, TRANSFORM_IDENTITY, TRANSFORM_LOG2};
use shared::packet::{parse_ethernet, FrameBytes};
use shared::{FlowEntry, FlowKey};
use workbench_flow::craft::{self, Ipv4Endpoints};
use workbench_flow::model::build;
use workbench_kernel::code::Engine;
use workbench_kernel::events::raw_flows;
use workbench_kernel::lab::traffic::{UdpFlows, UdpFlowsReport, UdpSink};
use workbench_kernel::lab::Lab;
use workbench_kernel::models::{write_config, ProbeModels};
use workbench_kernel::probe::{self, AttachOptions};
use workbench_kernel::tc::AttachMode;

/// Swaps per hot-swap test under traffic (the compiled-tree test in `code_engine` makes as many).
pub(crate) const SWAPS: usize = 1000;
pub(crate) const SINK_PORT: u16 = 9300;

/// The terms of the two models: (feature, transform, weight in A, weight in B). Every feature
/// here is >= 1 on a UDP flow whose datagrams carry at least one payload byte, and B's weight
/// is larger, so each of B's terms adds strictly more than A's. The payload length features
/// carry the weight: they stay the same when the sender's ports come round again and a flow
/// continues, so the thresholds (set from one round) keep splitting the flows; the growing
/// counts have small weights.
const TERMS: [(&str, u8, i32, i32); 5] = [
    ("fwd_len_max", TRANSFORM_IDENTITY, 90, 130),
    ("fwd_len_min", TRANSFORM_IDENTITY, 60, 80),
    ("fwd_len_mean", TRANSFORM_IDENTITY, 70, 100),
    ("fwd_payload_bytes", TRANSFORM_LOG2, 4, 6),
    ("packets", TRANSFORM_IDENTITY, 20, 30),
];
const BIAS_A: i64 = -120_000;
/// Larger than A's for the same reason as the weights.
const BIAS_B: i64 = BIAS_A + 3_000;

/// The traffic: short flows of 1-4 datagrams with 16-1015 payload bytes each (so every feature
/// the models read is >= 1), from one CPU (see `UdpFlows::pin_cpu`).
pub(crate) fn load() -> UdpFlows {
    UdpFlows {
        dst_port: SINK_PORT,
        src_ports: 20_000..=59_999,
        max_datagrams: 4,
        min_payload: 16,
        max_payload: 1015,
        // Under this load the swaps take about 30 s here (33 per second); the limit keeps the
        // test under a minute if they ever stall, and the test then fails (see below).
        max_duration: Duration::from_secs(50),
        pin_cpu: true,
    }
}

/// Flows rebuilt in userspace exactly as `load()` sends them, updated by the shared code; used
/// to set thresholds and to check the mixes without a kernel.
pub(crate) fn synthetic_features(load: &UdpFlows, flows: u64) -> Vec<FeatureVector> {
    let ep = Ipv4Endpoints {
        src_mac: [0x02, 0, 0, 0, 0, 2],
        dst_mac: [0x02, 0, 0, 0, 0, 1],
        src: std::net::Ipv4Addr::new(10, 203, 0, 2),
        dst: std::net::Ipv4Addr::new(10, 203, 0, 1),
        ttl: 64,
    };
    (0..flows)
        .map(|i| {
            let mut state: Option<FlowState> = None;
            for (j, len) in load.payloads(i).into_iter().enumerate() {
                let frame = craft::ipv4_udp(&ep, load.src_port(i), load.dst_port, &vec![0x5a; len]);
                let bytes = FrameBytes {
                    data: &frame,
                    wire_len_bytes: frame.len() as u32,
                };
                let p = parse_ethernet(&bytes).expect("a crafted UDP frame parses");
                let ts = 1_000_000 * (j as u64 + 1);
                match state.as_mut() {
                    Some(s) => s.update(&p, true, ts),
                    None => state = Some(FlowState::start(&p, ts)),
                }
            }
            state.expect("every flow sends a datagram").features()
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    A,
    B,
}

/// One decision as the probe records it in a flow entry.
#[derive(Clone, Copy, Debug)]
struct Recorded {
    model_id: u32,
    score: i64,
    verdict: u8,
}

/// What the probe's decision code does with a model: score, then compare with the threshold.
fn evaluate(model: &Model, features: &FeatureVector) -> Recorded {
    let score = model.score(features);
    Recorded {
        model_id: model.header.model_id,
        score,
        verdict: if model.is_malicious(score) {
            VERDICT_MALICIOUS
        } else {
            VERDICT_BENIGN
        },
    }
}

fn logistic(bias: i64, weight: impl Fn(&(&str, u8, i32, i32)) -> i32, threshold: i64) -> Box<Model> {
    let terms: Vec<(usize, LogisticTerm)> = TERMS
        .iter()
        .map(|t| {
            let term = LogisticTerm {
                weight: weight(t),
                shift: 0,
                transform: t.1,
                _pad: [0; 2],
            };
            (feature_id(t.0).expect("known feature"), term)
        })
        .collect();
    build::logistic(&terms, bias, threshold).expect("valid logistic model")
}

/// The median score of `model` over `vectors`: the threshold that splits these flows in two,
/// so that verdicts are not all one value and the verdict check means something.
fn median_score(model: &Model, vectors: &[FeatureVector]) -> i64 {
    let mut scores: Vec<i64> = vectors.iter().map(|v| model.score(v)).collect();
    scores.sort_unstable();
    scores[scores.len() / 2]
}

struct Pair {
    a: Box<Model>,
    b: Box<Model>,
}

impl Pair {
    /// A and B, each with its threshold at the median of its scores on the flows `load()` sends.
    fn new() -> Pair {
        let vectors = synthetic_features(&load(), 4_000);
        let a0 = logistic(BIAS_A, |t| t.2, 0);
        let b0 = logistic(BIAS_B, |t| t.3, 0);
        let a = logistic(BIAS_A, |t| t.2, median_score(&a0, &vectors));
        let b = logistic(BIAS_B, |t| t.3, median_score(&b0, &vectors));
        assert_ne!(a.header.model_id, b.header.model_id);
        assert_ne!(a.header.threshold, b.header.threshold);
        Pair { a, b }
    }

    /// Ok(which) when `rec` is exactly the decision of the complete model it names, given that
    /// A and B score `scores` on this flow; otherwise why not.
    fn explain_with(&self, rec: &Recorded, scores: [i64; 2]) -> Result<Which, String> {
        let (which, model, expected) = if rec.model_id == self.a.header.model_id {
            (Which::A, &self.a, scores[0])
        } else if rec.model_id == self.b.header.model_id {
            (Which::B, &self.b, scores[1])
        } else {
            return Err(format!("model id {:08x} is neither A nor B", rec.model_id));
        };
        let verdict = if model.is_malicious(expected) {
            VERDICT_MALICIOUS
        } else {
            VERDICT_BENIGN
        };
        if rec.score != expected || rec.verdict != verdict {
            return Err(format!(
                "recorded {rec:?} under {which:?}, but {which:?} gives score {expected} verdict {verdict} \
                 (A scores {}, B scores {})",
                scores[0], scores[1]
            ));
        }
        Ok(which)
    }

    fn explain(&self, rec: &Recorded, features: &FeatureVector) -> Result<Which, String> {
        self.explain_with(rec, [self.a.score(features), self.b.score(features)])
    }
}

/// The parts a model could be torn into by a copy, in the order they lie in memory.
#[derive(Clone, Copy, Debug)]
enum Part {
    ModelId,
    Threshold,
    Bias,
    Term(usize),
}

fn parts() -> Vec<Part> {
    let mut terms: Vec<usize> = TERMS
        .iter()
        .map(|t| feature_id(t.0).expect("known feature"))
        .collect();
    terms.sort_unstable();
    [Part::ModelId, Part::Threshold, Part::Bias]
        .into_iter()
        .chain(terms.into_iter().map(Part::Term))
        .collect()
}

fn copy_part(dst: &mut Model, src: &Model, part: Part) {
    match part {
        Part::ModelId => dst.header.model_id = src.header.model_id,
        Part::Threshold => dst.header.threshold = src.header.threshold,
        Part::Bias => dst.header.bias = src.header.bias,
        Part::Term(i) => dst.terms[i] = src.terms[i],
    }
}

/// A with the parts whose bit is set in `mask` taken from B.
fn mix(pair: &Pair, parts: &[Part], mask: u32) -> Box<Model> {
    let mut m = pair.a.clone();
    for (k, part) in parts.iter().enumerate() {
        if mask & (1 << k) != 0 {
            copy_part(&mut m, &pair.b, *part);
        }
    }
    m
}

/// Checks every mix of A's and B's parts against `vectors` and returns a summary. A mix whose
/// scoring parts (id, bias, terms) do not all come from one model must be flagged on every
/// vector; a mix that differs only in the threshold changes just the verdicts of flows scored
/// between the two thresholds, so it must be flagged on at least one vector. The two complete
/// models must pass on every vector.
fn check_mixes(pair: &Pair, vectors: &[FeatureVector]) -> String {
    let parts = parts();
    let all = (1u32 << parts.len()) - 1;
    let threshold_bit = 1u32 << 1;
    let mixes: Vec<(u32, Box<Model>)> = (0..=all).map(|mask| (mask, mix(pair, &parts, mask))).collect();
    let mut flagged = vec![0usize; mixes.len()];
    for v in vectors {
        let scores = [pair.a.score(v), pair.b.score(v)];
        for (mask, model) in &mixes {
            if pair.explain_with(&evaluate(model, v), scores).is_err() {
                flagged[*mask as usize] += 1;
            }
        }
    }
    let (mut always, mut sometimes) = (0, 0);
    for mask in 0..=all {
        let n = flagged[mask as usize];
        let scoring = mask & !threshold_bit;
        if mask == 0 || mask == all {
            assert_eq!(n, 0, "complete model {mask:#b} flagged on {n} flows");
        } else if scoring == 0 || scoring == all & !threshold_bit {
            assert!(n > 0, "threshold-only mix {mask:#b} flagged on no flow");
            sometimes += 1;
        } else {
            assert_eq!(
                n,
                vectors.len(),
                "mix {mask:#b} of parts {parts:?} passed for {} of {} flows",
                vectors.len() - n,
                vectors.len()
            );
            always += 1;
        }
    }
    format!(
        "{} mixes of {} parts on {} distinct flows: {always} flagged on every flow, {sometimes} (threshold only) on some",
        always + sometimes,
        parts.len(),
        vectors.len()
    )
}

/// The distinct vectors among `vectors` as far as the models can tell: only the features of
/// `TERMS` kept, the rest zero. Every mix reads only those features (A and B have terms on the
/// same ones), so checking the mixes on these is checking them on every vector, much faster.
fn distinct_read_features(vectors: &[FeatureVector]) -> Vec<FeatureVector> {
    let ids: Vec<usize> = TERMS
        .iter()
        .map(|t| feature_id(t.0).expect("known feature"))
        .collect();
    let distinct: std::collections::BTreeSet<Vec<i64>> = vectors
        .iter()
        .map(|v| ids.iter().map(|&i| v[i]).collect())
        .collect();
    distinct
        .into_iter()
        .map(|values| {
            let mut v = [0i64; FEATURE_COUNT];
            for (&i, value) in ids.iter().zip(values) {
                v[i] = value;
            }
            v
        })
        .collect()
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn every_mix_of_the_two_models_is_detected() {
    let pair = Pair::new();
    let summary = check_mixes(&pair, &synthetic_features(&load(), 4_000));
    report(&format!("hot swap check has teeth (userspace): {summary}"));
}

/// What overwriting the active model in place (the wrong way to swap) would leave behind for a
/// packet that reads it mid-copy: every intermediate state of a field-by-field copy of B over A
/// (and of A over B) is flagged on every flow, and only the finished copy passes.
#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn overwriting_a_model_in_place_is_detected_at_every_step() {
    let pair = Pair::new();
    let vectors = synthetic_features(&load(), 500);
    for (from, to, target) in [(&pair.a, &pair.b, Which::B), (&pair.b, &pair.a, Which::A)] {
        let mut torn = from.clone();
        let parts = parts();
        for (step, part) in parts.iter().enumerate() {
            copy_part(&mut torn, to, *part);
            let last = step + 1 == parts.len();
            for v in &vectors {
                let verdict = pair.explain(&evaluate(&torn, v), v);
                if last {
                    assert_eq!(verdict, Ok(target), "the finished copy is {target:?}");
                } else {
                    assert!(
                        verdict.is_err(),
                        "copying towards {target:?}, after {part:?} the torn model passed as {verdict:?}"
                    );
                }
            }
        }
    }
}

/// Raises the stop flag when dropped, so the sender ends also when the swapping side fails.
struct RaiseOnDrop<'a>(&'a AtomicBool);

impl Drop for RaiseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs `load` into the lab and, once a datagram has reached `sink`, `swaps` (which may ask
/// whether the sender has stopped); then stops the sender, also when `swaps` panics. The
/// sender's report and what `swaps` returned, None when the sender stopped before traffic
/// flowed (its error is in the report).
pub(crate) fn while_traffic_flows<T: Send>(
    lab: &Lab,
    sink: &UdpSink,
    load: &UdpFlows,
    swaps: impl FnOnce(&dyn Fn() -> bool) -> T + Send,
) -> (workbench_kernel::Result<UdpFlowsReport>, Option<T>) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let sender = scope.spawn(|| load.run(lab, &stop));
        let raise = RaiseOnDrop(&stop);
        // Swap only once traffic flows; a sender that failed to start ends at once and its
        // error is reported by the join below.
        let deadline = Instant::now() + Duration::from_secs(5);
        while sink.received() == 0 && !sender.is_finished() {
            assert!(Instant::now() < deadline, "no datagram reached the sink in 5 s");
            std::thread::sleep(Duration::from_millis(10));
        }
        let done = (!sender.is_finished()).then(|| swaps(&|| sender.is_finished()));
        drop(raise);
        (sender.join().expect("the sender thread does not panic"), done)
    })
}

/// Swaps A and B `SWAPS` times (B first: A is active when traffic starts).
fn swap(models: &ProbeModels, pair: &Pair) -> Duration {
    let started = Instant::now();
    for i in 0..SWAPS {
        let next = if i % 2 == 0 { &pair.b } else { &pair.a };
        models.deploy(next).expect("swap the active model");
    }
    started.elapsed()
}

/// The flow table once it has stopped changing: two reads 200 ms apart agree (10 s at most).
/// A decision's score is from the flow's state at that packet; with every packet a decision
/// point, the stored score is from the final state only once no packet is still in flight.
pub(crate) fn settled_flows(iface: &str) -> Vec<(FlowKey, FlowEntry)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = raw_flows(iface).expect("read the flow table");
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = raw_flows(iface).expect("read the flow table");
        let packets =
            |t: &[(FlowKey, FlowEntry)]| t.iter().map(|(_, e)| u64::from(e.state.packets())).sum::<u64>();
        if now.len() == last.len() && packets(&now) == packets(&last) {
            return now;
        }
        assert!(Instant::now() < deadline, "the flow table kept changing for 10 s");
        last = now;
    }
}

/// The two runs take turns (each keeps a CPU busy sending).
pub(crate) static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn hot_swap_under_traffic_never_mixes_two_models() {
    crate::common::require_kernel("hot_swap_under_traffic_never_mixes_two_models");
    hot_swap_under_traffic(AttachMode::Auto, Engine::Code, "s", 0);
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn hot_swap_through_cls_bpf_never_mixes_two_models() {
    crate::common::require_kernel("hot_swap_through_cls_bpf_never_mixes_two_models");
    hot_swap_under_traffic(AttachMode::Tc, Engine::Table, "t", 1);
}

/// The test, with the probe attached in `mode` and the models scored by `engine`, on lab
/// `<tag><pid>` in subnet `offset` + pid. With the code engine, the copy holds both models
/// after the first swap, so every later swap is one map update and the code scores every
/// packet, the first swap's included (its copy goes in before the slot changes).
fn hot_swap_under_traffic(mode: AttachMode, engine: Engine, tag: &str, offset: u32) {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let pair = Pair::new();
    let pid = std::process::id();
    let lab = Lab::create(
        &format!("{tag}{}", pid % 100_000),
        ((pid + offset) % 200) as u8 + 4,
    )
    .expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.as_str();
    let attached = probe::attach(
        h,
        &AttachOptions {
            mode,
            ..AttachOptions::default()
        },
    )
    .expect("attach the probe");
    if mode == AttachMode::Tc {
        assert_eq!(attached.attach_mode, "tc", "{attached:?}");
    }
    // Every packet is a decision point, so each flow's stored decision is from its final state.
    let config = ProbeConfig {
        decide_first_packets: u32::MAX,
        decide_every: 0,
        ..ProbeConfig::default()
    };
    write_config(h, &config, workbench_kernel::enforce::DefaultRoute::Refuse)
        .expect("write the probe configuration");
    let models = ProbeModels::open(h).expect("open the map of models");
    models.deploy(&pair.a).expect("deploy A");
    models.set_engine(engine).expect("the engine");
    // No echo: each flow's frames then all come from the one pinned sender thread, in order on
    // one CPU, so no two CPUs update one flow at the same instant (that race can lose an update
    // and would show here as a score that matches neither model; docs/ARCHITECTURE.md).
    let sink = UdpSink::bind(lab.host_addr, SINK_PORT, false).expect("UDP sink");
    let load = load();
    let (sent, swap_time) = while_traffic_flows(&lab, &sink, &load, |_| swap(&models, &pair));
    let sent = sent.expect("send the UDP flows");
    let swap_time = swap_time.expect("the sender stopped before the swaps began");
    assert!(
        sent.elapsed < load.max_duration,
        "the sender ran into its time limit: the swaps took {swap_time:?}"
    );

    let flows = settled_flows(h);
    let (mut by_a, mut by_b, mut verdicts, mut failures) = (0u64, 0u64, [[0u64; 3]; 2], Vec::new());
    let mut timeline = Vec::new();
    let mut vectors = Vec::new();
    for (key, entry) in &flows {
        if entry.verdict == VERDICT_NONE {
            continue;
        }
        let features = entry.state.features();
        let rec = Recorded {
            model_id: entry.model_id,
            score: entry.score,
            verdict: entry.verdict,
        };
        if entry.decided_at_packet != entry.state.packets() {
            failures.push(format!(
                "{key:?}: decided at packet {} of {}",
                entry.decided_at_packet,
                entry.state.packets()
            ));
        }
        match pair.explain(&rec, &features) {
            Ok(which) => {
                match which {
                    Which::A => by_a += 1,
                    Which::B => by_b += 1,
                }
                verdicts[which as usize][usize::from(entry.verdict)] += 1;
                timeline.push((entry.state.last_ts_ns, which));
            }
            Err(why) => failures.push(format!("port {}: {why}", key.port_lo.max(key.port_hi))),
        }
        vectors.push(features);
    }
    let evaluated = vectors.len();
    assert!(
        failures.is_empty(),
        "{} of {evaluated} evaluated flows are not one complete model's decision; first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    // Model changes along the flows' last packets: how many swaps the traffic saw.
    timeline.sort_unstable_by_key(|t| t.0);
    let changes = timeline.windows(2).filter(|w| w[0].1 != w[1].1).count();
    assert!(evaluated > 500, "only {evaluated} evaluated flows");
    assert!(by_a > 0 && by_b > 0, "flows by A: {by_a}, by B: {by_b}");
    // Only each flow's last decision is kept, and the sender's ports come round every 40,000
    // flows, so the flows show the swaps of about the last round; at least A -> B -> A (or
    // B -> A -> B) there means the swaps happened while this traffic flowed.
    assert!(
        changes >= 2,
        "{changes} model changes along the flows' last packets"
    );
    for (which, v) in [("A", verdicts[0]), ("B", verdicts[1])] {
        assert!(
            v[usize::from(VERDICT_BENIGN)] > 0 && v[usize::from(VERDICT_MALICIOUS)] > 0,
            "{which} gave one verdict only (benign {}, malicious {}): the verdict check would be empty",
            v[1],
            v[2]
        );
    }
    // The property that makes the check above able to fail, on the very flows it checked.
    let teeth = check_mixes(&pair, &distinct_read_features(&vectors));
    let stats = workbench_kernel::flows::read_stats(h).expect("stats");
    let (code, evaluations) = (
        stats.get("code_evaluations").copied().unwrap_or(0),
        stats.get("evaluations").copied().unwrap_or(0),
    );
    match engine {
        Engine::Code => assert_eq!(code, evaluations, "every decision by the compiled models"),
        Engine::Table => assert_eq!(code, 0, "the table engine ran code"),
    }
    let secs = swap_time.as_secs_f64();
    report(&format!(
        "kernel test ({}, {} engine, {code} of {evaluations} evaluations by the code): {SWAPS} hot swaps in {secs:.1} s ({:.0} swaps/s) under {} datagrams in {} flows \
         ({:.1} s, {} reached the sink); {evaluated} evaluated flows, {by_a} by A and {by_b} by B, \
         {changes} model changes along the flows' last packets, none a mix (verdicts benign/malicious: \
         A {}/{}, B {}/{}); {teeth}",
        attached.attach_mode,
        engine.name(),
        SWAPS as f64 / secs,
        sent.datagrams,
        sent.flows,
        sent.elapsed.as_secs_f64(),
        sink.received(),
        verdicts[0][1],
        verdicts[0][2],
        verdicts[1][1],
        verdicts[1][2]
    ));
}
