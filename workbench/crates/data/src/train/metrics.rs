//! Scores of a binary detector: confusion matrix, precision, recall, F1, ROC and PR curves with
//! their areas, per-class recall, and the base-rate view (precision at a realistic prevalence).

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Confusion {
    pub true_positive: u64,
    pub false_positive: u64,
    pub true_negative: u64,
    pub false_negative: u64,
}

/// Serialised through [`Metrics::undefined`]: the figures that need both classes are null in
/// JSON, with the reason under `undefined`, when the rows hold one class only (see
/// `metrics_json.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    pub rows: usize,
    pub confusion: Confusion,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Benign rows flagged, of all benign rows (what an analyst pays for every alert).
    pub false_positive_rate: f64,
    /// None (null in JSON) when the rows hold one class only: ranking is then undefined, and
    /// NaN is not JSON. `auc_undefined` says why.
    pub roc_auc: Option<f64>,
    /// Average precision ([`average_precision`]).
    pub pr_auc: Option<f64>,
    pub auc_undefined: Option<String>,
    /// Precision if attacks were 1 in 10,000 flows, at this recall and false-positive rate
    /// (withheld in JSON and words when no false positive was seen: `base_rate`).
    pub precision_at_1_in_10000: f64,
    /// The same at the false-positive rate's 95% upper bound: what the test rows guarantee.
    pub precision_at_1_in_10000_at_least: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CurvePoint {
    pub threshold: f64,
    pub x: f64,
    pub y: f64,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

pub fn confusion(truth: &[bool], predicted: &[bool]) -> Confusion {
    let mut c = Confusion::default();
    for (&t, &p) in truth.iter().zip(predicted) {
        match (t, p) {
            (true, true) => c.true_positive += 1,
            (false, true) => c.false_positive += 1,
            (false, false) => c.true_negative += 1,
            (true, false) => c.false_negative += 1,
        }
    }
    c
}

/// ROC curve points (x = false-positive rate, y = true-positive rate), one per distinct score,
/// from the highest threshold down.
pub fn roc(truth: &[bool], scores: &[f64]) -> Vec<CurvePoint> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let positives = truth.iter().filter(|&&t| t).count() as u64;
    let negatives = truth.len() as u64 - positives;
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut points = vec![CurvePoint {
        threshold: f64::INFINITY,
        x: 0.0,
        y: 0.0,
    }];
    let mut i = 0;
    while i < idx.len() {
        let s = scores[idx[i]];
        while i < idx.len() && scores[idx[i]] == s {
            if truth[idx[i]] {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        points.push(CurvePoint {
            threshold: s,
            x: ratio(fp, negatives),
            y: ratio(tp, positives),
        });
    }
    points
}

/// Precision-recall curve (x = recall, y = precision).
pub fn pr(truth: &[bool], scores: &[f64]) -> Vec<CurvePoint> {
    let positives = truth.iter().filter(|&&t| t).count() as u64;
    let negatives = truth.len() as u64 - positives;
    roc(truth, scores)
        .into_iter()
        .skip(1)
        .map(|p| {
            let tp = (p.y * positives as f64).round() as u64;
            let fp = (p.x * negatives as f64).round() as u64;
            CurvePoint {
                threshold: p.threshold,
                x: p.y,
                y: ratio(tp, tp + fp),
            }
        })
        .collect()
}

/// Average precision (scikit-learn's `average_precision_score`): each threshold's precision
/// weighted by the recall it adds, over `pr`'s points. Not the trapezoid under the curve, which
/// needs a point at recall 0 that no threshold gives (precision 1 there was the guess, and it
/// inflated the area: 0.861 where the average precision is 0.760) and interpolates precision
/// linearly, which is optimistic.
pub fn average_precision(pr_points: &[CurvePoint]) -> f64 {
    let mut recall_before = 0.0;
    pr_points
        .iter()
        .map(|p| {
            let added = (p.x - recall_before) * p.y;
            recall_before = p.x;
            added
        })
        .sum()
}

/// Area under a curve by the trapezoidal rule.
pub fn area(points: &[CurvePoint]) -> f64 {
    points
        .windows(2)
        .map(|w| (w[1].x - w[0].x) * (w[1].y + w[0].y) / 2.0)
        .sum()
}

pub fn metrics(truth: &[bool], predicted: &[bool], scores: &[f64]) -> Metrics {
    let c = confusion(truth, predicted);
    let precision = ratio(c.true_positive, c.true_positive + c.false_positive);
    let recall = ratio(c.true_positive, c.true_positive + c.false_negative);
    let fpr = ratio(c.false_positive, c.false_positive + c.true_negative);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    // With one class only, ranking is undefined: say so (null and a reason) rather than 0.
    let positives = c.true_positive + c.false_negative;
    let negatives = c.false_positive + c.true_negative;
    let both_classes = positives > 0 && negatives > 0;
    let auc_undefined = (!both_classes).then(|| {
        format!(
            "ROC and PR AUC are undefined: the {} rows hold one class only ({positives} malicious, \
             {negatives} benign)",
            truth.len()
        )
    });
    Metrics {
        rows: truth.len(),
        confusion: c,
        accuracy: ratio(c.true_positive + c.true_negative, truth.len() as u64),
        precision,
        recall,
        f1,
        false_positive_rate: fpr,
        roc_auc: both_classes.then(|| area(&roc(truth, scores))),
        pr_auc: both_classes.then(|| average_precision(&pr(truth, scores))),
        auc_undefined,
        precision_at_1_in_10000: super::base_rate::precision_at(recall, fpr),
        precision_at_1_in_10000_at_least: super::base_rate::precision_at_least(
            recall,
            c.false_positive,
            c.false_positive + c.true_negative,
        ),
    }
}

/// Recall per class name (attack types; for the benign class it is the specificity).
pub fn per_class_recall(
    class: &[&str],
    malicious: &[bool],
    predicted: &[bool],
) -> BTreeMap<String, super::ClassRecall> {
    let mut counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for ((c, &m), &p) in class.iter().zip(malicious).zip(predicted) {
        let e = counts.entry(c.to_string()).or_default();
        e.0 += 1;
        if p == m {
            e.1 += 1;
        }
    }
    counts
        .into_iter()
        .map(|(c, (rows, correct))| {
            let recall = correct as f64 / rows.max(1) as f64;
            (
                c,
                super::ClassRecall {
                    rows,
                    correct,
                    recall,
                },
            )
        })
        .collect()
}

/// Keeps about `max` evenly spaced points of a curve (plus the ends) for reports.
pub fn thin(points: Vec<CurvePoint>, max: usize) -> Vec<CurvePoint> {
    if points.len() <= max || max < 2 {
        return points;
    }
    let step = (points.len() - 1) as f64 / (max - 1) as f64;
    (0..max)
        .map(|k| points[((k as f64) * step).round() as usize].clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_confusion_and_rates() {
        let truth = [true, true, true, false, false, false, false, false];
        let pred = [true, true, false, true, false, false, false, false];
        let scores = [0.9, 0.8, 0.3, 0.7, 0.2, 0.1, 0.05, 0.0];
        let m = metrics(&truth, &pred, &scores);
        assert_eq!(
            m.confusion,
            Confusion {
                true_positive: 2,
                false_positive: 1,
                true_negative: 4,
                false_negative: 1
            }
        );
        assert!((m.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.accuracy - 0.75).abs() < 1e-12);
        // Ranking: positives at ranks 1, 2, 4 of 8: AUC = (5 + 5 + 4) / 15.
        let auc = m.roc_auc.expect("both classes");
        assert!((auc - 14.0 / 15.0).abs() < 1e-12, "{auc}");
        assert_eq!(m.auc_undefined, None);
        // Average precision, as scikit-learn's average_precision_score gives it: recall steps of
        // 1/3 at precisions 1, 1 and 3/4 (the trapezoid with a guessed (0, 1) gave more).
        let ap = m.pr_auc.expect("both classes");
        assert!((ap - 11.0 / 12.0).abs() < 1e-12, "{ap}");
        // 2/3 recall at 1/5 FPR and 1-in-10,000 prevalence: precision collapses.
        assert!(m.precision_at_1_in_10000 < 0.001);
    }

    #[test]
    fn perfect_and_useless_rankings() {
        let truth = [false, false, true, true];
        assert!((area(&roc(&truth, &[0.1, 0.2, 0.8, 0.9])) - 1.0).abs() < 1e-12);
        assert!((area(&roc(&truth, &[0.5; 4])) - 0.5).abs() < 1e-12);
        assert!(area(&roc(&truth, &[0.9, 0.8, 0.2, 0.1])) < 1e-12);
    }

    #[test]
    fn one_class_rows_have_no_auc_and_say_why() {
        let m = metrics(&[false; 3], &[false, true, false], &[0.1, 0.7, 0.2]);
        assert_eq!((m.roc_auc, m.pr_auc), (None, None));
        let why = m.auc_undefined.clone().expect("a reason");
        assert!(why.contains("one class only (0 malicious, 3 benign)"), "{why}");
        let json = serde_json::to_value(&m).expect("json");
        assert!(json["roc_auc"].is_null() && json["pr_auc"].is_null(), "{json}");
        assert_eq!(json["auc_undefined"].as_str(), Some(why.as_str()));
    }
}
