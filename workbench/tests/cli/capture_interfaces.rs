//! Captures of several interfaces: the same TCP flow captured on both sides of a router is in
//! a two-interface pcapng twice. Without `--interface` the commands warn and list the
//! interfaces; `--interface ID|NAME` reads one; an interface the capture lacks is an error with
//! the list. Packets of an unsupported link type are reported as such, not as damage.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::capfile::{ethernet, ipv4, PcapNg};
use crate::common::{save_model, workbench};
use workbench_flow::capture::{self, CaptureError, InterfaceSelector, RecordFault};
use workbench_flow::craft::{ipv4_tcp, Ipv4Endpoints, TcpSegment, TCP_ACK, TCP_PSH, TCP_SYN};

/// Packets of the flow on each interface.
const FLOW_PACKETS: u64 = 4;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// One TCP flow (handshake and one data segment), as frames in capture order.
fn tcp_flow() -> Vec<Vec<u8>> {
    let client = Ipv4Endpoints {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src: std::net::Ipv4Addr::new(10, 77, 0, 1),
        dst: std::net::Ipv4Addr::new(10, 77, 1, 2),
        ttl: 64,
    };
    let server = Ipv4Endpoints {
        src_mac: client.dst_mac,
        dst_mac: client.src_mac,
        src: client.dst,
        dst: client.src,
        ttl: 64,
    };
    let seg = |src_port, dst_port, seq, ack, flags, payload: &'static [u8]| TcpSegment {
        src_port,
        dst_port,
        seq,
        ack,
        flags,
        window: 64_240,
        payload,
    };
    vec![
        ipv4_tcp(&client, &seg(41_000, 80, 1, 0, TCP_SYN, b"")),
        ipv4_tcp(&server, &seg(80, 41_000, 9, 2, TCP_SYN | TCP_ACK, b"")),
        ipv4_tcp(&client, &seg(41_000, 80, 2, 10, TCP_ACK, b"")),
        ipv4_tcp(
            &client,
            &seg(41_000, 80, 2, 10, TCP_PSH | TCP_ACK, b"GET / HTTP/1.0\r\n\r\n"),
        ),
    ]
}

/// The flow seen on both sides of a router: each packet on `eth0`, then 5 us later forwarded
/// on `eth1` (ids 0 and 1).
fn two_sided(dir: &Path) -> PathBuf {
    let mut ng = PcapNg::default()
        .section_header()
        .named_interface(1, "eth0")
        .named_interface(1, "eth1");
    for (i, frame) in tcp_flow().iter().enumerate() {
        let ts_us = 1_700_000_000_000_000 + i as u64 * 1_000;
        ng = ng.packet(0, ts_us, frame).packet(1, ts_us + 5, frame);
    }
    let path = dir.join("router.pcapng");
    std::fs::write(&path, ng.0).expect("write capture");
    path
}

/// `features` with `extra` arguments and --json: its report, stderr, and the table's
/// `flow_packets` per row.
fn features(pcap: &Path, extra: &[&str]) -> (Value, String, Vec<u64>) {
    let table = pcap.with_extension("csv");
    let mut args = vec!["features", s(pcap), "-o", s(&table), "--json"];
    args.extend_from_slice(extra);
    let run = workbench(&args);
    let stderr = String::from_utf8_lossy(&run.stderr).to_string();
    assert!(run.status.success(), "features {extra:?}: {stderr}");
    let report: Value = serde_json::from_slice(&run.stdout).expect("JSON report");
    let text = std::fs::read_to_string(&table).expect("table");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let at = header
        .iter()
        .position(|c| *c == "flow_packets")
        .expect("flow_packets column");
    let rows = lines
        .map(|l| l.split(',').nth(at).expect("cell").parse().expect("a count"))
        .collect();
    (report, stderr, rows)
}

#[test]
fn two_interfaces_read_together_warn_and_are_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = two_sided(dir.path());
    let (report, stderr, rows) = features(&pcap, &[]);
    // As before: both copies in one flow, so it counts twice.
    assert_eq!(rows, vec![2 * FLOW_PACKETS]);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("warning: ")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    let w = warnings[0];
    for part in [
        "router.pcapng: packets on 2 interfaces",
        "0 \"eth0\" (ethernet, 4 packets)",
        "1 \"eth1\" (ethernet, 4 packets)",
        "--interface ID|NAME",
    ] {
        assert!(w.contains(part), "{part}: {w}");
    }
    let interfaces = report["interfaces"].as_array().expect("interfaces");
    let listed: Vec<(u64, &str, &str, u64)> = interfaces
        .iter()
        .map(|i| {
            (
                i["id"].as_u64().expect("id"),
                i["name"].as_str().expect("name"),
                i["link_type"].as_str().expect("link type"),
                i["packets"].as_u64().expect("packets"),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (0, "eth0", "ethernet", FLOW_PACKETS),
            (1, "eth1", "ethernet", FLOW_PACKETS)
        ]
    );
}

#[test]
fn one_interface_by_id_or_name_holds_the_flow_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = two_sided(dir.path());
    for pick in ["1", "eth1", "eth0"] {
        let (report, stderr, rows) = features(&pcap, &["--interface", pick]);
        assert_eq!(rows, vec![FLOW_PACKETS], "--interface {pick}");
        assert_eq!(report["packets"], FLOW_PACKETS, "--interface {pick}");
        assert!(!stderr.contains("warning"), "--interface {pick}: {stderr}");
        // Still listed: what the capture holds, not only what was read.
        assert_eq!(report["interfaces"].as_array().map(Vec::len), Some(2));
    }
    // The reader keeps the file's frame numbers: interface 1 holds the even frames.
    let reader = capture::open(&pcap, false)
        .expect("opens")
        .keep_interface(Some(InterfaceSelector::Id(1)));
    let numbers: Vec<u64> = reader.map(|p| p.expect("packet").index).collect();
    assert_eq!(numbers, vec![2, 4, 6, 8]);
}

