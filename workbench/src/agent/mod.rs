//! `workbench agent`: the long-running form of `probe attach` + `deploy` + `live --jsonl` +
//! `metrics` for hosts under systemd or a Kubernetes DaemonSet (deploy/README.md), with a model
//! directory whose new models go in as shadow and are promoted by a rule.
//!
//! This module holds the agent's state and what it does on each turn of its loop; the loop, the
//! signals and the exit are commands/agent.rs. Every outcome is one log line on stderr with an
//! RFC 3339 timestamp (journald and `kubectl logs` keep stderr), and a counter in `/metrics`.

pub mod config;
pub mod events;
pub mod http;
pub mod probes;
pub mod promotion;
pub mod series;
pub mod sources;
pub mod state;
mod trial;
pub mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use shared::model::Model;
use workbench_flow::model::{file, id_string};
use workbench_kernel::lifecycle::claims::{Claim, Object};

use config::{AgentConfig, Loaded, OnExit};
use probes::Origin;
use promotion::{Counts, Judgement};
use watch::{Candidate, ModelDir, State};

/// One log line on stderr: `TIMESTAMP workbench agent: MESSAGE`, the message on one line.
pub fn log(msg: impl std::fmt::Display) {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    let msg = msg.to_string().replace('\n', " ");
    eprintln!(
        "{} workbench agent: {msg}",
        workbench_kernel::eve::rfc3339_micros(ns)
    );
}

/// What the agent counted since it started (exposed in `/metrics`).
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub models_rejected: u64,
    pub promotions: u64,
    pub shadows_deployed: u64,
    pub reloads_ok: u64,
    pub reloads_failed: u64,
}

pub struct Agent {
    path: PathBuf,
    cfg: AgentConfig,
    /// The configured model's id.
    model_id: String,
    /// The interfaces the probe runs on for this agent.
    ifaces: BTreeMap<String, Origin>,
    /// With `on_exit = "detach"`, the probes are this run's: noted, so that what a killed agent
    /// leaves is named by the next command (`lifecycle::claims`).
    claim: Option<Claim>,
    events: events::Events,
    watch: Option<ModelDir>,
    next_poll: Instant,
    candidate: Option<(Candidate, Box<Model>)>,
    pub counters: Counters,
    /// Interfaces whose probe no longer feeds the agent, and why (sources.rs).
    gone: BTreeMap<String, workbench_kernel::events::SourceGone>,
    next_source_check: Instant,
    /// The last failure to attach again to an interface that came back (logged once).
    reattach_error: Option<String>,
}

impl Agent {
    /// Attaches (or reuses) the probe on every interface and deploys the model; on a failure,
    /// what this start attached is detached again and the error is the one line to print.
    pub fn start(loaded: Loaded) -> Result<Agent, String> {
        let Loaded { path, cfg, model } = loaded;
        let events = events::Events::open(&cfg, &path)?;
        let mut agent = Agent {
            model_id: id_string(model.model.header.model_id),
            claim: (cfg.on_exit == OnExit::Detach).then(|| Claim::new("agent")),
            watch: cfg.model_dir.as_deref().map(ModelDir::new),
            next_poll: Instant::now(),
            ifaces: BTreeMap::new(),
            candidate: None,
            counters: Counters::default(),
            gone: BTreeMap::new(),
            next_source_check: Instant::now() + sources::CHECK_EVERY,
            reattach_error: None,
            events,
            path,
            cfg,
        };
        for iface in agent.cfg.interfaces.clone() {
            if let Err(e) = agent.bring_up(&iface, &model.model) {
                agent.undo_attached();
                return Err(format!("{}: {e}", agent.path.display()));
            }
        }
        agent.resume_trial();
        if let Some(w) = &agent.watch {
            log(format!(
                "watching {} for new models every {} ms (shadow first; {})",
                w.dir.display(),
                agent.cfg.model_dir_poll_ms,
                promotion::words(agent.cfg.rule())
            ));
        }
        Ok(agent)
    }

