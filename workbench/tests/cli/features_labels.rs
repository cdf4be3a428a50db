//! Labelling in `workbench features`: a TOML rules file and a CIC-IDS2017-style CSV, with the
//! expected per-label counts computed by the test from its own flow count.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::featkit::{independent, options, pcap, read_table, run, strings, tuple_of, tuples, Flow};
use chrono::{DateTime, Timelike};
use workbench_data::features::{extract, DecisionPoint};
use workbench_data::progress::NoProgress;

fn labelled(
    inputs: &[PathBuf],
    out: &Path,
    labels: &Path,
) -> (
    workbench_data::features::FeaturesReport,
    polars::prelude::DataFrame,
) {
    let mut opts = options(inputs, out, DecisionPoint::LastPacket);
    opts.labels = Some(labels.to_path_buf());
    let report = run(&opts);
    (report, read_table(out))
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

#[test]
fn rules_file_labels_by_cidr_port_and_time_first_match_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs = [pcap("http.pcap"), pcap("masscan-tcp-0-1000.pcap")];
    let flows: Vec<Flow> = inputs.iter().flat_map(|p| independent(p, false).flows).collect();
    let late = flows
        .iter()
        .find(|f| f.dst.0 == ip("216.239.59.99"))
        .expect("the flow to 216.239.59.99 in http.pcap");
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        format!(
            r#"# first match wins
[[rule]]
label = "web"
dst = "65.208.228.223/32"
dst_port = 80
proto = "tcp"

[[rule]]
label = "dns"
dst_port = 53
proto = 17

[[rule]]
label = "early"
src = "145.254.160.0/24"
until = {until}

[[rule]]
label = "scan"
attack_type = "portscan"
src = "172.31.0.0/16"
dst_port = "0-499"
from = "2019-01-01T00:00:00Z"

[[rule]]
label = "scan"
attack_type = "portscan-high"
src = "172.31.15.102"
dst_port = "500-65535"
proto = "tcp"
"#,
            until = late.first_ts_ns
        ),
    )
    .expect("write rules");
    let out = dir.path().join("labelled.csv");
    let (report, df) = labelled(&inputs, &out, &rules);

    // The same rules, as the test reads them.
    let scanner = |f: &Flow| f.src.0 == ip("172.31.15.102");
    let expect = |f: &Flow| -> Option<(&str, &str)> {
        if f.dst == (ip("65.208.228.223"), 80) && f.proto == 6 {
            Some(("web", ""))
        } else if f.dst.1 == 53 && f.proto == 17 {
            Some(("dns", ""))
        } else if f.src.0 == ip("145.254.160.237") && f.first_ts_ns < late.first_ts_ns {
            Some(("early", ""))
        } else if scanner(f) && f.dst.1 <= 499 {
            Some(("scan", "portscan"))
        } else if scanner(f) && f.proto == 6 {
            Some(("scan", "portscan-high"))
        } else {
            None
        }
    };
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut unmatched = 0;
    for f in &flows {
        match expect(f) {
            Some((l, _)) => *counts.entry(l.to_string()).or_default() += 1,
            None => unmatched += 1,
        }
    }
    let labels = report.labels.expect("label report");
    assert_eq!(labels.labels, counts);
    assert_eq!(labels.unmatched_flows, unmatched);
    assert!(unmatched >= 1, "the flow to 216.239.59.99 is matched by no rule");
    let per_rule: Vec<u64> = labels.rules.iter().map(|r| r.flows).collect();
    let low = flows.iter().filter(|f| scanner(f) && f.dst.1 <= 499).count() as u64;
    assert!(low > 100, "masscan scans ports 0-1000");
    assert_eq!(per_rule, vec![1, 1, 0, low, counts["scan"] - low]);
    assert_eq!(labels.rules[3].line, 18, "line of the fourth [[rule]]");

    // Row by row, in the table.
    assert_eq!(tuples(&df), flows.iter().map(tuple_of).collect::<Vec<_>>());
    let (label, attack) = (strings(&df, "label"), strings(&df, "attack_type"));
    for (i, f) in flows.iter().enumerate() {
        let e = expect(f);
        assert_eq!(label[i].as_deref(), e.map(|e| e.0), "flow {f:?}");
        let a = e.map(|e| e.1).filter(|a| !a.is_empty());
        assert_eq!(attack[i].as_deref(), a, "flow {f:?}");
    }
}

