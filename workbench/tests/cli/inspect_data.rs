//! Loading real public datasets and the pitfall report on them (data read in place from
//! `../shared/data`, never copied into the repository).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use workbench_data::dataset::{self, DatasetKind, LoadOptions, LoadedDataset};
use workbench_data::features::labels::CicOptions;
use workbench_data::features::{extract, DecisionPoint, FeaturesOptions};
use workbench_data::pitfalls::{self, Evidence, Finding};
use workbench_data::progress::NoProgress;

fn data_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(rel)
}

fn no_cache() -> LoadOptions {
    LoadOptions {
        no_cache: true,
        ..LoadOptions::default()
    }
}

fn load(paths: &[PathBuf]) -> LoadedDataset {
    dataset::load(paths, &no_cache()).unwrap_or_else(|e| panic!("{e}"))
}

fn finding<'a>(f: &'a [Finding], id: &str) -> Option<&'a Finding> {
    f.iter().find(|x| x.id == id)
}

/// A column's entry in a finding's evidence, as `inspect --json` prints it.
fn column(f: &Finding, name: &str) -> Value {
    let evidence = f.evidence.to_json();
    evidence["columns"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["column"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("{name} not in {evidence}"))
}

fn counts(ds: &LoadedDataset) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for c in &ds.class {
        *m.entry(c.clone()).or_default() += 1;
    }
    m
}

#[test]
fn identifiers_fire_on_cic_labelled_flows() {
    let ds = load(&[data_file("cic-ids2017/friday-ddos-labelled-flows-head300.csv")]);
    assert_eq!(ds.kind, DatasetKind::CicTrafficLabelling);
    let findings = pitfalls::inspect(&ds);
    let f = finding(&findings, "identifier_columns").expect("identifier finding");
    for name in [
        "Flow ID",
        "Source IP",
        "Source Port",
        "Destination IP",
        "Destination Port",
        "Timestamp",
    ] {
        column(f, name);
    }
    // All rows are BENIGN: the report says the power cannot be measured rather than inventing it.
    assert!(f.summary.contains("one class"), "{}", f.summary);
}

#[test]
fn slowloris_attacker_address_and_port_predict_the_label() {
    let ds = load(&[data_file("cic-ids2017/wednesday-0948-1006-slowloris-10col.csv")]);
    assert_eq!(ds.rows(), 30_233);
    let c = counts(&ds);
    assert_eq!((c["BENIGN"], c["DoS slowloris"]), (24_445, 5_788));
    let findings = pitfalls::inspect(&ds);
    let f = finding(&findings, "identifier_columns").expect("identifier finding");
    let src = column(f, "Source IP");
    assert_eq!(src["top_attack_value"]["value"], "172.16.0.1");
    assert_eq!(src["top_attack_value"]["attack_rows"], 5_788);
    assert_eq!(src["top_attack_value"]["benign_rows"], 201);
    let src_acc = src["accuracy"].as_f64().expect("accuracy");
    assert!(src_acc >= 0.95, "{src}");
    let port = column(f, "Destination Port");
    let (acc, base) = (
        port["accuracy"].as_f64().expect("acc"),
        port["majority_baseline"].as_f64().expect("base"),
    );
    assert!(
        acc > base + 0.05,
        "destination port should predict beyond the base rate: {port}"
    );
    assert!(f.summary.contains("Source IP"), "{}", f.summary);
    let s = finding(&findings, "split_comparison").expect("split comparison");
    let Evidence::SplitComparison(e) = &s.evidence else {
        panic!("split comparison evidence: {:?}", s.evidence)
    };
    for (split, score) in [
        ("random", Some(&e.splits.random)),
        ("time", e.splits.time.as_ref()),
    ] {
        let f1 = score.and_then(|s| s.f1);
        assert!(f1.is_some_and(|v| (0.0..=1.0).contains(&v)), "{split}: {e:?}");
    }
    assert!(
        s.summary.contains("random split F1") && s.summary.contains("time-ordered split F1"),
        "{}",
        s.summary
    );
}

