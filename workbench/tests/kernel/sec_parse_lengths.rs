//! `workbench verify` on crafted non-Ethernet and length-lying captures: the kernel, which sees
//! the Ethernet frame replay rebuilds, must agree flow by flow with what `features` computes
//! from the capture (tests/cli/sec_parse_lengths.rs checks `features` itself).

use std::path::Path;

use crate::common::linkcraft::{
    conversation, records_of, scan, sll_header, sll_vlan, write, LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL,
};
use crate::common::probe_lab::every_feature_logistic;
use crate::common::{lab_id, report, workbench, TempDir};
use serde_json::Value;
use shared::model::SCORE_ONE;
use workbench_flow::model::file;

fn verify(pcap: &Path, model: &Path, lab: &str) -> Value {
    let (pcap, model) = (pcap.to_str().expect("utf8"), model.to_str().expect("utf8"));
    let out = workbench(&["verify", pcap, "--model", model, "--lab-id", lab, "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify {pcap} printed no JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        out.status.success(),
        "verify {pcap} failed: {}\n{:#}",
        String::from_utf8_lossy(&out.stderr),
        v["mismatches"]
    );
    v
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn crafted_sll_and_decoy_captures_verify_identical_to_their_features() {
    crate::common::require_kernel("crafted_sll_and_decoy_captures_verify_identical_to_their_features");
    let dir = TempDir::new("sec-parse-kernel");
    // Every feature weighs in the score, frame bytes and the VLAN id among them.
    let model = dir.path().join("every-feature.ebml");
    file::write(&model, &every_feature_logistic(-2 * SCORE_ONE), Value::Null).expect("write model");
    let frames = conversation();
    let sll = write(
        dir.path(),
        "sll.pcap",
        LINKTYPE_LINUX_SLL,
        &records_of(&frames, |ip| [sll_header(0x0800).as_slice(), ip].concat(), None),
        1,
    );
    let sll_tagged = write(
        dir.path(),
        "sll-vlan.pcap",
        LINKTYPE_LINUX_SLL,
        &records_of(&frames, |ip| sll_vlan(100, ip), None),
        1,
    );
    let decoys = write(dir.path(), "scan-decoy.pcap", LINKTYPE_ETHERNET, &scan(true), 2);
    for (pcap, tag, records, flows) in [
        (&sll, "fda", 6, 1),
        (&sll_tagged, "fdb", 6, 1),
        // The kernel counts the 30 decoys as bad_ip_header, as `features` does: 30 records.
        (&decoys, "fdc", 30, 30),
    ] {
        let v = verify(pcap, &model, &lab_id(tag));
        let what = pcap.display();
        assert_eq!(v["kernel_records"], records, "{what}: {v:#}");
        assert_eq!(v["flows"], flows, "{what}: {v:#}");
        assert_eq!(v["identical"], flows, "{what}: {:#}", v["mismatches"]);
        assert_eq!(v["parse_mismatches"], 0, "{what}");
        report(&format!(
            "sec parse lengths: {what}: {flows} of {flows} flows identical, {records} records"
        ));
    }

    // A snap-length cut capture: `features` counts the uncaptured bytes, and replay pads the
    // two cut records (the request and the answer) back to them, so the kernel counts them too.
    let cut = write(
        dir.path(),
        "sll-snap.pcap",
        LINKTYPE_LINUX_SLL,
        &records_of(
            &frames,
            |ip| [sll_header(0x0800).as_slice(), ip].concat(),
            Some(16 + 50),
        ),
        1,
    );
    let v = verify(&cut, &model, &lab_id("fdd"));
    assert_eq!(v["padded_packets"], 2, "{v:#}");
    assert_eq!(v["kernel_records"], 6, "{v:#}");
    assert_eq!(v["identical"], 1, "{v:#}");
}
