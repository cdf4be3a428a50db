//! Classic pcap writing. Written by hand rather than with a crate: the format is a 24-byte file
//! header and a 16-byte header per record, and owning every byte keeps the output byte-identical
//! for a seed no matter how a dependency changes its defaults.

use super::TimedFrame;

/// Classic pcap, microsecond timestamps, little-endian (what tcpdump writes on x86).
const MAGIC_MICROSECONDS: u32 = 0xa1b2_c3d4;
const LINKTYPE_ETHERNET: u32 = 1;
/// No frame the generator builds is longer than 1514 bytes; the usual tcpdump snap length keeps
/// readers that size buffers from it happy.
const SNAPLEN: u32 = 262_144;

/// The whole capture as bytes: frames must already be in time order.
pub fn to_bytes(frames: &[TimedFrame]) -> Vec<u8> {
    let total: usize = frames.iter().map(|f| 16 + f.data.len()).sum();
    let mut out = Vec::with_capacity(24 + total);
    out.extend_from_slice(&MAGIC_MICROSECONDS.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    out.extend_from_slice(&SNAPLEN.to_le_bytes());
    out.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    for f in frames {
        let secs = f.ts_ns / 1_000_000_000;
        let micros = (f.ts_ns % 1_000_000_000) / 1000;
        // Stamps are 2026 epoch seconds (fit u32 until 2106); frames are at most 1514 bytes.
        out.extend_from_slice(&(secs as u32).to_le_bytes());
        out.extend_from_slice(&(micros as u32).to_le_bytes());
        let len = f.data.len() as u32;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&f.data);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let bytes = to_bytes(&[TimedFrame {
            ts_ns: 1_700_000_001_000_123_000,
            data: vec![0xaa; 3],
        }]);
        assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(&bytes[20..24], &[1, 0, 0, 0]);
        let sec = u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]);
        let usec = u32::from_le_bytes([bytes[28], bytes[29], bytes[30], bytes[31]]);
        assert_eq!((sec, usec), (1_700_000_001, 123));
        assert_eq!(&bytes[32..40], &[3, 0, 0, 0, 3, 0, 0, 0]);
        assert_eq!(bytes.len(), 24 + 16 + 3);
    }
}
