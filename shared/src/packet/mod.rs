//! Packet parsing: Ethernet (up to two VLAN tags), IPv4, IPv6 (up to four extension headers), TCP,
//! UDP, ICMP.
//!
//! Written against [`PacketBytes`], a "copy N bytes at offset" interface, because that is what
//! both sides can offer cheaply: the probe implements it with `bpf_skb_load_bytes` (the verifier
//! accepts any offset, the helper checks bounds at run time), userspace with a slice. Anything
//! this parser does not understand is an error with a reason, never a guess: a later IPv4 or IPv6
//! fragment, an IPv6 chain of more extension headers than [`MAX_IPV6_EXTENSION_HEADERS`], ESP or an
//! unknown protocol is counted as unparsed, not misread as another flow.

pub mod ipv6_ext;

pub use ipv6_ext::MAX_IPV6_EXTENSION_HEADERS;

/// Bytes of one frame, read by copying fixed-size chunks.
///
/// A buffer may differ from what the wire carried in two ways the kernel introduces before tc
/// sees it (captures hold the wire's version): the outermost VLAN tag can have been moved out
/// of the frame into metadata ([`PacketBytes::metadata_vlan`]), which the parser counts back,
/// and one buffer can stand for several frames that GSO will cut or GRO has merged, which
/// [`segment`] turns into those frames after the parse. A [`ParsedPacket`] then describes the
/// wire either way.
pub trait PacketBytes {
    /// The `N` bytes at `offset`, or `None` when the frame is shorter.
    fn read<const N: usize>(&self, offset: usize) -> Option<[u8; N]>;
    /// Length of the buffer in bytes (including the link-layer header), without a tag that
    /// [`PacketBytes::metadata_vlan`] reports.
    fn frame_len(&self) -> u32;
    /// The outermost VLAN tag (802.1Q or 802.1ad) when it is not in the bytes but in the
    /// buffer's metadata: the kernel's receive path takes it out of the frame before tc (rx VLAN
    /// offload in the NIC, or `skb_vlan_untag` in software). A capture keeps tags in the frame.
    #[inline(always)]
    fn metadata_vlan(&self) -> Option<VlanTag> {
        None
    }
}

/// A VLAN tag held in metadata (its tag control information: priority, DEI, VLAN id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VlanTag {
    pub tci: u16,
}

/// How a GSO or GRO super-packet splits into frames on the wire, as the kernel describes it
/// (`gso_size`, `gso_segs` of the skb).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segmentation {
    /// Transport payload bytes of every segment but the last (`gso_size`, the MSS for TCP).
    pub segment_payload_bytes: u32,
    /// Segments the kernel counts (`gso_segs`; 0 when it has not counted them).
    pub segments: u32,
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
/// VLAN tags the parser walks (802.1Q, and 802.1ad QinQ as outer tag), counting a tag held in
/// metadata.
pub const MAX_VLAN_TAGS: usize = 2;
pub const VLAN_TAG_BYTES: usize = 4;
/// The VLAN id bits of a tag control information field.
pub const VLAN_VID_MASK: u16 = 0x0fff;

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
    /// IP version field or IHL/total length inconsistent, an IP length beyond the frame's end
    /// on the wire, an IPv6 payload length of 0, or IPv6 extension headers longer than the
    /// payload length.
    BadIpHeader,
    /// A non-first IPv4 or IPv6 fragment: it carries no transport header.
    Fragment,
    /// An IPv6 upper-layer header that is not TCP/UDP/ICMPv6, after the extension headers
    /// (ESP and No Next Header among them: nothing readable follows).
    UnknownNextHeader,
    /// An IPv4 protocol other than TCP/UDP/ICMP.
    UnsupportedProtocol,
    /// TCP data offset below 5, or similar.
    BadTransportHeader,
    /// More IPv6 extension headers than [`MAX_IPV6_EXTENSION_HEADERS`] before the upper-layer
    /// header. Its statistic comes after `code_evaluations` (`stats`): an older probe's indices
    /// stay where they were.
    TooManyIpv6ExtensionHeaders,
}

