//! From float models (what training produces) to the integer models the probe runs.
//!
//! Trees: features are integers, so `x <= t` and `x <= floor(t)` decide alike for every
//! feature value: thresholds convert exactly, and a compiled tree takes the same path as the
//! float tree on every input. Leaf probabilities become fixed point (x 2^16); the decision
//! threshold is placed between the rounded leaves so that every leaf keeps its float decision
//! (checked, not assumed).
//!
//! Logistic: each weight becomes an i32 with its own shift, the largest that keeps it in range,
//! so `(x * W) >> s` approximates `x * w * 2^16`. The error of one term is at most
//! `0.5 * x / 2^s + 1` (weight rounding, then the floor of the shift); the score error is at most
//! the sum of those plus 0.5 for the bias: [`IntLogistic::error_bound`].

use shared::features::{FeatureVector, FEATURE_COUNT};
use shared::model::{
    log2fx, LogisticTerm, Model, LOG2_FRAC_BITS, MAX_NODES, SCORE_ONE, TRANSFORM_IDENTITY, TRANSFORM_LOG2,
};

use super::build::{self, Node};
pub use super::error::CompileError;

type Result<T, E = CompileError> = std::result::Result<T, E>;

/// A tree as training produces it: go left when `x[feature] <= threshold`; node 0 is the root.
/// One definition, owned by the crate that fits it.
pub use workbench_fit::{FloatNode, FloatTree};

/// The float reference: P(malicious) for one feature vector.
pub fn predict(tree: &FloatTree, x: &FeatureVector) -> f64 {
    tree.predict_with(|f| x.get(f).copied().unwrap_or(0) as f64)
}

fn fixed_probability(p: f64, node: usize) -> Result<i32> {
    if !p.is_finite() || !(0.0..=1.0).contains(&p) {
        return Err(CompileError::LeafProbability { node, p });
    }
    Ok((p * SCORE_ONE as f64).round() as i32)
}

/// Compiles a float tree; `threshold_p`: malicious when P(malicious) >= threshold_p.
pub fn compile_tree(tree: &FloatTree, threshold_p: f64) -> Result<Box<Model>> {
    if !threshold_p.is_finite() {
        return Err(CompileError::Threshold(threshold_p));
    }
    if tree.nodes.is_empty() {
        return Err(CompileError::EmptyTree);
    }
    if tree.nodes.len() > MAX_NODES {
        return Err(CompileError::TooManyNodes {
            nodes: tree.nodes.len(),
        });
    }
    // Renumber in preorder from the root: children then come after their parents, as the probe
    // requires; a node reached twice is a cycle or a shared subtree.
    let mut order = Vec::with_capacity(tree.nodes.len());
    let mut new_index = vec![usize::MAX; tree.nodes.len()];
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        if i >= tree.nodes.len() {
            return Err(CompileError::DanglingSplit {
                node: i,
                nodes: tree.nodes.len(),
            });
        }
        if new_index[i] != usize::MAX {
            return Err(CompileError::ReachedTwice { node: i });
        }
        new_index[i] = order.len();
        order.push(i);
        if let FloatNode::Split { left, right, .. } = tree.nodes[i] {
            stack.push(right);
            stack.push(left);
        }
    }
    let mut nodes = Vec::with_capacity(order.len());
    let (mut lowest_malicious, mut highest_benign) = (i64::MAX, i64::MIN);
    for &i in &order {
        nodes.push(match tree.nodes[i] {
            FloatNode::Split {
                feature,
                threshold,
                left,
                right,
            } => {
                if threshold.is_nan() {
                    return Err(CompileError::NanSplit { node: i, feature });
                }
                // Exact for integer features: x <= t  <=>  x <= floor(t).
                let t = threshold.floor().clamp(i64::MIN as f64, i64::MAX as f64) as i64;
                Node::Split {
                    feature,
                    threshold: t,
                    left: new_index[left],
                    right: new_index[right],
                }
            }
            FloatNode::Leaf { p_malicious } => {
                let score = fixed_probability(p_malicious, i)?;
                if p_malicious >= threshold_p {
                    lowest_malicious = lowest_malicious.min(score as i64);
                } else {
                    highest_benign = highest_benign.max(score as i64);
                }
                Node::Leaf { score }
            }
        });
    }
    if lowest_malicious <= highest_benign {
        return Err(CompileError::ThresholdCollision {
            highest_benign,
            lowest_malicious,
        });
    }
    // Any threshold in (highest_benign, lowest_malicious] keeps every leaf's decision.
    let threshold = if lowest_malicious == i64::MAX {
        SCORE_ONE + 1
    } else {
        lowest_malicious
    };
    build::tree(&nodes, threshold)
}

