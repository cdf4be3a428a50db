//! The capture reader against the real sample captures in `../shared/data/pcaps`: packet counts
//! and per-flow totals checked against Wireshark's tools, and truncation at random offsets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::report;
use workbench_flow::capture::{self, CaptureError, RecordFault};

/// Packet counts frozen from `capinfos -T -r -c FILE` (Wireshark 4.0.17, Debian 12), so the test
/// also runs where tshark is absent; where capinfos is present the test re-checks them.
const SAMPLE_COUNTS: [(&str, u64); 26] = [
    ("apps/1kxun.pcap", 1_723),
    ("apps/alexa-app.pcapng", 3_103),
    ("apps/android.pcap", 500),
    ("apps/iphone.pcap", 500),
    ("apps/netflix.pcap", 1_793),
    ("apps/reddit.pcap", 1_942),
    ("apps/sites.pcapng", 699),
    ("apps/teams.pcap", 1_540),
    ("apps/telegram.pcap", 1_566),
    ("apps/tumblr.pcap", 755),
    ("apps/webex.pcap", 1_110),
    ("apps/wechat.pcap", 1_672),
    ("apps/zoom.pcap", 781),
    ("bittorrent.pcap", 299),
    ("cicddos2019-synflood.pcap", 26_316),
    ("http.pcap", 43),
    ("masscan-tcp-0-1000.pcap", 1_005),
    ("mixed-demo.pcap", 596),
    ("mysql-multi-flows.pcap", 63),
    ("nmap-80-all.pcap", 431),
    ("portscan-1-10000.pcapng", 10_009),
    ("skype-call.pcap", 200),
    ("ssh.pcap", 291),
    ("synflood-spoofed.pcap", 37_841),
    ("udp-isakmp-amplification.pcap", 3_984),
    ("whois.pcap", 11),
];

fn pcaps_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/pcaps")
}

fn tool_present(tool: &str) -> bool {
    Command::new(tool).arg("-v").output().is_ok()
}

