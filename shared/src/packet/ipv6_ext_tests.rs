//! IPv6 extension headers: walked to the upper-layer header, their bytes counted as header bytes.

use super::ipv6_ext::*;
use super::*;

extern crate std;
use std::vec::Vec;

/// An Ethernet frame holding an IPv6 packet: fixed header (first next header `first`, payload
/// length from the rest), the extension headers `ext` and the upper-layer bytes `l4`.
fn ipv6(first: u8, ext: &[Vec<u8>], l4: &[u8]) -> Vec<u8> {
    let mut f = std::vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd];
    let payload: usize = ext.iter().map(Vec::len).sum::<usize>() + l4.len();
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(payload as u16).to_be_bytes());
    f.extend_from_slice(&[first, 64]);
    f.extend_from_slice(&[0x20, 1, 0xd, 0xb8]);
    f.extend_from_slice(&[0u8; 11]);
    f.push(2);
    f.extend_from_slice(&[0x20, 1, 0xd, 0xb8]);
    f.extend_from_slice(&[0u8; 11]);
    f.push(1);
    for e in ext {
        f.extend_from_slice(e);
    }
    f.extend_from_slice(l4);
    f
}

/// A hop-by-hop, routing or destination options header of `(len_field + 1) * 8` bytes.
fn options(next: u8, len_field: u8) -> Vec<u8> {
    let mut h = std::vec![next, len_field];
    h.resize((len_field as usize + 1) * 8, 0x01);
    h
}

/// An authentication header of `(len_field + 2) * 4` bytes.
fn auth(next: u8, len_field: u8) -> Vec<u8> {
    let mut h = std::vec![next, len_field];
    h.resize((len_field as usize + 2) * 4, 0x33);
    h
}

/// A fragment header: offset in 8-byte units, "more fragments" flag.
fn fragment(next: u8, offset_units: u16, more: bool) -> Vec<u8> {
    let mut h = std::vec![next, 0];
    h.extend_from_slice(&((offset_units << 3) | more as u16).to_be_bytes());
    h.extend_from_slice(&[0, 0, 0x12, 0x34]);
    h
}

/// A SYN from port 40000 to 443 with `payload` bytes.
fn tcp(payload: usize) -> Vec<u8> {
    let mut t = std::vec![0u8; 20];
    t[0..2].copy_from_slice(&40000u16.to_be_bytes());
    t[2..4].copy_from_slice(&443u16.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = 0x02;
    t[14..16].copy_from_slice(&64800u16.to_be_bytes());
    t.resize(20 + payload, 0x5a);
    t
}

fn parse(f: &[u8]) -> Result<ParsedPacket, ParseError> {
    parse_ethernet(&FrameBytes {
        data: f,
        wire_len_bytes: f.len() as u32,
    })
}

/// (proto, dst_port, header_bytes, payload_bytes) of a parsed frame.
fn summary(f: &[u8]) -> Result<(u8, u16, u32, u32), ParseError> {
    parse(f).map(|p| (p.proto, p.dst_port, p.header_bytes, p.payload_bytes))
}

#[test]
fn each_options_header_is_walked_with_its_length_in_8_byte_units() {
    for kind in [NEXT_HEADER_HOP_BY_HOP, NEXT_HEADER_ROUTING, NEXT_HEADER_DEST_OPTS] {
        for len_field in [0u8, 1, 5] {
            let ext_bytes = (len_field as u32 + 1) * 8;
            let f = ipv6(kind, &[options(PROTO_TCP, len_field)], &tcp(100));
            assert_eq!(
                summary(&f),
                Ok((PROTO_TCP, 443, 40 + ext_bytes + 20, 100)),
                "next header {kind}, length field {len_field}"
            );
        }
    }
    let p = parse(&ipv6(NEXT_HEADER_DEST_OPTS, &[options(PROTO_TCP, 0)], &tcp(0))).expect("parses");
    assert_eq!(
        (p.src_port, p.tcp_flags, p.tcp_window, p.ip_version),
        (40000, 0x02, 64800, 6)
    );
    assert_eq!(p.frame_bytes, 14 + 40 + 8 + 20);
}

#[test]
fn the_authentication_header_is_walked_with_its_length_in_4_byte_units() {
    // (len + 2) * 4: 12 bytes for len 1 (the smallest with a 32-bit ICV), 24 for len 4.
    for (len_field, ext_bytes) in [(1u8, 12u32), (4, 24)] {
        let f = ipv6(NEXT_HEADER_AUTH, &[auth(PROTO_UDP, len_field)], &udp_bytes(9));
        assert_eq!(
            summary(&f),
            Ok((PROTO_UDP, 53, 40 + ext_bytes + 8, 9)),
            "length field {len_field}"
        );
    }
}

fn udp_bytes(payload: usize) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&5353u16.to_be_bytes());
    u.extend_from_slice(&53u16.to_be_bytes());
    u.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.resize(8 + payload, 0xab);
    u
}

