//! `workbench demo` without the privileges for the kernel (every capability dropped with
//! setpriv when the test runs as root): it says SIMULATED, runs the Live tab from the userspace
//! twin and still flags the SYN flood of the sample; it creates no lab. And a `--script` walks
//! the tabs, types a filter and quits by itself.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::demo::{
    demo_command, filter_to_flood_target, flagged_flood_rows, flood_flows, json_summary, start_in_tmux,
};
use crate::common::TempDir;

fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The command line that runs the workbench without any capability: as root, through setpriv
/// with an empty bounding set (root then execs with no capabilities at all); otherwise as is.
fn unprivileged() -> Vec<String> {
    let bin = env!("CARGO_BIN_EXE_workbench").to_string();
    if root() {
        vec![
            "setpriv".into(),
            "--bounding-set=-all".into(),
            "--inh-caps=-all".into(),
            bin,
        ]
    } else {
        vec![bin]
    }
}

#[test]
fn unprivileged_headless_demo_says_simulated_and_flags_the_flood_of_generated_samples() {
    let dir = TempDir::new("demo-unpriv");
    let argv = unprivileged();
    // No --samples and no sample-pcaps/ in the working directory: the demo generates them.
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .args(["demo", "--json", "--until-flagged", "--seconds", "60"]);
    let (v, stderr) = json_summary(cmd, dir.path());
    assert_eq!(v["mode"], "simulated", "{v:#}");
    let reason = v["simulated_reason"].as_str().expect("a reason");
    assert!(
        reason.starts_with("no privileges for the kernel (lacks ") && reason.contains("CAP_NET_ADMIN"),
        "{reason}"
    );
    let label = v["live"]["source_label"].as_str().expect("label");
    assert!(
        label.starts_with("SIMULATED (userspace twin, no kernel: no privileges"),
        "{label}"
    );
    assert_eq!(v["samples"]["generated"], true, "{:#}", v["samples"]);
    let flood = v["flood_flows_flagged"].as_u64().expect("count");
    assert!(flood > 0, "{v:#}");
    // Every flow shown has its label; few benign ones are flagged (kernel_demo.rs says why 5%).
    let live = &v["live"];
    let n = |k: &str| live[k].as_u64().unwrap_or_else(|| panic!("{k}: {live:#}"));
    assert_eq!(n("unlabelled_flows"), 0, "{live:#}");
    assert!(n("benign_flows") > 0, "{live:#}");
    assert!(n("flagged_benign_flows") * 20 <= n("benign_flows"), "{live:#}");
    assert_eq!(
        v["packets_replayed"].as_u64(),
        Some(0),
        "nothing was sent anywhere"
    );
    assert_eq!(v["replay_passes"].as_u64(), Some(0), "{v:#}");
    // What the simulation did: the packets the twin read, and its full passes over the capture.
    let simulated = v["packets_simulated"].as_u64().expect("packets_simulated");
    assert!(simulated > 0, "{v:#}");
    assert_eq!(Some(simulated), live["packets_seen"].as_u64(), "{live:#}");
    assert_eq!(v["simulated_passes"], live["simulated_passes"], "{v:#}");
    assert!(v["simulated_passes"].as_u64().is_some(), "{v:#}");
    // The printed command writes the shadow model again: the same model id.
    let command = v["shadow"]["train_command"].as_str().expect("train_command");
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(&words[..2], ["workbench", "train"], "{command}");
    assert!(command.contains("--max-depth 6"), "{command}");
    // Beside the demo's cache (the working directory keeps nothing else).
    let out = dir.path().join("ebpf-ml-workbench").join("kaggle-tree.ebml");
    let train = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(&words[1..words.len() - 1])
        .arg(&out)
        .args(["--json"])
        .env("XDG_CACHE_HOME", dir.path())
        .output()
        .expect("train runs");
    assert!(
        train.status.success(),
        "{}",
        String::from_utf8_lossy(&train.stderr)
    );
    let t: serde_json::Value = serde_json::from_slice(&train.stdout).expect("train --json");
    assert_eq!(t["model_id"], v["shadow_model_id"], "{command}");
    std::fs::remove_file(&out).expect("remove the model");
    // The `w` panel's command works after the demo ended: the Kaggle tree and the generated
    // samples it names stay in the demo's cache folder (the scratch folder is gone).
    let eval = v["shadow"]["command"].as_str().expect("command");
    let words: Vec<&str> = eval.split_whitespace().collect();
    assert_eq!(&words[..2], ["workbench", "eval"], "{eval}");
    let kept = dir.path().join("ebpf-ml-workbench").join("demo");
    assert!(Path::new(words[2]).starts_with(&kept), "{eval}");
    let rerun = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(&words[1..])
        .env("XDG_CACHE_HOME", dir.path())
        .output()
        .expect("eval runs");
    assert!(
        rerun.status.success(),
        "{eval}: {}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    let e: serde_json::Value = serde_json::from_slice(&rerun.stdout).expect("eval --json");
    assert_eq!(
        e["metrics"]["recall"], v["shadow"]["eval_recall"],
        "the same evaluation as the demo's"
    );
    assert_eq!(v["lab"], serde_json::Value::Null);
    assert_eq!(v["dataset"]["rows"].as_u64(), Some(30_233));
    assert!(!stderr.contains("lab ebml-"), "no lab was made: {stderr}");
    assert!(
        std::fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(std::result::Result::ok)
            .all(|e| e.file_name() == "ebpf-ml-workbench"),
        "only the cache is left in the working directory"
    );
    crate::common::report(&format!(
        "demo test: unprivileged headless demo, SIMULATED, {flood} SYN flood flows flagged by the twin after {} ms",
        v["live"]["first_flood_flagged_ms"]
    ));
}

#[test]
fn unprivileged_demo_in_tmux_says_simulated_and_flags_the_flood() {
    crate::common::tmux::require("unprivileged_demo_in_tmux_says_simulated_and_flags_the_flood");
    let flood = flood_flows();
    let dir = TempDir::new("demo-unpriv-tmux");
    let tmux = start_in_tmux("demo-unpriv", dir.path(), &unprivileged().join(" "), "");
    tmux.wait_until("the simulated Live tab", Duration::from_secs(60), |s| {
        s.contains("SIMULATED (userspace twin, no kernel: no privileges")
    });
    filter_to_flood_target(&tmux);
    tmux.wait_until("a flagged SYN flood flow", Duration::from_secs(60), |s| {
        flagged_flood_rows(s, &flood) > 0
    });
    // Ctrl-C (a key in raw mode) quits like q.
    tmux.keys("C-c");
    let after = tmux.wait_until("the demo to exit", Duration::from_secs(20), |s| {
        s.contains("EXITED:")
    });
    assert!(after.contains("EXITED:0"), "{after}");
    assert_eq!(tmux.alternate_on(), "0");
    assert_eq!(tmux.cursor_visible(), "1");
}

#[test]
fn a_demo_script_walks_the_tabs_types_a_filter_and_quits_by_itself() {
    crate::common::tmux::require("a_demo_script_walks_the_tabs_types_a_filter_and_quits_by_itself");
    let dir = TempDir::new("demo-script");
    let script = dir.path().join("stage.txt");
    std::fs::write(
        &script,
        "# a stage walk\ntab deploy\nwait 3s\ntab live\nkey /\ntype 198.51\nkey enter\nwait 3s\nquit\n",
    )
    .expect("write script");
    let tmux = start_in_tmux(
        "demo-script",
        dir.path(),
        env!("CARGO_BIN_EXE_workbench"),
        &format!("--simulated --script {}", script.display()),
    );
    tmux.wait_until("the Deploy tab", Duration::from_secs(60), |s| {
        s.contains("models (simulation)")
    });
    tmux.wait_for("filter \"198.51\"");
    let after = tmux.wait_until("the script's quit", Duration::from_secs(20), |s| {
        s.contains("EXITED:")
    });
    assert!(after.contains("EXITED:0"), "{after}");
    assert_eq!(tmux.alternate_on(), "0");

    // A bad lab id or script fails before anything starts, naming what is wrong.
    let out = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["demo", "--json", "--lab-id", "no/such-id"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    crate::common::only_json_error(&out.stdout);
    assert!(
        stderr.contains("lab id \"no/such-id\" must be 1-9 ASCII letters or digits"),
        "{stderr}"
    );
    std::fs::write(&script, "tab live\nwait forever\n").expect("write script");
    let out = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["demo", "--script"])
        .arg(&script)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!(
            "{}:2: `wait forever`: expected a duration",
            script.display()
        )),
        "{stderr}"
    );
}

