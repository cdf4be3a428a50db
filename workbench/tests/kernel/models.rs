//! Models in the real kernel: deploy, verdicts, events, rollback, shadow, enforce, and rejection
//! of malformed models before they reach the kernel. Traffic goes only between the two ends of a
//! veth pair whose other end lives in a namespace the test creates.

use std::path::Path;

use crate::common::poll::{poll, SETTLE};
use crate::common::{flow_from, report, save_model, workbench, workbench_json, DetachOnDrop, TempDir};
use serde_json::Value;
use shared::model::{Model, SCORE_ONE};
use workbench_flow::craft::TCP_SYN;
use workbench_flow::model::build::{self, Node};
use workbench_flow::model::file;
use workbench_kernel::lab::{traffic, Lab};

/// Malicious once a flow has seen 3 SYNs.
fn syn_tree() -> Box<Model> {
    build::syn_count_tree(3).expect("valid tree")
}

/// Benign whatever the flow does.
fn benign_tree() -> Box<Model> {
    build::tree(&[Node::Leaf { score: 1 }], SCORE_ONE / 2).expect("valid tree")
}

/// The flow from `src_port` in a `probe flows --json` table (`Value::Null` when there is none).
fn flow_of(table: &Value, src_port: u16) -> Value {
    table["flows"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["src_port"] == src_port).cloned())
        .unwrap_or(Value::Null)
}

