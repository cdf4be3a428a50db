//! Lengths the parser must take from the wire, not from a header, and link types that must
//! parse as the Ethernet frame the probe sees (a kernel-engineer review):
//!
//! - a SYN whose IPv4 total length claims more than its frame (Linux drops it in `ip_rcv_core`)
//!   is `bad_ip_header`, so decoys before every SYN of a port scan cannot change its flows;
//! - Linux SLL, SLL2 and raw-IP versions of one Ethernet capture give the Ethernet capture's
//!   features (14 link-header bytes a frame, as the probe counts after replay rebuilds the
//!   frame), also when a snap length cut the records;
//! - an SLL record with the VLAN tag libpcap puts back at offset 14 (protocol 0x8100) parses, as
//!   the 802.1Q frame replay sends does in the kernel.

use std::path::Path;

use crate::common::capfile::sll2;
use crate::common::linkcraft::{
    conversation, records_of, scan, sll_header, sll_vlan, write, LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2, LINKTYPE_RAW,
};
use crate::common::{workbench_json, TempDir};

/// `workbench features --json` of one capture into a CSV: the report and the table's text
/// (without the capture's name).
fn features(dir: &Path, capture: &Path, extra: &[&str]) -> (serde_json::Value, String) {
    let out = dir.join(format!(
        "{}.csv",
        capture.file_stem().and_then(|s| s.to_str()).expect("name")
    ));
    let mut args = vec![
        "features",
        "--json",
        "-o",
        out.to_str().expect("utf8"),
        capture.to_str().expect("utf8"),
    ];
    args.extend_from_slice(extra);
    let report = workbench_json(&args);
    let table = std::fs::read_to_string(&out).expect("the features table");
    // Without the last column, `source_file`: the file's name is all that may differ.
    let table = table
        .lines()
        .map(|l| l.rsplit_once(',').map_or(l, |(row, _)| row))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        table.starts_with("src_ip,") && !table.contains("source_file"),
        "{table}"
    );
    (report, table)
}

/// Puts a capture's link header before an IP packet.
type LinkHeader<'a> = dyn Fn(&[u8]) -> Vec<u8> + 'a;

fn unparsed(report: &serde_json::Value, reason: &str) -> u64 {
    report["unparsed"][reason].as_u64().unwrap_or(0)
}

#[test]
fn decoy_syns_whose_ip_length_exceeds_the_frame_are_bad_ip_headers_not_the_scans_packets() {
    let dir = TempDir::new("sec-parse-lengths");
    // A decoy and its SYN share a timestamp: only the decoys differ between the two files.
    let honest = write(dir.path(), "scan-honest.pcap", LINKTYPE_ETHERNET, &scan(false), 1);
    let decoyed = write(dir.path(), "scan-decoy.pcap", LINKTYPE_ETHERNET, &scan(true), 2);
    let (honest_report, honest_table) = features(dir.path(), &honest, &[]);
    let (decoy_report, decoy_table) = features(dir.path(), &decoyed, &[]);
    assert_eq!(honest_report["rows"], 30, "{honest_report}");
    assert_eq!(unparsed(&honest_report, "bad_ip_header"), 0, "{honest_report}");
    assert_eq!(decoy_report["packets"], 60, "{decoy_report}");
    assert_eq!(decoy_report["parsed_packets"], 30, "{decoy_report}");
    assert_eq!(unparsed(&decoy_report, "bad_ip_header"), 30, "{decoy_report}");
    assert_eq!(
        decoy_table, honest_table,
        "the decoys must change none of the scan's features"
    );
}

#[test]
fn sll_sll2_and_raw_ip_versions_of_an_ethernet_capture_give_its_features() {
    let dir = TempDir::new("sec-parse-lengths");
    let frames = conversation();
    let eth: Vec<(Vec<u8>, u32)> = frames.iter().map(|f| (f.clone(), f.len() as u32)).collect();
    let eth_path = write(dir.path(), "eth.pcap", LINKTYPE_ETHERNET, &eth, 1);
    let (eth_report, eth_table) = features(dir.path(), &eth_path, &[]);
    assert_eq!(eth_report["rows"], 1, "{eth_report}");
    assert_eq!(eth_report["parsed_packets"], 6, "{eth_report}");

    let sll = |ip: &[u8]| [sll_header(0x0800).as_slice(), ip].concat();
    let sll2 = |ip: &[u8]| sll2(0x0800, ip);
    let raw = |ip: &[u8]| ip.to_vec();
    let ethernet = |ip: &[u8]| [&frames[0][..14], ip].concat();
    let cases: [(&str, u32, &LinkHeader, usize); 4] = [
        ("sll", LINKTYPE_LINUX_SLL, &sll, 16),
        ("sll2", LINKTYPE_LINUX_SLL2, &sll2, 20),
        ("raw", LINKTYPE_RAW, &raw, 0),
        ("eth", LINKTYPE_ETHERNET, &ethernet, 14),
    ];
    for (name, link_type, header, header_bytes) in cases {
        // As captured, and cut by a snap length 10 bytes into the TCP payload.
        for snap in [None, Some(header_bytes + 40 + 10)] {
            if name == "eth" && snap.is_none() {
                continue;
            }
            let file = format!("{name}-{}.pcap", snap.unwrap_or(0));
            let path = write(
                dir.path(),
                &file,
                link_type,
                &records_of(&frames, header, snap),
                1,
            );
            let (report, table) = features(dir.path(), &path, &[]);
            assert_eq!(report["parsed_packets"], 6, "{file}: {report}");
            assert_eq!(
                table, eth_table,
                "{file}: features differ from the Ethernet capture's"
            );
        }
    }
}

#[test]
fn an_sll_capture_with_a_vlan_tag_parses_as_the_tagged_ethernet_frame() {
    let dir = TempDir::new("sec-parse-lengths");
    let frames = conversation();
    let tagged_eth = |ip: &[u8]| [&frames[0][..12], &[0x81, 0x00, 0x00, 100, 0x08, 0x00], ip].concat();
    let eth_path = write(
        dir.path(),
        "eth-vlan.pcap",
        LINKTYPE_ETHERNET,
        &records_of(&frames, tagged_eth, None),
        1,
    );
    let (eth_report, eth_table) = features(dir.path(), &eth_path, &["--vlan-id"]);
    assert_eq!(eth_report["rows"], 1, "{eth_report}");

    let path = write(
        dir.path(),
        "sll-vlan.pcap",
        LINKTYPE_LINUX_SLL,
        &records_of(&frames, |ip| sll_vlan(100, ip), None),
        1,
    );
    let (report, table) = features(dir.path(), &path, &["--vlan-id"]);
    assert_eq!(report["rows"], 1, "{report}");
    assert_eq!(report["parsed_packets"], 6, "{report}");
    assert_eq!(unparsed(&report, "not_ip"), 0, "{report}");
    assert_eq!(
        table, eth_table,
        "the tagged SLL capture's features differ from the 802.1Q one's"
    );
}
