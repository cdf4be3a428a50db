//! The Pitfalls tab's state and what it draws from a finding: the findings are
//! `pitfalls::inspect`'s (the `findings` of `workbench inspect --json`), and every chart is read
//! from a finding's own evidence, so the tab shows nothing the JSON report does not hold.

use serde_json::Value;

use workbench_data::pitfalls::evidence::{words, FeatureScore, SplitEvidence};
use workbench_data::pitfalls::{Evidence, Finding};

#[derive(Debug, Default)]
pub struct PitfallsState {
    pub selected: usize,
    /// Show the honest split (time or host) next to the naive random one.
    pub honest: bool,
}

/// A small bar chart of a finding's evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Bars {
    pub title: String,
    /// (label, value); values are shares (0..=1) when `max` is 1.
    pub bars: Vec<(String, f64)>,
    pub max: f64,
}

fn accuracy_bars(columns: &[FeatureScore]) -> Vec<(String, f64)> {
    columns.iter().map(|c| (c.column.clone(), c.accuracy)).collect()
}

/// A figure the chart can draw (a NaN from a degenerate column is left out, as JSON's null was).
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// The chart for a finding, where its evidence holds one.
pub fn evidence_bars(f: &Finding) -> Option<Bars> {
    let (title, bars, max) = match &f.evidence {
        Evidence::SingleFeatureLeakage(e) => (
            "accuracy of a one-feature rule".to_string(),
            accuracy_bars(&e.top),
            1.0,
        ),
        Evidence::HostArtefacts(e) => (
            "accuracy of a one-feature rule".to_string(),
            accuracy_bars(&e.columns),
            1.0,
        ),
        Evidence::IdentifierColumns(e) => (
            "accuracy of a one-feature rule".to_string(),
            e.columns
                .iter()
                .filter_map(|c| Some((c.column.clone(), c.accuracy?)))
                .collect(),
            1.0,
        ),
        Evidence::SplitComparison(e) => {
            let s = &e.splits;
            let bars = [
                ("random", Some(&s.random)),
                ("time", s.time.as_ref()),
                ("host", s.host.as_ref()),
            ]
            .into_iter()
            .filter_map(|(name, split)| Some((format!("{name} split"), split?.f1?)))
            .collect();
            ("F1 of `train --split S` under each split".to_string(), bars, 1.0)
        }
        Evidence::ClassBalance(e) => {
            let mut bars: Vec<(String, f64)> = e
                .classes
                .iter()
                .map(|c| (c.class.clone(), c.rows as f64))
                .collect();
            let others = e.classes_total.saturating_sub(e.classes.len());
            if others > 0 {
                bars.push((
                    crate::words::plural(others as u64, "other class", "other classes"),
                    e.rows_in_other_classes as f64,
                ));
            }
            let max = bars.iter().map(|b| b.1).fold(1.0, f64::max);
            ("rows per class".to_string(), bars, max)
        }
        other => {
            // Any other finding: the numbers at the top of its evidence, when there are some.
            let json = other.to_json();
            let bars: Vec<(String, f64)> = json
                .as_object()?
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_f64().and_then(finite)?)))
                .collect();
            let max = bars.iter().map(|b| b.1.abs()).fold(0.0, f64::max);
            if max == 0.0 {
                return None;
            }
            ("numbers of the evidence".to_string(), bars, max)
        }
    };
    let bars: Vec<(String, f64)> = bars.into_iter().filter(|b| b.1.is_finite()).collect();
    (!bars.is_empty()).then_some(Bars { title, bars, max })
}

/// The naive (random split) and the honest (time or host) score of the split comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitDrop {
    pub naive_f1: f64,
    pub naive_accuracy: f64,
    /// The honest split's name and scores: the worse of time and host that has attacks in its
    /// test side (a side without attacks has F1 0 by construction).
    pub honest: Option<(String, f64, f64)>,
    /// Why there is no honest score (from the evidence's notes).
    pub note: Option<String>,
}

pub fn split_drop(findings: &[Finding]) -> Option<SplitDrop> {
    let splits = findings.iter().find_map(|f| match &f.evidence {
        Evidence::SplitComparison(e) => Some(&e.splits),
        _ => None,
    })?;
    let mut honest: Option<(String, f64, f64)> = None;
    let mut notes = Vec::new();
    for (name, split) in [("time", &splits.time), ("host", &splits.host)] {
        let Some(s) = split else { continue };
        match s {
            SplitEvidence {
                f1: Some(f1),
                accuracy: Some(acc),
                malicious_test: 1..,
                ..
            } => {
                if honest.as_ref().is_none_or(|h| *f1 < h.1) {
                    honest = Some((name.to_string(), *f1, *acc));
                }
            }
            _ => notes.push(format!(
                "{name}: {}",
                s.note
                    .as_deref()
                    // A test side with one class: F1 is undefined, and the evidence says why.
                    .or(s.undefined.as_deref())
                    .unwrap_or("no attack in its test side")
            )),
        }
    }
    Some(SplitDrop {
        naive_f1: splits.random.f1?,
        naive_accuracy: splits.random.accuracy?,
        note: (honest.is_none()).then(|| {
            if notes.is_empty() {
                "no time or host column: only a random split is possible".to_string()
            } else {
                notes.join("; ")
            }
        }),
        honest,
    })
}

/// Entries of an evidence list shown; the rest are counted (`inspect --json` has them all), as
/// `workbench inspect` prints them.
const LIST_SHOWN: usize = 8;

/// The evidence as `key: value` lines with the values written out (the panel wraps them): a
/// list of records one entry a line below its key (the first few), a map of records (the
/// splits of `split_comparison`) one record a line.
pub fn evidence_lines(f: &Finding) -> Vec<String> {
    let json = f.evidence.to_json();
    let Some(obj) = json.as_object() else {
        return vec![json.to_string()];
    };
    let mut lines = Vec::new();
    for (k, v) in obj {
        match v {
            Value::Null => {}
            Value::Array(a) if a.iter().any(Value::is_object) => {
                lines.push(format!("{k}:"));
                lines.extend(a.iter().take(LIST_SHOWN).map(|e| format!("  - {}", words(e))));
                if a.len() > LIST_SHOWN {
                    lines.push(format!(
                        "  … and {} more (`workbench inspect --json` has them all)",
                        a.len() - LIST_SHOWN
                    ));
                }
            }
            Value::Object(o) if o.values().any(Value::is_object) => {
                lines.push(format!("{k}:"));
                lines.extend(o.iter().map(|(name, e)| format!("  - {name}: {}", words(e))));
            }
            _ => lines.push(format!("{k}: {}", words(v))),
        }
    }
    lines
}
