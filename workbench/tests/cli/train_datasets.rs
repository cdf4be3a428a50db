//! Every dataset the workbench loads can be trained on (issue 16): UNSW-NB15 (raw files and the
//! training/testing sets) and NSL-KDD columns mapped to kernel features with their unit
//! conversions (checked on known rows), models on kernel features and on the datasets' own
//! columns (the latter not deployable), the mapping in the `kernel_features` finding, and bad
//! input named.

use std::path::Path;

use crate::common::{report, shared_data, workbench, workbench_json};
use serde_json::Value;
use shared::features::feature_id;
use workbench_data::dataset::{self, LoadOptions};
use workbench_data::train::prepare;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn load(rel: &str) -> dataset::LoadedDataset {
    dataset::load(
        &[shared_data(rel)],
        &LoadOptions {
            no_cache: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The kernel feature values of row `row` of a dataset, by feature name.
fn row_values(rel: &str, row: usize) -> impl Fn(&str) -> i64 {
    let p = prepare(&load(rel), "kernel", None).expect("prepare");
    let x = p.ds.features[row];
    move |name: &str| x[feature_id(name).unwrap_or_else(|| panic!("{name}"))]
}

#[test]
fn unsw_nb15_and_nsl_kdd_values_are_converted_to_the_probes_units() {
    // UNSW-NB15 raw, row 1: 59.166.0.0:1390 -> 149.171.126.6:53 udp, dur 0.001055 s, sbytes 132,
    // dbytes 164, sttl 31, dttl 29, Spkts 2, Dpkts 2, smeansz 66, dmeansz 82.
    let v = row_values("unsw-nb15/unsw-nb15-1-raw-head3400.csv", 0);
    assert_eq!(v("duration_us"), 1_055, "seconds to microseconds");
    assert_eq!(v("proto"), 17, "udp");
    assert_eq!((v("fwd_packets"), v("bwd_packets")), (2, 2));
    assert_eq!(
        v("fwd_payload_bytes"),
        132 - 2 * 28,
        "IP bytes minus IPv4 + UDP headers"
    );
    assert_eq!(v("bwd_payload_bytes"), 164 - 2 * 28);
    assert_eq!((v("fwd_ttl"), v("bwd_ttl")), (31, 29));
    assert_eq!((v("fwd_len_mean"), v("bwd_len_mean")), (66 - 28, 82 - 28));
    // Derived with the probe's formulas.
    assert_eq!(v("packets"), 4);
    assert_eq!(v("pkt_len_mean"), (76 + 108) / 4);
    assert_eq!(v("packets_per_s"), 4 * 1_000_000 / 1_055);
    assert_eq!(v("iat_mean_us"), 1_055 / 3);
    assert_eq!(v("down_up_ratio"), 1);
    // A TCP row (the 9th): FIN, dur 0.240139, sbytes 918 in 12 packets, dbytes 25552 in 24,
    // smeansz 77: TCP headers are 40 bytes.
    let text = std::fs::read_to_string(shared_data("unsw-nb15/unsw-nb15-1-raw-head3400.csv")).expect("csv");
    let (tcp, line) = text
        .lines()
        .skip(1)
        .enumerate()
        .find(|(_, l)| l.contains(",tcp,") && l.contains(",0.240139,918,25552,"))
        .expect("the TCP row");
    let f: Vec<&str> = line.split(',').collect();
    assert_eq!((f[16], f[17], f[22]), ("12", "24", "77"), "Spkts, Dpkts, smeansz");
    let v = row_values("unsw-nb15/unsw-nb15-1-raw-head3400.csv", tcp);
    assert_eq!(v("duration_us"), 240_139);
    assert_eq!(v("proto"), 6);
    assert_eq!(v("fwd_payload_bytes"), 918 - 12 * 40);
    assert_eq!(v("bwd_payload_bytes"), 25_552 - 24 * 40);
    assert_eq!(v("fwd_len_mean"), 77 - 40);

    // The training/testing set (as shared: no `proto`): row 1 has no TCP window or sequence
    // number, so its headers are taken as UDP-sized. spkts 2, sbytes 496, smean 248, sttl 254.
    let v = row_values("unsw-nb15/unsw-nb15-training-sample.csv", 0);
    assert_eq!(v("fwd_packets"), 2);
    assert_eq!(v("fwd_payload_bytes"), 496 - 2 * 28);
    assert_eq!(v("fwd_len_mean"), 248 - 28);
    assert_eq!(v("fwd_ttl"), 254);

    // NSL-KDD: row 1 is `0,udp,private,SF,28,0,...`; durations are whole seconds.
    let v = row_values("nsl-kdd/KDDTrain+_20Percent.txt", 0);
    assert_eq!(
        (
            v("duration_us"),
            v("proto"),
            v("fwd_payload_bytes"),
            v("bwd_payload_bytes")
        ),
        (0, 17, 28, 0)
    );
    let text = std::fs::read_to_string(shared_data("nsl-kdd/KDDTrain+_20Percent.txt")).expect("txt");
    let (row, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.split(',').next().is_some_and(|d| d != "0"))
        .expect("a row lasting a second or more");
    let f: Vec<&str> = line.split(',').collect();
    let v = row_values("nsl-kdd/KDDTrain+_20Percent.txt", row);
    let seconds: i64 = f[0].parse().expect("duration");
    assert_eq!(v("duration_us"), seconds * 1_000_000);
    assert_eq!(v("fwd_payload_bytes"), f[4].parse::<i64>().expect("src_bytes"));
    assert_eq!(v("bwd_payload_bytes"), f[5].parse::<i64>().expect("dst_bytes"));
    assert_eq!(v("urg_count"), f[8].parse::<i64>().expect("urgent"));
    assert_eq!(
        v("proto"),
        match f[1] {
            "tcp" => 6,
            "udp" => 17,
            _ => 1,
        }
    );
}

fn train(data: &Path, features: &str, out: &Path) -> Value {
    workbench_json(&[
        "train",
        s(data),
        "--model",
        "tree",
        "--features",
        features,
        "--no-cache",
        "-o",
        s(out),
        "--json",
    ])
}

fn names(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("{key}: {v}"))
        .iter()
        .map(|m| m[key].as_str().unwrap_or("").to_string())
        .collect()
}

/// (dataset, least kernel features mapped, the mapped list (before the gate), least kernel F1,
/// least dataset-feature F1). Measured (2026-12, depth 8, seed 1): UNSW raw kernel 0.913 (time
/// split; sttl/dttl left out as host artefacts), dataset 0.840; UNSW set kernel 0.963, dataset
/// 0.968 (random: no time, host or file); NSL-KDD kernel 0.973, dataset 0.994 (random).
const CASES: &[(&str, usize, &[&str], f64, f64)] = &[
    (
        "unsw-nb15/unsw-nb15-1-raw-head3400.csv",
        8,
        &[
            "proto",
            "duration_us",
            "fwd_packets",
            "bwd_packets",
            "fwd_payload_bytes",
            "bwd_payload_bytes",
            "fwd_len_mean",
            "bwd_len_mean",
            "bytes_per_s",
            "packets_per_s",
            "iat_mean_us",
            "fwd_ttl",
            "bwd_ttl",
            "pkt_len_mean",
            "down_up_ratio",
            "fwd_packets_per_s",
            "bwd_packets_per_s",
            "packets",
        ],
        0.85,
        0.75,
    ),
    (
        "unsw-nb15/unsw-nb15-training-sample.csv",
        8,
        &[
            "fwd_packets",
            "bwd_packets",
            "fwd_payload_bytes",
            "bwd_payload_bytes",
            "fwd_len_mean",
            "bwd_len_mean",
            "fwd_ttl",
            "bwd_ttl",
            "pkt_len_mean",
            "down_up_ratio",
            "packets",
        ],
        0.93,
        0.93,
    ),
    (
        "nsl-kdd/KDDTrain+_20Percent.txt",
        3,
        &[
            "proto",
            "duration_us",
            "fwd_payload_bytes",
            "bwd_payload_bytes",
            "urg_count",
        ],
        0.95,
        0.98,
    ),
];

#[test]
fn unsw_nb15_and_nsl_kdd_train_with_kernel_and_with_dataset_features() {
    let dir = tempfile::tempdir().expect("tempdir");
    for &(rel, least, mapped, kernel_f1, dataset_f1) in CASES {
        let data = shared_data(rel);
        let kernel = train(&data, "kernel", &dir.path().join("k.ebml"));
        assert_eq!(kernel["deployable"], true);
        let mut used = names(&kernel["feature_mapping"], "feature");
        used.extend(names(&kernel["left_out"], "feature"));
        let mut want: Vec<String> = mapped.iter().map(std::string::ToString::to_string).collect();
        used.sort();
        want.sort();
        assert_eq!(used, want, "{rel}: mapped kernel features (used and left out)");
        assert!(used.len() >= least, "{rel}: {} mapped", used.len());
        for m in kernel["feature_mapping"].as_array().expect("mapping") {
            assert!(
                m["conversion"].as_str().is_some_and(|c| !c.is_empty())
                    && m["note"].as_str().is_some_and(|n| !n.is_empty()),
                "{rel}: every mapping says its conversion and how it differs: {m}"
            );
        }
        let f1 = kernel["metrics"]["f1"].as_f64().expect("f1");
        assert!(f1 >= kernel_f1, "{rel}: kernel-feature F1 {f1}");

        let model = dir.path().join("d.ebml");
        let own = train(&data, "dataset", &model);
        assert_eq!(own["deployable"], false);
        assert!(own["not_deployable"]
            .as_str()
            .is_some_and(|w| w.contains("does not compute")));
        let inputs = own["features"].as_array().map_or(0, Vec::len);
        assert!(
            inputs > used.len(),
            "{rel}: the dataset's own columns ({inputs} inputs)"
        );
        let own_inputs = own["features"].to_string();
        assert!(
            !own_inputs.contains("difficulty"),
            "{rel}: NSL-KDD's difficulty rates the labelling and is never an input: {own_inputs}"
        );
        let f1_own = own["metrics"]["f1"].as_f64().expect("f1");
        assert!(f1_own >= dataset_f1, "{rel}: dataset-feature F1 {f1_own}");
        let shown = workbench_json(&["model", "show", s(&model), "--json"]);
        assert!(shown["not_deployable"].as_str().is_some_and(|w| !w.is_empty()));
        assert!(shown["dataset_model"]["inputs"]
            .as_array()
            .is_some_and(|i| i.len() == inputs));
        let out = workbench(&["model", "show", s(&model)]);
        assert!(String::from_utf8_lossy(&out.stdout).contains("NOT DEPLOYABLE"));
        report(&format!(
            "train test: {rel}: {} kernel features mapped, kernel F1 {f1:.3} ({} split), dataset F1 {f1_own:.3} on {inputs} inputs ({} split)",
            used.len(),
            kernel["split"].as_str().unwrap_or("?"),
            own["split"].as_str().unwrap_or("?")
        ));
    }
}

#[test]
fn the_kernel_features_finding_carries_conversions_and_look_alikes() {
    let r = workbench_json(&[
        "inspect",
        s(&shared_data("unsw-nb15/unsw-nb15-1-raw-head3400.csv")),
        "--no-cache",
        "--json",
    ]);
    let finding = r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == "kernel_features")
        .expect("kernel_features finding");
    let mapped = finding["evidence"]["mapped"].as_array().expect("mapped");
    let sbytes = mapped
        .iter()
        .find(|m| m["column"] == "sbytes")
        .expect("sbytes mapped");
    assert_eq!(sbytes["feature"], "fwd_payload_bytes");
    assert!(sbytes["conversion"]
        .as_str()
        .is_some_and(|c| c.contains("minus 40 bytes per TCP packet")));
    assert!(sbytes["note"]
        .as_str()
        .is_some_and(|n| n.contains("transaction bytes")));
    let packets = mapped
        .iter()
        .find(|m| m["feature"] == "packets")
        .expect("packets derived");
    assert_eq!(packets["derived_from"], serde_json::json!(["Spkts", "Dpkts"]));
    let unmapped = finding["evidence"]["unmapped"].as_array().expect("unmapped");
    let swin = unmapped.iter().find(|u| u["column"] == "swin").expect("swin");
    assert!(swin["why"]
        .as_str()
        .is_some_and(|w| w.contains("only looks alike")));
    let sintpkt = unmapped
        .iter()
        .find(|u| u["column"] == "Sintpkt")
        .expect("Sintpkt");
    assert!(sintpkt["why"]
        .as_str()
        .is_some_and(|w| w.contains("one direction")));
}

/// CIC-IDS2017 writes its hours on a 12-hour clock without AM/PM: rows stamped `3:15` after a
/// morning of `9:48`-`10:06` are the afternoon's, so the time split must test on them (read as
/// written, they would be the earliest rows and train the model).
#[test]
fn a_cic_afternoon_written_without_pm_is_tested_on_by_the_time_split() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(shared_data("cic-ids2017/wednesday-0948-1006-slowloris-10col.csv"))
        .expect("csv");
    let mut csv = text.trim_end().to_string();
    let mut afternoon = 0;
    for line in text
        .lines()
        .skip(1)
        .filter(|l| l.ends_with(",DoS slowloris"))
        .take(1500)
    {
        let f: Vec<&str> = line.split(',').collect();
        // Same flow values, moved to 3:15 (15:15) and named as another attack.
        csv.push_str(&format!(
            "\n{},{},{},{},{},5/7/2017 3:15,{},{},{},Heartbleed",
            f[0], f[1], f[2], f[3], f[4], f[6], f[7], f[8]
        ));
        afternoon += 1;
    }
    assert_eq!(afternoon, 1500);
    let data = dir.path().join("wednesday-with-afternoon.csv");
    std::fs::write(&data, csv).expect("write");
    let out = train(&data, "kernel", &dir.path().join("t.ebml"));
    assert_eq!(out["split"], "time", "{}", out["split_reason"]);
    let tested = out["per_class"]["Heartbleed"]["rows"].as_u64().unwrap_or(0);
    assert!(
        tested > 0 && tested <= afternoon,
        "the afternoon's rows are the latest, so the test side holds them: per_class {}",
        out["per_class"]
    );
    let inspected = workbench_json(&["inspect", s(&data), "--no-cache", "--json"]);
    assert!(
        inspected["dataset"]["kind_reason"]
            .as_str()
            .is_some_and(|r| r.contains("12-hour clock")),
        "the reading of the clock is said: {}",
        inspected["dataset"]
    );
}
