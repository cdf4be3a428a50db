//! `workbench live --iface IF --jsonl`: every verdict change as one JSON object per line, for the
//! tools analysts already pipe into (the TUI's Live tab reads the same events). The stream starts
//! now: events an earlier replay left in the probe's ring buffer are skipped (said on stderr)
//! unless `--from-start` asks for them. Each line is an EVE-style verdict event
//! (workbench_kernel::eve; schema in docs/schema/eve-verdict.schema.json), written to stdout, to
//! a file rotated by size (`--events-file`), or to a Unix stream socket (`--events-socket`).
//! Every second the stream checks that its probe is still the one attached: when it was
//! detached, replaced or its interface deleted, it prints what the old probe left and ends with
//! an error saying so (exit 1).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use color_eyre::eyre::{bail, Result};

use workbench_kernel::eve_sink::{EventSink, SinkSpec};
use workbench_kernel::events::{EventReader, SourceGone};

#[derive(Debug, Args)]
pub struct LiveArgs {
    /// The interface the probe is attached to (`workbench probe attach --iface IF`).
    #[arg(long, value_parser = crate::argcheck::iface)]
    pub iface: String,
    /// One JSON object per verdict change (without it: the TUI's Live tab on this interface).
    #[arg(long)]
    pub jsonl: bool,
    /// With --jsonl: first print the events already waiting in the probe's ring buffer (left
    /// by earlier traffic) instead of starting from now.
    #[arg(long, requires = "jsonl")]
    pub from_start: bool,
    /// With --jsonl: append the lines to this file instead of stdout, rotated by size
    /// (FILE.1 the newest rotated file).
    #[arg(long, requires = "jsonl", conflicts_with = "events_socket")]
    pub events_file: Option<PathBuf>,
    /// With --events-file: rotate when the next line would take the file past this size.
    #[arg(long, requires = "events_file", default_value_t = 100 << 20,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub rotate_bytes: u64,
    /// With --events-file: rotated files kept (0: start the file again instead; at most 1000).
    #[arg(long, requires = "events_file", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(0..=workbench_kernel::eve_sink::MAX_ROTATE_KEEP as i64))]
    pub rotate_keep: u32,
    /// With --jsonl: send the lines to this listening Unix stream socket instead of stdout.
    #[arg(long, requires = "jsonl")]
    pub events_socket: Option<PathBuf>,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub duration_s: Option<u64>,
    /// Stop after this many events.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
}

pub fn run(args: LiveArgs) -> Result<()> {
    if !args.jsonl {
        return workbench_tui::run(workbench_tui::Config {
            iface: Some(args.iface),
            ..Default::default()
        })
        .map_err(|e| {
            super::tui::terminal_error(
                e,
                "without one, `--jsonl` streams the verdict changes as JSON lines instead",
            )
        });
    }
    // Ctrl-C is the way to end the stream: finish the line being written, flush, exit 0.
    workbench_kernel::lifecycle::install()?;
    let spec = match (args.events_file, args.events_socket) {
        (Some(path), _) => SinkSpec::File {
            path,
            max_bytes: args.rotate_bytes,
            keep: args.rotate_keep,
        },
        (None, Some(path)) => SinkSpec::Unix(path),
        (None, None) => SinkSpec::Stdout,
    };
    let mut sink = EventSink::open(&spec)?;
    let mut reader = EventReader::open(&args.iface)?;
    if !args.from_start {
        let skipped = reader.skip_backlog();
        if skipped > 0 {
            eprintln!(
                "live: skipped {skipped} earlier verdict events waiting in the probe's ring buffer (--from-start prints them)"
            );
        }
    }
    let deadline = args.duration_s.map(|s| Instant::now() + Duration::from_secs(s));
    let mut seen = 0u64;
    let mut next_check = Instant::now() + SOURCE_CHECK;
    loop {
        // Checked before the drain, so the events the probe wrote before it went are written.
        let gone = if Instant::now() >= next_check {
            next_check = Instant::now() + SOURCE_CHECK;
            reader.check_source()
        } else {
            None
        };
        loop {
            let events = reader.drain()?;
            let more = !events.is_empty();
            for ev in events {
                sink.write_line(&ev.to_line())?;
                seen += 1;
                if args.count.is_some_and(|c| seen >= c) {
                    return Ok(sink.flush()?);
                }
            }
            // Once the probe is gone, what it left is read to the end before the stream ends.
            if gone.is_none() || !more {
                break;
            }
        }
        sink.flush()?;
        if let Some(gone) = gone {
            bail!("{}", source_gone(&args.iface, &gone));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) || workbench_kernel::lifecycle::stop_requested() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How often a running stream checks that its probe is still the one attached.
const SOURCE_CHECK: Duration = Duration::from_secs(1);

/// The error a stream ends with when its probe went away: it names what happened and what to do,
/// and the exit is non-zero, so a supervisor (systemd, a SIEM shipper's wrapper) restarts it and
/// the gap shows. Reconnecting in place was not chosen: the new probe starts with an empty flow
/// table and maybe other models, and a stream that silently crossed that would hide it.
fn source_gone(iface: &str, gone: &SourceGone) -> String {
    match gone {
        SourceGone::Detached => format!(
            "the probe on {iface} was detached while `live` read it (`probe detach`, `lab down` or `probe \
             cleanup`): no more verdict events can come (those it left were printed); restart `workbench \
             live` once a probe is attached again ({})",
            workbench_kernel::probe::not_attached_fix(iface)
        ),
        SourceGone::InterfaceGone => format!(
            "{iface} was deleted while `live` read it (its namespace or its veth peer removed): the kernel \
             detached the probe with it, so no more verdict events can come (those it left were printed); \
             remove what the probe left with `workbench probe detach --iface {iface}`"
        ),
        SourceGone::Replaced => format!(
            "the probe on {iface} was replaced (detached and attached again) while `live` read it: the new \
             probe writes its verdict events to a ring of its own (the old one's were printed); restart \
             `workbench live --iface {iface}` to follow it"
        ),
    }
}
