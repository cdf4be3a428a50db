//! IPv6 extension headers in the kernel: TCP conversations whose every packet carries a
//! destination options header, a hop-by-hop header, or destination options and an atomic
//! fragment header are flows in the probe's table, identical to userspace's (before the parser
//! walked extension headers both sides counted them `ipv6_unknown_next_header`: one destination
//! options header hid a whole connection from the model). A later fragment and a chain longer
//! than the parser walks stay unparsed on both sides.

use std::path::{Path, PathBuf};

use crate::common::linkcraft::{write, LINKTYPE_ETHERNET};
use crate::common::probe_lab::every_feature_logistic;
use crate::common::{lab_id, report, stdout_json, table_columns, workbench, workbench_json, TempDir};
use serde_json::Value;
use shared::model::SCORE_ONE;
use shared::packet::ipv6_ext::{
    NEXT_HEADER_DEST_OPTS as DEST_OPTS, NEXT_HEADER_FRAGMENT as FRAGMENT,
    NEXT_HEADER_HOP_BY_HOP as HOP_BY_HOP,
};
use shared::packet::PROTO_TCP as TCP;
use workbench_flow::model::file;

/// An options header (hop-by-hop or destination options) of `8 * (len + 1)` bytes: one PadN
/// option filling it.
pub(crate) fn options(next: u8, len: u8) -> Vec<u8> {
    let bytes = 8 * (len as usize + 1);
    let mut h = vec![next, len, 1, (bytes - 4) as u8];
    h.resize(bytes, 0);
    h
}

/// A fragment header: offset in 8-byte units, no more fragments.
pub(crate) fn fragment(next: u8, offset_units: u16) -> Vec<u8> {
    let mut h = vec![next, 0];
    h.extend_from_slice(&(offset_units << 3).to_be_bytes());
    h.extend_from_slice(&[0, 0, 0x0e, 0x6d]);
    h
}

/// An Ethernet frame: IPv6 from `fd00:e6::{src}` to `fd00:e6::{dst}` with the chain `ext` (its
/// first header's type `first`), then a TCP segment.
pub(crate) fn frame(
    forward: bool,
    first: u8,
    ext: &[Vec<u8>],
    ports: (u16, u16),
    flags: u8,
    payload: usize,
) -> Vec<u8> {
    let (mac_a, mac_b) = ([2, 0, 0, 0, 0, 0x0a], [2, 0, 0, 0, 0, 0x0b]);
    let (src_mac, dst_mac, src, dst) = if forward {
        (mac_a, mac_b, 1, 2)
    } else {
        (mac_b, mac_a, 2, 1)
    };
    let mut tcp = vec![0u8; 20];
    tcp[0..2].copy_from_slice(&ports.0.to_be_bytes());
    tcp[2..4].copy_from_slice(&ports.1.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&(if forward { 64_800u16 } else { 65_160 }).to_be_bytes());
    tcp.resize(20 + payload, b'x');
    let ext: Vec<u8> = ext.concat();
    let mut f = dst_mac.to_vec();
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&0x86ddu16.to_be_bytes());
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&((ext.len() + tcp.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[first, if forward { 64 } else { 63 }]);
    for host in [src, dst] {
        f.extend_from_slice(&[0xfd, 0, 0, 0xe6]);
        f.extend_from_slice(&[0; 11]);
        f.push(host);
    }
    f.extend_from_slice(&ext);
    f.extend_from_slice(&tcp);
    f
}

