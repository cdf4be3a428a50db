//! Link types the capture reader understands, and how each reaches the shared packet parser.
//!
//! The parser in `shared` starts either at an Ethernet header (what the tc probe sees) or at the
//! network header with a known ethertype. Every link type here maps onto one of those two entry
//! points, so a capture of any of them is parsed by exactly the kernel's code.

use shared::packet::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_HEADER_BYTES};
use shared::{FrameBytes, ParseError, ParsedPacket};

/// Linux "cooked" capture v1 header bytes (`any` interface, libpcap before 1.10).
pub const SLL_HEADER_BYTES: usize = 16;
/// Linux "cooked" capture v2 header bytes.
pub const SLL2_HEADER_BYTES: usize = 20;

/// Source and destination MACs of synthesized Ethernet headers: locally administered (bit 1 of
/// the first byte), unicast, with the project's 0xeb 0x4d 0x4c ("ebML") marker, so a frame
/// made from a non-Ethernet capture is recognisable on the wire.
pub const SYNTH_SRC_MAC: [u8; 6] = [0x02, 0xeb, 0x4d, 0x4c, 0xff, 0x01];
pub const SYNTH_DST_MAC: [u8; 6] = [0x02, 0xeb, 0x4d, 0x4c, 0xff, 0x02];
/// Ethertype of a synthesized frame whose raw-IP payload has neither version 4 nor 6: the IEEE
/// "local experimental" ethertype, so the frame is still replayed (the packet count stays exact)
/// without being claimed as IP.
pub const ETHERTYPE_LOCAL_EXPERIMENTAL: u16 = 0x88b5;

/// A supported link-layer header type (the `LINKTYPE_*` registry numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// 1: Ethernet II.
    Ethernet,
    /// 113: Linux cooked capture v1.
    LinuxSll,
    /// 276: Linux cooked capture v2.
    LinuxSll2,
    /// 101, and the historic DLT_RAW values 12 and 14: IPv4 or IPv6 by the version nibble.
    RawIp,
    /// 228: raw IPv4 only.
    Ipv4,
    /// 229: raw IPv6 only.
    Ipv6,
}

/// A capture whose link type the reader does not decode; the message names it and lists the
/// supported ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "link type {code}{} is not supported (supported: Ethernet 1, Linux SLL 113, Linux SLL2 276, \
     raw IP 12/14/101, IPv4 228, IPv6 229)",
    known_name(*code).map(|n| format!(" ({n})")).unwrap_or_default()
)]
pub struct UnsupportedLinkType {
    pub code: u32,
}

impl LinkType {
    /// The link type of a `LINKTYPE_*` number, or `Err` with a sentence naming it.
    pub fn from_code(code: u32) -> Result<LinkType, UnsupportedLinkType> {
        match code {
            1 => Ok(LinkType::Ethernet),
            113 => Ok(LinkType::LinuxSll),
            276 => Ok(LinkType::LinuxSll2),
            // 12 and 14 are what DLT_RAW was on different BSDs before LINKTYPE_RAW (101) existed;
            // libpcap and Wireshark read both as raw IP.
            12 | 14 | 101 => Ok(LinkType::RawIp),
            228 => Ok(LinkType::Ipv4),
            229 => Ok(LinkType::Ipv6),
            code => Err(UnsupportedLinkType { code }),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LinkType::Ethernet => "ethernet",
            LinkType::LinuxSll => "linux_sll",
            LinkType::LinuxSll2 => "linux_sll2",
            LinkType::RawIp => "raw_ip",
            LinkType::Ipv4 => "ipv4",
            LinkType::Ipv6 => "ipv6",
        }
    }

    /// Where the network header starts and its ethertype, for non-Ethernet link types
    /// (Ethernet goes through `parse_ethernet`, which walks VLAN tags itself).
    fn network_start(self, data: &[u8]) -> Result<(usize, u16), ParseError> {
        let (offset, ethertype) = self.header_fields(data)?;
        // The protocol field may sit before the header's end (SLL2 starts with it).
        if offset > data.len() {
            return Err(ParseError::Truncated);
        }
        Ok((offset, ethertype))
    }

