//! The agent's promotion rule against base rates: a candidate that calls benign every flow the
//! active model flags disagrees in only a small share of all decisions when most of them are
//! benign ones both models agree on, and that share alone (`promote_max_disagreement`) promoted
//! it. The probe now counts the active model's malicious decisions beside a shadow and the ones
//! the shadow called benign; `promote_max_missed` holds such a candidate.

use crate::agent::{config, Agent};
use crate::common::{lab_id, save_model, DetachOnDrop, TempDir};
use workbench_flow::craft::TCP_SYN;
use workbench_flow::model::build;
use workbench_flow::model::id_string;
use workbench_kernel::lab::{traffic, Lab};

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn a_candidate_that_misses_what_the_active_model_flags_is_held_despite_a_diluted_share() {
    crate::common::require_kernel(
        "a_candidate_that_misses_what_the_active_model_flags_is_held_despite_a_diluted_share",
    );
    let dir = TempDir::new("agent-promotion");
    let models = dir.path().join("models");
    std::fs::create_dir(&models).expect("model dir");
    // Active: malicious from a flow's third SYN. Candidate: from its 100th, so never here.
    let active = build::syn_count_tree(3).expect("tree");
    let active_file = save_model(dir.path(), "active.ebml", &active);
    let lab = Lab::create(&lab_id("apm"), ((std::process::id() + 191) % 200) as u8 + 4).expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.clone();
    let cfg = dir.path().join("agent.toml");
    config(
        &cfg,
        &format!(
            "interfaces = [\"{h}\"]\nmodel = \"{}\"\nmetrics_listen = \"127.0.0.1:0\"\n\
             model_dir = \"{}\"\nmodel_dir_poll_ms = 100\n\
             promote_after_decisions = 150\npromote_max_disagreement = 0.25\n",
            active_file.display(),
            models.display()
        ),
        "",
    );
    let agent = Agent::start(&cfg);
    agent.wait_for("probe attached (program id");
    let candidate = build::syn_count_tree(100).expect("tree");
    let candidate_id = id_string(candidate.header.model_id);
    let from = agent.logged();
    save_model(&models, "lenient.ebml", &candidate);
    let deployed = agent.wait_after(from, "deployed as the shadow");
    assert!(deployed.contains("calls benign at most 10%"), "{deployed}");

    // One flow the active model flags (nine SYNs), then 160 single-datagram flows both call
    // benign: the disagreements are a small share of all the decisions.
    traffic::tcp_segments_from_netns(&lab, 46_001, 9, TCP_SYN, 9).expect("syn");
    for i in 0..160 {
        traffic::udp_from_netns(&lab, 46_100 + i, 9_300, &[32], false).expect("udp");
    }
    let held = agent.wait_after(from, "stays shadow");
    assert!(
        held.contains(&candidate_id) && held.contains("above promote_max_missed 10.0%"),
        "{held}"
    );
    let metric = |name: &str| agent.metric(&format!("workbench_agent_shadow_candidate_{name}"));
    let (decisions, disagreements) = (metric("decisions"), metric("disagreements"));
    let (beside, missed) = (metric("beside_malicious"), metric("missed"));
    let (Some(decisions), Some(disagreements), Some(beside), Some(missed)) =
        (decisions, disagreements, beside, missed)
    else {
        panic!("candidate series missing: {decisions:?} {disagreements:?} {beside:?} {missed:?}");
    };
    // Every decision the active model called malicious, the candidate called benign ...
    assert!(beside >= 7.0 && missed == beside, "{missed} of {beside}");
    // ... and the share of all decisions alone would have promoted it.
    assert!(
        decisions >= 150.0 && disagreements / decisions <= 0.25,
        "{disagreements} of {decisions}"
    );
    assert!(
        held.contains(&format!("called benign {missed} of the {beside} decisions")),
        "{held}"
    );
    let status = crate::common::workbench_json(&["probe", "status", "--iface", &h, "--json"]);
    assert_eq!(
        status["active"]["model"],
        id_string(active.header.model_id).as_str()
    );
    assert_eq!(status["shadow"]["model"], candidate_id.as_str());
    assert!(agent.stop().success());
}
