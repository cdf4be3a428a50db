//! The split comparison: `workbench train`'s tree under a random, a time-ordered and a per-host
//! split side by side (`split_runs`: each figure is a `train --split S` run's); and the class
//! balance with the base-rate view.

use std::collections::BTreeMap;

use super::evidence::{
    ClassBalance, ClassRows, Evidence, SplitComparison, SplitEvidence, Splits, MAX_CLASSES,
};
pub use super::split_runs::{compare, Comparison, SplitScore};
use super::{r4, Finding, Severity, Table};
use crate::train::split::SplitKind;

/// How a split is called in a summary line.
fn label(k: SplitKind) -> &'static str {
    match k {
        SplitKind::Random => "random split",
        SplitKind::Time => "time-ordered split",
        SplitKind::Host => "per-host split",
        SplitKind::File => "per-file split",
    }
}

/// A figure as `train --json` prints it (not rounded: the two must agree number for number), or
/// None when its test side lacks a class it needs (`train` prints null then too).
fn figure(m: &crate::train::metrics::Metrics, key: &str, v: f64) -> Option<f64> {
    (!m.undefined().contains_key(key)).then_some(v)
}

/// A refusal's first clause for the summary line (the evidence's note has all of it):
/// "`train` refuses it: --split host: all 9 attack rows come from one host (h): a host split
/// puts ..." gives "all 9 attack rows come from one host (h)".
fn short_reason(note: &str) -> &str {
    let why = note.strip_prefix("`train` refuses it: ").unwrap_or(note);
    let why = match why.strip_prefix("--split ") {
        Some(rest) => rest.split_once(": ").map_or(rest, |(_, r)| r),
        None => why,
    };
    why.split(": ").next().unwrap_or(why)
}

/// What was fitted, in words: the model, rows, features and what `train`'s gate left out.
fn model_words(c: &Comparison) -> String {
    let f = &c.fitted;
    let features = if f.feature_set == "kernel" {
        format!("{} kernel features ({})", c.features.len(), c.features.join(", "))
    } else {
        format!(
            "{} of the dataset's own columns (`--features dataset`: no kernel feature is left to train on: {})",
            c.features.len(),
            f.why_not_kernel.as_deref().unwrap_or("none maps")
        )
    };
    let rows = match &f.sample {
        Some(sample) => format!("{} rows after cleaning, of {sample}", f.rows),
        None => format!("{} rows after cleaning (of {} loaded)", f.rows, f.loaded_rows),
    };
    let left_out = if f.left_out.is_empty() {
        String::new()
    } else {
        format!(
            "; train's gate left out {} (identifiers, host artefacts or leaky columns)",
            f.left_out.join(", ")
        )
    };
    format!(
        "decision tree of depth {}, fitted per split by `workbench train --model tree` with its defaults (engine fit, seed {}, 30% tested) on {rows} and {features}{left_out}; each split's `reproduce` is the train command that prints its figures",
        f.depth, f.seed
    )
}

pub fn split_finding(c: &Comparison) -> Option<Finding> {
    let random = c.scores.first()?.metrics.as_ref()?;
    let mut parts = vec![format!(
        "random split F1 {} (accuracy {:.3})",
        random.shown("f1", random.f1),
        random.accuracy
    )];
    let mut worst_drop: f64 = 0.0;
    let mut honest_scored = false;
    for s in &c.scores[1..] {
        match &s.metrics {
            Some(m) => {
                honest_scored = true;
                parts.push(format!(
                    "{} F1 {} (accuracy {:.3})",
                    label(s.split),
                    m.shown("f1", m.f1),
                    m.accuracy
                ));
                // A test side without attacks has F1 0 by construction: no evidence of a drop.
                if s.malicious_test > 0 && m.one_class().is_none() && random.one_class().is_none() {
                    worst_drop = worst_drop.max(random.f1 - m.f1);
                }
            }
            None => parts.push(format!(
                "{} refused by `train` ({})",
                label(s.split),
                short_reason(s.note.as_deref().unwrap_or_default())
            )),
        }
    }
    let one = |s: &SplitScore| SplitEvidence {
        rows_train: s.rows_train,
        rows_test: s.rows_test,
        malicious_test: s.malicious_test,
        accuracy: s.metrics.as_ref().map(|m| m.accuracy),
        // Null, with the reason, when the test side lacks a class (issue 20).
        precision: s
            .metrics
            .as_ref()
            .and_then(|m| figure(m, "precision", m.precision)),
        recall: s.metrics.as_ref().and_then(|m| figure(m, "recall", m.recall)),
        f1: s.metrics.as_ref().and_then(|m| figure(m, "f1", m.f1)),
        undefined: s
            .metrics
            .as_ref()
            .and_then(super::super::train::metrics::Metrics::one_class),
        note: {
            let mut notes: Vec<String> = s.note.iter().cloned().collect();
            // The gate judges a leaky column against the split's own model: other inputs.
            if s.metrics.is_some() && s.features != c.features {
                notes.push(format!("fitted on {}", s.features.join(", ")));
            }
            (!notes.is_empty()).then(|| notes.join("; "))
        },
        reproduce: s.reproduce.clone(),
    };
    let of = |k: SplitKind| c.scores.iter().find(|s| s.split == k).map(one);
    let splits = Splits {
        random: of(SplitKind::Random)?,
        time: of(SplitKind::Time),
        host: of(SplitKind::Host),
    };
    let severity = if worst_drop >= 0.1 {
        Severity::High
    } else if !honest_scored {
        Severity::Medium
    } else {
        Severity::Info
    };
    Some(Finding {
        id: "split_comparison",
        severity,
        summary: parts.join(" vs "),
        evidence: Evidence::SplitComparison(Box::new(SplitComparison {
            model: model_words(c),
            splits,
            rows: c.fitted.rows,
            sample: c.fitted.sample.clone(),
        })),
        advice: if honest_scored {
            "Report the time-ordered or per-host score: a random split puts near-copies of one attack's flows on both sides, so its score is optimistic by the drop shown.".into()
        } else {
            "Only a random split can be scored here (`train` refuses the others, each note says why): its score is an upper bound; find the capture times or hosts and split by them.".into()
        },
    })
}

