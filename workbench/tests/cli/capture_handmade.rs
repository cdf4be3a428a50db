//! The capture reader on files made byte by byte: byte orders, timestamp units, pcapng
//! interfaces with different link types and resolutions, Linux SLL2, damage and lenient mode.

use crate::common::capfile::{ethernet, ipv4, ipv6_udp, pcap, sll2, PcapNg, Record};
use workbench_flow::capture::{self, CaptureError, LinkType, Packet, RecordFault};

fn write(dir: &crate::common::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write capture");
    path
}

fn read(path: &std::path::Path) -> Vec<Packet> {
    capture::open(path, false)
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|p| p.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn ports(p: &Packet) -> (u16, u16, u8) {
    let parsed = p.parse().unwrap_or_else(|e| panic!("packet {}: {e:?}", p.index));
    (parsed.src_port, parsed.dst_port, parsed.proto)
}

#[test]
fn big_endian_microsecond_and_little_endian_nanosecond_pcaps() {
    let dir = crate::common::TempDir::new("handmade");
    let frame = ethernet(0x0800, &ipv4(true, 40_000, 443));
    let records = [
        Record {
            ts_sec: 1_700_000_000,
            ts_frac: 123_456,
            data: &frame,
            wire_len: frame.len() as u32 + 100,
        },
        Record {
            ts_sec: 1_700_000_001,
            ts_frac: 999_999,
            data: &frame,
            wire_len: frame.len() as u32,
        },
    ];
    let be = read(&write(&dir, "be.pcap", &pcap(true, false, 1, &records)));
    assert_eq!(be.len(), 2);
    assert_eq!(be[0].ts_ns, 1_700_000_000_123_456_000);
    assert_eq!(be[1].ts_ns, 1_700_000_001_999_999_000);
    assert_eq!(be[0].wire_len_bytes, frame.len() as u32 + 100);
    assert_eq!(be[0].data, frame);
    assert_eq!((be[0].index, be[1].index), (1, 2));
    assert_eq!(ports(&be[0]), (40_000, 443, 6));

    let ns = read(&write(&dir, "ns.pcap", &pcap(false, true, 1, &records)));
    assert_eq!(ns[0].ts_ns, 1_700_000_000_000_123_456, "nanosecond unit");
    assert_eq!(ns[1].ts_ns, 1_700_000_001_000_999_999);
    assert_eq!(ports(&ns[1]), (40_000, 443, 6));
}

#[test]
fn pcapng_interfaces_keep_their_own_link_type_and_resolution() {
    let dir = crate::common::TempDir::new("handmade");
    let eth = ethernet(0x0800, &ipv4(false, 5353, 53));
    let raw6 = ipv6_udp(6000, 7000);
    let sll2_frame = sll2(0x0800, &ipv4(true, 1234, 80));
    let bytes = PcapNg::default()
        .section_header()
        .interface(1, Some(9)) // Ethernet, nanoseconds
        .interface(101, None) // raw IP, default microseconds
        .interface(276, Some(0x80 | 10)) // SLL2, 2^-10 s
        .packet(0, 1_700_000_000_123_456_789, &eth)
        .packet(1, 1_700_000_000_654_321, &raw6)
        .packet(2, (1_700_000_000u64 << 10) | 512, &sll2_frame)
        .0;
    let packets = read(&write(&dir, "two.pcapng", &bytes));
    assert_eq!(packets.len(), 3);
    assert_eq!(packets[0].link_type, LinkType::Ethernet);
    assert_eq!(packets[0].ts_ns, 1_700_000_000_123_456_789);
    assert_eq!(ports(&packets[0]), (5353, 53, 17));
    assert_eq!(packets[1].link_type, LinkType::RawIp);
    assert_eq!(packets[1].ts_ns, 1_700_000_000_654_321_000);
    assert_eq!(ports(&packets[1]), (6000, 7000, 17));
    assert_eq!(packets[1].parse().expect("parses").ip_version, 6);
    assert_eq!(packets[2].link_type, LinkType::LinuxSll2);
    assert_eq!(packets[2].ts_ns, 1_700_000_000_500_000_000, "512/1024 s");
    assert_eq!(ports(&packets[2]), (1234, 80, 6));
    // For replay every link type becomes an Ethernet frame that parses the same.
    for p in &packets {
        let frame = p.to_ethernet_frame();
        let again = LinkType::Ethernet
            .parse(&frame, frame.len() as u32)
            .expect("synthesized Ethernet parses");
        assert_eq!((again.src_port, again.dst_port), (ports(p).0, ports(p).1));
    }
}

#[test]
fn sll2_pcap_record_parses_to_its_ports() {
    let dir = crate::common::TempDir::new("handmade");
    let data = sll2(0x86dd, &ipv6_udp(4433, 443));
    let file = pcap(
        false,
        false,
        276,
        &[Record {
            ts_sec: 1,
            ts_frac: 2,
            data: &data,
            wire_len: data.len() as u32,
        }],
    );
    let packets = read(&write(&dir, "sll2.pcap", &file));
    assert_eq!(packets.len(), 1);
    assert_eq!(packets[0].ts_ns, 1_000_002_000);
    assert_eq!(ports(&packets[0]), (4433, 443, 17));
}

#[test]
fn unsupported_link_type_and_foreign_files_are_named() {
    let dir = crate::common::TempDir::new("handmade");
    let wifi = write(&dir, "wifi.pcap", &pcap(false, false, 105, &[]));
    let e = capture::open(&wifi, false).err().expect("802.11 is refused");
    let msg = e.to_string();
    assert!(
        msg.contains("wifi.pcap") && msg.contains("link type 105"),
        "{msg}"
    );

    let text = write(&dir, "notes.txt", b"hello, this is not a capture");
    let msg = capture::open(&text, false).err().expect("refused").to_string();
    assert!(
        msg.contains("notes.txt") && msg.contains("not a pcap or pcapng"),
        "{msg}"
    );

    let missing = dir.path().join("missing.pcap");
    let msg = capture::open(&missing, false).err().expect("refused").to_string();
    assert!(
        msg.contains("missing.pcap") && msg.contains("cannot open"),
        "{msg}"
    );

    // pcapng: an interface of an unsupported type fails at its first packet, naming it.
    let eth = ethernet(0x0800, &ipv4(false, 1, 2));
    let ng = PcapNg::default()
        .section_header()
        .interface(1, None)
        .interface(105, None)
        .packet(0, 1, &eth)
        .packet(1, 2, &eth)
        .0;
    let path = write(&dir, "mixed.pcapng", &ng);
    let results: Vec<_> = capture::open(&path, false).expect("opens").collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    match &results[1] {
        Err(CaptureError::Record { fault, packet, .. }) => {
            assert_eq!((*fault, *packet), (RecordFault::UnsupportedLinkType, 2));
        }
        other => panic!("expected a packet of an unsupported link type, got {other:?}"),
    }
    // Leniently skipped, and counted apart from damage.
    let mut lenient = capture::open(&path, true).expect("opens");
    assert_eq!(lenient.by_ref().flatten().count(), 1);
    assert_eq!(lenient.skipped(), 0);
    assert_eq!(lenient.unsupported_skips()[0].packets, 1);
}

#[test]
fn corrupt_records_fail_strictly_and_resynchronise_leniently() {
    let dir = crate::common::TempDir::new("handmade");
    let frame = ethernet(0x0800, &ipv4(false, 9, 10));
    let rec = |s: u32| Record {
        ts_sec: 1_700_000_000 + s,
        ts_frac: 0,
        data: &frame,
        wire_len: frame.len() as u32,
    };
    let good = pcap(false, false, 1, &[rec(0), rec(1), rec(2)]);
    let record_bytes = 16 + frame.len();
    // Record 2's captured length becomes 0x7fffffff: corrupt.
    let mut bad = good.clone();
    let caplen_at = 24 + record_bytes + 8;
    bad[caplen_at..caplen_at + 4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let path = write(&dir, "bad.pcap", &bad);
    let results: Vec<_> = capture::open(&path, false).expect("opens").collect();
    assert_eq!(results.len(), 2);
    let msg = results[1].as_ref().expect_err("an error").to_string();
    assert!(
        msg.contains("bad.pcap: corrupt record at byte")
            && msg.contains(&format!("byte {}", 24 + record_bytes))
            && msg.contains("(packet 2)"),
        "{msg}"
    );
    let mut lenient = capture::open(&path, true).expect("opens");
    let ts: Vec<u64> = lenient
        .by_ref()
        .map(|r| r.expect("no error").ts_ns / 1_000_000_000)
        .collect();
    assert_eq!(ts, vec![1_700_000_000, 1_700_000_002], "record 3 found again");
    assert_eq!(lenient.skipped(), 1);

    // pcapng: 12 bytes of garbage between two packet blocks.
    let ng = PcapNg::default()
        .section_header()
        .interface(1, None)
        .packet(0, 1, &frame)
        .raw(&[0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4])
        .packet(0, 2, &frame)
        .0;
    let path = write(&dir, "bad.pcapng", &ng);
    let results: Vec<_> = capture::open(&path, false).expect("opens").collect();
    assert_eq!(results.len(), 2);
    assert!(matches!(
        results[1],
        Err(CaptureError::Record {
            fault: RecordFault::Corrupt,
            packet: 2,
            ..
        })
    ));
    let mut lenient = capture::open(&path, true).expect("opens");
    let packets: Result<Vec<_>, _> = lenient.by_ref().collect();
    assert_eq!(packets.expect("no error").len(), 2);
    assert_eq!(lenient.skipped(), 1);
}

#[test]
fn a_record_larger_than_the_read_buffer_is_read_whole() {
    let dir = crate::common::TempDir::new("handmade");
    // 600 KB records: larger than the initial 256 KiB buffer, below the 16 MiB limit. The file
    // header's snap length is raised to allow them.
    let big = ethernet(0x0800, &vec![0u8; 600_000]);
    let rec = Record {
        ts_sec: 1,
        ts_frac: 0,
        data: &big,
        wire_len: big.len() as u32,
    };
    let mut file = pcap(false, false, 1, &[rec, Record { ts_sec: 2, ..rec }]);
    file[16..20].copy_from_slice(&1_000_000u32.to_le_bytes());
    let packets = read(&write(&dir, "big.pcap", &file));
    assert_eq!(packets.len(), 2);
    assert!(packets.iter().all(|p| p.data == big));
}
