//! The compiled code against the table interpreter on random trees and forests, run by an
//! interpreter of exactly the instructions the compiler emits (the kernel test `code_engine`
//! runs the same code in the kernel).

use super::*;
use crate::model::build::{self, Node};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shared::features::FeatureVector;

/// Runs `code` with r1 at `features` and r2 at `score`, which follows the features in memory as
/// in the probe's scratch (`SCORE_AFTER_FEATURES_BYTES`); returns r0. Panics on an instruction
/// the compiler does not emit, a register beyond r5 (r10 too: the code has no stack), an
/// out-of-range access or a jump out of the code.
fn run(code: &[Insn], features: &FeatureVector, score: &mut i64) -> u64 {
    run_for(code, features, score, 0)
}

/// As [`run`], with r3 holding the slot's model id `id`, as the probe calls a [`dispatch`].
fn run_for(code: &[Insn], features: &FeatureVector, score: &mut i64, id: u32) -> u64 {
    const FEATURES_BASE: u64 = 0x1000;
    const SCORE_BASE: u64 = FEATURES_BASE + SCORE_AFTER_FEATURES_BYTES as u64;
    let mut r = [0u64; 6];
    r[1] = FEATURES_BASE;
    r[2] = SCORE_BASE;
    r[3] = u64::from(id);
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
        pc += 1;
        // Only r0-r5: r6-r9 are the caller's.
        assert!(i.dst <= 5 && i.src <= 5, "register out of r0-r5 at {}", pc - 1);
        let (d, s) = (i.dst as usize, i.src as usize);
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
            ADD64_X => r[d] = r[d].wrapping_add(r[s]),
            SUB64_K => r[d] = r[d].wrapping_sub(i.imm as i64 as u64),
            SUB64_X => r[d] = r[d].wrapping_sub(r[s]),
            MUL64_K => r[d] = r[d].wrapping_mul(i.imm as i64 as u64),
            AND64_K => r[d] &= i.imm as i64 as u64,
            AND64_X => r[d] &= r[s],
            // Shifts by 64 or more are undefined in eBPF: the code must never make one.
            LSH64_K | RSH64_K | ARSH64_K => {
                assert!((0..64).contains(&i.imm), "shift by {} at {}", i.imm, pc - 1);
                let n = i.imm as u32;
                r[d] = match i.code {
                    LSH64_K => r[d] << n,
                    RSH64_K => r[d] >> n,
                    _ => ((r[d] as i64) >> n) as u64,
                };
            }
            LSH64_X | RSH64_X => {
                assert!(r[s] < 64, "shift by {} at {}", r[s], pc - 1);
                r[d] = if i.code == LSH64_X {
                    r[d] << r[s]
                } else {
                    r[d] >> r[s]
                };
            }
            MOV64_K => r[d] = i.imm as i64 as u64,
            MOV64_X => r[d] = r[s],
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
            JNE_X => {
                if r[d] != r[s] {
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

/// [`random_tree`] with its split features drawn from the set bits of `features` only (a
/// feature subset, as a model trained on some features has).
fn subset_tree(rng: &mut ChaCha8Rng, depth: usize, features: u64, nodes: &mut Vec<Node>) -> usize {
    let at = random_tree(rng, depth, nodes);
    let allowed: Vec<usize> = (0..FEATURE_COUNT).filter(|f| features >> f & 1 == 1).collect();
    for n in nodes.iter_mut() {
        if let Node::Split { feature, .. } = n {
            *feature = allowed[*feature % allowed.len()];
        }
    }
    at
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Trees and forests of depth 1-24 on any feature subset: the compiled code and the
    /// interpreter agree on every vector tried.
    #[test]
    fn compiled_trees_and_forests_on_feature_subsets_score_as_the_interpreter(
        seed in proptest::prelude::any::<u64>(),
        depth in 1usize..=MAX_DEPTH,
        trees in 1usize..=MAX_TREES,
        features in 1u64..(1 << FEATURE_COUNT),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let parts: Vec<Vec<Node>> = (0..trees)
            .map(|_| {
                let mut nodes = Vec::new();
                subset_tree(&mut rng, depth, features, &mut nodes);
                nodes
            })
            .collect();
        let model = if trees == 1 {
            build::tree(&parts[0], rng.random_range(-1000..70_000)).expect("tree")
        } else {
            build::forest(&parts, 0).expect("forest")
        };
        let used = model.header.feature_mask as u64;
        proptest::prop_assert_eq!(used & !features, 0, "a split outside the subset");
        check(&model, &mut rng, 50);
    }
}

/// A random tree of at most `depth` levels (and about 1,500 nodes, so four of them fit a forest's, so depth 24 stays within
/// `MAX_NODES`); thresholds from small to beyond i32.
fn random_tree(rng: &mut ChaCha8Rng, depth: usize, nodes: &mut Vec<Node>) -> usize {
    let at = nodes.len();
    if depth == 0 || nodes.len() > 1_500 || rng.random_bool(0.15) {
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
        random_tree(&mut rng, 1 + round % MAX_DEPTH, &mut nodes);
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
                random_tree(&mut rng, 1 + round % MAX_DEPTH, &mut nodes);
                nodes
            })
            .collect();
        let model = build::forest(&trees, 0).expect("forest");
        check(&model, &mut rng, 200);
    }
}

#[test]
fn a_full_depth_12_tree_fits_the_jump_range() {
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
    let mut score = 0;
    assert_eq!(run(&no_model(), &[0; FEATURE_COUNT], &mut score), NO_MODEL);
}

#[test]
fn one_dispatch_runs_exactly_the_model_whose_id_the_slot_holds() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    for round in 0..40 {
        let models: Vec<Box<Model>> = (0..=round % 3)
            .map(|_| {
                let mut nodes = Vec::new();
                let depth = rng.random_range(1..=MAX_DEPTH);
                random_tree(&mut rng, depth, &mut nodes);
                build::tree(&nodes, rng.random_range(-1000..70_000)).expect("tree")
            })
            .collect();
        let bodies: Vec<(u32, Vec<Insn>)> = models
            .iter()
            .map(|m| (m.header.model_id, compile(m).expect("compiles")))
            .collect();
        let code = dispatch(&bodies).expect("dispatch");
        for _ in 0..200 {
            let m = &models[rng.random_range(0..models.len())];
            let f = random_features(&mut rng, m);
            let mut score = 0x5a5a;
            assert_eq!(
                run_for(&code, &f, &mut score, m.header.model_id),
                m.header.model_id as u64
            );
            assert_eq!(score, m.score(&f), "features {f:?}");
        }
        // An id the copy does not hold (a model swapped in since): the table scores it.
        let other = models
            .iter()
            .map(|m| m.header.model_id)
            .max()
            .unwrap_or(0)
            .wrapping_add(1);
        if models.iter().all(|m| m.header.model_id != other) {
            let mut score = 7;
            assert_eq!(run_for(&code, &[0; FEATURE_COUNT], &mut score, other), NO_MODEL);
            assert_eq!(score, 7, "a model without code must not write the score");
        }
    }
    // Ids with the top bit set are compared as the probe widens them (zero-extended).
    let mut nodes = Vec::new();
    random_tree(&mut rng, 3, &mut nodes);
    let mut m = build::tree(&nodes, 0).expect("tree");
    m.header.model_id = 0x8000_0001;
    let code = dispatch(&[(m.header.model_id, compile(&m).expect("compiles"))]).expect("dispatch");
    let mut score = 0;
    assert_eq!(
        run_for(&code, &[0; FEATURE_COUNT], &mut score, 0x8000_0001),
        0x8000_0001
    );
}

