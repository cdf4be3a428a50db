//! The numbers behind each finding, one type per pitfall, so that a reader (the Pitfalls tab,
//! `workbench inspect`'s text report) is checked by the compiler instead of looking up keys.
//!
//! The JSON (`findings[].evidence` of `workbench inspect --json`) is the contract in
//! ../shared/CLI.md and predates these types: it was a `serde_json::Value`, whose objects print
//! their keys in sorted order. So the enum is untagged (the finding's `id` names the kind), the
//! fields of every struct are declared in alphabetical order, optional keys that used to be
//! absent are skipped when `None`, and types from elsewhere are printed through a
//! `serde_json::Value` (sorted keys). `evidence_json_keys_are_sorted` holds that in place.

use serde::{Serialize, Serializer};

use crate::dataset::kernel_map::{MappedColumn, UnmappedColumn};

/// A finding's evidence; the variant matches the finding's `id`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Evidence {
    IdentifierColumns(IdentifierColumns),
    SingleFeatureLeakage(SingleFeatureLeakage),
    HostArtefacts(HostArtefacts),
    Duplicates(Duplicates),
    LabelNoise(LabelNoise),
    // Boxed: three split scores make it three times the size of the other variants.
    SplitComparison(Box<SplitComparison>),
    ClassBalance(ClassBalance),
    ConstantColumns(ConstantColumns),
    CorrelatedColumns(CorrelatedColumns),
    SyntheticOrImpossible(SyntheticOrImpossible),
    KernelFeatures(KernelFeatures),
}

impl Evidence {
    /// Says that the detectors saw a sample of the rows (`sample` in every evidence object).
    pub fn set_sample(&mut self, note: String) {
        let slot = match self {
            Evidence::IdentifierColumns(e) => &mut e.sample,
            Evidence::SingleFeatureLeakage(e) => &mut e.sample,
            Evidence::HostArtefacts(e) => &mut e.sample,
            Evidence::Duplicates(e) => &mut e.sample,
            Evidence::LabelNoise(e) => &mut e.sample,
            Evidence::SplitComparison(e) => &mut e.sample,
            Evidence::ClassBalance(e) => &mut e.sample,
            Evidence::ConstantColumns(e) => &mut e.sample,
            Evidence::CorrelatedColumns(e) => &mut e.sample,
            Evidence::SyntheticOrImpossible(e) => &mut e.sample,
            Evidence::KernelFeatures(e) => &mut e.sample,
        };
        *slot = Some(note);
    }

    /// The evidence as the JSON object `inspect --json` prints, for readers that list every key.
    pub fn to_json(&self) -> serde_json::Value {
        // Serialising plain structs of numbers and strings cannot fail.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// Prints a value from another module through `serde_json::Value`, so its keys come out sorted
/// as they did when the evidence was built with `json!`.
fn as_json_value<T: Serialize, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    serde_json::to_value(v)
        .map_err(serde::ser::Error::custom)?
        .serialize(s)
}

/// A one-feature rule's scores (`pitfalls::stump`), rounded to four decimals.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct FeatureScore {
    pub accuracy: f64,
    pub column: String,
    pub majority_baseline: f64,
    pub roc_auc: f64,
    pub rule: String,
}

/// The address value carrying most malicious rows.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct TopAttacker {
    pub attack_rows: usize,
    pub benign_rows: usize,
    pub share_of_all_attack_rows: f64,
    pub value: String,
}

/// An identifier column: its one-feature scores when the data holds both classes.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct IdentifierColumn {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    pub column: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub majority_baseline: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roc_auc: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_attack_value: Option<TopAttacker>,
}

/// `identifier_columns`.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct IdentifierColumns {
    pub columns: Vec<IdentifierColumn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
}

/// `single_feature_leakage`.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct SingleFeatureLeakage {
    pub beating_majority_baseline: usize,
    pub columns_tested: usize,
    pub flagged: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
    /// The 15 strongest, those beating the majority baseline first.
    pub top: Vec<FeatureScore>,
}

/// `host_artefacts`.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct HostArtefacts {
    pub columns: Vec<FeatureScore>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
}

