//! The frame replay sends for one captured record: the Ethernet frame the probe sees
//! ([`LinkType::ethernet_frame`]) at its length on the wire.
//!
//! A record a snap length cut (`tcpdump -s 96`, sensors that keep headers only) is padded back
//! to its original length with zero bytes: `features`, `train` and `eval` count the wire's bytes,
//! and the probe counts the frame it gets, so it must get one that long. Payload bytes are no
//! feature, so zeros serve; the IP, UDP and TCP length fields already give the original length.
//! Nothing else is changed: the transport checksum no longer matches the zeros, and nothing
//! before the probe checks it (tc runs before the IP stack, and a replay lab's receiving end has
//! no address, so no socket ever sees the frame).
//!
//! Not padded, so as not to make anything up:
//! - a record cut inside the headers the probe reads: zeros would be read as ports, flags and
//!   lengths. It goes out as captured; its IP length reaches past that shorter frame, so the
//!   probe counts it unparsed, as `features` does (its headers are not all there).
//! - a record longer on the wire than [`MAX_PADDED_FRAME_BYTES`], which no interface carries (a
//!   corrupt length field rather than a frame): replay refuses it unsent.

use shared::{FrameBytes, ParseError};

use super::{LinkType, Packet};

/// The longest frame a cut record is padded to: the largest packet tcpdump captures whole, far
/// above what any interface carries (a veth's largest MTU is 65,535), so a longer original
/// length is a damaged record, not a frame to allocate.
pub const MAX_PADDED_FRAME_BYTES: u32 = 262_144;

/// What became of a record on its way to the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fill {
    /// Captured whole: sent as it is.
    Whole,
    /// Cut by a snap length; padded with zeros to its length on the wire.
    Padded,
    /// Cut inside the headers the probe reads; as captured (the probe counts it unparsed).
    HeadersCut,
    /// Longer on the wire than [`MAX_PADDED_FRAME_BYTES`]; as captured, not to be sent.
    TooLong,
}

/// One record as replay sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireFrame {
    /// The Ethernet frame: padded to `wire_len_bytes` when `fill` is [`Fill::Padded`].
    pub bytes: Vec<u8>,
    /// The frame's length on the wire (the record's original length with a 14-byte Ethernet
    /// header in place of its link header).
    pub wire_len_bytes: u32,
    pub fill: Fill,
}

impl Packet {
    /// The frame replay sends for this packet (see the module comment).
    pub fn wire_frame(&self) -> WireFrame {
        wire_frame(self.link_type, &self.data, self.wire_len_bytes)
    }
}