/// The header facts of one packet that flow keys and features are made of (`repr(C)` with
/// explicit padding: the probe copies it into records for `workbench verify`).
/// Addresses are in network byte order; IPv4 addresses occupy the first 4 bytes. Aligned to 8
/// bytes, as [`crate::flow::FlowKey`] is, so that the probe moves it by words.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ParsedPacket {
    pub src_addr: Addr,
    pub dst_addr: Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    pub ip_version: u8,
    pub ttl: u8,
    pub tcp_flags: u8,
    pub tcp_window: u16,
    /// VLAN id of the outermost tag on the wire (in the frame or in metadata); 0 untagged.
    pub vlan_id: u16,
    /// Bytes on the wire (link-layer header and every VLAN tag included), summed over the
    /// segments when the packet stands for several frames.
    pub frame_bytes: u32,
    /// IP header + transport header bytes of one frame.
    pub header_bytes: u32,
    /// Transport payload bytes, from the IP/UDP length fields (all segments).
    pub payload_bytes: u32,
    /// Frames on the wire beyond the first that this packet stands for (a GSO/GRO
    /// super-packet); 0 for a single frame.
    pub extra_segments: u32,
    /// Payload bytes of each of the first `extra_segments` frames; the last frame carries the
    /// rest (at least 1 byte, at most this many). 0 when `extra_segments` is 0.
    pub segment_payload_bytes: u32,
}

const _: () = assert!(core::mem::size_of::<ParsedPacket>() == 64);

/// A packet's address: its 16 bytes in network order (IPv4 in the first 4, the rest 0), held as
/// two words (each the little-endian reading of 8 of the bytes, so [`Addr::bytes`] gives them
/// back in order on any host). As a `[u8; 16]`, every byte was a value of its own where the
/// parser's IPv4 and IPv6 paths join, and the probe spilled and stored the 32 of a packet one at
/// a time: about 5 ns a packet (docs/BENCHMARKS.md, "Where the fixed cost goes, second pass").
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Addr(pub [u64; 2]);

impl Addr {
    /// The address of these 16 bytes.
    #[inline(always)]
    pub fn from_bytes(b: [u8; 16]) -> Addr {
        Addr([le64_at(&b, 0), le64_at(&b, 8)])
    }

    /// An IPv4 address (its 4 bytes first, the rest 0).
    #[inline(always)]
    pub fn v4(b: [u8; 4]) -> Addr {
        Addr([u32::from_le_bytes(b) as u64, 0])
    }

    /// The 16 bytes.
    #[inline(always)]
    pub fn bytes(self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a[..8].copy_from_slice(&self.0[0].to_le_bytes());
        a[8..].copy_from_slice(&self.0[1].to_le_bytes());
        a
    }

    /// The two halves as numbers in network order: comparing them compares the bytes.
    #[inline(always)]
    pub fn ordered(self) -> (u64, u64) {
        (self.0[0].swap_bytes(), self.0[1].swap_bytes())
    }
}

impl core::fmt::Debug for Addr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.bytes().fmt(f)
    }
}

#[inline(always)]
fn le32_at<const N: usize>(h: &[u8; N], at: usize) -> u64 {
    u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]) as u64
}

#[inline(always)]
fn le64_at<const N: usize>(h: &[u8; N], at: usize) -> u64 {
    le32_at(h, at) | (le32_at(h, at + 4) << 32)
}

#[inline(always)]
fn be16(b0: u8, b1: u8) -> u16 {
    ((b0 as u16) << 8) | b1 as u16
}

