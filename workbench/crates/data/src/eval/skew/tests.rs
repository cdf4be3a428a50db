use super::*;
use shared::features::{feature_id, FEATURE_COUNT};
use workbench_flow::model::build::{self, Node};
use workbench_flow::model::distribution::LEVELS;

fn f(name: &str) -> usize {
    feature_id(name).expect(name)
}

/// A small deterministic generator (no dependency): values spread over 0..range.
fn spread(i: u64, salt: u64, range: i64) -> i64 {
    let x = (i
        .wrapping_mul(6364136223846793005)
        .wrapping_add(salt * 1442695040888963407))
        >> 17;
    (x % range as u64) as i64
}

#[test]
fn a_feature_shifted_by_construction_ranks_first_and_names_the_split() {
    let ids = [
        f("duration_us"),
        f("fwd_packets"),
        f("syn_count"),
        f("bwd_payload_bytes"),
    ];
    let row = |i: u64, shifted: bool| {
        let mut x = [0i64; FEATURE_COUNT];
        x[ids[0]] = spread(i, 1, 5_000_000) + if shifted { 0 } else { 1_000_000 };
        x[ids[1]] = spread(i, 2, 40);
        x[ids[2]] = spread(i, 3, 3);
        x[ids[3]] = spread(i, 4, 20_000);
        if shifted {
            // Decided early: a tenth of the duration the training rows had.
            x[ids[0]] /= 10;
        }
        x
    };
    let quantiles = TrainingQuantiles {
        rows: 5_000,
        levels: LEVELS.to_vec(),
        taken_at: TakenAt::EndOfFlow,
        source: "synthetic".into(),
        features: ids
            .iter()
            .map(|&id| FeatureQuantiles::of(id, (0..5_000).map(|i| row(i, false)[id]).collect()))
            .collect(),
    };
    let mut decisions = Decisions::new(ids.to_vec());
    for i in 10_000..14_000 {
        decisions.push(&row(i, true), 1 + (i % 32) as u32);
    }
    let decisions = decisions.sorted();
    let model = build::tree(
        &[
            Node::Split {
                feature: ids[0],
                threshold: 2_000_000,
                left: 1,
                right: 2,
            },
            Node::Leaf { score: 60_000 },
            Node::Split {
                feature: ids[1],
                threshold: 10,
                left: 3,
                right: 4,
            },
            Node::Leaf { score: 60_000 },
            Node::Leaf { score: 0 },
        ],
        SCORE_ONE / 2,
    )
    .expect("tree");
    let r = compare(Some(&quantiles), &model, &decisions, "decided at packets 1-32");
    assert!(r.comparable);
    let names: Vec<&str> = r.features.iter().map(|s| s.feature.as_str()).collect();
    assert_eq!(names[0], "duration_us", "{names:?}");
    let top = &r.features[0];
    assert!(
        top.psi > PSI_MAJOR && r.features[1].psi < PSI_MODERATE,
        "{:?}",
        r.features
    );
    assert!(
        top.used_by_model
            && !r
                .features
                .iter()
                .any(|s| s.feature == "syn_count" && s.used_by_model)
    );
    match &top.moves[0] {
        Move::Split {
            node,
            training_left_share,
            decisions_left_share,
            ..
        } => {
            assert_eq!(*node, 0);
            assert!(
                *training_left_share < 0.3 && *decisions_left_share > 0.99,
                "{top:?}"
            );
        }
        other @ Move::Term { .. } => panic!("{other:?}"),
    }
    assert!(
        top.words.starts_with(
            "trained on end-of-flow `duration_us` (median 3.49 s); decided at packets 1-32 (median 250 ms)"
        ),
        "{}",
        top.words
    );
    assert_eq!(r.decision_packets.as_ref().map(|p| (p.min, p.max)), Some((1, 32)));
    assert!(
        r.summary[0].starts_with("1 of the 2 features the model reads shifted"),
        "{:?}",
        r.summary
    );
}

#[test]
fn a_model_file_without_quantiles_cannot_be_compared_and_says_so() {
    let model = build::syn_count_tree(3).expect("tree");
    let mut d = Decisions::new(vec![f("syn_count")]);
    d.push(&[0; FEATURE_COUNT], 1);
    let r = compare(None, &model, &d, "decided at packets 1-32");
    assert!(!r.comparable && r.features.is_empty());
    assert!(r
        .reason
        .as_deref()
        .unwrap_or("")
        .contains("records no training quantiles"));
}

