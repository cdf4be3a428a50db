//! Packet parsing: Ethernet (up to two VLAN tags), IPv4, IPv6, TCP, UDP, ICMP.
//!
//! Written against [`PacketBytes`], a "copy N bytes at offset" interface, because that is what
//! both sides can offer cheaply: the probe implements it with `bpf_skb_load_bytes` (the verifier
//! accepts any offset, the helper checks bounds at run time), userspace with a slice. Anything
//! this parser does not understand is an error with a reason, never a guess: an IPv6 extension
//! header, a later IPv4 fragment or an unknown protocol is counted as unparsed, not misread as
//! another flow.

/// Bytes of one frame, read by copying fixed-size chunks.
pub trait PacketBytes {
    /// The `N` bytes at `offset`, or `None` when the frame is shorter.
    fn read<const N: usize>(&self, offset: usize) -> Option<[u8; N]>;
    /// Length of the frame on the wire in bytes (including the link-layer header).
    fn frame_len(&self) -> u32;
}

/// A captured frame in userspace: the captured bytes plus the original length on the wire
/// (they differ when the capture used a snap length).
#[derive(Clone, Copy, Debug)]
pub struct FrameBytes<'a> {
    pub data: &'a [u8],
    pub wire_len_bytes: u32,
}

impl PacketBytes for FrameBytes<'_> {
    #[inline(always)]
    fn read<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let end = offset.checked_add(N)?;
        let src = self.data.get(offset..end)?;
        let mut out = [0u8; N];
        out.copy_from_slice(src);
        Some(out)
    }

    fn frame_len(&self) -> u32 {
        self.wire_len_bytes
    }
}

pub const ETH_HEADER_BYTES: usize = 14;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ICMPV6: u8 = 58;
/// VLAN tags the parser walks (802.1Q, and 802.1ad QinQ as outer tag).
pub const MAX_VLAN_TAGS: usize = 2;

/// Why a frame was not turned into a flow packet. Each reason has a probe statistic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ParseError {
    /// Ethertype other than IPv4/IPv6 (ARP, LLDP, ...).
    NotIp,
    /// More VLAN tags than [`MAX_VLAN_TAGS`].
    TooManyVlanTags,
    /// The frame ends inside a header.
    Truncated,
    /// IP version field or IHL/total length inconsistent.
    BadIpHeader,
    /// A non-first IPv4 fragment: it carries no transport header.
    Fragment,
    /// An IPv6 next header that is not TCP/UDP/ICMPv6 (extension headers are not walked).
    UnknownNextHeader,
    /// An IPv4 protocol other than TCP/UDP/ICMP.
    UnsupportedProtocol,
    /// TCP data offset below 5, or similar.
    BadTransportHeader,
}

/// The header facts of one packet that flow keys and features are made of (`repr(C)` with
/// explicit padding: the probe copies it into records for `workbench verify`).
/// Addresses are in network byte order; IPv4 addresses occupy the first 4 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ParsedPacket {
    pub src_addr: [u8; 16],
    pub dst_addr: [u8; 16],
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    pub ip_version: u8,
    pub ttl: u8,
    pub tcp_flags: u8,
    pub tcp_window: u16,
    pub _pad: u16,
    /// Frame length on the wire (link-layer header included).
    pub frame_bytes: u32,
    /// IP header + transport header bytes.
    pub header_bytes: u32,
    /// Transport payload bytes, from the IP/UDP length fields.
    pub payload_bytes: u32,
}

const _: () = assert!(core::mem::size_of::<ParsedPacket>() == 56);

#[inline(always)]
fn be16(b0: u8, b1: u8) -> u16 {
    ((b0 as u16) << 8) | b1 as u16
}

/// Parses an Ethernet frame (what tc programs and Ethernet captures see).
#[inline(always)]
pub fn parse_ethernet<P: PacketBytes>(pkt: &P) -> Result<ParsedPacket, ParseError> {
    let eth: [u8; ETH_HEADER_BYTES] = pkt.read(0).ok_or(ParseError::Truncated)?;
    let mut ethertype = be16(eth[12], eth[13]);
    let mut offset = ETH_HEADER_BYTES;
    let mut tags = 0;
    while tags <= MAX_VLAN_TAGS {
        if ethertype != ETHERTYPE_VLAN && ethertype != ETHERTYPE_QINQ {
            break;
        }
        if tags == MAX_VLAN_TAGS {
            return Err(ParseError::TooManyVlanTags);
        }
        let tag: [u8; 4] = pkt.read(offset).ok_or(ParseError::Truncated)?;
        ethertype = be16(tag[2], tag[3]);
        offset += 4;
        tags += 1;
    }
    parse_ip(pkt, offset, ethertype)
}

