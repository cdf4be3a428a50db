//! `workbench deploy`: hot-swap a model into the probe on an interface, as the active model or
//! as the shadow, roll back, promote the shadow, and switch monitor/enforce.

use std::fmt;
use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::{bail, Result, WrapErr};
use shared::abi::MODE_ENFORCE;

use crate::output::{Output, Shown};
use serde::Serialize;
use workbench_flow::model::file;
use workbench_kernel::code::CodeReport;
use workbench_kernel::enforce::{self, DefaultRoute};
use workbench_kernel::models::{self, Clock, EngineIntent, ProbeModels};

pub use workbench_kernel::models::Mode;

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Model file (from `workbench train`); omit it to only change mode or slots.
    pub model: Option<PathBuf>,
    /// The interface the probe is attached to (`workbench probe attach --iface IF`, or a lab's `b` end).
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
    /// What the verdicts do: monitor (record only), enforce (drop malicious flows) or dry-run
    /// (count what enforce would drop).
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Never drop flows to or from this CIDR (repeatable; enforce and dry-run honour it).
    #[arg(long = "allow", value_name = "CIDR")]
    pub allow: Vec<workbench_kernel::allowlist::Cidr>,
    /// Empty the allowlist.
    #[arg(long)]
    pub clear_allowlist: bool,
    /// Evaluate at packets 1-N of every flow (0: none; with --decide-every 0 too, refused).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub decide_first: Option<u32>,
    /// Then at every M-th packet (0: never again).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub decide_every: Option<u32>,
    /// The clock that stamps packets: ns (bpf_ktime_get_ns, the default) or coarse (the timer
    /// tick's, 1-4 ms resolution, about 24 ns a packet cheaper on a VM; every time feature is
    /// then at tick resolution: docs/FEATURES.md, "The coarse clock").
    #[arg(long, value_enum)]
    pub clock: Option<Clock>,
    /// Frames the probe cannot read that enforce mode drops (dry-run counts them): `none` or
    /// a comma-separated list of the unparsed statistics' reasons, e.g.
    /// too_many_ipv6_ext_headers,ip_fragment. Such a frame joins no flow, so no model judges
    /// it, and the allowlist (which exempts flows) does not apply. Default on attach:
    /// too_many_ipv6_ext_headers (a chain that exists to hide the transport header); not_ip is
    /// never dropped. The others match ordinary traffic: ip_fragment (fragmented UDP: DNS with
    /// EDNS, IKE, NFS), unsupported_protocol (ESP, GRE, IGMP, VRRP, OSPF over IPv4),
    /// ipv6_unknown_next_header (ESP, OSPFv3), bad_ip_header (BIG TCP's zero lengths).
    #[arg(long, value_name = "REASONS|none", value_parser = models::unparsed::value_parser)]
    pub drop_unparsed: Option<u32>,
    /// How the probe scores the models: code (trees, forests and logistic models compiled to
    /// eBPF instructions and verified by the kernel; a new MODEL gets it unless the table was
    /// chosen before) or table (the map interpreter, remembered). Given alone, switches the
    /// engine of the models in place.
    #[arg(long, value_enum)]
    pub engine: Option<workbench_kernel::code::Engine>,
    /// Allow enforce mode on an interface that carries a default route (it can cut this
    /// machine off the network).
    #[arg(long)]
    pub i_know_enforce_can_cut_this_machine_off: bool,
    #[command(flatten)]
    pub output: Output,
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
        && args.decide_every.is_none()
        && args.clock.is_none()
        && args.drop_unparsed.is_none()
        && args.engine.is_none();
    if nothing_to_do {
        bail!(
            "nothing to deploy: give a MODEL file, --rollback, --promote-shadow, --clear-shadow, --mode, --clock, \
             --drop-unparsed or --engine"
        );
    }
    if let Some(clock) = args.clock {
        // Before anything changes in the kernel (write_config checks again).
        models::check_clock(&args.iface, clock.abi())?;
    }
    if args.shadow && args.model.is_none() {
        bail!("--shadow needs a MODEL file");
    }
    let policy = if args.i_know_enforce_can_cut_this_machine_off {
        DefaultRoute::Allow
    } else {
        DefaultRoute::Refuse
    };
    if args.mode == Some(Mode::Enforce) {
        // Before anything changes in the kernel (write_config checks again).
        enforce::check(&args.iface, MODE_ENFORCE, policy)?;
    }
    // Validate the model before anything touches the kernel.
    let model = match &args.model {
        Some(path) => Some(file::read(path)?),
        None => None,
    };
    let slots = ProbeModels::open(&args.iface)?;
    // The configuration this run writes, worked out and checked before anything changes
    // (write_config checks again): decision points that never decide, and a setting the
    // attached probe has no room for (attached by an older workbench), are refused while the
    // slots are still as they were.
    let new_config = if args.mode.is_some()
        || args.decide_first.is_some()
        || args.decide_every.is_some()
        || args.clock.is_some()
        || args.drop_unparsed.is_some()
    {
        let mut config = models::read_config(&args.iface)?;
        if let Some(mode) = args.mode {
            config.mode = mode.abi();
        }
        if let Some(n) = args.decide_first {
            config.decide_first_packets = n;
        }
        if let Some(m) = args.decide_every {
            config.decide_every = m;
        }
        if let Some(c) = args.clock {
            config.clock = c.abi();
        }
        if let Some(policy) = args.drop_unparsed {
            config.drop_unparsed = policy;
        }
        models::check_decision_points(config.decide_first_packets, config.decide_every)?;
        models::check_fits(&args.iface, &config)?;
        Some(config)
    } else {
        None
    };
    // The engine each slot change below ends in: a new copy of the probe goes in before the
    // slot changes when the one in place does not hold the models (and a model the verifier
    // refuses is refused then, before anything changed).
    let unchanged = match &model {
        Some(m) => {
            Some(deploy_model(&slots, &m.model, args.shadow, args.engine)? == models::Deployed::Unchanged)
        }
        None => {
            slots.set_intent(match args.engine {
                Some(engine) => EngineIntent::Set(engine),
                None => EngineIntent::Keep,
            });
            None
        }
    };
    if args.clear_allowlist {
        workbench_kernel::allowlist::clear(&args.iface)?;
    }
    if !args.allow.is_empty() {
        workbench_kernel::allowlist::add(&args.iface, &args.allow)?;
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
    if let Some(config) = new_config {
        models::write_config(&args.iface, &config, policy)?;
    }
    // The engine, when no slot changed to set it (`deploy --engine` alone).
    let slot_changed = unchanged == Some(false) || args.rollback || args.promote_shadow || args.clear_shadow;
    let code_error = slots.take_code_warning();
    let code = match args.engine {
        Some(engine) if !slot_changed => Some(slots.set_engine(engine).wrap_err_with(|| {
            format!(
                "{}: the settings changed as asked, but the {} engine could not be set",
                args.iface,
                engine.name()
            )
        })?),
        Some(_) => Some(slots.code_report()),
        None if slot_changed => Some(slots.code_report()),
        None => None,
    };
    let report = DeployReport {
        models: slots.report()?,
        unchanged,
        unchanged_note: match &model {
            Some(m) if unchanged == Some(true) => Some(format!(
                "{}: model {} is the {} model already: nothing changed{}",
                args.iface,
                workbench_flow::model::id_string(m.model.header.model_id),
                if args.shadow { "shadow" } else { "active" },
                if args.shadow {
                    ""
                } else {
                    " (the rollback target stays as it was)"
                }
            )),
            _ => None,
        },
        code,
        code_error,
    };
    args.output.emit(&Shown::new(&report, deployed))
}

