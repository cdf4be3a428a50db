//! One-feature classifiers: an exact decision stump over sorted values for numbers, and a
//! per-value majority vote (learnt on a random 70% and scored on the other 30%) for text such as
//! addresses. Fitting linfa 80 times would take minutes on a large table; a stump takes one sort.

use std::collections::HashMap;

use serde::Serialize;

use crate::train::{metrics, split};

#[derive(Debug, Clone, Serialize)]
pub struct OneFeature {
    pub column: String,
    pub accuracy: f64,
    pub roc_auc: f64,
    /// Accuracy of always answering the majority class.
    pub baseline: f64,
    /// The rule, for the evidence (`x <= 41 => malicious`, `per-value majority`).
    pub rule: String,
}

impl OneFeature {
    /// Separates the classes well enough to be called leakage (or a task too easy to measure).
    pub fn leaks(&self) -> bool {
        self.accurate() || self.roc_auc >= 0.95
    }

    /// Accuracy >= 0.95 and above what always answering the majority class gets.
    pub fn accurate(&self) -> bool {
        self.accuracy >= 0.95 && self.beats_baseline()
    }

    /// Right on at least half a percent of the rows more than always answering the majority
    /// class: 0.9998 against a baseline of 0.9995 is no finding, however high the AUC.
    pub fn beats_baseline(&self) -> bool {
        self.accuracy > self.baseline + BASELINE_MARGIN
    }

    /// The figures in words, the baseline beside the accuracy.
    pub fn figures(&self) -> String {
        format!(
            "accuracy {:.4} vs majority baseline {:.4}, AUC {:.3}",
            self.accuracy, self.baseline, self.roc_auc
        )
    }
}

/// Share of rows a one-feature rule must get right beyond the majority baseline to count as
/// better than it.
pub const BASELINE_MARGIN: f64 = 0.005;

pub fn baseline(y: &[bool]) -> f64 {
    let m = y.iter().filter(|&&v| v).count();
    m.max(y.len() - m) as f64 / y.len().max(1) as f64
}

/// ROC-AUC of a score, taken in whichever direction separates better.
pub fn auc(y: &[bool], scores: &[f64]) -> f64 {
    let a = metrics::area(&metrics::roc(y, scores));
    a.max(1.0 - a)
}

/// Best interval of values over `(sum, first bucket, last bucket)` (Kadane's maximum subarray).
fn best_run(gain: &[i64]) -> (i64, usize, usize) {
    let (mut best, mut cur, mut start) = ((0i64, 0usize, 0usize), 0i64, 0usize);
    let mut found = false;
    for (i, &g) in gain.iter().enumerate() {
        if cur <= 0 {
            cur = g;
            start = i;
        } else {
            cur += g;
        }
        if !found || cur > best.0 {
            best = (cur, start, i);
            found = true;
        }
    }
    best
}

/// The best one-feature rule of the form `a < x <= b` (malicious inside, or outside): a stump
/// when the interval reaches an end, a depth-2 tree on one feature otherwise. In-sample: two
/// thresholds cannot memorise a table. Exact, one sort and one pass.
pub fn numeric(column: &str, x: &[f64], y: &[bool]) -> OneFeature {
    // One bucket per distinct value (sorted, counted in the optimised `workbench-fit` crate).
    let b = workbench_fit::buckets::buckets(x, y);
    let pos_total: i64 = b.malicious.iter().sum::<u64>() as i64;
    let neg_total: i64 = b.benign.iter().sum::<u64>() as i64;
    let n = pos_total + neg_total;
    // Per bucket: malicious - benign.
    let gains: Vec<i64> = b
        .malicious
        .iter()
        .zip(&b.benign)
        .map(|(&m, &g)| m as i64 - g as i64)
        .collect();
    let negated: Vec<i64> = gains.iter().map(|g| -g).collect();
    let (inside, i0, i1) = best_run(&gains);
    let (outside, o0, o1) = best_run(&negated);
    let bound = |k: usize| b.values.get(k).copied().unwrap_or(f64::NAN);
    let interval = |a: usize, e: usize| match (a, e + 1 == b.values.len()) {
        (0, true) => "any value".to_string(),
        (0, false) => format!("{column} <= {}", bound(e)),
        (_, true) => format!("{column} > {}", bound(a - 1)),
        (_, false) => format!("{} < {column} <= {}", bound(a - 1), bound(e)),
    };
    // Malicious and benign rows in buckets a..=e.
    let within = |a: usize, e: usize| -> (i64, i64) {
        let m: u64 = b.malicious[a..=e].iter().sum();
        let g: u64 = b.benign[a..=e].iter().sum();
        (m as i64, g as i64)
    };
    // The rule's flagged rows: (true positives, false positives).
    let (correct, rule, flagged) = if neg_total + inside.max(0) >= pos_total + outside.max(0) {
        (
            neg_total + inside.max(0),
            format!("{} => malicious", interval(i0, i1)),
            if inside > 0 { within(i0, i1) } else { (0, 0) },
        )
    } else {
        let (m, g) = if outside > 0 { within(o0, o1) } else { (0, 0) };
        (
            pos_total + outside.max(0),
            format!("{} => benign", interval(o0, o1)),
            (pos_total - m, neg_total - g),
        )
    };
    // The value's ranking (one threshold), or the rule's own (an interval: the ranking of a
    // time column whose attack window sits in the middle is 0.5 while the rule is exact), so
    // the AUC never says less than the accuracy beside it shows.
    let a = workbench_fit::buckets::roc_auc(&b);
    let rate = |k: i64, of: i64| k as f64 / of.max(1) as f64;
    let rule_auc = (1.0 + rate(flagged.0, pos_total) - rate(flagged.1, neg_total)) / 2.0;
    OneFeature {
        column: column.to_string(),
        accuracy: correct as f64 / n.max(1) as f64,
        roc_auc: a.max(1.0 - a).max(rule_auc),
        baseline: pos_total.max(neg_total) as f64 / n.max(1) as f64,
        rule,
    }
}

