//! `workbench deploy`: hot-swap a model into the probe on an interface, as the active model or
//! as the shadow, roll back, promote the shadow, and switch monitor/enforce.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use color_eyre::eyre::{bail, Result};
use shared::abi::{MODE_DRY_RUN, MODE_ENFORCE, MODE_MONITOR};

use super::print_json;
use crate::kernel::models::{self, ProbeModels};
use crate::model::file;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Every packet passes; verdicts are recorded (the default).
    Monitor,
    /// Packets of flows whose active verdict is malicious are dropped.
    Enforce,
    /// Count what enforce would drop (statistic `would_drop`), pass everything.
    DryRun,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Model file (from `workbench train`); omit it to only change mode or slots.
    pub model: Option<PathBuf>,
    #[arg(long, value_parser = crate::argcheck::iface)]
    pub iface: String,
    /// Run the model beside the active one without acting; count disagreements.
    #[arg(long, conflicts_with_all = ["rollback", "promote_shadow"])]
    pub shadow: bool,
    /// Restore the previous active model in one step (again: undo).
    #[arg(long, conflicts_with_all = ["model", "promote_shadow", "clear_shadow"])]
    pub rollback: bool,
    /// Make the shadow model the active one.
    #[arg(long, conflicts_with_all = ["model", "clear_shadow"])]
    pub promote_shadow: bool,
    /// Remove the shadow model.
    #[arg(long, conflicts_with = "model")]
    pub clear_shadow: bool,
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Never drop flows to or from this CIDR (repeatable; enforce and dry-run honour it).
    #[arg(long = "allow", value_name = "CIDR")]
    pub allow: Vec<crate::kernel::allowlist::Cidr>,
    /// Empty the allowlist.
    #[arg(long)]
    pub clear_allowlist: bool,
    /// Evaluate at packets 1..=N of every flow.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub decide_first: Option<u32>,
    /// Then at every M-th packet (0: never again).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub decide_every: Option<u32>,
    /// Allow enforce mode on an interface that carries a default route (it can cut this
    /// machine off the network).
    #[arg(long)]
    pub i_know_enforce_can_cut_this_machine_off: bool,
    #[arg(long)]
    pub json: bool,
}

/// Interfaces that carry a default route (IPv4 or IPv6) in this network namespace.
pub fn default_route_ifaces() -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(text) = std::fs::read_to_string("/proc/net/route") {
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() > 7 && cols[1] == "00000000" && cols[7] == "00000000" {
                out.push(cols[0].to_string());
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string("/proc/net/ipv6_route") {
        for line in text.lines() {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() == 10 && cols[0].chars().all(|c| c == '0') && cols[1] == "00" && cols[9] != "lo" {
                out.push(cols[9].to_string());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

pub fn run(args: DeployArgs) -> Result<()> {
    let nothing_to_do = args.model.is_none()
        && !args.rollback
        && !args.promote_shadow
        && !args.clear_shadow
        && args.mode.is_none()
        && args.allow.is_empty()
        && !args.clear_allowlist
        && args.decide_first.is_none()
        && args.decide_every.is_none();
    if nothing_to_do {
        bail!("nothing to deploy: give a MODEL file, --rollback, --promote-shadow, --clear-shadow or --mode");
    }
    if args.shadow && args.model.is_none() {
        bail!("--shadow needs a MODEL file");
    }
    if args.mode == Some(Mode::Enforce)
        && !args.i_know_enforce_can_cut_this_machine_off
        && default_route_ifaces().contains(&args.iface)
    {
        bail!(
            "{} carries this machine's default route: enforce mode could drop its own traffic; \
             pass --i-know-enforce-can-cut-this-machine-off to do it anyway",
            args.iface
        );
    }
    // Validate the model before anything touches the kernel.
    let model = match &args.model {
        Some(path) => Some(file::read(path)?),
        None => None,
    };
    let slots = ProbeModels::open(&args.iface)?;
    match (&model, args.shadow) {
        (Some(m), true) => slots.deploy_shadow(&m.model)?,
        (Some(m), false) => slots.deploy(&m.model)?,
        (None, _) => {}
    }
    if args.clear_allowlist {
        crate::kernel::allowlist::clear(&args.iface)?;
    }
    if !args.allow.is_empty() {
        crate::kernel::allowlist::add(&args.iface, &args.allow)?;
    }
    if args.rollback {
        slots.rollback()?;
    }
    if args.promote_shadow {
        slots.promote_shadow()?;
    }
    if args.clear_shadow {
        slots.clear_shadow()?;
    }
    if args.mode.is_some() || args.decide_first.is_some() || args.decide_every.is_some() {
        let mut config = models::read_config(&args.iface)?;
        if let Some(mode) = args.mode {
            config.mode = match mode {
                Mode::Monitor => MODE_MONITOR,
                Mode::Enforce => MODE_ENFORCE,
                Mode::DryRun => MODE_DRY_RUN,
            };
        }
        if let Some(n) = args.decide_first {
            config.decide_first_packets = n;
        }
        if let Some(m) = args.decide_every {
            config.decide_every = m;
        }
        models::write_config(&args.iface, &config)?;
    }
    let report = slots.report()?;
    if args.json {
        return print_json(&report);
    }
    let show = |s: &Option<models::SlotInfo>| {
        s.as_ref()
            .map_or("-".to_string(), |i| format!("{} ({})", i.model, i.kind))
    };
    println!(
        "{}: active {}, shadow {}, previous {}; mode {}; decisions at packets 1..={} then every {}",
        report.iface,
        show(&report.active),
        show(&report.shadow),
        show(&report.previous),
        report.mode,
        report.decide_first_packets,
        report.decide_every
    );
    Ok(())
}
