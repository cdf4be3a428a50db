//! `workbench eval --flows-out FILE`: one row per flow with its last decision and why (the
//! tree's path, as the TUI's flow detail explains it), as CSV or JSON Lines; and `eval`/`skew`
//! on a table dropping a row only for a blank in a column the model reads, saying so.
//!
//! A tree is trained on a generated capture (a seed of its own, not the committed sample), then
//! eval writes the flows: every flow is a row, the verdicts counted from the file are the
//! report's, and each explanation is checked against itself: the printed comparisons hold for the
//! printed values, and a flagged flow's leaf reaches the threshold.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::{report, workbench, workbench_json, TempDir};
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// RFC 4180 records: fields split at `,` outside quotes, `""` inside quotes is `"`.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field, mut quoted, mut chars) =
        (Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        !quoted && field.is_empty() && row.is_empty(),
        "the file ends inside a record"
    );
    rows
}

/// A CSV file as one map per row, column name to field.
fn csv_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).expect("flows file");
    let mut records = parse_csv(&text).into_iter();
    let header = records.next().expect("a header line");
    records
        .map(|r| {
            assert_eq!(r.len(), header.len(), "{r:?}");
            header.iter().cloned().zip(r).collect()
        })
        .collect()
}

fn jsonl_rows(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("flows file")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// A tree's one-line path (`f=v <= t -> g=w > u -> leaf 0.93`): each comparison recomputed from
/// the printed value and threshold must go the printed way; returns the steps and the leaf.
fn check_path(why: &str) -> (Vec<(String, i64, String, i64)>, f64) {
    let parts: Vec<&str> = why.split(" -> ").collect();
    let (leaf, splits) = parts.split_last().unwrap_or_else(|| panic!("no path: {why}"));
    let leaf: f64 = leaf
        .strip_prefix("leaf ")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("the path does not end in a leaf: {why}"));
    let steps = splits
        .iter()
        .map(|step| {
            let words: Vec<&str> = step.split(' ').collect();
            let [name_value, op, threshold] = words[..] else {
                panic!("not `feature=value op threshold`: {step} in {why}")
            };
            let (name, value) = name_value.split_once('=').expect("feature=value");
            let value: i64 = value.parse().expect("an integer value");
            let threshold: i64 = threshold.parse().expect("an integer threshold");
            let left = value <= threshold;
            assert_eq!(
                op,
                if left { "<=" } else { ">" },
                "{name}={value} against {threshold} printed as {op}: {why}"
            );
            (name.to_string(), value, op.to_string(), threshold)
        })
        .collect();
    (steps, leaf)
}

/// `gen-pcaps --seed 5` into `dir/gen`, and a depth-3 tree trained on its honest capture at the
/// decision points: (capture, labels, model).
fn trained(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let gen = dir.join("gen");
    workbench_json(&["gen-pcaps", "-o", s(&gen), "--seed", "5", "--json"]);
    let (pcap, labels) = (gen.join("honest.pcap"), gen.join("labels-honest.csv"));
    let model = dir.join("tree.ebml");
    workbench_json(&[
        "train",
        s(&pcap),
        "--labels",
        s(&labels),
        "--model",
        "tree",
        "--max-depth",
        "3",
        "--no-cache",
        "-o",
        s(&model),
        "--json",
    ]);
    (pcap, labels, model)
}

/// The capture's flow table, written to `out`.
fn flow_table(pcap: &Path, labels: &Path, out: &Path) -> PathBuf {
    workbench_json(&["features", s(pcap), "--labels", s(labels), "-o", s(out), "--json"]);
    out.to_path_buf()
}