fn read_all(path: &Path) -> Vec<capture::Packet> {
    capture::open(path, false)
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|p| p.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

#[test]
fn every_sample_capture_has_the_packet_count_capinfos_reports() {
    let dir = pcaps_dir();
    // The captures at the top and one folder down (apps/: real benign application traffic).
    let mut on_disk: Vec<String> = Vec::new();
    for sub in ["", "apps"] {
        let d = dir.join(sub);
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.expect("dir entry").path();
            if p.is_file() {
                let rel = p.strip_prefix(&dir).expect("below the data folder");
                on_disk.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    on_disk.sort();
    let frozen: Vec<String> = SAMPLE_COUNTS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(on_disk, frozen, "the sample set changed: refreeze SAMPLE_COUNTS");
    let capinfos = tool_present("capinfos");
    if !capinfos {
        report("NOTE capture_reader: capinfos absent, checking against the frozen counts only");
    }
    for (name, count) in SAMPLE_COUNTS {
        let path = dir.join(name);
        let packets = read_all(&path);
        assert_eq!(packets.len() as u64, count, "{name}");
        let indices: Vec<u64> = packets.iter().map(|p| p.index).collect();
        assert!(
            indices.iter().copied().eq(1..=count),
            "{name}: packet numbers 1..={count}"
        );
        assert!(
            packets.iter().all(|p| p.ts_ns > 1_000_000_000 * 1_000_000_000),
            "{name}: 2001 or later"
        );
        if capinfos {
            let out = Command::new("capinfos")
                .args(["-T", "-r", "-c"])
                .arg(&path)
                .output()
                .expect("capinfos runs");
            let text = String::from_utf8_lossy(&out.stdout);
            let reported: u64 = text
                .split('\t')
                .nth(1)
                .and_then(|c| c.trim().parse().ok())
                .unwrap_or_else(|| panic!("capinfos output for {name}: {text:?}"));
            assert_eq!(
                reported, count,
                "{name}: capinfos disagrees with the frozen count"
            );
        }
    }
}

/// (lower endpoint, higher endpoint, proto) -> (frames, bytes), endpoints as "addr:port".
type Conversations = BTreeMap<(String, String, String), (u64, u64)>;

fn endpoint(addr: &[u8; 16], version: u8, port: u16) -> String {
    if version == 4 {
        format!(
            "{}:{port}",
            std::net::Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3])
        )
    } else {
        format!("[{}]:{port}", std::net::Ipv6Addr::from(*addr))
    }
}

fn conversations_from_reader(path: &Path) -> Conversations {
    let mut out = Conversations::new();
    for packet in read_all(path) {
        let Ok(parsed) = packet.parse() else { continue };
        let proto = match parsed.proto {
            6 => "tcp",
            17 => "udp",
            _ => continue,
        };
        let key = shared::FlowKey::of(&parsed).key;
        let a = endpoint(&key.addr_lo, key.ip_version, key.port_lo);
        let b = endpoint(&key.addr_hi, key.ip_version, key.port_hi);
        let entry = out.entry((a, b, proto.to_string())).or_default();
        entry.0 += 1;
        entry.1 += packet.wire_len_bytes as u64;
    }
    out
}

/// tshark prints byte totals as "1351 bytes" or rounded ("19 kB"); the second value is the
/// tolerance that rounding allows.
fn tshark_bytes(value: &str, unit: &str) -> (u64, u64) {
    let v: u64 = value
        .parse()
        .unwrap_or_else(|_| panic!("tshark byte value {value:?}"));
    match unit {
        "bytes" => (v, 0),
        "kB" => (v * 1_000, 1_000),
        "MB" => (v * 1_000_000, 1_000_000),
        other => panic!("tshark byte unit {other:?}"),
    }
}

fn conversations_from_tshark(path: &Path) -> (Conversations, BTreeMap<(String, String, String), u64>) {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-q", "-z", "conv,tcp", "-z", "conv,udp"])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let (mut convs, mut tolerance) = (Conversations::new(), BTreeMap::new());
    let mut proto = "";
    for line in text.lines() {
        if line.starts_with("TCP Conversations") {
            proto = "tcp";
        } else if line.starts_with("UDP Conversations") {
            proto = "udp";
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 11 || f[1] != "<->" {
            continue;
        }
        // a <-> b, frames b->a, bytes, unit, frames a->b, bytes, unit, total frames, bytes, unit
        let (mut a, mut b) = (f[0].to_string(), f[2].to_string());
        let frames: u64 = f[9].parse().expect("total frames");
        let (bytes, tol) = tshark_bytes(f[10], f[11]);
        // The reader's key puts the lower endpoint first; compare addresses as our key does.
        let order = |s: &str| -> (Vec<u8>, u16) {
            let (addr, port) = s.rsplit_once(':').expect("addr:port");
            let ip: std::net::IpAddr = addr.trim_matches(['[', ']']).parse().expect("address");
            let octets = match ip {
                std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
                std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
            };
            (octets, port.parse().expect("port"))
        };
        if order(&a) > order(&b) {
            std::mem::swap(&mut a, &mut b);
        }
        let key = (a, b, proto.to_string());
        convs.insert(key.clone(), (frames, bytes));
        tolerance.insert(key, tol);
    }
    (convs, tolerance)
}

#[test]
fn flows_match_tshark_conversations() {
    crate::common::require_tool("flows_match_tshark_conversations", "tshark", "tshark");
    // mixed-demo.pcap is one TCP conversation; these three have 3, 24 and 35.
    for name in ["http.pcap", "bittorrent.pcap", "nmap-80-all.pcap"] {
        let path = pcaps_dir().join(name);
        let ours = conversations_from_reader(&path);
        let (theirs, tolerance) = conversations_from_tshark(&path);
        assert!(!ours.is_empty(), "{name}: no TCP/UDP flows");
        let keys = |c: &Conversations| c.keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&ours), keys(&theirs), "{name}: the set of conversations");
        for (key, (frames, bytes)) in &ours {
            let (t_frames, t_bytes) = theirs[key];
            assert_eq!(*frames, t_frames, "{name} {key:?}: frames");
            let tol = tolerance[key];
            assert!(
                bytes.abs_diff(t_bytes) <= tol,
                "{name} {key:?}: {bytes} bytes, tshark says {t_bytes} (+-{tol})"
            );
        }
        report(&format!("{name}: {} flows agree with tshark", ours.len()));
    }
}

