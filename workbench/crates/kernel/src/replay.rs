//! Replaying a capture: its frames, as Ethernet, out of one interface with an AF_PACKET socket,
//! paced by a token bucket (`--pps`), by the capture's own timestamps (`--realtime`), or not at
//! all (`--top-speed`, batched with sendmmsg and bypassing the qdisc).
//!
//! Only into a replay lab (see `lab::guard`): the sender runs on a thread inside the lab's
//! namespace, after the namespace has been checked.
//!
//! `--loop` makes new flows on every pass: from the second pass on, each flow's initiator
//! address moves by the pass number x 65,536 (`capture::unique`, as tcpreplay's `--unique-ip`),
//! so the probe sees each captured flow again with its captured packets instead of one flow
//! growing by a capture's worth of packets per pass.
//!
//! A record a snap length cut goes out padded with zeros to its original length
//! (`capture::wire`): the probe counts the bytes the wire carried, as `features` does. A frame
//! longer than the interface carries (a GRO super-packet above the MTU, cut or not) is refused by
//! the socket and counted in `errors`, as it always was; one claiming more than any interface
//! carries ([`capture::wire::MAX_PADDED_FRAME_BYTES`]) is counted there without being sent.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use serde::Serialize;

use crate::lab::afpacket::FrameSender;
use crate::lab::{guard, netns};
use workbench_flow::capture::{
    self,
    unique::PassRewriter,
    wire::{Fill, MAX_PADDED_FRAME_BYTES},
};

/// Frames per sendmmsg call at top speed.
const BATCH_FRAMES: usize = 64;
/// How far a late sender may catch up in one burst: after a stall longer than this the pacing
/// restarts from now instead of sending everything it "owes" at once.
const MAX_BURST: Duration = Duration::from_millis(20);

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// A steady rate in packets per second.
    Pps(u64),
    /// The gaps between the capture's timestamps.
    Realtime,
    /// As fast as the socket takes them.
    TopSpeed,
}

impl Pace {
    fn name(self) -> &'static str {
        match self {
            Pace::Pps(_) => "pps",
            Pace::Realtime => "realtime",
            Pace::TopSpeed => "top_speed",
        }
    }
}

#[derive(Clone, Debug)]
pub struct ReplayOptions {
    pub iface: String,
    /// The namespace the interface lives in (`None`: this process's own).
    pub netns: Option<String>,
    pub pace: Pace,
    /// Start again from the first packet at the end of the file (until `count`).
    pub repeat: bool,
    /// Stop after this many packets (sent or refused).
    pub count: Option<u64>,
    /// Read damaged captures leniently (see `capture`).
    pub lenient: bool,
    /// Send only this pcapng interface's packets (`None`: every interface's).
    pub interface: Option<capture::InterfaceSelector>,
    /// Skip the safety check: the user takes responsibility for where the frames go.
    pub allow_foreign_iface: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReplayReport {
    pub pcap: PathBuf,
    pub iface: String,
    pub netns: Option<String>,
    pub mode: &'static str,
    pub sent_packets: u64,
    pub sent_bytes: u64,
    /// Frames the socket refused (for example larger than the interface MTU).
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed_ns: u64,
    pub achieved_pps: f64,
    /// Passes over the capture that sent (or tried) a packet: `--count` that ends exactly at
    /// the end of a pass makes no extra pass.
    pub passes: u64,
    /// Frames whose flow's initiator address was moved for their pass (every frame of a flow
    /// after the first pass; see `capture::unique`).
    pub rewritten_packets: u64,
    /// Frames a snap length had cut, padded with zero bytes back to their length on the wire
    /// (sent, or refused like any frame; every pass counts its own).
    pub padded_packets: u64,
    /// Damaged places skipped in lenient mode.
    pub skipped: u64,
    /// Packets skipped in lenient mode because their interface's link type is not decoded (not
    /// damage: not in `skipped`), per interface, every pass counted.
    pub skipped_unsupported: Vec<capture::UnsupportedSkip>,
    /// The signal that stopped the replay early (Ctrl-C ends `--loop`); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<&'static str>,
}

/// Paces sends: each packet has a due time; the caller sleeps until it.
struct Pacer {
    pace: Pace,
    anchor: Instant,
    /// Packets since `anchor` (Pps) or the capture timestamp at `anchor` (Realtime).
    sent_since_anchor: u64,
    first_ts_ns: Option<u64>,
}

impl Pacer {
    fn new(pace: Pace) -> Pacer {
        Pacer {
            pace,
            anchor: Instant::now(),
            sent_since_anchor: 0,
            first_ts_ns: None,
        }
    }

    /// A new pass over the file: capture time restarts.
    fn new_pass(&mut self) {
        if self.pace == Pace::Realtime {
            self.anchor = Instant::now();
            self.first_ts_ns = None;
        }
    }

