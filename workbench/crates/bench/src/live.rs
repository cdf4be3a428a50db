//! `workbench bench live`: packets per second through a veth pair with the probe attached,
//! against the same pair with the empty tc program attached instead, while the SYN flood sample
//! is replayed at top speed (`replay --top-speed`, in a loop) into a replay lab.
//!
//! The lab holds both ends of the pair in one project namespace (`lab::replay_lab`): replayed
//! frames carry foreign addresses and can only go from `a` to `b`. The program under test sits
//! at `b`'s ingress. A veth delivers on the sending CPU: the sender's `sendmmsg` runs the
//! receive path, tc ingress included, before it returns (softirq at the end of each transmit),
//! so the program's cost per packet slows the sender down and shows as fewer packets per
//! second. "Delivered" is the receive counter of `b` (frames the veth handed to `b`'s stack)
//! over the replay's wall time. Variants alternate round by round, so that a busy phase of the
//! machine hits both; the median round is reported.

use std::path::Path;

use crate::error::{err, Context, Error, Result};
use aya::programs::{tc::TcAttachType, SchedClassifier};
use serde::Serialize;

use super::figure::Figure;
use workbench_kernel::lab::netns;
use workbench_kernel::lab::replay_lab::ReplayLab;
use workbench_kernel::lifecycle::private_pins::PrivatePins;
use workbench_kernel::probe;
use workbench_kernel::replay::{self, Pace, ReplayOptions};

/// Issue 14's targets: the probe's packets per second against the empty program's.
pub const TARGET_RATIO: f64 = 0.90;
pub const TARGET_RATIO_MIXED: f64 = 0.95;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Program {
    Empty,
    Probe,
    /// The probe with the coarse clock (`deploy --clock coarse`).
    ProbeCoarseClock,
}

