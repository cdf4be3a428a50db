//! Scores per flow when the rows are decision-point samples (`train --at decision-points`): a
//! flow is decided many times, as the probe decides it, and the readings are those of the
//! probe's two modes: the verdict at the flow's last decision point (what monitor mode ends
//! with; the main metrics) and "ever flagged" at any decision point (what enforce mode would
//! have dropped), with the time to detect: the packet and the time since the flow's first
//! packet at which an attack flow was first flagged.

use std::collections::BTreeMap;

use serde::Serialize;

use super::metrics::{self, Metrics};
use super::split::Split;
use super::Dataset;

/// Where in its flow a decision-point sample was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DecidedAt {
    /// Packet k of the flow (both directions), 1-based, as the probe counts.
    pub packet: u32,
    /// Microseconds since the flow's first packet (`duration_us` at packet k).
    pub elapsed_us: u64,
}

/// One reading of the test side: per row, or per flow for decision-point samples.
pub struct Reading {
    pub truth: Vec<bool>,
    pub predicted: Vec<bool>,
    pub scores: Vec<f64>,
    pub class: Vec<String>,
    pub metrics: Metrics,
}

/// The test rows grouped by flow, each group in packet order (rows of a flow are taken in
/// packet order when the samples are made, and a split never divides a flow).
fn groups(ds: &Dataset, test: &[usize]) -> Vec<Vec<usize>> {
    let mut at: BTreeMap<u32, usize> = BTreeMap::new();
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (k, &i) in test.iter().enumerate() {
        let g = *at.entry(ds.flow[i]).or_insert_with(|| {
            out.push(Vec::new());
            out.len() - 1
        });
        out[g].push(k);
    }
    for g in &mut out {
        g.sort_by_key(|&k| ds.decided_at.get(test[k]).map_or(0, |d| d.packet));
    }
    out
}

/// The main reading: every test row, or for decision-point samples every test flow at its last
/// decision point (its score and verdict there).
pub fn main_reading(ds: &Dataset, test: &[usize], scores: &[f64], predicted: &[bool]) -> Reading {
    let class_of = |i: usize| ds.class.get(i).cloned().unwrap_or_default();
    let picked: Vec<usize> = if ds.is_decision_points() {
        groups(ds, test)
            .into_iter()
            .filter_map(|g| g.last().copied())
            .collect()
    } else {
        (0..test.len()).collect()
    };
    let truth: Vec<bool> = picked.iter().map(|&k| ds.malicious[test[k]]).collect();
    let predicted: Vec<bool> = picked.iter().map(|&k| predicted[k]).collect();
    let scores: Vec<f64> = picked.iter().map(|&k| scores[k]).collect();
    let class = picked.iter().map(|&k| class_of(test[k])).collect();
    let metrics = metrics::metrics(&truth, &predicted, &scores);
    Reading {
        truth,
        predicted,
        scores,
        class,
        metrics,
    }
}

/// Time to detect one attack class: over its test flows, the first flagged decision.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimeToDetect {
    pub flows: usize,
    /// Flows flagged at some decision point.
    pub detected: usize,
    /// Packet number of the first flagged decision (median, 90th percentile) over detected flows.
    pub packet_median: Option<u32>,
    pub packet_p90: Option<u32>,
    /// Microseconds from the flow's first packet to its first flagged decision.
    pub elapsed_us_median: Option<u64>,
    pub elapsed_us_p90: Option<u64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DecisionPointReport {
    /// The probe's decision points the samples were taken at: packets 1..=decide_first, then
    /// every decide_every-th.
    pub decide_first: u32,
    pub decide_every: u32,
    pub samples_train: usize,
    pub samples_test: usize,
    pub flows_train: usize,
    pub flows_test: usize,
    /// Every decision of the test flows counted once.
    pub per_decision: Metrics,
    /// Per test flow: flagged at any decision point (what enforce mode would have dropped).
    pub ever_flagged: Metrics,
    /// Share of benign test flows flagged at some decision point.
    pub benign_ever_flagged_share: f64,
    /// Per attack class, and `all` attacks together.
    pub time_to_detect: BTreeMap<String, TimeToDetect>,
}

/// The value at quantile `q` of sorted values (nearest rank).
fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn time_to_detect(first: &[(usize, Option<DecidedAt>)]) -> TimeToDetect {
    let mut packets: Vec<u32> = first.iter().filter_map(|(_, d)| d.map(|d| d.packet)).collect();
    let mut elapsed: Vec<u64> = first
        .iter()
        .filter_map(|(_, d)| d.map(|d| d.elapsed_us))
        .collect();
    packets.sort_unstable();
    elapsed.sort_unstable();
    TimeToDetect {
        flows: first.len(),
        detected: packets.len(),
        packet_median: quantile(&packets, 0.5),
        packet_p90: quantile(&packets, 0.9),
        elapsed_us_median: quantile(&elapsed, 0.5),
        elapsed_us_p90: quantile(&elapsed, 0.9),
    }
}