    /// When the packet with capture timestamp `ts_ns` is due.
    fn due(&mut self, ts_ns: u64) -> Option<Instant> {
        let offset = match self.pace {
            Pace::TopSpeed => return None,
            Pace::Pps(rate) => {
                let k = self.sent_since_anchor as u128;
                self.sent_since_anchor += 1;
                Duration::from_nanos((k * 1_000_000_000 / rate.max(1) as u128) as u64)
            }
            Pace::Realtime => {
                let first = *self.first_ts_ns.get_or_insert(ts_ns);
                // A timestamp before the first is sent at once rather than waited for.
                Duration::from_nanos(ts_ns.saturating_sub(first))
            }
        };
        let due = self.anchor + offset;
        let now = Instant::now();
        if now > due + MAX_BURST {
            // Re-anchor: this packet is due now, the following ones relative to it.
            match self.pace {
                Pace::Pps(_) => {
                    self.anchor = now;
                    self.sent_since_anchor = 1;
                }
                Pace::Realtime => {
                    self.anchor = now;
                    self.first_ts_ns = Some(ts_ns);
                }
                Pace::TopSpeed => {}
            }
            return Some(now);
        }
        Some(due)
    }
}

/// Counts of a replay in progress.
#[derive(Default)]
struct Tally {
    sent_packets: u64,
    rewritten_packets: u64,
    padded_packets: u64,
    sent_bytes: u64,
    errors: u64,
    first_error: Option<String>,
    skipped_unsupported: Vec<capture::UnsupportedSkip>,
}

impl Tally {
    /// Adds one pass's unsupported-link-type skips, per interface.
    fn add_unsupported(&mut self, skips: Vec<capture::UnsupportedSkip>) {
        for skip in skips {
            match self
                .skipped_unsupported
                .iter_mut()
                .find(|s| s.interface == skip.interface)
            {
                Some(s) => s.packets += skip.packets,
                None => self.skipped_unsupported.push(skip),
            }
        }
    }

    fn record(&mut self, bytes: usize, result: Option<std::io::Error>) {
        match result {
            None => {
                self.sent_packets += 1;
                self.sent_bytes += bytes as u64;
            }
            Some(e) => {
                self.errors += 1;
                self.first_error
                    .get_or_insert_with(|| format!("{bytes}-byte frame: {e}"));
            }
        }
    }

