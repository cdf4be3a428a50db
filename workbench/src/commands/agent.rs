//! `workbench agent [--config FILE]`: the probe on the configured interfaces for as long as the
//! host runs (systemd unit, Kubernetes DaemonSet: deploy/). The state and each duty are
//! crate::agent; this is the loop: HTTP, events, the model directory, and the signals.
//!
//! Its own signal handling rather than `lifecycle::install`: there SIGHUP stops a command, here
//! it reloads the configuration (what `systemctl reload` sends). SIGTERM and SIGINT stop the
//! loop and run the configured exit; a second one ends the process at once.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::{eyre, Result};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::agent::{config, http, log, Agent};

/// How long the loop sleeps between turns when nothing is waiting.
const TURN: Duration = Duration::from_millis(20);

struct Signals {
    term: Arc<AtomicBool>,
    int: Arc<AtomicBool>,
    hup: Arc<AtomicBool>,
}

impl Signals {
    fn install() -> Result<Signals> {
        let s = Signals {
            term: Arc::new(AtomicBool::new(false)),
            int: Arc::new(AtomicBool::new(false)),
            hup: Arc::new(AtomicBool::new(false)),
        };
        for (sig, flag, status) in [(SIGTERM, &s.term, 143), (SIGINT, &s.int, 130)] {
            // Registered first: it sees the flag as the previous signal left it.
            signal_hook::flag::register_conditional_shutdown(sig, status, flag.clone())?;
            signal_hook::flag::register(sig, flag.clone())?;
        }
        signal_hook::flag::register(SIGHUP, s.hup.clone())?;
        Ok(s)
    }

    fn stop(&self) -> Option<&'static str> {
        if self.term.load(Ordering::Relaxed) {
            Some("SIGTERM")
        } else if self.int.load(Ordering::Relaxed) {
            Some("SIGINT")
        } else {
            None
        }
    }

    fn take_reload(&self) -> bool {
        self.hup.swap(false, Ordering::Relaxed)
    }
}

pub fn run(config_path: Option<PathBuf>) -> Result<()> {
    let path = config_path.unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
    // Signals first: a SIGHUP during the start must not kill the agent.
    let signals = Signals::install()?;
    let loaded = config::load(&path).map_err(|e| eyre!("{e}"))?;
    let server = http::Server::bind(loaded.cfg.metrics_listen)
        .map_err(|e| eyre!("{}: key `agent.metrics_listen`: {e}", path.display()))?;
    let mut agent = Agent::start(loaded).map_err(|e| eyre!("{e}"))?;
    log(format!(
        "running on {} (config {}); serving http://{}/metrics, /healthz, /readyz",
        agent.interfaces().cloned().collect::<Vec<_>>().join(", "),
        path.display(),
        server.local_addr()
    ));
    let signal = loop {
        for failure in server.serve_waiting(&mut |p| agent.route(p)) {
            log(format!("http: {failure}"));
        }
        if signals.take_reload() {
            log("SIGHUP: reloading the configuration");
            agent.reload();
        }
        agent.tick();
        if let Some(signal) = signals.stop() {
            break signal;
        }
        std::thread::sleep(TURN);
    };
    log(format!("{signal}: stopping"));
    agent.shutdown(signal).map_err(|e| eyre!("{e}"))?;
    log("stopped");
    Ok(())
}
