//! Bad training input through the binary: each refusal is one stderr line naming the file,
//! column or limit, with nothing on stdout under `--json`; and a test split with one class gets
//! no ROC AUC (null, with the reason) rather than a number or NaN.

use std::path::{Path, PathBuf};

use crate::common::{workbench, workbench_json};

const HEADER: &str = "src_ip,first_seen_ns,syn_count,fwd_packets,fwd_ttl,label\n";

/// A small flow table: `row(i)` gives (syn_count, fwd_packets, fwd_ttl, label) as text.
fn table(dir: &Path, name: &str, rows: usize, row: impl Fn(usize) -> [String; 4]) -> PathBuf {
    let mut text = String::from(HEADER);
    for i in 0..rows {
        let [syn, fwd, ttl, label] = row(i);
        text += &format!("10.0.0.{},{i},{syn},{fwd},{ttl},{label}\n", i % 9);
    }
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write table");
    path
}

fn label(i: usize) -> String {
    if i.is_multiple_of(3) { "DoS" } else { "BENIGN" }.to_string()
}

/// `workbench train DATA --model tree --no-cache --json -o OUT ARGS...`.
pub(crate) fn train_args<'a>(data: &'a Path, out: &'a Path, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![
        "train",
        data.to_str().expect("path"),
        "--model",
        "tree",
        "--no-cache",
        "--json",
        "-o",
        out.to_str().expect("path"),
    ];
    all.extend(args);
    all
}

/// Runs `workbench train FILE --model tree --json ARGS...`, expects a failure, returns stderr.
fn refused(data: &Path, args: &[&str]) -> String {
    let out_model = data.with_extension("ebml");
    let all = train_args(data, &out_model, args);
    let out = workbench(&all);
    assert!(!out.status.success(), "{all:?} succeeded");
    // No report on failure: only the error.
    crate::common::only_json_error(&out.stdout);
    assert!(!out_model.exists(), "{all:?}: no model written");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn a_label_column_with_one_class_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = table(dir.path(), "benign-only.csv", 100, |i| {
        [
            (i % 4).to_string(),
            (i % 7).to_string(),
            "64".into(),
            "BENIGN".into(),
        ]
    });
    let e = refused(&data, &[]);
    assert!(
        e.contains("benign-only.csv: label column `label` has one class only: all 100 rows are benign (labels: BENIGN)"),
        "{e}"
    );
    assert!(e.contains("--positive"), "{e}");
    let e = refused(&data, &["--positive", "DoS"]);
    assert!(e.contains("--positive DoS matched none of them"), "{e}");
}

#[test]
fn all_nan_feature_columns_are_named_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Every feature column NaN: cleaning drops the columns, nothing is left to learn from.
    let data = table(dir.path(), "all-nan.csv", 60, |i| {
        ["NaN".into(), "NaN".into(), "NaN".into(), label(i)]
    });
    let e = refused(&data, &[]);
    assert!(
        e.contains("no kernel feature left to train on: ") && e.contains("all-nan.csv: column `syn_count`"),
        "{e}"
    );
    for c in ["syn_count", "fwd_packets", "fwd_ttl"] {
        let dropped = format!(
            "column `{c}` (kernel feature {c}) was dropped when cleaning: every value is empty, NaN or Infinity"
        );
        assert!(e.contains(&dropped), "{c}: {e}");
    }

    // One NaN column asked for by name.
    let data = table(dir.path(), "nan-ttl.csv", 60, |i| {
        [(i % 4).to_string(), (i % 7).to_string(), "NaN".into(), label(i)]
    });
    let e = refused(&data, &["--features", "syn_count,fwd_ttl"]);
    assert!(
        e.contains("nan-ttl.csv: column `fwd_ttl` (kernel feature fwd_ttl) was dropped when cleaning"),
        "{e}"
    );
    // Without asking for it, training goes on and the JSON says what was dropped.
    let ok = dir.path().join("ok.ebml");
    let r = workbench_json(&train_args(&data, &ok, &[]));
    assert_eq!(
        r["dropped_columns"][0]["column"], "fwd_ttl",
        "{}",
        r["dropped_columns"]
    );
    assert_eq!(r["features"], serde_json::json!(["fwd_packets", "syn_count"]));
}

#[test]
fn zero_rows_after_cleaning_names_the_file_and_the_reasons() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Every row has an Infinity in syn_count or a NaN in fwd_packets.
    let data = table(dir.path(), "no-rows.csv", 50, |i| {
        let (syn, fwd) = if i % 2 == 1 { ("inf", "1") } else { ("1", "NaN") };
        [syn.into(), fwd.into(), "64".into(), label(i)]
    });
    let e = refused(&data, &[]);
    assert!(
        e.contains("no-rows.csv: no row survives cleaning: 50 nan_or_infinity (in syn_count, fwd_packets)"),
        "{e}"
    );
}

#[test]
fn depths_the_probe_cannot_walk_are_refused_with_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = table(dir.path(), "ok.csv", 60, |i| {
        [(i % 4).to_string(), (i % 7).to_string(), "64".into(), label(i)]
    });
    for depth in ["25", "0"] {
        let e = refused(&data, &["--max-depth", depth]);
        assert!(
            e.contains(&format!(
                "--max-depth {depth} cannot run in the probe: it walks trees of depth 1 to 24"
            )),
            "{e}"
        );
    }
    // The depth limits trees only: a logistic model trains whatever --max-depth says.
    let out = dir.path().join("logistic.ebml");
    let r = workbench_json(&[
        "train",
        data.to_str().expect("path"),
        "--model",
        "logistic",
        "--max-depth",
        "25",
        "--no-cache",
        "--json",
        "-o",
        out.to_str().expect("path"),
    ]);
    assert_eq!(r["model_kind"], "logistic", "{r}");
    assert!(out.is_file());
}

#[test]
fn a_test_split_with_one_class_reports_roc_auc_as_undefined() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Attacks only among the first 200 of 300 flows: the time split's last 90 are all benign.
    let data = table(dir.path(), "late-benign.csv", 300, |i| {
        let attack = i < 200 && i.is_multiple_of(3);
        [
            if attack { "5" } else { "1" }.into(),
            (i % 7).to_string(),
            "64".into(),
            if attack { "DoS" } else { "BENIGN" }.into(),
        ]
    });
    let out = dir.path().join("m.ebml");
    // Written only when asked (issue 20: a one-class side refuses otherwise, newcomer_metrics).
    let r = workbench_json(&train_args(
        &data,
        &out,
        &["--split", "time", "--allow-one-class-split"],
    ));
    let m = &r["metrics"];
    assert_eq!(m["rows"], 90);
    // The figures that need attacks on the test side are null with the reason, not 0.000.
    assert!(
        m["precision"].is_null() && m["recall"].is_null() && m["f1"].is_null(),
        "{m}"
    );
    assert!(
        m["undefined"]["recall"]
            .as_str()
            .is_some_and(|w| w.contains("no attack row")),
        "{m}"
    );
    assert!(m["roc_auc"].is_null() && m["pr_auc"].is_null(), "{m}");
    let why = m["auc_undefined"].as_str().expect("a reason");
    assert!(why.contains("one class only (0 malicious, 90 benign)"), "{why}");
    // The random split of the same rows holds both classes: its AUC is a number.
    assert!(
        r["other_splits"]["random"]["roc_auc"].as_f64().is_some(),
        "{}",
        r["other_splits"]
    );
}
