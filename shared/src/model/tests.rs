extern crate std;
use std::boxed::Box;
use std::vec;

use super::codec::{decode, encode, encoded_len, ModelError};
use super::*;

fn leaf(score: i32) -> TreeNode {
    TreeNode {
        is_leaf: 1,
        score,
        ..TreeNode::default()
    }
}

fn split(feature: u8, threshold: i64, left: u16, right: u16) -> TreeNode {
    TreeNode {
        threshold,
        feature,
        left,
        right,
        ..TreeNode::default()
    }
}

/// syn_count (21) <= 2 ? benign : (bwd_packets (4) <= 0 ? malicious : benign)
fn syn_tree() -> Box<Model> {
    let mut m = Box::new(Model::zeroed());
    let nodes = [
        split(21, 2, 1, 2),
        leaf(0),
        split(4, 0, 3, 4),
        leaf(SCORE_ONE as i32),
        leaf(1000),
    ];
    m.nodes[..nodes.len()].copy_from_slice(&nodes);
    m.header = ModelHeader {
        magic: MODEL_MAGIC,
        layout_version: MODEL_LAYOUT_VERSION,
        kind: KIND_TREE,
        feature_count: FEATURE_COUNT as u8,
        node_count: nodes.len() as u16,
        tree_count: 1,
        model_id: 0xabcd,
        feature_mask: (1 << 21) | (1 << 4),
        threshold: SCORE_ONE / 2,
        ..ModelHeader::default()
    };
    m
}

fn roundtrip(m: &Model) -> Result<Box<Model>, ModelError> {
    let mut bytes = vec![0u8; encoded_len(m)];
    encode(m, &mut bytes);
    let mut out = Box::new(Model::zeroed());
    decode(&bytes, &mut out).map(|()| out)
}

/// Equal but for the checksum, which only the encoded form carries.
fn assert_same(decoded: &Model, original: &Model) {
    let mut expected = Box::new(*original);
    expected.header.checksum = decoded.header.checksum;
    assert_eq!(*decoded, *expected);
}

fn corrupt(m: &Model, edit: impl FnOnce(&mut Model)) -> ModelError {
    let mut bad = Box::new(*m);
    edit(&mut bad);
    roundtrip(&bad).expect_err("must be rejected")
}

#[test]
fn tree_scores_and_roundtrips() {
    let m = syn_tree();
    let mut v = [0i64; FEATURE_COUNT];
    v[21] = 3;
    assert_eq!(m.score(&v), SCORE_ONE);
    assert!(m.is_malicious(m.score(&v)));
    v[4] = 1;
    assert_eq!(m.score(&v), 1000);
    v[21] = 2;
    assert_eq!(m.score(&v), 0);
    assert_same(&roundtrip(&m).expect("valid"), &m);
}

#[test]
fn malformed_models_are_rejected_with_the_fault_named() {
    let m = syn_tree();
    assert_eq!(
        corrupt(&m, |b| b.nodes[2].left = 9),
        ModelError::ChildOutOfRange { node: 2, child: 9 }
    );
    assert_eq!(
        corrupt(&m, |b| b.nodes[2].left = 0),
        ModelError::ChildNotAfterParent { node: 2, child: 0 }
    );
    assert_eq!(
        corrupt(&m, |b| b.nodes[0].feature = 77),
        ModelError::FeatureOutOfRange { node: 0, feature: 77 }
    );
    assert!(matches!(
        corrupt(&m, |b| b.header.feature_mask = 1),
        ModelError::FeatureMaskMismatch { .. }
    ));
    assert!(matches!(
        corrupt(&m, |b| b.header.kind = 9),
        ModelError::UnknownKind { found: 9 }
    ));

    let mut bytes = vec![0u8; encoded_len(&m)];
    encode(&m, &mut bytes);
    let mut out = Box::new(Model::zeroed());
    let mut bad_magic = bytes.clone();
    bad_magic[0] ^= 0xff;
    assert!(matches!(
        decode(&bad_magic, &mut out),
        Err(ModelError::BadMagic { .. })
    ));
    let mut flipped = bytes.clone();
    flipped[60] ^= 1;
    assert!(matches!(
        decode(&flipped, &mut out),
        Err(ModelError::ChecksumMismatch { .. })
    ));
    assert!(matches!(
        decode(&bytes[..bytes.len() - 1], &mut out),
        Err(ModelError::Truncated { .. })
    ));
    // One byte more is not a cut: it says what it is.
    let mut appended = bytes.clone();
    appended.push(0);
    let e = decode(&appended, &mut out).expect_err("a trailing byte");
    assert_eq!(
        e,
        ModelError::TrailingBytes {
            expected_bytes: bytes.len(),
            got_bytes: bytes.len() + 1,
        }
    );
    let msg = std::format!("{e}");
    assert!(
        msg.starts_with("model has 1 byte more than its layout") && msg.contains("appended to"),
        "{msg}"
    );
    let msg = std::format!("{}", ModelError::ChildNotAfterParent { node: 2, child: 0 });
    assert!(msg.contains("cycle"), "{msg}");
}