/// `workbench deploy MODEL [--shadow] [--engine E] --iface IF`'s slot change, also the demo's:
/// with no engine named, the compiled code engine unless the table was chosen before (if the
/// code cannot be made, the table scores the models and `slots.take_code_warning()` says why).
pub fn deploy_model(
    slots: &ProbeModels,
    model: &shared::model::Model,
    shadow: bool,
    engine: Option<workbench_kernel::code::Engine>,
) -> Result<models::Deployed> {
    slots.set_intent(engine.map_or(EngineIntent::Default, EngineIntent::Set));
    Ok(slots.deploy_to(model, shadow)?)
}

/// What `deploy --json` prints: the slots and settings, and what the code engine made of them.
#[derive(Serialize)]
struct DeployReport {
    #[serde(flatten)]
    models: models::ModelsReport,
    /// With a MODEL: true when that model was in its slot already (active, or shadow with
    /// `--shadow`), so no slot changed and the rollback target stayed.
    #[serde(skip_serializing_if = "Option::is_none")]
    unchanged: Option<bool>,
    /// What `unchanged` means, in words (text output).
    #[serde(skip)]
    unchanged_note: Option<String>,
    /// The compiled copy (when this run chose an engine).
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<CodeReport>,
    /// Why the code engine could not take the new model or follow the slot change (the table
    /// interpreter scores the models).
    #[serde(skip_serializing_if = "Option::is_none")]
    code_error: Option<String>,
}