/// `duplicates`.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Duplicates {
    pub exact_duplicates: usize,
    pub near_duplicates_3_significant_digits: usize,
    pub rows: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
    pub share_with_twin: f64,
    pub test_rows: usize,
    pub test_rows_with_twin_in_train: usize,
}

/// `label_noise`.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct LabelNoise {
    pub conflicting_groups: usize,
    pub max_accuracy_possible: f64,
    pub minimum_unavoidable_errors: usize,
    pub rows_in_conflicting_groups: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
}

/// One split's score in the split comparison; figures are null (with `undefined` saying why)
/// when the test side lacks a class they need, all null with a `note` when there is no score.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct SplitEvidence {
    pub accuracy: Option<f64>,
    pub f1: Option<f64>,
    pub malicious_test: usize,
    pub note: Option<String>,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    /// The `workbench train` command whose `--json` prints these figures.
    pub reproduce: String,
    pub rows_test: usize,
    pub rows_train: usize,
    pub undefined: Option<String>,
}

/// The splits compared, by the name `workbench train --split` gives them.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Splits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<SplitEvidence>,
    pub random: SplitEvidence,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<SplitEvidence>,
}

/// `split_comparison`.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct SplitComparison {
    pub model: String,
    pub rows: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
    pub splits: Splits,
}

/// Rows of one class (the class column's value).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ClassRows {
    pub class: String,
    pub rows: usize,
}

/// `class_balance`; the base-rate figures are the random-split model's, null without one.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ClassBalance {
    pub benign_rows: usize,
    /// The 20 largest classes ([`MAX_CLASSES`]).
    pub classes: Vec<ClassRows>,
    /// Classes in all, listed or not (NSL-KDD has 22: two are left out of `classes`).
    pub classes_total: usize,
    pub false_positive_rate: Option<f64>,
    pub malicious_rows: usize,
    pub malicious_share: f64,
    pub precision_at_1_in_10000: Option<f64>,
    /// At the false-positive rate's 95% upper bound (`train::base_rate`).
    pub precision_at_1_in_10000_at_least: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision_at_1_in_10000_undefined: Option<String>,
    pub recall: Option<f64>,
    /// Rows of the classes past the largest 20 (0 when every class is listed).
    pub rows_in_other_classes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
}

/// How many classes `class_balance` lists by name.
pub const MAX_CLASSES: usize = 20;

/// A column with the share of its most frequent value.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct NearConstant {
    pub column: String,
    pub top_value_share: f64,
}

/// `constant_columns`.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ConstantColumns {
    pub constant: Vec<String>,
    pub near_constant: Vec<NearConstant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
}

/// Two columns with their Pearson correlation.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct CorrelatedPair {
    pub a: String,
    pub b: String,
    pub pearson: f64,
}

/// `correlated_columns`.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct CorrelatedColumns {
    /// The first 30 pairs.
    pub pairs: Vec<CorrelatedPair>,
    pub pairs_total: usize,
    pub rows_used: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
}

/// A column and how many rows break a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ColumnRows {
    pub column: String,
    pub rows: usize,
}

/// A rule between columns (`fwdheaderlength < 8 x totalfwdpackets`) and the rows breaking it.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct RuleRows {
    pub rows: usize,
    pub rule: String,
}

/// A column whose values look drawn from a uniform distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct UniformColumn {
    pub column: String,
    pub ks_distance_from_uniform: f64,
}

/// `synthetic_or_impossible`.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct SyntheticOrImpossible {
    pub fractional_counts: Vec<ColumnRows>,
    pub impossible_combinations: Vec<RuleRows>,
    pub negative_values: Vec<ColumnRows>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
    pub uniform_columns: Vec<UniformColumn>,
}

/// `kernel_features`.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct KernelFeatures {
    #[serde(serialize_with = "as_json_value")]
    pub mapped: Vec<MappedColumn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
    #[serde(serialize_with = "as_json_value")]
    pub unmapped: Vec<UnmappedColumn>,
}