#[test]
fn flows_out_explains_each_flows_last_decision_and_agrees_with_the_report() {
    let dir = TempDir::new("eval-flows-out");
    let (pcap, _, model) = trained(dir.path());
    let csv = dir.path().join("flows.csv");
    let r = workbench_json(&["eval", s(&model), s(&pcap), "--flows-out", s(&csv), "--json"]);
    let flows = u(&r["flows"]);
    let flagged = u(&r["flagged_flows"]);
    assert!(flows > 1_000 && flagged > 100, "{r:#}");
    assert_eq!(r["flows_out"]["path"], s(&csv));
    assert_eq!(u(&r["flows_out"]["rows"]), flows);
    let threshold_raw = r["model"]["threshold"].as_i64().expect("threshold");
    let threshold = threshold_raw as f64 / 65_536.0;

    let rows = csv_rows(&csv);
    assert_eq!(rows.len() as u64, flows, "one row per flow");
    let count =
        |pred: &dyn Fn(&BTreeMap<String, String>) -> bool| rows.iter().filter(|r| pred(r)).count() as u64;
    assert_eq!(count(&|r| r["verdict"] == "malicious"), flagged);
    assert_eq!(count(&|r| r["verdict"] == "none"), u(&r["undecided_flows"]));
    assert_eq!(
        count(&|r| r["ever_flagged"] == "true"),
        u(&r["ever_flagged"]["flagged_flows"])
    );
    let mut paths = 0;
    let mut longest = 0;
    for row in &rows {
        assert_eq!(row["file"], s(&pcap));
        row["src_ip"].parse::<std::net::IpAddr>().expect("an address");
        row["dst_ip"].parse::<std::net::IpAddr>().expect("an address");
        assert!(
            ["tcp", "udp", "icmp", "icmpv6", "other"].contains(&row["proto"].as_str()),
            "{row:?}"
        );
        assert!(
            !row["label"].is_empty(),
            "the generator labels every flow: {row:?}"
        );
        let packets: u32 = row["packets"].parse().expect("packets");
        // Ever flagged exactly when there is a first flagged packet, never after the flow's end.
        match row["first_flagged_packet"].as_str() {
            "" => assert_eq!(row["ever_flagged"], "false", "{row:?}"),
            p => {
                assert_eq!(row["ever_flagged"], "true", "{row:?}");
                assert!(p.parse::<u32>().expect("a packet") <= packets, "{row:?}");
            }
        }
        if row["verdict"] == "none" {
            assert!(row["why"].is_empty() && row["score"].is_empty(), "{row:?}");
            continue;
        }
        let decided: u32 = row["decided_at_packet"].parse().expect("decided_at_packet");
        assert!(decided >= 1 && decided <= packets, "{row:?}");
        let (steps, leaf) = check_path(&row["why"]);
        paths += 1;
        longest = longest.max(steps.len());
        // A tree's score is its leaf: the printed leaf and score agree, and decide the verdict.
        let score: f64 = row["score"].parse().expect("score");
        assert!((leaf - score).abs() < 1e-4, "{row:?}");
        if row["verdict"] == "malicious" {
            assert!(
                leaf >= threshold - 1e-4,
                "flagged below the threshold {threshold}: {row:?}"
            );
            assert!(row["score_raw"].parse::<i64>().expect("raw") >= threshold_raw);
            assert_eq!(row["ever_flagged"], "true", "{row:?}");
        } else {
            assert!(
                leaf < threshold + 1e-4,
                "benign at or above the threshold {threshold}: {row:?}"
            );
        }
    }
    assert!(longest >= 2, "a depth-3 tree walks more than one split somewhere");

    // The same flows as JSON Lines, with the steps as an array: the same rows, the same paths.
    let jsonl = dir.path().join("flows.jsonl");
    let rj = workbench_json(&["eval", s(&model), s(&pcap), "--flows-out", s(&jsonl), "--json"]);
    assert_eq!(rj["flagged_flows"], r["flagged_flows"]);
    let lines = jsonl_rows(&jsonl);
    assert_eq!(lines.len() as u64, flows);
    for (row, line) in rows.iter().zip(&lines) {
        assert_eq!(line["src_ip"], row["src_ip"].as_str());
        assert_eq!(line["verdict"], row["verdict"].as_str());
        assert_eq!(line["why"], row["why"].as_str());
        let steps = line["steps"].as_array().expect("steps");
        if row["verdict"] == "none" {
            assert!(steps.is_empty() && line["score"].is_null());
            continue;
        }
        let (printed, _) = check_path(&row["why"]);
        let (leaf, splits) = steps.split_last().expect("steps");
        assert_eq!(splits.len(), printed.len());
        for (step, (name, value, op, threshold)) in splits.iter().zip(&printed) {
            assert_eq!(step["step"], "split");
            assert_eq!(
                (&step["feature"], &step["value"], &step["op"], &step["threshold"]),
                (
                    &Value::from(name.as_str()),
                    &Value::from(*value),
                    &Value::from(op.as_str()),
                    &Value::from(*threshold)
                )
            );
            assert_eq!(step["went_left"], op == "<=");
        }
        // The recomputed leaf is the score the twin stored at the decision.
        assert_eq!(leaf["step"], "leaf");
        assert_eq!(leaf["score_raw"], line["score_raw"], "{line}");
        assert_eq!(
            line["verdict"] == "malicious",
            u(&line["score_raw"]) as i64 >= threshold_raw
        );
    }
    report(&format!(
        "eval --flows-out: {flows} flows of a seed-5 honest capture, {flagged} flagged; {paths} decision paths re-checked (longest {longest} splits)"
    ));
}

