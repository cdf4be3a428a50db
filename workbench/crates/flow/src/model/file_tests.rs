//! The model file's own integrity: the header checksum (written by every writer, checked by
//! every reader, absent from older files, which still load), and the words for a file cut short
//! or with bytes appended.

use std::path::{Path, PathBuf};

use shared::model::codec::{fnv1a, ModelError, FNV_OFFSET};

use super::*;
use crate::model::dataset_model::{DatasetFloatModel, DatasetInput, DatasetNode, Encoding};

/// A scratch directory for one test (removed on drop).
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("wb-file-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn provenance() -> serde_json::Value {
    serde_json::json!({
        "sources": ["flows.csv"],
        "rows": 1000,
        "metrics": { "precision": 0.5, "recall": 0.25, "f1": 0.333 },
        "decision_points": { "decide_first": 1, "decide_every": 4 },
    })
}

fn written(dir: &Scratch, name: &str) -> (PathBuf, Vec<u8>) {
    let path = dir.path(name);
    let model = crate::model::build::syn_count_tree(3).expect("tree");
    write(&path, &model, provenance()).expect("write");
    let bytes = std::fs::read(&path).expect("read back");
    (path, bytes)
}

fn json_len(bytes: &[u8]) -> usize {
    u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
}

/// The file with `from` replaced by `to` in its JSON header (the length fixed up), as a text
/// editor would leave it.
fn edited(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let end = 12 + json_len(bytes);
    let json = std::str::from_utf8(&bytes[12..end]).expect("utf-8 header");
    assert!(json.contains(from), "{from} is in the header: {json}");
    let json = json.replacen(from, to, 1);
    let mut out = FILE_MAGIC.to_vec();
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(&bytes[end..]);
    out
}

fn refused(path: &Path, bytes: &[u8]) -> Vec<ModelFileError> {
    std::fs::write(path, bytes).expect("write");
    vec![
        read(path).expect_err("read refuses it"),
        read_meta(path).expect_err("model show refuses it"),
    ]
}

#[test]
fn the_header_checksum_is_the_last_key_over_magic_length_and_json() {
    let dir = Scratch::new("format");
    let (path, bytes) = written(&dir, "m.ebml");
    let end = 12 + json_len(&bytes);
    let json = std::str::from_utf8(&bytes[12..end]).expect("utf-8");
    let key = "\"header_checksum\": \"fnv1a32:";
    let at = 12 + json.rfind(key).expect("the key") + key.len();
    assert_eq!(&bytes[at + 8..end], b"\"\n}", "the last key of the header");
    // The documented sum, computed here on its own.
    let mut zeroed = bytes[..end].to_vec();
    zeroed[at..at + 8].copy_from_slice(b"00000000");
    let sum = format!("{:08x}", fnv1a(FNV_OFFSET, &zeroed));
    assert_eq!(&bytes[at..at + 8], sum.as_bytes());
    // It is not part of what the header describes: `model show --json` has no such field.
    let meta = read(&path).expect("a sealed file loads").meta;
    assert_eq!(meta.provenance, provenance());
    let shown = serde_json::to_value(&meta).expect("json");
    assert!(shown.get("header_checksum").is_none(), "{shown}");
}

#[test]
fn an_edited_header_figure_or_string_is_refused_naming_the_file() {
    let dir = Scratch::new("edited");
    let (_, bytes) = written(&dir, "m.ebml");
    let cases = [
        ("f1", "\"f1\": 0.333", "\"f1\": 0.999"),
        ("precision", "\"precision\": 0.5", "\"precision\": 0.999"),
        ("decide_every", "\"decide_every\": 4", "\"decide_every\": 1000"),
        ("source", "\"flows.csv\"", "\"other.csv\""),
        // Same length, one letter: still caught.
        ("rows", "\"rows\": 1000", "\"rows\": 9000"),
    ];
    for (name, from, to) in cases {
        let path = dir.path(&format!("{name}.ebml"));
        for e in refused(&path, &edited(&bytes, from, to)) {
            assert!(
                matches!(e.format(), Some(FormatError::HeaderChanged { .. })),
                "{name}: {e:?}"
            );
            let line = e.to_string();
            assert!(
                line.starts_with(&format!(
                    "{}: the JSON header was changed after the model was written (its header_checksum is fnv1a32:",
                    path.display()
                )) && line.contains("train the model again")
                    && line.contains("copy it again from the file training wrote"),
                "{name}: {line}"
            );
        }
    }
    // A tool that rewrites the JSON (another layout, the key moved) changes the bytes too.
    let end = 12 + json_len(&bytes);
    let value: serde_json::Value = serde_json::from_slice(&bytes[12..end]).expect("json");
    let compact = serde_json::to_vec(&value).expect("json");
    let mut out = FILE_MAGIC.to_vec();
    out.extend_from_slice(&(compact.len() as u32).to_le_bytes());
    out.extend_from_slice(&compact);
    out.extend_from_slice(&bytes[end..]);
    for e in refused(&dir.path("reformatted.ebml"), &out) {
        assert!(e.to_string().contains("is not the fnv1a32:<8 hex digits>"), "{e}");
    }
    // The checksum itself edited.
    let sum_at = 12
        + std::str::from_utf8(&bytes[12..end])
            .expect("utf-8")
            .rfind("fnv1a32:")
            .expect("sum")
        + 8;
    let mut out = bytes.clone();
    out[sum_at] = if out[sum_at] == b'0' { b'1' } else { b'0' };
    for e in refused(&dir.path("sum.ebml"), &out) {
        assert!(
            matches!(e.format(), Some(FormatError::HeaderChanged { .. })),
            "{e:?}"
        );
    }
}

