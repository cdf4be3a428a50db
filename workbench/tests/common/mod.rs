//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod capfile;
pub mod demo;
pub mod replay;
pub mod tc;
pub mod tmux;

use std::io::Write;
use std::process::{Command, Output};

use serde_json::Value;

/// Whether this process may load BPF programs and create namespaces.
fn privileged() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// True when kernel tests can run. Without root they skip, except under
/// WORKBENCH_REQUIRE_KERNEL=1, where a skip would hide a broken setup and fails the test.
pub fn kernel_tests_enabled(test: &str) -> bool {
    if privileged() {
        return true;
    }
    if std::env::var("WORKBENCH_REQUIRE_KERNEL").as_deref() == Ok("1") {
        panic!("{test}: WORKBENCH_REQUIRE_KERNEL=1 but this process is not root");
    }
    report(&format!(
        "SKIPPED {test}: needs root for BPF and network namespaces"
    ));
    false
}

/// A file of the project's real data set (`shared/data` beside the repository).
pub fn shared_data(rel: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(rel)
}

/// A lab id unique to this test process: `tag` and the process id (at most 7 characters).
pub fn lab_id(tag: &str) -> String {
    format!("{tag}{}", std::process::id() % 100_000)
}

/// Writes to the real stderr, past the test harness's capture, so that the CI log shows which
/// kernel tests ran.
pub fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

pub fn workbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(args)
        .output()
        .expect("the workbench binary runs")
}

/// Runs a `--json` command that must succeed and parses its stdout.
pub fn workbench_json(args: &[&str]) -> Value {
    let out = workbench(args);
    assert!(
        out.status.success(),
        "workbench {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "workbench {}: stdout is not one JSON document ({e}): {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Detaches the probe from an interface when dropped (also when the test panics).
pub struct DetachOnDrop(pub String);

impl Drop for DetachOnDrop {
    fn drop(&mut self) {
        let _ = workbench_kernel::probe::detach(&self.0);
    }
}

/// A temporary directory that others may enter (mode 0755), removed when dropped.
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        TempDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        self.0.path()
    }
}
