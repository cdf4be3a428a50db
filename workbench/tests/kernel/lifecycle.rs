//! Lifecycle (issue 8, item 5): a command that makes a lab or attaches the probe for its own
//! duration removes them when it is interrupted (SIGINT, SIGTERM); after a SIGKILL the next start
//! names what was left in one line, and the project's commands for *that* interface and lab remove
//! it. Each kind of attachment is checked with the tool that can see it: `bpftool link` for TCX
//! links, `tc filter show` for cls_bpf filters (the project makes none), `ip netns` for labs, the
//! pin directory on bpffs for pins.
//!
//! Never the global `probe cleanup`: other labs on the machine may be live.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{report, workbench, LabCleanup, TempDir};
use serde_json::Value;
use workbench_flow::model::build;

const PIN_ROOT: &str = "/sys/fs/bpf/ebpf-ml-workbench";
const CLAIMS: &str = "/run/ebpf-ml-workbench/claims";

fn pcap(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/pcaps")
        .join(name)
}

fn model_file(dir: &Path) -> PathBuf {
    // Malicious from the third SYN on: the kernel tests' one known tree.
    let tree = build::syn_count_tree(3).expect("tree");
    let path = dir.join("m.ebml");
    workbench_flow::model::file::write(&path, &tree, Value::Null).expect("model file");
    path
}

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the workbench binary starts")
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0, "kill");
}

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for the child (bounded) and returns (exit code, stdout, stderr).
fn finish(mut child: Child, timeout: Duration) -> (Option<i32>, String, String) {
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            panic!("the command did not end within {timeout:?} of the signal");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Program ids of every BPF link in the kernel (`bpftool link show`: TCX links among them).
fn linked_program_ids() -> Vec<u64> {
    let out = Command::new("bpftool")
        .args(["-j", "link", "show"])
        .output()
        .expect("bpftool runs");
    assert!(out.status.success(), "bpftool link show failed");
    let links: Value = serde_json::from_slice(&out.stdout).expect("bpftool JSON");
    links
        .as_array()
        .map(|a| a.iter().filter_map(|l| l["prog_id"].as_u64()).collect())
        .unwrap_or_default()
}

fn pinned_program_id(pin: &Path) -> u64 {
    let out = Command::new("bpftool")
        .args(["-j", "prog", "show", "pinned"])
        .arg(pin)
        .output()
        .expect("bpftool runs");
    let prog: Value = serde_json::from_slice(&out.stdout).expect("bpftool JSON");
    prog["id"].as_u64().expect("program id")
}

fn namespace_exists(ns: &str) -> bool {
    Path::new("/run/netns").join(ns).exists()
}

fn claims_of(pid: u32) -> Vec<String> {
    std::fs::read_dir(CLAIMS)
        .map(|d| {
            d.filter_map(std::result::Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("{pid}-")))
                .collect()
        })
        .unwrap_or_default()
}

