//! The probe on each of the agent's interfaces, through the same library calls as `probe
//! attach`, `deploy` and `probe detach`. A probe already attached and pinned on an interface (a
//! restarted agent's, or one left with `on_exit = "keep"`) is reused, never attached twice.

use shared::abi::{ProbeConfig, SLOT_ACTIVE, SLOT_PREVIOUS};
use shared::model::Model;
use workbench_flow::model::id_string;
use workbench_kernel::enforce::DefaultRoute;
use workbench_kernel::models::{self, ProbeModels};
use workbench_kernel::{bpffs, probe};

use super::config::AgentConfig;

type Result<T> = std::result::Result<T, String>;

fn say(e: impl std::fmt::Display) -> String {
    format!("{e:#}")
}

/// Whether the probe is attached to `iface` and pinned.
pub fn attached(iface: &str) -> bool {
    probe::is_attached(iface)
}

/// How the probe came to run on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Attached,
    Reused,
}

/// Attaches the probe to `iface`, or reuses the one pinned there (when it is alive).
pub fn ensure_attached(iface: &str, cfg: &AgentConfig) -> Result<(Origin, u32)> {
    // Pins whose TCX link lost its interface (deleted and made again since) feed nothing: not
    // reused, removed below as a half-made probe's are.
    if attached(iface) && !workbench_kernel::events::interface_gone(iface) {
        let id = probe::pinned_program_id(iface).map_err(say)?;
        return Ok((Origin::Reused, id));
    }
    if bpffs::iface_dir(iface).exists() {
        // Pins without an attachment: a start killed half-way. Ours to clear (the agent owns
        // the interfaces it is configured for), as `probe detach` would.
        probe::detach(iface).map_err(|e| format!("{iface}: removing a half-made probe: {}", say(e)))?;
    }
    let report = probe::attach(
        iface,
        &probe::AttachOptions {
            flow_table_entries: cfg.flow_table,
            mode: cfg.attach.mode(),
            ..Default::default()
        },
    )
    .map_err(|e| format!("attaching the probe to {iface}: {}", say(e)))?;
    Ok((Origin::Attached, report.program_id))
}

/// Applies `change` (the mode, the clock) to the probe's configuration on `iface` and writes it
/// if that changed anything; true when it did. The rest of the configuration (the decision
/// points) stays as it is; `write_config` refuses what it refuses for every writer (enforce on
/// the default route, the coarse clock on a probe without it).
pub fn set_config(iface: &str, policy: DefaultRoute, change: impl FnOnce(&mut ProbeConfig)) -> Result<bool> {
    let before = models::read_config(iface).map_err(say)?;
    let mut config = before;
    change(&mut config);
    if config == before {
        return Ok(false);
    }
    models::write_config(iface, &config, policy).map_err(say)?;
    Ok(true)
}

/// Sets the policy for frames the probe cannot read; the line to log when it changed or could
/// not be set. Not fatal: a probe attached by an older workbench has no room for it (and drops
/// none), which the line says, as it says an engine that is unavailable.
pub fn set_drop_unparsed(iface: &str, policy: DefaultRoute, drop_unparsed: u32) -> Option<String> {
    let words = models::unparsed::words(drop_unparsed);
    match set_config(iface, policy, |c| c.drop_unparsed = drop_unparsed) {
        Ok(true) => Some(format!("{iface}: enforce drops unparsed frames: {words}")),
        Ok(false) => None,
        Err(e) => Some(format!(
            "{iface}: unparsed frames not dropped as configured ({words}): {e}"
        )),
    }
}

/// The model id in `slot` on `iface`.
pub fn slot_model(iface: &str, slot: u32) -> Result<Option<String>> {
    let slots = ProbeModels::open(iface).map_err(say)?;
    Ok(slots
        .read_slot(slot)
        .map_err(say)?
        .map(|(_, m)| id_string(m.header.model_id)))
}

pub fn active_model(iface: &str) -> Result<Option<String>> {
    slot_model(iface, SLOT_ACTIVE)
}

/// Turns the code engine on or off as configured; true when that changed something. Slot
/// changes after it (a deploy, a promotion) compile their models while it is on.
pub fn ensure_engine(iface: &str, engine: workbench_kernel::code::Engine) -> Result<bool> {
    let on = workbench_kernel::code::in_use(&workbench_kernel::bpffs::iface_dir(iface));
    if on == (engine == workbench_kernel::code::Engine::Code) {
        return Ok(false);
    }
    ProbeModels::open(iface)
        .and_then(|s| s.set_engine(engine))
        .map_err(say)?;
    Ok(true)
}

/// Makes `model` the active one unless it already is (a restart, a reload that did not change
/// it). True when it deployed.
pub fn ensure_active(iface: &str, model: &Model) -> Result<bool> {
    if active_model(iface)?.as_deref() == Some(id_string(model.header.model_id).as_str()) {
        return Ok(false);
    }
    ProbeModels::open(iface)
        .and_then(|s| s.deploy(model))
        .map_err(say)?;
    Ok(true)
}

/// At a restart that reused the probe: the active model was promoted over `model` (the
/// configured one, now in the previous slot, as a promotion leaves it), so it stays: a restart
/// must not undo a promotion. Returns the promoted model's id then.
pub fn promoted_over(iface: &str, model: &Model) -> Result<Option<String>> {
    let configured = id_string(model.header.model_id);
    let active = active_model(iface)?;
    if active.is_none() || active.as_deref() == Some(configured.as_str()) {
        return Ok(None);
    }
    Ok(
        (slot_model(iface, SLOT_PREVIOUS)?.as_deref() == Some(configured.as_str()))
            .then_some(active)
            .flatten(),
    )
}

pub fn deploy_shadow(iface: &str, model: &Model) -> Result<()> {
    ProbeModels::open(iface)
        .and_then(|s| s.deploy_shadow(model))
        .map_err(say)
}

pub fn clear_shadow(iface: &str) -> Result<()> {
    ProbeModels::open(iface)
        .and_then(|s| s.clear_shadow())
        .map_err(say)
}

pub fn promote(iface: &str) -> Result<()> {
    ProbeModels::open(iface)
        .and_then(|s| s.promote_shadow())
        .map_err(say)
}

/// The promotion rule's counters of the probe on `iface`.
pub fn decision_counters(iface: &str) -> Result<super::promotion::Counts> {
    let stats = workbench_kernel::flows::read_stats(iface).map_err(say)?;
    Ok(super::promotion::Counts::of_stats(&stats))
}

/// What `probe detach` does: the links (or filters and the qdisc the probe added), then the pins.
pub fn detach(iface: &str) -> Result<String> {
    let report = probe::detach(iface).map_err(say)?;
    let mut said = format!(
        "detached the probe from {iface} ({}; removed {} pins",
        report.attach_mode,
        report.removed_pins.len()
    );
    if !report.tc.removed_filters.is_empty() {
        said.push_str(&format!(", {} cls_bpf filters", report.tc.removed_filters.len()));
    }
    if !report.tc.removed_qdiscs.is_empty() {
        said.push_str(", the clsact qdisc it had added");
    }
    said.push(')');
    Ok(said)
}
