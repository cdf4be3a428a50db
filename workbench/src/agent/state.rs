//! What the HTTP thread (http.rs) answers from: a snapshot the event loop publishes once per
//! turn, and the instant of that turn. The loop only copies its few counters and names here;
//! everything slow (the flow-table walk behind `/metrics`, the pin reads behind `/readyz`)
//! happens on the HTTP thread, so a scrape never holds the event drain.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::events::PerOutput;
use super::http::{self, OneAtATime, Reply};
use super::watch::Candidate;
use super::{probes, series, Counters};

/// `/healthz` answers 503 once the loop's last turn is older than this. A turn is 20 ms plus
/// its work; a reload that attaches a new interface takes a few seconds at most. Well under
/// the DaemonSet's liveness window (3 failed probes 10 s apart).
pub const STALLED: Duration = Duration::from_secs(10);

/// How long a scrape waits for the one render at a time before it gets a 503: concurrent
/// scrapes queue for the flow-table walk, but none waits without end (and holds its
/// connection slot meanwhile).
pub const RENDER_WAIT: Duration = Duration::from_secs(5);

/// The agent's state as of one turn of its loop (cheap to build: names and counters).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The interfaces the probe runs on for this agent.
    pub interfaces: Vec<String>,
    /// The configured interfaces (`/readyz` requires each of them).
    pub configured: Vec<String>,
    pub counters: Counters,
    /// (events written, event write failures) per output, and the configured outputs.
    pub events: (PerOutput, PerOutput, (bool, bool)),
    /// The configured model's id and the configured mode's name.
    pub model: String,
    pub mode: &'static str,
    pub promote_after_decisions: u64,
    pub promote_max_disagreement: f64,
    pub promote_max_missed: f64,
    pub candidate: Option<Candidate>,
    /// Interfaces whose probe no longer feeds the agent, with the reason (sources.rs).
    pub gone: Vec<(String, String)>,
}

/// Shared between the loop (writer) and the HTTP threads (readers).
pub struct Shared {
    snapshot: Mutex<Arc<Snapshot>>,
    last_turn: Mutex<Instant>,
    /// One flow-table walk at a time: concurrent scrapes must not eat the CPU the loop needs.
    render: OneAtATime,
    /// [`RENDER_WAIT`], shorter in tests.
    render_wait: Duration,
}

/// A poisoned lock still holds a usable value here (plain data, replaced whole).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub fn new(first: Snapshot) -> Arc<Shared> {
        Shared::waiting(first, RENDER_WAIT)
    }

    fn waiting(first: Snapshot, render_wait: Duration) -> Arc<Shared> {
        Arc::new(Shared {
            snapshot: Mutex::new(Arc::new(first)),
            last_turn: Mutex::new(Instant::now()),
            render: OneAtATime::default(),
            render_wait,
        })
    }

    /// The loop, once per turn: the lock is held only to swap a pointer.
    pub fn publish(&self, snapshot: Snapshot) {
        let snapshot = Arc::new(snapshot);
        *lock(&self.snapshot) = snapshot;
        *lock(&self.last_turn) = Instant::now();
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        lock(&self.snapshot).clone()
    }

    /// How long ago the loop last turned.
    pub fn since_turn(&self) -> Duration {
        lock(&self.last_turn).elapsed()
    }

    #[cfg(test)]
    pub fn set_last_turn(&self, at: Instant) {
        *lock(&self.last_turn) = at;
    }

    /// Answers one HTTP GET (on an HTTP thread).
    pub fn route(&self, path: &str) -> Reply {
        match path {
            "/healthz" => {
                let since = self.since_turn();
                if since < STALLED {
                    Reply::text("200 OK", "ok\n")
                } else {
                    Reply::text(
                        "503 Service Unavailable",
                        format!(
                            "the agent's event loop has not turned for {:.1} s\n",
                            since.as_secs_f64()
                        ),
                    )
                }
            }
            "/readyz" => match not_ready(&self.snapshot()) {
                None => Reply::text("200 OK", "ready\n"),
                Some(why) => Reply::text("503 Service Unavailable", format!("not ready: {why}\n")),
            },
            "/metrics" => {
                let snapshot = self.snapshot();
                let Some(_turn) = self.render.enter(self.render_wait) else {
                    return Reply::text(
                        "503 Service Unavailable",
                        format!(
                            "busy: another scrape has been rendering for {} s; try again\n",
                            self.render_wait.as_secs_f64()
                        ),
                    );
                };
                match series::render(&snapshot) {
                    Ok(text) => Reply {
                        status: "200 OK",
                        content_type: http::METRICS_TYPE,
                        body: text,
                    },
                    Err(e) => Reply::text("500 Internal Server Error", format!("{e}\n")),
                }
            }
            _ => Reply::text("404 Not Found", "served: /metrics, /healthz, /readyz\n"),
        }
    }
}

