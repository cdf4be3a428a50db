//! The agent's probe is never called a stale leftover while the agent runs (fleet review
//! finding 5): after a kill -9 the restarted agent takes the probe over from the dead agent's
//! claim, and an agent in a PID namespace of its own (a pod: it is pid 1 there) is known alive
//! by the lock it holds, not by a pid that means something else on the host. Before, every
//! workbench command on the host then printed "stale probe ... remove it with `workbench probe
//! detach`", whose advice blinded the running agent.

use std::process::Command;

use crate::agent::{config, Agent};
use crate::common::{lab_id, save_model, stale_lines, workbench, DetachOnDrop, TempDir};
use workbench_flow::model::build;
use workbench_kernel::lab::Lab;

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn a_restarted_or_namespaced_agents_probe_is_never_called_stale() {
    crate::common::require_kernel("a_restarted_or_namespaced_agents_probe_is_never_called_stale");
    let dir = TempDir::new("agent-claims");
    let model = save_model(dir.path(), "syn3.ebml", &build::syn_count_tree(3).expect("tree"));
    let lab = Lab::create(&lab_id("gc"), ((std::process::id() + 131) % 200) as u8 + 4).expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.clone();
    let cfg = dir.path().join("agent.toml");
    config(
        &cfg,
        &format!(
            "interfaces = [\"{h}\"]\nmodel = \"{}\"\nmetrics_listen = \"127.0.0.1:0\"\n",
            model.display()
        ),
        "",
    );

    // Killed: its probe is a leftover, and said so.
    let mut first = Agent::start(&cfg);
    first.signal(libc::SIGKILL);
    let _ = first.child.wait();
    let said = stale_lines(&h);
    assert!(said.contains(&format!("stale probe on {h}")), "{said:?}");
    // Restarted: it reuses the probe and takes it over; nothing is stale any more.
    let second = Agent::start(&cfg);
    assert_eq!(stale_lines(&h), "", "the running agent's probe called stale");
    assert!(second.stop().success());
    assert_eq!(stale_lines(&h), "");

    // In a PID namespace of its own, as in a pod.
    if Command::new("unshare").arg("--help").output().is_err() {
        println!("skipped the PID namespace part: no unshare (util-linux)");
        return;
    }
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child=SIGTERM"])
        .arg(env!("CARGO_BIN_EXE_workbench"))
        .args(["agent", "--config"])
        .arg(&cfg);
    let pod = Agent::spawn(cmd);
    let claims: Vec<String> = std::fs::read_dir("/run/ebpf-ml-workbench/claims")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        claims.iter().any(|c| c.starts_with("1-")),
        "the agent in its own PID namespace is pid 1 there: {claims:?}"
    );
    assert_eq!(stale_lines(&h), "", "pid 1 of another namespace called stale");
    // SIGTERM to the agent itself (unshare waits for it and does not pass signals on): it
    // detaches, and unshare ends with it.
    let agent_pid = child_of(pod.child.id()).expect("the agent under unshare");
    // SAFETY: kill(2) on the test's own grandchild.
    unsafe { libc::kill(agent_pid, libc::SIGTERM) };
    assert!(pod.stop().success(), "the namespaced agent exits 0 on SIGTERM");
    assert!(
        !workbench_kernel::probe::is_attached(&h),
        "the namespaced agent detached"
    );
    assert_eq!(stale_lines(&h), "");
}

/// The pid of a process whose parent is `parent`.
fn child_of(parent: u32) -> Option<i32> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .find_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // Field 4, after the command in parentheses (which may hold spaces).
            let ppid: u32 = stat
                .get(stat.rfind(')')? + 2..)?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            (ppid == parent).then_some(pid)
        })
}

/// An agent whose probe another command removed (`probe detach`, `probe cleanup`) stops on
/// SIGTERM with exit 0, saying there was nothing to detach: a plain `systemctl stop` is no
/// failure (it exited 1, "detaching at exit failed", and systemd marked the unit failed).
#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn an_agent_whose_probe_was_removed_stops_cleanly() {
    crate::common::require_kernel("an_agent_whose_probe_was_removed_stops_cleanly");
    let dir = TempDir::new("agent-removed");
    let model = save_model(dir.path(), "syn3.ebml", &build::syn_count_tree(3).expect("tree"));
    let lab = Lab::create(&lab_id("gr"), ((std::process::id() + 137) % 200) as u8 + 4).expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.clone();
    let cfg = dir.path().join("agent.toml");
    config(
        &cfg,
        &format!(
            "interfaces = [\"{h}\"]\nmodel = \"{}\"\nmetrics_listen = \"127.0.0.1:0\"\n",
            model.display()
        ),
        "",
    );
    let agent = Agent::start(&cfg);
    let out = workbench(&["probe", "detach", "--iface", &h]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let from = agent.logged();
    let status = agent.stop_logged();
    assert!(status.0.success(), "exit {:?}", status.0);
    assert!(
        status.1[from..]
            .iter()
            .any(|l| l.contains(&format!("{h}: nothing to detach"))),
        "{:?}",
        &status.1[from..]
    );
}

/// An agent killed in the middle of a shadow trial (fleet review finding 7) and started again
/// on the probe it left: the shadow that probe runs is a file of `model_dir`, so its trial goes
/// on (the candidate series show it, the rule judges it). Before, the agent forgot it: the
/// kernel ran it as shadow forever, never judged, and the candidate series read 0.
#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn a_restart_during_a_shadow_trial_resumes_it() {
    crate::common::require_kernel("a_restart_during_a_shadow_trial_resumes_it");
    let dir = TempDir::new("agent-trial");
    let model = save_model(dir.path(), "syn3.ebml", &build::syn_count_tree(3).expect("tree"));
    let models = dir.path().join("candidates");
    std::fs::create_dir(&models).expect("dir");
    let lab = Lab::create(&lab_id("gt"), ((std::process::id() + 139) % 200) as u8 + 4).expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.clone();
    let cfg = dir.path().join("agent.toml");
    config(
        &cfg,
        &format!(
            "interfaces = [\"{h}\"]\nmodel = \"{}\"\nmetrics_listen = \"127.0.0.1:0\"\nmodel_dir = \"{}\"\n\
             model_dir_poll_ms = 100\npromote_after_decisions = 1000000\n",
            model.display(),
            models.display()
        ),
        "",
    );
    let mut first = Agent::start(&cfg);
    let candidate = build::syn_count_tree(5).expect("tree");
    let id = workbench_flow::model::id_string(candidate.header.model_id);
    save_model(&models, "next.ebml", &candidate);
    first.wait_for("deployed as the shadow");
    first.signal(libc::SIGKILL);
    let _ = first.child.wait();

    let second = Agent::start(&cfg);
    let resumed = second.wait_for("resumes its trial");
    assert!(
        resumed.contains(&id) && resumed.contains("next.ebml"),
        "{resumed}"
    );
    let (status, body) = second.get("/metrics");
    assert!(status.contains("200"), "{status}");
    let info = body
        .lines()
        .find(|l| l.starts_with("workbench_agent_shadow_candidate_info{"))
        .unwrap_or_else(|| panic!("no candidate series:\n{body}"));
    assert!(info.contains(&id) && info.contains("evaluating"), "{info}");
    assert!(second.stop().success());
}
