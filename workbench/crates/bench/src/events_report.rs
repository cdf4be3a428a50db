//! `bench events`: what one run reports, and the arithmetic on it (pacing, the loss point, the
//! ring's capacity on paper, the figures), kept apart from the kernel work so it is unit-tested.

use serde::Serialize;

use super::figure::Figure;
use super::machine::Machine;

/// The header the kernel puts before every ring buffer record (kernel/bpf/ringbuf.c).
pub const RING_HEADER_BYTES: u64 = 8;
/// The target: a host at 10,000 new flows per second loses no verdict event (docs/FLEET.md).
pub const TARGET_NEW_FLOWS_PER_S: f64 = 10_000.0;

/// New flows a producer at `rate_per_s` has offered `elapsed_ns` after it started.
pub fn due(rate_per_s: u64, elapsed_ns: u128) -> u64 {
    u64::try_from(u128::from(rate_per_s) * elapsed_ns / 1_000_000_000).unwrap_or(u64::MAX)
}

/// Bytes one record of `payload_bytes` takes in a BPF ring buffer: the header, the payload
/// rounded up to 8 bytes.
pub fn record_bytes(payload_bytes: u64) -> u64 {
    (RING_HEADER_BYTES + payload_bytes).next_multiple_of(8)
}

/// The highest steady rate a reader that empties the ring every `poll_ms` can take without loss,
/// on paper: the ring's capacity in events, once per turn.
pub fn paper_loss_point_per_s(ring_bytes: u64, event_bytes: u64, poll_ms: u64) -> f64 {
    let capacity = ring_bytes / record_bytes(event_bytes).max(1);
    capacity as f64 * 1000.0 / poll_ms.max(1) as f64
}

/// The same with the reader's own time counted: a turn is the sleep plus the time to write out
/// what it found, at `reader_events_per_s`. In a steady state a turn finds `n = R (T + n / v)`
/// events; the ring overflows once `n` passes its capacity `C`, so at `R = C / (T + C / v)`.
pub fn paper_loss_point_with_reader_per_s(
    capacity_events: u64,
    poll_ms: u64,
    reader_events_per_s: f64,
) -> Option<f64> {
    if reader_events_per_s <= 0.0 || !reader_events_per_s.is_finite() {
        return None;
    }
    let c = capacity_events as f64;
    Some(c / (poll_ms as f64 / 1000.0 + c / reader_events_per_s))
}

/// One offered rate, held for a fixed time, and what became of its events.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Step {
    /// The rate asked for, new flows per second; null: as fast as the producer goes.
    pub offered_per_s: Option<u64>,
    /// New flows sent through the probe (one BPF_PROG_TEST_RUN each).
    pub new_flows: u64,
    pub producer_ms: f64,
    /// New flows per second actually offered (`new_flows` over `producer_ms`).
    pub achieved_per_s: f64,
    /// Deltas of the probe's statistics over the step.
    pub evaluations: u64,
    pub verdict_changes: u64,
    pub events_lost: u64,
    pub flow_insert_failed: u64,
    /// Lines the reader wrote to the events file for this step's events.
    pub events_written: u64,
    /// `events_written` over `producer_ms`.
    pub written_per_s: f64,
    /// `events_lost / verdict_changes`.
    pub lost_share: f64,
    /// The most events one turn of the reader found waiting during the step (the ring holds
    /// `ring_capacity_events`).
    pub max_events_per_turn: u64,
}

impl Step {
    pub fn lossless(&self) -> bool {
        self.events_lost == 0
    }
}

/// Where the loss starts among `steps` (in the order run, rates increasing): the achieved rate of
/// the highest step with no loss below the first step that lost events, and that first lossy
/// step's rate. With no loss at all, the highest achieved rate and `None`: the loss point is
/// above what the producer could offer.
pub fn loss_point(steps: &[Step]) -> (Option<f64>, Option<f64>) {
    let first_loss = steps.iter().position(|s| !s.lossless());
    let below = &steps[..first_loss.unwrap_or(steps.len())];
    let lossless = below
        .iter()
        .map(|s| s.achieved_per_s)
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
    (lossless, first_loss.map(|i| steps[i].achieved_per_s))
}

/// The reader's part: what draining the ring into EVE lines in a file costs.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ReaderStats {
    pub turns: u64,
    /// Turns that found events.
    pub busy_turns: u64,
    pub events: u64,
    /// Time spent draining, formatting and writing (the sleeps between turns left out).
    pub busy_ms: f64,
    /// Sustained throughput: `events` over `busy_ms`.
    pub events_per_busy_s: f64,
    pub line_bytes_total: u64,
    /// One EVE line with its newline.
    pub line_bytes_mean: f64,
    pub line_bytes_min: u64,
    pub line_bytes_max: u64,
}

