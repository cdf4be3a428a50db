//! Deterministic fake data: the fixed states that snapshot tests, `workbench screenshots` and
//! the frame-time measurement render. Scores and verdicts come from real models run on the fake
//! flows' feature state, so the verdict explanations shown are true for the data shown.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use crate::error::Result;
use shared::features::{feature_id, FlowState};
use shared::flow::{VERDICT_BENIGN, VERDICT_MALICIOUS};
use shared::model::{LogisticTerm, Model, TRANSFORM_IDENTITY, TRANSFORM_LOG2};

use super::action::Tab;
use super::app::{App, Overlay};
use super::source::{Control, FlowRow, Snapshot};
use workbench_flow::model::scale::ScoreScale;
use workbench_flow::model::{build, id_string, kind_name};
use workbench_kernel::flows::{verdict_name, FlowRecord};
use workbench_kernel::models::{ModelsReport, SlotInfo};

/// The fixed clock of the fake data (seconds since the probe's boot).
const NOW_NS: u64 = 1_000 * 1_000_000_000;

/// A logistic model over SYNs, answers and payload size (hand-written, for the fixtures).
pub fn logistic_model() -> Result<Box<Model>> {
    let ids = ["syn_count", "bwd_packets", "fwd_len_max", "dst_port"].map(feature_id);
    let [Some(syn), Some(bwd), Some(len), Some(port)] = ids else {
        return Err(crate::error::Error::Invalid(
            "feature table lacks a fixture feature".into(),
        ));
    };
    let term = |weight, shift, transform| LogisticTerm {
        weight,
        shift,
        transform,
        _pad: [0; 2],
    };
    Ok(build::logistic(
        &[
            (syn, term(40_000, 0, TRANSFORM_IDENTITY)),
            (bwd, term(-30_000, 0, TRANSFORM_IDENTITY)),
            (len, term(-20, 0, TRANSFORM_LOG2)),
            (port, term(3, 0, TRANSFORM_IDENTITY)),
        ],
        -20_000,
        0,
    )?)
}

/// A small deterministic generator (the fixtures must not change between runs).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

fn flow_state(rng: &mut Lcg, i: usize) -> FlowState {
    // About one flow in eight is a scan: SYNs, no answer.
    let scan = rng.next(8) == 0;
    let fwd = 1 + rng.next(if scan { 3 } else { 40 }) as u32;
    let bwd = if scan { 0 } else { 1 + rng.next(40) as u32 };
    let ports = [80u16, 443, 22, 53, 8080, 3389];
    let mut dst_port = ports[rng.next(ports.len() as u64) as usize];
    // Scans are TCP SYNs; only DNS is UDP (and UDP has no SYN flag).
    if scan && dst_port == 53 {
        dst_port = 443;
    }
    let udp = dst_port == 53;
    let age_s = rng.next(400);
    let last = NOW_NS - age_s * 1_000_000_000;
    let len = if scan { 0 } else { 40 + rng.next(1400) as u32 };
    FlowState {
        first_ts_ns: last - rng.next(60) * 1_000_000_000,
        last_ts_ns: last,
        fwd_frame_bytes: fwd as u64 * (len as u64 + 54),
        bwd_frame_bytes: bwd as u64 * (len as u64 / 2 + 54),
        fwd_payload_bytes: fwd as u64 * len as u64,
        bwd_payload_bytes: bwd as u64 * (len as u64 / 2),
        fwd_packets: fwd,
        bwd_packets: bwd,
        fwd_len_max: len,
        fwd_len_min: len,
        syn_count: if udp {
            0
        } else if scan {
            fwd as u16
        } else {
            1 + (i % 2) as u16
        },
        ack_count: if udp {
            0
        } else {
            (fwd + bwd).saturating_sub(1) as u16
        },
        dst_port,
        proto: if udp { 17 } else { 6 },
        ..FlowState::default()
    }
}

