//! The agent's HTTP endpoint: `/metrics`, `/healthz`, `/readyz`, on threads of its own (and
//! `workbench metrics --listen`'s `/metrics`, commands/metrics.rs). An accept thread hands each
//! connection to a short-lived worker thread, and the workers answer from what the event loop
//! publishes (state.rs): no client, idle or slow, and no scrape, however big the flow table,
//! can hold the loop that drains the verdict rings. `/healthz` is still about the loop: it
//! checks that the loop's last turn is recent.
//!
//! What one client, or a few, can take (the agent listens on the host network in Kubernetes,
//! where a failed liveness probe restarts it and nobody drains the verdict rings meanwhile):
//!
//! - **Slots.** [`MAX_CONNECTIONS`] general slots, each held for at most [`REQUEST_TIME`] of
//!   reading (the whole request, not per read) plus the answer. Past them,
//!   [`HEALTH_RESERVE`] reserve slots answer only the cheap health paths ([`Handler::quick`]:
//!   `/healthz`, `/readyz`, which take no render lock and walk no table) and give up on a
//!   request that is not complete within [`QUICK_TIME`]; anything else on a reserve slot gets a
//!   503. A kubelet probe sends its whole request in the packet after the handshake, so it
//!   completes in well under that; an idle client holds a reserve slot for [`QUICK_TIME`] at
//!   most. Past the reserve too: a 503 at once, from the accept thread, without waiting.
//! - **Per address.** At most [`MAX_PER_PEER`] open connections from one IPv4 address (one IPv6
//!   /64: a host has a whole /64 to pick from), over both kinds of slot, and at most
//!   [`RESERVE_PER_PEER`] of them reserve slots. One source cannot fill the general slots (that
//!   takes `MAX_CONNECTIONS / MAX_PER_PEER` = 4 addresses) and the reserve on top of them takes
//!   `HEALTH_RESERVE / RESERVE_PER_PEER` = 4 more, all reconnecting at least twice a second.
//!   More get a 503 at once. What this cannot tell apart: an attacker sharing the prober's
//!   address (a NAT, or a process on the node itself when the kubelet probes from the node's
//!   address), and a flood from more addresses than that: per-address limits are the most a
//!   server without authentication can do; a NetworkPolicy or firewall in front of the port
//!   is the rest.
//! - **Threads.** At most `MAX_CONNECTIONS + HEALTH_RESERVE` workers at once.
//! - **The journal.** Lines about single connections (a request cut off, a refusal) are
//!   throttled: at most one a second about requests and one every 10 s about refusals, each
//!   with the count of what it stands for.
//!
//! The accept thread itself never waits on a client: it reads nothing but what is already
//! there (when refusing), so a flood of connections costs it microseconds each.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The most one request may take to arrive, and its answer to be written, on a general slot.
pub const REQUEST_TIME: Duration = Duration::from_secs(2);

/// The same on a reserve slot (health checks only).
pub const QUICK_TIME: Duration = Duration::from_millis(500);

/// General connection slots: any request. Scrapers and probes need a few; the cap bounds the
/// threads (and the concurrent scrapes) a flood can start.
pub const MAX_CONNECTIONS: usize = 16;

/// Reserve slots, used once the general ones are all taken: `/healthz` and `/readyz` only.
pub const HEALTH_RESERVE: usize = 8;

/// Reserve slots one address (IPv4) or /64 (IPv6) may hold at once, within [`MAX_PER_PEER`]:
/// a kubelet's liveness and readiness probes may come at once.
pub const RESERVE_PER_PEER: usize = 2;

/// Open connections from one address (IPv4) or /64 (IPv6), over both kinds of slot.
pub const MAX_PER_PEER: usize = 4;

/// At most one log line per this long about refused connections, with their count.
const REFUSED_LOG_EVERY: Duration = Duration::from_secs(10);

/// At most one log line per this long about single requests (cut off, failed), with the count
/// of those left out.
const REQUEST_LOG_EVERY: Duration = Duration::from_secs(1);

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

/// What a server answers.
pub trait Handler: Send + Sync + 'static {
    /// The answer to a GET (or HEAD) of `path` (without its query).
    fn reply(&self, path: &str) -> Reply;

    /// Whether `path` is answered at once, without a lock another request can hold or a walk
    /// of anything big: such paths are also answered on the reserve slots.
    fn quick(&self, _path: &str) -> bool {
        false
    }
}

/// A poisoned lock still holds usable plain data here.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One at a time, with a bounded wait: a second caller waits for the first to finish, but
/// at most for the wait it gives, rather than queueing without end.
#[derive(Default)]
pub struct OneAtATime {
    busy: Mutex<bool>,
    free: Condvar,
}

/// The turn [`OneAtATime::enter`] gave, given back when dropped (also on a panic).
pub struct Turn<'a>(&'a OneAtATime);