    /// Detaches what this start attached itself (a start that failed half-way).
    fn undo_attached(&mut self) {
        for (iface, origin) in std::mem::take(&mut self.ifaces) {
            if origin == Origin::Attached {
                match probes::detach(&iface) {
                    Ok(said) => log(said),
                    Err(e) => log(format!("{iface}: {e}")),
                }
            }
        }
    }

    /// The probe on `iface` attached or reused, in the configured mode, running `model`.
    fn bring_up(&mut self, iface: &str, model: &Model) -> Result<(), String> {
        if let Some(claim) = &mut self.claim {
            claim.add(Object::Probe {
                iface: iface.to_string(),
            });
        }
        let (origin, program_id) = probes::ensure_attached(iface, &self.cfg)?;
        self.ifaces.insert(iface.to_string(), origin);
        log(match origin {
            Origin::Attached => format!("{iface}: probe attached (program id {program_id})"),
            Origin::Reused => format!(
                "{iface}: reusing the probe already attached and pinned there (program id {program_id}); not attaching a second one"
            ),
        });
        if probes::set_config(iface, self.cfg.policy(), |c| c.mode = self.cfg.mode.abi())? {
            log(format!(
                "{iface}: mode {}",
                workbench_kernel::models::mode_name(self.cfg.mode.abi())
            ));
        }
        if probes::set_config(iface, self.cfg.policy(), |c| c.clock = self.cfg.clock.abi())? {
            log(format!(
                "{iface}: clock {}",
                workbench_kernel::models::clock_name(self.cfg.clock.abi())
            ));
        }
        // A reused probe of an older build: what it lacks is said once, below, not first as a
        // refused write of the policy it has no room for.
        let vintage = match origin {
            Origin::Reused => workbench_kernel::probe::vintage::Vintage::of(iface).ok(),
            Origin::Attached => None,
        };
        if vintage.is_none_or(|v| v.has_unparsed_policy()) {
            if let Some(line) = probes::set_drop_unparsed(iface, self.cfg.policy(), self.cfg.drop_unparsed) {
                log(line);
            }
        }
        let lacks = vintage.map(|v| v.lacks()).unwrap_or_default();
        if !lacks.is_empty() {
            log(format!(
                "{iface}: the reused probe was attached by an older workbench and lacks {}; to attach this \
                 build's, stop the agent once with on_exit = \"detach\" (or run `workbench probe detach \
                 --iface {iface}` while it is stopped) and start it again",
                lacks.join("; ")
            ));
        }
        // Not fatal: a probe attached by an older workbench has no code slot, and the table
        // interpreter still scores every model exactly.
        match probes::ensure_engine(iface, self.cfg.engine) {
            Ok(true) => log(format!("{iface}: engine {}", self.cfg.engine.name())),
            Ok(false) => {}
            Err(e) => log(format!(
                "{iface}: engine {} unavailable, the table interpreter scores the models: {e}",
                self.cfg.engine.name()
            )),
        }
        let id = id_string(model.header.model_id);
        if origin == Origin::Reused {
            if let Some(promoted) = probes::promoted_over(iface, model)? {
                log(format!(
                    "{iface}: model {promoted} stays active: it was promoted over the configured model {id} (now the previous model; `workbench deploy --rollback --iface {iface}` restores it)"
                ));
                return self.finish_bring_up(iface);
            }
        }
        if probes::ensure_active(iface, model)? {
            log(format!(
                "{iface}: model {id} ({}) deployed as the active model",
                self.cfg.model.display()
            ));
        } else {
            log(format!("{iface}: model {id} is already the active model"));
        }
        self.finish_bring_up(iface)
    }

    /// The shadow candidate (if any) and the event reader on a probe that runs its model.
    fn finish_bring_up(&mut self, iface: &str) -> Result<(), String> {
        if let Some((c, m)) = &self.candidate {
            probes::deploy_shadow(iface, m)?;
            log(format!("{iface}: shadow model {} beside it", c.model));
        }
        self.events.add_reader(iface)?;
        Ok(())
    }

