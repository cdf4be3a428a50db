//! `workbench features PCAP... -o OUT [--decision-at N | --every-packet] [--labels FILE]
//! [--lenient] [--interface ID|NAME] [--vlan-id] [--json]`: a feature table (CSV or Parquet) from captures.

use std::fmt;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::{eyre, Result};
use indicatif::{ProgressBar, ProgressStyle};

use crate::output::{Output, Shown};
use workbench_data::features::labels::{parse_utc_offset, CicOptions};
use workbench_data::features::{extract, DecisionPoint, FeaturesOptions, FeaturesReport};
use workbench_data::progress::Progress;
use workbench_flow::capture::InterfaceSelector;

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("decision").args(["decision_at", "every_packet"]))]
pub struct FeaturesArgs {
    /// Captures (pcap or pcapng), processed in order, each with its own flow table.
    #[arg(required = true)]
    pub pcaps: Vec<PathBuf>,
    /// Output table: .csv or .parquet.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Features at packet N of each flow (shorter flows: at their last packet). Default: at
    /// the flow's last packet.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub decision_at: Option<u32>,
    /// One row per packet, with the features after that packet.
    #[arg(long)]
    pub every_packet: bool,
    /// Labels: a rules file (.toml), a CIC-IDS2017 labelled-flows CSV or the generator's labels
    /// CSV (.csv; told apart by the header).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// UTC offset of the CIC CSV's timestamps (CIC-IDS2017: New Brunswick, -03:00).
    #[arg(long, default_value = "-03:00", allow_hyphen_values = true)]
    pub cic_utc_offset: String,
    /// Slack in seconds around a CIC row's timestamp when matching flows.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(i64).range(0..=86_400))]
    pub cic_window_s: i64,
    /// Skip damaged capture records (and the packets of an interface whose link type is not
    /// decoded) instead of stopping at the first one.
    #[arg(long)]
    pub lenient: bool,
    /// Read only this pcapng interface's packets: its id (0, 1, ... in the file's order) or its
    /// name (`eth0`). Without it every interface's packets go into one flow table.
    #[arg(long, value_name = "ID|NAME")]
    pub interface: Option<InterfaceSelector>,
    /// Add the opt-in `vlan_id` column (the outermost VLAN tag of each flow's first packet): a
    /// host artefact, left out unless asked for.
    #[arg(long)]
    pub vlan_id: bool,
    #[command(flatten)]
    pub print: Output,
}

pub fn run(args: FeaturesArgs) -> Result<()> {
    let decision = match (args.decision_at, args.every_packet) {
        (Some(n), _) => DecisionPoint::Packet(n),
        (None, true) => DecisionPoint::EveryPacket,
        (None, false) => DecisionPoint::LastPacket,
    };
    let utc_offset_s = parse_utc_offset(&args.cic_utc_offset).map_err(|e| eyre!("--cic-utc-offset: {e}"))?;
    let opts = FeaturesOptions {
        pcaps: args.pcaps,
        output: args.output,
        decision,
        labels: args.labels,
        cic: CicOptions {
            utc_offset_s,
            window_s: args.cic_window_s,
        },
        lenient: args.lenient,
        interface: args.interface.clone(),
        opt_in: if args.vlan_id {
            shared::features::OPT_IN_FEATURES
        } else {
            0
        },
    };
    let progress = if args.print.json || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let style = ProgressStyle::with_template(
            "{spinner} features [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .map_err(|e| eyre!("progress bar template: {e}"))?
        .progress_chars("=> ");
        ProgressBar::new(0).with_style(style)
    };
    let result = extract(&opts, &BarProgress(progress.clone()));
    progress.finish_and_clear();
    let report = result?;
    if args.interface.is_none() {
        super::warn_several_interfaces(&report.interfaces);
    }
    if let Some(labels) = &report.labels {
        eprintln!("{labels}");
    }
    args.print.emit(&Shown::new(&report, extracted))
}

fn extracted(report: &FeaturesReport, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let unparsed: u64 = report.unparsed.values().sum();
    writeln!(
        f,
        "{}: {} rows, {} flows ({}) from {} packets ({} unparsed{}) in {:.3} s ({} packets/s)",
        report.output,
        report.rows,
        report.flows,
        report.decision,
        report.packets,
        unparsed,
        if report.skipped_records > 0 {
            format!(", {} damaged places skipped", report.skipped_records)
        } else {
            String::new()
        },
        report.elapsed_ns as f64 / 1e9,
        report.packets_per_s
    )?;
    for skip in &report.skipped_unsupported {
        writeln!(f, "{skip}")?;
    }
    Ok(())
}

/// The library's progress (bytes of capture read) on an indicatif bar.
struct BarProgress(ProgressBar);

impl Progress for BarProgress {
    fn set_total(&self, total: u64) {
        self.0.set_length(total);
    }

    fn advance(&self, done: u64) {
        self.0.inc(done);
    }

    fn message(&self, text: &str) {
        self.0.set_message(text.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bar ends full: its length is the capture's size, and the steps reach it.
    #[test]
    fn the_features_bar_ends_at_the_captures_size() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let pcap = root.join("sample-pcaps/honest.pcap");
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = FeaturesOptions {
            pcaps: vec![pcap.clone()],
            output: dir.path().join("t.csv"),
            decision: DecisionPoint::LastPacket,
            labels: None,
            cic: CicOptions::default(),
            lenient: false,
            interface: None,
            opt_in: 0,
        };
        let bar = ProgressBar::hidden();
        extract(&opts, &BarProgress(bar.clone())).expect("features");
        let size = std::fs::metadata(&pcap).expect("sample capture").len();
        assert_eq!((bar.position(), bar.length()), (size, Some(size)));
        assert_eq!(bar.message(), pcap.display().to_string());
    }
}