fn rules_error(text: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("bad-rules.toml");
    std::fs::write(&rules, text).expect("write");
    let mut opts = options(
        &[pcap("http.pcap")],
        &dir.path().join("o.csv"),
        DecisionPoint::LastPacket,
    );
    opts.labels = Some(rules);
    let e = match extract(&opts, &NoProgress) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => workbench_data::error_chain(&e),
    };
    assert!(!e.contains('\n'), "one line: {e}");
    assert!(!dir.path().join("o.csv").exists());
    e
}

#[test]
fn bad_rules_files_name_the_file_line_and_key() {
    let e = rules_error("[[rule]]\nlabel = \"x\"\nsrcc = \"10.0.0.0/8\"\n");
    assert!(e.contains("bad-rules.toml:3:") && e.contains("srcc"), "{e}");
    let e = rules_error("[[rule]]\nlabel = \"x\"\n\nsrc = \"10.0.0.0/33\"\n");
    assert!(
        e.contains("bad-rules.toml:4:") && e.contains("`src`") && e.contains("10.0.0.0/33"),
        "{e}"
    );
    let e = rules_error("[[rule]]\nlabel = \"x\"\ndst_port = \"90-80\"\n");
    assert!(e.contains("bad-rules.toml:3:") && e.contains("dst_port"), "{e}");
    let e = rules_error("[[rule]]\nproto = \"tcp\"\n");
    assert!(e.contains("bad-rules.toml") && e.contains("label"), "{e}");
    let e = rules_error("# nothing\n");
    assert!(e.contains("bad-rules.toml") && e.contains("no rules"), "{e}");
}

/// A CIC stamp of `ns` at UTC-3: `D/M/YYYY H:MM` on a 12-hour clock without AM/PM.
fn cic_minute(ns: u64) -> String {
    let t = DateTime::from_timestamp_nanos(ns as i64 - 3 * 3600 * 1_000_000_000);
    let h = match t.hour() % 12 {
        0 => 12,
        h => h,
    };
    format!(
        "{}/{}/{} {}:{:02}",
        t.format("%-d"),
        t.format("%-m"),
        t.format("%Y"),
        h,
        t.minute()
    )
}

/// The three flows of http.pcap the label tests aim at: the web session (port 3372), the
/// other TCP flow (3371) and the DNS query (53).
fn http_flows(flows: &[Flow]) -> (&Flow, &Flow, &Flow) {
    let find = |port: u16| {
        flows
            .iter()
            .find(|f| f.src.1 == port || f.dst.1 == port)
            .expect("flow")
    };
    (find(3372), find(3371), find(53))
}

/// `DD/MM/YYYY hh:mm:ss AM|PM` at UTC-3.
fn cic_seconds(ns: u64) -> String {
    let t = DateTime::from_timestamp_nanos(ns as i64 - 3 * 3600 * 1_000_000_000);
    t.format("%d/%m/%Y %I:%M:%S %p").to_string()
}