impl OneAtATime {
    /// The turn, or `None` when someone else still has it after `wait`.
    pub fn enter(&self, wait: Duration) -> Option<Turn<'_>> {
        let busy = lock(&self.busy);
        let (mut busy, _) = self
            .free
            .wait_timeout_while(busy, wait, |b| *b)
            .unwrap_or_else(PoisonError::into_inner);
        if *busy {
            return None;
        }
        *busy = true;
        Some(Turn(self))
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        *lock(&self.0.busy) = false;
        self.0.free.notify_one();
    }
}

/// At most one line per `every`; the line after a quiet spell says how many were left out.
pub struct Throttle {
    every: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl Throttle {
    pub fn new(every: Duration) -> Throttle {
        Throttle {
            every,
            state: Mutex::new((None, 0)),
        }
    }

    /// The line to log for `msg` at `now`, or `None` when it is to be left out (and counted).
    pub fn line(&self, now: Instant, msg: impl std::fmt::Display) -> Option<String> {
        let mut state = lock(&self.state);
        let (last, left_out) = &mut *state;
        if last.is_some_and(|t| now.saturating_duration_since(t) < self.every) {
            *left_out += 1;
            return None;
        }
        let line = match *left_out {
            0 => msg.to_string(),
            n => format!(
                "{msg} (and {n} more such line(s) left out since the last; at most one per {} s)",
                self.every.as_secs_f64()
            ),
        };
        (*last, *left_out) = (Some(now), 0);
        Some(line)
    }
}

pub struct Server {
    listener: TcpListener,
    log: fn(String),
}

fn agent_log(msg: String) {
    super::log(msg);
}

impl Server {
    pub fn bind(addr: SocketAddr) -> Result<Server, String> {
        let listener = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        Ok(Server {
            listener,
            log: agent_log,
        })
    }

    /// Log lines through `log` instead of the agent's log.
    pub fn logging_to(self, log: fn(String)) -> Server {
        Server { log, ..self }
    }

    pub fn local_addr(&self) -> String {
        self.listener
            .local_addr()
            .map_or_else(|_| "?".to_string(), |a| a.to_string())
    }

    /// Serves on a thread of its own for the rest of the process (it ends with the process).
    pub fn spawn<H: Handler>(self, handler: Arc<H>) -> Result<(), String> {
        std::thread::Builder::new()
            .name("http".into())
            .spawn(move || self.accept_forever(handler))
            .map(|_| ())
            .map_err(|e| format!("starting the HTTP thread: {e}"))
    }

