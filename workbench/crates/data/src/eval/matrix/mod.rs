//! The table of docs/EVALUATION.md: models trained on a CIC-IDS2017 slice, on CIC-IDS2017 Friday
//! rows and on each sample capture, scored on their own test split, on the honest sample capture
//! and on the real captures of ../shared/data/pcaps (labelled by bench/real-eval/labels.toml), at
//! the last packet and at the probe's decision points; and the cross-dataset rows (a model trained
//! on one dataset, scored on another over the kernel features both give). `workbench eval-table`
//! regenerates it; everything is seeded and single-threaded, so the same data gives the same
//! table, byte for byte.

mod cross;
pub mod markdown;
mod real;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{io_error, Result};
use serde::Serialize;
use shared::abi::ProbeConfig;
use shared::features::FEATURES;

use super::{At, EvalOptions, EvalReport};
use crate::dataset::{self, LoadOptions, LoadedDataset};
use crate::features::{self, DecisionPoint, FeaturesOptions};
use crate::train::{self, prepare, provenance, ModelKind, SplitKind, TrainOptions};
use workbench_flow::model::file;

pub use real::real_captures;

#[derive(Debug, Clone)]
pub struct MatrixOptions {
    /// The shared real data (`../shared/data` from the repository root).
    pub shared_data: PathBuf,
    /// The committed sample captures with their labels.
    pub samples: PathBuf,
    /// File-level labels of the real captures.
    pub real_labels: PathBuf,
    /// Where feature tables and model files go while the table is built.
    pub work_dir: PathBuf,
}

/// One trained model.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelRow {
    pub name: String,
    pub trained_on: Vec<String>,
    pub split: String,
    /// Why this split (when it is not the default one).
    pub split_why: String,
    pub features: Vec<String>,
    pub rows_train: usize,
    pub rows_test: usize,
    pub model_id: String,
}

/// A model scored on some data.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScoreRow {
    pub model: String,
    pub data: String,
    pub at: String,
    pub flows: u64,
    pub f1: Option<f64>,
    pub false_positive_rate: Option<f64>,
    /// Decision points: benign flows flagged at some decision point.
    pub benign_ever_flagged: Option<f64>,
    /// Recall per attack label (sample scenarios grouped under their label).
    pub recall: BTreeMap<String, f64>,
    pub median_packet: Option<u32>,
    pub median_time_ns: Option<u64>,
    pub p90_time_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A model trained on one dataset, scored on another over the kernel features both give.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CrossRow {
    pub trained_on: String,
    pub scored_on: String,
    pub shared_features: Vec<String>,
    /// F1 on the training dataset's own test split with the same features.
    pub within_f1: Option<f64>,
    pub f1: Option<f64>,
    pub false_positive_rate: Option<f64>,
    pub recall: BTreeMap<String, f64>,
    /// Why a row has no scores (no shared feature, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MatrixReport {
    pub models: Vec<ModelRow>,
    pub scores: Vec<ScoreRow>,
    pub cross: Vec<CrossRow>,
    pub real_set: real::RealSet,
    /// Where the generated (honest sample) and the real captures disagree, in sentences.
    pub disagreements: Vec<String>,
}

/// Where a model's rows come from.
enum Source {
    Tables(Vec<PathBuf>),
    /// A sample capture, made into a flow table at each flow's last packet (`workbench features`).
    Capture {
        pcap: PathBuf,
        labels: PathBuf,
    },
}

struct Spec {
    name: &'static str,
    source: Source,
    split: SplitKind,
    split_why: &'static str,
}

fn load(paths: &[PathBuf]) -> Result<LoadedDataset> {
    Ok(dataset::load(
        paths,
        &LoadOptions {
            no_cache: true,
            ..Default::default()
        },
    )?)
}

