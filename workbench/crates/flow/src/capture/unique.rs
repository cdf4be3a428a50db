//! New flows on every pass of a looped replay, the way tcpreplay's `--unique-ip` does it: on pass
//! `p` (0-based) the address of each flow's initiator (the sender of its first packet, as the
//! probe orients flows) is moved by `p x 65,536` (10.10.3.7 becomes 10.11.3.7 on pass 1,
//! 10.12.3.7 on pass 2), in every packet of the flow, both directions. Pass 0 sends the capture
//! as it is.
//!
//! Why the initiator's address: a pass then makes the flows of the capture again, each with the
//! packets it was captured with, instead of adding packets to the flows of the previous pass
//! (a 1-packet SYN flood flow had 16 packets after 16 passes). Ports, the responder's address and
//! every other header field stay, so every feature the probe computes is the captured one (ports
//! are features, addresses are not), the responder is the captured server, and a flow of pass
//! `p` names its captured flow through [`passes_between`].
//!
//! Checksums are kept valid by RFC 1624's incremental update: the IPv4 header checksum and the
//! TCP, UDP and ICMPv6 checksums whose pseudo-header holds the address (a UDP checksum of 0,
//! "none", stays 0). The probe never checks them, but a capture of the replayed traffic then
//! reads as valid in any tool (but for frames replay padded after a snap length cut them: their
//! transport checksum is the original payload's, not the zeros'), and a truncated frame needs no
//! payload to be rewritten.
//!
//! Frames the probe's parser refuses at their length on the wire (not IP, IP fragments, other
//! protocols, an IP length past the frame's end) pass unchanged: the probe makes no flow of
//! them. Distinct flows stay distinct as long as no two initiator addresses of the capture
//! differ by a multiple of 65,536 within the passes run, and for 65,536 passes of IPv4 (the
//! offset wraps after that).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use shared::packet::ipv6_ext::skip_extension_headers;
use shared::packet::{parse_ethernet, FrameBytes, ETHERTYPE_QINQ, ETHERTYPE_VLAN};

/// Bytes of the fixed IPv6 header.
const IPV6_HEADER_BYTES: usize = 40;
use shared::FlowKey;

/// How far one pass moves an initiator's address.
pub const PASS_STRIDE: u64 = 1 << 16;

const ETH_HEADER_BYTES: usize = 14;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_ICMPV6: u8 = 58;

/// The address a captured initiator address has on pass `pass`.
pub fn shift(addr: IpAddr, pass: u64) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let by = (pass.wrapping_mul(PASS_STRIDE)) as u32;
            IpAddr::V4(Ipv4Addr::from(u32::from(a).wrapping_add(by)))
        }
        IpAddr::V6(a) => {
            let by = u128::from(pass).wrapping_mul(u128::from(PASS_STRIDE));
            IpAddr::V6(Ipv6Addr::from(u128::from(a).wrapping_add(by)))
        }
    }
}

/// The pass on which captured address `original` is replayed as `replayed`, if any (for IPv4
/// the pass modulo 65,536).
pub fn passes_between(original: IpAddr, replayed: IpAddr) -> Option<u64> {
    let stride = u128::from(PASS_STRIDE);
    let diff = match (original, replayed) {
        (IpAddr::V4(o), IpAddr::V4(r)) => u128::from(u32::from(r).wrapping_sub(u32::from(o))),
        (IpAddr::V6(o), IpAddr::V6(r)) => u128::from(r).wrapping_sub(u128::from(o)),
        _ => return None,
    };
    (diff % stride == 0)
        .then(|| u64::try_from(diff / stride).ok())
        .flatten()
}

/// Rewrites the frames of one pass after another; remembers, within a pass, which end of each
/// flow spoke first.
#[derive(Debug, Default)]
pub struct PassRewriter {
    pass: u64,
    /// Per flow of this pass: whether its initiator is the flow key's `lo` end.
    initiator_is_lo: HashMap<FlowKey, bool>,
}

impl PassRewriter {
    pub fn new() -> Self {
        PassRewriter::default()
    }

