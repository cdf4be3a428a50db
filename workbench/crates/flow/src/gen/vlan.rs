//! Tagged variants of the generated captures (`gen-pcaps --vlan ID`, `--qinq OUTER,INNER`):
//! the captures `write_all` wrote, with the same tag (or an 802.1ad outer and an 802.1Q inner
//! tag) inserted after the MAC addresses of every frame, as a trunk port or a SPAN session
//! carries them. VLAN handling is then tested on the project's own captures rather than outside
//! ones. A transform of the written files, so the untagged output is the generator's alone and
//! stays byte-identical.

use std::path::Path;

use shared::packet::{ETHERTYPE_QINQ, ETHERTYPE_VLAN};

use super::{fail, GenError, GenReport};

/// The tags every frame gets, outermost first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VlanTags {
    /// One 802.1Q tag.
    Dot1q(u16),
    /// An 802.1ad (QinQ) outer tag and an 802.1Q inner one.
    QinQ { outer: u16, inner: u16 },
}

/// A `--vlan` or `--qinq` value that is not one (clap prints the message).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VlanError {
    #[error("`{0}` is not a VLAN id: expected a number from 1 to 4094")]
    NotAnId(String),
    #[error("`{0}`: expected OUTER,INNER, two VLAN ids such as 100,200")]
    NotAPair(String),
}

/// A VLAN id as a tag carries it: 1-4094 (0 means "no VLAN, priority only", 4095 is reserved).
pub fn parse_vlan_id(s: &str) -> Result<u16, VlanError> {
    match s.trim().parse::<u16>() {
        Ok(id) if (1..=4094).contains(&id) => Ok(id),
        _ => Err(VlanError::NotAnId(s.to_string())),
    }
}

impl VlanTags {
    /// `--qinq OUTER,INNER`.
    pub fn parse_qinq(s: &str) -> Result<VlanTags, VlanError> {
        let Some((outer, inner)) = s.split_once(',') else {
            return Err(VlanError::NotAPair(s.to_string()));
        };
        Ok(VlanTags::QinQ {
            outer: parse_vlan_id(outer)?,
            inner: parse_vlan_id(inner)?,
        })
    }

    /// The tag bytes inserted after the MAC addresses; the frame's own ethertype follows them.
    pub fn bytes(self) -> Vec<u8> {
        let tag = |tpid: u16, id: u16| {
            let mut t = tpid.to_be_bytes().to_vec();
            t.extend_from_slice(&id.to_be_bytes());
            t
        };
        match self {
            VlanTags::Dot1q(id) => tag(ETHERTYPE_VLAN, id),
            VlanTags::QinQ { outer, inner } => {
                [tag(ETHERTYPE_QINQ, outer), tag(ETHERTYPE_VLAN, inner)].concat()
            }
        }
    }
}

/// `frame` with `tags` after its destination and source MAC addresses.
pub fn tag_frame(frame: &[u8], tags: &[u8]) -> Vec<u8> {
    let split = frame.len().min(12);
    let mut out = Vec::with_capacity(frame.len() + tags.len());
    out.extend_from_slice(&frame[..split]);
    out.extend_from_slice(tags);
    out.extend_from_slice(&frame[split..]);
    out
}

/// A classic pcap as `pcapw` writes it (24-byte header, 16-byte record headers), every frame
/// tagged; the record lengths grow by the tags' bytes.
fn tag_pcap(bytes: &[u8], tags: &[u8]) -> Result<Vec<u8>, String> {
    let header = bytes.get(..24).ok_or("shorter than a pcap file header")?;
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 16);
    out.extend_from_slice(header);
    let mut at = 24;
    let mut record = 0u64;
    while at < bytes.len() {
        record += 1;
        let h = bytes
            .get(at..at + 16)
            .ok_or(format!("record {record} at byte {at}: header cut short"))?;
        let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let (captured, original) = (word(8) as usize, word(12));
        let data = bytes
            .get(at + 16..at + 16 + captured)
            .ok_or(format!("record {record} at byte {at}: data cut short"))?;
        let grow = tags.len() as u32;
        out.extend_from_slice(&h[..8]);
        out.extend_from_slice(&(captured as u32 + grow).to_le_bytes());
        out.extend_from_slice(&(original + grow).to_le_bytes());
        out.extend_from_slice(&tag_frame(data, tags));
        at += 16 + captured;
    }
    Ok(out)
}

/// Tags every frame of the captures in `report` (written by `write_all`) in place and updates
/// their sizes in the report. The labels files stay as they are: tags change no 5-tuple.
pub fn tag_written(report: &mut GenReport, tags: VlanTags) -> Result<(), GenError> {
    let bytes = tags.bytes();
    for file in &mut report.files {
        let path = Path::new(&file.pcap);
        let plain = std::fs::read(path).map_err(|e| fail(path, format!("cannot read: {e}")))?;
        let tagged = tag_pcap(&plain, &bytes).map_err(|e| fail(path, e))?;
        std::fs::write(path, &tagged).map_err(|e| fail(path, format!("cannot write: {e}")))?;
        file.pcap_bytes = tagged.len();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{generate, pcapw, Variant};
    use shared::packet::{parse_ethernet, FrameBytes};

    #[test]
    fn ids_outside_1_to_4094_are_refused_with_the_value_named() {
        assert_eq!(parse_vlan_id("943"), Ok(943));
        let zero = parse_vlan_id("0").expect_err("0 is no VLAN id");
        assert_eq!(zero, VlanError::NotAnId("0".into()));
        assert!(zero.to_string().contains("`0`"));
        assert!(parse_vlan_id("4095").is_err());
        assert!(parse_vlan_id("x").is_err());
        assert_eq!(
            VlanTags::parse_qinq("100,200"),
            Ok(VlanTags::QinQ {
                outer: 100,
                inner: 200
            })
        );
        assert!(VlanTags::parse_qinq("100")
            .expect_err("one id")
            .to_string()
            .contains("OUTER,INNER"));
        assert!(VlanTags::parse_qinq("100,5000")
            .expect_err("5000 is out of range")
            .to_string()
            .contains("`5000`"));
    }

    #[test]
    fn tagged_frames_parse_as_the_untagged_ones_plus_their_tags() {
        let data = generate(Variant::Honest, 3);
        let plain = pcapw::to_bytes(&data.frames);
        for (tags, id, extra) in [
            (VlanTags::Dot1q(943), 943, 4),
            (
                VlanTags::QinQ {
                    outer: 100,
                    inner: 200,
                },
                100,
                8,
            ),
        ] {
            let tagged = tag_pcap(&plain, &tags.bytes()).expect("tags");
            assert_eq!(tagged.len(), plain.len() + extra * data.frames.len());
            let mut at = 24;
            for f in &data.frames {
                let len = u32::from_le_bytes(tagged[at + 8..at + 12].try_into().expect("4 bytes")) as usize;
                let frame = &tagged[at + 16..at + 16 + len];
                let parse = |d: &[u8]| {
                    parse_ethernet(&FrameBytes {
                        data: d,
                        wire_len_bytes: d.len() as u32,
                    })
                };
                let mut expected = parse(&f.data).expect("generated frames parse");
                expected.vlan_id = id;
                expected.frame_bytes += extra as u32;
                assert_eq!(parse(frame), Ok(expected));
                at += 16 + len;
            }
            assert_eq!(at, tagged.len());
        }
    }

    #[test]
    fn a_damaged_capture_is_named_not_tagged() {
        let e = tag_pcap(&[0u8; 30], &VlanTags::Dot1q(5).bytes()).expect_err("cut short");
        assert!(e.contains("record 1 at byte 24"), "{e}");
    }
}
