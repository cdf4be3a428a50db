//! Kernel integration: the real probe in the real kernel, on a veth pair whose other end lives in
//! a namespace the test creates. Traffic goes only between the two ends of that pair.
//!
//! Needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN for namespaces).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::{report, workbench, workbench_json, DetachOnDrop};
use serde_json::Value;
use workbench_flow::craft::TCP_SYN;
use workbench_kernel::lab::{traffic, Lab};

const ETH_IP_UDP_BYTES: u64 = 14 + 20 + 8;
const ETH_IP_TCP_BYTES: u64 = 14 + 20 + 20;

/// (proto, src, src_port, dst, dst_port) -> (fwd_packets, bwd_packets, fwd_bytes, bwd_bytes)
type FlowCounts = BTreeMap<(String, String, u64, String, u64), (u64, u64, u64, u64)>;

fn flow_counts(table: &Value) -> FlowCounts {
    let mut out = BTreeMap::new();
    for f in table["flows"].as_array().expect("flows is a list") {
        let s = |k: &str| f[k].as_str().expect(k).to_string();
        let n = |k: &str| f[k].as_u64().expect(k);
        out.insert(
            (
                s("proto"),
                s("src_ip"),
                n("src_port"),
                s("dest_ip"),
                n("dest_port"),
            ),
            (n("fwd_packets"), n("bwd_packets"), n("fwd_bytes"), n("bwd_bytes")),
        );
    }
    out
}

