//! Issue 20 items 3 and 7 in the real kernel: a tree and then a logistic model deployed one
//! after the other; `probe flows --json` and `live --jsonl` give every score as P(malicious) in
//! 0..1 (a logistic model's logit through the sigmoid, by the model that made it) with the raw
//! integer under `score_raw`; `live --jsonl` starts from now unless `--from-start`; `probe
//! status` is text without `--json`. Traffic only between the ends of the test's own veth pair.

use crate::common::{jsonl, save_model, workbench, workbench_json, DetachOnDrop, TempDir};
use serde_json::Value;
use shared::model::{LogisticTerm, Model, SCORE_ONE, TRANSFORM_IDENTITY};
use workbench_flow::craft::TCP_SYN;
use workbench_flow::model::build;
use workbench_kernel::lab::{traffic, Lab};

/// logit = syn_count - 3: five SYNs give logit 2, P(malicious) 0.881.
fn syn_logistic() -> Box<Model> {
    let syn = shared::features::feature_id("syn_count").expect("syn_count");
    let term = LogisticTerm {
        weight: SCORE_ONE as i32,
        shift: 0,
        transform: TRANSFORM_IDENTITY,
        _pad: [0; 2],
    };
    build::logistic(&[(syn, term)], -3 * SCORE_ONE, 0).expect("valid logistic model")
}

/// The flow from `src_port` once it has seen five packets each way (5 s at most).
fn decided_flow(iface: &str, src_port: u16) -> Value {
    crate::common::flow_from(iface, src_port, |f| f["fwd_packets"] == 5)
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn a_tree_then_a_logistic_model_score_on_one_scale() {
    crate::common::require_kernel("a_tree_then_a_logistic_model_score_on_one_scale");
    let dir = TempDir::new("score-scale");
    let (tree, logistic) = (build::syn_count_tree(3).expect("tree"), syn_logistic());
    let (tree_file, logistic_file) = (
        save_model(dir.path(), "tree.ebml", &tree),
        save_model(dir.path(), "logistic.ebml", &logistic),
    );
    let lab = Lab::create(
        &format!("s{}", std::process::id() % 100_000),
        (std::process::id() % 200) as u8 + 2,
    )
    .expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.as_str();
    workbench_json(&["probe", "attach", "--iface", h, "--json"]);

    workbench_json(&[
        "deploy",
        tree_file.to_str().expect("utf8"),
        "--iface",
        h,
        "--json",
    ]);
    traffic::tcp_segments_from_netns(&lab, 43_001, 9, TCP_SYN, 5).expect("syn");
    let by_tree = decided_flow(h, 43_001);
    workbench_json(&[
        "deploy",
        logistic_file.to_str().expect("utf8"),
        "--iface",
        h,
        "--json",
    ]);
    traffic::tcp_segments_from_netns(&lab, 43_002, 9, TCP_SYN, 5).expect("syn");
    let by_logistic = decided_flow(h, 43_002);

    // probe flows --json: both in 0..1, each by its own model's scale.
    assert_eq!(by_tree["verdict"], "malicious", "{by_tree}");
    assert_eq!(
        (by_tree["score"].as_f64(), by_tree["score_raw"].as_i64()),
        (Some(1.0), Some(SCORE_ONE)),
        "{by_tree}"
    );
    assert_eq!(by_logistic["verdict"], "malicious", "{by_logistic}");
    assert_eq!(
        by_logistic["score_raw"].as_i64(),
        Some(2 * SCORE_ONE),
        "{by_logistic}"
    );
    let p = by_logistic["score"].as_f64().expect("a probability");
    assert!(
        (p - 1.0 / (1.0 + (-2f64).exp())).abs() < 1e-9,
        "P {p}: {by_logistic}"
    );
    assert!(
        by_tree["dest_ip"].is_string() && by_tree["dest_port"] == 9,
        "{by_tree}"
    );

    // probe flows as text: each flow's verdict, score as P(malicious) and the model that decided.
    let out = workbench(&["probe", "flows", "--iface", h]);
    let text = String::from_utf8_lossy(&out.stdout);
    let header = text.lines().next().unwrap_or("");
    assert!(
        header.contains("verdict") && header.contains("score") && header.contains("model"),
        "{text}"
    );
    let row = |port: u16| {
        text.lines()
            .find(|l| l.contains(&format!(":{port} ")))
            .unwrap_or_else(|| panic!("no row for port {port}: {text}"))
            .to_string()
    };
    let tree_row = row(43_001);
    assert!(
        tree_row.contains("malicious")
            && tree_row.contains("1.00")
            && tree_row.ends_with(&workbench_flow::model::id_string(tree.header.model_id)),
        "{tree_row}"
    );
    assert!(
        row(43_002).ends_with(&workbench_flow::model::id_string(logistic.header.model_id)),
        "{text}"
    );

    // live --jsonl --from-start: what the ring holds (EVE-style lines, the verdict under
    // `workbench`), every score in 0..1, both models.
    let out = workbench(&[
        "live",
        "--iface",
        h,
        "--jsonl",
        "--from-start",
        "--duration-s",
        "1",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = jsonl(&out.stdout);
    let mine: Vec<&Value> = events
        .iter()
        .filter(|e| e["src_port"] == 43_001 || e["src_port"] == 43_002)
        .collect();
    assert!(mine.len() >= 2, "{events:?}");
    for e in &events {
        let p = e["workbench"]["score"]
            .as_f64()
            .unwrap_or_else(|| panic!("no probability: {e}"));
        assert!((0.0..=1.0).contains(&p), "{e}");
        assert!(e["workbench"]["score_raw"].is_i64(), "{e}");
    }
    let logistic_id = workbench_flow::model::id_string(logistic.header.model_id);
    // The logistic model's events: the logit through the sigmoid, a negative logit included
    // (it was shown as a negative "score" before).
    let logistic_events: Vec<&&Value> = mine
        .iter()
        .filter(|e| e["workbench"]["model"] == logistic_id.as_str())
        .collect();
    assert!(!logistic_events.is_empty(), "{mine:?}");
    for e in &logistic_events {
        let logit = e["workbench"]["score_raw"].as_i64().expect("score_raw") as f64 / SCORE_ONE as f64;
        let p = e["workbench"]["score"].as_f64().expect("score");
        assert!((p - 1.0 / (1.0 + (-logit).exp())).abs() < 1e-9, "{e}");
    }
    assert!(
        logistic_events
            .iter()
            .any(|e| e["workbench"]["score_raw"].as_i64().is_some_and(|r| r < 0)),
        "no event with a negative logit: {logistic_events:?}"
    );

    // A second reader of the ring, and `live --jsonl` from now: tests/kernel/live_stream.rs.

    // probe status: text without --json, naming the slots.
    let out = workbench(&["probe", "status", "--iface", h]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !text.trim_start().starts_with('{'),
        "{text}"
    );
    let tree_id = workbench_flow::model::id_string(tree.header.model_id);
    assert!(
        text.contains(&format!("active model:   {logistic_id} (logistic)")),
        "{text}"
    );
    assert!(
        text.contains(&format!("previous model: {tree_id} (tree)")),
        "{text}"
    );
}
