//! `train --cost-depths` without kernel access (issue 14 item 6): the candidates are fitted on
//! the run's rows and split and keep their F1, node counts and depths; the kernel cost is null
//! with the reason in `cost_unavailable`. As root the binary runs under setpriv with no
//! capability at all, as a user would run it. The measured cost itself is the kernel test
//! `model_cost`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-pcaps")
}

fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `workbench ARGS` with no capability (through setpriv when the test runs as root).
fn unprivileged(args: &[&str]) -> std::process::Output {
    let bin = env!("CARGO_BIN_EXE_workbench");
    let mut cmd = if root() {
        let mut c = Command::new("setpriv");
        c.args(["--bounding-set=-all", "--inh-caps=-all", bin]);
        c
    } else {
        Command::new(bin)
    };
    cmd.args(args).output().expect("the workbench binary runs")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn train_cost_depths_without_kernel_access_gives_f1_per_depth_and_the_reason_for_no_cost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("m.ebml");
    let honest = samples().join("honest.pcap");
    let args = [
        "train",
        s(&honest),
        "--model",
        "tree",
        "--cost-depths",
        "8,2,5",
        "-o",
        s(&out),
        "--json",
    ];
    let run = unprivileged(&args);
    assert!(
        run.status.success(),
        "train --cost-depths failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let v: Value = serde_json::from_slice(&run.stdout).expect("one JSON document");
    let c = v["candidates"].as_array().expect("candidates");
    let depths: Vec<u64> = c.iter().map(|c| c["depth"].as_u64().expect("depth")).collect();
    assert_eq!(depths, vec![2, 5, 8], "sorted, one per depth");
    for cand in c {
        let f1 = cand["f1"].as_f64().expect("f1");
        assert!((0.0..=1.0).contains(&f1) && f1 > 0.0, "{cand}");
        assert!(cand["kernel_ns_per_packet"].is_null(), "{cand}");
        assert!(cand["vs_empty"].is_null(), "{cand}");
        let tree_depth = cand["tree_depth"].as_u64().expect("tree_depth");
        assert!(tree_depth <= cand["depth"].as_u64().expect("depth"), "{cand}");
    }
    // A depth-2 tree has at most 7 nodes; the deeper ones are no smaller.
    let nodes: Vec<u64> = c.iter().map(|c| c["nodes"].as_u64().expect("nodes")).collect();
    assert!(
        nodes[0] <= 7 && nodes[0] <= nodes[1] && nodes[1] <= nodes[2],
        "{nodes:?}"
    );
    let why = v["cost_unavailable"].as_str().expect("cost_unavailable");
    assert!(why.contains("CAP_BPF"), "{why}");
    assert!(v["cost_empty_ns"].is_null());
    // The run's own model is still the one asked for (default depth), written as usual.
    assert!(out.is_file());
    assert!(v["metrics"]["f1"].as_f64().is_some());
    crate::common::report(&format!(
        "train_cost test: candidates {depths:?}, F1 {:?}, nodes {nodes:?}, cost_unavailable: {why}",
        c.iter()
            .map(|c| c["f1"].as_f64().unwrap_or(0.0))
            .collect::<Vec<_>>()
    ));

    // Text: the table and the reason.
    let text = unprivileged(&args[..args.len() - 1]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("depth") && stdout.contains("no kernel cost:"),
        "{stdout}"
    );
}

#[test]
fn train_cost_depths_refuses_bad_depths_and_says_why_a_logistic_model_has_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("m.ebml");
    let honest = samples().join("honest.pcap");
    let bad = unprivileged(&[
        "train",
        s(&honest),
        "--model",
        "tree",
        "--cost-depths",
        "4,99",
        "-o",
        s(&out),
    ]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("depth 99 cannot run in the probe"), "{err}");
    assert!(!out.exists(), "refused before training");

    let run = unprivileged(&[
        "train",
        s(&honest),
        "--model",
        "logistic",
        "--cost-depths",
        "4",
        "-o",
        s(&out),
        "--json",
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let v: Value = serde_json::from_slice(&run.stdout).expect("JSON");
    assert_eq!(v["candidates"].as_array().map(Vec::len), Some(0));
    let note = v["candidates_note"].as_str().expect("candidates_note");
    assert!(note.contains("logistic model has no depth"), "{note}");
}
