//! The agent's verdict events: read from each interface's probe, written as the same EVE-style
//! lines as `live --jsonl` (workbench_kernel::eve) to the events file (rotated by size) and/or
//! a Unix stream socket (workbench_kernel::eve_sink). A socket whose reader went away is
//! reconnected every few seconds; the lines in between are counted as failed, not buffered.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use workbench_kernel::eve_sink::{EventSink, SinkSpec};
use workbench_kernel::events::EventReader;

use super::config::AgentConfig;
use super::log;

const RECONNECT: Duration = Duration::from_secs(5);

pub struct Events {
    file: Option<(SinkSpec, EventSink)>,
    socket: Option<(PathBuf, Option<EventSink>, Instant)>,
    readers: BTreeMap<String, EventReader>,
    /// The settings they were opened with (to tell whether a reload changes them).
    spec: (Option<PathBuf>, u64, u32, Option<PathBuf>),
    written: u64,
    failed: u64,
}

fn spec_of(cfg: &AgentConfig) -> (Option<PathBuf>, u64, u32, Option<PathBuf>) {
    (
        cfg.events_file.clone(),
        cfg.events_rotate_bytes,
        cfg.events_rotate_keep,
        cfg.events_socket.clone(),
    )
}

impl Events {
    /// Opens the outputs; the events file must open (a start or reload fails otherwise), the
    /// socket may come later.
    pub fn open(cfg: &AgentConfig, config_path: &Path) -> Result<Events, String> {
        let file = match &cfg.events_file {
            Some(path) => {
                let spec = SinkSpec::File {
                    path: path.clone(),
                    max_bytes: cfg.events_rotate_bytes,
                    keep: cfg.events_rotate_keep,
                };
                let sink = EventSink::open(&spec)
                    .map_err(|e| format!("{}: key `agent.events_file`: {e:#}", config_path.display()))?;
                Some((spec, sink))
            }
            None => None,
        };
        let socket = cfg.events_socket.as_ref().map(|path| {
            let sink = EventSink::open(&SinkSpec::Unix(path.clone()))
                .map_err(|e| {
                    log(format!(
                        "events socket: {e:#}; retrying every {} s",
                        RECONNECT.as_secs()
                    ));
                })
                .ok();
            (path.clone(), sink, Instant::now() + RECONNECT)
        });
        Ok(Events {
            file,
            socket,
            readers: BTreeMap::new(),
            spec: spec_of(cfg),
            written: 0,
            failed: 0,
        })
    }

    pub fn changed(&self, cfg: &AgentConfig) -> bool {
        self.spec != spec_of(cfg)
    }

    fn wanted(&self) -> bool {
        self.file.is_some() || self.socket.is_some()
    }

    /// Starts reading `iface`'s events (nothing when no output is configured).
    pub fn add_reader(&mut self, iface: &str) -> Result<(), String> {
        if self.wanted() && !self.readers.contains_key(iface) {
            let reader = EventReader::open(iface).map_err(|e| format!("{iface}: {e:#}"))?;
            self.readers.insert(iface.to_string(), reader);
        }
        Ok(())
    }

    pub fn remove_reader(&mut self, iface: &str) {
        self.readers.remove(iface);
    }

    /// Moves every waiting event to the outputs.
    pub fn pump(&mut self) {
        let mut lines = Vec::new();
        for (iface, reader) in &mut self.readers {
            match reader.drain() {
                Ok(evs) => lines.extend(evs.iter().map(workbench_kernel::eve::EveVerdict::to_line)),
                Err(e) => log(format!("{iface}: reading verdict events: {e:#}")),
            }
        }
        if let Some((path, sink, retry)) = &mut self.socket {
            if sink.is_none() && Instant::now() >= *retry {
                *retry = Instant::now() + RECONNECT;
                if let Ok(s) = EventSink::open(&SinkSpec::Unix(path.clone())) {
                    log(format!("events socket {} connected", path.display()));
                    *sink = Some(s);
                }
            }
        }
        for line in &lines {
            if let Some((_, sink)) = &mut self.file {
                match sink.write_line(line) {
                    Ok(()) => self.written += 1,
                    Err(e) => {
                        self.failed += 1;
                        if self.failed.is_power_of_two() {
                            log(format!("{e:#} ({} lines lost so far)", self.failed));
                        }
                    }
                }
            }
            if let Some((path, sink, retry)) = &mut self.socket {
                match sink.as_mut().map(|s| s.write_line(line)) {
                    Some(Ok(())) => self.written += 1,
                    Some(Err(e)) => {
                        log(format!(
                            "{e:#}; reconnecting to {} every {} s",
                            path.display(),
                            RECONNECT.as_secs()
                        ));
                        *sink = None;
                        *retry = Instant::now() + RECONNECT;
                        self.failed += 1;
                    }
                    None => self.failed += 1,
                }
            }
        }
        if !lines.is_empty() {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        if let Some((_, sink)) = &mut self.file {
            let _ = sink.flush();
        }
        if let Some((_, Some(sink), _)) = &mut self.socket {
            let _ = sink.flush();
        }
    }

    /// (lines written, lines that could not be written), over all outputs.
    pub fn counters(&self) -> (u64, u64) {
        (self.written, self.failed)
    }
}
