//! Issue 20 item 2, through the binary: a split that leaves one class on a side writes no model
//! unless asked, naming the split that would work; the figures that need both classes are null
//! (JSON) or "undefined" (text) with the reason; a single-feature finding no better than the
//! majority baseline is not HIGH, and the finding says what it was compared with.

use std::path::{Path, PathBuf};

use crate::common::{workbench, workbench_json};

/// 300 flows; attacks (syn_count 5) only among the first 200, so a time split tests on benign
/// flows only; nine source hosts, three of them attacking.
fn late_benign(dir: &Path) -> PathBuf {
    let mut text = String::from("src_ip,first_seen_ns,syn_count,fwd_packets,fwd_ttl,label\n");
    for i in 0..300usize {
        let attack = i < 200 && i.is_multiple_of(3);
        text += &format!(
            "10.0.0.{},{i},{},{},64,{}\n",
            i % 9,
            if attack { 5 } else { 1 },
            i % 7,
            if attack { "DoS" } else { "BENIGN" }
        );
    }
    let p = dir.join("late-benign.csv");
    std::fs::write(&p, text).expect("write");
    p
}

fn train(data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        data.to_str().expect("utf-8"),
        "--model",
        "tree",
        "--no-cache",
        "-o",
        out.to_str().expect("utf-8"),
    ];
    args.extend(extra);
    workbench(&args)
}

#[test]
fn a_one_class_test_side_writes_no_model_and_names_the_split_that_works() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = late_benign(tmp.path());
    let out = tmp.path().join("m.ebml");
    let run = train(&data, &out, &["--split", "time"]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        !run.status.success(),
        "written although the test side is benign only: {err}"
    );
    assert!(!out.exists(), "a model file was written");
    assert!(
        err.contains("no model written to")
            && err.contains("under the time split its test side holds no attack"),
        "{err}"
    );
    assert!(
        err.contains("--allow-one-class-split"),
        "the override is not named: {err}"
    );
    // The split it names is one that works: it trains, with both classes on the test side.
    let named = ["host", "file", "random"]
        .into_iter()
        .find(|k| err.contains(&format!("use --split {k} ")))
        .unwrap_or_else(|| panic!("no working split named: {err}"));
    let v = workbench_json(&[
        "train",
        data.to_str().expect("utf-8"),
        "--model",
        "tree",
        "--no-cache",
        "--split",
        named,
        "--json",
        "-o",
        out.to_str().expect("utf-8"),
    ]);
    assert!(out.is_file());
    let m = &v["metrics"];
    let c = &m["confusion"];
    let attacks = c["true_positive"].as_u64().expect("tp") + c["false_negative"].as_u64().expect("fn");
    let benign = c["true_negative"].as_u64().expect("tn") + c["false_positive"].as_u64().expect("fp");
    assert!(attacks > 0 && benign > 0, "--split {named}: {c}");
    assert!(
        m["precision"].is_number() && m["undefined"].as_object().is_some_and(serde_json::Map::is_empty),
        "{m}"
    );
}

#[test]
fn a_one_class_training_side_is_refused_with_the_split_that_works() {
    // Attacks only in the last 10% of the time: the time split trains on benign rows alone.
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut text = String::from("src_ip,first_seen_ns,syn_count,fwd_packets,fwd_ttl,label\n");
    for i in 0..300usize {
        let attack = i >= 285 || (i >= 270 && i.is_multiple_of(2));
        text += &format!(
            "10.0.0.{},{i},{},{},64,{}\n",
            i % 9,
            if attack { 5 } else { 1 },
            i % 7,
            if attack { "DoS" } else { "BENIGN" }
        );
    }
    let data = tmp.path().join("late-attacks.csv");
    std::fs::write(&data, text).expect("write");
    let out = tmp.path().join("m.ebml");
    for extra in [
        &["--split", "time"][..],
        &["--split", "time", "--allow-one-class-split"],
    ] {
        let run = train(&data, &out, extra);
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success() && !out.exists(), "{extra:?}: {err}");
        assert!(
            err.contains("--split time: its training side holds 0 malicious of ")
                && err.contains("--allow-one-class-split cannot help"),
            "{extra:?}: {err}"
        );
        let named = ["host", "file", "random"]
            .into_iter()
            .find(|k| err.contains(&format!("use --split {k} ")))
            .unwrap_or_else(|| panic!("no working split named: {err}"));
        // The split it names trains.
        let ok = train(&data, &out, &["--split", named]);
        assert!(
            ok.status.success(),
            "--split {named}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
        std::fs::remove_file(&out).expect("remove");
    }
}

#[test]
fn allowed_one_class_figures_read_undefined_in_text() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = late_benign(tmp.path());
    let out = tmp.path().join("m.ebml");
    let run = train(&data, &out, &["--split", "time", "--allow-one-class-split"]);
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(out.is_file());
    let headline = text.lines().next().expect("a headline");
    assert!(
        headline.contains("precision undefined, recall undefined, F1 undefined"),
        "{headline}"
    );
    // The false positive rate needs benign rows only: 0 of the 90 flagged is a real figure.
    assert!(headline.contains("false positive rate 0.000"), "{headline}");
    assert!(
        !headline
            .replace("false positive rate 0.000", "")
            .contains("0.000"),
        "{headline}"
    );
    assert!(
        text.contains("undefined figures: ") && text.contains("no attack row among the 90 scored rows"),
        "{text}"
    );
}

