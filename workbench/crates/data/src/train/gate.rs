//! The leakage gate: training's default feature set leaves out what the pitfall report flags
//! for the dataset, each with the reason, unless the user keeps them (`--keep-flagged`):
//!
//! - identifiers (`identifier_columns`): ports, addresses, times and ids name the service, the
//!   attacker and the attack window of one capture, not behaviour;
//! - host artefacts (`host_artefacts`): TTL, TCP window or source address that alone label the
//!   rows (accuracy >= 0.95): they recognise the testbed's attacking machine;
//! - single-feature leakage (`single_feature_leakage`): a column the report flags (accuracy or
//!   ROC-AUC >= 0.95 alone) that also scores like the model: its one-feature rule closes at
//!   least 90% of the way from always answering the majority class to the model's accuracy
//!   (so the run fits once with it, and again without it when it does). On a table where
//!   attacks are rare the report flags many columns that beat the majority class by a point;
//!   those carry behaviour and stay.
//!
//! The one-feature scores are the pitfall report's own (`pitfalls::stump`) on the same
//! deterministic sample of at most 200,000 rows, computed on the values the model would see
//! (kernel features after unit conversion; monotone conversions score the same as the columns).

use serde::Serialize;

use crate::dataset::detect::column_key;
use crate::pitfalls::stump::{self, OneFeature};
use crate::pitfalls::{identifiers, is_identifier, par_map, MAX_ROWS};
use crate::train::split::SplitMix64;

/// A column's values as the gate scores them (one per row of `malicious`).
pub enum Values<'a> {
    Numeric(std::borrow::Cow<'a, [f64]>),
    Text(&'a [String]),
}

/// One column the model could use.
pub struct Candidate<'a> {
    /// The dataset column (or how a derived feature is computed).
    pub column: String,
    /// The name the model knows it by (a kernel feature, or the column itself).
    pub feature: String,
    pub values: Values<'a>,
}

/// A column the pitfall report flags.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Flagged {
    pub column: String,
    pub feature: String,
    /// The pitfall report's finding id.
    pub finding: &'static str,
    /// "left out, because ..." in words, with the numbers.
    pub reason: String,
}

/// The deterministic sample the pitfall report scores (same rows, same order).
pub fn sample_rows(rows: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..rows).collect();
    if rows > MAX_ROWS {
        SplitMix64(7).shuffle(&mut idx);
        idx.truncate(MAX_ROWS);
        idx.sort_unstable();
    }
    idx
}

fn is_port(key: &str) -> bool {
    key.contains("port")
}

fn one_feature(c: &Candidate, sample: &[usize], y: &[bool]) -> OneFeature {
    match &c.values {
        Values::Numeric(x) => {
            let x: Vec<f64> = sample.iter().map(|&i| x[i]).collect();
            stump::numeric(&c.column, &x, y)
        }
        Values::Text(x) => {
            let x: Vec<String> = sample.iter().map(|&i| x[i].clone()).collect();
            stump::categorical(&c.column, &x, y)
        }
    }
}

/// What the gate found for one candidate.
pub struct Gated {
    /// Left out whatever the model scores: an identifier or a host artefact.
    pub flag: Option<Flagged>,
    /// Flagged as single-feature leakage by the report: left out when it scores like the model
    /// ([`leak_flag`]).
    pub leak: Option<(Flagged, OneFeature)>,
}

/// Share of the way from the majority class to the model's accuracy that one feature's rule
/// covers, at or above which the feature "scores like the model".
pub const LIKE_THE_MODEL: f64 = 0.9;

/// A leakage candidate, left out when its rule scores like a model of `model_accuracy`.
pub fn leak_flag(leak: &(Flagged, OneFeature), model_accuracy: f64) -> Option<Flagged> {
    let (f, o) = leak;
    let gap = model_accuracy - o.baseline;
    let share = if gap > 0.0 {
        (o.accuracy - o.baseline) / gap
    } else {
        f64::from(u8::from(o.accuracy >= model_accuracy))
    };
    (share >= LIKE_THE_MODEL).then(|| Flagged {
        reason: format!(
            "{}; it covers {:.0}% of the way from always answering the majority class ({:.3}) to the model's accuracy ({:.3}): one feature scores like the model",
            f.reason,
            100.0 * share.min(9.99),
            o.baseline,
            model_accuracy
        ),
        ..f.clone()
    })
}

