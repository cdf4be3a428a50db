//! The classic tc path (`probe attach --attach tc`; what `auto` takes on kernels before 6.6), on
//! this machine's kernel: a clsact qdisc added only when absent and removed on detach only if the
//! probe added it (and nothing else is on it), direct-action cls_bpf filters at a known priority
//! and handle, and detach removing exactly those filters, never another party's. Each kind of
//! object is checked with the tool that shows it: `tc` for qdiscs and filters, `bpftool` for
//! programs and links, the pin directory for pins.
//!
//! Traffic goes only between the two ends of a veth pair whose other end lives in a namespace
//! the test creates. Never the global `probe cleanup` (kernel_tc_cleanup.rs does that, gated).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::tc::{filters, has_clsact, program_exists, tc, Foreign};
use crate::common::{lab_id, report, workbench, workbench_json, DetachOnDrop, LabCleanup, TempDir};
use aya::programs::TcAttachType;
use serde_json::Value;
use workbench_kernel::lab::{traffic, Lab};
use workbench_kernel::tc::{TC_HANDLE, TC_PRIORITY};

const PIN_ROOT: &str = "/sys/fs/bpf/ebpf-ml-workbench/v1";
const ETH_IP_UDP_BYTES: u64 = 14 + 20 + 8;

fn subnet(offset: u32) -> u8 {
    ((std::process::id() + offset) % 200) as u8 + 4
}

/// Program ids of every BPF link (TCX links among them).
fn linked_program_ids() -> Vec<u64> {
    let out = Command::new("bpftool")
        .args(["-j", "link", "show"])
        .output()
        .expect("bpftool runs");
    let links: Value = serde_json::from_slice(&out.stdout).expect("bpftool JSON");
    links
        .as_array()
        .map(|a| a.iter().filter_map(|l| l["prog_id"].as_u64()).collect())
        .unwrap_or_default()
}

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Our filter line at `hook`: priority, handle, direct action, the program.
fn assert_our_filter(netns: Option<&str>, iface: &str, hook: &str, program_id: u64) {
    let ours: Vec<String> = filters(netns, iface, hook)
        .into_iter()
        .filter(|l| {
            l.contains(&format!("pref {TC_PRIORITY} ")) && l.contains(&format!("handle {TC_HANDLE:#x} "))
        })
        .collect();
    assert_eq!(ours.len(), 1, "{iface} {hook}: {ours:?}");
    for part in ["workbench_tc", "direct-action", &format!(" id {program_id} ")] {
        assert!(ours[0].contains(part), "{part:?} in {:?}", ours[0]);
    }
}