/// Three conversations (handshake, a 300-byte request, a 1,200-byte answer, FIN), every packet
/// behind its chain, frame by frame interleaved; then a later fragment and a chain of five
/// destination options headers, which no side counts.
fn capture(dir: &Path) -> PathBuf {
    let chains: [(u8, Vec<Vec<u8>>, u16); 3] = [
        (DEST_OPTS, vec![options(TCP, 1)], 40_001),
        (HOP_BY_HOP, vec![options(TCP, 0)], 40_002),
        (DEST_OPTS, vec![options(FRAGMENT, 0), fragment(TCP, 0)], 40_003),
    ];
    let mut frames = Vec::new();
    let steps: [(bool, u8, usize); 6] = [
        (true, 0x02, 0),
        (false, 0x12, 0),
        (true, 0x10, 0),
        (true, 0x18, 300),
        (false, 0x18, 1200),
        (true, 0x11, 0),
    ];
    for (forward, flags, payload) in steps {
        for (first, ext, port) in &chains {
            let ports = if forward { (*port, 443) } else { (443, *port) };
            frames.push(frame(forward, *first, ext, ports, flags, payload));
        }
    }
    frames.push(frame(
        true,
        FRAGMENT,
        &[fragment(TCP, 185)],
        (40_004, 443),
        0x10,
        64,
    ));
    let five: Vec<Vec<u8>> = (0..5)
        .map(|i| options(if i < 4 { DEST_OPTS } else { TCP }, 0))
        .collect();
    frames.push(frame(true, DEST_OPTS, &five, (40_005, 443), 0x02, 0));
    let records: Vec<(Vec<u8>, u32)> = frames.into_iter().map(|f| (f.clone(), f.len() as u32)).collect();
    write(dir, "ipv6-ext.pcap", LINKTYPE_ETHERNET, &records, 1)
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn tcp_behind_ipv6_extension_headers_is_counted_and_identical_to_userspace() {
    crate::common::require_kernel("tcp_behind_ipv6_extension_headers_is_counted_and_identical_to_userspace");
    let dir = TempDir::new("ipv6-ext");
    let pcap = capture(dir.path());
    let model = dir.path().join("every-feature.ebml");
    file::write(&model, &every_feature_logistic(-2 * SCORE_ONE), Value::Null).expect("write model");
    let (pcap, model) = (pcap.to_str().expect("utf8"), model.to_str().expect("utf8"));

    // Userspace: three flows; the extension headers' bytes are header bytes.
    let table = dir.path().join("ipv6-ext.csv");
    let f = workbench_json(&["features", pcap, "-o", table.to_str().expect("utf8"), "--json"]);
    assert_eq!(f["flows"], 3, "{f:#}");
    assert_eq!(f["unparsed"]["ip_fragment"], 1, "{f:#}");
    assert_eq!(f["unparsed"]["too_many_ipv6_ext_headers"], 1, "{f:#}");
    let csv = std::fs::read_to_string(&table).expect("table");
    let n = |v: &String| v.parse::<u64>().expect("a count");
    let mut headers: Vec<(u64, u64)> = table_columns(&csv, &["src_port", "fwd_header_bytes"])
        .iter()
        .map(|v| (n(&v[0]), n(&v[1])))
        .collect();
    headers.sort_unstable();
    // Four forward packets each: 40 + the chain + 20.
    assert_eq!(
        headers,
        [(40_001, 4 * 76), (40_002, 4 * 68), (40_003, 4 * 76)],
        "{csv}"
    );

    for (end, tag) in [("receive", "vxa"), ("send", "vxb")] {
        let out = workbench(&[
            "verify",
            pcap,
            "--model",
            model,
            "--lab-id",
            &lab_id(tag),
            "--probe-at",
            end,
            "--json",
        ]);
        let v = stdout_json("verify", &out);
        assert!(
            out.status.success(),
            "verify, probe at the {end} end: {}\n{:#}",
            String::from_utf8_lossy(&out.stderr),
            v["mismatches"]
        );
        let what = format!("probe at the {end} end");
        assert_eq!(v["flows"], 3, "{what}: the kernel counts every flow: {v:#}");
        assert_eq!(v["identical"], 3, "{what}: {:#}", v["mismatches"]);
        assert_eq!(v["parse_mismatches"], 0, "{what}");
        assert_eq!(
            v["kernel_records"], 18,
            "{what}: 18 packets parsed, the other 2 unparsed"
        );
        report(&format!(
            "ipv6 extension headers, {what}: 3 of 3 flows identical (destination options, hop-by-hop, destination options + fragment), 18 records, 2 frames unparsed on both sides"
        ));
    }
}
