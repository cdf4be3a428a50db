//! `workbench live --iface IF --jsonl`: every verdict change as one JSON object per line, for the
//! tools analysts already pipe into (the TUI's Live tab reads the same events). The stream starts
//! now: events an earlier replay left in the probe's ring buffer are skipped (said on stderr)
//! unless `--from-start` asks for them. Scores are P(malicious) in 0..1 (`score`), with the
//! probe's fixed-point integer beside them (`score_raw`).

use std::io::Write;
use std::time::{Duration, Instant};

use clap::Args;
use color_eyre::eyre::Result;

use workbench_kernel::events::EventReader;

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
        });
    }
    // Ctrl-C is the way to end the stream: finish the line being written, flush, exit 0.
    workbench_kernel::lifecycle::install()?;
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
    let stdout = std::io::stdout();
    loop {
        let events = reader.drain()?;
        let mut out = stdout.lock();
        for ev in events {
            writeln!(out, "{}", serde_json::to_string(&ev)?)?;
            seen += 1;
            if args.count.is_some_and(|c| seen >= c) {
                return Ok(());
            }
        }
        out.flush()?;
        drop(out);
        if deadline.is_some_and(|d| Instant::now() >= d) || workbench_kernel::lifecycle::stop_requested() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
