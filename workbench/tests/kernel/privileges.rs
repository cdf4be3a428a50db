//! Deploying with only the capabilities the kernel needs: CAP_BPF, CAP_NET_ADMIN and
//! CAP_PERFMON (every other one dropped with setpriv's bounding set), and a one-line refusal
//! naming what is missing when one of them is gone.

use std::process::{Command, Output};

use crate::common::{report, DetachOnDrop, TempDir};
use shared::model::SCORE_ONE;
use workbench_flow::model::build::{self, Node};
use workbench_kernel::lab::Lab;

fn with_caps(caps: &str, args: &[&str]) -> Output {
    Command::new("setpriv")
        .arg(format!("--bounding-set=-all,{caps}"))
        .arg("--inh-caps=-all")
        .arg(env!("CARGO_BIN_EXE_workbench"))
        .args(args)
        .output()
        .expect("setpriv (util-linux) runs")
}

fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn deploy_runs_with_bpf_net_admin_and_perfmon_only() {
    crate::common::require_kernel("deploy_runs_with_bpf_net_admin_and_perfmon_only");
    // Mounting bpffs needs CAP_SYS_ADMIN: that is the one step left to root (README).
    workbench_kernel::bpffs::ensure_mounted().expect("bpffs");
    let lab = Lab::create(
        &format!("pv{}", std::process::id() % 100_000),
        (std::process::id() % 200) as u8 + 6,
    )
    .expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.as_str();
    let dir = TempDir::new("caps");
    let model = dir.path().join("leaf.ebml");
    let tree = build::tree(&[Node::Leaf { score: 7 }], SCORE_ONE / 2).expect("tree");
    workbench_flow::model::file::write(&model, &tree, serde_json::Value::Null).expect("model");

    let without_perfmon = with_caps("+bpf,+net_admin", &["probe", "attach", "--iface", h]);
    let stderr = String::from_utf8_lossy(&without_perfmon.stderr);
    assert!(!without_perfmon.status.success());
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("CAP_PERFMON") && !stderr.contains("CAP_BPF and"),
        "{stderr}"
    );

    let caps = "+bpf,+net_admin,+perfmon";
    ok(&with_caps(caps, &["probe", "attach", "--iface", h]), "attach");
    ok(
        &with_caps(
            caps,
            &[
                "deploy",
                model.to_str().expect("utf8"),
                "--iface",
                h,
                "--mode",
                "enforce",
            ],
        ),
        "deploy",
    );
    let status = with_caps(caps, &["probe", "status", "--iface", h, "--json"]);
    ok(&status, "status");
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(status["mode"], "enforce");
    assert_eq!(
        status["active"]["model"],
        workbench_flow::model::id_string(tree.header.model_id)
    );
    ok(
        &with_caps(caps, &["probe", "flows", "--iface", h, "--json"]),
        "flows",
    );
    ok(&with_caps(caps, &["probe", "detach", "--iface", h]), "detach");
    report("kernel test: attach, deploy, status, flows and detach ran with CAP_BPF + CAP_NET_ADMIN + CAP_PERFMON only");
}
