//! Enforce mode drops packets: on an interface that carries this machine's traffic to the outside
//! it can cut the machine off the network. Every path that writes the probe's configuration (the
//! CLI's `deploy`, the TUI's Deploy tab, `verify`, the agent) goes through [`check`], so no caller
//! can skip it.
//!
//! What carries the traffic is asked the way the kernel routes it, in the network namespace the
//! probe's interface lives in: the route it picks to a public IPv4 and IPv6 address with the
//! policy rules applied, and every default route in every routing table. Refused are those
//! interfaces and every device stacked with them, both ways and transitively (bounded): bridge
//! ports and the bridge, bond slaves and the bond, VLAN (and macvlan, ...) devices and their
//! lower device, a veth's peer in the same namespace ([`stack`]).

mod stack;

use std::path::Path;
use std::process::Command;

use crate::error::{fail, Result};
use shared::abi::MODE_ENFORCE;
use stack::{Carrier, Finding, Query};

/// What the user said about enforce mode on a default-route interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultRoute {
    /// Refuse enforce mode there (the default everywhere).
    Refuse,
    /// The user passed `--i-know-enforce-can-cut-this-machine-off`.
    Allow,
}

/// Public addresses whose route the kernel is asked for (`ip route get`): nothing is sent.
const PUBLIC_V4: &str = "1.1.1.1";
const PUBLIC_V6: &str = "2606:4700:4700::1111";

/// The end of every refusal (the agent's check replaces it with its configuration key).
const OVERRIDE: &str =
    "; pass --i-know-enforce-can-cut-this-machine-off to `workbench deploy` to do it anyway";

/// Runs `ip [-n NETNS] -j ARGS`: Err when `ip` cannot be run, None when it fails (no route).
fn ip_json(netns: Option<&str>, args: &[&str]) -> std::io::Result<Option<String>> {
    let mut cmd = Command::new("ip");
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    let out = cmd.arg("-j").args(args).output()?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// The interfaces that carry traffic to the outside in `netns` (None: this thread's own), and
/// why: every default route in every table and the kernel's route to a public address. Without
/// a working `ip -j`, the main table's default routes from /proc.
fn carriers_in(netns: Option<&str>) -> Vec<Carrier> {
    let queries: [(&[&str], Query); 4] = [
        (
            &["-4", "route", "show", "table", "all", "default"],
            Query::Defaults { v6: false },
        ),
        (
            &["-6", "route", "show", "table", "all", "default"],
            Query::Defaults { v6: true },
        ),
        (
            &["-4", "route", "get", PUBLIC_V4],
            Query::Lookup { dst: PUBLIC_V4 },
        ),
        (
            &["-6", "route", "get", PUBLIC_V6],
            Query::Lookup { dst: PUBLIC_V6 },
        ),
    ];
    let mut out = Vec::new();
    for (i, (args, query)) in queries.into_iter().enumerate() {
        match ip_json(netns, args) {
            Ok(Some(json)) => out.extend(stack::parse_routes(&json, query)),
            // No route to the address: nothing carries it.
            Ok(None) if i > 0 => {}
            // Listing the IPv4 routes never fails where `ip -j` works (an iproute2 without JSON
            // output, say): what /proc says, rather than nothing.
            Ok(None) | Err(_) => return proc_carriers(netns),
        }
    }
    out
}

/// The main table's default routes from /proc (/proc/thread-self/net: this thread's namespace,
/// where /proc/net follows the process's).
fn proc_carriers(netns: Option<&str>) -> Vec<Carrier> {
    let read = || {
        let text = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        stack::parse_proc_routes(
            &text("/proc/thread-self/net/route"),
            &text("/proc/thread-self/net/ipv6_route"),
        )
    };
    match netns {
        None => read(),
        Some(ns) => crate::lab::netns::run_in(ns, read).unwrap_or_default(),
    }
}

/// The devices of `netns` and how they are stacked (`ip -j -d link`; for this process's own
/// namespace also /sys/class/net when it lists the same devices, or alone when `ip` fails).
fn links_in(netns: Option<&str>) -> Vec<stack::Link> {
    let mut links = match ip_json(netns, &["-d", "link", "show"]) {
        Ok(Some(json)) => stack::parse_links(&json),
        _ => Vec::new(),
    };
    if netns.is_none() {
        let sysfs = stack::links_from_sysfs(Path::new("/sys/class/net"));
        let names = |l: &[stack::Link]| {
            let mut n: Vec<String> = l.iter().map(|l| l.name.clone()).collect();
            n.sort();
            n
        };
        if links.is_empty() || names(&links) == names(&sysfs) {
            links.extend(sysfs);
        }
    }
    links
}

/// Interfaces that carry a default route (IPv4 or IPv6, any routing table) or the kernel's
/// route to the outside in this network namespace; the main table's default route first.
pub fn default_route_ifaces() -> Vec<String> {
    let mut carriers = carriers_in(None);
    carriers.sort_by_key(|c| (!c.reason.is_main_default(), c.clone()));
    let mut out: Vec<String> = Vec::new();
    for c in carriers {
        if !out.contains(&c.dev) {
            out.push(c.dev);
        }
    }
    out
}

/// The named network namespaces (`/run/netns`).
fn named_namespaces() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// Where the probe on `iface` lives (pins are kept by name, so every candidate): the namespace
/// a classic attachment recorded, this one when it has `iface`, every named namespace that has
/// an interface called `iface`; this one when none does.
fn namespaces_of(iface: &str) -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = Vec::new();
    if let Ok(Some(record)) = crate::tc::read_record(&crate::bpffs::iface_dir(iface)) {
        out.push(record.netns);
    }
    if crate::probe::ifindex(iface).is_ok() {
        out.push(None);
    }
    for ns in named_namespaces() {
        let here = crate::lab::netns::run_in(&ns, || crate::probe::ifindex(iface).is_ok());
        if here.unwrap_or(false) {
            out.push(Some(ns));
        }
    }
    if out.is_empty() {
        out.push(None);
    }
    let mut unique = Vec::new();
    for ns in out {
        if !unique.contains(&ns) {
            unique.push(ns);
        }
    }
    unique
}

