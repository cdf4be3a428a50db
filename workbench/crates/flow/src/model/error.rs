//! The errors of the model code, typed so that callers (the CLI, the TUI, the kernel crate's
//! installation) can tell a missing file from a damaged one and a model the probe cannot hold
//! from a bad float model. Each message is the line the user reads; a wrapped cause stays the
//! `#[source]`, so the one-line chain (`{:#}`) reads "context: cause" as before.

use crate::errors::write_with_causes as with_causes;
use std::path::PathBuf;

use shared::features::FEATURE_COUNT;
use shared::model::codec::ModelError;
use shared::model::{MAX_NODES, MAX_TREES, SCORE_ONE};

/// Building or compiling a model into the probe's integer layout (`build`, `quantize`).
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("a tree needs 1 to {MAX_NODES} nodes, got {nodes}")]
    TreeSize { nodes: usize },
    #[error("node {node}: feature {feature} or children {left}/{right} out of range")]
    NodeOutOfRange {
        node: usize,
        feature: usize,
        left: usize,
        right: usize,
    },
    #[error("the feature table has no syn_count")]
    NoSynCount,
    #[error("min_syns must be at least 1 (a flow has seen no SYN before its first packet)")]
    ZeroMinSyns,
    #[error("a forest needs 1 to {MAX_TREES} trees, got {trees}")]
    ForestSize { trees: usize },
    #[error("logistic term for feature {feature}, but only {FEATURE_COUNT} exist")]
    NoSuchFeature { feature: usize },
    /// `seal` re-reads what it encoded; the shared codec refused it.
    #[error("model is invalid: {0}")]
    Invalid(ModelError),
    #[error("leaf {node} has probability {p}; expected a number in [0, 1]")]
    LeafProbability { node: usize, p: f64 },
    #[error("decision threshold {0} is not a number")]
    Threshold(f64),
    #[error("the tree has no nodes")]
    EmptyTree,
    #[error(
        "the trained tree has {nodes} nodes, over the probe's limit of {MAX_NODES}: train a shallower \
         tree (lower --max-depth)"
    )]
    TooManyNodes { nodes: usize },
    #[error("a split points to node {node}, but the tree has {nodes} nodes")]
    DanglingSplit { node: usize, nodes: usize },
    #[error("node {node} is reached twice: the tree has a cycle or a shared subtree")]
    ReachedTwice { node: usize },
    #[error("node {node} splits feature {feature} at NaN")]
    NanSplit { node: usize, feature: usize },
    #[error(
        "leaves on both sides of the decision threshold round to the same fixed-point score \
         ({highest_benign} vs {lowest_malicious} of {SCORE_ONE}); move the threshold"
    )]
    ThresholdCollision {
        highest_benign: i64,
        lowest_malicious: i64,
    },
    #[error("the intercept is {0}; expected a finite number")]
    Intercept(f64),
    #[error("feature {feature} ({name}) has weight {weight}; expected a finite number")]
    Weight {
        feature: usize,
        name: &'static str,
        weight: f64,
    },
    #[error("feature {feature} has unknown transform {transform}")]
    Transform { feature: usize, transform: u8 },
    #[error("feature {feature} weight {weight} is too large for the probe's 32-bit fixed point")]
    WeightTooLarge { feature: usize, weight: f64 },
}

/// What is wrong with the bytes of a model file (`file::parse`); the file's name is added by
/// [`ModelFileError::Invalid`].
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// `instead` says what the file is and which command makes a model of it.
    #[error("not a workbench model file (expected the magic bytes EBMLMDL1 at offset 0){instead}")]
    NotModelFile { instead: &'static str },
    /// The file is the start of a model file: its bytes match the magic as far as they go.
    #[error(
        "a truncated model file: {file_bytes} bytes, fewer than the 12 before its JSON header (the magic EBMLMDL1 and the header's length); the file was cut short or damaged: copy it again from the original or train the model again"
    )]
    CutShort { file_bytes: usize },
    #[error(
        "header length {json_len} runs past the end of the file ({file_bytes} bytes): a truncated or damaged model file; copy it again from the original or train the model again"
    )]
    HeaderPastEnd { json_len: usize, file_bytes: usize },
    /// The header's own checksum does not match its bytes (`detail` says how).
    #[error(
        "the JSON header was changed after the model was written ({detail}): its metrics, provenance and decision points may not be the ones training recorded; train the model again (`workbench train ... -o MODEL`) or copy it again from the file training wrote"
    )]
    HeaderChanged { detail: String },
    #[error("JSON header at byte 12: {0}")]
    HeaderJson(serde_json::Error),
    #[error("model file format {found} is not supported (this build reads {expected})")]
    Version { found: u32, expected: u32 },
    #[error(
        "model {model_id} is not deployable: {why} (deploy, verify, eval, skew and export run the probe's integer model on kernel features: train with `--features kernel`; this model's test scores are in `workbench model show`)"
    )]
    NotDeployable { model_id: String, why: String },
    #[error("model body at byte {at}: {fault}")]
    Body { at: usize, fault: ModelError },
    #[error("JSON header names model {header} but the body is model {body}")]
    IdMismatch { header: String, body: String },
    #[error("the JSON header says {field} {header} but the model's body has {body} (an edited file? `workbench train` writes models whole)")]
    HeaderMismatch {
        field: &'static str,
        header: String,
        body: String,
    },
    #[error("the body names model {body} but its content is model {content} (an edited file? `workbench train` writes models whole)")]
    ContentMismatch { body: String, content: String },
}