#[test]
fn flows_out_refuses_other_extensions_and_names_table_rows_by_line() {
    let dir = TempDir::new("eval-flows-out-table");
    let (pcap, labels, model) = trained(dir.path());

    // Neither .csv nor .jsonl: refused before the capture is read, nothing left behind.
    let bad = dir.path().join("flows.txt");
    let out = workbench(&["eval", s(&model), s(&pcap), "--flows-out", s(&bad), "--json"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("flows.txt") && err.contains(".txt") && err.contains(".csv or .jsonl"),
        "{err}"
    );
    assert!(!bad.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A table: each row named by its file and line (the header is line 1).
    let table = flow_table(&pcap, &labels, &dir.path().join("flows-table.csv"));
    let out = dir.path().join("rows.csv");
    let r = workbench_json(&[
        "eval",
        s(&model),
        s(&table),
        "--no-cache",
        "--flows-out",
        s(&out),
        "--json",
    ]);
    assert_eq!(r["at"], "table_rows");
    let rows = csv_rows(&out);
    assert_eq!(rows.len() as u64, u(&r["flows"]));
    assert!(!rows[0].contains_key("src_ip") && rows[0].contains_key("line"));
    let text = std::fs::read_to_string(&table).expect("table");
    let lines: Vec<&str> = text.lines().collect();
    let label_col = lines[0]
        .split(',')
        .position(|c| c == "attack_type")
        .expect("attack_type column");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["file"], s(&table));
        assert_eq!(
            row["row"],
            (i + 1).to_string(),
            "no row is dropped from this table"
        );
        let line: usize = row["line"].parse().expect("line");
        assert_eq!(line, i + 2);
        // The row's label is the one on that line of the table.
        let fields: Vec<&str> = lines[line - 1].split(',').collect();
        assert_eq!(row["label"], fields[label_col], "line {line}");
        check_path(&row["why"]);
    }
    assert_eq!(
        rows.iter().filter(|r| r["verdict"] == "malicious").count() as u64,
        u(&r["flagged_flows"])
    );
    report(&format!(
        "eval --flows-out on a table: {} rows named by line; .txt refused",
        rows.len()
    ));
}

/// A table with a blank line and a quoted field holding a line break: every later row is
/// named on the line it starts on (the line was the row's place plus the header's line, so
/// every row after them was named one or two lines too early).
#[test]
fn flows_out_names_the_line_a_row_starts_on_after_blank_lines_and_quoted_breaks() {
    let dir = TempDir::new("eval-flows-out-lines");
    let (pcap, labels, model) = trained(dir.path());
    let plain = flow_table(&pcap, &labels, &dir.path().join("plain.csv"));
    let text = std::fs::read_to_string(&plain).expect("table");
    let mut lines = text.lines();
    let header = lines.next().expect("header");
    let label_col = header
        .split(',')
        .position(|c| c == "attack_type")
        .expect("attack_type");
    // Row 3 gets a note over two lines, a blank line follows row 5.
    let mut out = format!("{header},note\n");
    let mut starts: Vec<(usize, String)> = Vec::new();
    let mut line = 2;
    for (i, row) in lines.enumerate() {
        starts.push((line, row.split(',').nth(label_col).expect("label").to_string()));
        if i == 2 {
            out.push_str(&format!("{row},\"two\nlines\"\n"));
            line += 2;
        } else {
            out.push_str(&format!("{row},-\n"));
            line += 1;
        }
        if i == 4 {
            out.push('\n');
            line += 1;
        }
    }
    let table = dir.path().join("lines.csv");
    std::fs::write(&table, out).expect("write");
    let rows_out = dir.path().join("rows.jsonl");
    workbench_json(&[
        "eval",
        s(&model),
        s(&table),
        "--no-cache",
        "--flows-out",
        s(&rows_out),
        "--json",
    ]);
    let rows = jsonl_rows(&rows_out);
    assert_eq!(rows.len(), starts.len());
    for (row, (line, label)) in rows.iter().zip(&starts) {
        assert_eq!(u(&row["line"]), *line as u64, "{row}");
        assert_eq!(row["label"], label.as_str(), "line {line}");
    }
    assert_eq!(
        u(&rows[5]["line"]),
        9,
        "after the two-line row and the blank line"
    );
}