#[test]
fn depth_over_the_limit_is_rejected() {
    // A chain of MAX_DEPTH + 1 splits: the last leaf sits at depth MAX_DEPTH + 1.
    let mut m = Box::new(Model::zeroed());
    let splits = MAX_DEPTH + 1;
    for i in 0..splits {
        m.nodes[2 * i] = split(3, i as i64, (2 * i + 1) as u16, (2 * i + 2) as u16);
        m.nodes[2 * i + 1] = leaf(0);
    }
    m.nodes[2 * splits] = leaf(1);
    m.header = syn_tree().header;
    m.header.node_count = (2 * splits + 1) as u16;
    m.header.feature_mask = 1 << 3;
    assert_eq!(
        roundtrip(&m).expect_err("too deep"),
        ModelError::DepthOverLimit {
            node: 2 * splits - 1,
            depth: MAX_DEPTH + 1
        }
    );
    m.header.node_count -= 2; // one split less: exactly MAX_DEPTH
    m.nodes[2 * splits - 2] = leaf(1);
    roundtrip(&m).expect("depth MAX_DEPTH is allowed");
}

#[test]
fn logistic_terms_and_log2() {
    assert_eq!(log2fx(0), 0);
    assert_eq!(log2fx(1), 1 << LOG2_FRAC_BITS); // log2(2) = 1
    assert_eq!(log2fx(3), 2 << LOG2_FRAC_BITS); // log2(4) = 2
    assert_eq!(log2fx(2), (1 << LOG2_FRAC_BITS) + 128); // log2(3) ~ 1.5 (linear)
    let mut m = Box::new(Model::zeroed());
    m.header = ModelHeader {
        kind: KIND_LOGISTIC,
        bias: -SCORE_ONE,
        feature_mask: 0b101,
        ..syn_tree().header
    };
    m.header.node_count = 0;
    m.terms[0] = LogisticTerm {
        weight: 3 << 16,
        shift: 0,
        transform: TRANSFORM_IDENTITY,
        _pad: [0; 2],
    };
    m.terms[2] = LogisticTerm {
        weight: -(1 << 16),
        shift: LOG2_FRAC_BITS as u8,
        transform: TRANSFORM_LOG2,
        _pad: [0; 2],
    };
    let mut v = [0i64; FEATURE_COUNT];
    v[0] = 2;
    v[2] = 7; // log2(8) = 3
    assert_eq!(m.score(&v), -SCORE_ONE + 6 * SCORE_ONE - 3 * SCORE_ONE);
    assert_same(&roundtrip(&m).expect("valid logistic"), &m);
    m.terms[2].shift = 70;
    assert_eq!(
        roundtrip(&m).expect_err("bad shift"),
        ModelError::ShiftOutOfRange {
            feature: 2,
            shift: 70
        }
    );
}