/// The frame replay sends for a record of `link` with captured bytes `data` and original length
/// `wire_len_bytes` (see the module comment).
pub fn wire_frame(link: LinkType, data: &[u8], wire_len_bytes: u32) -> WireFrame {
    let (mut bytes, wire_len_bytes) = link.ethernet_frame(data, wire_len_bytes);
    // An original length at or below the captured one (whole, or a damaged record) adds nothing.
    let fill = if wire_len_bytes as usize <= bytes.len() {
        Fill::Whole
    } else if wire_len_bytes > MAX_PADDED_FRAME_BYTES {
        Fill::TooLong
    } else if shared::parse_ethernet(&FrameBytes {
        data: &bytes,
        wire_len_bytes,
    }) == Err(ParseError::Truncated)
    {
        // The parser ran out of captured bytes before the wire's end: a header is missing.
        Fill::HeadersCut
    } else {
        bytes.resize(wire_len_bytes as usize, 0);
        Fill::Padded
    };
    WireFrame {
        bytes,
        wire_len_bytes,
        fill,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::{self, Ipv4Endpoints, TcpSegment, TCP_ACK};
    use std::net::Ipv4Addr;

    /// A 1000-byte Ethernet/IPv4/TCP frame with a payload of 0xab bytes.
    fn frame_1000() -> Vec<u8> {
        let ep = Ipv4Endpoints {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            ttl: 64,
        };
        let payload = vec![0xab; 1000 - 14 - 20 - 20];
        let f = craft::ipv4_tcp(
            &ep,
            &TcpSegment {
                src_port: 40000,
                dst_port: 443,
                seq: 1,
                ack: 1,
                flags: TCP_ACK,
                window: 512,
                payload: &payload,
            },
        );
        assert_eq!(f.len(), 1000);
        f
    }

    #[test]
    fn a_record_cut_at_96_bytes_is_padded_with_zeros_to_its_1000_wire_bytes() {
        let whole = frame_1000();
        let cut = &whole[..96];
        let w = wire_frame(LinkType::Ethernet, cut, 1000);
        assert_eq!(w.fill, Fill::Padded);
        assert_eq!((w.bytes.len(), w.wire_len_bytes), (1000, 1000));
        assert_eq!(&w.bytes[..96], cut, "the captured bytes come first, unchanged");
        assert!(w.bytes[96..].iter().all(|&b| b == 0), "the rest is zeros");
        // The probe parses the padded frame as `features` parses the cut record.
        let padded = LinkType::Ethernet.parse(&w.bytes, w.bytes.len() as u32);
        assert_eq!(padded, LinkType::Ethernet.parse(cut, 1000));
        assert_eq!(padded.map(|p| p.frame_bytes), Ok(1000));
    }

    #[test]
    fn an_uncut_record_goes_out_unchanged() {
        let whole = frame_1000();
        let w = wire_frame(LinkType::Ethernet, &whole, 1000);
        assert_eq!(w.fill, Fill::Whole);
        assert_eq!((w.bytes, w.wire_len_bytes), (whole, 1000));
    }

    #[test]
    fn a_cut_non_ethernet_record_is_padded_to_its_ethernet_length_on_the_wire() {
        let whole = frame_1000();
        // Raw IP: the same packet without its 14-byte Ethernet header, cut 96 bytes in.
        let ip = &whole[14..];
        let w = wire_frame(LinkType::RawIp, &ip[..96], ip.len() as u32);
        assert_eq!(w.fill, Fill::Padded);
        assert_eq!((w.bytes.len(), w.wire_len_bytes), (1000, 1000));
        assert_eq!(&w.bytes[14..14 + 96], &ip[..96]);
        assert!(w.bytes[14 + 96..].iter().all(|&b| b == 0));
    }

    #[test]
    fn headers_cut_and_impossible_lengths_are_not_padded() {
        let whole = frame_1000();
        // 40 bytes: inside the TCP header (it ends at 54); zeros would become ports and flags.
        let w = wire_frame(LinkType::Ethernet, &whole[..40], 1000);
        assert_eq!((w.fill, w.bytes.as_slice()), (Fill::HeadersCut, &whole[..40]));
        let w = wire_frame(LinkType::Ethernet, &whole[..96], MAX_PADDED_FRAME_BYTES + 1);
        assert_eq!((w.fill, w.bytes.len()), (Fill::TooLong, 96));
        // Up to the limit a cut record is padded (a GRO super-packet is far below it).
        let w = wire_frame(LinkType::Ethernet, &whole[..96], 65_549);
        assert_eq!((w.fill, w.bytes.len()), (Fill::Padded, 65_549));
        // An original length below the captured one (a damaged record) changes nothing.
        let w = wire_frame(LinkType::Ethernet, &whole, 500);
        assert_eq!(
            (w.fill, w.bytes.len(), w.wire_len_bytes),
            (Fill::Whole, 1000, 500)
        );
    }

    #[test]
    fn a_cut_non_ip_frame_is_padded_too() {
        // Not a flow packet, but its length on the wire is kept all the same.
        let mut lldp = vec![0u8; 60];
        lldp[12..14].copy_from_slice(&0x88ccu16.to_be_bytes());
        let w = wire_frame(LinkType::Ethernet, &lldp, 300);
        assert_eq!((w.fill, w.bytes.len()), (Fill::Padded, 300));
    }
}