/// Parses an Ethernet frame (what tc programs and Ethernet captures see), as it was on the
/// wire: a VLAN tag in metadata counts as the outermost tag (4 bytes of the frame, one of the
/// [`MAX_VLAN_TAGS`]). A super-packet parses as one frame; [`segment`] makes it the frames it
/// stands for.
#[inline(always)]
pub fn parse_ethernet<P: PacketBytes>(pkt: &P) -> Result<ParsedPacket, ParseError> {
    let eth: [u8; ETH_HEADER_BYTES] = pkt.read(0).ok_or(ParseError::Truncated)?;
    let mut ethertype = be16(eth[12], eth[13]);
    let mut offset = ETH_HEADER_BYTES;
    let (mut tags, mut vlan_id) = match pkt.metadata_vlan() {
        Some(tag) => (1, tag.tci & VLAN_VID_MASK),
        None => (0, 0),
    };
    // Offsets in the buffer are the wire's minus the metadata tag's 4 bytes; lengths compared
    // with offsets below stay in the buffer's terms, so the checks match the capture's.
    let metadata_tags = tags;
    while tags <= MAX_VLAN_TAGS {
        if ethertype != ETHERTYPE_VLAN && ethertype != ETHERTYPE_QINQ {
            break;
        }
        if tags == MAX_VLAN_TAGS {
            return Err(ParseError::TooManyVlanTags);
        }
        let tag: [u8; 4] = pkt.read(offset).ok_or(ParseError::Truncated)?;
        if tags == 0 {
            vlan_id = be16(tag[0], tag[1]) & VLAN_VID_MASK;
        }
        ethertype = be16(tag[2], tag[3]);
        offset += VLAN_TAG_BYTES;
        tags += 1;
    }
    // Built in place by parse_ip_on_wire rather than adjusted here: the probe stores the result
    // straight into map memory, and every step between parse and store may cost a copy.
    parse_ip_on_wire(
        pkt,
        offset,
        ethertype,
        OnWire {
            vlan_id,
            metadata_tag_bytes: (metadata_tags * VLAN_TAG_BYTES) as u32,
        },
    )
}

/// What the wire held that the buffer's bytes do not.
#[derive(Clone, Copy, Default)]
struct OnWire {
    /// The outermost tag's VLAN id (0 untagged).
    vlan_id: u16,
    /// Bytes of the tag the kernel holds in metadata.
    metadata_tag_bytes: u32,
}

/// Turns a parsed super-packet into the frames it stands for on the wire: every frame repeats
/// the link-layer, IP and transport headers (a super-packet's bytes beyond its payload: it is
/// never padded), and the payload is cut into `segment_payload_bytes` pieces and a last,
/// shorter or equal, one. This is what GSO/TSO does to it after tc at egress, and what GRO undid
/// before tc at ingress. The count comes from the lengths; the kernel's `gso_segs` is used when
/// it agrees with them (it can be 0, or stale after a program changed the packet). Separate
/// from the parse: in the probe it runs on the parse result where it already lies (in map
/// memory); inside the parser it made every packet about 3 ns slower (`bench probe`).
#[inline(always)]
pub fn segment(p: &mut ParsedPacket, s: Segmentation) {
    let size = s.segment_payload_bytes as u64;
    let payload = p.payload_bytes as u64;
    if size == 0 || payload <= size {
        return;
    }
    // Every frame carries at least a byte, so a count above `payload` is wrong; below it, with
    // size < payload < 2^32, no product overflows u64.
    let mut segments = s.segments as u64;
    if segments < 2 || segments > payload || (segments - 1) * size >= payload || segments * size < payload {
        segments = (payload + size - 1).checked_div(size).unwrap_or(1);
    }
    let extra = segments - 1;
    let per_frame_overhead = (p.frame_bytes as u64).saturating_sub(payload);
    p.extra_segments = extra as u32;
    p.segment_payload_bytes = size as u32;
    p.frame_bytes = (p.frame_bytes as u64 + extra * per_frame_overhead).min(u32::MAX as u64) as u32;
}

/// Parses from the network header at `offset`, whose ethertype is known (or derived from the
/// version nibble for raw-IP captures).
#[inline(always)]
pub fn parse_ip<P: PacketBytes>(pkt: &P, offset: usize, ethertype: u16) -> Result<ParsedPacket, ParseError> {
    parse_ip_on_wire(pkt, offset, ethertype, OnWire::default())
}

