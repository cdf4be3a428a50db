//! Issue 20 item 8: the README's honest path into the kernel, run line by line from a temporary
//! folder: the first block (samples, features, train) as written, the second (verify, lab,
//! attach, deploy, replay, flows, detach) with the lab id `try` replaced by one unique to this
//! test. The lab and the probe are removed also when a line fails.

use crate::common::readme::{readme_blocks, run_line};

/// Detaches the probe and removes the lab when dropped.
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
    let _guard = crate::common::LabCleanup::new(&id);
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
