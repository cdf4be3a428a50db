//! `workbench metrics` against the real probe (issue 15 item 3): an HTTP scrape of `/metrics`
//! validated by `promtool check metrics`, its values against the lab traffic the test sent (an
//! active and a shadow model that disagree), and the probe program's run time while BPF
//! statistics are on; and a client trickling its request a byte a second does not hold the
//! server (security review: it answers each connection on a thread of its own, each request cut
//! off 2 s after it began). Traffic only between the ends of the test's own veth pair.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::promtool::{promtool_check, sample};
use crate::common::{flow_from, workbench_json, DetachOnDrop, TempDir};
use workbench_flow::craft::TCP_SYN;
use workbench_flow::model::{build, file, id_string};
use workbench_kernel::lab::{traffic, Lab};

/// One HTTP GET: the status line and the body.
fn get(addr: &str, path: &str) -> (String, String, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("reply");
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let status = head.lines().next().unwrap_or("").to_string();
    (status, head.to_string(), body.to_string())
}

/// Kills the server if the test fails before it ends.
struct KillOnDrop(std::process::Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn metrics_scrape_passes_promtool_and_counts_the_lab_traffic() {
    crate::common::require_kernel("metrics_scrape_passes_promtool_and_counts_the_lab_traffic");
    let dir = TempDir::new("metrics-scrape");
    let write = |name: &str, syns: u32| {
        let path = dir.path().join(name);
        let m = build::syn_count_tree(syns).expect("tree");
        file::write(&path, &m, serde_json::json!({ "test": "metrics_scrape" })).expect("write model");
        (path, id_string(m.header.model_id))
    };
    let (active, active_id) = write("syn3.ebml", 3);
    let (shadow, shadow_id) = write("syn100.ebml", 100);
    let lab = Lab::create(
        &format!("mx{}", std::process::id() % 100_000),
        (std::process::id() % 200) as u8 + 7,
    )
    .expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.as_str();
    workbench_json(&["probe", "attach", "--iface", h, "--json"]);
    workbench_json(&["deploy", active.to_str().expect("utf8"), "--iface", h, "--json"]);
    workbench_json(&[
        "deploy",
        shadow.to_str().expect("utf8"),
        "--iface",
        h,
        "--shadow",
        "--json",
    ]);

    // The kernel counts run time only while someone holds a stats fd (or the sysctl is on); this
    // one is closed at the end of the test, which turns them off again unless another holder has
    // them on.
    let stats = aya::sys::enable_stats(aya::sys::Stats::RunTime).expect("BPF_ENABLE_STATS");
    traffic::tcp_segments_from_netns(&lab, 45_001, 9, TCP_SYN, 5).expect("syn");
    // The SYNs reach the probe after the sends returned: wait for them and their RSTs.
    let flow = flow_from(h, 45_001, |f| f["fwd_packets"] == 5 && f["bwd_packets"] == 5);
    assert_eq!(
        flow["bwd_packets"], 5,
        "the probe saw the SYNs and their RSTs: {flow:#}"
    );

    let mut server = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args([
            "metrics",
            "--iface",
            h,
            "--listen",
            "127.0.0.1:0",
            "--duration-s",
            "60",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn metrics");
    let first = BufReader::new(server.stderr.take().expect("stderr"))
        .lines()
        .next()
        .and_then(Result::ok)
        .unwrap_or_default();
    let mut server = KillOnDrop(server);
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();

    // A client sending its request a byte a second (each read well within any per-read
    // timeout) while the scrape below is answered at once.
    let (trickling_tx, trickling) = std::sync::mpsc::channel();
    let trickler = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let mut c = TcpStream::connect(&addr).expect("connect");
            let started = Instant::now();
            for b in b"GET /metrics HTTP/1.1\r\nHost: x\r\n" {
                if c.write_all(&[*b]).is_err() {
                    break;
                }
                let _ = trickling_tx.send(());
                std::thread::sleep(Duration::from_secs(1));
            }
            started.elapsed()
        })
    };
    // The scrape starts once the trickler is connected and sending, whatever the machine's load.
    trickling
        .recv_timeout(Duration::from_secs(10))
        .expect("the trickling client connected and sent its first byte");
    let started = Instant::now();
    let (status, head, body) = get(&addr, "/metrics");
    let took = started.elapsed();
    assert!(status.contains("200"), "{status}\n{body}");
    assert!(
        took < Duration::from_secs(2),
        "a scrape took {took:?} beside a trickling client"
    );
    assert!(head.contains("version=0.0.4"), "{head}");
    let (ok, said) = promtool_check(&body);
    assert!(
        ok && said.trim().is_empty(),
        "promtool check metrics:\n{said}\n{body}"
    );

    let at_least = |series: &str, min: f64| {
        let v = sample(&body, series).unwrap_or_else(|| panic!("no {series} in\n{body}"));
        assert!(v >= min, "{series} = {v}, expected at least {min}");
        v
    };
    let i = format!("iface=\"{h}\"");
    let packets = at_least(&format!("workbench_packets_total{{{i}}}"), 10.0);
    at_least(&format!("workbench_flows{{{i}}}"), 1.0);
    at_least(
        &format!("workbench_flow_verdicts{{{i},model=\"{active_id}\",verdict=\"malicious\"}}"),
        1.0,
    );
    // Malicious from the third SYN on by the active model, benign by the shadow.
    let disagreements = at_least(&format!("workbench_shadow_disagreements_total{{{i}}}"), 3.0);
    assert_eq!(
        sample(
            &body,
            &format!("workbench_model_info{{{i},model=\"{active_id}\",slot=\"active\"}}")
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            &format!("workbench_model_info{{{i},model=\"{shadow_id}\",slot=\"shadow\"}}")
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, &format!("workbench_events_lost_total{{{i}}}")),
        Some(0.0),
        "{body}"
    );
    // The gauge is the sysctl, which a BPF_ENABLE_STATS fd (this test's) does not change.
    let sysctl: f64 = std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .expect("bpf_stats_enabled sysctl");
    assert_eq!(sample(&body, "workbench_bpf_stats_enabled"), Some(sysctl));
    let runs = at_least(&format!("workbench_program_runs_total{{{i}}}"), 10.0);
    let mean_s = at_least(&format!("workbench_program_mean_run_seconds{{{i}}}"), 1e-9);
    println!(
        "metrics scrape: promtool clean; {packets} packets, {disagreements} shadow disagreements, {runs} program runs, {:.0} ns per packet",
        mean_s * 1e9
    );

    let (status, _, _) = get(&addr, "/nope");
    assert!(status.contains("404"), "{status}");
    // The trickler was cut off at the request time: its writes failed soon after.
    let held = trickler.join().expect("trickler");
    assert!(
        held < Duration::from_secs(8),
        "the trickling client held on for {held:?}"
    );
    // SIGTERM ends the server with exit 0.
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(server.0.id() as i32, libc::SIGTERM) };
    let exit = server.0.wait().expect("metrics exits");
    assert!(exit.success(), "{exit}");
    drop(stats);
}
