//! The config file through the real binary: discovery ($WORKBENCH_CONFIG, XDG, --config),
//! `config show` sources, `config check` errors in one line naming file, key, line and column,
//! and flags overriding the file.

use std::process::{Command, Output};

use serde_json::Value;

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_workbench"));
    cmd.args(args)
        .env_remove("WORKBENCH_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent-ebml-config");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn config_check_names_file_key_line_column_and_expectation_for_each_class() {
    let dir = tempfile::tempdir().expect("tmp");
    for (name, text, expect) in [
        (
            "unknown.toml",
            "[probe]\nflow_tabel = 5\n",
            "unknown.toml:2:1: key `probe.flow_tabel`: unknown field `flow_tabel`, expected",
        ),
        (
            "type.toml",
            "[deploy]\ndecide_every = \"often\"\n",
            "type.toml:2:16: key `deploy.decide_every`: invalid type: string \"often\", expected i64",
        ),
        (
            "cidr.toml",
            "[deploy]\nallow = [\"10.1.0.0/40\"]\n",
            "cidr.toml:2:10: key `deploy.allow[0]`: \"10.1.0.0/40\"",
        ),
        (
            "range.toml",
            "[verify]\npps = 0\n",
            "range.toml:2:7: key `verify.pps`: 0 is out of range (expected an integer from 1 to 10000000)",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        let out = run(&["config", "check", path.to_str().expect("utf-8")], &[]);
        assert!(!out.status.success(), "{name} refused");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(expect), "{name}: {expect:?} in {err:?}");
    }
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "theme = \"colour-blind\"\n[train]\nsplit = \"host\"\n").expect("write");
    let out = run(&["config", "check", good.to_str().expect("utf-8"), "--json"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["settings"].as_array().map(Vec::len), Some(2));
}

#[test]
fn a_broken_config_stops_other_commands_with_the_same_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[probe]\nflow_table = 99999999999\n").expect("write");
    let p = path.to_str().expect("utf-8");
    let out = run(
        &["model", "show", "/nonexistent.ebml"],
        &[("WORKBENCH_CONFIG", p)],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("c.toml:2:14: key `probe.flow_table`: 99999999999 is out of range"),
        "{err}"
    );
}

#[test]
fn config_show_reports_the_file_found_and_the_source_of_each_value() {
    let dir = tempfile::tempdir().expect("tmp");
    let xdg = dir.path().join("ebpf-ml-workbench");
    std::fs::create_dir_all(&xdg).expect("mkdir");
    std::fs::write(
        xdg.join("config.toml"),
        "iface = \"ebml-x\"\n[deploy]\nallow = [\"10.0.0.0/8\", \"fd00::/8\"]\n",
    )
    .expect("write");
    let out = run(
        &["config", "show", "--json"],
        &[("XDG_CONFIG_HOME", dir.path().to_str().expect("utf-8"))],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["origin"], "xdg");
    let get = |key: &str| {
        v["settings"]
            .as_array()
            .expect("settings")
            .iter()
            .find(|s| s["key"] == key)
            .cloned()
            .expect(key)
    };
    assert_eq!(get("iface")["value"], "ebml-x");
    assert_eq!(get("iface")["source"], "file");
    assert_eq!(get("deploy.allow")["value"].as_array().map(Vec::len), Some(2));
    assert_eq!(get("verify.pps")["source"], "default");
    assert_eq!(get("verify.pps")["value"], "20000");

    // $WORKBENCH_CONFIG beats XDG, --config beats both.
    let env_file = dir.path().join("env.toml");
    std::fs::write(&env_file, "theme = \"high-contrast\"\n").expect("write");
    let env = [
        ("XDG_CONFIG_HOME", dir.path().to_str().expect("utf-8")),
        ("WORKBENCH_CONFIG", env_file.to_str().expect("utf-8")),
    ];
    let v: Value = serde_json::from_slice(&run(&["config", "show", "--json"], &env).stdout).expect("json");
    assert_eq!(v["origin"], "env");
    let flag_file = dir.path().join("flag.toml");
    std::fs::write(&flag_file, "").expect("write");
    let out = run(
        &[
            "--config",
            flag_file.to_str().expect("utf-8"),
            "config",
            "show",
            "--json",
        ],
        &env,
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["origin"], "flag");
    assert!(v["settings"]
        .as_array()
        .expect("settings")
        .iter()
        .all(|s| s["source"] == "default"));
}
