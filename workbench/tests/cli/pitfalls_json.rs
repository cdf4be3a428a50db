//! The pitfall evidence became typed (`pitfalls::Evidence`, issue 18): the `findings` that
//! `workbench inspect --json` prints stay byte for byte those printed when the evidence was a
//! `serde_json::Value`. The expected files are the `findings` of the untyped build's output on
//! the same inputs (between them, every pitfall kind), de-indented by one level. Since the split
//! comparison became `train`'s runs, its evidence is `train`'s figures and each split's
//! `reproduce` line: regenerate a file by running the command below from `../shared/data` (the
//! relative path keeps the `reproduce` lines the same on every machine) and taking the lines
//! between `  "findings": [` and `  ]`, de-indented by two spaces, inside `[` and `]`.

use std::path::Path;
use std::process::Command;

fn printed_findings(rel: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    assert!(root.join(rel).exists(), "{rel} missing (../shared/data)");
    // A relative path: the `reproduce` lines name the data as it was given.
    let out = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["inspect", "--no-cache", "--json", rel])
        .current_dir(&root)
        .output()
        .expect("run workbench");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == "  \"findings\": [")
        .unwrap_or_else(|| panic!("no findings in {text}"));
    let end = start
        + lines[start..]
            .iter()
            .position(|l| *l == "  ]")
            .expect("end of findings");
    let mut s = String::from("[\n");
    for l in &lines[start + 1..end] {
        s.push_str(l.strip_prefix("  ").unwrap_or(l));
        s.push('\n');
    }
    s.push_str("]\n");
    s
}

fn check(rel: &str, expected: &str, ids: &[&str]) {
    let got = printed_findings(rel);
    if got != expected {
        let line = got.lines().zip(expected.lines()).position(|(a, b)| a != b);
        panic!(
            "{rel}: findings JSON changed (first differing line {line:?}: got {:?}, expected {:?})",
            line.and_then(|i| got.lines().nth(i)),
            line.and_then(|i| expected.lines().nth(i)),
        );
    }
    for id in ids {
        assert!(got.contains(&format!("\"id\": \"{id}\"")), "{rel}: no {id}");
    }
}

#[test]
fn pitfalls_json_is_unchanged_on_slowloris() {
    check(
        "cic-ids2017/wednesday-0948-1006-slowloris-10col.csv",
        include_str!("pitfalls_json/pitfalls-slowloris-10col.json"),
        &[
            "identifier_columns",
            "host_artefacts",
            "duplicates",
            "class_balance",
            "synthetic_or_impossible",
            "label_noise",
            "split_comparison",
            "kernel_features",
        ],
    );
}

#[test]
fn pitfalls_json_is_unchanged_on_cic_machine_learning_sample() {
    check(
        "cic-ids2017/machine-learning-csv-sample.csv",
        include_str!("pitfalls_json/pitfalls-cic-machine-learning-sample.json"),
        &["single_feature_leakage", "constant_columns", "correlated_columns"],
    );
}
