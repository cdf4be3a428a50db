//! Reading and switching a lab interface's offloads (what `ethtool -k` / `ethtool -K` show and
//! change), so tests can put the kernel in each of the states a real host can be in: VLAN tags
//! stripped into metadata or left in the frame, TCP segmentation in the NIC (TSO) or in
//! software after tc (GSO), receive merging (GRO) on or off.
//!
//! Through the ethtool ioctl's per-feature commands (`SIOCETHTOOL`), which every kernel keeps,
//! rather than the ethtool binary (one less package to install) or its netlink family (a
//! generic-netlink client for four bits). Only on interfaces the project made: callers pass lab
//! interfaces.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{fail, Context, Error, Result};

use super::netns;

/// `<linux/sockios.h>`.
const SIOCETHTOOL: libc::c_ulong = 0x8946;
/// `<linux/ethtool.h>` commands (the per-feature ones; the kernel maps them onto its feature
/// bits).
const ETHTOOL_GTSO: u32 = 0x1e;
const ETHTOOL_STSO: u32 = 0x1f;
const ETHTOOL_GGSO: u32 = 0x23;
const ETHTOOL_SGSO: u32 = 0x24;
const ETHTOOL_GFLAGS: u32 = 0x25;
const ETHTOOL_SFLAGS: u32 = 0x26;
const ETHTOOL_GGRO: u32 = 0x2b;
const ETHTOOL_SGRO: u32 = 0x2c;
/// `ETH_FLAG_RXVLAN`: NETIF_F_HW_VLAN_CTAG_RX, shown by ethtool as `rx-vlan-offload`.
const ETH_FLAG_RXVLAN: u32 = 1 << 8;

/// An offload of a network interface, by its `ethtool -k` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offload {
    /// `rx-vlan-offload`: the receive path strips the 802.1Q tag into metadata in hardware.
    RxVlan,
    /// `tcp-segmentation-offload`: the device cuts TCP super-packets itself.
    Tso,
    /// `generic-segmentation-offload`: the stack builds super-packets and cuts them in software
    /// just before the device, after tc.
    Gso,
    /// `generic-receive-offload`: received frames of a flow are merged before tc.
    Gro,
}

impl Offload {
    pub fn name(self) -> &'static str {
        match self {
            Offload::RxVlan => "rx-vlan-offload",
            Offload::Tso => "tcp-segmentation-offload",
            Offload::Gso => "generic-segmentation-offload",
            Offload::Gro => "generic-receive-offload",
        }
    }

    /// (get, set) ioctl commands and, for the flags word, the bit.
    fn commands(self) -> (u32, u32, Option<u32>) {
        match self {
            Offload::RxVlan => (ETHTOOL_GFLAGS, ETHTOOL_SFLAGS, Some(ETH_FLAG_RXVLAN)),
            Offload::Tso => (ETHTOOL_GTSO, ETHTOOL_STSO, None),
            Offload::Gso => (ETHTOOL_GGSO, ETHTOOL_SGSO, None),
            Offload::Gro => (ETHTOOL_GGRO, ETHTOOL_SGRO, None),
        }
    }
}

/// `struct ethtool_value`.
#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

fn control_socket() -> Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned right away.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(Error::last_os("socket for ethtool requests"));
    }
    // SAFETY: raw is a fresh, valid fd.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// One ethtool request on `iface` in the calling thread's namespace.
fn request(fd: &OwnedFd, iface: &str, cmd: u32, data: u32) -> std::io::Result<u32> {
    let mut value = EthtoolValue { cmd, data };
    // SAFETY: a zeroed ifreq is valid; the name is copied in bounds below.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    let name = iface.as_bytes();
    if name.len() >= ifr.ifr_name.len() {
        return Err(std::io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    for (dst, &b) in ifr.ifr_name.iter_mut().zip(name) {
        *dst = b as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = (&raw mut value).cast();
    // SAFETY: SIOCETHTOOL with an ifreq whose data points at a live ethtool_value.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), SIOCETHTOOL as _, &mut ifr) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(value.data)
}

fn get_here(iface: &str, offload: Offload) -> Result<bool> {
    let fd = control_socket()?;
    let (get, _, bit) = offload.commands();
    let data = request(&fd, iface, get, 0).context(|| format!("reading {} of {iface}", offload.name()))?;
    Ok(match bit {
        Some(bit) => data & bit != 0,
        None => data != 0,
    })
}

fn set_here(iface: &str, offload: Offload, on: bool) -> Result<()> {
    let fd = control_socket()?;
    let (get, set, bit) = offload.commands();
    let data = match bit {
        // The flags word sets several features at once: change only ours.
        Some(bit) => {
            let flags =
                request(&fd, iface, get, 0).context(|| format!("reading the offload flags of {iface}"))?;
            if on {
                flags | bit
            } else {
                flags & !bit
            }
        }
        None => on as u32,
    };
    request(&fd, iface, set, data).context(|| {
        format!(
            "turning {} {} on {iface}",
            offload.name(),
            if on { "on" } else { "off" }
        )
    })?;
    let now = get_here(iface, offload)?;
    if now != on {
        fail!(
            Unsupported,
            "{} of {iface} stays {} (the device does not let it change)",
            offload.name(),
            if now { "on" } else { "off" }
        );
    }
    Ok(())
}

/// Whether `offload` is on for `iface` in namespace `netns` (`None`: this process's own).
pub fn get(netns: Option<&str>, iface: &str, offload: Offload) -> Result<bool> {
    match netns {
        Some(ns) => netns::run_in(ns, || get_here(iface, offload))?,
        None => get_here(iface, offload),
    }
}

/// Turns `offload` on or off for `iface` in namespace `netns` and checks that it took.
pub fn set(netns: Option<&str>, iface: &str, offload: Offload, on: bool) -> Result<()> {
    match netns {
        Some(ns) => netns::run_in(ns, || set_here(iface, offload, on))?,
        None => set_here(iface, offload, on),
    }
}
