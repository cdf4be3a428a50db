//! The agent's verdict events: read from each interface's probe, written as the same EVE-style
//! lines as `live --jsonl` (workbench_kernel::eve) to the events file (rotated by size) and/or
//! a Unix stream socket (workbench_kernel::eve_socket). The socket is never waited for: lines
//! queue (up to eve_socket::QUEUE_BYTES) for a slow reader and are dropped whole, and counted as
//! failed, beyond that; a socket whose reader went away is reconnected every few seconds, the
//! lines in between counted as failed. The events file is opened again when its path names
//! another file (logrotate moved it, its folder was deleted), after a write error, and on
//! SIGHUP; a line is counted as written only once the output took it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use workbench_kernel::eve_sink::{EventSink, SinkSpec};
use workbench_kernel::eve_socket::{SocketSink, QUEUE_BYTES};
use workbench_kernel::events::{EventReader, SourceGone};

use super::config::AgentConfig;
use super::log;

const RECONNECT: Duration = Duration::from_secs(5);

pub struct Events {
    file: Option<(SinkSpec, EventSink)>,
    socket: Option<(PathBuf, Option<SocketSink>, Instant)>,
    readers: BTreeMap<String, EventReader>,
    /// The settings they were opened with (to tell whether a reload changes them).
    spec: (Option<PathBuf>, u64, u32, Option<PathBuf>),
    written: PerOutput,
    failed: PerOutput,
    /// Of `failed.socket`, lines the socket's full queue dropped (for the log's count).
    dropped: u64,
}

/// Lines per output (the metrics' `output` label): with both configured, a stalled socket
/// reader and a full disk are told apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerOutput {
    pub file: u64,
    pub socket: u64,
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
            let sink = SocketSink::connect(path, QUEUE_BYTES)
                .map_err(|e| {
                    log(format!(
                        "events socket {}: cannot connect: {e}; retrying every {} s",
                        path.display(),
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
            written: PerOutput::default(),
            failed: PerOutput::default(),
            dropped: 0,
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

    /// Whether `iface`'s probe still feeds the agent: its reader's check, or without a reader
    /// (no output configured) the same checks on the pins.
    pub fn source_gone(&self, iface: &str) -> Option<SourceGone> {
        if let Some(r) = self.readers.get(iface) {
            return r.check_source();
        }
        if !workbench_kernel::probe::is_attached(iface) {
            Some(SourceGone::Detached)
        } else if workbench_kernel::events::interface_gone(iface) {
            Some(SourceGone::InterfaceGone)
        } else {
            None
        }
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
        if !lines.is_empty() {
            self.write_file(&lines);
        }
        self.write_socket(&lines);
    }

    fn file_failed(&mut self, lines: u64, e: impl std::fmt::Display) {
        let before = self.failed.file;
        self.failed.file += lines;
        // One line per doubling of the losses, not one per lost event.
        if (before + 1).next_power_of_two() <= self.failed.file {
            log(format!(
                "{e} ({} lines lost so far); opening the file again on the next turn",
                self.failed.file
            ));
        }
    }

    fn write_file(&mut self, lines: &[String]) {
        let Some((_, EventSink::File(f))) = &mut self.file else {
            return;
        };
        let path = f.path().display().to_string();
        match f.reopen_if_needed() {
            Ok(true) => log(format!("{path}: events file opened again")),
            Ok(false) => {}
            Err(e) => {
                return self.file_failed(
                    lines.len() as u64,
                    format!("{path}: cannot open the events file again: {e}"),
                )
            }
        }
        for (i, line) in lines.iter().enumerate() {
            if let Err(e) = f.write_line(line) {
                // The rest of the batch is not tried: the file opens again next turn.
                let lost = (lines.len() - i) as u64;
                return self.file_failed(lost, format!("{path}: cannot write an event: {e}"));
            }
            self.written.file += 1;
        }
    }

    fn write_socket(&mut self, lines: &[String]) {
        let Some((path, sink, retry)) = &mut self.socket else {
            return;
        };
        if sink.is_none() && Instant::now() >= *retry {
            *retry = Instant::now() + RECONNECT;
            if let Ok(s) = SocketSink::connect(path, QUEUE_BYTES) {
                log(format!("events socket {} connected", path.display()));
                *sink = Some(s);
            }
        }
        let Some(s) = sink else {
            self.failed.socket += lines.len() as u64;
            return;
        };
        let mut dropped = 0u64;
        for line in lines {
            if !s.push(line) {
                dropped += 1;
            }
        }
        if dropped > 0 {
            let before = self.dropped;
            self.dropped += dropped;
            self.failed.socket += dropped;
            if (before + 1).next_power_of_two() <= self.dropped {
                log(format!(
                    "events socket {}: the reader is not keeping up ({} MiB queued): {} lines dropped so far",
                    path.display(),
                    QUEUE_BYTES >> 20,
                    self.dropped
                ));
            }
        }
        match s.flush() {
            Ok(sent) => self.written.socket += sent.lines,
            Err(e) => {
                log(format!(
                    "events socket {}: {e}; {} queued lines lost; reconnecting every {} s",
                    path.display(),
                    s.queued_lines(),
                    RECONNECT.as_secs()
                ));
                self.failed.socket += s.queued_lines() as u64;
                *sink = None;
                *retry = Instant::now() + RECONNECT;
            }
        }
    }

    /// SIGHUP: the events file opened again at its path (after logrotate moved it away).
    pub fn reopen_file(&mut self) -> Option<String> {
        let Some((_, EventSink::File(f))) = &mut self.file else {
            return None;
        };
        Some(match f.reopen() {
            Ok(()) => format!("{}: events file opened again", f.path().display()),
            Err(e) => format!(
                "{}: cannot open the events file again: {e} (tried again before the next line)",
                f.path().display()
            ),
        })
    }

    /// At exit: one last try to hand the socket what is queued; what it does not take now is
    /// counted as failed (the exit does not wait for a stalled reader).
    pub fn flush(&mut self) {
        // The file is written unbuffered: each line is in it already.
        if let Some((_, sink, _)) = &mut self.socket {
            if let Some(s) = sink.as_mut() {
                if let Ok(sent) = s.flush() {
                    self.written.socket += sent.lines;
                }
                self.failed.socket += s.queued_lines() as u64;
            }
            *sink = None;
        }
    }

    /// (lines written, lines that could not be written) per output, and which outputs are
    /// configured (file, socket): only those get series.
    pub fn counters(&self) -> (PerOutput, PerOutput, (bool, bool)) {
        (
            self.written,
            self.failed,
            (self.file.is_some(), self.socket.is_some()),
        )
    }
}
