use proptest::prelude::*;
use shared::model::SCORE_ONE;

use super::*;

/// A random tree of at most `depth` levels over random features and thresholds (fractional,
/// negative and huge ones included), in the node order training produces (not preorder).
fn arb_tree(depth: u32) -> impl Strategy<Value = FloatTree> {
    let leaf = (0.0f64..=1.0).prop_map(|p| vec![FloatNode::Leaf { p_malicious: p }]);
    leaf.prop_recursive(depth, 256, 2, |inner| {
        (
            0..FEATURE_COUNT,
            prop_oneof![-5.0f64..5.0, -1e3f64..1e7, Just(0.5), Just(1e18)],
            inner.clone(),
            inner,
        )
            .prop_map(|(feature, threshold, l, r)| {
                // Root first, then the right subtree, then the left one: children still after
                // the root, but not in preorder, so compile must renumber.
                let mut nodes = vec![FloatNode::Leaf { p_malicious: 0.0 }];
                let shift = |sub: Vec<FloatNode>, base: usize| -> Vec<FloatNode> {
                    sub.into_iter()
                        .map(|n| match n {
                            FloatNode::Split {
                                feature,
                                threshold,
                                left,
                                right,
                            } => FloatNode::Split {
                                feature,
                                threshold,
                                left: left + base,
                                right: right + base,
                            },
                            leaf @ FloatNode::Leaf { .. } => leaf,
                        })
                        .collect()
                };
                let right_base = 1;
                let left_base = 1 + r.len();
                nodes.extend(shift(r, right_base));
                nodes.extend(shift(l, left_base));
                nodes[0] = FloatNode::Split {
                    feature,
                    threshold,
                    left: left_base,
                    right: right_base,
                };
                nodes
            })
    })
    .prop_map(|nodes| FloatTree { nodes })
}

