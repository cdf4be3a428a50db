//! `workbench agent`'s HTTP endpoint does not hold its event loop (fleet review finding 2):
//! while eight TCP clients that never send a request are kept connected to the metrics port
//! and the lab sends thousands of new flows, every verdict event reaches the events file (its
//! lines equal the probe's verdict changes, none lost), and `/metrics` scrapes taken meanwhile
//! answer within 2 s, `/healthz` with 200. And its connection limits (security review): with
//! every general connection slot held by idle clients from four addresses, reconnecting, and a
//! fifth address reconnecting sixteen at a time, kubelet-like `/healthz` and `/readyz` polls
//! with a 1 s timeout are all answered 200; a connection past one address's limit gets a 503
//! at once; the agent's lines about dropped clients stay at about one a second. Traffic only
//! between the ends of the test's own veth pair; HTTP on loopback (from several 127/8
//! addresses: each is a peer of its own).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream, UdpSocket};
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
/// Idle clients held open, as in the review: from two addresses (at most 4 each are served
/// at once, agent/http.rs), while the scrapes come from a third.
const IDLE: usize = 8;
/// Connections the agent serves from one address at once (agent/http.rs `MAX_PER_PEER`), and
/// its general connection slots (`MAX_CONNECTIONS`).
const PER_PEER: usize = 4;
const SLOTS: usize = 16;
/// How long the agent keeps a general slot for a request to arrive (agent/http.rs
/// `REQUEST_TIME`): a connection that waited for a slot instead of being refused would wait
/// about this long, for the idle ones to be dropped.
const REQUEST_TIME: Duration = Duration::from_secs(2);

/// A TCP connection to `to` from the loopback address `local` (any of 127/8 is ours).
fn connect_from(local: Ipv4Addr, to: &str) -> TcpStream {
    use std::os::fd::FromRawFd;
    let to: SocketAddrV4 = to.parse().expect("an IPv4 address");
    let sockaddr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let (from, to) = (sockaddr(local, 0), sockaddr(*to.ip(), to.port()));
    // SAFETY: a new socket, owned by the TcpStream at once; bind and connect read `len` bytes
    // of sockaddr_in values that live across the calls.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let stream = TcpStream::from_raw_fd(fd);
        let rc = libc::bind(fd, (&raw const from).cast::<libc::sockaddr>(), len);
        assert_eq!(rc, 0, "bind {local}: {}", std::io::Error::last_os_error());
        let rc = libc::connect(fd, (&raw const to).cast::<libc::sockaddr>(), len);
        assert_eq!(rc, 0, "connect from {local}: {}", std::io::Error::last_os_error());
        stream
    }
}

fn lo(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, n)
}

/// One GET from `local` with the kubelet's default probe timeout: the status line (empty when
/// none came) and how long it took.
fn probe_from(local: Ipv4Addr, addr: &str, path: &str, timeout: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut s = connect_from(local, addr);
    s.set_read_timeout(Some(timeout)).expect("timeout");
    // Ignored: a refused connection may be closed before the request goes out.
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n"
    );
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    (reply.lines().next().unwrap_or("").to_string(), started.elapsed())
}

