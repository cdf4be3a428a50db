//! `workbench train` through the binary on data the workbench makes itself: the generator's
//! honest captures (recall per attack class under the time split, feature selection) and real
//! captures from ../shared/data (float vs integer agreement of the compiled models).

use std::path::{Path, PathBuf};

use crate::common::{report, workbench, workbench_json};
use serde_json::Value;
use shared::features::FEATURES;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `workbench features PCAP... --labels FILE -o OUT --json`, checked to label every flow.
fn features(pcaps: &[PathBuf], labels: &Path, out: &Path) -> Value {
    let mut args = vec!["features"];
    args.extend(pcaps.iter().map(|p| s(p)));
    args.extend(["--labels", s(labels), "-o", s(out), "--json"]);
    let r = workbench_json(&args);
    assert_eq!(r["labels"]["unmatched_flows"], 0, "{}", r["labels"]);
    r
}

/// The generator's honest variant over several "days": seed 2026 (the committed sample) and
/// seeds 1, 2, 3, each capture's flows moved one day after the previous one's. In one capture
/// every attack type runs in 2-4 short campaigns at random times, so a 70/30 time split of one
/// capture can leave a type out of one side (the committed sample's test side holds scan
/// flows but no SYN flood). Over four days, training is on the first days and testing on the
/// last one: every class is in both, and the model is judged on attacks it has never seen. The
/// features hold no absolute time, so the move changes only the split.
fn honest_days(dir: &Path) -> PathBuf {
    let mut table = String::new();
    for (day, seed) in [2026u64, 1, 2, 3].into_iter().enumerate() {
        let gen = dir.join(format!("gen-{seed}"));
        workbench_json(&["gen-pcaps", "-o", s(&gen), "--seed", &seed.to_string(), "--json"]);
        let out = dir.join(format!("honest-{seed}.csv"));
        let r = features(&[gen.join("honest.pcap")], &gen.join("labels-honest.csv"), &out);
        assert_eq!(r["flows"], 1_860);
        let text = std::fs::read_to_string(&out).expect("feature table");
        let mut lines = text.lines();
        let header = lines.next().expect("header");
        let col = header
            .split(',')
            .position(|c| c == "first_seen_ns")
            .expect("first_seen_ns column");
        if day == 0 {
            table += header;
            table.push('\n');
        }
        for line in lines {
            let mut f: Vec<String> = line.split(',').map(String::from).collect();
            let t: u64 = f[col].parse().expect("first_seen_ns");
            f[col] = (t + day as u64 * 86_400 * 1_000_000_000).to_string();
            table += &f.join(",");
            table.push('\n');
        }
    }
    let path = dir.join("honest-4-days.csv");
    std::fs::write(&path, table).expect("write table");
    path
}

fn train(data: &Path, model: &str, split: &str, out: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "train",
        s(data),
        "--model",
        model,
        "--split",
        split,
        "--no-cache",
        "-o",
        s(out),
        "--json",
    ];
    args.extend(extra);
    workbench_json(&args)
}

fn recall(r: &Value, class: &str) -> f64 {
    r["per_class"][class]["recall"]
        .as_f64()
        .unwrap_or_else(|| panic!("no per-class recall for {class}: {}", r["per_class"]))
}

