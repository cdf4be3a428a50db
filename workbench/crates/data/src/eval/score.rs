//! From per-flow outcomes to the figures `workbench eval` reports: the confusion matrix, the rates
//! that need both classes (null with the reason when a class is missing), recall per class and
//! the time to detect per attack class.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::train::base_rate;
use crate::train::metrics::Confusion;

/// What happened to one flow (or one table row).
#[derive(Debug, Clone, Default)]
pub struct FlowOutcome {
    /// Attack type or benign label; None when no label matched the flow.
    pub class: Option<String>,
    pub malicious: bool,
    /// The verdict at the flow's last decision point (what monitor mode ends with).
    pub flagged: bool,
    /// Flagged at any decision point (what enforce mode would have dropped).
    pub ever_flagged: bool,
    /// The flow reached at least one decision point.
    pub decided: bool,
    /// First flagged: the flow's packet number and the time since its first packet.
    pub first_flag: Option<(u32, u64)>,
    /// Index of the input file.
    pub file: usize,
}

/// Precision, recall, F1 and the false positive rate, each null when the classes it needs are
/// not both there (`undefined` says which and why).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EvalMetrics {
    /// Labelled flows (rows) scored.
    pub flows: u64,
    pub malicious_flows: u64,
    pub benign_flows: u64,
    pub confusion: Confusion,
    pub accuracy: Option<f64>,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    pub false_positive_rate: Option<f64>,
    /// Precision if attacks were 1 flow in 10,000, at this recall and false positive rate.
    pub precision_at_1_in_10000: Option<f64>,
    /// At the false-positive rate's 95% upper bound: what the labelled flows guarantee (null
    /// without both classes).
    pub precision_at_1_in_10000_at_least: Option<f64>,
    /// Why a figure above is null, by its key (always there, empty when every figure is
    /// defined, so that a script can read it without testing for the key).
    pub undefined: BTreeMap<&'static str, String>,
}

