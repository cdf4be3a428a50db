//! What a model was trained on, kept in its file: per feature, quantiles of the training rows and
//! the exact share of rows at or below each of them. `workbench skew` and `workbench eval`
//! compare these with the values the probe computes at its decision points; the shares make the
//! comparison exact at every recorded value (integer features have ties: `proto` is 6 or 17 on
//! most rows, so a quantile level alone would not say how many rows sit on a value).

use serde::{Deserialize, Serialize};

/// The quantile levels recorded (min, percentiles, max): enough points for PSI bins and the
/// share a tree split sends left, few enough that 40 features stay a few kilobytes of JSON.
pub const LEVELS: [f64; 23] = [
    0.0, 0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85,
    0.9, 0.95, 0.99, 1.0,
];

/// Where in a flow the training values were taken: the skew report's first words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TakenAt {
    /// A dataset's own flow meter (CICFlowMeter, Argus, ...): values at the end of the flow.
    EndOfFlow,
    /// `workbench features` at each flow's last packet in the capture.
    LastPacket,
    /// `workbench features --decision-at N`.
    PacketN,
    /// `workbench features --every-packet`: one row per packet.
    EveryPacket,
    /// The probe's decision points.
    DecisionPoints,
}

impl TakenAt {
    pub fn words(self) -> &'static str {
        match self {
            TakenAt::EndOfFlow => "end-of-flow",
            TakenAt::LastPacket => "last-packet",
            TakenAt::PacketN => "packet-N",
            TakenAt::EveryPacket => "every-packet",
            TakenAt::DecisionPoints => "decision-point",
        }
    }
}

/// One feature's training distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureQuantiles {
    pub id: usize,
    pub name: String,
    pub unit: String,
    /// The value at each of `TrainingQuantiles::levels` (nearest rank).
    pub values: Vec<i64>,
    /// Share of training rows at or below each value (exact).
    pub at_or_below: Vec<f64>,
    pub mean: f64,
}

/// The training rows' distribution of every feature the model was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingQuantiles {
    pub rows: u64,
    pub levels: Vec<f64>,
    pub taken_at: TakenAt,
    /// Where the rows came from, in words ("CIC-IDS2017 TrafficLabelling columns").
    #[serde(default)]
    pub source: String,
    pub features: Vec<FeatureQuantiles>,
}

impl TrainingQuantiles {
    pub fn feature(&self, id: usize) -> Option<&FeatureQuantiles> {
        self.features.iter().find(|f| f.id == id)
    }
}

