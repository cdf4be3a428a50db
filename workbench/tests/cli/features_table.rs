//! `workbench features` on the real sample captures: one row per flow (or per packet), flow and
//! packet counts checked against an independent count, and feature values checked against
//! `FlowState` fed the same packets by hand.

use std::collections::HashSet;

use crate::featkit::{independent, ints, options, pcap, read_table, run, strings, tuple_of, tuples};
use shared::features::{feature_id, is_opt_in, FlowState, FEATURES, OPT_IN_FEATURES};
use shared::FlowKey;
use workbench_data::features::DecisionPoint;

/// The column of feature `name` (dst_port and proto are the tuple columns of the same name).
fn feature(df: &polars::prelude::DataFrame, name: &str) -> Vec<i64> {
    ints(df, name)
}

/// Distinct `FlowKey`s of a capture (the probe's notion of a flow).
fn distinct_keys(path: &std::path::Path) -> usize {
    let mut keys = HashSet::new();
    for packet in workbench_flow::capture::open(path, false).expect("open") {
        if let Ok(p) = packet.expect("packet").parse() {
            keys.insert(FlowKey::of(&p).key);
        }
    }
    keys.len()
}

#[test]
fn one_row_per_flow_with_the_probes_feature_values_in_csv_and_parquet() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["http.pcap", "mixed-demo.pcap"] {
        let input = pcap(name);
        let truth = independent(&input, false);
        assert!(!truth.flows.is_empty(), "{name}: no flows");
        let mut tables = Vec::new();
        for ext in ["csv", "parquet"] {
            let out = dir.path().join(format!("{name}.{ext}"));
            let report = run(&options(
                std::slice::from_ref(&input),
                &out,
                DecisionPoint::LastPacket,
            ));
            let df = read_table(&out);
            assert_eq!(df.height(), truth.flows.len(), "{name} {ext}: rows");
            assert_eq!(
                df.height(),
                distinct_keys(&input),
                "{name} {ext}: rows vs FlowKeys"
            );
            assert_eq!(report.rows as usize, df.height());
            assert_eq!(report.flows as usize, truth.flows.len());
            assert_eq!(report.packets, truth.packets, "{name}: packets read");
            assert_eq!(report.parsed_packets, truth.parsed, "{name}: packets parsed");
            // Rows come in first-seen order, oriented from the initiator.
            let rows = tuples(&df);
            let expected: Vec<_> = truth.flows.iter().map(tuple_of).collect();
            assert_eq!(rows, expected, "{name} {ext}: flow tuples");
            let total = ints(&df, "flow_packets");
            let fwd = feature(&df, "fwd_packets");
            let syn = feature(&df, "syn_count");
            let dur = feature(&df, "duration_us");
            let k = ints(&df, "decision_packet");
            let first = ints(&df, "first_seen_ns");
            let packets = feature(&df, "packets");
            for (i, f) in truth.flows.iter().enumerate() {
                assert_eq!(total[i], f.packets as i64, "{name} flow {i}: total packets");
                assert_eq!(k[i], f.packets as i64, "{name} flow {i}: decision at last packet");
                assert_eq!(packets[i], f.packets as i64, "{name} flow {i}: packets feature");
                assert_eq!(fwd[i], f.fwd_packets as i64, "{name} flow {i}: fwd_packets");
                assert_eq!(syn[i], f.syn_packets as i64, "{name} flow {i}: syn_count");
                assert_eq!(
                    dur[i],
                    ((f.max_ts_ns - f.first_ts_ns) / 1000) as i64,
                    "{name} flow {i}: duration_us"
                );
                assert_eq!(first[i], f.first_ts_ns as i64, "{name} flow {i}: first_seen_ns");
            }
            // The largest flow, all 40 features: FlowState fed the same packets by hand.
            let (i, big) = truth
                .flows
                .iter()
                .enumerate()
                .max_by_key(|(_, f)| f.packets)
                .expect("a flow");
            let (p0, _, t0) = big.trace[0];
            let mut state = FlowState::start(&p0, t0);
            for (p, forward, ts) in &big.trace[1..] {
                state.update(p, *forward, *ts);
            }
            let by_hand = state.features();
            for (id, info) in FEATURES.iter().enumerate() {
                if is_opt_in(id) {
                    assert!(
                        df.column(info.name).is_err(),
                        "{name}: {} only when asked",
                        info.name
                    );
                    continue;
                }
                assert_eq!(
                    feature(&df, info.name)[i],
                    by_hand[id],
                    "{name} {ext}: feature {} of the largest flow",
                    info.name
                );
            }
            assert!(strings(&df, "source_file")
                .iter()
                .all(|s| s.as_deref() == Some(input.display().to_string().as_str())));
            tables.push(df);
        }
        assert!(tables[0].equals(&tables[1]), "{name}: CSV and Parquet differ");
    }
}

