//! IPv6 extension headers: the walk from the fixed header to the upper-layer header, as Linux's
//! `ipv6_skip_exthdr` does it, with a fixed bound.

use super::{PacketBytes, ParseError};

pub const NEXT_HEADER_HOP_BY_HOP: u8 = 0;
pub const NEXT_HEADER_ROUTING: u8 = 43;
pub const NEXT_HEADER_FRAGMENT: u8 = 44;
/// Encapsulating Security Payload: what follows is encrypted, so it is not walked (unparsed,
/// `ipv6_unknown_next_header`), as No Next Header (59) is.
pub const NEXT_HEADER_ESP: u8 = 50;
pub const NEXT_HEADER_AUTH: u8 = 51;
pub const NEXT_HEADER_NONE: u8 = 59;
pub const NEXT_HEADER_DEST_OPTS: u8 = 60;

/// Extension headers walked before the upper-layer header; one more is
/// [`ParseError::TooManyIpv6ExtensionHeaders`]. Four is one each of the four kinds a TCP or UDP
/// packet carries outside IPsec (hop-by-hop, destination options, routing, fragment), which
/// covers what hosts send (MLD's hop-by-hop router alert, a fragment header, an SRv6 routing
/// header with its destination options). Every header walked is one more read and branch on
/// every path the verifier walks: about 4,000 verified instructions each (the probe: 238,685
/// without the walk, 254,212 with four, 262,457 with six). Any bound can be passed with one
/// header more, so a longer chain is counted by its own reason rather than guessed at.
pub const MAX_IPV6_EXTENSION_HEADERS: usize = 4;

/// Bytes of a fragment header.
const FRAGMENT_HEADER_BYTES: u32 = 8;
/// The fragment offset bits of a fragment header's offset/flags field (the low three are two
/// reserved bits and "more fragments").
const FRAGMENT_OFFSET_MASK: u16 = 0xfff8;

/// Walks the extension headers from `start` (the byte after the fixed IPv6 header), the first
/// one's type being `next_header`. Returns the upper-layer protocol and the extension headers'
/// bytes. A fragment header with offset 0 (a first or an atomic fragment) is walked past: the
/// upper-layer header follows it; a later fragment carries none and is
/// [`ParseError::Fragment`], as a later IPv4 fragment is. Lengths: hop-by-hop, routing and
/// destination options `(hdr_ext_len + 1) * 8`, authentication `(payload_len + 2) * 4`,
/// fragment 8. A header cut by the frame's end is [`ParseError::Truncated`].
#[inline(always)]
pub fn skip_extension_headers<P: PacketBytes>(
    pkt: &P,
    start: usize,
    mut next_header: u8,
) -> Result<(u8, u32), ParseError> {
    let mut bytes = 0u32;
    let mut walked = 0;
    while walked <= MAX_IPV6_EXTENSION_HEADERS {
        if next_header != NEXT_HEADER_HOP_BY_HOP
            && next_header != NEXT_HEADER_ROUTING
            && next_header != NEXT_HEADER_FRAGMENT
            && next_header != NEXT_HEADER_AUTH
            && next_header != NEXT_HEADER_DEST_OPTS
        {
            return Ok((next_header, bytes));
        }
        if walked == MAX_IPV6_EXTENSION_HEADERS {
            break;
        }
        // Next header, length, and (in a fragment header) the offset and flags.
        let h: [u8; 4] = pkt.read(start + bytes as usize).ok_or(ParseError::Truncated)?;
        bytes += match next_header {
            NEXT_HEADER_FRAGMENT => {
                if u16::from_be_bytes([h[2], h[3]]) & FRAGMENT_OFFSET_MASK != 0 {
                    return Err(ParseError::Fragment);
                }
                FRAGMENT_HEADER_BYTES
            }
            NEXT_HEADER_AUTH => (h[1] as u32 + 2) * 4,
            _ => (h[1] as u32 + 1) * 8,
        };
        next_header = h[0];
        walked += 1;
    }
    Err(ParseError::TooManyIpv6ExtensionHeaders)
}
