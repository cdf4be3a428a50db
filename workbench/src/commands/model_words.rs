//! `model show` in words: what the model is (kind and size), what it reads, when it flags a
//! flow (the threshold as a probability, the scale every score is shown on), what it was trained
//! on, under which split, and how it scored, instead of the raw header and Rust names.

use std::fmt::Write;

use clap::ValueEnum;
use serde::Serialize;
use serde_json::Value;

use workbench_data::dataset::DatasetKind;
use workbench_flow::model::file::ModelMeta;
use workbench_flow::model::scale::{threshold_words, ScoreScale};

/// The `--json` document: the header as it is (raw integer `threshold` included) and the
/// threshold on the scale every score is shown on.
#[derive(Serialize)]
pub struct ShowJson<'a> {
    #[serde(flatten)]
    pub meta: &'a ModelMeta,
    /// The threshold as P(malicious) in 0..1 (null for a model the kernel cannot run, which
    /// decides in floating point).
    pub threshold_probability: Option<f64>,
}

/// The text is the description in words (`--json` prints the document above).
impl std::fmt::Display for ShowJson<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&describe(self.meta))
    }
}

pub fn json(meta: &ModelMeta) -> ShowJson<'_> {
    ShowJson {
        meta,
        threshold_probability: meta.not_deployable.is_none().then(|| {
            ScoreScale::of_kind_name(&meta.kind, meta.tree_count).threshold_probability(meta.threshold)
        }),
    }
}

/// `FlowTable` (as older files and the provenance write it) to "workbench flow table".
fn dataset_kind(raw: &str) -> String {
    DatasetKind::value_variants()
        .iter()
        .find(|k| {
            format!("{k:?}") == raw
                || serde_json::to_value(k).ok().as_ref().and_then(Value::as_str) == Some(raw)
        })
        .map_or_else(|| words(raw), std::string::ToString::to_string)
}

/// `end_of_flow` or `CamelCase` as lower-case words.
fn words(raw: &str) -> String {
    let mut out = String::new();
    for (i, ch) in raw.chars().enumerate() {
        if ch == '_' {
            out.push(' ');
        } else if ch.is_uppercase() && i > 0 {
            out.push(' ');
            out.extend(ch.to_lowercase());
        } else {
            out.extend(ch.to_lowercase());
        }
    }
    out
}

fn figure(m: &Value, key: &str) -> String {
    match m.get(key).and_then(Value::as_f64) {
        Some(v) => format!("{v:.3}"),
        None => "undefined".into(),
    }
}

/// What the model is, in one line.
fn kind_and_size(m: &ModelMeta) -> String {
    let features = m.features.len();
    match m.kind.as_str() {
        "tree" => format!("decision tree of {} nodes on {features} features", m.node_count),
        "forest" => format!(
            "forest of {} trees ({} nodes in all) on {features} features",
            m.tree_count, m.node_count
        ),
        "logistic" => format!("logistic regression: one weight per feature, {features} features"),
        other => format!("{other} model on {features} features"),
    }
}

/// When the model flags a flow. A tree is trained with a threshold on P(malicious) (`train
/// --threshold`, in the training record) but compiled to the lowest leaf score at or above it
/// (the same decisions: no leaf scores in between), so its header can say 1.0000 for a tree
/// trained at 0.5; the line says the training threshold first and the leaves' floor in words.
fn decides(m: &ModelMeta, scale: ScoreScale, raw: &str) -> String {
    let compiled = threshold_words(scale, m.threshold);
    let trained = m.provenance.get("threshold").and_then(Value::as_f64);
    match trained {
        Some(t) if m.kind == "tree" => {
            let floor = scale.threshold_probability(m.threshold);
            if floor > 1.0 {
                format!(
                    "malicious at P(malicious) >= {t:.4} (trained with --threshold {t}), but no leaf of this tree reaches it: never malicious ({raw})"
                )
            } else {
                format!(
                    "malicious at P(malicious) >= {t:.4} (trained with --threshold {t}); the leaves it flags score at least {floor:.4} ({raw}: what the probe compares, the same decisions)"
                )
            }
        }
        Some(t) => format!("{compiled} ({raw}; trained with --threshold {t})"),
        None => format!("{compiled} ({raw})"),
    }
}

/// The decision points the model was trained at, in words, when its training record holds
/// them (`model show` and the C export's header say the same).
pub fn decision_points(provenance: &Value) -> Option<String> {
    let d = provenance.get("decision_points")?;
    let n = |k: &str| d[k].as_u64().and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
    Some(workbench_kernel::models::decision_points_words(
        n("decide_first"),
        n("decide_every"),
    ))
}