fn record(i: usize, state: &FlowState, active: &Model, shadow: Option<&Model>) -> FlowRecord {
    let x = state.features();
    let verdict = |m: &Model| {
        let s = m.score(&x);
        (
            s,
            if m.is_malicious(s) {
                VERDICT_MALICIOUS
            } else {
                VERDICT_BENIGN
            },
        )
    };
    let (score, v) = verdict(active);
    let shadow_result = shadow.map(verdict);
    let packets = state.fwd_packets + state.bwd_packets;
    let src = IpAddr::V4(Ipv4Addr::new(10, 203, (i / 250 % 250) as u8, (i % 250) as u8 + 2));
    let src_port = 30_000 + (i % 30_000) as u16;
    let dst = IpAddr::V4(Ipv4Addr::new(192, 168, 7, (i % 7) as u8 + 10));
    FlowRecord {
        flow_id: workbench_kernel::flows::endpoints_flow_id(
            if state.proto == 17 { 17 } else { 6 },
            (src, src_port),
            (dst, state.dst_port),
        ),
        src,
        src_port,
        dst,
        dst_port: state.dst_port,
        proto: if state.proto == 17 { "udp" } else { "tcp" },
        vlan_id: 0,
        fwd_packets: state.fwd_packets as u64,
        bwd_packets: state.bwd_packets as u64,
        fwd_bytes: state.fwd_frame_bytes,
        bwd_bytes: state.bwd_frame_bytes,
        first_seen_ns: state.first_ts_ns,
        last_seen_ns: state.last_ts_ns,
        verdict: verdict_name(v),
        probability: Some(ScoreScale::of(active).probability(score)),
        score,
        model: Some(id_string(active.header.model_id)),
        decided_at_packet: packets.min(32),
        shadow_verdict: verdict_name(shadow_result.map_or(0, |r| r.1)),
        shadow_probability: shadow
            .zip(shadow_result)
            .map(|(m, r)| ScoreScale::of(m).probability(r.0)),
        shadow_score: shadow_result.map_or(0, |r| r.0),
        shadow_model: shadow.map(|m| id_string(m.header.model_id)),
        shadow_disagreements: shadow_result.map_or(0, |r| u32::from(r.1 != v)),
    }
}

fn slot(m: &Model, map_id: u32) -> SlotInfo {
    SlotInfo {
        model: id_string(m.header.model_id),
        kind: kind_name(m.header.kind),
        kernel_map_id: map_id,
    }
}

/// A kernel-like snapshot of `flows` flows on interface `ebml-demoh`, scored by the demo tree
/// (active) or the logistic model (`logistic_active`), the other one running as shadow.
pub fn snapshot(flows: usize, logistic_active: bool) -> Result<Snapshot> {
    let tree = super::sim::demo_model()?;
    let logistic = logistic_model()?;
    let (active, shadow) = if logistic_active {
        (&logistic, &tree)
    } else {
        (&tree, &logistic)
    };
    let mut rng = Lcg(42);
    let rows: Vec<FlowRow> = (0..flows)
        .map(|i| {
            let state = flow_state(&mut rng, i);
            FlowRow {
                record: record(i, &state, active, Some(shadow)),
                state,
            }
        })
        .collect();
    let packets: u64 = rows.iter().map(super::view::packets).sum();
    let stats = (0..shared::stats::COUNT)
        .map(|i| {
            let name = shared::stats::name(i);
            let v = match name {
                "packets" | "parsed" => packets,
                "flows_created" => flows as u64,
                "evaluations" | "code_evaluations" => packets / 2,
                "verdict_changes" => flows as u64 + flows as u64 / 8,
                "shadow_disagreements" => rows.iter().map(|r| r.record.shadow_disagreements as u64).sum(),
                _ => 0,
            };
            (name, v)
        })
        .collect();
    Ok(Snapshot {
        label: "KERNEL probe on ebml-demoh (fixture data)".into(),
        simulated: false,
        // A reader drains the fixture's ring (the title says nothing about lost events).
        events_read: Some(true),
        iface: Some("ebml-demoh".into()),
        now_ns: NOW_NS,
        flows: rows,
        stats,
        models: Some(ModelsReport {
            iface: "ebml-demoh".into(),
            active: Some(slot(active, 41)),
            shadow: Some(slot(shadow, 42)),
            previous: Some(slot(shadow, 40)),
            mode: "monitor",
            attach_mode: "tcx",
            // The default engine: the models compiled into a copy of the probe.
            engine: "code",
            code_program_id: Some(43),
            decide_first_packets: 32,
            decide_every: 16,
            clock: "ns",
            drop_unparsed: workbench_kernel::models::unparsed::names(shared::abi::DROP_UNPARSED_DEFAULT),
            older_probe_lacks: Vec::new(),
            allowlist: Vec::new(),
        }),
        active_model: Some(Arc::from(active.clone())),
        pps: 1800,
        verdicts_per_s: 40,
        ifaces: vec!["ebml-demoh".into(), "ebml-labh".into()],
        // 10 million runs at 142 ns: what the kernel counted while statistics were on.
        program_cost: Some(workbench_kernel::live_cost::ProgramCost {
            run_time_ns: 1_420_000_000,
            run_count: 10_000_000,
        }),
        prepared: None,
    })
}