/// A file written before the header checksum: the same layout without the key.
fn old_format(path: &Path, meta: &ModelMeta, body: &[u8]) {
    let json = serde_json::to_vec_pretty(meta).expect("json");
    let mut out = FILE_MAGIC.to_vec();
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(body);
    std::fs::write(path, out).expect("write");
}

#[test]
fn a_file_written_before_the_header_checksum_still_loads() {
    let dir = Scratch::new("old");
    let (_, bytes) = written(&dir, "new.ebml");
    let model = crate::model::build::syn_count_tree(3).expect("tree");
    let meta = ModelMeta::describe(&model, provenance());
    let mut body = vec![0u8; codec::encoded_len(&model)];
    codec::encode(&model, &mut body);
    let old = dir.path("old.ebml");
    old_format(&old, &meta, &body);
    assert_eq!(read(&old).expect("an old file loads").meta, meta);
    assert_eq!(read_meta(&old).expect("model show reads it"), meta);
    // Its body is the new file's body: only the header differs.
    assert_eq!(&bytes[12 + json_len(&bytes)..], &body[..]);
    // Its header is guarded as before: by the body it must describe.
    let mut wrong = meta.clone();
    wrong.threshold += 1;
    old_format(&old, &wrong, &body);
    let e = read(&old).expect_err("header and body disagree");
    assert!(
        matches!(
            e.format(),
            Some(FormatError::HeaderMismatch {
                field: "threshold",
                ..
            })
        ),
        "{e:?}"
    );
}

#[test]
fn a_not_deployable_file_is_sealed_too() {
    let dir = Scratch::new("nd");
    let model = DatasetModel {
        inputs: vec![DatasetInput {
            name: "bytes".into(),
            column: "bytes".into(),
            encoding: Encoding::Number,
        }],
        model: DatasetFloatModel::Tree {
            nodes: vec![DatasetNode::Leaf { p_malicious: 0.25 }],
        },
        threshold: 0.5,
    };
    let meta = ModelMeta::not_deployable(model, "reads dataset columns".into(), provenance());
    let path = dir.path("nd.ebml");
    write_not_deployable(&path, &meta).expect("write");
    assert_eq!(read_meta(&path).expect("model show reads it"), meta);
    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(
        &path,
        edited(&bytes, "\"p_malicious\": 0.25", "\"p_malicious\": 0.75"),
    )
    .expect("write");
    let e = read_meta(&path).expect_err("an edited float model is refused");
    assert!(
        matches!(e.format(), Some(FormatError::HeaderChanged { .. })),
        "{e:?}"
    );
}

#[test]
fn a_byte_appended_is_named_as_trailing_not_as_a_cut() {
    let dir = Scratch::new("trailing");
    let (_, mut bytes) = written(&dir, "m.ebml");
    let body = bytes.len() - 12 - json_len(&bytes);
    bytes.push(b'\n');
    let path = dir.path("appended.ebml");
    for e in refused(&path, &bytes) {
        assert!(
            matches!(
                e.format(),
                Some(FormatError::Body {
                    fault: ModelError::TrailingBytes { .. },
                    ..
                })
            ),
            "{e:?}"
        );
        let line = e.to_string();
        assert!(
            line.contains(&format!(
                "model has 1 byte more than its layout: {} bytes, expected {body} (the file was appended to or is not one model)",
                body + 1
            )) && !line.contains("truncated"),
            "{line}"
        );
    }
}

#[test]
fn a_file_cut_inside_the_first_twelve_bytes_is_a_truncated_model() {
    let dir = Scratch::new("cut");
    let (_, bytes) = written(&dir, "m.ebml");
    for cut in [1, 5, 8, 11] {
        let path = dir.path(&format!("cut{cut}.ebml"));
        for e in refused(&path, &bytes[..cut]) {
            let line = e.to_string();
            assert!(
                line.starts_with(&format!(
                    "{}: a truncated model file: {cut} bytes, fewer than the 12 before its JSON header",
                    path.display()
                )) && !line.contains("text file"),
                "{cut}: {line}"
            );
        }
    }
    // Cut inside the JSON: the header runs past the end.
    let path = dir.path("cut40.ebml");
    for e in refused(&path, &bytes[..40]) {
        assert!(e.to_string().contains("a truncated or damaged model file"), "{e}");
    }
    // Text that is not the start of a model is still named as text.
    let path = dir.path("text.ebml");
    for e in refused(&path, b"EBMLX") {
        assert!(e.to_string().contains("it is a text file"), "{e}");
    }
}
