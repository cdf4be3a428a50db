//! pcapng: sections of blocks. A section header fixes the byte order; interface description
//! blocks declare interfaces (link type, timestamp resolution and offset), numbered from 0 in
//! each section; enhanced packet blocks name their interface, simple packet blocks use
//! interface 0 and carry no timestamp.

use pcap_parser::pcapng::{Block, OptionCode};
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::PcapBlockOwned;

use super::interfaces::Interfaces;
use super::{to_ns, BlockOutcome, LinkType, RawPacket, UnsupportedLinkType};

const SHB_TYPE: u32 = 0x0a0d_0d0a;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
/// Block types that lenient resynchronisation accepts as a restart point (SHB, IDB, obsolete
/// packet block, SPB, NRB, ISB, EPB): a corrupt stretch rarely looks like one of these with a
/// sane length.
const KNOWN_TYPES: [u32; 7] = [SHB_TYPE, 1, 2, 3, 4, 5, 6];

struct Interface {
    /// Its id in the whole file (the section's own numbering restarts at 0).
    id: u32,
    link_type: Result<LinkType, UnsupportedLinkType>,
    /// Timestamp units per second; `None` when `if_tsresol` is invalid.
    units_per_sec: Option<u64>,
    offset_secs: i64,
    snaplen: u32,
}

/// Timestamp units per second from `if_tsresol`: 10^n, or 2^n when the top bit is set.
/// (pcap-parser 0.17's own helper rejects every binary resolution: it compares the byte with
/// the flag bit still set against 63.)
fn units_per_sec(tsresol: u8) -> Option<u64> {
    let exponent = (tsresol & 0x7f) as u32;
    if tsresol & 0x80 != 0 {
        1u64.checked_shl(exponent).filter(|_| exponent <= 63)
    } else {
        10u64.checked_pow(exponent)
    }
}

#[derive(Default)]
pub struct State {
    big_endian: bool,
    interfaces: Vec<Interface>,
    /// Simple packet blocks have no timestamp; they get the last one seen, so that pacing by
    /// capture time stays monotone.
    last_ts_ns: u64,
}