/// A record of the file, found by walking the format independently of the reader.
struct Span {
    start: u64,
    end: u64,
    is_packet: bool,
}

/// The records of a well-formed capture and where its file header ends.
fn walk(bytes: &[u8]) -> (u64, Vec<Span>) {
    let u32_at = |at: usize, be: bool| {
        let b: [u8; 4] = bytes[at..at + 4].try_into().expect("4 bytes");
        if be {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let mut spans = Vec::new();
    if u32_at(0, false) == 0x0a0d_0d0a {
        let mut at = 0usize;
        let mut be = false;
        while at < bytes.len() {
            if u32_at(at, false) == 0x0a0d_0d0a {
                be = u32_at(at + 8, true) == 0x1a2b_3c4d;
            }
            let kind = u32_at(at, be);
            let len = u32_at(at + 4, be) as usize;
            spans.push(Span {
                start: at as u64,
                end: (at + len) as u64,
                is_packet: matches!(kind, 2 | 3 | 6),
            });
            at += len;
        }
        // The section header is the "file header": a cut inside it fails at open.
        let header_end = spans[0].end;
        spans.remove(0);
        (header_end, spans)
    } else {
        let be = u32_at(0, true) == 0xa1b2_c3d4 || u32_at(0, true) == 0xa1b2_3c4d;
        let mut at = 24usize;
        while at < bytes.len() {
            let len = 16 + u32_at(at + 8, be) as usize;
            spans.push(Span {
                start: at as u64,
                end: (at + len) as u64,
                is_packet: true,
            });
            at += len;
        }
        (24, spans)
    }
}

/// xorshift64*: a fixed sequence of offsets without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

#[test]
fn truncated_samples_yield_the_complete_packets_then_one_error() {
    let dir = crate::common::TempDir::new("truncated");
    let mut rng = Rng(0x5eed_2026_1125);
    let mut clean_ends = 0;
    for (name, count) in SAMPLE_COUNTS {
        let bytes = std::fs::read(pcaps_dir().join(name)).expect("sample readable");
        let (header_end, spans) = walk(&bytes);
        assert_eq!(
            spans.iter().filter(|s| s.is_packet).count() as u64,
            count,
            "{name}: walker"
        );
        let cut_path = dir.path().join(name.replace('/', "_"));
        // 50 random cuts, plus the edges: inside the header, at its end, one byte short.
        let mut cuts: Vec<u64> = (0..50).map(|_| rng.below(bytes.len() as u64)).collect();
        cuts.extend([0, 3, header_end - 1, header_end, bytes.len() as u64 - 1]);
        for cut in cuts {
            std::fs::write(&cut_path, &bytes[..cut as usize]).expect("write prefix");
            let what = format!("{name} cut at byte {cut}");
            let reader = match capture::open(&cut_path, false) {
                Ok(r) => r,
                Err(CaptureError::File { file, message }) => {
                    assert!(cut < header_end, "{what}: open failed: {message}");
                    assert_eq!(file, cut_path.display().to_string());
                    continue;
                }
                Err(e) => panic!("{what}: {e}"),
            };
            assert!(
                cut >= header_end,
                "{what}: a cut inside the header must fail at open"
            );
            let results: Vec<_> = reader.collect();
            let complete = spans.iter().filter(|s| s.is_packet && s.end <= cut).count();
            let packets = results.iter().take_while(|r| r.is_ok()).count();
            assert_eq!(packets, complete, "{what}: packets before the cut");
            match spans.iter().find(|s| s.start < cut && cut < s.end) {
                None => {
                    clean_ends += 1;
                    assert_eq!(results.len(), complete, "{what}: a boundary ends cleanly");
                }
                Some(span) => {
                    assert_eq!(results.len(), complete + 1, "{what}: one error, then nothing");
                    match &results[complete] {
                        Err(
                            e @ CaptureError::Record {
                                fault,
                                offset,
                                packet,
                                ..
                            },
                        ) => {
                            assert_eq!(*fault, RecordFault::Truncated, "{what}: {e}");
                            assert_eq!(*offset, span.start, "{what}: {e}");
                            assert_eq!(*packet, complete as u64 + 1, "{what}: {e}");
                            let msg = e.to_string();
                            assert!(msg.starts_with(&cut_path.display().to_string()), "{msg}");
                            assert!(msg.contains(&format!("at byte {}", span.start)), "{msg}");
                        }
                        other => panic!("{what}: expected a truncation error, got {other:?}"),
                    }
                }
            }
            // Lenient: the same packets, no error, one skipped record when a record was cut.
            let mut lenient = capture::open(&cut_path, true).expect("opens");
            let packets: Result<Vec<_>, _> = lenient.by_ref().collect();
            let n = packets.expect("lenient yields no error").len();
            assert_eq!(n, complete, "{what}: lenient packets");
            let cut_inside = spans.iter().any(|s| s.start < cut && cut < s.end);
            assert_eq!(
                lenient.skipped(),
                cut_inside as u64,
                "{what}: lenient skipped count"
            );
        }
    }
    assert!(clean_ends > 0, "the edge cases include clean ends");
}

#[test]
fn corrupted_samples_never_panic_and_lenient_reading_always_ends() {
    let dir = crate::common::TempDir::new("corrupted");
    let mut rng = Rng(0xbad_b17e_5eed);
    let (mut failed_strictly, mut skipped_leniently) = (0, 0);
    for name in [
        "http.pcap",
        "whois.pcap",
        "mysql-multi-flows.pcap",
        "portscan-1-10000.pcapng",
    ] {
        let original = std::fs::read(pcaps_dir().join(name)).expect("sample readable");
        let path = dir.path().join(name);
        for round in 0..30 {
            let mut bytes = original.clone();
            // 1-8 random bytes overwritten anywhere after the format magic.
            for _ in 0..=rng.below(8) {
                let at = 4 + rng.below(bytes.len() as u64 - 4) as usize;
                bytes[at] = rng.below(256) as u8;
            }
            std::fs::write(&path, &bytes).expect("write");
            let what = format!("{name} corruption round {round}");
            let Ok(reader) = capture::open(&path, false) else {
                continue; // a damaged file header is refused at open, with a message
            };
            let results: Vec<_> = reader.collect();
            let errors = results.iter().filter(|r| r.is_err()).count();
            assert!(errors <= 1, "{what}: at most one error");
            if errors == 1 {
                assert!(
                    results.last().is_some_and(std::result::Result::is_err),
                    "{what}: the error comes last"
                );
            }
            let mut lenient = capture::open(&path, true).expect("opened strictly, opens leniently");
            let lenient_results: Vec<_> = lenient.by_ref().collect();
            assert!(
                lenient_results.len() <= original.len() / 16,
                "{what}: lenient reading ends"
            );
            assert!(
                lenient_results.iter().all(Result::is_ok),
                "{what}: lenient mode skips instead of failing: {:?}",
                lenient_results.iter().find(|r| r.is_err())
            );
            if errors == 0 {
                assert_eq!(
                    lenient.skipped(),
                    0,
                    "{what}: nothing to skip in a file strict mode reads"
                );
            }
            failed_strictly += errors;
            skipped_leniently += (lenient.skipped() > 0) as usize;
        }
    }
    // The corruption must have hit record structure sometimes, or this test proves little.
    report(&format!(
        "corruption: {failed_strictly} of 120 rounds failed strictly, {skipped_leniently} skipped leniently"
    ));
    assert!(failed_strictly >= 10 && skipped_leniently >= 10);
}
