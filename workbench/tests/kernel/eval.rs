//! `workbench eval` counts the flows the kernel flags: on the same capture and model, its
//! `flagged_flows` (each flow's verdict at its last decision point, computed by the userspace twin
//! from the capture) equals `workbench verify`'s `malicious_flows` (read from the probe's flow
//! table after the capture was replayed into it). The model reads no durations or rates, because
//! verify replays at its own pace (issue 19, item 1).

use std::path::Path;

use crate::common::{lab_id, repo, report, shared_data, workbench_json, TempDir};
use shared::features::FEATURES;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn eval_flags_as_many_flows_as_the_kernel_does() {
    crate::common::require_kernel("eval_flags_as_many_flows_as_the_kernel_does");
    let dir = TempDir::new("kernel-eval");
    let table = dir.path().join("honest.csv");
    workbench_json(&[
        "features",
        s(&repo("sample-pcaps/honest.pcap")),
        "--labels",
        s(&repo("sample-pcaps/labels-honest.csv")),
        "-o",
        s(&table),
        "--json",
    ]);
    // Counts, sizes, flags, ports and TTLs: the same at any replay speed (the opt-in VLAN id is
    // not a column of the table).
    let features: Vec<&str> = FEATURES
        .iter()
        .enumerate()
        .filter(|&(id, f)| f.unit != "us" && !f.unit.ends_with("/s") && !shared::features::is_opt_in(id))
        .map(|(_, f)| f.name)
        .collect();
    let model = dir.path().join("tree.ebml");
    workbench_json(&[
        "train",
        s(&table),
        "--model",
        "tree",
        "--split",
        "host",
        "--features",
        &features.join(","),
        "--no-cache",
        "-o",
        s(&model),
        "--json",
    ]);
    for (i, pcap) in [
        repo("sample-pcaps/honest.pcap"),
        shared_data("pcaps/portscan-1-10000.pcapng"),
    ]
    .iter()
    .enumerate()
    {
        let eval = workbench_json(&["eval", s(&model), s(pcap), "--json"]);
        let verify = workbench_json(&[
            "verify",
            s(pcap),
            "--model",
            s(&model),
            "--lab-id",
            &lab_id(&format!("e{i}")),
            "--json",
        ]);
        let flagged = eval["flagged_flows"].as_u64().expect("flagged_flows");
        let kernel = verify["malicious_flows"].as_u64().expect("malicious_flows");
        assert_eq!(eval["flows"], verify["flows"], "{}: flows", pcap.display());
        assert_eq!(
            verify["identical"],
            verify["compared"],
            "{}: {:#}",
            pcap.display(),
            verify["mismatches"]
        );
        assert_eq!(flagged, kernel, "{}: eval vs kernel", pcap.display());
        assert!(flagged > 0, "{}: nothing flagged", pcap.display());
        report(&format!(
            "eval vs kernel on {}: {flagged} of {} flows flagged by eval, {kernel} by the kernel",
            pcap.display(),
            eval["flows"]
        ));
    }
}