    /// One turn's work besides HTTP: events out, the model directory and the promotion rule.
    pub fn tick(&mut self) {
        self.events.pump();
        self.check_sources();
        if Instant::now() < self.next_poll {
            return;
        }
        self.next_poll = Instant::now() + Duration::from_millis(self.cfg.model_dir_poll_ms);
        let polled = self.watch.as_mut().map(ModelDir::poll).unwrap_or_default();
        self.counters.models_rejected += polled.refused;
        for (path, bytes) in polled.ready {
            self.take_model(&path, &bytes);
        }
        self.judge();
    }

    fn reject(&mut self, path: &Path, reason: &str) {
        self.counters.models_rejected += 1;
        log(format!(
            "model file rejected: {}: {reason}; the running models are unchanged",
            path.display()
        ));
    }

    /// A new or changed model file (`bytes`, as the watcher read it): validated as `deploy`
    /// validates, then the shadow.
    fn take_model(&mut self, path: &Path, bytes: &[u8]) {
        let m = match file::parse(bytes) {
            Ok(m) => m,
            Err(e) => return self.reject(path, &format!("{e:#}")),
        };
        let id = id_string(m.model.header.model_id);
        let first = self.ifaces.keys().next().cloned().unwrap_or_default();
        if probes::active_model(&first).ok().flatten().as_deref() == Some(id.as_str()) {
            log(format!(
                "{}: model {id} is the active model already; nothing to do",
                path.display()
            ));
            return;
        }
        if self.candidate.as_ref().is_some_and(|(c, _)| c.model == id) {
            return;
        }
        let baseline = self.counters_now();
        let mut done: Vec<String> = Vec::new();
        let ifaces: Vec<String> = self.ifaces.keys().cloned().collect();
        for iface in &ifaces {
            if let Err(e) = probes::deploy_shadow(iface, &m.model) {
                // Put back what the others had: the previous candidate, or no shadow.
                for d in &done {
                    let _ = match &self.candidate {
                        Some((_, prev)) => probes::deploy_shadow(d, prev),
                        None => probes::clear_shadow(d),
                    };
                }
                return self.reject(path, &format!("{iface}: {e}"));
            }
            done.push(iface.clone());
        }
        self.counters.shadows_deployed += 1;
        if let Some((old, _)) = &self.candidate {
            log(format!("shadow model {} replaced by {id}", old.model));
        }
        log(format!(
            "{}: model {id} deployed as the shadow on {}; {}",
            path.display(),
            done.join(", "),
            promotion::words(self.cfg.rule())
        ));
        self.candidate = Some((
            Candidate {
                file: path.to_path_buf(),
                model: id,
                baseline,
                counts: Counts::default(),
                state: State::Evaluating,
            },
            m.model,
        ));
    }

    /// The promotion rule's counters per interface now.
    pub(super) fn counters_now(&self) -> BTreeMap<String, Counts> {
        self.ifaces
            .keys()
            .filter_map(|i| probes::decision_counters(i).ok().map(|c| (i.clone(), c)))
            .collect()
    }

    /// The promotion rule on the shadow candidate's counters.
    fn judge(&mut self) {
        let now = self.counters_now();
        let Some((c, _)) = &mut self.candidate else {
            return;
        };
        c.update(&now);
        match promotion::judge(c.counts, self.cfg.rule()) {
            Judgement::Wait => {}
            Judgement::Hold(why) => {
                if c.state == State::Evaluating {
                    log(format!(
                        "shadow model {} ({}) stays shadow: {why}",
                        c.model,
                        c.file.display()
                    ));
                }
                c.state = State::Held(why);
            }
            Judgement::Promote => {
                let Some((c, _)) = self.candidate.take() else {
                    return;
                };
                let mut failed = Vec::new();
                for iface in self.ifaces.keys() {
                    if let Err(e) = probes::promote(iface) {
                        failed.push(format!("{iface}: {e}"));
                    }
                }
                if failed.is_empty() {
                    self.counters.promotions += 1;
                    log(format!(
                        "shadow model {} ({}) promoted to active: it disagreed in {} of {} decisions and called benign {} of the {} the active model called malicious",
                        c.model,
                        c.file.display(),
                        c.counts.disagreements,
                        c.counts.evaluations,
                        c.counts.missed,
                        c.counts.beside_malicious
                    ));
                } else {
                    log(format!(
                        "promoting shadow model {} failed: {}",
                        c.model,
                        failed.join("; ")
                    ));
                }
            }
        }
    }