/// Why the pitfall report flags a candidate, if it does (leakage is decided later, against
/// the model: see [`Gated`]).
fn flag(c: &Candidate, o: Option<&OneFeature>, host_column: Option<&str>) -> Gated {
    let gated = |flag, leak| Gated { flag, leak };
    let key = column_key(&c.column);
    let numbers = o.map_or(String::new(), |o| {
        format!(" (alone: accuracy {:.3}, ROC-AUC {:.3})", o.accuracy, o.roc_auc)
    });
    let flagged = |finding, reason: String| Flagged {
        column: c.column.clone(),
        feature: c.feature.clone(),
        finding,
        reason,
    };
    if is_identifier(&c.column) || is_identifier(&c.feature) || c.feature == "dst_port" {
        let what = if is_port(&key) || c.feature == "dst_port" {
            "a port"
        } else {
            "an identifier (address, time or id)"
        };
        return gated(
            Some(flagged(
                "identifier_columns",
                format!(
                    "{what}: it names the service, the attacker or the attack window of this capture, not behaviour{numbers}; the pitfall report says to drop addresses, ports, timestamps and flow ids"
                ),
            )),
            None,
        );
    }
    let Some(o) = o else { return gated(None, None) };
    let artefact =
        identifiers::host_artefact(&c.column, host_column) || identifiers::host_artefact(&c.feature, None);
    if artefact && o.accurate() {
        return gated(
            Some(flagged(
                "host_artefacts",
                format!(
                    "a host artefact (TTL, TCP window or address): alone it labels {:.1}% of the rows (ROC-AUC {:.3}), so it recognises the testbed's attacking machine, not the attack",
                    100.0 * o.accuracy,
                    o.roc_auc
                ),
            )),
            None,
        );
    }
    if o.leaks() {
        let f = flagged(
            "single_feature_leakage",
            format!(
                "alone it labels {:.1}% of the rows (ROC-AUC {:.3}, rule {}): the pitfall report's single-feature leakage",
                100.0 * o.accuracy,
                o.roc_auc,
                o.rule
            ),
        );
        return gated(None, Some((f, o.clone())));
    }
    gated(None, None)
}

/// Per candidate: what the pitfall report flags (`malicious` per row). Scored on
/// [`sample_rows`] of the rows: callers with more rows than that may pass that sample only.
pub fn flags(candidates: &[Candidate], malicious: &[bool], host_column: Option<&str>) -> Vec<Gated> {
    let sample = sample_rows(malicious.len());
    let y: Vec<bool> = sample.iter().map(|&i| malicious[i]).collect();
    let attacks = y.iter().filter(|&&m| m).count();
    // One class: no column can be scored (and training refuses such data anyway).
    let scored = attacks > 0 && attacks < y.len();
    let singles: Vec<Option<OneFeature>> =
        par_map(candidates, |c| scored.then(|| one_feature(c, &sample, &y)));
    candidates
        .iter()
        .zip(&singles)
        .map(|(c, o)| flag(c, o.as_ref(), host_column))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_artefacts_and_leaky_columns_are_flagged_with_reasons() {
        let n = 1000;
        let y: Vec<bool> = (0..n).map(|i| i % 4 == 0).collect();
        let noisy = |i: usize| ((i * 7919) % 13) as f64;
        let cands = vec![
            Candidate {
                column: "Destination Port".into(),
                feature: "dst_port".into(),
                values: Values::Numeric((0..n).map(|i| (i % 3) as f64).collect::<Vec<f64>>().into()),
            },
            Candidate {
                column: "fwd_ttl".into(),
                feature: "fwd_ttl".into(),
                values: Values::Numeric(
                    (0..n)
                        .map(|i| if y[i] { 50.0 } else { 64.0 })
                        .collect::<Vec<f64>>()
                        .into(),
                ),
            },
            Candidate {
                column: "syn_count".into(),
                feature: "syn_count".into(),
                values: Values::Numeric(
                    (0..n)
                        .map(|i| if y[i] { 9.0 } else { 1.0 })
                        .collect::<Vec<f64>>()
                        .into(),
                ),
            },
            Candidate {
                column: "fwd_packets".into(),
                feature: "fwd_packets".into(),
                values: Values::Numeric((0..n).map(noisy).collect::<Vec<f64>>().into()),
            },
        ];
        let f = flags(&cands, &y, None);
        let finding = |i: usize| f[i].flag.as_ref().map(|x| x.finding);
        assert_eq!(finding(0), Some("identifier_columns"));
        assert!(f[0].flag.as_ref().is_some_and(|x| x.reason.starts_with("a port")));
        assert_eq!(finding(1), Some("host_artefacts"));
        assert!(f[1]
            .flag
            .as_ref()
            .is_some_and(|x| x.reason.contains("labels 100.0% of the rows")));
        // Leakage is judged against the model: a perfect rule scores like any model; against a
        // model far better than it, a rule a point above the majority class does not.
        assert_eq!(finding(2), None);
        let leak = f[2].leak.as_ref().expect("flagged by the report");
        let left = leak_flag(leak, 0.99).expect("scores like the model");
        assert_eq!(left.finding, "single_feature_leakage");
        assert!(left.reason.contains("scores like the model"), "{}", left.reason);
        let weak = (
            leak.0.clone(),
            OneFeature {
                accuracy: 0.76,
                ..leak.1.clone()
            },
        );
        assert!(
            leak_flag(&weak, 0.99).is_none(),
            "baseline 0.75, model 0.99: 4% of the way"
        );
        assert!(
            f[3].flag.is_none() && f[3].leak.is_none(),
            "a column that does not separate the classes stays"
        );
    }
}