impl State {
    fn word(big_endian: bool, b: &[u8]) -> u32 {
        let b = [b[0], b[1], b[2], b[3]];
        if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    /// Block type and total length of the block at the head of `data`, in the byte order that
    /// applies to it (a section header carries its own).
    fn header(&self, data: &[u8]) -> Result<Option<(u32, u32)>, String> {
        let Some(head) = data.get(..8) else {
            return Ok(None);
        };
        let block_type = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let big_endian = if block_type == SHB_TYPE {
            let Some(bom) = data.get(8..12) else {
                return Ok(None);
            };
            match (Self::word(false, bom), Self::word(true, bom)) {
                (BYTE_ORDER_MAGIC, _) => false,
                (_, BYTE_ORDER_MAGIC) => true,
                _ => return Err("section header block with an invalid byte-order magic".into()),
            }
        } else {
            self.big_endian
        };
        let block_type = Self::word(big_endian, &head[..4]);
        Ok(Some((block_type, Self::word(big_endian, &head[4..8]))))
    }

    pub fn head_len(&self, data: &[u8]) -> Result<Option<usize>, String> {
        let Some((block_type, len)) = self.header(data)? else {
            return Ok(None);
        };
        if len < 12 || len % 4 != 0 {
            return Err(format!(
                "block type 0x{block_type:08x} has length {len}, which is not a multiple of 4 of at \
                 least 12"
            ));
        }
        Ok(Some(len as usize))
    }

    pub fn plausible_start(&self, data: &[u8]) -> Option<bool> {
        match self.header(data) {
            Ok(Some((block_type, len))) => Some(
                KNOWN_TYPES.contains(&block_type)
                    && len >= 12
                    && len % 4 == 0
                    && (len as usize) <= super::MAX_RECORD_BYTES,
            ),
            Ok(None) => None,
            Err(_) => Some(false),
        }
    }

    /// The section's interface `local` (as a packet block names it): its file-wide id, and
    /// whether the reader keeps its packets (the packet is counted on it either way).
    fn interface(&self, local: u32, interfaces: &mut Interfaces) -> Option<(&Interface, bool)> {
        let iface = self.interfaces.get(local as usize)?;
        Some((iface, interfaces.packet(iface.id)))
    }

    pub fn on_block(&mut self, block: PcapBlockOwned<'_>, interfaces: &mut Interfaces) -> BlockOutcome {
        let PcapBlockOwned::NG(block) = block else {
            return BlockOutcome::NotAPacket;
        };
        match block {
            Block::SectionHeader(shb) => {
                // Interface numbers restart in each section.
                self.big_endian = shb.big_endian();
                self.interfaces.clear();
                BlockOutcome::NotAPacket
            }
            Block::InterfaceDescription(idb) => {
                let code = idb.linktype.0 as u32 & 0xffff;
                // if_name (option 2), as dumpcap writes it: `eth0`.
                let name = idb
                    .options
                    .iter()
                    .find(|o| o.code == OptionCode::IfName)
                    .and_then(|o| o.as_str().ok())
                    .map(|n| n.trim_end_matches('\0').to_string())
                    .filter(|n| !n.is_empty());
                self.interfaces.push(Interface {
                    id: interfaces.declare(name, code),
                    link_type: LinkType::from_code(code),
                    units_per_sec: units_per_sec(idb.if_tsresol),
                    offset_secs: idb.ts_offset(),
                    snaplen: idb.snaplen,
                });
                BlockOutcome::NotAPacket
            }
            Block::EnhancedPacket(epb) => {
                let declared = self.interfaces.len();
                let Some((iface, kept)) = self.interface(epb.if_id, interfaces) else {
                    return BlockOutcome::Unreadable(format!(
                        "enhanced packet block names interface {}, but the section declares {declared}",
                        epb.if_id,
                    ));
                };
                if !kept {
                    return BlockOutcome::NotKept;
                }
                let link_type = match &iface.link_type {
                    Ok(l) => *l,
                    Err(e) => {
                        return BlockOutcome::Unsupported {
                            interface: iface.id,
                            detail: format!("interface {}: {e}", iface.id),
                        }
                    }
                };
                let Some(units) = iface.units_per_sec else {
                    return BlockOutcome::Unreadable(format!(
                        "interface {} has an invalid if_tsresol",
                        epb.if_id
                    ));
                };
                let ts = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
                let ts_ns = to_ns(
                    (ts / units) as i128 + iface.offset_secs as i128,
                    (ts % units) as u128,
                    units as u128,
                );
                self.last_ts_ns = ts_ns;
                BlockOutcome::Packet(RawPacket {
                    ts_ns,
                    link_type,
                    data: epb.packet_data().to_vec(),
                    wire_len_bytes: epb.origlen,
                })
            }
            Block::SimplePacket(spb) => {
                let Some((iface, kept)) = self.interface(0, interfaces) else {
                    return BlockOutcome::Unreadable(
                        "simple packet block before any interface description".into(),
                    );
                };
                if !kept {
                    return BlockOutcome::NotKept;
                }
                let link_type = match &iface.link_type {
                    Ok(l) => *l,
                    Err(e) => {
                        return BlockOutcome::Unsupported {
                            interface: iface.id,
                            detail: format!("interface {}: {e}", iface.id),
                        }
                    }
                };
                // The captured length is the original length cut at the snap length; the
                // block's data also holds padding up to 4 bytes.
                let mut captured = spb.origlen as usize;
                if iface.snaplen > 0 {
                    captured = captured.min(iface.snaplen as usize);
                }
                let data = spb.raw_packet_data();
                BlockOutcome::Packet(RawPacket {
                    ts_ns: self.last_ts_ns,
                    link_type,
                    data: data[..captured.min(data.len())].to_vec(),
                    wire_len_bytes: spb.origlen,
                })
            }
            _ => BlockOutcome::NotAPacket,
        }
    }
}