    /// SIGHUP: the file read again; a bad one is refused whole and the agent keeps running on
    /// the configuration it has.
    pub fn reload(&mut self) {
        // The logrotate way (`postrotate kill -HUP`): the events file opened again at its path,
        // whatever the reload makes of the file.
        if let Some(said) = self.events.reopen_file() {
            log(said);
        }
        let before = self.cfg.clone();
        let outcome = config::load(&self.path).and_then(|new| {
            self.apply(new).inspect_err(|_| {
                // What was applied before the failure stays (and the log says what failed);
                // the rest of the old configuration remains the one the agent goes by.
                self.cfg = before;
            })
        });
        match outcome {
            Ok(changes) => {
                self.counters.reloads_ok += 1;
                log(format!(
                    "configuration reloaded from {}: {}",
                    self.path.display(),
                    if changes.is_empty() {
                        "nothing changed".to_string()
                    } else {
                        changes.join("; ")
                    }
                ));
            }
            Err(e) => {
                self.counters.reloads_failed += 1;
                log(format!(
                    "configuration reload refused, still running the previous one: {e}"
                ));
            }
        }
    }

    fn apply(&mut self, new: Loaded) -> Result<Vec<String>, String> {
        let Loaded { cfg, model, .. } = new;
        let old = std::mem::replace(&mut self.cfg, cfg.clone());
        let mut changes = Vec::new();
        if cfg.metrics_listen != old.metrics_listen {
            changes.push(format!(
                "metrics_listen {} takes effect at the next start (still serving {})",
                cfg.metrics_listen, old.metrics_listen
            ));
        }
        if cfg.on_exit != old.on_exit {
            self.claim = (cfg.on_exit == OnExit::Detach).then(|| {
                let mut c = Claim::new("agent");
                for iface in self.ifaces.keys() {
                    c.add(Object::Probe { iface: iface.clone() });
                }
                c
            });
            changes.push(format!("on_exit {:?}", cfg.on_exit).to_lowercase());
        }
        if cfg.rule() != old.rule() {
            changes.push(format!(
                "promotion: after {} decisions with at most {} disagreeing and at most {} of the malicious ones missed",
                cfg.promote_after_decisions, cfg.promote_max_disagreement, cfg.promote_max_missed
            ));
        }
        // The new events output is opened before any interface changes: an output it cannot
        // open refuses the reload with every interface still as it was (a refused reload that
        // had already detached a dropped interface left the agent not ready).
        let reopened = if self.events.changed(&cfg) {
            Some(events::Events::open(&cfg, &self.path)?)
        } else {
            None
        };
        let removed: Vec<String> = self
            .ifaces
            .keys()
            .filter(|i| !cfg.interfaces.contains(i))
            .cloned()
            .collect();
        for iface in removed {
            self.ifaces.remove(&iface);
            self.gone.remove(&iface);
            self.events.remove_reader(&iface);
            changes.push(probes::detach(&iface)?);
        }
        if let Some(opened) = reopened {
            self.events = opened;
            for iface in self.ifaces.keys() {
                self.events.add_reader(iface)?;
            }
            changes.push("events output reopened".into());
        }
        let id = id_string(model.model.header.model_id);
        for iface in cfg.interfaces.clone() {
            if !self.ifaces.contains_key(&iface) {
                self.bring_up(&iface, &model.model)?;
                changes.push(format!("{iface} added"));
                continue;
            }
            if probes::set_config(&iface, cfg.policy(), |c| c.mode = cfg.mode.abi())? {
                changes.push(format!(
                    "{iface}: mode {}",
                    workbench_kernel::models::mode_name(cfg.mode.abi())
                ));
            }
            if probes::set_config(&iface, cfg.policy(), |c| c.clock = cfg.clock.abi())? {
                changes.push(format!(
                    "{iface}: clock {}",
                    workbench_kernel::models::clock_name(cfg.clock.abi())
                ));
            }
            // Asked again only when the key changed: a probe without room for the policy says
            // so once, at start, not at every reload.
            if cfg.drop_unparsed != old.drop_unparsed {
                if let Some(line) = probes::set_drop_unparsed(&iface, cfg.policy(), cfg.drop_unparsed) {
                    changes.push(line);
                }
            }
            match probes::ensure_engine(&iface, cfg.engine) {
                Ok(true) => changes.push(format!("{iface}: engine {}", cfg.engine.name())),
                Ok(false) => {}
                Err(e) => changes.push(format!("{iface}: engine {} unavailable ({e})", cfg.engine.name())),
            }
            // Only a changed `model` is deployed: a model the rule promoted stays active
            // through reloads that do not name another one.
            if id != self.model_id && probes::ensure_active(&iface, &model.model)? {
                changes.push(format!("{iface}: model {id} active"));
            }
        }
        self.model_id = id;
        if cfg.model_dir != old.model_dir {
            self.watch = cfg.model_dir.as_deref().map(ModelDir::new);
            changes.push("model_dir watch restarted".into());
        }
        Ok(changes)
    }

