//! `workbench replay PCAP --iface IF [--netns NS] [--pps N | --realtime | --top-speed] [--loop]`.

use std::fmt;

use color_eyre::eyre::Result;

use crate::cli::ReplayArgs;
use crate::output::Shown;
use workbench_kernel::replay::{self, Pace, ReplayOptions};

pub fn run(args: ReplayArgs) -> Result<()> {
    // Ctrl-C ends the replay (the way to stop `--loop`) with the report of what was sent.
    workbench_kernel::lifecycle::install()?;
    let pace = match (args.pps, args.top_speed) {
        (Some(n), _) => Pace::Pps(n),
        (None, true) => Pace::TopSpeed,
        (None, false) => Pace::Realtime,
    };
    let options = ReplayOptions {
        iface: args.iface,
        netns: args.netns,
        pace,
        repeat: args.repeat,
        count: args.count,
        lenient: args.lenient,
        interface: args.interface,
        allow_foreign_iface: args.allow_foreign_iface,
    };
    eprintln!("replay: {} -> {}", args.pcap.display(), options.iface);
    args.output
        .emit(&Shown::new(&replay::replay(&args.pcap, &options)?, sent))
}

fn sent(report: &replay::ReplayReport, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(
        f,
        "sent {} packets ({} bytes) out of {} in {:.3} s ({:.0} packets/s, {} pass(es)); {} refused{}{}",
        report.sent_packets,
        report.sent_bytes,
        report.iface,
        report.elapsed_ns as f64 / 1e9,
        report.achieved_pps,
        report.passes,
        report.errors,
        report
            .first_error
            .as_ref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default(),
        if report.skipped > 0 {
            format!("; {} damaged places skipped", report.skipped)
        } else {
            String::new()
        }
    )?;
    for skip in &report.skipped_unsupported {
        writeln!(f, "{skip}")?;
    }
    if report.padded_packets > 0 {
        writeln!(
            f,
            "{} frames cut by the capture's snap length were padded with zeros to their length on the wire",
            report.padded_packets
        )?;
    }
    if let Some(signal) = report.interrupted {
        writeln!(f, "stopped by {signal}")?;
    }
    Ok(())
}
