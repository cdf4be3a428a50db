//! The values a model meets at its decision points, and how far their distribution is from the
//! training rows' (PSI and KS against the quantiles recorded in the model file).

use shared::features::FeatureVector;
use workbench_flow::model::distribution::{
    quantile_sorted, share_at_or_below, share_below, FeatureQuantiles,
};

/// The features at every decision on the evaluation data (only the recorded features are kept).
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    /// Feature ids kept, in order.
    pub ids: Vec<usize>,
    /// Per kept feature, its value at each decision.
    pub values: Vec<Vec<i64>>,
    /// The flow's packet number at each decision (captures only).
    pub packets: Vec<u32>,
    pub count: u64,
}

impl Decisions {
    pub fn new(ids: Vec<usize>) -> Decisions {
        let values = vec![Vec::new(); ids.len()];
        Decisions {
            ids,
            values,
            packets: Vec::new(),
            count: 0,
        }
    }

    /// One decision at the flow's packet `packet` (0: a table row, no packet number).
    pub fn push(&mut self, x: &FeatureVector, packet: u32) {
        for (v, &id) in self.values.iter_mut().zip(&self.ids) {
            v.push(x[id]);
        }
        if packet > 0 {
            self.packets.push(packet);
        }
        self.count += 1;
    }

    /// Sorts every column (the comparisons read sorted values).
    pub fn sorted(mut self) -> Decisions {
        for v in &mut self.values {
            v.sort_unstable();
        }
        self.packets.sort_unstable();
        self
    }

    pub fn column(&self, id: usize) -> Option<&[i64]> {
        self.ids
            .iter()
            .position(|&i| i == id)
            .map(|k| self.values[k].as_slice())
    }
}

/// Shares below 1 in 10,000 count as 1 in 10,000 in PSI (an empty bin would make it infinite).
const PSI_FLOOR: f64 = 1e-4;

/// How one feature's decision values sit against its training distribution.
#[derive(Debug, Clone, PartialEq)]
pub struct Shift {
    /// Population stability index over the bins the recorded training values make (below the
    /// minimum, each recorded value, between two of them, above the maximum).
    pub psi: f64,
    /// Kolmogorov-Smirnov distance, at the recorded values (exact there; a lower bound of the
    /// distance over all values).
    pub ks: f64,
    pub below_min_share: f64,
    pub above_max_share: f64,
    /// The decision values at the training quantile levels.
    pub quantiles: Vec<i64>,
}

/// `sorted`: the decision values of the feature, sorted.
pub fn shift(train: &FeatureQuantiles, levels: &[f64], sorted: &[i64]) -> Shift {
    // Distinct recorded values with the training share at or below each.
    let mut edges: Vec<(i64, f64)> = Vec::new();
    for (&v, &s) in train.values.iter().zip(&train.at_or_below) {
        match edges.last_mut() {
            Some(last) if last.0 == v => last.1 = s,
            _ => edges.push((v, s)),
        }
    }
    let mut bins: Vec<(f64, f64)> = Vec::new();
    let mut ks: f64 = 0.0;
    if let Some(&(min, _)) = edges.first() {
        let below = share_below(sorted, min);
        bins.push((0.0, below));
        ks = ks.max(below);
        let (mut prev_t, mut prev_d) = (0.0, below);
        for &(v, t) in &edges {
            let d = share_at_or_below(sorted, v);
            bins.push((t - prev_t, d - prev_d));
            ks = ks.max((t - d).abs());
            (prev_t, prev_d) = (t, d);
        }
        bins.push(((1.0 - prev_t).max(0.0), 1.0 - prev_d));
    }
    let psi = bins
        .iter()
        .map(|&(t, d)| {
            let (t, d) = (t.max(PSI_FLOOR), d.max(PSI_FLOOR));
            (d - t) * (d / t).ln()
        })
        .sum();
    Shift {
        psi,
        ks,
        below_min_share: edges.first().map_or(0.0, |&(min, _)| share_below(sorted, min)),
        above_max_share: edges
            .last()
            .map_or(0.0, |&(max, _)| 1.0 - share_at_or_below(sorted, max)),
        quantiles: levels.iter().map(|&l| quantile_sorted(sorted, l)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use workbench_flow::model::distribution::LEVELS;

    #[test]
    fn same_distribution_scores_near_zero_and_a_shift_scores_high() {
        let train = FeatureQuantiles::of(2, (0..10_000).collect());
        let same: Vec<i64> = (0..10_000).step_by(7).collect();
        let s = shift(&train, &LEVELS, &same);
        assert!(s.psi < 0.01 && s.ks < 0.02, "{s:?}");
        assert_eq!((s.below_min_share, s.above_max_share), (0.0, 0.0));
        let moved: Vec<i64> = (5_000..15_000).collect();
        let m = shift(&train, &LEVELS, &moved);
        assert!(m.psi > 1.0 && (m.ks - 0.5).abs() < 0.01, "{m:?}");
        assert!((m.above_max_share - 0.5).abs() < 0.001);
        assert_eq!(m.quantiles[0], 5_000);
    }

    #[test]
    fn ties_on_a_value_are_compared_exactly() {
        let mut t = vec![6; 90];
        t.extend(vec![17; 10]);
        let train = FeatureQuantiles::of(1, t);
        let mut d = vec![6; 10];
        d.extend(vec![17; 90]);
        let s = shift(&train, &LEVELS, &d);
        assert!((s.ks - 0.8).abs() < 1e-9, "{s:?}");
        assert!(s.psi > 1.0);
    }
}
