//! A CIC-IDS2017 day file with a second header line inside it (what `cat` of two day files
//! leaves) reads as the file without it: the line is dropped as `repeated_header`, and the time
//! column stays a time, so `--split auto` still picks the time split and trains the same model.
//! Before, the header's `Timestamp` text made the whole column no time, the split fell back to
//! random (F1 0.932 against the time split's 0.823 on this slice) and the line was counted as a
//! row of unparseable values.

use crate::common::{shared_data, workbench_json, TempDir};

#[test]
fn a_header_line_inside_a_cic_file_is_dropped_and_the_time_split_stays() {
    let dir = TempDir::new("repeated-header");
    let clean = shared_data("cic-ids2017/wednesday-0948-1006-slowloris-10col.csv");
    let text = std::fs::read_to_string(&clean).expect("read the slice");
    let lines: Vec<&str> = text.lines().collect();
    let mut joined: Vec<&str> = lines[..15_000].to_vec();
    joined.push(lines[0]);
    joined.extend(&lines[15_000..]);
    let doubled = dir.path().join("wednesday-cat.csv");
    std::fs::write(&doubled, joined.join("\n") + "\n").expect("write");
    let s = |p: &std::path::Path| p.to_str().expect("utf-8").to_string();

    let inspected = workbench_json(&["inspect", &s(&doubled), "--no-cache", "--json"]);
    let dropped = &inspected["dropped"];
    assert_eq!(dropped["rows_read"], lines.len() as u64, "{dropped}");
    let reasons = dropped["rows_by_reason"].as_array().expect("reasons");
    assert_eq!(reasons.len(), 1, "{dropped}");
    assert_eq!(reasons[0]["reason"], "repeated_header");
    assert_eq!(reasons[0]["rows"], 1);
    assert_eq!(inspected["dataset"]["time_column"], "Timestamp");

    let train = |data: &std::path::Path, out: &str| {
        workbench_json(&[
            "train",
            &s(data),
            "--model",
            "tree",
            "--no-cache",
            "--json",
            "-o",
            &s(&dir.path().join(out)),
        ])
    };
    let with = train(&doubled, "with.ebml");
    let without = train(&clean, "without.ebml");
    assert_eq!(with["split"], "time", "{}", with["split_reason"]);
    assert_eq!(with["metrics"]["confusion"], without["metrics"]["confusion"]);
    assert_eq!(with["model_id"], without["model_id"]);
}
