//! The Pitfalls split comparison's figures are `workbench train`'s (teacher review: on the
//! Wednesday slice the Pitfalls tab said F1 0.901 / 0.833 for the random / time split while
//! `train --split random|time` said 0.929 / 0.782, from another tree on other columns). Each
//! split of `inspect --json`'s `split_comparison` names the `workbench train` command that
//! prints its figures (`reproduce`); run as printed, it prints the same rows and test metrics,
//! number for number, or refuses the split with the reason the evidence gives.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{report, shared_data, workbench_json};

const WEDNESDAY: &str = "cic-ids2017/wednesday-0948-1006-slowloris-10col.csv";

/// The figures both print, by the evidence's key and the path of the same figure in the
/// `train --json` document.
const FIGURES: [(&str, &[&str]); 6] = [
    ("rows_train", &["rows_train"]),
    ("rows_test", &["rows_test"]),
    ("accuracy", &["metrics", "accuracy"]),
    ("precision", &["metrics", "precision"]),
    ("recall", &["metrics", "recall"]),
    ("f1", &["metrics", "f1"]),
];

fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, k| &v[*k])
}

/// Runs `inspect --json` on `data` (with `inspect_args`), then every split's `reproduce` command
/// (in a temporary folder, where it writes its model); returns the split comparison's evidence
/// and the number of splits with figures.
fn figures_match_train(data: &Path, inspect_args: &[&str]) -> (Value, usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = data.to_str().expect("utf-8 path");
    let mut args = vec!["inspect", "--no-cache", "--json", data];
    args.extend_from_slice(inspect_args);
    let report_doc = workbench_json(&args);
    let evidence = report_doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == "split_comparison")
        .unwrap_or_else(|| panic!("{data}: no split_comparison finding"))["evidence"]
        .clone();
    let mut scored = 0;
    for name in ["random", "time", "host"] {
        let split = &evidence["splits"][name];
        let line = split["reproduce"]
            .as_str()
            .unwrap_or_else(|| panic!("{data}: the {name} split has no `reproduce`: {split}"));
        let words = shlex::split(line).unwrap_or_else(|| panic!("not a shell line: {line}"));
        assert_eq!(words[..2], ["workbench", "train"], "{line}");
        assert!(words.iter().any(|w| w == name), "{line}: not --split {name}");
        let out = Command::new(env!("CARGO_BIN_EXE_workbench"))
            .args(&words[1..])
            .current_dir(dir.path())
            .env("XDG_CACHE_HOME", dir.path())
            .output()
            .expect("run workbench");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if split["accuracy"].is_null() {
            // No figures: `train` refuses the split, for the reason the evidence gives.
            let note = split["note"].as_str().expect("a refused split's note");
            let why = note.strip_prefix("`train` refuses it: ").expect(note);
            let last = why.rsplit(": ").next().expect("reason");
            assert!(!out.status.success(), "{line}: succeeded, but {note}");
            assert!(stderr.contains(last), "{line}: {stderr} does not say {last}");
            continue;
        }
        assert!(out.status.success(), "{line}: {stderr}");
        let trained: Value = serde_json::from_slice(&out.stdout).expect("train --json");
        assert_eq!(trained["split"], name, "{line}");
        for (key, path) in FIGURES {
            assert_eq!(
                split[key],
                *at(&trained, path),
                "{data}, {name} split: `{key}` differs from `{line}`"
            );
        }
        let c = &trained["metrics"]["confusion"];
        assert_eq!(
            split["malicious_test"].as_u64(),
            Some(c["true_positive"].as_u64().expect("tp") + c["false_negative"].as_u64().expect("fn")),
            "{line}"
        );
        scored += 1;
    }
    (evidence, scored)
}

#[test]
fn split_figures_are_train_figures_on_the_wednesday_slice() {
    let (evidence, scored) = figures_match_train(&shared_data(WEDNESDAY), &[]);
    // Random and time: every slowloris row comes from one host, which `train` refuses to split by.
    assert_eq!(scored, 2, "{evidence}");
    assert!(
        evidence["splits"]["host"]["note"]
            .as_str()
            .is_some_and(|n| n.contains("come from one host")),
        "{evidence}"
    );
    let model = evidence["model"].as_str().expect("model");
    assert!(
        model.contains("depth 8") && model.contains("30233 rows"),
        "{model}"
    );
    report(&format!(
        "pitfalls: Wednesday slice F1 random {} time {} (as `train` prints them)",
        evidence["splits"]["random"]["f1"], evidence["splits"]["time"]["f1"]
    ));
}