    /// SIGTERM/SIGINT: detach (the same cleanup as `probe detach`) or, with `on_exit = "keep"`,
    /// leave the pinned probe running for the next start.
    pub fn shutdown(mut self, signal: &str) -> Result<(), String> {
        self.events.pump();
        self.events.flush();
        let mut failed = Vec::new();
        match self.cfg.on_exit {
            OnExit::Keep => {
                for iface in self.ifaces.keys() {
                    log(format!(
                        "{signal}: leaving the probe on {iface} attached and pinned (on_exit = \"keep\"); the next start reuses it"
                    ));
                }
            }
            OnExit::Detach => {
                for iface in self.ifaces.keys() {
                    // Already removed (`probe detach`, `probe cleanup`): nothing left to do, and
                    // a plain stop is no failure (systemd would mark the unit failed).
                    if !workbench_kernel::bpffs::iface_dir(iface).exists() {
                        log(format!(
                            "{signal}: {iface}: nothing to detach (the probe was already removed)"
                        ));
                        continue;
                    }
                    match probes::detach(iface) {
                        Ok(said) => log(format!("{signal}: {said}")),
                        Err(e) => {
                            log(format!("{signal}: {iface}: {e}"));
                            failed.push(format!("{iface}: {e}"));
                        }
                    }
                }
            }
        }
        // The claim goes with the objects it described (dropped here).
        self.claim.take();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(format!("detaching at exit failed: {}", failed.join("; ")))
        }
    }
}

impl Agent {
    pub fn interfaces(&self) -> impl Iterator<Item = &String> {
        self.ifaces.keys()
    }

    /// What the HTTP thread answers from (state.rs), published once per turn of the loop.
    pub fn snapshot(&self) -> state::Snapshot {
        state::Snapshot {
            interfaces: self.ifaces.keys().cloned().collect(),
            configured: self.cfg.interfaces.clone(),
            counters: self.counters.clone(),
            events: self.events.counters(),
            model: self.model_id.clone(),
            mode: workbench_kernel::models::mode_name(self.cfg.mode.abi()),
            promote_after_decisions: self.cfg.promote_after_decisions,
            promote_max_disagreement: self.cfg.promote_max_disagreement,
            promote_max_missed: self.cfg.promote_max_missed,
            candidate: self.candidate.as_ref().map(|(c, _)| c.clone()),
            gone: self
                .gone
                .iter()
                .map(|(i, g)| (i.clone(), sources::words(i, g)))
                .collect(),
        }
    }
}
