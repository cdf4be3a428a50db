//! The pure part of the enforce guard: which interfaces carry a namespace's traffic to the
//! outside (parsed from `ip -j` output), which devices are stacked with them (bridge ports and
//! masters, bond slaves, VLAN and other upper/lower devices, veth peers: from `ip -j -d link` or
//! a sysfs `class/net` directory), and the shortest chain of relations from the probe's
//! interface to such a carrier.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use serde_json::Value;

/// How far the relations are followed (bridge port of a bond slave of a VLAN ... is 3).
pub const MAX_DEPTH: usize = 8;
/// At most this many devices are visited.
const MAX_VISITED: usize = 1024;

/// Why an interface carries traffic to the outside.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// A default route (`ip route show table all default`); `table` None: the main table.
    Default {
        table: Option<String>,
        v6: bool,
        via: Option<String>,
    },
    /// The route the kernel picks to a public address, rules applied (`ip route get DST`).
    Lookup { dst: String, via: Option<String> },
}

impl Reason {
    /// The main table's default route (the case the guard always caught).
    pub fn is_main_default(&self) -> bool {
        matches!(self, Reason::Default { table: None, .. })
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let via = |v: &Option<String>| v.as_ref().map(|g| format!(" via {g}")).unwrap_or_default();
        match self {
            Reason::Default { table, v6, via: gw } => write!(
                f,
                "the {}default route{}{}",
                if *v6 { "IPv6 " } else { "" },
                table
                    .as_ref()
                    .map(|t| format!(" of routing table {t}"))
                    .unwrap_or_default(),
                via(gw)
            ),
            Reason::Lookup { dst, via: gw } => write!(
                f,
                "the route the kernel picks to {dst} (rules applied){}",
                via(gw)
            ),
        }
    }
}

/// An interface that carries traffic to the outside, and why.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Carrier {
    pub dev: String,
    pub reason: Reason,
}

/// What is asked: a default-route listing or a route lookup to `dst`.
#[derive(Clone, Copy, Debug)]
pub enum Query<'a> {
    Defaults { v6: bool },
    Lookup { dst: &'a str },
}

/// The carriers in the JSON output of `ip -j route show table all default` or `ip -j route get
/// DST` (multipath routes give one per next hop; unreachable, blackhole and prohibit routes and
/// `lo` none). Text that is not such JSON gives none.
pub fn parse_routes(json: &str, query: Query) -> Vec<Carrier> {
    let routes: Vec<Value> = serde_json::from_str(json).unwrap_or_default();
    let mut out = Vec::new();
    for route in &routes {
        let kind = route.get("type").and_then(Value::as_str).unwrap_or("unicast");
        if matches!(kind, "unreachable" | "blackhole" | "prohibit" | "throw" | "local") {
            continue;
        }
        let table = route
            .get("table")
            .and_then(|t| {
                t.as_str()
                    .map(str::to_string)
                    .or_else(|| t.as_u64().map(|n| n.to_string()))
            })
            .filter(|t| t != "main" && t != "254");
        let hops: Vec<&Value> = match route.get("nexthops").and_then(Value::as_array) {
            Some(hops) => hops.iter().collect(),
            None => vec![route],
        };
        for hop in hops {
            let Some(dev) = hop.get("dev").and_then(Value::as_str) else {
                continue;
            };
            if dev == "lo" {
                continue;
            }
            let via = hop
                .get("gateway")
                .or_else(|| hop.get("via").and_then(|v| v.get("host")))
                .and_then(Value::as_str)
                .map(str::to_string);
            let reason = match query {
                Query::Defaults { v6 } => Reason::Default {
                    table: table.clone(),
                    v6,
                    via,
                },
                Query::Lookup { dst } => Reason::Lookup {
                    dst: dst.to_string(),
                    via,
                },
            };
            out.push(Carrier {
                dev: dev.to_string(),
                reason,
            });
        }
    }
    out
}

/// The carriers in `/proc/net/route` and `/proc/net/ipv6_route` text (the main table only: what
/// is left when `ip` cannot be run).
pub fn parse_proc_routes(route: &str, ipv6_route: &str) -> Vec<Carrier> {
    let mut out = Vec::new();
    for line in route.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() > 7 && cols[1] == "00000000" && cols[7] == "00000000" {
            let gw = u32::from_str_radix(cols[2], 16).ok().filter(|&g| g != 0);
            out.push(Carrier {
                dev: cols[0].to_string(),
                reason: Reason::Default {
                    table: None,
                    v6: false,
                    via: gw.map(|g| std::net::Ipv4Addr::from(g.to_ne_bytes()).to_string()),
                },
            });
        }
    }
    for line in ipv6_route.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() == 10 && cols[0].chars().all(|c| c == '0') && cols[1] == "00" && cols[9] != "lo" {
            out.push(Carrier {
                dev: cols[9].to_string(),
                reason: Reason::Default {
                    table: None,
                    v6: true,
                    via: None,
                },
            });
        }
    }
    out
}