#[test]
fn cic_csv_labels_flows_in_either_direction_within_the_time_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = pcap("http.pcap");
    let flows = independent(&input, false).flows;
    let (web, other, dns) = http_flows(&flows);
    let csv = dir.path().join("labels.csv");
    let row = |a: (IpAddr, u16), b: (IpAddr, u16), proto: &str, stamp: String, label: &str| {
        format!(
            "{}-{}-{}-{}-6,{},{},{},{},{proto},{stamp},1000,{label}\n",
            a.0, b.0, a.1, b.1, a.0, a.1, b.0, b.1
        )
    };
    let mut text = String::from("Flow ID, Source IP, Source Port, Destination IP, Destination Port, Protocol, Timestamp, Flow Duration, Label\n");
    text += &row(web.src, web.dst, "6", cic_minute(web.first_ts_ns), "BENIGN");
    // Reversed direction, protocol written by pandas, stamp with seconds and AM/PM.
    text += &row(
        other.dst,
        other.src,
        "6.0",
        cic_seconds(other.first_ts_ns),
        "Web Attack",
    );
    // A day early: outside the window.
    text += &row(
        dns.src,
        dns.dst,
        "17",
        cic_minute(dns.first_ts_ns - 86_400 * 1_000_000_000),
        "DoS",
    );
    text += ",,,,,,,,\n";
    std::fs::write(&csv, text).expect("write csv");
    let (report, df) = labelled(
        std::slice::from_ref(&input),
        &dir.path().join("cic.parquet"),
        &csv,
    );
    let labels = report.labels.expect("label report");
    let expected: BTreeMap<String, u64> = [("BENIGN".to_string(), 1), ("Web Attack".to_string(), 1)].into();
    assert_eq!(labels.labels, expected);
    assert_eq!(labels.unmatched_flows, flows.len() as u64 - 2);
    assert_eq!(labels.cic_rows, Some(3));
    assert_eq!(labels.cic_rows_used, Some(2));
    let label = strings(&df, "label");
    let rows = tuples(&df);
    for (i, t) in rows.iter().enumerate() {
        let want = if *t == tuple_of(web) {
            Some("BENIGN")
        } else if *t == tuple_of(other) {
            Some("Web Attack")
        } else {
            None
        };
        assert_eq!(label[i].as_deref(), want, "row {t:?}");
    }
    assert!(
        df.column("attack_type").is_err(),
        "no attack_type column for CIC labels"
    );

    // A window of 0 s still holds a minute stamp's own minute; the real CIC files parse.
    for real in [
        "friday-ddos-labelled-flows-head300.csv",
        "wednesday-0948-1006-slowloris-10col.csv",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/data/cic-ids2017")
            .join(real);
        // 2004 traffic matches no 2017 row: a labels file that labels no flow is refused (as
        // `eval` refuses it), naming the rows read and both time ranges, and nothing is written.
        let out = dir.path().join("real.csv");
        let mut opts = options(std::slice::from_ref(&input), &out, DecisionPoint::LastPacket);
        opts.labels = Some(path.clone());
        let e = extract(&opts, &NoProgress)
            .expect_err("no flow labelled")
            .to_string();
        assert!(
            e.contains(&format!(
                "the labels file matches none of the {} flows",
                flows.len()
            )),
            "{real}: {e}"
        );
        let rows: u64 = e
            .split("(read: ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(rows >= 299, "{real}: {e}");
        assert!(e.contains("the rows' Timestamps span 2017-07-0"), "{real}: {e}");
        assert!(!out.exists(), "{real}: nothing is written");
    }
}

/// The generator's labels file, read by `--labels` like the other formats: every flow of each
/// committed sample is labelled, with the labels file's own counts per label and per scenario.
#[test]
fn generator_labels_file_labels_every_flow_of_each_sample_capture() {
    let dir = tempfile::tempdir().expect("tempdir");
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-pcaps");
    for variant in ["naive", "honest"] {
        let labels_path = samples.join(format!("labels-{variant}.csv"));
        let text = std::fs::read_to_string(&labels_path).expect("labels file");
        // The expected counts, from the labels file itself (columns 8 and 9: label, scenario;
        // a benign flow's attack type is its label).
        let mut by_label: BTreeMap<String, u64> = BTreeMap::new();
        let mut by_scenario: BTreeMap<String, u64> = BTreeMap::new();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            *by_label.entry(f[7].to_string()).or_default() += 1;
            let class = if f[7] == "BENIGN" { f[7] } else { f[8] };
            *by_scenario.entry(class.to_string()).or_default() += 1;
        }
        let rows: u64 = by_label.values().sum();
        assert_eq!(
            rows, 1_860,
            "{variant}: flows in the labels file (sample-pcaps/README.md)"
        );

        let out = dir.path().join(format!("{variant}.parquet"));
        let (report, df) = labelled(&[samples.join(format!("{variant}.pcap"))], &out, &labels_path);
        let labels = report.labels.expect("label report");
        assert_eq!(labels.kind, "generator", "{variant}: detected from the header");
        assert_eq!(labels.unmatched_flows, 0, "{variant}");
        assert_eq!(labels.labels, by_label, "{variant}");
        assert_eq!(
            (labels.generator_rows, labels.generator_rows_used),
            (Some(rows), Some(rows)),
            "{variant}: every row labelled one flow"
        );
        assert_eq!(report.flows, rows, "{variant}");
        let mut table_scenarios: BTreeMap<String, u64> = BTreeMap::new();
        for s in strings(&df, "attack_type") {
            *table_scenarios
                .entry(s.expect("every row has its scenario"))
                .or_default() += 1;
        }
        assert_eq!(table_scenarios, by_scenario, "{variant}");
        assert!(strings(&df, "label").iter().all(Option::is_some));
    }
}

