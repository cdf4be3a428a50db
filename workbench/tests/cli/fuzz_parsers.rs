//! Bounded fuzzing (proptest) of the parsers that read what strangers send: the packet parser in
//! `shared`, the model file parser, the capture reader and the dataset loader (CSV and Parquet).
//! Properties: never a panic, and what is accepted is consistent.
//!
//! CI runs a fixed number of cases per target (a few seconds each). A long local campaign runs each
//! target for a wall time instead, with fresh random seeds batch after batch:
//! `FUZZ_SECONDS=600 nice -n 19 cargo test --release -p workbench --test cli -- fuzz_parsers::TARGET`
//! prints `fuzz TARGET: N cases in S s, 0 failures` (and appends it to `$FUZZ_REPORT` if set).
//! A failure is shrunk by proptest and printed; it becomes a regression test in
//! `tests/fuzz_regressions.rs`. An abort cannot be shrunk: `FUZZ_LAST_INPUT=FILE` keeps the input of
//! each loader case in FILE, so the one that aborted is there afterwards.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use shared::model::SCORE_ONE;
use shared::packet::{parse_ethernet, FrameBytes};
use workbench_flow::model::build::{self, Node};
use workbench_flow::model::file;

use crate::common::parquet_seed::valid_parquet;

fn valid_model_file() -> Vec<u8> {
    let tree = build::tree(
        &[
            Node::Split {
                feature: 21,
                threshold: 2,
                left: 1,
                right: 2,
            },
            Node::Leaf { score: 0 },
            Node::Split {
                feature: 4,
                threshold: 0,
                left: 3,
                right: 4,
            },
            Node::Leaf {
                score: SCORE_ONE as i32,
            },
            Node::Leaf { score: 7 },
        ],
        SCORE_ONE / 2,
    )
    .expect("tree");
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("m.ebml");
    file::write(&path, &tree, serde_json::Value::Null).expect("write");
    std::fs::read(path).expect("read")
}

/// A model edited after it was sealed (a leaf's score changed, the checksum made right again,
/// the id kept) is refused: the kernel and the code engine tell models apart by their id.
#[test]
fn a_model_whose_id_is_not_its_content_is_refused() {
    let mut m = file::parse(&valid_model_file()).expect("valid").model;
    let kept_id = m.header.model_id;
    let leaf = m
        .nodes
        .iter()
        .position(|n| n.is_leaf != 0 && n.score == 7)
        .expect("the leaf scoring 7");
    m.nodes[leaf].score = 8;
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("edited.ebml");
    file::write(&path, &m, serde_json::Value::Null).expect("write");
    let e = file::read(&path).expect_err("an edited model must be refused");
    let line = e.to_string();
    assert!(
        line.contains(&format!("names model {kept_id:08x} but its content is model")),
        "{line}"
    );
    assert!(line.contains("edited.ebml"), "the error names the file: {line}");
}

/// A header edited after the file was written (the threshold, the node count): `model show`
/// and `deploy` read the header, the kernel runs the body, so they must agree. The header
/// checksum refuses any edit first; this is what still guards a file written before it (here:
/// the edited header without the key), and it names the field.
#[test]
fn a_header_that_does_not_describe_its_body_is_refused() {
    let bytes = valid_model_file();
    let json_len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[12..12 + json_len]).expect("header");
    let dir = tempfile::tempdir().expect("tmp");
    for (field, value, says) in [
        (
            "threshold",
            serde_json::json!(-5),
            "threshold -5 but the model's body has 32768",
        ),
        (
            "node_count",
            serde_json::json!(100_000),
            "node_count 100000 but the model's body has 5",
        ),
    ] {
        let mut edited = header.clone();
        edited[field] = value;
        edited
            .as_object_mut()
            .expect("an object")
            .remove("header_checksum")
            .expect("a file written now has the header checksum");
        let json = serde_json::to_vec(&edited).expect("json");
        let mut out = bytes[..8].to_vec();
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&bytes[12 + json_len..]);
        let path = dir.path().join(format!("{field}.ebml"));
        std::fs::write(&path, out).expect("write");
        for e in [
            file::read(&path).expect_err("refused").to_string(),
            file::read_meta(&path)
                .expect_err("refused by model show")
                .to_string(),
        ] {
            assert!(e.contains(says) && e.contains(&format!("{field}.ebml")), "{e}");
        }
    }
}

