//! What the kernel does to a frame before tc (a VLAN tag moved to metadata, a GSO/GRO
//! super-packet) must not change what the parser and the flow update make of it: the result
//! is the wire's, as a capture holds it.

use super::*;
use crate::features::{FlowState, TCP_ACK, TCP_PSH};

extern crate std;
use std::vec::Vec;

/// A buffer as tc sees it: bytes, plus what the kernel keeps beside them.
struct Skb<'a> {
    data: &'a [u8],
    tag: Option<VlanTag>,
    gso: Option<Segmentation>,
}

/// What the probe does with a buffer: parse, then make a super-packet its frames.
fn at_tc(skb: &Skb) -> Result<ParsedPacket, ParseError> {
    let mut p = parse_ethernet(skb)?;
    if let Some(s) = skb.gso {
        segment(&mut p, s);
    }
    Ok(p)
}

impl PacketBytes for Skb<'_> {
    fn read<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        FrameBytes {
            data: self.data,
            wire_len_bytes: self.data.len() as u32,
        }
        .read(offset)
    }
    fn frame_len(&self) -> u32 {
        self.data.len() as u32
    }
    fn metadata_vlan(&self) -> Option<VlanTag> {
        self.tag
    }
}

fn wire(f: &[u8]) -> Result<ParsedPacket, ParseError> {
    parse_ethernet(&FrameBytes {
        data: f,
        wire_len_bytes: f.len() as u32,
    })
}

const MACS: [u8; 12] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];

fn tag(tpid: u16, tci: u16) -> [u8; 4] {
    let (t, c) = (tpid.to_be_bytes(), tci.to_be_bytes());
    [t[0], t[1], c[0], c[1]]
}

/// IPv4 + TCP (20-byte header, ACK|PSH) with `payload` bytes, from 10.0.0.2:40000 to
/// 10.0.0.1:443.
fn ipv4_tcp(payload: usize, flags: u8) -> Vec<u8> {
    let total = (20 + 20 + payload) as u16;
    let mut p = std::vec![0x45u8, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 1, 0x40, 0, 64, PROTO_TCP, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1]);
    let mut tcp = std::vec![0u8; 20];
    tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&443u16.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&502u16.to_be_bytes());
    p.extend_from_slice(&tcp);
    p.resize(total as usize, 0x5a);
    p
}

/// An Ethernet frame with `tags` (outermost first) around `body` (ethertype IPv4).
fn tagged(tags: &[(u16, u16)], body: &[u8]) -> Vec<u8> {
    let mut f = MACS.to_vec();
    for &(tpid, tci) in tags {
        f.extend_from_slice(&tag(tpid, tci));
    }
    f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    f.extend_from_slice(body);
    f
}

/// The frame as tc sees it after the receive path moved the outermost tag to metadata.
fn outer_tag_stripped(tags: &[(u16, u16)], body: &[u8]) -> (Vec<u8>, VlanTag) {
    (tagged(&tags[1..], body), VlanTag { tci: tags[0].1 })
}

#[test]
fn qinq_with_the_outer_tag_in_metadata_parses_as_on_the_wire() {
    let body = ipv4_tcp(100, TCP_ACK | TCP_PSH);
    // Outer 802.1ad tag VLAN 100 (priority 5), inner 802.1Q tag VLAN 200.
    let tags = [(ETHERTYPE_QINQ, (5 << 13) | 100), (ETHERTYPE_VLAN, 200)];
    let on_wire = tagged(&tags, &body);
    let expected = wire(&on_wire).expect("the wire frame parses");
    assert_eq!(expected.vlan_id, 100, "the outermost tag's id");
    assert_eq!(expected.frame_bytes as usize, on_wire.len());
    assert_eq!(expected.frame_bytes, 14 + 8 + 40 + 100);
    let (bytes, meta) = outer_tag_stripped(&tags, &body);
    assert_eq!(bytes.len() + 4, on_wire.len());
    let seen = at_tc(&Skb {
        data: &bytes,
        tag: Some(meta),
        gso: None,
    });
    assert_eq!(seen, Ok(expected));
}

#[test]
fn one_tag_in_the_frame_or_in_metadata_is_the_same_packet() {
    let body = ipv4_tcp(0, TCP_ACK);
    let tags = [(ETHERTYPE_VLAN, 943)];
    let on_wire = tagged(&tags, &body);
    let expected = wire(&on_wire).expect("parses");
    assert_eq!((expected.vlan_id, expected.frame_bytes), (943, 14 + 4 + 40));
    let (bytes, meta) = outer_tag_stripped(&tags, &body);
    let stripped = Skb {
        data: &bytes,
        tag: Some(meta),
        gso: None,
    };
    assert_eq!(at_tc(&stripped), Ok(expected));
    // The same bytes without the metadata tag are an untagged frame, 4 bytes shorter.
    let untagged = wire(&bytes).expect("parses");
    assert_eq!(
        (untagged.vlan_id, untagged.frame_bytes),
        (0, expected.frame_bytes - 4)
    );
}

