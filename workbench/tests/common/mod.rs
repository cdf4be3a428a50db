//! Helpers shared by the two test binaries (`cli` and `kernel`); each uses part of them, hence
//! no dead-code warnings here.
#![allow(dead_code)]

pub mod capfile;
pub mod demo;
pub mod eve_schema;
pub mod linkcraft;
pub mod parquet_seed;
pub mod poll;
pub mod probe_lab;
pub mod promtool;
pub mod readme;
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

/// Called first by every kernel test. Kernel tests run only with the `kernel-tests` feature (they
/// are ignored, and counted as skipped, without it); with it on, a process that cannot load BPF
/// programs or create namespaces is a broken setup, and the test fails saying so.
pub fn require_kernel(test: &str) {
    assert!(
        privileged(),
        "{test}: kernel tests need root (BPF, network namespaces); run them as root, or leave the \
         kernel-tests feature off (`cargo xtask test --no-kernel`) to count them as skipped"
    );
    remove_what_killed_runs_left();
}

/// Once per test binary, before the first kernel test: what a killed earlier run left (a test
/// run stopped by Ctrl-C or a timeout, its `verify` inside a lab) made every later workbench
/// command print a "stale" line, and the tests that read stderr failed on another run's
/// leftovers. `probe cleanup --stale` removes only what dead processes claimed, never the labs
/// of tests running beside this binary.
fn remove_what_killed_runs_left() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let out = workbench(&["probe", "cleanup", "--stale"]);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "probe cleanup --stale: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if !said.starts_with("nothing stale") {
            report(&format!("kernel tests, before the first: {}", said.trim_end()));
        }
    });
}

/// For tests whose subject acts on the whole machine (`workbench probe cleanup` removes every
/// project lab, link and pin it can see, including those of tests running beside it): the calling
/// test runs again, alone, inside a private mount and network namespace with its own /run, sysfs
/// and bpffs, so it can only see what it made itself. Returns true inside (run the test body there)
/// and false outside, after the inner run passed.
pub fn on_a_private_machine(test_path: &str) -> bool {
    const INSIDE: &str = "WORKBENCH_TEST_PRIVATE_MACHINE";
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let script = "mount -t tmpfs tmpfs /run && mount -t sysfs sysfs /sys && mount -t bpf bpffs /sys/fs/bpf \
                  && ip link set lo up && exec \"$0\" --exact \"$1\" --nocapture --test-threads=1";
    let status = Command::new("unshare")
        .args(["--mount", "--net", "--propagation", "private", "sh", "-c", script])
        .arg(&exe)
        .arg(test_path)
        .env(INSIDE, "1")
        .status()
        .expect("unshare (util-linux) runs");
    assert!(
        status.success(),
        "{test_path} failed inside its private namespaces ({status}); its output is above"
    );
    false
}

/// A tool the tests run: its absence fails the test, naming the tool and the fix.
pub fn require_tool(test: &str, tool: &str, package: &str) {
    let found =
        Command::new(tool).arg("--version").output().is_ok() || Command::new(tool).arg("-v").output().is_ok();
    assert!(
        found,
        "{test}: `{tool}` is not installed: `cargo xtask setup` installs it (or apt-get install {package})"
    );
}

