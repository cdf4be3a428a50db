//! Error messages a first-time user met (the error-message report): each bad input gets one
//! line that names the file, the line or packet, and what was expected, with what to do; the
//! exit status is 1 and nothing is written.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::common::{capfile, save_model, shared_data, workbench};
use workbench_flow::model::build;

/// The failing command's one `error:` line (the command must fail with status 1).
fn error_line(args: &[&str]) -> String {
    let out = workbench(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "workbench {}: expected exit 1: {stderr}",
        args.join(" ")
    );
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "one error line expected: {stderr}");
    errors[0].to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn capture(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    capfile::write_udp_flows(&p, |i| vec![i as u8; 8]);
    p
}

#[test]
fn a_model_file_given_as_data_is_named_as_one_by_every_command() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = save_model(tmp.path(), "tree.ebml", &build::syn_count_tree(3).expect("tree"));
    let other = save_model(tmp.path(), "other.ebml", &build::syn_count_tree(2).expect("tree"));
    let m = s(&model);
    let out = tmp.path().join("out.csv");
    let cases: Vec<Vec<&str>> = vec![
        vec!["inspect", m, "--no-cache"],
        vec!["train", m, "--model", "tree", "-o", s(&out), "--no-cache"],
        vec!["eval", s(&other), m, "--no-cache"],
        vec!["skew", s(&other), "--on", m, "--no-cache"],
        vec!["features", m, "-o", s(&out)],
    ];
    for args in cases {
        let line = error_line(&args);
        assert!(
            line.contains(&format!(
                "{m}: is a workbench model file (written by `workbench train`)"
            )),
            "{args:?}: {line}"
        );
        // What to do with it, and what to give as the data instead.
        assert!(
            line.contains(&format!("`workbench eval {m} DATA`")) && line.contains("as the data"),
            "{args:?}: {line}"
        );
        assert!(
            !line.contains("separator") && !line.contains("header line") && !line.contains("spaces"),
            "read as a table: {args:?}: {line}"
        );
    }
    assert!(!out.exists(), "nothing is written");
}

#[test]
fn compressed_and_json_files_given_as_tables_are_named() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let gz = tmp.path().join("flows.csv.gz");
    std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]).expect("write");
    let line = error_line(&["inspect", s(&gz), "--no-cache"]);
    assert!(
        line.contains("is gzip-compressed, not a table (CSV or Parquet)")
            && line.contains(&format!("`gunzip -k {}`", s(&gz))),
        "{line}"
    );
    let json = tmp.path().join("report.json");
    std::fs::write(&json, "{\n  \"rows\": 3,\n  \"columns\": []\n}\n").expect("write");
    let line = error_line(&["inspect", s(&json), "--no-cache"]);
    assert!(line.contains("is a JSON document"), "{line}");
    // A compressed capture given as a capture: the same words.
    let out = tmp.path().join("o.csv");
    let line = error_line(&["features", s(&gz), "-o", s(&out)]);
    assert!(
        line.contains("is gzip-compressed, not a pcap or pcapng capture"),
        "{line}"
    );
}

#[test]
fn a_truncated_capture_names_lenient_where_the_command_has_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let whole = capture(tmp.path(), "whole.pcap");
    let bytes = std::fs::read(&whole).expect("read");
    let cut = tmp.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 5]).expect("write");
    let out = tmp.path().join("t.csv");
    let line = error_line(&["features", s(&cut), "-o", s(&out)]);
    assert!(
        line.contains("truncated record at byte") && line.contains("(packet 40)"),
        "{line}"
    );
    assert!(
        line.contains("; pass --lenient to read the packets before it"),
        "no --lenient hint: {line}"
    );
    assert!(!out.exists(), "nothing is written");
    // The hint is true: --lenient reads it.
    let ok = workbench(&["features", s(&cut), "-o", s(&out), "--lenient"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    // eval has --lenient too; train does not, so it is not suggested there.
    let model = save_model(tmp.path(), "m.ebml", &build::syn_count_tree(3).expect("tree"));
    let line = error_line(&["eval", s(&model), s(&cut)]);
    assert!(line.contains("pass --lenient"), "{line}");
    let line = error_line(&["skew", s(&model), "--on", s(&cut)]);
    assert!(line.contains("pass --lenient"), "{line}");
    let rules = tmp.path().join("all.toml");
    std::fs::write(&rules, "[[rule]]\nlabel = \"BENIGN\"\n").expect("write rules");
    let x = tmp.path().join("x.ebml");
    let line = error_line(&[
        "train",
        s(&cut),
        "--labels",
        s(&rules),
        "--model",
        "tree",
        "-o",
        s(&x),
    ]);
    assert!(line.contains("truncated record at byte"), "{line}");
    assert!(!line.contains("--lenient"), "train has no --lenient: {line}");
}

#[test]
fn an_empty_or_cut_off_capture_is_named_by_its_size() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let whole = std::fs::read(capture(tmp.path(), "whole.pcap")).expect("read");
    let out = tmp.path().join("o.csv");
    let model = save_model(tmp.path(), "m.ebml", &build::syn_count_tree(3).expect("tree"));
    let cases: [(&str, usize, &str); 3] = [
        ("empty.pcap", 0, "file is empty (0 bytes)"),
        (
            "two.pcap",
            2,
            "file is only 2 bytes, shorter than the 4-byte format magic",
        ),
        (
            "ten.pcap",
            10,
            "file is only 10 bytes, shorter than the 24-byte pcap file header",
        ),
    ];
    for (name, n, expected) in cases {
        let p = tmp.path().join(name);
        std::fs::write(&p, &whole[..n]).expect("write");
        for args in [
            vec!["features", s(&p), "-o", s(&out)],
            vec!["eval", s(&model), s(&p)],
        ] {
            let line = error_line(&args);
            assert!(
                line.contains(&format!("{}: {expected}", s(&p))),
                "{args:?}: {line}"
            );
            assert!(!line.contains("failed to fill whole buffer"), "{line}");
        }
    }
}

