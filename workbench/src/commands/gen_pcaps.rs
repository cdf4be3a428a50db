//! `workbench gen-pcaps -o DIR [--seed N] [--json]`: the project's own captures with ground truth.

use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::Result;

use super::print_json;
use workbench_flow::gen;

#[derive(Debug, Args)]
pub struct GenPcapsArgs {
    /// Directory to write the captures and labels files into (created if missing).
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
    /// Seed of the generator: the same seed writes byte-identical files.
    #[arg(long, default_value_t = gen::DEFAULT_SEED)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: GenPcapsArgs) -> Result<()> {
    let report = gen::write_all(&args.out, args.seed)?;
    if args.json {
        print_json(&report)?;
    } else {
        for f in &report.files {
            println!(
                "{}: {} packets, {} flows ({} benign, {} attack), {} bytes; labels in {}",
                f.pcap, f.packets, f.flows, f.benign_flows, f.attack_flows, f.pcap_bytes, f.labels
            );
        }
        println!("seed {}", report.seed);
    }
    Ok(())
}
