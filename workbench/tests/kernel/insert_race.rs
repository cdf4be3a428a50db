//! The flow insert race: the first packets of both directions of a flow reach the probe on two
//! CPUs at once, both miss the flow in the table, both insert it. With BPF_ANY the later insert
//! overwrote the earlier CPU's entry and its first packet was lost; with BPF_NOEXIST the later
//! one fails, looks the flow up again and adds its packet.
//!
//! Lab: a veth pair with two queues per end. The probe sits at the root-namespace end. A sender
//! pinned to one CPU writes each flow's frames out of that end (tc egress runs on its CPU), a
//! sender pinned to the other CPU writes the reply direction into the namespace end (the frame
//! crosses the veth and tc ingress runs on that CPU's backlog). The two meet at a spin
//! rendezvous before each flow's first frame, so both first frames reach the probe within about
//! a microsecond. Frames are addressed to a MAC address neither end has: both stacks drop them
//! after tc, so no socket or ICMP reply is involved. Every flow must end with every frame sent.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::common::poll::{poll, SETTLE};
use crate::common::probe_lab::{drain_all, pin_to};
use crate::common::{report, DetachOnDrop};
use shared::abi::{PacketRecord, ProbeConfig};
use shared::FlowKey;
use workbench_flow::craft::{self, Ipv4Endpoints};
use workbench_kernel::lab::afpacket::FrameSender;
use workbench_kernel::lab::Lab;
use workbench_kernel::{events, models, probe};

const FLOWS: u64 = 20_000;
const FIRST_PORT: u16 = 20_000;
const SERVICE_PORT: u16 = 9400;
/// Frames per direction and flow: the first at the rendezvous, the second later.
const FRAMES_PER_SIDE: u32 = 2;
/// First frames of the two directions the probe stamped this close together ran at once.
const OVERLAP_NS: u64 = 1_000;
/// An address neither end has: the frames die after tc.
const NOBODY_MAC: [u8; 6] = [0x02, 0xeb, 0x4d, 0x4c, 0xff, 0x99];

/// The first two CPUs this process may run on.
fn two_cpus() -> Option<(usize, usize)> {
    // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity fills it for this thread.
    let allowed: Vec<usize> = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &raw mut set) != 0 {
            return None;
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    };
    Some((*allowed.first()?, *allowed.get(1)?))
}

/// A frame of the test's flows (to or from the service port).
fn ours(p: &shared::packet::ParsedPacket) -> bool {
    p.src_port == SERVICE_PORT || p.dst_port == SERVICE_PORT
}

/// Both senders announce the flow they are about to start and wait for the other.
struct Rendezvous([AtomicU64; 2]);

impl Rendezvous {
    fn meet(&self, me: usize, round: u64) {
        self.0[me].store(round, Ordering::SeqCst);
        let mut spins = 0u64;
        while self.0[1 - me].load(Ordering::SeqCst) < round {
            std::hint::spin_loop();
            spins += 1;
            if spins.is_multiple_of(1 << 16) {
                // The other sender was preempted (other work on the machine): let it run.
                std::thread::yield_now();
            }
        }
    }
}

