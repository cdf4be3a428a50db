//! The kernel tests run two at a time in one process, and each names its lab (namespace, veth
//! pair, pin directory) by a tag and the process id: two tests with one tag collide ("Cannot
//! create namespace file ... File exists", or one test's `lab down` removing the other's lab),
//! and fail only when the harness happens to run them together. This has happened three times;
//! the tags are checked here, where the mistake is made, instead.

use std::collections::BTreeMap;
use std::path::Path;

/// The tags in `text`: `lab_id("X")`, `TestLab::new("X")` (both add the process id) and
/// `format!("X{}", std::process::id()...)`.
fn tags(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for opener in ["lab_id(\"", "TestLab::new(\"", "format!(\""] {
        for (at, _) in text.match_indices(opener) {
            let rest = &text[at + opener.len()..];
            let Some(end) = rest.find('"') else { continue };
            let literal = &rest[..end];
            let tail = &rest[end..];
            if opener == "format!(\"" {
                // Only a lab name: letters then the pid.
                let Some(tag) = literal.strip_suffix("{}") else {
                    continue;
                };
                if !tail.starts_with("\", std::process::id()") || !tag.chars().all(|c| c.is_ascii_lowercase())
                {
                    continue;
                }
                out.push(tag.to_string());
            } else {
                out.push(literal.to_string());
            }
        }
    }
    out
}

#[test]
fn every_kernel_test_lab_has_a_tag_of_its_own() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kernel");
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/kernel") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).expect("readable");
        let name = path.file_name().expect("name").to_string_lossy().into_owned();
        for tag in tags(&text) {
            seen.entry(tag).or_default().push(name.clone());
        }
    }
    assert!(files > 30, "found the kernel tests ({files} files)");
    assert!(seen.len() > 30, "found their lab tags ({} tags)", seen.len());
    let shared: Vec<String> = seen
        .iter()
        .filter(|(_, files)| files.len() > 1)
        .map(|(tag, files)| format!("{tag:?} in {}", files.join(", ")))
        .collect();
    assert!(
        shared.is_empty(),
        "lab tags used more than once: {}",
        shared.join("; ")
    );
}

#[test]
fn the_tag_scanner_finds_each_form_and_ignores_other_formats() {
    let text = r#"
        let a = crate::common::lab_id("ab");
        let b = TestLab::new("cd");
        let c = format!("ef{}", std::process::id() % 100_000);
        let d = format!("{}x", name);
        let e = format!("gh{}", other);
    "#;
    assert_eq!(tags(text), ["ab", "cd", "ef"]);
}