/// The nearest-rank quantile of sorted values.
pub fn quantile_sorted(sorted: &[i64], level: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (level.clamp(0.0, 1.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Share of sorted values at or below `v`.
pub fn share_at_or_below(sorted: &[i64], v: i64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted.partition_point(|&x| x <= v) as f64 / sorted.len() as f64
}

/// Share of sorted values strictly below `v`.
pub fn share_below(sorted: &[i64], v: i64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted.partition_point(|&x| x < v) as f64 / sorted.len() as f64
}

impl FeatureQuantiles {
    /// The distribution of `values` (any order) of feature `id`.
    pub fn of(id: usize, mut values: Vec<i64>) -> FeatureQuantiles {
        values.sort_unstable();
        let quantiles: Vec<i64> = LEVELS.iter().map(|&l| quantile_sorted(&values, l)).collect();
        let at_or_below = quantiles.iter().map(|&v| share_at_or_below(&values, v)).collect();
        let mean = if values.is_empty() {
            0.0
        } else {
            values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64
        };
        let info = shared::features::FEATURES.get(id);
        FeatureQuantiles {
            id,
            name: info.map_or("?", |f| f.name).to_string(),
            unit: info.map_or("", |f| f.unit).to_string(),
            values: quantiles,
            at_or_below,
            mean,
        }
    }

    pub fn min(&self) -> i64 {
        self.values.first().copied().unwrap_or(0)
    }

    pub fn max(&self) -> i64 {
        self.values.last().copied().unwrap_or(0)
    }

    /// The recorded value nearest to `level` (the median for 0.5).
    pub fn at_level(&self, levels: &[f64], level: f64) -> i64 {
        levels
            .iter()
            .zip(&self.values)
            .min_by(|a, b| (a.0 - level).abs().total_cmp(&(b.0 - level).abs()))
            .map_or(0, |(_, &v)| v)
    }

    /// About what share of training rows is at or below `t`: exact at a recorded value, linear
    /// between two recorded values (the rows between them are not recorded one by one).
    pub fn share_at_or_below(&self, t: i64) -> f64 {
        let (v, s) = (&self.values, &self.at_or_below);
        if v.is_empty() || t < v[0] {
            return 0.0;
        }
        match v.iter().rposition(|&x| x <= t) {
            None => 0.0,
            Some(i) if v[i] == t || i + 1 == v.len() => s[i],
            Some(i) => {
                // Between v[i] and v[i+1]: the rows with a value in (v[i], v[i+1]) are a share
                // of at most s[i+1] - s[i] (minus those on v[i+1] itself, not recorded).
                let span = (v[i + 1] - v[i]) as f64;
                s[i] + (s[i + 1] - s[i]) * (t - v[i]) as f64 / span
            }
        }
    }
}

/// One feature's values, sorted, each with a weight: at the probe's decisions 1 / (its flow's
/// decisions), so that every flow counts once however many decision points it reached; the
/// training rows' the same way at decision-point samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WeightedColumn {
    pub values: Vec<i64>,
    /// Share of the total weight at or below each index (None: every value weighs the same, and
    /// the figures are the plain nearest-rank ones).
    cumulative: Option<Vec<f64>>,
    mean: f64,
}

impl WeightedColumn {
    /// `weights` (one per value, any positive scale) or None for equal weights.
    pub fn new(values: Vec<i64>, weights: Option<&[f64]>) -> WeightedColumn {
        let weights = weights.filter(|w| w.len() == values.len() && w.windows(2).any(|p| p[0] != p[1]));
        let Some(weights) = weights else {
            let mut values = values;
            values.sort_unstable();
            let mean = if values.is_empty() {
                0.0
            } else {
                values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64
            };
            return WeightedColumn {
                values,
                cumulative: None,
                mean,
            };
        };
        let mut pairs: Vec<(i64, f64)> = values.into_iter().zip(weights.iter().copied()).collect();
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let total: f64 = pairs.iter().map(|p| p.1).sum();
        let mut running = 0.0;
        let mut cumulative = Vec::with_capacity(pairs.len());
        let mut mean = 0.0;
        for &(v, w) in &pairs {
            running += w;
            cumulative.push(running / total);
            mean += v as f64 * w / total;
        }
        if let Some(last) = cumulative.last_mut() {
            *last = 1.0;
        }
        WeightedColumn {
            values: pairs.into_iter().map(|p| p.0).collect(),
            cumulative: Some(cumulative),
            mean,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The weighted mean.
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// The value at `level`: nearest rank for equal weights, else the value whose share of the
    /// weight holds `level`.
    pub fn quantile(&self, level: f64) -> i64 {
        match &self.cumulative {
            None => quantile_sorted(&self.values, level),
            Some(c) => {
                let l = level.clamp(0.0, 1.0);
                let i = c.partition_point(|&s| s <= l + 1e-12);
                self.values
                    .get(i.min(self.values.len().saturating_sub(1)))
                    .copied()
                    .unwrap_or(0)
            }
        }
    }

    /// Weighted share of values at or below `v`.
    pub fn share_at_or_below(&self, v: i64) -> f64 {
        match &self.cumulative {
            None => share_at_or_below(&self.values, v),
            Some(c) => match self.values.partition_point(|&x| x <= v) {
                0 => 0.0,
                i => c[i - 1],
            },
        }
    }

    /// Weighted share of values strictly below `v`.
    pub fn share_below(&self, v: i64) -> f64 {
        match &self.cumulative {
            None => share_below(&self.values, v),
            Some(c) => match self.values.partition_point(|&x| x < v) {
                0 => 0.0,
                i => c[i - 1],
            },
        }
    }

    /// The distribution as the model file records it (`FeatureQuantiles::of` for equal weights).
    pub fn quantiles_of(&self, id: usize) -> FeatureQuantiles {
        let mut q = FeatureQuantiles::of(id, Vec::new());
        q.values = LEVELS.iter().map(|&l| self.quantile(l)).collect();
        q.at_or_below = q.values.iter().map(|&v| self.share_at_or_below(v)).collect();
        q.mean = self.mean;
        q
    }
}

impl FeatureQuantiles {
    /// The distribution of feature `id` over `values`, each weighing its `weights` entry (None:
    /// 1 each): a flow's decision-point samples weigh 1 / (its samples), as in training.
    pub fn of_weighted(id: usize, values: Vec<i64>, weights: Option<&[f64]>) -> FeatureQuantiles {
        WeightedColumn::new(values, weights).quantiles_of(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_shares_are_exact_on_ties() {
        // proto-like: 70% TCP, 30% UDP.
        let mut values = vec![6; 70];
        values.extend(vec![17; 30]);
        let q = FeatureQuantiles::of(1, values);
        assert_eq!(q.name, "proto");
        assert_eq!((q.min(), q.max()), (6, 17));
        assert_eq!(q.at_level(&LEVELS, 0.5), 6);
        assert!((q.share_at_or_below(6) - 0.7).abs() < 1e-12);
        assert!((q.share_at_or_below(10) - 0.7).abs() < 0.31);
        assert_eq!(q.share_at_or_below(5), 0.0);
        assert!((q.share_at_or_below(17) - 1.0).abs() < 1e-12);
        assert!((q.mean - 9.3).abs() < 1e-9);
    }

    #[test]
    fn a_model_file_keeps_the_quantiles_and_older_files_have_none() {
        let dir = std::env::temp_dir().join(format!("wb-quantiles-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let model = crate::model::build::syn_count_tree(3).expect("tree");
        let q = TrainingQuantiles {
            rows: 3,
            levels: LEVELS.to_vec(),
            taken_at: TakenAt::LastPacket,
            source: "test".into(),
            features: vec![FeatureQuantiles::of(21, vec![1, 2, 3])],
        };
        let with = dir.join("with.ebml");
        let provenance = serde_json::json!({ "rows": 3, (crate::model::file::TRAINING_QUANTILES_KEY): q });
        crate::model::file::write(&with, &model, provenance).expect("write");
        let read = crate::model::file::read(&with).expect("read");
        assert_eq!(read.meta.training_quantiles().expect("valid"), Some(q));
        let old = dir.join("old.ebml");
        crate::model::file::write(&old, &model, serde_json::json!({ "rows": 3 })).expect("write");
        let read = crate::model::file::read(&old).expect("an older file still loads");
        assert_eq!(read.meta.training_quantiles().expect("absent is fine"), None);
        let bad = dir.join("bad.ebml");
        let provenance = serde_json::json!({ (crate::model::file::TRAINING_QUANTILES_KEY): "x" });
        crate::model::file::write(&bad, &model, provenance).expect("write");
        let e = crate::model::file::read(&bad)
            .expect("loads")
            .meta
            .training_quantiles();
        let e = e.expect_err("the quantiles are unreadable");
        assert!(
            matches!(e, crate::model::ModelFileError::Provenance { .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("provenance.training_quantiles"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn equal_weights_give_the_plain_nearest_rank_figures() {
        let plain = WeightedColumn::new(vec![3, 1, 2, 4], Some(&[0.5; 4]));
        assert_eq!(plain, WeightedColumn::new(vec![1, 2, 3, 4], None));
        assert_eq!(plain.quantiles_of(2), FeatureQuantiles::of(2, vec![4, 3, 2, 1]));
        // One value weighing as much as the three others: the median is that value.
        let heavy = WeightedColumn::new(vec![1, 2, 3, 10], Some(&[1.0, 1.0, 1.0, 3.0]));
        assert_eq!(heavy.quantile(0.5), 10);
        assert!((heavy.mean() - 6.0).abs() < 1e-12);
    }

    #[test]
    fn interpolates_between_recorded_values() {
        let q = FeatureQuantiles::of(2, (0..1000).collect());
        assert_eq!(q.at_level(&LEVELS, 0.5), 500);
        let s = q.share_at_or_below(523);
        assert!((s - 0.524).abs() < 0.01, "{s}");
    }
}
