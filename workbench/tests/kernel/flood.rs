//! Flow-table flood: a million spoofed-source SYNs through the probe (crafted here and sent only
//! into a veth whose other end is in a namespace the test creates). The LRU map evicts, the
//! table stays at its size, and an established flow (one packet each way every few ms) keeps
//! its entry, its state and its verdicts.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::common::poll::{poll, SETTLE};
use crate::common::{report, workbench_json, DetachOnDrop, TempDir};
use workbench_flow::craft::{self, Ipv4Endpoints, TcpSegment, TCP_SYN};
use workbench_flow::model::build;
use workbench_kernel::lab::afpacket::FrameSender;
use workbench_kernel::lab::{traffic, Lab};

const FLOOD: u32 = 1_000_000;
const TABLE: u32 = 65_536;
/// The flood holds back while the established flow's latest exchange is more than this many
/// SYNs behind. An LRU table evicts what went unused while about TABLE newer flows came in: a
/// talker stalled that long (a scheduler on a loaded 2-CPU machine: TABLE SYNs take a fraction
/// of a second at the flood's rate) would lose its flow with the probe doing its job, and the
/// exact counts below would fail on timing. Its exchanges, every few ms, are a few thousand
/// SYNs apart when nothing stalls, so the flood rarely waits.
const TALKER_LAG_SYNS: u64 = TABLE as u64 / 4;
/// A talker that completes no exchange for this long fails the test, saying so.
const TALKER_STALL: Duration = Duration::from_secs(30);

/// CLOCK_MONOTONIC in ns: the clock of the probe's timestamps (`bpf_ktime_get_ns`).
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to the pointer given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
    assert_eq!(rc, 0, "clock_gettime: {}", std::io::Error::last_os_error());
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Raises the flag when dropped: the talker stops also when the flood fails.
struct RaiseOnDrop<'a>(&'a AtomicBool);

