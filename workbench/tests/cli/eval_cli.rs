//! `workbench eval` and `workbench skew` from the command line (issue 19 items 1 and 2, issue 16
//! item 3): a model trained on the honest sample's flow table, scored on the capture by the twin at
//! the decision points and at the last packet (which must agree with the table the model was
//! trained from), the skew report on data where one column is shifted by construction, and the
//! bad inputs the issue names.

use std::path::{Path, PathBuf};

use crate::common::{repo, report, shared_data, workbench, workbench_json, TempDir};
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// `workbench features sample-pcaps/honest.pcap --labels ... -o DIR/honest.csv`, then `workbench
/// train` on it with `split`; returns (table, model).
fn honest_model(dir: &Path, split: &str) -> (PathBuf, PathBuf) {
    let table = dir.join("honest.csv");
    if !table.exists() {
        workbench_json(&[
            "features",
            s(&repo("sample-pcaps/honest.pcap")),
            "--labels",
            s(&repo("sample-pcaps/labels-honest.csv")),
            "-o",
            s(&table),
            "--json",
        ]);
    }
    let model = dir.join(format!("honest-{split}.ebml"));
    workbench_json(&[
        "train",
        s(&table),
        "--model",
        "tree",
        "--split",
        split,
        "--no-cache",
        "-o",
        s(&model),
        "--json",
    ]);
    (table, model)
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn failure(args: &[&str]) -> String {
    let out = workbench(args);
    assert!(!out.status.success(), "workbench {} succeeded", args.join(" "));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        err.trim().lines().count(),
        1,
        "one line on stderr expected: {err}"
    );
    err
}

#[test]
fn eval_scores_a_capture_at_decision_points_and_agrees_with_its_feature_table() {
    let dir = TempDir::new("eval-cli");
    let (table, model) = honest_model(dir.path(), "host");
    let pcap = repo("sample-pcaps/honest.pcap");
    let r = workbench_json(&["eval", s(&model), s(&pcap), "--json"]);
    assert_eq!(r["data_kind"], "captures");
    assert_eq!(r["at"], "decision_points");
    assert_eq!((u(&r["flows"]), u(&r["labelled_flows"])), (1_860, 1_860));
    let m = &r["metrics"];
    let c = &m["confusion"];
    let flagged = u(&r["flagged_flows"]);
    assert_eq!(u(&c["true_positive"]) + u(&c["false_positive"]), flagged, "{r:#}");
    assert_eq!(u(&m["malicious_flows"]), 680);
    assert!(m["false_positive_rate"].as_f64().is_some() && m["precision_at_1_in_10000"].as_f64().is_some());
    let per_class = r["per_class"].as_object().expect("per_class");
    let flows: u64 = per_class.values().map(|c| u(&c["flows"])).sum();
    let class_flagged: u64 = per_class.values().map(|c| u(&c["flagged"])).sum();
    assert_eq!((flows, class_flagged), (1_860, flagged));
    // Ever flagged holds every flow flagged at its last decision point, and more.
    let ever = &r["ever_flagged"];
    assert!(u(&ever["flagged_flows"]) >= flagged, "{ever:#}");
    let benign_ever = ever["benign_flows_ever_flagged_share"].as_f64().expect("share");
    assert!(benign_ever >= m["false_positive_rate"].as_f64().unwrap_or(1.0));
    // Time to detect: every SYN flood flow the model catches, it catches at its first packets.
    let syn = &r["time_to_detect"]["per_class"]["syn_flood"];
    assert_eq!(u(&syn["flows"]), 260);
    assert!(
        u(&syn["detected_flows"]) > 200 && u(&syn["median_packet"]) <= 3,
        "{syn:#}"
    );
    assert!(
        r["skew"]["comparable"].as_bool().unwrap_or(false),
        "{:#}",
        r["skew"]
    );
    assert!(!r["skew"]["features"].as_array().expect("features").is_empty());
    report(&format!(
        "eval honest.pcap at decision points: {flagged} flagged, F1 {}, FPR {}, benign ever flagged {benign_ever:.3}, SYN flood median packet {}",
        m["f1"], m["false_positive_rate"], syn["median_packet"]
    ));

    // At the last packet the twin computes exactly the rows of the flow table: same verdicts.
    let last = workbench_json(&["eval", s(&model), s(&pcap), "--at", "last-packet", "--json"]);
    let rows = workbench_json(&["eval", s(&model), s(&table), "--no-cache", "--json"]);
    assert_eq!(rows["at"], "table_rows");
    assert_eq!(
        last["metrics"]["confusion"], rows["metrics"]["confusion"],
        "{last:#}\n{rows:#}"
    );
    assert_eq!(last["flagged_flows"], rows["flagged_flows"]);
    assert!(last["ever_flagged"].is_null());
    assert!(rows["time_to_detect"]["undefined"].is_string());
    // Packet 1 sees less than the last packet: its verdicts differ somewhere.
    let first = workbench_json(&["eval", s(&model), s(&pcap), "--at", "packet", "1", "--json"]);
    assert_eq!(first["at"], "packet_1");
    assert_ne!(first["metrics"]["confusion"], last["metrics"]["confusion"]);
    report(&format!(
        "eval honest.pcap: last packet {} flagged (= the table's {}), packet 1 {} flagged",
        last["flagged_flows"], rows["flagged_flows"], first["flagged_flows"]
    ));
}

