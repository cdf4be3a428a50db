//! The training rows' per-feature quantiles that go into the model file (`provenance.
//! training_quantiles`), so that `workbench skew` and `workbench eval` can later compare them with
//! what the probe computes at its decision points. Kept apart from the training code: `train`
//! computes them on its training split, `provenance` adds where the rows were taken.

use polars::prelude::DataType;
use workbench_flow::model::distribution::{FeatureQuantiles, TakenAt, TrainingQuantiles, LEVELS};

use super::Dataset;
use crate::dataset::{DatasetKind, LoadedDataset};

/// Quantiles of the selected features over the training rows, each weighing its training weight
/// (a flow's decision-point samples 1 / their number, so that every flow counts once, as the
/// skew report weighs the decisions it compares them with). `taken_at` is refined by
/// [`with_origin`] once the loaded dataset is known.
pub fn of_rows(ds: &Dataset, rows: &[usize], feature_ids: &[usize]) -> TrainingQuantiles {
    let weights = ds.weights_of(rows);
    let features = feature_ids
        .iter()
        .map(|&f| {
            let values = rows.iter().map(|&r| ds.features[r][f]).collect();
            FeatureQuantiles::of_weighted(f, values, weights.as_deref())
        })
        .collect();
    TrainingQuantiles {
        rows: rows.len() as u64,
        levels: LEVELS.to_vec(),
        taken_at: TakenAt::EndOfFlow,
        source: String::new(),
        features,
    }
}

/// Where in a flow the rows of `loaded` were taken: a dataset's own flow meter writes end-of-flow
/// values; a `workbench features` table says in its columns which decision point it holds.
pub fn taken_at(loaded: &LoadedDataset) -> TakenAt {
    if loaded.kind != DatasetKind::FlowTable {
        return TakenAt::EndOfFlow;
    }
    let frame = &loaded.frame;
    if frame.column("decided_at").is_ok() {
        return TakenAt::PacketN;
    }
    let column = |name: &str| -> Option<Vec<i64>> {
        let c = frame.column(name).ok()?.cast(&DataType::Int64).ok()?;
        Some(c.i64().ok()?.into_iter().map(|v| v.unwrap_or(0)).collect())
    };
    match (column("decision_packet"), column("flow_packets")) {
        (Some(at), Some(total)) if at.iter().zip(&total).any(|(a, t)| a < t) => TakenAt::EveryPacket,
        _ => TakenAt::LastPacket,
    }
}

/// The quantiles with their origin filled in, as the model file stores them.
pub fn with_origin(mut q: TrainingQuantiles, loaded: &LoadedDataset) -> TrainingQuantiles {
    q.taken_at = taken_at(loaded);
    q.source = format!("{} ({})", loaded.kind, loaded.sources.join(", "));
    q
}
