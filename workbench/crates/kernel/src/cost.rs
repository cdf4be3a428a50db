//! What a model costs in the kernel, per packet, measured on this machine (issue 14 item 6):
//! `workbench train --cost-depths` and the Train tab's candidates put this next to F1 so that a
//! user picks a model within a budget.
//!
//! One private load of the probe (attached to no interface, pinned in a directory of this
//! process that [`PrivatePins`] removes on any error and on Ctrl-C, and that a lifecycle
//! claim names if the process is killed), configured so that every packet is a decision point
//! (as `bench probe`'s tree variant). Each candidate is swapped into the active slot in turn
//! and run with BPF_PROG_TEST_RUN on the benchmark packets, next to the empty tc program (the
//! floor: test-run overhead and the program call) and the probe with no model, round-robin
//! (a slow phase of the machine hits every variant alike), `runs` times; each figure is the
//! median run. A test run repeats its packet `repeat` times inside the kernel: the first
//! repetition creates the flow, the rest update it, so the mean is a known flow's packet.
//!
//! A tree costs what the walk of the benchmark packets' features costs: a trained tree's path
//! for them may be shorter than its depth. The figure is the model's cost on these packets, not
//! a bound.

use std::os::fd::AsFd;
use std::path::Path;

use aya::programs::SchedClassifier;
use aya::Ebpf;
use serde::Serialize;
use shared::abi::ProbeConfig;
use shared::model::Model;
use workbench_flow::craft::{self, Ipv4Endpoints, TcpSegment, TCP_SYN};

use crate::code::Engine;
use crate::error::{fail, Context, Error, Result};
use crate::lifecycle::private_pins::PrivatePins;
use crate::models::ProbeModels;
use crate::{caps, lifecycle, probe, sys};

/// The do-nothing classifier in the probe object (`bench probe`'s floor too).
pub const EMPTY_PROGRAM: &str = "workbench_empty";
/// Repetitions of a packet inside one test run: enough for a stable mean in well under a second
/// for a handful of candidates.
pub const DEFAULT_REPEAT: u32 = 50_000;
/// Test runs per variant; the median is reported.
pub const DEFAULT_RUNS: usize = 5;

#[derive(Debug, Clone, Copy)]
pub struct CostOptions {
    pub repeat: u32,
    pub runs: usize,
    /// How the candidates are scored: compiled code by default, as `deploy` does.
    pub engine: Engine,
}

impl Default for CostOptions {
    fn default() -> Self {
        CostOptions {
            repeat: DEFAULT_REPEAT,
            runs: DEFAULT_RUNS,
            engine: Engine::Code,
        }
    }
}

/// The measured costs, each the median over the runs of the mean per packet over the
/// benchmark packets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostReport {
    /// The empty tc program: what any program costs here.
    pub empty_ns: u32,
    /// The probe with no model, every packet a decision point.
    pub no_model_ns: u32,
    /// The probe with each model in the active slot, in the order given.
    pub model_ns: Vec<u32>,
    /// Test runs counted per model (runs x packets): every one returned.
    pub model_test_runs: Vec<u32>,
    pub repeat: u32,
    pub runs: usize,
    /// The benchmark packets (a 64-byte UDP datagram and a TCP SYN).
    pub packets: Vec<&'static str>,
    /// How the models were scored: "code", as `deploy` does by default (each candidate compiled
    /// into its own verified copy of the probe), or "table".
    pub engine: &'static str,
}

/// The benchmark packets: (name, frame), here and in `bench probe`. Never sent anywhere: they
/// exist only inside BPF_PROG_TEST_RUN.
pub fn packets() -> Vec<(&'static str, Vec<u8>)> {
    let ep = Ipv4Endpoints {
        src_mac: [0x02, 0, 0, 0, 0xc0, 0x02],
        dst_mac: [0x02, 0, 0, 0, 0xc0, 0x01],
        src: std::net::Ipv4Addr::new(10, 203, 253, 2),
        dst: std::net::Ipv4Addr::new(10, 203, 253, 1),
        ttl: 64,
    };
    vec![
        ("udp", craft::ipv4_udp(&ep, 40_000, 53, &[0x5a; 22])),
        (
            "tcp_syn",
            craft::ipv4_tcp(
                &ep,
                &TcpSegment {
                    src_port: 40_001,
                    dst_port: 80,
                    seq: 1,
                    ack: 0,
                    flags: TCP_SYN,
                    window: 64_240,
                    payload: &[],
                },
            ),
        ),
    ]
}

