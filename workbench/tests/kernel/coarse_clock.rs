//! The coarse clock (`deploy --clock coarse`, issue 14 item 2): the probe stamps packets with
//! the timer tick's time instead of `bpf_ktime_get_ns`. Frames sent back to back get one
//! timestamp per tick (at most one per millisecond at HZ 1000), where the nanosecond clock gives
//! nearly every frame its own; and the kernel's flows stay bit for bit what the twin computes
//! from the records, so `verify`'s parity holds with either clock. `workbench bench clock` says
//! what the coarse clock does to the features.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::common::poll::{poll, SETTLE};
use crate::common::probe_lab::record_mode;
use crate::common::{report, DetachOnDrop};
use shared::abi::{PacketRecord, ProbeConfig, CLOCK_COARSE, CLOCK_NS};
use workbench_flow::craft::{self, Ipv4Endpoints};
use workbench_kernel::lab::afpacket::FrameSender;
use workbench_kernel::lab::Lab;
use workbench_kernel::{events, models, probe, verify};

const FRAMES: u16 = 4000;
const SERVICE_PORT: u16 = 9403;
const NOBODY_MAC: [u8; 6] = [0x02, 0xeb, 0x4d, 0x4c, 0xff, 0x96];

struct Run {
    frames: usize,
    distinct_ts: usize,
    elapsed_ms: u128,
    identical: usize,
    flows: usize,
}

fn run(lab: &Lab, clock: u32) -> Run {
    probe::attach_in(
        None,
        &lab.host_if,
        &probe::AttachOptions {
            packet_ring_bytes: Some(1 << 20),
            ..Default::default()
        },
    )
    .expect("attach");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let config = ProbeConfig {
        clock,
        ..ProbeConfig::default()
    };
    record_mode(&lab.host_if, config);
    assert_eq!(models::read_config(&lab.host_if).expect("config").clock, clock);
    let mut reader = events::PacketRecordReader::open(&lab.host_if).expect("records");
    let ep = Ipv4Endpoints {
        src_mac: lab.host_mac,
        dst_mac: NOBODY_MAC,
        src: lab.host_addr,
        dst: lab.peer_addr,
        ttl: 64,
    };
    // 40 flows of 100 frames, sent back to back from this thread.
    let frames: Vec<Vec<u8>> = (0..FRAMES)
        .map(|i| craft::ipv4_udp(&ep, 33_000 + i % 40, SERVICE_PORT, &[i as u8; 30]))
        .collect();
    let sender = FrameSender::open(&lab.host_if).expect("sender");
    let started = Instant::now();
    for chunk in frames.chunks(64) {
        let refused = sender.send_batch(chunk).into_iter().flatten().count();
        assert_eq!(refused, 0);
    }
    let elapsed_ms = started.elapsed().as_millis();
    // The probe runs at egress inside each send, so the records are there already; polled all
    // the same, until every frame's record is read or the deadline.
    let mut records: Vec<PacketRecord> = Vec::new();
    poll(
        SETTLE,
        || {
            reader.drain_into(&mut records).expect("drain");
            records.retain(|r| r.packet.dst_port == SERVICE_PORT);
            records.len()
        },
        |&n| n >= usize::from(FRAMES),
    );
    let kernel: Vec<_> = events::raw_flows(&lab.host_if)
        .expect("flows")
        .into_iter()
        .filter(|(k, _)| k.port_hi == SERVICE_PORT || k.port_lo == SERVICE_PORT)
        .collect();
    let twin = verify::replay_records(config, None, None, &records);
    let compared = verify::compare(&kernel, &twin.flows);
    assert!(compared.mismatches.is_empty(), "{:#?}", compared.mismatches);
    Run {
        frames: records.len(),
        distinct_ts: records.iter().map(|r| r.ts_ns).collect::<BTreeSet<_>>().len(),
        elapsed_ms,
        identical: compared.identical,
        flows: kernel.len(),
    }
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn the_coarse_clock_stamps_one_time_per_tick_and_keeps_parity() {
    crate::common::require_kernel("the_coarse_clock_stamps_one_time_per_tick_and_keeps_parity");
    let pid = std::process::id();
    let lab = Lab::create(&format!("k{}", pid % 100_000), (pid % 200) as u8 + 13).expect("lab");
    let ns = run(&lab, CLOCK_NS);
    let coarse = run(&lab, CLOCK_COARSE);
    report(&format!(
        "coarse clock: {} frames in {} ms got {} distinct timestamps (ns clock: {} frames in {} ms, {} distinct); {} + {} of 40 flows identical to the twin",
        coarse.frames, coarse.elapsed_ms, coarse.distinct_ts, ns.frames, ns.elapsed_ms, ns.distinct_ts, ns.identical, coarse.identical
    ));
    for r in [&ns, &coarse] {
        assert_eq!(r.frames, usize::from(FRAMES), "every frame recorded");
        assert_eq!((r.flows, r.identical), (40, 40));
    }
    // The nanosecond clock: nearly every frame its own time.
    assert!(
        ns.distinct_ts * 10 > ns.frames * 9,
        "{} distinct of {}",
        ns.distinct_ts,
        ns.frames
    );
    // The coarse clock: at most one time per millisecond (ticks are 1 ms or longer), plus the
    // ticks at both ends.
    assert!(
        coarse.distinct_ts as u128 <= coarse.elapsed_ms + 2,
        "{} distinct timestamps in {} ms",
        coarse.distinct_ts,
        coarse.elapsed_ms
    );
    assert!(
        coarse.distinct_ts * 4 < coarse.frames,
        "{} distinct of {}",
        coarse.distinct_ts,
        coarse.frames
    );
}
