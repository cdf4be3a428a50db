//! Frames the probe cannot read join no flow, so no model ever judges them: in enforce mode a
//! malicious flow could pass whole by padding its packets past the parser's limits (a sixth IPv6
//! extension header). `deploy --drop-unparsed` names the reasons enforce mode drops (by default
//! that chain), dry-run counts them, monitor passes them; frames sent through a real veth with
//! the probe at its egress, counted by the probe and by the receiving end.

use crate::common::{lab_id, report, rx_packets, workbench_json, DetachOnDrop};
use crate::ipv6_ext_headers::{fragment, frame, options};
use serde_json::{json, Value};
use shared::packet::ipv6_ext::{NEXT_HEADER_DEST_OPTS as DEST_OPTS, NEXT_HEADER_FRAGMENT as FRAGMENT};
use shared::packet::PROTO_TCP as TCP;
use workbench_kernel::lab::afpacket::FrameSender;
use workbench_kernel::lab::Lab;
use workbench_kernel::{flows, probe};

/// Frames of each kind sent per round.
const EACH: u64 = 10;

/// One round: what the probe counted and what the other end received, as differences.
#[derive(Debug, PartialEq, Eq)]
struct Round {
    too_many: u64,
    fragments: u64,
    dropped_unparsed: u64,
    would_drop_unparsed: u64,
    /// Frames whose send the kernel refused (ENOBUFS: a tc drop at egress; when the frames
    /// before it in the same sendmmsg call went out, the call does not say why). Each frame is
    /// tried once: a dropped frame sent again would be counted twice.
    refused: u64,
    received: u64,
}

/// `EACH` frames behind five destination options headers (one more than the parser walks),
/// `EACH` later fragments, and `EACH` frames behind one header, which the probe reads.
fn frames() -> Vec<Vec<u8>> {
    let five: Vec<Vec<u8>> = (0..5)
        .map(|i| options(if i < 4 { DEST_OPTS } else { TCP }, 0))
        .collect();
    let mut out = Vec::new();
    for i in 0..EACH as u16 {
        out.push(frame(true, DEST_OPTS, &five, (41_000 + i, 443), 0x02, 0));
        out.push(frame(
            true,
            FRAGMENT,
            &[fragment(TCP, 185)],
            (41_100 + i, 443),
            0x10,
            64,
        ));
        out.push(frame(
            true,
            DEST_OPTS,
            &[options(TCP, 1)],
            (41_200 + i, 443),
            0x02,
            0,
        ));
    }
    out
}

fn round(lab: &Lab, sender: &FrameSender) -> Round {
    let stat = |s: &std::collections::BTreeMap<&str, u64>, k: &str| s.get(k).copied().unwrap_or(0);
    let (before, rx_before) = (
        flows::read_stats(&lab.host_if).expect("stats"),
        rx_packets(&lab.netns, &lab.peer_if),
    );
    let mut refused = 0;
    for e in sender.send_batch(&frames()).into_iter().flatten() {
        assert!(
            e.raw_os_error() == Some(libc::ENOBUFS) || e.to_string().contains("ENOBUFS when a tc program"),
            "a frame not sent: {e}"
        );
        refused += 1;
    }
    // A veth delivers in the sender's call: both counters are final when it returns.
    let after = flows::read_stats(&lab.host_if).expect("stats");
    let delta = |k| stat(&after, k) - stat(&before, k);
    Round {
        too_many: delta("too_many_ipv6_ext_headers"),
        fragments: delta("ip_fragment"),
        dropped_unparsed: delta("dropped_unparsed"),
        would_drop_unparsed: delta("would_drop_unparsed"),
        refused,
        received: rx_packets(&lab.netns, &lab.peer_if) - rx_before,
    }
}