/// A copy of a `workbench features` CSV with `column` increased by `add` on every row.
fn shifted_copy(table: &Path, out: &Path, column: &str, add: i64) {
    let text = std::fs::read_to_string(table).expect("table");
    let mut lines = text.lines();
    let header = lines.next().expect("header");
    let at = header
        .split(',')
        .position(|c| c == column)
        .unwrap_or_else(|| panic!("no column {column} in {header}"));
    let mut shifted = vec![header.to_string()];
    for line in lines {
        let mut f: Vec<String> = line.split(',').map(str::to_string).collect();
        let v: i64 = f[at].parse().unwrap_or_else(|_| panic!("{column}: {}", f[at]));
        f[at] = (v + add).to_string();
        shifted.push(f.join(","));
    }
    std::fs::write(out, shifted.join("\n") + "\n").expect("write");
}

#[test]
fn skew_ranks_a_feature_shifted_by_construction_first() {
    let dir = TempDir::new("eval-skew");
    let (table, model) = honest_model(dir.path(), "random");
    let shifted = dir.path().join("shifted.csv");
    shifted_copy(&table, &shifted, "fwd_payload_bytes", 5_000);
    let r = workbench_json(&["skew", s(&model), "--on", s(&shifted), "--no-cache", "--json"]);
    let features = r["features"].as_array().expect("features");
    assert_eq!(features[0]["feature"], "fwd_payload_bytes", "{r:#}");
    assert_eq!(features[0]["rank"], 1);
    let psi = features[0]["psi"].as_f64().expect("psi");
    let next = features[1]["psi"].as_f64().expect("psi");
    assert!(psi > 0.25 && next < 0.1, "PSI {psi} then {next}");
    assert!(
        features[0]["outside_training_range_share"]
            .as_f64()
            .unwrap_or(0.0)
            > 0.0
    );
    // The unshifted table: nothing stands out.
    let same = workbench_json(&["skew", s(&model), "--on", s(&table), "--no-cache", "--json"]);
    let top = same["features"][0]["psi"].as_f64().expect("psi");
    assert!(top < 0.1, "{:#}", same["features"][0]);
    report(&format!(
        "skew: fwd_payload_bytes + 5000 ranks first with PSI {psi:.2} (next {next:.3}); unshifted top PSI {top:.3}"
    ));
}