/// Measured (2026-12, seeds 2026/1/2/3, default depth 8, the default feature set: the 39 kernel
/// features the leakage gate leaves, `dst_port` out): the time split tests on 2,232 flows (day
/// 4 and the end of day 3): SYN_FLOOD 258/260 (0.992), PORTSCAN 304/318 (0.956; with all 40
/// features, `dst_port` kept, 275/318: the tree then split scans by port and missed connect()
/// scans, which flow by flow are an application's failed connections), precision 0.915, F1
/// 0.922. The bars are set below: 0.95 for the flood, 0.80 for the scans, 0.85 for F1; a detector that
/// called every SYN-only or refused flow an attack (or none) fails them. On the committed sample
/// alone, the time split's test side holds no SYN flood flow: every flood campaign of that day
/// started before the cut, which is why the test builds four days.
#[test]
fn kernel_feature_tree_detects_floods_and_scans_on_the_honest_set_under_the_time_split() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = honest_days(dir.path());
    let r = train(
        &data,
        "tree",
        "time",
        &dir.path().join("tree.ebml"),
        &["--features", "kernel"],
    );
    assert_eq!(r["split"], "time");
    assert_eq!(r["rows"], 4 * 1_860);
    // Per class = per attack type (the table's `attack_type`: the generator's scenario).
    let flood = recall(&r, "syn_flood");
    let scan_classes = ["portscan_horizontal", "portscan_vertical"];
    let count = |c: &str, k: &str| r["per_class"][c][k].as_u64().unwrap_or(0);
    let scan_rows: u64 = scan_classes.iter().map(|c| count(c, "rows")).sum();
    let scan_correct: u64 = scan_classes.iter().map(|c| count(c, "correct")).sum();
    let scan = scan_correct as f64 / scan_rows.max(1) as f64;
    assert_eq!(
        r["per_class"]["syn_flood"]["rows"], 260,
        "day 4's flood is tested"
    );
    assert!(scan_rows >= 290, "day 4's scans are tested: {scan_rows}");
    assert!(flood >= 0.95, "SYN_FLOOD recall {flood} (measured 0.992)");
    assert!(scan >= 0.80, "PORTSCAN recall {scan} (measured 0.956)");
    let f1 = r["metrics"]["f1"].as_f64().expect("f1");
    assert!(f1 >= 0.85, "F1 {f1} (measured 0.922)");
    assert_eq!(r["agreement"]["share_identical"], 1.0);
    report(&format!(
        "train test: honest 4 days, tree, time split: SYN_FLOOD recall {flood:.3}, PORTSCAN recall {scan:.3} \
         ({scan_correct}/{scan_rows}), overall recall {:.3} precision {:.3} F1 {f1:.3}",
        r["metrics"]["recall"].as_f64().unwrap_or(0.0),
        r["metrics"]["precision"].as_f64().unwrap_or(0.0)
    ));

    // The committed sample alone: its flood campaigns all started before the 70% time cut.
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-pcaps");
    let table = dir.path().join("sample.csv");
    features(
        &[sample.join("honest.pcap")],
        &sample.join("labels-honest.csv"),
        &table,
    );
    let r = train(&table, "tree", "time", &dir.path().join("sample.ebml"), &[]);
    assert!(r["per_class"].get("syn_flood").is_none(), "{}", r["per_class"]);
    assert!(
        r["per_class"].get("portscan_vertical").is_some(),
        "some attack is tested: {}",
        r["per_class"]
    );
}

/// `--features LIST` trains on exactly the named kernel features; `--features kernel
/// --keep-flagged` on all 40 of a flow table, `--features kernel` (the default) on all but what
/// the pitfall report flags, each named with the reason; a name that is not a kernel feature
/// is refused with the valid names and the table's mapped columns.
#[test]
fn features_list_and_kernel_select_what_the_model_sees() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-pcaps");
    let table = dir.path().join("honest.csv");
    features(
        &[sample.join("honest.pcap")],
        &sample.join("labels-honest.csv"),
        &table,
    );

    let all = train(
        &table,
        "tree",
        "time",
        &dir.path().join("all.ebml"),
        &["--features", "kernel", "--keep-flagged"],
    );
    // Every feature but the opt-in host artefacts (the VLAN id), which a table holds only
    // when asked for (`features --vlan-id`) and a model uses only when named.
    let names: Vec<&str> = FEATURES
        .iter()
        .enumerate()
        .filter(|&(id, _)| !shared::features::is_opt_in(id))
        .map(|(_, f)| f.name)
        .collect();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|v| v.as_str().expect("name").to_string())
            .collect()
    };
    assert_eq!(
        strings(&all["features"]),
        names,
        "a flow table has every kernel feature"
    );
    assert_eq!(all["left_out"], serde_json::json!([]));
    let kept: Vec<&str> = all["kept_flagged"]
        .as_array()
        .expect("kept")
        .iter()
        .filter_map(|f| f["feature"].as_str())
        .collect();
    assert!(kept.contains(&"dst_port"), "{kept:?}");
    let gated = train(&table, "tree", "time", &dir.path().join("gated.ebml"), &[]);
    let left: Vec<&str> = gated["left_out"]
        .as_array()
        .expect("left out")
        .iter()
        .filter_map(|f| f["feature"].as_str())
        .collect();
    assert_eq!(
        left, kept,
        "the default leaves out exactly what --keep-flagged keeps"
    );
    for f in gated["left_out"].as_array().expect("left out") {
        assert!(f["reason"].as_str().is_some_and(|r| r.len() > 20), "{f}");
        assert!(!strings(&gated["features"]).contains(&f["feature"].as_str().unwrap_or("").to_string()));
    }
    assert_eq!(
        strings(&gated["features"]).len() + left.len(),
        40,
        "every other kernel feature is used"
    );

    let model = dir.path().join("three.ebml");
    let r = train(
        &table,
        "logistic",
        "time",
        &model,
        &["--features", "syn_count, bwd_packets,fwd_ttl"],
    );
    assert_eq!(
        r["features"],
        serde_json::json!(["bwd_packets", "syn_count", "fwd_ttl"]),
        "in kernel feature order"
    );
    assert_eq!(r["feature_mapping"].as_array().map(Vec::len), Some(3));
    let shown = workbench_json(&["model", "show", s(&model), "--json"]);
    for f in shown["features"].as_array().expect("model features") {
        let name = f["name"].as_str().expect("name");
        assert!(
            ["bwd_packets", "syn_count", "fwd_ttl"].contains(&name),
            "the model uses {name}"
        );
    }

    let out = workbench(&[
        "train",
        s(&table),
        "--model",
        "tree",
        "--features",
        "syn_count,syn_cnt",
        "--no-cache",
        "-o",
        s(&dir.path().join("bad.ebml")),
        "--json",
    ]);
    assert!(!out.status.success());
    // No report on failure: only the error.
    crate::common::only_json_error(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`syn_cnt` is not a kernel feature"), "{err}");
    assert!(
        err.contains("columns of") && err.contains("that map to kernel features are: dst_port (dst_port)"),
        "the table's mapped columns are listed: {err}"
    );
    for name in names {
        assert!(
            err.contains(name),
            "the valid names are listed: {name} missing in {err}"
        );
    }
    assert!(!dir.path().join("bad.ebml").exists());
}

