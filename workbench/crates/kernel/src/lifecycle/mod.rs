//! What a command makes in the kernel for its own duration (a lab namespace, a probe attachment,
//! a private pinned probe) goes away when the command ends: normally, on an error, on Ctrl-C
//! (SIGINT), SIGTERM or SIGHUP. Drop guards (`ReplayLab`, `PinGuard`, verify's detach guard) do
//! the removing; this module turns a signal into a flag that long loops poll, so that the stack
//! unwinds through those guards instead of the process dying with them unrun.
//!
//! Only commands that hold such things (or the terminal) install the handler; the others keep
//! the default: a signal ends them at once, which loses nothing. A second SIGINT or SIGTERM
//! ends the process at once (for a stuck cleanup); what it leaves is then found by [`claims`]
//! on the next start. A second SIGHUP does not: a closing terminal sends more than one (the
//! terminal emulator or tmux, then the kernel's hangup of the tty), and nobody is left to ask.

pub mod claims;
pub mod private_pins;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{Context, Error, Result};

/// Signals that ask a command to stop, with the exit status the shell convention gives them
/// and whether a second one ends the process at once.
const SIGNALS: [(i32, &str, u8, bool); 3] = [
    (signal_hook::consts::SIGINT, "SIGINT", 130, true),
    (signal_hook::consts::SIGTERM, "SIGTERM", 143, true),
    (signal_hook::consts::SIGHUP, "SIGHUP", 129, false),
];

/// One flag per signal: the first tells which signal it was.
static FLAGS: OnceLock<Vec<Arc<AtomicBool>>> = OnceLock::new();

/// Installs the handlers (once per process). From then on SIGINT/SIGTERM/SIGHUP set a flag that
/// [`stop_requested`] reports; a second SIGINT or SIGTERM exits at once.
pub fn install() -> Result<()> {
    if FLAGS.get().is_some() {
        return Ok(());
    }
    let mut flags = Vec::new();
    for (signal, name, status, second_exits) in SIGNALS {
        let flag = Arc::new(AtomicBool::new(false));
        // Registered first, so it sees the flag as the previous signal left it.
        if second_exits {
            signal_hook::flag::register_conditional_shutdown(signal, i32::from(status), flag.clone())
                .context(|| format!("installing the {name} handler"))?;
        }
        signal_hook::flag::register(signal, flag.clone())
            .context(|| format!("installing the {name} handler"))?;
        flags.push(flag);
    }
    let _ = FLAGS.set(flags);
    Ok(())
}

/// The first stop signal received, if any: (name, exit status).
pub fn stop_signal() -> Option<(&'static str, u8)> {
    let flags = FLAGS.get()?;
    SIGNALS
        .iter()
        .zip(flags)
        .find(|(_, f)| f.load(Ordering::Relaxed))
        .map(|((_, name, status, _), _)| (*name, *status))
}

pub fn stop_requested() -> bool {
    stop_signal().is_some()
}

/// A command stopped by a signal: `main` prints it in one line and exits with its status.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {signal}; what this run made was removed")]
pub struct Interrupted {
    pub signal: &'static str,
    pub exit_status: u8,
}

/// `Err(Interrupted)` once a stop signal arrived: `?` after each step unwinds through the guards.
pub fn check() -> Result<(), Interrupted> {
    match stop_signal() {
        Some((signal, exit_status)) => Err(Interrupted { signal, exit_status }),
        None => Ok(()),
    }
}

/// The [`Interrupted`] an error of a chain is, directly or as this crate's
/// [`Error::Interrupted`] (whose display is the interruption's own, so the chain does not list
/// it twice): what `main` looks for to exit with the signal's status.
pub fn interrupted_in<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a Interrupted> {
    if let Some(i) = e.downcast_ref::<Interrupted>() {
        return Some(i);
    }
    e.downcast_ref::<Error>()
        .or_else(|| e.downcast_ref::<Box<Error>>().map(|b| &**b))
        .and_then(Error::interrupted)
}

/// Sleeps until `until`, waking early when a stop signal arrives (long pacing gaps in a capture
/// must not delay Ctrl-C). Returns false when woken by a signal.
pub fn sleep_until(until: Instant) -> bool {
    const SLICE: Duration = Duration::from_millis(50);
    loop {
        if stop_requested() {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep((until - now).min(SLICE));
    }
}