fn id(m: &Model) -> String {
    workbench_flow::model::id_string(m.header.model_id)
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn deploy_verdicts_events_rollback_shadow_and_enforce() {
    crate::common::require_kernel("deploy_verdicts_events_rollback_shadow_and_enforce");
    let dir = TempDir::new("models");
    let (syn, benign) = (syn_tree(), benign_tree());
    let (syn_file, benign_file) = (
        save_model(dir.path(), "syn.ebml", &syn),
        save_model(dir.path(), "benign.ebml", &benign),
    );
    let lab = Lab::create(
        &format!("m{}", std::process::id() % 100_000),
        (std::process::id() % 200) as u8 + 2,
    )
    .expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.as_str();
    workbench_json(&["probe", "attach", "--iface", h, "--json"]);
    let mut events = workbench_kernel::events::EventReader::open(h).expect("event reader");

    // Active model: the SYN tree. Five SYNs to a closed port: malicious from the third on.
    let status = workbench_json(&["deploy", syn_file.to_str().expect("utf8"), "--iface", h, "--json"]);
    assert_eq!(status["active"]["model"], id(&syn));
    assert_eq!(status["mode"], "monitor");
    traffic::tcp_segments_from_netns(&lab, 42_001, 9, TCP_SYN, 5).expect("syn");
    let flow = flow_from(h, 42_001, |f| f["fwd_packets"] == 5 && f["bwd_packets"] == 5);
    assert_eq!(
        (flow["verdict"].as_str(), flow["model"].as_str()),
        (Some("malicious"), Some(id(&syn).as_str()))
    );
    // The raw fixed point as the probe holds it, and the same as P(malicious).
    assert_eq!(flow["score_raw"], SCORE_ONE);
    assert_eq!(flow["score"], 1.0);
    let changes = events.drain().expect("events");
    let mine: Vec<_> = changes.iter().filter(|e| e.src_port == 42_001).collect();
    assert_eq!(
        mine.len(),
        2,
        "benign at packet 1, malicious at the third SYN: {changes:?}"
    );
    assert_eq!(
        (mine[0].workbench.verdict, mine[1].workbench.verdict),
        ("benign", "malicious")
    );
    assert_eq!(mine[1].workbench.model, id(&syn));

    // A UDP flow stays benign under the same model.
    let _sink = traffic::UdpSink::bind(lab.host_addr, 9100, true).expect("sink");
    traffic::udp_from_netns(&lab, 42_002, 9100, &[100, 100, 100], true).expect("udp");
    let udp = flow_from(h, 42_002, |f| f["bwd_packets"] == 3);
    assert_eq!(udp["verdict"], "benign");

    // Swap in the benign tree; the SYN tree becomes the rollback target.
    let status = workbench_json(&[
        "deploy",
        benign_file.to_str().expect("utf8"),
        "--iface",
        h,
        "--json",
    ]);
    assert_eq!(
        (
            status["active"]["model"].clone(),
            status["previous"]["model"].clone()
        ),
        (id(&benign).into(), id(&syn).into())
    );
    traffic::tcp_segments_from_netns(&lab, 42_003, 9, TCP_SYN, 5).expect("syn");
    let f = flow_from(h, 42_003, |f| f["bwd_packets"] == 5);
    assert_eq!(
        (f["verdict"].as_str(), f["model"].as_str()),
        (Some("benign"), Some(id(&benign).as_str()))
    );

    // Rollback in one step.
    let status = workbench_json(&["deploy", "--rollback", "--iface", h, "--json"]);
    assert_eq!(
        (
            status["active"]["model"].clone(),
            status["previous"]["model"].clone()
        ),
        (id(&syn).into(), id(&benign).into())
    );
    traffic::tcp_segments_from_netns(&lab, 42_004, 9, TCP_SYN, 5).expect("syn");
    assert_eq!(
        flow_from(h, 42_004, |f| f["bwd_packets"] == 5)["verdict"],
        "malicious"
    );

    // Shadow: the benign tree runs beside the SYN tree and disagrees from the third SYN on.
    let status = workbench_json(&[
        "deploy",
        benign_file.to_str().expect("utf8"),
        "--shadow",
        "--iface",
        h,
        "--json",
    ]);
    assert_eq!(status["shadow"]["model"], id(&benign));
    traffic::tcp_segments_from_netns(&lab, 42_005, 9, TCP_SYN, 5).expect("syn");
    let f = flow_from(h, 42_005, |f| f["bwd_packets"] == 5);
    assert_eq!(
        (f["verdict"].as_str(), f["shadow_verdict"].as_str()),
        (Some("malicious"), Some("benign"))
    );
    // Decisions at packets 5..=10 (3rd SYN onwards, replies included) disagree.
    assert!(f["shadow_disagreements"].as_u64().unwrap_or(0) >= 3, "{f:#}");
    let table = workbench_json(&["probe", "flows", "--iface", h, "--json"]);
    assert!(table["stats"]["shadow_disagreements"].as_u64().unwrap_or(0) >= 3);
    workbench_json(&["deploy", "--clear-shadow", "--iface", h, "--json"]);

    // Enforce: the third SYN and later are dropped at ingress, so only two RSTs come back.
    workbench_json(&["deploy", "--mode", "enforce", "--iface", h, "--json"]);
    traffic::tcp_segments_from_netns(&lab, 42_006, 9, TCP_SYN, 5).expect("syn");
    // Done once every SYN went through the probe and each was either dropped or answered (the
    // RST leaves through the probe after its SYN came in), whatever the split.
    let table = poll(
        SETTLE,
        || workbench_json(&["probe", "flows", "--iface", h, "--json"]),
        |t| {
            let f = flow_of(t, 42_006);
            let n = |v: &Value| v.as_u64().unwrap_or(0);
            n(&f["fwd_packets"]) == 5 && n(&f["bwd_packets"]) + n(&t["stats"]["dropped"]) == 5
        },
    );
    let f = flow_of(&table, 42_006);
    assert_eq!(
        (f["fwd_packets"].as_u64(), f["bwd_packets"].as_u64()),
        (Some(5), Some(2)),
        "{f:#}"
    );
    assert_eq!(table["stats"]["dropped"], 3);

    // Allowlisted: the sender's address is never dropped, even in enforce mode.
    let peer = format!("{}/32", lab.peer_addr);
    let status = workbench_json(&["deploy", "--allow", &peer, "--iface", h, "--json"]);
    assert_eq!(status["allowlist"][0], peer.as_str());
    traffic::tcp_segments_from_netns(&lab, 42_007, 9, TCP_SYN, 5).expect("syn");
    let f = flow_from(h, 42_007, |f| f["bwd_packets"] == 5);
    assert_eq!(
        (f["verdict"].as_str(), f["bwd_packets"].as_u64()),
        (Some("malicious"), Some(5)),
        "{f:#}"
    );
    // SYNs 3 to 5 and the RSTs that answer them: six packets of a malicious flow passed.
    let table = workbench_json(&["probe", "flows", "--iface", h, "--json"]);
    assert_eq!(
        (
            table["stats"]["dropped"].as_u64(),
            table["stats"]["allowlisted"].as_u64()
        ),
        (Some(3), Some(6))
    );

    // Dry run: nothing dropped, what enforce would drop is counted.
    workbench_json(&[
        "deploy",
        "--clear-allowlist",
        "--mode",
        "dry-run",
        "--iface",
        h,
        "--json",
    ]);
    traffic::tcp_segments_from_netns(&lab, 42_008, 9, TCP_SYN, 5).expect("syn");
    let f = flow_from(h, 42_008, |f| f["bwd_packets"] == 5);
    assert_eq!(f["bwd_packets"], 5, "dry run drops nothing: {f:#}");
    let table = workbench_json(&["probe", "flows", "--iface", h, "--json"]);
    assert_eq!(
        (
            table["stats"]["dropped"].as_u64(),
            table["stats"]["would_drop"].as_u64()
        ),
        (Some(3), Some(6))
    );

    // Enforce on the interface that carries this machine's default route needs confirmation.
    if let Some(default_if) = workbench_kernel::enforce::default_route_ifaces().first() {
        let out = workbench(&["deploy", "--mode", "enforce", "--iface", default_if]);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("default route"),
            "{out:?}"
        );
    }
    let status = workbench_json(&["deploy", "--mode", "monitor", "--iface", h, "--json"]);
    assert_eq!(status["mode"], "monitor");
    report("kernel test: deploy, verdict events, rollback, shadow and enforce checked in the kernel");
}

