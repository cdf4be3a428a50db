//! SIGINT, SIGTERM and SIGHUP end the demo through its normal exit path, so that the lab, the
//! probe and the replay thread are removed: the default action would kill the process before any
//! destructor runs. The handler only sets a flag (all a signal handler may safely do); the
//! headless loop and the TUI's watcher thread look at it.
//!
//! In the TUI the terminal is in raw mode, so Ctrl-C arrives as a key (and quits) rather than
//! as SIGINT; the signals matter for `kill`, a closed terminal and the headless run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::Duration;

static REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Installs the handlers (for the rest of the process).
pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction with a handler that only stores to an atomic is valid and
        // async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// True once one of the signals arrived.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// A TUI driver: quits the TUI when a signal arrives. (The thread ends with the process.)
pub fn quit_on_signal(tx: Sender<crate::tui::event::Event>) {
    while !requested() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = tx.send(crate::tui::event::Event::Action(crate::tui::action::Action::Quit));
}