impl EvalMetrics {
    /// Precision at 1 in 10,000 in words: the point figure with the bound the flows guarantee,
    /// or the bound alone when no false positive was seen (`train::base_rate`).
    pub fn base_rate_words(&self) -> String {
        match (
            self.precision_at_1_in_10000,
            self.precision_at_1_in_10000_at_least,
        ) {
            (Some(p), Some(lb)) => format!("{p:.4} (at least {lb:.4})"),
            (None, Some(lb)) => format!("at least {lb:.4} (no false positive seen)"),
            _ => "n/a".into(),
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    a as f64 / b as f64
}

/// The metrics of labelled outcomes, by `flagged_of` (last decision point or ever flagged).
pub fn metrics(outcomes: &[FlowOutcome], flagged_of: impl Fn(&FlowOutcome) -> bool) -> EvalMetrics {
    let mut c = Confusion::default();
    for o in outcomes.iter().filter(|o| o.class.is_some()) {
        match (o.malicious, flagged_of(o)) {
            (true, true) => c.true_positive += 1,
            (false, true) => c.false_positive += 1,
            (false, false) => c.true_negative += 1,
            (true, false) => c.false_negative += 1,
        }
    }
    let positives = c.true_positive + c.false_negative;
    let negatives = c.false_positive + c.true_negative;
    let flows = positives + negatives;
    let mut undefined = BTreeMap::new();
    let no_attacks = format!("no attack flow among the {flows} labelled flows: nothing to detect");
    let no_benign = format!("no benign flow among the {flows} labelled flows: no false positive is possible");
    let recall = (positives > 0).then(|| ratio(c.true_positive, positives));
    let fpr = (negatives > 0).then(|| ratio(c.false_positive, negatives));
    if flows == 0 {
        let why =
            "no labelled flow: give --labels FILE (or put labels-NAME.csv beside the capture)".to_string();
        for k in [
            "accuracy",
            "precision",
            "recall",
            "f1",
            "false_positive_rate",
            "precision_at_1_in_10000",
        ] {
            undefined.insert(k, why.clone());
        }
    } else {
        if positives == 0 {
            undefined.insert("recall", no_attacks.clone());
        }
        if negatives == 0 {
            undefined.insert("false_positive_rate", no_benign.clone());
        }
        if positives == 0 || negatives == 0 {
            let why = if positives == 0 { &no_attacks } else { &no_benign };
            for k in ["precision", "f1", "precision_at_1_in_10000"] {
                undefined.insert(k, format!("needs both classes: {why}"));
            }
        }
    }
    let both = positives > 0 && negatives > 0;
    let precision = (both && c.true_positive + c.false_positive > 0)
        .then(|| ratio(c.true_positive, c.true_positive + c.false_positive))
        .or_else(|| both.then_some(0.0));
    let f1 = match (both, precision, recall) {
        (true, Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
        (true, Some(_), Some(_)) => Some(0.0),
        _ => None,
    };
    let (at_base_rate, at_least) = match (both, recall, fpr) {
        (true, Some(r), Some(f)) => {
            if let Some(why) = base_rate::no_false_positive(r, c.false_positive, negatives) {
                undefined.insert("precision_at_1_in_10000", why);
            }
            (
                Some(base_rate::precision_at(r, f)),
                Some(base_rate::precision_at_least(r, c.false_positive, negatives)),
            )
        }
        _ => (None, None),
    };
    let at_base_rate = at_base_rate.filter(|_| !undefined.contains_key("precision_at_1_in_10000"));
    EvalMetrics {
        flows,
        malicious_flows: positives,
        benign_flows: negatives,
        confusion: c,
        accuracy: (flows > 0).then(|| ratio(c.true_positive + c.true_negative, flows)),
        precision,
        recall,
        f1,
        false_positive_rate: fpr,
        precision_at_1_in_10000: at_base_rate,
        precision_at_1_in_10000_at_least: at_least,
        undefined,
    }
}

/// One class: how many of its flows were flagged. For an attack class `recall` is the share
/// flagged; for a benign class it is the share left alone (as `workbench train` reports it).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClassScore {
    pub malicious: bool,
    pub flows: u64,
    /// Flagged at the last decision point.
    pub flagged: u64,
    pub recall: f64,
    /// Flagged at any decision point (captures at decision points only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ever_flagged: Option<u64>,
}

pub fn per_class(outcomes: &[FlowOutcome], with_ever: bool) -> BTreeMap<String, ClassScore> {
    let mut out: BTreeMap<String, ClassScore> = BTreeMap::new();
    for o in outcomes {
        let Some(class) = &o.class else { continue };
        let e = out.entry(class.clone()).or_insert(ClassScore {
            malicious: o.malicious,
            flows: 0,
            flagged: 0,
            recall: 0.0,
            ever_flagged: with_ever.then_some(0),
        });
        e.flows += 1;
        e.flagged += o.flagged as u64;
        if let Some(n) = &mut e.ever_flagged {
            *n += o.ever_flagged as u64;
        }
    }
    for s in out.values_mut() {
        let right = if s.malicious {
            s.flagged
        } else {
            s.flows - s.flagged
        };
        s.recall = ratio(right, s.flows.max(1));
    }
    out
}

/// How soon the flows of one attack class were first flagged.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClassDetection {
    pub flows: u64,
    pub detected_flows: u64,
    /// The flow's packet number at its first flagged decision (1 = its first packet).
    pub median_packet: Option<u32>,
    pub p90_packet: Option<u32>,
    /// Time from the flow's first packet to that decision (capture clock).
    pub median_time_ns: Option<u64>,
    pub p90_time_ns: Option<u64>,
}

/// The nearest-rank percentile of sorted values.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Time to detect per attack class (the benign classes are not in it); with `pooled`, every
/// attack flow as one class named `all attacks`.
pub fn time_to_detect(outcomes: &[FlowOutcome], pooled: bool) -> BTreeMap<String, ClassDetection> {
    let mut by_class: BTreeMap<String, (u64, Vec<u32>, Vec<u64>)> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| o.malicious) {
        let Some(class) = &o.class else { continue };
        let name = if pooled { "all attacks" } else { class.as_str() };
        let e = by_class.entry(name.to_string()).or_default();
        e.0 += 1;
        if let Some((packet, ns)) = o.first_flag {
            e.1.push(packet);
            e.2.push(ns);
        }
    }
    by_class
        .into_iter()
        .map(|(class, (flows, mut packets, mut times))| {
            packets.sort_unstable();
            times.sort_unstable();
            let d = ClassDetection {
                flows,
                detected_flows: packets.len() as u64,
                median_packet: percentile(&packets, 0.5),
                p90_packet: percentile(&packets, 0.9),
                median_time_ns: percentile(&times, 0.5),
                p90_time_ns: percentile(&times, 0.9),
            };
            (class, d)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(class: &str, malicious: bool, flagged: bool, first: Option<(u32, u64)>) -> FlowOutcome {
        FlowOutcome {
            class: Some(class.into()),
            malicious,
            flagged,
            ever_flagged: flagged || first.is_some(),
            decided: true,
            first_flag: first,
            file: 0,
        }
    }

    #[test]
    fn rates_from_a_hand_counted_set() {
        let o = vec![
            flow("SYN", true, true, Some((1, 0))),
            flow("SYN", true, true, Some((3, 2_000))),
            flow("SCAN", true, false, None),
            flow("BENIGN", false, true, Some((5, 10))),
            flow("BENIGN", false, false, None),
            flow("BENIGN", false, false, Some((2, 5))),
            flow("BENIGN", false, false, None),
        ];
        let m = metrics(&o, |f| f.flagged);
        assert_eq!((m.confusion.true_positive, m.confusion.false_positive), (2, 1));
        assert_eq!(m.recall, Some(2.0 / 3.0));
        assert_eq!(m.false_positive_rate, Some(0.25));
        assert_eq!(m.precision, Some(2.0 / 3.0));
        assert!(m.undefined.is_empty());
        let ever = metrics(&o, |f| f.ever_flagged);
        assert_eq!(ever.false_positive_rate, Some(0.5));
        let c = per_class(&o, true);
        assert_eq!(c["BENIGN"].recall, 0.75);
        assert_eq!(c["BENIGN"].ever_flagged, Some(2));
        assert_eq!(c["SCAN"].recall, 0.0);
        let t = time_to_detect(&o, false);
        assert_eq!(time_to_detect(&o, true)["all attacks"].detected_flows, 2);
        assert_eq!(t["SYN"].detected_flows, 2);
        assert_eq!(t["SYN"].median_packet, Some(1));
        assert_eq!(t["SYN"].p90_packet, Some(3));
        assert_eq!(t["SCAN"].median_time_ns, None);
        assert!(!t.contains_key("BENIGN"));
    }

    #[test]
    fn one_class_leaves_the_figures_that_need_both_null_with_a_reason() {
        let benign = vec![
            flow("BENIGN", false, true, None),
            flow("BENIGN", false, false, None),
        ];
        let m = metrics(&benign, |f| f.flagged);
        assert_eq!(m.false_positive_rate, Some(0.5));
        assert_eq!((m.recall, m.precision, m.f1), (None, None, None));
        assert!(
            m.undefined["recall"].contains("no attack flow"),
            "{:?}",
            m.undefined
        );
        let json = serde_json::to_value(&m).expect("json");
        assert!(json["precision"].is_null() && json["undefined"]["precision"].is_string());
        let attacks = vec![flow("SYN", true, true, None)];
        let m = metrics(&attacks, |f| f.flagged);
        assert_eq!(m.recall, Some(1.0));
        assert_eq!(m.false_positive_rate, None);
        assert!(m.undefined["false_positive_rate"].contains("no benign flow"));
    }
}