/// `n` connections from `local`, sending nothing, opened again as soon as the agent has
/// dropped them all, until `stop`.
fn hold_idle(local: Ipv4Addr, addr: &str, n: usize, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let mut held: Vec<TcpStream> = (0..n).map(|_| connect_from(local, addr)).collect();
        for c in &mut held {
            // Closed by the agent (or refused at once); a byte means a 503.
            let _ = c.set_read_timeout(Some(Duration::from_millis(100)));
            while !stop.load(Ordering::Relaxed) {
                match c.read(&mut [0u8; 256]) {
                    Ok(_) => break,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
        }
    }
}

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
                    .map(|i| connect_from(lo(2 + (i / PER_PEER) as u8), &addr))
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
    let (exit, logged) = agent.stop_logged();
    assert!(exit.success(), "{exit}");
    // The idle clients are dropped every 2.5 s, IDLE at a time: their lines are throttled to
    // one a second at most.
    let dropped = logged.iter().filter(|l| l.contains("http: request from")).count();
    assert!(
        dropped <= 12,
        "{dropped} lines about dropped clients in about 8 s:\n{}",
        logged.join("\n")
    );
    crate::common::report(&format!(
        "agent http on {h}: {lines} events = {changes} verdict changes, 0 lost, with {IDLE} idle clients held and {scrapes} scrapes (slowest {slowest:?})"
    ));
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn agent_http_health_is_answered_while_idle_clients_hold_every_slot() {
    crate::common::require_kernel("agent_http_health_is_answered_while_idle_clients_hold_every_slot");
    let dir = TempDir::new("agent-http-slots");
    let model = save_model(dir.path(), "syn3.ebml", &build::syn_count_tree(3).expect("tree"));
    let lab = Lab::create(&lab_id("fbH"), ((std::process::id() + 146) % 200) as u8 + 4).expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.clone();
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\ninterfaces = [\"{h}\"]\nmodel = \"{}\"\nmetrics_listen = \"127.0.0.1:0\"\nattach = \"tc\"\n",
            model.display()
        ),
    )
    .expect("config");
    let agent = Agent::start(&cfg);
    let addr = agent.addr().to_string();
    let kubelet_timeout = Duration::from_secs(1);
    let (st, _) = probe_from(lo(1), &addr, "/readyz", Duration::from_secs(10));
    assert!(st.contains("200"), "ready first: {st}");

    // One address past its limit: a 503 at once, while other addresses are served. The agent
    // takes connections in the order they came, so the held ones are counted before the probe.
    // "At once" is measured against what it must beat: waiting for a slot would take until the
    // held ones were dropped, the request time after they were opened (a bound of a few
    // hundred ms failed whenever the loaded machine stalled the test that long).
    let opened = Instant::now();
    let held: Vec<TcpStream> = (0..PER_PEER).map(|_| connect_from(lo(60), &addr)).collect();
    let (st, took) = probe_from(lo(60), &addr, "/healthz", kubelet_timeout);
    assert!(st.contains("503"), "past the per-address limit: {st:?}");
    assert!(
        opened.elapsed() < REQUEST_TIME,
        "refused in {took:?}, {:?} after the held connections were opened: not before they would have been dropped",
        opened.elapsed()
    );
    drop(held);

    let from = agent.logged();
    let stop = AtomicBool::new(false);
    let polls = std::thread::scope(|scope| {
        // Every general slot held by idle clients from four addresses, reconnecting; and the
        // review's client: sixteen at a time from one more address.
        for i in 0..SLOTS / PER_PEER {
            let (addr, stop) = (&addr, &stop);
            scope.spawn(move || hold_idle(lo(70 + i as u8), addr, PER_PEER, stop));
        }
        let (addr_ref, stop_ref) = (&addr, &stop);
        scope.spawn(move || hold_idle(lo(80), addr_ref, SLOTS, stop_ref));
        let _raise = RaiseOnDrop(&stop);
        std::thread::sleep(Duration::from_millis(500));
        // A kubelet: liveness and readiness, 1 s timeout, for 10 s.
        let mut polls = Vec::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            for path in ["/healthz", "/readyz"] {
                let (st, took) = probe_from(lo(1), &addr, path, kubelet_timeout);
                polls.push((path, st, took));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        polls
    });
    let failed: Vec<_> = polls
        .iter()
        .filter(|(_, st, took)| !st.contains("200") || *took >= kubelet_timeout)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} kubelet-like polls failed: {failed:?}",
        failed.len(),
        polls.len()
    );
    let slowest = polls.iter().map(|p| p.2).max().unwrap_or_default();

    let (exit, logged) = agent.stop_logged();
    assert!(exit.success(), "{exit}");
    let during: Vec<&String> = logged.iter().skip(from).filter(|l| l.contains("http:")).collect();
    // Hundreds of clients dropped or refused in about 10.5 s: at most a line a second about
    // requests and one per 10 s about refusals.
    assert!(
        during.len() <= 18,
        "{} http lines in about 10.5 s:\n{}",
        during.len(),
        logged.join("\n")
    );
    assert!(
        during.iter().any(|l| l.contains("left out")),
        "the throttled lines say how many they stand for:\n{}",
        logged.join("\n")
    );
    crate::common::report(&format!(
        "agent http slots on {h}: {} kubelet-like polls all 200 (slowest {slowest:?}) with {SLOTS} idle clients from 4 addresses and {SLOTS} more from one; {} http log lines",
        polls.len(),
        during.len()
    ));
}
