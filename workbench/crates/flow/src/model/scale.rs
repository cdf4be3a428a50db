//! One score scale for people: P(malicious) in 0..1, whatever the model. The probe keeps its
//! fixed-point integers (a tree's leaf is P x 2^16, a forest sums its trees' leaves, a logistic
//! model accumulates the logit x 2^16) and decides on them; everything shown to a person or
//! written by `--json` converts them here, so that after a hot swap from a tree to a logistic
//! model the Live column does not mix 0.05 (a probability) with -3.54 (a logit). The raw
//! integer stays available (`score_raw` in JSON) for checks against the kernel.

use std::collections::BTreeMap;

use shared::model::{Model, KIND_FOREST, KIND_LOGISTIC, SCORE_ONE};

/// How a model's integer score maps to P(malicious).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoreScale {
    pub kind: u8,
    pub trees: u16,
}

impl ScoreScale {
    pub fn of(model: &Model) -> Self {
        ScoreScale {
            kind: model.header.kind,
            trees: model.header.tree_count,
        }
    }

    /// From a model file's header (`kind` as in [`super::kind_name`]).
    pub fn of_kind_name(kind: &str, trees: u32) -> Self {
        let kind = match kind {
            "logistic" => KIND_LOGISTIC,
            "forest" => KIND_FOREST,
            _ => shared::model::KIND_TREE,
        };
        ScoreScale {
            kind,
            trees: trees.min(u32::from(u16::MAX)) as u16,
        }
    }

    /// P(malicious) of an integer score: the logistic function of a logit, a tree's leaf as
    /// it is, a forest's sum as the mean of its trees' leaves.
    pub fn probability(self, raw: i64) -> f64 {
        let x = raw as f64 / SCORE_ONE as f64;
        match self.kind {
            KIND_LOGISTIC => sigmoid(x),
            KIND_FOREST => (x / f64::from(self.trees.max(1))).clamp(0.0, 1.0),
            _ => x.clamp(0.0, 1.0),
        }
    }

    /// The threshold as a probability; a threshold above every reachable score (a tree whose
    /// leaves never reach it) reads as above 1, said in words by [`threshold_words`].
    pub fn threshold_probability(self, raw: i64) -> f64 {
        let x = raw as f64 / SCORE_ONE as f64;
        match self.kind {
            KIND_LOGISTIC => sigmoid(x),
            KIND_FOREST => x / f64::from(self.trees.max(1)),
            _ => x,
        }
    }
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// "malicious at P(malicious) >= 0.50" (or that no score reaches it).
pub fn threshold_words(scale: ScoreScale, raw: i64) -> String {
    let p = scale.threshold_probability(raw);
    if p > 1.0 {
        format!("never malicious (threshold {p:.4} is above any P(malicious))")
    } else {
        format!("malicious at P(malicious) >= {p:.4}")
    }
}

/// The scales of the models seen, by model id: a flow's score is converted with the scale of
/// the model that made it (a flow scored before a hot swap keeps its model's scale).
#[derive(Debug, Clone, Default)]
pub struct ScaleBook(BTreeMap<u32, ScoreScale>);

impl ScaleBook {
    pub fn insert(&mut self, model: &Model) {
        self.0.insert(model.header.model_id, ScoreScale::of(model));
    }

    pub fn contains(&self, model_id: u32) -> bool {
        self.0.contains_key(&model_id)
    }

    /// P(malicious) of `raw` by the model `model_id`; None for a model not seen (one swapped
    /// out of every slot of the probe before it was read).
    pub fn probability(&self, model_id: u32, raw: i64) -> Option<f64> {
        self.0.get(&model_id).map(|s| s.probability(raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::model::{KIND_TREE, SCORE_ONE};

    #[test]
    fn every_kind_maps_to_a_probability() {
        let tree = ScoreScale {
            kind: KIND_TREE,
            trees: 1,
        };
        assert_eq!(tree.probability(SCORE_ONE / 4), 0.25);
        assert_eq!(tree.probability(2 * SCORE_ONE), 1.0, "clamped");
        let logistic = ScoreScale {
            kind: KIND_LOGISTIC,
            trees: 0,
        };
        // The logit -3.54 of the issue is P 0.028; logit 0 is 0.5.
        let p = logistic.probability((-3.54 * SCORE_ONE as f64) as i64);
        assert!((p - 0.0282).abs() < 1e-3, "{p}");
        assert_eq!(logistic.probability(0), 0.5);
        let forest = ScoreScale {
            kind: KIND_FOREST,
            trees: 4,
        };
        assert_eq!(forest.probability(2 * SCORE_ONE), 0.5);
        assert!(threshold_words(tree, SCORE_ONE + 1).starts_with("never malicious"));
        assert_eq!(
            threshold_words(logistic, 0),
            "malicious at P(malicious) >= 0.5000"
        );
    }
}
