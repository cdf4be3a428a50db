//! `deploy` to an interface without the probe says what is actually wrong: the interface does
//! not exist at all, or it lives in a lab namespace and the attach needs `--netns NS`.

use crate::common::{lab_id, require_kernel, save_model, workbench, LabCleanup, TempDir};
use workbench_flow::model::build;

fn error_line(args: &[&str]) -> String {
    let out = workbench(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "workbench {}: {stderr}",
        args.join(" ")
    );
    stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line: {stderr}"))
        .to_string()
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn deploy_without_a_probe_names_a_missing_interface_or_its_lab_namespace() {
    require_kernel("deploy_without_a_probe_names_a_missing_interface_or_its_lab_namespace");
    let dir = TempDir::new("not-attached");
    let model = save_model(dir.path(), "m.ebml", &build::syn_count_tree(3).expect("tree"));
    let m = model.to_str().expect("utf-8");

    let line = error_line(&["deploy", m, "--iface", "nosuch0"]);
    assert!(
        line.contains(
            "the probe is not attached to nosuch0; no interface nosuch0 exists in this network namespace"
        ),
        "{line}"
    );
    assert!(
        !line.contains("run `workbench probe attach --iface nosuch0`"),
        "{line}"
    );

    let lab = LabCleanup::new(&lab_id("na"));
    let up = workbench(&["lab", "up", "--id", lab.id()]);
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    let iface = lab.probe_iface();
    let ns = lab.netns();
    let line = error_line(&["deploy", m, "--iface", &iface]);
    assert!(
        line.contains(&format!("{iface} is in network namespace {ns}"))
            && line.contains(&format!("`workbench probe attach --iface {iface} --netns {ns}`")),
        "{line}"
    );
}
