//! `workbench bench all --quick`: every section is in the JSON report, ran or skipped with a
//! reason; every figure that ran is a finite number; the markdown carries the table. The
//! numbers themselves are never asserted (they depend on the machine). As root the kernel sections
//! (probe, events, live) must have run.

use crate::common::{report, TempDir};
use serde_json::Value;

const SECTIONS: [&str; 8] = [
    "probe", "events", "live", "features", "load", "pitfalls", "train", "tui",
];

#[test]
fn bench_all_quick_reports_every_section() {
    let dir = TempDir::new("ebml-bench-all-");
    let md = dir.path().join("BENCHMARKS.md");
    let json_out = dir.path().join("benchmarks.json");
    // An existing document: the prose around the generated region must survive.
    std::fs::write(&md, "# Benchmarks\n\nIntro.\n\n## Prose\n\nKept by hand.\n").expect("write md");
    let out = crate::common::workbench(&[
        "bench",
        "all",
        "--quick",
        "--json",
        "--md",
        md.to_str().expect("utf-8"),
        "--json-out",
        json_out.to_str().expect("utf-8"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench all failed: {stderr}");
    let printed: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&json_out).expect("json written"))
        .expect("file is JSON");
    assert_eq!(printed, written, "--json prints what --json-out holds");
    assert_eq!(written["quick"], Value::Bool(true));
    assert!(written["machine"]["nproc"].as_u64().unwrap_or(0) >= 1);

    let sections = written["sections"].as_array().expect("sections");
    let names: Vec<&str> = sections.iter().filter_map(|s| s["section"].as_str()).collect();
    assert_eq!(names, SECTIONS, "every section, in order");
    let mut ran = Vec::new();
    for s in sections {
        let name = s["section"].as_str().unwrap_or("?");
        match s["status"].as_str() {
            Some("ran") => {
                let figures = s["figures"].as_array().expect("figures");
                assert!(!figures.is_empty(), "{name} ran without figures");
                for f in figures {
                    let value = f["value"].as_f64();
                    assert!(
                        value.is_some_and(f64::is_finite),
                        "{name}: {f} has no finite value"
                    );
                    // The table names every figure that ran.
                    let figure = f["name"].as_str().expect("figure name");
                    assert!(
                        std::fs::read_to_string(&md)
                            .expect("md")
                            .contains(&format!("`{figure}`")),
                        "{figure} missing from the markdown"
                    );
                }
                ran.push(name);
            }
            Some("skipped") => {
                let reason = s["reason"].as_str().unwrap_or("");
                assert!(!reason.is_empty(), "{name} skipped without a reason");
                report(&format!("bench_all: {name} skipped: {reason}"));
            }
            other => panic!("{name}: status {other:?}: {}", s["reason"]),
        }
    }
    // Sections that need nothing but this program always run.
    assert!(ran.contains(&"tui"), "tui did not run");

    let text = std::fs::read_to_string(&md).expect("md");
    assert!(text.contains("<!-- bench:begin -->") && text.contains("<!-- bench:end -->"));
    assert!(
        text.contains("| section | figure | value | baseline | baseline value | ratio | target | verdict |")
    );
    assert!(
        text.contains("workbench bench all --quick"),
        "the exact command is quoted"
    );
    assert!(
        text.contains("Intro.") && text.contains("Kept by hand."),
        "prose kept:\n{text}"
    );

    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        for kernel in ["probe", "events", "live"] {
            assert!(ran.contains(&kernel), "{kernel} must run as root: {stderr}");
        }
    }
}

/// A quick run, as CI and a curious user start it, leaves the committed release table alone:
/// without --md it writes to the user's own cache folder (never a guessable name in the
/// world-writable /tmp, which another user could plant a symlink in) and says where.
#[test]
fn bench_all_quick_does_not_rewrite_the_committed_table() {
    let dir = TempDir::new("ebml-bench-quick-");
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).expect("docs folder");
    let committed = "# Benchmarks\n\n<!-- bench:begin -->\nrelease numbers\n<!-- bench:end -->\n";
    std::fs::write(docs.join("BENCHMARKS.md"), committed).expect("write md");
    std::fs::write(docs.join("benchmarks.json"), "{}\n").expect("write json");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp folder");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["bench", "all", "--quick", "--section", "tui"])
        .current_dir(dir.path())
        .env("TMPDIR", &tmp)
        .env("XDG_CACHE_HOME", &tmp)
        .output()
        .expect("run workbench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(docs.join("BENCHMARKS.md")).expect("md"),
        committed
    );
    assert_eq!(
        std::fs::read_to_string(docs.join("benchmarks.json")).expect("json"),
        "{}\n"
    );
    let quick = tmp.join("ebpf-ml-workbench").join("bench-quick");
    let table = std::fs::read_to_string(quick.join("BENCHMARKS.md")).expect("the quick table");
    assert!(
        table.contains("workbench bench all --quick --section tui"),
        "{table}"
    );
    let written: Value = serde_json::from_str(
        &std::fs::read_to_string(quick.join("benchmarks.json")).expect("the quick JSON"),
    )
    .expect("JSON");
    assert_eq!(written["quick"], Value::Bool(true));
    assert!(
        stdout.contains(&quick.join("BENCHMARKS.md").display().to_string()),
        "the output says where: {stdout}"
    );
}
