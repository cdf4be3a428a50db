//! Captures of one TCP conversation as Ethernet, Linux SLL/SLL2 or raw-IP records, and a port
//! scan with decoy SYNs whose IP length exceeds their frame (tests/cli/sec_parse_lengths.rs and
//! tests/kernel/sec_parse_lengths.rs).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::capfile::{pcap, Record};
use workbench_flow::craft::{ipv4_tcp, Ipv4Endpoints, TcpSegment};

pub const LINKTYPE_ETHERNET: u32 = 1;
pub const LINKTYPE_RAW: u32 = 101;
pub const LINKTYPE_LINUX_SLL: u32 = 113;
pub const LINKTYPE_LINUX_SLL2: u32 = 276;

fn endpoints(forward: bool) -> Ipv4Endpoints {
    let (a, b) = (Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(10, 1, 0, 2));
    let (ma, mb) = ([2, 0, 0, 0, 0, 0x0a], [2, 0, 0, 0, 0, 0x0b]);
    if forward {
        Ipv4Endpoints {
            src_mac: ma,
            dst_mac: mb,
            src: a,
            dst: b,
            ttl: 64,
        }
    } else {
        Ipv4Endpoints {
            src_mac: mb,
            dst_mac: ma,
            src: b,
            dst: a,
            ttl: 63,
        }
    }
}

fn tcp(forward: bool, ports: (u16, u16), flags: u8, window: u16, payload: &[u8]) -> Vec<u8> {
    ipv4_tcp(
        &endpoints(forward),
        &TcpSegment {
            src_port: ports.0,
            dst_port: ports.1,
            seq: 1,
            ack: 0,
            flags,
            window,
            payload,
        },
    )
}

/// A TCP conversation 10.1.0.1:40000 -> 10.1.0.2:80 as Ethernet frames: handshake, a 300-byte
/// request, a 1,200-byte answer, FIN.
pub fn conversation() -> Vec<Vec<u8>> {
    let (fwd, bwd) = ((40_000, 80), (80, 40_000));
    vec![
        tcp(true, fwd, 0x02, 64_240, b""),
        tcp(false, bwd, 0x12, 65_160, b""),
        tcp(true, fwd, 0x10, 64_240, b""),
        tcp(true, fwd, 0x18, 64_240, &[b'G'; 300]),
        tcp(false, bwd, 0x18, 65_160, &[b'R'; 1200]),
        tcp(true, fwd, 0x11, 64_240, b""),
    ]
}

/// Linux SLL v1 header (packet type, ARPHRD_ETHER, address length 6, 8 address bytes) and
/// `protocol`.
pub fn sll_header(protocol: u16) -> Vec<u8> {
    let mut h = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0x0a, 0, 0];
    h.extend_from_slice(&protocol.to_be_bytes());
    h
}

/// An SLL record with a VLAN tag as libpcap puts it back (offset 14: protocol 0x8100, the tag's
/// TCI, then the real protocol, 0x0800).
pub fn sll_vlan(vid: u16, ip: &[u8]) -> Vec<u8> {
    let mut r = sll_header(0x8100);
    r.extend_from_slice(&vid.to_be_bytes());
    r.extend_from_slice(&0x0800u16.to_be_bytes());
    r.extend_from_slice(ip);
    r
}

/// `link_header(ip)` for the IP packet of each Ethernet frame, as (bytes, original length);
/// `snap` cuts the bytes (the original length stays the whole record's).
pub fn records_of(
    frames: &[Vec<u8>],
    link_header: impl Fn(&[u8]) -> Vec<u8>,
    snap: Option<usize>,
) -> Vec<(Vec<u8>, u32)> {
    frames
        .iter()
        .map(|f| {
            let mut data = link_header(&f[14..]);
            let wire = data.len() as u32;
            if let Some(snap) = snap {
                data.truncate(snap);
            }
            (data, wire)
        })
        .collect()
}

/// Writes the records as a classic pcap of `link_type`, `per_stamp` records per timestamp
/// (1 ms apart).
pub fn write(
    dir: &Path,
    name: &str,
    link_type: u32,
    records: &[(Vec<u8>, u32)],
    per_stamp: usize,
) -> PathBuf {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (data, wire_len))| Record {
            ts_sec: 1_700_000_000,
            ts_frac: (i / per_stamp) as u32 * 1_000,
            data,
            wire_len: *wire_len,
        })
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, pcap(false, false, link_type, &records)).expect("write capture");
    path
}

/// A SYN scan of ports 20-49 from 10.1.0.1:50000, one SYN a port; with `decoys`, each SYN
/// follows a decoy of the same flow whose IPv4 total length says 640 bytes in its 54-byte frame
/// (the receiver's ip_rcv_core drops it: tot_len > skb->len). As (bytes, original length).
pub fn scan(decoys: bool) -> Vec<(Vec<u8>, u32)> {
    let mut records = Vec::new();
    for port in 20..50u16 {
        let syn = tcp(true, (50_000, port), 0x02, 1024, b"");
        let wire = syn.len() as u32;
        if decoys {
            let mut decoy = syn.clone();
            decoy[14 + 2..14 + 4].copy_from_slice(&640u16.to_be_bytes());
            records.push((decoy, wire));
        }
        records.push((syn, wire));
    }
    records
}