    fn accept_forever<H: Handler>(self, handler: Arc<H>) {
        let log = self.log;
        let book = Arc::new(Mutex::new(Book::default()));
        let requests = Arc::new(Throttle::new(REQUEST_LOG_EVERY));
        let mut refusals = Refusals::default();
        for conn in self.listener.incoming() {
            let stream = match conn {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and the like: back off rather than spin.
                    if let Some(l) =
                        requests.line(Instant::now(), format!("http: accepting a connection: {e}"))
                    {
                        log(l);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            let peer = stream.peer_addr().ok();
            let slot = match Slot::take(&book, peer) {
                Ok(slot) => slot,
                Err(why) => {
                    refuse(stream);
                    if let Some(l) = refusals.count(why, peer) {
                        log(l);
                    }
                    continue;
                }
            };
            let (handler, throttle) = (handler.clone(), requests.clone());
            let worker = std::thread::Builder::new()
                .name("http-conn".into())
                .spawn(move || {
                    let (reserve, mut stream) = (slot.reserve, stream);
                    let answered = answer(&mut stream, handler.as_ref(), reserve);
                    // The slot given back before the connection closes: a client that saw the
                    // close and comes back at once (a kubelet's next probe) finds it free.
                    drop(slot);
                    drop(stream);
                    if let Err(e) = answered {
                        let peer = peer.map_or_else(|| "?".to_string(), |a| a.to_string());
                        let msg = format!("http: request from {peer}: {e}");
                        if let Some(l) = throttle.line(Instant::now(), msg) {
                            log(l);
                        }
                    }
                });
            if let Err(e) = worker {
                if let Some(l) =
                    requests.line(Instant::now(), format!("http: starting a connection thread: {e}"))
                {
                    log(l);
                }
            }
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// Every general and reserve slot taken.
    Full,
    /// [`MAX_PER_PEER`] already open from its address, or [`RESERVE_PER_PEER`] of the
    /// reserve when only the reserve is left.
    PerPeer,
}

/// Refusals since the last line about them.
#[derive(Default)]
struct Refusals {
    logged_at: Option<Instant>,
    full: u64,
    per_peer: u64,
}

impl Refusals {
    /// The line to log, at most one per [`REFUSED_LOG_EVERY`].
    fn count(&mut self, why: Refused, peer: Option<SocketAddr>) -> Option<String> {
        match why {
            Refused::Full => self.full += 1,
            Refused::PerPeer => self.per_peer += 1,
        }
        if self.logged_at.is_some_and(|t| t.elapsed() < REFUSED_LOG_EVERY) {
            return None;
        }
        let peer = peer.map_or_else(|| "?".to_string(), |a| a.ip().to_string());
        let line = format!(
            "http: connection(s) refused with a 503: {} with all {MAX_CONNECTIONS} + {HEALTH_RESERVE} slots taken, {} over the limit of one address ({MAX_PER_PEER} open, {RESERVE_PER_PEER} on the reserve; the last from {peer}); at most one such line per {} s",
            self.full,
            self.per_peer,
            REFUSED_LOG_EVERY.as_secs()
        );
        (self.logged_at, self.full, self.per_peer) = (Some(Instant::now()), 0, 0);
        Some(line)
    }
}

/// Where connections come from, for [`MAX_PER_PEER`]: an IPv4 address, or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PeerKey {
    V4(Ipv4Addr),
    V6Net(u64),
    Unknown,
}

fn peer_key(peer: Option<SocketAddr>) -> PeerKey {
    match peer.map(|a| a.ip().to_canonical()) {
        Some(IpAddr::V4(a)) => PeerKey::V4(a),
        Some(IpAddr::V6(a)) => PeerKey::V6Net((u128::from(a) >> 64) as u64),
        None => PeerKey::Unknown,
    }
}

/// The open connections: per kind of slot and per address.
#[derive(Default)]
struct Book {
    general: usize,
    reserve: usize,
    /// Per address: (open connections, of them on reserve slots).
    peers: HashMap<PeerKey, (usize, usize)>,
}

/// One of the open connections, given back when dropped: also when its thread panics or
/// could not be started, so that the caps never fill up with connections that are gone.
struct Slot {
    book: Arc<Mutex<Book>>,
    peer: PeerKey,
    reserve: bool,
}

impl Slot {
    fn take(book: &Arc<Mutex<Book>>, peer: Option<SocketAddr>) -> Result<Slot, Refused> {
        let peer = peer_key(peer);
        let mut b = lock(book);
        let (open, on_reserve) = b.peers.get(&peer).copied().unwrap_or((0, 0));
        if open >= MAX_PER_PEER {
            return Err(Refused::PerPeer);
        }
        let reserve = if b.general < MAX_CONNECTIONS {
            b.general += 1;
            false
        } else if b.reserve >= HEALTH_RESERVE {
            return Err(Refused::Full);
        } else if on_reserve >= RESERVE_PER_PEER {
            return Err(Refused::PerPeer);
        } else {
            b.reserve += 1;
            true
        };
        b.peers
            .insert(peer, (open + 1, on_reserve + usize::from(reserve)));
        Ok(Slot {
            book: book.clone(),
            peer,
            reserve,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut b = lock(&self.book);
        if self.reserve {
            b.reserve -= 1;
        } else {
            b.general -= 1;
        }
        let reserve = self.reserve;
        if let Some((open, on_reserve)) = b.peers.get_mut(&self.peer) {
            *open -= 1;
            *on_reserve -= usize::from(reserve);
            if *open == 0 {
                b.peers.remove(&self.peer);
            }
        }
    }
}

/// Refused: a 503 written without waiting (it fits the empty socket buffer), then closed.
/// What the client already sent is read first: closing on unread data would send a reset,
/// which can discard the 503 before the client reads it.
fn refuse(mut stream: TcpStream) {
    let _ = stream.set_nonblocking(true);
    let _ = stream.read(&mut [0u8; 4096]);
    let _ = stream
        .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// Reads one request's head and answers it. On a reserve slot, only quick paths, and a
/// shorter deadline.
fn answer(stream: &mut TcpStream, handler: &dyn Handler, reserve: bool) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    // For the whole request, not per read: a client sending a byte now and then must not hold
    // a connection slot for long, and a probe's request is one small packet.
    let limit = if reserve { QUICK_TIME } else { REQUEST_TIME };
    let deadline = Instant::now() + limit;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let too_slow = || {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no complete request within {} s", limit.as_secs_f64()),
            )
        };
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
    let path = path.split('?').next().unwrap_or("");
    let reply = match method {
        "GET" | "HEAD" if reserve && !handler.quick(path) => Reply::text(
            "503 Service Unavailable",
            "busy: every connection slot is taken; only health checks are answered now\n",
        ),
        "GET" | "HEAD" => handler.reply(path),
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
    // The answer, too, within a deadline of its own (a render may have waited for its turn):
    // for the whole answer, not per write, against a client reading a byte now and then.
    let deadline = Instant::now() + limit;
    let mut rest = &out[..];
    while !rest.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the answer not taken within {} s", limit.as_secs_f64()),
            ));
        }
        stream.set_write_timeout(Some(left))?;
        match stream.write(rest) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
