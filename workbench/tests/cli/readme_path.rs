//! Issue 20 item 8: the README's honest path, the first block (no privileges) run line by line
//! as it stands, from a temporary folder, with the test's `workbench` on PATH; each line must
//! succeed and leave what the next one reads. The kernel block runs in
//! tests/kernel/readme_path.rs; both read the README through `common::readme`.

use crate::common::readme::{readme_blocks, run_line};

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
