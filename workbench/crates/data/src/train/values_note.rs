//! What a training run's values are, in words: the end-of-flow note that says who computed a
//! table's columns against where the probe decides, or the decision-point sampling.

use crate::dataset::DatasetKind;

use super::decision_points::DecisionConfig;
use super::run::At;

/// Who computed a public dataset's values, for the end-of-flow note.
fn who(kind: DatasetKind) -> &'static str {
    match kind {
        DatasetKind::CicMachineLearning | DatasetKind::CicTrafficLabelling => {
            "CICFlowMeter computed them when each flow ended (or timed out after 120 s)"
        }
        DatasetKind::UnswRaw | DatasetKind::UnswSets => "Argus computed them over each whole connection",
        DatasetKind::NslKdd => "Bro summarised each whole connection",
        DatasetKind::FlowTable => "`workbench features` took them at each flow's last packet in the capture",
        DatasetKind::Generic => "each row describes a whole flow",
    }
}

/// The probe's decision points in words ("packets 1-32 and every 16th", "every 16th packet"),
/// as `workbench_kernel::models::decision_points_words` gives them for `deploy`.
fn decision_points_words(first: u32, every: u32) -> String {
    match (first, every) {
        (0, 0) => "no packet".into(),
        (_, 1) => "every packet".into(),
        (0, e) => format!("every {e}th packet"),
        (1, 0) => "packet 1 only".into(),
        (f, 0) => format!("packets 1-{f} only"),
        (1, e) => format!("packet 1 and every {e}th"),
        (f, e) => format!("packets 1-{f} and every {e}th"),
    }
}

/// What the training values are, in words.
pub(super) fn values_note(at: At, kind: Option<DatasetKind>, decision: DecisionConfig) -> String {
    match at {
        At::EndOfFlow => format!(
            "the columns are end-of-flow values ({}), while the probe decides at {}, where counts are smaller and durations shorter: `workbench skew MODEL --on CAPTURE` measures how far apart they are, and `--at decision-points` (captures, or `workbench features --every-packet` tables) trains on what the probe sees",
            kind.map_or("computed when each flow ended", who),
            decision_points_words(decision.decide_first, decision.decide_every)
        ),
        At::DecisionPoints => format!(
            "one sample per decision point of the probe ({}) per flow, each flow weighing 1 in total: the values the probe computes when it decides",
            decision_points_words(decision.decide_first, decision.decide_every)
        ),
    }
}