/// The rows of a spec as a loaded table (captures through `workbench features`).
fn table_of(spec: &Spec, work: &Path) -> Result<LoadedDataset> {
    match &spec.source {
        Source::Tables(p) => load(p),
        Source::Capture { pcap, labels } => {
            let stem = pcap.file_stem().and_then(|s| s.to_str()).unwrap_or("capture");
            let out = work.join(format!("{stem}.csv"));
            features::extract(
                &FeaturesOptions {
                    pcaps: vec![pcap.clone()],
                    output: out.clone(),
                    decision: DecisionPoint::LastPacket,
                    labels: Some(labels.clone()),
                    cic: crate::features::labels::CicOptions::default(),
                    lenient: false,
                    interface: None,
                    opt_in: 0,
                },
                &crate::progress::NoProgress,
            )?;
            load(&[out])
        }
    }
}

fn split_name(s: SplitKind) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// Trains a tree on `features` ("kernel" or a list) and writes its model file.
fn train_model(
    loaded: &LoadedDataset,
    features: &str,
    split: SplitKind,
    path: &Path,
) -> Result<(train::Trained, Vec<String>)> {
    let prepared = prepare(loaded, features, None)?;
    let opts = TrainOptions {
        kind: ModelKind::Tree,
        feature_ids: prepared.mapped.iter().map(|m| m.feature_id).collect(),
        split,
        ..TrainOptions::default()
    };
    let trained = train::train(&prepared.ds, &opts)?;
    file::write(
        path,
        &trained.model,
        provenance(loaded, prepared.ds.features.len(), &opts, &trained.report),
    )?;
    let names = prepared.mapped.iter().map(|m| m.feature.to_string()).collect();
    Ok((trained, names))
}

/// The false positive rate of a confusion matrix (None without benign rows).
fn fpr(c: &crate::train::metrics::Confusion) -> Option<f64> {
    let negatives = c.false_positive + c.true_negative;
    (negatives > 0).then(|| c.false_positive as f64 / negatives as f64)
}

/// Recall per attack label: classes mapped to labels by `group` (sample scenarios), summed.
fn recall_by_label(r: &EvalReport, group: &BTreeMap<String, String>) -> BTreeMap<String, f64> {
    let mut sums: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (class, s) in r.per_class.iter().filter(|(_, s)| s.malicious) {
        let label = group.get(class).cloned().unwrap_or_else(|| class.clone());
        let e = sums.entry(label).or_default();
        e.0 += s.flows;
        e.1 += s.flagged;
    }
    sums.into_iter()
        .map(|(l, (n, f))| (l, f as f64 / n.max(1) as f64))
        .collect()
}

fn score_row(model: &str, data: &str, r: &EvalReport, group: &BTreeMap<String, String>) -> ScoreRow {
    let all = r.time_to_detect.all_attacks.as_ref();
    ScoreRow {
        model: model.into(),
        data: data.into(),
        at: match r.at.as_str() {
            "decision_points" => "decision points".into(),
            "last_packet" => "last packet".into(),
            other => other.into(),
        },
        flows: r.labelled_flows,
        f1: r.metrics.f1,
        false_positive_rate: r.metrics.false_positive_rate,
        benign_ever_flagged: r
            .ever_flagged
            .as_ref()
            .and_then(|e| e.benign_flows_ever_flagged_share),
        recall: recall_by_label(r, group),
        median_packet: all.and_then(|d| d.median_packet),
        median_time_ns: all.and_then(|d| d.median_time_ns),
        p90_time_ns: all.and_then(|d| d.p90_time_ns),
        note: None,
    }
}

fn eval_options(model: &Path, data: Vec<PathBuf>, labels: Option<PathBuf>, at: At) -> EvalOptions {
    EvalOptions {
        model: model.to_path_buf(),
        data,
        labels,
        at,
        config: ProbeConfig::default(),
        load: LoadOptions {
            no_cache: true,
            ..Default::default()
        },
        positive: None,
        lenient: false,
        interface: None,
    }
}