/// One network device and what it is stacked with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub altnames: Vec<String>,
    /// `bridge`, `bond`, `vlan`, `veth`, ... (None: a plain device).
    pub kind: Option<String>,
    /// The bridge, bond, team or VRF this device is enslaved to.
    pub master: Option<String>,
    /// Devices this one is stacked on (a VLAN's or macvlan's lower device, a veth's peer in the
    /// same namespace).
    pub lowers: Vec<String>,
}

/// The devices in the JSON output of `ip -j -d link show`.
pub fn parse_links(json: &str) -> Vec<Link> {
    let links: Vec<Value> = serde_json::from_str(json).unwrap_or_default();
    let mut out = Vec::new();
    for link in &links {
        let Some(name) = link.get("ifname").and_then(Value::as_str) else {
            continue;
        };
        let info = link.get("linkinfo");
        let kind = info
            .and_then(|i| i.get("info_kind"))
            .and_then(Value::as_str)
            .map(str::to_string);
        // A peer in another namespace has a link_netnsid and no name here.
        let lower = link
            .get("link")
            .and_then(Value::as_str)
            .filter(|_| link.get("link_netnsid").is_none())
            .filter(|l| *l != name);
        out.push(Link {
            name: name.to_string(),
            altnames: link
                .get("altnames")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default(),
            kind,
            master: link.get("master").and_then(Value::as_str).map(str::to_string),
            lowers: lower.into_iter().map(str::to_string).collect(),
        });
    }
    out
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The devices of a sysfs `class/net` directory (`/sys/class/net` shows the namespace sysfs was
/// mounted in: only read for the process's own): `master`, `brif/*`, `bonding/slaves`, `lower_*`
/// and `upper_*`.
pub fn links_from_sysfs(root: &Path) -> Vec<Link> {
    let mut links: BTreeMap<String, Link> = BTreeMap::new();
    let names = names_in(root);
    for name in &names {
        let dir = root.join(name);
        if !dir.is_dir() {
            continue;
        }
        let uevent = std::fs::read_to_string(dir.join("uevent")).unwrap_or_default();
        let devtype = uevent
            .lines()
            .find_map(|l| l.strip_prefix("DEVTYPE="))
            .map(|t| t.trim().to_string());
        let kind = if dir.join("bridge").is_dir() {
            Some("bridge".to_string())
        } else if dir.join("bonding").is_dir() {
            Some("bond".to_string())
        } else {
            devtype
        };
        let master = std::fs::read_link(dir.join("master"))
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
        let entry = links.entry(name.clone()).or_default();
        entry.name = name.clone();
        entry.kind = kind;
        if master.is_some() {
            entry.master = master;
        }
        let mut ports = names_in(&dir.join("brif"));
        if let Ok(slaves) = std::fs::read_to_string(dir.join("bonding/slaves")) {
            ports.extend(slaves.split_whitespace().map(str::to_string));
        }
        let mut lowers = Vec::new();
        for entry in names_in(&dir) {
            if let Some(lower) = entry.strip_prefix("lower_") {
                lowers.push(lower.to_string());
            } else if let Some(upper) = entry.strip_prefix("upper_") {
                // The upper device is stacked on this one (unless it is this one's master).
                let up = links.entry(upper.to_string()).or_default();
                up.name = upper.to_string();
                if !up.lowers.iter().any(|l| l == name) {
                    up.lowers.push(name.clone());
                }
            }
        }
        for port in ports {
            let p = links.entry(port.clone()).or_default();
            p.name = port;
            p.master.get_or_insert_with(|| name.clone());
        }
        let entry = links.get_mut(name).expect("inserted above");
        for lower in lowers {
            if !entry.lowers.contains(&lower) {
                entry.lowers.push(lower);
            }
        }
    }
    // A master's lower_* entries are its ports: already the ports' `master`.
    let masters: Vec<(String, String)> = links
        .values()
        .filter_map(|l| l.master.clone().map(|m| (l.name.clone(), m)))
        .collect();
    for (port, master) in masters {
        if let Some(m) = links.get_mut(&master) {
            m.lowers.retain(|l| *l != port);
        }
    }
    links.into_values().filter(|l| !l.name.is_empty()).collect()
}

/// How one device relates to the next one in a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Relation {
    /// This device is enslaved to the next one (of that kind).
    PortOf(Option<String>),
    /// The next device is enslaved to this one (of this one's kind).
    MasterOf(Option<String>),
    /// This device (of its kind) is stacked on the next one.
    UpperOn(Option<String>),
    /// The next device (of its kind) is stacked on this one.
    LowerOf(Option<String>),
    /// The two ends of a veth pair in one namespace.
    VethPeer,
}

impl Relation {
    /// "is a port of bridge br0", with `other` the next device.
    pub fn phrase(&self, other: &str) -> String {
        match self {
            Relation::PortOf(k) => match k.as_deref() {
                Some("bridge") => format!("is a port of bridge {other}"),
                Some("bond") => format!("is a slave of bond {other}"),
                Some(k) => format!("is enslaved to {k} device {other}"),
                None => format!("is enslaved to {other}"),
            },
            Relation::MasterOf(k) => match k.as_deref() {
                Some("bridge") => format!("is the bridge that holds port {other}"),
                Some("bond") => format!("is the bond over slave {other}"),
                _ => format!("is the master of {other}"),
            },
            Relation::UpperOn(k) => match k.as_deref() {
                Some("vlan") => format!("is a VLAN device on top of {other}"),
                Some(k) => format!("is a {k} device on top of {other}"),
                None => format!("is stacked on {other}"),
            },
            Relation::LowerOf(k) => match k.as_deref() {
                Some("vlan") => format!("is the lower device of VLAN {other}"),
                Some(k) => format!("is the lower device of {k} device {other}"),
                None => format!("is the lower device of {other}"),
            },
            Relation::VethPeer => format!("is the veth peer of {other}"),
        }
    }
}

/// The chain from the probe's interface to a carrier: each step's relation and the device it
/// leads to; empty when the interface itself is the carrier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The interface's own name (an altname given resolves to it).
    pub iface: String,
    pub steps: Vec<(Relation, String)>,
    pub carrier: Carrier,
}

