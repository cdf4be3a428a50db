//! The cross-dataset rows of docs/EVALUATION.md (issue 16, item 3): a model trained on one
//! dataset, scored on another over the kernel features both give with more than one value, and
//! on the real captures. The datasets' mappings decide the shared features, so the rows fill in by
//! themselves as mappings (UNSW-NB15, NSL-KDD) are added.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::super::Result;

use super::{
    cic_friday, eval_options, feature_list, load, names, recall_by_label, train_model, CrossRow,
    MatrixOptions,
};
use crate::dataset::LoadedDataset;
use crate::eval::At;
use crate::train::prepare::prepare_for_scoring;
use crate::train::SplitKind;

/// The kernel features a dataset gives: those with more than one value, and those mapped but
/// constant (e.g. a protocol written as a name the conversion does not read: nothing to learn).
struct Usable {
    varying: Vec<usize>,
    constant: Vec<usize>,
    /// No feature at all: why (the conversion's error, without the file name).
    why: Option<String>,
}

fn usable_features(loaded: &LoadedDataset) -> Usable {
    let p = match prepare_for_scoring(loaded, "kernel", None) {
        Ok(p) => p,
        Err(e) => {
            let text = crate::error_chain(&e);
            let why = if text.contains("maps to a kernel feature") {
                "no column maps to a kernel feature".to_string()
            } else {
                text.replace(&loaded.sources.join(", "), "the data")
            };
            return Usable {
                varying: Vec::new(),
                constant: Vec::new(),
                why: Some(why),
            };
        }
    };
    let (varying, constant) = p.mapped.iter().map(|m| m.feature_id).partition(|&id| {
        let first = p.ds.features.first().map_or(0, |x| x[id]);
        p.ds.features.iter().any(|x| x[id] != first)
    });
    Usable {
        varying,
        constant,
        why: None,
    }
}

fn describe(u: &Usable) -> String {
    let mut s = if let Some(why) = &u.why {
        format!("none: {why}")
    } else if u.varying.is_empty() {
        "none".to_string()
    } else {
        feature_list(&names(&u.varying))
    };
    if !u.constant.is_empty() {
        s.push_str(&format!(
            " ({} mapped but one value after conversion)",
            names(&u.constant).join(", ")
        ));
    }
    s
}

/// The datasets of the cross-dataset rows, with the split each allows.
fn cross_datasets(o: &MatrixOptions) -> Vec<(&'static str, Vec<PathBuf>, SplitKind)> {
    vec![
        ("CIC-IDS2017 Friday rows", cic_friday(o), SplitKind::Random),
        (
            "UNSW-NB15 raw",
            vec![o.shared_data.join("unsw-nb15/unsw-nb15-1-raw-head3400.csv")],
            SplitKind::Time,
        ),
        (
            "NSL-KDD",
            vec![o.shared_data.join("nsl-kdd/KDDTrain+_20Percent.txt")],
            SplitKind::Random,
        ),
    ]
}

pub fn cross_rows(o: &MatrixOptions, real: &[PathBuf], progress: &dyn Fn(&str)) -> Result<Vec<CrossRow>> {
    let sets = cross_datasets(o);
    let mut loaded = Vec::new();
    for (name, paths, _) in &sets {
        progress(&format!("loading {name}"));
        let l = load(paths)?;
        let usable = usable_features(&l);
        loaded.push((l, usable));
    }
    let mut rows = Vec::new();
    // CIC-IDS2017 against each of the others, both ways; each model also on the real captures.
    for other in 1..sets.len() {
        for (from, to) in [(0, other), (other, 0)] {
            let (from_name, to_name) = (sets[from].0, sets[to].0);
            let empty = |note: String| CrossRow {
                trained_on: from_name.into(),
                scored_on: to_name.into(),
                shared_features: Vec::new(),
                within_f1: None,
                f1: None,
                false_positive_rate: None,
                recall: BTreeMap::new(),
                note: Some(note),
            };
            let (a, b) = (&loaded[from].1, &loaded[to].1);
            let shared: Vec<usize> = a
                .varying
                .iter()
                .copied()
                .filter(|id| b.varying.contains(id))
                .collect();
            if shared.is_empty() {
                rows.push(empty(format!(
                    "no kernel feature with more than one value in both ({from_name}: {}; {to_name}: {})",
                    describe(a),
                    describe(b)
                )));
                continue;
            }
            progress(&format!(
                "cross: {from_name} -> {to_name} over {}",
                names(&shared).join(", ")
            ));
            let path = o.work_dir.join(format!("cross-{from}-{to}.ebml"));
            let (trained, _) =
                match train_model(&loaded[from].0, &names(&shared).join(","), sets[from].2, &path) {
                    Ok(t) => t,
                    Err(e) => {
                        rows.push(empty(format!("training failed: {}", crate::error_chain(&e))));
                        continue;
                    }
                };
            let r = match crate::eval::evaluate(&eval_options(
                &path,
                sets[to].1.clone(),
                None,
                At::DecisionPoints,
            )) {
                Ok(r) => r,
                Err(e) => {
                    rows.push(empty(format!("scoring failed: {}", crate::error_chain(&e))));
                    continue;
                }
            };
            rows.push(CrossRow {
                trained_on: from_name.into(),
                scored_on: to_name.into(),
                shared_features: names(&shared),
                within_f1: Some(trained.report.metrics.f1),
                f1: r.metrics.f1,
                false_positive_rate: r.metrics.false_positive_rate,
                recall: recall_by_label(&r, &BTreeMap::new()),
                note: None,
            });
            let r = crate::eval::evaluate(&eval_options(
                &path,
                real.to_vec(),
                Some(o.real_labels.clone()),
                At::DecisionPoints,
            ))?;
            // (The real captures hold every kernel feature: scoring them cannot lack a column.)
            rows.push(CrossRow {
                trained_on: from_name.into(),
                scored_on: "real captures (decision points)".into(),
                shared_features: names(&shared),
                within_f1: Some(trained.report.metrics.f1),
                f1: r.metrics.f1,
                false_positive_rate: r.metrics.false_positive_rate,
                recall: recall_by_label(&r, &BTreeMap::new()),
                note: None,
            });
        }
    }
    Ok(rows)
}
