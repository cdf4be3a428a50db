//! Scoring a model on a table (a dataset or a `workbench features` flow table): loaded by the
//! dataset loader and turned into kernel features by the conversion `workbench train` uses
//! (`train::prepare`), so a column means to the model what it meant in training. Each row is one
//! decision: the values the table holds (a dataset's own end-of-flow columns, or a flow table's
//! decision point).

use super::{bail, Result};
use shared::features::FEATURES;
use shared::model::Model;

use super::flow_detail::{Details, FlowDetail, Place};
use super::score::FlowOutcome;
use super::skew::Decisions;
use crate::dataset::kernel_map::kernel_mapping_for;
use crate::dataset::LoadedDataset;
use crate::train::prepare::prepare_for_scoring;

/// The model's features that no column of the table maps to, with the error that names them.
fn check_features(loaded: &LoadedDataset, feature_ids: &[usize]) -> Result<()> {
    let columns = loaded.column_names();
    let mut label_columns = vec![loaded.label_column.as_str()];
    label_columns.extend(loaded.class_column.as_deref());
    let mapped = kernel_mapping_for(loaded.kind, &columns).mapped;
    let missing: Vec<&str> = feature_ids
        .iter()
        .filter(|&&id| {
            !mapped
                .iter()
                .any(|m| m.feature_id == id && !label_columns.contains(&m.column.as_str()))
        })
        .map(|&id| FEATURES[id].name)
        .collect();
    if !missing.is_empty() {
        let have: Vec<&str> = mapped.iter().map(|m| m.feature).collect();
        bail!(
            "{}: the model reads {} kernel feature(s) this data has no column for: {} (the data maps to: {}); \
             score it on data with those columns, or on a capture (every kernel feature is computed from packets)",
            loaded.sources.join(", "),
            missing.len(),
            missing.join(", "),
            if have.is_empty() {
                "no kernel feature".to_string()
            } else {
                have.join(", ")
            }
        );
    }
    Ok(())
}

/// What the table gave: the rows as decisions for the skew report.
pub struct TableScan {
    pub decisions: Decisions,
}

/// The kernel features `ids` as a `--features` list (`kernel` for none: a model reading no
/// feature, a constant, still needs rows).
pub fn feature_spec(ids: &[usize]) -> String {
    if ids.is_empty() {
        "kernel".to_string()
    } else {
        ids.iter()
            .map(|&id| FEATURES[id].name)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Scores every row of `loaded` that survives its cleaning step (`positive`: labels counted as
/// malicious, as in `train`). `recorded`: the features whose training quantiles the model file
/// holds; those the table has are kept as decisions. With `details` (`--flows-out`), each row's
/// place in its file and its decision.
pub fn scan(
    loaded: &LoadedDataset,
    model: &Model,
    feature_ids: &[usize],
    recorded: &[usize],
    positive: Option<&str>,
    outcomes: &mut Vec<FlowOutcome>,
    mut details: Option<&mut Details>,
) -> Result<TableScan> {
    check_features(loaded, feature_ids)?;
    let mapped = kernel_mapping_for(loaded.kind, &loaded.column_names()).mapped;
    let mut wanted: Vec<usize> = feature_ids.to_vec();
    wanted.extend(
        recorded
            .iter()
            .filter(|&&id| mapped.iter().any(|m| m.feature_id == id)),
    );
    wanted.sort_unstable();
    wanted.dedup();
    // Cleaned here, so that each prepared row's place in its file is known (preparing a cleaned
    // table keeps every row).
    let cleaned = loaded.cleaned()?;
    let prepared = prepare_for_scoring(&cleaned, &feature_spec(&wanted), positive)?;
    if prepared.ds.features.len() != cleaned.rows() {
        bail!(
            "{}: internal: {} rows cleaned but {} prepared",
            loaded.sources.join(", "),
            cleaned.rows(),
            prepared.ds.features.len()
        );
    }
    let filled: Vec<usize> = prepared.mapped.iter().map(|m| m.feature_id).collect();
    let mut decisions = Decisions::new(
        recorded
            .iter()
            .copied()
            .filter(|id| filled.contains(id))
            .collect(),
    );
    let ds = &prepared.ds;
    for (i, x) in ds.features.iter().enumerate() {
        let score = model.score(x);
        let flagged = model.is_malicious(score);
        decisions.push(x, 0);
        if let Some(d) = details.as_deref_mut() {
            let decision = d.decision(x, None, score, flagged);
            d.rows.push(FlowDetail {
                place: Place::Row(cleaned.row_place(i)),
                packets: None,
                decision: Some(decision),
            });
        }
        outcomes.push(FlowOutcome {
            class: Some(ds.class.get(i).cloned().unwrap_or_default()),
            malicious: ds.malicious[i],
            flagged,
            ever_flagged: flagged,
            decided: true,
            first_flag: None,
            file: 0,
        });
    }
    Ok(TableScan { decisions })
}