/// The whole description, one fact per line.
pub fn describe(m: &ModelMeta) -> String {
    let mut out = String::new();
    let p = &m.provenance;
    if let (Some(why), Some(d)) = (&m.not_deployable, &m.dataset_model) {
        let _ = writeln!(
            out,
            "model {}: {} on {} dataset columns; NOT DEPLOYABLE: {why}",
            m.model_id,
            m.kind,
            d.inputs.len()
        );
        let inputs: Vec<String> = d
            .inputs
            .iter()
            .map(|i| {
                if i.name == i.column {
                    i.name.clone()
                } else {
                    format!("{} (column {})", i.name, i.column)
                }
            })
            .collect();
        let _ = writeln!(out, "  inputs ({}): {}", inputs.len(), inputs.join(", "));
    } else {
        let scale = ScoreScale::of_kind_name(&m.kind, m.tree_count);
        let _ = writeln!(out, "model {}: {}", m.model_id, kind_and_size(m));
        let raw = if m.kind == "logistic" {
            format!(
                "logit {:.3}",
                m.threshold as f64 / shared::model::SCORE_ONE as f64
            )
        } else {
            format!("fixed point {}", m.threshold)
        };
        let _ = writeln!(
            out,
            "  decides: {}; every score is shown as P(malicious) in 0..1",
            decides(m, scale, &raw)
        );
        let names: Vec<String> = m
            .features
            .iter()
            .map(|f| format!("{} [{}]", f.name, f.unit))
            .collect();
        let _ = writeln!(out, "  features ({}): {}", names.len(), names.join(", "));
    }
    // Models built by hand (tests, `bench`) carry no training record.
    if p.get("sources").is_none() && p.get("rows").is_none() {
        let _ = writeln!(out, "  training: not recorded in this file");
        return out;
    }
    let sources: Vec<&str> = p["sources"]
        .as_array()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let kind = p["dataset_kind"].as_str().map(dataset_kind);
    let _ = writeln!(
        out,
        "  trained on: {} rows of {}{}{}",
        p["rows"].as_u64().map_or("?".into(), |r| r.to_string()),
        if sources.is_empty() {
            "?".to_string()
        } else {
            sources.join(", ")
        },
        kind.map_or(String::new(), |k| format!(" ({k})")),
        p["values_at"]
            .as_str()
            .map_or(String::new(), |v| format!(", values taken at {}", words(v)))
    );
    let split = p["split"].as_str().map_or_else(|| "?".into(), words);
    match p["split_reason"].as_str() {
        Some(why) => {
            let _ = writeln!(out, "  split: {why}");
        }
        None => {
            let _ = writeln!(out, "  split: {split}");
        }
    }
    let metrics = &p["metrics"];
    if metrics.is_object() {
        let c = &metrics["confusion"];
        let n = |k: &str| c[k].as_u64().unwrap_or(0);
        let _ = writeln!(
            out,
            "  test side ({} rows): precision {}, recall {}, F1 {}, ROC-AUC {}; {} of {} attacks found, {} of {} benign flagged",
            metrics["rows"].as_u64().unwrap_or(0),
            figure(metrics, "precision"),
            figure(metrics, "recall"),
            figure(metrics, "f1"),
            figure(metrics, "roc_auc"),
            n("true_positive"),
            n("true_positive") + n("false_negative"),
            n("false_positive"),
            n("false_positive") + n("true_negative"),
        );
        if let Some(why) = metrics["undefined"]["precision"].as_str() {
            let _ = writeln!(out, "  undefined figures: {why}");
        }
    }
    let left_out: Vec<String> = p["left_out"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|f| {
                    Some(format!(
                        "{} ({})",
                        f["column"].as_str()?,
                        words(f["finding"].as_str()?)
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    if !left_out.is_empty() {
        let _ = writeln!(
            out,
            "  left out, as the pitfall report flags them: {}",
            left_out.join(", ")
        );
    }
    let mut settings = Vec::new();
    if let Some(e) = p["engine"].as_str() {
        settings.push(format!("engine {e}"));
    }
    if m.kind != "logistic" {
        if let Some(d) = p["max_depth"].as_u64() {
            settings.push(format!("max depth {d}"));
        }
    } else if let Some(a) = p["alpha"].as_f64() {
        settings.push(format!("L2 strength {a}"));
    }
    if let Some(s) = p["seed"].as_u64() {
        settings.push(format!("seed {s}"));
    }
    if let Some(d) = decision_points(p) {
        settings.push(format!("decision points: {d}"));
    }
    if !settings.is_empty() {
        let _ = writeln!(out, "  settings: {}", settings.join(", "));
    }
    match m.training_quantiles() {
        Ok(Some(q)) => {
            let _ = writeln!(
                out,
                "  training values: {} features over {} rows recorded; `workbench skew MODEL --on DATA` compares them with where the model decides",
                q.features.len(),
                q.rows
            );
        }
        Ok(None) => {
            let _ = writeln!(
                out,
                "  training values: none recorded (`workbench skew` cannot compare)"
            );
        }
        Err(e) => {
            let _ = writeln!(out, "  training values: unreadable: {e}");
        }
    }
    out
}