    fn attempts(&self) -> u64 {
        self.sent_packets + self.errors
    }
}

/// Replays `pcap` as `options` say. Fails before sending anything when the target is not a
/// replay lab (unless allowed) or the file does not open; a damaged file stops the replay with
/// its error after the packets before the damage were sent (strict mode).
pub fn replay(pcap: &Path, options: &ReplayOptions) -> Result<ReplayReport> {
    let netns = if options.allow_foreign_iface {
        eprintln!(
            "replay: WARNING: --allow-foreign-iface: no safety check; frames from {} go out of {} as they are",
            pcap.display(),
            options.iface
        );
        options.netns.clone()
    } else {
        Some(guard::check_replay_target(
            &options.iface,
            options.netns.as_deref(),
        )?)
    };
    // Open once here so that a bad file fails before any thread or socket exists.
    drop(capture::open(pcap, options.lenient)?);
    let run = || send_all(pcap, options);
    let (tally, passes, skipped, elapsed) = match &netns {
        Some(ns) => netns::run_in(ns, run)??,
        None => run()?,
    };
    let elapsed_ns = elapsed.as_nanos().min(u64::MAX as u128) as u64;
    Ok(ReplayReport {
        pcap: pcap.to_path_buf(),
        iface: options.iface.clone(),
        netns,
        mode: options.pace.name(),
        sent_packets: tally.sent_packets,
        sent_bytes: tally.sent_bytes,
        errors: tally.errors,
        first_error: tally.first_error,
        elapsed_ns,
        achieved_pps: if elapsed_ns == 0 {
            0.0
        } else {
            tally.sent_packets as f64 * 1e9 / elapsed_ns as f64
        },
        passes,
        rewritten_packets: tally.rewritten_packets,
        padded_packets: tally.padded_packets,
        skipped,
        skipped_unsupported: tally.skipped_unsupported,
        interrupted: crate::lifecycle::stop_signal().map(|(name, _)| name),
    })
}

/// The send loop, on the thread in the interface's namespace.
fn send_all(pcap: &Path, options: &ReplayOptions) -> Result<(Tally, u64, u64, Duration)> {
    let sender = FrameSender::open(&options.iface)?;
    let top_speed = options.pace == Pace::TopSpeed;
    if top_speed {
        sender.bypass_qdisc()?;
    }
    let limit = options.count.unwrap_or(u64::MAX);
    let mut pacer = Pacer::new(options.pace);
    let mut tally = Tally::default();
    let (mut passes, mut skipped) = (0u64, 0u64);
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(BATCH_FRAMES);
    let mut rewriter = PassRewriter::new();
    let start = Instant::now();
    loop {
        rewriter.start_pass(passes);
        passes += 1;
        pacer.new_pass();
        let mut reader = capture::open(pcap, options.lenient)?.keep_interface(options.interface.clone());
        let attempts_before = tally.attempts();
        let mut limit_reached = false;
        for item in reader.by_ref() {
            if tally.attempts() + batch.len() as u64 >= limit || crate::lifecycle::stop_requested() {
                limit_reached = true;
                break;
            }
            let packet = match item {
                Ok(packet) => packet,
                Err(e) => {
                    // The frames before the damage go out, and the error says how many did.
                    flush(&sender, &mut batch, &mut tally);
                    return Err(Error::ReplayStopped {
                        sent_packets: tally.sent_packets,
                        source: e,
                    });
                }
            };
            let wire = packet.wire_frame();
            match wire.fill {
                Fill::Padded => tally.padded_packets += 1,
                Fill::TooLong => {
                    // Refused here rather than allocated: no interface carries it.
                    flush(&sender, &mut batch, &mut tally);
                    tally.record(
                        wire.wire_len_bytes as usize,
                        Some(std::io::Error::other(format!(
                            "packet {} ({} bytes captured) is longer than any interface carries \
                             (replay pads a cut frame to at most {MAX_PADDED_FRAME_BYTES} bytes); not sent",
                            packet.index,
                            packet.data.len()
                        ))),
                    );
                    continue;
                }
                Fill::Whole | Fill::HeadersCut => {}
            }
            let mut frame = wire.bytes;
            if rewriter.rewrite(&mut frame, wire.wire_len_bytes) {
                tally.rewritten_packets += 1;
            }
            if top_speed {
                batch.push(frame);
                if batch.len() == BATCH_FRAMES {
                    flush(&sender, &mut batch, &mut tally);
                }
                continue;
            }
            if let Some(due) = pacer.due(packet.ts_ns) {
                // Wakes early on Ctrl-C: a capture's gaps may be minutes long.
                if !crate::lifecycle::sleep_until(due) {
                    limit_reached = true;
                    break;
                }
            }
            let len = frame.len();
            tally.record(len, sender.send(&frame).err().map(to_io_error));
        }
        skipped += reader.skipped();
        tally.add_unsupported(reader.unsupported_skips());
        flush(&sender, &mut batch, &mut tally);
        let empty_pass = tally.attempts() == attempts_before;
        // A pass the count cut off before its first packet is not a pass (and its flows are
        // not in the probe).
        if empty_pass && passes > 1 {
            passes -= 1;
        }
        // A pass that read no packet would loop forever without sending anything.
        if limit_reached || !options.repeat || empty_pass {
            break;
        }
    }
    Ok((tally, passes, skipped, start.elapsed()))
}

fn flush(sender: &FrameSender, batch: &mut Vec<Vec<u8>>, tally: &mut Tally) {
    if batch.is_empty() {
        return;
    }
    for (frame, result) in batch.iter().zip(sender.send_batch(batch)) {
        tally.record(frame.len(), result);
    }
    batch.clear();
}

/// `FrameSender::send` reports the kernel crate's error; the tally keeps the whole message.
fn to_io_error(e: Error) -> std::io::Error {
    std::io::Error::other(format!("{e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pps_pacing_spaces_packets_by_the_rate() {
        let mut pacer = Pacer::new(Pace::Pps(1000));
        let first = pacer.due(0).expect("paced");
        let tenth = (1..10)
            .map(|_| pacer.due(0).expect("paced"))
            .last()
            .expect("nine more");
        assert_eq!(tenth - first, Duration::from_millis(9));
    }

    #[test]
    fn realtime_pacing_follows_capture_gaps_and_ignores_backward_steps() {
        let mut pacer = Pacer::new(Pace::Realtime);
        let a = pacer.due(5_000_000_000).expect("paced");
        let b = pacer.due(5_002_000_000).expect("paced");
        let c = pacer.due(4_000_000_000).expect("paced");
        assert_eq!(b - a, Duration::from_millis(2));
        assert_eq!(c, a, "a timestamp before the first is due at the start");
        assert_eq!(Pacer::new(Pace::TopSpeed).due(1), None);
    }

    #[test]
    fn a_stalled_sender_does_not_burst_everything_it_owes() {
        let mut pacer = Pacer::new(Pace::Pps(10));
        pacer.anchor -= Duration::from_secs(10); // 100 packets "owed"
                                                 // Compared with a time taken before the call, not after it: a test thread preempted
                                                 // between the call and the check must not fail it.
        let before = Instant::now();
        let due = pacer.due(0).expect("paced");
        assert!(due >= before, "re-anchored at now, not 10 s back");
        let next = pacer.due(0).expect("paced");
        assert_eq!(next - due, Duration::from_millis(100));
    }
}