/// An Ethernet frame that starts plausibly (IPv4/IPv6/VLAN ethertypes) and continues randomly.
fn plausible_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            Just(0x0800u16),
            Just(0x86dd),
            Just(0x8100),
            Just(0x88a8),
            any::<u16>()
        ],
        proptest::collection::vec(any::<u8>(), 0..120),
    )
        .prop_map(|(ethertype, rest)| {
            let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
            f.extend_from_slice(&ethertype.to_be_bytes());
            if let Some(b) = f.get_mut(14) {
                *b = 0x45;
            }
            f.extend(rest);
            f
        })
}

/// Runs `check` on values of `strategy`: `ci_cases` of them, or under `FUZZ_SECONDS=S` as many as
/// fit in S seconds (batches with fresh seeds, so a long run explores, not repeats).
fn fuzz<S: Strategy>(
    name: &str,
    strategy: S,
    ci_cases: u32,
    check: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let seconds: Option<u64> = std::env::var("FUZZ_SECONDS").ok().map(|s| {
        s.parse()
            .unwrap_or_else(|_| panic!("FUZZ_SECONDS={s}: expected a whole number of seconds"))
    });
    let batch = if seconds.is_some() { 2000 } else { ci_cases };
    let deadline = Instant::now() + Duration::from_secs(seconds.unwrap_or(0));
    let started = Instant::now();
    let mut cases: u64 = 0;
    loop {
        let mut runner = TestRunner::new(Config {
            cases: batch,
            failure_persistence: None,
            ..Config::default()
        });
        match runner.run(&strategy, &check) {
            Ok(()) => cases += u64::from(batch),
            Err(TestError::Fail(why, value)) => {
                panic!("fuzz {name}: failure after {cases}+ cases: {why}\nminimal input: {value:?}")
            }
            Err(TestError::Abort(why)) => panic!("fuzz {name}: aborted: {why}"),
        }
        if seconds.is_none() || Instant::now() >= deadline {
            break;
        }
    }
    let line = format!(
        "fuzz {name}: {cases} cases in {:.0} s, 0 failures",
        started.elapsed().as_secs_f64()
    );
    eprintln!("{line}");
    if let Ok(report) = std::env::var("FUZZ_REPORT") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&report)
            .expect("FUZZ_REPORT is writable");
        writeln!(f, "{line}").expect("FUZZ_REPORT is writable");
    }
}

fn check_packet(frame: Vec<u8>) -> Result<(), TestCaseError> {
    if let Ok(p) = parse_ethernet(&FrameBytes {
        data: &frame,
        wire_len_bytes: frame.len() as u32,
    }) {
        prop_assert!(p.ip_version == 4 || p.ip_version == 6);
        prop_assert!(matches!(p.proto, 1 | 6 | 17 | 58));
        prop_assert!(
            (p.header_bytes as usize) + 14 <= frame.len() + 8,
            "headers inside the frame"
        );
    }
    Ok(())
}

#[test]
fn packet_parser_never_panics_and_stays_inside_the_frame() {
    fuzz("packet_parser", plausible_frame(), 3000, check_packet);
}

type Mutations = (Vec<(proptest::sample::Index, u8)>, proptest::sample::Index, bool);

fn mutations() -> impl Strategy<Value = Mutations> {
    (
        proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..6),
        any::<proptest::sample::Index>(),
        any::<bool>(),
    )
}

fn mutate(mut bytes: Vec<u8>, (flips, cut, truncate): Mutations) -> Vec<u8> {
    for (at, xor) in flips {
        let i = at.index(bytes.len());
        bytes[i] ^= xor | 1;
    }
    if truncate {
        bytes.truncate(cut.index(bytes.len()));
    }
    bytes
}

