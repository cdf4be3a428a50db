//! `workbench features` on bad input: output formats and paths, damaged captures, and the
//! command line's `--json` document and one-line errors.

use std::process::Command;

use crate::featkit::{independent, ints, options, pcap, read_table, run, tuple_of, tuples};
use workbench_data::features::{extract, DecisionPoint};
use workbench_data::progress::NoProgress;

fn error_of(opts: &workbench_data::features::FeaturesOptions) -> String {
    match extract(opts, &NoProgress) {
        Ok(r) => panic!("expected an error, got {} rows", r.rows),
        Err(e) => workbench_data::error_chain(&e),
    }
}

#[test]
fn unknown_extension_and_unwritable_output_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = [pcap("http.pcap")];
    let txt = dir.path().join("out.txt");
    let e = error_of(&options(&input, &txt, DecisionPoint::LastPacket));
    assert!(e.contains("out.txt") && e.contains(".csv or .parquet"), "{e}");
    assert!(!e.contains('\n'), "one line: {e}");
    assert!(!txt.exists());

    // A path below a regular file cannot be created, also for root.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").expect("write");
    let below = file.join("out.csv");
    let e = error_of(&options(&input, &below, DecisionPoint::LastPacket));
    assert!(
        e.contains("plain-file/out.csv") && e.contains("cannot create"),
        "{e}"
    );
    assert!(!e.contains('\n'), "one line: {e}");

    let missing = [dir.path().join("missing.pcap")];
    let e = error_of(&options(
        &missing,
        &dir.path().join("o.csv"),
        DecisionPoint::LastPacket,
    ));
    assert!(e.contains("missing.pcap"), "{e}");
    assert!(!dir.path().join("o.csv").exists(), "no output after a failed run");
}

#[test]
fn truncated_capture_fails_naming_file_byte_and_packet_or_yields_what_was_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = std::fs::read(pcap("http.pcap")).expect("read sample");
    let cut = dir.path().join("cut.pcap");
    // Ten bytes short: the last record (packet 43) is incomplete.
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).expect("write");
    let out = dir.path().join("cut.csv");
    let mut opts = options(std::slice::from_ref(&cut), &out, DecisionPoint::LastPacket);
    let e = error_of(&opts);
    assert!(
        e.contains("cut.pcap") && e.contains("at byte") && e.contains("(packet 43)"),
        "{e}"
    );
    assert!(!e.contains('\n'), "one line: {e}");
    assert!(!out.exists(), "strict: no table");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "temporary file removed: {leftovers:?}");

    opts.lenient = true;
    let report = run(&opts);
    let truth = independent(&cut, true);
    assert_eq!(truth.packets, 42);
    assert_eq!(report.packets, 42);
    assert_eq!(report.skipped_records, 1);
    let df = read_table(&out);
    assert_eq!(df.height(), truth.flows.len());
    let total = ints(&df, "flow_packets");
    assert_eq!(tuples(&df), truth.flows.iter().map(tuple_of).collect::<Vec<_>>());
    for (i, f) in truth.flows.iter().enumerate() {
        assert_eq!(total[i], f.packets as i64);
    }
}

#[test]
fn command_line_json_document_and_one_line_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("t.parquet");
    let bin = env!("CARGO_BIN_EXE_workbench");
    let run = Command::new(bin)
        .args(["features", "--json", "-o"])
        .arg(&out)
        .arg(pcap("http.pcap"))
        .arg(pcap("mixed-demo.pcap"))
        .output()
        .expect("run workbench");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&run.stdout).expect("one JSON document on stdout");
    let truth = independent(&pcap("http.pcap"), false).flows.len()
        + independent(&pcap("mixed-demo.pcap"), false).flows.len();
    assert_eq!(doc["flows"], truth);
    assert_eq!(doc["rows"], truth);
    assert_eq!(doc["packets"], 43 + 596);
    assert_eq!(doc["output"], out.display().to_string());
    for key in [
        "unparsed",
        "elapsed_ns",
        "labels_load_ns",
        "packets_per_s",
        "parsed_packets",
        "decision",
    ] {
        assert!(doc.get(key).is_some(), "key {key} in {doc}");
    }
    assert_eq!(read_table(&out).height(), truth);

    let bad = Command::new(bin)
        .args(["features", "-o"])
        .arg(dir.path().join("t.xlsx"))
        .arg(pcap("http.pcap"))
        .output()
        .expect("run workbench");
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("t.xlsx"),
        "{stderr}"
    );
    assert!(bad.stdout.is_empty());
}
