//! The model file: `EBMLMDL1`, a u32 (little-endian) length, a JSON header with everything a
//! person or tool wants to know (kind, features, units, training provenance, metrics), then the
//! compact shared layout that goes to the kernel. Reading validates both before anything can
//! reach the kernel.
//!
//! A model on a dataset's own columns (`train --features dataset`) cannot run in the kernel:
//! its header says `not_deployable` with the reason and holds the float model itself
//! (`dataset_model`), and there is no kernel body. [`read`] and [`parse`], the only way from a
//! file to a kernel model (`deploy`, `verify`, the TUI's deploy, the kernel crate's
//! installation all go through them), refuse such a file in one line with the reason;
//! [`read_meta`] reads any file's header (`model show`). Files written before the field
//! existed have none and are deployable as before.
//!
//! The body has its own checksum; the header's figures (metrics, provenance, decision points)
//! are what `model show` prints, so the header carries one too: its last key,
//! `"header_checksum": "fnv1a32:XXXXXXXX"`, is FNV-1a 32 over the file's first 12 + length
//! bytes (magic, length, JSON) with those eight hex digits read as `0`s. Every writer goes
//! through [`write_bytes`], so every file written now has it. Files written before it have none
//! and load as before (only the header/body agreement in [`parse`] guards their header).

use std::path::Path;

use serde::{Deserialize, Serialize};
use shared::features::FEATURES;
use shared::model::{codec, Model};

use super::dataset_model::DatasetModel;
pub use super::error::{FormatError, ModelFileError};
use super::{id_string, kind_name};

pub const FILE_MAGIC: &[u8; 8] = b"EBMLMDL1";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FeatureRef {
    pub id: usize,
    pub name: String,
    pub unit: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelMeta {
    pub format_version: u32,
    pub model_id: String,
    pub kind: String,
    pub node_count: u32,
    pub tree_count: u32,
    pub threshold: i64,
    pub features: Vec<FeatureRef>,
    pub created_by: String,
    /// Free-form provenance: data fingerprint, split, training parameters, metrics.
    #[serde(default)]
    pub provenance: serde_json::Value,
    /// Why the kernel cannot run this model (absent: it can).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_deployable: Option<String>,
    /// A dataset-feature model itself (only in not-deployable files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_model: Option<DatasetModel>,
}

#[derive(Debug, Clone)]
pub struct ModelFile {
    pub meta: ModelMeta,
    pub model: Box<Model>,
}

impl ModelMeta {
    pub fn describe(model: &Model, provenance: serde_json::Value) -> Self {
        let h = &model.header;
        ModelMeta {
            format_version: FORMAT_VERSION,
            model_id: id_string(h.model_id),
            kind: kind_name(h.kind).to_string(),
            node_count: h.node_count as u32,
            tree_count: h.tree_count as u32,
            threshold: h.threshold,
            features: FEATURES
                .iter()
                .enumerate()
                .filter(|(i, _)| h.feature_mask & (1 << i) != 0)
                .map(|(id, f)| FeatureRef {
                    id,
                    name: f.name.to_string(),
                    unit: f.unit.to_string(),
                })
                .collect(),
            created_by: concat!("workbench ", env!("CARGO_PKG_VERSION")).to_string(),
            provenance,
            not_deployable: None,
            dataset_model: None,
        }
    }

    /// The header of a model the kernel cannot run.
    pub fn not_deployable(model: DatasetModel, reason: String, provenance: serde_json::Value) -> Self {
        ModelMeta {
            format_version: FORMAT_VERSION,
            model_id: model.id(),
            kind: model.kind().to_string(),
            node_count: model.node_count() as u32,
            tree_count: u32::from(model.kind() == "tree"),
            threshold: 0,
            features: Vec::new(),
            created_by: concat!("workbench ", env!("CARGO_PKG_VERSION")).to_string(),
            provenance,
            not_deployable: Some(reason),
            dataset_model: Some(model),
        }
    }
}

type Result<T, E = ModelFileError> = std::result::Result<T, E>;

/// The header's own checksum: the key (written last) and the form of its value.
const SEAL_KEY: &str = "header_checksum";
const SEAL_PREFIX: &str = "fnv1a32:";

/// The header as written: the description, then its checksum (kept out of [`ModelMeta`], so a
/// meta read from one file and written to another never carries a stale one).
#[derive(Serialize)]
struct Sealed<'a> {
    #[serde(flatten)]
    meta: &'a ModelMeta,
    header_checksum: String,
}

