//! The enforce guard sees what the kernel routes through, in the namespace the interface lives
//! in: a bridge port whose bridge carries the default route, and a bridge whose default route is
//! in a policy-routing table (an `ip rule` to table 100), are refused by name; an unrelated
//! device is not. Everything (bridges, veths, addresses, routes, rules) lives inside the lab's
//! namespace, which the lab removes (also when an assertion fails); nothing is sent.

use crate::common::{lab_id, report, require_kernel, workbench, workbench_json, DetachOnDrop};
use workbench_kernel::lab::{ip_output, Lab};

/// `ip -n NS ARGS`, which must succeed.
fn ip_in(ns: &str, args: &[&str]) {
    let mut all = vec!["-n", ns];
    all.extend_from_slice(args);
    ip_output(&all).unwrap_or_else(|e| panic!("{e}"));
}

/// A lab whose namespace holds bridge `<netns>b` with the lab's veth end as its port (the
/// address moved to the bridge) and a veth pair `<netns>d`/`<netns>e` beside it; IPv6 off on each.
fn bridged_lab(tag: &str, n: u32) -> (Lab, String, String) {
    let lab = Lab::create(&lab_id(tag), ((std::process::id() + n) % 200) as u8 + 4).expect("lab");
    let ns = lab.netns.clone();
    let br = format!("{ns}b");
    let beside = format!("{ns}d");
    ip_in(&ns, &["link", "add", &br, "type", "bridge"]);
    // A veth pair beside the bridge (its ends are each other's peers, not the bridge's).
    let other = format!("{ns}e");
    ip_in(
        &ns,
        &["link", "add", &beside, "type", "veth", "peer", "name", &other],
    );
    let devs = [br.clone(), beside.clone(), other];
    lab.run_in_netns(move || {
        for dev in devs {
            let path = format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6");
            if let Err(e) = std::fs::write(&path, b"1") {
                assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{path}: {e}");
            }
        }
    })
    .expect("inside the lab");
    ip_in(&ns, &["addr", "flush", "dev", &lab.peer_if]);
    ip_in(&ns, &["link", "set", &lab.peer_if, "master", &br]);
    ip_in(
        &ns,
        &["addr", "add", &format!("{}/24", lab.peer_addr), "dev", &br],
    );
    ip_in(&ns, &["link", "set", &br, "up"]);
    (lab, br, beside)
}

/// `workbench deploy --mode enforce --iface IF [EXTRA]`: its stderr (it must fail: refused, or
/// no probe attached).
fn enforce(iface: &str, extra: &[&str]) -> String {
    let mut args = vec!["deploy", "--mode", "enforce", "--iface", iface];
    args.extend_from_slice(extra);
    let out = workbench(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "workbench {} succeeded: {stderr}",
        args.join(" ")
    );
    stderr
}

const FLAG: &str = "--i-know-enforce-can-cut-this-machine-off";

fn assert_not_refused(stderr: &str, what: &str) {
    assert!(
        !stderr.contains(FLAG) && stderr.contains("not attached"),
        "{what}: {stderr}"
    );
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn enforce_is_refused_on_a_port_of_the_bridge_that_carries_the_default_route() {
    require_kernel("enforce_is_refused_on_a_port_of_the_bridge_that_carries_the_default_route");
    let (lab, br, beside) = bridged_lab("fc1", 151);
    let (ns, port) = (lab.netns.clone(), lab.peer_if.clone());
    let gw = lab.host_addr.to_string();
    ip_in(&ns, &["route", "add", "default", "via", &gw, "dev", &br]);

    let line = enforce(&port, &[]);
    assert!(
        line.contains(&format!(
            "{port} is a port of bridge {br}, which carries the default route via {gw} (in network namespace {ns})"
        )) && line.contains(FLAG),
        "{line}"
    );
    let line = enforce(&br, &[]);
    assert!(
        line.contains(&format!(
            "{br} carries the default route via {gw} (in network namespace {ns})"
        )) && line.contains(FLAG),
        "{line}"
    );
    // Unrelated devices and the override pass the guard (and then find no probe attached).
    assert_not_refused(&enforce(&beside, &[]), "a device beside the bridge");
    assert_not_refused(&enforce(&lab.host_if, &[]), "the lab's root-namespace end");
    assert_not_refused(&enforce(&port, &[FLAG]), "with the override");

    // With the probe attached there (classic tc records the namespace), as the review did it:
    // still refused, and the probe stays in monitor mode.
    let detach = DetachOnDrop(port.clone());
    let out = workbench(&[
        "probe", "attach", "--iface", &port, "--netns", &ns, "--attach", "tc",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = enforce(&port, &[]);
    assert!(
        line.contains(&format!("{port} is a port of bridge {br}")) && line.contains(FLAG),
        "{line}"
    );
    let status = workbench_json(&["probe", "status", "--iface", &port, "--json"]);
    assert_eq!(status["mode"], "monitor", "{status:#}");
    drop(detach);
    drop(lab);
    report("kernel test: enforce refused on a bridge port whose bridge carries the default route");
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn enforce_is_refused_on_a_bridge_whose_default_route_is_in_a_policy_table() {
    require_kernel("enforce_is_refused_on_a_bridge_whose_default_route_is_in_a_policy_table");
    let (lab, br, beside) = bridged_lab("fc2", 152);
    let (ns, port) = (lab.netns.clone(), lab.peer_if.clone());
    let gw = lab.host_addr.to_string();
    ip_in(
        &ns,
        &["route", "add", "default", "via", &gw, "dev", &br, "table", "100"],
    );
    ip_in(
        &ns,
        &["rule", "add", "from", "all", "lookup", "100", "pref", "100"],
    );
    // The main table has no default route: only the rule leads out.
    let main = ip_output(&["-n", &ns, "-j", "route", "show", "default"]).expect("ip route");
    assert_eq!(String::from_utf8_lossy(&main).trim(), "[]");

    let line = enforce(&br, &[]);
    assert!(
        line.contains(&format!(
            "{br} carries the default route of routing table 100 via {gw} (in network namespace {ns})"
        )) && line.contains(FLAG),
        "{line}"
    );
    let line = enforce(&port, &[]);
    assert!(
        line.contains(&format!(
            "{port} is a port of bridge {br}, which carries the default route of routing table 100"
        )),
        "{line}"
    );
    assert_not_refused(&enforce(&beside, &[]), "a device beside the bridge");
    drop(lab);
    report("kernel test: enforce refused on a bridge whose default route is in table 100");
}
