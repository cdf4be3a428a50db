//! Presenting flow keys: addresses, protocol names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
