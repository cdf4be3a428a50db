//! Whether each interface's probe still feeds the agent, checked every second: a probe whose
//! interface was deleted (a NIC, bond or VLAN recreated, a veth's peer removed) sees no traffic
//! while its pins stay, and the agent stayed "ready" with `interface_up` 1, blind. A gone source
//! is one log line, `/readyz` 503 with the reason and `workbench_agent_interface_up` 0; when
//! the deleted interface is back, the probe is attached to it again (its stale pins removed
//! first), with the configured model.

use std::time::{Duration, Instant};

use workbench_flow::model::file;
use workbench_kernel::events::SourceGone;

use super::{log, probes, Agent};

/// How often the sources are checked.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The reason, for the log and `/readyz`, with what to do.
pub fn words(iface: &str, gone: &SourceGone) -> String {
    match gone {
        SourceGone::InterfaceGone => format!(
            "{iface} was deleted: the probe's link (or tc filters) went with it and sees no traffic; the agent attaches \
             the probe again when {iface} is back (or remove what is left with `workbench probe detach \
             --iface {iface}` and restart the agent)"
        ),
        SourceGone::Detached => format!(
            "the probe on {iface} was detached by another command (`probe detach`, `lab down`, `probe \
             cleanup`): no verdicts come from it; restart the agent to attach it again"
        ),
        SourceGone::Replaced => format!(
            "another probe was attached on {iface} after this agent's was removed: the agent no longer \
             reads its events; restart the agent to take it over"
        ),
    }
}

impl Agent {
    /// Every [`CHECK_EVERY`]: each interface's source checked, a change logged once.
    pub(super) fn check_sources(&mut self) {
        if Instant::now() < self.next_source_check {
            return;
        }
        self.next_source_check = Instant::now() + CHECK_EVERY;
        for iface in self.ifaces.keys().cloned().collect::<Vec<_>>() {
            let now = self.events.source_gone(&iface);
            // Once deleted, a probe whose re-attach failed half-way (pins removed) is still
            // the deleted interface's: tried again, not reported as detached.
            let was_deleted = self.gone.get(&iface) == Some(&SourceGone::InterfaceGone);
            let now = if was_deleted && now.is_some() {
                Some(SourceGone::InterfaceGone)
            } else {
                now
            };
            if now == Some(SourceGone::InterfaceGone)
                && workbench_kernel::probe::ifindex(&iface).is_ok()
                && self.reattach(&iface)
            {
                continue;
            }
            if now == self.gone.get(&iface).cloned() {
                continue;
            }
            match now {
                Some(g) => {
                    log(format!("{iface}: {}", words(&iface, &g)));
                    self.gone.insert(iface, g);
                }
                None => {
                    log(format!("{iface}: the probe feeds the agent again"));
                    self.gone.remove(&iface);
                }
            }
        }
    }

    /// The deleted interface is back: the stale pins removed and the probe attached to it
    /// again, as at a start. True when that worked (the failure is logged once per reason).
    fn reattach(&mut self, iface: &str) -> bool {
        self.events.remove_reader(iface);
        let outcome = probes::detach(iface).and_then(|_| {
            let m = file::read(&self.cfg.model).map_err(|e| format!("{e:#}"))?;
            self.ifaces.remove(iface);
            self.bring_up(iface, &m.model)
        });
        match outcome {
            Ok(()) => {
                log(format!(
                    "{iface}: the interface is back: probe attached to it again with the configured model (the flow table starts empty)"
                ));
                self.gone.remove(iface);
                self.reattach_error = None;
                true
            }
            Err(e) => {
                if self.reattach_error.as_deref() != Some(e.as_str()) {
                    log(format!(
                        "{iface}: attaching the probe again failed (tried every second): {e}"
                    ));
                    self.reattach_error = Some(e);
                }
                // Still configured: the next check tries again.
                self.ifaces
                    .entry(iface.to_string())
                    .or_insert(probes::Origin::Attached);
                false
            }
        }
    }
}