#[test]
fn a_first_fragment_is_walked_a_later_one_is_a_fragment() {
    // First fragment (offset 0, more fragments) and an atomic fragment (offset 0, none): the
    // upper-layer header follows; the header counts 8 bytes.
    for more in [true, false] {
        let f = ipv6(NEXT_HEADER_FRAGMENT, &[fragment(PROTO_TCP, 0, more)], &tcp(64));
        assert_eq!(summary(&f), Ok((PROTO_TCP, 443, 40 + 8 + 20, 64)), "more {more}");
    }
    // A later fragment carries no transport header, whatever its bytes look like.
    for offset_units in [1u16, 185, 0x1fff] {
        let f = ipv6(
            NEXT_HEADER_FRAGMENT,
            &[fragment(PROTO_TCP, offset_units, true)],
            &tcp(64),
        );
        assert_eq!(parse(&f), Err(ParseError::Fragment), "offset {offset_units}");
    }
    // A first fragment whose TCP header does not fit in the frame: truncated, never guessed.
    let f = ipv6(
        NEXT_HEADER_FRAGMENT,
        &[fragment(PROTO_TCP, 0, true)],
        &tcp(0)[..12],
    );
    assert_eq!(parse(&f), Err(ParseError::Truncated));
    // Behind another header too.
    let f = ipv6(
        NEXT_HEADER_HOP_BY_HOP,
        &[options(NEXT_HEADER_FRAGMENT, 0), fragment(PROTO_UDP, 2, false)],
        &udp_bytes(4),
    );
    assert_eq!(parse(&f), Err(ParseError::Fragment));
}

#[test]
fn up_to_the_limit_is_walked_and_one_more_is_too_many() {
    // A chain of `n` headers in RFC 8200's order (hop-by-hop first), then TCP.
    let chain = |n: usize| -> Vec<u8> {
        let kinds = [
            NEXT_HEADER_HOP_BY_HOP,
            NEXT_HEADER_DEST_OPTS,
            NEXT_HEADER_ROUTING,
            NEXT_HEADER_FRAGMENT,
            NEXT_HEADER_AUTH,
            NEXT_HEADER_DEST_OPTS,
        ];
        let next = |i: usize| if i + 1 < n { kinds[i + 1] } else { PROTO_TCP };
        let ext: Vec<Vec<u8>> = (0..n)
            .map(|i| match kinds[i] {
                NEXT_HEADER_FRAGMENT => fragment(next(i), 0, false),
                NEXT_HEADER_AUTH => auth(next(i), 1),
                _ => options(next(i), 0),
            })
            .collect();
        ipv6(if n == 0 { PROTO_TCP } else { kinds[0] }, &ext, &tcp(10))
    };
    for n in 0..=MAX_IPV6_EXTENSION_HEADERS {
        assert_eq!(
            summary(&chain(n)),
            Ok((PROTO_TCP, 443, 40 + 8 * n as u32 + 20, 10)),
            "{n} headers"
        );
    }
    assert_eq!(
        parse(&chain(MAX_IPV6_EXTENSION_HEADERS + 1)),
        Err(ParseError::TooManyIpv6ExtensionHeaders)
    );
    // Five destination options headers: the evasion the limit is for, counted.
    let five: Vec<Vec<u8>> = (0..5)
        .map(|i| options(if i < 4 { NEXT_HEADER_DEST_OPTS } else { PROTO_TCP }, 0))
        .collect();
    assert_eq!(
        parse(&ipv6(NEXT_HEADER_DEST_OPTS, &five, &tcp(0))),
        Err(ParseError::TooManyIpv6ExtensionHeaders)
    );
}

