//! A model on a dataset's own columns (`workbench train --features dataset`): for teaching, to
//! compare with the kernel-feature model on the same data ("how much of the score is left when
//! only what the kernel can compute is used"). The kernel cannot run it: it reads columns the
//! probe does not compute (payload content, end-of-flow statistics, aggregates over other
//! connections, categories), so its file says so and carries the float model in its JSON
//! header instead of the kernel's layout; `deploy`, `verify` and the kernel's model installation
//! refuse it in one line (see `file::parse`).

use serde::{Deserialize, Serialize};

/// How one input of the model is made from the dataset.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "encoding", rename_all = "snake_case")]
pub enum Encoding {
    /// A numeric column as it is.
    Number,
    /// 1 when the text column holds `value`, else 0.
    OneHot { value: String },
    /// A text column's values as codes: the index of the value in `values` (most frequent
    /// first), `values.len()` for a value not seen in training.
    Codes { values: Vec<String> },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DatasetInput {
    /// The model's name for the input (`proto=tcp` for a one-hot column).
    pub name: String,
    /// The dataset column it is made from.
    pub column: String,
    #[serde(flatten)]
    pub encoding: Encoding,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "node", rename_all = "snake_case")]
pub enum DatasetNode {
    /// `input <= threshold` goes left.
    Split {
        input: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    Leaf {
        p_malicious: f64,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DatasetFloatModel {
    Tree {
        nodes: Vec<DatasetNode>,
    },
    /// logit = bias + sum of weight x (input - mean) / std (std 0: the input is ignored).
    Logistic {
        bias: f64,
        weights: Vec<f64>,
        mean: Vec<f64>,
        std: Vec<f64>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DatasetModel {
    pub inputs: Vec<DatasetInput>,
    pub model: DatasetFloatModel,
    /// P(malicious) at or above which a row is malicious.
    pub threshold: f64,
}

impl DatasetModel {
    /// P(malicious) of one row given as its input values (in `inputs` order).
    pub fn probability(&self, x: &[f64]) -> f64 {
        match &self.model {
            DatasetFloatModel::Tree { nodes } => {
                let mut i = 0;
                for _ in 0..=nodes.len() {
                    match nodes.get(i) {
                        Some(DatasetNode::Split {
                            input,
                            threshold,
                            left,
                            right,
                        }) => {
                            let v = x.get(*input).copied().unwrap_or(0.0);
                            i = if v <= *threshold { *left } else { *right };
                        }
                        Some(DatasetNode::Leaf { p_malicious }) => return *p_malicious,
                        None => return 0.0,
                    }
                }
                0.0
            }
            DatasetFloatModel::Logistic {
                bias,
                weights,
                mean,
                std,
            } => {
                let z: f64 = bias
                    + weights
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| std.get(*j).is_some_and(|s| *s > 0.0))
                        .map(|(j, w)| w * (x.get(j).copied().unwrap_or(0.0) - mean[j]) / std[j])
                        .sum::<f64>();
                1.0 / (1.0 + (-z).exp())
            }
        }
    }

    /// The short id: the first 4 bytes (FNV-1a) of the model's JSON, as 8 hex digits.
    pub fn id(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let mut h: u32 = 0x811c_9dc5;
        for b in json {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        super::id_string(h)
    }

    pub fn node_count(&self) -> usize {
        match &self.model {
            DatasetFloatModel::Tree { nodes } => nodes.len(),
            DatasetFloatModel::Logistic { .. } => 0,
        }
    }

    pub fn kind(&self) -> &'static str {
        match &self.model {
            DatasetFloatModel::Tree { .. } => "tree",
            DatasetFloatModel::Logistic { .. } => "logistic",
        }
    }
}