#[test]
fn bad_inputs_are_refused_or_explained() {
    let dir = TempDir::new("eval-bad");
    let (table, model) = honest_model(dir.path(), "host");
    let pcap = repo("sample-pcaps/honest.pcap");
    // A model whose features the data lacks: the features are named.
    let wednesday = shared_data("cic-ids2017/wednesday-0948-1006-slowloris-10col.csv");
    let e = failure(&["eval", s(&model), s(&wednesday), "--no-cache", "--json"]);
    assert!(
        e.contains("the model reads") && e.contains("no column for") && e.contains("fwd_ttl"),
        "{e}"
    );
    // A labels file that matches no flow.
    let rules = dir.path().join("nothing.toml");
    std::fs::write(&rules, "[[rule]]\nsrc = \"192.0.2.250\"\nlabel = \"PORTSCAN\"\n").expect("rules");
    let e = failure(&["eval", s(&model), s(&pcap), "--labels", s(&rules)]);
    assert!(e.contains("matches none of the 1860 flows"), "{e}");
    // Labels files are for captures.
    let e = failure(&["eval", s(&model), s(&table), "--labels", s(&rules)]);
    assert!(e.contains("a table carries its own label column"), "{e}");
    // One class: the figures that need both are null, with the reason.
    let http = shared_data("pcaps/http.pcap");
    let labels = repo("bench/real-eval/labels.toml");
    let r = workbench_json(&["eval", s(&model), s(&http), "--labels", s(&labels), "--json"]);
    let m = &r["metrics"];
    assert!(
        m["recall"].is_null() && m["precision"].is_null() && m["f1"].is_null(),
        "{m:#}"
    );
    assert!(m["undefined"]["recall"]
        .as_str()
        .unwrap_or("")
        .contains("no attack flow"));
    assert!(m["false_positive_rate"].as_f64().is_some());
    // `--at` takes decision-points, last-packet or packet N.
    let e = failure(&["eval", s(&model), s(&pcap), "--at", "first-packet"]);
    assert!(
        e.contains("expected decision-points, last-packet or packet N"),
        "{e}"
    );
    // A model file without training quantiles loads; skew says it cannot compare.
    let old = dir.path().join("old.ebml");
    let tree = workbench_flow::model::build::syn_count_tree(3).expect("tree");
    workbench_flow::model::file::write(&old, &tree, Value::Null).expect("write");
    let r = workbench_json(&["skew", s(&old), "--on", s(&pcap), "--json"]);
    assert_eq!(r["comparable"], false);
    assert!(
        r["reason"]
            .as_str()
            .unwrap_or("")
            .contains("records no training quantiles"),
        "{r:#}"
    );
    let r = workbench_json(&["eval", s(&old), s(&pcap), "--json"]);
    assert_eq!(r["skew"]["comparable"], false);
    assert!(u(&r["flagged_flows"]) > 0);
}

