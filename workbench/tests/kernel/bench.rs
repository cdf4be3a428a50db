//! `workbench bench probe` against the real kernel, with a small repeat: the numbers are not
//! checked against targets (a benchmark is not a timed unit test), but everything that proves
//! the measurement ran what it claims is: return codes, the private probe's flow table and
//! statistics, the depth of the model walks, and that no pin is left behind.

use crate::common::{report, workbench, workbench_json};
use serde_json::Value;

const REPEAT: u64 = 1000;
const RUNS: u64 = 7;
/// Variants that run the probe's main load (all but the empty program and the unlocked probe,
/// which is a second load with flows of its own).
const PROBE_VARIANTS: u64 = 11;
/// Variants that evaluate a model at every packet (tree, logistic, forest, and the tree and the
/// forest compiled).
const MODEL_VARIANTS: u64 = 6;
/// Of those, the ones the code engine scores (the compiled tree, forest and logistic model).
const CODE_VARIANTS: u64 = 3;
/// Probe variants that run before the default-decisions variant in every round.
const PROBE_VARIANTS_BEFORE_DEFAULT: u64 = 4;
const VARIANT_KEYS: [&str; 13] = [
    "empty_ns",
    "no_decision_ns",
    "no_model_unlocked_ns",
    "no_model_coarse_clock_ns",
    "no_model_ns",
    "tree_ns",
    "tree_default_decisions_ns",
    "logistic_ns",
    "forest_ns",
    "no_model_code_ns",
    "tree_code_ns",
    "forest_code_ns",
    "logistic_code_ns",
];