/// The HTTP server's view: `/healthz` and `/readyz` take no render turn and walk no table,
/// so they are answered also on the reserve slots (http.rs) while the others are all taken.
impl http::Handler for Shared {
    fn reply(&self, path: &str) -> Reply {
        self.route(path)
    }

    fn quick(&self, path: &str) -> bool {
        matches!(path, "/healthz" | "/readyz")
    }
}

/// `/readyz`: attached on every configured interface with an active model.
fn not_ready(s: &Snapshot) -> Option<String> {
    for iface in &s.configured {
        if let Some((_, why)) = s.gone.iter().find(|(i, _)| i == iface) {
            return Some(why.clone());
        }
        if !probes::attached(iface) {
            return Some(format!("the probe is not attached on {iface}"));
        }
        match probes::active_model(iface) {
            Ok(Some(_)) => {}
            Ok(None) => return Some(format!("no active model on {iface}")),
            Err(e) => return Some(format!("{iface}: {e}")),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthz_is_about_the_loop_turning_not_the_http_thread() {
        let shared = Shared::new(Snapshot::default());
        assert_eq!(shared.route("/healthz").status, "200 OK");
        let long_ago = Instant::now().checked_sub(STALLED + Duration::from_secs(1));
        if let Some(at) = long_ago {
            shared.set_last_turn(at);
            let r = shared.route("/healthz");
            assert_eq!(r.status, "503 Service Unavailable");
            assert!(r.body.contains("has not turned for"), "{}", r.body);
        }
        shared.publish(Snapshot::default());
        assert_eq!(shared.route("/healthz").status, "200 OK");
        assert_eq!(shared.route("/nope").status, "404 Not Found");
    }

    #[test]
    fn readyz_with_nothing_configured_is_ready_and_metrics_render_from_the_snapshot() {
        let shared = Shared::new(Snapshot {
            model: "0123abcd".into(),
            mode: "monitor",
            counters: Counters {
                promotions: 2,
                ..Counters::default()
            },
            events: (
                PerOutput { file: 7, socket: 0 },
                PerOutput { file: 1, socket: 0 },
                (true, false),
            ),
            ..Snapshot::default()
        });
        assert_eq!(shared.route("/readyz").status, "200 OK");
        let m = shared.route("/metrics");
        assert_eq!(m.status, "200 OK");
        for line in [
            "workbench_agent_promotions_total 2",
            "workbench_agent_events_written_total{output=\"file\"} 7",
            "workbench_agent_event_write_failures_total{output=\"file\"} 1",
            "workbench_agent_info{mode=\"monitor\",model=\"0123abcd\"} 1",
        ] {
            assert!(m.body.lines().any(|l| l == line), "{line} in\n{}", m.body);
        }
        assert!(
            !m.body.contains("output=\"socket\""),
            "no socket configured: {}",
            m.body
        );
    }

    #[test]
    fn a_scrape_waits_a_bounded_time_for_the_render_and_gets_a_503() {
        let shared = Shared::waiting(Snapshot::default(), Duration::from_millis(300));
        let (tx, rx) = std::sync::mpsc::channel();
        // Another scrape's render, holding the turn.
        let turn = shared.render.enter(Duration::ZERO).expect("free");
        let waiter = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                let r = shared.route("/metrics");
                let _ = tx.send((r.status, r.body, started.elapsed()));
            })
        };
        // Without a bounded wait this would block until the turn is given back.
        let got = rx.recv_timeout(Duration::from_secs(3));
        drop(turn);
        let (status, body, took) = got.expect("an answer while the other render still runs");
        assert_eq!(status, "503 Service Unavailable", "{body}");
        assert!(body.contains("another scrape"), "{body}");
        assert!(took >= Duration::from_millis(300), "{took:?}");
        waiter.join().expect("waiter");
        // Health is not behind the render, and is quick for the reserve slots.
        let _turn = shared.render.enter(Duration::ZERO).expect("free again");
        assert_eq!(shared.route("/healthz").status, "200 OK");
        assert!(http::Handler::quick(&*shared, "/healthz"));
        assert!(!http::Handler::quick(&*shared, "/metrics"));
    }
}