/// One side: its frames for every flow, the first ones at the rendezvous.
fn send_side(iface: &str, ep: Ipv4Endpoints, forward: bool, cpu: usize, meet: &Rendezvous) -> u64 {
    pin_to(cpu);
    let sender = FrameSender::open(iface).expect("AF_PACKET sender");
    let frame = |i: u64, n: u32| {
        let (flow_port, payload) = (FIRST_PORT + i as u16, [n as u8; 18]);
        if forward {
            craft::ipv4_udp(&ep, flow_port, SERVICE_PORT, &payload)
        } else {
            craft::ipv4_udp(&ep, SERVICE_PORT, flow_port, &payload)
        }
    };
    let me = usize::from(!forward);
    let mut sent = 0;
    for i in 0..FLOWS {
        let first = frame(i, 0);
        meet.meet(me, i + 1);
        sender.send(&first).expect("send a first frame");
        sent += 1;
    }
    for n in 1..FRAMES_PER_SIDE {
        let rest: Vec<Vec<u8>> = (0..FLOWS).map(|i| frame(i, n)).collect();
        for chunk in rest.chunks(64) {
            let refused = sender.send_batch(chunk).into_iter().flatten().count();
            assert_eq!(refused, 0, "frames refused on {iface}");
            sent += chunk.len() as u64;
        }
    }
    sent
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn both_directions_creating_a_flow_at_once_lose_no_packet() {
    crate::common::require_kernel("both_directions_creating_a_flow_at_once_lose_no_packet");
    let (cpu_a, cpu_b) = two_cpus().expect("the race needs two CPUs this process may use");
    let pid = std::process::id();
    let lab = Lab::create_with_queues(&format!("r{}", pid % 100_000), (pid % 200) as u8 + 1, 2).expect("lab");
    let options = probe::AttachOptions {
        packet_ring_bytes: Some(32 << 20),
        ..Default::default()
    };
    probe::attach_in(None, &lab.host_if, &options).expect("attach");
    let _detach = DetachOnDrop(lab.host_if.clone());
    models::write_config(
        &lab.host_if,
        &ProbeConfig {
            record_packets: 1,
            ..ProbeConfig::default()
        },
        workbench_kernel::enforce::DefaultRoute::Refuse,
    )
    .expect("record mode");
    let mut reader = events::PacketRecordReader::open(&lab.host_if).expect("records");

    let out = Ipv4Endpoints {
        src_mac: lab.host_mac,
        dst_mac: NOBODY_MAC,
        src: lab.host_addr,
        dst: lab.peer_addr,
        ttl: 64,
    };
    let back = Ipv4Endpoints {
        src_mac: lab.peer_mac,
        dst_mac: NOBODY_MAC,
        src: lab.peer_addr,
        dst: lab.host_addr,
        ttl: 64,
    };
    let meet = Rendezvous([AtomicU64::new(0), AtomicU64::new(0)]);
    let (host_if, peer_if) = (lab.host_if.as_str(), lab.peer_if.as_str());
    let (sent_out, sent_back) = std::thread::scope(|s| {
        let a = s.spawn(|| send_side(host_if, out, true, cpu_a, &meet));
        let b = s.spawn(|| {
            lab.run_in_netns(|| send_side(peer_if, back, false, cpu_b, &meet))
                .expect("sender in the namespace")
        });
        (a.join().expect("sender out"), b.join().expect("sender back"))
    });
    // The reply direction reaches the probe in a softirq after its sends returned: drain until
    // every frame sent has its record (written after its flow update), or the deadline.
    let sent = sent_out + sent_back;
    let mut records: Vec<PacketRecord> = Vec::new();
    poll(
        SETTLE,
        || {
            drain_all(&mut reader, &mut records);
            records.iter().filter(|r| ours(&r.packet)).count() as u64
        },
        |&n| n >= sent,
    );
    let table: HashMap<FlowKey, shared::FlowEntry> = events::raw_flows(&lab.host_if)
        .expect("flow table")
        .into_iter()
        .filter(|(k, _)| k.port_lo == SERVICE_PORT || k.port_hi == SERVICE_PORT)
        .collect();

    // How close together the probe stamped each flow's first frame of each direction.
    let mut firsts: HashMap<FlowKey, [Option<u64>; 2]> = HashMap::new();
    for r in &records {
        let key = FlowKey::of(&r.packet).key;
        let side = usize::from(r.packet.src_port == SERVICE_PORT);
        let slot = &mut firsts.entry(key).or_default()[side];
        slot.get_or_insert(r.ts_ns);
    }
    let overlapping = firsts
        .values()
        .filter(|[a, b]| matches!((a, b), (Some(a), Some(b)) if a.abs_diff(*b) < OVERLAP_NS))
        .count();

    let expected = 2 * FRAMES_PER_SIDE;
    let short: Vec<(FlowKey, u32)> = table
        .iter()
        .map(|(k, e)| (*k, e.state.packets()))
        .filter(|&(_, n)| n != expected)
        .collect();
    let counted: u64 = table.values().map(|e| u64::from(e.state.packets())).sum();
    report(&format!(
        "insert race: {} flows, {sent_out} + {sent_back} frames sent, {counted} counted by the probe \
         ({} records), {overlapping} flows whose first frames of both directions ran within {OVERLAP_NS} ns, \
         {} flows with a packet count other than {expected}",
        table.len(),
        records.len(),
        short.len()
    ));
    assert_eq!(table.len() as u64, FLOWS, "every flow is in the table");
    assert_eq!(sent_out + sent_back, FLOWS * u64::from(expected));
    assert!(
        short.is_empty(),
        "{} flows lost packets, e.g. {:?}",
        short.len(),
        &short[..short.len().min(5)]
    );
    assert_eq!(counted, sent, "every frame sent was counted");
    assert!(
        overlapping > 0,
        "no flow's first frames reached the probe within {OVERLAP_NS} ns of each other: the race was not exercised"
    );
}