/// Values of feature `id` that probe `log2fx` and the clamp at their edges, or anything the
/// probe can compute for it (`0..=feature_max(id)`: the code relies on that range).
fn edge_value(rng: &mut ChaCha8Rng, id: usize) -> i64 {
    let v = any_edge_value(rng);
    if (0..=feature_max(id)).contains(&v) {
        v
    } else {
        // Folded into the range: its top, or a value below it.
        match rng.random_range(0..3) {
            0 => feature_max(id),
            1 => feature_max(id) - 1,
            _ => v.rem_euclid(feature_max(id)),
        }
    }
}

fn any_edge_value(rng: &mut ChaCha8Rng) -> i64 {
    const EDGES: [i64; 14] = [
        i64::MIN,
        -1,
        0,
        1,
        2,
        255,
        256,
        257,
        (1 << 31) - 2,
        (1 << 31) - 1,
        1 << 31,
        1 << 40,
        i64::MAX - 1,
        i64::MAX,
    ];
    match rng.random_range(0..4) {
        0 => EDGES[rng.random_range(0..EDGES.len())],
        1 => rng.random_range(0..100_000),
        2 => 1i64 << rng.random_range(0..63),
        _ => rng.random(),
    }
}

#[test]
fn random_logistic_models_score_exactly_as_the_interpreter() {
    use shared::model::{LogisticTerm, TRANSFORM_IDENTITY};
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    for round in 0..200 {
        let mut terms: Vec<(usize, LogisticTerm)> = Vec::new();
        for i in 0..FEATURE_COUNT {
            if !rng.random_bool(if round % 5 == 0 { 1.0 } else { 0.4 }) {
                continue;
            }
            let term = LogisticTerm {
                weight: rng.random_range(-(1 << 20)..(1 << 20)),
                shift: rng.random_range(0..24),
                transform: if rng.random_bool(0.5) {
                    TRANSFORM_LOG2
                } else {
                    TRANSFORM_IDENTITY
                },
                _pad: [0; 2],
            };
            terms.push((i, term));
        }
        let bias = if rng.random_bool(0.2) {
            rng.random_range(-(1i64 << 40)..(1i64 << 40))
        } else {
            rng.random_range(-100_000..100_000)
        };
        let model = build::logistic(&terms, bias, 0).expect("logistic");
        let code = compile(&model).expect("compiles");
        for _ in 0..300 {
            let mut f = [0i64; FEATURE_COUNT];
            for (id, v) in f.iter_mut().enumerate() {
                *v = edge_value(&mut rng, id);
            }
            let mut score = 0x5a5a;
            assert_eq!(run(&code, &f, &mut score), model.header.model_id as u64);
            assert_eq!(
                score,
                model.score(&f),
                "terms {terms:?} bias {bias} features {f:?}"
            );
        }
    }
}

