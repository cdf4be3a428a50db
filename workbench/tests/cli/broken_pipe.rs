//! Stdout closed before the command writes (`workbench ... | head` after head quit, `less` quit):
//! every command that prints ends quietly with status 141, as a C tool killed by SIGPIPE does,
//! in text and in JSON (issue 18 item 9). The kernel commands are in tests/kernel/broken_pipe.rs.

use std::path::Path;

use crate::common::{assert_quiet_on_a_closed_pipe, repo, workbench, TempDir};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn every_command_that_prints_ends_quietly_when_stdout_is_closed() {
    let dir = TempDir::new("pipe");
    let pcap = repo("sample-pcaps/honest.pcap");
    let labels = repo("sample-pcaps/labels-honest.csv");
    let table = dir.path().join("honest.csv");
    let model = dir.path().join("tree.ebml");
    // The inputs, made with stdout open.
    for args in [
        vec!["features", s(&pcap), "--labels", s(&labels), "-o", s(&table)],
        vec![
            "train",
            s(&table),
            "--model",
            "tree",
            "--max-depth",
            "4",
            "-o",
            s(&model),
        ],
    ] {
        let out = workbench(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let gen_dir = dir.path().join("gen");
    let c_dir = dir.path().join("c");
    let shots = dir.path().join("shots");
    let again = dir.path().join("again.csv");
    let retrained = dir.path().join("again.ebml");
    let commands: Vec<Vec<&str>> = vec![
        vec!["--help"],
        vec!["train", "--help"],
        vec!["--version"],
        vec!["gen-pcaps", "-o", s(&gen_dir), "--json"],
        vec![
            "features",
            s(&pcap),
            "--labels",
            s(&labels),
            "-o",
            s(&again),
            "--json",
        ],
        vec!["inspect", s(&table), "--no-cache"],
        vec!["inspect", s(&table), "--no-cache", "--json"],
        vec![
            "train",
            s(&table),
            "--model",
            "tree",
            "--max-depth",
            "4",
            "-o",
            s(&retrained),
        ],
        vec![
            "train",
            s(&table),
            "--model",
            "tree",
            "--max-depth",
            "4",
            "-o",
            s(&retrained),
            "--json",
        ],
        vec!["model", "show", s(&model)],
        vec!["model", "show", s(&model), "--json"],
        vec!["export", s(&model), "--format", "c", "-o", s(&c_dir), "--json"],
        vec!["eval", s(&model), s(&pcap)],
        vec!["eval", s(&model), s(&pcap), "--json"],
        vec!["skew", s(&model), "--on", s(&pcap)],
        vec!["skew", s(&model), "--on", s(&pcap), "--json"],
        vec!["config", "show"],
        vec!["config", "show", "--json"],
        vec!["screenshots", "-o", s(&shots), "--width", "80", "--height", "24"],
    ];
    for args in &commands {
        assert_quiet_on_a_closed_pipe(args);
    }
    // The work was done before the output was lost: the files are complete.
    assert!(again.exists() && retrained.exists() && gen_dir.join("honest.pcap").exists());
}