impl Finding {
    /// "br0 is a port of ... , which carries the default route via 10.0.0.1".
    pub fn describe(&self) -> String {
        let mut text = self.iface.clone();
        for (i, (rel, next)) in self.steps.iter().enumerate() {
            if i > 0 {
                text.push_str(", which");
            }
            text.push(' ');
            text.push_str(&rel.phrase(next));
        }
        if !self.steps.is_empty() {
            text.push_str(", which");
        }
        text.push_str(&format!(" carries {}", self.carrier.reason));
        text
    }
}

/// Every device's neighbours in the stacking graph, both directions.
fn graph(links: &[Link]) -> BTreeMap<String, Vec<(Relation, String)>> {
    // A device listed twice (`ip` and sysfs): the first kind known.
    let mut kinds: BTreeMap<&str, Option<String>> = BTreeMap::new();
    for l in links {
        let k = kinds.entry(l.name.as_str()).or_insert(None);
        if k.is_none() {
            k.clone_from(&l.kind);
        }
    }
    let kind_of = |n: &str| kinds.get(n).cloned().flatten();
    let mut edges: BTreeMap<String, Vec<(Relation, String)>> = BTreeMap::new();
    let mut add = |from: &str, rel: Relation, to: &str| {
        let list = edges.entry(from.to_string()).or_default();
        if !list.iter().any(|(r, t)| *r == rel && t == to) {
            list.push((rel, to.to_string()));
        }
    };
    for link in links {
        if let Some(master) = &link.master {
            add(&link.name, Relation::PortOf(kind_of(master)), master);
            add(master, Relation::MasterOf(kind_of(master)), &link.name);
        }
        for lower in &link.lowers {
            if link.kind.as_deref() == Some("veth") {
                add(&link.name, Relation::VethPeer, lower);
                add(lower, Relation::VethPeer, &link.name);
            } else {
                add(&link.name, Relation::UpperOn(link.kind.clone()), lower);
                add(lower, Relation::LowerOf(link.kind.clone()), &link.name);
            }
        }
    }
    edges
}

/// The shortest chain (at most [`MAX_DEPTH`] steps) from `iface` (its name or an altname) to a
/// device in `carriers`, following stacking relations both ways; None when there is none.
/// Among the carriers of one device, the main table's default route is named first.
pub fn find(iface: &str, carriers: &[Carrier], links: &[Link]) -> Option<Finding> {
    let start = links
        .iter()
        .find(|l| l.name == iface || l.altnames.iter().any(|a| a == iface))
        .map_or_else(|| iface.to_string(), |l| l.name.clone());
    let mut sorted = carriers.to_vec();
    sorted.sort_by_key(|c| (!c.reason.is_main_default(), c.clone()));
    let carrier_of = |dev: &str| sorted.iter().find(|c| c.dev == dev).cloned();
    let edges = graph(links);
    let mut seen = BTreeSet::from([start.clone()]);
    let mut queue = VecDeque::from([(start.clone(), Vec::<(Relation, String)>::new())]);
    while let Some((dev, steps)) = queue.pop_front() {
        if let Some(carrier) = carrier_of(&dev) {
            return Some(Finding {
                iface: start,
                steps,
                carrier,
            });
        }
        if steps.len() >= MAX_DEPTH || seen.len() >= MAX_VISITED {
            continue;
        }
        for (rel, next) in edges.get(&dev).into_iter().flatten() {
            if seen.insert(next.clone()) {
                let mut more = steps.clone();
                more.push((rel.clone(), next.clone()));
                queue.push_back((next.clone(), more));
            }
        }
    }
    None
}

#[cfg(test)]
#[path = "stack_tests.rs"]
mod tests;