    fn header_fields(self, data: &[u8]) -> Result<(usize, u16), ParseError> {
        let be16 = |at: usize| -> Result<u16, ParseError> {
            data.get(at..at + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .ok_or(ParseError::Truncated)
        };
        match self {
            LinkType::Ethernet => Ok((ETH_HEADER_BYTES, be16(12)?)),
            // SLL: packet type, ARPHRD type, address length, 8 address bytes, protocol.
            LinkType::LinuxSll => Ok((SLL_HEADER_BYTES, be16(14)?)),
            // SLL2: the protocol comes first.
            LinkType::LinuxSll2 => Ok((SLL2_HEADER_BYTES, be16(0)?)),
            LinkType::RawIp => {
                let first = *data.first().ok_or(ParseError::Truncated)?;
                match first >> 4 {
                    4 => Ok((0, ETHERTYPE_IPV4)),
                    6 => Ok((0, ETHERTYPE_IPV6)),
                    _ => Err(ParseError::BadIpHeader),
                }
            }
            LinkType::Ipv4 => Ok((0, ETHERTYPE_IPV4)),
            LinkType::Ipv6 => Ok((0, ETHERTYPE_IPV6)),
        }
    }

    /// Parses one captured frame of this link type with the shared (kernel) parser, as the
    /// probe parses it: the Ethernet frame [`LinkType::ethernet_frame`] makes of it (what replay
    /// sends and `workbench verify` checks), at that frame's length on the wire. So an SLL or
    /// raw-IP capture counts 14 link-header bytes a frame as an Ethernet one does, and a VLAN tag
    /// libpcap put back into an SLL header goes through the parser's VLAN walk. A record too
    /// short for its own link header is truncated; a raw-IP record of another version is a bad
    /// IP header (the frame replay makes of either is not IP).
    pub fn parse(self, data: &[u8], wire_len_bytes: u32) -> Result<ParsedPacket, ParseError> {
        if self == LinkType::Ethernet {
            return shared::parse_ethernet(&FrameBytes { data, wire_len_bytes });
        }
        self.network_start(data)?;
        let (frame, wire_len_bytes) = self.ethernet_frame(data, wire_len_bytes);
        shared::parse_ethernet(&FrameBytes {
            data: &frame,
            wire_len_bytes,
        })
    }

    /// The frame as Ethernet II, for sending out of an interface: Ethernet frames unchanged,
    /// others with a synthesized header ([`SYNTH_SRC_MAC`] -> [`SYNTH_DST_MAC`]) carrying the
    /// ethertype the capture names. A record too short to have its own link header becomes a
    /// frame with just the synthesized header and whatever bytes there are.
    pub fn to_ethernet_frame(self, data: &[u8]) -> Vec<u8> {
        self.ethernet_frame(data, data.len() as u32).0
    }

    /// The Ethernet frame the probe sees for one captured record, and its length on the wire:
    /// the one function behind [`LinkType::parse`] (features, training, evaluation, the TUI) and
    /// [`LinkType::to_ethernet_frame`] (replay, verify). The link header is replaced by a
    /// 14-byte Ethernet header, so the wire length is the record's original length minus its
    /// link header plus 14 (bytes a snap length cut off stay counted).
    pub fn ethernet_frame(self, data: &[u8], wire_len_bytes: u32) -> (Vec<u8>, u32) {
        if self == LinkType::Ethernet {
            return (data.to_vec(), wire_len_bytes);
        }
        let (offset, ethertype) = match self.network_start(data) {
            Ok(found) => found,
            Err(_) => {
                let header = match self {
                    LinkType::LinuxSll => SLL_HEADER_BYTES,
                    LinkType::LinuxSll2 => SLL2_HEADER_BYTES,
                    _ => 0,
                };
                (header.min(data.len()), ETHERTYPE_LOCAL_EXPERIMENTAL)
            }
        };
        let payload = &data[offset..];
        let mut frame = Vec::with_capacity(ETH_HEADER_BYTES + payload.len());
        frame.extend_from_slice(&SYNTH_DST_MAC);
        frame.extend_from_slice(&SYNTH_SRC_MAC);
        frame.extend_from_slice(&ethertype.to_be_bytes());
        frame.extend_from_slice(payload);
        // Saturating: a record whose original length is below its own link header (a damaged
        // or hand-made file) must not wrap.
        let wire = (wire_len_bytes as u64)
            .saturating_sub(offset as u64)
            .saturating_add(ETH_HEADER_BYTES as u64)
            .min(u32::MAX as u64) as u32;
        (frame, wire)
    }
}

/// Names of a few link types that show up in the wild, so the error says what the file is.
pub(super) fn known_name(code: u32) -> Option<&'static str> {
    Some(match code {
        0 => "BSD loopback",
        6 => "IEEE 802.5 token ring",
        9 => "PPP",
        105 => "IEEE 802.11",
        108 => "OpenBSD loopback",
        127 => "IEEE 802.11 radiotap",
        147..=162 => "user-defined",
        220 => "USB Linux mmapped",
        239 => "netlink",
        252 => "Wireshark upper PDU",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IPv4 + UDP 10.0.0.1:1234 -> 10.0.0.2:53 with 4 payload bytes.
    fn ipv4_udp() -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // IPv4
            0x04, 0xd2, 0, 53, 0, 12, 0, 0, // UDP
        ];
        p.extend_from_slice(b"abcd");
        p
    }