fn deploy(iface: &str, args: &[&str]) -> Value {
    let mut all = vec!["deploy", "--iface", iface, "--json"];
    all.extend_from_slice(args);
    workbench_json(&all)
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn enforce_drops_the_unreadable_frames_its_policy_names_and_dry_run_counts_them() {
    crate::common::require_kernel(
        "enforce_drops_the_unreadable_frames_its_policy_names_and_dry_run_counts_them",
    );
    let pid = std::process::id();
    let lab = Lab::create(&lab_id("up"), ((pid + 179) % 200) as u8 + 4).expect("lab");
    probe::attach_in(None, &lab.host_if, &probe::AttachOptions::default()).expect("attach");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let iface = lab.host_if.as_str();
    let sender = FrameSender::open(iface).expect("sender");
    let sent = 3 * EACH;

    // Attached: monitor mode, the default policy named but not acting.
    let v = deploy(iface, &["--mode", "monitor"]);
    assert_eq!(v["drop_unparsed"], json!(["too_many_ipv6_ext_headers"]), "{v:#}");
    // This build's probe lacks nothing (read from its maps' shapes, which an older one has
    // shorter).
    assert!(probe::vintage::lacks(iface).expect("map shapes").is_empty());
    assert_eq!(v["older_probe_lacks"], json!([]), "{v:#}");
    let monitor = round(&lab, &sender);
    // Other traffic on the link (the kernel's own IPv6 neighbour messages) may add to the
    // receive counter; it never takes from it.
    let everything = |r: &Round| r.received >= sent;
    assert_eq!((monitor.too_many, monitor.fragments), (EACH, EACH), "{monitor:?}");
    assert_eq!(
        (
            monitor.dropped_unparsed,
            monitor.would_drop_unparsed,
            monitor.refused
        ),
        (0, 0, 0)
    );
    assert!(everything(&monitor), "{monitor:?}");

    // Enforce with the default policy: the long chains are dropped, fragments pass.
    let v = deploy(iface, &["--mode", "enforce"]);
    assert_eq!(v["mode"], "enforce");
    let enforce = round(&lab, &sender);
    assert_eq!(
        (enforce.too_many, enforce.dropped_unparsed, enforce.refused),
        (EACH, EACH, EACH),
        "{enforce:?}"
    );
    assert!(
        enforce.received >= sent - EACH && enforce.received < sent,
        "the {EACH} long chains do not arrive: {enforce:?}"
    );

    // Both reasons named: fragments are dropped too.
    let v = deploy(
        iface,
        &["--drop-unparsed", "ip_fragment,too_many_ipv6_ext_headers"],
    );
    assert_eq!(
        v["drop_unparsed"],
        json!(["ip_fragment", "too_many_ipv6_ext_headers"]),
        "{v:#}"
    );
    let both = round(&lab, &sender);
    assert_eq!(
        (both.dropped_unparsed, both.refused),
        (2 * EACH, 2 * EACH),
        "{both:?}"
    );
    assert!(both.received >= EACH && both.received < sent - EACH, "{both:?}");

    // Dry-run counts what enforce would drop and passes it.
    deploy(iface, &["--mode", "dry-run"]);
    let dry = round(&lab, &sender);
    assert_eq!(
        (dry.dropped_unparsed, dry.would_drop_unparsed, dry.refused),
        (0, 2 * EACH, 0),
        "{dry:?}"
    );
    assert!(everything(&dry), "{dry:?}");

    // `none`: enforce passes every unreadable frame, as before the policy existed.
    let v = deploy(iface, &["--mode", "enforce", "--drop-unparsed", "none"]);
    assert_eq!(v["drop_unparsed"], json!([]), "{v:#}");
    let none = round(&lab, &sender);
    assert_eq!(
        (none.too_many, none.dropped_unparsed, none.refused),
        (EACH, 0, 0),
        "{none:?}"
    );
    assert!(everything(&none), "{none:?}");

    // not_ip is refused before anything changes.
    let out = crate::common::workbench(&["deploy", "--iface", iface, "--drop-unparsed", "not_ip"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("never dropped"),
        "{stderr}"
    );
    let v = workbench_json(&["probe", "status", "--iface", iface, "--json"]);
    assert_eq!(v["drop_unparsed"], json!([]), "unchanged by the refusal: {v:#}");
    report(&format!(
        "unparsed policy: enforce dropped {} of {EACH} long IPv6 chains (default), {} with fragments named, dry-run counted {}, none dropped {}; received {} / {} / {} / {} of {sent}",
        enforce.dropped_unparsed,
        both.dropped_unparsed,
        dry.would_drop_unparsed,
        none.dropped_unparsed,
        enforce.received,
        both.received,
        dry.received,
        none.received
    ));
}
