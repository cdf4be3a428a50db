//! Classic pcap: one file header (byte order, timestamp unit, snap length, link type) and then
//! records of a 16-byte header (24 in the old "modified" format) followed by the captured bytes.

use pcap_parser::{PcapBlockOwned, PcapHeader};

use super::interfaces::Interfaces;
use super::{to_ns, BlockOutcome, LinkType, RawPacket, UnsupportedLinkType};

/// Wireshark's largest packet for ordinary link types; a captured length above it (and above
/// the file's own snap length) is corruption.
const STANDARD_MAX_PACKET_BYTES: u32 = 262_144;
/// In lenient resynchronisation, a candidate record's timestamp must lie within a day of the
/// last good one: random bytes rarely do, real records almost always do.
const RESYNC_WINDOW_SECS: u32 = 86_400;

pub struct State {
    link_type: LinkType,
    big_endian: bool,
    nanosecond: bool,
    record_header_bytes: usize,
    max_caplen: u32,
    last_ts_sec: Option<u32>,
}

impl State {
    pub fn new(header: &PcapHeader) -> Result<State, UnsupportedLinkType> {
        // The upper bits of the link-type field carry FCS information (pcap spec, LinkType
        // field); the type itself is the low 16 bits.
        let code = (header.network.0 as u32) & 0xffff;
        let link_type = LinkType::from_code(code)?;
        Ok(State {
            link_type,
            big_endian: header.is_bigendian(),
            nanosecond: header.is_nanosecond_precision(),
            record_header_bytes: if header.is_modified_format() { 24 } else { 16 },
            max_caplen: header.snaplen.max(STANDARD_MAX_PACKET_BYTES),
            last_ts_sec: None,
        })
    }

    /// (ts_sec, ts_frac, caplen, origlen) of the record header at the head of `data`.
    fn fields(&self, data: &[u8]) -> Option<[u32; 4]> {
        let h = data.get(..16)?;
        let word = |i: usize| {
            let b = [h[i], h[i + 1], h[i + 2], h[i + 3]];
            if self.big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        Some([word(0), word(4), word(8), word(12)])
    }

    pub fn head_len(&self, data: &[u8]) -> Result<Option<usize>, String> {
        let Some([_, _, caplen, _]) = self.fields(data) else {
            return Ok(None);
        };
        if caplen > self.max_caplen {
            return Err(format!(
                "the record header claims {caplen} captured bytes, more than the file's snap length \
                 allows ({})",
                self.max_caplen
            ));
        }
        Ok(Some(self.record_header_bytes + caplen as usize))
    }

    pub fn plausible_start(&self, data: &[u8]) -> Option<bool> {
        let [ts_sec, ts_frac, caplen, origlen] = self.fields(data)?;
        let frac_limit = if self.nanosecond { 1_000_000_000 } else { 1_000_000 };
        let near = self
            .last_ts_sec
            .is_none_or(|last| ts_sec.abs_diff(last) <= RESYNC_WINDOW_SECS);
        Some(
            caplen > 0
                && caplen <= self.max_caplen
                && caplen <= origlen
                && origlen <= self.max_caplen.max(65_535 + 14)
                && ts_frac < frac_limit
                && near,
        )
    }

    pub fn on_block(&mut self, block: PcapBlockOwned<'_>, interfaces: &mut Interfaces) -> BlockOutcome {
        let PcapBlockOwned::Legacy(record) = block else {
            return BlockOutcome::NotAPacket;
        };
        self.last_ts_sec = Some(record.ts_sec);
        // Every record is on the file's one interface, 0.
        if !interfaces.packet(0) {
            return BlockOutcome::NotKept;
        }
        let unit_ns = if self.nanosecond { 1 } else { 1_000 };
        BlockOutcome::Packet(RawPacket {
            ts_ns: to_ns(
                record.ts_sec as i128,
                record.ts_usec as u128 * unit_ns,
                1_000_000_000,
            ),
            link_type: self.link_type,
            data: record.data.to_vec(),
            wire_len_bytes: record.origlen,
        })
    }
}
