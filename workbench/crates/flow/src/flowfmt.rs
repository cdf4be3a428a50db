//! Presenting flow keys: addresses, protocol names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;
use shared::FlowKey;

/// The address of a flow endpoint (IPv4 in the first 4 bytes of the 16).
pub fn endpoint_addr(ip_version: u8, addr: &[u8; 16]) -> IpAddr {
    if ip_version == 4 {
        IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(*addr))
    }
}

pub fn proto_name(proto: u8) -> &'static str {
    match proto {
        1 => "icmp",
        6 => "tcp",
        17 => "udp",
        58 => "icmpv6",
        _ => "other",
    }
}

/// A flow's 5-tuple oriented from its initiator, and its VLAN (keys in the spirit of Suricata's
/// EVE).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlowTuple {
    pub src_ip: std::net::IpAddr,
    pub src_port: u16,
    pub dest_ip: std::net::IpAddr,
    pub dest_port: u16,
    pub proto: &'static str,
    /// The outermost VLAN tag's id, part of the flow's key (0 untagged).
    pub vlan_id: u16,
}

impl FlowTuple {
    pub fn of(key: &FlowKey, initiator_is_lo: bool) -> Self {
        let lo = (endpoint_addr(key.ip_version, &key.addr_lo), key.port_lo);
        let hi = (endpoint_addr(key.ip_version, &key.addr_hi), key.port_hi);
        let ((src_ip, src_port), (dest_ip, dest_port)) = if initiator_is_lo { (lo, hi) } else { (hi, lo) };
        FlowTuple {
            src_ip,
            src_port,
            dest_ip,
            dest_port,
            proto: proto_name(key.proto),
            vlan_id: key.vlan_id,
        }
    }
}