fn deployed(report: &DeployReport, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if let Some(note) = &report.unchanged_note {
        writeln!(f, "{note}")?;
    }
    slots_line(&report.models, f)?;
    if let Some(code) = &report.code {
        engine_line(code, f)?;
    }
    if let Some(e) = &report.code_error {
        writeln!(f, "warning: the table interpreter scores the models: {e}")?;
    }
    Ok(())
}

fn engine_line(code: &CodeReport, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let slot = |name: &str, s: &Option<workbench_kernel::code::SlotCode>| match s {
        Some(c) if c.instructions > 0 => format!(
            ", {name} {} instructions{}",
            c.instructions,
            if c.inlined { " inlined" } else { "" }
        ),
        Some(c) => c
            .table_because
            .as_ref()
            .map_or(String::new(), |why| format!(", {name}: {why}")),
        None => String::new(),
    };
    match code.program_id {
        Some(id) => writeln!(
            f,
            "engine code: program {id}, verified in {} instructions{}{}",
            code.verified_instructions.map_or("?".into(), |n| n.to_string()),
            slot("active", &code.active),
            slot("shadow", &code.shadow)
        ),
        None => writeln!(f, "engine table: the map interpreter scores the models"),
    }
}

fn slots_line(report: &models::ModelsReport, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let show = |s: &Option<models::SlotInfo>| {
        s.as_ref()
            .map_or("-".to_string(), |i| format!("{} ({})", i.model, i.kind))
    };
    writeln!(
        f,
        "{}: active {}, shadow {}, previous {}; mode {}; decisions at {}; clock {}; enforce drops unparsed: {}",
        report.iface,
        show(&report.active),
        show(&report.shadow),
        show(&report.previous),
        report.mode,
        models::decision_points_words(report.decide_first_packets, report.decide_every),
        report.clock,
        models::unparsed::listed(&report.drop_unparsed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `slots_line` as text.
    struct Slots(models::ModelsReport);

    impl fmt::Display for Slots {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            slots_line(&self.0, f)
        }
    }

    #[test]
    fn the_decision_points_read_as_probe_status_writes_them() {
        let report = models::ModelsReport {
            iface: "eth9".into(),
            active: None,
            shadow: None,
            previous: None,
            mode: "monitor",
            decide_first_packets: 32,
            decide_every: 16,
            clock: "ns",
            drop_unparsed: vec!["too_many_ipv6_ext_headers"],
            older_probe_lacks: Vec::new(),
            allowlist: Vec::new(),
            attach_mode: "tcx",
            engine: "code",
            code_program_id: None,
        };
        let line = Slots(report.clone()).to_string();
        assert!(
            line.contains("decisions at packets 1-32, then every 16th"),
            "{line}"
        );
        assert!(!line.contains("..="), "Rust range syntax in user text: {line}");
        let every = Slots(models::ModelsReport {
            decide_first_packets: 0,
            ..report
        })
        .to_string();
        assert!(every.contains("decisions at every 16th packet;"), "{every}");
        assert!(!every.contains("1-0"), "{every}");
    }
}
