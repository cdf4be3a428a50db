//! The compiled code against the table interpreter on random trees and forests, run by an
//! interpreter of exactly the instructions the compiler emits (the kernel test `code_engine`
//! runs the same code in the kernel).

use super::*;
use crate::model::build::{self, Node};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shared::features::FeatureVector;

/// Runs `code` with r1 at `features` and r2 at `score`; returns r0. Panics on an instruction
/// the compiler does not emit, an out-of-range access or a jump out of the code.
fn run(code: &[Insn], features: &FeatureVector, score: &mut i64) -> u64 {
    const FEATURES_BASE: u64 = 0x1000;
    const SCORE_BASE: u64 = 0x9000;
    let mut r = [0u64; 6];
    r[1] = FEATURES_BASE;
    r[2] = SCORE_BASE;
    let load = |addr: u64, score: &i64| -> u64 {
        if addr == SCORE_BASE {
            *score as u64
        } else {
            let i = (addr - FEATURES_BASE) as usize;
            assert!(i.is_multiple_of(8) && i / 8 < FEATURE_COUNT, "load at {addr:#x}");
            features[i / 8] as u64
        }
    };
    let mut pc = 0usize;
    for _ in 0..100_000 {
        let i = code[pc];
        // Only r0-r5: r6-r9 are the caller's, r10 the frame pointer.
        assert!(i.dst <= 5 && i.src <= 5, "register out of r0-r5 at {pc}");
        let (d, s) = (i.dst as usize, i.src as usize);
        pc += 1;
        match i.code {
            LDX_DW => r[d] = load(r[s].wrapping_add(i.off as i64 as u64), score),
            STX_DW => {
                assert_eq!(r[d].wrapping_add(i.off as i64 as u64), SCORE_BASE);
                *score = r[s] as i64;
            }
            ST_DW => {
                assert_eq!(r[d].wrapping_add(i.off as i64 as u64), SCORE_BASE);
                *score = i.imm as i64;
            }
            ADD64_K => r[d] = r[d].wrapping_add(i.imm as i64 as u64),
            MOV32_K => r[d] = i.imm as u32 as u64,
            LD_IMM64 => {
                r[d] = (i.imm as u32 as u64) | ((code[pc].imm as u32 as u64) << 32);
                pc += 1;
            }
            JSGT_K | JSGT_X => {
                let rhs = if i.code == JSGT_K {
                    i.imm as i64
                } else {
                    r[s] as i64
                };
                if r[d] as i64 > rhs {
                    pc = (pc as i64 + i.off as i64) as usize;
                }
            }
            JA => pc = (pc as i64 + i.off as i64) as usize,
            EXIT => return r[0],
            other => panic!("opcode {other:#x} at {}", pc - 1),
        }
    }
    panic!("did not exit");
}

/// A random tree of at most `depth` levels; thresholds from small to beyond i32.
fn random_tree(rng: &mut ChaCha8Rng, depth: usize, nodes: &mut Vec<Node>) -> usize {
    let at = nodes.len();
    if depth == 0 || rng.random_bool(0.15) {
        nodes.push(Node::Leaf {
            score: rng.random_range(-70_000..=70_000),
        });
        return at;
    }
    nodes.push(Node::Leaf { score: 0 });
    let threshold = match rng.random_range(0..4) {
        0 => rng.random_range(-1_000..1_000),
        1 => rng.random_range(i32::MIN as i64..=i32::MAX as i64),
        2 => rng.random_range(i64::MIN / 4..i64::MAX / 4),
        _ => *[
            i32::MAX as i64,
            i32::MAX as i64 + 1,
            i32::MIN as i64,
            i32::MIN as i64 - 1,
            0,
        ]
        .get(rng.random_range(0..5))
        .unwrap_or(&0),
    };
    let feature = rng.random_range(0..FEATURE_COUNT);
    let left = random_tree(rng, depth - 1, nodes);
    let right = random_tree(rng, depth - 1, nodes);
    nodes[at] = Node::Split {
        feature,
        threshold,
        left,
        right,
    };
    at
}

fn random_features(rng: &mut ChaCha8Rng, model: &Model) -> FeatureVector {
    let mut f = [0i64; FEATURE_COUNT];
    for (i, v) in f.iter_mut().enumerate() {
        // Mostly the model's own thresholds, exactly and one off, so both sides of every
        // compare are taken; otherwise anything.
        let node = &model.nodes[rng.random_range(0..model.header.node_count as usize)];
        *v = match rng.random_range(0..4) {
            0 if node.is_leaf == 0 && node.feature as usize == i => node.threshold,
            1 if node.is_leaf == 0 => node.threshold.saturating_add(1),
            2 => rng.random_range(-5..5),
            _ => rng.random(),
        };
    }
    f
}

fn check(model: &Model, rng: &mut ChaCha8Rng, vectors: usize) {
    let code = compile(model).expect("compiles");
    for _ in 0..vectors {
        let f = random_features(rng, model);
        let mut score = 0x5a5a_5a5a;
        let id = run(&code, &f, &mut score);
        assert_eq!(id, model.header.model_id as u64);
        assert_eq!(score, model.score(&f), "features {f:?}");
    }
}

#[test]
fn random_trees_score_exactly_as_the_interpreter() {
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    for round in 0..300 {
        let mut nodes = Vec::new();
        random_tree(&mut rng, 1 + round % 12, &mut nodes);
        let model = build::tree(&nodes, rng.random_range(-1000..70_000)).expect("tree");
        check(&model, &mut rng, 200);
    }
}

#[test]
fn random_forests_score_exactly_as_the_interpreter() {
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    for round in 0..100 {
        let trees: Vec<Vec<Node>> = (0..=(round % MAX_TREES))
            .map(|_| {
                let mut nodes = Vec::new();
                random_tree(&mut rng, 8, &mut nodes);
                nodes
            })
            .collect();
        let model = build::forest(&trees, 0).expect("forest");
        check(&model, &mut rng, 200);
    }
}

#[test]
fn a_full_depth_12_tree_fits_the_jump_range_and_a_logistic_model_has_no_code() {
    // 4095 splits, 4096 leaves: the largest tree training makes at depth 12.
    fn full(depth: usize, next: &mut usize, nodes: &mut Vec<Node>) -> usize {
        let at = nodes.len();
        if depth == 0 {
            *next += 1;
            nodes.push(Node::Leaf { score: *next as i32 });
            return at;
        }
        nodes.push(Node::Leaf { score: 0 });
        let left = full(depth - 1, next, nodes);
        let right = full(depth - 1, next, nodes);
        nodes[at] = Node::Split {
            feature: depth,
            threshold: (depth * 100) as i64,
            left,
            right,
        };
        at
    }
    let mut nodes = Vec::new();
    full(12, &mut 0, &mut nodes);
    let model = build::tree(&nodes, 1).expect("tree");
    let code = compile(&model).expect("compiles");
    assert_eq!(code.len(), 4095 * 2 + 4096 * 2 + 2);
    check(&model, &mut ChaCha8Rng::seed_from_u64(16), 2000);
    let logistic = build::logistic(&[], 0, 0).expect("logistic");
    assert_eq!(compile(&logistic), Err(CodeError::Kind("logistic")));
    let mut score = 0;
    assert_eq!(run(&no_model(), &[0; FEATURE_COUNT], &mut score), NO_MODEL);
}
