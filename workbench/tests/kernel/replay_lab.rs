//! Replay into the replay lab: every packet of a capture arrives at the other end of the veth
//! pair, counted there; replay refuses interfaces outside a lab; `lab up|down` work and clean up.
//!
//! Every namespace a test makes is removed by a Drop guard, also when an assertion fails.

use std::process::Command;
use std::time::Duration;

use crate::common::replay::{count_frames, TestLab};
use crate::common::{report, rx_packets, shared_data, workbench, workbench_json};
use workbench_kernel::lab::replay_lab;

fn sample(name: &str) -> std::path::PathBuf {
    shared_data(&format!("pcaps/{name}"))
}

/// `workbench replay ... --json` as &str arguments.
fn json_of(args: &[String]) -> serde_json::Value {
    workbench_json(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn replay_delivers_exactly_the_capture_packet_count_to_the_other_end() {
    crate::common::require_kernel("replay_delivers_exactly_the_capture_packet_count_to_the_other_end");
    let lab = TestLab::new("r");
    let info = lab.info.clone();
    let mut total = 0;
    // Counts from capinfos -c (see capture_reader.rs). One paced, one at top speed.
    for (name, count, pace) in [
        ("mixed-demo.pcap", 596u64, &["--pps", "20000"][..]),
        ("portscan-1-10000.pcapng", 10_009, &["--top-speed"][..]),
    ] {
        let counter = lab.counter();
        let sent = json_of(&lab.replay_args(&sample(name), pace));
        assert_eq!(sent["sent_packets"].as_u64(), Some(count), "{name}: {sent:#}");
        assert_eq!(sent["errors"].as_u64(), Some(0), "{name}: {sent:#}");
        assert!(sent["elapsed_ns"].as_u64().is_some_and(|n| n > 0), "{sent:#}");
        assert!(sent["achieved_pps"].as_f64().is_some_and(|p| p > 0.0), "{sent:#}");
        let (received, dropped) = count_frames(counter, count, Duration::from_secs(10));
        assert_eq!(dropped, 0, "{name}: the receive socket dropped frames");
        assert_eq!(
            received, count,
            "{name}: frames counted at {}",
            info.receive_iface
        );
        total += count;
        report(&format!(
            "replay test: {name}: {count} sent, {received} received at {} ({:.0} packets/s)",
            info.receive_iface,
            sent["achieved_pps"].as_f64().unwrap_or(0.0)
        ));
    }
    assert_eq!(
        rx_packets(&info.netns, &info.receive_iface),
        total,
        "the kernel's own receive counter agrees"
    );
    lab.remove();
    assert!(
        !std::path::Path::new("/run/netns").join(&info.netns).exists(),
        "the lab is gone"
    );
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn replay_refuses_an_interface_in_the_root_namespace() {
    // No root needed: the refusal comes before any socket.
    let out = workbench(&[
        "replay",
        sample("http.pcap").to_str().expect("utf-8"),
        "--iface",
        "lo",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "replay into lo must be refused");
    // Nothing but the error, as JSON.
    crate::common::only_json_error(&out.stdout);
    let error = stderr.lines().last().unwrap_or_default();
    assert!(
        error.starts_with("error: replay refuses lo: it is in the root network namespace"),
        "{stderr}"
    );
    let out = workbench(&["replay", "x.pcap", "--iface", "eth0", "--netns", "prod", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("replay refuses namespace prod: it was not made by the project"),
        "{stderr}"
    );
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn replay_refuses_a_lab_with_an_extra_link_or_a_route() {
    crate::common::require_kernel("replay_refuses_a_lab_with_an_extra_link_or_a_route");
    let lab = TestLab::new("g");
    let info = lab.info.clone();
    let args = lab.replay_args(&sample("whois.pcap"), &["--top-speed"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ok = workbench_json(&args);
    assert_eq!(
        ok["sent_packets"].as_u64(),
        Some(11),
        "a clean lab is accepted: {ok:#}"
    );

    let ip = |a: &[&str]| {
        let out = Command::new("ip").args(a).output().expect("ip runs");
        assert!(
            out.status.success(),
            "ip {a:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ip(&[
        "-n",
        &info.netns,
        "route",
        "add",
        "192.0.2.0/24",
        "dev",
        &info.receive_iface,
    ]);
    let out = workbench(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("it has a route to 192.0.2.0/24"),
        "{stderr}"
    );
    ip(&[
        "-n",
        &info.netns,
        "route",
        "del",
        "192.0.2.0/24",
        "dev",
        &info.receive_iface,
    ]);

    // A second veth pair: the namespace is no longer just the lab's two ends.
    let (extra, extra_peer) = (format!("{}c", info.netns), format!("{}d", info.netns));
    ip(&[
        "-n",
        &info.netns,
        "link",
        "add",
        &extra,
        "type",
        "veth",
        "peer",
        "name",
        &extra_peer,
    ]);
    let out = workbench(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("the namespace has other links (") && stderr.contains(&extra),
        "{stderr}"
    );
}

/// Removes lab `id` when dropped, for tests that create it through the command line.
struct DownOnDrop(String);

impl Drop for DownOnDrop {
    fn drop(&mut self) {
        let _ = replay_lab::down(Some(&self.0));
    }
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn lab_up_reports_its_names_and_down_is_idempotent() {
    crate::common::require_kernel("lab_up_reports_its_names_and_down_is_idempotent");
    let id = crate::common::lab_id("u");
    let _guard = DownOnDrop(id.clone());
    let up = workbench_json(&["lab", "up", "--id", &id, "--json"]);
    let ns = format!("ebml-{id}");
    assert_eq!(up["netns"].as_str(), Some(ns.as_str()));
    assert_eq!(up["send_iface"].as_str(), Some(format!("{ns}a").as_str()));
    assert_eq!(up["receive_iface"].as_str(), Some(format!("{ns}b").as_str()));
    assert!(std::path::Path::new("/run/netns").join(&ns).exists());
    let again = workbench(&["lab", "up", "--id", &id]);
    assert!(
        !again.status.success(),
        "a second `lab up` with the same id is refused"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let down = workbench_json(&["lab", "down", "--id", &id, "--json"]);
    assert_eq!(down["removed_namespaces"], serde_json::json!([ns]));
    assert!(!std::path::Path::new("/run/netns").join(&ns).exists());
    let down = workbench_json(&["lab", "down", "--id", &id, "--json"]);
    assert_eq!(
        down["removed_namespaces"],
        serde_json::json!([]),
        "down twice is fine"
    );
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn replay_of_a_truncated_capture_sends_what_precedes_the_cut_then_fails_naming_it() {
    crate::common::require_kernel(
        "replay_of_a_truncated_capture_sends_what_precedes_the_cut_then_fails_naming_it",
    );
    let dir = crate::common::TempDir::new("cutreplay");
    let cut = dir.path().join("cut.pcap");
    let bytes = std::fs::read(sample("mixed-demo.pcap")).expect("sample");
    std::fs::write(&cut, &bytes[..100_000]).expect("write prefix");
    let complete = workbench_flow::capture::open(&cut, false)
        .expect("opens")
        .take_while(Result::is_ok)
        .count() as u64;
    assert!(complete > 0);

    let lab = TestLab::new("t");
    let counter = lab.counter();
    let cut_arg = cut.to_str().expect("utf-8 path");
    let args = lab.replay_args(&cut, &["--top-speed"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = workbench(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    crate::common::only_json_error(&out.stdout);
    let line = stderr.lines().last().unwrap_or_default();
    assert!(
        line.starts_with(&format!(
            "error: replay stopped after sending {complete} packets: {cut_arg}: truncated record at byte"
        )) && line.contains(&format!("(packet {})", complete + 1)),
        "{stderr}"
    );
    assert_eq!(
        count_frames(counter, complete, Duration::from_secs(5)),
        (complete, 0),
        "(received, dropped) at the far end"
    );

    // Lenient: the same packets, a report, one skipped place.
    let mut lenient_args = args.clone();
    lenient_args.insert(lenient_args.len() - 1, "--lenient");
    let sent = workbench_json(&lenient_args);
    assert_eq!(sent["sent_packets"].as_u64(), Some(complete), "{sent:#}");
    assert_eq!(sent["skipped"].as_u64(), Some(1), "{sent:#}");
}

/// `lab down` with the probe still attached inside the lab (TCX links, and classic cls_bpf
/// filters, which live in the lab's namespace): the probe is detached first, so its pins, program
/// and maps do not outlive the lab. Before, the pins stayed and kept the program and its 37 MB
/// flow table loaded until a `probe detach` or `probe cleanup`.
#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn lab_down_detaches_a_probe_still_attached_inside_the_lab() {
    crate::common::require_kernel("lab_down_detaches_a_probe_still_attached_inside_the_lab");
    for mode in ["auto", "tc"] {
        let id = crate::common::lab_id(if mode == "tc" { "dt" } else { "dx" });
        let _guard = DownOnDrop(id.clone());
        let up = workbench_json(&["lab", "up", "--id", &id, "--json"]);
        let (ns, iface) = (
            up["netns"].as_str().expect("netns").to_string(),
            up["receive_iface"].as_str().expect("receive_iface").to_string(),
        );
        let attached = workbench_json(&[
            "probe", "attach", "--iface", &iface, "--netns", &ns, "--attach", mode, "--json",
        ]);
        let program_id = attached["program_id"].as_u64().expect("program_id");
        let pins = std::path::Path::new("/sys/fs/bpf/ebpf-ml-workbench/v1").join(&iface);
        assert!(pins.exists(), "{mode}: the probe is pinned for {iface}");
        assert!(crate::common::tc::program_exists(program_id));

        let down = workbench_json(&["lab", "down", "--id", &id, "--json"]);
        assert_eq!(
            down["detached_probes"],
            serde_json::json!([iface]),
            "{mode}: {down}"
        );
        assert_eq!(down["removed_namespaces"], serde_json::json!([ns]));
        assert!(!pins.exists(), "{mode}: no pins left for {iface}");
        // The kernel frees a program once its last reference goes (after an RCU grace period).
        let start = std::time::Instant::now();
        while crate::common::tc::program_exists(program_id) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{mode}: program {program_id} still loaded 10 s after `lab down`"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let again = workbench_json(&["lab", "down", "--id", &id, "--json"]);
        assert_eq!(again["detached_probes"], serde_json::json!([]));
    }
}

/// `probe detach --netns` takes the namespace `probe attach --netns` was given, and checks it
/// before anything is removed: a namespace that does not exist, or one the probe was not
/// attached in, is refused with the probe left attached.
#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn probe_detach_checks_the_namespace_it_is_given() {
    crate::common::require_kernel("probe_detach_checks_the_namespace_it_is_given");
    let other = crate::common::lab_id("no");
    let _other_guard = DownOnDrop(other.clone());
    let other_ns = workbench_json(&["lab", "up", "--id", &other, "--json"])["netns"]
        .as_str()
        .expect("netns")
        .to_string();
    for mode in ["auto", "tc"] {
        let id = crate::common::lab_id(if mode == "tc" { "nc" } else { "nd" });
        let _guard = DownOnDrop(id.clone());
        let up = workbench_json(&["lab", "up", "--id", &id, "--json"]);
        let (ns, iface) = (
            up["netns"].as_str().expect("netns").to_string(),
            up["receive_iface"].as_str().expect("receive_iface").to_string(),
        );
        workbench_json(&[
            "probe", "attach", "--iface", &iface, "--netns", &ns, "--attach", mode, "--json",
        ]);
        let pins = std::path::Path::new("/sys/fs/bpf/ebpf-ml-workbench/v1").join(&iface);

        let refused = |netns: &str, says: &str| {
            let out = workbench(&["probe", "detach", "--iface", &iface, "--netns", netns]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success(),
                "{mode}: detach --netns {netns} was refused"
            );
            assert!(stderr.contains(says), "{mode}: detach --netns {netns}: {stderr}");
            assert!(pins.exists(), "{mode}: still attached after the refused detach");
        };
        refused("ebml-nosuchns", "no network namespace ebml-nosuchns");
        refused(
            &other_ns,
            if mode == "tc" {
                "was attached in namespace"
            } else {
                "no interface"
            },
        );

        let detached = workbench_json(&["probe", "detach", "--iface", &iface, "--netns", &ns, "--json"]);
        assert_eq!(detached["iface"], serde_json::json!(iface), "{mode}: {detached}");
        assert_eq!(
            detached["attach_mode"],
            serde_json::json!(if mode == "tc" { "tc" } else { "tcx" })
        );
        assert!(!pins.exists(), "{mode}: no pins left for {iface}");
    }
}

/// `lab down` without `--id` removes the lab `lab up` without `--id` made (`replay`), and only
/// it; every lab takes `--all`. Before, `lab down` alone removed every `ebml-` namespace on the
/// host, anyone's (a CI run's labs included). Run on a private machine: `--all` acts on every
/// lab it can see.
#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn lab_down_without_id_removes_the_default_lab_only_and_all_takes_every_lab() {
    crate::common::require_kernel("lab_down_without_id_removes_the_default_lab_only_and_all_takes_every_lab");
    if !crate::common::on_a_private_machine(
        "replay_lab::lab_down_without_id_removes_the_default_lab_only_and_all_takes_every_lab",
    ) {
        return;
    }
    let other = crate::common::lab_id("fxd");
    let _guard = DownOnDrop(other.clone());
    let _default_guard = DownOnDrop("replay".to_string());
    let default_ns = workbench_json(&["lab", "up", "--json"])["netns"]
        .as_str()
        .expect("netns")
        .to_string();
    assert_eq!(default_ns, "ebml-replay");
    let other_ns = workbench_json(&["lab", "up", "--id", &other, "--json"])["netns"]
        .as_str()
        .expect("netns")
        .to_string();

    let down = workbench_json(&["lab", "down", "--json"]);
    assert_eq!(
        down["removed_namespaces"],
        serde_json::json!([default_ns]),
        "{down}"
    );
    let left = workbench_kernel::lab::project_namespaces();
    assert_eq!(left, std::slice::from_ref(&other_ns), "another lab stays");

    let both = workbench(&["lab", "down", "--all", "--id", &other]);
    assert!(!both.status.success(), "--all with --id is refused");
    assert!(String::from_utf8_lossy(&both.stderr).contains("--all"));

    let all = workbench_json(&["lab", "down", "--all", "--json"]);
    assert_eq!(all["removed_namespaces"], serde_json::json!([other_ns]), "{all}");
    assert!(workbench_kernel::lab::project_namespaces().is_empty());
    report("kernel test: lab down without --id removed only ebml-replay; --all the rest");
}
