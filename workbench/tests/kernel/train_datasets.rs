//! A model trained on UNSW-NB15's mapped columns runs in the kernel like any kernel-feature
//! model: `deploy` installs it into a probe and `verify` finds kernel and userspace identical on
//! a capture; a model on the dataset's own columns is refused by `deploy` and `verify` in one
//! line with the reason, before anything reaches the kernel (issue 16).

use std::path::Path;

use crate::common::{report, shared_data, stdout_json, workbench, workbench_json, DetachOnDrop, TempDir};
use workbench_kernel::lab::Lab;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn train(features: &str, out: &Path) -> serde_json::Value {
    workbench_json(&[
        "train",
        s(&shared_data("unsw-nb15/unsw-nb15-1-raw-head3400.csv")),
        "--model",
        "tree",
        "--features",
        features,
        "--no-cache",
        "-o",
        s(out),
        "--json",
    ])
}

/// One stderr line naming the model and why it is not deployable.
fn refusal(out: &std::process::Output, what: &str) -> String {
    assert!(!out.status.success(), "{what} accepted a dataset-feature model");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "{what}: one line: {err}");
    assert!(
        err.contains("is not deployable") && err.contains("does not compute"),
        "{what}: {err}"
    );
    err
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn a_unsw_nb15_kernel_model_deploys_and_verifies_a_dataset_model_is_refused() {
    crate::common::require_kernel("a_unsw_nb15_kernel_model_deploys_and_verifies_a_dataset_model_is_refused");
    let dir = TempDir::new("unsw");
    let kernel_model = dir.path().join("unsw-kernel.ebml");
    let k = train("kernel", &kernel_model);
    let dataset_model = dir.path().join("unsw-dataset.ebml");
    train("dataset", &dataset_model);

    let pid = std::process::id();
    let lab = Lab::create(&format!("u{}", pid % 100_000), (pid % 200) as u8 + 5).expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.as_str();
    workbench_json(&["probe", "attach", "--iface", h, "--json"]);
    let status = workbench_json(&["deploy", s(&kernel_model), "--iface", h, "--json"]);
    assert_eq!(status["active"]["model"], k["model_id"], "{status:#}");

    // Refused before the kernel: the active model stays, no slot moves.
    let e = refusal(&workbench(&["deploy", s(&dataset_model), "--iface", h]), "deploy");
    let status = workbench_json(&["probe", "status", "--iface", h, "--json"]);
    assert_eq!(status["active"]["model"], k["model_id"]);
    assert!(status["previous"].is_null(), "{status:#}");
    let lab_id = format!("uv{}", pid % 10_000);
    let e2 = refusal(
        &workbench(&[
            "verify",
            s(&samples_pcap()),
            "--model",
            s(&dataset_model),
            "--lab-id",
            &lab_id,
        ]),
        "verify",
    );
    assert!(
        !Path::new(&format!("/run/netns/ebml-{lab_id}")).exists(),
        "verify refused before making its lab"
    );

    // The kernel-feature model: kernel and userspace agree on every flow of a capture.
    let out = workbench(&[
        "verify",
        s(&samples_pcap()),
        "--model",
        s(&kernel_model),
        "--lab-id",
        &lab_id,
        "--json",
    ]);
    let v = stdout_json("verify", &out);
    assert!(
        out.status.success(),
        "verify: {}\n{v:#}",
        String::from_utf8_lossy(&out.stderr)
    );
    let flows = v["flows"].as_u64().unwrap_or(0);
    assert!(flows > 1_000, "{v:#}");
    assert_eq!(v["compared"], v["flows"]);
    assert_eq!(v["identical"], v["compared"], "{:#}", v["mismatches"]);
    report(&format!(
        "kernel test: UNSW-NB15 kernel-feature tree {} (F1 {:.3}) deployed; verify on honest.pcap: {} of {flows} flows identical ({} malicious); dataset model refused: deploy `{e}`, verify `{e2}`",
        k["model_id"].as_str().unwrap_or("?"),
        k["metrics"]["f1"].as_f64().unwrap_or(0.0),
        v["identical"],
        v["malicious_flows"]
    ));
}

fn samples_pcap() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-pcaps/honest.pcap")
}
