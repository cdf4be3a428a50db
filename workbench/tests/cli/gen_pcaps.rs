//! `gen-pcaps`: the committed samples are what the generator writes, every capture reads back
//! through the project's reader and parser into exactly the labelled flows, and the naive variant
//! leaks its labels through source subnet, TTL and time windows while the honest one does not.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use shared::abi::ProbeConfig;
use shared::features::feature_id;
use workbench_flow::capture;
use workbench_flow::gen::{self, GenReport, Variant, BENIGN};
use workbench_flow::twin::Twin;

fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-pcaps")
}

fn generate(dir: &Path) -> GenReport {
    gen::write_all(dir, gen::DEFAULT_SEED).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn committed_samples_are_what_the_default_seed_generates() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let report = generate(tmp.path());
    assert_eq!(report.files.len(), 2);
    for variant in Variant::ALL {
        let (pcap, labels) = gen::file_names(variant);
        for name in [pcap, labels] {
            let fresh = std::fs::read(tmp.path().join(&name)).expect("generated file");
            let committed = std::fs::read(sample_dir().join(&name))
                .unwrap_or_else(|e| panic!("sample-pcaps/{name}: {e}"));
            assert!(
                fresh == committed,
                "sample-pcaps/{name} differs from what seed {} generates ({} vs {} bytes): regenerate with `workbench gen-pcaps -o sample-pcaps`",
                gen::DEFAULT_SEED,
                committed.len(),
                fresh.len()
            );
        }
    }
}

/// (src, sport, dst, dport, proto) oriented from the initiator.
type Tuple = (Ipv4Addr, u16, Ipv4Addr, u16, u8);

struct LabelRow {
    first_ts_ns: u64,
    last_ts_ns: u64,
    attack: bool,
    scenario: String,
}

fn read_labels(path: &Path, variant: Variant) -> HashMap<Tuple, LabelRow> {
    let text = std::fs::read_to_string(path).expect("labels file");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("src,sport,dst,dport,proto,first_ts_ns,last_ts_ns,label,scenario,variant")
    );
    let mut rows = HashMap::new();
    for (i, line) in lines.enumerate() {
        let c: Vec<&str> = line.split(',').collect();
        assert_eq!(c.len(), 10, "line {}: {line}", i + 2);
        let field = |k: usize| {
            c[k].parse::<u64>()
                .unwrap_or_else(|e| panic!("line {}: {e}", i + 2))
        };
        let tuple = (
            c[0].parse().expect("src address"),
            field(1) as u16,
            c[2].parse().expect("dst address"),
            field(3) as u16,
            field(4) as u8,
        );
        assert_eq!(c[9], variant.name());
        let row = LabelRow {
            first_ts_ns: field(5),
            last_ts_ns: field(6),
            attack: c[7] != BENIGN,
            scenario: c[8].to_string(),
        };
        assert!(
            rows.insert(tuple, row).is_none(),
            "line {}: duplicate flow",
            i + 2
        );
    }
    rows
}

/// Per flow of a capture: its initiator-oriented tuple, first/last stamp and forward TTL, from
/// the shared parser and the shared flow update (the probe's twin).
struct CaptureFlows {
    packets: usize,
    flows: HashMap<Tuple, (u64, u64, i64)>,
}

