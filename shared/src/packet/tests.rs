use super::*;
use crate::flow::FlowKey;

extern crate std;
use std::vec::Vec;

fn eth(ethertype: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

fn ipv4(proto: u8, payload_len: u16, ihl_words: u8, frag: u16) -> Vec<u8> {
    let total = 4 * ihl_words as u16 + payload_len;
    let mut h = std::vec![0x40 | ihl_words, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0, 1]);
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1]);
    h.resize(4 * ihl_words as usize, 0);
    h
}

fn udp(sport: u16, dport: u16, payload: usize) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.resize(8 + payload, 0xab);
    u
}

fn frame(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn parse(f: &[u8]) -> Result<ParsedPacket, ParseError> {
    parse_ethernet(&FrameBytes {
        data: f,
        wire_len_bytes: f.len() as u32,
    })
}

#[test]
fn ipv4_udp_fields() {
    let f = frame(&[
        &eth(ETHERTYPE_IPV4),
        &ipv4(PROTO_UDP, 8 + 5, 5, 0),
        &udp(40000, 53, 5),
    ]);
    let p = parse(&f).expect("parses");
    assert_eq!(
        (p.src_port, p.dst_port, p.proto, p.ip_version, p.ttl),
        (40000, 53, 17, 4, 64)
    );
    assert_eq!(p.src_addr.bytes()[..4], [10, 0, 0, 2]);
    assert_eq!(p.src_addr, Addr::v4([10, 0, 0, 2]));
    assert_eq!(
        (p.frame_bytes, p.header_bytes, p.payload_bytes),
        (14 + 20 + 8 + 5, 28, 5)
    );
}

#[test]
fn tcp_flags_window_and_options() {
    let mut tcp = std::vec![0u8; 24];
    tcp[0..2].copy_from_slice(&1234u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
    tcp[12] = 6 << 4; // 24-byte header
    tcp[13] = 0x02; // SYN
    tcp[14..16].copy_from_slice(&29200u16.to_be_bytes());
    let f = frame(&[&eth(ETHERTYPE_IPV4), &ipv4(PROTO_TCP, 24, 6, 0x4000), &tcp]);
    let p = parse(&f).expect("parses");
    assert_eq!(
        (p.tcp_flags, p.tcp_window, p.header_bytes, p.payload_bytes),
        (0x02, 29200, 24 + 24, 0)
    );
}

#[test]
fn vlan_and_qinq_are_walked_three_tags_are_not() {
    let body = [ipv4(PROTO_UDP, 8, 5, 0), udp(1, 2, 0)].concat();
    let tag = |tpid_next: u16| [0u8, 5, (tpid_next >> 8) as u8, tpid_next as u8];
    let one = frame(&[&eth(ETHERTYPE_VLAN), &tag(ETHERTYPE_IPV4), &body]);
    assert_eq!(parse(&one).map(|p| p.dst_port), Ok(2));
    let two = frame(&[
        &eth(ETHERTYPE_QINQ),
        &tag(ETHERTYPE_VLAN),
        &tag(ETHERTYPE_IPV4),
        &body,
    ]);
    assert_eq!(parse(&two).map(|p| p.dst_port), Ok(2));
    let three = frame(&[
        &eth(ETHERTYPE_QINQ),
        &tag(ETHERTYPE_VLAN),
        &tag(ETHERTYPE_VLAN),
        &tag(ETHERTYPE_IPV4),
        &body,
    ]);
    assert_eq!(parse(&three), Err(ParseError::TooManyVlanTags));
}

#[test]
fn malformed_and_unsupported_are_reasons_not_guesses() {
    let arp = frame(&[&eth(0x0806), &[0u8; 28]]);
    assert_eq!(parse(&arp), Err(ParseError::NotIp));
    let ihl4 = frame(&[&eth(ETHERTYPE_IPV4), &ipv4(PROTO_UDP, 8, 5, 0), &udp(1, 2, 0)]);
    let mut bad = ihl4.clone();
    bad[14] = 0x44;
    assert_eq!(parse(&bad), Err(ParseError::BadIpHeader));
    let later_fragment = frame(&[
        &eth(ETHERTYPE_IPV4),
        &ipv4(PROTO_UDP, 8, 5, 0x0010),
        &udp(1, 2, 0),
    ]);
    assert_eq!(parse(&later_fragment), Err(ParseError::Fragment));
    let first_fragment = frame(&[
        &eth(ETHERTYPE_IPV4),
        &ipv4(PROTO_UDP, 8, 5, 0x2000),
        &udp(1, 2, 0),
    ]);
    assert_eq!(parse(&first_fragment).map(|p| p.src_port), Ok(1));
    let gre = frame(&[&eth(ETHERTYPE_IPV4), &ipv4(47, 8, 5, 0), &[0u8; 8]]);
    assert_eq!(parse(&gre), Err(ParseError::UnsupportedProtocol));
    let mut tcp = std::vec![0u8; 20];
    tcp[12] = 4 << 4;
    let short_doff = frame(&[&eth(ETHERTYPE_IPV4), &ipv4(PROTO_TCP, 20, 5, 0), &tcp]);
    assert_eq!(parse(&short_doff), Err(ParseError::BadTransportHeader));
    // Data offset 8 words (12 bytes of options) but the frame ends after the fixed 20 bytes:
    // the fuzz harness's minimal case (on IPv6); counted truncated, never 32 header bytes.
    tcp[12] = 8 << 4;
    let cut_options = frame(&[&eth(ETHERTYPE_IPV4), &ipv4(PROTO_TCP, 20, 5, 0), &tcp]);
    assert_eq!(parse(&cut_options), Err(ParseError::Truncated));
    let mut with_options = tcp.clone();
    with_options.extend_from_slice(&[1u8; 12]);
    let whole = frame(&[&eth(ETHERTYPE_IPV4), &ipv4(PROTO_TCP, 32, 5, 0), &with_options]);
    assert_eq!(parse(&whole).map(|p| p.header_bytes), Ok(52));
}

/// A hop-by-hop header no longer hides the packet (it was `UnknownNextHeader` before the
/// extension headers were walked; more cases in ipv6_ext_tests.rs).
#[test]
fn ipv6_hop_by_hop_header_is_walked_to_the_transport_header() {
    let mut h = std::vec![0x60u8, 0, 0, 0, 0, 16, 0 /* hop-by-hop */, 64];
    h.extend_from_slice(&[0u8; 32]);
    let hop_by_hop = [PROTO_UDP, 0, 1, 4, 0, 0, 0, 0];
    let f = frame(&[&eth(ETHERTYPE_IPV6), &h, &hop_by_hop, &udp(5, 6, 0)]);
    assert_eq!(
        parse(&f).map(|p| (p.ip_version, p.dst_port, p.header_bytes)),
        Ok((6, 6, 40 + 8 + 8))
    );
    h[5] = 8;
    h[6] = PROTO_UDP;
    let ok = frame(&[&eth(ETHERTYPE_IPV6), &h, &udp(5, 6, 0)]);
    assert_eq!(parse(&ok).map(|p| (p.ip_version, p.dst_port)), Ok((6, 6)));
}

#[test]
fn every_truncation_is_truncated_never_a_flow() {
    let mut tcp = std::vec![0u8; 20];
    tcp[12] = 5 << 4;
    let f = frame(&[&eth(ETHERTYPE_IPV4), &ipv4(PROTO_TCP, 20, 5, 0), &tcp]);
    for cut in 0..f.len() {
        assert_eq!(parse(&f[..cut]), Err(ParseError::Truncated), "cut at {cut}");
    }
    assert!(parse(&f).is_ok());
}

/// A SYN of 54 bytes on the wire whose IPv4 total length says 640: the decoy of a port scan
/// (the receiver drops it, so it must not count as the flow's packet).
#[test]
fn an_ipv4_total_length_beyond_the_wire_frame_is_a_bad_ip_header() {
    let mut tcp = std::vec![0u8; 20];
    tcp[0..2].copy_from_slice(&50000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&22u16.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x02;
    let honest = frame(&[&eth(ETHERTYPE_IPV4), &ipv4(PROTO_TCP, 20, 5, 0), &tcp]);
    assert_eq!(parse(&honest).map(|p| p.payload_bytes), Ok(0));
    let mut decoy = honest.clone();
    decoy[16..18].copy_from_slice(&640u16.to_be_bytes());
    assert_eq!(parse(&decoy), Err(ParseError::BadIpHeader));
    // One byte over the frame is enough; exactly the frame (or less, Ethernet padding) is fine.
    decoy[16..18].copy_from_slice(&41u16.to_be_bytes());
    assert_eq!(parse(&decoy), Err(ParseError::BadIpHeader));
    let mut padded = honest.clone();
    padded.resize(60, 0);
    assert_eq!(
        parse(&padded).map(|p| (p.payload_bytes, p.frame_bytes)),
        Ok((0, 60))
    );
    // A snap-length capture: the bytes are cut, the wire length is the frame's, so it parses.
    let mut long = frame(&[&eth(ETHERTYPE_IPV4), &ipv4(PROTO_TCP, 1020, 5, 0), &tcp]);
    long.resize(14 + 20 + 20 + 1000, 0x5a);
    let cut = FrameBytes {
        data: &long[..64],
        wire_len_bytes: long.len() as u32,
    };
    assert_eq!(parse_ethernet(&cut).map(|p| p.payload_bytes), Ok(1000));
    let lie = FrameBytes {
        data: &long[..64],
        wire_len_bytes: long.len() as u32 - 1,
    };
    assert_eq!(parse_ethernet(&lie), Err(ParseError::BadIpHeader));
}

#[test]
fn a_transport_header_longer_than_the_ip_payload_is_not_read_from_the_padding() {
    // A TCP header (20 bytes) behind an IPv4 total length that leaves it 10: the rest would
    // come from the Ethernet padding, which Linux trims before dropping the segment.
    let mut tcp = std::vec![0u8; 20];
    tcp[0..2].copy_from_slice(&50000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&22u16.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x02;
    let short = frame(&[&eth(ETHERTYPE_IPV4), &ipv4(PROTO_TCP, 10, 5, 0), &tcp]);
    assert_eq!(parse(&short), Err(ParseError::BadTransportHeader));
    // TCP options claimed beyond the IP payload but inside the frame: the same.
    let mut with_options = frame(&[&eth(ETHERTYPE_IPV4), &ipv4(PROTO_TCP, 20, 5, 0), &tcp]);
    with_options[14 + 20 + 12] = 8 << 4;
    with_options.resize(14 + 20 + 32, 0);
    assert_eq!(parse(&with_options), Err(ParseError::BadTransportHeader));
    // UDP and ICMP need their 8 bytes inside the IP payload too; exactly 8 is a flow.
    let udp_short = frame(&[&eth(ETHERTYPE_IPV4), &ipv4(PROTO_UDP, 4, 5, 0), &udp(1, 2, 0)]);
    assert_eq!(parse(&udp_short), Err(ParseError::BadTransportHeader));
    let udp_empty = frame(&[&eth(ETHERTYPE_IPV4), &ipv4(PROTO_UDP, 8, 5, 0), &udp(1, 2, 0)]);
    assert_eq!(parse(&udp_empty).map(|p| p.payload_bytes), Ok(0));
}

#[test]
fn an_ipv6_payload_length_beyond_the_wire_frame_or_zero_is_a_bad_ip_header() {
    let mut h = std::vec![0x60u8, 0, 0, 0, 0, 8 + 4, PROTO_UDP, 64];
    h.extend_from_slice(&[0u8; 32]);
    let ok = frame(&[&eth(ETHERTYPE_IPV6), &h, &udp(5, 6, 4)]);
    assert_eq!(parse(&ok).map(|p| p.payload_bytes), Ok(4));
    let mut over = ok.clone();
    over[14 + 5] = 8 + 5;
    assert_eq!(parse(&over), Err(ParseError::BadIpHeader));
    // Payload length 0 on a packet with a TCP header and 1,000 bytes: no jumbo option (that
    // would be a hop-by-hop header, unparsed), so nothing says how long the packet is.
    let mut tcp = std::vec![0u8; 20];
    tcp[12] = 5 << 4;
    tcp[13] = 0x10;
    tcp.resize(1020, 0x5a);
    let mut zero = h.clone();
    zero[4..6].copy_from_slice(&0u16.to_be_bytes());
    zero[6] = PROTO_TCP;
    let f = frame(&[&eth(ETHERTYPE_IPV6), &zero, &tcp]);
    assert_eq!(parse(&f), Err(ParseError::BadIpHeader));
    zero[4..6].copy_from_slice(&1020u16.to_be_bytes());
    let f = frame(&[&eth(ETHERTYPE_IPV6), &zero, &tcp]);
    assert_eq!(parse(&f).map(|p| p.payload_bytes), Ok(1000));
}

#[test]
fn both_directions_share_one_key() {
    let a = frame(&[
        &eth(ETHERTYPE_IPV4),
        &ipv4(PROTO_UDP, 8, 5, 0),
        &udp(40000, 53, 0),
    ]);
    let pa = parse(&a).expect("parses");
    let mut pb = pa;
    core::mem::swap(&mut pb.src_addr, &mut pb.dst_addr);
    core::mem::swap(&mut pb.src_port, &mut pb.dst_port);
    let (ka, kb) = (FlowKey::of(&pa), FlowKey::of(&pb));
    assert_eq!(ka.key, kb.key);
    assert_ne!(ka.from_lo, kb.from_lo);
    // 10.0.0.1:53 sorts below 10.0.0.2:40000
    assert_eq!(&ka.key.addr_lo[..4], &[10, 0, 0, 1]);
    assert_eq!(ka.key.port_lo, 53);
}

/// An address's words give its bytes back, and compare as its bytes do.
#[test]
fn an_address_keeps_its_bytes_and_their_order() {
    let a: [u8; 16] = core::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0xa5);
    assert_eq!(Addr::from_bytes(a).bytes(), a);
    assert_eq!(Addr::v4([10, 0, 0, 2]).bytes()[..5], [10, 0, 0, 2, 0]);
    let mut b = a;
    b[9] = a[9].wrapping_add(1);
    assert_eq!(
        Addr::from_bytes(a).ordered() < Addr::from_bytes(b).ordered(),
        a < b
    );
    assert!(Addr::v4([9, 255, 255, 255]).ordered() < Addr::v4([10, 0, 0, 0]).ordered());
}
