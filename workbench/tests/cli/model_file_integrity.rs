//! A model file whose header was edited after training, or that was cut or appended to, is
//! refused in one line that says which; a file written before the header checksum still loads
//! and reads as it did.

use std::path::{Path, PathBuf};

use crate::common::{repo, workbench, workbench_json, TempDir};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A tree trained on the honest sample's capture: real metrics, sources and decision points.
fn trained(dir: &Path) -> PathBuf {
    let model = dir.join("honest.ebml");
    workbench_json(&[
        "train",
        s(&repo("sample-pcaps/honest.pcap")),
        "--labels",
        s(&repo("sample-pcaps/labels-honest.csv")),
        "--model",
        "tree",
        "--no-cache",
        "-o",
        s(&model),
        "--json",
    ]);
    model
}

/// The file with its JSON header passed through `edit` (the length fixed up), as a text
/// editor would leave it.
fn with_header(bytes: &[u8], edit: impl Fn(&str) -> String) -> Vec<u8> {
    let end = 12 + u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    let json = edit(std::str::from_utf8(&bytes[12..end]).expect("utf-8 header"));
    let mut out = bytes[..8].to_vec();
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(&bytes[end..]);
    out
}

/// An edit of the header's text.
type Edit = fn(&str) -> String;

/// `text` with the value after `"key": ` (up to the next `,` or line end) replaced by `value`.
fn set(text: &str, key: &str, value: &str) -> String {
    let at = text
        .find(&format!("\"{key}\": "))
        .unwrap_or_else(|| panic!("{key} in the header: {text}"))
        + key.len()
        + 4;
    let end = at + text[at..].find([',', '\n']).expect("the value ends");
    format!("{}{value}{}", &text[..at], &text[end..])
}

/// The one `error:` line of a failing `model show`.
fn show_error(path: &Path) -> String {
    let out = workbench(&["model", "show", s(path)]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{}: {stderr}", path.display());
    assert!(
        out.stdout.is_empty(),
        "nothing shown: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    stderr
}

fn show(path: &Path) -> String {
    let out = workbench(&["model", "show", s(path)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn edited_header_figures_are_refused_and_an_old_file_still_reads_as_before() {
    let dir = TempDir::new("model-integrity");
    let model = trained(dir.path());
    let bytes = std::fs::read(&model).expect("read");
    let shown = show(&model);
    let capture = repo("sample-pcaps/honest.pcap");
    assert!(
        shown.contains("F1 ") && shown.contains("decision points: "),
        "{shown}"
    );

    let edits: [(&str, Edit); 3] = [
        ("f1", |t| {
            let t = set(t, "precision", "0.999");
            let t = set(&t, "recall", "0.999");
            set(&t, "f1", "0.999")
        }),
        ("decision-points", |t| {
            set(&set(t, "decide_first", "1"), "decide_every", "1000")
        }),
        ("source", |t| {
            t.replacen("sample-pcaps/honest.pcap", "sample-pcaps/audited.pcap", 1)
        }),
    ];
    for (name, edit) in &edits {
        let path = dir.path().join(format!("{name}.ebml"));
        std::fs::write(&path, with_header(&bytes, *edit)).expect("write");
        let line = show_error(&path);
        assert!(
            line.starts_with(&format!(
                "error: {}: the JSON header was changed after the model was written",
                path.display()
            )) && line.contains("train the model again")
                && line.contains("copy it again from the file training wrote"),
            "{name}: {line}"
        );
        // Every reader refuses it, not only `model show`.
        let out = workbench(&["eval", s(&path), s(&capture)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("the JSON header was changed"),
            "{name}: eval: {stderr}"
        );
    }

    // A file written before the header checksum: the same JSON without its last key. It loads
    // and `model show` says what it said.
    let old = dir.path().join("old.ebml");
    std::fs::write(
        &old,
        with_header(&bytes, |t| {
            let key = t.rfind(",\n  \"header_checksum\": ").expect("the last key");
            format!("{}\n}}", &t[..key])
        }),
    )
    .expect("write");
    assert_eq!(show(&old), shown);
    let out = workbench(&["eval", s(&old), s(&capture)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_byte_appended_or_a_file_cut_to_five_bytes_is_named_for_what_it_is() {
    let dir = TempDir::new("model-cut");
    let model = crate::common::save_model(
        dir.path(),
        "m.ebml",
        &workbench_flow::model::build::syn_count_tree(3).expect("tree"),
    );
    let bytes = std::fs::read(&model).expect("read");

    let appended = dir.path().join("appended.ebml");
    let mut more = bytes.clone();
    more.push(b'\n');
    std::fs::write(&appended, &more).expect("write");
    let line = show_error(&appended);
    assert!(
        line.contains("model has 1 byte more than its layout")
            && line.contains("(the file was appended to or is not one model)")
            && !line.contains("truncated"),
        "{line}"
    );

    let cut = dir.path().join("cut.ebml");
    std::fs::write(&cut, &bytes[..5]).expect("write");
    let line = show_error(&cut);
    assert!(
        line.starts_with(&format!(
            "error: {}: a truncated model file: 5 bytes",
            cut.display()
        )) && !line.contains("text file"),
        "{line}"
    );
}
