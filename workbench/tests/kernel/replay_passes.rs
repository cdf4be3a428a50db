//! A looped replay keeps the flows as captured: every pass makes each captured flow again as a new
//! flow (its initiator moved by the pass x 65,536, `capture::unique`) with its captured packet
//! count, instead of adding a capture's worth of packets to the flows of the previous pass. In
//! userspace through the probe's twin, and in the kernel: `workbench replay --loop` into a replay
//! lab with the probe attached. The demo's ground truth labels every replayed flow.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::common::{report, workbench_json, DetachOnDrop};
use shared::abi::ProbeConfig;
use workbench::demo::samples::Truth;
use workbench_flow::capture::{self, unique};
use workbench_flow::twin::Twin;
use workbench_kernel::flows::FlowRecord;

const PASSES: u64 = 3;

fn honest() -> (PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-pcaps");
    (dir.join("honest.pcap"), dir.join("labels-honest.csv"))
}

/// (src, sport, dst, dport, proto) of a flow, oriented from its initiator.
type Tuple = (IpAddr, u16, IpAddr, u16, &'static str);

/// Packets per flow of the capture, as the twin groups them.
fn captured_flows(pcap: &Path) -> HashMap<Tuple, u64> {
    let mut twin = Twin::new(ProbeConfig::default(), None, None);
    for p in capture::open(pcap, false).unwrap_or_else(|e| panic!("{e}")) {
        let p = p.unwrap_or_else(|e| panic!("{e}"));
        twin.packet(&p.parse().expect("the samples parse"), p.ts_ns);
    }
    packets_per_flow(twin.flows.iter().map(|(k, e)| FlowRecord::from_entry(k, e)))
}

fn packets_per_flow(records: impl Iterator<Item = FlowRecord>) -> HashMap<Tuple, u64> {
    records
        .map(|r| {
            (
                (r.src, r.src_port, r.dst, r.dst_port, r.proto),
                r.fwd_packets + r.bwd_packets,
            )
        })
        .collect()
}

/// Every flow of `PASSES` passes is a captured flow moved to its pass, with the captured flow's
/// packet count; the labels file names each through `Truth::of`.
fn check_passes(replayed: &HashMap<Tuple, u64>, captured: &HashMap<Tuple, u64>, what: &str) {
    assert_eq!(
        replayed.len() as u64,
        PASSES * captured.len() as u64,
        "{what}: {PASSES} passes of {} flows",
        captured.len()
    );
    for pass in 0..PASSES {
        for (&(src, sport, dst, dport, proto), &packets) in captured {
            let moved = (unique::shift(src, pass), sport, dst, dport, proto);
            assert_eq!(
                replayed.get(&moved),
                Some(&packets),
                "{what}: pass {pass} of {src}:{sport} -> {dst}:{dport} {proto}"
            );
        }
    }
}

/// The labels of the replayed flows, per scenario: each pass's flows carry the capture's.
fn labels_of(replayed: &HashMap<Tuple, u64>, truth: &Truth) -> HashMap<String, u64> {
    let mut by_scenario = HashMap::new();
    for &tuple in replayed.keys() {
        let t = truth
            .of_tuple(tuple)
            .unwrap_or_else(|| panic!("no label for replayed flow {tuple:?}"));
        *by_scenario.entry(t.scenario.clone()).or_insert(0) += 1;
    }
    by_scenario
}

fn scenario_counts(truth: &Truth) -> HashMap<String, u64> {
    let mut counts = HashMap::new();
    for t in truth.flows.values() {
        *counts.entry(t.scenario.clone()).or_insert(0) += PASSES;
    }
    counts
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn passes_through_the_twin_make_new_flows_with_their_captured_packets_and_labels() {
    let (pcap, labels) = honest();
    let captured = captured_flows(&pcap);
    let mut twin = Twin::new(ProbeConfig::default(), None, None);
    let mut rewriter = unique::PassRewriter::new();
    let mut rewritten = 0u64;
    for pass in 0..PASSES {
        rewriter.start_pass(pass);
        for p in capture::open(&pcap, false).unwrap_or_else(|e| panic!("{e}")) {
            let p = p.unwrap_or_else(|e| panic!("{e}"));
            let mut frame = p.to_ethernet_frame();
            rewritten += u64::from(rewriter.rewrite(&mut frame, p.wire_len_bytes));
            let parsed = capture::LinkType::Ethernet
                .parse(&frame, p.wire_len_bytes)
                .expect("a rewritten frame parses");
            twin.packet(&parsed, p.ts_ns + pass * 3_600_000_000_000);
        }
    }
    let packets: u64 = captured.values().sum();
    assert_eq!(
        rewritten,
        (PASSES - 1) * packets,
        "every frame after the first pass"
    );
    let replayed = packets_per_flow(twin.flows.iter().map(|(k, e)| FlowRecord::from_entry(k, e)));
    check_passes(&replayed, &captured, "twin");
    // The 1-packet SYN flood flows stay 1-packet flows, one per pass.
    let truth = Truth::read(&labels).expect("labels");
    let single_syn = replayed
        .iter()
        .filter(|(&t, &n)| n == 1 && truth.of_tuple(t).is_some_and(|l| l.scenario == "syn_flood"))
        .count() as u64;
    assert!(
        single_syn > 0 && single_syn.is_multiple_of(PASSES),
        "{single_syn}"
    );
    assert_eq!(labels_of(&replayed, &truth), scenario_counts(&truth));
    report(&format!(
        "replay passes (twin): {PASSES} passes of {} flows gave {} flows, each with its captured packets; {single_syn} one-packet SYN flood flows",
        captured.len(),
        replayed.len()
    ));
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn replay_loop_into_the_probe_gives_n_times_the_flows_each_with_its_captured_packets() {
    let test = "replay_loop_into_the_probe_gives_n_times_the_flows_each_with_its_captured_packets";
    crate::common::require_kernel(test);
    let (pcap, labels) = honest();
    let captured = captured_flows(&pcap);
    let packets: u64 = captured.values().sum();
    let lab = crate::common::replay::TestLab::new("rp");
    let info = lab.info.clone();
    workbench_json(&[
        "probe",
        "attach",
        "--iface",
        &info.receive_iface,
        "--netns",
        &info.netns,
        "--json",
    ]);
    let detach = DetachOnDrop(info.receive_iface.clone());
    let count = (PASSES * packets).to_string();
    let args = lab.replay_args(&pcap, &["--pps", "20000", "--loop", "--count", &count]);
    let sent = workbench_json(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(sent["sent_packets"].as_u64(), Some(PASSES * packets), "{sent:#}");
    assert_eq!(sent["passes"].as_u64(), Some(PASSES), "{sent:#}");
    assert_eq!(
        sent["rewritten_packets"].as_u64(),
        Some((PASSES - 1) * packets),
        "{sent:#}"
    );

    let flows = workbench_json(&["probe", "flows", "--iface", &info.receive_iface, "--json"]);
    let stats = &flows["stats"];
    assert_eq!(stats["parsed"].as_u64(), Some(PASSES * packets), "{stats:#}");
    assert_eq!(
        stats["flows_created"].as_u64(),
        Some(PASSES * captured.len() as u64),
        "{stats:#}"
    );
    let replayed: HashMap<Tuple, u64> = flows["flows"]
        .as_array()
        .expect("flows")
        .iter()
        .map(|f| {
            let addr = |k: &str| f[k].as_str().and_then(|s| s.parse().ok()).expect("address");
            let port = |k: &str| f[k].as_u64().and_then(|p| u16::try_from(p).ok()).expect("port");
            let proto = match f["proto"].as_str() {
                Some("tcp") => "tcp",
                Some("udp") => "udp",
                other => panic!("unexpected protocol {other:?}"),
            };
            let n = f["fwd_packets"].as_u64().unwrap_or(0) + f["bwd_packets"].as_u64().unwrap_or(0);
            (
                (
                    addr("src_ip"),
                    port("src_port"),
                    addr("dest_ip"),
                    port("dest_port"),
                    proto,
                ),
                n,
            )
        })
        .collect();
    check_passes(&replayed, &captured, "kernel");
    let truth = Truth::read(&labels).expect("labels");
    assert_eq!(labels_of(&replayed, &truth), scenario_counts(&truth));
    report(&format!(
        "kernel test ran: replay --loop, {PASSES} passes of honest.pcap: {} flows in the probe, each with its captured packet count and label",
        replayed.len()
    ));
    drop(detach);
    lab.remove();
}