/// TCX links of one program, as bpftool lists them. Debian 12's bpftool 7.1 predates TCX: it
/// prints such links as `"type": 11` without the interface, so the program id identifies them.
fn tcx_links_of(program_id: u64) -> Vec<Value> {
    let out = std::process::Command::new("bpftool")
        .args(["--json", "link", "show"])
        .output()
        .expect("bpftool runs (cargo xtask setup installs it)");
    assert!(
        out.status.success(),
        "bpftool link show: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let links: Value = serde_json::from_slice(&out.stdout).expect("bpftool JSON");
    links
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|l| l["prog_id"].as_u64() == Some(program_id))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn probe_counts_exact_packets_and_bytes_per_flow() {
    crate::common::require_kernel("probe_counts_exact_packets_and_bytes_per_flow");
    let id = format!("p{}", std::process::id() % 100_000);
    let lab = Lab::create(&id, (std::process::id() % 200) as u8 + 1).expect("lab namespace and veth");
    let _detach = DetachOnDrop(lab.host_if.clone());

    let attached = workbench_json(&["probe", "attach", "--iface", &lab.host_if, "--json"]);
    let program_id = attached["program_id"].as_u64().expect("program id");
    let insns = attached["verified_instructions"]
        .as_u64()
        .expect("verifier instruction count");
    assert!(insns > 0);
    report(&format!(
        "kernel test ran: probe program {} accepted by the verifier ({insns} instructions) and attached to {}",
        attached["program_id"], lab.host_if
    ));
    let links = tcx_links_of(program_id);
    assert_eq!(
        links.len(),
        2,
        "one TCX link per direction, bpftool sees: {links:?}"
    );
    for link in &links {
        let kind = &link["type"];
        assert!(
            kind == "tcx" || kind == 11,
            "TCX link (type 11), bpftool says {link}"
        );
    }

    let again = workbench(&["probe", "attach", "--iface", &lab.host_if]);
    assert!(!again.status.success(), "a second attach must be refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already attached"));

    // Known traffic from inside the namespace.
    let single_sink = traffic::UdpSink::bind(lab.host_addr, 9001, false).expect("udp sink");
    let echo_sink = traffic::UdpSink::bind(lab.host_addr, 9000, true).expect("udp echo");
    let mut expected = FlowCounts::new();
    let (peer, host) = (lab.peer_addr.to_string(), lab.host_addr.to_string());
    for i in 0..7u64 {
        let (port, payload) = (40_001 + i, 100 + 10 * i);
        traffic::udp_from_netns(&lab, port as u16, 9001, &[payload as usize], false).expect("udp send");
        expected.insert(
            ("udp".into(), peer.clone(), port, host.clone(), 9001),
            (1, 0, ETH_IP_UDP_BYTES + payload, 0),
        );
    }
    let echoed = [10usize, 200, 300, 400, 1000];
    traffic::udp_from_netns(&lab, 40_100, 9000, &echoed, true).expect("udp echo exchange");
    let echo_bytes: u64 = echoed.iter().map(|&p| ETH_IP_UDP_BYTES + p as u64).sum();
    expected.insert(
        ("udp".into(), peer.clone(), 40_100, host.clone(), 9000),
        (5, 5, echo_bytes, echo_bytes),
    );
    // SYNs to a closed port: the host answers each with one RST (54 bytes, no options).
    traffic::tcp_segments_from_netns(&lab, 41_000, 9, TCP_SYN, 3).expect("tcp send");
    expected.insert(
        ("tcp".into(), peer.clone(), 41_000, host.clone(), 9),
        (3, 3, 3 * ETH_IP_TCP_BYTES, 3 * ETH_IP_TCP_BYTES),
    );

    // Replies may still be in flight: poll, then assert exactly.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut table;
    loop {
        table = workbench_json(&["probe", "flows", "--iface", &lab.host_if, "--json"]);
        if flow_counts(&table) == expected || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(single_sink.received(), 7);
    assert_eq!(echo_sink.received(), 5);
    assert_eq!(flow_counts(&table), expected, "flow table: {table:#}");
    let stat = |k: &str| table["stats"][k].as_u64().unwrap_or(u64::MAX);
    let flow_packets: u64 = expected.values().map(|c| c.0 + c.1).sum();
    assert_eq!(
        stat("parsed"),
        flow_packets,
        "every IP packet of the test is in a flow: {:#}",
        table["stats"]
    );
    assert_eq!(stat("flows_created"), expected.len() as u64);
    assert_eq!(
        stat("packets"),
        stat("parsed") + stat("not_ip"),
        "only ARP is unparsed: {:#}",
        table["stats"]
    );
    report(&format!(
        "kernel test: {} flows with exact packet and byte counts",
        expected.len()
    ));

    let detached = workbench_json(&["probe", "detach", "--iface", &lab.host_if, "--json"]);
    // Two links, the program, eight maps (flows, stats, events, packets, allow, config, models,
    // scratch) and the code engine's program array; no model was deployed.
    assert_eq!(
        detached["removed_pins"].as_array().map(Vec::len),
        Some(12),
        "{detached:#}"
    );
    assert!(
        tcx_links_of(program_id).is_empty(),
        "detach must remove both TCX links"
    );
    let gone = workbench(&["probe", "flows", "--iface", &lab.host_if]);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("not attached"));
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn flows_without_capabilities_fail_with_one_line_naming_them() {
    crate::common::require_kernel("flows_without_capabilities_fail_with_one_line_naming_them");
    // A copy that user nobody can execute wherever the checkout lives.
    let dir = crate::common::TempDir::new("unpriv");
    let exe = dir.path().join("workbench");
    std::fs::copy(env!("CARGO_BIN_EXE_workbench"), &exe).expect("copy binary");
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args(["probe", "flows", "--iface", "lo", "--json"])
        .output()
        .expect("setpriv (util-linux) runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must fail without capabilities");
    // Nothing but the error, as JSON.
    crate::common::only_json_error(&out.stdout);
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("CAP_BPF") && stderr.contains("CAP_NET_ADMIN"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.to_lowercase().contains("backtrace"),
        "{stderr}"
    );
}

/// Two `probe attach` on one interface at once: one attaches, the other waits for it and says
/// the probe is already attached. Before, the loser saw the winner's half-made pin directory and
/// called it a stale probe of a killed attach, with a `probe detach` as the fix (which removed
/// the probe just attached). A detach racing an attach ends with the probe either whole or gone.
#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn concurrent_attaches_on_one_interface_are_serialised() {
    crate::common::require_kernel("concurrent_attaches_on_one_interface_are_serialised");
    let lab = crate::common::LabCleanup::new(&crate::common::lab_id("fxr"));
    workbench_json(&["lab", "up", "--id", lab.id(), "--json"]);
    let (ns, iface) = (lab.netns(), lab.probe_iface());
    let pins = std::path::Path::new("/sys/fs/bpf/ebpf-ml-workbench/v1").join(&iface);
    let spawn = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_workbench"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn workbench")
    };
    let attach = [
        "probe", "attach", "--iface", &iface, "--netns", &ns, "--attach", "tc",
    ];
    for round in 0..4 {
        let (a, b) = (spawn(&attach), spawn(&attach));
        let outs = [a, b].map(|c| c.wait_with_output().expect("wait"));
        let won: Vec<_> = outs.iter().filter(|o| o.status.success()).collect();
        assert_eq!(
            won.len(),
            1,
            "round {round}: exactly one attach succeeds: {outs:?}"
        );
        let lost = outs.iter().find(|o| !o.status.success()).expect("a loser");
        let stderr = String::from_utf8_lossy(&lost.stderr);
        assert!(
            stderr.contains("already attached") && !stderr.contains("stale"),
            "round {round}: the loser says the probe is already attached: {stderr}"
        );
        assert!(
            workbench_kernel::probe::is_attached(&iface),
            "round {round}: still attached"
        );
        let out = workbench(&["probe", "detach", "--iface", &iface]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

        // An attach and a detach at once: never half a probe left behind.
        let (a, d) = (spawn(&attach), spawn(&["probe", "detach", "--iface", &iface]));
        let (a, d) = (
            a.wait_with_output().expect("wait"),
            d.wait_with_output().expect("wait"),
        );
        let whole = workbench_kernel::probe::is_attached(&iface);
        assert!(
            whole || !pins.exists(),
            "round {round}: attach {a:?} / detach {d:?} left a partial probe"
        );
        if whole {
            let out = workbench(&["probe", "detach", "--iface", &iface]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
    }
    let lock = std::path::Path::new("/run/ebpf-ml-workbench/locks").join(format!("{iface}.lock"));
    assert!(!lock.exists(), "the lock file goes with the last holder");
    report(
        "kernel test: concurrent attaches on one interface: one attaches, the other says already attached",
    );
}

/// A layer-3 device (a tun, as WireGuard and VPNs make) and the loopback device have no
/// Ethernet header for the probe to read: refused at attach, nothing pinned (kernel review).
#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn attach_to_a_device_without_ethernet_headers_is_refused() {
    crate::common::require_kernel("attach_to_a_device_without_ethernet_headers_is_refused");
    let id = crate::common::lab_id("pl3");
    let lab = Lab::create(&id, ((std::process::id() + 163) % 200) as u8 + 4).expect("lab");
    let tun = format!("ebml-{id}t");
    let made = std::process::Command::new("ip")
        .args(["-n", &lab.netns, "tuntap", "add", "mode", "tun", "name", &tun])
        .status()
        .expect("ip runs");
    assert!(made.success(), "a tun device in the lab namespace");
    for (iface, what) in [
        (tun.as_str(), "a layer-3 device without link headers"),
        ("lo", "the loopback device"),
    ] {
        let out = workbench(&["probe", "attach", "--iface", iface, "--netns", &lab.netns]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{iface}: attached");
        assert!(
            err.contains(&format!("{iface} is {what}")) && err.contains("Ethernet"),
            "{err}"
        );
        assert!(
            !workbench_kernel::bpffs::iface_dir(iface).exists(),
            "{iface}: pins made"
        );
    }
}
