//! Where EVE-style lines go: standard output, a file rotated by size, or a Unix stream socket
//! (the three outputs Suricata's EVE offers, `regular`, `regular` with rotation, `unix_stream`).
//!
//! The rotation is our own, about forty lines, rather than a crate's: what it must do is small
//! and exact (rename `F` to `F.1`, `F.1` to `F.2` ... keep N, drop the oldest, never split a
//! line), the crates that do it (file-rotate, rolling-file, tracing-appender) bring time-based
//! schemes, compression or a logging framework that this does not use, and the test in
//! tests/cli/eve_events.rs checks sizes and names byte for byte.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A file that is renamed away when the next line would take it past `max_bytes`.
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    /// Rotated files kept beside the live one (`F.1` the newest .. `F.keep` the oldest).
    keep: u32,
    file: File,
    size_bytes: u64,
}

fn open_append(path: &Path) -> io::Result<(File, u64)> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let size = file.metadata()?.len();
    Ok((file, size))
}

/// `F.n` for the file `F`.
pub fn rotated_name(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

impl RotatingFile {
    /// Opens `path` for appending (a file already there is continued, as after a restart).
    pub fn open(path: &Path, max_bytes: u64, keep: u32) -> Result<Self> {
        if max_bytes == 0 {
            return Err(Error::Invalid(format!(
                "{}: the rotation size must be at least 1 byte",
                path.display()
            )));
        }
        let (file, size_bytes) = open_append(path).map_err(|source| Error::Io {
            what: format!("{}: cannot open the events file", path.display()),
            source,
        })?;
        Ok(RotatingFile {
            path: path.to_path_buf(),
            max_bytes,
            keep,
            file,
            size_bytes,
        })
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if self.keep == 0 {
            // Nothing kept: start the file again.
            self.file.set_len(0)?;
            self.size_bytes = 0;
            return Ok(());
        }
        for n in (1..self.keep).rev() {
            let from = rotated_name(&self.path, n);
            if from.exists() {
                std::fs::rename(&from, rotated_name(&self.path, n + 1))?;
            }
        }
        std::fs::rename(&self.path, rotated_name(&self.path, 1))?;
        let (file, size) = open_append(&self.path)?;
        self.file = file;
        self.size_bytes = size;
        Ok(())
    }

    /// Appends `line` and a newline; rotates first when they would not fit in the current file
    /// (a line longer than the limit gets a file of its own rather than being split).
    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        let len = line.len() as u64 + 1;
        if self.size_bytes > 0 && self.size_bytes + len > self.max_bytes {
            self.rotate()?;
        }
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        // One write of the whole line: a reader tailing the file never sees half of one.
        self.file.write_all(&buf)?;
        self.size_bytes += len;
        Ok(())
    }
}

/// The destination of the event lines.
pub enum EventSink {
    Stdout(io::Stdout),
    File(RotatingFile),
    /// Connected to a listening stream socket (Vector's `socket` source, a collector), as
    /// Suricata's `unix_stream` output is.
    Unix {
        path: PathBuf,
        stream: UnixStream,
    },
}

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkSpec {
    Stdout,
    File {
        path: PathBuf,
        max_bytes: u64,
        keep: u32,
    },
    Unix(PathBuf),
}

impl EventSink {
    pub fn open(spec: &SinkSpec) -> Result<Self> {
        Ok(match spec {
            SinkSpec::Stdout => EventSink::Stdout(io::stdout()),
            SinkSpec::File {
                path,
                max_bytes,
                keep,
            } => EventSink::File(RotatingFile::open(path, *max_bytes, *keep)?),
            SinkSpec::Unix(path) => EventSink::Unix {
                stream: UnixStream::connect(path).map_err(|source| Error::Io {
                    what: format!(
                        "{}: cannot connect to the events socket (expected a listening Unix stream socket)",
                        path.display()
                    ),
                    source,
                })?,
                path: path.clone(),
            },
        })
    }

    /// Writes one line (a newline is added).
    pub fn write_line(&mut self, line: &str) -> Result<()> {
        match self {
            EventSink::Stdout(out) => {
                let mut out = out.lock();
                out.write_all(line.as_bytes())
                    .and_then(|()| out.write_all(b"\n"))
                    .map_err(|source| Error::Io {
                        what: "writing an event to stdout".into(),
                        source,
                    })?;
            }
            EventSink::File(f) => f.write_line(line).map_err(|source| Error::Io {
                what: format!("{}: cannot write an event", f.path.display()),
                source,
            })?,
            EventSink::Unix { path, stream } => {
                let mut buf = Vec::with_capacity(line.len() + 1);
                buf.extend_from_slice(line.as_bytes());
                buf.push(b'\n');
                stream.write_all(&buf).map_err(|source| Error::Io {
                    what: format!("{}: the events socket refused a line", path.display()),
                    source,
                })?;
            }
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<()> {
        match self {
            EventSink::Stdout(out) => out.flush(),
            EventSink::File(f) => f.file.flush(),
            EventSink::Unix { stream, .. } => stream.flush(),
        }
        .map_err(|source| Error::Io {
            what: "flushing the events".into(),
            source,
        })
    }
}
