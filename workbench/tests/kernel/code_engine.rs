//! The code engine in the kernel (issue 14, "the model as code"): random trees, forests and
//! logistic models, compiled to instructions and linked into a copy of the probe, decide every flow of a
//! generated capture exactly as the userspace twin's table interpreter does (`verify`); the
//! engine follows the slots through rollback and promotion and gives way to the table; and
//! swapping two compiled trees under traffic never records a decision that is not one complete
//! model's.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use shared::abi::ProbeConfig;
use shared::features::{feature_id, FeatureVector, FEATURE_COUNT};
use shared::flow::{VERDICT_BENIGN, VERDICT_MALICIOUS, VERDICT_NONE};
use shared::model::Model;
use workbench_flow::model::build::{self, Node};

use super::hot_swap::{
    load, settled_flows, synthetic_features, while_traffic_flows, ONE_AT_A_TIME, SINK_PORT, SWAPS,
};
use crate::common::{report, save_model, workbench_json, DetachOnDrop, TempDir};
use workbench_kernel::code::Engine;
use workbench_kernel::lab::traffic::UdpSink;
use workbench_kernel::lab::Lab;
use workbench_kernel::models::{write_config, ProbeModels};
use workbench_kernel::probe::{self, AttachOptions};

/// A random tree on the capture's features: splits at thresholds spread over many orders of
/// magnitude (counts, bytes, microseconds), so flows go down many paths; leaf scores either
/// side of the threshold 0.
fn random_tree(rng: &mut ChaCha8Rng, depth: usize, nodes: &mut Vec<Node>) -> usize {
    let at = nodes.len();
    // A node budget keeps depth 24 within the model's 8,192 nodes.
    if depth == 0 || nodes.len() > 2_000 || (nodes.len() > 1 && rng.random_bool(0.1)) {
        nodes.push(Node::Leaf {
            score: rng.random_range(-65_536..=65_536),
        });
        return at;
    }
    nodes.push(Node::Leaf { score: 0 });
    let threshold =
        (10f64.powf(rng.random_range(0.0..7.0)) as i64) * if rng.random_bool(0.1) { -1 } else { 1 };
    let feature = rng.random_range(0..FEATURE_COUNT - 1);
    let left = random_tree(rng, depth - 1, nodes);
    let right = random_tree(rng, depth - 1, nodes);
    nodes[at] = Node::Split {
        feature,
        threshold,
        left,
        right,
    };
    at
}

/// A tree whose longest path has `depth` splits: a spine going left or right at random, each
/// split's other side a random depth-3 subtree (a few hundred nodes at depth 24).
fn deep_tree(rng: &mut ChaCha8Rng, depth: usize, nodes: &mut Vec<Node>) -> usize {
    if depth <= 3 {
        return random_tree(rng, depth, nodes);
    }
    let at = nodes.len();
    nodes.push(Node::Leaf { score: 0 });
    let threshold = 10f64.powf(rng.random_range(0.0..5.0)) as i64;
    let feature = rng.random_range(0..FEATURE_COUNT - 1);
    let (left, right) = if rng.random_bool(0.5) {
        let l = deep_tree(rng, depth - 1, nodes);
        (l, random_tree(rng, 3, nodes))
    } else {
        let l = random_tree(rng, 3, nodes);
        (l, deep_tree(rng, depth - 1, nodes))
    };
    nodes[at] = Node::Split {
        feature,
        threshold,
        left,
        right,
    };
    at
}