fn attach_tc(iface: &str, netns: Option<&str>) -> Value {
    let mut args = vec!["probe", "attach", "--iface", iface, "--attach", "tc", "--json"];
    if let Some(ns) = netns {
        args.extend(["--netns", ns]);
    }
    let v = workbench_json(&args);
    assert_eq!(v["attach_mode"], "tc", "{v:#}");
    assert_eq!(v["tc"]["priority"], u64::from(TC_PRIORITY), "{v:#}");
    assert_eq!(v["tc"]["handle"], u64::from(TC_HANDLE), "{v:#}");
    v
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn classic_path_adds_clsact_counts_flows_exactly_and_detach_removes_what_it_made() {
    crate::common::require_kernel(
        "classic_path_adds_clsact_counts_flows_exactly_and_detach_removes_what_it_made",
    );
    // The feature probes pass on a kernel that has everything (they create real maps).
    workbench_kernel::features::require().expect("this kernel has every feature the probe needs");
    let lab = Lab::create(&lab_id("ta"), subnet(11)).expect("lab namespace and veth");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.as_str();
    assert!(!has_clsact(None, h), "a new veth has no clsact qdisc");

    let attached = attach_tc(h, None);
    assert_eq!(attached["tc"]["qdisc_created"], true, "{attached:#}");
    let program = attached["program_id"].as_u64().expect("program id");
    assert!(has_clsact(None, h), "the probe added clsact");
    assert_our_filter(None, h, "ingress", program);
    assert_our_filter(None, h, "egress", program);
    assert!(
        !linked_program_ids().contains(&program),
        "no TCX link on the classic path"
    );
    assert!(Path::new(PIN_ROOT).join(h).join("tc_record").exists());
    let status = workbench_json(&["probe", "status", "--iface", h, "--json"]);
    assert_eq!(status["attach_mode"], "tc", "{status:#}");
    let again = workbench(&["probe", "attach", "--iface", h, "--attach", "tc"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already attached"));

    // Known traffic from inside the namespace, counted exactly through cls_bpf.
    let sink = traffic::UdpSink::bind(lab.host_addr, 9101, false).expect("udp sink");
    let echo = traffic::UdpSink::bind(lab.host_addr, 9100, true).expect("udp echo");
    for (i, payload) in [64usize, 300, 1200].iter().enumerate() {
        traffic::udp_from_netns(&lab, 41_001 + i as u16, 9101, &[*payload], false).expect("udp send");
    }
    traffic::udp_from_netns(&lab, 41_100, 9100, &[10, 20, 30, 40], true).expect("udp echo exchange");
    let echoed: u64 = [10u64, 20, 30, 40].iter().map(|p| ETH_IP_UDP_BYTES + p).sum();
    let mut expected = vec![
        (41_001u64, 9101u64, 1u64, 0u64, ETH_IP_UDP_BYTES + 64, 0u64),
        (41_002, 9101, 1, 0, ETH_IP_UDP_BYTES + 300, 0),
        (41_003, 9101, 1, 0, ETH_IP_UDP_BYTES + 1200, 0),
        (41_100, 9100, 4, 4, echoed, echoed),
    ];
    expected.sort_unstable();
    let counts = |t: &Value| {
        let mut v: Vec<(u64, u64, u64, u64, u64, u64)> = t["flows"]
            .as_array()
            .expect("flows")
            .iter()
            .filter(|f| f["proto"] == "udp")
            .map(|f| {
                let n = |k: &str| f[k].as_u64().expect(k);
                (
                    n("src_port"),
                    n("dest_port"),
                    n("fwd_packets"),
                    n("bwd_packets"),
                    n("fwd_bytes"),
                    n("bwd_bytes"),
                )
            })
            .collect();
        v.sort_unstable();
        v
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut table = workbench_json(&["probe", "flows", "--iface", h, "--json"]);
    while counts(&table) != expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        table = workbench_json(&["probe", "flows", "--iface", h, "--json"]);
    }
    assert_eq!((sink.received(), echo.received()), (3, 4));
    assert_eq!(counts(&table), expected, "flow table: {table:#}");

    let detached = workbench_json(&["probe", "detach", "--iface", h, "--json"]);
    assert_eq!(detached["attach_mode"], "tc", "{detached:#}");
    assert_eq!(
        strings(&detached["removed_filters"]),
        [
            format!("{h} ingress prio {TC_PRIORITY} handle {TC_HANDLE:#x}"),
            format!("{h} egress prio {TC_PRIORITY} handle {TC_HANDLE:#x}")
        ]
    );
    assert_eq!(strings(&detached["removed_qdiscs"]), [h.to_string()]);
    let pins = strings(&detached["removed_pins"]);
    assert_eq!(pins.len(), 11, "{pins:?}");
    assert!(
        pins.iter().any(|p| p == "code") && pins.iter().any(|p| p == "scratch"),
        "{pins:?}"
    );
    assert!(pins.iter().any(|p| p == "tc_record"), "{pins:?}");
    assert!(!has_clsact(None, h), "the qdisc the probe added is gone");
    assert!(filters(None, h, "ingress").is_empty() && filters(None, h, "egress").is_empty());
    assert!(!Path::new(PIN_ROOT).join(h).exists());
    wait_until("the program to be freed", Duration::from_secs(5), || {
        !program_exists(program)
    });
    report(&format!(
        "kernel test (cls_bpf): filters at prio {TC_PRIORITY} handle {TC_HANDLE:#x} on a clsact it added, {} flows exact, \
         detach removed 2 filters, the qdisc, 9 pins; program {program} freed",
        expected.len()
    ));
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn classic_path_leaves_an_existing_clsact_and_other_parties_filters_in_place() {
    crate::common::require_kernel(
        "classic_path_leaves_an_existing_clsact_and_other_parties_filters_in_place",
    );
    let lab = Lab::create(&lab_id("tb"), subnet(12)).expect("lab namespace and veth");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.as_str();

    // 1. Someone else's clsact qdisc and filters are there first (one at our very priority).
    tc(None, &["qdisc", "add", "dev", h, "clsact"]);
    let mut foreign = Foreign::load("tb");
    foreign.attach(None, h, TcAttachType::Ingress, 7, 1);
    foreign.attach(None, h, TcAttachType::Egress, TC_PRIORITY, TC_HANDLE + 1);
    let attached = attach_tc(h, None);
    assert_eq!(attached["tc"]["qdisc_created"], false, "{attached:#}");
    let program = attached["program_id"].as_u64().expect("program id");
    assert_our_filter(None, h, "ingress", program);
    assert_our_filter(None, h, "egress", program);
    assert_eq!(
        filters(None, h, "ingress").len() + filters(None, h, "egress").len(),
        4
    );
    let detached = workbench_json(&["probe", "detach", "--iface", h, "--json"]);
    assert_eq!(strings(&detached["removed_filters"]).len(), 2, "{detached:#}");
    assert!(strings(&detached["removed_qdiscs"]).is_empty(), "{detached:#}");
    assert!(has_clsact(None, h), "an existing clsact qdisc stays");
    let (ingress, egress) = (filters(None, h, "ingress"), filters(None, h, "egress"));
    assert!(
        ingress.len() == 1 && ingress[0].contains("pref 7 ") && ingress[0].contains("workbench_empty"),
        "{ingress:?}"
    );
    assert!(
        egress.len() == 1
            && egress[0].contains(&format!("handle {:#x} ", TC_HANDLE + 1))
            && egress[0].contains(&format!(" id {} ", foreign.program_id)),
        "the other filter at our priority stays: {egress:?}"
    );

    // 2. The probe adds clsact; someone puts a filter on it; detach keeps it for them.
    tc(None, &["qdisc", "del", "dev", h, "clsact"]);
    let attached = attach_tc(h, None);
    assert_eq!(attached["tc"]["qdisc_created"], true, "{attached:#}");
    foreign.attach(None, h, TcAttachType::Egress, 9, 1);
    let detached = workbench_json(&["probe", "detach", "--iface", h, "--json"]);
    assert_eq!(strings(&detached["removed_filters"]).len(), 2, "{detached:#}");
    assert!(strings(&detached["removed_qdiscs"]).is_empty(), "{detached:#}");
    let notes = strings(&detached["notes"]);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("clsact qdisc added by the probe kept: 1 other filter")),
        "{notes:?}"
    );
    assert!(has_clsact(None, h));
    assert_eq!(filters(None, h, "egress").len(), 1);
    assert!(program_exists(u64::from(foreign.program_id)));
    tc(None, &["qdisc", "del", "dev", h, "clsact"]);
    report("kernel test (cls_bpf): an existing clsact and two foreign filters (one at our priority) left in place; a clsact the probe added but others now use kept");
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn classic_attach_refused_next_to_an_ingress_qdisc_leaves_nothing() {
    crate::common::require_kernel("classic_attach_refused_next_to_an_ingress_qdisc_leaves_nothing");
    let lab = Lab::create(&lab_id("tc"), subnet(13)).expect("lab namespace and veth");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.as_str();
    tc(None, &["qdisc", "add", "dev", h, "ingress"]);
    let out = workbench(&["probe", "attach", "--iface", h, "--attach", "tc"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("`ingress` qdisc where the probe needs clsact"),
        "{stderr}"
    );
    assert!(!Path::new(PIN_ROOT).join(h).exists(), "no pins left");
    assert!(tc(None, &["qdisc", "show", "dev", h]).contains("qdisc ingress ffff:"));
    tc(None, &["qdisc", "del", "dev", h, "ingress"]);
    report("kernel test (cls_bpf): attach next to an `ingress` qdisc refused in one line, nothing left");
}

fn pcap(name: &str) -> PathBuf {
    crate::common::shared_data(&format!("pcaps/{name}"))
}

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the workbench binary starts")
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn verify_through_cls_bpf_killed_is_named_and_removed_by_scoped_commands() {
    crate::common::require_kernel("verify_through_cls_bpf_killed_is_named_and_removed_by_scoped_commands");
    let id = lab_id("fxt");
    let (ns, iface) = (format!("ebml-{id}"), format!("ebml-{id}b"));
    let _cleanup = LabCleanup::new(&id);
    let tmp = TempDir::new("ebml-tc");
    let model = tmp.path().join("m.ebml");
    let tree = workbench_flow::model::build::syn_count_tree(3).expect("tree");
    workbench_flow::model::file::write(&model, &tree, Value::Null).expect("model file");
    let capture = pcap("synflood-spoofed.pcap");
    let mut child = spawn(&[
        "verify",
        capture.to_str().expect("utf-8"),
        "--model",
        model.to_str().expect("utf-8"),
        "--pps",
        "300",
        "--lab-id",
        &id,
        "--attach",
        "tc",
        "--json",
    ]);
    let pid = child.id();
    wait_until("verify's filters", Duration::from_secs(120), || {
        Path::new(PIN_ROOT).join(&iface).join("tc_record").exists()
            && filters(Some(&ns), &iface, "egress").len() == 1
    });
    let program = filters(Some(&ns), &iface, "ingress")
        .first()
        .and_then(|l| l.split(" id ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .expect("the filter names its program id");
    child.kill().expect("SIGKILL");
    let _ = child.wait();

    // A filter outlives its process just as a pinned TCX link does.
    assert_our_filter(Some(&ns), &iface, "ingress", program);
    assert_our_filter(Some(&ns), &iface, "egress", program);
    let out = workbench(&["probe", "attach", "--iface", &iface, "--netns", &ns]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let error: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error.len(), 1, "{stderr}");
    for part in [
        &"stale ".to_string(),
        &format!("probe on {iface} (cls_bpf filters)"),
        &format!("pid {pid}"),
        &format!("workbench lab down --id {id}"),
    ] {
        assert!(error[0].contains(part.as_str()), "{part:?} in {stderr}");
    }

    // The command the line suggests, run as given: `lab down` removes the filters (and the
    // qdisc) inside the namespace before the namespace itself.
    crate::lifecycle::run_suggested_fix(error[0]);
    assert!(!Path::new(PIN_ROOT).join(&iface).exists(), "pins removed");
    wait_until("the program to be freed", Duration::from_secs(5), || {
        !program_exists(program)
    });
    report(&format!(
        "verify --attach tc SIGKILLed: filters of program {program} named as stale, removed by the `lab down` it suggests"
    ));
}