/// The simulated Live source replays the capture in a loop as the kernel demo does: every pass
/// makes the captured flows again as new flows (`capture::unique`), each labelled through the
/// shift. At 400x one pass of the honest sample (981 s of capture) takes about 2.5 s plus the
/// 1 s pause, so 9 s hold at least two whole passes.
#[test]
fn simulated_demo_passes_make_new_flows_that_keep_their_labels() {
    let dir = TempDir::new("demo-passes");
    let cmd = demo_command(&["--json", "--simulated", "--speed", "400", "--seconds", "9"]);
    let (v, _) = json_summary(cmd, dir.path());
    let live = &v["live"];
    let n = |k: &str| live[k].as_u64().unwrap_or_else(|| panic!("{k}: {live:#}"));
    // Before new flows per pass, the table stayed at the capture's 1,860 flows.
    assert!(n("flows") >= 2 * 1_860, "{live:#}");
    assert_eq!(n("unlabelled_flows"), 0, "{live:#}");
    // The flood is flagged again on the second pass, as new flows.
    assert!(n("flood_flows_flagged") > 260, "{live:#}");
    crate::common::report(&format!(
        "demo test: simulated demo at 400x, {} flows after {} s, all labelled, {} SYN flood flows flagged",
        n("flows"),
        9,
        n("flood_flows_flagged")
    ));
}

