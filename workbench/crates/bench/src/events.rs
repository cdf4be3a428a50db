//! `workbench bench events`: where the verdict-event path starts losing events.
//!
//! The probe writes one `VerdictEvent` into its EVENTS ring buffer (256 KiB) each time a flow's
//! active verdict changes, and a flow's first decision always changes it (from none to benign or
//! malicious). A reader in userspace (the agent, `live --jsonl`) wakes every turn, drains the
//! ring, turns each event into an EVE line and writes it; when the ring is full the probe counts
//! the event in `events_lost` instead. So the loss point is a rate of new flows, set by the ring's
//! size, the reader's turn and what the reader does per event.
//!
//! Measured on a private load of the probe, attached to nothing (as `bench probe` does): a
//! depth-12 tree in the active slot, one decision per flow at its first packet, and distinct new
//! flows (one UDP frame each, a different source port or address per BPF_PROG_TEST_RUN, one
//! repetition) offered at increasing rates, each for a fixed time, while a reader thread drains the ring
//! exactly as the agent does (`kernel::events::EventReader::drain` -> `EveVerdict::to_line` ->
//! `eve_sink` file, rotated by size, in a private temporary folder), sleeping the agent's turn
//! between drains. Per rate: new flows offered, events written, events lost (the probe's own
//! statistic); the loss point is the highest rate with none lost. The frames exist only inside
//! the test run: nothing is sent on any interface.

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{err, fail, Context, Result};
use aya::maps::{Map, MapData, PerCpuArray};
use shared::abi::{ProbeConfig, VerdictEvent};
use shared::stats;
use workbench_flow::craft::{self, Ipv4Endpoints};
use workbench_flow::model::scale::ScaleBook;
use workbench_kernel::eve_sink::{rotated_name, EventSink, SinkSpec};
use workbench_kernel::events::EventReader;
use workbench_kernel::lifecycle::private_pins::PrivatePins;
use workbench_kernel::models::ProbeModels;
use workbench_kernel::{caps, probe, sys, Error as KernelError};

use super::events_report::{self as report, EventsReport, ReaderStats, Step};
use super::machine::Machine;
use super::models;
use super::probe::set_config;

/// Offered rates, new flows per second; `None`: as fast as the producer goes (its ceiling).
pub const DEFAULT_RATES: [Option<u64>; 13] = [
    Some(1_000),
    Some(5_000),
    Some(10_000),
    Some(20_000),
    Some(30_000),
    Some(40_000),
    Some(50_000),
    Some(75_000),
    Some(100_000),
    Some(150_000),
    Some(200_000),
    Some(300_000),
    None,
];
pub const DEFAULT_STEP_MS: u64 = 1_000;
pub const QUICK_STEP_MS: u64 = 250;
/// The agent's loop sleeps 20 ms between turns (commands/agent.rs `TURN`), as `live --jsonl`
/// does between drains.
pub const AGENT_TURN_MS: u64 = 20;
/// The events file rotates at this size, one old file kept: the disk used stays bounded.
const ROTATE_BYTES: u64 = 16 << 20;
/// Source ports used per source address (1024..65535).
const PORTS_PER_ADDRESS: u64 = 64_512;
/// Test runs between two looks at the clock.
const BATCH: u64 = 64;
/// How long the reader may take to write out a step's events once the producer stops.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Options {
    /// In the order run; `None` is unpaced.
    pub rates: Vec<Option<u64>>,
    pub step_ms: u64,
    /// The reader's sleep between drains.
    pub poll_ms: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rates: DEFAULT_RATES.to_vec(),
            step_ms: DEFAULT_STEP_MS,
            poll_ms: AGENT_TURN_MS,
        }
    }
}

/// A parsed `--rates` value (a type of its own, so that clap takes it as one value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rates(pub Vec<Option<u64>>);

/// [`parse_rates`] for clap.
pub fn parse_rates_arg(text: &str) -> std::result::Result<Rates, String> {
    parse_rates(text).map(Rates)
}

