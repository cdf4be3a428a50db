//! One event stream merged from terminal input, ticks and the background poller. The poller
//! owns the data source; it writes its newest snapshot into a one-slot mailbox (a newer one
//! replaces an unread older one, so a slow UI never queues stale states) and wakes the UI.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::app::Request;
use super::source::{KernelSource, Snapshot, Source};
use super::view::{self, ViewSpec};

pub enum Event {
    Input(crossterm::event::Event),
    /// Nothing typed for a while: redraw (ages move on).
    Tick,
    /// A new snapshot waits in the mailbox.
    Snapshot,
    Notice(String),
    /// The result of a confirmed kernel change (the Deploy tab keeps it: a status line is
    /// overwritten by the next notice).
    Controlled(String),
    /// An action from a driver thread (the demo's autoplay or script, a quit on a signal),
    /// applied exactly as if a key had produced it.
    Action(super::action::Action),
    /// Progress or result of a background job (load, inspect, train).
    Job(super::jobs::JobUpdate),
}

pub struct Poller {
    requests: Sender<Request>,
    mailbox: Arc<Mutex<Option<Snapshot>>>,
}

impl Poller {
    pub fn request(&self, request: Request) {
        // The poller thread only ends when the UI is gone; nothing to report then.
        let _ = self.requests.send(request);
    }

    pub fn take(&self) -> Option<Snapshot> {
        self.mailbox.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// Reads terminal input on its own thread (crossterm's read blocks).
pub fn spawn_input(tx: Sender<Event>) {
    std::thread::spawn(move || loop {
        match crossterm::event::poll(Duration::from_millis(200)) {
            Ok(true) => match crossterm::event::read() {
                Ok(ev) => {
                    if tx.send(Event::Input(ev)).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            },
            Ok(false) => {
                // Nothing typed: a tick, which also ends this thread once the UI is gone.
                if tx.send(Event::Tick).is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    });
}

/// Polls `source` every `interval` (and at once after a request) on its own thread, and
/// prepares each snapshot for the table order and filter last published in `spec`.
pub fn spawn_poller(
    mut source: Box<dyn Source>,
    tx: Sender<Event>,
    interval: Duration,
    spec: Arc<Mutex<ViewSpec>>,
) -> Poller {
    let (req_tx, req_rx): (Sender<Request>, Receiver<Request>) = mpsc::channel();
    let mailbox = Arc::new(Mutex::new(None));
    let slot = mailbox.clone();
    std::thread::spawn(move || loop {
        match source.poll() {
            Ok(mut snapshot) => {
                let current = spec.lock().map(|s| s.clone()).unwrap_or_default();
                snapshot.prepared = Some(view::prepare(&snapshot, &current));
                if let Ok(mut s) = slot.lock() {
                    *s = Some(snapshot);
                }
                if tx.send(Event::Snapshot).is_err() {
                    return;
                }
            }
            Err(e) => {
                if tx
                    .send(Event::Notice(format!(
                        "reading the source failed: {}",
                        crate::error::line(&e)
                    )))
                    .is_err()
                {
                    return;
                }
            }
        }
        match req_rx.recv_timeout(interval) {
            Ok(Request::UseIface(iface)) => {
                source = Box::new(KernelSource::new(&iface));
            }
            Ok(Request::Control(c)) => {
                let line = match source.control(&c) {
                    Ok(line) => line,
                    Err(e) => format!("failed: {}", crate::error::line(&e)),
                };
                if tx.send(Event::Controlled(line)).is_err() {
                    return;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    });
    Poller {
        requests: req_tx,
        mailbox,
    }
}
