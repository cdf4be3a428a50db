//! `workbench agent` when what is around it fails (fleet review findings 1, 3, 4 and 12), as a
//! child process on a lab veth: a stalled events-socket reader never holds the loop (lines
//! dropped whole and counted, SIGTERM prompt, the socket's stream whole lines); a second reader
//! of the agent's event ring (`live --jsonl`, another agent) is refused, naming the agent; the
//! events file comes back after its folder is deleted, lines that could not be written are
//! counted as failures, and SIGHUP opens it again after a logrotate move; a deleted interface
//! makes the agent not ready with the reason, and the probe is attached again when the
//! interface is back. Traffic only between the ends of the test's own veth pair.

use std::io::Read;
use std::net::{SocketAddrV4, UdpSocket};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::agent::{config, Agent};
use crate::common::promtool::sample;
use crate::common::{lab_id, save_model, workbench, workbench_json, DetachOnDrop, TempDir};
use serde_json::Value;
use workbench_flow::craft::TCP_SYN;
use workbench_flow::model::build;
use workbench_kernel::lab::traffic::{self, UdpSink};
use workbench_kernel::lab::Lab;
use workbench_kernel::probe;

const WAIT: Duration = Duration::from_secs(15);
/// Flows of the stalled-socket test: about 7 MB of lines, more than the socket's queue
/// (eve_socket::QUEUE_BYTES, 4 MiB) and buffer hold.
const FLOWS: u16 = 15_000;