/// Logistic regression as training produces it: logit = bias + sum(w_i * t_i(x_i)), where
/// t_i is the identity or log2(1 + x) as the probe computes it ([`log2fx`] / 256).
#[derive(Debug, Clone, PartialEq)]
pub struct FloatLogistic {
    pub bias: f64,
    pub weights: [f64; FEATURE_COUNT],
    pub transforms: [u8; FEATURE_COUNT],
}

/// The transformed feature value both models see (the integer side clamps to the i32 range).
pub fn transformed(x: i64, transform: u8) -> i64 {
    let v = if transform == TRANSFORM_LOG2 { log2fx(x) } else { x };
    v.clamp(0, i32::MAX as i64)
}

impl FloatLogistic {
    /// The float reference logit.
    pub fn logit(&self, x: &FeatureVector) -> f64 {
        let mut z = self.bias;
        for ((&w, &t), &v) in self.weights.iter().zip(&self.transforms).zip(x.iter()) {
            let scale = if t == TRANSFORM_LOG2 {
                (1u64 << LOG2_FRAC_BITS) as f64
            } else {
                1.0
            };
            z += w * transformed(v, t) as f64 / scale;
        }
        z
    }
}

#[derive(Debug, Clone)]
pub struct IntLogistic {
    pub model: Box<Model>,
}

impl IntLogistic {
    /// Largest possible |integer score - float logit x 2^16| for this feature vector.
    pub fn error_bound(&self, x: &FeatureVector) -> f64 {
        let mut bound = 0.5;
        for (i, t) in self.model.terms.iter().enumerate() {
            if t.weight != 0 {
                bound += 0.5 * transformed(x[i], t.transform) as f64 / 2f64.powi(t.shift as i32) + 1.0;
            }
        }
        bound
    }
}

/// Compiles a logistic model; malicious when logit >= `threshold_logit`.
pub fn compile_logistic(m: &FloatLogistic, threshold_logit: f64) -> Result<IntLogistic> {
    if !m.bias.is_finite() {
        return Err(CompileError::Intercept(m.bias));
    }
    if !threshold_logit.is_finite() {
        return Err(CompileError::Threshold(threshold_logit));
    }
    let mut terms = Vec::new();
    for (i, (&w, &transform)) in m.weights.iter().zip(&m.transforms).enumerate() {
        if !w.is_finite() {
            return Err(CompileError::Weight {
                feature: i,
                name: shared::features::FEATURES[i].name,
                weight: w,
            });
        }
        if transform != TRANSFORM_IDENTITY && transform != TRANSFORM_LOG2 {
            return Err(CompileError::Transform {
                feature: i,
                transform,
            });
        }
        if w == 0.0 {
            continue;
        }
        // Weight per unit of the integer the probe multiplies (log2 values carry 8 fraction bits).
        let per_unit = if transform == TRANSFORM_LOG2 {
            w / (1u64 << LOG2_FRAC_BITS) as f64
        } else {
            w
        };
        let at_shift_0 = per_unit.abs() * SCORE_ONE as f64;
        if at_shift_0 >= i32::MAX as f64 {
            return Err(CompileError::WeightTooLarge {
                feature: i,
                weight: w,
            });
        }
        // Largest shift that keeps |W| <= i32::MAX: more fraction bits, less rounding error.
        let mut shift = 0u8;
        while shift < 62 && at_shift_0 * 2f64.powi(shift as i32 + 1) < i32::MAX as f64 {
            shift += 1;
        }
        let weight = (per_unit * SCORE_ONE as f64 * 2f64.powi(shift as i32)).round() as i32;
        terms.push((
            i,
            LogisticTerm {
                weight,
                shift,
                transform,
                _pad: [0; 2],
            },
        ));
    }
    let bias = (m.bias * SCORE_ONE as f64).round() as i64;
    let threshold = (threshold_logit * SCORE_ONE as f64).round() as i64;
    Ok(IntLogistic {
        model: build::logistic(&terms, bias, threshold)?,
    })
}

#[cfg(test)]
mod tests;
