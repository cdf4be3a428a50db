//! The replay safety check: captured frames carry other networks' addresses, so replay sends
//! them only into a veth whose both ends live in a namespace the project created, where nothing
//! can route them anywhere. Everything checked here is re-read from the kernel at replay time;
//! names alone prove nothing.

use std::os::unix::fs::MetadataExt;

use crate::error::{err, fail, Context, Error, Result};
use serde_json::Value;

use super::{netns, project_namespaces, PREFIX};

const HOW_TO: &str = "create a replay lab with `workbench lab up --id ID` and replay with \
                      `--iface ebml-IDa --netns ebml-ID` (or pass --allow-foreign-iface to take the risk)";

fn ns_inode(path: &str) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .context(|| format!("reading {path}"))?
        .ino())
}

/// The name of the project namespace `iface` lives in: `netns` when given, otherwise the
/// namespace this process runs in (started with `ip netns exec`), which must not be the root
/// namespace.
fn target_namespace(iface: &str, netns: Option<&str>) -> Result<String> {
    if let Some(ns) = netns {
        if !ns.starts_with(PREFIX) {
            fail!(Refused, "replay refuses namespace {ns}: it was not made by the project (no {PREFIX} prefix); {HOW_TO}");
        }
        if !project_namespaces().iter().any(|n| n == ns) {
            fail!(Refused, "replay: namespace {ns} does not exist; {HOW_TO}");
        }
        return Ok(ns.to_string());
    }
    let own = ns_inode("/proc/thread-self/ns/net")?;
    // Unreadable /proc/1 (no privileges) counts as "maybe root": refuse rather than guess.
    if ns_inode("/proc/1/ns/net").map_or(true, |init| init == own) {
        fail!(Refused, "replay refuses {iface}: it is in the root network namespace, where replayed frames could reach real networks; {HOW_TO}");
    }
    project_namespaces()
        .into_iter()
        .find(|n| ns_inode(&format!("/run/netns/{n}")).is_ok_and(|ino| ino == own))
        .ok_or_else(|| {
            err!(Refused, "replay refuses {iface}: this process runs in a network namespace the project did not create; {HOW_TO}")
        })
}

fn ip_json(args: &[&str]) -> Result<Value> {
    let stdout = super::ip_output(args)?;
    // `ip -j` prints nothing at all for an empty list on some versions.
    if stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Array(Vec::new()));
    }
    serde_json::from_slice(&stdout).map_err(|source| Error::Json {
        what: format!("ip {} printed no JSON", args.join(" ")),
        source,
    })
}

/// Checks that `iface` is a replay-lab veth end: returns the namespace to send from.
pub fn check_replay_target(iface: &str, netns: Option<&str>) -> Result<String> {
    let ns = target_namespace(iface, netns)?;
    let refuse = |why: String| {
        err!(
            Refused,
            "replay refuses {iface} in namespace {ns}: {why}; {HOW_TO}"
        )
    };

    let links = ip_json(&["-n", &ns, "-j", "-d", "link", "show"])?;
    let links = links.as_array().cloned().unwrap_or_default();
    let name = |l: &Value| l["ifname"].as_str().unwrap_or("?").to_string();
    let Some(own) = links.iter().find(|l| name(l) == iface) else {
        return Err(refuse("there is no such interface there".into()));
    };
    let is_local_veth =
        |l: &Value| l["linkinfo"]["info_kind"].as_str() == Some("veth") && l.get("link_netnsid").is_none();
    if !is_local_veth(own) {
        return Err(refuse(
            "it is not a veth whose peer lives in the same namespace".into(),
        ));
    }
    let peer = own["link"].as_str().unwrap_or("").to_string();
    let others: Vec<String> = links
        .iter()
        .map(name)
        .filter(|n| n != "lo" && n != iface && *n != peer)
        .collect();
    if !others.is_empty() {
        return Err(refuse(format!(
            "the namespace has other links ({})",
            others.join(", ")
        )));
    }
    if !iface.starts_with(PREFIX) || !peer.starts_with(PREFIX) {
        return Err(refuse(format!(
            "the veth pair {iface} <-> {peer} was not made by the project"
        )));
    }

    for family in ["-4", "-6"] {
        let routes = ip_json(&["-n", &ns, "-j", family, "route", "show", "table", "all"])?;
        for r in routes.as_array().map(Vec::as_slice).unwrap_or_default() {
            // Local, broadcast and multicast entries describe the namespace's own addresses;
            // any unicast route (ip -j omits "type" for those) leads somewhere else.
            let kind = r["type"].as_str().unwrap_or("unicast");
            if kind == "unicast" || r["dst"].as_str() == Some("default") {
                return Err(refuse(format!(
                    "it has a route to {}",
                    r["dst"].as_str().unwrap_or("?")
                )));
            }
        }
    }

    let forwarding = netns::run_in(&ns, || -> Result<Vec<String>> {
        let mut on = Vec::new();
        for path in [
            "/proc/sys/net/ipv4/ip_forward",
            "/proc/sys/net/ipv6/conf/all/forwarding",
        ] {
            match std::fs::read_to_string(path) {
                Ok(v) if v.trim() != "0" => on.push(path.to_string()),
                Ok(_) => {}
                // No IPv6 in this kernel: nothing can be forwarded over it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("reading {path}"), e)),
            }
        }
        Ok(on)
    })??;
    if !forwarding.is_empty() {
        return Err(refuse(format!("forwarding is on ({})", forwarding.join(", "))));
    }
    Ok(ns)
}