/// Ten data rows of a three-column table; `row(i)` may replace row i.
fn table(dir: &Path, name: &str, row: impl Fn(usize) -> Option<String>) -> PathBuf {
    let mut text = String::from("duration,packets,Label\n");
    for i in 0..10 {
        let label = if i % 2 == 0 { "BENIGN" } else { "DoS" };
        text += &row(i).unwrap_or_else(|| format!("{},{},{label}", 1000 + i * 7, 1 + i % 3));
        text += "\n";
    }
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write table");
    p
}

#[test]
fn an_unclosed_quote_is_named_at_the_line_it_opens() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // Data row 6 is line 7.
    let p = table(tmp.path(), "quote.csv", |i| {
        (i == 5).then(|| "\"1035,3,DoS".to_string())
    });
    let line = error_line(&["inspect", s(&p), "--no-cache"]);
    assert!(
        line.contains(&format!(
            "{}: an opening double quote at line 7 is never closed",
            s(&p)
        )),
        "{line}"
    );
    assert!(!line.contains("has 1 fields"), "{line}");
}

#[test]
fn an_unparseable_value_is_named_with_its_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // Data row 4 is line 5.
    let p = table(tmp.path(), "badval.csv", |i| {
        (i == 3).then(|| "12x5,1,DoS".to_string())
    });
    let out = workbench(&["inspect", s(&p), "--no-cache"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains(&format!(
            "1 rows: unparseable (in duration); first at {} line 5: `12x5` in duration",
            s(&p)
        )),
        "{stdout}"
    );
    let json = workbench(&["inspect", s(&p), "--no-cache", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    let example = &v["dropped"]["rows_by_reason"][0]["examples"][0];
    assert_eq!(example["line"], 5, "{v:#}");
    assert_eq!(example["value"], "12x5", "{v:#}");
}

#[test]
fn the_tui_without_a_terminal_says_so_and_names_the_json_commands() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["tui", "nosuch.csv"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: the TUI needs a terminal, and stdin and stdout are not one"),
        "{stderr}"
    );
    assert!(stderr.contains("`workbench inspect DATA --json`"), "{stderr}");
}

#[test]
fn features_refuse_a_labels_file_that_matches_no_flow() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pcap = shared_data("pcaps/http.pcap");
    let labels = shared_data("cic-ids2017/wednesday-0948-1006-slowloris-10col.csv");
    let out = tmp.path().join("h.csv");
    let line = error_line(&["features", s(&pcap), "--labels", s(&labels), "-o", s(&out)]);
    assert!(
        line.contains(&format!(
            "{}: the labels file matches none of the 3 flows of {} (read: 30233 CIC rows)",
            s(&labels),
            s(&pcap)
        )),
        "{line}"
    );
    // What the flows and the rows look like: two different days.
    assert!(line.contains("the flows start 2004-05-13 10:17:07 UTC"), "{line}");
    assert!(
        line.contains("the rows' Timestamps span 2017-07-05 12:48:00 UTC"),
        "{line}"
    );
    assert!(line.contains("no flow has both endpoints"), "{line}");
    assert!(line.contains("nothing written"), "{line}");
    assert!(!out.exists(), "the table must not be written");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).expect("list").collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    // eval says the same of the same files.
    let model = save_model(tmp.path(), "m.ebml", &build::syn_count_tree(3).expect("tree"));
    let line = error_line(&["eval", s(&model), s(&pcap), "--labels", s(&labels)]);
    assert!(
        line.contains("the labels file matches none of the 3 flows"),
        "{line}"
    );
    assert!(line.contains("the flows start 2004-05-13 10:17:07 UTC"), "{line}");
}