#[test]
fn a_cic_model_scores_unsw_rows_with_per_class_recall() {
    let dir = TempDir::new("eval-cross");
    let cic: Vec<PathBuf> = [
        "friday-ddos-attack-rows-1000.csv",
        "friday-portscan-attack-rows-1000.csv",
        "friday-ddos-labelled-flows-head300.csv",
    ]
    .iter()
    .map(|f| shared_data(&format!("cic-ids2017/{f}")))
    .collect();
    let unsw = shared_data("unsw-nb15/unsw-nb15-1-raw-head3400.csv");
    // The kernel features both map (today only `proto`; more when the UNSW-NB15 mappings land).
    let mapped = |paths: &[&Path]| -> Vec<String> {
        let mut args = vec!["inspect"];
        args.extend(paths.iter().map(|p| s(p)));
        args.extend(["--no-cache", "--json"]);
        let v = workbench_json(&args);
        let finding = v["findings"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["id"] == "kernel_features"))
            .cloned()
            .unwrap_or(Value::Null);
        finding["evidence"]["mapped"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|c| c["feature"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let cic_refs: Vec<&Path> = cic.iter().map(PathBuf::as_path).collect();
    let cic_features = mapped(&cic_refs);
    let shared: Vec<String> = mapped(&[unsw.as_path()])
        .into_iter()
        .filter(|f| cic_features.contains(f))
        .collect();
    assert!(
        !shared.is_empty(),
        "CIC-IDS2017 and UNSW-NB15 share no kernel feature"
    );
    let model = dir.path().join("cic.ebml");
    let features = shared.join(",");
    let mut args: Vec<&str> = vec!["train"];
    args.extend(cic.iter().map(|p| s(p)));
    args.extend([
        "--model",
        "tree",
        "--split",
        "random",
        "--features",
        &features,
        "--no-cache",
        "-o",
    ]);
    args.extend([s(&model), "--json"]);
    workbench_json(&args);
    let r = workbench_json(&["eval", s(&model), s(&unsw), "--no-cache", "--json"]);
    assert_eq!(u(&r["flows"]), 3_400);
    let per_class = r["per_class"].as_object().expect("per_class");
    for class in ["Exploits", "Reconnaissance", "normal"] {
        let c = &per_class[class];
        assert!(
            u(&c["flows"]) > 0 && c["recall"].as_f64().is_some(),
            "{class}: {r:#}"
        );
    }
    assert_eq!(u(&per_class["Exploits"]["flows"]), 70);
    report(&format!(
        "cross-dataset: CIC-IDS2017 Friday -> UNSW-NB15 raw over {features}: F1 {}, Exploits recall {}, normal recall {}",
        r["metrics"]["f1"], per_class["Exploits"]["recall"], per_class["normal"]["recall"]
    ));
}

/// Every capture of the shared set, as `workbench eval-table` lists them.
fn real_captures() -> Vec<PathBuf> {
    let mut all = Vec::new();
    for dir in ["pcaps", "pcaps/apps"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(shared_data(dir))
            .expect("shared captures")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        all.extend(files);
    }
    all
}

#[test]
fn the_real_set_labels_file_labels_every_flow_by_capture() {
    let dir = TempDir::new("eval-real");
    let (_, model) = honest_model(dir.path(), "host");
    let labels = repo("bench/real-eval/labels.toml");
    let captures = real_captures();
    assert_eq!(captures.len(), 26, "{captures:?}");
    let mut args: Vec<&str> = vec!["eval", s(&model)];
    args.extend(captures.iter().map(|p| s(p)));
    args.extend(["--labels", s(&labels), "--json"]);
    let r = workbench_json(&args);
    assert_eq!(u(&r["unlabelled_flows"]), 0, "{:#}", r["labels"]);
    assert_eq!(u(&r["labels"]["unmatched_flows"]), 0);
    let file = |name: &str| {
        r["files"]
            .as_array()
            .and_then(|f| {
                f.iter()
                    .find(|f| f["file"].as_str().is_some_and(|p| p.ends_with(name)))
            })
            .cloned()
            .unwrap_or_else(|| panic!("no file {name}"))
    };
    // Attack captures: every flow involves the attacker or victim, but nmap's reverse lookup.
    for (name, benign) in [
        ("synflood-spoofed.pcap", 0),
        ("cicddos2019-synflood.pcap", 0),
        ("masscan-tcp-0-1000.pcap", 0),
        ("nmap-80-all.pcap", 0),
        ("portscan-1-10000.pcapng", 1),
        ("udp-isakmp-amplification.pcap", 0),
    ] {
        let f = file(name);
        assert_eq!(u(&f["benign_flows"]), benign, "{name}: {f:#}");
        assert_eq!(u(&f["attack_flows"]), u(&f["flows"]) - benign, "{name}");
    }
    for name in [
        "http.pcap",
        "whois.pcap",
        "apps/zoom.pcap",
        "apps/alexa-app.pcapng",
    ] {
        let f = file(name);
        assert!(u(&f["flows"]) > 0 && u(&f["attack_flows"]) == 0, "{name}: {f:#}");
    }
    let classes: Vec<&str> = r["per_class"]
        .as_object()
        .expect("classes")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(classes, ["BENIGN", "PORTSCAN", "SYN_FLOOD", "UDP_AMPLIFICATION"]);
    // The same rules label `workbench features` tables, file by file.
    let out = dir.path().join("real.csv");
    let v = workbench_json(&[
        "features",
        s(&shared_data("pcaps/http.pcap")),
        s(&shared_data("pcaps/portscan-1-10000.pcapng")),
        "--labels",
        s(&labels),
        "-o",
        s(&out),
        "--json",
    ]);
    assert_eq!(v["labels"]["unmatched_flows"], 0, "{:#}", v["labels"]);
    assert_eq!(v["labels"]["labels"]["BENIGN"], 4);
    assert_eq!(v["labels"]["labels"]["PORTSCAN"], 10_003);
    report(&format!(
        "real set: {} flows in 26 captures, all labelled: {:?}",
        r["flows"], classes
    ));
}

/// A model trained on captures (at the probe's decision points) records its training rows'
/// quantiles too, so `skew` compares it with other traffic instead of saying it cannot.
#[test]
fn a_model_trained_on_captures_records_quantiles_that_skew_compares() {
    let dir = TempDir::new("eval-capture-model");
    let model = dir.path().join("capture.ebml");
    workbench_json(&[
        "train",
        s(&repo("sample-pcaps/honest.pcap")),
        "--model",
        "tree",
        "--max-depth",
        "4",
        "-o",
        s(&model),
        "--json",
    ]);
    let r = workbench_json(&[
        "skew",
        s(&model),
        "--on",
        s(&repo("sample-pcaps/naive.pcap")),
        "--json",
    ]);
    assert_eq!(r["comparable"], true, "{r:#}");
    // The training rows were taken where the probe decides.
    assert!(r["trained_on"].to_string().contains("decision"), "{r:#}");
    let features = r["features"].as_array().expect("features");
    assert!(!features.is_empty(), "{r:#}");
    assert!(features.iter().all(|f| f["psi"].is_number()), "{r:#}");
}

/// The feature's entry in a skew report.
fn skew_feature<'a>(r: &'a Value, name: &str) -> Option<&'a Value> {
    r["features"]
        .as_array()
        .expect("features")
        .iter()
        .find(|f| f["feature"] == name)
}

