//! `workbench verify`: replay a capture into the probe and check, flow by flow, that the kernel's
//! state, score and verdict are bit for bit what the userspace twin computes.
//!
//! The kernel stamps packets with its own clock, so the probe runs in record mode: every packet it
//! parses goes to a ring buffer with the kernel timestamp it used. The twin then parses the very
//! frames that were sent (its own parse, compared with the kernel's) and replays them with the
//! kernel's timestamps, so time-based features are compared too, not excluded. The replay thread
//! is pinned to one CPU: veth delivers on the sending CPU, so the kernel sees the capture's order.
//!
//! The probe sits at the receiving end by default, where a tagged frame arrives with its
//! outermost VLAN tag moved to metadata (the receive path's untagging, `rx-vlan-offload` or
//! software); `--probe-at send` puts it at the sending end's egress, where every tag is still in
//! the frame. Either way the kernel must count the frame as the capture holds it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{err, fail, Context, Error, Result};
use serde::Serialize;
use shared::abi::{PacketRecord, ProbeConfig};
use shared::model::Model;
use shared::{FlowEntry, FlowKey};

use crate::events::{raw_flows, PacketRecordReader};
use crate::flows::verdict_name;
use crate::lab::offload::{self, Offload};
use crate::lab::replay_lab::ReplayLab;
use crate::lifecycle::{
    self,
    claims::{Claim, Object},
};
use crate::models::{self, ProbeModels};
use crate::probe::{self, AttachOptions};
use crate::replay::{self, Pace, ReplayOptions};
use workbench_flow::capture::{InterfaceCount, InterfaceSelector};
use workbench_flow::flowfmt::FlowTuple;
use workbench_flow::model::{file, id_string};
use workbench_flow::twin::{Flows, Twin};

#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub pcap: PathBuf,
    pub model: PathBuf,
    pub pps: u64,
    pub config: ProbeConfig,
    pub lab_id: String,
    /// TCX, classic tc or auto (TCX where the kernel has it).
    pub attach: crate::tc::AttachMode,
    /// Which end of the lab's veth pair the probe is attached to.
    pub probe_at: ProbeEnd,
    /// Set `rx-vlan-offload` of the receiving end before the replay (`None`: leave the
    /// kernel's default).
    pub rx_vlan_offload: Option<bool>,
    /// How the probe scores the model: compiled code (as `deploy` does by default) or the table
    /// interpreter.
    pub engine: crate::code::Engine,
    /// Replay and compare only this pcapng interface's packets (`None`: every interface's).
    pub interface: Option<InterfaceSelector>,
}

/// An end of the replay lab's veth pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ProbeEnd {
    /// Where the frames arrive (ingress): the outermost VLAN tag is in metadata.
    #[default]
    Receive,
    /// Where replay sends them (egress): every tag is in the frame.
    Send,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Side {
    pub score: i64,
    pub verdict: &'static str,
    pub model: String,
    pub packets: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Mismatch {
    pub flow: FlowTuple,
    pub kernel: Option<Side>,
    pub userspace: Option<Side>,
    /// Which parts differ: "state", "score", "verdict", "missing in kernel", ...
    pub differs: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub pcap: String,
    pub model: String,
    /// Flows in the kernel's table after the replay.
    pub flows: usize,
    /// Flows present on both sides and compared.
    pub compared: usize,
    /// Compared flows whose whole entry (feature state, score, verdict, model) is identical.
    pub identical: usize,
    pub mismatches: Vec<Mismatch>,
    pub capture_packets: u64,
    pub sent_packets: u64,
    /// Packets a snap length had cut, sent padded with zeros to their length on the wire.
    pub padded_packets: u64,
    pub kernel_records: u64,
    /// Packets whose kernel parse differed from the userspace parse of the same bytes.
    pub parse_mismatches: u64,
    pub malicious_flows: usize,
    /// How the probe was attached in the lab: "tcx" or "tc" (cls_bpf).
    pub attach_mode: &'static str,
    /// The lab interface the probe was attached to, and at which end.
    pub probe_iface: String,
    pub probe_at: ProbeEnd,
    /// `rx-vlan-offload` of the receiving end during the replay.
    pub rx_vlan_offload: bool,
    /// The engine that scored the model in the kernel ("code" or "table").
    pub engine: &'static str,
    /// Instructions of the compiled model (0: the table interpreter scored it).
    pub code_instructions: usize,
    /// The probe reached the compiled model by a jump, not a call (`code::SlotCode::inlined`).
    pub code_inlined: bool,
    /// Model evaluations the compiled code made (the rest, if any, fell back to the table).
    pub code_evaluations: u64,
    /// The capture's interfaces with the packets recorded on each.
    pub interfaces: Vec<InterfaceCount>,
}

fn side(e: &FlowEntry) -> Side {
    Side {
        score: e.score,
        verdict: verdict_name(e.verdict),
        model: id_string(e.model_id),
        packets: e.state.packets(),
    }
}

fn differences(k: &FlowEntry, u: &FlowEntry) -> Vec<&'static str> {
    let mut d = Vec::new();
    if k.state != u.state {
        d.push("state");
    }
    if k.score != u.score {
        d.push("score");
    }
    if k.verdict != u.verdict {
        d.push("verdict");
    }
    if k.model_id != u.model_id {
        d.push("model");
    }
    if (k.shadow_score, k.shadow_verdict, k.shadow_disagreements)
        != (u.shadow_score, u.shadow_verdict, u.shadow_disagreements)
    {
        d.push("shadow");
    }
    if k.decided_at_packet != u.decided_at_packet {
        d.push("decision point");
    }
    d
}

