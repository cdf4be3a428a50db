//! Per flow (or table row), what `eval --flows-out` writes beside the outcome the metrics count:
//! where it is and its last decision, with the values of the features the model reads at that
//! decision so that the explanation can be made afterwards. Collected only when asked for.

use shared::features::{FeatureVector, FEATURE_COUNT};
use shared::model::Model;
use workbench_flow::flowfmt::FlowTuple;

use crate::dataset::RowPlace;

/// Where a flow or row is.
#[derive(Debug, Clone)]
pub enum Place {
    /// A capture's flow: the input number and its 5-tuple from the initiator.
    Flow { file: usize, tuple: FlowTuple },
    /// A table's row.
    Row(RowPlace),
}

/// A flow's last decision.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The flow's packet number at the decision (captures).
    pub packet: Option<u32>,
    pub score_raw: i64,
    pub malicious: bool,
    /// The values of the features the model reads, in [`Details::read`] order.
    pub values: Vec<i64>,
}

#[derive(Debug, Clone)]
pub struct FlowDetail {
    pub place: Place,
    /// Packets of the flow in the capture (captures).
    pub packets: Option<u32>,
    /// None: no decision point was reached.
    pub decision: Option<Decision>,
}

/// The details of every flow, in the order of the outcomes.
#[derive(Debug, Clone, Default)]
pub struct Details {
    /// The features the model reads (its `feature_mask`): only these are kept per flow.
    pub read: Vec<usize>,
    pub rows: Vec<FlowDetail>,
}

impl Details {
    pub fn new(model: &Model) -> Self {
        Details {
            read: (0..FEATURE_COUNT)
                .filter(|&i| model.header.feature_mask & (1 << i) != 0)
                .collect(),
            rows: Vec::new(),
        }
    }

    /// The decision on `x`, keeping the features the model reads.
    pub fn decision(
        &self,
        x: &FeatureVector,
        packet: Option<u32>,
        score_raw: i64,
        malicious: bool,
    ) -> Decision {
        Decision {
            packet,
            score_raw,
            malicious,
            values: self.read.iter().map(|&i| x[i]).collect(),
        }
    }

    /// The feature vector of a decision (features the model does not read are 0: they change
    /// neither its score nor its explanation).
    pub fn features(&self, d: &Decision) -> FeatureVector {
        let mut x = [0i64; FEATURE_COUNT];
        for (&i, &v) in self.read.iter().zip(&d.values) {
            x[i] = v;
        }
        x
    }
}