fn read_capture(path: &Path) -> CaptureFlows {
    let mut twin = Twin::new(ProbeConfig::default(), None, None);
    let mut stamps: HashMap<shared::FlowKey, (u64, u64)> = HashMap::new();
    let mut packets = 0;
    for p in capture::open(path, false).unwrap_or_else(|e| panic!("{e}")) {
        let p = p.unwrap_or_else(|e| panic!("{e}"));
        let parsed = p
            .parse()
            .unwrap_or_else(|e| panic!("{}: packet {} does not parse: {e:?}", path.display(), p.index));
        twin.packet(&parsed, p.ts_ns);
        let key = shared::FlowKey::of(&parsed).key;
        let s = stamps.entry(key).or_insert((p.ts_ns, p.ts_ns));
        s.1 = p.ts_ns;
        packets += 1;
    }
    let ttl = feature_id("fwd_ttl").expect("fwd_ttl is a feature");
    let ip = |a: &[u8; 16]| Ipv4Addr::new(a[0], a[1], a[2], a[3]);
    let flows = twin
        .flows
        .iter()
        .map(|(k, e)| {
            let lo = (ip(&k.addr_lo), k.port_lo);
            let hi = (ip(&k.addr_hi), k.port_hi);
            let (src, dst) = if e.initiator_is_lo != 0 {
                (lo, hi)
            } else {
                (hi, lo)
            };
            let (first, last) = stamps.get(k).copied().unwrap_or_default();
            // Decision at the flow's last packet: the state after every packet of the flow.
            let fwd_ttl = e.state.features()[ttl];
            ((src.0, src.1, dst.0, dst.1, k.proto), (first, last, fwd_ttl))
        })
        .collect();
    CaptureFlows { packets, flows }
}

#[test]
fn captures_read_back_into_exactly_the_labelled_flows() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let report = generate(tmp.path());
    for file in &report.files {
        let got = read_capture(Path::new(&file.pcap));
        assert_eq!(got.packets, file.packets, "{}: packet count", file.pcap);
        let labels = read_labels(Path::new(&file.labels), file.variant);
        assert_eq!(labels.len(), file.flows);
        let seen: BTreeSet<&Tuple> = got.flows.keys().collect();
        let labelled: BTreeSet<&Tuple> = labels.keys().collect();
        let unlabelled: Vec<_> = seen.difference(&labelled).take(5).collect();
        let missing: Vec<_> = labelled.difference(&seen).take(5).collect();
        assert!(
            unlabelled.is_empty() && missing.is_empty(),
            "{}: flows without label {unlabelled:?}, labels without flow {missing:?}",
            file.pcap
        );
        for (tuple, (first, last, _)) in &got.flows {
            let row = &labels[tuple];
            assert_eq!((row.first_ts_ns, row.last_ts_ns), (*first, *last), "{tuple:?}");
        }
        assert!(file.benign_flows > 0 && file.attack_flows > 0);
        // Time: each naive attack type runs in one window of its own (the time of a flow names
        // its attack); honest types recur in campaigns minutes apart and overlap each other.
        let mut spans: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for r in labels.values().filter(|r| r.attack) {
            let s = spans.entry(r.scenario.as_str()).or_insert((u64::MAX, 0));
            *s = (s.0.min(r.first_ts_ns), s.1.max(r.first_ts_ns));
        }
        let mut windows: Vec<(u64, u64)> = spans.values().copied().collect();
        windows.sort_unstable();
        let disjoint = windows.windows(2).all(|w| w[0].1 < w[1].0);
        let longest_s = windows
            .iter()
            .map(|w| (w.1 - w.0) / 1_000_000_000)
            .max()
            .unwrap_or(0);
        match file.variant {
            Variant::Naive => assert!(
                disjoint && longest_s < 100,
                "naive attack windows overlap or last {longest_s} s: {spans:?}"
            ),
            Variant::Honest => assert!(
                !disjoint && longest_s > 120,
                "honest attack types do not recur and interleave: {spans:?}"
            ),
        }
        assert_eq!(
            file.scenarios.len(),
            15,
            "every scenario present: {:?}",
            file.scenarios
        );
    }
}

