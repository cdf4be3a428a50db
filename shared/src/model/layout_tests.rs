//! Model layouts on disk: a model that does not read the opt-in `vlan_id` is written exactly as
//! before layout 2 existed (same bytes, so the same content id, and older builds read it); one
//! that reads it takes layout 2; each layout is validated against its own feature count.

extern crate std;
use std::boxed::Box;
use std::vec;

use super::codec::{decode, encode, encoded_len, fnv1a, layout_of, ModelError, FNV_OFFSET};
use super::*;
use crate::features::VLAN_ID_FEATURE;

fn tree(feature: u8) -> Box<Model> {
    let mut m = Box::new(Model::zeroed());
    m.nodes[0] = TreeNode {
        feature,
        threshold: 2,
        left: 1,
        right: 2,
        ..TreeNode::default()
    };
    m.nodes[1] = TreeNode {
        is_leaf: 1,
        ..TreeNode::default()
    };
    m.nodes[2] = TreeNode {
        is_leaf: 1,
        score: SCORE_ONE as i32,
        ..TreeNode::default()
    };
    m.header = ModelHeader {
        magic: MODEL_MAGIC,
        layout_version: MODEL_LAYOUT_VERSION,
        kind: KIND_TREE,
        feature_count: crate::features::FEATURE_COUNT as u8,
        node_count: 3,
        tree_count: 1,
        model_id: 0x1234,
        feature_mask: 1 << feature,
        threshold: SCORE_ONE / 2,
        ..ModelHeader::default()
    };
    m
}

fn bytes_of(m: &Model) -> std::vec::Vec<u8> {
    let mut b = vec![0u8; encoded_len(m)];
    encode(m, &mut b);
    b
}

#[test]
fn a_model_without_vlan_id_keeps_its_layout_1_bytes() {
    // The tree of tests.rs (`syn_tree`), whose encoding before layout 2 was 496 bytes with
    // FNV-1a 0x7df057a6 (computed with the layout-1-only codec).
    let mut m = tree(21);
    m.nodes[..5].copy_from_slice(&[
        TreeNode {
            feature: 21,
            threshold: 2,
            left: 1,
            right: 2,
            ..TreeNode::default()
        },
        TreeNode {
            is_leaf: 1,
            ..TreeNode::default()
        },
        TreeNode {
            feature: 4,
            left: 3,
            right: 4,
            ..TreeNode::default()
        },
        TreeNode {
            is_leaf: 1,
            score: SCORE_ONE as i32,
            ..TreeNode::default()
        },
        TreeNode {
            is_leaf: 1,
            score: 1000,
            ..TreeNode::default()
        },
    ]);
    m.header.node_count = 5;
    m.header.model_id = 0xabcd;
    m.header.feature_mask = (1 << 21) | (1 << 4);
    let b = bytes_of(&m);
    assert_eq!(layout_of(&m), (1, 40));
    assert_eq!((b.len(), fnv1a(FNV_OFFSET, &b)), (496, 0x7df0_57a6));
    assert_eq!((u16::from_le_bytes([b[4], b[5]]), b[7]), (1, 40));
}

#[test]
fn a_model_reading_vlan_id_takes_layout_2_and_round_trips() {
    let m = tree(VLAN_ID_FEATURE as u8);
    assert_eq!(layout_of(&m), (2, 41));
    let b = bytes_of(&m);
    assert_eq!(b.len(), 48 + 8 + 41 * 8 + 3 * 24);
    assert_eq!((u16::from_le_bytes([b[4], b[5]]), b[7]), (2, 41));
    let mut out = Box::new(Model::zeroed());
    decode(&b, &mut out).expect("valid layout 2");
    let mut expected = m.clone();
    expected.header.checksum = out.header.checksum;
    assert_eq!(*out, *expected);
    let mut v = [0i64; crate::features::FEATURE_COUNT];
    v[VLAN_ID_FEATURE] = 943;
    assert_eq!(out.score(&v), SCORE_ONE);

    // A logistic term on vlan_id needs layout 2 too; without it, layout 1.
    let mut l = Box::new(Model::zeroed());
    l.header = ModelHeader {
        kind: KIND_LOGISTIC,
        node_count: 0,
        feature_mask: 1,
        ..m.header
    };
    l.terms[0].weight = 5;
    assert_eq!(layout_of(&l), (1, 40));
    l.terms[VLAN_ID_FEATURE].weight = 7;
    l.header.feature_mask |= 1 << VLAN_ID_FEATURE;
    assert_eq!(layout_of(&l), (2, 41));
    let mut out = Box::new(Model::zeroed());
    decode(&bytes_of(&l), &mut out).expect("valid logistic in layout 2");
    assert_eq!(out.terms[VLAN_ID_FEATURE].weight, 7);
}

#[test]
fn each_layout_is_held_to_its_own_feature_count() {
    let mut out = Box::new(Model::zeroed());
    // Layout 1 bytes whose node reads feature 40: a file no honest encoder writes.
    let mut b = bytes_of(&tree(3));
    b[48 + 8 + 40 * 8 + 12] = VLAN_ID_FEATURE as u8;
    b[16..24].copy_from_slice(&(1u64 << VLAN_ID_FEATURE).to_le_bytes());
    b[40..44].fill(0);
    let sum = fnv1a(FNV_OFFSET, &b);
    b[40..44].copy_from_slice(&sum.to_le_bytes());
    assert_eq!(
        decode(&b, &mut out),
        Err(ModelError::FeatureOutOfRange {
            node: 0,
            feature: VLAN_ID_FEATURE as u8
        })
    );
    // A layout 2 header that claims 40 features, and an unknown layout.
    let mut b = bytes_of(&tree(VLAN_ID_FEATURE as u8));
    b[7] = 40;
    assert_eq!(decode(&b, &mut out), Err(ModelError::FeatureCount { found: 40 }));
    b[7] = 41;
    b[4] = 3;
    assert_eq!(
        decode(&b, &mut out),
        Err(ModelError::UnsupportedVersion { found: 3 })
    );
    let msg = std::format!("{}", ModelError::UnsupportedVersion { found: 3 });
    assert!(msg.contains("reads 1 to 2"), "{msg}");
}
