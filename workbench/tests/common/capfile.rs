//! Capture files made byte by byte in tests, independent of the reader under test.

/// One record of a classic pcap file.
#[derive(Clone, Copy)]
pub struct Record<'a> {
    pub ts_sec: u32,
    /// Microseconds, or nanoseconds in a nanosecond file.
    pub ts_frac: u32,
    pub data: &'a [u8],
    pub wire_len: u32,
}

/// A classic pcap file: byte order, timestamp unit and link type chosen by the test.
pub fn pcap(big_endian: bool, nanosecond: bool, link_type: u32, records: &[Record]) -> Vec<u8> {
    let w32 = |out: &mut Vec<u8>, v: u32| {
        out.extend_from_slice(&if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    };
    let w16 = |out: &mut Vec<u8>, v: u16| {
        out.extend_from_slice(&if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    };
    let mut out = Vec::new();
    w32(&mut out, if nanosecond { 0xa1b2_3c4d } else { 0xa1b2_c3d4 });
    w16(&mut out, 2);
    w16(&mut out, 4);
    w32(&mut out, 0);
    w32(&mut out, 0);
    w32(&mut out, 65_535);
    w32(&mut out, link_type);
    for r in records {
        w32(&mut out, r.ts_sec);
        w32(&mut out, r.ts_frac);
        w32(&mut out, r.data.len() as u32);
        w32(&mut out, r.wire_len);
        out.extend_from_slice(r.data);
    }
    out
}

/// A little-endian pcapng file assembled from blocks.
#[derive(Default)]
pub struct PcapNg(pub Vec<u8>);

impl PcapNg {
    fn block(&mut self, block_type: u32, body: &[u8]) {
        let len = 12 + body.len().div_ceil(4) * 4;
        self.0.extend_from_slice(&block_type.to_le_bytes());
        self.0.extend_from_slice(&(len as u32).to_le_bytes());
        self.0.extend_from_slice(body);
        self.0.resize(self.0.len() + (len - 12 - body.len()), 0);
        self.0.extend_from_slice(&(len as u32).to_le_bytes());
    }

    pub fn section_header(mut self) -> Self {
        let mut body = Vec::new();
        body.extend_from_slice(&0x1a2b_3c4d_u32.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&u64::MAX.to_le_bytes()); // section length unknown
        self.block(0x0a0d_0d0a, &body);
        self
    }

    /// An interface; `tsresol` is the raw `if_tsresol` option byte (None: default, microseconds).
    pub fn interface(mut self, link_type: u16, tsresol: Option<u8>) -> Self {
        let mut body = Vec::new();
        body.extend_from_slice(&link_type.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes()); // snaplen: none
        if let Some(r) = tsresol {
            body.extend_from_slice(&9u16.to_le_bytes()); // if_tsresol
            body.extend_from_slice(&1u16.to_le_bytes());
            body.extend_from_slice(&[r, 0, 0, 0]);
            body.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
        }
        self.block(1, &body);
        self
    }

    /// An interface named `name` (the `if_name` option, as dumpcap writes it), microseconds.
    pub fn named_interface(mut self, link_type: u16, name: &str) -> Self {
        let mut body = Vec::new();
        body.extend_from_slice(&link_type.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes()); // snaplen: none
        body.extend_from_slice(&2u16.to_le_bytes()); // if_name
        body.extend_from_slice(&(name.len() as u16).to_le_bytes());
        body.extend_from_slice(name.as_bytes());
        body.resize(body.len().div_ceil(4) * 4, 0);
        body.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
        self.block(1, &body);
        self
    }

    /// An enhanced packet block; `ts` in the interface's units.
    pub fn packet(mut self, if_id: u32, ts: u64, data: &[u8]) -> Self {
        let mut body = Vec::new();
        body.extend_from_slice(&if_id.to_le_bytes());
        body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        body.resize(body.len().div_ceil(4) * 4, 0);
        self.block(6, &body);
        self
    }

    /// Raw bytes appended as they are (to make damage).
    pub fn raw(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
}

/// IPv4 + UDP (or TCP when `tcp`) from 10.1.0.1:`sport` to 10.1.0.2:`dport`, 4 payload bytes.
pub fn ipv4(tcp: bool, sport: u16, dport: u16) -> Vec<u8> {
    let (proto, l4): (u8, Vec<u8>) = if tcp {
        let mut t = vec![0u8; 20];
        t[..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = 0x02;
        (6, t)
    } else {
        let mut u = vec![0u8; 8];
        u[..2].copy_from_slice(&sport.to_be_bytes());
        u[2..4].copy_from_slice(&dport.to_be_bytes());
        u[4..6].copy_from_slice(&12u16.to_be_bytes());
        (17, u)
    };
    let total = (20 + l4.len() + 4) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 1, 0, 0, 64, proto, 0, 0, 10, 1, 0, 1, 10, 1, 0, 2]);
    p.extend_from_slice(&l4);
    p.extend_from_slice(b"wxyz");
    p
}

/// IPv6 + UDP from 2001:db8::1:`sport` to 2001:db8::2:`dport`, 4 payload bytes.
pub fn ipv6_udp(sport: u16, dport: u16) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0, 0, 12, 17, 64];
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    a[15] = 1;
    p.extend_from_slice(&a);
    a[15] = 2;
    p.extend_from_slice(&a);
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&[0, 12, 0, 0]);
    p.extend_from_slice(b"wxyz");
    p
}

/// `payload` behind an Ethernet header with ethertype `ethertype`.
pub fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// `payload` behind a Linux SLL2 header (protocol first, then 18 bytes of interface and
/// address information).
pub fn sll2(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = ethertype.to_be_bytes().to_vec();
    f.extend_from_slice(&[0, 0]); // reserved
    f.extend_from_slice(&7u32.to_be_bytes()); // interface index
    f.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
    f.extend_from_slice(&[0, 6]); // packet type host, address length 6
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 9, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// The small capture the TUI tests simulate: 40 UDP datagrams in 10 flows (source ports
/// 40000-40009 to port 53 of 10.203.9.2), 10 ms apart, so 0.39 s of capture time;
/// `payload(i)` is the i-th datagram's payload.
pub fn write_udp_flows(path: &std::path::Path, payload: impl Fn(u16) -> Vec<u8>) {
    use workbench_flow::craft::{ipv4_udp, Ipv4Endpoints};
    let ep = Ipv4Endpoints {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src: std::net::Ipv4Addr::new(10, 203, 9, 1),
        dst: std::net::Ipv4Addr::new(10, 203, 9, 2),
        ttl: 64,
    };
    let frames: Vec<Vec<u8>> = (0..40u16)
        .map(|i| ipv4_udp(&ep, 40_000 + i % 10, 53, &payload(i)))
        .collect();
    write_ethernet(path, &frames, 10_000_000);
}

/// Ethernet frames as a classic microsecond pcap, one every `gap_ns` from 1,700,000,000 s.
pub fn write_ethernet(path: &std::path::Path, frames: &[Vec<u8>], gap_ns: u32) {
    let records: Vec<Record> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| Record {
            ts_sec: 1_700_000_000,
            ts_frac: i as u32 * (gap_ns / 1_000),
            data: f,
            wire_len: f.len() as u32,
        })
        .collect();
    std::fs::write(path, pcap(false, false, 1, &records)).expect("write capture");
}
