//! End to end in a real terminal: `workbench tui --pcap` inside tmux (its own server socket),
//! keys sent with `send-keys`, the screen read with `capture-pane`; after quitting, and after a
//! deliberate panic inside a render, the terminal must have left the alternate screen.

mod common;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::capfile::{pcap, Record};
use workbench::craft::{ipv4_udp, Ipv4Endpoints};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-S", "-500", "-t", "t"])
    }

    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {needle:?}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn alternate_on(&self) -> String {
        self.cmd(&["display", "-p", "-t", "t", "#{alternate_on}"])
            .trim()
            .to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Our own server (private socket): ending it touches no one else's sessions.
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

fn tmux_available() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("WORKBENCH_REQUIRE_KERNEL").as_deref() != Ok("1"),
            "tmux is missing (cargo xtask test installs it)"
        );
        common::report("tui_tmux: tmux not installed, skipped");
    }
    ok
}

fn write_capture(path: &Path) {
    let ep = Ipv4Endpoints {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src: Ipv4Addr::new(10, 203, 9, 1),
        dst: Ipv4Addr::new(10, 203, 9, 2),
        ttl: 64,
    };
    let frames: Vec<Vec<u8>> = (0..40u16)
        .map(|i| ipv4_udp(&ep, 40_000 + i % 10, 53, &[i as u8; 32]))
        .collect();
    let records: Vec<Record> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| Record {
            ts_sec: 1_700_000_000,
            ts_frac: i as u32 * 10_000,
            data: f,
            wire_len: f.len() as u32,
        })
        .collect();
    std::fs::write(path, pcap(false, false, 1, &records)).expect("write capture");
}

fn start(name: &str, extra: &str) -> (Tmux, common::TempDir) {
    let dir = common::TempDir::new("tui-tmux");
    let capture = dir.path().join("flows.pcap");
    write_capture(&capture);
    let args = format!("--pcap {} {extra}", capture.display());
    (launch(name, &dir, &args), dir)
}

/// Starts `workbench tui ARGS` in a new tmux server of its own, in `dir`.
fn launch(name: &str, dir: &common::TempDir, args: &str) -> Tmux {
    let tmux = Tmux {
        socket: format!("wb-tui-{name}-{}", std::process::id()),
    };
    let bin = env!("CARGO_BIN_EXE_workbench");
    // The pane stays open after the program ends so that its state can still be read.
    let shell = format!(
        "cd {} && RUST_BACKTRACE=0 RUST_LIB_BACKTRACE=0 {bin} tui {args}; echo EXITED:$?; sleep 60",
        dir.path().display(),
    );
    tmux.cmd(&["new-session", "-d", "-s", "t", "-x", "100", "-y", "30", &shell]);
    tmux
}

#[test]
fn tui_in_tmux_shows_the_simulation_takes_keys_and_restores_the_terminal() {
    if !tmux_available() {
        return;
    }
    let (tmux, _dir) = start("keys", "");
    let screen = tmux.wait_for("SIMULATED (userspace twin, no kernel)");
    assert!(screen.contains("5 Live"), "{screen}");
    tmux.wait_for("flows 10 ");
    assert_eq!(tmux.alternate_on(), "1");
    tmux.cmd(&["send-keys", "-t", "t", "?"]);
    tmux.wait_for("theme default · Esc or ? closes");
    tmux.cmd(&["send-keys", "-t", "t", "Escape"]);
    tmux.cmd(&["send-keys", "-t", "t", "4"]);
    tmux.wait_for("models (simulation)");
    tmux.cmd(&["send-keys", "-t", "t", "q"]);
    tmux.wait_for("EXITED:0");
    assert_eq!(tmux.alternate_on(), "0", "the terminal left the alternate screen");
}

#[test]
fn tui_in_tmux_restores_the_terminal_after_a_panic_in_a_render() {
    if !tmux_available() {
        return;
    }
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
fn tui_in_tmux_restores_the_terminal_on_sigterm() {
    if !tmux_available() {
        return;
    }
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
fn tui_in_tmux_on_the_kernel_probe_rolls_back_after_confirmation() {
    if !common::kernel_tests_enabled("tui_in_tmux_on_the_kernel_probe_rolls_back_after_confirmation")
        || !tmux_available()
    {
        return;
    }
    use workbench::lab::{traffic, Lab};
    let pid = std::process::id();
    let lab = Lab::create(&format!("t{}", pid % 100_000), (pid % 200) as u8 + 17).expect("lab");
    let _detach = common::DetachOnDrop(lab.host_if.clone());
    let iface = lab.host_if.clone();
    common::workbench_json(&["probe", "attach", "--iface", &iface, "--json"]);
    let dir = common::TempDir::new("tui-tmux-kernel");
    let benign = workbench::model::build::tree(&[workbench::model::build::Node::Leaf { score: 1 }], 1 << 15)
        .expect("tree");
    let demo = workbench::tui::sim::demo_model().expect("demo");
    for (name, model) in [("benign.model", &benign), ("demo.model", &demo)] {
        let path = dir.path().join(name);
        workbench::model::file::write(&path, model, serde_json::json!({"test": "tui"})).expect("write");
        common::workbench_json(&["deploy", &path.to_string_lossy(), "--iface", &iface, "--json"]);
    }
    let _sink = traffic::UdpSink::bind(lab.host_addr, 9200, false).expect("sink");
    for port in 43_000..43_003u16 {
        traffic::udp_from_netns(&lab, port, 9200, &[50], false).expect("send");
    }
    let demo_id = workbench::model::id_string(demo.header.model_id);
    let benign_id = workbench::model::id_string(benign.header.model_id);

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
    tmux.wait_for(&format!("rolled back on {iface}"));
    // The next poll shows the swapped slots; the kernel says the same.
    tmux.wait_for(&format!("active   {benign_id}"));
    let status = common::workbench_json(&["probe", "status", "--iface", &iface, "--json"]);
    assert_eq!(status["active"]["model"], benign_id.as_str(), "{status:#}");
    tmux.cmd(&["send-keys", "-t", "t", "q"]);
    tmux.wait_for("EXITED:0");
    assert_eq!(tmux.alternate_on(), "0");
}

#[test]
fn tui_in_tmux_walks_data_pitfalls_train_and_deploys_into_the_simulation() {
    if !tmux_available() {
        return;
    }
    // No DATA argument: the TUI finds the labelled captures in ./sample-pcaps by itself.
    let dir = common::TempDir::new("tui-tmux-path");
    let samples = dir.path().join("sample-pcaps");
    workbench::gen::write_all(&samples, workbench::gen::DEFAULT_SEED).expect("gen");
    let args = format!("--pcap {}", samples.join("honest.pcap").display());
    let tmux = launch("path", &dir, &args);
    tmux.wait_for("SIMULATED (userspace twin, no kernel)");
    tmux.cmd(&["send-keys", "-t", "t", "1"]);
    // Loaded in the background while the Live tab kept running.
    tmux.wait_for("1656 rows x");
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