/// Real captures, labelled by address: CIC-DDoS2019's SYN flood from 172.16.0.5 to 192.168.50.4
/// (documented in SOURCES.md), the masscan scan from its scanner 172.31.15.102 (every flow of
/// masscan-tcp-0-1000.pcap), and the benign captures (BitTorrent, HTTP, mixed, MySQL, Skype,
/// SSH, whois) as BENIGN. No single capture holds both classes, so one table holds them all.
/// Measured (2026-11): 10,426 flows (9,367 flood, 1,001 scan, 58 benign); on the 3,128 test
/// rows, the tree agrees on 3,128 under the random and the time split (100%, score error 0) and
/// the logistic model on 3,128 under the random split (100%, largest logit error 3.3e-4; also
/// 3,128 under the time split, 2.8e-4).
#[test]
fn compiled_models_agree_with_the_float_models_on_real_capture_features() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/pcaps");
    let pcaps: Vec<PathBuf> = [
        "bittorrent.pcap",
        "http.pcap",
        "mixed-demo.pcap",
        "mysql-multi-flows.pcap",
        "skype-call.pcap",
        "ssh.pcap",
        "whois.pcap",
        "cicddos2019-synflood.pcap",
        "masscan-tcp-0-1000.pcap",
    ]
    .iter()
    .map(|n| data.join(n))
    .collect();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nlabel = \"SYN_FLOOD\"\nsrc = \"172.16.0.5/32\"\ndst = \"192.168.50.4/32\"\n\n\
         [[rule]]\nlabel = \"PORTSCAN\"\nsrc = \"172.31.15.102/32\"\n\n\
         [[rule]]\nlabel = \"BENIGN\"\n",
    )
    .expect("rules");
    let table = dir.path().join("real.csv");
    let f = features(&pcaps, &rules, &table);
    let counts = &f["labels"]["labels"];
    assert_eq!(
        (&counts["SYN_FLOOD"], &counts["PORTSCAN"], &counts["BENIGN"]),
        (
            &serde_json::json!(9_367),
            &serde_json::json!(1_001),
            &serde_json::json!(58)
        ),
        "{counts}"
    );
    // Logistic training takes ~25 s here (debug build), so it runs under one split.
    for (model, splits) in [("tree", &["random", "time"][..]), ("logistic", &["random"][..])] {
        for &split in splits {
            let r = train(
                &table,
                model,
                split,
                &dir.path().join(format!("{model}.ebml")),
                &[],
            );
            let a = &r["agreement"];
            let (rows, same) = (
                a["rows"].as_u64().expect("rows"),
                a["identical_decisions"].as_u64().expect("identical"),
            );
            let share = a["share_identical"].as_f64().expect("share");
            assert!(rows > 3_000, "{model} {split}: {a}");
            assert!(
                r["per_class"]["BENIGN"]["rows"].as_u64() > Some(0),
                "{model} {split}: benign rows in the test split"
            );
            if model == "tree" {
                assert_eq!(
                    same, rows,
                    "{model} {split}: a compiled tree agrees everywhere: {a}"
                );
                // Leaf probabilities are rounded to 1/65536: at most half a unit off.
                let err = a["max_score_error"].as_f64().expect("error");
                assert!(err <= 0.5 / 65_536.0, "{model} {split}: {a}");
            } else {
                assert!(share >= 0.999, "{model} {split}: {a}");
            }
            report(&format!(
                "train test: real captures, {model}, {split} split: {same}/{rows} identical decisions, \
                 largest score error {}",
                a["max_score_error"]
            ));
        }
    }
}