impl ReaderStats {
    /// Counts one line of `bytes` bytes (newline included).
    pub fn line(&mut self, bytes: u64) {
        self.events += 1;
        self.line_bytes_total += bytes;
        self.line_bytes_min = if self.events == 1 {
            bytes
        } else {
            self.line_bytes_min.min(bytes)
        };
        self.line_bytes_max = self.line_bytes_max.max(bytes);
    }

    /// Fills the means once the run is over.
    pub fn finish(&mut self) {
        if self.events > 0 {
            self.line_bytes_mean = self.line_bytes_total as f64 / self.events as f64;
        }
        if self.busy_ms > 0.0 {
            self.events_per_busy_s = self.events as f64 * 1000.0 / self.busy_ms;
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EventsReport {
    pub steps: Vec<Step>,
    /// Highest new-flow rate with no event lost (see [`loss_point`]); `loss_reached` false: no
    /// step lost any, so the loss point is above this.
    pub loss_point_per_s: Option<f64>,
    pub first_loss_per_s: Option<f64>,
    pub loss_reached: bool,
    pub ring_bytes: u64,
    pub event_bytes: u64,
    pub ring_record_bytes: u64,
    pub ring_capacity_events: u64,
    /// The reader's sleep between turns (the agent's and `live --jsonl`'s turn).
    pub poll_ms: u64,
    /// [`paper_loss_point_per_s`]: capacity / turn.
    pub paper_loss_point_per_s: f64,
    /// [`paper_loss_point_with_reader_per_s`] at the reader's measured throughput.
    pub paper_loss_point_with_reader_per_s: Option<f64>,
    pub step_ms: u64,
    pub reader: ReaderStats,
    /// The unpaced step's achieved rate (the producer's ceiling), when one ran.
    pub producer_max_per_s: Option<f64>,
    pub verdict_changes: u64,
    pub events_written: u64,
    pub events_lost: u64,
    /// Bytes of the events file (and its rotated copy) at the end: every line the reader counted.
    pub events_file_bytes: u64,
    /// The first line written, as written.
    pub sample_line: Option<String>,
    pub model_id: String,
    pub flow_lock: bool,
    pub probe_stats: std::collections::BTreeMap<&'static str, u64>,
    pub pin_dir: String,
    pub kernel: String,
    pub machine: Machine,
}

pub fn figures(r: &EventsReport) -> Vec<Figure> {
    let mut out = Vec::new();
    if let Some(lp) = r.loss_point_per_s {
        let name = "events_loss_point_new_flows_per_s";
        let f = Figure::versus(
            name,
            lp,
            "new_flows_per_s",
            "ring capacity / reader turn (on paper)",
            r.paper_loss_point_per_s,
            true,
        );
        let met = lp >= TARGET_NEW_FLOWS_PER_S;
        out.push(f.with_target(">= 10000 new flows/s with no event lost", met));
    }
    if let Some(max) = r.producer_max_per_s {
        out.push(Figure::versus(
            "events_reader_events_per_s",
            r.reader.events_per_busy_s,
            "events_per_s",
            "producer: new flows/s through BPF_PROG_TEST_RUN, unpaced",
            max,
            true,
        ));
    }
    out.push(Figure::absolute(
        "events_eve_line_bytes",
        r.reader.line_bytes_mean,
        "bytes",
        false,
    ));
    out
}

pub fn notes(r: &EventsReport) -> Vec<String> {
    vec![format!(
        "{} steps of {} ms; ring {} bytes = {} events of {} bytes; reader turn {} ms; {}",
        r.steps.len(),
        r.step_ms,
        r.ring_bytes,
        r.ring_capacity_events,
        r.ring_record_bytes,
        r.poll_ms,
        if r.loss_reached {
            format!(
                "first loss at {:.0} new flows/s",
                r.first_loss_per_s.unwrap_or(0.0)
            )
        } else {
            "no step lost an event: the loss point is above the highest rate offered".to_string()
        }
    )]
}

/// The report as a table.
pub fn render(r: &EventsReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "verdict events: new flows through a private probe (BPF_PROG_TEST_RUN) -> EVENTS ring ({} bytes, {} events) -> reader every {} ms -> EVE lines in a file",
        r.ring_bytes, r.ring_capacity_events, r.poll_ms
    );
    let _ = writeln!(
        out,
        "{:>10} {:>12} {:>10} {:>12} {:>10} {:>10} {:>10} {:>10}",
        "offered/s", "achieved/s", "flows", "changes", "written", "lost", "written/s", "max/turn"
    );
    for s in &r.steps {
        let _ = writeln!(
            out,
            "{:>10} {:>12.0} {:>10} {:>12} {:>10} {:>10} {:>10.0} {:>10}",
            s.offered_per_s.map_or("max".to_string(), |o| o.to_string()),
            s.achieved_per_s,
            s.new_flows,
            s.verdict_changes,
            s.events_written,
            s.events_lost,
            s.written_per_s,
            s.max_events_per_turn
        );
    }
    let _ = writeln!(
        out,
        "loss point: {} new flows/s{} (on paper: {:.0}/s = {} events per {} ms turn)",
        r.loss_point_per_s.map_or("?".to_string(), |v| format!("{v:.0}")),
        match (r.loss_reached, r.first_loss_per_s) {
            (true, Some(f)) => format!(", first loss at {f:.0}"),
            _ => " or more (no step lost an event)".to_string(),
        },
        r.paper_loss_point_per_s,
        r.ring_capacity_events,
        r.poll_ms
    );
    if let Some(p) = r.paper_loss_point_with_reader_per_s {
        let _ = writeln!(
            out,
            "on paper with this reader's throughput (turn = {} ms sleep + writing out what it found): {p:.0} new flows/s",
            r.poll_ms
        );
    }
    let _ = writeln!(
        out,
        "reader: {:.0} events/s while busy ({} events, {:.1} ms busy); EVE line {:.0} bytes mean ({}-{}){}",
        r.reader.events_per_busy_s,
        r.reader.events,
        r.reader.busy_ms,
        r.reader.line_bytes_mean,
        r.reader.line_bytes_min,
        r.reader.line_bytes_max,
        r.producer_max_per_s.map_or(String::new(), |p| format!(
            "; producer ceiling {p:.0} new flows/s"
        ))
    );
    let _ = writeln!(
        out,
        "totals: {} verdict changes = {} written + {} lost; kernel {}, {} CPUs",
        r.verdict_changes, r.events_written, r.events_lost, r.kernel, r.machine.nproc
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(rate: f64, lost: u64) -> Step {
        Step {
            offered_per_s: Some(rate as u64),
            new_flows: 0,
            producer_ms: 0.0,
            achieved_per_s: rate,
            evaluations: 0,
            verdict_changes: 0,
            events_lost: lost,
            flow_insert_failed: 0,
            events_written: 0,
            written_per_s: 0.0,
            lost_share: 0.0,
            max_events_per_turn: 0,
        }
    }

    #[test]
    fn due_counts_flows_offered_so_far() {
        assert_eq!(due(10_000, 0), 0);
        assert_eq!(due(10_000, 1_000_000), 10, "1 ms at 10,000/s");
        assert_eq!(due(10_000, 1_500_000_000), 15_000);
        assert_eq!(due(3, 999_999_999), 2, "rounds down");
    }

    #[test]
    fn ring_records_and_the_paper_loss_point() {
        // A 72-byte VerdictEvent behind the 8-byte header: 80 bytes, 3,276 in 256 KiB.
        assert_eq!(record_bytes(72), 80);
        assert_eq!(record_bytes(73), 88);
        let lp = paper_loss_point_per_s(256 * 1024, 72, 20);
        assert_eq!(lp, 3276.0 * 50.0);
    }

    #[test]
    fn paper_loss_point_counts_the_readers_time() {
        // 3,276 events, 20 ms sleep, a reader of 95,000 events/s: a turn of 20 + 34.5 ms.
        let lp = paper_loss_point_with_reader_per_s(3276, 20, 95_000.0).expect("finite");
        assert!((lp - 60_127.5).abs() < 1.0, "{lp}");
        // An infinitely fast reader leaves the ring-only figure.
        let fast = paper_loss_point_with_reader_per_s(3276, 20, f64::MAX).expect("finite");
        assert!((fast - 163_800.0).abs() < 1e-6, "{fast}");
        assert_eq!(paper_loss_point_with_reader_per_s(3276, 20, 0.0), None);
    }

    #[test]
    fn loss_point_is_the_highest_lossless_rate_below_the_first_loss() {
        let steps = [step(1e3, 0), step(1e4, 0), step(1e5, 3), step(2e5, 0)];
        assert_eq!(loss_point(&steps), (Some(1e4), Some(1e5)));
        // No loss: the highest rate, and no first loss.
        assert_eq!(loss_point(&steps[..2]), (Some(1e4), None));
        // Loss at once: no lossless rate.
        assert_eq!(loss_point(&steps[2..3]), (None, Some(1e5)));
        // An unpaced step that fell short of a paced one does not lower the point.
        let steps = [step(5e4, 0), step(4e4, 0), step(6e4, 1)];
        assert_eq!(loss_point(&steps), (Some(5e4), Some(6e4)));
    }

    #[test]
    fn reader_stats_mean_and_throughput() {
        let mut r = ReaderStats::default();
        for b in [300, 310, 320] {
            r.line(b);
        }
        r.busy_ms = 2.0;
        r.finish();
        assert_eq!(
            (r.line_bytes_min, r.line_bytes_max, r.line_bytes_mean),
            (300, 320, 310.0)
        );
        assert_eq!(r.events_per_busy_s, 1500.0);
    }
}