/// The kernel's flow table against the twin's, flow by flow.
#[derive(Debug, Default)]
pub struct Comparison {
    /// Flows present on both sides.
    pub compared: usize,
    /// Compared flows whose whole entry (feature state, score, verdict, model) is identical.
    pub identical: usize,
    pub mismatches: Vec<Mismatch>,
}

/// Compares `kernel` (the probe's table) with `twin` (the userspace twin's flows).
pub fn compare(kernel: &[(FlowKey, FlowEntry)], twin: &Flows) -> Comparison {
    let mut c = Comparison::default();
    let mut matched = vec![false; twin.len()];
    for (key, k) in kernel {
        let tuple = FlowTuple::of(key, k.initiator_is_lo != 0);
        match twin.find(key) {
            Some((i, u)) => {
                matched[i] = true;
                c.compared += 1;
                let differs = differences(k, u);
                if differs.is_empty() {
                    c.identical += 1;
                } else {
                    c.mismatches.push(Mismatch {
                        flow: tuple,
                        kernel: Some(side(k)),
                        userspace: Some(side(u)),
                        differs,
                    });
                }
            }
            None => c.mismatches.push(Mismatch {
                flow: tuple,
                kernel: Some(side(k)),
                userspace: None,
                differs: vec!["missing in userspace"],
            }),
        }
    }
    for ((key, u), _) in twin.iter().zip(&matched).filter(|(_, &m)| !m) {
        c.mismatches.push(Mismatch {
            flow: FlowTuple::of(key, u.initiator_is_lo != 0),
            kernel: None,
            userspace: Some(side(u)),
            differs: vec!["missing in kernel"],
        });
    }
    c
}

/// The twin after the kernel's packet records, in the ring's order: the order in which the probe
/// applied them, flow by flow (a packet's record is written while it holds the flow's lock), also
/// when several CPUs updated one flow at once.
pub fn replay_records(
    config: ProbeConfig,
    active: Option<Box<Model>>,
    shadow: Option<Box<Model>>,
    records: &[PacketRecord],
) -> Twin {
    let mut twin = Twin::new(config, active, shadow);
    for r in records {
        twin.packet(&r.packet, r.ts_ns);
    }
    twin
}

/// Pins the calling thread (and threads it starts) to one CPU; restores the old mask on drop.
struct CpuPin(libc::cpu_set_t);

impl CpuPin {
    fn first_allowed() -> Result<CpuPin> {
        // SAFETY: plain sched_getaffinity/sched_setaffinity on this thread with a valid set.
        unsafe {
            let mut old: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &raw mut old) != 0 {
                return Err(Error::last_os("sched_getaffinity"));
            }
            let cpu = (0..libc::CPU_SETSIZE as usize)
                .find(|&c| libc::CPU_ISSET(c, &old))
                .unwrap_or(0);
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut one);
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &raw const one) != 0 {
                return Err(Error::last_os("sched_setaffinity"));
            }
            Ok(CpuPin(old))
        }
    }
}

