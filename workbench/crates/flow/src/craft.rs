//! The project's own packet builder: Ethernet/IPv4 frames with TCP or UDP and correct checksums.
//! Used to send known packets through the lab (tests, demo) and, later, hostile ones.

use std::net::Ipv4Addr;

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_PSH: u8 = 0x08;
pub const TCP_ACK: u8 = 0x10;

#[derive(Clone, Copy, Debug)]
pub struct Ipv4Endpoints {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
}

#[derive(Clone, Copy, Debug)]
pub struct TcpSegment<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub payload: &'a [u8],
}

/// Internet checksum (RFC 1071) over `data`, continuing from `sum`.
pub fn checksum_add(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [last] = chunks.remainder() {
        sum += (*last as u32) << 8;
    }
    sum
}

pub fn checksum_finish(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ipv4_frame(ep: &Ipv4Endpoints, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + 20 + l4.len());
    f.extend_from_slice(&ep.dst_mac);
    f.extend_from_slice(&ep.src_mac);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let total = (20 + l4.len()) as u16;
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = ep.ttl;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&ep.src.octets());
    ip[16..20].copy_from_slice(&ep.dst.octets());
    let csum = checksum_finish(checksum_add(0, &ip));
    ip[10..12].copy_from_slice(&csum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(l4);
    f
}

/// Sets the transport checksum at `csum_at` using the IPv4 pseudo-header.
fn set_l4_checksum(ep: &Ipv4Endpoints, proto: u8, l4: &mut [u8], csum_at: usize) {
    let mut sum = checksum_add(0, &ep.src.octets());
    sum = checksum_add(sum, &ep.dst.octets());
    sum += proto as u32 + l4.len() as u32;
    sum = checksum_add(sum, l4);
    let mut csum = checksum_finish(sum);
    if proto == 17 && csum == 0 {
        csum = 0xffff;
    }
    l4[csum_at..csum_at + 2].copy_from_slice(&csum.to_be_bytes());
}

/// An Ethernet/IPv4/TCP frame (20-byte TCP header, no options).
pub fn ipv4_tcp(ep: &Ipv4Endpoints, seg: &TcpSegment<'_>) -> Vec<u8> {
    let mut l4 = vec![0u8; 20];
    l4[0..2].copy_from_slice(&seg.src_port.to_be_bytes());
    l4[2..4].copy_from_slice(&seg.dst_port.to_be_bytes());
    l4[4..8].copy_from_slice(&seg.seq.to_be_bytes());
    l4[8..12].copy_from_slice(&seg.ack.to_be_bytes());
    l4[12] = 5 << 4;
    l4[13] = seg.flags;
    l4[14..16].copy_from_slice(&seg.window.to_be_bytes());
    l4.extend_from_slice(seg.payload);
    set_l4_checksum(ep, 6, &mut l4, 16);
    ipv4_frame(ep, 6, &l4)
}

/// An Ethernet/IPv4/UDP frame.
pub fn ipv4_udp(ep: &Ipv4Endpoints, src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut l4 = vec![0u8; 8];
    l4[0..2].copy_from_slice(&src_port.to_be_bytes());
    l4[2..4].copy_from_slice(&dst_port.to_be_bytes());
    l4[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    l4.extend_from_slice(payload);
    set_l4_checksum(ep, 17, &mut l4, 6);
    ipv4_frame(ep, 17, &l4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::packet::{parse_ethernet, FrameBytes};

    fn ep() -> Ipv4Endpoints {
        Ipv4Endpoints {
            src_mac: [2, 0, 0, 0, 0, 2],
            dst_mac: [2, 0, 0, 0, 0, 1],
            src: Ipv4Addr::new(10, 203, 0, 2),
            dst: Ipv4Addr::new(10, 203, 0, 1),
            ttl: 64,
        }
    }

    #[test]
    fn checksums_verify_to_zero() {
        let f = ipv4_tcp(
            &ep(),
            &TcpSegment {
                src_port: 1,
                dst_port: 2,
                seq: 7,
                ack: 0,
                flags: TCP_SYN,
                window: 64240,
                payload: b"abc",
            },
        );
        assert_eq!(
            checksum_finish(checksum_add(0, &f[14..34])),
            0,
            "IPv4 header checksum"
        );
        let mut pseudo = checksum_add(0, &f[26..34]);
        pseudo += 6 + (f.len() - 34) as u32;
        assert_eq!(checksum_finish(checksum_add(pseudo, &f[34..])), 0, "TCP checksum");
    }

    #[test]
    fn shared_parser_reads_what_the_builder_wrote() {
        let f = ipv4_udp(&ep(), 40000, 53, &[1, 2, 3, 4, 5]);
        let p = parse_ethernet(&FrameBytes {
            data: &f,
            wire_len_bytes: f.len() as u32,
        })
        .expect("parses");
        assert_eq!(
            (p.src_port, p.dst_port, p.proto, p.payload_bytes, p.frame_bytes),
            (40000, 53, 17, 5, 47)
        );
        // A known reference value: the UDP checksum of this exact datagram.
        assert_eq!(u16::from_be_bytes([f[40], f[41]]), 0x44c0); // computed independently with Python (RFC 768 pseudo-header sum)
    }
}
