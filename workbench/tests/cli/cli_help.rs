//! Issue 20 item 7: every argument of every subcommand has help text (`--json`, `-o`, `--model`
//! and the capture arguments had none), walked over the clap command tree itself so that a new
//! argument without help fails here; and the commands a newcomer meets first behave as the help
//! says (`export` defaults to C, `live --from-start` needs `--jsonl`).

use crate::common::workbench;

/// `path args` of every argument without help text, over the whole tree.
fn missing_help(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if arg.is_hide_set() || matches!(id, "help" | "version") {
            continue;
        }
        let has = |h: Option<&clap::builder::StyledStr>| h.is_some_and(|h| !h.to_string().trim().is_empty());
        if !has(arg.get_help()) && !has(arg.get_long_help()) {
            out.push(format!("{path} {id}"));
        }
    }
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let has_about = sub.get_about().is_some_and(|a| !a.to_string().trim().is_empty());
        let sub_path = format!("{path} {}", sub.get_name());
        if !has_about {
            out.push(format!("{sub_path} (no description)"));
        }
        missing_help(sub, &sub_path, out);
    }
}

#[test]
fn every_argument_has_help_text() {
    let cmd = workbench::command();
    let mut missing = Vec::new();
    missing_help(&cmd, "workbench", &mut missing);
    assert!(
        missing.is_empty(),
        "{} arguments without help text (a `///` line above the field):\n{}",
        missing.len(),
        missing.join("\n")
    );
    // The walk sees the tree: the arguments the issue named are in it.
    let train = cmd.find_subcommand("train").expect("train");
    assert!(train.get_arguments().any(|a| a.get_id() == "out"));
    assert!(train.get_arguments().any(|a| a.get_id() == "json"));
}

#[test]
fn export_defaults_to_c() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tmp.path().join("m.ebml");
    // A small honest model from the sample capture's table.
    let table = tmp.path().join("t.csv");
    let sample = |f: &str| {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../sample-pcaps")
            .join(f)
    };
    let s = |p: &std::path::Path| p.to_str().expect("utf-8").to_string();
    let run = |args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = workbench(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    run(&[
        "features".into(),
        s(&sample("honest.pcap")),
        "--labels".into(),
        s(&sample("labels-honest.csv")),
        "-o".into(),
        s(&table),
    ]);
    run(&[
        "train".into(),
        s(&table),
        "--model".into(),
        "tree".into(),
        "--no-cache".into(),
        "-o".into(),
        s(&model),
    ]);
    let dir = tmp.path().join("c");
    let out = run(&["export".into(), s(&model), "-o".into(), s(&dir)]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        dir.join("ebml_model.c").is_file() && dir.join("ebml_model.h").is_file(),
        "{listed}"
    );
}

#[test]
fn live_from_start_needs_jsonl() {
    let out = workbench(&["live", "--iface", "lo", "--from-start"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--jsonl"), "{err}");
}

/// `lab down` without `--id` is the lab `lab up` without `--id` makes (`replay`), not every
/// lab on the host; `--all` is the way to say that, and it cannot be mixed with `--id`. `probe
/// cleanup` says plainly that it removes every probe and lab of the workbench on this host.
#[test]
fn lab_down_defaults_to_the_replay_lab_and_cleanup_says_it_takes_everything() {
    let cmd = workbench::command();
    let lab = cmd.find_subcommand("lab").expect("lab");
    let down = lab.find_subcommand("down").expect("lab down");
    let id = down.get_arguments().find(|a| a.get_id() == "id").expect("--id");
    assert_eq!(
        id.get_default_values(),
        lab.find_subcommand("up")
            .and_then(|up| up.get_arguments().find(|a| a.get_id() == "id"))
            .expect("lab up --id")
            .get_default_values(),
        "lab down --id defaults to lab up's"
    );
    assert!(
        down.get_arguments().any(|a| a.get_id() == "all"),
        "lab down --all"
    );

    let out = workbench(&["lab", "down", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("replay") && help.contains("--all"), "{help}");
    let out = workbench(&["lab", "down", "--all", "--id", "x"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be used with"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = workbench(&["probe", "cleanup", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for part in ["every probe and every lab", "this host", "anyone's"] {
        assert!(help.contains(part), "{part:?} in {help}");
    }
}