impl Drop for CpuPin {
    fn drop(&mut self) {
        // SAFETY: restores the mask read in first_allowed.
        unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &raw const self.0) };
    }
}

struct DetachGuard(String);

impl Drop for DetachGuard {
    fn drop(&mut self) {
        let _ = probe::detach(&self.0);
    }
}

/// The capture's packets parsed exactly as `features`, `train` and `eval` parse them
/// ([`workbench_flow::capture::Packet::parse`]: the Ethernet frame replay sends, at its length
/// on the wire), so verify checks the kernel against the features a model was trained on.
///
/// A packet a snap length cut parses the same: replay pads it with zeros to its length on the
/// wire (`capture::wire`), and the probe reads only headers, which the cut left whole (a record
/// cut inside its headers goes out as captured, and both sides count it unparsed).
///
/// Only the packets of `interface` when one is given (replay sends the same ones); also the
/// capture's interfaces.
fn sent_frames(pcap: &Path, interface: Option<&InterfaceSelector>) -> Result<SentFrames> {
    let mut total = 0;
    let mut parsed = Vec::new();
    let mut reader = workbench_flow::capture::open(pcap, false)?.keep_interface(interface.cloned());
    for packet in reader.by_ref() {
        let packet = packet?;
        total += 1;
        parsed.push(packet.parse());
    }
    Ok((total, parsed, reader.interfaces()))
}

/// Packets read, each one's parse, the capture's interfaces.
type SentFrames = (
    u64,
    Vec<Result<shared::ParsedPacket, shared::ParseError>>,
    Vec<InterfaceCount>,
);

fn ring_bytes_for(records: usize) -> u32 {
    // 80-byte records plus the ring's 8-byte headers, with room to spare.
    let want = (records.max(1) * 96).next_power_of_two().max(64 * 1024);
    want.min(1 << 28) as u32
}

