//! The replay lab: one namespace `ebml-<id>` holding *both* ends of a veth pair,
//! `ebml-<id>a` (replay sends here) and `ebml-<id>b` (the frames arrive here).
//!
//! Captures carry foreign addresses, so replayed frames must not be able to reach any stack
//! that might route them: with both ends in one namespace that has no addresses, no routes,
//! forwarding off and IPv6 disabled, a frame can only travel from `a` to `b` and die there.
//! Both ends get the largest veth MTU so that captured frames above 1500 bytes (offloaded
//! segments are common in captures) are delivered rather than refused.

use std::process::Command;

use crate::error::{fail, Context, Error, Result};
use serde::Serialize;

use super::{disable_ipv6, ip, netns, project_links, project_namespaces, PREFIX};

/// The largest MTU a veth accepts (ETH_MAX_MTU).
pub const REPLAY_MTU: u32 = 65_535;

/// What `lab up` reports.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayLabInfo {
    pub id: String,
    pub netns: String,
    /// Replay into this end (`--iface`).
    pub send_iface: String,
    /// The frames arrive at this end.
    pub receive_iface: String,
    pub mtu: u32,
}

/// A replay lab that removes itself when dropped, unless [`ReplayLab::keep`] hands it over to
/// the user (`workbench lab up`).
#[derive(Debug)]
pub struct ReplayLab {
    pub info: ReplayLabInfo,
    removed: bool,
}

/// Checks an id: it becomes part of interface names, which have at most 15 bytes.
pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 9 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        fail!(
            Invalid,
            "lab id {id:?} must be 1-9 ASCII letters or digits (interface names have 15 bytes)"
        );
    }
    Ok(())
}

impl ReplayLab {
    pub fn create(id: &str) -> Result<ReplayLab> {
        validate_id(id)?;
        let info = ReplayLabInfo {
            id: id.to_string(),
            netns: format!("{PREFIX}{id}"),
            send_iface: format!("{PREFIX}{id}a"),
            receive_iface: format!("{PREFIX}{id}b"),
            mtu: REPLAY_MTU,
        };
        if project_namespaces().contains(&info.netns) {
            fail!(
                State,
                "namespace {} already exists; remove it with `workbench lab down --id {id}`",
                info.netns
            );
        }
        ip(&["netns", "add", &info.netns])?;
        // From here on, Drop removes whatever exists.
        let mut lab = ReplayLab { info, removed: false };
        lab.configure()?;
        Ok(lab)
    }

    fn configure(&mut self) -> Result<()> {
        let i = &self.info;
        let mtu = REPLAY_MTU.to_string();
        ip(&[
            "-n",
            &i.netns,
            "link",
            "add",
            &i.send_iface,
            "mtu",
            &mtu,
            "type",
            "veth",
            "peer",
            "name",
            &i.receive_iface,
            "mtu",
            &mtu,
        ])?;
        let (a, b) = (i.send_iface.clone(), i.receive_iface.clone());
        netns::run_in(&i.netns, move || -> Result<()> {
            // Before the links go up, so no IPv6 link-local address is ever assigned.
            disable_ipv6(&a)?;
            disable_ipv6(&b)?;
            // A new namespace starts with forwarding off; writing it makes that a fact rather
            // than a kernel default that `net.core.devconf_inherit_init_net` could change.
            std::fs::write("/proc/sys/net/ipv4/ip_forward", b"0")
                .context(|| "turning IPv4 forwarding off in the lab namespace")
        })??;
        ip(&["-n", &i.netns, "link", "set", &i.send_iface, "up"])?;
        ip(&["-n", &i.netns, "link", "set", &i.receive_iface, "up"])?;
        Ok(())
    }

    /// Leaves the lab in place after this value is gone (for `workbench lab up`).
    pub fn keep(mut self) -> ReplayLabInfo {
        self.removed = true;
        self.info.clone()
    }

    /// Removes the veth pair and the namespace. Safe to call twice.
    pub fn remove(&mut self) -> Result<()> {
        if self.removed {
            return Ok(());
        }
        self.removed = true;
        remove_namespace(&self.info.netns).map(|_| ())
    }
}

impl Drop for ReplayLab {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            eprintln!("warning: replay lab cleanup: {e:#}");
        }
    }
}