/// Parses from the network header at `offset`, whose ethertype is known (or derived from the
/// version nibble for raw-IP captures).
#[inline(always)]
pub fn parse_ip<P: PacketBytes>(pkt: &P, offset: usize, ethertype: u16) -> Result<ParsedPacket, ParseError> {
    let mut p = ParsedPacket {
        frame_bytes: pkt.frame_len(),
        ..ParsedPacket::default()
    };
    let (l4_offset, ip_payload_bytes) = match ethertype {
        ETHERTYPE_IPV4 => {
            let h: [u8; 20] = pkt.read(offset).ok_or(ParseError::Truncated)?;
            let ihl_bytes = ((h[0] & 0x0f) as u32) * 4;
            let total_bytes = be16(h[2], h[3]) as u32;
            if h[0] >> 4 != 4 || ihl_bytes < 20 || total_bytes < ihl_bytes {
                return Err(ParseError::BadIpHeader);
            }
            if be16(h[6], h[7]) & 0x1fff != 0 {
                return Err(ParseError::Fragment);
            }
            p.ip_version = 4;
            p.ttl = h[8];
            p.proto = h[9];
            p.src_addr[..4].copy_from_slice(&h[12..16]);
            p.dst_addr[..4].copy_from_slice(&h[16..20]);
            if p.proto != PROTO_TCP && p.proto != PROTO_UDP && p.proto != PROTO_ICMP {
                return Err(ParseError::UnsupportedProtocol);
            }
            p.header_bytes = ihl_bytes;
            (offset + ihl_bytes as usize, total_bytes - ihl_bytes)
        }
        ETHERTYPE_IPV6 => {
            let h: [u8; 40] = pkt.read(offset).ok_or(ParseError::Truncated)?;
            if h[0] >> 4 != 6 {
                return Err(ParseError::BadIpHeader);
            }
            p.ip_version = 6;
            p.proto = h[6];
            p.ttl = h[7];
            p.src_addr.copy_from_slice(&h[8..24]);
            p.dst_addr.copy_from_slice(&h[24..40]);
            if p.proto != PROTO_TCP && p.proto != PROTO_UDP && p.proto != PROTO_ICMPV6 {
                return Err(ParseError::UnknownNextHeader);
            }
            p.header_bytes = 40;
            (offset + 40, be16(h[4], h[5]) as u32)
        }
        _ => return Err(ParseError::NotIp),
    };
    let l4_header_bytes = match p.proto {
        PROTO_TCP => {
            let t: [u8; 20] = pkt.read(l4_offset).ok_or(ParseError::Truncated)?;
            let data_offset_bytes = ((t[12] >> 4) as u32) * 4;
            if data_offset_bytes < 20 {
                return Err(ParseError::BadTransportHeader);
            }
            // Options claimed past the end of the frame on the wire: a truncated header, not
            // header bytes to count (found by the fuzz harness, tests/fuzz_parsers.rs).
            if l4_offset as u64 + data_offset_bytes as u64 > p.frame_bytes as u64 {
                return Err(ParseError::Truncated);
            }
            p.src_port = be16(t[0], t[1]);
            p.dst_port = be16(t[2], t[3]);
            p.tcp_flags = t[13];
            p.tcp_window = be16(t[14], t[15]);
            data_offset_bytes
        }
        PROTO_UDP => {
            let u: [u8; 8] = pkt.read(l4_offset).ok_or(ParseError::Truncated)?;
            p.src_port = be16(u[0], u[1]);
            p.dst_port = be16(u[2], u[3]);
            8
        }
        _ => {
            // ICMP / ICMPv6: type, code, checksum and 4 bytes of rest-of-header. Ports stay 0,
            // as CICFlowMeter does.
            let _: [u8; 8] = pkt.read(l4_offset).ok_or(ParseError::Truncated)?;
            8
        }
    };
    p.header_bytes += l4_header_bytes;
    p.payload_bytes = ip_payload_bytes.saturating_sub(l4_header_bytes);
    Ok(p)
}

#[cfg(test)]
mod tests;
