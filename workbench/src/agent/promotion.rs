//! The promotion rule for a shadow candidate: after N decisions since it went in, promote it when
//! it disagrees with the active model in at most a share of them **and** calls benign at most a
//! share of the decisions the active model called malicious.
//!
//! The second bound is there because the first is diluted by base rates: most decisions are
//! benign flows both models call benign, so at a 1% share of malicious decisions a candidate that
//! flags nothing disagrees in 1% of the decisions and passed the default rule (0.01) on its own.
//! The probe counts the decisions where a shadow ran beside a malicious active verdict
//! (`shadow_beside_malicious`) and those where the shadow said benign there (`shadow_missed`).

use std::collections::BTreeMap;

/// The probe counters the rule reads (one interface's, or summed since the candidate went in).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Decisions of the active model, each also made by the shadow.
    pub evaluations: u64,
    /// Of them, where the shadow's verdict differed.
    pub disagreements: u64,
    /// Of them, where the active model said malicious ...
    pub beside_malicious: u64,
    /// ... and the shadow said benign.
    pub missed: u64,
}

impl Counts {
    /// From the probe's statistics by name (a counter an older probe lacks reads 0).
    pub fn of_stats(stats: &BTreeMap<&str, u64>) -> Self {
        let get = |k: &str| stats.get(k).copied().unwrap_or(0);
        Counts {
            evaluations: get("evaluations"),
            disagreements: get("shadow_disagreements"),
            beside_malicious: get("shadow_beside_malicious"),
            missed: get("shadow_missed"),
        }
    }

    /// What was counted since `base` (counters only grow; a reset probe counts from 0).
    pub fn since(self, base: Counts) -> Counts {
        Counts {
            evaluations: self.evaluations.saturating_sub(base.evaluations),
            disagreements: self.disagreements.saturating_sub(base.disagreements),
            beside_malicious: self.beside_malicious.saturating_sub(base.beside_malicious),
            missed: self.missed.saturating_sub(base.missed),
        }
    }

    pub fn plus(self, other: Counts) -> Counts {
        Counts {
            evaluations: self.evaluations + other.evaluations,
            disagreements: self.disagreements + other.disagreements,
            beside_malicious: self.beside_malicious + other.beside_malicious,
            missed: self.missed + other.missed,
        }
    }
}

/// The agent's settings for the rule (`promote_after_decisions`, `promote_max_disagreement`,
/// `promote_max_missed`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    pub after: u64,
    pub max_disagreement: f64,
    pub max_missed: f64,
}

/// The rule's answer for a shadow model.
#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    /// Fewer than N decisions since it became shadow.
    Wait,
    Promote,
    /// Stays shadow: why.
    Hold(String),
}

pub fn judge(c: Counts, rule: Rule) -> Judgement {
    if c.evaluations < rule.after || c.evaluations == 0 {
        return Judgement::Wait;
    }
    let share = c.disagreements as f64 / c.evaluations as f64;
    if share > rule.max_disagreement {
        return Judgement::Hold(format!(
            "disagreed with the active model in {} of {} decisions ({:.1}%), above promote_max_disagreement {:.1}%",
            c.disagreements,
            c.evaluations,
            share * 100.0,
            rule.max_disagreement * 100.0
        ));
    }
    // No malicious decision of the active model in the trial: nothing it could have missed.
    let missed = c.missed as f64 / c.beside_malicious.max(1) as f64;
    if missed > rule.max_missed {
        return Judgement::Hold(format!(
            "called benign {} of the {} decisions the active model called malicious ({:.1}%), above \
             promote_max_missed {:.1}% (its disagreements, {} of {} decisions, were within \
             promote_max_disagreement: most decisions are benign ones both models agree on)",
            c.missed,
            c.beside_malicious,
            missed * 100.0,
            rule.max_missed * 100.0,
            c.disagreements,
            c.evaluations
        ));
    }
    Judgement::Promote
}

/// The rule in words, for the log: "promoted after N decisions if it disagrees ...".
pub fn words(rule: Rule) -> String {
    format!(
        "promoted after {} decisions if it disagrees with the active model in at most {}% of them and calls benign at most {}% of the decisions the active model calls malicious",
        rule.after,
        rule.max_disagreement * 100.0,
        rule.max_missed * 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: Rule = Rule {
        after: 10,
        max_disagreement: 0.1,
        max_missed: 0.1,
    };

    fn counts(evaluations: u64, disagreements: u64, beside_malicious: u64, missed: u64) -> Counts {
        Counts {
            evaluations,
            disagreements,
            beside_malicious,
            missed,
        }
    }

    #[test]
    fn agent_promotion_rule() {
        assert_eq!(judge(counts(9, 0, 0, 0), RULE), Judgement::Wait);
        assert_eq!(judge(counts(10, 1, 0, 0), RULE), Judgement::Promote);
        let any = Rule {
            after: 1,
            max_disagreement: 1.0,
            max_missed: 1.0,
        };
        assert_eq!(judge(counts(0, 0, 0, 0), any), Judgement::Wait);
        match judge(counts(10, 2, 0, 0), RULE) {
            Judgement::Hold(why) => assert!(why.contains("2 of 10 decisions (20.0%)"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    /// The base-rate trap: 10,000 decisions, 50 of them malicious by the active model, and a
    /// candidate that flags nothing. It disagrees in 0.5% of the decisions, within the default
    /// 1%, and misses every one of the 50: held. One that misses 2 of 50 (4%) is promoted.
    #[test]
    fn a_candidate_that_flags_nothing_is_not_promoted_by_a_diluted_share() {
        let rule = Rule {
            after: 1000,
            max_disagreement: 0.01,
            max_missed: 0.1,
        };
        match judge(counts(10_000, 50, 50, 50), rule) {
            Judgement::Hold(why) => assert!(
                why.contains("called benign 50 of the 50 decisions") && why.contains("100.0%"),
                "{why}"
            ),
            other => panic!("a model that flags nothing was judged {other:?}"),
        }
        assert_eq!(judge(counts(10_000, 60, 50, 2), rule), Judgement::Promote);
        // New flags alone (the candidate stricter) are bounded by the disagreement share only.
        assert_eq!(judge(counts(10_000, 90, 50, 0), rule), Judgement::Promote);
    }

    #[test]
    fn counts_since_a_baseline_and_summed() {
        let base = counts(100, 10, 4, 1);
        let now = counts(150, 12, 9, 3);
        assert_eq!(now.since(base), counts(50, 2, 5, 2));
        assert_eq!(
            counts(0, 0, 0, 0).since(base),
            counts(0, 0, 0, 0),
            "a reset probe"
        );
        assert_eq!(now.plus(base), counts(250, 22, 13, 4));
        let stats: BTreeMap<&str, u64> = [
            ("evaluations", 7),
            ("shadow_disagreements", 3),
            ("shadow_missed", 1),
        ]
        .into();
        assert_eq!(Counts::of_stats(&stats), counts(7, 3, 0, 1));
    }
}
