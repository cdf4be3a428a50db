//! The enforce-mode allowlist: CIDRs whose flows are never dropped, kept in the probe's LPM trie.

use std::net::IpAddr;

use crate::error::{err, fail, Error, Result};
use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Map, MapData};
use shared::abi::{allow_key, ALLOW_KEY_BYTES, ALLOW_VERSION_BITS};

use super::{caps, probe};

pub const PIN_ALLOW: &str = "allow";
pub const ALLOW_MAP: &str = "ALLOW";

/// A parsed CIDR ("10.0.0.0/8", "fd00::/8", or a bare address for one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| err!(Invalid, "{s:?} is not an IP address or CIDR (e.g. 10.0.0.0/8)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| err!(Invalid, "{s:?}: prefix length must be 0-{max}"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn key_of(c: &Cidr) -> Key<[u8; ALLOW_KEY_BYTES]> {
    let mut addr = [0u8; 16];
    let version = match c.addr {
        IpAddr::V4(a) => {
            addr[..4].copy_from_slice(&a.octets());
            4
        }
        IpAddr::V6(a) => {
            addr = a.octets();
            6
        }
    };
    Key::new(ALLOW_VERSION_BITS + c.prefix as u32, allow_key(version, &addr))
}

fn cidr_of(key: &Key<[u8; ALLOW_KEY_BYTES]>) -> Option<Cidr> {
    let data = key.data();
    let prefix = key.prefix_len().checked_sub(ALLOW_VERSION_BITS)? as u8;
    let mut a = [0u8; 16];
    a.copy_from_slice(&data[1..]);
    let addr = match data[0] {
        4 => IpAddr::from([a[0], a[1], a[2], a[3]]),
        6 => IpAddr::from(a),
        _ => return None,
    };
    Some(Cidr { addr, prefix })
}

fn open(iface: &str) -> Result<LpmTrie<MapData, [u8; ALLOW_KEY_BYTES], u8>> {
    caps::require_kernel_access("changing the allowlist")?;
    let map = Map::LpmTrie(probe::open_pinned_map(iface, PIN_ALLOW)?);
    Ok(LpmTrie::try_from(map)?)
}

pub fn add(iface: &str, cidrs: &[Cidr]) -> Result<()> {
    let mut trie = open(iface)?;
    for c in cidrs {
        trie.insert(&key_of(c), 1, 0)
            .map_err(|e| Error::bpf(format!("adding {c} to the allowlist of {iface}"), e))?;
    }
    Ok(())
}

pub fn clear(iface: &str) -> Result<()> {
    let mut trie = open(iface)?;
    let keys: Vec<_> = trie.keys().map_while(std::result::Result::ok).collect();
    for k in keys {
        trie.remove(&k)?;
    }
    Ok(())
}

pub fn list(iface: &str) -> Result<Vec<Cidr>> {
    let trie = open(iface)?;
    let mut out: Vec<Cidr> = trie
        .keys()
        .map_while(std::result::Result::ok)
        .filter_map(|k| cidr_of(&k))
        .collect();
    out.sort_by_key(|c| (c.addr, c.prefix));
    if out.len() > 4096 {
        fail!(State, "allowlist of {iface} is larger than the probe's map");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_and_round_trip_through_keys() {
        for s in ["10.0.0.0/8", "10.203.1.2/32", "fd00::/8", "::1/128"] {
            let c: Cidr = s.parse().expect(s);
            assert_eq!(cidr_of(&key_of(&c)), Some(c));
            assert_eq!(c.to_string(), s);
        }
        assert_eq!("10.1.2.3".parse::<Cidr>().expect("host").prefix, 32);
        for bad in ["10.0.0.0/33", "banana", "10.0.0/8", "fd00::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }
}