#[test]
fn decision_at_one_is_the_state_after_the_first_packet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs = [pcap("http.pcap"), pcap("mixed-demo.pcap")];
    let out = dir.path().join("k1.parquet");
    run(&options(&inputs, &out, DecisionPoint::Packet(1)));
    let df = read_table(&out);
    let flows = independent(&inputs[0], false).flows.len() + independent(&inputs[1], false).flows.len();
    assert_eq!(df.height(), flows);
    assert!(feature(&df, "packets").iter().all(|&v| v == 1));
    assert!(feature(&df, "fwd_packets").iter().all(|&v| v == 1));
    assert!(feature(&df, "bwd_packets").iter().all(|&v| v == 0));
    assert!(feature(&df, "duration_us").iter().all(|&v| v == 0));
    assert!(ints(&df, "decision_packet").iter().all(|&v| v == 1));
    assert!(strings(&df, "decided_at")
        .iter()
        .all(|v| v.as_deref() == Some("packet_n")));
    let sources: HashSet<_> = strings(&df, "source_file").into_iter().flatten().collect();
    assert_eq!(sources.len(), 2, "both files named");

    // At packet 3, flows with fewer packets are decided at their last packet.
    let out = dir.path().join("k3.csv");
    run(&options(&inputs[..1], &out, DecisionPoint::Packet(3)));
    let df = read_table(&out);
    let truth = independent(&inputs[0], false);
    let (packets, at, total) = (
        feature(&df, "packets"),
        strings(&df, "decided_at"),
        ints(&df, "flow_packets"),
    );
    let mut short = 0;
    for (i, f) in truth.flows.iter().enumerate() {
        if f.packets < 3 {
            short += 1;
            assert_eq!(packets[i], f.packets as i64);
            assert_eq!(at[i].as_deref(), Some("last_packet"));
        } else {
            assert_eq!(packets[i], 3);
            assert_eq!(at[i].as_deref(), Some("packet_n"));
        }
        assert_eq!(total[i], f.packets as i64);
    }
    assert!(
        short > 0 && short < truth.flows.len(),
        "http.pcap has short and long flows"
    );
}

#[test]
fn every_packet_gives_one_row_per_parsed_packet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = pcap("http.pcap");
    let truth = independent(&input, false);
    let out = dir.path().join("all.csv");
    let report = run(&options(
        std::slice::from_ref(&input),
        &out,
        DecisionPoint::EveryPacket,
    ));
    let df = read_table(&out);
    assert_eq!(df.height() as u64, truth.parsed);
    assert_eq!(report.rows, truth.parsed);
    assert_eq!(report.flows as usize, truth.flows.len());
    // Per flow: packets 1..=total in order, the total on every row, features after each packet.
    let rows = tuples(&df);
    let (k, total, fwd) = (
        ints(&df, "decision_packet"),
        ints(&df, "flow_packets"),
        feature(&df, "fwd_packets"),
    );
    for f in &truth.flows {
        let mine: Vec<usize> = (0..rows.len()).filter(|&i| rows[i] == tuple_of(f)).collect();
        assert_eq!(mine.len(), f.packets as usize);
        let mut fwd_so_far = 0;
        for (n, &i) in mine.iter().enumerate() {
            fwd_so_far += f.trace[n].1 as i64;
            assert_eq!(k[i], n as i64 + 1);
            assert_eq!(total[i], f.packets as i64);
            assert_eq!(fwd[i], fwd_so_far);
        }
    }
    assert_eq!(
        feature_id("packets"),
        Some(39),
        "the packets feature is the decision point k"
    );
    assert_eq!(feature(&df, "packets"), k);
}

#[test]
fn the_vlan_id_column_is_there_when_asked_for_with_the_captures_tag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut report = workbench_flow::gen::write_all(dir.path(), 7).expect("generate");
    workbench_flow::gen::vlan::tag_written(
        &mut report,
        workbench_flow::gen::vlan::VlanTags::QinQ { outer: 301, inner: 7 },
    )
    .expect("tag");
    let input = dir.path().join("honest.pcap");
    for opt_in in [0, OPT_IN_FEATURES] {
        let out = dir.path().join(format!("t{opt_in}.parquet"));
        let mut opts = options(std::slice::from_ref(&input), &out, DecisionPoint::LastPacket);
        opts.opt_in = opt_in;
        let report = run(&opts);
        let df = read_table(&out);
        assert!(report.rows > 0);
        match opt_in {
            0 => assert!(df.column("vlan_id").is_err(), "no vlan_id column unless asked"),
            _ => assert!(
                feature(&df, "vlan_id").iter().all(|&v| v == 301),
                "every flow carries the outer tag's id"
            ),
        }
    }
}
