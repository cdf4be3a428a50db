//! `workbench demo` when its terminal goes away (the window closed, tmux killed, SSH dropped:
//! SIGHUP, then every write to the tty fails with EIO): the demo still removes its lab
//! namespace, its probe's pins and its scratch folder, as it does on `q`. And a demo that was
//! killed outright (SIGKILL: no cleanup can run) is named by the next `workbench demo`, with
//! the command that removes what it left. Kernel tests (the `kernel-tests` feature, as root).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::demo::sample_dir;
use crate::common::{LabCleanup, TempDir};
use workbench_kernel::bpffs;

/// Waits up to `timeout` for `done`.
fn eventually(timeout: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

/// The scratch folder of the demo with process id `pid`: `$TMPDIR/workbench-demo-PID-RANDOM`
/// (a private folder with a random suffix, so found by its prefix).
fn demo_scratch(pid: u32) -> Option<std::path::PathBuf> {
    let prefix = format!("workbench-demo-{pid}-");
    std::fs::read_dir(std::env::temp_dir())
        .ok()?
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
}

fn alive(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn closing_the_demos_terminal_removes_its_lab_and_probe() {
    let test = "closing_the_demos_terminal_removes_its_lab_and_probe";
    crate::common::require_kernel(test);
    crate::common::tmux::require(test);
    let guard = LabCleanup::new(&crate::common::lab_id("gdh"));
    let dir = TempDir::new("demo-hangup");
    // The pane's shell (the session leader) dies of the hangup, and the kernel then sends SIGHUP
    // to the demo, as when a window closes; an inner shell that ignores the hangup outlives the
    // terminal and writes down the demo's exit status (the demo installs its own SIGHUP handler
    // over the inherited SIG_IGN). The demo's stderr stays the dead terminal.
    let status_file = dir.path().join("demo-status");
    let tmux = crate::common::tmux::Tmux::start(
        "demo-hangup",
        dir.path(),
        &format!(
            "sh -c 'trap \"\" HUP; XDG_CACHE_HOME={} {} demo --lab-id {} --samples {}; echo $? > {}'",
            dir.path().display(),
            env!("CARGO_BIN_EXE_workbench"),
            guard.id(),
            sample_dir().display(),
            status_file.display()
        ),
        (100, 32),
    );
    let iface = guard.probe_iface();
    tmux.wait_until("the kernel Live tab", Duration::from_secs(60), |s| {
        s.contains(&format!("KERNEL probe on {iface}"))
    });
    let netns = Path::new("/run/netns").join(guard.netns());
    let pins = bpffs::iface_dir(&iface);
    assert!(netns.exists() && pins.exists(), "the demo made its lab and probe");
    // The pane runs a shell whose child is the inner shell, whose child is the demo.
    let child_of = |pid: &str| -> String {
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .expect("children")
            .split_whitespace()
            .next()
            .expect("a child process")
            .to_string()
    };
    let mut pid = tmux
        .cmd(&["display", "-p", "-t", "t", "#{pane_pid}"])
        .trim()
        .to_string();
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() != "workbench") {
        pid = child_of(&pid);
    }
    let pid: i32 = pid.parse().expect("pid");
    let scratch = demo_scratch(pid as u32).expect("the demo's scratch folder");
    assert!(scratch.exists(), "{}", scratch.display());

    // What closing the window does: tmux sends SIGHUP and closes the pty; the demo's terminal
    // restore and every line it prints after that fail with EIO.
    tmux.cmd(&["kill-session", "-t", "t"]);
    let gone = eventually(Duration::from_secs(5), || {
        !netns.exists() && !pins.exists() && !alive(pid)
    });
    assert!(
        gone,
        "within 5 s of the hangup: namespace {} {}, pins {} {}, demo {pid} {}",
        netns.display(),
        if netns.exists() { "left" } else { "gone" },
        pins.display(),
        if pins.exists() { "left" } else { "gone" },
        if alive(pid) { "still running" } else { "ended" },
    );
    assert!(!scratch.exists(), "{} removed", scratch.display());
    // 129, the hangup's status: its last line, written to the dead terminal, failed quietly
    // (eprintln! panicked there, and the demo ended with 101 after its cleanup).
    assert!(
        eventually(Duration::from_secs(5), || status_file.exists()),
        "the shell wrote no exit status"
    );
    let status = std::fs::read_to_string(&status_file).expect("status");
    assert_eq!(status.trim(), "129", "the demo's exit status after the hangup");
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn the_next_demo_names_what_a_killed_demo_left() {
    let test = "the_next_demo_names_what_a_killed_demo_left";
    crate::common::require_kernel(test);
    let guard = LabCleanup::new(&crate::common::lab_id("gdk"));
    let dir = TempDir::new("demo-killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["demo", "--json", "--seconds", "600", "--lab-id", guard.id()])
        .arg("--samples")
        .arg(sample_dir())
        .env("XDG_CACHE_HOME", dir.path())
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the workbench starts");
    let pins = bpffs::iface_dir(&guard.probe_iface());
    assert!(
        eventually(Duration::from_secs(60), || pins.join("program").exists()),
        "the demo never attached its probe"
    );
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    if let Some(scratch) = demo_scratch(child.id()) {
        let _ = std::fs::remove_dir_all(scratch);
    }

    // The next demo (simulated: it touches nothing) names the dead one's lab and its fix.
    let out = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["demo", "--simulated", "--json", "--seconds", "1"])
        .arg("--samples")
        .arg(sample_dir())
        .env("XDG_CACHE_HOME", dir.path())
        .current_dir(dir.path())
        .output()
        .expect("the workbench runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("lab namespace {}", guard.netns()))
            && stderr.contains(&format!("workbench lab down --id {}", guard.id())),
        "{stderr}"
    );
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn ctrl_c_during_the_demos_setup_ends_it_quietly() {
    let test = "ctrl_c_during_the_demos_setup_ends_it_quietly";
    crate::common::require_kernel(test);
    let guard = LabCleanup::new(&crate::common::lab_id("gdi"));
    let dir = TempDir::new("demo-setup-int");
    let child = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["demo", "--json", "--seconds", "600", "--lab-id", guard.id()])
        .arg("--samples")
        .arg(sample_dir())
        .env("XDG_CACHE_HOME", dir.path())
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the workbench starts");
    // Ctrl-C while the kernel side is being set up: the lab exists, the Live stage has not begun.
    let netns = Path::new("/run/netns").join(guard.netns());
    assert!(
        eventually(Duration::from_secs(60), || netns.exists()),
        "the demo never made its lab"
    );
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().expect("the demo exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    // No simulated fallback, no Live-stage report: one line says it was interrupted.
    assert!(!stderr.contains("SIMULATED"), "{stderr}");
    assert!(!stderr.contains("no flow was flagged"), "{stderr}");
    assert!(!stderr.contains("Live stage"), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.contains("interrupted")).count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("workbench: interrupted by SIGINT")),
        "{stderr}"
    );
    let e = crate::common::only_json_error(&out.stdout);
    assert_eq!(e["kind"], "interrupted", "{e}");
    assert_eq!(e["exit_status"], 130, "{e}");
    assert!(!netns.exists(), "namespace {} removed", netns.display());
    assert!(!bpffs::iface_dir(&guard.probe_iface()).exists(), "pins removed");
}

/// A closing terminal may send SIGHUP more than once (tmux or the terminal emulator, then the
/// kernel's hangup of the tty): unlike a second Ctrl-C, a second SIGHUP must not skip the cleanup.
#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn two_sighups_still_end_the_demo_through_its_cleanup() {
    let test = "two_sighups_still_end_the_demo_through_its_cleanup";
    crate::common::require_kernel(test);
    let guard = LabCleanup::new(&crate::common::lab_id("gdt"));
    let dir = TempDir::new("demo-two-hups");
    let mut child = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["demo", "--json", "--seconds", "600", "--lab-id", guard.id()])
        .arg("--samples")
        .arg(sample_dir())
        .env("XDG_CACHE_HOME", dir.path())
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the workbench starts");
    let err = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut seen = String::new();
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            if line.contains("demo: Live stage") {
                let _ = tx.send(());
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the demo reached its Live stage");
    for _ in 0..2 {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGHUP) }, 0);
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = child.wait().expect("the demo exits");
    let stderr = reader.join().expect("stderr read");
    assert_eq!(status.code(), Some(129), "{stderr}");
    assert!(stderr.contains("workbench: interrupted by SIGHUP"), "{stderr}");
    assert!(
        !Path::new("/run/netns").join(guard.netns()).exists(),
        "namespace removed: {stderr}"
    );
    assert!(
        !bpffs::iface_dir(&guard.probe_iface()).exists(),
        "pins removed: {stderr}"
    );
}