#[test]
fn log2fx_in_code_is_the_shared_function_at_every_power_of_two_edge() {
    use shared::model::{log2fx, LogisticTerm};
    // One term, weight 1, shift 0: the score is bias + log2fx(x).
    let term = LogisticTerm {
        weight: 1,
        shift: 0,
        transform: TRANSFORM_LOG2,
        _pad: [0; 2],
    };
    let model = build::logistic(&[(3, term)], 0, 0).expect("logistic");
    let code = compile(&model).expect("compiles");
    let mut values: Vec<i64> = vec![0, i64::MAX];
    for k in 0..63 {
        let p = 1i64 << k;
        values.extend([p - 1, p, p + 1]);
    }
    // And values of every width, for the search steps and the table between the edges.
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for _ in 0..20_000 {
        let bits = rng.random_range(1..=63);
        values.push(rng.random::<i64>() & (i64::MAX >> (63 - bits)));
    }
    for x in values {
        let mut f = [0i64; FEATURE_COUNT];
        f[3] = x;
        let mut score = 0;
        run(&code, &f, &mut score);
        assert_eq!(score, log2fx(x), "log2fx({x})");
    }
}

#[test]
fn a_logistic_model_that_could_saturate_keeps_the_interpreter() {
    use shared::model::{LogisticTerm, TRANSFORM_IDENTITY};
    let term = LogisticTerm {
        weight: i32::MAX,
        shift: 0,
        transform: TRANSFORM_IDENTITY,
        _pad: [0; 2],
    };
    let terms: Vec<(usize, LogisticTerm)> = (0..3).map(|i| (i, term)).collect();
    let model = build::logistic(&terms, i64::MAX - 10, 0).expect("logistic");
    assert_eq!(compile(&model), Err(CodeError::MaySaturate));
}

#[test]
fn a_logistic_term_costs_only_what_its_feature_range_needs() {
    use shared::model::{LogisticTerm, TRANSFORM_IDENTITY};
    // The frame: the bias, and at the end the store through r1, the id, exit (no stack).
    const FRAME: usize = 4;
    let term = |transform| LogisticTerm {
        weight: 3,
        shift: 2,
        transform,
        _pad: [0; 2],
    };
    let len = |feature: usize, transform| {
        let model = build::logistic(&[(feature, term(transform))], 5, 0).expect("logistic");
        compile(&model).expect("compiles").len()
    };
    // dst_port (u16): load, multiply, shift, add. No clamp at all.
    assert_eq!(len(0, TRANSFORM_IDENTITY), FRAME + 4);
    // fwd_payload_bytes (u64): the clamp to i32::MAX too (5), never the one below 0.
    assert_eq!(len(5, TRANSFORM_IDENTITY), FRAME + 4 + 5);
    // Through log2fx (37 instructions) whatever the feature's range.
    assert_eq!(len(5, TRANSFORM_LOG2), FRAME + 4 + 37);
    assert_eq!(len(0, TRANSFORM_LOG2), FRAME + 4 + 37);
}