/// Why enforce on `iface` in `netns` could cut the machine off, if it could.
pub fn finding_in(netns: Option<&str>, iface: &str) -> Option<Finding> {
    let carriers = carriers_in(netns);
    if carriers.is_empty() {
        return None;
    }
    stack::find(iface, &carriers, &links_in(netns))
}

/// The refusal for `finding` (the first message is the one the guard always gave).
fn refusal(finding: &Finding, netns: Option<&str>) -> String {
    if netns.is_none() && finding.steps.is_empty() && finding.carrier.reason.is_main_default() {
        return format!(
            "{} carries this machine's default route: enforce mode could drop its own traffic{OVERRIDE}",
            finding.iface
        );
    }
    let place = netns
        .map(|ns| format!(" (in network namespace {ns})"))
        .unwrap_or_default();
    format!(
        "{}{place}: enforce mode on {} could drop this machine's own traffic{OVERRIDE}",
        finding.describe(),
        finding.iface
    )
}

/// Refuses `mode` on `iface` when it is enforce, the interface carries traffic to the outside
/// (or is stacked with one that does) in the namespace it lives in, and the user did not allow
/// it.
pub fn check(iface: &str, mode: u32, policy: DefaultRoute) -> Result<()> {
    if mode != MODE_ENFORCE || policy == DefaultRoute::Allow {
        return Ok(());
    }
    for ns in namespaces_of(iface) {
        if let Some(finding) = finding_in(ns.as_deref(), iface) {
            fail!(Refused, "{}", refusal(&finding, ns.as_deref()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use stack::{parse_links, parse_routes};

    #[test]
    fn refusals_name_the_interface_the_relation_and_the_flag() {
        let links = parse_links(
            r#"[{"ifname":"br0","linkinfo":{"info_kind":"bridge"}},{"ifname":"ebml-x","master":"br0"},{"ifname":"eth0"}]"#,
        );
        let main = parse_routes(
            r#"[{"dst":"default","gateway":"10.0.0.1","dev":"br0"}]"#,
            Query::Defaults { v6: false },
        );
        let simple = stack::find("br0", &main, &links).expect("test value");
        assert_eq!(
            refusal(&simple, None),
            "br0 carries this machine's default route: enforce mode could drop its own traffic; \
             pass --i-know-enforce-can-cut-this-machine-off to `workbench deploy` to do it anyway"
        );
        let port = stack::find("ebml-x", &main, &links).expect("test value");
        assert_eq!(
            refusal(&port, Some("ebml-lab")),
            "ebml-x is a port of bridge br0, which carries the default route via 10.0.0.1 \
             (in network namespace ebml-lab): enforce mode on ebml-x could drop this machine's own traffic; \
             pass --i-know-enforce-can-cut-this-machine-off to `workbench deploy` to do it anyway"
        );
        let table = parse_routes(
            r#"[{"dst":"default","gateway":"10.0.0.1","dev":"br0","table":"100"}]"#,
            Query::Defaults { v6: false },
        );
        let t = refusal(&stack::find("br0", &table, &links).expect("test value"), None);
        assert!(
            t.starts_with("br0 carries the default route of routing table 100 via 10.0.0.1:"),
            "{t}"
        );
        assert!(t.ends_with(OVERRIDE));
        assert_eq!(stack::find("eth0", &main, &links), None);
    }

    #[test]
    fn other_modes_and_the_override_pass_without_looking() {
        assert!(check("no-such-if", shared::abi::MODE_MONITOR, DefaultRoute::Refuse).is_ok());
        assert!(check("no-such-if", MODE_ENFORCE, DefaultRoute::Allow).is_ok());
    }
}