/// The lines a kernel command prints at its start that call something of `about` (an interface,
/// a lab id) stale: another test's leftovers are not this test's business.
pub fn stale_lines(about: &str) -> String {
    let out = workbench(&["probe", "status", "--iface", "lo"]);
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("stale") && l.contains(about))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A file of the repository (`sample-pcaps/honest.pcap`).
pub fn repo(rel: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
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

/// The receive counter of `iface` in namespace `netns` (`ip -s -j link`).
pub fn rx_packets(netns: &str, iface: &str) -> u64 {
    let out = Command::new("ip")
        .args(["-n", netns, "-s", "-j", "link", "show", iface])
        .output()
        .expect("ip runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip -j prints JSON");
    v[0]["stats64"]["rx"]["packets"]
        .as_u64()
        .unwrap_or_else(|| panic!("no rx packets for {iface}: {v}"))
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

/// Writes `model` as DIR/NAME, a model file whose provenance names the test file; its path.
pub fn save_model(dir: &std::path::Path, name: &str, model: &shared::model::Model) -> std::path::PathBuf {
    let path = dir.join(name);
    workbench_flow::model::file::write(&path, model, serde_json::json!({ "test": name }))
        .expect("write model");
    path
}

/// `live --jsonl` output, one JSON value per line.
pub fn jsonl(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The stdout of a `--json` command that failed before printing its report: only the error, one
/// JSON line (`{"error": {message, causes, hint, exit_status, kind}}`, docs/CLI.md "Errors
/// under --json"). Returns the `error` object.
pub fn only_json_error(stdout: &[u8]) -> Value {
    let text = String::from_utf8_lossy(stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "only the error on stdout: {text}");
    let v: Value = serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert!(v["error"]["message"].is_string(), "an error object: {v}");
    v["error"].clone()
}

/// The JSON document a command printed (also when it failed after printing it, as `verify`
/// with mismatches does), or a panic with its stderr.
#[allow(dead_code)] // The kernel tests use it; the CLI tests compile this module too.
pub fn stdout_json(what: &str, out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what} printed no JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
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

/// Each data row of a feature table (`workbench features -o`, plain comma-separated) as the
/// values of the `names` columns, in that order.
pub fn table_columns(csv: &str, names: &[&str]) -> Vec<Vec<String>> {
    let header: Vec<&str> = csv.lines().next().unwrap_or("").split(',').collect();
    let at: Vec<usize> = names
        .iter()
        .map(|n| {
            header
                .iter()
                .position(|c| c == n)
                .unwrap_or_else(|| panic!("no column {n}"))
        })
        .collect();
    csv.lines()
        .skip(1)
        .map(|l| {
            let v: Vec<&str> = l.split(',').collect();
            at.iter().map(|&i| v[i].to_string()).collect()
        })
        .collect()
}

/// The probe's flow from `src_port` on `iface` (`probe flows --json`), polled until `pred` holds
/// for it or 5 s have passed; `Value::Null` when there is no such flow.
#[allow(dead_code)] // The kernel tests use it; the CLI tests compile this module too.
pub fn flow_from(iface: &str, src_port: u16, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let table = workbench_json(&["probe", "flows", "--iface", iface, "--json"]);
        let flow = table["flows"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["src_port"] == src_port).cloned())
            .unwrap_or(Value::Null);
        if pred(&flow) || std::time::Instant::now() > deadline {
            return flow;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
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

/// Runs the workbench with stdout a pipe whose reading end is already closed, so its first
/// write fails with EPIPE (as after `workbench ... | head` has quit): (exit code, stderr).
pub fn workbench_into_closed_pipe(args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(args)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("the workbench binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `workbench_into_closed_pipe` and the assertions every printing command must pass: it ends
/// quietly with the status a shell shows for SIGPIPE, no panic, no backtrace, no error line.
pub fn assert_quiet_on_a_closed_pipe(args: &[&str]) {
    // clap prints `--help` and `--version` itself, ignores the failed write and exits 0.
    let expected = if args.iter().any(|a| *a == "--help" || *a == "--version") {
        0
    } else {
        141
    };
    let (code, stderr) = workbench_into_closed_pipe(args);
    let line = args.join(" ");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace") && !stderr.contains("error"),
        "workbench {line} into a closed pipe: {stderr}"
    );
    assert_eq!(
        code,
        Some(expected),
        "workbench {line} into a closed pipe: exit {code:?}, stderr: {stderr}"
    );
}

/// Detaches the probe from `ebml-<id>b` and removes the lab `<id>` when dropped, whatever the
/// test reached (the lab commands' own cleanup, scoped to this lab).
pub struct LabCleanup(String);

impl LabCleanup {
    pub fn new(id: &str) -> Self {
        LabCleanup(id.to_string())
    }

    /// The lab id (`--lab-id`, `lab up --id`).
    pub fn id(&self) -> &str {
        &self.0
    }

    /// The lab's namespace (`ebml-ID`).
    pub fn netns(&self) -> String {
        format!("ebml-{}", self.0)
    }

    /// The end of the veth pair the probe attaches to (`ebml-IDb`).
    pub fn probe_iface(&self) -> String {
        format!("ebml-{}b", self.0)
    }
}

impl Drop for LabCleanup {
    fn drop(&mut self) {
        let iface = format!("ebml-{}b", self.0);
        if std::path::Path::new("/sys/fs/bpf/ebpf-ml-workbench/v1")
            .join(&iface)
            .exists()
        {
            let _ = workbench(&["probe", "detach", "--iface", &iface]);
        }
        let _ = workbench(&["lab", "down", "--id", &self.0]);
    }
}
