//! Training reads only the columns its model uses (docs/BENCHMARKS.md, "Training's memory"):
//! on a CIC-IDS2017-layout table with many wide columns no kernel feature maps to, `train
//! --json` reports (`memory.columns_loaded`) that only the mapped columns and the label were
//! read, lists the others as unmapped as a full load does, and writes the model, byte for byte,
//! that the library trains on the whole table. A load of some columns has a cache entry of its
//! own: a later full load never reads it.

use std::path::{Path, PathBuf};

use crate::common::workbench_json;
use serde_json::Value;
use workbench_data::dataset::{self, LoadOptions};
use workbench_data::train::decision_points::DecisionConfig;
use workbench_data::train::run::{self, Input, RunOptions};
use workbench_data::train::{ModelKind, TrainOptions};

/// Columns a kernel feature maps to.
const MAPPED: [&str; 5] = [
    "Flow Duration",
    "Total Fwd Packets",
    "Total Backward Packets",
    "Fwd Packet Length Max",
    "SYN Flag Count",
];

/// Columns no kernel feature maps to (end-of-flow statistics, a note), wide on purpose; the
/// last is empty in every row (a full load drops it whole).
const UNUSED: [&str; 9] = [
    "Idle Mean",
    "Idle Std",
    "Idle Max",
    "Active Mean",
    "Active Std",
    "Subflow Fwd Bytes",
    "Subflow Bwd Bytes",
    "Note",
    "Bwd Avg Bulk Rate",
];

/// A table of `rows` rows: the unused columns first and between the mapped ones, the label last.
fn table(dir: &Path, rows: usize) -> PathBuf {
    let mut header: Vec<&str> = UNUSED[..4].to_vec();
    header.extend(&MAPPED[..3]);
    header.extend(&UNUSED[4..]);
    header.extend(&MAPPED[3..]);
    header.push("Label");
    let mut text = header.join(",");
    text.push('\n');
    for i in 0..rows {
        let attack = i % 3 == 0;
        let value = |name: &str| -> String {
            match name {
                "Flow Duration" => format!("{}", 1_000 + (i * 7_919) % 50_000),
                "Total Fwd Packets" => format!("{}", if attack { 1 + i % 3 } else { 4 + i % 40 }),
                "Total Backward Packets" => format!("{}", if attack { i % 2 } else { 3 + i % 30 }),
                "Fwd Packet Length Max" => format!("{}", (i * 31) % 1_460),
                "SYN Flag Count" => format!("{}", usize::from(attack || i % 11 == 0)),
                "Note" => format!("free text that no model reads in row {i} {}", "x".repeat(64)),
                "Bwd Avg Bulk Rate" => String::new(),
                "Label" => (if attack { "DoS Hulk" } else { "BENIGN" }).to_string(),
                _ => format!("{}.{:06}", 123_456_789 + i, (i * 977) % 1_000_000),
            }
        };
        let fields: Vec<String> = header.iter().map(|h| value(h)).collect();
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    let path = dir.join("wide.csv");
    std::fs::write(&path, text).expect("write the table");
    path
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

#[test]
fn train_reads_only_the_columns_its_model_uses_and_trains_the_same_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = table(dir.path(), 900);
    let model = dir.path().join("projected.json");
    let f = file.to_str().expect("utf-8");
    let m = model.to_str().expect("utf-8");
    let v = workbench_json(&["train", f, "--model", "tree", "--no-cache", "--json", "-o", m]);
    let memory = &v["memory"];
    assert_eq!(
        memory["columns_in_files"],
        UNUSED.len() + MAPPED.len() + 1,
        "{memory}"
    );
    let mut loaded = strings(&memory["columns_loaded"]);
    loaded.sort();
    let mut expected: Vec<String> = MAPPED.iter().chain(&["Label"]).map(ToString::to_string).collect();
    expected.sort();
    assert_eq!(loaded, expected, "only the mapped columns and the label are read");
    assert!(
        memory["peak_rss_bytes"].as_u64().is_some_and(|b| b > 0),
        "{memory}"
    );
    // The columns not read are listed without a kernel counterpart, as a full load lists them.
    let unmapped: Vec<String> = v["unmapped_columns"]
        .as_array()
        .expect("unmapped_columns")
        .iter()
        .map(|u| u[0].as_str().expect("a column").to_string())
        .collect();
    for c in UNUSED {
        assert!(unmapped.iter().any(|u| u == c), "{c} not in {unmapped:?}");
    }

    // The library on the whole table (every column loaded): the same model file, byte for byte,
    // and the same columns without a kernel counterpart.
    let full = dataset::load(
        std::slice::from_ref(&file),
        &LoadOptions {
            no_cache: true,
            ..Default::default()
        },
    )
    .expect("full load");
    assert_eq!(
        full.frame.width(),
        UNUSED.len() + MAPPED.len(),
        "every column but the empty one"
    );
    let opts = RunOptions {
        features: "kernel".into(),
        keep_flagged: false,
        split: None,
        at: None,
        decision: DecisionConfig::default(),
        positive: None,
        train: TrainOptions {
            kind: ModelKind::Tree,
            ..TrainOptions::default()
        },
    };
    let out = run::run(Input::Table(&full), &opts).expect("train on the whole table");
    let whole = dir.path().join("whole.json");
    out.write(&whole, out.provenance(Some(&full))).expect("write");
    assert_eq!(
        std::fs::read(&whole).expect("read"),
        std::fs::read(&model).expect("read"),
        "the same model from the columns read as from the whole table"
    );
    let listed: Vec<&str> = out.unmapped_columns.iter().map(|(c, _)| c.as_str()).collect();
    let mut cli: Vec<&str> = unmapped.iter().map(String::as_str).collect();
    // A full load drops the empty column whole: it is listed there, not as unmapped.
    cli.retain(|c| *c != "Bwd Avg Bulk Rate");
    assert_eq!(cli, listed);
}

#[test]
fn a_load_of_some_columns_has_a_cache_entry_of_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = table(dir.path(), 300);
    let cache = dir.path().join("cache");
    let model = dir.path().join("m.json");
    let c = cache.to_str().expect("utf-8");
    workbench_json(&[
        "train",
        file.to_str().expect("utf-8"),
        "--model",
        "tree",
        "--cache-dir",
        c,
        "--json",
        "-o",
        model.to_str().expect("utf-8"),
    ]);
    let load = |columns: Option<Vec<String>>| {
        dataset::load(
            std::slice::from_ref(&file),
            &LoadOptions {
                cache_dir: Some(cache.clone()),
                columns,
                ..Default::default()
            },
        )
        .expect("load")
    };
    // The training run cached its columns only: a full load is not served from that entry.
    let all = load(None);
    assert!(!all.from_cache, "a full load read the entry of a projected one");
    assert_eq!(all.frame.width(), UNUSED.len() + MAPPED.len());
    dataset::cache::wait_for_writes();
    assert!(load(None).from_cache, "the full load's own entry");
    let some = load(Some(vec!["label".into(), "flow_duration".into()]));
    assert_eq!(some.column_names(), ["Flow Duration", "Label"]);
}