/// The one writer of model files (training, the TUI, tests): each file it writes is sealed.
fn write_bytes(path: &Path, meta: &ModelMeta, body: &[u8]) -> Result<()> {
    let placeholder = format!("{SEAL_PREFIX}{:08x}", 0);
    let json = serde_json::to_vec_pretty(&Sealed {
        meta,
        header_checksum: placeholder.clone(),
    })
    .map_err(ModelFileError::EncodeHeader)?;
    let mut out = Vec::with_capacity(12 + json.len() + body.len());
    out.extend_from_slice(FILE_MAGIC);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    let head = out.len();
    let at = seal_digits(&out, &placeholder).expect("the placeholder was just written");
    let sum = format!("{:08x}", header_sum(&out[..head], at));
    out[at..at + 8].copy_from_slice(sum.as_bytes());
    out.extend_from_slice(body);
    std::fs::write(path, out).map_err(|source| ModelFileError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a model the kernel cannot run: the header only, `not_deployable` saying why.
pub fn write_not_deployable(path: &Path, meta: &ModelMeta) -> Result<()> {
    if meta.not_deployable.is_none() {
        return Err(ModelFileError::NoReason);
    }
    write_bytes(path, meta, &[])
}

/// Writes a sealed model (see `build::seal`) with its description.
pub fn write(path: &Path, model: &Model, provenance: serde_json::Value) -> Result<ModelMeta> {
    let meta = ModelMeta::describe(model, provenance);
    let mut compact = vec![0u8; codec::encoded_len(model)];
    codec::encode(model, &mut compact);
    write_bytes(path, &meta, &compact)?;
    Ok(meta)
}

/// The header of any model file, deployable or not (`model show`); a deployable file's body
/// is validated as [`read`] does.
pub fn read_meta(path: &Path) -> Result<ModelMeta> {
    let bytes = read_bytes(path)?;
    let (meta, _) = header(&bytes).map_err(|e| invalid(path, e))?;
    if meta.not_deployable.is_some() {
        return Ok(meta);
    }
    Ok(parse(&bytes).map_err(|e| invalid(path, e))?.meta)
}

/// Reads and validates a model file; every fault names the file.
pub fn read(path: &Path) -> Result<ModelFile> {
    let bytes = read_bytes(path)?;
    parse(&bytes).map_err(|e| invalid(path, e))
}

fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| ModelFileError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn invalid(path: &Path, fault: FormatError) -> ModelFileError {
    ModelFileError::Invalid {
        path: path.to_path_buf(),
        fault,
    }
}

/// What a file given as a model holds instead, with the command that makes a model of it.
fn what_instead(bytes: &[u8]) -> &'static str {
    let magic = bytes
        .get(..4)
        .map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
    match magic {
        Some(0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0x0a0d_0d0a) => {
            ": it is a packet capture; train a model on it with `workbench train CAPTURE --model tree -o MODEL` and give MODEL here"
        }
        _ if bytes.starts_with(b"PAR1") || bytes.starts_with(b"PK\x03\x04") => {
            ": it is a table; train a model on it with `workbench train TABLE --model tree -o MODEL` and give MODEL here"
        }
        _ if !bytes.is_empty() && bytes.iter().take(512).all(|&b| b >= 0x20 || b"\n\r\t".contains(&b)) => {
            ": it is a text file (a CSV table?); train a model on it with `workbench train TABLE --model tree -o MODEL` and give MODEL here"
        }
        _ => "; give a file written by `workbench train -o MODEL`",
    }
}

/// Where the eight hex digits of the stored checksum `stored` start in `head` (the last
/// occurrence: the writer puts the key last; inside a JSON string its quotes would be escaped).
fn seal_digits(head: &[u8], stored: &str) -> Option<usize> {
    let needle = format!("\"{SEAL_KEY}\": \"{stored}\"");
    let needle = needle.as_bytes();
    head.windows(needle.len())
        .rposition(|w| w == needle)
        .map(|i| i + needle.len() - 9)
}

/// FNV-1a 32 over `head` with the eight digits at `at` read as `0`s.
fn header_sum(head: &[u8], at: usize) -> u32 {
    let sum = codec::fnv1a(codec::FNV_OFFSET, &head[..at]);
    let sum = codec::fnv1a(sum, b"00000000");
    codec::fnv1a(sum, &head[at + 8..])
}

/// Only the checksum, read apart from [`ModelMeta`].
#[derive(Deserialize)]
struct Seal {
    header_checksum: Option<String>,
}

/// Checks the header's checksum when it has one; a file written before it existed has none.
fn check_seal(head: &[u8], json: &[u8]) -> Result<(), FormatError> {
    let seal: Seal = serde_json::from_slice(json).map_err(FormatError::HeaderJson)?;
    let Some(stored) = seal.header_checksum else {
        return Ok(());
    };
    let well_formed = stored.strip_prefix(SEAL_PREFIX).is_some_and(|d| {
        d.len() == 8
            && d.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    let Some(at) = seal_digits(head, &stored).filter(|_| well_formed) else {
        return Err(FormatError::HeaderChanged {
            detail: format!("its {SEAL_KEY} {stored:?} is not the {SEAL_PREFIX}<8 hex digits> `workbench train` writes last"),
        });
    };
    let computed = format!("{SEAL_PREFIX}{:08x}", header_sum(head, at));
    if computed != stored {
        return Err(FormatError::HeaderChanged {
            detail: format!("its {SEAL_KEY} is {stored}, its bytes give {computed}"),
        });
    }
    Ok(())
}

/// The JSON header and where the body starts.
fn header(bytes: &[u8]) -> Result<(ModelMeta, usize), FormatError> {
    // A file that is only the start of a model file was cut short, whatever its bytes look like
    // (five bytes `EBMLM` are printable text, not a table).
    if (1..12).contains(&bytes.len()) && FILE_MAGIC.starts_with(&bytes[..bytes.len().min(8)]) {
        return Err(FormatError::CutShort {
            file_bytes: bytes.len(),
        });
    }
    if bytes.len() < 12 || &bytes[..8] != FILE_MAGIC {
        return Err(FormatError::NotModelFile {
            instead: what_instead(bytes),
        });
    }
    let json_len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    let json_end = 12usize
        .checked_add(json_len)
        .filter(|&e| e <= bytes.len())
        .ok_or(FormatError::HeaderPastEnd {
            json_len,
            file_bytes: bytes.len(),
        })?;
    let meta: ModelMeta = serde_json::from_slice(&bytes[12..json_end]).map_err(FormatError::HeaderJson)?;
    if meta.format_version != FORMAT_VERSION {
        return Err(FormatError::Version {
            found: meta.format_version,
            expected: FORMAT_VERSION,
        });
    }
    check_seal(&bytes[..json_end], &bytes[12..json_end])?;
    Ok((meta, json_end))
}

/// Parses and validates a model the kernel can run; a not-deployable file is refused with its
/// reason.
pub fn parse(bytes: &[u8]) -> Result<ModelFile, FormatError> {
    let (meta, json_end) = header(bytes)?;
    if let Some(why) = &meta.not_deployable {
        return Err(FormatError::NotDeployable {
            model_id: meta.model_id.clone(),
            why: why.clone(),
        });
    }
    let mut model = Box::new(Model::zeroed());
    codec::decode(&bytes[json_end..], &mut model)
        .map_err(|fault| FormatError::Body { at: json_end, fault })?;
    if meta.model_id != id_string(model.header.model_id) {
        return Err(FormatError::IdMismatch {
            header: meta.model_id,
            body: id_string(model.header.model_id),
        });
    }
    // `model show` and `deploy`'s report read the header; the kernel runs the body. They must
    // say the same (an edited header would show a threshold or a size the kernel never uses).
    let body = ModelMeta::describe(&model, serde_json::Value::Null);
    let feature_ids = |m: &ModelMeta| m.features.iter().map(|f| f.id).collect::<Vec<_>>();
    for (field, header, body) in [
        ("kind", meta.kind.clone(), body.kind.clone()),
        (
            "node_count",
            meta.node_count.to_string(),
            body.node_count.to_string(),
        ),
        (
            "tree_count",
            meta.tree_count.to_string(),
            body.tree_count.to_string(),
        ),
        (
            "threshold",
            meta.threshold.to_string(),
            body.threshold.to_string(),
        ),
        (
            "features",
            format!("{:?}", feature_ids(&meta)),
            format!("{:?}", feature_ids(&body)),
        ),
    ] {
        if header != body {
            return Err(FormatError::HeaderMismatch { field, header, body });
        }
    }
    // The kernel tells models apart by this id (the code engine picks a model's code by it),
    // so two different models must never share one.
    let content = super::build::content_id(&model);
    if content != model.header.model_id {
        return Err(FormatError::ContentMismatch {
            body: id_string(model.header.model_id),
            content: id_string(content),
        });
    }
    Ok(ModelFile { meta, model })
}

/// The provenance key under which training records its rows' per-feature quantiles.
pub const TRAINING_QUANTILES_KEY: &str = "training_quantiles";

impl ModelMeta {
    /// The training rows' quantiles (`provenance.training_quantiles`): None for files written
    /// before they were recorded (they still load; `workbench skew` then says it cannot
    /// compare), an error naming the key when present but unreadable.
    pub fn training_quantiles(&self) -> Result<Option<super::distribution::TrainingQuantiles>> {
        match self.provenance.get(TRAINING_QUANTILES_KEY) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => {
                serde_json::from_value(v.clone())
                    .map(Some)
                    .map_err(|fault| ModelFileError::Provenance {
                        key: TRAINING_QUANTILES_KEY,
                        fault,
                    })
            }
        }
    }
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