/// Accuracy of the best lookup rule on one value: every flow with a given value is called by
/// the majority of the flows with that value (the best any rule on this value alone can do,
/// thresholds and value lists included).
fn best_lookup<K: std::hash::Hash + Eq>(samples: &[(K, bool)]) -> f64 {
    let mut per_value: HashMap<&K, (usize, usize)> = HashMap::new();
    for (k, attack) in samples {
        let e = per_value.entry(k).or_default();
        if *attack {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    let correct: usize = per_value.values().map(|(a, b)| *a.max(b)).sum();
    correct as f64 / samples.len() as f64
}

#[test]
fn naive_leaks_through_ttl_and_source_subnet_honest_does_not() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let report = generate(tmp.path());
    let mut measured = HashMap::new();
    for file in &report.files {
        let got = read_capture(Path::new(&file.pcap));
        let labels = read_labels(Path::new(&file.labels), file.variant);
        let mut ttl = Vec::new();
        let mut subnet = Vec::new();
        for (tuple, (_, _, fwd_ttl)) in &got.flows {
            let attack = labels.get(tuple).map(|r| r.attack).expect("labelled flow");
            ttl.push((*fwd_ttl, attack));
            let o = tuple.0.octets();
            subnet.push(([o[0], o[1], o[2]], attack));
        }
        let benign = ttl.iter().filter(|s| !s.1).count() as f64 / ttl.len() as f64;
        let (t, s) = (best_lookup(&ttl), best_lookup(&subnet));
        crate::common::report(&format!(
            "{:?}: fwd_ttl lookup {t:.4}, source /24 lookup {s:.4}, benign share {benign:.4}",
            file.variant
        ));
        measured.insert(file.variant, (t, s, benign));
    }
    // Measured with seed 2026: naive 1.0000 / 1.0000 (six attack machines in 192.0.2.0/24, each
    // with a TTL of its own); honest fwd_ttl 0.6366, source /24 0.6613, within 0.03 of calling
    // everything benign (63.4% of flows; the /24 rule gains a little from the site resolvers'
    // 10.10.0.0/24, which only makes benign lookups). The honest bar of 0.70 leaves room for
    // chance and fails a half-leaky variant: giving the scanners and slowloris one address
    // (192.0.2.66) and TTL (51) outside the workstations' range, the rest as now, measured 0.8172
    // on both.
    let (naive_ttl, naive_src, _) = measured[&Variant::Naive];
    let (honest_ttl, honest_src, honest_benign) = measured[&Variant::Honest];
    assert!(naive_ttl >= 0.99, "naive fwd_ttl lookup accuracy {naive_ttl}");
    assert!(
        naive_src >= 0.99,
        "naive source-subnet lookup accuracy {naive_src}"
    );
    assert!(honest_ttl <= 0.70, "honest fwd_ttl lookup accuracy {honest_ttl}");
    assert!(
        honest_src <= 0.70,
        "honest source-subnet lookup accuracy {honest_src}"
    );
    assert!(
        honest_ttl - honest_benign < 0.05 && honest_src - honest_benign < 0.05,
        "honest lookups barely beat the benign share {honest_benign}"
    );
}

#[test]
fn json_report_and_bad_output_paths() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("new/dir");
    let out_s = out.to_str().expect("utf-8 path");
    let v = crate::common::workbench_json(&["gen-pcaps", "-o", out_s, "--seed", "3", "--json"]);
    assert_eq!(v["seed"], 3);
    let files = v["files"].as_array().expect("files");
    assert_eq!(files.len(), 2);
    for f in files {
        let pcap = f["pcap"].as_str().expect("pcap path");
        assert_eq!(
            read_capture(Path::new(pcap)).packets as u64,
            f["packets"].as_u64().expect("packets")
        );
        assert!(f["labels"].as_str().expect("labels path").contains("label"));
        assert!(f["flows"].as_u64().expect("flows") > 1000);
    }

    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").expect("write");
    for bad in [file.clone(), file.join("sub")] {
        let bad_s = bad.to_str().expect("utf-8 path");
        let o = crate::common::workbench(&["gen-pcaps", "-o", bad_s, "--json"]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{bad_s} accepted");
        crate::common::only_json_error(&o.stdout);
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(bad_s), "names the path: {stderr}");
    }
}
