//! `workbench agent [--config FILE]`: the probe on the configured interfaces for as long as the
//! host runs (systemd unit, Kubernetes DaemonSet: deploy/). The state and each duty are
//! crate::agent; this is the loop: events, the model directory, and the signals (HTTP has its
//! own threads, fed by a snapshot the loop publishes each turn).
//! `workbench agent --check [--config FILE] [--json]` validates the file and prints the settings
//! the agent would run with, attaching nothing.
//!
//! The agent's file is not the workbench settings file: `--config` here names the `[agent]`
//! file, default [`config::DEFAULT_PATH`], and `$WORKBENCH_CONFIG` is not read (it names the
//! other file; the unit and the DaemonSet pass `--config`).
//!
//! Its own signal handling rather than `lifecycle::install`: there SIGHUP stops a command, here
//! it reloads the configuration (what `systemctl reload` sends). SIGTERM and SIGINT stop the
//! loop and run the configured exit; a second one ends the process at once.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::{eyre, Result};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::agent::{config, http, log, state, Agent};
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// The agent's `[agent]` file (default /etc/ebpf-ml-workbench/agent.toml). Not the
    /// workbench settings file: $WORKBENCH_CONFIG and $XDG_CONFIG_HOME are not read here.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Validate the file without attaching anything: print every setting the agent would run
    /// with (file or default) and the checks on this host (interfaces, model file, model_dir,
    /// the metrics address bound and let go, the events file's folder writable);
    /// exit 1 if the agent would refuse to start with it here.
    #[arg(long)]
    pub check: bool,
    /// With --check: the report as one JSON document on stdout.
    #[arg(long, requires = "check")]
    pub json: bool,
}

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

/// One host check in the report.
#[derive(serde::Serialize)]
struct HostCheckReport {
    key: String,
    check: String,
    ok: bool,
    error: Option<String>,
}

/// `agent --check`: the file, whether it is valid, the settings it resolves to, the host checks.
#[derive(serde::Serialize)]
struct CheckReport {
    file: String,
    /// The agent would start with this file on this host (attaching aside).
    ok: bool,
    /// The file itself parses and its values are valid (the same on every host).
    file_ok: bool,
    /// The first error of the file itself (null when `file_ok`).
    error: Option<String>,
    /// Every key of the `[agent]` table: `key`, `value`, `source` (`file` or `default`); empty
    /// when the file does not parse.
    settings: Vec<config::Resolved>,
    /// The checks against this host (empty when the file is invalid): `key`, `check`, `ok`,
    /// `error`.
    host_checks: Vec<HostCheckReport>,
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            Some(e) => return writeln!(f, "{}: INVALID agent configuration: {e}", self.file),
            None => writeln!(
                f,
                "{}: agent configuration parses, values valid; the agent would run with:",
                self.file
            )?,
        }
        for s in &self.settings {
            let value = match &s.value {
                serde_json::Value::String(v) => v.clone(),
                serde_json::Value::Null => "(none)".into(),
                v => v.to_string(),
            };
            writeln!(f, "  {:<26} = {value} [{}]", s.key, s.source)?;
        }
        writeln!(f, "on this host (nothing attached):")?;
        for c in &self.host_checks {
            match &c.error {
                None => writeln!(f, "  ok      {}", c.check)?,
                Some(e) => writeln!(f, "  FAILED  {}: {e}", c.check)?,
            }
        }
        if self.ok {
            writeln!(
                f,
                "ok: `workbench agent --config {}` would start with this file",
                self.file
            )
        } else {
            writeln!(
                f,
                "not ok: the agent would refuse to start with this file on this host"
            )
        }
    }
}

/// `agent --check`: the report, and whether it is ok.
fn check(path: &Path, output: Output) -> Result<()> {
    let file = path.display().to_string();
    let report = match config::read_and_check_values(path) {
        Err(e) => CheckReport {
            file,
            ok: false,
            file_ok: false,
            error: Some(e),
            settings: Vec::new(),
            host_checks: Vec::new(),
        },
        Ok((text, cfg)) => {
            let host_checks: Vec<HostCheckReport> = config::host_checks(&cfg, path)
                .into_iter()
                .chain(config::start_checks(&cfg, path))
                .map(|c| HostCheckReport {
                    key: format!("agent.{}", c.key),
                    check: c.what,
                    ok: c.error.is_none(),
                    error: c.error,
                })
                .collect();
            CheckReport {
                file,
                ok: host_checks.iter().all(|c| c.ok),
                file_ok: true,
                error: None,
                settings: config::resolved(&cfg, &text),
                host_checks,
            }
        }
    };
    output.emit(&report)?;
    if report.ok {
        Ok(())
    } else if let Some(e) = &report.error {
        // Exit 1 with the file's error as the one line on stderr too.
        Err(eyre!("{e}"))
    } else {
        let failed = report.host_checks.iter().filter(|c| !c.ok).count();
        Err(eyre!(
            "{}: {failed} check(s) on this host failed (the file itself is valid)",
            report.file
        ))
    }
}

/// `config_path` is a `--config` given before `agent` (`workbench --config FILE agent`).
pub fn run(args: AgentArgs, config_path: Option<PathBuf>) -> Result<()> {
    let path = args
        .config
        .or(config_path)
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
    if args.check {
        return check(&path, Output { json: args.json });
    }
    // Signals first: a SIGHUP during the start must not kill the agent.
    let signals = Signals::install()?;
    let loaded = config::load(&path).map_err(|e| eyre!("{e}"))?;
    let server = http::Server::bind(loaded.cfg.metrics_listen)
        .map_err(|e| eyre!("{}: key `agent.metrics_listen`: {e}", path.display()))?;
    let mut agent = Agent::start(loaded).map_err(|e| eyre!("{e}"))?;
    // HTTP on threads of its own (agent/http.rs), so that no client or scrape holds the event
    // drain; the loop only publishes a snapshot of its state after each step.
    let shared = state::Shared::new(agent.snapshot());
    let listening = server.local_addr();
    server.spawn(shared.clone()).map_err(|e| eyre!("{e}"))?;
    log(format!(
        "running on {} (config {}); serving http://{listening}/metrics, /healthz, /readyz",
        agent.interfaces().cloned().collect::<Vec<_>>().join(", "),
        path.display(),
    ));
    let signal = loop {
        if signals.take_reload() {
            log("SIGHUP: reloading the configuration");
            agent.reload();
            shared.publish(agent.snapshot());
        }
        agent.tick();
        shared.publish(agent.snapshot());
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