pub fn verify(opts: &VerifyOptions) -> Result<VerifyReport> {
    // Before anything is made: decision points that never decide would compare nothing.
    crate::models::check_decision_points(opts.config.decide_first_packets, opts.config.decide_every)?;
    crate::caps::require_kernel_access("verify (it replays into the kernel probe)")?;
    let model = file::read(&opts.model)?;
    let (capture_packets, parsed, interfaces) = sent_frames(&opts.pcap, opts.interface.as_ref())?;
    if opts.interface.is_none() {
        if let Some(warning) = workbench_flow::capture::several_interfaces_warning(&interfaces) {
            // Before the replay, which takes a while; not eprintln!, which panics on a closed
            // stderr.
            let _ = writeln!(std::io::stderr(), "warning: {warning}");
        }
    }
    let expected_records = parsed.iter().filter(|p| p.is_ok()).count();
    if expected_records == 0 {
        fail!(
            Invalid,
            "{}: no packet in the capture is IPv4/IPv6 TCP/UDP/ICMP; nothing to verify",
            opts.pcap.display()
        );
    }

    // Noted before each is made; dropped last (declared first), after the probe and the lab.
    let mut claim = Claim::new("verify");
    claim.add(Object::Lab {
        id: opts.lab_id.clone(),
    });
    let lab = ReplayLab::create(&opts.lab_id)?;
    lifecycle::check()?;
    let (netns, send_if, recv_if) = (
        lab.info.netns.clone(),
        lab.info.send_iface.clone(),
        lab.info.receive_iface.clone(),
    );
    if let Some(on) = opts.rx_vlan_offload {
        offload::set(Some(&netns), &recv_if, Offload::RxVlan, on)?;
    }
    let rx_vlan_offload = offload::get(Some(&netns), &recv_if, Offload::RxVlan)?;
    let recv_if = match opts.probe_at {
        ProbeEnd::Receive => recv_if,
        ProbeEnd::Send => send_if.clone(),
    };
    claim.add(Object::Probe {
        iface: recv_if.clone(),
    });
    let attached = probe::attach_in(
        Some(&netns),
        &recv_if,
        &AttachOptions {
            packet_ring_bytes: Some(ring_bytes_for(expected_records)),
            mode: opts.attach,
            ..Default::default()
        },
    )?;
    let _detach = DetachGuard(recv_if.clone());
    lifecycle::check()?;
    let slots = ProbeModels::open(&recv_if)?;
    slots.deploy(&model.model)?;
    let code = slots.set_engine(opts.engine)?;
    let config = ProbeConfig {
        record_packets: 1,
        ..opts.config
    };
    models::write_config(&recv_if, &config, crate::enforce::DefaultRoute::Refuse)?;
    let mut reader = PacketRecordReader::open(&recv_if)?;

    let replay_report = {
        let _pin = CpuPin::first_allowed()?;
        replay::replay(
            &opts.pcap,
            &ReplayOptions {
                iface: send_if,
                netns: Some(netns),
                pace: Pace::Pps(opts.pps),
                repeat: false,
                count: None,
                lenient: false,
                interface: opts.interface.clone(),
                allow_foreign_iface: false,
            },
        )?
    };
    lifecycle::check()?;
    // Drain until every record is in, or nothing new arrived for half a second.
    let mut records: Vec<PacketRecord> = Vec::with_capacity(expected_records);
    let mut last_change = Instant::now();
    while records.len() < expected_records && last_change.elapsed() < Duration::from_millis(500) {
        lifecycle::check()?;
        let before = records.len();
        reader.drain_into(&mut records)?;
        if records.len() != before {
            last_change = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if records.len() != expected_records {
        // Frames the lab's veth refused (longer than its MTU, also once padded back to their
        // wire length) never reach the kernel: no pace helps, and the user is told which.
        let why = match &replay_report.first_error {
            Some(first) => format!(
                "replay could not send {} frame(s) (first: {first}): verify cannot compare packets the \
                 lab's veth does not carry (MTU {})",
                replay_report.errors,
                crate::lab::replay_lab::REPLAY_MTU
            ),
            None => "frames were lost on the way: retry with a lower --pps".to_string(),
        };
        fail!(
            Mismatch,
            "the kernel recorded {} packets, the capture has {expected_records} parseable ones (sent {}); {why}",
            records.len(),
            replay_report.sent_packets
        );
    }

    let mut twin = Twin::new(opts.config, Some(model.model.clone()), None);
    let mut parse_mismatches = 0;
    let mut next = records.iter();
    for p in parsed.iter().flatten() {
        let record = next
            .next()
            .ok_or_else(|| err!(Mismatch, "fewer kernel records than parsed packets"))?;
        if record.packet != *p {
            parse_mismatches += 1;
        }
        twin.packet(p, record.ts_ns);
    }

    let kernel = raw_flows(&recv_if).context(|| "reading the kernel's flow table")?;
    let code_evaluations = crate::flows::read_stats(&recv_if)?
        .get("code_evaluations")
        .copied()
        .unwrap_or(0);
    let mut report = VerifyReport {
        pcap: opts.pcap.display().to_string(),
        model: id_string(model.model.header.model_id),
        flows: kernel.len(),
        compared: 0,
        identical: 0,
        mismatches: Vec::new(),
        capture_packets,
        sent_packets: replay_report.sent_packets,
        padded_packets: replay_report.padded_packets,
        kernel_records: records.len() as u64,
        parse_mismatches,
        malicious_flows: kernel
            .iter()
            .filter(|(_, e)| e.verdict == shared::flow::VERDICT_MALICIOUS)
            .count(),
        attach_mode: attached.attach_mode,
        probe_iface: recv_if.clone(),
        probe_at: opts.probe_at,
        rx_vlan_offload,
        engine: code.engine,
        code_instructions: code.active.as_ref().map_or(0, |a| a.instructions),
        code_inlined: code.active.is_some_and(|a| a.inlined),
        code_evaluations,
        interfaces,
    };
    let compared = compare(&kernel, &twin.flows);
    report.compared = compared.compared;
    report.identical = compared.identical;
    report.mismatches = compared.mismatches;
    // `_detach` then `lab` go out of scope here: probe first, then the namespace, then the claim.
    Ok(report)
}
