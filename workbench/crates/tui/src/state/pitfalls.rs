//! The Pitfalls tab's state and what it draws from a finding: the findings are
//! `pitfalls::inspect`'s (the `findings` of `workbench inspect --json`), and every chart is read
//! from a finding's own evidence, so the tab shows nothing the JSON report does not hold.

use serde_json::Value;

use workbench_data::pitfalls::Finding;

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

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

fn column_bars(list: Option<&Value>, key: &str) -> Vec<(String, f64)> {
    list.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| Some((c.get("column")?.as_str()?.to_string(), num(c, key)?)))
                .collect()
        })
        .unwrap_or_default()
}

/// The chart for a finding, where its evidence holds one.
pub fn evidence_bars(f: &Finding) -> Option<Bars> {
    let e = &f.evidence;
    let (title, bars, max) = match f.id {
        "single_feature_leakage" => (
            "accuracy of a one-feature rule".to_string(),
            column_bars(e.get("top"), "accuracy"),
            1.0,
        ),
        "identifier_columns" | "host_artefacts" => (
            "accuracy of a one-feature rule".to_string(),
            column_bars(e.get("columns"), "accuracy"),
            1.0,
        ),
        "split_comparison" => {
            let splits = e.get("splits")?.as_object()?;
            let bars = ["random", "time", "host"]
                .iter()
                .filter_map(|s| Some((format!("{s} split"), num(splits.get(*s)?, "f1")?)))
                .collect();
            ("F1 of the same tree under each split".to_string(), bars, 1.0)
        }
        "class_balance" => {
            let bars: Vec<(String, f64)> = e
                .get("classes")?
                .as_array()?
                .iter()
                .filter_map(|c| Some((c.get("class")?.as_str()?.to_string(), num(c, "rows")?)))
                .collect();
            let max = bars.iter().map(|b| b.1).fold(1.0, f64::max);
            ("rows per class".to_string(), bars, max)
        }
        _ => {
            // Any other finding: the numbers at the top of its evidence, when there are some.
            let obj = e.as_object()?;
            let bars: Vec<(String, f64)> = obj
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_f64().filter(|x| x.is_finite())?)))
                .collect();
            let max = bars.iter().map(|b| b.1.abs()).fold(0.0, f64::max);
            if max == 0.0 {
                return None;
            }
            ("numbers of the evidence".to_string(), bars, max)
        }
    };
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
    let f = findings.iter().find(|f| f.id == "split_comparison")?;
    let splits = f.evidence.get("splits")?.as_object()?;
    let random = splits.get("random")?;
    let mut honest: Option<(String, f64, f64)> = None;
    let mut notes = Vec::new();
    for name in ["time", "host"] {
        let Some(s) = splits.get(name) else { continue };
        match (num(s, "f1"), num(s, "accuracy")) {
            (Some(f1), Some(acc)) if num(s, "malicious_test").unwrap_or(0.0) > 0.0 => {
                if honest.as_ref().is_none_or(|h| f1 < h.1) {
                    honest = Some((name.to_string(), f1, acc));
                }
            }
            _ => notes.push(format!(
                "{name}: {}",
                s.get("note")
                    .and_then(Value::as_str)
                    // A test side with one class: F1 is undefined, and the evidence says why.
                    .or_else(|| s.get("undefined").and_then(Value::as_str))
                    .unwrap_or("no attack in its test side")
            )),
        }
    }
    Some(SplitDrop {
        naive_f1: num(random, "f1")?,
        naive_accuracy: num(random, "accuracy")?,
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

/// The evidence as short `key: value` lines (long arrays summarised).
pub fn evidence_lines(f: &Finding, width: usize) -> Vec<String> {
    let Some(obj) = f.evidence.as_object() else {
        return vec![f.evidence.to_string()];
    };
    obj.iter()
        .map(|(k, v)| {
            let text = match v {
                Value::Array(a) => format!("{} entries", a.len()),
                Value::Object(o) => format!("{} keys", o.len()),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let line = format!("{k}: {text}");
            if line.chars().count() > width {
                let cut: String = line.chars().take(width.saturating_sub(1)).collect();
                format!("{cut}…")
            } else {
                line
            }
        })
        .collect()
}
