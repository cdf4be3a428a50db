//! The figures of [`Metrics`] that need both classes, null (in JSON) or "undefined" (in words)
//! with the reason when the scored rows hold one class only. A test side without a benign row
//! has no false positive to make, so "precision 1.000" and "precision at 1 in 10,000: 1.0000"
//! would only measure the split; without an attack, "recall 0.000" measures nothing at all.

use std::collections::BTreeMap;

use serde::ser::{Serialize, Serializer};

use super::metrics::{Confusion, Metrics};

/// The figures that need an attack row (`recall`) or both classes (the others).
const NEED_BOTH: [&str; 3] = ["precision", "f1", "precision_at_1_in_10000"];

impl Metrics {
    /// Why each figure is undefined, by its JSON key (empty when both classes are there).
    pub fn undefined(&self) -> BTreeMap<&'static str, String> {
        let c = &self.confusion;
        let attacks = c.true_positive + c.false_negative;
        let benign = c.false_positive + c.true_negative;
        let mut out = BTreeMap::new();
        if attacks > 0 && benign > 0 {
            if let Some(why) = super::base_rate::no_false_positive(self.recall, c.false_positive, benign) {
                out.insert("precision_at_1_in_10000", why);
            }
            return out;
        }
        let why = if attacks == 0 {
            format!(
                "no attack row among the {} scored rows: nothing to detect",
                self.rows
            )
        } else {
            format!(
                "no benign row among the {} scored rows: no false positive is possible",
                self.rows
            )
        };
        if attacks == 0 {
            out.insert("recall", why.clone());
        } else {
            out.insert("false_positive_rate", why.clone());
        }
        for k in NEED_BOTH {
            out.insert(k, format!("needs both classes: {why}"));
        }
        out
    }

    /// A figure as text: three decimals, or `undefined` when it needs a class that is missing.
    pub fn shown(&self, key: &str, value: f64) -> String {
        if self.undefined().contains_key(key) {
            "undefined".into()
        } else {
            format!("{value:.3}")
        }
    }

    /// The one reason the figures that need both classes are undefined, if they are.
    pub fn one_class(&self) -> Option<String> {
        self.undefined().remove("precision")
    }

    /// A figure as JSON: null when undefined.
    fn figure(&self, key: &str, value: f64) -> Option<f64> {
        (!self.undefined().contains_key(key)).then_some(value)
    }
}

#[derive(serde::Serialize)]
struct MetricsJson<'a> {
    rows: usize,
    confusion: &'a Confusion,
    accuracy: f64,
    precision: Option<f64>,
    recall: Option<f64>,
    f1: Option<f64>,
    false_positive_rate: Option<f64>,
    roc_auc: Option<f64>,
    pr_auc: Option<f64>,
    /// Why the AUCs are null; null when they are not.
    auc_undefined: &'a Option<String>,
    precision_at_1_in_10000: Option<f64>,
    /// At the false-positive rate's 95% upper bound (null with one class only).
    precision_at_1_in_10000_at_least: Option<f64>,
    /// Why a figure above is null, by its key; `{}` when none is (always there, as in eval).
    undefined: BTreeMap<&'static str, String>,
}

impl Serialize for Metrics {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        MetricsJson {
            rows: self.rows,
            confusion: &self.confusion,
            accuracy: self.accuracy,
            precision: self.figure("precision", self.precision),
            recall: self.figure("recall", self.recall),
            f1: self.figure("f1", self.f1),
            false_positive_rate: self.figure("false_positive_rate", self.false_positive_rate),
            roc_auc: self.roc_auc,
            pr_auc: self.pr_auc,
            auc_undefined: &self.auc_undefined,
            precision_at_1_in_10000: self.figure("precision_at_1_in_10000", self.precision_at_1_in_10000),
            precision_at_1_in_10000_at_least: self
                .one_class()
                .is_none()
                .then_some(self.precision_at_1_in_10000_at_least),
            undefined: self.undefined(),
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::super::metrics::metrics;

    #[test]
    fn one_class_figures_are_null_with_the_reason() {
        // Two attacks, both found, no benign row: precision would read 1.000.
        let m = metrics(&[true, true], &[true, true], &[0.9, 0.8]);
        let v = serde_json::to_value(&m).expect("json");
        assert!(v["precision"].is_null() && v["f1"].is_null() && v["precision_at_1_in_10000"].is_null());
        assert_eq!(v["recall"], 1.0, "recall needs attacks only");
        assert!(
            v["false_positive_rate"].is_null(),
            "no benign row, no false positive rate"
        );
        assert!(v["undefined"]["precision"]
            .as_str()
            .is_some_and(|w| w.contains("no benign row among the 2 scored rows")));
        assert_eq!(m.shown("precision", m.precision), "undefined");
        // Both classes: every figure a number, `undefined` empty.
        let m = metrics(&[true, false], &[true, true], &[0.9, 0.8]);
        let v = serde_json::to_value(&m).expect("json");
        assert_eq!(v["precision"], 0.5);
        assert_eq!(v["false_positive_rate"], 1.0, "the one benign row was flagged");
        assert_eq!(v["undefined"], serde_json::json!({}));
        assert!(v["precision_at_1_in_10000_at_least"]
            .as_f64()
            .is_some_and(|p| p < 1e-3));
    }

    #[test]
    fn no_false_positive_withholds_the_base_rate_figure_and_gives_its_bound() {
        // 10 attacks found, 990 benign rows, none flagged: the point figure would read 1.
        let truth: Vec<bool> = (0..1000).map(|i| i < 10).collect();
        let scores: Vec<f64> = truth.iter().map(|&t| if t { 0.9 } else { 0.1 }).collect();
        let m = metrics(&truth, &truth, &scores);
        let v = serde_json::to_value(&m).expect("json");
        assert!(v["precision_at_1_in_10000"].is_null(), "{v}");
        assert!(v["undefined"]["precision_at_1_in_10000"]
            .as_str()
            .is_some_and(|w| w.contains("no false positive among the 990 benign rows")));
        let at_least = v["precision_at_1_in_10000_at_least"].as_f64().expect("a bound");
        assert!((0.03..0.05).contains(&at_least), "{at_least}");
        assert_eq!(v["precision"], 1.0, "precision itself stands");
    }
}
