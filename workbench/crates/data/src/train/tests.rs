use super::*;
use shared::features::feature_id;

/// Flows where attacks have many SYNs and no replies, benign ones a handshake and data; the
/// attack rows come later in time and from a few hosts.
fn synthetic(rows: usize) -> Dataset {
    let mut ds = Dataset::default();
    let mut rng = split::SplitMix64(42);
    for i in 0..rows {
        let attack = rng.next_u64().is_multiple_of(3);
        let mut x = [0i64; shared::features::FEATURE_COUNT];
        let noise = (rng.next_u64() % 5) as i64;
        x[feature_id("syn_count").expect("id")] = if attack { 3 + noise } else { 1 + noise % 2 };
        x[feature_id("bwd_packets").expect("id")] = if attack { noise % 2 } else { 3 + noise };
        x[feature_id("fwd_payload_bytes").expect("id")] = if attack { 0 } else { 200 + 37 * noise };
        x[feature_id("packets").expect("id")] = x[21] + x[4];
        ds.features.push(x);
        ds.malicious.push(attack);
        ds.class.push(if attack {
            "SYN flood".into()
        } else {
            "BENIGN".into()
        });
        ds.time_ns.push(i as i64 * 1_000 + if attack { 500 } else { 0 });
        ds.host
            .push(format!("10.0.{}.{}", i % 7, if attack { 66 } else { i % 50 }));
    }
    ds
}

#[test]
fn tree_learns_separable_flows_and_compiles_with_full_agreement() {
    let ds = synthetic(3000);
    let t = train(&ds, &TrainOptions::default()).expect("trains");
    let r = &t.report;
    assert!(
        r.metrics.recall > 0.99 && r.metrics.precision > 0.99,
        "{:?}",
        r.metrics
    );
    assert_eq!(r.agreement.share_identical, 1.0);
    assert_eq!(r.agreement.max_score_error, 0.0);
    assert!(r.other_splits.contains_key("random") && r.other_splits.contains_key("host"));
    assert_eq!(
        r.per_class["SYN flood"].rows + r.per_class["BENIGN"].rows,
        r.rows_test as u64
    );
    assert!(r.roc.len() >= 2 && r.metrics.roc_auc.is_some_and(|a| a > 0.99));
    assert!(["syn_count", "bwd_packets", "fwd_payload_bytes", "packets"].contains(&r.importance[0].0));
}

#[test]
fn logistic_compiles_with_at_least_999_per_mille_agreement() {
    let ds = synthetic(3000);
    let opts = TrainOptions {
        kind: ModelKind::Logistic,
        ..TrainOptions::default()
    };
    let t = train(&ds, &opts).expect("trains");
    assert!(t.report.metrics.f1 > 0.95, "{:?}", t.report.metrics);
    assert!(
        t.report.agreement.share_identical >= 0.999,
        "{:?}",
        t.report.agreement
    );
    assert!(
        t.report.agreement.max_score_error < 0.01,
        "{:?}",
        t.report.agreement
    );
}

#[test]
fn bad_inputs_are_refused_clearly() {
    let mut ds = synthetic(200);
    ds.malicious.iter_mut().for_each(|m| *m = false);
    let err = train(&ds, &TrainOptions::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("only one class"), "{err}");
    let empty = Dataset::default();
    assert!(train(&empty, &TrainOptions::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
        .contains("no rows"));
    let no_features = TrainOptions {
        feature_ids: vec![],
        ..TrainOptions::default()
    };
    assert!(train(&synthetic(100), &no_features).is_err());
}
