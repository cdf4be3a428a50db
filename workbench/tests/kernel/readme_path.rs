//! Issue 20 item 8: the README's honest path into the kernel, run line by line from a temporary
//! folder: the first block (samples, features, train) as written, the second (verify, lab,
//! attach, deploy, replay, flows, detach) with the lab id `try` replaced by one unique to this
//! test. The lab and the probe are removed also when a line fails.

use std::path::Path;
use std::process::Command;

/// The README's two `sh` blocks of the honest path.
fn readme_blocks() -> Vec<Vec<String>> {
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

fn run_line(dir: &Path, line: &str) -> std::process::Output {
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

/// Detaches the probe and removes the lab when dropped.
struct LabGuard(String);

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = workbench_kernel::probe::detach(&format!("ebml-{}b", self.0));
        let _ = crate::common::workbench(&["lab", "down", "--id", &self.0]);
    }
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn the_readme_honest_path_reaches_the_kernel() {
    crate::common::require_kernel("the_readme_honest_path_reaches_the_kernel");
    let blocks = readme_blocks();
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    let tmp = crate::common::TempDir::new("readme-path");
    let id = crate::common::lab_id("rd");
    let _guard = LabGuard(id.clone());
    let lines = blocks[0].iter().cloned().chain(blocks[1].iter().map(|l| {
        l.replace("ebml-try", &format!("ebml-{id}"))
            .replace("--id try", &format!("--id {id}"))
    }));
    let mut flows = String::new();
    for line in lines {
        let out = run_line(tmp.path(), &line);
        assert!(
            out.status.success(),
            "README line failed: {line}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if line.contains("probe flows") {
            flows = String::from_utf8_lossy(&out.stdout).to_string();
        }
    }
    // The deployed tree decided on the replayed flows, scores on the P(malicious) scale.
    let decided = flows
        .lines()
        .filter(|l| l.contains(" malicious ") || l.contains(" benign "))
        .count();
    assert!(decided > 100, "{flows}");
    assert!(flows.lines().any(|l| l.contains(" malicious ")), "{flows}");
}