    #[test]
    fn every_link_type_reaches_the_same_udp_ports() {
        let ip = ipv4_udp();
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x08, 0x00]);
        eth.extend_from_slice(&ip);
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&ip);
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.extend_from_slice(&ip);
        for (link, data) in [
            (LinkType::Ethernet, eth),
            (LinkType::LinuxSll, sll),
            (LinkType::LinuxSll2, sll2),
            (LinkType::RawIp, ip.clone()),
            (LinkType::Ipv4, ip.clone()),
        ] {
            let p = link.parse(&data, data.len() as u32).expect("parses");
            assert_eq!((p.src_port, p.dst_port, p.proto), (1234, 53, 17), "{link:?}");
            // The probe's frame: 14 link-header bytes whatever the capture's link header was.
            assert_eq!(p.frame_bytes, (ETH_HEADER_BYTES + ip.len()) as u32, "{link:?}");
            let frame = link.to_ethernet_frame(&data);
            assert_eq!(frame.len(), ETH_HEADER_BYTES + ip.len(), "{link:?}");
            let again = LinkType::Ethernet
                .parse(&frame, frame.len() as u32)
                .expect("the synthesized frame parses as Ethernet");
            assert_eq!((again.src_port, again.dst_port), (1234, 53), "{link:?}");
        }
    }

    fn sll(ip: &[u8], vlan: Option<u16>) -> Vec<u8> {
        let mut h = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0x0a, 0, 0];
        if let Some(vid) = vlan {
            // libpcap puts a tag the kernel held in metadata back at offset 14 of an SLL header.
            h.extend_from_slice(&[0x81, 0x00]);
            h.extend_from_slice(&vid.to_be_bytes());
        }
        h.extend_from_slice(&[0x08, 0x00]);
        h.extend_from_slice(ip);
        h
    }

    #[test]
    fn every_link_type_parses_as_the_ethernet_frame_replay_sends() {
        let ip = ipv4_udp();
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.extend_from_slice(&ip);
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x08, 0x00]);
        eth.extend_from_slice(&ip);
        let want = LinkType::Ethernet.parse(&eth, eth.len() as u32).expect("parses");
        for (link, data) in [
            (LinkType::LinuxSll, sll(&ip, None)),
            (LinkType::LinuxSll2, sll2),
            (LinkType::RawIp, ip.clone()),
            (LinkType::Ipv4, ip.clone()),
        ] {
            // Cut by a snap length 8 bytes into the payload: the wire length still counts.
            let captured = &data[..data.len() - 4];
            let got = link.parse(captured, data.len() as u32);
            assert_eq!(got, Ok(want), "{link:?}");
            let (frame, wire) = link.ethernet_frame(captured, data.len() as u32);
            assert_eq!(frame, link.to_ethernet_frame(captured), "{link:?}");
            assert_eq!(wire, eth.len() as u32, "{link:?}");
            let again = LinkType::Ethernet.parse(&frame, wire);
            assert_eq!(again, Ok(want), "{link:?}: the sent frame parses the same");
        }
    }

    #[test]
    fn an_sll_vlan_tag_is_walked_as_the_kernel_walks_it() {
        let ip = ipv4_udp();
        let tagged = sll(&ip, Some(100));
        let p = LinkType::LinuxSll
            .parse(&tagged, tagged.len() as u32)
            .expect("a tagged SLL record parses");
        assert_eq!((p.vlan_id, p.dst_port), (100, 53));
        // The 802.1Q frame the kernel gets from replay: 14 + 4 + the IP packet.
        assert_eq!(p.frame_bytes, (ETH_HEADER_BYTES + 4 + ip.len()) as u32);
        let frame = LinkType::LinuxSll.to_ethernet_frame(&tagged);
        assert_eq!(&frame[12..16], &[0x81, 0x00, 0, 100]);
        assert_eq!(LinkType::Ethernet.parse(&frame, frame.len() as u32), Ok(p));
    }

    #[test]
    fn raw_ip_with_a_bad_version_is_not_guessed() {
        let mut ip = ipv4_udp();
        ip[0] = 0x55;
        assert_eq!(LinkType::RawIp.parse(&ip, 32), Err(ParseError::BadIpHeader));
        assert_eq!(LinkType::RawIp.parse(&[], 0), Err(ParseError::Truncated));
        let frame = LinkType::RawIp.to_ethernet_frame(&ip);
        assert_eq!(&frame[12..14], &ETHERTYPE_LOCAL_EXPERIMENTAL.to_be_bytes());
        assert_eq!(
            LinkType::LinuxSll.parse(&[0u8; 10], 10),
            Err(ParseError::Truncated)
        );
    }

    #[test]
    fn every_prefix_of_every_link_type_parses_or_fails_without_panicking() {
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.extend_from_slice(&ipv4_udp());
        for link in [
            LinkType::Ethernet,
            LinkType::LinuxSll,
            LinkType::LinuxSll2,
            LinkType::RawIp,
            LinkType::Ipv4,
            LinkType::Ipv6,
        ] {
            for cut in 0..=sll2.len() {
                let data = &sll2[..cut];
                let _ = link.parse(data, cut as u32);
                let frame = link.to_ethernet_frame(data);
                if link != LinkType::Ethernet {
                    assert!(frame.len() >= ETH_HEADER_BYTES, "{link:?} cut {cut}");
                }
            }
        }
        assert_eq!(
            LinkType::LinuxSll2.parse(&sll2[..10], 10),
            Err(ParseError::Truncated),
            "an SLL2 record shorter than its header"
        );
    }

    #[test]
    fn unknown_link_types_are_named() {
        let e = LinkType::from_code(105).expect_err("802.11 is not read");
        assert_eq!(e, UnsupportedLinkType { code: 105 });
        let e = e.to_string();
        assert!(e.contains("105") && e.contains("IEEE 802.11"), "{e}");
        assert_eq!(LinkType::from_code(12), Ok(LinkType::RawIp));
        assert_eq!(LinkType::from_code(276), Ok(LinkType::LinuxSll2));
    }
}