#[test]
fn eval_and_skew_drop_a_table_row_only_for_a_blank_the_model_reads() {
    let dir = TempDir::new("eval-blank");
    let gen = dir.path().join("gen");
    workbench_json(&["gen-pcaps", "-o", s(&gen), "--seed", "6", "--json"]);
    let table = flow_table(
        &gen.join("naive.pcap"),
        &gen.join("labels-naive.csv"),
        &dir.path().join("flows.csv"),
    );
    let model = dir.path().join("m.ebml");
    workbench_json(&[
        "train",
        s(&table),
        "--model",
        "tree",
        "--features",
        "syn_count,bwd_packets",
        "--no-cache",
        "-o",
        s(&model),
        "--json",
    ]);
    // One blank in a column the model does not read (line 3), one in a column it reads (line 5).
    let text = std::fs::read_to_string(&table).expect("table");
    let mut lines: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    let col = |name: &str| lines[0].iter().position(|c| c == name).expect("column");
    let (unused, used) = (col("fwd_ttl"), col("syn_count"));
    lines[2][unused].clear();
    lines[4][used].clear();
    let blanks = dir.path().join("blanks.csv");
    let joined: Vec<String> = lines.iter().map(|l| l.join(",")).collect();
    std::fs::write(&blanks, joined.join("\n") + "\n").expect("write table");
    let rows = (lines.len() - 1) as u64;

    let out = dir.path().join("rows.jsonl");
    let r = workbench_json(&[
        "eval",
        s(&model),
        s(&blanks),
        "--no-cache",
        "--flows-out",
        s(&out),
        "--json",
    ]);
    assert_eq!(
        u(&r["flows"]),
        rows - 1,
        "only the row with a blank syn_count goes: {:#}",
        r["dropped"]
    );
    let d = &r["dropped"];
    assert_eq!((u(&d["rows_read"]), u(&d["rows_dropped"])), (rows, 1), "{d:#}");
    let reasons = d["rows_by_reason"].as_array().expect("reasons");
    assert_eq!(reasons.len(), 1, "{d:#}");
    assert_eq!(reasons[0]["columns"], serde_json::json!(["syn_count"]), "{d:#}");
    assert_eq!(reasons[0]["column_rows"], serde_json::json!([1]), "{d:#}");
    // The row with the blank fwd_ttl is scored (line 3); the one with the blank syn_count is not.
    let scored: Vec<u64> = jsonl_rows(&out).iter().map(|l| u(&l["line"])).collect();
    assert!(scored.contains(&3) && !scored.contains(&5), "{:?}", &scored[..6]);
    // In words too.
    let words = workbench(&["eval", s(&model), s(&blanks), "--no-cache"]);
    let text = String::from_utf8_lossy(&words.stdout);
    assert!(
        text.contains(&format!("1 of {rows} rows dropped: missing values in syn_count")),
        "{text}"
    );

    // skew reads the table the same way.
    let k = workbench_json(&["skew", s(&model), "--on", s(&blanks), "--no-cache", "--json"]);
    assert_eq!(u(&k["dropped"]["rows_dropped"]), 1, "{:#}", k["dropped"]);
    assert_eq!(
        k["dropped"]["rows_by_reason"][0]["columns"],
        serde_json::json!(["syn_count"])
    );
    report(&format!(
        "eval/skew on a table with blanks: {} of {rows} rows scored (blank fwd_ttl kept, blank syn_count dropped)",
        rows - 1
    ));
}