/// Per-value majority learnt on a random 70% of the rows, scored on the rest; unseen values get
/// the training majority. Learnt on all rows, a unique value per row (a flow id) would score 1.0.
pub fn categorical(column: &str, x: &[String], y: &[bool]) -> OneFeature {
    let s = split::random(x.len(), 0.3, 1);
    let mut counts: HashMap<&str, (usize, usize)> = HashMap::new();
    for &i in &s.train {
        let e = counts.entry(x[i].as_str()).or_default();
        if y[i] {
            e.1 += 1;
        } else {
            e.0 += 1;
        }
    }
    let train_pos = s.train.iter().filter(|&&i| y[i]).count();
    let prior = train_pos as f64 / s.train.len().max(1) as f64;
    let (mut correct, mut seen) = (0usize, 0usize);
    let mut scores = Vec::with_capacity(s.test.len());
    let mut truth = Vec::with_capacity(s.test.len());
    for &i in &s.test {
        let p = match counts.get(x[i].as_str()) {
            Some(&(neg, pos)) => {
                seen += 1;
                pos as f64 / (pos + neg) as f64
            }
            None => prior,
        };
        correct += usize::from((p > 0.5) == y[i]);
        scores.push(p);
        truth.push(y[i]);
    }
    OneFeature {
        column: column.to_string(),
        accuracy: correct as f64 / s.test.len().max(1) as f64,
        roc_auc: auc(&truth, &scores),
        baseline: baseline(&truth),
        rule: format!(
            "per-value majority learnt on 70% of rows; {:.1}% of test rows had a value seen in training",
            100.0 * seen as f64 / s.test.len().max(1) as f64
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stump_finds_the_separating_threshold() {
        let x: Vec<f64> = (0..100).map(f64::from).collect();
        let y: Vec<bool> = (0..100).map(|i| i >= 60).collect();
        let s = numeric("x", &x, &y);
        assert_eq!(s.accuracy, 1.0);
        assert_eq!(s.roc_auc, 1.0);
        assert_eq!(s.rule, "x > 59 => malicious");
        // One port among many: an interval finds it where a single threshold cannot.
        let port: Vec<f64> = (0..100).map(|i| [22.0, 53.0, 80.0, 443.0][i % 4]).collect();
        let web: Vec<bool> = (0..100).map(|i| i % 4 == 2).collect();
        let p = numeric("port", &port, &web);
        assert_eq!(
            (p.accuracy, p.rule.as_str()),
            (1.0, "53 < port <= 80 => malicious")
        );
        assert_eq!(p.roc_auc, 1.0, "an exact interval is an exact ranking: {p:?}");
        // An attack window in the middle of the day, outside it benign: ranked by time alone
        // the AUC is 0.5, the interval's is 1.
        let window: Vec<bool> = (0..100).map(|i| !(40..60).contains(&i)).collect();
        let w = numeric("t", &x, &window);
        assert_eq!((w.accuracy, w.roc_auc), (1.0, 1.0), "{w:?}");
        assert_eq!(w.rule, "39 < t <= 59 => benign");
        // Reversed direction and a noisy feature.
        let yr: Vec<bool> = (0..100).map(|i| i < 30).collect();
        assert_eq!(numeric("x", &x, &yr).accuracy, 1.0);
        let noise: Vec<bool> = (0..100).map(|i| (i * 7919) % 13 < 6).collect();
        let n = numeric("x", &x, &noise);
        assert!(n.accuracy < 0.8 && !n.leaks(), "{n:?}");
    }

    #[test]
    fn unique_values_do_not_predict_held_out_rows() {
        let ids: Vec<String> = (0..1000).map(|i| format!("flow-{i}")).collect();
        let y: Vec<bool> = (0..1000).map(|i| i % 2 == 0).collect();
        let c = categorical("Flow ID", &ids, &y);
        assert!(c.accuracy < 0.6, "{c:?}");
        let hosts: Vec<String> = y
            .iter()
            .map(|&m| if m { "attacker" } else { "client" }.to_string())
            .collect();
        assert_eq!(categorical("src", &hosts, &y).accuracy, 1.0);
    }
}