/// `count` one-datagram UDP flows from inside the lab (one verdict change each with the SYN
/// model: benign at the first decision), at about 5,000 flows a second.
fn udp_flows(lab: &Lab, first_port: u16, count: u16, sink_port: u16) {
    let (src, to) = (lab.peer_addr, SocketAddrV4::new(lab.host_addr, sink_port));
    lab.run_in_netns(|| {
        let started = Instant::now();
        for i in 0..count {
            let s = UdpSocket::bind(SocketAddrV4::new(src, first_port + i)).expect("bind in the lab");
            s.send_to(b"flow", to).expect("send");
            if i % 100 == 99 {
                let due = Duration::from_secs_f64(f64::from(i + 1) / 5_000.0);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
    })
    .expect("into the lab namespace");
}

fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn src_port(line: &str) -> Option<u16> {
    serde_json::from_str::<Value>(line)
        .ok()?
        .get("src_port")?
        .as_u64()
        .map(|p| p as u16)
}

/// Waits until `f` holds (or fails the test saying `what`).
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "not within {WAIT:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A command that must end by itself (a refused reader): its exit status and stderr.
fn run_briefly(cmd: &mut Command) -> (std::process::ExitStatus, String) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + WAIT;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still running after {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut err = String::new();
    let _ = child.stderr.take().expect("stderr").read_to_string(&mut err);
    (child.wait().expect("status"), err)
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn agent_with_a_stalled_socket_reader_drops_whole_lines_and_stops_promptly() {
    crate::common::require_kernel("agent_with_a_stalled_socket_reader_drops_whole_lines_and_stops_promptly");
    let dir = TempDir::new("agent-stall");
    let model = save_model(dir.path(), "syn3.ebml", &build::syn_count_tree(3).expect("tree"));
    let lab = Lab::create(&lab_id("gas"), ((std::process::id() + 91) % 200) as u8 + 4).expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.clone();
    let sock = dir.path().join("events.sock");
    let listener = UnixListener::bind(&sock).expect("listen");
    let events = dir.path().join("eve.json");
    let cfg = dir.path().join("agent.toml");
    config(
        &cfg,
        &format!(
            "interfaces = [\"{h}\"]\nmodel = \"{}\"\nmetrics_listen = \"127.0.0.1:0\"\nattach = \"tc\"\n\
             events_file = \"{}\"\nevents_socket = \"{}\"\n",
            model.display(),
            events.display(),
            sock.display()
        ),
        "",
    );
    let agent = Agent::start(&cfg);
    // The reader: connected, and never reads a byte.
    let (mut peer, _) = listener.accept().expect("the agent connects");
    let _sink = UdpSink::bind(lab.host_addr, 9_473, false).expect("UDP sink");
    udp_flows(&lab, 20_000, FLOWS, 9_473);

    // The file output is not held by the socket: every verdict change is in it.
    let changes = |agent: &Agent| {
        agent
            .metric(&format!("workbench_verdict_changes_total{{iface=\"{h}\"}}"))
            .unwrap_or(0.0)
    };
    wait_until("the events file holds every verdict change", || {
        let c = changes(&agent);
        c >= f64::from(FLOWS) * 0.9 && lines_of(&events).len() as f64 == c
    });
    let (st, body) = agent.get("/healthz");
    assert!(st.contains("200"), "the loop turns: {st} {body}");
    let failures = agent
        .metric("workbench_agent_event_write_failures_total{output=\"socket\"}")
        .expect("socket failures");
    assert!(failures > 0.0, "the socket's full queue dropped lines");
    // Told apart by output: the file took every line meanwhile.
    assert_eq!(
        agent.metric("workbench_agent_event_write_failures_total{output=\"file\"}"),
        Some(0.0)
    );
    let dropped = agent.wait_for("is not keeping up");
    assert!(dropped.contains(&sock.display().to_string()), "{dropped}");

    // SIGTERM ends it at once, the stalled reader notwithstanding, and detaches.
    let started = Instant::now();
    assert!(agent.stop().success());
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "SIGTERM took {took:?}");
    assert!(!probe::is_attached(&h), "detached at exit");

    // What reached the socket: whole lines only, each one an event.
    let mut got = Vec::new();
    peer.read_to_end(&mut got).expect("read the socket");
    let text = String::from_utf8(got).expect("utf-8");
    assert!(text.is_empty() || text.ends_with('\n'), "a part line at the end");
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        assert_eq!(v["event_type"], "verdict", "{line}");
    }
    crate::common::report(&format!(
        "agent with a stalled socket reader: {} lines in the file, {} whole lines on the socket, {failures} dropped and counted, SIGTERM in {took:?}",
        lines_of(&events).len(),
        text.lines().count()
    ));
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn agent_owns_its_event_ring_and_opens_its_events_file_again() {
    crate::common::require_kernel("agent_owns_its_event_ring_and_opens_its_events_file_again");
    let dir = TempDir::new("agent-ring");
    let model = save_model(dir.path(), "syn3.ebml", &build::syn_count_tree(3).expect("tree"));
    let lab = Lab::create(&lab_id("gal"), ((std::process::id() + 93) % 200) as u8 + 4).expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.clone();
    let folder = dir.path().join("ev");
    std::fs::create_dir(&folder).expect("folder");
    let events = folder.join("eve.json");
    let body = |events: &Path| {
        format!(
            "interfaces = [\"{h}\"]\nmodel = \"{}\"\nmetrics_listen = \"127.0.0.1:0\"\nattach = \"tc\"\nevents_file = \"{}\"\n",
            model.display(),
            events.display()
        )
    };
    let cfg = dir.path().join("agent.toml");
    config(&cfg, &body(&events), "");
    let agent = Agent::start(&cfg);
    let pid = agent.child.id();

    // A second reader of the ring is refused, naming the agent; the agent's stream is whole.
    let (st, err) = run_briefly(Command::new(env!("CARGO_BIN_EXE_workbench")).args([
        "live",
        "--iface",
        &h,
        "--jsonl",
        "--duration-s",
        "5",
    ]));
    assert!(!st.success(), "{err}");
    assert!(
        err.contains(&h) && err.contains(&format!("pid {pid}")) && err.contains("workbench agent"),
        "names the interface and the holder: {err}"
    );
    crate::common::report(&format!("live beside the agent on {h}: {}", err.trim()));
    let cfg2 = dir.path().join("agent2.toml");
    config(&cfg2, &body(&dir.path().join("eve2.json")), "");
    let (st, err) = run_briefly(
        Command::new(env!("CARGO_BIN_EXE_workbench"))
            .args(["agent", "--config"])
            .arg(&cfg2),
    );
    assert!(!st.success(), "{err}");
    assert!(err.contains(&format!("already being read by pid {pid}")), "{err}");
    crate::common::report(&format!("a second agent on {h}: {}", err.trim()));
    assert!(probe::is_attached(&h), "the refused agent left the probe");
    assert!(agent.get("/readyz").0.contains("200"));

    let written = |a: &Agent| {
        a.metric("workbench_agent_events_written_total{output=\"file\"}")
            .unwrap_or(-1.0)
    };
    let failed = |a: &Agent| {
        a.metric("workbench_agent_event_write_failures_total{output=\"file\"}")
            .unwrap_or(-1.0)
    };
    let flow = |port: u16| traffic::tcp_segments_from_netns(&lab, port, 9, TCP_SYN, 6).expect("syn");
    let has_port = |path: &Path, port: u16| lines_of(path).iter().any(|l| src_port(l) == Some(port));
    flow(45_201);
    wait_until("the first flow's events", || has_port(&events, 45_201));

    // The folder deleted: the next lines go to the file made again, not to the deleted one.
    let from = agent.logged();
    std::fs::remove_dir_all(&folder).expect("rm");
    flow(45_202);
    wait_until("the events file made again", || has_port(&events, 45_202));
    agent.wait_after(from, "events file opened again");
    assert_eq!(failed(&agent), 0.0);

    // The folder cannot be made (a file in its place): lines are failures, not written.
    std::fs::remove_dir_all(&folder).expect("rm");
    std::fs::write(&folder, "not a folder\n").expect("file");
    // The counters once the loop has handled every verdict change the probe made so far (the
    // last of 45_202's may still be on its way): each one a line written or failed. (Two equal
    // reads 300 ms apart took a loop the loaded machine stalled for settled.)
    wait_until("every verdict change so far written or failed", || {
        let (_, body) = agent.get("/metrics");
        let value = |series: &str| sample(&body, series).unwrap_or(-1.0);
        value("workbench_agent_events_written_total{output=\"file\"}")
            + value("workbench_agent_event_write_failures_total{output=\"file\"}")
            == value(&format!("workbench_verdict_changes_total{{iface=\"{h}\"}}"))
    });
    let (w0, f0) = (written(&agent), failed(&agent));
    flow(45_203);
    wait_until("the lines counted as failed", || failed(&agent) >= f0 + 2.0);
    assert_eq!(written(&agent), w0, "nothing counted as written");
    agent.wait_after(from, "cannot open the events file again");
    std::fs::remove_file(&folder).expect("rm");
    flow(45_204);
    wait_until("written again once the folder can be made", || {
        has_port(&events, 45_204)
    });
    assert!(!has_port(&events, 45_203));

    // logrotate: the file moved away, then SIGHUP (`postrotate kill -HUP`): a new file.
    let rotated = folder.join("eve.json.1");
    std::fs::rename(&events, &rotated).expect("mv");
    let from = agent.logged();
    agent.signal(libc::SIGHUP);
    agent.wait_after(from, "events file opened again");
    agent.wait_after(from, "configuration reloaded");
    assert!(events.exists(), "SIGHUP made the file again");
    flow(45_205);
    wait_until("the new file written", || has_port(&events, 45_205));
    assert!(!has_port(&rotated, 45_205) && has_port(&rotated, 45_204));

    // Once the agent is gone, the ring is free for another reader.
    assert!(agent.stop().success());
    workbench_json(&["probe", "attach", "--iface", &h, "--attach", "tc", "--json"]);
    let out = workbench(&["live", "--iface", &h, "--jsonl", "--duration-s", "1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn agent_notices_a_deleted_interface_and_attaches_again_when_it_is_back() {
    crate::common::require_kernel("agent_notices_a_deleted_interface_and_attaches_again_when_it_is_back");
    deleted_and_back("auto", &lab_id("gai"), 95);
}

/// As above with cls_bpf filters (`attach = "tc"`, what kernels before 6.6 get): no link to
/// ask, so the probe's tc record says which interface (by ifindex) it was attached to.
#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn agent_notices_a_deleted_interface_under_tc_filters_and_attaches_again() {
    crate::common::require_kernel("agent_notices_a_deleted_interface_under_tc_filters_and_attaches_again");
    deleted_and_back("tc", &lab_id("gat"), 190);
}

/// The agent on lab `id`'s interface attached as `attach` says (`auto`, `tc`) is told the interface
/// was deleted, is not ready, and attaches again with its model when the interface is back.
fn deleted_and_back(attach: &str, id: &str, offset: u32) {
    let dir = TempDir::new("agent-gone");
    let tree = build::syn_count_tree(3).expect("tree");
    let model = save_model(dir.path(), "syn3.ebml", &tree);
    let model_id = workbench_flow::model::id_string(tree.header.model_id);
    let subnet = ((std::process::id() + offset) % 200) as u8 + 4;
    let lab = Lab::create(id, subnet).expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.clone();
    let events = dir.path().join("eve.json");
    let cfg = dir.path().join("agent.toml");
    config(
        &cfg,
        &format!(
            "interfaces = [\"{h}\"]\nmodel = \"{}\"\nmetrics_listen = \"127.0.0.1:0\"\nevents_file = \"{}\"\nattach = \"{attach}\"\n",
            model.display(),
            events.display()
        ),
        "",
    );
    let agent = Agent::start(&cfg);
    let mode = workbench_json(&["probe", "status", "--iface", &h, "--json"])["attach_mode"].clone();
    if attach == "tc" {
        assert_eq!(mode, "tc", "attached with cls_bpf filters as configured");
    } else if mode != "tcx" {
        println!("skipped: no TCX on this kernel (the tc variant covers cls_bpf filters)");
        assert!(agent.stop().success());
        return;
    }
    let up = format!("workbench_agent_interface_up{{iface=\"{h}\"}}");
    assert_eq!(agent.metric(&up), Some(1.0));
    assert!(agent.get("/readyz").0.contains("200"));

    // Deleted: one line saying so and what happens next, not ready, interface_up 0.
    let from = agent.logged();
    let ip = |args: &[&str]| {
        let out = Command::new("ip").args(args).output().expect("ip");
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ip(&["link", "del", &h]);
    let said = agent.wait_after(from, "was deleted");
    assert!(said.contains("attaches the probe again when"), "{said}");
    // HTTP answers from the state the loop published after its turn: a moment after the log.
    wait_until("/readyz 503", || agent.get("/readyz").0.contains("503"));
    let (st, text) = agent.get("/readyz");
    assert!(
        st.contains("503") && text.contains(&format!("{h} was deleted")),
        "{st}: {text}"
    );
    assert_eq!(agent.metric(&up), Some(0.0));

    // Back (the veth pair made again as the lab makes it): attached again, ready, fed.
    let mac = |last: u8| format!("02:eb:4d:4c:{subnet:02x}:{last:02x}");
    ip(&[
        "link",
        "add",
        &h,
        "address",
        &mac(1),
        "type",
        "veth",
        "peer",
        "name",
        &lab.peer_if,
        "address",
        &mac(2),
        "netns",
        &lab.netns,
    ]);
    ip(&["addr", "add", &format!("{}/24", lab.host_addr), "dev", &h]);
    ip(&["link", "set", &h, "up"]);
    ip(&[
        "-n",
        &lab.netns,
        "addr",
        "add",
        &format!("{}/24", lab.peer_addr),
        "dev",
        &lab.peer_if,
    ]);
    ip(&["-n", &lab.netns, "link", "set", &lab.peer_if, "up"]);
    agent.wait_after(from, "the interface is back: probe attached to it again");
    wait_until("/readyz 200", || agent.get("/readyz").0.contains("200"));
    assert_eq!(agent.metric(&up), Some(1.0));
    let st = workbench_json(&["probe", "status", "--iface", &h, "--json"]);
    assert_eq!(st["active"]["model"], model_id.as_str(), "{st}");
    traffic::tcp_segments_from_netns(&lab, 45_301, 9, TCP_SYN, 6).expect("syn");
    wait_until("events of traffic after the re-attach", || {
        lines_of(&events).iter().any(|l| src_port(l) == Some(45_301))
    });
    assert!(agent.stop().success());
    assert!(!probe::is_attached(&h), "detached at exit");
}