/// Writes a model file around `model` without sealing or validating it (what a corrupted or
/// hostile file looks like).
fn write_unvalidated(path: &Path, model: &Model) {
    let meta = file::ModelMeta::describe(model, Value::Null);
    let json = serde_json::to_vec(&meta).expect("json");
    let mut body = vec![0u8; shared::model::codec::encoded_len(model)];
    shared::model::codec::encode(model, &mut body);
    let mut out = file::FILE_MAGIC.to_vec();
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&body);
    std::fs::write(path, out).expect("write");
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn malformed_models_are_rejected_before_reaching_the_kernel() {
    let dir = TempDir::new("badmodels");
    let good = syn_tree();
    let mut cases: Vec<(&str, Box<Model>, &str)> = Vec::new();
    let mut m = good.clone();
    m.nodes[0].right = 7;
    cases.push(("child_out_of_range", m, "outside the node array"));
    let mut m = good.clone();
    m.nodes[0].left = 0;
    cases.push(("cycle", m, "cycle"));
    let mut m = good.clone();
    m.header.magic = 0x1234_5678;
    cases.push(("bad_magic", m, "bad magic"));
    // A chain deeper than the probe walks.
    let chain: Vec<Node> = (0..26)
        .flat_map(|i| {
            [
                Node::Split {
                    feature: 3,
                    threshold: i,
                    left: 2 * i as usize + 1,
                    right: 2 * i as usize + 2,
                },
                Node::Leaf { score: 0 },
            ]
        })
        .chain([Node::Leaf { score: 1 }])
        .collect();
    let mut deep = Box::new(Model::zeroed());
    for (i, n) in chain.iter().enumerate() {
        deep.nodes[i] = match *n {
            Node::Split {
                feature,
                threshold,
                left,
                right,
            } => shared::model::TreeNode {
                feature: feature as u8,
                threshold,
                left: left as u16,
                right: right as u16,
                ..Default::default()
            },
            Node::Leaf { score } => shared::model::TreeNode {
                is_leaf: 1,
                score,
                ..Default::default()
            },
        };
    }
    deep.header = good.header;
    deep.header.node_count = chain.len() as u16;
    deep.header.feature_mask = 1 << 3;
    cases.push(("too_deep", deep, "over the probe's limit"));

    for (name, model, expected) in &cases {
        let path = dir.path().join(format!("{name}.ebml"));
        write_unvalidated(&path, model);
        let out = workbench(&["model", "show", path.to_str().expect("utf8"), "--json"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} must be rejected");
        assert!(
            stderr.contains(expected) && stderr.contains(&format!("{name}.ebml")),
            "{name}: {stderr}"
        );
        assert_eq!(stderr.trim_end().lines().count(), 1, "{name}: one line: {stderr}");
    }
    let truncated = dir.path().join("truncated.ebml");
    let good_path = save_model(dir.path(), "good.ebml", &good);
    let bytes = std::fs::read(&good_path).expect("read");
    std::fs::write(&truncated, &bytes[..bytes.len() - 5]).expect("write");
    let out = workbench(&["model", "show", truncated.to_str().expect("utf8")]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated"));

    crate::common::require_kernel("malformed_models_are_rejected_before_reaching_the_kernel (kernel part)");
    // On an attached probe: the bad file fails and the active model stays as it was.
    let lab = Lab::create(
        &format!("b{}", std::process::id() % 100_000),
        (std::process::id() % 200) as u8 + 3,
    )
    .expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    workbench_json(&["probe", "attach", "--iface", &lab.host_if, "--json"]);
    workbench_json(&[
        "deploy",
        good_path.to_str().expect("utf8"),
        "--iface",
        &lab.host_if,
        "--json",
    ]);
    let cycle = dir.path().join("cycle.ebml");
    let out = workbench(&["deploy", cycle.to_str().expect("utf8"), "--iface", &lab.host_if]);
    assert!(!out.status.success());
    let status = workbench_json(&["probe", "status", "--iface", &lab.host_if, "--json"]);
    assert_eq!(status["active"]["model"], id(&good));
    assert!(
        status["previous"].is_null(),
        "a rejected model must not shift the slots: {status:#}"
    );
}

/// `dry-run` reads as the flag takes it (`dry_run` is taken too); decision points that never
/// decide are refused by `deploy` and `verify`, and `--decide-first 0` reads as "every Mth
/// packet"; `probe flows --json` gives each flow the `flow_id` its `live --jsonl` events carry.
#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn dry_run_name_decision_points_and_flow_ids() {
    crate::common::require_kernel("dry_run_name_decision_points_and_flow_ids");
    let dir = TempDir::new("fy-models");
    let syn = syn_tree();
    let syn_file = save_model(dir.path(), "syn.ebml", &syn);
    let syn_path = syn_file.to_str().expect("utf8");
    let lab = Lab::create(
        &format!("fy{}", std::process::id() % 100_000),
        (std::process::id() % 200) as u8 + 2,
    )
    .expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.as_str();
    workbench_json(&["probe", "attach", "--iface", h, "--json"]);

    // Item: the mode's name. Both spellings go in; `dry-run` comes out, in JSON and text.
    for spelling in ["dry_run", "dry-run"] {
        let status = workbench_json(&["deploy", "--mode", spelling, "--iface", h, "--json"]);
        assert_eq!(status["mode"], "dry-run", "{spelling}");
    }
    let status = workbench_json(&["probe", "status", "--iface", h, "--json"]);
    assert_eq!(status["mode"], "dry-run");
    let text = workbench(&["probe", "status", "--iface", h]);
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(text.contains("dry-run") && !text.contains("dry_run"), "{text}");
    workbench_json(&["deploy", "--mode", "monitor", "--iface", h, "--json"]);

    // Item: decision points that never decide are refused, and nothing changes.
    let out = workbench(&[
        "deploy",
        "--decide-first",
        "0",
        "--decide-every",
        "0",
        "--iface",
        h,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("never score a flow"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let status = workbench_json(&["probe", "status", "--iface", h, "--json"]);
    assert_eq!(
        (
            status["decide_first_packets"].as_u64(),
            status["decide_every"].as_u64()
        ),
        (Some(32), Some(16))
    );
    // Also when only the flag left to decide is set to 0.
    workbench_json(&["deploy", "--decide-first", "0", "--iface", h, "--json"]);
    let out = workbench(&["deploy", "--decide-every", "0", "--iface", h]);
    assert!(!out.status.success());
    let out = workbench(&["deploy", "--decide-every", "16", "--iface", h]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success());
    assert!(
        text.contains("decisions at every 16th packet;") && !text.contains("1-0"),
        "{text}"
    );
    let text = workbench(&["probe", "status", "--iface", h]);
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(
        text.contains("decides at every 16th packet of each flow"),
        "{text}"
    );
    workbench_json(&["deploy", "--decide-first", "32", "--iface", h, "--json"]);
    let out = workbench(&[
        "verify",
        "no-such.pcap",
        "--model",
        syn_path,
        "--decide-first",
        "0",
        "--decide-every",
        "0",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success() && stderr.contains("never score a flow"),
        "{stderr}"
    );

    // Item: flow ids. A flagged flow's event and its row in `probe flows --json` share one.
    workbench_json(&["deploy", syn_path, "--iface", h, "--json"]);
    traffic::tcp_segments_from_netns(&lab, 42_101, 9, TCP_SYN, 5).expect("syn");
    let flow = flow_from(h, 42_101, |f| f["verdict"] == "malicious");
    let flow_id = flow["flow_id"].as_u64().expect("probe flows --json has flow_id");
    let out = workbench(&[
        "live",
        "--iface",
        h,
        "--jsonl",
        "--from-start",
        "--duration-s",
        "2",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = crate::common::jsonl(&out.stdout);
    let event = events
        .iter()
        .find(|e| e["src_port"] == 42_101 && e["workbench"]["verdict"] == "malicious")
        .unwrap_or_else(|| panic!("no malicious event for port 42101 in {events:?}"));
    assert_eq!(event["flow_id"].as_u64(), Some(flow_id), "{event} vs {flow}");
    workbench_json(&["probe", "detach", "--iface", h, "--json"]);
    report(&format!(
        "models on {h}: dry-run named as the flag, never-deciding points refused, flow_id {flow_id} joins flows and events"
    ));
}
