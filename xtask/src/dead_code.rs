//! `cargo xtask dead-code`: the public modules of the library crates (workbench/crates/*) that no
//! other crate, the binary, the tests, the benchmarks or xtask names. rustc reports dead code only behind private
//! items, so a `pub mod` that nothing outside uses hides its dead functions: each module listed
//! here should be private (`mod` or `pub(crate) mod`), after which the compiler reports what in it
//! is unused. `cargo xtask test` runs it with `--deny`, so a new module is public only when
//! something outside its crate uses it.
//!
//! A reference counts when an outside file that names the crate contains the module's full path
//! (`workbench_data::dataset::cache`), its last two segments (`dataset::cache`, after a `use` of
//! the parent), or the module's name inside a `use workbench_data::...::{...}` list. Text search,
//! not name resolution: it can miss nothing that is used, and a false "used" only keeps a module
//! public.

use std::path::{Path, PathBuf};

const CRATES: [&str; 6] = ["fit", "flow", "data", "kernel", "tui", "bench"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a source file inside its crate's `src` (`dataset/mod.rs` -> `dataset`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("lib" | "mod")) {
        parts.pop();
    }
    parts
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether `needle` occurs in `text` as a whole path (not inside a longer identifier).
fn contains_path(text: &str, needle: &str) -> bool {
    text.match_indices(needle).any(|(i, _)| {
        let before = text[..i].bytes().next_back();
        let after = text[i + needle.len()..].bytes().next();
        !before.is_some_and(is_ident_byte) && !after.is_some_and(is_ident_byte)
    })
}

/// Whether `name` appears inside a `{...}` list that follows `krate::`.
fn in_use_list(text: &str, krate: &str, name: &str) -> bool {
    text.match_indices(&format!("{krate}::")).any(|(i, _)| {
        let rest = &text[i..];
        let Some(open) = rest.find('{') else {
            return false;
        };
        // The list must follow the path directly (`krate::a::b::{`), not a later brace.
        if rest[..open].bytes().any(|b| !(is_ident_byte(b) || b == b':')) {
            return false;
        }
        let mut depth = 0usize;
        for (j, b) in rest[open..].bytes().enumerate() {
            match b {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return contains_path(&rest[open..open + j], name);
                    }
                }
                _ => {}
            }
        }
        false
    })
}

/// Every public module nothing outside its crate names, as `crate::path (file)`.
pub fn unused_public_modules(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for krate in CRATES {
        let name = format!("workbench_{krate}");
        let mut outside = Vec::new();
        for dir in ["workbench/src", "workbench/tests", "xtask/src"] {
            rust_files(&root.join(dir), &mut outside);
        }
        for other in CRATES {
            if other != krate {
                rust_files(&root.join(format!("workbench/crates/{other}/src")), &mut outside);
            }
            // Benchmarks and integration tests use a crate from outside, as any other crate.
            for dir in ["benches", "tests"] {
                rust_files(
                    &root.join(format!("workbench/crates/{other}/{dir}")),
                    &mut outside,
                );
            }
        }
        let texts: Vec<String> = outside
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .filter(|t| t.contains(&name))
            .collect();
        let src = root.join(format!("workbench/crates/{krate}/src"));
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        files.sort();
        for file in files {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            for line in text.lines() {
                let Some(module) = line.strip_prefix("pub mod ").and_then(|l| l.strip_suffix(';')) else {
                    continue;
                };
                let mut path = module_of(&src, &file);
                path.push(module.to_string());
                let full = format!("{name}::{}", path.join("::"));
                let tail = (path.len() > 1).then(|| path[path.len() - 2..].join("::"));
                let used = texts.iter().any(|t| {
                    contains_path(t, &full)
                        || tail.as_deref().is_some_and(|tail| contains_path(t, tail))
                        || in_use_list(t, &name, module)
                });
                if !used {
                    let shown = file.strip_prefix(root).unwrap_or(&file).display().to_string();
                    found.push(format!("{full} ({shown})"));
                }
            }
        }
    }
    found
}

pub fn run(root: &Path, rest: &[String]) -> Result<(), String> {
    let deny = rest.iter().any(|a| a == "--deny");
    let unused = unused_public_modules(root);
    for m in &unused {
        println!("{m}");
    }
    eprintln!(
        "xtask dead-code: {} public module(s) no other crate names{}",
        unused.len(),
        if unused.is_empty() {
            ""
        } else {
            ": make them private so rustc reports their dead code"
        }
    );
    if deny && !unused.is_empty() {
        return Err(format!("{} public module(s) should be private", unused.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_whole_identifiers_only() {
        assert!(contains_path(
            "use workbench_data::dataset::cache;",
            "dataset::cache"
        ));
        assert!(!contains_path(
            "use workbench_data::dataset::cache_dir;",
            "dataset::cache"
        ));
        assert!(!contains_path("my_dataset::cache", "dataset::cache"));
    }

    #[test]
    fn use_lists_count_their_members() {
        let text = "use workbench_kernel::{events::EventReader, flows};\nfn f() {}";
        assert!(in_use_list(text, "workbench_kernel", "flows"));
        assert!(in_use_list(text, "workbench_kernel", "events"));
        assert!(!in_use_list(text, "workbench_kernel", "ring"));
        // A brace later in the file is not a use list.
        assert!(!in_use_list(
            "workbench_kernel::x; fn ring() {}",
            "workbench_kernel",
            "ring"
        ));
    }
}
