//! `workbench gen-pcaps -o DIR [--seed N] [--vlan ID | --qinq OUTER,INNER] [--json]`: the
//! project's own captures with ground truth, untagged or with every frame VLAN-tagged.

use std::fmt;
use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::Result;

use crate::output::{Output, Shown};
use workbench_flow::gen;

#[derive(Debug, Args)]
pub struct GenPcapsArgs {
    /// Directory to write the captures and labels files into (created if missing).
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
    /// Seed of the generator: the same seed writes byte-identical files.
    #[arg(long, default_value_t = gen::DEFAULT_SEED)]
    pub seed: u64,
    /// Tag every frame with this 802.1Q VLAN id (1-4094), as a trunk port carries it.
    #[arg(long, value_name = "ID", value_parser = gen::vlan::parse_vlan_id, conflicts_with = "qinq")]
    pub vlan: Option<u16>,
    /// Tag every frame with an 802.1ad outer and an 802.1Q inner tag (QinQ), e.g. 100,200.
    #[arg(long, value_name = "OUTER,INNER", value_parser = gen::vlan::VlanTags::parse_qinq)]
    pub qinq: Option<gen::vlan::VlanTags>,
    #[command(flatten)]
    pub output: Output,
}

pub fn run(args: GenPcapsArgs) -> Result<()> {
    let mut report = gen::write_all(&args.out, args.seed)?;
    if let Some(tags) = args.vlan.map(gen::vlan::VlanTags::Dot1q).or(args.qinq) {
        gen::vlan::tag_written(&mut report, tags)?;
    }
    args.output.emit(&Shown::new(&report, written))
}

fn written(report: &gen::GenReport, out: &mut fmt::Formatter<'_>) -> fmt::Result {
    for f in &report.files {
        writeln!(
            out,
            "{}: {} packets, {} flows ({} benign, {} attack), {} bytes; labels in {}",
            f.pcap, f.packets, f.flows, f.benign_flows, f.attack_flows, f.pcap_bytes, f.labels
        )?;
    }
    writeln!(out, "seed {}", report.seed)
}
