//! `workbench agent`'s HTTP endpoint does not hold its event loop (fleet review finding 2):
//! while eight TCP clients that never send a request are kept connected to the metrics port
//! and the lab sends thousands of new flows, every verdict event reaches the events file (its
//! lines equal the probe's verdict changes, none lost), and `/metrics` scrapes taken meanwhile
//! answer within 2 s, `/healthz` with 200. Traffic only between the ends of the test's own veth
//! pair; HTTP on loopback.

use std::net::{SocketAddrV4, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::agent::{http_get, Agent};
use crate::common::promtool::sample;
use crate::common::{lab_id, save_model, DetachOnDrop, TempDir};
use workbench_flow::model::build;
use workbench_kernel::lab::traffic::UdpSink;
use workbench_kernel::lab::Lab;

const WAIT: Duration = Duration::from_secs(15);
/// New flows sent, and their pace: 6 s at 5,000 flows/s, one event each, about 9 rings' worth
/// (a ring holds 3,276), well under the reader's loss point (docs/FLEET.md) when nothing
/// holds the loop, and lost by the thousand when something holds it for seconds.
const FLOWS: u32 = 30_000;
const FLOWS_PER_S: u32 = 5_000;
const SINK_PORT: u16 = 9_471;
/// Idle clients held open, as in the review.
const IDLE: usize = 8;

/// One GET: the status line, the body and how long the answer took.
fn get(addr: &str, path: &str) -> (String, String, Duration) {
    let started = Instant::now();
    let (status, body) = http_get(addr, path, Duration::from_secs(30));
    (status, body, started.elapsed())
}

struct RaiseOnDrop<'a>(&'a AtomicBool);
impl Drop for RaiseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// `FLOWS` one-datagram UDP flows from inside the lab, paced at `FLOWS_PER_S`.
fn send_flows(lab: &Lab) {
    let (src, to) = (lab.peer_addr, SocketAddrV4::new(lab.host_addr, SINK_PORT));
    lab.run_in_netns(|| {
        let started = Instant::now();
        for i in 0..FLOWS {
            let port = 20_000 + i as u16;
            let s = UdpSocket::bind(SocketAddrV4::new(src, port)).expect("bind in the lab");
            s.send_to(b"flow", to).expect("send");
            if i % 100 == 99 {
                let due = Duration::from_secs_f64(f64::from(i + 1) / f64::from(FLOWS_PER_S));
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
    })
    .expect("into the lab namespace");
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn agent_http_idle_clients_and_scrapes_lose_no_event() {
    crate::common::require_kernel("agent_http_idle_clients_and_scrapes_lose_no_event");
    let dir = TempDir::new("agent-http");
    // UDP flows have no SYN: benign at the first decision, one verdict change per flow.
    let model = save_model(dir.path(), "syn3.ebml", &build::syn_count_tree(3).expect("tree"));
    let lab = Lab::create(&lab_id("gh"), ((std::process::id() + 71) % 200) as u8 + 4).expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.clone();
    let events = dir.path().join("eve.json");
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\ninterfaces = [\"{h}\"]\nmodel = \"{}\"\nmetrics_listen = \"127.0.0.1:0\"\nattach = \"tc\"\nevents_file = \"{}\"\n",
            model.display(),
            events.display()
        ),
    )
    .expect("config");
    let agent = Agent::start(&cfg);
    let addr = agent.addr().to_string();
    let _sink = UdpSink::bind(lab.host_addr, SINK_PORT, false).expect("UDP sink");

    let stop = AtomicBool::new(false);
    let (slowest, scrapes) = std::thread::scope(|scope| {
        // Idle clients: connected, never a byte; opened again when the agent drops them.
        let idle = scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let held: Vec<TcpStream> = (0..IDLE)
                    .map(|_| TcpStream::connect(&addr).expect("idle connect"))
                    .collect();
                let until = Instant::now() + Duration::from_millis(2_500);
                while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                drop(held);
            }
        });
        // A scrape every 0.3 s (the review's rate) and a liveness check, timed.
        let scraper = scope.spawn(|| {
            let (mut slowest, mut n) = (Duration::ZERO, 0);
            std::thread::sleep(Duration::from_millis(300));
            while !stop.load(Ordering::Relaxed) {
                let (st, body, took) = get(&addr, "/metrics");
                assert!(st.contains("200"), "{st}: {body}");
                let (hst, hbody, htook) = get(&addr, "/healthz");
                assert!(hst.contains("200"), "{hst}: {hbody}");
                slowest = slowest.max(took).max(htook);
                n += 1;
                std::thread::sleep(Duration::from_millis(300));
            }
            (slowest, n)
        });
        // Raised also when the sender panics: the other threads must end for the scope to.
        let raise = RaiseOnDrop(&stop);
        send_flows(&lab);
        drop(raise);
        idle.join().expect("idle clients");
        scraper.join().expect("scraper")
    });
    assert!(
        slowest < Duration::from_secs(2),
        "a scrape took {slowest:?} while {IDLE} idle clients were connected"
    );

    // Every verdict change in the file: the lines settle at the probe's count, none lost.
    let series = |body: &str, name: &str| {
        sample(body, &format!("workbench_{name}{{iface=\"{h}\"}}"))
            .unwrap_or_else(|| panic!("no {name} in\n{body}"))
    };
    let deadline = Instant::now() + WAIT;
    let (lines, changes, body) = loop {
        let (_, body, _) = get(&addr, "/metrics");
        let changes = series(&body, "verdict_changes_total");
        let lines = std::fs::read_to_string(&events).map_or(0, |t| t.lines().count());
        if lines as f64 == changes || Instant::now() > deadline {
            break (lines, changes, body);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(series(&body, "events_lost_total"), 0.0, "{body}");
    assert_eq!(lines as f64, changes, "events file lines vs verdict changes");
    assert!(
        changes >= f64::from(FLOWS) * 0.9,
        "{changes} verdict changes for {FLOWS} flows"
    );
    assert_eq!(
        sample(
            &body,
            "workbench_agent_event_write_failures_total{output=\"file\"}"
        ),
        Some(0.0)
    );
    assert!(scrapes >= 5, "{scrapes} scrapes during the traffic");
    let (st, _, _) = get(&addr, "/healthz");
    assert!(st.contains("200"), "{st}");
    let (st, text, _) = get(&addr, "/readyz");
    assert!(st.contains("200"), "{st}: {text}");
    assert!(agent.stop().success());
    crate::common::report(&format!(
        "agent http on {h}: {lines} events = {changes} verdict changes, 0 lost, with {IDLE} idle clients held and {scrapes} scrapes (slowest {slowest:?})"
    ));
}