    /// Starts pass `pass` (0: frames go out as captured).
    pub fn start_pass(&mut self, pass: u64) {
        self.pass = pass;
        self.initiator_is_lo.clear();
    }

    pub fn pass(&self) -> u64 {
        self.pass
    }

    /// Rewrites one Ethernet frame of the current pass in place (see the module comment);
    /// returns whether it changed. `wire_len_bytes` is the frame's length on the wire (more
    /// than `frame.len()` when a snap length cut it and it was not padded back): the frame is
    /// parsed as the probe and `features` parse it, so a frame whose IP length reaches past
    /// its end on the wire, which both refuse, makes no flow here either and passes unchanged.
    pub fn rewrite(&mut self, frame: &mut [u8], wire_len_bytes: u32) -> bool {
        if self.pass == 0 {
            return false;
        }
        let Ok(parsed) = parse_ethernet(&FrameBytes {
            data: frame,
            wire_len_bytes,
        }) else {
            return false;
        };
        let oriented = FlowKey::of(&parsed);
        let initiator_is_lo = *self
            .initiator_is_lo
            .entry(oriented.key)
            .or_insert(oriented.from_lo);
        let from_initiator = oriented.from_lo == initiator_is_lo;
        let Some(l3) = network_offset(frame) else {
            return false;
        };
        // IPv6: the transport header follows the extension headers the parser walked (their
        // checksum fields are not at a fixed 40 bytes from the IP header).
        let ext_bytes = if parsed.ip_version == 6 {
            let Some(&next_header) = frame.get(l3 + 6) else {
                return false;
            };
            let bytes = FrameBytes {
                data: frame,
                wire_len_bytes,
            };
            match skip_extension_headers(&bytes, l3 + IPV6_HEADER_BYTES, next_header) {
                Ok((_, ext_bytes)) => ext_bytes as usize,
                Err(_) => return false,
            }
        } else {
            0
        };
        rewrite_ip(
            frame,
            l3,
            ext_bytes,
            parsed.ip_version == 4,
            parsed.proto,
            from_initiator,
            self.pass,
        )
    }
}

/// Where the IP header starts: after the Ethernet header and up to two VLAN tags (the probe's
/// parser accepted the frame, so the tags and header are there).
fn network_offset(frame: &[u8]) -> Option<usize> {
    let mut offset = ETH_HEADER_BYTES;
    let mut ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    while ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
        ethertype = u16::from_be_bytes([*frame.get(offset + 2)?, *frame.get(offset + 3)?]);
        offset += 4;
    }
    Some(offset)
}

