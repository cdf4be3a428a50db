//! Flow-table flood: a million spoofed-source SYNs through the probe (crafted here and sent only
//! into a veth whose other end is in a namespace the test creates). The LRU map evicts, the
//! table stays at its size, and an established flow keeps its state and its verdicts.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{report, workbench_json, DetachOnDrop, TempDir};
use workbench_flow::craft::{self, Ipv4Endpoints, TcpSegment, TCP_SYN};
use workbench_flow::model::build;
use workbench_kernel::lab::afpacket::FrameSender;
use workbench_kernel::lab::{traffic, Lab};

const FLOOD: u32 = 1_000_000;
const TABLE: u32 = 65_536;

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn a_million_spoofed_syns_evict_without_losing_established_flows() {
    crate::common::require_kernel("a_million_spoofed_syns_evict_without_losing_established_flows");
    let lab = Lab::create(
        &format!("f{}", std::process::id() % 100_000),
        (std::process::id() % 200) as u8 + 7,
    )
    .expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.clone();
    workbench_json(&[
        "probe",
        "attach",
        "--iface",
        &h,
        "--flow-table",
        &TABLE.to_string(),
        "--json",
    ]);
    let dir = TempDir::new("flood");
    let model = dir.path().join("syn.ebml");
    // Malicious from a flow's first SYN.
    let tree = build::syn_count_tree(1).expect("tree");
    workbench_flow::model::file::write(&model, &tree, serde_json::Value::Null).expect("model");
    workbench_json(&["deploy", model.to_str().expect("utf8"), "--iface", &h, "--json"]);

    // The established flow: a UDP exchange that goes on during the flood.
    let _sink = traffic::UdpSink::bind(lab.host_addr, 9300, true).expect("sink");
    let stop = Arc::new(AtomicBool::new(false));
    let echoes = std::thread::scope(|scope| {
        let stop2 = stop.clone();
        let lab_ref = &lab;
        let talker = scope.spawn(move || {
            let mut sent = 0u64;
            while !stop2.load(Ordering::Relaxed) {
                if traffic::udp_from_netns(lab_ref, 43_000, 9300, &[64], true).is_ok() {
                    sent += 1;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            sent
        });
        // The flood: spoofed sources in 10.128.0.0/9, random ports, a destination MAC the host
        // end does not own (its stack drops the SYNs after the probe, so no RSTs).
        let ep = |i: u32| Ipv4Endpoints {
            src_mac: lab.peer_mac,
            dst_mac: [0x02, 0, 0, 0, 0, 0x77],
            src: Ipv4Addr::from(0x0a80_0000 | (i.wrapping_mul(2_654_435_761) & 0x007f_ffff)),
            dst: lab.host_addr,
            ttl: 64,
        };
        let iface = lab.peer_if.clone();
        let started = Instant::now();
        let sent = lab
            .run_in_netns(move || -> color_eyre::Result<u64> {
                let sender = FrameSender::open(&iface)?;
                let mut sent = 0u64;
                let mut batch = Vec::with_capacity(64);
                for i in 0..FLOOD {
                    let seg = TcpSegment {
                        src_port: 1024 + (i % 60_000) as u16,
                        dst_port: 80,
                        seq: i,
                        ack: 0,
                        flags: TCP_SYN,
                        window: 1024,
                        payload: &[],
                    };
                    batch.push(craft::ipv4_tcp(&ep(i), &seg));
                    if batch.len() == 64 || i + 1 == FLOOD {
                        sent += sender.send_batch(&batch).iter().filter(|e| e.is_none()).count() as u64;
                        batch.clear();
                    }
                }
                Ok(sent)
            })
            .expect("netns")
            .expect("flood");
        let flood_s = started.elapsed().as_secs_f64();
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        let echoes = talker.join().expect("talker");
        report(&format!(
            "kernel flood: sent {sent} spoofed SYNs in {flood_s:.1} s ({:.0} pps)",
            sent as f64 / flood_s
        ));
        assert_eq!(sent, FLOOD as u64, "every SYN left the sender");
        echoes
    });

    let started = Instant::now();
    let flows = workbench_kernel::events::raw_flows(&h).expect("flows");
    let read_ms = started.elapsed().as_millis();
    let table = workbench_kernel::flows::read_stats(&h).expect("stats");
    let created = table["flows_created"];
    assert!(
        flows.len() as u32 <= TABLE,
        "the table never outgrows its {TABLE} entries: {}",
        flows.len()
    );
    assert!(
        created >= FLOOD as u64 / 2,
        "most spoofed SYNs were new flows: {created}"
    );
    let evicted = created - flows.len() as u64;
    assert!(evicted > 500_000, "the LRU evicted: {evicted}");
    // The established flow is still there, with every packet of the exchange counted, and its
    // verdicts kept coming (decisions at 1..=32, then every 16th packet).
    let est = flows
        .iter()
        .find(|(k, _)| k.proto == 17 && (k.port_lo == 43_000 || k.port_hi == 43_000))
        .map(|(_, e)| *e)
        .expect("the established flow survives the flood");
    assert_eq!(est.state.fwd_packets as u64, echoes, "no lost state");
    assert_eq!(est.state.bwd_packets as u64, echoes);
    assert_eq!(est.verdict, shared::flow::VERDICT_BENIGN);
    assert!(
        echoes > 32 && est.decided_at_packet > 32,
        "decisions kept coming: {echoes} echoes, last at {}",
        est.decided_at_packet
    );
    report(&format!(
        "kernel flood: {created} flows created, {evicted} evicted, table {} of {TABLE}; established flow kept {} packets; reading the table took {read_ms} ms",
        flows.len(),
        est.state.packets()
    ));
}
