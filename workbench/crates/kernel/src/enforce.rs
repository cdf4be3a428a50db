//! Enforce mode drops packets: on the interface that carries this machine's default route it can
//! cut the machine off the network. Every path that writes the probe's configuration (the CLI's
//! `deploy`, the TUI's Deploy tab, `verify`) goes through [`check`], so no caller can skip it.

use crate::error::{fail, Result};
use shared::abi::MODE_ENFORCE;

/// What the user said about enforce mode on a default-route interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultRoute {
    /// Refuse enforce mode there (the default everywhere).
    Refuse,
    /// The user passed `--i-know-enforce-can-cut-this-machine-off`.
    Allow,
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

/// Refuses `mode` on `iface` when it is enforce, the interface carries the default route and the
/// user did not allow it.
pub fn check(iface: &str, mode: u32, policy: DefaultRoute) -> Result<()> {
    if mode == MODE_ENFORCE
        && policy == DefaultRoute::Refuse
        && default_route_ifaces().iter().any(|i| i == iface)
    {
        fail!(
            Refused,
            "{iface} carries this machine's default route: enforce mode could drop its own traffic; \
             pass --i-know-enforce-can-cut-this-machine-off to `workbench deploy` to do it anyway"
        );
    }
    Ok(())
}
