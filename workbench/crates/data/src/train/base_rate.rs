//! Precision at a realistic attack prevalence (1 flow in 10,000): what an analyst's alert queue
//! would hold if the model met real traffic, from its recall and false-positive rate on the
//! test rows. One place for `train`, `eval` and the class-balance pitfall.
//!
//! A test side with no false positive does not measure a false-positive rate of 0: 0 of 1,000
//! benign rows only says the rate is below about 0.003 (95%), and at 1 in 10,000 that alone
//! could put precision near 0.03. So the point figure is withheld then (null, with the reason),
//! and every report carries the figure at the rate's 95% upper bound: the precision the data
//! guarantees.

/// The prevalence the figure assumes.
pub const PREVALENCE: f64 = 1e-4;

/// The standard normal's 95% quantile (one-sided bound).
const Z: f64 = 1.644_853_626_951_472_2;

/// Precision at [`PREVALENCE`] for this recall and false-positive rate (0 when both are 0: no
/// alert at all).
pub fn precision_at(recall: f64, false_positive_rate: f64) -> f64 {
    let alerts = recall * PREVALENCE + false_positive_rate * (1.0 - PREVALENCE);
    if alerts > 0.0 {
        recall * PREVALENCE / alerts
    } else {
        0.0
    }
}

/// The false-positive rate's one-sided 95% upper bound (Wilson score interval) from
/// `false_positives` of `negatives` benign rows; 1 without benign rows.
pub fn fpr_upper_95(false_positives: u64, negatives: u64) -> f64 {
    if negatives == 0 {
        return 1.0;
    }
    let n = negatives as f64;
    let p = false_positives as f64 / n;
    let z2 = Z * Z;
    let centre = p + z2 / (2.0 * n);
    let spread = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre + spread) / (1.0 + z2 / n)).min(1.0)
}

/// The precision the test rows guarantee at [`PREVALENCE`]: at the false-positive rate's 95%
/// upper bound.
pub fn precision_at_least(recall: f64, false_positives: u64, negatives: u64) -> f64 {
    precision_at(recall, fpr_upper_95(false_positives, negatives))
}

/// Why the point figure is withheld: alerts were raised (`recall` > 0) and none was false.
pub fn no_false_positive(recall: f64, false_positives: u64, negatives: u64) -> Option<String> {
    (recall > 0.0 && false_positives == 0 && negatives > 0).then(|| {
        format!(
            "no false positive among the {negatives} benign rows scored: their false-positive rate is only known to be below {:.5} (95%), so precision at 1 in 10,000 is at least {:.4} (precision_at_1_in_10000_at_least), not 1",
            fpr_upper_95(0, negatives),
            precision_at_least(recall, 0, negatives)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_positive_among_a_thousand_is_a_bound_not_zero() {
        // 0 of 1,000: the Wilson bound is z^2 / (n + z^2), about 2.7 in 1,000 (the "rule of
        // three" says 3 in 1,000).
        let ub = fpr_upper_95(0, 1000);
        assert!((ub - 2.698e-3).abs() < 1e-5, "{ub}");
        let at_least = precision_at_least(1.0, 0, 1000);
        assert!((0.03..0.04).contains(&at_least), "{at_least}");
        assert!(no_false_positive(1.0, 0, 1000).is_some_and(|w| w.contains("below 0.00270")));
        // A false positive seen: the point figure stands, and the bound is below it.
        assert_eq!(no_false_positive(0.9, 1, 1000), None);
        assert!(precision_at_least(0.9, 1, 1000) < precision_at(0.9, 0.001));
        // No alert at all: nothing is claimed.
        assert_eq!(no_false_positive(0.0, 0, 1000), None);
        assert_eq!(precision_at(0.0, 0.0), 0.0);
        // The bound shrinks with the benign rows seen.
        assert!(fpr_upper_95(0, 1_000_000) < 3e-6);
        assert!((fpr_upper_95(50, 1000) - 0.05).abs() < 0.02);
    }
}