/// The sample scenarios under their label (`labels-honest.csv`: columns label and scenario).
fn scenario_labels(labels_csv: &Path) -> Result<BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(labels_csv).map_err(io_error(format!("reading {}", labels_csv.display())))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |n: &str| header.iter().position(|h| h.trim() == n);
    let mut out = BTreeMap::new();
    if let (Some(l), Some(s)) = (col("label"), col("scenario")) {
        for line in lines {
            let f: Vec<&str> = line.split(',').collect();
            if let (Some(label), Some(scenario)) = (f.get(l), f.get(s)) {
                out.insert(scenario.to_string(), label.to_string());
            }
        }
    }
    Ok(out)
}

fn specs(o: &MatrixOptions) -> Vec<Spec> {
    let cic = o.shared_data.join("cic-ids2017");
    vec![
        Spec {
            name: "CIC-IDS2017 Wednesday slice",
            source: Source::Tables(vec![cic.join("wednesday-0948-1006-slowloris-10col.csv")]),
            split: SplitKind::Time,
            split_why: "the latest third of the rows, cut between two minutes",
        },
        Spec {
            name: "CIC-IDS2017 Friday rows",
            source: Source::Tables(cic_friday(o)),
            split: SplitKind::Random,
            split_why:
                "the time split's test side holds attacks only, the host split's training side benign only",
        },
        Spec {
            name: "naive sample",
            source: Source::Capture {
                pcap: o.samples.join("naive.pcap"),
                labels: o.samples.join("labels-naive.csv"),
            },
            split: SplitKind::Random,
            split_why: "as a naive user splits",
        },
        Spec {
            name: "honest sample",
            source: Source::Capture {
                pcap: o.samples.join("honest.pcap"),
                labels: o.samples.join("labels-honest.csv"),
            },
            split: SplitKind::Host,
            split_why: "every host on one side",
        },
    ]
}

fn cic_friday(o: &MatrixOptions) -> Vec<PathBuf> {
    let cic = o.shared_data.join("cic-ids2017");
    [
        "friday-ddos-attack-rows-1000.csv",
        "friday-portscan-attack-rows-1000.csv",
        "friday-ddos-labelled-flows-head300.csv",
    ]
    .iter()
    .map(|f| cic.join(f))
    .collect()
}

/// Builds the whole table (the progress of each step goes to `progress`).
pub fn build(o: &MatrixOptions, progress: &dyn Fn(&str)) -> Result<MatrixReport> {
    std::fs::create_dir_all(&o.work_dir).map_err(io_error(format!("creating {}", o.work_dir.display())))?;
    let group = scenario_labels(&o.samples.join("labels-honest.csv"))?;
    let real = real_captures(&o.shared_data)?;
    let honest = vec![o.samples.join("honest.pcap")];
    let mut models = Vec::new();
    let mut scores = Vec::new();
    let mut real_set = None;
    for (i, spec) in specs(o).iter().enumerate() {
        progress(&format!("training on the {}", spec.name));
        let loaded = table_of(spec, &o.work_dir)?;
        let path = o.work_dir.join(format!("model-{i}.ebml"));
        let (trained, features) = train_model(&loaded, "kernel", spec.split, &path)?;
        let r = &trained.report;
        models.push(ModelRow {
            name: spec.name.into(),
            trained_on: loaded.sources.clone(),
            split: split_name(spec.split),
            split_why: spec.split_why.into(),
            features,
            rows_train: r.rows_train,
            rows_test: r.rows_test,
            model_id: r.model_id.clone(),
        });
        scores.push(ScoreRow {
            model: spec.name.into(),
            data: "own test split".into(),
            at: match spec.source {
                Source::Tables(_) => "end of flow".into(),
                Source::Capture { .. } => "last packet".into(),
            },
            flows: r.metrics.rows as u64,
            f1: Some(r.metrics.f1),
            false_positive_rate: fpr(&r.metrics.confusion),
            benign_ever_flagged: None,
            recall: {
                let mut sums: BTreeMap<String, (u64, u64)> = BTreeMap::new();
                for (c, s) in r
                    .per_class
                    .iter()
                    .filter(|(c, _)| !crate::dataset::clean::is_benign(c))
                {
                    let e = sums
                        .entry(group.get(c).cloned().unwrap_or_else(|| c.clone()))
                        .or_default();
                    e.0 += s.rows;
                    e.1 += s.correct;
                }
                sums.into_iter()
                    .map(|(l, (n, k))| (l, k as f64 / n.max(1) as f64))
                    .collect()
            },
            median_packet: None,
            median_time_ns: None,
            p90_time_ns: None,
            note: None,
        });
        for at in [At::LastPacket, At::DecisionPoints] {
            progress(&format!("  scoring on the honest sample at {}", at.name()));
            let h = super::evaluate(&eval_options(&path, honest.clone(), None, at))?;
            let mut row = score_row(spec.name, "honest sample", &h, &group);
            if spec.name == "honest sample" {
                row.note = Some("includes its own training flows".into());
            }
            scores.push(row);
            progress(&format!("  scoring on the real captures at {}", at.name()));
            let r = super::evaluate(&eval_options(
                &path,
                real.clone(),
                Some(o.real_labels.clone()),
                at,
            ))?;
            if real_set.is_none() {
                real_set = Some(real::RealSet::of(&r));
            }
            scores.push(score_row(spec.name, "real captures", &r, &group));
        }
    }
    let cross = cross::cross_rows(o, &real, progress)?;
    let disagreements = disagreements(&scores);
    Ok(MatrixReport {
        models,
        scores,
        cross,
        real_set: real_set.unwrap_or_default(),
        disagreements,
    })
}