#[test]
fn model_parser_rejects_mutations_cleanly() {
    let valid = valid_model_file();
    fuzz("model_parser", mutations(), 3000, |m| {
        let bytes = mutate(valid.clone(), m);
        // Never a panic; whatever is accepted is a model the probe can walk.
        if let Ok(m) = file::parse(&bytes) {
            let x = [1i64; shared::features::FEATURE_COUNT];
            let _ = m.model.score(&x);
            prop_assert!(m.model.header.node_count as usize <= shared::model::MAX_NODES);
        }
        Ok(())
    });
}

#[test]
fn capture_reader_survives_random_bytes() {
    let strategy = (
        proptest::collection::vec(any::<u8>(), 0..400),
        any::<bool>(),
        any::<bool>(),
    );
    fuzz("capture_reader", strategy, 3000, |(body, pcapng, lenient)| {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("x.pcap");
        let mut bytes = if pcapng {
            // Section header block start, then noise.
            vec![
                0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
            ]
        } else {
            // Classic pcap header (LE, microseconds, Ethernet), then noise.
            vec![
                0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
            ]
        };
        bytes.extend(body);
        std::fs::write(&path, &bytes).expect("write");
        if let Ok(reader) = workbench_flow::capture::open(&path, lenient) {
            let mut errors = 0;
            for item in reader.take(1000) {
                match item {
                    Ok(p) => {
                        let _ = p.parse();
                        prop_assert_eq!(errors, 0, "no packet after an error");
                    }
                    Err(e) => {
                        errors += 1;
                        prop_assert!(e.to_string().contains("x.pcap"), "{}", e);
                    }
                }
            }
            prop_assert!(errors <= 1);
        }
        Ok(())
    });
}

/// Real capture files (from ../shared/data, when present) mutated: the reader sees realistic
/// block structure with a few damaged bytes, which random noise rarely reaches.
#[test]
fn capture_reader_survives_mutated_real_captures() {
    let seeds: Vec<(String, Vec<u8>)> = [
        "pcaps/http.pcap",
        "pcaps/portscan-1-10000.pcapng",
        "pcaps/ssh.pcap",
    ]
    .iter()
    .filter_map(|f| {
        let bytes = std::fs::read(shared_data().join(f)).ok()?;
        // The first 4 KiB: headers and a few dozen packets keep each case fast.
        Some((f.to_string(), bytes[..bytes.len().min(4096)].to_vec()))
    })
    .collect();
    assert!(
        !seeds.is_empty(),
        "capture_reader_mutated: no capture under {} (the project's real data set, ../shared/data)",
        shared_data().display()
    );
    let strategy = (any::<proptest::sample::Index>(), mutations(), any::<bool>());
    fuzz("capture_reader_mutated", strategy, 500, |(seed, m, lenient)| {
        let (name, bytes) = &seeds[seed.index(seeds.len())];
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join(if name.ends_with("pcapng") {
            "x.pcapng"
        } else {
            "x.pcap"
        });
        std::fs::write(&path, mutate(bytes.clone(), m)).expect("write");
        if let Ok(reader) = workbench_flow::capture::open(&path, lenient) {
            for item in reader.take(200) {
                match item {
                    Ok(p) => {
                        let _ = p.parse();
                    }
                    Err(e) => {
                        prop_assert!(e.to_string().contains("x.pcap"), "{}", e);
                        break;
                    }
                }
            }
        }
        Ok(())
    });
}

fn shared_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
}

/// Values the public datasets and hostile files put in a CSV field.
fn csv_field() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i32>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        Just("Infinity".to_string()),
        Just("-inf".to_string()),
        Just("NaN".to_string()),
        Just(String::new()),
        Just("BENIGN".to_string()),
        Just("Web Attack \u{fffd} XSS".to_string()),
        Just("\"a,b\"".to_string()),
        Just("\"".to_string()),
        Just("2017-07-07 08:59:50".to_string()),
        Just("7/7/2017 8:59".to_string()),
        "[ -~]{0,12}",
        ".{0,6}",
    ]
}