/// Moves the initiator's address (the source when `from_initiator`, else the destination) and
/// updates the checksums that cover it.
fn rewrite_ip(
    frame: &mut [u8],
    l3: usize,
    ipv6_ext_bytes: usize,
    v4: bool,
    proto: u8,
    from_initiator: bool,
    pass: u64,
) -> bool {
    let Some(&version_ihl) = frame.get(l3) else {
        return false;
    };
    let (addr_at, addr_len, l4) = if v4 {
        let at = if from_initiator { l3 + 12 } else { l3 + 16 };
        (at, 4, l3 + usize::from(version_ihl & 0x0f) * 4)
    } else {
        let at = if from_initiator { l3 + 8 } else { l3 + 24 };
        (at, 16, l3 + IPV6_HEADER_BYTES + ipv6_ext_bytes)
    };
    let Some(old) = frame.get(addr_at..addr_at + addr_len).map(<[u8]>::to_vec) else {
        return false;
    };
    let addr = if v4 {
        IpAddr::V4(Ipv4Addr::new(old[0], old[1], old[2], old[3]))
    } else {
        let mut a = [0u8; 16];
        a.copy_from_slice(&old);
        IpAddr::V6(Ipv6Addr::from(a))
    };
    let new: Vec<u8> = match shift(addr, pass) {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    frame[addr_at..addr_at + addr_len].copy_from_slice(&new);
    if v4 {
        update_checksum(frame, l3 + 10, &old, &new, false);
    }
    match proto {
        PROTO_TCP => update_checksum(frame, l4 + 16, &old, &new, false),
        PROTO_UDP => update_checksum(frame, l4 + 6, &old, &new, true),
        PROTO_ICMPV6 if !v4 => update_checksum(frame, l4 + 2, &old, &new, false),
        _ => {}
    }
    true
}

/// RFC 1624 (eqn. 3): the checksum at `at` after the 16-bit words `old` became `new`, without
/// reading the data it covers. `udp`: 0 means "no checksum" and stays 0, and a result of 0 is
/// sent as 0xffff. A checksum field past the captured bytes is left alone.
fn update_checksum(frame: &mut [u8], at: usize, old: &[u8], new: &[u8], udp: bool) {
    let Some(field) = frame.get(at..at + 2) else {
        return;
    };
    let checksum = u16::from_be_bytes([field[0], field[1]]);
    if udp && checksum == 0 {
        return;
    }
    let mut sum = u32::from(!checksum);
    for (o, n) in old.chunks_exact(2).zip(new.chunks_exact(2)) {
        sum += u32::from(!u16::from_be_bytes([o[0], o[1]]));
        sum += u32::from(u16::from_be_bytes([n[0], n[1]]));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let mut updated = !(sum as u16);
    if udp && updated == 0 {
        updated = 0xffff;
    }
    frame[at..at + 2].copy_from_slice(&updated.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::{self, Ipv4Endpoints, TcpSegment, TCP_ACK, TCP_SYN};

    fn endpoints(src: Ipv4Addr, dst: Ipv4Addr) -> Ipv4Endpoints {
        Ipv4Endpoints {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src,
            dst,
            ttl: 64,
        }
    }

    /// Rewrites a frame captured whole (its length is its length on the wire).
    fn whole(r: &mut PassRewriter, frame: &mut [u8]) -> bool {
        let wire_len_bytes = frame.len() as u32;
        r.rewrite(frame, wire_len_bytes)
    }

    fn tcp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, flags: u8) -> Vec<u8> {
        craft::ipv4_tcp(
            &endpoints(src, dst),
            &TcpSegment {
                src_port: sport,
                dst_port: dport,
                seq: 7,
                ack: 9,
                flags,
                window: 64240,
                payload: b"some payload bytes",
            },
        )
    }

    #[test]
    fn a_rewritten_frame_is_the_frame_crafted_with_the_shifted_initiator() {
        let (client, server) = (Ipv4Addr::new(10, 10, 3, 7), Ipv4Addr::new(198, 51, 100, 10));
        let moved = Ipv4Addr::new(10, 12, 3, 7);
        assert_eq!(shift(IpAddr::V4(client), 2), IpAddr::V4(moved));
        let mut r = PassRewriter::new();
        r.start_pass(2);
        // The flow's first packet names the initiator; its answer moves the destination.
        let mut syn = tcp(client, 40000, server, 80, TCP_SYN);
        let mut syn_ack = tcp(server, 80, client, 40000, TCP_SYN | TCP_ACK);
        assert!(whole(&mut r, &mut syn) && whole(&mut r, &mut syn_ack));
        assert_eq!(syn, tcp(moved, 40000, server, 80, TCP_SYN));
        assert_eq!(syn_ack, tcp(server, 80, moved, 40000, TCP_SYN | TCP_ACK));
        // UDP too, its checksum included.
        let mut q = craft::ipv4_udp(&endpoints(client, server), 5353, 53, b"query");
        assert!(whole(&mut r, &mut q));
        assert_eq!(q, craft::ipv4_udp(&endpoints(moved, server), 5353, 53, b"query"));
        // A new pass forgets who spoke first: here the server's packet comes first.
        r.start_pass(1);
        let mut first = tcp(server, 80, client, 40001, TCP_ACK);
        assert!(whole(&mut r, &mut first));
        assert_eq!(
            first,
            tcp(Ipv4Addr::new(198, 52, 100, 10), 80, client, 40001, TCP_ACK)
        );
    }

    #[test]
    fn pass_zero_and_frames_the_probe_refuses_go_out_unchanged() {
        let frame = tcp(
            Ipv4Addr::new(10, 0, 0, 1),
            1,
            Ipv4Addr::new(10, 0, 0, 2),
            2,
            TCP_SYN,
        );
        let mut r = PassRewriter::new();
        let mut same = frame.clone();
        assert!(!whole(&mut r, &mut same));
        assert_eq!(same, frame);
        r.start_pass(3);
        let mut arp = vec![0u8; 42];
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert!(!whole(&mut r, &mut arp.clone()));
        let mut fragment = frame.clone();
        fragment[20] = 0x00;
        fragment[21] = 0x10; // fragment offset 16
        assert!(!whole(&mut r, &mut fragment));
    }

    #[test]
    fn udp_without_checksum_stays_without_and_truncated_frames_are_rewritten() {
        let (a, b) = (Ipv4Addr::new(10, 10, 1, 1), Ipv4Addr::new(10, 20, 0, 1));
        let mut r = PassRewriter::new();
        r.start_pass(1);
        let mut udp = craft::ipv4_udp(&endpoints(a, b), 1000, 2000, b"x");
        udp[14 + 20 + 6..14 + 20 + 8].copy_from_slice(&[0, 0]);
        assert!(whole(&mut r, &mut udp));
        assert_eq!(&udp[14 + 20 + 6..14 + 20 + 8], &[0, 0]);
        assert_eq!(&udp[14 + 12..14 + 16], &[10, 11, 1, 1]);
        // Captured without its payload (a 54-byte snap length): both checksums still agree with
        // the ones crafted over the whole packet.
        let full = tcp(a, 1, b, 2, TCP_SYN);
        let mut cut = full[..14 + 20 + 20].to_vec();
        assert!(r.rewrite(&mut cut, full.len() as u32));
        let expect = tcp(Ipv4Addr::new(10, 11, 1, 1), 1, b, 2, TCP_SYN);
        assert_eq!(cut, expect[..cut.len()]);
    }

    /// The one's-complement sum of `bytes` as 16-bit words (an odd last byte padded).
    fn sum16(bytes: &[u8]) -> u32 {
        bytes
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
            .sum()
    }

    /// Ethernet + IPv6 (source `src`) + an 8-byte destination-options header + TCP with its
    /// checksum computed over the pseudo-header, as a sender would.
    fn ipv6_tcp_behind_destination_options(src: [u8; 16]) -> Vec<u8> {
        let dst = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let payload = b"abc";
        let mut tcp = vec![0u8; 20];
        tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&443u16.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = TCP_SYN;
        tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
        tcp.extend_from_slice(payload);
        let tcp_len = tcp.len() as u32;
        let mut sum = sum16(&src) + sum16(&dst) + tcp_len + 6 + sum16(&tcp);
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        tcp[16..18].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        let options = [6u8, 0, 1, 4, 0, 0, 0, 0]; // next header TCP, 8 bytes, PadN
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&0x86ddu16.to_be_bytes());
        frame.extend_from_slice(&[0x60, 0, 0, 0]);
        frame.extend_from_slice(&((options.len() + tcp.len()) as u16).to_be_bytes());
        frame.extend_from_slice(&[60, 64]); // destination options, hop limit
        frame.extend_from_slice(&src);
        frame.extend_from_slice(&dst);
        frame.extend_from_slice(&options);
        frame.extend_from_slice(&tcp);
        frame
    }

    #[test]
    fn ipv6_behind_extension_headers_is_rewritten_at_its_transport_header() {
        let src = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let mut r = PassRewriter::new();
        r.start_pass(1);
        let mut frame = ipv6_tcp_behind_destination_options(src);
        assert!(whole(&mut r, &mut frame));
        let moved: [u8; 16] = frame[22..38].try_into().expect("16 bytes");
        assert_ne!(moved, src);
        // Exactly the frame a sender with the moved address would have built: the extension
        // header and the ports untouched, the TCP checksum the one over the new address.
        assert_eq!(frame, ipv6_tcp_behind_destination_options(moved));
    }

    #[test]
    fn a_frame_is_parsed_at_its_wire_length_as_the_probe_parses_it() {
        let (a, b) = (Ipv4Addr::new(10, 10, 1, 1), Ipv4Addr::new(10, 20, 0, 1));
        let mut r = PassRewriter::new();
        r.start_pass(1);
        // A decoy claiming 640 IP bytes in a 72-byte frame: the probe and `features` refuse it
        // (bad_ip_header), so it names no flow's initiator and is not moved.
        let mut decoy = tcp(a, 1, b, 2, TCP_SYN);
        decoy[14 + 2..14 + 4].copy_from_slice(&640u16.to_be_bytes());
        let before = decoy.clone();
        assert!(!whole(&mut r, &mut decoy));
        assert_eq!(decoy, before);
        // The same bytes as the head of a 654-byte frame a snap length cut: a packet, moved.
        assert!(r.rewrite(&mut decoy, 14 + 640));
        assert_eq!(&decoy[14 + 12..14 + 16], &[10, 11, 1, 1]);
    }

    /// One's complement sum of 16-bit words.
    fn ones_sum(mut sum: u32, data: &[u8]) -> u32 {
        for c in data.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum
    }

    /// An Ethernet + IPv6 + TCP frame with a correct checksum.
    fn tcp_v6(src: Ipv6Addr, dst: Ipv6Addr, flags: u8) -> Vec<u8> {
        let mut tcp = vec![0u8; 20];
        tcp[0..2].copy_from_slice(&443u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&50000u16.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = flags;
        tcp.extend_from_slice(b"payload");
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&src.octets());
        pseudo.extend_from_slice(&dst.octets());
        pseudo.extend_from_slice(&(tcp.len() as u32).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, PROTO_TCP]);
        let sum = ones_sum(ones_sum(0, &pseudo), &tcp);
        tcp[16..18].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd];
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        f.extend_from_slice(&[PROTO_TCP, 64]);
        f.extend_from_slice(&src.octets());
        f.extend_from_slice(&dst.octets());
        f.extend_from_slice(&tcp);
        f
    }

    #[test]
    fn ipv6_and_vlan_tagged_frames_are_rewritten_with_valid_checksums() {
        let (a, b): (Ipv6Addr, Ipv6Addr) = (
            "2001:db8::7".parse().expect("a"),
            "2001:db8:1::1".parse().expect("b"),
        );
        let moved: Ipv6Addr = "2001:db8::2:7".parse().expect("moved");
        let mut r = PassRewriter::new();
        r.start_pass(2);
        let mut f = tcp_v6(a, b, TCP_SYN);
        assert!(whole(&mut r, &mut f));
        assert_eq!(f, tcp_v6(moved, b, TCP_SYN));
        // 802.1Q tag between the MAC addresses and the IPv4 header.
        let plain = tcp(
            Ipv4Addr::new(10, 10, 1, 1),
            1,
            Ipv4Addr::new(10, 20, 0, 1),
            2,
            TCP_SYN,
        );
        let tag = |f: &[u8]| [&f[..12], &[0x81, 0x00, 0x00, 0x2a], &f[12..]].concat();
        let mut tagged = tag(&plain);
        assert!(whole(&mut r, &mut tagged));
        let expect = tcp(
            Ipv4Addr::new(10, 12, 1, 1),
            1,
            Ipv4Addr::new(10, 20, 0, 1),
            2,
            TCP_SYN,
        );
        assert_eq!(tagged, tag(&expect));
    }

    #[test]
    fn the_pass_of_a_replayed_address_is_found_again() {
        let a = IpAddr::V4(Ipv4Addr::new(10, 10, 3, 7));
        for pass in [0, 1, 5, 300] {
            assert_eq!(passes_between(a, shift(a, pass)), Some(pass));
        }
        assert_eq!(passes_between(a, IpAddr::V4(Ipv4Addr::new(10, 10, 3, 8))), None);
        let v6: IpAddr = "2001:db8::1".parse().expect("address");
        assert_eq!(shift(v6, 1), "2001:db8::1:1".parse::<IpAddr>().expect("address"));
        assert_eq!(passes_between(v6, shift(v6, 7)), Some(7));
        assert_eq!(passes_between(a, v6), None);
    }
}
