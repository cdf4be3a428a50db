//! Bounded fuzzing (proptest) of the parsers that read what strangers send: the packet parser in
//! `shared`, the model file parser, and the capture reader. Each run is a few seconds in CI;
//! `PROPTEST_CASES=100000 cargo test --test fuzz_parsers` runs a long local campaign. Properties:
//! never a panic, and what is accepted is consistent.

use proptest::prelude::*;
use shared::model::SCORE_ONE;
use shared::packet::{parse_ethernet, FrameBytes};
use workbench::model::build::{self, Node};
use workbench::model::file;

fn valid_model_file() -> Vec<u8> {
    let tree = build::tree(
        &[
            Node::Split {
                feature: 21,
                threshold: 2,
                left: 1,
                right: 2,
            },
            Node::Leaf { score: 0 },
            Node::Split {
                feature: 4,
                threshold: 0,
                left: 3,
                right: 4,
            },
            Node::Leaf {
                score: SCORE_ONE as i32,
            },
            Node::Leaf { score: 7 },
        ],
        SCORE_ONE / 2,
    )
    .expect("tree");
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("m.ebml");
    file::write(&path, &tree, serde_json::Value::Null).expect("write");
    std::fs::read(path).expect("read")
}

/// An Ethernet frame that starts plausibly (IPv4/IPv6/VLAN ethertypes) and continues randomly.
fn plausible_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            Just(0x0800u16),
            Just(0x86dd),
            Just(0x8100),
            Just(0x88a8),
            any::<u16>()
        ],
        proptest::collection::vec(any::<u8>(), 0..120),
    )
        .prop_map(|(ethertype, rest)| {
            let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
            f.extend_from_slice(&ethertype.to_be_bytes());
            if let Some(b) = f.get_mut(14) {
                *b = 0x45;
            }
            f.extend(rest);
            f
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn packet_parser_never_panics_and_stays_inside_the_frame(frame in plausible_frame()) {
        if let Ok(p) = parse_ethernet(&FrameBytes { data: &frame, wire_len_bytes: frame.len() as u32 }) {
            prop_assert!(p.ip_version == 4 || p.ip_version == 6);
            prop_assert!(matches!(p.proto, 1 | 6 | 17 | 58));
            prop_assert!((p.header_bytes as usize) + 14 <= frame.len() + 8, "headers inside the frame");
        }
    }

    #[test]
    fn model_parser_rejects_mutations_cleanly(flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..6), cut in any::<proptest::sample::Index>(), truncate in any::<bool>()) {
        let mut bytes = valid_model_file();
        for (at, xor) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= xor | 1;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        // Never a panic; whatever is accepted is a model the probe can walk.
        if let Ok(m) = file::parse(&bytes) {
            let x = [1i64; shared::features::FEATURE_COUNT];
            let _ = m.model.score(&x);
            prop_assert!(m.model.header.node_count as usize <= shared::model::MAX_NODES);
        }
    }

    #[test]
    fn capture_reader_survives_random_bytes(body in proptest::collection::vec(any::<u8>(), 0..400), pcapng in any::<bool>(), lenient in any::<bool>()) {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("x.pcap");
        let mut bytes = if pcapng {
            // Section header block start, then noise.
            vec![0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0]
        } else {
            // Classic pcap header (LE, microseconds, Ethernet), then noise.
            vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0]
        };
        bytes.extend(body);
        std::fs::write(&path, &bytes).expect("write");
        if let Ok(reader) = workbench::capture::open(&path, lenient) {
            let mut errors = 0;
            for item in reader.take(1000) {
                match item {
                    Ok(p) => { let _ = p.parse(); prop_assert_eq!(errors, 0, "no packet after an error"); }
                    Err(e) => { errors += 1; prop_assert!(e.to_string().contains("x.pcap"), "{}", e); }
                }
            }
            prop_assert!(errors <= 1);
        }
    }
}
