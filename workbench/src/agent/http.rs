//! The agent's HTTP endpoint: `/metrics`, `/healthz`, `/readyz`, on threads of its own. An
//! accept thread hands each connection to a short-lived worker thread (at most
//! [`MAX_CONNECTIONS`] at once, each request cut off after 2 s), and the workers answer from
//! what the event loop publishes (state.rs): no client, idle or slow, and no scrape, however
//! big the flow table, can hold the loop that drains the verdict rings. `/healthz` is still
//! about the loop: it checks that the loop's last turn is recent.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::log;
use super::state::Shared;

/// The most one request may take, reading and writing.
const REQUEST_TIME: Duration = Duration::from_secs(2);

/// Connections answered at once; more are refused with a 503 at once. Scrapers and probes
/// need a few; the cap bounds the threads (and the concurrent scrapes) a flood can start.
pub const MAX_CONNECTIONS: usize = 16;

/// At most one log line per this long about refused connections (a scanner must not flood
/// the journal).
const REFUSED_LOG_EVERY: Duration = Duration::from_secs(10);

/// Prometheus' text format.
pub const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub struct Reply {
    pub status: &'static str,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    pub fn text(status: &'static str, body: impl Into<String>) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }
}

pub struct Server {
    listener: TcpListener,
}

impl Server {
    pub fn bind(addr: SocketAddr) -> Result<Server, String> {
        let listener = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        Ok(Server { listener })
    }

    pub fn local_addr(&self) -> String {
        self.listener
            .local_addr()
            .map_or_else(|_| "?".to_string(), |a| a.to_string())
    }

    /// Serves on a thread of its own for the rest of the process (it ends with the process).
    pub fn spawn(self, shared: Arc<Shared>) -> Result<(), String> {
        std::thread::Builder::new()
            .name("http".into())
            .spawn(move || self.accept_forever(&shared))
            .map(|_| ())
            .map_err(|e| format!("starting the HTTP thread: {e}"))
    }

    fn accept_forever(self, shared: &Arc<Shared>) {
        let open = Arc::new(AtomicUsize::new(0));
        let (mut refused, mut logged_at) = (0u64, None::<Instant>);
        for conn in self.listener.incoming() {
            let stream = match conn {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and the like: back off rather than spin.
                    log(format!("http: accepting a connection: {e}"));
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            if open.load(Ordering::Acquire) >= MAX_CONNECTIONS {
                refused += 1;
                refuse(stream);
                if logged_at.is_none_or(|t: Instant| t.elapsed() >= REFUSED_LOG_EVERY) {
                    log(format!(
                        "http: {refused} connection(s) refused: {MAX_CONNECTIONS} already open"
                    ));
                    (refused, logged_at) = (0, Some(Instant::now()));
                }
                continue;
            }
            let slot = Slot::take(&open);
            let shared = shared.clone();
            let peer = stream
                .peer_addr()
                .map_or_else(|_| "?".to_string(), |a| a.to_string());
            let worker = std::thread::Builder::new()
                .name("http-conn".into())
                .spawn(move || {
                    let _slot = slot;
                    if let Err(e) = answer(stream, &|p| shared.route(p)) {
                        log(format!("http: request from {peer}: {e}"));
                    }
                });
            if let Err(e) = worker {
                log(format!("http: starting a connection thread: {e}"));
            }
        }
    }
}

/// One of the open connections, given back when dropped: also when its thread panics or
/// could not be started, so that the cap never fills up with connections that are gone.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(open: &Arc<AtomicUsize>) -> Slot {
        open.fetch_add(1, Ordering::AcqRel);
        Slot(open.clone())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Over the cap: a 503 written without waiting (it fits the empty socket buffer), then closed.
/// What the client already sent is read first: closing on unread data would send a reset,
/// which can discard the 503 before the client reads it.
fn refuse(mut stream: TcpStream) {
    let _ = stream.set_nonblocking(true);
    let _ = stream.read(&mut [0u8; 4096]);
    let _ = stream
        .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

fn answer(mut stream: TcpStream, route: &dyn Fn(&str) -> Reply) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    // For the whole request, not per read: a client sending a byte now and then must not hold
    // a connection slot for long, and a probe's request is one small packet.
    let deadline = Instant::now() + REQUEST_TIME;
    stream.set_write_timeout(Some(REQUEST_TIME))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let too_slow = || std::io::Error::new(std::io::ErrorKind::TimedOut, "no complete request within 2 s");
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(too_slow());
        }
        stream.set_read_timeout(Some(left))?;
        // A read timeout ends the read with EAGAIN (WouldBlock) on Linux.
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(too_slow())
            }
            Err(e) => return Err(e),
        };
        if n == 0 || head.len() > 16 * 1024 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let first = String::from_utf8_lossy(&head);
    let mut words = first.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let reply = match method {
        "GET" | "HEAD" => route(path.split('?').next().unwrap_or("")),
        _ => Reply::text("405 Method Not Allowed", "only GET\n"),
    };
    let mut out = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.status,
        reply.content_type,
        reply.body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        out.extend_from_slice(reply.body.as_bytes());
    }
    stream.write_all(&out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::state::Snapshot;

    #[test]
    fn a_client_trickling_bytes_is_cut_off_at_the_request_time() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("local address");
        // One byte every 400 ms for 4 s: each read would finish within a per-read timeout.
        let client = std::thread::spawn(move || {
            let mut c = TcpStream::connect(addr).expect("connect");
            for _ in 0..10 {
                if c.write_all(b"G").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(400));
            }
        });
        let (stream, _) = listener.accept().expect("accept");
        let started = Instant::now();
        let e = answer(stream, &|_| Reply::text("200 OK", "ok\n")).expect_err("cut off");
        assert!(e.to_string().contains("no complete request within 2 s"), "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        client.join().expect("client");
    }

    fn get(addr: &str, path: &str) -> String {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        // Ignored: a refused connection may be closed before the request goes out.
        let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        reply
    }

    #[test]
    fn idle_connections_neither_delay_a_request_nor_outlive_the_request_time() {
        let server = Server::bind("127.0.0.1:0".parse().expect("address")).expect("bind");
        let addr = server.local_addr();
        server.spawn(Shared::new(Snapshot::default())).expect("spawn");
        // Eight clients that connect and send nothing (the review's stall).
        let mut idle: Vec<TcpStream> = (0..8)
            .map(|_| TcpStream::connect(&addr).expect("connect"))
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        let reply = get(&addr, "/healthz");
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        // Each idle one is dropped by the server after the request time.
        for c in &mut idle {
            c.set_read_timeout(Some(Duration::from_secs(4))).expect("timeout");
            let mut buf = [0u8; 16];
            let n = c
                .read(&mut buf)
                .expect("closed by the server, not timed out here");
            assert_eq!(n, 0);
        }
    }

    #[test]
    fn connections_over_the_cap_get_a_503_at_once() {
        let server = Server::bind("127.0.0.1:0".parse().expect("address")).expect("bind");
        let addr = server.local_addr();
        server.spawn(Shared::new(Snapshot::default())).expect("spawn");
        let _idle: Vec<TcpStream> = (0..MAX_CONNECTIONS)
            .map(|_| TcpStream::connect(&addr).expect("connect"))
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        let reply = get(&addr, "/healthz");
        assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
}