impl Drop for RaiseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

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
    let sink = traffic::UdpSink::bind(lab.host_addr, 9300, true).expect("sink");
    let stop = AtomicBool::new(false);
    // SYNs handed to the kernel so far, and that count when the talker's latest completed
    // exchange began (so its datagram reached the probe after those SYNs were sent).
    let (flood_sent, touched_at, echoes) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let (flood_start_ns, held_ms) = std::thread::scope(|scope| {
        let talker = scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let at = flood_sent.load(Ordering::SeqCst);
                if traffic::udp_from_netns(&lab, 43_000, 9300, &[64], true).is_ok() {
                    touched_at.store(at, Ordering::SeqCst);
                    echoes.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let _stop_talker = RaiseOnDrop(&stop);
        // The flood: spoofed sources in 10.128.0.0/9, random ports, a destination MAC the host
        // end does not own (its stack drops the SYNs after the probe, so no RSTs).
        let ep = |i: u32| Ipv4Endpoints {
            src_mac: lab.peer_mac,
            dst_mac: [0x02, 0, 0, 0, 0, 0x77],
            src: Ipv4Addr::from(0x0a80_0000 | (i.wrapping_mul(2_654_435_761) & 0x007f_ffff)),
            dst: lab.host_addr,
            ttl: 64,
        };
        // Before each batch: the talker's flow is established (an exchange done) and its
        // latest exchange is at most TALKER_LAG_SYNS behind; else the flood waits for it.
        let talker_keeps_up = |sent: u64, held: &mut Duration| -> color_eyre::Result<()> {
            let since = Instant::now();
            while echoes.load(Ordering::SeqCst) == 0
                || sent.saturating_sub(touched_at.load(Ordering::SeqCst)) > TALKER_LAG_SYNS
            {
                if since.elapsed() > TALKER_STALL {
                    color_eyre::eyre::bail!(
                        "the talker completed no exchange for {TALKER_STALL:?} ({} so far, the flood at SYN {sent})",
                        echoes.load(Ordering::SeqCst)
                    );
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            *held += since.elapsed();
            Ok(())
        };
        let iface = lab.peer_if.clone();
        let (sent, flood_s, flood_start_ns, held) = lab
            .run_in_netns(|| -> color_eyre::Result<(u64, f64, u64, Duration)> {
                let sender = FrameSender::open(&iface)?;
                let mut held = Duration::ZERO;
                talker_keeps_up(0, &mut held)?;
                let (started, start_ns) = (Instant::now(), monotonic_ns());
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
                        talker_keeps_up(u64::from(i + 1), &mut held)?;
                        sent += sender.send_batch(&batch).iter().filter(|e| e.is_none()).count() as u64;
                        flood_sent.store(u64::from(i + 1), Ordering::SeqCst);
                        batch.clear();
                    }
                }
                Ok((sent, started.elapsed().as_secs_f64(), start_ns, held))
            })
            .expect("netns")
            .expect("flood");
        // The exchange goes on after the flood: one begun after its last SYN completes.
        let after = echoes.load(Ordering::SeqCst);
        poll(SETTLE, || echoes.load(Ordering::SeqCst), |&n| n >= after + 2);
        stop.store(true, Ordering::Relaxed);
        talker.join().expect("talker");
        report(&format!(
            "kernel flood: sent {sent} spoofed SYNs in {flood_s:.1} s ({:.0} pps), {} ms of it waiting for the talker",
            sent as f64 / flood_s,
            held.as_millis()
        ));
        assert_eq!(sent, FLOOD as u64, "every SYN left the sender");
        (flood_start_ns, held.as_millis())
    });
    let echoes = echoes.load(Ordering::SeqCst);

    // Every datagram the host end's socket received went through the probe at ingress, and its
    // echo at egress: that count, not the echoes the talker got back (one dropped on the way
    // back would be counted by the probe and not by the talker), is what the flow must hold.
    let is_est = |k: &shared::FlowKey| k.proto == 17 && (k.port_lo == 43_000 || k.port_hi == 43_000);
    let mut read_ms = 0;
    let (flows, est) = poll(
        SETTLE,
        || {
            let started = Instant::now();
            let flows = workbench_kernel::events::raw_flows(&h).expect("flows");
            read_ms = started.elapsed().as_millis();
            let est = flows.iter().find(|(k, _)| is_est(k)).map(|(_, e)| *e);
            (flows, est)
        },
        |(_, est)| {
            est.is_some_and(|e| {
                let received = sink.received();
                u64::from(e.state.fwd_packets) == received && u64::from(e.state.bwd_packets) == received
            })
        },
    );
    let received = sink.received();
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
    // The established flow is still there, the entry made before the flood (not evicted and
    // made again by a later datagram), with every packet of the exchange counted, and its
    // verdicts kept coming (decisions at 1..=32, then every 16th packet).
    let est = est.expect("the established flow survives the flood");
    assert!(
        est.state.first_ts_ns < flood_start_ns,
        "the established flow's entry is from before the flood (first packet at {} ns, flood from {flood_start_ns} ns): \
         evicted and made again",
        est.state.first_ts_ns
    );
    assert_eq!(
        u64::from(est.state.fwd_packets),
        received,
        "no lost state: every datagram the host end received counted ({echoes} echoes came back)"
    );
    assert_eq!(u64::from(est.state.bwd_packets), received, "every echo counted");
    assert!(echoes <= received, "{echoes} echoes for {received} datagrams");
    assert_eq!(est.verdict, shared::flow::VERDICT_BENIGN);
    assert!(
        echoes > 32 && est.decided_at_packet > 32,
        "decisions kept coming: {echoes} echoes, last at {}",
        est.decided_at_packet
    );
    report(&format!(
        "kernel flood: {created} flows created, {evicted} evicted, table {} of {TABLE}; established flow kept {} packets \
         ({received} datagrams received, {echoes} echoes back; the flood waited {held_ms} ms for it); reading the table took {read_ms} ms",
        flows.len(),
        est.state.packets()
    ));
}
