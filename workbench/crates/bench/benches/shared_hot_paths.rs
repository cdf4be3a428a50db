//! Criterion micro-benchmarks of the `shared` hot paths, in userspace: what the probe and the
//! userspace twin run per packet. `cargo bench -p workbench --bench shared_hot_paths`
//! (under `cargo test --all-targets` each runs once, as a smoke test).
//!
//! - parse + flow update: `parse_ethernet`, the canonical key, `FlowEntry::update`;
//! - features: the 40 integer features from a flow state (at every decision point);
//! - model evaluation: the depth-12 tree, the 40-feature logistic model and the forest of four
//!   depth-12 trees of `bench probe` (every walk 12 splits deep).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use shared::features::FeatureVector;
use shared::{parse_ethernet, FlowEntry, FlowKey, FrameBytes};
use workbench_bench::models;

fn frames() -> Vec<(&'static str, Vec<u8>)> {
    // `bench probe`'s packets.
    workbench_kernel::cost::packets()
}

fn parse_and_update(c: &mut Criterion) {
    for (name, frame) in frames() {
        let bytes = FrameBytes {
            data: &frame,
            wire_len_bytes: frame.len() as u32,
        };
        let first = parse_ethernet(&bytes).expect("benchmark frame parses");
        let oriented = FlowKey::of(&first);
        let mut entry = FlowEntry::new(&first, oriented.from_lo, 0);
        let mut now_ns = 0u64;
        c.bench_function(&format!("parse_and_flow_update/{name}"), |b| {
            b.iter(|| {
                now_ns += 100;
                let p = parse_ethernet(black_box(&bytes)).expect("parses");
                let o = FlowKey::of(&p);
                entry.update(&p, o.from_lo, now_ns);
                black_box(&entry);
            });
        });
        c.bench_function(&format!("flow_update/{name}"), |b| {
            b.iter(|| {
                now_ns += 100;
                entry.update(black_box(&first), oriented.from_lo, now_ns);
                black_box(&entry);
            });
        });
        c.bench_function(&format!("features/{name}"), |b| {
            b.iter(|| black_box(black_box(&entry).state.features()));
        });
    }
}

/// The feature vector of the UDP benchmark flow at its 1000th packet.
fn steady_features() -> FeatureVector {
    let (_, frame) = frames().remove(0);
    let p = parse_ethernet(&FrameBytes {
        data: &frame,
        wire_len_bytes: frame.len() as u32,
    })
    .expect("parses");
    let o = FlowKey::of(&p);
    let mut entry = FlowEntry::new(&p, o.from_lo, 0);
    for n in 2..=1000u64 {
        entry.update(&p, o.from_lo, 100 * n);
    }
    entry.state.features()
}

fn model_evaluation(c: &mut Criterion) {
    let features = steady_features();
    let tree = models::full_tree().expect("tree");
    let logistic = models::logistic().expect("logistic");
    let forest = models::forest().expect("forest");
    for (name, model) in [
        ("tree_depth12", &tree),
        ("logistic_40", &logistic),
        ("forest_4x12", &forest),
    ] {
        c.bench_function(&format!("model_score/{name}"), |b| {
            b.iter(|| black_box(model.score(black_box(&features))));
        });
    }
}

criterion_group!(benches, parse_and_update, model_evaluation);
criterion_main!(benches);