#[derive(Debug, Clone, Serialize)]
pub struct Round {
    pub program: Program,
    pub sent_packets: u64,
    pub send_errors: u64,
    pub delivered_packets: u64,
    pub elapsed_ns: u64,
    pub delivered_pps: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LiveBench {
    pub capture: String,
    pub netns: String,
    pub iface: String,
    pub packets_per_round: u64,
    pub rounds: Vec<Round>,
    pub empty_pps: f64,
    pub probe_pps: f64,
    pub probe_coarse_clock_pps: f64,
    /// The same on a mixed capture (`sample-pcaps/honest.pcap`: benign flows of many kinds and
    /// attacks), measured after the SYN flood in the same run.
    pub mixed: Option<Box<LiveBench>>,
}

/// Receive counter of `iface` in namespace `ns`.
fn rx_packets(ns: &str, iface: &str) -> Result<u64> {
    let out = workbench_kernel::lab::ip_output(&["-n", ns, "-s", "-j", "link", "show", "dev", iface])?;
    let doc: serde_json::Value = serde_json::from_slice(&out)
        .map_err(|e| Error::json(format!("ip -s -j link show {iface}: no JSON"), e))?;
    doc[0]["stats64"]["rx"]["packets"]
        .as_u64()
        .ok_or_else(|| err!(Child, "ip -s -j link show {iface}: no stats64.rx.packets"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The reason this section cannot run here, if any (checked before anything is made).
pub fn unavailable(capture: &Path) -> Option<String> {
    if let Some(reason) = super::kernel_unavailable("the live benchmark") {
        return Some(reason);
    }
    (!capture.exists()).then(|| format!("the SYN flood capture {} is missing", capture.display()))
}

pub fn run(quick: bool, capture: &Path) -> Result<LiveBench> {
    let (packets, rounds) = if quick { (200_000u64, 2) } else { (1_000_000, 3) };
    // Interface names have 15 bytes: the id is short and unique to this process.
    let id = format!("bl{}", std::process::id() % 10_000_000);
    let lab = ReplayLab::create(&id)?;
    let (ns, send, recv) = (
        lab.info.netns.clone(),
        lab.info.send_iface.clone(),
        lab.info.receive_iface.clone(),
    );

    // The empty program from a private load of the probe object (as `bench probe` does),
    // attached and detached by this process; its pins go when the guard drops.
    let pins = PrivatePins::create("bench live", &format!("bench-live-{}", std::process::id()))?;
    let mut loaded = probe::load(pins.dir(), &probe::AttachOptions::default())?;
    let empty: &mut SchedClassifier = loaded
        .ebpf
        .program_mut(super::probe::EMPTY_PROGRAM)
        .ok_or_else(|| workbench_kernel::Error::missing_program(super::probe::EMPTY_PROGRAM))?
        .try_into()?;
    empty
        .load()
        .context(|| "the kernel verifier rejected the empty program")?;

    let options = ReplayOptions {
        iface: send.clone(),
        netns: Some(ns.clone()),
        pace: Pace::TopSpeed,
        repeat: true,
        count: Some(packets),
        lenient: false,
        interface: None,
        allow_foreign_iface: false,
    };
    let mut results = Vec::new();
    for round in 0..rounds {
        // Alternate which variant goes first.
        let order = if round % 2 == 0 {
            [Program::Empty, Program::Probe, Program::ProbeCoarseClock]
        } else {
            [Program::ProbeCoarseClock, Program::Probe, Program::Empty]
        };
        for program in order {
            eprintln!("bench live: round {} of {rounds}: {program:?}", round + 1);
            let link = match program {
                Program::Empty => {
                    let recv2 = recv.clone();
                    // Before 6.6 aya attaches through netlink, which needs a clsact qdisc; the
                    // lab's veth has none (one added here goes with the lab).
                    let link = netns::run_in(&ns, || -> Result<_> {
                        workbench_kernel::tc::ensure_clsact(&recv2)?;
                        Ok(empty.attach(&recv2, TcAttachType::Ingress)?)
                    })?
                    .context(|| format!("attaching the empty program to {recv}"))?;
                    Some(link)
                }
                Program::Probe | Program::ProbeCoarseClock => {
                    probe::attach_in(Some(&ns), &recv, &probe::AttachOptions::default())?;
                    if program == Program::ProbeCoarseClock {
                        let config = shared::abi::ProbeConfig {
                            clock: shared::abi::CLOCK_COARSE,
                            ..workbench_kernel::models::read_config(&recv)?
                        };
                        let set = workbench_kernel::models::write_config(
                            &recv,
                            &config,
                            workbench_kernel::enforce::DefaultRoute::Refuse,
                        );
                        if let Err(e) = set {
                            drop(probe::detach(&recv));
                            return Err(e.into());
                        }
                    }
                    None
                }
            };
            let measured = (|| -> Result<Round> {
                let before = rx_packets(&ns, &recv)?;
                let r = replay::replay(capture, &options)?;
                let delivered = rx_packets(&ns, &recv)?.saturating_sub(before);
                Ok(Round {
                    program,
                    sent_packets: r.sent_packets,
                    send_errors: r.errors,
                    delivered_packets: delivered,
                    elapsed_ns: r.elapsed_ns,
                    delivered_pps: delivered as f64 / (r.elapsed_ns.max(1) as f64 / 1e9),
                })
            })();
            // Detached before any error is returned.
            match link {
                // Inside the lab: a netlink filter (no TCX) is found by the namespace's ifindex.
                Some(link) => {
                    netns::run_in(&ns, || empty.detach(link))?.context(|| "detaching the empty program")?;
                }
                None => drop(probe::detach(&recv)?),
            }
            results.push(measured?);
        }
    }
    drop(loaded);
    pins.remove()?;
    drop(lab);
    let pps = |p: Program| {
        median(
            results
                .iter()
                .filter(|r| r.program == p)
                .map(|r| r.delivered_pps)
                .collect(),
        )
    };
    Ok(LiveBench {
        capture: capture.display().to_string(),
        netns: ns,
        iface: recv,
        packets_per_round: packets,
        empty_pps: pps(Program::Empty),
        probe_pps: pps(Program::Probe),
        probe_coarse_clock_pps: pps(Program::ProbeCoarseClock),
        rounds: results,
        mixed: None,
    })
}

/// The mixed capture: the project's honest sample, in the repository.
pub fn mixed_capture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../sample-pcaps/honest.pcap")
}

/// The SYN flood, then the mixed capture when it is there.
pub fn run_both(quick: bool, syn_flood: &Path, mixed: &Path) -> Result<LiveBench> {
    let mut b = run(quick, syn_flood)?;
    if mixed.exists() {
        b.mixed = Some(Box::new(run(quick, mixed)?));
    }
    Ok(b)
}

fn figure(name: &str, b: &LiveBench, target: f64) -> Figure {
    let f = Figure::versus(
        name,
        b.probe_pps,
        "packets_per_s",
        "empty tc program on the same veth",
        b.empty_pps,
        true,
    );
    let met = f.ratio.is_some_and(|r| r >= target);
    f.with_target(&format!(">= {target}x the empty program"), met)
}

fn coarse(name: &str, b: &LiveBench) -> Figure {
    Figure::versus(
        name,
        b.probe_coarse_clock_pps,
        "packets_per_s",
        "empty tc program on the same veth",
        b.empty_pps,
        true,
    )
}

pub fn figures(b: &LiveBench) -> Vec<Figure> {
    let mut figures = vec![
        figure("live_probe_packets_per_s", b, TARGET_RATIO),
        coarse("live_probe_coarse_clock_packets_per_s", b),
    ];
    if let Some(m) = &b.mixed {
        figures.push(figure("live_mixed_probe_packets_per_s", m, TARGET_RATIO_MIXED));
        figures.push(coarse("live_mixed_probe_coarse_clock_packets_per_s", m));
    }
    figures
}

pub fn notes(b: &LiveBench) -> Vec<String> {
    let mut notes = note(b);
    if let Some(m) = &b.mixed {
        notes.extend(note(m));
    }
    notes
}

fn note(b: &LiveBench) -> Vec<String> {
    let lost: u64 = b
        .rounds
        .iter()
        .map(|r| r.sent_packets.saturating_sub(r.delivered_packets))
        .sum();
    vec![format!(
        "{} rounds of {} packets of {} replayed at top speed into {} (namespace {}), median round \
         per variant, the probe with no model; {} packets sent but not delivered over all rounds",
        b.rounds.len() / 3,
        b.packets_per_round,
        Path::new(&b.capture)
            .file_name()
            .map_or(b.capture.clone(), |n| n.to_string_lossy().into_owned()),
        b.iface,
        b.netns,
        lost
    )]
}