/// A complete tree of `depth` levels (2^depth leaves): the largest a depth-12 training makes,
/// and the copy's heaviest verification.
pub(crate) fn full_tree(depth: usize, rng: &mut ChaCha8Rng, nodes: &mut Vec<Node>) -> usize {
    let at = nodes.len();
    if depth == 0 {
        nodes.push(Node::Leaf {
            score: rng.random_range(-65_536..=65_536),
        });
        return at;
    }
    nodes.push(Node::Leaf { score: 0 });
    let left = full_tree(depth - 1, rng, nodes);
    let right = full_tree(depth - 1, rng, nodes);
    nodes[at] = Node::Split {
        feature: rng.random_range(0..FEATURE_COUNT - 1),
        threshold: 10f64.powf(rng.random_range(0.0..6.0)) as i64,
        left,
        right,
    };
    at
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn compiled_trees_forests_and_logistic_models_decide_every_flow_as_the_table_interpreter() {
    crate::common::require_kernel(
        "compiled_trees_forests_and_logistic_models_decide_every_flow_as_the_table_interpreter",
    );
    let dir = TempDir::new("code-engine");
    workbench_flow::gen::write_all(dir.path(), workbench_flow::gen::DEFAULT_SEED).expect("gen");
    let capture = dir.path().join("honest.pcap");
    let mut rng = ChaCha8Rng::seed_from_u64(1414);
    let mut models: Vec<(String, Box<Model>)> = Vec::new();
    let mut nodes = Vec::new();
    full_tree(12, &mut rng, &mut nodes);
    models.push(("full depth-12 tree".into(), build::tree(&nodes, 0).expect("tree")));
    for depth in [3, 6, 9, 12, 18, 24] {
        let mut nodes = Vec::new();
        if depth <= 12 {
            random_tree(&mut rng, depth, &mut nodes);
        } else {
            deep_tree(&mut rng, depth, &mut nodes);
        }
        models.push((
            format!("random depth-{depth} tree"),
            build::tree(&nodes, 0).expect("tree"),
        ));
    }
    for trees in [2, 4] {
        let forest: Vec<Vec<Node>> = (0..trees)
            .map(|_| {
                let mut nodes = Vec::new();
                random_tree(&mut rng, 8, &mut nodes);
                nodes
            })
            .collect();
        models.push((
            format!("random forest of {trees}"),
            build::forest(&forest, 0).expect("forest"),
        ));
    }
    for round in 0..2 {
        // Every term on a random feature, half of them through log2; weights small enough
        // that the flows fall both ways around the threshold 0.
        let terms: Vec<(usize, shared::model::LogisticTerm)> = (0..FEATURE_COUNT - 1)
            .filter(|i| (i + round) % 2 == 0)
            .map(|i| {
                let term = shared::model::LogisticTerm {
                    weight: ((i as i32 * 7919 + round as i32 * 104_729) % 2001 - 1000) * 64,
                    shift: (i % 7) as u8,
                    transform: if i % 3 == 0 {
                        shared::model::TRANSFORM_IDENTITY
                    } else {
                        shared::model::TRANSFORM_LOG2
                    },
                    _pad: [0; 2],
                };
                (i, term)
            })
            .collect();
        let model = build::logistic(&terms, 0, 0).expect("logistic");
        models.push((format!("logistic model {round}"), model));
    }
    let mut lines = Vec::new();
    for (i, (name, model)) in models.iter().enumerate() {
        let path = save_model(dir.path(), &format!("m{i}.model"), model);
        let lab = crate::common::lab_id(&format!("ce{i}"));
        let v = workbench_json(&[
            "verify",
            &capture.to_string_lossy(),
            "--model",
            &path.to_string_lossy(),
            "--lab-id",
            &lab,
            "--pps",
            "40000",
            "--json",
        ]);
        let flows = v["flows"].as_u64().expect("flows");
        let malicious = v["malicious_flows"].as_u64().expect("malicious");
        assert_eq!(v["engine"], "code", "{name}: {v:#}");
        assert!(
            v["code_instructions"].as_u64().expect("instructions") > 0,
            "{name}: {v:#}"
        );
        assert!(
            v["code_evaluations"].as_u64().expect("code evaluations") > 1000,
            "{name}: {v:#}"
        );
        // Reached by a jump (every model here fits eBPF's 16-bit jumps), so the parity below
        // is the inlined code's.
        assert_eq!(v["code_inlined"], true, "{name}: {v:#}");
        assert_eq!(v["identical"], flows, "{name}: {v:#}");
        assert!(flows > 1000, "{name}: {v:#}");
        lines.push(format!(
            "{name}: {} instructions, {} evaluations by the code, {flows}/{flows} flows identical ({malicious} malicious)",
            v["code_instructions"], v["code_evaluations"]
        ));
        // The flows must not all fall one way, or the parity says little.
        assert!(
            malicious > 0 && malicious < flows,
            "{name}: {malicious} of {flows} malicious"
        );
    }
    report(&format!("kernel test: code engine parity: {}", lines.join("; ")));
}

/// `deploy` and `probe status` by JSON, for the engine's life cycle.
fn deploy(args: &[&str]) -> Value {
    let mut all = vec!["deploy"];
    all.extend_from_slice(args);
    all.push("--json");
    workbench_json(&all)
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn the_code_engine_follows_the_slots_and_gives_way_to_the_table() {
    crate::common::require_kernel("the_code_engine_follows_the_slots_and_gives_way_to_the_table");
    let pid = std::process::id();
    // Subnets no other kernel test uses (they run two at a time).
    let lab = Lab::create(&format!("ce{}", pid % 100_000), (pid % 200) as u8 + 25).expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let iface = lab.host_if.clone();
    workbench_json(&["probe", "attach", "--iface", &iface, "--json"]);
    let dir = TempDir::new("code-engine-slots");
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let tree = |rng: &mut ChaCha8Rng| {
        let mut nodes = Vec::new();
        random_tree(rng, 6, &mut nodes);
        build::tree(&nodes, 0).expect("tree")
    };
    let (a, b) = (tree(&mut rng), tree(&mut rng));
    let term = |weight| shared::model::LogisticTerm {
        weight,
        shift: 0,
        transform: shared::model::TRANSFORM_IDENTITY,
        _pad: [0; 2],
    };
    let logistic = build::logistic(&[(0, term(3)), (5, term(-2))], 100, 0).expect("logistic");
    let saturating =
        build::logistic(&[(0, term(i32::MAX)), (1, term(i32::MAX))], i64::MAX - 1, 0).expect("logistic");
    let a_path = save_model(dir.path(), "a.model", &a);
    let b_path = save_model(dir.path(), "b.model", &b);
    let l_path = save_model(dir.path(), "l.model", &logistic);
    let s_path = save_model(dir.path(), "s.model", &saturating);
    let id = |m: &Model| workbench_flow::model::id_string(m.header.model_id);

    // A new model: the code engine by default.
    let v = deploy(&[&a_path.to_string_lossy(), "--iface", &iface]);
    assert_eq!(v["engine"], "code", "{v:#}");
    assert_eq!(v["code"]["active"]["model"], id(&a).as_str(), "{v:#}");
    let first = v["code_program_id"].as_u64().expect("a program id");
    // The shadow is compiled beside it, into a new copy.
    let v = deploy(&[&b_path.to_string_lossy(), "--iface", &iface, "--shadow"]);
    assert_eq!(v["engine"], "code", "{v:#}");
    let second = v["code_program_id"].as_u64().expect("a program id");
    assert_ne!(first, second, "a new copy for the new pair: {v:#}");
    // Promote and roll back recompile: the copy's models are the slots' models.
    let v = deploy(&["--promote-shadow", "--iface", &iface]);
    assert_eq!(v["active"]["model"], id(&b).as_str(), "{v:#}");
    let status = workbench_json(&["probe", "status", "--iface", &iface, "--json"]);
    assert_eq!(status["engine"], "code", "{status:#}");
    let promoted = status["code_program_id"].as_u64().expect("a program id");
    assert_ne!(promoted, second, "{status:#}");
    // The copy holds the previous model beside the active one: a rollback, and a second one,
    // are map updates only, decided by the code from the first packet on.
    let held = |v: &Value| -> Vec<String> {
        let mut h: Vec<String> = v["code"]["held"]
            .as_array()
            .map(|h| {
                h.iter()
                    .map(|m| {
                        format!(
                            "{}:{}",
                            m["function"].as_str().unwrap_or("?"),
                            m["model"].as_str().unwrap_or("?")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        h.sort();
        h
    };
    for expected_active in [&a, &b, &a] {
        let v = deploy(&["--rollback", "--iface", &iface]);
        assert_eq!(v["active"]["model"], id(expected_active).as_str(), "{v:#}");
        assert_eq!(
            v["code_program_id"].as_u64(),
            Some(promoted),
            "no new copy: {v:#}"
        );
        assert_eq!(
            v["code"]["active"]["model"],
            id(expected_active).as_str(),
            "{v:#}"
        );
        assert!(v["code"]["active"]["instructions"].as_u64() > Some(0), "{v:#}");
        // Read back from the copy's record of what it holds: still reached by a jump.
        assert_eq!(v["code"]["active"]["inlined"], true, "{v:#}");
        let held = held(&v);
        for m in [&a, &b] {
            assert!(held.contains(&format!("active:{}", id(m))), "{held:?}: {v:#}");
        }
    }
    // A logistic model is compiled too; one whose sum could reach i64's bounds is scored by the
    // table inside the copy (the interpreter saturates, the code would not), and the report
    // says why.
    let v = deploy(&[&l_path.to_string_lossy(), "--iface", &iface]);
    assert!(v["code"]["active"]["instructions"].as_u64() > Some(0), "{v:#}");
    assert_eq!(v["code"]["active"]["inlined"], true, "{v:#}");
    let v = deploy(&[&s_path.to_string_lossy(), "--iface", &iface]);
    assert_eq!(v["code"]["active"]["instructions"], 0, "{v:#}");
    assert_eq!(v["code"]["active"]["inlined"], false, "{v:#}");
    let why = v["code"]["active"]["table_because"].as_str().expect("a reason");
    assert!(why.contains("beyond i64"), "{why}");
    // The table engine: the slot is emptied and the copy unpinned.
    let v = deploy(&["--engine", "table", "--iface", &iface]);
    assert_eq!(v["engine"], "table", "{v:#}");
    assert!(v["code_program_id"].is_null(), "{v:#}");
    let v = deploy(&["--rollback", "--iface", &iface]);
    assert_eq!(v["engine"], "table", "a rollback keeps the table engine: {v:#}");
    // The choice is remembered: a new model without --engine stays on the table...
    let v = deploy(&[&a_path.to_string_lossy(), "--iface", &iface]);
    assert_eq!(v["engine"], "table", "the table choice is kept: {v:#}");
    // ...until the code engine is asked for again, which also forgets the choice.
    let v = deploy(&["--engine", "code", "--iface", &iface]);
    assert_eq!(v["engine"], "code", "{v:#}");
    let v = deploy(&[&b_path.to_string_lossy(), "--iface", &iface]);
    assert_eq!(v["engine"], "code", "{v:#}");
    let v = deploy(&["--engine", "table", "--iface", &iface]);
    assert_eq!(v["engine"], "table", "{v:#}");
    assert!(!workbench_kernel::bpffs::iface_dir(&iface)
        .join(workbench_kernel::code::PIN_CODE_PROGRAM)
        .exists());
    report("kernel test: the code engine followed deploy, shadow, promote, rollback, two logistic models and --engine table");
}

/// Two trees on the payload lengths the hot-swap load sends, with every leaf of B 500 above the
/// same leaf of A and thresholds at their median scores: a decision scored by one model's code
/// and recorded under the other's id, threshold or verdict is told apart from both.
fn tree_pair() -> (Box<Model>, Box<Model>) {
    let vectors = synthetic_features(&load(), 4_000);
    let median = |f: usize| {
        let mut v: Vec<i64> = vectors.iter().map(|x| x[f]).collect();
        v.sort_unstable();
        v[v.len() / 2]
    };
    let (max, mean) = (
        feature_id("fwd_len_max").expect("feature"),
        feature_id("fwd_len_mean").expect("feature"),
    );
    let tree = |offset: i32| {
        let nodes = [
            Node::Split {
                feature: max,
                threshold: median(max),
                left: 1,
                right: 4,
            },
            Node::Split {
                feature: mean,
                threshold: median(mean) / 2,
                left: 2,
                right: 3,
            },
            Node::Leaf {
                score: 1_000 + offset,
            },
            Node::Leaf {
                score: 9_000 + offset,
            },
            Node::Split {
                feature: mean,
                threshold: median(mean),
                left: 5,
                right: 6,
            },
            Node::Leaf {
                score: 21_000 + offset,
            },
            Node::Leaf {
                score: 33_000 + offset,
            },
        ];
        let scored = build::tree(&nodes, 0).expect("tree");
        let mut scores: Vec<i64> = vectors.iter().map(|v| scored.score(v)).collect();
        scores.sort_unstable();
        build::tree(&nodes, scores[scores.len() / 2]).expect("tree")
    };
    (tree(0), tree(500))
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn swapping_compiled_trees_under_traffic_never_mixes_two_models() {
    crate::common::require_kernel("swapping_compiled_trees_under_traffic_never_mixes_two_models");
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (a, b) = tree_pair();
    let pid = std::process::id();
    let lab = Lab::create(&format!("cs{}", pid % 100_000), (pid % 200) as u8 + 27).expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.as_str();
    probe::attach(h, &AttachOptions::default()).expect("attach the probe");
    let config = ProbeConfig {
        decide_first_packets: u32::MAX,
        decide_every: 0,
        ..ProbeConfig::default()
    };
    write_config(h, &config, workbench_kernel::enforce::DefaultRoute::Refuse).expect("config");
    let models = ProbeModels::open(h).expect("open the map of models");
    models.deploy(&a).expect("deploy A");
    models.set_engine(Engine::Code).expect("the code engine");
    let sink = UdpSink::bind(lab.host_addr, SINK_PORT, false).expect("UDP sink");
    let load = load();
    let (sent, swap_time) = while_traffic_flows(&lab, &sink, &load, |stopped| {
        let started = Instant::now();
        for i in 0..SWAPS {
            if stopped() {
                break;
            }
            // The first swap puts in a copy holding both trees, before the slot changes; the
            // rest are one map update each.
            models
                .deploy(if i % 2 == 0 { &b } else { &a })
                .expect("swap the active model");
        }
        started.elapsed()
    });
    let sent = sent.expect("send the UDP flows");
    let swap_time = swap_time.expect("the sender stopped before the swaps began");
    let stats = workbench_kernel::flows::read_stats(h).expect("stats");
    let flows = settled_flows(h);
    let (mut by_a, mut by_b, mut failures) = (0u64, 0u64, Vec::new());
    let mut verdicts = [0u64; 3];
    for (key, e) in &flows {
        if e.verdict == VERDICT_NONE {
            continue;
        }
        let features: FeatureVector = e.state.features();
        let model = if e.model_id == a.header.model_id {
            by_a += 1;
            &a
        } else if e.model_id == b.header.model_id {
            by_b += 1;
            &b
        } else {
            failures.push(format!("{key:?}: model id {:08x} is neither", e.model_id));
            continue;
        };
        let score = model.score(&features);
        let verdict = if model.is_malicious(score) {
            VERDICT_MALICIOUS
        } else {
            VERDICT_BENIGN
        };
        if e.score != score || e.verdict != verdict || e.decided_at_packet != e.state.packets() {
            failures.push(format!(
                "{key:?}: recorded score {} verdict {} at packet {} of {}; its model gives {score} {verdict}",
                e.score,
                e.verdict,
                e.decided_at_packet,
                e.state.packets()
            ));
        }
        verdicts[usize::from(e.verdict)] += 1;
    }
    assert!(
        failures.is_empty(),
        "{} flows are not one complete model's decision; first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let code = stats.get("code_evaluations").copied().unwrap_or(0);
    let evaluations = stats.get("evaluations").copied().unwrap_or(0);
    assert!(by_a > 0 && by_b > 0, "flows by A: {by_a}, by B: {by_b}");
    assert!(verdicts[1] > 0 && verdicts[2] > 0, "verdicts {verdicts:?}");
    // Every decision by the code: each copy went in before its slot change.
    assert_eq!(code, evaluations, "evaluations by the code");
    report(&format!(
        "kernel test: {SWAPS} swaps of compiled trees in {:.1} s under {} datagrams ({} flows); \
         {} decided flows ({by_a} by A, {by_b} by B), none a mix; {code} of {evaluations} evaluations by the code",
        swap_time.as_secs_f64(),
        sent.datagrams,
        sent.flows,
        by_a + by_b
    ));
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn the_probe_built_without_the_flow_lock_compiles_into_a_copy_of_itself() {
    use workbench_kernel::lab::traffic;
    crate::common::require_kernel("the_probe_built_without_the_flow_lock_compiles_into_a_copy_of_itself");
    let pid = std::process::id();
    let lab = Lab::create(&format!("cu{}", pid % 100_000), (pid % 200) as u8 + 29).expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.as_str();
    // What kernels before 5.12 run: the object without the lock (and its copy must be too).
    let attached = probe::attach(
        h,
        &AttachOptions {
            flow_lock: probe::FlowLock::Off,
            ..AttachOptions::default()
        },
    )
    .expect("attach the probe without the lock");
    assert!(!attached.flow_lock);
    let config = ProbeConfig {
        decide_first_packets: u32::MAX,
        decide_every: 0,
        ..ProbeConfig::default()
    };
    write_config(h, &config, workbench_kernel::enforce::DefaultRoute::Refuse).expect("config");
    let dir = workbench_kernel::bpffs::iface_dir(h);
    assert!(dir.join(workbench_kernel::code::PIN_CODE_MAP_UNLOCKED).exists());
    assert!(!dir.join(workbench_kernel::code::PIN_CODE_MAP).exists());
    let models = ProbeModels::open(h).expect("models");
    let mut rng = ChaCha8Rng::seed_from_u64(29);
    let mut nodes = Vec::new();
    random_tree(&mut rng, 8, &mut nodes);
    models
        .deploy(&build::tree(&nodes, 0).expect("tree"))
        .expect("deploy");
    let copy = models.set_engine(Engine::Code).expect("the code engine");
    assert_eq!(copy.engine, "code", "{copy:?}");
    let _sink = UdpSink::bind(lab.host_addr, 9201, false).expect("sink");
    for port in 44_000..44_010u16 {
        traffic::udp_from_netns(&lab, port, 9201, &[40, 80, 120], false).expect("send");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let stats = loop {
        let stats = workbench_kernel::flows::read_stats(h).expect("stats");
        if stats.get("code_evaluations").copied().unwrap_or(0) >= 30 || Instant::now() > deadline {
            break stats;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let code = stats.get("code_evaluations").copied().unwrap_or(0);
    assert!(code >= 30, "the copy scored {code} packets: {stats:?}");
    assert_eq!(stats.get("flow_lock_busy").copied(), Some(0), "{stats:?}");
    report(&format!(
        "kernel test: the unlocked probe's copy (program {:?}, {:?} verified instructions) scored {code} packets",
        copy.program_id, copy.verified_instructions
    ));
}
