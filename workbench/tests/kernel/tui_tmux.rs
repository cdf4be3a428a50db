//! End to end in a real terminal: `workbench tui --pcap` inside tmux (its own server socket),
//! keys sent with `send-keys`, the screen read with `capture-pane`; after quitting, and after a
//! deliberate panic inside a render, the terminal must have left the alternate screen.

use crate::common::tmux::Tmux;

fn start(name: &str, extra: &str) -> (Tmux, crate::common::TempDir) {
    let dir = crate::common::TempDir::new("tui-tmux");
    let capture = dir.path().join("flows.pcap");
    crate::common::capfile::write_udp_flows(&capture, |i| vec![i as u8; 32]);
    let args = format!("--pcap {} {extra}", capture.display());
    (launch(name, &dir, &args), dir)
}

/// Starts `workbench tui ARGS` in a new tmux server of its own, in `dir`.
fn launch(name: &str, dir: &crate::common::TempDir, args: &str) -> Tmux {
    let bin = env!("CARGO_BIN_EXE_workbench");
    Tmux::start(
        &format!("tui-{name}"),
        dir.path(),
        &format!("{bin} tui {args}"),
        (100, 30),
    )
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn tui_in_tmux_shows_the_simulation_takes_keys_and_restores_the_terminal() {
    crate::common::tmux::require("tui_tmux");
    let (tmux, _dir) = start("keys", "");
    let screen = tmux.wait_for("SIMULATED (userspace twin, no kernel)");
    assert!(screen.contains("5 Live"), "{screen}");
    tmux.wait_for("flows 10 ");
    assert_eq!(tmux.alternate_on(), "1");
    tmux.cmd(&["send-keys", "-t", "t", "?"]);
    tmux.wait_for("theme default · Esc or ? closes");
    tmux.cmd(&["send-keys", "-t", "t", "Escape"]);
    // A key sent right after Escape can arrive as one escape sequence (Alt+4): wait for the help
    // to close first.
    tmux.wait_until("the help to close", std::time::Duration::from_secs(20), |s| {
        !s.contains("Esc or ? closes")
    });
    tmux.cmd(&["send-keys", "-t", "t", "4"]);
    tmux.wait_for("models (simulation)");
    tmux.cmd(&["send-keys", "-t", "t", "q"]);
    tmux.wait_for("EXITED:0");
    assert_eq!(tmux.alternate_on(), "0", "the terminal left the alternate screen");
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn tui_in_tmux_restores_the_terminal_after_a_panic_in_a_render() {
    crate::common::tmux::require("tui_tmux");
    let (tmux, _dir) = start("panic", "--debug-panic");
    let screen = tmux.wait_for("EXITED:");
    assert!(!screen.contains("EXITED:0"), "a panic exits non-zero: {screen}");
    assert!(
        screen.contains("deliberate panic inside a render"),
        "the report is visible: {screen}"
    );
    assert_eq!(tmux.alternate_on(), "0");
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn tui_in_tmux_restores_the_terminal_on_sigterm() {
    crate::common::tmux::require("tui_tmux");
    let (tmux, _dir) = start("sigterm", "");
    tmux.wait_for("SIMULATED (userspace twin, no kernel)");
    assert_eq!(tmux.alternate_on(), "1");
    // The pane runs a shell whose child is the TUI.
    let shell = tmux.cmd(&["display", "-p", "-t", "t", "#{pane_pid}"]);
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", shell.trim())).expect("children");
    let tui: i32 = children
        .split_whitespace()
        .next()
        .expect("the TUI process")
        .parse()
        .expect("pid");
    // SAFETY: kill(2) on the TUI this test started (its own tmux server).
    assert_eq!(unsafe { libc::kill(tui, libc::SIGTERM) }, 0);
    let screen = tmux.wait_for("EXITED:");
    assert!(screen.contains("EXITED:143"), "exit status of SIGTERM: {screen}");
    assert!(screen.contains("interrupted by SIGTERM"), "{screen}");
    assert_eq!(tmux.alternate_on(), "0", "the terminal left the alternate screen");
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn tui_in_tmux_on_the_kernel_probe_rolls_back_after_confirmation() {
    use workbench_kernel::lab::{traffic, Lab};
    crate::common::require_kernel("tui_in_tmux_on_the_kernel_probe_rolls_back_after_confirmation");
    crate::common::tmux::require("tui_tmux");
    let pid = std::process::id();
    let lab = Lab::create(&format!("t{}", pid % 100_000), (pid % 200) as u8 + 17).expect("lab");
    let _detach = crate::common::DetachOnDrop(lab.host_if.clone());
    let iface = lab.host_if.clone();
    crate::common::workbench_json(&["probe", "attach", "--iface", &iface, "--json"]);
    let dir = crate::common::TempDir::new("tui-tmux-kernel");
    let benign =
        workbench_flow::model::build::tree(&[workbench_flow::model::build::Node::Leaf { score: 1 }], 1 << 15)
            .expect("tree");
    let demo = workbench_tui::sim::demo_model().expect("demo");
    for (name, model) in [("benign.model", &benign), ("demo.model", &demo)] {
        let path = dir.path().join(name);
        workbench_flow::model::file::write(&path, model, serde_json::json!({"test": "tui"})).expect("write");
        crate::common::workbench_json(&["deploy", &path.to_string_lossy(), "--iface", &iface, "--json"]);
    }
    let _sink = traffic::UdpSink::bind(lab.host_addr, 9200, false).expect("sink");
    for port in 43_000..43_003u16 {
        traffic::udp_from_netns(&lab, port, 9200, &[50], false).expect("send");
    }
    let demo_id = workbench_flow::model::id_string(demo.header.model_id);
    let benign_id = workbench_flow::model::id_string(benign.header.model_id);

    let tmux = launch("kernel", &dir, &format!("--iface {iface}"));
    let screen = tmux.wait_for(&format!("KERNEL probe on {iface}"));
    assert!(!screen.contains("SIMULATED"), "{screen}");
    tmux.wait_for(":9200");
    tmux.wait_for(&format!("model tree {demo_id}"));
    tmux.cmd(&["send-keys", "-t", "t", "4"]);
    tmux.wait_for("models in the kernel");
    tmux.cmd(&["send-keys", "-t", "t", "r"]);
    tmux.wait_for(&format!("deploy --rollback --iface {iface}"));
    tmux.cmd(&["send-keys", "-t", "t", "y"]);
    // On the Deploy tab's border, where the status bar's next line (the sample data's load
    // finishing) cannot replace it.
    tmux.wait_for(&format!(": rolled back on {iface}"));
    // The next poll shows the swapped slots; the kernel says the same.
    tmux.wait_for(&format!("active   {benign_id}"));
    let status = crate::common::workbench_json(&["probe", "status", "--iface", &iface, "--json"]);
    assert_eq!(status["active"]["model"], benign_id.as_str(), "{status:#}");
    tmux.cmd(&["send-keys", "-t", "t", "q"]);
    tmux.wait_for("EXITED:0");
    assert_eq!(tmux.alternate_on(), "0");
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn tui_in_tmux_walks_data_pitfalls_train_and_deploys_into_the_simulation() {
    crate::common::tmux::require("tui_tmux");
    // No DATA argument: the TUI finds the labelled captures in ./sample-pcaps by itself.
    let dir = crate::common::TempDir::new("tui-tmux-path");
    let samples = dir.path().join("sample-pcaps");
    workbench_flow::gen::write_all(&samples, workbench_flow::gen::DEFAULT_SEED).expect("gen");
    let args = format!("--pcap {}", samples.join("honest.pcap").display());
    let tmux = launch("path", &dir, &args);
    tmux.wait_for("SIMULATED (userspace twin, no kernel)");
    tmux.cmd(&["send-keys", "-t", "t", "1"]);
    // Loaded in the background while the Live tab kept running.
    tmux.wait_for("1860 rows x");
    tmux.wait_for("dataset honest (1/2, n: next)");
    tmux.cmd(&["send-keys", "-t", "t", "n", "2"]);
    tmux.wait_for("single_feature_leakage");
    tmux.cmd(&["send-keys", "-t", "t", "h"]);
    tmux.wait_for("naive vs HONEST split");
    tmux.cmd(&["send-keys", "-t", "t", "1", "n", "3", "Enter"]);
    let screen = tmux.wait_for("integer = float on");
    assert!(screen.contains("on honest"), "{screen}");
    tmux.cmd(&["send-keys", "-t", "t", "d"]);
    tmux.wait_for("Swap the simulation's model");
    tmux.cmd(&["send-keys", "-t", "t", "y"]);
    // The source's label names the model file from the next poll on, on every tab.
    let screen = tmux.wait_for("· trained");
    assert!(screen.contains("in userspace"), "{screen}");
    tmux.cmd(&["send-keys", "-t", "t", "5"]);
    tmux.wait_for("flows ");
    tmux.cmd(&["send-keys", "-t", "t", "q"]);
    tmux.wait_for("EXITED:0");
    assert_eq!(tmux.alternate_on(), "0");
}