/// A generator labels file matches in either direction and only inside the row's time window;
/// what it does not match is counted; a damaged row names the file, line and column.
#[test]
fn generator_labels_match_both_directions_and_the_time_window_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = pcap("http.pcap");
    let flows = independent(&input, false).flows;
    let (web, other, dns) = http_flows(&flows);
    let header = "src,sport,dst,dport,proto,first_ts_ns,last_ts_ns,label,scenario,variant\n";
    let row = |a: (IpAddr, u16), b: (IpAddr, u16), proto: u8, first: u64, last: u64, label: &str| {
        format!(
            "{},{},{},{},{proto},{first},{last},{label},s_{label},test\n",
            a.0, a.1, b.0, b.1
        )
    };
    let mut text = String::from(header);
    text += &row(web.src, web.dst, 6, web.first_ts_ns, web.max_ts_ns, "A");
    // Reversed direction: still the same flow.
    text += &row(other.dst, other.src, 6, other.first_ts_ns, other.max_ts_ns, "B");
    // A window that ends before the flow starts: no match.
    text += &row(
        dns.src,
        dns.dst,
        17,
        dns.first_ts_ns - 10,
        dns.first_ts_ns - 1,
        "C",
    );
    let csv = dir.path().join("labels-test.csv");
    std::fs::write(&csv, &text).expect("write");
    let (report, df) = labelled(std::slice::from_ref(&input), &dir.path().join("g.csv"), &csv);
    let labels = report.labels.expect("label report");
    let expected: BTreeMap<String, u64> = [("A".to_string(), 1), ("B".to_string(), 1)].into();
    assert_eq!(labels.labels, expected);
    assert_eq!(labels.unmatched_flows, flows.len() as u64 - 2);
    assert_eq!(
        (labels.generator_rows, labels.generator_rows_used),
        (Some(3), Some(2))
    );
    let (label, scenario) = (strings(&df, "label"), strings(&df, "attack_type"));
    for (i, t) in tuples(&df).iter().enumerate() {
        let want = if *t == tuple_of(web) {
            Some("A")
        } else if *t == tuple_of(other) {
            Some("B")
        } else {
            None
        };
        assert_eq!(label[i].as_deref(), want, "row {t:?}");
        assert_eq!(scenario[i], want.map(|w| format!("s_{w}")), "row {t:?}");
    }

    std::fs::write(&csv, format!("{header}10.0.0.1,80,10.0.0.2,http,6,1,2,X,s,v\n")).expect("write");
    let mut opts = options(
        std::slice::from_ref(&input),
        &dir.path().join("o.csv"),
        DecisionPoint::LastPacket,
    );
    opts.labels = Some(csv);
    let e = workbench_data::error_chain(&extract(&opts, &NoProgress).expect_err("bad row refused"));
    assert!(
        e.contains("labels-test.csv:2:") && e.contains("`dport`") && e.contains("`http`"),
        "{e}"
    );
}