#[test]
fn a_metadata_tag_counts_towards_the_tag_limit_and_truncation_is_the_wires() {
    let body = ipv4_tcp(0, TCP_ACK);
    let three = [(ETHERTYPE_QINQ, 1), (ETHERTYPE_VLAN, 2), (ETHERTYPE_VLAN, 3)];
    assert_eq!(wire(&tagged(&three, &body)), Err(ParseError::TooManyVlanTags));
    let (bytes, meta) = outer_tag_stripped(&three, &body);
    let seen = Skb {
        data: &bytes,
        tag: Some(meta),
        gso: None,
    };
    assert_eq!(at_tc(&seen), Err(ParseError::TooManyVlanTags));
    // Every cut of the wire frame and the same cut of the stripped buffer agree.
    let two = [(ETHERTYPE_QINQ, 7), (ETHERTYPE_VLAN, 8)];
    let on_wire = tagged(&two, &body);
    let (bytes, meta) = outer_tag_stripped(&two, &body);
    for cut in 4..on_wire.len() {
        let seen = Skb {
            data: &bytes[..cut - 4],
            tag: Some(meta),
            gso: None,
        };
        let w = FrameBytes {
            data: &on_wire[..cut],
            wire_len_bytes: cut as u32,
        };
        assert_eq!(at_tc(&seen), parse_ethernet(&w), "cut at {cut}");
    }
}

/// The frames TCP segmentation makes of `payload` bytes with `mss`: ACK on each, PSH only on
/// the last.
fn segments_on_wire(tags: &[(u16, u16)], payload: usize, mss: usize) -> Vec<Vec<u8>> {
    let mut left = payload;
    let mut out = Vec::new();
    while left > 0 {
        let n = left.min(mss);
        left -= n;
        let flags = if left == 0 { TCP_ACK | TCP_PSH } else { TCP_ACK };
        out.push(tagged(tags, &ipv4_tcp(n, flags)));
    }
    out
}

#[test]
fn a_super_packet_counts_as_the_frames_segmentation_makes_of_it() {
    for (payload, mss, gso_segs) in [
        (4000, 1448, 3),
        (4000, 1448, 0),
        (4000, 1448, 7),
        (2896, 1448, 2),
        (1449, 1448, 2),
        (65_000, 1460, 45),
        (9000, 100, 90),
    ] {
        for tags in [&[][..], &[(ETHERTYPE_VLAN, 12)][..]] {
            let frames = segments_on_wire(tags, payload, mss);
            let mut on_wire = FlowState::start(&wire(&frames[0]).expect("parses"), 1_000);
            for f in &frames[1..] {
                on_wire.update(&wire(f).expect("parses"), true, 1_000);
            }
            let big = tagged(tags, &ipv4_tcp(payload, TCP_ACK | TCP_PSH));
            let seen = at_tc(&Skb {
                data: &big,
                tag: None,
                gso: Some(Segmentation {
                    segment_payload_bytes: mss as u32,
                    segments: gso_segs,
                }),
            })
            .expect("parses");
            let what = std::format!("{payload} bytes, mss {mss}, gso_segs {gso_segs}, tags {tags:?}");
            assert_eq!(seen.extra_segments as usize, frames.len() - 1, "{what}");
            let wire_bytes: usize = frames.iter().map(Vec::len).sum();
            assert_eq!(seen.frame_bytes as usize, wire_bytes, "{what}");
            let tc = FlowState::start(&seen, 1_000);
            assert_eq!(tc, on_wire, "{what}");
            assert_eq!(tc.features(), on_wire.features(), "{what}");
        }
    }
}

#[test]
fn a_super_packet_with_its_outer_tag_in_metadata_is_still_the_wires_frames() {
    let tags = [(ETHERTYPE_QINQ, 30), (ETHERTYPE_VLAN, 31)];
    let frames = segments_on_wire(&tags, 5000, 1400);
    let mut on_wire = FlowState::start(&wire(&frames[0]).expect("parses"), 7);
    for f in &frames[1..] {
        on_wire.update(&wire(f).expect("parses"), true, 7);
    }
    let (bytes, meta) = outer_tag_stripped(&tags, &ipv4_tcp(5000, TCP_ACK | TCP_PSH));
    let seen = at_tc(&Skb {
        data: &bytes,
        tag: Some(meta),
        gso: Some(Segmentation {
            segment_payload_bytes: 1400,
            segments: 4,
        }),
    })
    .expect("parses");
    assert_eq!(FlowState::start(&seen, 7), on_wire);
    assert_eq!(on_wire.vlan_id, 30);
}

#[test]
fn a_gso_buffer_that_fits_one_segment_is_one_frame() {
    let body = ipv4_tcp(500, TCP_ACK);
    let f = tagged(&[], &body);
    let seen = at_tc(&Skb {
        data: &f,
        tag: None,
        gso: Some(Segmentation {
            segment_payload_bytes: 1448,
            segments: 1,
        }),
    });
    assert_eq!(seen, wire(&f));
    let no_size = at_tc(&Skb {
        data: &f,
        tag: None,
        gso: Some(Segmentation {
            segment_payload_bytes: 0,
            segments: 3,
        }),
    });
    assert_eq!(no_size, wire(&f));
}