pub fn imbalance(t: &Table, c: &Comparison) -> Option<Finding> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for k in &t.class {
        *counts.entry(k.as_str()).or_default() += 1;
    }
    let n = t.rows().max(1);
    let malicious = t.malicious.iter().filter(|&&m| m).count();
    let share = malicious as f64 / n as f64;
    // A test side with one class has no base-rate view (its precision would only measure that).
    let random = c
        .scores
        .first()
        .and_then(|s| s.metrics.as_ref())
        .filter(|m| m.one_class().is_none());
    let mut classes: Vec<(&str, usize)> = counts.into_iter().collect();
    classes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let base = random.map(|m| {
        let benign = m.confusion.false_positive + m.confusion.true_negative;
        let fpr = m.confusion.false_positive as f64 / benign.max(1) as f64;
        (m.precision_at_1_in_10000, fpr, m.recall)
    });
    // No false positive on the test side: the point figure would read 1; what the rows
    // guarantee is the figure at the false-positive rate's 95% upper bound.
    let at_least = random.map(|m| m.precision_at_1_in_10000_at_least);
    let no_false_positive = random.and_then(|m| {
        crate::train::base_rate::no_false_positive(
            m.recall,
            m.confusion.false_positive,
            m.confusion.false_positive + m.confusion.true_negative,
        )
    });
    let base = base.filter(|_| no_false_positive.is_none());
    let mut summary = format!(
        "malicious rows are {:.1}% of {} ({} classes)",
        100.0 * share,
        t.rows(),
        classes.len()
    );
    let undefined = c
        .scores
        .first()
        .and_then(|s| s.metrics.as_ref())
        .and_then(super::super::train::metrics::Metrics::one_class);
    if let Some(why) = &undefined {
        summary += &format!("; precision at a realistic 1 in 10,000 attack prevalence is undefined: the random-split model's test side {why}");
    }
    if let (Some(why), Some(lb)) = (&no_false_positive, at_least) {
        summary += &format!(
            "; at a realistic 1 in 10,000 attack prevalence the random-split model's precision is at least {lb:.4}: {why}"
        );
    }
    if let Some((p, fpr, _)) = base {
        summary += &format!(
            "; at a realistic 1 in 10,000 attack prevalence the random-split model's precision would be {p:.4} (false-positive rate {fpr:.5})"
        );
    }
    let guaranteed = base.map(|b| b.0).or(no_false_positive.as_ref().and(at_least));
    let severity = match guaranteed {
        Some(p) if p < 0.5 => Severity::High,
        _ if !(0.001..=0.2).contains(&share) => Severity::Medium,
        _ => Severity::Info,
    };
    let evidence = Evidence::ClassBalance(ClassBalance {
        malicious_rows: malicious,
        benign_rows: t.rows() - malicious,
        malicious_share: r4(share),
        classes: classes
            .iter()
            .take(MAX_CLASSES)
            .map(|(k, v)| ClassRows {
                class: k.to_string(),
                rows: *v,
            })
            .collect(),
        classes_total: classes.len(),
        rows_in_other_classes: classes.iter().skip(MAX_CLASSES).map(|(_, v)| *v).sum(),
        precision_at_1_in_10000: base.map(|b| r4(b.0)),
        false_positive_rate: base.map(|b| b.1),
        recall: base.map(|b| r4(b.2)),
        precision_at_1_in_10000_at_least: at_least.filter(|_| undefined.is_none()).map(r4),
        precision_at_1_in_10000_undefined: undefined.or(no_false_positive),
        sample: None,
    });
    Some(Finding {
        id: "class_balance",
        severity,
        summary,
        evidence,
        advice: "Real traffic is overwhelmingly benign: judge a detector by its false-positive rate and by precision at a realistic prevalence, not by accuracy on a set where attacks are a large share.".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::short_reason;

    #[test]
    fn a_refusal_is_summarised_by_its_first_clause() {
        assert_eq!(
            short_reason("`train` refuses it: --split host: all 9 attack rows come from one host (10.0.0.1): a host split puts every attack on one side"),
            "all 9 attack rows come from one host (10.0.0.1)"
        );
        assert_eq!(
            short_reason(
                "`train` refuses it: --split time: a time split needs a timestamp per row; the data has none"
            ),
            "a time split needs a timestamp per row; the data has none"
        );
        assert_eq!(short_reason("no kernel feature"), "no kernel feature");
    }
}