#[test]
fn esp_no_next_header_and_unknown_protocols_are_unparsed() {
    // ESP: the rest is encrypted. No Next Header: nothing follows.
    for next in [NEXT_HEADER_ESP, NEXT_HEADER_NONE, 132 /* SCTP */] {
        let direct = ipv6(next, &[], &[0u8; 24]);
        assert_eq!(parse(&direct), Err(ParseError::UnknownNextHeader), "{next}");
        let behind = ipv6(NEXT_HEADER_DEST_OPTS, &[options(next, 0)], &[0u8; 24]);
        assert_eq!(
            parse(&behind),
            Err(ParseError::UnknownNextHeader),
            "{next} behind"
        );
    }
}

#[test]
fn a_cut_or_overlong_extension_header_is_never_a_flow() {
    let whole = ipv6(NEXT_HEADER_ROUTING, &[options(PROTO_TCP, 2)], &tcp(0));
    // Cut anywhere inside the IPv6 header, the extension header or the TCP header.
    for cut in 14..whole.len() {
        assert_eq!(parse(&whole[..cut]), Err(ParseError::Truncated), "cut at {cut}");
    }
    assert!(parse(&whole).is_ok());
    // The extension header claims more bytes than the frame holds: its end, where TCP would
    // start, is past the frame.
    let mut long = whole.clone();
    long[14 + 40 + 1] = 200;
    assert_eq!(parse(&long), Err(ParseError::Truncated));
    // Within the frame but past the IPv6 payload length (Linux drops it): bad_ip_header.
    let mut past_payload = ipv6(NEXT_HEADER_DEST_OPTS, &[options(PROTO_TCP, 4)], &tcp(0));
    // 40 bytes of options in a payload of 28.
    past_payload[14 + 4..14 + 6].copy_from_slice(&28u16.to_be_bytes());
    assert_eq!(parse(&past_payload), Err(ParseError::BadIpHeader));
    // A jumbogram: hop-by-hop header walked, payload length 0 says nothing: bad_ip_header.
    let mut jumbo = ipv6(NEXT_HEADER_HOP_BY_HOP, &[options(PROTO_TCP, 0)], &tcp(100));
    jumbo[14 + 4..14 + 6].copy_from_slice(&0u16.to_be_bytes());
    assert_eq!(parse(&jumbo), Err(ParseError::BadIpHeader));
}

#[test]
fn metadata_vlan_and_extension_headers_together_report_wire_lengths() {
    // The probe's view at ingress with rx VLAN offload: the tag in metadata, offsets 4 bytes
    // short of the capture's; the extension header walk must use the buffer's offsets.
    struct Untagged<'a>(&'a [u8]);
    impl PacketBytes for Untagged<'_> {
        fn read<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
            FrameBytes {
                data: self.0,
                wire_len_bytes: self.0.len() as u32,
            }
            .read(offset)
        }
        fn frame_len(&self) -> u32 {
            self.0.len() as u32
        }
        fn metadata_vlan(&self) -> Option<VlanTag> {
            Some(VlanTag { tci: 0x2000 | 943 })
        }
    }
    let f = ipv6(NEXT_HEADER_DEST_OPTS, &[options(PROTO_TCP, 1)], &tcp(7));
    let p = parse_ethernet(&Untagged(&f)).expect("parses");
    assert_eq!(
        (
            p.vlan_id,
            p.dst_port,
            p.header_bytes,
            p.payload_bytes,
            p.frame_bytes
        ),
        (943, 443, 40 + 16 + 20, 7, f.len() as u32 + 4)
    );
}