#[test]
fn differently_spelled_headers_concatenate() {
    let ds = load(&[
        data_file("cic-ids2017/friday-ddos-labelled-flows-head300.csv"),
        data_file("cic-ids2017/friday-ddos-attack-rows-1000.csv"),
    ]);
    // One table of 1,299 rows with both classes: the benign row whose Flow Bytes/s and Flow
    // Packets/s are Infinity (zero duration) stays, counted per column; the cleaning step before
    // training drops it, and says so under `dropped`.
    assert_eq!(ds.rows(), 1_299);
    assert_eq!(ds.dropped.rows_read, 1_299);
    assert_eq!(ds.dropped.rows_dropped, 1);
    let r = &ds.dropped.rows_by_reason[0];
    assert_eq!((r.reason.as_str(), r.rows), ("nan_or_infinity", 1));
    assert_eq!(r.columns[0], "Flow Bytes/s");
    let health = |name: &str| {
        ds.health
            .iter()
            .find(|h| h.column == name)
            .unwrap_or_else(|| panic!("no health for {name}"))
    };
    assert_eq!(
        (health("Flow Bytes/s").infinite, health("Flow Packets/s").infinite),
        (1, 1)
    );
    assert_eq!(health("Flow Duration").infinite + health("Flow Duration").nan, 0);
    let c = counts(&ds);
    assert_eq!((c["BENIGN"], c["DDoS"]), (299, 1_000));
    // The duplicated header keeps both columns; "6.0" integers are numbers.
    assert!(ds.frame.column("Fwd Header Length.1").is_ok());
    assert!(ds
        .frame
        .column("Protocol")
        .and_then(|c| c.f64().map(|_| ()))
        .is_ok());
    assert_eq!(ds.time_ns.as_ref().map(Vec::len), Some(1_299));
    let ds = ds.cleaned().expect("cleaning keeps rows");
    assert_eq!(ds.rows(), 1_298);
    assert_eq!(counts(&ds)["BENIGN"], 298);
    assert_eq!(ds.time_ns.as_ref().map(Vec::len), Some(1_298));
    let map = dataset::kernel_mapping(&ds.column_names());
    assert!(map
        .mapped
        .iter()
        .any(|m| m.column == "Destination Port" && m.feature == "dst_port"));
    assert!(map.unmapped.iter().any(|u| u.column == "Idle Mean"));
    // The rows as kernel features, exactly as `workbench train --features kernel` (and the TUI's
    // Train tab) convert them.
    let prepared = workbench_data::train::prepare(&ds, "kernel", None).expect("kernel features");
    let kd = &prepared.ds;
    assert_eq!(kd.features.len(), 1_298);
    let missing: Vec<&str> = shared::features::FEATURES
        .iter()
        .enumerate()
        .filter(|(i, _)| !shared::features::is_opt_in(*i))
        .filter(|(i, _)| !prepared.mapped.iter().any(|m| m.feature_id == *i))
        .map(|(_, f)| f.name)
        .collect();
    // CIC has no TTL columns; its total packet count is derived from the two directions.
    assert_eq!(missing, ["fwd_ttl", "bwd_ttl"]);
    let port = ds
        .frame
        .column("Destination Port")
        .expect("port")
        .f64()
        .expect("f64")
        .get(0)
        .expect("value");
    assert_eq!(kd.features[0][0], port as i64);
    assert_eq!(kd.malicious.iter().filter(|&&m| m).count(), 1_000);
}