/// Skew on the model's own capture weighs each flow's decision points 1/N (every flow counts once
/// on each side): the features a flow cannot change (protocol, forward TTL and initial window, the
/// destination port when the model keeps it) show no shift, and durations at the decision points
/// are shorter than at each flow's last packet, not longer. `eval --at` words where it decided.
#[test]
fn skew_on_the_models_own_capture_weighs_flows_once() {
    let dir = TempDir::new("skew-weighted");
    let (_, model) = honest_model(dir.path(), "host");
    let pcap = repo("sample-pcaps/honest.pcap");
    let r = workbench_json(&["skew", s(&model), "--on", s(&pcap), "--json"]);
    assert_eq!(r["comparable"], true, "{r:#}");
    assert_eq!(u(&r["flows"]), 1_860, "{r:#}");
    assert!(u(&r["decisions"]) > u(&r["flows"]));
    assert!(r["method"].as_str().unwrap_or("").contains("1/N"), "{r:#}");
    let mut constant = Vec::new();
    for name in ["proto", "fwd_ttl", "fwd_init_window", "dst_port"] {
        let Some(f) = skew_feature(&r, name) else { continue };
        let psi = f["psi"].as_f64().expect("psi");
        assert!(psi < 0.05, "{name}: PSI {psi} on the model's own capture: {f:#}");
        constant.push(format!("{name} {psi:.3}"));
    }
    assert!(constant.len() >= 3, "{constant:?}");
    let d = skew_feature(&r, "duration_us").expect("duration_us");
    let median = r["levels"]
        .as_array()
        .expect("levels")
        .iter()
        .position(|l| l.as_f64() == Some(0.5))
        .expect("median level");
    let (trained, decided) = (
        d["training_quantiles"][median].as_i64().expect("trained"),
        d["decision_quantiles"][median].as_i64().expect("decided"),
    );
    assert!(
        decided < trained,
        "duration median decided {decided} us, trained {trained} us: {d:#}"
    );
    report(&format!(
        "skew honest.pcap on its own model: PSI {}; duration_us median trained {trained} us, decided {decided} us",
        constant.join(", ")
    ));

    let text = String::from_utf8_lossy(&workbench(&["skew", s(&model), "--on", s(&pcap)]).stdout).to_string();
    assert!(
        text.contains("decisions in 1860 flows") && text.contains("method: every flow counts once"),
        "{text}"
    );

    for (at, words) in [
        (vec!["--at", "last-packet"], "flagged at their last packet"),
        (vec!["--at", "packet", "3"], "flagged at packet 3"),
        (vec![], "flagged at their last decision point"),
    ] {
        let mut args = vec!["eval", s(&model), s(&pcap)];
        args.extend(at);
        let out = String::from_utf8_lossy(&workbench(&args).stdout).to_string();
        assert!(out.contains(words), "{args:?}: {out}");
        if words != "flagged at their last decision point" {
            assert!(!out.contains("decision point:"), "{args:?}: {out}");
        }
    }
}