fn num(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a number in {v:#}"))
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn bench_probe_runs_the_probe_on_every_variant_and_cleans_up() {
    crate::common::require_kernel("bench_probe_runs_the_probe_on_every_variant_and_cleans_up");
    let r = workbench_json(&["bench", "probe", "--repeat", &REPEAT.to_string(), "--json"]);
    assert_eq!((num(&r, "repeat"), num(&r, "runs")), (REPEAT, RUNS));
    assert_eq!(r["headline_packet"], "udp");
    for key in VARIANT_KEYS {
        assert!(num(&r, key) > 0, "{key}: {r:#}");
    }
    assert_eq!(
        r["model_part_ns"].as_i64(),
        Some(num(&r, "tree_ns") as i64 - num(&r, "no_model_ns") as i64)
    );
    assert_eq!(
        r["clock_ns"].as_i64(),
        Some(num(&r, "no_model_ns") as i64 - num(&r, "no_model_coarse_clock_ns") as i64)
    );
    assert_eq!(
        r["tail_call_ns"].as_i64(),
        Some(num(&r, "no_model_code_ns") as i64 - num(&r, "no_model_ns") as i64)
    );
    assert_eq!(
        r["flow_lock_ns"].as_i64(),
        Some(num(&r, "no_model_ns") as i64 - num(&r, "no_model_unlocked_ns") as i64)
    );

    let packets = r["packets"].as_array().expect("packets");
    let names: Vec<&str> = packets.iter().filter_map(|p| p["packet"].as_str()).collect();
    assert_eq!(names, ["udp", "tcp_syn"]);
    for p in packets {
        for key in VARIANT_KEYS {
            assert!(num(p, key) > 0, "{key}: {p:#}");
            assert_eq!(
                p["runs_ns"][key].as_array().map(Vec::len),
                Some(RUNS as usize),
                "{key}: {p:#}"
            );
            // Every test run of every variant passed the packet on (TC_ACT_UNSPEC = -1, TCX_NEXT:
            // the next filter or program on the hook still runs), none ended the chain.
            assert_eq!(
                p["return_codes"][key],
                serde_json::json!([u32::MAX]),
                "{key}: {p:#}"
            );
        }
    }

    // The private probe saw exactly one flow per packet type, with every repetition of every
    // probe variant: BPF_PROG_TEST_RUN really ran the probe on these packets.
    let per_flow = PROBE_VARIANTS * RUNS * REPEAT;
    let flows = r["flows"].as_array().expect("flows");
    assert_eq!(flows.len(), 2, "{flows:#?}");
    for (flow, (packet, proto, dst_port)) in flows.iter().zip([("udp", "udp", 53), ("tcp_syn", "tcp", 80)]) {
        assert_eq!(
            (
                flow["packet"].as_str(),
                flow["proto"].as_str(),
                num(flow, "dst_port")
            ),
            (Some(packet), Some(proto), dst_port),
            "{flows:#?}"
        );
        assert_eq!(num(flow, "packets"), per_flow, "{flow:#}");
        // The last variant decides at every packet: the latest decision is the latest packet.
        assert_eq!(num(flow, "decided_at_packet"), per_flow, "{flow:#}");
        assert_eq!(flow["verdict"], "benign");
    }
    let stats = &r["probe_stats"];
    assert_eq!(num(stats, "packets"), 2 * per_flow);
    assert_eq!(num(stats, "parsed"), 2 * per_flow);
    assert_eq!(num(stats, "flows_created"), 2);
    // Models are evaluated at every packet of the model variants, at every 16th packet of the
    // default-decisions variant (its flow is past packet 32), and never otherwise.
    let default_decisions: u64 = (0..RUNS)
        .map(|run| {
            let before = REPEAT * (run * PROBE_VARIANTS + PROBE_VARIANTS_BEFORE_DEFAULT);
            (before + REPEAT) / 16 - before / 16
        })
        .sum();
    assert_eq!(
        num(stats, "evaluations"),
        2 * (MODEL_VARIANTS * RUNS * REPEAT + default_decisions)
    );
    // The compiled variants really ran the compiled models: every one of their packets was
    // scored by the code, none fell back to the table.
    assert_eq!(num(stats, "code_evaluations"), 2 * CODE_VARIANTS * RUNS * REPEAT);
    for key in ["tree_code_ns", "forest_code_ns", "logistic_code_ns"] {
        assert!(num(&r["code_verified_instructions"], key) > 0, "{r:#}");
    }
    // Every compiled model is reached by a jump, the forest's copy too, although its function
    // (the forest and the previously deployed tree, about 35,000 instructions) ends beyond
    // eBPF's 16-bit jumps: the tree's exit hops through the forest's.
    for key in ["tree_code_ns", "forest_code_ns", "logistic_code_ns"] {
        assert_eq!(r["code_inlined"][key], true, "{key}: {r:#}");
    }
    // Benign from the first evaluation on: one verdict event per flow, none per packet.
    assert_eq!(num(stats, "verdict_changes"), 2);
    assert_eq!(num(stats, "events_lost"), 0);

    let models = &r["models"];
    assert_eq!(
        (
            num(&models["tree"], "nodes"),
            num(&models["tree"], "min_walk_depth")
        ),
        (8191, 12)
    );
    assert_eq!(
        (
            num(&models["forest"], "trees"),
            num(&models["forest"], "min_walk_depth")
        ),
        (4, 12)
    );
    assert_eq!(num(&models["logistic"], "features_used"), 40);
    // The locked probe walks the lock's tries: more verified instructions than without it.
    assert!(
        num(&r, "verified_instructions") > num(&r, "verified_instructions_unlocked"),
        "{r:#}"
    );
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    assert_eq!(r["kernel"].as_str(), Some(release.trim()));
    assert!(num(&r["machine"], "nproc") > 0);
    assert_eq!(r["targets"].as_array().map(Vec::len), Some(8));

    // The private load attached nothing and left nothing pinned.
    let pin_dir = r["pin_dir"].as_str().expect("pin_dir");
    assert!(
        pin_dir.starts_with("/sys/fs/bpf/ebpf-ml-workbench/bench-"),
        "{pin_dir}"
    );
    for dir in [pin_dir.to_string(), format!("{pin_dir}-unlocked")] {
        assert!(!std::path::Path::new(&dir).exists(), "{dir} was left behind");
    }
    let freplace = assert_dispatch(&r, RUNS);
    report(&format!(
        "kernel test: bench probe ran {} probe packets per flow; udp tree {} ns, empty {} ns; \
         dispatch: direct {} ns, static call {} ns, tail call {} ns, extension {}",
        per_flow,
        num(&r, "tree_ns"),
        num(&r, "empty_ns"),
        num(&r["dispatch"], "direct_ns"),
        num(&r["dispatch"], "static_call_ns"),
        num(&r["dispatch"], "tail_call_ns"),
        if freplace {
            "measured"
        } else {
            "refused by this kernel"
        }
    ));
}

/// The dispatch section of a `bench probe --json` report (each mechanism alone): every program
/// returned what its mechanism makes it return, so each really ran, and the extension either
/// replaced the global function (7; after each swap the new extension's 9 or 7), with a second
/// extension and an in-place update refused, or the kernel's refusal to load one is named.
/// True when the extension was measured.
pub(crate) fn assert_dispatch(r: &Value, runs: u64) -> bool {
    assert!(r.get("dispatch_skipped").is_none(), "{r:#}");
    let d = &r["dispatch"];
    for (key, code) in [
        ("direct_ns", 7),
        ("static_call_ns", 7),
        ("tail_call_ns", 7),
        ("global_call_ns", 5),
    ] {
        assert!(num(d, key) > 0, "{key}: {d:#}");
        assert_eq!(d["return_codes"][key], serde_json::json!([code]), "{key}: {d:#}");
        assert_eq!(
            d["runs_ns"][key].as_array().map(Vec::len),
            Some(runs as usize),
            "{key}: {d:#}"
        );
    }
    let ns = |key: &str| num(d, key) as i64;
    assert_eq!(
        d["code_engine_extra_ns"].as_i64(),
        Some(ns("tail_call_ns") + ns("static_call_ns") - 2 * ns("direct_ns")),
        "{d:#}"
    );
    match (d.get("freplace"), d["freplace_unavailable"].as_str()) {
        (Some(f), None) => {
            assert_eq!(d["return_codes"]["freplace_ns"], serde_json::json!([7]), "{d:#}");
            assert_eq!(
                f["freplace_extra_ns"].as_i64(),
                Some(num(f, "freplace_ns") as i64 - ns("direct_ns"))
            );
            let swaps: Vec<u64> = (0..20).map(|i| if i % 2 == 0 { 9 } else { 7 }).collect();
            assert_eq!(f["swap_return_codes"], serde_json::json!(swaps), "{f:#}");
            for key in ["second_extension", "link_update"] {
                assert!(
                    f[key].as_str().is_some_and(|a| a.starts_with("refused: ")),
                    "{key}: {f:#}"
                );
            }
            true
        }
        (None, Some(why)) => {
            assert!(why.contains("BPF_PROG_TYPE_EXT"), "{why}");
            false
        }
        _ => panic!("neither an extension's figures nor the reason it is missing: {d:#}"),
    }
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn bench_probe_refuses_a_zero_repeat() {
    let out = workbench(&["bench", "probe", "--repeat", "0"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--repeat"), "{stderr}");
}
