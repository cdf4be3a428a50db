//! Flows tracked per VLAN in the kernel, as Suricata's `vlan.use-for-tracking` does: two tenants on
//! a trunk using one 5-tuple on two VLANs (and the same 5-tuple untagged) are three flows in the
//! probe's table, each identical to what userspace computes, whether the receiving veth takes the
//! outer tag into the skb's metadata or leaves it in the frame. Before the VLAN id was part of the
//! flow key the kernel merged them into one flow.

use std::path::{Path, PathBuf};

use crate::common::linkcraft::{conversation, write, LINKTYPE_ETHERNET};
use crate::common::probe_lab::every_feature_logistic;
use crate::common::{lab_id, report, stdout_json, table_columns, workbench, TempDir};
use serde_json::Value;
use shared::model::SCORE_ONE;
use workbench_flow::craft::{checksum_add, checksum_finish};
use workbench_flow::gen::vlan::{tag_frame, VlanTags};
use workbench_flow::model::file;

/// The linkcraft conversation (10.1.0.1:40000 -> 10.1.0.2:80) three times, frame by frame
/// interleaved as on a trunk: on VLAN 100, in QinQ with outer VLAN 200 (its inner tag 100, the
/// first tenant's id: the outer one decides), and untagged. The second tenant's request is cut
/// to 40 bytes and the untagged one's answer has no payload, so a merged flow could not match.
fn trunk_capture(dir: &Path) -> PathBuf {
    let base = conversation();
    let tenant = |tags: Option<VlanTags>, edit: &dyn Fn(usize, &[u8]) -> Vec<u8>| -> Vec<Vec<u8>> {
        base.iter()
            .enumerate()
            .map(|(i, f)| {
                let f = edit(i, f);
                tags.map_or_else(|| f.clone(), |t| tag_frame(&f, &t.bytes()))
            })
            .collect()
    };
    // Frame 3 is the 300-byte request, frame 4 the 1,200-byte answer (linkcraft::conversation):
    // shortened with their IPv4 total length, so the headers stay true.
    let shorten = |keep_payload: usize, which: usize| {
        move |i: usize, f: &[u8]| -> Vec<u8> {
            if i != which {
                return f.to_vec();
            }
            let mut f = f[..14 + 20 + 20 + keep_payload].to_vec();
            let total = (20 + 20 + keep_payload) as u16;
            f[16..18].copy_from_slice(&total.to_be_bytes());
            f[24..26].copy_from_slice(&[0, 0]);
            let sum = checksum_finish(checksum_add(0, &f[14..34]));
            f[24..26].copy_from_slice(&sum.to_be_bytes());
            f
        }
    };
    let a = tenant(Some(VlanTags::Dot1q(100)), &|_, f| f.to_vec());
    let b = tenant(
        Some(VlanTags::QinQ {
            outer: 200,
            inner: 100,
        }),
        &shorten(40, 3),
    );
    let c = tenant(None, &shorten(0, 4));
    let mut records = Vec::new();
    for i in 0..base.len() {
        for f in [&a[i], &b[i], &c[i]] {
            records.push((f.clone(), f.len() as u32));
        }
    }
    write(dir, "trunk.pcap", LINKTYPE_ETHERNET, &records, 1)
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn one_5_tuple_on_two_vlans_and_untagged_is_three_flows_identical_to_userspace() {
    crate::common::require_kernel(
        "one_5_tuple_on_two_vlans_and_untagged_is_three_flows_identical_to_userspace",
    );
    let dir = TempDir::new("vlan-tracking");
    let pcap = trunk_capture(dir.path());
    let model = dir.path().join("every-feature.ebml");
    file::write(&model, &every_feature_logistic(-2 * SCORE_ONE), Value::Null).expect("write model");
    let (pcap, model) = (pcap.to_str().expect("utf8"), model.to_str().expect("utf8"));

    // Userspace alone: three rows, one per VLAN (0 untagged).
    let table = dir.path().join("trunk.csv");
    let out = workbench(&["features", pcap, "-o", table.to_str().expect("utf8"), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = std::fs::read_to_string(&table).expect("table");
    let mut vlans: Vec<(String, String)> = table_columns(&csv, &["vlan", "fwd_payload_bytes"])
        .into_iter()
        .map(|v| (v[0].clone(), v[1].clone()))
        .collect();
    vlans.sort();
    assert_eq!(
        vlans,
        [("0", "300"), ("100", "300"), ("200", "40")].map(|(v, b)| (v.to_string(), b.to_string())),
        "{csv}"
    );

    for (offload, tag) in [("on", "vka"), ("off", "vkb")] {
        let args = [
            "verify",
            pcap,
            "--model",
            model,
            "--lab-id",
            &lab_id(tag),
            "--rx-vlan-offload",
            offload,
            "--json",
        ];
        let out = workbench(&args);
        let v = stdout_json("verify", &out);
        assert!(
            out.status.success(),
            "verify, rx-vlan-offload {offload}: {}\n{:#}",
            String::from_utf8_lossy(&out.stderr),
            v["mismatches"]
        );
        let what = format!("rx-vlan-offload {offload}");
        assert_eq!(v["flows"], 3, "{what}: one flow per VLAN in the kernel: {v:#}");
        assert_eq!(v["compared"], 3, "{what}");
        assert_eq!(v["identical"], 3, "{what}: {:#}", v["mismatches"]);
        assert_eq!(v["parse_mismatches"], 0, "{what}");
        assert_eq!(v["kernel_records"], 18, "{what}: every frame recorded");
        report(&format!(
            "vlan tracking: one 5-tuple on VLAN 100, QinQ 200/100 and untagged, rx-vlan-offload {offload}: 3 of 3 flows identical, 18 records"
        ));
    }
}