/// [`parse_ip`] of a buffer that lacks what `wire` says: offsets are the buffer's, lengths
/// reported are the wire's.
#[inline(always)]
fn parse_ip_on_wire<P: PacketBytes>(
    pkt: &P,
    offset: usize,
    ethertype: u16,
    wire: OnWire,
) -> Result<ParsedPacket, ParseError> {
    let buffer_bytes = pkt.frame_len();
    let mut p = ParsedPacket {
        vlan_id: wire.vlan_id,
        // A buffer is at most 2^32 - 1 bytes long only in theory; lengths here are < 2^17.
        frame_bytes: buffer_bytes.wrapping_add(wire.metadata_tag_bytes),
        ..ParsedPacket::default()
    };
    // Where the IP length says the packet ends, checked once the headers are read (a frame
    // ending inside a header stays truncated).
    let ip_end: u64;
    let (src, dst): (Addr, Addr);
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
            src = Addr([le32_at(&h, 12), 0]);
            dst = Addr([le32_at(&h, 16), 0]);
            if p.proto != PROTO_TCP && p.proto != PROTO_UDP && p.proto != PROTO_ICMP {
                return Err(ParseError::UnsupportedProtocol);
            }
            p.header_bytes = ihl_bytes;
            ip_end = offset as u64 + total_bytes as u64;
            (offset + ihl_bytes as usize, total_bytes - ihl_bytes)
        }
        ETHERTYPE_IPV6 => {
            let h: [u8; 40] = pkt.read(offset).ok_or(ParseError::Truncated)?;
            if h[0] >> 4 != 6 {
                return Err(ParseError::BadIpHeader);
            }
            p.ip_version = 6;
            p.ttl = h[7];
            src = Addr([le64_at(&h, 8), le64_at(&h, 16)]);
            dst = Addr([le64_at(&h, 24), le64_at(&h, 32)]);
            let (proto, ext_bytes) = ipv6_ext::skip_extension_headers(pkt, offset + 40, h[6])?;
            p.proto = proto;
            if p.proto != PROTO_TCP && p.proto != PROTO_UDP && p.proto != PROTO_ICMPV6 {
                return Err(ParseError::UnknownNextHeader);
            }
            let payload_len = be16(h[4], h[5]) as u32;
            // Payload length 0 is a jumbogram's (RFC 2675, its length in a hop-by-hop option:
            // not read) or BIG TCP's (docs/FEATURES.md): bad_ip_header. Extension headers
            // longer than the payload: Linux drops the packet (`ipv6_rcv` trims to the payload
            // length, and the header is not there), so it is not the flow's.
            ip_end = if payload_len == 0 || ext_bytes > payload_len {
                u64::MAX
            } else {
                offset as u64 + 40 + payload_len as u64
            };
            p.header_bytes = 40 + ext_bytes;
            (
                offset + 40 + ext_bytes as usize,
                payload_len.saturating_sub(ext_bytes),
            )
        }
        _ => return Err(ParseError::NotIp),
    };
    p.src_addr = src;
    p.dst_addr = dst;
    let l4_header_bytes = match p.proto {
        PROTO_TCP => {
            let t: [u8; 20] = pkt.read(l4_offset).ok_or(ParseError::Truncated)?;
            let data_offset_bytes = ((t[12] >> 4) as u32) * 4;
            if data_offset_bytes < 20 {
                return Err(ParseError::BadTransportHeader);
            }
            // Options claimed past the end of the frame on the wire: a truncated header, not
            // header bytes to count (found by the fuzz harness, workbench/tests/cli/fuzz_parsers.rs).
            if l4_offset as u64 + data_offset_bytes as u64 > buffer_bytes as u64 {
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
    // An IP length past the frame's end on the wire: Linux drops the packet (`ip_rcv_core`,
    // `ipv6_rcv`: skb->len below it), so it is not the flow's, whatever its headers say. A
    // GSO/GRO super-packet's lengths are the whole buffer's and pass; a snap-length capture is
    // checked against its original length. Offsets and length are both the buffer's.
    if ip_end > buffer_bytes as u64 {
        return Err(ParseError::BadIpHeader);
    }
    // A transport header longer than the IP payload (extension headers included) is read from
    // bytes past the IP packet, the frame's padding: Linux trims the buffer to the IP length
    // and then drops the segment (`tcp_v4_rcv`'s pull of doff * 4 bytes, `__udp4_lib_rcv`,
    // `icmp_rcv`), so it is not the flow's either.
    if ip_payload_bytes < l4_header_bytes {
        return Err(ParseError::BadTransportHeader);
    }
    p.header_bytes += l4_header_bytes;
    p.payload_bytes = ip_payload_bytes - l4_header_bytes;
    Ok(p)
}

#[cfg(test)]
mod ipv6_ext_tests;
#[cfg(test)]
mod offload_tests;
#[cfg(test)]
mod tests;