#[test]
fn unsw_raw_and_nsl_kdd_are_detected_with_their_class_counts() {
    let ds = load(&[data_file("unsw-nb15/unsw-nb15-1-raw-head3400.csv")]);
    assert_eq!(ds.kind, DatasetKind::UnswRaw);
    assert_eq!(ds.rows(), 3_400, "{:?}", ds.dropped);
    let c = counts(&ds);
    for (k, v) in [
        ("normal", 3_283),
        ("Exploits", 70),
        ("Reconnaissance", 27),
        ("DoS", 8),
        ("Generic", 7),
        ("Shellcode", 5),
    ] {
        assert_eq!(c.get(k), Some(&v), "{k}: {c:?}");
    }
    assert_eq!(ds.malicious.iter().filter(|&&m| m).count(), 117);
    // The raw files as distributed have no header: recognised by shape, standard names applied.
    let tmp = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(data_file("unsw-nb15/unsw-nb15-1-raw-head3400.csv")).expect("read");
    let headerless = tmp.path().join("UNSW-NB15_1.csv");
    std::fs::write(&headerless, text.split_once('\n').expect("header line").1).expect("write");
    let raw = load(&[headerless]);
    assert_eq!(raw.kind, DatasetKind::UnswRaw);
    assert!(raw.kind_reason.contains("no header"), "{}", raw.kind_reason);
    assert_eq!(
        (raw.rows(), raw.class, raw.host_column.as_deref()),
        (3_400, ds.class.clone(), Some("srcip"))
    );

    let ds = load(&[data_file("nsl-kdd/KDDTrain+_20Percent.txt")]);
    assert_eq!(ds.kind, DatasetKind::NslKdd);
    assert!(ds.kind_reason.contains("no header"), "{}", ds.kind_reason);
    assert_eq!(ds.rows(), 25_192);
    let attacks = ds.malicious.iter().filter(|&&m| m).count();
    assert_eq!((ds.rows() - attacks, attacks), (13_449, 11_743));
    // 21 attack types + normal (SOURCES.md counts 22 classes in all).
    assert_eq!(counts(&ds).len(), 22);
    // The class-balance evidence lists the 20 largest and says what it left out: the two
    // smallest classes, one row each.
    let findings = pitfalls::inspect(&ds);
    let Evidence::ClassBalance(e) = &finding(&findings, "class_balance")
        .expect("class_balance")
        .evidence
    else {
        panic!("class_balance evidence");
    };
    assert_eq!(
        (e.classes.len(), e.classes_total, e.rows_in_other_classes),
        (20, 22, 2)
    );
    let listed: usize = e.classes.iter().map(|c| c.rows).sum();
    assert_eq!(listed + e.rows_in_other_classes, ds.rows());

    let ds = load(&[data_file("cic-ids2017/machine-learning-csv-sample.csv")]);
    assert_eq!(ds.kind, DatasetKind::CicMachineLearning);
    assert_eq!(ds.rows(), 4_363);
    assert_eq!(counts(&ds)["Bot"], 1_966);
    // 10 Bot rows have `inf` rates (as pandas writes Infinity): dropped before training, with
    // the reason.
    assert_eq!(ds.dropped.rows_read, 4_363);
    assert_eq!(ds.dropped.rows_by_reason[0].reason, "nan_or_infinity");
    assert_eq!(ds.dropped.rows_dropped, 10);
    let ds = ds.cleaned().expect("cleaned");
    let c = counts(&ds);
    assert_eq!((c["WebAttack"], c["Bot"], c["BENIGN"]), (2_180, 1_956, 2));
}

/// The flow table `workbench features --labels` writes for a committed sample capture: kernel
/// features computed by the probe's twin, labelled from the generator's own labels file.
fn flow_table(variant: &str, dir: &Path) -> PathBuf {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-pcaps");
    let out = dir.join(format!("flows-{variant}.csv"));
    let opts = FeaturesOptions {
        pcaps: vec![samples.join(format!("{variant}.pcap"))],
        output: out.clone(),
        decision: DecisionPoint::LastPacket,
        labels: Some(samples.join(format!("labels-{variant}.csv"))),
        cic: CicOptions::default(),
        lenient: false,
        interface: None,
        opt_in: 0,
    };
    let report = extract(&opts, &NoProgress).unwrap_or_else(|e| panic!("features: {e:#}"));
    let labels = report.labels.expect("label report");
    assert_eq!((report.flows, labels.unmatched_flows), (1_860, 0), "{variant}");
    out
}

#[test]
fn generator_naive_set_leaks_ttl_and_address_honest_set_does_not() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let naive = load(&[flow_table("naive", tmp.path())]);
    assert_eq!(naive.kind, DatasetKind::FlowTable);
    let f = pitfalls::inspect(&naive);
    let h = finding(&f, "host_artefacts").expect("naive: host artefacts");
    let ttl = column(h, "fwd_ttl");
    assert!(ttl["accuracy"].as_f64().expect("acc") >= 0.95, "{ttl}");
    assert!(column(h, "src_ip")["accuracy"].as_f64().expect("acc") >= 0.95);

    let honest = load(&[flow_table("honest", tmp.path())]);
    let f = pitfalls::inspect(&honest);
    assert!(
        finding(&f, "host_artefacts").is_none(),
        "{:?}",
        finding(&f, "host_artefacts")
    );
    let ids = finding(&f, "identifier_columns").expect("identifiers");
    assert!(column(ids, "src_ip")["accuracy"].as_f64().expect("acc") < 0.95);
    // `attack_type` (written by `features --labels`) is the label's own detail: the class
    // column, not a feature that "leaks" the label.
    assert_eq!(honest.class_column.as_deref(), Some("attack_type"));
    let leak = serde_json::to_string(&finding(&f, "single_feature_leakage")).expect("json");
    assert!(!leak.contains("attack_type"), "{leak}");
}
