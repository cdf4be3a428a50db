//! `workbench verify PCAP --model MODEL`: kernel vs userspace parity, flow by flow.

use std::fmt;
use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::{bail, Result};
use shared::abi::ProbeConfig;

use crate::output::{Output, Shown};
use workbench_kernel::verify::{verify, ProbeEnd, VerifyOptions, VerifyReport};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The capture to replay (pcap or pcapng; `workbench gen-pcaps -o DIR` writes samples).
    pub pcap: PathBuf,
    /// The model file to load into the probe (written by `workbench train`).
    #[arg(long)]
    pub model: PathBuf,
    /// Replay rate; the kernel must see every frame, so keep it moderate.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub pps: u64,
    /// Decision points: packets 1-N of every flow ...
    #[arg(long, default_value_t = ProbeConfig::default().decide_first_packets,
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub decide_first: u32,
    /// ... then every M-th packet (0: never again).
    #[arg(long, default_value_t = ProbeConfig::default().decide_every,
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub decide_every: u32,
    /// The probe's clock (`deploy --clock`): the twin replays the kernel's own timestamps
    /// either way, so parity holds with both.
    #[arg(long, value_enum, default_value_t = workbench_kernel::models::Clock::Ns)]
    pub clock: workbench_kernel::models::Clock,
    /// Id of the lab namespace to create (ebml-<id>).
    #[arg(long, value_parser = crate::argcheck::lab_id)]
    pub lab_id: Option<String>,
    /// How the probe scores the model: code (compiled, the default, as `deploy` does) or
    /// table (the map interpreter).
    #[arg(long, value_enum, default_value_t = workbench_kernel::code::Engine::Code)]
    pub engine: workbench_kernel::code::Engine,
    /// How the probe hooks into the lab's interface: TCX, classic tc (cls_bpf) or auto.
    #[arg(long, value_enum, default_value_t = workbench_kernel::tc::AttachMode::Auto)]
    pub attach: workbench_kernel::tc::AttachMode,
    /// Attach the probe where the frames arrive (outermost VLAN tag in metadata) or at the
    /// sending end's egress (every tag in the frame).
    #[arg(long, value_enum, default_value_t = ProbeEnd::Receive)]
    pub probe_at: ProbeEnd,
    /// Turn the receiving veth's rx-vlan-offload on or off for the replay (default: as the
    /// kernel made it).
    #[arg(
        long,
        value_name = "on|off",
        value_parser = clap::builder::TypedValueParser::map(
            clap::builder::PossibleValuesParser::new(["on", "off"]),
            |v| v == "on"
        )
    )]
    pub rx_vlan_offload: Option<bool>,
    /// Replay and compare only this pcapng interface's packets: its id (0, 1, ... in the
    /// file's order) or name (`eth0`). Without it every interface's packets are replayed.
    #[arg(long, value_name = "ID|NAME")]
    pub interface: Option<workbench_flow::capture::InterfaceSelector>,
    #[command(flatten)]
    pub output: Output,
}

pub fn run(args: VerifyArgs) -> Result<()> {
    // Ctrl-C/SIGTERM unwind through the lab and probe guards instead of leaving them.
    workbench_kernel::lifecycle::install()?;
    let opts = VerifyOptions {
        pcap: args.pcap,
        model: args.model,
        pps: args.pps,
        config: ProbeConfig {
            decide_first_packets: args.decide_first,
            decide_every: args.decide_every,
            clock: args.clock.abi(),
            ..ProbeConfig::default()
        },
        lab_id: args
            .lab_id
            .unwrap_or_else(|| format!("v{}", std::process::id() % 100_000)),
        attach: args.attach,
        probe_at: args.probe_at,
        rx_vlan_offload: args.rx_vlan_offload,
        engine: args.engine,
        interface: args.interface,
    };
    let report = verify(&opts)?;
    args.output.emit(&Shown::new(&report, compared))?;
    if !report.mismatches.is_empty() || report.parse_mismatches > 0 {
        bail!(
            "{} of {} flows differ between kernel and userspace ({} parse mismatches)",
            report.mismatches.len(),
            report.flows,
            report.parse_mismatches
        );
    }
    Ok(())
}

fn compared(report: &VerifyReport, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(
        f,
        "probe at the {} end ({}), rx-vlan-offload {}",
        match report.probe_at {
            ProbeEnd::Receive => "receiving",
            ProbeEnd::Send => "sending",
        },
        report.probe_iface,
        if report.rx_vlan_offload { "on" } else { "off" }
    )?;
    writeln!(
        f,
        "engine {}: {} instructions of compiled model{}, {} evaluations by the code",
        report.engine,
        report.code_instructions,
        if report.code_inlined { " (inlined)" } else { "" },
        report.code_evaluations
    )?;
    writeln!(
        f,
        "{}: {} flows in the kernel, {} compared, {} identical ({} malicious); {} packets sent, {} recorded, {} parse mismatches; probe attached as {}",
        report.pcap,
        report.flows,
        report.compared,
        report.identical,
        report.malicious_flows,
        report.sent_packets,
        report.kernel_records,
        report.parse_mismatches,
        report.attach_mode
    )?;
    writeln!(
        f,
        "{} packets cut by the capture's snap length sent padded with zeros to their length on the wire",
        report.padded_packets
    )?;
    for m in report.mismatches.iter().take(20) {
        writeln!(
            f,
            "  differs ({}): {:?} kernel {:?} userspace {:?}",
            m.differs.join(", "),
            m.flow,
            m.kernel,
            m.userspace
        )?;
    }
    Ok(())
}
