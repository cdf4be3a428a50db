//! `agent --check` tries what the start does before it attaches anything (fleet review finding
//! 10): the metrics address bound and let go, the events file's folder opened for writing. A
//! missing events folder or a port already taken failed the start ("cannot open the events
//! file", "cannot listen on") while `--check` said the agent would start. Each failure here is
//! the start's own line, word for word; nothing is created or truncated. Runs without
//! privileges: the start fails on these before the probe.

use std::path::Path;
use std::process::Command;

use crate::common::{save_model, TempDir};
use workbench_flow::model::build;

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(args)
        .output()
        .expect("workbench runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

/// The failed host check of `key` in `--check --json`'s report (exit 1 asserted).
fn failed_check(config: &Path, key: &str) -> String {
    let path = config.display().to_string();
    let (code, stdout, stderr) = run(&["agent", "--check", "--config", &path, "--json"]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    let checks = v["host_checks"].as_array().expect("host checks");
    let failed: Vec<&serde_json::Value> = checks.iter().filter(|c| c["ok"] == false).collect();
    assert_eq!(failed.len(), 1, "{v:#}");
    assert_eq!(failed[0]["key"], format!("agent.{key}"), "{v:#}");
    failed[0]["error"].as_str().expect("error").to_string()
}

/// The start's error line (it fails before attaching anything).
fn start_error(config: &Path) -> String {
    let path = config.display().to_string();
    let (code, _, stderr) = run(&["agent", "--config", &path]);
    assert_eq!(code, Some(1), "{stderr}");
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or_else(|| panic!("an error line: {stderr}"))
        .to_string()
}

#[test]
fn agent_check_fails_where_the_start_would_with_its_words() {
    let dir = TempDir::new("agent-check-start");
    let model = save_model(dir.path(), "m.ebml", &build::syn_count_tree(3).expect("tree"));
    let config = dir.path().join("agent.toml");
    let write = |extra: &str| {
        std::fs::write(
            &config,
            format!(
                "[agent]\ninterfaces = [\"lo\"]\nmodel = \"{}\"\n{extra}",
                model.display()
            ),
        )
        .expect("write");
    };

    // The events file's folder is missing.
    let missing = dir.path().join("missing").join("eve.json");
    write(&format!(
        "metrics_listen = \"127.0.0.1:0\"\nevents_file = \"{}\"\n",
        missing.display()
    ));
    let checked = failed_check(&config, "events_file");
    assert!(checked.contains("cannot open the events file"), "{checked}");
    // The start's line is the same, and the hint every missing path gets after it.
    let started = start_error(&config);
    assert!(started.starts_with(&checked), "{checked}\n{started}");
    assert!(
        !missing.parent().expect("parent").exists(),
        "--check made nothing"
    );

    // The metrics port is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("addr");
    write(&format!("metrics_listen = \"{addr}\"\n"));
    let checked = failed_check(&config, "metrics_listen");
    assert!(checked.contains(&format!("cannot listen on {addr}")), "{checked}");
    let started = start_error(&config);
    assert!(started.starts_with(&checked), "{checked}\n{started}");
    drop(taken);

    // An events file that is there: opened for appending, not truncated; a free port passes.
    let events = dir.path().join("eve.json");
    std::fs::write(&events, "{\"kept\":1}\n").expect("write");
    write(&format!(
        "metrics_listen = \"127.0.0.1:0\"\nevents_file = \"{}\"\n",
        events.display()
    ));
    let path = config.display().to_string();
    let (code, text, stderr) = run(&["agent", "--check", "--config", &path]);
    assert_eq!(code, Some(0), "{text}\n{stderr}");
    assert!(
        text.contains("ok      metrics_listen 127.0.0.1:0 can be bound")
            && text.contains(&format!("ok      events_file {} can be opened", events.display())),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&events).expect("read"), "{\"kept\":1}\n");
    // No file of the check's left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("check")), "{names:?}");
}