/// A `--rates` value: comma-separated new flows per second, `max` for unpaced.
pub fn parse_rates(text: &str) -> std::result::Result<Vec<Option<u64>>, String> {
    let rates = text
        .split(',')
        .map(|r| match r.trim() {
            "max" => Ok(None),
            n => match n.parse::<u64>() {
                Ok(v) if v > 0 => Ok(Some(v)),
                _ => Err(format!(
                    "--rates: {n:?} is not a rate (expected new flows per second above 0, or `max`)"
                )),
            },
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(rates)
}

/// The frame of new flow number `i`: UDP from 10.205.x.y, port 1024.. to 10.203.254.1:53, so
/// that every test run starts a flow of its own. Never sent anywhere.
pub fn flow_frame(i: u64) -> Vec<u8> {
    let address = i / PORTS_PER_ADDRESS;
    let port = 1024 + (i % PORTS_PER_ADDRESS) as u16;
    let ep = Ipv4Endpoints {
        src_mac: [0x02, 0, 0, 0, 0xbe, 0x02],
        dst_mac: [0x02, 0, 0, 0, 0xbe, 0x01],
        src: std::net::Ipv4Addr::new(10, 205, (address >> 8) as u8, address as u8),
        dst: std::net::Ipv4Addr::new(10, 203, 254, 1),
        ttl: 64,
    };
    craft::ipv4_udp(&ep, port, 53, &[0x5a; 22])
}

/// A private folder for the events file, removed with what is in it when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the reader thread and the producer share.
#[derive(Default)]
struct Shared {
    written: AtomicU64,
    /// The most events one turn found, since the producer last reset it.
    max_turn: AtomicU64,
    stop: AtomicBool,
    /// The reader ended (an error, or `stop`).
    done: AtomicBool,
    sample: Mutex<Option<String>>,
}

/// The agent's reader loop on one ring: drain, one EVE line per event to the sink, flush, sleep.
fn read_loop(
    mut reader: EventReader,
    mut sink: EventSink,
    shared: &Shared,
    poll: Duration,
) -> Result<ReaderStats> {
    let mut stats = ReaderStats::default();
    loop {
        // Read before the drain: after `stop`, one more full drain, then out.
        let stopping = shared.stop.load(Ordering::Acquire);
        let started = Instant::now();
        let events = reader.drain()?;
        stats.turns += 1;
        if !events.is_empty() {
            for ev in &events {
                let line = ev.to_line();
                sink.write_line(&line)?;
                stats.line(line.len() as u64 + 1);
                if stats.events == 1 {
                    if let Ok(mut s) = shared.sample.lock() {
                        *s = Some(line);
                    }
                }
            }
            sink.flush()?;
            stats.busy_ms += started.elapsed().as_secs_f64() * 1000.0;
            stats.busy_turns += 1;
            let n = events.len() as u64;
            shared.written.fetch_add(n, Ordering::AcqRel);
            shared.max_turn.fetch_max(n, Ordering::AcqRel);
        }
        if stopping {
            return Ok(stats);
        }
        std::thread::sleep(poll);
    }
}

/// The probe's statistics that the benchmark follows, summed over CPUs.
struct Counters {
    evaluations: u64,
    verdict_changes: u64,
    events_lost: u64,
    flow_insert_failed: u64,
}

fn sum(stats_map: &PerCpuArray<MapData, u64>, index: u32) -> Result<u64> {
    Ok(stats_map
        .get(&index, 0)
        .context(|| format!("reading statistic {}", stats::name(index)))?
        .iter()
        .sum())
}

fn counters(stats_map: &PerCpuArray<MapData, u64>) -> Result<Counters> {
    Ok(Counters {
        evaluations: sum(stats_map, stats::EVALUATIONS)?,
        verdict_changes: sum(stats_map, stats::VERDICT_CHANGES)?,
        events_lost: sum(stats_map, stats::EVENTS_LOST)?,
        flow_insert_failed: sum(stats_map, stats::FLOW_INSERT_FAILED)?,
    })
}

/// Runs new flows through the probe at `rate` (unpaced: `None`) for `step`; returns how many
/// and for how long.
fn produce(
    fd: std::os::fd::BorrowedFd<'_>,
    rate: Option<u64>,
    step: Duration,
    next_flow: &mut u64,
) -> Result<(u64, Duration)> {
    let start = Instant::now();
    let mut sent = 0u64;
    loop {
        let elapsed = start.elapsed();
        if elapsed >= step {
            return Ok((sent, elapsed));
        }
        let target = rate.map_or(sent + BATCH, |r| report::due(r, elapsed.as_nanos()));
        if sent >= target {
            // Ahead of the pace: let the reader have the CPU.
            std::thread::sleep(Duration::from_micros(100));
            continue;
        }
        for _ in 0..(target - sent).min(BATCH) {
            let frame = flow_frame(*next_flow);
            sys::prog_test_run(fd, &frame, 1)
                .map_err(|e| e.within(format!("test run of new flow {}", *next_flow)))?;
            *next_flow += 1;
            sent += 1;
        }
    }
}

fn validate(options: &Options) -> Result<()> {
    if options.rates.is_empty() {
        fail!(Invalid, "--rates: at least one rate is needed");
    }
    if options.step_ms == 0 || options.poll_ms == 0 {
        fail!(Invalid, "--step-ms and --poll-ms must be at least 1");
    }
    Ok(())
}

/// Runs the benchmark. Needs CAP_BPF; attaches nothing; removes its pins and its events file
/// also on error.
pub fn run(options: &Options) -> Result<EventsReport> {
    caps::require_kernel_access("benchmarking the verdict events")?;
    validate(options)?;
    let tree = models::full_tree()?;
    let pid = std::process::id();
    // Removed on any error below (and on Ctrl-C), with the pins in it.
    let pins = PrivatePins::create("bench events", &format!("bench-events-{pid}"))?;
    let dir = pins.dir().to_path_buf();
    let scratch = Scratch(std::env::temp_dir().join(format!("workbench-bench-events-{pid}")));
    std::fs::create_dir_all(&scratch.0).context(|| format!("creating {}", scratch.0.display()))?;
    let events_path = scratch.0.join("events.jsonl");

    let mut loaded = probe::load(&dir, &probe::AttachOptions::default())?;
    // One decision per flow, at its first packet: one verdict change, one event per new flow.
    set_config(
        &mut loaded.ebpf,
        ProbeConfig {
            decide_first_packets: 1,
            decide_every: 0,
            ..ProbeConfig::default()
        },
    )?;
    ProbeModels::open_dir(&dir, "bench events")?.deploy(&tree)?;
    let mut book = ScaleBook::default();
    book.insert(&tree);
    let mut take = |name: &str| {
        loaded
            .ebpf
            .take_map(name)
            .ok_or_else(|| KernelError::missing_map(name))
    };
    let Map::RingBuf(events_map) = take(probe::EVENTS_MAP)? else {
        fail!(
            Invalid,
            "the probe's {} map is not a ring buffer",
            probe::EVENTS_MAP
        );
    };
    let stats_map: PerCpuArray<MapData, u64> = PerCpuArray::try_from(take(probe::STATS_MAP)?)?;
    let ring_bytes = u64::from(events_map.info()?.max_entries());
    let reader = EventReader::from_map("bench events", events_map, book)?;
    let sink = EventSink::open(&SinkSpec::File {
        path: events_path.clone(),
        max_bytes: ROTATE_BYTES,
        keep: 1,
    })?;
    let fd = loaded
        .ebpf
        .program(probe::PROGRAM_NAME)
        .ok_or_else(|| KernelError::missing_program(probe::PROGRAM_NAME))?
        .fd()?
        .as_fd();

    eprintln!(
        "bench events: {} rates x {} ms, reader turn {} ms",
        options.rates.len(),
        options.step_ms,
        options.poll_ms
    );
    let shared = Shared::default();
    let poll = Duration::from_millis(options.poll_ms);
    let (steps, reader_stats) = std::thread::scope(|scope| {
        let handle = scope.spawn(|| {
            let r = read_loop(reader, sink, &shared, poll);
            shared.done.store(true, Ordering::Release);
            r
        });
        let steps = run_steps(options, fd, &stats_map, &shared);
        shared.stop.store(true, Ordering::Release);
        let read = handle
            .join()
            .unwrap_or_else(|_| Err(err!(Measure, "the event reader thread panicked")));
        (steps, read)
    });
    // The reader's failure first: a producer that gave up waiting for it says less.
    let mut reader = reader_stats?;
    let steps = steps?;
    reader.finish();

    let totals = counters(&stats_map)?;
    let probe_stats = stats_names(&stats_map)?;
    let events_file_bytes = [events_path.clone(), rotated_name(&events_path, 1)]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let flow_lock = loaded.flow_lock;
    drop(stats_map);
    drop(loaded);
    pins.remove()?;
    drop(scratch);

    let (loss_point_per_s, first_loss_per_s) = report::loss_point(&steps);
    let event_bytes = std::mem::size_of::<VerdictEvent>() as u64;
    let machine = Machine::this();
    Ok(EventsReport {
        producer_max_per_s: steps
            .iter()
            .filter(|s| s.offered_per_s.is_none())
            .map(|s| s.achieved_per_s)
            .reduce(f64::max),
        loss_point_per_s,
        first_loss_per_s,
        loss_reached: first_loss_per_s.is_some(),
        ring_bytes,
        event_bytes,
        ring_record_bytes: report::record_bytes(event_bytes),
        ring_capacity_events: ring_bytes / report::record_bytes(event_bytes),
        poll_ms: options.poll_ms,
        paper_loss_point_per_s: report::paper_loss_point_per_s(ring_bytes, event_bytes, options.poll_ms),
        paper_loss_point_with_reader_per_s: report::paper_loss_point_with_reader_per_s(
            ring_bytes / report::record_bytes(event_bytes),
            options.poll_ms,
            reader.events_per_busy_s,
        ),
        step_ms: options.step_ms,
        events_written: reader.events,
        reader,
        verdict_changes: totals.verdict_changes,
        events_lost: totals.events_lost,
        events_file_bytes,
        sample_line: shared.sample.lock().ok().and_then(|s| s.clone()),
        model_id: workbench_flow::model::id_string(tree.header.model_id),
        flow_lock,
        probe_stats,
        pin_dir: dir.display().to_string(),
        kernel: machine.kernel.clone(),
        machine,
        steps,
    })
}

fn stats_names(
    stats_map: &PerCpuArray<MapData, u64>,
) -> Result<std::collections::BTreeMap<&'static str, u64>> {
    let by_index = (0..stats::COUNT)
        .map(|index| sum(stats_map, index))
        .collect::<Result<Vec<u64>>>()?;
    Ok(stats::named(&by_index).collect())
}

/// Every offered rate in turn; after each, waits until the reader wrote every event the probe
/// did not lose.
fn run_steps(
    options: &Options,
    fd: std::os::fd::BorrowedFd<'_>,
    stats_map: &PerCpuArray<MapData, u64>,
    shared: &Shared,
) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let mut next_flow = 0u64;
    let step_time = Duration::from_millis(options.step_ms);
    for &rate in &options.rates {
        workbench_kernel::lifecycle::check()?;
        let before = counters(stats_map)?;
        let written_before = shared.written.load(Ordering::Acquire);
        shared.max_turn.store(0, Ordering::Release);
        let (new_flows, took) = produce(fd, rate, step_time, &mut next_flow)?;
        let after = counters(stats_map)?;
        let (changes, lost) = (
            after.verdict_changes - before.verdict_changes,
            after.events_lost - before.events_lost,
        );
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        let written = loop {
            let written = shared.written.load(Ordering::Acquire) - written_before;
            if written + lost >= changes {
                break written;
            }
            if shared.done.load(Ordering::Acquire) {
                fail!(Measure, "the event reader stopped before writing every event");
            }
            if Instant::now() >= deadline {
                fail!(
                    Measure,
                    "the reader wrote {written} of the {} events not lost within {} s",
                    changes - lost,
                    DRAIN_TIMEOUT.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let producer_s = took.as_secs_f64();
        steps.push(Step {
            offered_per_s: rate,
            new_flows,
            producer_ms: producer_s * 1000.0,
            achieved_per_s: new_flows as f64 / producer_s,
            evaluations: after.evaluations - before.evaluations,
            verdict_changes: changes,
            events_lost: lost,
            flow_insert_failed: after.flow_insert_failed - before.flow_insert_failed,
            events_written: written,
            written_per_s: written as f64 / producer_s,
            lost_share: if changes == 0 {
                0.0
            } else {
                lost as f64 / changes as f64
            },
            max_events_per_turn: shared.max_turn.load(Ordering::Acquire),
        });
        let s = steps.last().expect("just pushed");
        eprintln!(
            "bench events: {} offered, {:.0}/s achieved: {} changes, {} written, {} lost",
            rate.map_or("max".to_string(), |r| format!("{r}/s")),
            s.achieved_per_s,
            changes,
            written,
            lost
        );
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::packet::{parse_ethernet, FrameBytes};

    #[test]
    fn every_flow_number_is_a_flow_of_its_own() {
        let key = |i: u64| {
            let f = flow_frame(i);
            let p = parse_ethernet(&FrameBytes {
                data: &f,
                wire_len_bytes: f.len() as u32,
            })
            .expect("parses");
            (p.src_addr, p.src_port, p.dst_port, f.len())
        };
        let (a, b, c) = (key(0), key(1), key(PORTS_PER_ADDRESS));
        assert_eq!((a.1, a.2, a.3), (1024, 53, 64));
        assert_eq!(b.1, 1025);
        assert_eq!((c.1, c.0 != a.0), (1024, true), "next address, ports again");
    }

    #[test]
    fn rates_parse_with_max_and_refuse_zero() {
        assert_eq!(
            parse_rates("1000, 5000,max"),
            Ok(vec![Some(1000), Some(5000), None])
        );
        let e = parse_rates("1000,0").expect_err("zero");
        assert!(e.contains("\"0\" is not a rate"), "{e}");
        assert!(parse_rates("fast").is_err());
    }
}
