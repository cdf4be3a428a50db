//! The lab: a network namespace and a veth pair that the project creates, so that test, demo and
//! replay traffic has somewhere to go that is not a real network.
//!
//! Every name starts with [`PREFIX`] so that cleanup and tests find exactly what the project
//! made. The namespace end has one address in 10.203.N.0/24, no default route, forwarding off
//! (the default in a new namespace) and no other links but its own loopback; IPv6 is disabled on
//! both ends so that autoconfiguration chatter does not show up as flows.

pub mod afpacket;
pub mod guard;
pub mod hostile;
pub mod netns;
pub mod offload;
pub mod receiver;
pub mod replay_lab;
pub mod tap;
pub mod traffic;

pub use replay_lab::{ReplayLab, ReplayLabInfo};

use std::net::Ipv4Addr;
use std::process::Command;

use crate::error::{fail, Context, Error, Result};

/// Prefix of every namespace and link the project creates.
pub const PREFIX: &str = "ebml-";

#[derive(Debug)]
pub struct Lab {
    pub netns: String,
    /// The veth end in the root namespace.
    pub host_if: String,
    /// The veth end inside `netns`.
    pub peer_if: String,
    pub host_addr: Ipv4Addr,
    pub peer_addr: Ipv4Addr,
    pub host_mac: [u8; 6],
    pub peer_mac: [u8; 6],
    /// Transmit and receive queues of each veth end (`None`: the kernel's default).
    queues: Option<u32>,
    removed: bool,
}

/// Runs `ip ARGS` and returns its standard output; a failure names the command and ip's message.
pub fn ip_output(args: &[&str]) -> Result<Vec<u8>> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context(|| "running `ip` (iproute2); install it with: apt-get install iproute2")?;
    if !out.status.success() {
        fail!(
            Command,
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

fn ip(args: &[&str]) -> Result<()> {
    ip_output(args).map(|_| ())
}

fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn disable_ipv6(iface: &str) -> Result<()> {
    let path = format!("/proc/sys/net/ipv6/conf/{iface}/disable_ipv6");
    match std::fs::write(&path, b"1") {
        Ok(()) => Ok(()),
        // A kernel without IPv6 has nothing to disable.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("writing {path}"), e)),
    }
}

impl Lab {
    /// Creates namespace `ebml-<id>` with veth `ebml-<id>h` (root namespace, 10.203.<subnet>.1)
    /// and `ebml-<id>n` (inside, 10.203.<subnet>.2).
    pub fn create(id: &str, subnet: u8) -> Result<Lab> {
        Self::create_in(id, subnet, None)
    }

    /// [`Lab::create`] with `queues` transmit and receive queues on each veth end (a
    /// multi-queue NIC: frames of one link processed by several CPUs at once).
    pub fn create_with_queues(id: &str, subnet: u8, queues: u32) -> Result<Lab> {
        if !(1..=64).contains(&queues) {
            fail!(Invalid, "a lab veth has 1 to 64 queues, not {queues}");
        }
        Self::create_in(id, subnet, Some(queues))
    }

    fn create_in(id: &str, subnet: u8, queues: Option<u32>) -> Result<Lab> {
        if id.is_empty() || id.len() > 9 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            fail!(
                Invalid,
                "lab id {id:?} must be 1-9 ASCII letters or digits (interface names have 15 bytes)"
            );
        }
        let netns = format!("{PREFIX}{id}");
        let host_if = format!("{PREFIX}{id}h");
        let peer_if = format!("{PREFIX}{id}n");
        let host_mac = [0x02, 0xeb, 0x4d, 0x4c, subnet, 0x01];
        let peer_mac = [0x02, 0xeb, 0x4d, 0x4c, subnet, 0x02];
        ip(&["netns", "add", &netns])?;
        // From here on, Drop removes whatever exists.
        let mut lab = Lab {
            netns,
            host_if,
            peer_if,
            host_addr: Ipv4Addr::new(10, 203, subnet, 1),
            peer_addr: Ipv4Addr::new(10, 203, subnet, 2),
            host_mac,
            peer_mac,
            queues,
            removed: false,
        };
        lab.configure()?;
        Ok(lab)
    }

    fn configure(&mut self) -> Result<()> {
        let (host_mac, peer_mac) = (mac_string(&self.host_mac), mac_string(&self.peer_mac));
        let queues = self.queues.map(|q| q.to_string());
        let queue_args: Vec<&str> = match &queues {
            Some(q) => vec!["numtxqueues", q, "numrxqueues", q],
            None => Vec::new(),
        };
        let mut args = vec!["link", "add", &self.host_if, "address", &host_mac];
        args.extend(&queue_args);
        args.extend([
            "type",
            "veth",
            "peer",
            "name",
            &self.peer_if,
            "address",
            &peer_mac,
        ]);
        args.extend(&queue_args);
        args.extend(["netns", &self.netns]);
        ip(&args)?;
        disable_ipv6(&self.host_if)?;
        let peer = self.peer_if.clone();
        netns::run_in(&self.netns, move || disable_ipv6(&peer))??;
        let host_cidr = format!("{}/24", self.host_addr);
        let peer_cidr = format!("{}/24", self.peer_addr);
        ip(&["addr", "add", &host_cidr, "dev", &self.host_if])?;
        ip(&["link", "set", &self.host_if, "up"])?;
        ip(&["-n", &self.netns, "addr", "add", &peer_cidr, "dev", &self.peer_if])?;
        ip(&["-n", &self.netns, "link", "set", &self.peer_if, "up"])?;
        ip(&["-n", &self.netns, "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// Runs `f` on a thread inside the lab's namespace (sockets it opens live there).
    pub fn run_in_netns<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        netns::run_in(&self.netns, f)
    }

    /// Removes the veth pair (deleting one end removes both, synchronously) and then the
    /// namespace. Safe to call twice.
    pub fn remove(&mut self) -> Result<()> {
        if self.removed {
            return Ok(());
        }
        let host_present = std::path::Path::new("/sys/class/net")
            .join(&self.host_if)
            .exists();
        let link = if host_present {
            ip(&["link", "del", &self.host_if])
        } else {
            Ok(())
        };
        let ns_present = std::path::Path::new("/run/netns").join(&self.netns).exists();
        let ns = if ns_present {
            ip(&["netns", "del", &self.netns])
        } else {
            Ok(())
        };
        self.removed = true;
        link.and(ns)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            eprintln!("warning: lab cleanup: {e:#}");
        }
    }
}

/// Names of namespaces carrying the project prefix (left over or in use).
pub fn project_namespaces() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(std::result::Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(PREFIX))
                .collect()
        })
        .unwrap_or_default()
}

/// Names of links in the root namespace carrying the project prefix.
pub fn project_links() -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(std::result::Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(PREFIX))
                .collect()
        })
        .unwrap_or_default()
}
