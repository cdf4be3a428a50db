//! `workbench verify` on captures a snap length cut (`tcpdump -s 96`, sensors that keep headers
//! only): replay pads each cut record back to its original length with zeros, so the probe counts
//! the bytes the wire carried, as `features` does, and verify compares flow by flow as usual.

use std::path::Path;

use crate::common::probe_lab::every_feature_logistic;
use crate::common::{lab_id, report, shared_data, workbench, TempDir};
use serde_json::Value;
use shared::model::SCORE_ONE;
use workbench_flow::capture;
use workbench_flow::model::file;

/// The records of a classic pcap with each captured length cut to `snap(record number)` bytes
/// (the original length kept), as a capture taken with that snap length holds them; and how many
/// records were cut.
fn cut_records(pcap: &[u8], snap: impl Fn(usize) -> usize) -> (Vec<u8>, u64) {
    let big_endian = match pcap.get(..4) {
        Some([0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d]) => true,
        Some([0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1]) => false,
        other => panic!("not a classic pcap: magic {other:?}"),
    };
    let word = |at: usize| {
        let b: [u8; 4] = pcap[at..at + 4].try_into().expect("4 bytes");
        if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let put = |out: &mut Vec<u8>, v: u32| {
        out.extend_from_slice(&if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    };
    let mut out = pcap[..24].to_vec();
    let (mut at, mut record, mut cut) = (24, 0, 0);
    while at < pcap.len() {
        let (caplen, origlen) = (word(at + 8) as usize, word(at + 12));
        let keep = snap(record).min(caplen);
        out.extend_from_slice(&pcap[at..at + 8]);
        put(&mut out, keep as u32);
        put(&mut out, origlen);
        out.extend_from_slice(&pcap[at + 16..at + 16 + keep]);
        cut += u64::from(keep < caplen);
        at += 16 + caplen;
        record += 1;
    }
    (out, cut)
}

fn verify(pcap: &Path, model: &Path, lab: &str) -> Value {
    let (pcap, model) = (pcap.to_str().expect("utf8"), model.to_str().expect("utf8"));
    let out = workbench(&["verify", pcap, "--model", model, "--lab-id", lab, "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "verify {pcap} failed: {stderr}");
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("verify {pcap} printed no JSON ({e}); stderr: {stderr}"));
    let (flows, compared, identical) = (&v["flows"], &v["compared"], &v["identical"]);
    assert!(flows.as_u64().unwrap_or(0) > 0, "{pcap}: {v:#}");
    assert_eq!(compared, flows, "{pcap}: {v:#}");
    assert_eq!(identical, compared, "{pcap}: {:#}", v["mismatches"]);
    assert_eq!(v["parse_mismatches"], 0, "{pcap}: {v:#}");
    v
}

/// Packets of `pcap` the shared parser turns into flow packets, at their length on the wire.
fn parseable(pcap: &Path) -> u64 {
    capture::open(pcap, false)
        .expect("capture opens")
        .filter(|p| p.as_ref().expect("a whole record").parse().is_ok())
        .count() as u64
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn a_capture_cut_at_96_bytes_verifies_identical_with_every_cut_packet_padded() {
    crate::common::require_kernel(
        "a_capture_cut_at_96_bytes_verifies_identical_with_every_cut_packet_padded",
    );
    let dir = TempDir::new("snap-length");
    let model = dir.path().join("every-feature.ebml");
    file::write(&model, &every_feature_logistic(-2 * SCORE_ONE), Value::Null).expect("write model");
    let whole = shared_data("pcaps/bittorrent.pcap");
    let (bytes, longer) = cut_records(&std::fs::read(&whole).expect("sample capture"), |_| 96);
    assert!(
        longer > 100,
        "the sample has records longer than 96 bytes ({longer})"
    );
    let cut = dir.path().join("bittorrent-s96.pcap");
    std::fs::write(&cut, bytes).expect("write the cut capture");

    let v = verify(&cut, &model, &lab_id("sn"));
    assert_eq!(v["padded_packets"], longer, "every cut record padded: {v:#}");
    assert_eq!(v["kernel_records"], parseable(&cut), "{v:#}");
    // The kernel's table is the one the whole capture makes: same flows, same verdicts.
    let w = verify(&whole, &model, &lab_id("snw"));
    assert_eq!(w["padded_packets"], 0, "{w:#}");
    for key in ["flows", "malicious_flows", "kernel_records", "capture_packets"] {
        assert_eq!(v[key], w[key], "{key}: cut {v:#}\nwhole {w:#}");
    }
    report(&format!(
        "snap length 96: {} of {} flows identical, {longer} of {} packets padded back to their wire length",
        v["identical"], v["flows"], v["capture_packets"]
    ));
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn records_cut_inside_their_headers_are_unparsed_on_both_sides() {
    crate::common::require_kernel("records_cut_inside_their_headers_are_unparsed_on_both_sides");
    let dir = TempDir::new("snap-headers");
    let model = dir.path().join("every-feature.ebml");
    file::write(&model, &every_feature_logistic(-2 * SCORE_ONE), Value::Null).expect("write model");
    let whole = shared_data("pcaps/bittorrent.pcap");
    // Every 7th record keeps 40 bytes: inside the transport header of an IP packet (14 + 20 +
    // 6); zeros there would be read as ports and flags, so replay sends it as captured.
    let (bytes, _) = cut_records(&std::fs::read(&whole).expect("sample capture"), |record| {
        if record % 7 == 0 {
            40
        } else {
            96
        }
    });
    let cut = dir.path().join("bittorrent-headers-cut.pcap");
    std::fs::write(&cut, bytes).expect("write the cut capture");
    let (records, whole_records) = (parseable(&cut), parseable(&whole));
    assert!(
        records < whole_records,
        "some packets lost their headers ({records} of {whole_records})"
    );
    // Padded: every cut record but those whose headers the cut reached (non-IP ones too).
    let packets: Vec<capture::Packet> = capture::open(&cut, false)
        .expect("capture opens")
        .map(|p| p.expect("a whole record"))
        .collect();
    let padded = packets
        .iter()
        .filter(|p| {
            p.data.len() < p.wire_len_bytes as usize && p.parse() != Err(shared::ParseError::Truncated)
        })
        .count();

    let v = verify(&cut, &model, &lab_id("snh"));
    assert_eq!(v["kernel_records"], records, "{v:#}");
    assert_eq!(
        v["padded_packets"], padded,
        "only the records cut after their headers: {v:#}"
    );
    report(&format!(
        "snap length cutting headers: {} of {} flows identical, {records} of {whole_records} packets parsed on both sides, {padded} padded",
        v["identical"], v["flows"]
    ));
}