/// The median of `values` (the upper one of an even count); 0 for none.
pub fn median(values: &[u32]) -> u32 {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Writes `config` into the configuration of a probe loaded for a measurement (not attached):
/// the cost measurements here and `bench probe`.
pub fn set_config(ebpf: &mut Ebpf, config: ProbeConfig) -> Result<()> {
    let map = ebpf
        .map_mut(probe::CONFIG_MAP)
        .ok_or_else(|| Error::missing_map(probe::CONFIG_MAP))?;
    aya::maps::Array::<_, ProbeConfig>::try_from(map)?
        .set(0, config, 0)
        .context(|| "writing the measured probe's configuration")
}

fn decide_every_packet(ebpf: &mut Ebpf) -> Result<()> {
    let config = ProbeConfig {
        decide_first_packets: u32::MAX,
        decide_every: 1,
        ..ProbeConfig::default()
    };
    set_config(ebpf, config)
}

/// Measurements started by this process (each gets its own pin directory).
static MEASUREMENTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Why the cost cannot be measured here (no CAP_BPF / CAP_NET_ADMIN), if so.
pub fn unavailable() -> Option<String> {
    caps::require_kernel_access("measuring a model's kernel cost")
        .err()
        .map(|e| e.to_string())
}

/// Measures every model of `models` (see the module documentation). Needs CAP_BPF; attaches
/// nothing; removes its pins also on error and on Ctrl-C (between test runs).
pub fn model_cost(models: &[&Model], options: &CostOptions) -> Result<CostReport> {
    caps::require_kernel_access("measuring a model's kernel cost")?;
    if options.repeat == 0 || options.runs == 0 {
        fail!(
            Invalid,
            "the repetitions and the number of runs must be at least 1"
        );
    }
    // One directory per measurement: measurements may run at once on several threads.
    let n = MEASUREMENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let pins = PrivatePins::create("model cost", &format!("cost-{}-{n}", std::process::id()))?;
    let report = measure(pins.dir(), models, options)?;
    pins.remove()?;
    Ok(report)
}

/// The measurement proper, on the private load in `dir`.
fn measure(dir: &Path, models: &[&Model], options: &CostOptions) -> Result<CostReport> {
    let packets = packets();
    let mut loaded = probe::load(dir, &probe::AttachOptions::default())?;
    decide_every_packet(&mut loaded.ebpf)?;
    // File descriptors from here on, not the pins: a `probe cleanup` elsewhere that removes
    // them mid-run cannot make this read another probe's maps.
    let slots = ProbeModels::open_dir(dir, "cost")?;
    let empty: &mut SchedClassifier = loaded
        .ebpf
        .program_mut(EMPTY_PROGRAM)
        .ok_or_else(|| Error::missing_program(EMPTY_PROGRAM))?
        .try_into()?;
    empty
        .load()
        .context(|| "the kernel verifier rejected the empty program")?;
    // Variant 0: empty; 1: no model; 2..: the models.
    let variants = models.len() + 2;
    let mut runs_ns: Vec<Vec<u32>> = vec![Vec::new(); variants];
    let mut counted = vec![0u32; models.len()];
    for _ in 0..options.runs {
        lifecycle::check()?;
        for (v, runs) in runs_ns.iter_mut().enumerate() {
            let program = match v {
                0 => EMPTY_PROGRAM,
                1 => {
                    slots.set_engine(Engine::Table)?;
                    slots.clear_active()?;
                    probe::PROGRAM_NAME
                }
                _ => {
                    // The table first, so that the deploy does not compile: one verifier load
                    // per candidate, by the engine asked for.
                    slots.set_engine(Engine::Table)?;
                    slots
                        .deploy(models[v - 2])
                        .map_err(|e| e.within(format!("installing candidate {}", v - 1)))?;
                    // By default what `deploy` does: the candidate compiled.
                    slots
                        .set_engine(options.engine)
                        .map_err(|e| e.within(format!("compiling candidate {}", v - 1)))?;
                    probe::PROGRAM_NAME
                }
            };
            let fd = loaded
                .ebpf
                .program(program)
                .ok_or_else(|| Error::missing_program(program))?
                .fd()?
                .as_fd();
            let mut sum_ns = 0u64;
            for (name, frame) in &packets {
                let run = sys::prog_test_run(fd, frame, options.repeat)
                    .map_err(|e| e.within(format!("test run of variant {v} on the {name} packet")))?;
                sum_ns += u64::from(run.duration_ns);
                if v >= 2 {
                    counted[v - 2] += 1;
                }
            }
            runs.push((sum_ns / packets.len() as u64) as u32);
        }
    }
    drop(loaded);
    Ok(CostReport {
        empty_ns: median(&runs_ns[0]),
        no_model_ns: median(&runs_ns[1]),
        model_ns: runs_ns[2..].iter().map(|r| median(r)).collect(),
        model_test_runs: counted,
        repeat: options.repeat,
        runs: options.runs,
        packets: packets.iter().map(|(n, _)| *n).collect(),
        engine: options.engine.name(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_takes_the_middle_run() {
        assert_eq!(median(&[9, 1, 5]), 5);
        assert_eq!(median(&[4, 2]), 4);
        assert_eq!(median(&[]), 0);
    }

    #[test]
    fn the_benchmark_packets_are_a_udp_datagram_and_a_syn() {
        let p = packets();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].1.len(), 64);
        assert_eq!(p[1].1.len(), 54);
    }
}
