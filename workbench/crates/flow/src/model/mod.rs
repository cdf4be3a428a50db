//! Models in userspace: building the shared integer layout, and the model file format.

pub mod bpf_code;
pub mod build;
pub mod dataset_model;
pub mod distribution;
pub(crate) mod error;
pub mod export_c;
pub mod file;
pub mod quantize;
pub mod scale;

pub use error::{CompileError, ExportError, FormatError, ModelFileError};
pub use file::{ModelFile, ModelMeta};

/// The short id of a model as people see it (8 hex digits).
pub fn id_string(model_id: u32) -> String {
    format!("{model_id:08x}")
}

pub fn kind_name(kind: u8) -> &'static str {
    match kind {
        shared::model::KIND_TREE => "tree",
        shared::model::KIND_LOGISTIC => "logistic",
        shared::model::KIND_FOREST => "forest",
        _ => "unknown",
    }
}
