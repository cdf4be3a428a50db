//! `workbench lab up|down`: the replay lab.

use color_eyre::eyre::{bail, Result};

use super::print_json;
use crate::cli::LabCommand;
use workbench_kernel::caps;
use workbench_kernel::lab::{replay_lab, ReplayLab};
use workbench_kernel::lifecycle::claims::{Claim, Object};

pub fn run(cmd: LabCommand) -> Result<()> {
    if !caps::has(caps::CAP_SYS_ADMIN) || !caps::has(caps::CAP_NET_ADMIN) {
        bail!("lab commands need CAP_SYS_ADMIN (network namespaces) and CAP_NET_ADMIN (links); run as root");
    }
    match cmd {
        LabCommand::Up { id, json } => {
            // Made whole or not at all: Ctrl-C or a kill half-way must not leave half a lab
            // unannounced (the claim is dropped once the lab is handed over).
            workbench_kernel::lifecycle::install()?;
            let mut claim = Claim::new("lab up");
            claim.add(Object::Lab { id: id.clone() });
            let lab = ReplayLab::create(&id)?;
            workbench_kernel::lifecycle::check()?;
            let info = lab.keep();
            drop(claim);
            if json {
                return print_json(&info);
            }
            println!(
                "lab up: namespace {} with veth {} -> {} (MTU {}); replay with: workbench replay PCAP --iface {} --netns {}",
                info.netns, info.send_iface, info.receive_iface, info.mtu, info.send_iface, info.netns
            );
            Ok(())
        }
        LabCommand::Down { id, json } => {
            let report = replay_lab::down(id.as_deref())?;
            if json {
                return print_json(&report);
            }
            if report.removed_namespaces.is_empty() && report.removed_links.is_empty() {
                println!("lab down: nothing to remove");
            } else {
                println!(
                    "lab down: removed namespaces [{}] and links [{}]",
                    report.removed_namespaces.join(", "),
                    report.removed_links.join(", ")
                );
            }
            Ok(())
        }
    }
}