/// The demo's story in the simulation (`--simulated`: the userspace twin, no privileges needed):
/// the tree trained on the embedded Kaggle slice runs as the shadow beside the honest model, it
/// disagrees with it on the replayed capture, and the explanation names the features whose
/// training values the decisions do not meet, with their PSI.
#[test]
fn simulated_demo_runs_the_kaggle_tree_as_shadow_and_explains_its_disagreements() {
    let dir = TempDir::new("demo-shadow");
    let (v, stderr) = json_summary(
        demo_command(&["--simulated", "--json", "--seconds", "8"]),
        dir.path(),
    );
    assert_eq!(v["mode"], "simulated");
    let shadow_id = v["shadow_model_id"].as_str().expect("a shadow model id");
    assert_ne!(shadow_id, v["model_id"].as_str().expect("model id"));
    let s = &v["shadow"];
    assert_eq!(s["model_id"], shadow_id, "{s:#}");
    assert!(s["trained_on"].as_str().expect("trained_on").contains("Kaggle"));
    // Good on its own test split, blind on the capture at the probe's decision points.
    assert!(s["test_f1"].as_f64().expect("f1") > 0.7, "{s:#}");
    let recall = s["eval_recall"].as_f64().expect("recall on the capture");
    assert!(recall < 0.5, "{s:#}");
    let disagreements = v["shadow_disagreements"].as_u64().expect("count");
    assert!(disagreements > 0, "{v:#}");
    assert_eq!(v["live"]["shadow_disagreements"].as_u64(), Some(disagreements));
    assert!(v["live"]["shadow_disagreeing_flows"].as_u64().expect("flows") > 0);
    // The explanation: shifted features with their PSI, most shifted first, in words.
    let features = s["shifted_features"].as_array().expect("features");
    assert!(!features.is_empty(), "{s:#}");
    let psi: Vec<f64> = features.iter().map(|f| f["psi"].as_f64().expect("psi")).collect();
    assert!(psi.windows(2).all(|w| w[0] >= w[1]), "{psi:?}");
    // The sentences speak of the features the model reads.
    let top = features
        .iter()
        .find(|f| f["used_by_model"] == true)
        .expect("a shifted feature the model reads");
    let name = top["feature"].as_str().expect("name");
    let top_psi = top["psi"].as_f64().expect("psi");
    assert!(top_psi > 0.25, "the feature shifted: {top:#}");
    let explanation: Vec<&str> = s["explanation"]
        .as_array()
        .expect("sentences")
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    assert!(
        explanation
            .iter()
            .any(|l| l.contains(&format!("`{name}`")) && l.contains(&format!("PSI {top_psi:.2}"))),
        "{explanation:#?}"
    );
    assert!(
        stderr.contains(&format!("demo: shadow tree {shadow_id}")),
        "{stderr}"
    );
    crate::common::report(&format!(
        "demo test: simulated shadow {shadow_id} (Kaggle slice) disagreed {disagreements} times; top shift it reads `{name}` PSI {top_psi:.2}; recall on the capture {recall:.3}"
    ));
}

/// The headless summary in words says the mode as the JSON does (`simulated`, lower case) and
/// its passes in agreement with their count ("1 full pass", "0 full passes").
#[test]
fn headless_text_summary_says_the_mode_in_lower_case_and_its_passes_in_agreement() {
    let dir = TempDir::new("demo-text");
    let out = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args([
            "demo",
            "--headless",
            "--simulated",
            "--until-flagged",
            "--seconds",
            "60",
        ])
        .env("XDG_CACHE_HOME", dir.path())
        .current_dir(dir.path())
        .output()
        .expect("the workbench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("mode simulated ("), "{stdout}");
    let live = stdout
        .lines()
        .find(|l| l.starts_with("live: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    let passes = live
        .split(" packets simulated by the userspace twin (")
        .nth(1)
        .and_then(|rest| rest.split(" full pass").next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{live}"));
    let noun = if passes == 1 {
        "full pass of"
    } else {
        "full passes of"
    };
    assert!(live.contains(&format!("({passes} {noun} ")), "{live}");
}
