//! The README's honest path as the tests run it: its `sh` blocks, and one line run with `sh` in a
//! folder with the test's `workbench` first on PATH (tests/cli/readme_path.rs runs the first
//! block, tests/kernel/readme_path.rs both).

use std::path::Path;
use std::process::Command;

/// The `sh` blocks of README.md, in order.
pub fn readme_blocks() -> Vec<Vec<String>> {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&readme).expect("README.md");
    let start = text
        .find("An honest path from the shipped samples to the kernel")
        .expect("the README's honest path");
    let mut blocks = Vec::new();
    let mut rest = &text[start..];
    while let Some(open) = rest.find("```sh\n") {
        let body = &rest[open + 6..];
        let close = body.find("```").expect("closed block");
        blocks.push(
            body[..close]
                .lines()
                .map(str::to_string)
                .filter(|l| !l.trim().is_empty())
                .collect(),
        );
        rest = &body[close + 3..];
        if blocks.len() == 2 {
            break;
        }
    }
    blocks
}

/// Runs one README line with `sh` in `dir`, the test's binary first on PATH.
pub fn run_line(dir: &Path, line: &str) -> std::process::Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_workbench"))
        .parent()
        .expect("bin dir");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir(dir)
        .env("PATH", path)
        .env("XDG_CACHE_HOME", dir.join(".cache"))
        .output()
        .expect("sh runs")
}