/// Header names the detector keys on, plus noise.
fn csv_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(" Label".to_string()),
        Just("label".to_string()),
        Just("attack_cat".to_string()),
        Just(" Source IP".to_string()),
        Just(" Timestamp".to_string()),
        Just("Flow Duration".to_string()),
        Just(" Fwd Header Length".to_string()),
        Just("srcip".to_string()),
        Just("proto".to_string()),
        "[a-z ]{0,8}",
    ]
}

/// A CSV made of a header (or none) and rows of hostile fields, some ragged.
fn csv_text() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::option::of(proptest::collection::vec(csv_name(), 1..8)),
        proptest::collection::vec(proptest::collection::vec(csv_field(), 0..9), 0..12),
        any::<bool>(),
    )
        .prop_map(|(header, rows, crlf)| {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut out = String::new();
            if let Some(h) = header {
                out += &h.join(",");
                out += eol;
            }
            for r in rows {
                out += &r.join(",");
                out += eol;
            }
            out.into_bytes()
        })
}

/// Loads `bytes` as a dataset file named `name`: never a panic; an error names the file.
fn check_load(name: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write");
    // An abort (a huge allocation in a reader) kills the harness before proptest can print the
    // input: with FUZZ_LAST_INPUT=FILE the input of every case is kept there first.
    if let Ok(last) = std::env::var("FUZZ_LAST_INPUT") {
        std::fs::write(last, bytes).expect("FUZZ_LAST_INPUT is writable");
    }
    let opts = workbench_data::dataset::LoadOptions {
        no_cache: true,
        ..Default::default()
    };
    match workbench_data::dataset::load(&[path], &opts) {
        Ok(d) => {
            prop_assert_eq!(d.malicious.len(), d.rows(), "one label per row");
        }
        Err(e) => {
            let msg = workbench_data::error_chain(&e);
            prop_assert!(msg.contains(name), "the error names the file: {}", msg);
        }
    }
    Ok(())
}

#[test]
fn csv_loader_survives_hostile_tables() {
    fuzz("csv_loader", csv_text(), 300, |bytes| check_load("x.csv", &bytes));
}

/// Heads of the real dataset files (when present), mutated byte-wise.
#[test]
fn csv_loader_survives_mutated_real_heads() {
    let seeds: Vec<Vec<u8>> = [
        "cic-ids2017/friday-ddos-labelled-flows-head300.csv",
        "cic-ids2017/wednesday-0948-1006-slowloris-10col.csv",
        "unsw-nb15/unsw-nb15-training-sample.csv",
        "unsw-nb15/unsw-nb15-1-raw-head3400.csv",
        "nsl-kdd/KDDTrain+_20Percent.txt",
    ]
    .iter()
    .filter_map(|f| {
        let text = std::fs::read(shared_data().join(f)).ok()?;
        // The first 12 lines: the layout detection and a few rows of each kind.
        let end = text
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(11)
            .map_or(text.len(), |(i, _)| i + 1);
        Some(text[..end].to_vec())
    })
    .collect();
    assert!(
        !seeds.is_empty(),
        "csv_loader_mutated: no dataset under {} (the project's real data set, ../shared/data)",
        shared_data().display()
    );
    let strategy = (any::<proptest::sample::Index>(), mutations());
    fuzz("csv_loader_mutated", strategy, 200, |(seed, m)| {
        check_load("x.csv", &mutate(seeds[seed.index(seeds.len())].clone(), m))
    });
}

#[test]
fn parquet_loader_survives_mutations() {
    let valid = valid_parquet();
    check_load("x.parquet", &valid).expect("the seed itself loads");
    fuzz("parquet_loader", mutations(), 300, |m| {
        check_load("x.parquet", &mutate(valid.clone(), m))
    });
}
