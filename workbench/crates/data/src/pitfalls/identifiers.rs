//! Columns that predict the label by naming who or when rather than describing behaviour:
//! identifiers (addresses, ports, time, flow ids), any single feature that separates the classes
//! alone, and host artefacts (TTL, TCP window, source address) that fingerprint the attacker.

use std::collections::HashMap;

use super::evidence::{
    Evidence, FeatureScore, HostArtefacts, IdentifierColumn, IdentifierColumns, SingleFeatureLeakage,
    TopAttacker,
};
use super::stump::{self, OneFeature};
use super::{r4, Finding, Severity, Table, Values};
use crate::dataset::detect::column_key;

/// One-feature accuracy and AUC of every column (empty when the data holds one class).
pub fn single_features(t: &Table) -> Vec<OneFeature> {
    if !t.both_classes() {
        return Vec::new();
    }
    super::par_map(&t.columns, |c| match &c.values {
        Values::Numeric(x) => stump::numeric(&c.name, x, &t.malicious),
        Values::Text(x) => match (&t.time_column, &t.time_ns) {
            // A text timestamp predicts through its order, so it is scored as a number.
            (Some(tc), Some(ns)) if *tc == c.name => {
                let secs: Vec<f64> = ns.iter().map(|&v| v as f64 / 1e9).collect();
                stump::numeric(&c.name, &secs, &t.malicious)
            }
            _ => stump::categorical(&c.name, x, &t.malicious),
        },
    })
}

fn one(o: &OneFeature) -> FeatureScore {
    FeatureScore {
        column: o.column.clone(),
        accuracy: r4(o.accuracy),
        roc_auc: r4(o.roc_auc),
        majority_baseline: r4(o.baseline),
        rule: o.rule.clone(),
    }
}

/// The address value carrying most malicious rows: how many attack and benign rows it has.
fn top_attacker(x: &[String], y: &[bool]) -> Option<TopAttacker> {
    let mut counts: HashMap<&str, (usize, usize)> = HashMap::new();
    for (v, &m) in x.iter().zip(y) {
        let e = counts.entry(v.as_str()).or_default();
        if m {
            e.1 += 1;
        } else {
            e.0 += 1;
        }
    }
    let total_attack = y.iter().filter(|&&m| m).count();
    let (value, (benign, attack)) = counts
        .into_iter()
        .max_by_key(|(v, (_, a))| (*a, std::cmp::Reverse(*v)))?;
    (attack > 0).then(|| TopAttacker {
        value: value.to_string(),
        attack_rows: attack,
        benign_rows: benign,
        share_of_all_attack_rows: r4(attack as f64 / total_attack.max(1) as f64),
    })
}

fn is_address(name: &str) -> bool {
    matches!(
        column_key(name).as_str(),
        "sourceip" | "destinationip" | "srcip" | "dstip" | "src" | "dst" | "saddr" | "daddr"
    )
}

pub fn identifier_columns(t: &Table, singles: &[OneFeature]) -> Option<Finding> {
    let ids: Vec<&super::Col> = t.columns.iter().filter(|c| c.identifier).collect();
    if ids.is_empty() {
        return None;
    }
    let names: Vec<&str> = ids.iter().map(|c| c.name.as_str()).collect();
    let mut rows = Vec::new();
    let mut strong = Vec::new();
    // Separating by AUC but right no more often than the majority class: not a HIGH finding.
    let mut ranking_only = Vec::new();
    for c in &ids {
        let mut v = IdentifierColumn {
            column: c.name.clone(),
            ..IdentifierColumn::default()
        };
        if let Some(o) = singles.iter().find(|o| o.column == c.name) {
            let s = one(o);
            v.accuracy = Some(s.accuracy);
            v.roc_auc = Some(s.roc_auc);
            v.majority_baseline = Some(s.majority_baseline);
            v.rule = Some(s.rule);
            if o.leaks() && o.beats_baseline() {
                strong.push(format!("{} ({})", o.column, o.figures()));
            } else if o.leaks() {
                ranking_only.push(format!("{} ({})", o.column, o.figures()));
            }
        }
        if let (true, Values::Text(x)) = (is_address(&c.name), &c.values) {
            if let Some(top) = top_attacker(x, &t.malicious) {
                v.top_attack_value = Some(top);
            }
        }
        rows.push(v);
    }
    let (severity, summary) = if !t.both_classes() {
        (
            Severity::Medium,
            format!(
                "identifier columns present ({}); the data holds one class, so their predictive power cannot be measured here",
                names.join(", ")
            ),
        )
    } else if strong.is_empty() && !ranking_only.is_empty() {
        (
            Severity::Medium,
            format!(
                "identifier columns present ({}); some rank the classes apart but are right no more often than always answering the majority class: {}",
                names.join(", "),
                ranking_only.join(", ")
            ),
        )
    } else if strong.is_empty() {
        (
            Severity::Medium,
            format!("identifier columns present: {}", names.join(", ")),
        )
    } else {
        (
            Severity::High,
            format!(
                "identifier columns predict the label alone, better than the majority baseline: {}",
                strong.join(", ")
            ),
        )
    };
    Some(Finding {
        id: "identifier_columns",
        severity,
        summary,
        evidence: Evidence::IdentifierColumns(IdentifierColumns {
            columns: rows,
            sample: None,
        }),
        advice: "Drop addresses, ports, timestamps and flow ids before training (they name the attacker and the attack window of this capture, not behaviour); keep them only to split by host or time.".into(),
    })
}

