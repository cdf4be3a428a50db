//! `--split auto` takes the time split from the rows it trains and tests on: one row that
//! cleaning drops (an empty `Timestamp`, or a line holding only a flow id) leaves the split
//! `time` with the same sides, and is counted under `dropped`. Before, that one row made the
//! whole column "no time" and the run fell back to the random split. A kept row whose time
//! cannot be read is named by file and line where the time split is refused.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{workbench, workbench_json};
use crate::train_errors::train_args;

const HEADER: &str = "Flow ID,Source IP,Source Port,Destination IP,Destination Port,Timestamp,Flow Duration,Total Fwd Packets,Total Backward Packets,Label";

/// 400 rows in the CIC-IDS2017 TrafficLabelling layout (as the Wednesday slice's 10 columns),
/// one a minute from 9:00: every fourth row a slow attack from one of three hosts (long, few
/// packets), the rest benign, so both sides of a 70/30 time split hold both classes.
fn rows() -> Vec<String> {
    (0..400u32)
        .map(|i| {
            let attack = i % 4 == 0;
            let src = if attack {
                format!("172.16.0.{}", 1 + i % 3)
            } else {
                format!("192.168.10.{}", 5 + i % 11)
            };
            let (duration, fwd, bwd) = if attack {
                (90_000_000 + i * 1_000, 2 + i % 3, 0)
            } else {
                (1_000 + i * 37 % 5_000, 4 + i % 9, 3 + i % 7)
            };
            let port = 40_000 + i;
            format!(
                "{src}-192.168.10.50-{port}-80-6,{src},{port},192.168.10.50,80,5/7/2017 {}:{:02},{duration},{fwd},{bwd},{}",
                9 + i / 60,
                i % 60,
                if attack { "DoS slowloris" } else { "BENIGN" }
            )
        })
        .collect()
}

fn write(dir: &Path, name: &str, extra: Option<&str>) -> PathBuf {
    let mut text = format!("{HEADER}\n{}\n", rows().join("\n"));
    if let Some(line) = extra {
        text += line;
        text += "\n";
    }
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write table");
    path
}
fn train(data: &Path) -> Value {
    let out = data.with_extension("ebml");
    workbench_json(&train_args(data, &out, &[]))
}

#[test]
fn a_row_cleaning_drops_does_not_take_the_time_split_away() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clean = train(&write(dir.path(), "clean.csv", None));
    assert_eq!(clean["split"], "time", "{}", clean["split_reason"]);
    assert_eq!(clean["dropped"]["rows_dropped"], 0, "{}", clean["dropped"]);
    let sides = (clean["rows_train"].clone(), clean["rows_test"].clone());
    assert_eq!(
        sides.0.as_u64().zip(sides.1.as_u64()).map(|(a, b)| a + b),
        Some(400)
    );

    // A flow whose Timestamp is empty (its features all there), and a line holding only a flow
    // id: cleaning drops each, for the empty time and for the missing label.
    let empty_time =
        "172.16.0.1-192.168.10.50-39999-80-6,172.16.0.1,39999,192.168.10.50,80,,90000000,2,0,DoS slowloris";
    for (name, extra, reason, column) in [
        ("empty-time.csv", empty_time, "missing_value", "Timestamp"),
        ("flow-id-only.csv", "X-1,,,,,,,,,", "missing_label", "Label"),
    ] {
        let run = train(&write(dir.path(), name, Some(extra)));
        assert_eq!(run["split"], "time", "{name}: {}", run["split_reason"]);
        assert_eq!(
            (run["rows_train"].clone(), run["rows_test"].clone()),
            sides,
            "{name}: the same sides as without the row"
        );
        assert_eq!(run["model_id"], clean["model_id"], "{name}: the same model");
        let dropped = &run["dropped"];
        assert_eq!(
            (dropped["rows_read"].as_u64(), dropped["rows_dropped"].as_u64()),
            (Some(401), Some(1)),
            "{name}: {dropped}"
        );
        let reasons = dropped["rows_by_reason"].as_array().expect("reasons");
        assert_eq!(reasons.len(), 1, "{name}: {dropped}");
        assert_eq!(
            (
                &reasons[0]["reason"],
                &reasons[0]["rows"],
                &reasons[0]["columns"][0]
            ),
            (&Value::from(reason), &Value::from(1), &Value::from(column)),
            "{name}: {dropped}"
        );
    }
}

#[test]
fn a_kept_row_whose_time_cannot_be_read_is_named_by_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Line 402: the header, 400 rows, then this one (its features all there, so it is kept).
    let garbled =
        "192.168.10.5-192.168.10.50-39998-80-6,192.168.10.5,39998,192.168.10.50,80,later,1200,5,4,BENIGN";
    let data = write(dir.path(), "garbled.csv", Some(garbled));
    let why = format!(
        "a time split needs a timestamp per row; {} line 402: `Timestamp` holds `later`, which is no time",
        data.display()
    );
    let run = train(&data);
    // The next split the data allows (its attacks come from three hosts).
    assert_eq!(run["split"], "host", "{}", run["split_reason"]);
    assert_eq!(run["splits_considered"][0]["split"], "time");
    assert_eq!(run["splits_considered"][0]["why"], why.as_str());

    // Asked for, the time split is refused with that line, on one stderr line.
    let out_model = dir.path().join("time.ebml");
    let out = workbench(&train_args(&data, &out_model, &["--split", "time"]));
    assert!(!out.status.success(), "--split time trained");
    crate::common::only_json_error(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("--split time: {why}")), "{err}");
    assert!(!out_model.exists(), "no model written");
}