/// A table inspected with `--drop-duplicates` and `--kind`: the lines read it the same way (the
/// Wednesday slice has 3 duplicate rows; without the flags `train` fitted on them and printed
/// other rows and F1).
#[test]
fn reproduce_reads_the_table_as_inspect_was_told_to() {
    let (evidence, scored) = figures_match_train(
        &shared_data(WEDNESDAY),
        &["--drop-duplicates", "--kind", "cic-traffic-labelling"],
    );
    assert_eq!(scored, 2, "{evidence}");
    let line = evidence["splits"]["random"]["reproduce"].as_str().expect("line");
    assert!(
        line.contains(" --kind cic-traffic-labelling ") && line.contains(" --drop-duplicates "),
        "{line}"
    );
    let rows = |s: &Value| s["rows_train"].as_u64().expect("rows") + s["rows_test"].as_u64().expect("rows");
    assert_eq!(
        rows(&evidence["splits"]["random"]),
        30_230,
        "3 duplicates dropped: {evidence}"
    );
}

#[test]
fn split_figures_are_train_figures_on_a_generated_sample() {
    let dir = tempfile::tempdir().expect("tempdir");
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-pcaps");
    let table = dir.path().join("honest-flows.csv");
    workbench_json(&[
        "features",
        samples.join("honest.pcap").to_str().expect("path"),
        "--labels",
        samples.join("labels-honest.csv").to_str().expect("path"),
        "-o",
        table.to_str().expect("path"),
        "--json",
    ]);
    let (evidence, scored) = figures_match_train(&table, &[]);
    assert_eq!(scored, 3, "random, time and host: {evidence}");
    // Captures are read whole: a sample of them is refused with the way to a table.
    let out = crate::common::workbench(&[
        "train",
        samples.join("honest.pcap").to_str().expect("path"),
        "--model",
        "tree",
        "--sample-rows",
        "100",
        "-o",
        dir.path().join("m.ebml").to_str().expect("path"),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--sample-rows samples a table's rows") && err.contains("workbench features"),
        "{err}"
    );
}

/// A table above the comparison's 200,000 rows: the runs fit a sample, and `reproduce` asks
/// `train` for the same one (`--sample-rows`).
#[test]
fn split_figures_are_train_figures_on_a_sampled_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(shared_data(WEDNESDAY)).expect("read");
    let (header, rows) = text.split_once('\n').expect("header");
    // Seven copies of the slice's 30,233 rows: 211,631.
    let mut big = format!("{header}\n");
    for _ in 0..7 {
        big.push_str(rows.trim_end());
        big.push('\n');
    }
    let path = dir.path().join("wednesday-x7.csv");
    std::fs::write(&path, big).expect("write");
    let (evidence, scored) = figures_match_train(&path, &[]);
    assert_eq!(scored, 2, "{evidence}");
    let line = evidence["splits"]["random"]["reproduce"].as_str().expect("line");
    assert!(line.contains("--sample-rows 200000"), "{line}");
    let sample = evidence["sample"].as_str().expect("sample");
    assert!(sample.contains("200000 of the 211631 loaded rows"), "{sample}");
}

/// A table with no kernel-feature column: the runs are `train --features dataset`'s.
#[test]
fn split_figures_are_train_figures_without_kernel_features() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Three noisy measurements; the label follows their sum, so no one column gives it away.
    let mut state: u64 = 7;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as f64 / f64::from(1u32 << 31)
    };
    let mut csv = String::from("alpha,beta,gamma,label\n");
    for _ in 0..3_000 {
        let (a, b, c) = (next(), next(), next());
        let attack = a + b + c + 0.3 * next() > 1.9;
        csv.push_str(&format!(
            "{a:.4},{b:.4},{c:.4},{}\n",
            if attack { "attack" } else { "BENIGN" }
        ));
    }
    let path = dir.path().join("no-kernel-columns.csv");
    std::fs::write(&path, csv).expect("write");
    let (evidence, scored) = figures_match_train(&path, &[]);
    assert_eq!(scored, 1, "random only: no time, no host: {evidence}");
    let line = evidence["splits"]["random"]["reproduce"].as_str().expect("line");
    assert!(line.contains("--features dataset"), "{line}");
    let model = evidence["model"].as_str().expect("model");
    assert!(model.contains("dataset's own columns"), "{model}");
}