pub(crate) fn names(ids: &[usize]) -> Vec<String> {
    ids.iter().map(|&id| FEATURES[id].name.to_string()).collect()
}

/// A feature list short enough for a table cell.
pub fn feature_list(names: &[String]) -> String {
    if names.len() <= 8 {
        return names.join(", ");
    }
    // Opt-in features (the VLAN id) are in no default set: counted only when a model reads them.
    let offered: Vec<&str> = FEATURES
        .iter()
        .enumerate()
        .filter(|&(id, f)| !shared::features::is_opt_in(id) || names.iter().any(|m| m == f.name))
        .map(|(_, f)| f.name)
        .collect();
    let missing: Vec<&str> = offered
        .iter()
        .copied()
        .filter(|n| !names.iter().any(|m| m == n))
        .collect();
    match missing.len() {
        0 => format!("all {}", offered.len()),
        1..=6 => format!(
            "{} of {} (all but {})",
            names.len(),
            offered.len(),
            missing.join(", ")
        ),
        _ => format!("{} of {}", names.len(), offered.len()),
    }
}

/// Sentences where a model's scores on the honest sample and on the real captures (at the
/// decision points) tell different stories.
fn disagreements(scores: &[ScoreRow]) -> Vec<String> {
    let mut out = Vec::new();
    let find = |model: &str, data: &str| {
        scores
            .iter()
            .find(|s| s.model == model && s.data == data && s.at == "decision points")
    };
    let mut models: Vec<&str> = scores.iter().map(|s| s.model.as_str()).collect();
    models.dedup();
    for m in models {
        let (Some(g), Some(r)) = (find(m, "honest sample"), find(m, "real captures")) else {
            continue;
        };
        let mut parts = Vec::new();
        if let (Some(a), Some(b)) = (g.f1, r.f1) {
            if (a - b).abs() >= 0.15 {
                parts.push(format!(
                    "F1 {a:.3} on the honest sample, {b:.3} on the real captures"
                ));
            }
        }
        if let (Some(a), Some(b)) = (g.false_positive_rate, r.false_positive_rate) {
            if (a - b).abs() >= 0.05 {
                parts.push(format!("false positive rate {a:.3} vs {b:.3}"));
            }
        }
        for (label, &a) in &g.recall {
            if let Some(&b) = r.recall.get(label) {
                if (a - b).abs() >= 0.3 {
                    parts.push(format!("{label} recall {a:.2} vs {b:.2}"));
                }
            }
        }
        if !parts.is_empty() {
            out.push(format!("{m}: {}", parts.join("; ")));
        }
    }
    out
}
