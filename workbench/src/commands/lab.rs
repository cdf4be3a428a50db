//! `workbench lab up|down`: the replay lab.

use std::fmt;

use color_eyre::eyre::{bail, Result};

use crate::cli::LabCommand;
use crate::output::Shown;
use workbench_kernel::caps;
use workbench_kernel::lab::{replay_lab, ReplayLab};
use workbench_kernel::lifecycle::claims::{Claim, Object};

pub fn run(cmd: LabCommand) -> Result<()> {
    if !caps::has(caps::CAP_SYS_ADMIN) || !caps::has(caps::CAP_NET_ADMIN) {
        bail!("lab commands need CAP_SYS_ADMIN (network namespaces) and CAP_NET_ADMIN (links); run as root");
    }
    match cmd {
        LabCommand::Up { id, output } => {
            // Made whole or not at all: Ctrl-C or a kill half-way must not leave half a lab
            // unannounced (the claim is dropped once the lab is handed over).
            workbench_kernel::lifecycle::install()?;
            let mut claim = Claim::new("lab up");
            claim.add(Object::Lab { id: id.clone() });
            let lab = ReplayLab::create(&id)?;
            workbench_kernel::lifecycle::check()?;
            let info = lab.keep();
            drop(claim);
            output.emit(&Shown::new(&info, up))
        }
        LabCommand::Down { id, all, output } => {
            let report = replay_lab::down((!all).then_some(id.as_str()))?;
            output.emit(&Shown::new(&report, down))
        }
    }
}

fn up(info: &replay_lab::ReplayLabInfo, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(
        f,
        "lab up: namespace {} with veth {} -> {} (MTU {}); replay with: workbench replay PCAP --iface {} --netns {}",
        info.netns, info.send_iface, info.receive_iface, info.mtu, info.send_iface, info.netns
    )
}

fn down(report: &replay_lab::DownReport, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if !report.detached_probes.is_empty() {
        writeln!(
            f,
            "lab down: detached the probe from [{}]",
            report.detached_probes.join(", ")
        )?;
    }
    if report.removed_namespaces.is_empty() && report.removed_links.is_empty() {
        writeln!(f, "lab down: nothing to remove")
    } else {
        writeln!(
            f,
            "lab down: removed namespaces [{}] and links [{}]",
            report.removed_namespaces.join(", "),
            report.removed_links.join(", ")
        )
    }
}
