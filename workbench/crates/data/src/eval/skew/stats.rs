//! The values a model meets at its decision points, and how far their distribution is from the
//! training rows' (PSI and KS against the quantiles recorded in the model file).

use std::collections::HashMap;

use shared::features::FeatureVector;
use workbench_flow::model::distribution::{FeatureQuantiles, WeightedColumn};

/// The features at every decision on the evaluation data (only the recorded features are kept),
/// with the flow each decision belongs to: [`Decisions::sorted`] weighs each flow's decisions
/// 1 / (their number), so that every flow counts once, as `train --at decision-points` weighs its
/// samples.
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    /// Feature ids kept, in order.
    pub ids: Vec<usize>,
    /// Per kept feature, its value at each decision.
    pub values: Vec<Vec<i64>>,
    /// The flow's packet number at each decision (captures only).
    pub packets: Vec<u32>,
    pub count: u64,
    /// The flow of each decision.
    flows: Vec<u64>,
    /// The flow of each entry of `packets`.
    packet_flows: Vec<u64>,
    /// After [`Decisions::sorted`]: per kept feature, its weighted values.
    columns: Vec<WeightedColumn>,
    /// After [`Decisions::sorted`]: the packet numbers, weighted.
    pub packet_column: WeightedColumn,
    /// After [`Decisions::sorted`]: the flows decided on.
    pub flow_count: u64,
}

/// Flow keys of table rows (each row its own flow) stay clear of the captures' keys.
const ROW_KEY: u64 = 1 << 63;

impl Decisions {
    pub fn new(ids: Vec<usize>) -> Decisions {
        let values = vec![Vec::new(); ids.len()];
        Decisions {
            ids,
            values,
            ..Decisions::default()
        }
    }

    /// One decision on a table row (each row is one flow; `packet` 0: no packet number).
    pub fn push(&mut self, x: &FeatureVector, packet: u32) {
        self.push_in_flow(x, packet, ROW_KEY | self.count);
    }

    /// One decision at packet `packet` of flow `flow` (a key unique in the data: see
    /// [`flow_key`]).
    pub fn push_in_flow(&mut self, x: &FeatureVector, packet: u32, flow: u64) {
        for (v, &id) in self.values.iter_mut().zip(&self.ids) {
            v.push(x[id]);
        }
        if packet > 0 {
            self.packets.push(packet);
            self.packet_flows.push(flow);
        }
        self.flows.push(flow);
        self.count += 1;
    }

    /// Weighs every decision 1 / (its flow's decisions) and sorts every column (the comparisons
    /// read sorted values).
    pub fn sorted(mut self) -> Decisions {
        let mut per_flow: HashMap<u64, u32> = HashMap::new();
        for &f in &self.flows {
            *per_flow.entry(f).or_default() += 1;
        }
        let weight = |flows: &[u64]| -> Vec<f64> { flows.iter().map(|f| 1.0 / per_flow[f] as f64).collect() };
        let weights = weight(&self.flows);
        let packet_weights = weight(&self.packet_flows);
        self.columns = std::mem::take(&mut self.values)
            .into_iter()
            .map(|v| WeightedColumn::new(v, Some(&weights)))
            .collect();
        self.packet_column = WeightedColumn::new(
            self.packets.iter().map(|&p| p as i64).collect(),
            Some(&packet_weights),
        );
        self.packets.sort_unstable();
        self.flow_count = per_flow.len() as u64;
        self
    }

    /// A feature's weighted values (after [`Decisions::sorted`]).
    pub fn column(&self, id: usize) -> Option<&WeightedColumn> {
        self.ids
            .iter()
            .position(|&i| i == id)
            .and_then(|k| self.columns.get(k))
    }
}

/// The key of flow number `flow` of input file number `file`.
pub fn flow_key(file: usize, flow: usize) -> u64 {
    ((file as u64) << 32) | flow as u64
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

/// `decided`: the decision values of the feature, weighted.
pub fn shift(train: &FeatureQuantiles, levels: &[f64], decided: &WeightedColumn) -> Shift {
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
        let below = decided.share_below(min);
        bins.push((0.0, below));
        ks = ks.max(below);
        let (mut prev_t, mut prev_d) = (0.0, below);
        for &(v, t) in &edges {
            let d = decided.share_at_or_below(v);
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
        below_min_share: edges.first().map_or(0.0, |&(min, _)| decided.share_below(min)),
        above_max_share: edges
            .last()
            .map_or(0.0, |&(max, _)| 1.0 - decided.share_at_or_below(max)),
        quantiles: levels.iter().map(|&l| decided.quantile(l)).collect(),
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
        let s = shift(&train, &LEVELS, &WeightedColumn::new(same, None));
        assert!(s.psi < 0.01 && s.ks < 0.02, "{s:?}");
        assert_eq!((s.below_min_share, s.above_max_share), (0.0, 0.0));
        let moved: Vec<i64> = (5_000..15_000).collect();
        let m = shift(&train, &LEVELS, &WeightedColumn::new(moved, None));
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
        let s = shift(&train, &LEVELS, &WeightedColumn::new(d, None));
        assert!((s.ks - 0.8).abs() < 1e-9, "{s:?}");
        assert!(s.psi > 1.0);
    }

    #[test]
    fn weights_make_each_flow_count_once() {
        // One flow decided 9 times at 100, nine flows decided once each at 1..=9.
        let mut d = Decisions::new(vec![0]);
        let mut x = [0i64; shared::features::FEATURE_COUNT];
        x[0] = 100;
        for p in 1..=9 {
            d.push_in_flow(&x, p, flow_key(0, 0));
        }
        for f in 1..=9 {
            x[0] = f as i64;
            d.push_in_flow(&x, 1, flow_key(0, f));
        }
        let d = d.sorted();
        assert_eq!((d.count, d.flow_count), (18, 10));
        let c = d.column(0).expect("column");
        assert!((c.share_at_or_below(9) - 0.9).abs() < 1e-9, "{c:?}");
        assert!((c.share_below(100) - 0.9).abs() < 1e-9);
        // Ten flows: the median is the 6th value (nearest rank, as with equal weights).
        assert_eq!(c.quantile(0.5), 6);
        assert_eq!((c.quantile(0.0), c.quantile(1.0)), (1, 100));
        assert!((c.mean() - 14.5).abs() < 1e-9);
        // The long flow's packets 1..=9 weigh as one flow against nine flows at packet 1.
        assert_eq!(d.packet_column.quantile(0.5), 1);
    }
}