/// Reading or writing a model file.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    #[error(fmt = read_fmt)]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(fmt = write_fmt)]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file was read but its bytes are not a model the kernel can run. The file's name
    /// leads the fault's own sentence (one message, as every reader of files here words it),
    /// so even `{}` names both.
    #[error("{}: {fault}", path.display())]
    Invalid { path: PathBuf, fault: FormatError },
    #[error("encoding the model file's JSON header")]
    EncodeHeader(#[source] serde_json::Error),
    #[error("internal: a not-deployable model file needs the reason")]
    NoReason,
    /// The provenance key is there but does not hold what it should.
    #[error("provenance.{key}: {fault}")]
    Provenance {
        key: &'static str,
        fault: serde_json::Error,
    },
}

impl ModelFileError {
    /// The fault in the file's bytes, when the file was read but is not a model.
    pub fn format(&self) -> Option<&FormatError> {
        match self {
            ModelFileError::Invalid { fault, .. } => Some(fault),
            _ => None,
        }
    }
}

/// Writing the C export of a model (`export_c::write`).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(fmt = create_dir_fmt)]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(fmt = export_write_fmt)]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The names of the export would not be C identifiers (or reserved ones).
    #[error(
        "--prefix {prefix:?} {why}: a prefix is lower-case ASCII letters, digits and `_`, starting with a \
         letter, at most 18 characters (e.g. `ids_v2`); it begins every function, macro (upper-cased) \
         and file name of the export"
    )]
    Prefix { prefix: String, why: String },
    /// An output file holds another model's export (`found`, None: no export at all); writing
    /// would lose it without a word.
    #[error(fmt = other_model_fmt)]
    OtherModel {
        path: PathBuf,
        found: Option<String>,
        model: String,
    },
}

type Fmt<'a, 'b> = &'a mut std::fmt::Formatter<'b>;

fn read_fmt(path: &std::path::Path, source: &std::io::Error, f: Fmt) -> std::fmt::Result {
    with_causes(&format!("reading model file {}", path.display()), source, f)
}

fn write_fmt(path: &std::path::Path, source: &std::io::Error, f: Fmt) -> std::fmt::Result {
    with_causes(&format!("writing model file {}", path.display()), source, f)
}

fn create_dir_fmt(path: &std::path::Path, source: &std::io::Error, f: Fmt) -> std::fmt::Result {
    with_causes(&format!("creating {}", path.display()), source, f)
}

fn export_write_fmt(path: &std::path::Path, source: &std::io::Error, f: Fmt) -> std::fmt::Result {
    with_causes(&format!("writing {}", path.display()), source, f)
}

fn other_model_fmt(path: &std::path::Path, found: &Option<String>, model: &str, f: Fmt) -> std::fmt::Result {
    let held = match found {
        Some(id) => format!("holds the C export of model {id}, not of model {model}"),
        None => "exists and is not a C export of a workbench model".into(),
    };
    write!(
        f,
        "{} {held}: export with another --prefix to keep both (e.g. --prefix m_{model}), or with \
         --force to overwrite it",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    use crate::errors::line as chain;

    #[test]
    fn a_missing_model_file_is_a_read_error_whose_source_is_not_found() {
        let path = std::env::temp_dir().join(format!("no-such-model-{}.ebml", std::process::id()));
        let e = crate::model::file::read(&path).expect_err("the file does not exist");
        let ModelFileError::Read { path: named, source } = &e else {
            panic!("expected ModelFileError::Read, got {e:?}");
        };
        assert_eq!(named, &path);
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        let io = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(io.map(std::io::Error::kind), Some(std::io::ErrorKind::NotFound));
        let line = chain(&e);
        assert!(
            line.starts_with(&format!("reading model file {}: ", path.display()))
                && line.contains("No such file"),
            "{line}"
        );
        // `{}` is the context alone (as eyre's `wrap_err` was); `{:#}` the whole chain, as the
        // report the binary prints.
        assert_eq!(e.to_string(), format!("reading model file {}", path.display()));
        assert_eq!(format!("{e:#}"), line);
    }

    #[test]
    fn a_damaged_header_names_the_file_then_the_json_fault() {
        let path = std::env::temp_dir().join(format!("bad-header-model-{}.ebml", std::process::id()));
        let mut bytes = crate::model::file::FILE_MAGIC.to_vec();
        bytes.extend_from_slice(&3u32.to_le_bytes());
        bytes.extend_from_slice(b"{x}");
        std::fs::write(&path, &bytes).expect("scratch file");
        let e = crate::model::file::read(&path).expect_err("the header is not JSON");
        std::fs::remove_file(&path).expect("scratch file removed");
        assert!(
            matches!(e.format(), Some(FormatError::HeaderJson(_))),
            "expected FormatError::HeaderJson, got {e:?}"
        );
        // One message: `{}` alone names the file and the fault, as before the errors were typed.
        assert!(e.source().is_none(), "{e:?}");
        let line = e.to_string();
        assert!(
            line.starts_with(&format!(
                "{}: JSON header at byte 12: key must be a string",
                path.display()
            )),
            "{line}"
        );
    }

    #[test]
    fn a_tree_over_the_probe_limit_is_refused_with_its_size() {
        let tree = crate::model::quantize::FloatTree {
            nodes: vec![crate::model::quantize::FloatNode::Leaf { p_malicious: 0.0 }; MAX_NODES + 1],
        };
        let e = crate::model::quantize::compile_tree(&tree, 0.5).expect_err("too many nodes");
        assert!(
            matches!(e, CompileError::TooManyNodes { nodes } if nodes == MAX_NODES + 1),
            "{e:?}"
        );
        assert!(e.to_string().contains("lower --max-depth"), "{e}");
    }
}