pub fn leakage(t: &Table, singles: &[OneFeature]) -> Option<Finding> {
    let by_name: HashMap<&str, &super::Col> = t.columns.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut leaks: Vec<&OneFeature> = singles
        .iter()
        .filter(|o| o.leaks() && by_name.get(o.column.as_str()).is_some_and(|c| !c.identifier))
        .collect();
    if leaks.is_empty() {
        return None;
    }
    leaks.sort_by(|a, b| {
        b.beats_baseline()
            .cmp(&a.beats_baseline())
            .then(b.accuracy.total_cmp(&a.accuracy))
            .then(b.roc_auc.total_cmp(&a.roc_auc))
    });
    let best = leaks[0];
    // HIGH only when a rule on one column is right more often than always answering the
    // majority class; a high AUC at the baseline's accuracy ranks, it does not decide.
    let beating = leaks.iter().filter(|o| o.beats_baseline()).count();
    let (severity, summary) = if beating > 0 {
        (
            Severity::High,
            format!(
                "{} feature column(s) alone reach accuracy or ROC-AUC >= 0.95, {beating} of them beating the majority baseline; best: {} ({})",
                leaks.len(),
                best.column,
                best.figures()
            ),
        )
    } else {
        (
            Severity::Medium,
            format!(
                "{} feature column(s) alone rank the classes apart (ROC-AUC >= 0.95) but none is right more often than always answering the majority class; best: {} ({})",
                leaks.len(),
                best.column,
                best.figures()
            ),
        )
    };
    Some(Finding {
        id: "single_feature_leakage",
        severity,
        summary,
        evidence: Evidence::SingleFeatureLeakage(SingleFeatureLeakage {
            flagged: leaks.len(),
            beating_majority_baseline: beating,
            columns_tested: singles.len(),
            top: leaks.iter().take(15).map(|o| one(o)).collect(),
            sample: None,
        }),
        advice: "A one-feature rule scoring like a full model means the task, not the model, is being measured: check how the flagged columns were produced (capture set-up, tool defaults) and evaluate on a split by host or time, or on another capture.".into(),
    })
}

/// TTL, TCP window and source address: properties of the sending machine, not of the attack;
/// the VLAN id: a property of where the capture was taken.
pub(crate) fn host_artefact(name: &str, host_column: Option<&str>) -> bool {
    let k = column_key(name);
    k.contains("ttl")
        || k.contains("win")
        || k.contains("vlan")
        || Some(name) == host_column
        || matches!(k.as_str(), "sourceip" | "srcip" | "src")
}

/// Fires on accuracy alone: a machine artefact matters when a rule on it gets the answer right,
/// and a held-out AUC on addresses shared by both classes is high without any rule being right.
pub fn host_artefacts(t: &Table, singles: &[OneFeature]) -> Option<Finding> {
    let hits: Vec<&OneFeature> = singles
        .iter()
        .filter(|o| host_artefact(&o.column, t.host_column.as_deref()) && o.accurate())
        .collect();
    if hits.is_empty() {
        return None;
    }
    let names: Vec<String> = hits
        .iter()
        .map(|o| format!("{} ({:.3})", o.column, o.accuracy))
        .collect();
    Some(Finding {
        id: "host_artefacts",
        severity: Severity::High,
        summary: format!("the attacking machine is recognisable by host artefacts: {}", names.join(", ")),
        evidence: Evidence::HostArtefacts(HostArtefacts {
            columns: hits.iter().map(|o| one(o)).collect(),
            sample: None,
        }),
        advice: "TTL, initial TCP window and source address identify the machines of this testbed: a model using them learns \"traffic from the attacker box\". Leave them out of the feature set (or at least test with a per-host split) and compare.".into(),
    })
}