/// One long flow decided at 200 points against 99 short flows decided at 2 each: weighed 1/N per
/// flow, the decisions' `proto` (constant within a flow) matches the training rows' (one per
/// flow), and the durations at the decision points sit below the end-of-flow ones.
#[test]
fn a_long_flow_counts_once_among_short_ones() {
    let ids = [f("proto"), f("duration_us")];
    let proto = |flow: u64| if flow == 0 { 17 } else { 6 };
    // Flow 0 lasts 200 s, the others 1-100 ms.
    let end = |flow: u64| {
        if flow == 0 {
            200_000_000
        } else {
            1_000 * flow as i64
        }
    };
    let quantiles = TrainingQuantiles {
        rows: 100,
        levels: LEVELS.to_vec(),
        taken_at: TakenAt::LastPacket,
        source: "synthetic".into(),
        features: vec![
            FeatureQuantiles::of(ids[0], (0..100).map(proto).collect()),
            FeatureQuantiles::of(ids[1], (0..100).map(end).collect()),
        ],
    };
    let mut decisions = Decisions::new(ids.to_vec());
    for flow in 0..100u64 {
        let n: u32 = if flow == 0 { 200 } else { 2 };
        for k in 1..=n {
            let mut x = [0i64; FEATURE_COUNT];
            x[ids[0]] = proto(flow);
            x[ids[1]] = end(flow) * k as i64 / n as i64;
            decisions.push_in_flow(&x, k, flow_key(0, flow as usize));
        }
    }
    let decisions = decisions.sorted();
    let model = build::syn_count_tree(3).expect("tree");
    let r = compare(Some(&quantiles), &model, &decisions, "decided at packets 1-32");
    assert_eq!((r.decisions, r.flows), (398, 100));
    let get = |name: &str| r.features.iter().find(|s| s.feature == name).expect(name);
    assert!(get("proto").psi < 0.01, "{:?}", get("proto"));
    let d = get("duration_us");
    let median = LEVELS.iter().position(|&l| l == 0.5).expect("median");
    assert!(
        d.decision_quantiles[median] < d.training_quantiles[median],
        "{d:?}"
    );
    // Unweighted, the long flow's 200 decisions would be half of them, all at protocol 17.
    assert!(get("proto").decision_quantiles[median] == 6);
    // Half the weight at packet 1 (the short flows') falls just short of the median: packet 2.
    assert_eq!(
        r.decision_packets.as_ref().map(|p| (p.min, p.median, p.max)),
        Some((1, 2, 200))
    );
    assert!(r.method.contains("1/N"));
}

/// Decisions past a CIC-IDS2017 model's longest training duration: the sentence says its rows
/// end at CICFlowMeter's 120 s flow timeout; past the range of a gap (`iat_mean_us`), whose
/// maximum is no timeout, it does not.
#[test]
fn durations_past_a_cic_models_range_name_the_flow_timeout() {
    for (name, named) in [("duration_us", true), ("iat_mean_us", false)] {
        let id = f(name);
        let quantiles = TrainingQuantiles {
            rows: 1_000,
            levels: LEVELS.to_vec(),
            taken_at: TakenAt::EndOfFlow,
            source: "CIC-IDS2017 TrafficLabelling (Friday.csv)".into(),
            features: vec![FeatureQuantiles::of(
                id,
                (0..1_000).map(|i| i * 120_000).collect(),
            )],
        };
        let mut decisions = Decisions::new(vec![id]);
        for flow in 0..100usize {
            let mut x = [0i64; FEATURE_COUNT];
            x[id] = flow as i64 * 2_000_000;
            decisions.push_in_flow(&x, 1, flow_key(0, flow));
        }
        let model = build::syn_count_tree(3).expect("tree");
        let r = compare(
            Some(&quantiles),
            &model,
            &decisions.sorted(),
            "decided at packets 1-32",
        );
        let words = &r.features[0].words;
        assert!(
            words.contains("outside the training range (0 us to 120 s"),
            "{words}"
        );
        assert_eq!(words.contains("120 s flow timeout"), named, "{name}: {words}");
    }
}