/// The screens rendered by `workbench screenshots` and the snapshot tests.
pub const SCREENS: &[&str] = &[
    "data",
    "data-sorted-naive",
    "pitfalls",
    "pitfalls-honest",
    "train",
    "train-running",
    "train-cost",
    "train-cost-unavailable",
    "eval",
    "deploy-trained-confirm",
    "deploy",
    "deploy-confirm",
    "deploy-live-cost",
    "live",
    "live-detail-tree",
    "live-detail-logistic",
    "live-shadow-why",
    "live-filtered",
    "help",
    "live-simulated-colourblind",
    "live-high-contrast",
    "deploy-simulated",
];

/// An app in the fixed state of screen `name` at `size`.
pub fn screen(name: &str, size: (u16, u16)) -> Result<App> {
    let logistic = name == "live-detail-logistic";
    let mut app = App::new(snapshot(300, logistic)?, size);
    // A fixed rise and fall for the sparklines.
    app.pps = (0..100u64).map(|i| 1200 + (i * 37 % 50) * 20).collect();
    app.verdicts = (0..100u64).map(|i| 20 + (i * 13 % 17) * 3).collect();
    app.tab = Tab::Live;
    if super::fake_tabs::screen(&mut app, name)? {
        return Ok(app);
    }
    match name {
        "deploy" => app.tab = Tab::Deploy,
        "deploy-live-cost" => {
            app.tab = Tab::Deploy;
            // Statistics came on with the view at 8 million runs; 2 million since, at 150 ns.
            app.set_stats(super::state::cost::StatsState::On);
            app.live_cost.base = Some(workbench_kernel::live_cost::ProgramCost {
                run_time_ns: 1_120_000_000,
                run_count: 8_000_000,
            });
        }
        "deploy-confirm" => {
            app.tab = Tab::Deploy;
            app.overlay = Overlay::Confirm(Control::Rollback);
        }
        "live" => {}
        "live-detail-tree" | "live-detail-logistic" => app.overlay = Overlay::Detail,
        "live-filtered" => {
            app.filter = "malicious".into();
            app.view = super::view::compute(&app.snapshot, app.sort, app.sort_desc, &app.filter);
        }
        "help" => app.overlay = Overlay::Help,
        "live-simulated-colourblind" => {
            let mut s = (*app.snapshot).clone();
            s.simulated = true;
            s.iface = None;
            s.label =
                "SIMULATED (userspace twin, no kernel): capture.pcap · built-in demo tree (not trained)"
                    .into();
            app.snapshot = Arc::new(s);
            app.theme = super::theme::ThemeKind::ColourBlind;
        }
        "live-high-contrast" => app.theme = super::theme::ThemeKind::HighContrast,
        "deploy-simulated" => {
            app.tab = Tab::Deploy;
            let mut s = (*app.snapshot).clone();
            s.simulated = true;
            s.iface = None;
            s.ifaces.clear();
            s.label =
                "SIMULATED (userspace twin, no kernel): capture.pcap · built-in demo tree (not trained)"
                    .into();
            if let Some(m) = s.models.as_mut() {
                m.shadow = None;
                m.previous = None;
                if let Some(a) = m.active.as_mut() {
                    a.kernel_map_id = 0;
                }
            }
            app.snapshot = Arc::new(s);
        }
        other => return Err(crate::error::Error::Invalid(format!("unknown screen {other}"))),
    }
    Ok(app)
}