#[test]
fn eval_reads_one_interface_and_lists_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = two_sided(dir.path());
    let model = save_model(
        dir.path(),
        "m.ebml",
        &workbench_flow::model::build::syn_count_tree(3).expect("tree"),
    );
    let eval = |extra: &[&str]| {
        let mut args = vec!["eval", s(&model), s(&pcap), "--json"];
        args.extend_from_slice(extra);
        let run = workbench(&args);
        let stderr = String::from_utf8_lossy(&run.stderr).to_string();
        assert!(run.status.success(), "eval {extra:?}: {stderr}");
        let report: Value = serde_json::from_slice(&run.stdout).expect("JSON report");
        (report, stderr)
    };
    let (both, stderr) = eval(&[]);
    assert_eq!(both["files"][0]["packets"], 2 * FLOW_PACKETS);
    assert!(
        stderr.contains("warning: ") && stderr.contains("packets on 2 interfaces"),
        "{stderr}"
    );
    assert_eq!(both["interfaces"][1]["name"], "eth1");
    let (one, stderr) = eval(&["--interface", "1"]);
    assert_eq!(one["files"][0]["packets"], FLOW_PACKETS);
    assert_eq!(one["flows"], 1);
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn an_interface_the_capture_lacks_is_an_error_listing_those_it_has() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = two_sided(dir.path());
    let table = dir.path().join("t.csv");
    for (pick, names) in [("wlan0", "no interface named \"wlan0\""), ("7", "no interface 7")] {
        let run = workbench(&["features", s(&pcap), "-o", s(&table), "--interface", pick]);
        assert_eq!(run.status.code(), Some(1), "--interface {pick}");
        let stderr = String::from_utf8_lossy(&run.stderr);
        for part in [
            "router.pcapng: ",
            names,
            "0 \"eth0\" (ethernet, 4 packets)",
            "1 \"eth1\" (ethernet, 4 packets)",
        ] {
            assert!(stderr.contains(part), "{part}: {stderr}");
        }
        assert!(!table.exists(), "nothing written for --interface {pick}");
    }
}

#[test]
fn packets_of_an_unsupported_link_type_are_not_called_damaged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let eth = ethernet(0x0800, &ipv4(false, 5000, 53));
    let wifi = vec![0u8; 40];
    let ng = PcapNg::default()
        .section_header()
        .named_interface(1, "eth0")
        .named_interface(105, "wlan0")
        .packet(0, 1, &eth)
        .packet(1, 2, &wifi)
        .packet(1, 3, &wifi)
        .packet(0, 4, &eth)
        .packet(1, 5, &wifi)
        .0;
    let pcap = dir.path().join("mixed.pcapng");
    std::fs::write(&pcap, ng).expect("write capture");

    // The reader: not in `skipped` (damage), counted per interface instead.
    let mut reader = capture::open(&pcap, true).expect("opens");
    assert_eq!(reader.by_ref().flatten().count(), 2);
    assert_eq!(reader.skipped(), 0);
    let skips = reader.unsupported_skips();
    assert_eq!(skips.len(), 1);
    assert_eq!(
        skips[0].to_string(),
        format!(
            "{}: 3 packets on interface 1 \"wlan0\" (link type IEEE 802.11/105) skipped: \
             unsupported link type",
            pcap.display()
        )
    );
    // Strictly, the first one stops the reading, called what it is.
    let first_error = capture::open(&pcap, false).expect("opens").find_map(Result::err);
    assert!(
        matches!(
            first_error,
            Some(CaptureError::Record {
                fault: RecordFault::UnsupportedLinkType,
                packet: 2,
                ..
            })
        ),
        "{first_error:?}"
    );

    // `features --lenient`: text and JSON say so, apart from the damaged records.
    let table = dir.path().join("t.csv");
    let run = workbench(&["features", s(&pcap), "-o", s(&table), "--lenient"]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(
        stdout.contains(
            "3 packets on interface 1 \"wlan0\" (link type IEEE 802.11/105) skipped: unsupported link type"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("damaged"), "{stdout}");
    let run = workbench(&["features", s(&pcap), "-o", s(&table), "--lenient", "--json"]);
    let report: Value = serde_json::from_slice(&run.stdout).expect("JSON report");
    assert_eq!(report["skipped_records"], 0);
    let skipped = &report["skipped_unsupported"][0];
    assert_eq!(
        (
            &skipped["interface"],
            &skipped["link_type_code"],
            &skipped["packets"]
        ),
        (&Value::from(1), &Value::from(105), &Value::from(3))
    );
    assert_eq!(skipped["link_type"], "IEEE 802.11");

    // Without --lenient: the error names the link type and how to read past it.
    let run = workbench(&["features", s(&pcap), "-o", s(&table)]);
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("packet of an unsupported link type")
            && stderr.contains("link type 105")
            && stderr.contains("pass --interface ID|NAME")
            && stderr.contains("--lenient"),
        "{stderr}"
    );
    // With the other interface picked, the unsupported one is no obstacle even strictly.
    let run = workbench(&[
        "features",
        s(&pcap),
        "-o",
        s(&table),
        "--interface",
        "eth0",
        "--json",
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let report: Value = serde_json::from_slice(&run.stdout).expect("JSON report");
    assert_eq!(report["packets"], 2);
}