/// `rows` rows, `attacks` of them malicious; `signal` is 1 on the attack rows and on
/// `false_alarms` benign rows, else 0 (a column that ranks attacks first).
fn rare_attacks(dir: &Path, rows: usize, attacks: usize, false_alarms: usize) -> PathBuf {
    let mut text = String::from("signal,noise,label\n");
    for i in 0..rows {
        let attack = i < attacks;
        let signal = attack || (i >= attacks && i < attacks + false_alarms);
        text += &format!(
            "{},{},{}\n",
            u8::from(signal),
            (i * 7919) % 101,
            if attack { "DoS" } else { "BENIGN" }
        );
    }
    let p = dir.join(format!("rare-{attacks}-{false_alarms}.csv"));
    std::fs::write(&p, text).expect("write");
    p
}

fn leakage(p: &Path) -> serde_json::Value {
    let v = workbench_json(&["inspect", p.to_str().expect("utf-8"), "--no-cache", "--json"]);
    v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == "single_feature_leakage")
        .cloned()
        .unwrap_or_else(|| panic!("no single_feature_leakage finding: {}", v["findings"]))
}

#[test]
fn a_finding_no_better_than_the_majority_baseline_is_not_high() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // 5 attacks in 10,000 rows, `signal` on them and on 3 benign rows: accuracy 0.9997 against
    // a baseline of 0.9995, AUC near 1. A rule that ranks but hardly decides.
    let weak = leakage(&rare_attacks(tmp.path(), 10_000, 5, 3));
    assert_eq!(weak["severity"], "medium", "{weak}");
    let summary = weak["summary"].as_str().expect("summary");
    assert!(summary.contains("vs majority baseline 0.9995"), "{summary}");
    assert!(
        summary.contains("none is right more often than always answering the majority class"),
        "{summary}"
    );
    // Balanced classes, the same column: right on every row, far above the baseline of 0.5.
    let strong = leakage(&rare_attacks(tmp.path(), 400, 200, 0));
    assert_eq!(strong["severity"], "high", "{strong}");
    let summary = strong["summary"].as_str().expect("summary");
    assert!(
        summary.contains("beating the majority baseline") && summary.contains("vs majority baseline 0.5000"),
        "{summary}"
    );
}

#[test]
fn the_train_tab_writes_no_model_for_a_one_class_split_either() {
    use workbench_data::dataset::LoadOptions;
    use workbench_data::train::SplitKind;
    use workbench_tui::jobs;
    use workbench_tui::state::train::TrainForm;

    let tmp = tempfile::tempdir().expect("tempdir");
    let data = late_benign(tmp.path());
    let opts = LoadOptions {
        no_cache: true,
        ..LoadOptions::default()
    };
    let (sets, errors) = jobs::load(&[data], &opts, &|_, _| {});
    assert!(errors.is_empty(), "{errors:?}");
    let models = tmp.path().join("models");
    let form = TrainForm {
        split: Some(SplitKind::Time),
        ..TrainForm::default()
    };
    let err = match jobs::train(&sets[0], &form, &models, &|_, _| {}) {
        Ok(_) => panic!("a model was trained and written under a one-class split"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("no model written: under the time split its test side holds no attack"),
        "{err}"
    );
    assert!(
        err.contains("choose the ") && err.contains("--allow-one-class-split"),
        "{err}"
    );
    let written = std::fs::read_dir(&models).map_or(0, std::iter::Iterator::count);
    assert_eq!(written, 0, "a model file is in {}", models.display());
    // The auto split (the Train tab's default) works on the same data and writes the model.
    if let Err(e) = jobs::train(&sets[0], &TrainForm::default(), &models, &|_, _| {}) {
        panic!("the auto split: {e:#}");
    }
    assert_eq!(
        std::fs::read_dir(&models).map_or(0, std::iter::Iterator::count),
        1
    );
}

#[test]
fn inspect_text_shows_evidence_in_words_not_cut_json() {
    // The CIC sample of the issue: two benign rows, one column at 0.9998 against 0.9995.
    let cic = crate::common::shared_data("cic-ids2017/machine-learning-csv-sample.csv");
    let out = workbench(&["inspect", cic.to_str().expect("utf-8"), "--no-cache"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        assert!(
            !line.contains("{\"") && !line.contains("[{"),
            "raw JSON in the text report: {line}"
        );
        assert!(
            !line.ends_with("...") || line.contains("more (`--json` has them all)"),
            "cut: {line}"
        );
    }
    // The two misleading lines, now honest.
    let leak = text
        .lines()
        .find(|l| l.contains("single_feature_leakage"))
        .expect("a leakage finding");
    assert!(
        leak.starts_with("[MEDIUM]") && leak.contains("vs majority baseline 0.9995"),
        "{leak}"
    );
    let balance = text
        .lines()
        .find(|l| l.contains("class_balance"))
        .expect("class_balance");
    assert!(
        balance.contains("precision at a realistic 1 in 10,000 attack prevalence is undefined")
            && balance.contains("no benign row"),
        "{balance}"
    );
    assert!(!balance.contains("would be 1.0000"), "{balance}");
    // The random split's test side holds attacks only: its F1 is undefined, not a number.
    let split = text
        .lines()
        .find(|l| l.contains("split_comparison"))
        .expect("split_comparison");
    assert!(split.contains("random split F1 undefined"), "{split}");
}
