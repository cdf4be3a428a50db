//! Issue 20 item 8: the README's honest path, the first block (no privileges) run line by line
//! as it stands, from a temporary folder, with the test's `workbench` on PATH; each line must
//! succeed and leave what the next one reads. The kernel block runs in
//! tests/kernel/readme_path.rs.

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

#[test]
fn the_readme_honest_path_runs_as_written() {
    let blocks = readme_blocks();
    assert_eq!(blocks.len(), 2, "two sh blocks in the honest path: {blocks:?}");
    let tmp = tempfile::tempdir().expect("tempdir");
    for line in &blocks[0] {
        assert!(
            line.starts_with("workbench "),
            "a README line that is not a workbench command: {line}"
        );
        let out = run_line(tmp.path(), line);
        assert!(
            out.status.success(),
            "README line failed: {line}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty(), "README line printed nothing: {line}");
    }
    for made in [
        "samples/honest.pcap",
        "samples/labels-honest.csv",
        "honest.parquet",
        "tree.ebml",
    ] {
        assert!(tmp.path().join(made).is_file(), "{made} not written");
    }
    // The kernel block deploys only after attaching a probe to the interface it deploys to.
    let kernel = &blocks[1];
    let attach = kernel
        .iter()
        .position(|l| l.contains("probe attach"))
        .expect("probe attach");
    let deploy = kernel
        .iter()
        .position(|l| l.contains(" deploy "))
        .expect("deploy");
    assert!(attach < deploy, "{kernel:?}");
}