fn arb_features() -> impl Strategy<Value = FeatureVector> {
    proptest::array::uniform32(prop_oneof![
        0i64..10,
        0i64..100_000,
        Just(0),
        Just(i64::MAX),
        0i64..(1 << 40)
    ])
    .prop_flat_map(|a| {
        proptest::array::uniform9(prop_oneof![0i64..10, 0i64..100_000]).prop_map(move |b| {
            let mut v = [0i64; FEATURE_COUNT];
            v[..32].copy_from_slice(&a);
            v[32..].copy_from_slice(&b);
            v
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Integer thresholds are exact: the compiled tree reaches the same leaf as the float tree
    /// on every input, so scores and decisions agree exactly.
    #[test]
    fn compiled_trees_agree_exactly(tree in arb_tree(6), xs in proptest::collection::vec(arb_features(), 1..20), t in 0.05f64..0.95) {
        let compiled = match compile_tree(&tree, t) {
            Ok(m) => m,
            // Leaves on both sides of t that round to one fixed-point value: refused, never wrong.
            Err(e) => { prop_assert!(e.to_string().contains("same fixed-point score")); return Ok(()); }
        };
        for x in &xs {
            let p = predict(&tree, x);
            let score = compiled.score(x);
            prop_assert_eq!(score, (p * SCORE_ONE as f64).round() as i64);
            prop_assert_eq!(compiled.is_malicious(score), p >= t);
        }
    }

    /// Fixed-point logistic scores stay within the documented bound of the float logit, and
    /// decisions agree whenever the float logit is farther than that bound from the threshold.
    #[test]
    fn compiled_logistic_stays_within_the_bound(
        weights in proptest::array::uniform32(prop_oneof![Just(0.0f64), -10.0f64..10.0, -1e-4f64..1e-4]),
        more in proptest::array::uniform9(-3.0f64..3.0),
        logs in proptest::array::uniform32(any::<bool>()),
        bias in -20.0f64..20.0,
        xs in proptest::collection::vec(arb_features(), 1..20),
    ) {
        let mut w = [0.0; FEATURE_COUNT];
        w[..32].copy_from_slice(&weights);
        w[32..].copy_from_slice(&more);
        let mut transforms = [TRANSFORM_IDENTITY; FEATURE_COUNT];
        for (i, &l) in logs.iter().enumerate() {
            if l { transforms[i] = TRANSFORM_LOG2; }
        }
        let float = FloatLogistic { bias, weights: w, transforms };
        let compiled = compile_logistic(&float, 0.0).expect("compiles");
        for x in &xs {
            let z = float.logit(x) * SCORE_ONE as f64;
            let score = compiled.model.score(x);
            let bound = compiled.error_bound(x);
            // f64 itself rounds when summing 40 large terms: allow its relative error too.
            let float_slack = 1e-9 * z.abs() + 1e-6;
            prop_assert!((score as f64 - z).abs() <= bound + float_slack, "score {score} z {z} bound {bound}");
            if (z - 0.0).abs() > bound + float_slack {
                prop_assert_eq!(compiled.model.is_malicious(score), z >= 0.0);
            }
        }
    }
}

#[test]
fn nan_and_infinite_parameters_are_refused_with_the_feature_named() {
    let mut w = [0.0; FEATURE_COUNT];
    w[21] = f64::NAN;
    let m = FloatLogistic {
        bias: 0.0,
        weights: w,
        transforms: [TRANSFORM_IDENTITY; FEATURE_COUNT],
    };
    let err = compile_logistic(&m, 0.0).expect_err("NaN weight").to_string();
    assert!(
        err.contains("feature 21") && err.contains("syn_count") && err.contains("NaN"),
        "{err}"
    );
    let m = FloatLogistic {
        bias: f64::INFINITY,
        weights: [0.0; FEATURE_COUNT],
        transforms: [0; FEATURE_COUNT],
    };
    assert!(compile_logistic(&m, 0.0)
        .expect_err("inf bias")
        .to_string()
        .contains("intercept"));
    let tree = FloatTree {
        nodes: vec![
            FloatNode::Split {
                feature: 3,
                threshold: f64::NAN,
                left: 1,
                right: 2,
            },
            FloatNode::Leaf { p_malicious: 0.0 },
            FloatNode::Leaf { p_malicious: 1.0 },
        ],
    };
    assert!(compile_tree(&tree, 0.5)
        .expect_err("NaN threshold")
        .to_string()
        .contains("NaN"));
    let mut big = [0.0; FEATURE_COUNT];
    big[0] = 1e6;
    let m = FloatLogistic {
        bias: 0.0,
        weights: big,
        transforms: [TRANSFORM_IDENTITY; FEATURE_COUNT],
    };
    assert!(compile_logistic(&m, 0.0)
        .expect_err("too large")
        .to_string()
        .contains("too large"));
}

#[test]
fn cycles_and_dangling_children_are_refused() {
    let cyclic = FloatTree {
        nodes: vec![
            FloatNode::Split {
                feature: 3,
                threshold: 1.0,
                left: 1,
                right: 0,
            },
            FloatNode::Leaf { p_malicious: 0.0 },
        ],
    };
    assert!(compile_tree(&cyclic, 0.5)
        .expect_err("cycle")
        .to_string()
        .contains("cycle"));
    let dangling = FloatTree {
        nodes: vec![
            FloatNode::Split {
                feature: 3,
                threshold: 1.0,
                left: 1,
                right: 9,
            },
            FloatNode::Leaf { p_malicious: 0.0 },
        ],
    };
    assert!(compile_tree(&dangling, 0.5)
        .expect_err("dangling")
        .to_string()
        .contains("node 9"));
}

#[test]
fn fractional_thresholds_floor_exactly() {
    // x <= 2.7 holds for x = 2 and not for x = 3; the integer threshold 2 says the same.
    let tree = FloatTree {
        nodes: vec![
            FloatNode::Split {
                feature: 0,
                threshold: 2.7,
                left: 1,
                right: 2,
            },
            FloatNode::Leaf { p_malicious: 0.1 },
            FloatNode::Leaf { p_malicious: 0.9 },
        ],
    };
    let m = compile_tree(&tree, 0.5).expect("compiles");
    assert_eq!(m.nodes[0].threshold, 2);
    let mut x = [0i64; FEATURE_COUNT];
    x[0] = 2;
    assert!(!m.is_malicious(m.score(&x)));
    x[0] = 3;
    assert!(m.is_malicious(m.score(&x)));
}

/// A tree over the probe's node limit is refused before building, naming the limit and the fix.
#[test]
fn trees_over_the_node_limit_are_refused_with_the_limit_named() {
    use shared::model::MAX_NODES;
    // A left-leaning chain: split i goes left to split i + 2, right to leaf i + 1.
    let splits = MAX_NODES / 2 + 1;
    let mut nodes = Vec::new();
    for i in 0..splits {
        let k = nodes.len();
        nodes.push(FloatNode::Split {
            feature: i % FEATURE_COUNT,
            threshold: i as f64,
            left: k + 2,
            right: k + 1,
        });
        nodes.push(FloatNode::Leaf { p_malicious: 1.0 });
    }
    nodes.push(FloatNode::Leaf { p_malicious: 0.0 });
    assert!(nodes.len() > MAX_NODES);
    let err = compile_tree(&FloatTree { nodes }, 0.5)
        .expect_err("over the limit")
        .to_string();
    assert!(
        err.contains(&format!(
            "{} nodes, over the probe's limit of {MAX_NODES}",
            MAX_NODES + 3
        )) && err.contains("--max-depth"),
        "{err}"
    );
}
