//! Row-level pitfalls: exact and near duplicates (and how many test rows have a twin in train
//! under a random split), and identical feature rows that carry different labels.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use super::evidence::{Duplicates, Evidence, LabelNoise};
use super::{is_model_feature, r4, Finding, Severity, Table, Values};
use crate::train::split;

/// 3 significant digits: flows that differ only in the last microseconds of a timer.
fn round_sig(v: f64) -> u64 {
    if v == 0.0 || !v.is_finite() {
        return v.to_bits();
    }
    let mag = 10f64.powi(2 - v.abs().log10().floor() as i32);
    ((v * mag).round() / mag).to_bits()
}

/// One hash per row over the model features (identifiers excluded: they make every row unique).
fn feature_hashes(t: &Table, near: bool) -> Vec<u64> {
    let mut h: Vec<DefaultHasher> = vec![DefaultHasher::new(); t.rows()];
    for c in t.columns.iter().filter(|c| !c.identifier || is_model_feature(c)) {
        match &c.values {
            Values::Numeric(x) => {
                for (h, v) in h.iter_mut().zip(x) {
                    if near { round_sig(*v) } else { v.to_bits() }.hash(h);
                }
            }
            Values::Text(x) => {
                for (h, v) in h.iter_mut().zip(x) {
                    v.hash(h);
                }
            }
        }
    }
    h.into_iter().map(|h| h.finish()).collect()
}

fn distinct(h: &[u64]) -> usize {
    h.iter().collect::<HashSet<_>>().len()
}

pub fn duplicates(t: &Table) -> Option<Finding> {
    let n = t.rows();
    let exact = feature_hashes(t, false);
    let near = feature_hashes(t, true);
    let exact_dups = n - distinct(&exact);
    let near_dups = n - distinct(&near);
    let s = split::random(n, 0.3, 1);
    let train: HashSet<u64> = s.train.iter().map(|&i| exact[i]).collect();
    let twins = s.test.iter().filter(|&&i| train.contains(&exact[i])).count();
    let twin_share = twins as f64 / s.test.len().max(1) as f64;
    if near_dups == 0 {
        return None;
    }
    let severity = if twin_share >= 0.1 {
        Severity::High
    } else if exact_dups as f64 >= 0.01 * n as f64 {
        Severity::Medium
    } else {
        Severity::Low
    };
    Some(Finding {
        id: "duplicates",
        severity,
        summary: format!(
            "{exact_dups} exact and {near_dups} near duplicate rows of {n}; under a random 70/30 split {twins} test rows ({:.1}%) have an identical twin in train",
            100.0 * twin_share
        ),
        evidence: Evidence::Duplicates(Duplicates {
            rows: n,
            exact_duplicates: exact_dups,
            near_duplicates_3_significant_digits: near_dups,
            test_rows: s.test.len(),
            test_rows_with_twin_in_train: twins,
            share_with_twin: r4(twin_share),
            sample: None,
        }),
        advice: "A test row with a twin in train is answered from memory. Deduplicate before splitting (or split by host/time so that one flow's copies stay on one side) and report the score on rows without a twin.".into(),
    })
}

pub fn label_noise(t: &Table) -> Option<Finding> {
    let hashes = feature_hashes(t, false);
    let mut groups: HashMap<u64, (usize, usize)> = HashMap::new();
    for (h, &m) in hashes.iter().zip(&t.malicious) {
        let e = groups.entry(*h).or_default();
        if m {
            e.1 += 1;
        } else {
            e.0 += 1;
        }
    }
    let conflicting: Vec<&(usize, usize)> = groups.values().filter(|(b, a)| *b > 0 && *a > 0).collect();
    if conflicting.is_empty() {
        return None;
    }
    let rows: usize = conflicting.iter().map(|(b, a)| b + a).sum();
    // Rows a perfect model must still get wrong: the minority label of each conflicting group.
    let unavoidable: usize = conflicting.iter().map(|(b, a)| (*b).min(*a)).sum();
    Some(Finding {
        id: "label_noise",
        severity: if unavoidable as f64 > 0.001 * t.rows() as f64 { Severity::Medium } else { Severity::Low },
        summary: format!(
            "{} groups of identical feature rows carry both labels ({rows} rows; at least {unavoidable} are mislabelled or indistinguishable)",
            conflicting.len()
        ),
        evidence: Evidence::LabelNoise(LabelNoise {
            conflicting_groups: conflicting.len(),
            rows_in_conflicting_groups: rows,
            minimum_unavoidable_errors: unavoidable,
            max_accuracy_possible: r4(1.0 - unavoidable as f64 / t.rows().max(1) as f64),
            sample: None,
        }),
        advice: "Identical features with different labels are label noise (CIC-IDS2017 labels by time window and address; Engelen et al. 2021 relabelled it) or features too coarse to tell the classes apart: inspect the groups, relabel or drop them, and do not read accuracy above the stated maximum as skill.".into(),
    })
}