/// An evidence value in words, as `workbench inspect` and the Pitfalls tab write it: text
/// unquoted, lists joined by `, `, objects as `key value` pairs (null fields left out); never
/// cut mid-value.
pub fn words(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "none".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "none".into(),
        Value::Array(a) => a.iter().map(words).collect::<Vec<_>>().join(", "),
        Value::Object(o) => o
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| match v {
                Value::Object(_) | Value::Array(_) => format!("{k} ({})", words(v)),
                _ => format!("{k} {}", words(v)),
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant, with every optional key present and one item in every list.
    fn full() -> Vec<Evidence> {
        let s = || Some("computed on a random sample of 2 of 3 rows".to_string());
        let score = FeatureScore {
            accuracy: 0.5,
            column: "c".into(),
            majority_baseline: 0.5,
            roc_auc: 0.5,
            rule: "x <= 1 => malicious".into(),
        };
        let split = SplitEvidence {
            accuracy: Some(1.0),
            note: s(),
            undefined: s(),
            ..SplitEvidence::default()
        };
        vec![
            Evidence::IdentifierColumns(IdentifierColumns {
                columns: vec![IdentifierColumn {
                    accuracy: Some(1.0),
                    column: "src_ip".into(),
                    majority_baseline: Some(0.5),
                    roc_auc: Some(1.0),
                    rule: Some("per-value majority".into()),
                    top_attack_value: Some(TopAttacker::default()),
                }],
                sample: s(),
            }),
            Evidence::SingleFeatureLeakage(SingleFeatureLeakage {
                sample: s(),
                top: vec![score.clone()],
                ..Default::default()
            }),
            Evidence::HostArtefacts(HostArtefacts {
                columns: vec![score],
                sample: s(),
            }),
            Evidence::Duplicates(Duplicates {
                sample: s(),
                ..Default::default()
            }),
            Evidence::LabelNoise(LabelNoise {
                sample: s(),
                ..Default::default()
            }),
            Evidence::SplitComparison(Box::new(SplitComparison {
                sample: s(),
                splits: Splits {
                    host: Some(split.clone()),
                    random: split.clone(),
                    time: Some(split),
                },
                ..Default::default()
            })),
            Evidence::ClassBalance(ClassBalance {
                classes: vec![ClassRows::default()],
                precision_at_1_in_10000_undefined: s(),
                sample: s(),
                ..Default::default()
            }),
            Evidence::ConstantColumns(ConstantColumns {
                constant: vec!["c".into()],
                near_constant: vec![NearConstant::default()],
                sample: s(),
            }),
            Evidence::CorrelatedColumns(CorrelatedColumns {
                pairs: vec![CorrelatedPair::default()],
                sample: s(),
                ..Default::default()
            }),
            Evidence::SyntheticOrImpossible(SyntheticOrImpossible {
                fractional_counts: vec![ColumnRows::default()],
                impossible_combinations: vec![RuleRows::default()],
                negative_values: vec![ColumnRows::default()],
                sample: s(),
                uniform_columns: vec![UniformColumn::default()],
            }),
            Evidence::KernelFeatures(KernelFeatures {
                // A direct and a derived mapping (`derived_from`, skipped when empty).
                mapped: crate::dataset::kernel_mapping_for(
                    crate::dataset::DatasetKind::CicMachineLearning,
                    &["Destination Port", "Total Fwd Packets", "Total Backward Packets"].map(String::from),
                )
                .mapped,
                sample: s(),
                unmapped: vec![UnmappedColumn {
                    column: "x".into(),
                    why: "y",
                }],
            }),
        ]
    }

    /// The JSON printed straight from the types is byte for byte the JSON of the same evidence
    /// built as a `serde_json::Value` (sorted keys at every level), as it was before the types.
    #[test]
    fn evidence_json_keys_are_sorted() {
        for e in full() {
            let direct = serde_json::to_string(&e).expect("json");
            let via_value = serde_json::to_string(&e.to_json()).expect("json");
            assert_eq!(direct, via_value);
            // Untagged: the evidence object itself, with the sample note in it.
            assert!(
                direct.starts_with('{') && direct.contains("\"sample\":"),
                "{direct}"
            );
            if let Evidence::KernelFeatures(k) = &e {
                assert!(k.mapped.iter().any(|m| m.derived_from.is_empty()), "{direct}");
                assert!(k.mapped.iter().any(|m| !m.derived_from.is_empty()), "{direct}");
            }
        }
    }

    #[test]
    fn set_sample_reaches_every_variant() {
        for mut e in full() {
            e.set_sample("note".into());
            assert_eq!(e.to_json()["sample"], "note");
        }
    }
}
