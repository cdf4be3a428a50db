//! Issue 20 item 1, through the binary: a capture given where a table is expected (and a table
//! where a capture is) is named as such with the command to run; the CSV separator is detected
//! (`,` `;` tab) or the error names the one it saw; a "cannot" error ends with what to do.

use std::path::{Path, PathBuf};

use crate::common::{capfile, workbench, workbench_json};

/// The failing command's one stderr line (the command must fail).
fn error_line(args: &[&str]) -> String {
    let out = workbench(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "workbench {} succeeded: {stderr}",
        args.join(" ")
    );
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "one error line expected: {stderr}");
    errors[0].to_string()
}

fn capture(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    capfile::write_udp_flows(&p, |i| vec![i as u8; 8]);
    p
}

/// Ten rows, two features, `sep` between fields.
fn table(dir: &Path, name: &str, sep: &str) -> PathBuf {
    let mut text = ["flow_duration", "fwd_packets", "Label"].join(sep) + "\n";
    for i in 0..10 {
        let label = if i % 2 == 0 { "BENIGN" } else { "DoS" };
        text += &[
            format!("{}", 1000 + i * 7),
            format!("{}", 1 + i % 3),
            label.to_string(),
        ]
        .join(sep);
        text += "\n";
    }
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write table");
    p
}

#[test]
fn a_capture_given_as_a_table_is_named_with_the_features_command() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // By its name, and whatever it is called (the magic decides, not the extension).
    for name in ["http.pcap", "dump.cap"] {
        let pcap = capture(tmp.path(), name);
        let p = pcap.to_str().expect("utf-8");
        let line = error_line(&["inspect", p, "--no-cache"]);
        let stem = name.split('.').next().expect("stem");
        assert!(
            line.contains(&format!("{p}: is a packet capture (pcap), not a table")),
            "{line}"
        );
        assert!(
            line.contains(&format!("`workbench features {p} -o {stem}.csv`")),
            "the fix is missing: {line}"
        );
        assert!(!line.contains("ragged"), "read as CSV: {line}");
    }
}

#[test]
fn a_table_given_as_a_capture_is_named_with_the_commands_that_read_tables() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let csv = table(tmp.path(), "flows.csv", ",");
    let c = csv.to_str().expect("utf-8");
    let out = tmp.path().join("out.csv");
    let line = error_line(&["features", c, "-o", out.to_str().expect("utf-8")]);
    assert!(
        line.contains("is a text file (a CSV table?), not a pcap or pcapng capture"),
        "{line}"
    );
    assert!(
        line.contains(&format!("`workbench inspect {c}`")),
        "the fix is missing: {line}"
    );
    // A Parquet file as a capture: named by its magic.
    let parquet = tmp.path().join("t.parquet");
    std::fs::write(&parquet, b"PAR1 not really").expect("write");
    let line = error_line(&[
        "features",
        parquet.to_str().expect("utf-8"),
        "-o",
        out.to_str().expect("utf-8"),
    ]);
    assert!(
        line.contains("is a Parquet table, not a pcap or pcapng capture"),
        "{line}"
    );
}

#[test]
fn semicolon_and_tab_separated_tables_load_like_comma_separated_ones() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (name, sep) in [("comma.csv", ","), ("semi.csv", ";"), ("tab.tsv", "\t")] {
        let p = table(tmp.path(), name, sep);
        let v = workbench_json(&["inspect", p.to_str().expect("utf-8"), "--no-cache", "--json"]);
        let columns: Vec<&str> = v["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .map(|c| c["name"].as_str().expect("name"))
            .collect();
        assert_eq!(columns, ["flow_duration", "fwd_packets", "Label"], "{name}");
        assert_eq!(v["rows"], 10, "{name}");
        assert_eq!(v["dataset"]["label_column"], "Label", "{name}");
        assert_eq!(
            v["columns"][0]["dtype"], "numeric",
            "{name}: numbers read as numbers"
        );
    }
}

#[test]
fn an_unknown_separator_is_named_with_the_fix() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = table(tmp.path(), "pipes.csv", "|");
    let line = error_line(&["inspect", p.to_str().expect("utf-8"), "--no-cache"]);
    assert!(line.contains("no `,`, `;` or tab between its fields"), "{line}");
    assert!(
        line.contains("separated by `|`"),
        "the separator seen is not named: {line}"
    );
    assert!(
        line.contains("save the table with `,`, `;` or tab"),
        "the fix is missing: {line}"
    );
}

#[test]
fn cannot_errors_end_with_what_to_do() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("missing.csv");
    let line = error_line(&["inspect", missing.to_str().expect("utf-8"), "--no-cache"]);
    assert!(line.contains("cannot read"), "{line}");
    assert!(
        line.ends_with("check the path (relative paths start at the current folder)"),
        "{line}"
    );
    // A ragged row says which separator it split on and what to do about the row.
    let ragged = tmp.path().join("ragged.csv");
    std::fs::write(&ragged, "a;b;Label\n1;2;BENIGN\n1;2;3;DoS\n").expect("write");
    let line = error_line(&["inspect", ragged.to_str().expect("utf-8"), "--no-cache"]);
    assert!(line.contains("line 3 has 4 fields, the header has 3"), "{line}");
    assert!(
        line.contains("separated by `;`") && line.contains("remove the row"),
        "{line}"
    );
    // A depth the probe cannot walk names the range to give.
    let csv = table(tmp.path(), "t.csv", ",");
    let line = error_line(&[
        "train",
        csv.to_str().expect("utf-8"),
        "--model",
        "tree",
        "--max-depth",
        "30",
        "-o",
        tmp.path().join("m.ebml").to_str().expect("utf-8"),
    ]);
    assert!(
        line.contains("cannot run in the probe") && line.contains("give --max-depth 1 to 24"),
        "{line}"
    );
}

#[test]
fn a_capture_or_table_given_as_a_model_is_named_with_the_train_command() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pcap = capture(tmp.path(), "flows.pcap");
    let line = error_line(&["model", "show", pcap.to_str().expect("utf-8")]);
    assert!(line.contains("not a workbench model file"), "{line}");
    assert!(
        line.contains("it is a packet capture; train a model on it with `workbench train CAPTURE"),
        "{line}"
    );
    let csv = table(tmp.path(), "flows.csv", ",");
    let line = error_line(&["model", "show", csv.to_str().expect("utf-8")]);
    assert!(
        line.contains("it is a text file (a CSV table?); train a model on it with `workbench train TABLE"),
        "{line}"
    );
}