/// cls_bpf filters on an interface inside a namespace (`tc filter show`), both directions.
fn tc_filters(ns: &str, iface: &str) -> String {
    ["ingress", "egress"]
        .iter()
        .map(|dir| {
            let out = Command::new("ip")
                .args(["netns", "exec", ns, "tc", "filter", "show", "dev", iface, dir])
                .output()
                .expect("tc runs");
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
        .collect()
}

fn start_verify(model: &Path, id: &str) -> (Child, PathBuf) {
    let capture = pcap("synflood-spoofed.pcap");
    // Slow enough (hundreds of packets a second) that the replay is running when the signal comes.
    let child = spawn(&[
        "verify",
        capture.to_str().expect("utf-8"),
        "--model",
        model.to_str().expect("utf-8"),
        "--pps",
        "300",
        "--lab-id",
        id,
        "--json",
    ]);
    let pins = Path::new(PIN_ROOT).join("v1").join(format!("ebml-{id}b"));
    (child, pins)
}

/// Runs the command a stale-state line suggests (between "remove it with `" and the next "`",
/// steps joined by " && "), each step checked to succeed, as a user pasting it would.
pub(crate) fn run_suggested_fix(line: &str) {
    let fix = line
        .split("remove it with `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no suggested command in {line:?}"));
    for step in fix.split(" && ") {
        let args: Vec<&str> = step.split_whitespace().collect();
        assert_eq!(args.first(), Some(&"workbench"), "{step:?} in {line:?}");
        let out = workbench(&args[1..]);
        assert!(
            out.status.success(),
            "the suggested `{step}` (of `{fix}`) fails: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn verify_interrupted_by_sigint_or_sigterm_leaves_nothing() {
    crate::common::require_kernel("verify_interrupted_by_sigint_or_sigterm_leaves_nothing");
    let tmp = TempDir::new("ebml-lifecycle");
    let model = model_file(tmp.path());
    for (sig, name, status, id) in [
        (libc::SIGINT, "SIGINT", 130, "lci"),
        (libc::SIGTERM, "SIGTERM", 143, "lct"),
    ] {
        let _cleanup = LabCleanup::new(id);
        let ns = format!("ebml-{id}");
        let (child, pins) = start_verify(&model, id);
        let pid = child.id();
        wait_until("the probe's links to be pinned", Duration::from_secs(120), || {
            pins.join("link_egress").exists()
        });
        let program = pinned_program_id(&pins.join("program"));
        assert!(
            linked_program_ids().contains(&program),
            "bpftool link shows the probe (program {program}) while verify runs"
        );
        assert!(namespace_exists(&ns), "the lab exists while verify runs");
        assert_eq!(claims_of(pid).len(), 1, "verify notes what it made");
        std::thread::sleep(Duration::from_millis(500));
        signal(&child, sig);
        let (code, _, stderr) = finish(child, Duration::from_secs(30));
        assert_eq!(code, Some(status), "{name}: exit status; stderr: {stderr}");
        assert!(
            stderr.contains(&format!("interrupted by {name}")),
            "{name}: one line saying so: {stderr}"
        );
        assert!(!pins.exists(), "{name}: pins removed ({})", pins.display());
        assert!(
            !linked_program_ids().contains(&program),
            "{name}: bpftool link no longer shows program {program}"
        );
        assert!(!namespace_exists(&ns), "{name}: namespace {ns} removed");
        assert!(claims_of(pid).is_empty(), "{name}: claim note removed");
        report(&format!(
            "verify stopped by {name}: exit {status}, program {program} detached, {ns} removed"
        ));
    }
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn verify_killed_is_named_by_the_next_start_and_removed_by_scoped_commands() {
    crate::common::require_kernel("verify_killed_is_named_by_the_next_start_and_removed_by_scoped_commands");
    let id = crate::common::lab_id("fxk");
    let id = id.as_str();
    let (ns, iface) = (format!("ebml-{id}"), format!("ebml-{id}b"));
    let _cleanup = LabCleanup::new(id);
    let tmp = TempDir::new("ebml-lifecycle");
    let model = model_file(tmp.path());
    let (child, pins) = start_verify(&model, id);
    let pid = child.id();
    wait_until("the probe's links to be pinned", Duration::from_secs(120), || {
        pins.join("link_egress").exists()
    });
    let program = pinned_program_id(&pins.join("program"));
    signal(&child, libc::SIGKILL);
    let (code, _, _) = finish(child, Duration::from_secs(10));
    assert_eq!(code, None, "killed by a signal");

    // What SIGKILL leaves, seen with the tool for each kind: a TCX link, no cls_bpf filter.
    assert!(
        linked_program_ids().contains(&program),
        "the TCX link outlives the process"
    );
    assert_eq!(
        tc_filters(&ns, &iface).trim(),
        "",
        "the project makes no cls_bpf filters"
    );
    assert!(namespace_exists(&ns) && pins.exists());

    // The next start on that interface says so, in one line naming the commands that remove it.
    let out = workbench(&["probe", "attach", "--iface", &iface, "--netns", &ns]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mine: Vec<&str> = stderr.lines().filter(|l| l.contains(&iface)).collect();
    assert!(!mine.is_empty(), "{stderr}");
    for line in &mine {
        for part in [
            "stale",
            &format!("pid {pid}"),
            "workbench verify",
            "workbench probe cleanup",
            &format!("workbench lab down --id {id}"),
        ] {
            assert!(line.contains(part), "{part:?} in {line:?}");
        }
    }
    let error_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error_lines.len(), 1, "one error line: {stderr}");
    assert!(error_lines[0].contains("stale"), "{stderr}");

    // Scoped removal: this interface, this lab; nothing else on the machine. The command the
    // line suggests, run as given, works (`lab down` detaches the lab's probe itself: a `probe
    // detach` after it failed, "not attached").
    run_suggested_fix(error_lines[0]);
    assert!(!pins.exists());
    assert!(!namespace_exists(&ns));
    assert!(!linked_program_ids().contains(&program), "TCX link gone");
    // The note is gone with the objects: the next start names nothing of this run.
    let out = workbench(&["lab", "down", "--id", id]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(&format!("pid {pid}")), "{stderr}");
    assert!(
        claims_of(pid).is_empty(),
        "claim removed once its objects are gone"
    );
    report(&format!(
        "verify SIGKILLed: stale TCX link (program {program}) and {ns} named in one line, removed by the `lab down` it suggests"
    ));
}

/// A capture whose last frame (70,000 bytes) the lab's veth cannot carry: the kernel never sees
/// it, so verify fails *after* it made its lab, attached the probe and replayed.
fn capture_with_an_unsendable_frame(path: &Path) {
    use workbench_flow::craft::{ipv4_udp, Ipv4Endpoints};
    let ep = Ipv4Endpoints {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src: std::net::Ipv4Addr::new(10, 203, 7, 1),
        dst: std::net::Ipv4Addr::new(10, 203, 7, 2),
        ttl: 64,
    };
    let mut frames: Vec<Vec<u8>> = (0..5u16)
        .map(|i| ipv4_udp(&ep, 40_000 + i, 53, &[7; 40]))
        .collect();
    frames.push(ipv4_udp(&ep, 40_100, 53, &vec![9u8; 70_000 - 42]));
    crate::common::capfile::write_ethernet(path, &frames, 1_000_000);
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn verify_failing_after_it_attached_removes_the_probe_and_the_lab() {
    crate::common::require_kernel("verify_failing_after_it_attached_removes_the_probe_and_the_lab");
    let id = "lce";
    let _cleanup = LabCleanup::new(id);
    let tmp = TempDir::new("ebml-lifecycle");
    let model = model_file(tmp.path());
    let capture = tmp.path().join("big.pcap");
    capture_with_an_unsendable_frame(&capture);
    let child = spawn(&[
        "verify",
        capture.to_str().expect("utf-8"),
        "--model",
        model.to_str().expect("utf-8"),
        "--lab-id",
        id,
    ]);
    let pid = child.id();
    let (code, _, stderr) = finish(child, Duration::from_secs(120));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("the kernel recorded 5 packets, the capture has 6 parseable ones"),
        "failed after the replay: {stderr}"
    );
    assert!(
        !Path::new(PIN_ROOT)
            .join("v1")
            .join(format!("ebml-{id}b"))
            .exists(),
        "pins removed"
    );
    assert!(!namespace_exists(&format!("ebml-{id}")), "lab removed");
    assert!(claims_of(pid).is_empty(), "claim note removed");
    report("verify failing after attach: probe detached, lab removed, note removed");
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn bench_probe_interrupted_removes_its_private_pins() {
    crate::common::require_kernel("bench_probe_interrupted_removes_its_private_pins");
    let child = spawn(&["bench", "probe", "--repeat", "20000", "--json"]);
    let pid = child.id();
    let dir = Path::new(PIN_ROOT).join(format!("bench-{pid}"));
    wait_until("the private probe to be pinned", Duration::from_secs(120), || {
        dir.join("program").exists()
    });
    let program = pinned_program_id(&dir.join("program"));
    signal(&child, libc::SIGINT);
    let (code, _, stderr) = finish(child, Duration::from_secs(60));
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("interrupted by SIGINT"), "{stderr}");
    assert!(!dir.exists(), "{} removed", dir.display());
    let out = Command::new("bpftool")
        .args(["prog", "show", "id", &program.to_string()])
        .output()
        .expect("bpftool");
    assert!(!out.status.success(), "program {program} freed");
    assert!(claims_of(pid).is_empty());
    report(&format!(
        "bench probe stopped by SIGINT: private pins and program {program} gone"
    ));
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn replay_loop_and_live_stream_end_cleanly_on_a_signal() {
    crate::common::require_kernel("replay_loop_and_live_stream_end_cleanly_on_a_signal");
    let id = "lcr";
    let (ns, send, recv) = (format!("ebml-{id}"), format!("ebml-{id}a"), format!("ebml-{id}b"));
    let _cleanup = LabCleanup::new(id);
    let out = workbench(&["lab", "up", "--id", id, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = workbench(&["probe", "attach", "--iface", &recv, "--netns", &ns, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let live = spawn(&["live", "--iface", &recv, "--jsonl"]);
    let probe_packets = || {
        workbench_kernel::flows::read_stats(&recv)
            .map(|s| s.get("packets").copied().unwrap_or(0))
            .expect("the probe's statistics")
    };
    let before = probe_packets();
    let capture = pcap("mixed-demo.pcap");
    let replay = spawn(&[
        "replay",
        capture.to_str().expect("utf-8"),
        "--iface",
        &send,
        "--netns",
        &ns,
        "--pps",
        "2000",
        "--loop",
        "--json",
    ]);
    // Each signalled once it is at work (its handlers are installed before that), however long
    // a start takes on a loaded machine: live reading the ring (a BPF map fd), replay sending
    // (a few stray frames, IPv6 neighbour discovery, are not it).
    wait_until("live to open the probe's ring", Duration::from_secs(60), || {
        std::fs::read_dir(format!("/proc/{}/fd", live.id())).is_ok_and(|fds| {
            fds.flatten().any(|fd| {
                std::fs::read_link(fd.path()).is_ok_and(|to| to.as_os_str() == "anon_inode:bpf-map")
            })
        })
    });
    wait_until(
        "the replay's frames at the probe",
        Duration::from_secs(60),
        || probe_packets() >= before + 20,
    );
    signal(&replay, libc::SIGINT);
    let (code, stdout, stderr) = finish(replay, Duration::from_secs(10));
    assert_eq!(code, Some(0), "Ctrl-C is how --loop ends: {stderr}");
    let r: Value = serde_json::from_str(&stdout).expect("the report is printed");
    assert_eq!(r["interrupted"], "SIGINT");
    let sent = r["sent_packets"].as_u64().expect("sent_packets");
    assert!(sent > 0, "{r}");

    signal(&live, libc::SIGTERM);
    let (code, _, stderr) = finish(live, Duration::from_secs(10));
    assert_eq!(
        code,
        Some(0),
        "the verdict stream ends cleanly on SIGTERM: {stderr}"
    );

    let out = workbench(&["probe", "detach", "--iface", &recv]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    report(&format!(
        "replay --loop stopped by SIGINT after {sent} packets; live ended on SIGTERM"
    ));
}