fn flows_in(ds: &Dataset, rows: &[usize]) -> usize {
    let mut f: Vec<u32> = rows.iter().map(|&i| ds.flow[i]).collect();
    f.sort_unstable();
    f.dedup();
    f.len()
}

/// The decision-point view of the test side: `predicted` is per test row (`split.test` order).
pub fn decision_point_report(ds: &Dataset, split: &Split, predicted: &[bool]) -> DecisionPointReport {
    let test = &split.test;
    let truth: Vec<bool> = test.iter().map(|&i| ds.malicious[i]).collect();
    let ones: Vec<f64> = predicted.iter().map(|&p| f64::from(u8::from(p))).collect();
    let per_decision = metrics::metrics(&truth, predicted, &ones);
    let mut flow_truth = Vec::new();
    let mut flow_flagged = Vec::new();
    let mut by_class: BTreeMap<String, Vec<(usize, Option<DecidedAt>)>> = BTreeMap::new();
    for g in groups(ds, test) {
        let Some(&k0) = g.first() else { continue };
        let row = test[k0];
        let first_flag = g.iter().find(|&&k| predicted[k]).map(|&k| {
            ds.decided_at.get(test[k]).copied().unwrap_or(DecidedAt {
                packet: 0,
                elapsed_us: 0,
            })
        });
        flow_truth.push(ds.malicious[row]);
        flow_flagged.push(first_flag.is_some());
        if ds.malicious[row] {
            let class = ds.class.get(row).cloned().unwrap_or_default();
            by_class.entry(class).or_default().push((row, first_flag));
            by_class.entry("all".into()).or_default().push((row, first_flag));
        }
    }
    let flagged_scores: Vec<f64> = flow_flagged.iter().map(|&p| f64::from(u8::from(p))).collect();
    let ever_flagged = metrics::metrics(&flow_truth, &flow_flagged, &flagged_scores);
    let benign = flow_truth.iter().filter(|&&t| !t).count();
    let benign_flagged = flow_truth
        .iter()
        .zip(&flow_flagged)
        .filter(|(&t, &f)| !t && f)
        .count();
    let (decide_first, decide_every) = ds.decision_config.unwrap_or((0, 0));
    DecisionPointReport {
        decide_first,
        decide_every,
        samples_train: split.train.len(),
        samples_test: test.len(),
        flows_train: flows_in(ds, &split.train),
        flows_test: flows_in(ds, test),
        per_decision,
        ever_flagged,
        benign_ever_flagged_share: benign_flagged as f64 / benign.max(1) as f64,
        time_to_detect: by_class
            .iter()
            .map(|(c, v)| (c.clone(), time_to_detect(v)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_are_read_at_their_last_decision_and_first_flag() {
        // Flow 0 (attack): decisions at packets 1, 2, 3; flagged from packet 2 on.
        // Flow 1 (benign): packets 1, 2; flagged at packet 1 only.
        let mut ds = Dataset::default();
        for (flow, packet, attack) in [
            (0u32, 1u32, true),
            (0, 2, true),
            (0, 3, true),
            (1, 1, false),
            (1, 2, false),
        ] {
            ds.features.push([0; shared::features::FEATURE_COUNT]);
            ds.malicious.push(attack);
            ds.class.push(if attack { "SCAN" } else { "BENIGN" }.into());
            ds.flow.push(flow);
            ds.decided_at.push(DecidedAt {
                packet,
                elapsed_us: u64::from(packet) * 100,
            });
        }
        let test: Vec<usize> = (0..5).collect();
        let predicted = [false, true, true, true, false];
        let scores = [0.1, 0.9, 0.8, 0.7, 0.2];
        let r = main_reading(&ds, &test, &scores, &predicted);
        assert_eq!(r.truth, [true, false]);
        assert_eq!(
            r.predicted,
            [true, false],
            "last decisions: packet 3 flagged, packet 2 not"
        );
        let split = Split { train: vec![], test };
        let d = decision_point_report(&ds, &split, &predicted);
        assert_eq!((d.flows_test, d.samples_test), (2, 5));
        assert_eq!(
            d.ever_flagged.confusion.false_positive, 1,
            "the benign flow was flagged once"
        );
        assert_eq!(d.benign_ever_flagged_share, 1.0);
        let t = &d.time_to_detect["SCAN"];
        assert_eq!(
            (t.flows, t.detected, t.packet_median, t.elapsed_us_median),
            (1, 1, Some(2), Some(200))
        );
        assert_eq!(d.time_to_detect["all"], *t);
    }
}
