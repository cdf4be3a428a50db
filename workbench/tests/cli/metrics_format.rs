//! The probe's Prometheus metrics (issue 15 item 3) as text, without the kernel: a snapshot like
//! one a scrape reads, encoded by the code `workbench metrics` serves, checked by `promtool check
//! metrics` (Debian package `prometheus`, installed by `cargo xtask setup`) and value by value. The
//! kernel test tests/kernel/metrics_scrape.rs scrapes the real probe over HTTP.

use crate::common::promtool::{promtool_check, sample};
use workbench_kernel::metrics::{encode_snapshot, Snapshot};

fn snapshot(bpf_stats: bool) -> Snapshot {
    let mut s = Snapshot {
        iface: "wbtest0".into(),
        active_model: Some("1234abcd".into()),
        shadow_model: Some("0badcafe".into()),
        bpf_stats_enabled: bpf_stats,
        program_run_ns: if bpf_stats { 1_500_000 } else { 0 },
        program_runs: if bpf_stats { 1_000 } else { 0 },
        ..Default::default()
    };
    for (name, v) in [
        ("packets", 1_200),
        ("parsed", 1_100),
        ("shadow_disagreements", 7),
        ("events_lost", 2),
        ("records_lost", 3),
        ("truncated", 5),
    ] {
        s.stats.insert(name, v);
    }
    s.flows.insert(("1234abcd".into(), "malicious"), 4);
    s.flows.insert(("1234abcd".into(), "benign"), 30);
    s.flows.insert((String::new(), "none"), 1);
    s
}

#[test]
fn metrics_text_passes_promtool_and_carries_the_snapshot() {
    let text = encode_snapshot(&snapshot(true)).expect("encode");
    let (ok, said) = promtool_check(&text);
    assert!(
        ok && said.trim().is_empty(),
        "promtool check metrics:\n{said}\n{text}"
    );
    let expect = [
        (r#"workbench_packets_total{iface="wbtest0"}"#, 1_200.0),
        (r#"workbench_packets_parsed_total{iface="wbtest0"}"#, 1_100.0),
        (
            r#"workbench_packets_unparsed_total{iface="wbtest0",reason="truncated"}"#,
            5.0,
        ),
        (r#"workbench_shadow_disagreements_total{iface="wbtest0"}"#, 7.0),
        (r#"workbench_events_lost_total{iface="wbtest0"}"#, 2.0),
        (r#"workbench_records_lost_total{iface="wbtest0"}"#, 3.0),
        (r#"workbench_flows{iface="wbtest0"}"#, 35.0),
        (
            r#"workbench_flow_verdicts{iface="wbtest0",model="1234abcd",verdict="malicious"}"#,
            4.0,
        ),
        (
            r#"workbench_flow_verdicts{iface="wbtest0",model="1234abcd",verdict="benign"}"#,
            30.0,
        ),
        (
            r#"workbench_model_info{iface="wbtest0",model="1234abcd",slot="active"}"#,
            1.0,
        ),
        (
            r#"workbench_model_info{iface="wbtest0",model="0badcafe",slot="shadow"}"#,
            1.0,
        ),
        ("workbench_bpf_stats_enabled", 1.0),
        (r#"workbench_program_runs_total{iface="wbtest0"}"#, 1_000.0),
        (r#"workbench_program_run_seconds_total{iface="wbtest0"}"#, 0.0015),
        (r#"workbench_program_mean_run_seconds{iface="wbtest0"}"#, 1.5e-6),
    ];
    for (series, value) in expect {
        let got = sample(&text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
        assert!(
            (got - value).abs() <= value * 1e-9,
            "{series} = {got}, expected {value}"
        );
    }
    println!(
        "metrics text: {} lines, promtool clean, {} series checked",
        text.lines().count(),
        expect.len()
    );

    // BPF statistics off: no run-time series (the kernel counts nothing then), still clean.
    let off = encode_snapshot(&snapshot(false)).expect("encode");
    assert_eq!(sample(&off, "workbench_bpf_stats_enabled"), Some(0.0));
    assert!(!off.contains("workbench_program_"), "{off}");
    let (ok, said) = promtool_check(&off);
    assert!(ok && said.trim().is_empty(), "{said}");

    // The check can fail: a counter without _total, as a hand-written exporter might write it.
    let (_, said) = promtool_check(
        "# HELP workbench_packets Frames\n# TYPE workbench_packets counter\nworkbench_packets 1\n",
    );
    assert!(said.contains("_total"), "promtool said: {said}");
}

/// What `workbench agent` serves for several interfaces: each interface's families merged into
/// one exposition (HELP and TYPE once per family, the unlabelled sysctl gauge once), which
/// promtool accepts and which keeps every interface's values.
#[test]
fn metrics_of_two_interfaces_merge_into_one_valid_exposition() {
    use workbench_kernel::metrics::{encode_families, merge_families, registry_of};
    let a = snapshot(true);
    let mut b = snapshot(false);
    b.iface = "wbtest1".into();
    b.stats.insert("packets", 77);
    let groups = [&a, &b]
        .iter()
        .map(|s| registry_of(s).expect("registry").gather())
        .collect();
    let text = encode_families(&merge_families(groups)).expect("encode");
    let (ok, said) = promtool_check(&text);
    assert!(
        ok && said.trim().is_empty(),
        "promtool check metrics:\n{said}\n{text}"
    );
    assert_eq!(
        text.matches("# HELP workbench_packets_total ").count(),
        1,
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"workbench_packets_total{iface="wbtest0"}"#),
        Some(1_200.0)
    );
    assert_eq!(
        sample(&text, r#"workbench_packets_total{iface="wbtest1"}"#),
        Some(77.0)
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("workbench_bpf_stats_enabled "))
            .count(),
        1,
        "{text}"
    );
}
