//! The TUI's kernel source against the real probe: what the Live and Deploy tabs show comes from
//! the kernel (flows, statistics, model slots), the verdict explanation recomputes exactly the
//! score the kernel stored, and the Deploy tab's confirmed actions (rollback, monitor/enforce)
//! change the kernel. Kernel tests (the `kernel-tests` feature, as root).

use std::time::{Duration, Instant};

use crate::common::{report, workbench_json, DetachOnDrop, TempDir};
use shared::model::SCORE_ONE;
use workbench_flow::explain::explain;
use workbench_flow::model::build::{self, Node};
use workbench_flow::model::{file, id_string};
use workbench_kernel::lab::{traffic, Lab};
use workbench_tui::sim::demo_model;
use workbench_tui::source::{Control, KernelSource, Source};

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn kernel_source_shows_the_probe_explains_its_scores_and_swaps_models() {
    crate::common::require_kernel("kernel_source_shows_the_probe_explains_its_scores_and_swaps_models");
    let id = format!("tu{}", std::process::id() % 100_000);
    let lab = Lab::create(&id, (std::process::id() % 200) as u8 + 31).expect("lab namespace and veth");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let iface = lab.host_if.clone();
    workbench_json(&["probe", "attach", "--iface", &iface, "--json"]);

    let dir = TempDir::new("kernel-tui");
    let always_benign = build::tree(&[Node::Leaf { score: 1 }], SCORE_ONE / 2).expect("tree");
    let demo = demo_model().expect("demo tree");
    let (first, second) = (dir.path().join("benign.model"), dir.path().join("demo.model"));
    file::write(&first, &always_benign, serde_json::json!({"test": "tui"})).expect("write");
    file::write(&second, &demo, serde_json::json!({"test": "tui"})).expect("write");
    let deploy = |path: &std::path::Path| {
        let p = path.to_string_lossy();
        workbench_json(&[
            "deploy",
            &p,
            "--iface",
            &iface,
            "--decide-first",
            "1000",
            "--json",
        ]);
    };
    deploy(&first);
    deploy(&second);

    // UDP to a sink that does not answer, so every flow has bwd_packets = 0.
    let _sink = traffic::UdpSink::bind(lab.host_addr, 9100, false).expect("udp sink");
    for port in 42_000..42_006u16 {
        traffic::udp_from_netns(&lab, port, 9100, &[64, 64], false).expect("udp send");
    }

    let mut source = KernelSource::new(&iface);
    let deadline = Instant::now() + Duration::from_secs(5);
    let snapshot = loop {
        let s = source.poll().expect("poll the probe");
        let ours = s
            .flows
            .iter()
            .filter(|f| f.record.dst_port == 9100 && f.record.fwd_packets == 2)
            .count();
        if ours == 6 || Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!snapshot.simulated);
    assert!(snapshot.ifaces.contains(&iface));
    assert!(snapshot.stats.get("packets").copied().unwrap_or(0) >= 12);
    let models = snapshot.models.as_ref().expect("models report");
    assert_eq!(
        models.active.as_ref().map(|s| s.model.clone()),
        Some(id_string(demo.header.model_id))
    );
    assert_eq!(
        models.previous.as_ref().map(|s| s.model.clone()),
        Some(id_string(always_benign.header.model_id))
    );
    let model = snapshot
        .active_model
        .as_ref()
        .expect("active model read from the kernel");
    assert_eq!(model.header.model_id, demo.header.model_id);
    let ours: Vec<_> = snapshot
        .flows
        .iter()
        .filter(|f| f.record.dst_port == 9100)
        .collect();
    assert_eq!(ours.len(), 6, "flows: {:?}", snapshot.flows);
    for flow in &ours {
        // Every packet was a decision point, so the stored score is the model's score of the
        // final state: the explanation must reproduce it exactly.
        let e = explain(model, &flow.state);
        assert_eq!(e.score, flow.record.score, "{:?}", flow.record);
        assert_eq!(flow.record.verdict, "benign");
        assert!(!e.steps.is_empty());
    }

    source.control(&Control::Rollback).expect("rollback");
    let after = source.poll().expect("poll");
    let active = after
        .models
        .as_ref()
        .and_then(|m| m.active.clone())
        .expect("active");
    assert_eq!(active.model, id_string(always_benign.header.model_id));
    assert_eq!(
        after.active_model.as_ref().map(|m| m.header.model_id),
        Some(always_benign.header.model_id),
        "the cached model follows the swap"
    );
    source
        .control(&Control::ToggleMode)
        .expect("enforce on a lab interface");
    assert_eq!(
        source.poll().expect("poll").models.map(|m| m.mode),
        Some("enforce")
    );
    source.control(&Control::ToggleMode).expect("back to monitor");
    assert_eq!(
        source.poll().expect("poll").models.map(|m| m.mode),
        Some("monitor")
    );
    // The Deploy tab's "deploy the trained model": the code of `workbench deploy MODEL`.
    let line = source
        .control(&Control::DeployModel {
            path: second.clone(),
            shadow: false,
        })
        .expect("deploy as active");
    assert!(line.contains(&id_string(demo.header.model_id)), "{line}");
    source
        .control(&Control::DeployModel {
            path: first.clone(),
            shadow: true,
        })
        .expect("deploy as shadow");
    let status = workbench_json(&["probe", "status", "--iface", &iface, "--json"]);
    assert_eq!(
        status["active"]["model"],
        id_string(demo.header.model_id).as_str(),
        "{status:#}"
    );
    assert_eq!(
        status["previous"]["model"],
        id_string(always_benign.header.model_id).as_str()
    );
    assert_eq!(
        status["shadow"]["model"],
        id_string(always_benign.header.model_id).as_str()
    );
    let broken = dir.path().join("broken.model");
    std::fs::write(&broken, b"not a model").expect("write");
    assert!(source
        .control(&Control::DeployModel {
            path: broken,
            shadow: false
        })
        .is_err());
    report(&format!(
        "kernel test ran: TUI kernel source on {iface}, {} flows explained",
        ours.len()
    ));
}