/// Links inside namespace `ns` (from `ip -j link show`).
fn links_in(ns: &str) -> Result<Vec<String>> {
    let out = Command::new("ip")
        .args(["-n", ns, "-j", "link", "show"])
        .output()
        .context(|| "running `ip` (iproute2)")?;
    if !out.status.success() {
        fail!(
            Command,
            "ip -n {ns} link show: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let links: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|source| Error::Json {
        what: format!("ip -n {ns} -j link show printed no JSON"),
        source,
    })?;
    Ok(links
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l["ifname"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// Deletes the project's links inside `ns` (synchronously: a namespace's devices would
/// otherwise vanish only when the kernel gets round to it), then the namespace. Returns the
/// links removed; a namespace that does not exist is not an error.
fn remove_namespace(ns: &str) -> Result<Vec<String>> {
    if !project_namespaces().iter().any(|n| n == ns) {
        return Ok(Vec::new());
    }
    let mut removed = Vec::new();
    let mut first_error = None;
    for link in links_in(ns)?.into_iter().filter(|l| l.starts_with(PREFIX)) {
        // Deleting one end of a veth removes its peer too, which may already be gone.
        if links_in(ns)?.contains(&link) {
            match ip(&["-n", ns, "link", "del", &link]) {
                Ok(()) => removed.push(link),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        } else {
            removed.push(link);
        }
    }
    if let Err(e) = ip(&["netns", "del", ns]) {
        first_error.get_or_insert(e);
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(removed),
    }
}

/// Whether `iface` is an interface of lab `id`: `ebml-<id>` and one letter (the replay lab's `a`
/// and `b`, the older kernel-test lab's `h` and `n`). `lab down --id ID` detaches the probe from
/// these before it removes the lab.
pub fn is_lab_iface(id: &str, iface: &str) -> bool {
    iface.len() == PREFIX.len() + id.len() + 1
        && iface
            .strip_prefix(PREFIX)
            .is_some_and(|rest| rest.starts_with(id))
}

/// What `lab down` removed.
#[derive(Debug, Default, Serialize)]
pub struct DownReport {
    pub removed_namespaces: Vec<String>,
    pub removed_links: Vec<String>,
    /// Interfaces of the lab the probe was still attached to: detached (pins removed) first, so
    /// that its program and maps (tens of MB for the flow table) do not outlive the lab.
    pub detached_probes: Vec<String>,
}

/// Removes lab `id` (namespace `ebml-<id>`, its links, and a root-namespace link of the older
/// kernel-test lab with the same id), or with `None` every namespace and root-namespace link
/// whose name carries the project prefix, anyone's (`lab down --all`, `probe cleanup`).
/// Removing what is not there is not an error.
pub fn down(id: Option<&str>) -> Result<DownReport> {
    let mut report = DownReport::default();
    let (namespaces, root_links): (Vec<String>, Vec<String>) = match id {
        Some(id) => {
            validate_id(id)?;
            let ns = format!("{PREFIX}{id}");
            let links = project_links()
                .into_iter()
                .filter(|l| l.len() == ns.len() + 1 && l.starts_with(&ns))
                .collect();
            (vec![ns], links)
        }
        None => (project_namespaces(), project_links()),
    };
    // Before the namespaces go: a classic (cls_bpf) attachment is removed inside its namespace.
    let lab_iface = |iface: &str| match id {
        Some(id) => is_lab_iface(id, iface),
        None => iface.starts_with(PREFIX),
    };
    for iface in crate::bpffs::pinned_ifaces().into_iter().filter(|i| lab_iface(i)) {
        crate::probe::detach(&iface)
            .context(|| format!("detaching the probe from {iface} before removing its lab"))?;
        report.detached_probes.push(iface);
    }
    for link in root_links {
        // The peer of an earlier entry may have taken this one with it.
        if project_links().contains(&link) {
            ip(&["link", "del", &link])?;
        }
        report.removed_links.push(link);
    }
    for ns in namespaces {
        if !project_namespaces().contains(&ns) {
            continue;
        }
        report.removed_links.extend(remove_namespace(&ns)?);
        report.removed_namespaces.push(ns);
    }
    Ok(report)
}
