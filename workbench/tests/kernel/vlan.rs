//! VLAN-tagged traffic through the kernel: `workbench verify` must find kernel and userspace
//! identical, flow by flow, on captures whose frames carry one 802.1Q tag or QinQ tags, with
//! the receiving veth's `rx-vlan-offload` on and off, and with the probe at the receiving end
//! (the outermost tag in the skb's metadata, the inner one still in the frame) and at the
//! sending end's egress (every tag in the frame). Also a real tagged capture (masscan, VLAN
//! 943), which gave 0 identical flows of 1,001 before the probe read the metadata tag.

use std::path::Path;

use crate::common::probe_lab::every_feature_logistic;
use crate::common::{report, shared_data, workbench, workbench_json, TempDir};
use serde_json::Value;
use shared::model::SCORE_ONE;
use workbench_flow::model::file;

/// A logistic model over every feature (frame sizes, header bytes and the VLAN id among
/// them), so that a byte counted differently changes scores as well as state.
fn every_feature_model(dir: &Path) -> String {
    let model = every_feature_logistic(-2 * SCORE_ONE);
    let path = dir.join("every-feature.ebml");
    file::write(&path, &model, Value::Null).expect("write model");
    path.to_str().expect("utf8").to_string()
}

fn verify(pcap: &str, model: &str, lab: &str, extra: &[&str]) -> Value {
    let mut args = vec!["verify", pcap, "--model", model, "--lab-id", lab, "--json"];
    args.extend_from_slice(extra);
    let out = workbench(&args);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify {} printed no JSON ({e}); stderr: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        out.status.success(),
        "verify {} failed: {}\n{:#}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr),
        v["mismatches"]
    );
    v
}

fn assert_identical(v: &Value, what: &str) -> u64 {
    let flows = v["flows"].as_u64().unwrap_or(0);
    assert!(flows > 0, "{what}: no flow in the kernel: {v:#}");
    assert_eq!(v["compared"].as_u64(), Some(flows), "{what}");
    assert_eq!(
        v["identical"].as_u64(),
        Some(flows),
        "{what}: {:#}",
        v["mismatches"]
    );
    assert_eq!(v["parse_mismatches"], 0, "{what}");
    flows
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn tagged_captures_are_identical_in_kernel_and_userspace_with_the_offload_on_and_off() {
    crate::common::require_kernel(
        "tagged_captures_are_identical_in_kernel_and_userspace_with_the_offload_on_and_off",
    );
    let dir = TempDir::new("vlan");
    let model = every_feature_model(dir.path());
    let id = std::process::id() % 10_000;
    for (name, flag, value) in [("dot1q", "--vlan", "943"), ("qinq", "--qinq", "100,200")] {
        let out = dir.path().join(name);
        let out = out.to_str().expect("utf8");
        workbench_json(&["gen-pcaps", "-o", out, flag, value, "--json"]);
        let pcap = format!("{out}/honest.pcap");
        for offload in ["on", "off"] {
            for end in ["receive", "send"] {
                let lab = format!("t{id}{}{}{}", &name[..1], &offload[1..2], &end[..1]);
                let v = verify(
                    &pcap,
                    &model,
                    &lab,
                    &["--rx-vlan-offload", offload, "--probe-at", end],
                );
                let what = format!("{name} capture, rx-vlan-offload {offload}, probe at the {end} end");
                assert_eq!(v["rx_vlan_offload"], offload == "on", "{what}");
                assert_eq!(v["probe_at"], end, "{what}");
                let flows = assert_identical(&v, &what);
                report(&format!(
                    "vlan parity: {what}: {flows} of {flows} flows identical, {} packets, {} malicious",
                    v["kernel_records"], v["malicious_flows"]
                ));
            }
        }
    }
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn the_real_masscan_capture_on_vlan_943_is_identical() {
    crate::common::require_kernel("the_real_masscan_capture_on_vlan_943_is_identical");
    let dir = TempDir::new("masscan");
    let model = every_feature_model(dir.path());
    let pcap = shared_data("pcaps/masscan-tcp-0-1000.pcap");
    let pcap = pcap.to_str().expect("utf8");
    let id = std::process::id() % 10_000;
    for offload in ["on", "off"] {
        let v = verify(
            pcap,
            &model,
            &format!("m{id}{}", &offload[1..2]),
            &["--rx-vlan-offload", offload],
        );
        let flows = assert_identical(&v, &format!("masscan, rx-vlan-offload {offload}"));
        assert_eq!(flows, 1001, "the capture holds 1,001 flows");
        report(&format!(
            "vlan parity: masscan-tcp-0-1000.pcap (VLAN 943), rx-vlan-offload {offload}: {flows} of 1001 flows identical, {} packets",
            v["kernel_records"]
        ));
    }
}
