//! docs/EVALUATION.md holds what `workbench eval-table` produces: the models are retrained and
//! rescored from the committed samples and the shared real data (all seeded, single-threaded:
//! the same inputs give the same table byte for byte), and `--check` compares the result with the
//! document's generated region.

use std::path::Path;

use crate::common::report;

#[test]
fn the_committed_evaluation_table_is_what_the_command_produces() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_workbench"))
        .current_dir(&root)
        .args(["eval-table", "--md", "docs/EVALUATION.md", "--check"])
        .output()
        .expect("the workbench binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "docs/EVALUATION.md is not what `workbench eval-table` produces:\n{stderr}"
    );
    assert!(stderr.contains("is current"), "{stderr}");
    report("eval table: docs/EVALUATION.md is what `workbench eval-table` produces");
}
