//! Errors under `--json`: a script running `workbench CMD --json | jq` gets one JSON object on
//! one line of stdout (`{"error": {message, causes, hint, exit_status, kind}}`), the person the
//! same error line on stderr as without JSON, and the exit status is unchanged.

use serde_json::Value;

use crate::common::{save_model, workbench};

/// The one stdout line of a failed run, parsed; the whole stdout must be that line.
fn error_object(stdout: &[u8]) -> Value {
    let text = String::from_utf8_lossy(stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stdout: {text}");
    let v: Value = serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}: {text}"));
    v["error"].clone()
}

#[test]
fn a_missing_input_under_json_is_one_json_line_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing-capture.pcap");
    let out = dir.path().join("out.csv");
    let args = [
        "features",
        missing.to_str().expect("utf-8"),
        "-o",
        out.to_str().expect("utf-8"),
        "--json",
    ];
    let run = workbench(&args);
    assert_eq!(run.status.code(), Some(1));
    let e = error_object(&run.stdout);
    let message = e["message"].as_str().expect("message");
    assert!(message.contains("missing-capture.pcap"), "{e}");
    assert_eq!(e["kind"], "error");
    assert_eq!(e["exit_status"], 1);
    // The chain from the outer error to the OS's reason; the hint is the end of the message.
    let causes: Vec<&str> = e["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .map(|c| c.as_str().expect("a string"))
        .collect();
    assert!(causes.len() >= 2, "{e}");
    assert!(causes[0].contains("missing-capture.pcap"), "{e}");
    assert!(causes.last().is_some_and(|c| c.contains("No such file")), "{e}");
    let hint = e["hint"].as_str().expect("a hint for a missing file");
    assert!(message.ends_with(hint), "{e}");
    // The person's line on stderr is the same text.
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.lines().any(|l| l == format!("error: {message}")),
        "{stderr}"
    );
}

#[test]
fn a_usage_error_under_json_is_kind_usage_with_exit_2() {
    let run = workbench(&["features", "x.pcap", "-o", "x.csv", "--json", "--no-such-flag"]);
    assert_eq!(run.status.code(), Some(2));
    let e = error_object(&run.stdout);
    assert_eq!(e["kind"], "usage");
    assert_eq!(e["exit_status"], 2);
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("--no-such-flag")),
        "{e}"
    );
    // clap's own text stays on stderr.
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("error: unexpected argument '--no-such-flag'"),
        "{stderr}"
    );

    // A missing required argument of a nested subcommand: its continuation line is kept.
    let run = workbench(&["model", "show", "--json"]);
    assert_eq!(run.status.code(), Some(2));
    let e = error_object(&run.stdout);
    assert_eq!(e["kind"], "usage");
    assert!(
        e["message"].as_str().is_some_and(|m| m.contains("<MODEL>")),
        "{e}"
    );
}

#[test]
fn a_failure_after_parsing_is_reported_for_a_nested_json_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_a_model = dir.path().join("notes.txt");
    std::fs::write(&not_a_model, "hello").expect("write");
    let run = workbench(&["model", "show", not_a_model.to_str().expect("utf-8"), "--json"]);
    assert_eq!(run.status.code(), Some(1));
    let e = error_object(&run.stdout);
    assert_eq!(e["kind"], "error");
    assert!(
        e["message"].as_str().is_some_and(|m| m.contains("notes.txt")),
        "{e}"
    );
}

#[test]
fn without_json_stdout_stays_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing-capture.pcap");
    let out = dir.path().join("out.csv");
    let run = workbench(&[
        "features",
        missing.to_str().expect("utf-8"),
        "-o",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(run.status.code(), Some(1));
    assert!(run.stdout.is_empty(), "{}", String::from_utf8_lossy(&run.stdout));
    assert!(String::from_utf8_lossy(&run.stderr).contains("missing-capture.pcap"));

    let run = workbench(&["features", "x.pcap", "-o", "x.csv", "--no-such-flag"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(run.stdout.is_empty(), "{}", String::from_utf8_lossy(&run.stdout));

    // `--json` after `--` is a value, not the flag: no JSON either.
    let model = save_model(
        dir.path(),
        "m.ebml",
        &workbench_flow::model::build::syn_count_tree(3).expect("tree"),
    );
    let run = workbench(&["eval", model.to_str().expect("utf-8"), "--", "--json"]);
    assert_eq!(run.status.code(), Some(1));
    assert!(run.stdout.is_empty(), "{}", String::from_utf8_lossy(&run.stdout));
}