/// The demo's lab removed under it by another command (`lab down`): at its end the demo says
/// the lab and the probe were already removed, not that it removed them (presenter review
/// finding 8), and it does not fail its cleanup over them.
#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn a_lab_removed_under_the_demo_is_reported_as_already_removed() {
    crate::common::require_kernel("a_lab_removed_under_the_demo_is_reported_as_already_removed");
    let guard = LabCleanup::new(&crate::common::lab_id("gdl"));
    // Its Live stage lasts far longer than the test needs: it ends as soon as the lab is gone.
    let mut child = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["demo", "--json", "--seconds", "60", "--lab-id", guard.id()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the demo");
    let err = child.stderr.take().expect("stderr");
    let (live_tx, live_stage) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut seen = String::new();
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            if line.contains("demo: Live stage") {
                let _ = live_tx.send(());
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    });
    // Set up and in its Live stage (a `lab down` during setup makes the demo fall back to the
    // simulated Live tab, another path), the probe running both models.
    live_stage
        .recv_timeout(Duration::from_secs(60))
        .expect("the demo reached its Live stage");
    let iface = guard.probe_iface();
    let deployed = || {
        let out = Command::new(env!("CARGO_BIN_EXE_workbench"))
            .args(["probe", "status", "--iface", &iface, "--json"])
            .output()
            .expect("probe status");
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .is_ok_and(|v| v["active"]["model"].is_string() && v["shadow"]["model"].is_string())
    };
    assert!(
        eventually(Duration::from_secs(60), deployed),
        "the demo deployed its models"
    );
    let down = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["lab", "down", "--id", guard.id()])
        .output()
        .expect("lab down");
    assert!(down.status.success(), "{}", String::from_utf8_lossy(&down.stderr));
    let out = child.wait_with_output().expect("the demo ends");
    let stderr = reader.join().expect("stderr read");
    assert!(!out.status.success(), "{stderr}");
    let gone = format!(
        "demo: already removed by another command: the probe on {}, namespace {}",
        guard.probe_iface(),
        guard.netns()
    );
    assert!(stderr.contains(&gone), "{stderr}");
    assert!(
        stderr.contains("the Live stage stopped: another command") && !stderr.contains("demo: removed"),
        "{stderr}"
    );
}

/// `demo --lab-id ID` whose namespace is already there (a demo killed before) stops with the
/// command that removes it, instead of quietly playing the simulated Live tab on stage.
#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn a_demo_lab_id_taken_already_is_an_error_with_the_fix() {
    crate::common::require_kernel("a_demo_lab_id_taken_already_is_an_error_with_the_fix");
    let guard = LabCleanup::new(&crate::common::lab_id("gdu"));
    let up = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["lab", "up", "--id", guard.id()])
        .output()
        .expect("lab up");
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    let out = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["demo", "--headless", "--seconds", "1", "--lab-id", guard.id()])
        .output()
        .expect("demo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "--lab-id {}: namespace {} already exists",
            guard.id(),
            guard.netns()
        )) && stderr.contains(&format!("workbench lab down --id {}", guard.id())),
        "{stderr}"
    );
    assert!(!stderr.contains("SIMULATED"), "{stderr}");
}
