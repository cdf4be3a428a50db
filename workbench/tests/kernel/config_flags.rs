//! The settings file's `iface` against the `--iface` flag on a kernel command.

use std::process::{Command, Output};

/// The binary with no settings file but the one the test names.
fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(args)
        .env_remove("WORKBENCH_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent-ebml-config")
        .output()
        .expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn the_flag_overrides_the_file() {
    // Unprivileged, `probe flows` stops at the capability check before it names the interface.
    crate::common::require_kernel("the_flag_overrides_the_file");
    // `probe flows` names the interface it looked for, attached or not.
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "iface = \"ebml-cfgA\"\n").expect("write");
    let p = path.to_str().expect("utf-8");
    let from_file = run(&["--config", p, "probe", "flows"]);
    let from_flag = run(&["--config", p, "probe", "flows", "--iface", "ebml-cfgB"]);
    assert!(stderr(&from_file).contains("ebml-cfgA"), "{}", stderr(&from_file));
    assert!(stderr(&from_flag).contains("ebml-cfgB"), "{}", stderr(&from_flag));
    assert!(
        !stderr(&from_flag).contains("ebml-cfgA"),
        "{}",
        stderr(&from_flag)
    );
}
