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
    /// A write failed: the file is opened again before the next line (a full disk freed, a
    /// folder put back).
    broken: bool,
}

/// The most rotated files kept (`events_rotate_keep`, `--rotate-keep`): each rotation looks at
/// every one of them, so a value in the billions would stall the event loop for minutes.
pub const MAX_ROTATE_KEEP: u32 = 1000;

/// The mode a new events file gets (before the umask): the verdicts name hosts and flows, so
/// not world-readable; the group may read them (a log shipper's group).
pub const EVENTS_FILE_MODE: u32 = 0o640;

fn open_append(path: &Path) -> io::Result<(File, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(EVENTS_FILE_MODE)
        .open(path)?;
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
        if keep > MAX_ROTATE_KEEP {
            return Err(Error::Invalid(format!(
                "{}: {keep} rotated files to keep is more than the {MAX_ROTATE_KEEP} allowed",
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
            broken: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the agent's start does with `path`, without creating, truncating or writing
    /// anything (`agent --check`): the file opened for appending if it is there, else a file
    /// that vanishes at close made in its folder; the error is [`Self::open`]'s, word for word.
    pub fn check_writable(path: &Path) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let opened = if path.exists() {
            OpenOptions::new().append(true).open(path).map(drop)
        } else {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            // O_TMPFILE: an unnamed file in the folder, gone when closed. A filesystem without
            // it (EOPNOTSUPP, or EISDIR on old kernels): a named one, removed at once.
            match OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_TMPFILE)
                .mode(0o600)
                .open(dir)
            {
                Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR)) => {
                    let probe = dir.join(format!(".workbench-agent-check-{}", std::process::id()));
                    OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&probe)
                        .map(|_| drop(std::fs::remove_file(&probe)))
                }
                other => other.map(drop),
            }
        };
        opened.map_err(|source| Error::Io {
            what: format!("{}: cannot open the events file", path.display()),
            source,
        })
    }

    /// The file at `path` is no longer the one written (deleted, its folder deleted, renamed
    /// away by logrotate): lines written now would go to a file nobody reads.
    fn moved_away(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (self.file.metadata(), std::fs::metadata(&self.path)) {
            (Ok(open), Ok(named)) => open.ino() != named.ino() || open.dev() != named.dev(),
            _ => true,
        }
    }

    /// Opens the file at its path again (its folder made again if it was removed): what SIGHUP
    /// does after logrotate moved it, and what a write error leads to on the next line.
    pub fn reopen(&mut self) -> io::Result<()> {
        let _ = self.file.flush();
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let (file, size) = open_append(&self.path)?;
        self.file = file;
        self.size_bytes = size;
        self.broken = false;
        Ok(())
    }

    /// Reopens the file when a write failed or the path names another file (or none) now;
    /// true when it did. Called once per batch of lines, before writing them.
    pub fn reopen_if_needed(&mut self) -> io::Result<bool> {
        if !self.broken && !self.moved_away() {
            return Ok(false);
        }
        self.broken = true;
        self.reopen()?;
        Ok(true)
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
        self.write_line_once(line).inspect_err(|_| self.broken = true)
    }

    fn write_line_once(&mut self, line: &str) -> io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("wb-sink-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    /// The folder deleted under a running writer: the next batch goes to a file made again at
    /// the same path, not to the deleted one.
    #[test]
    fn a_deleted_folder_is_made_again_and_written_to() {
        let d = dir("gone");
        let path = d.join("ev").join("eve.json");
        std::fs::create_dir_all(path.parent().expect("parent")).expect("ev");
        let mut f = RotatingFile::open(&path, 1 << 20, 2).expect("open");
        f.write_line("one").expect("write");
        assert!(!f.reopen_if_needed().expect("check"), "nothing moved");
        std::fs::remove_dir_all(path.parent().expect("parent")).expect("rm");
        assert!(f.reopen_if_needed().expect("reopen"), "noticed");
        f.write_line("two").expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "two\n");
        // Renamed away (logrotate without copytruncate): a new file at the path.
        std::fs::rename(&path, d.join("old")).expect("mv");
        assert!(f.reopen_if_needed().expect("reopen"));
        f.write_line("three").expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "three\n");
        let _ = std::fs::remove_dir_all(&d);
    }

    /// The events file is not world-readable (the umask alone made it 0644), also after a
    /// rotation; an absurd number of kept files is refused.
    #[test]
    fn the_events_file_is_made_0640_and_keep_is_bounded() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir("mode");
        let path = d.join("eve.json");
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        // SAFETY: umask has no preconditions; 022 is the usual default the finding is about.
        let old = unsafe { libc::umask(0o022) };
        let mut f = RotatingFile::open(&path, 6, 2).expect("open");
        f.write_line("one").expect("write");
        f.write_line("two").expect("write (rotates)");
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        assert_eq!(mode(&path), 0o640, "the new file");
        assert_eq!(mode(&rotated_name(&path, 1)), 0o640, "the rotated one");
        assert!(RotatingFile::open(&path, 8, MAX_ROTATE_KEEP).is_ok());
        let e = RotatingFile::open(&path, 8, MAX_ROTATE_KEEP + 1)
            .err()
            .expect("refused");
        assert!(format!("{e:#}").contains("1001"), "{e:#}");
        let _ = std::fs::remove_dir_all(&d);
    }

    /// `agent --check`'s probe: the start's words for a missing folder; an existing file is
    /// neither truncated nor written, and a missing one is not created.
    #[test]
    fn check_writable_touches_nothing_and_says_what_open_says() {
        let d = dir("check");
        let missing = d.join("missing").join("eve.json");
        let checked = format!(
            "{:#}",
            RotatingFile::check_writable(&missing).expect_err("no folder")
        );
        let opened = RotatingFile::open(&missing, 100, 1)
            .err()
            .map(|e| format!("{e:#}"));
        assert_eq!(Some(checked.clone()), opened);
        assert!(checked.contains("cannot open the events file"), "{checked}");
        let fresh = d.join("eve.json");
        RotatingFile::check_writable(&fresh).expect("writable folder");
        assert!(!fresh.exists(), "nothing created");
        std::fs::write(&fresh, "kept\n").expect("write");
        RotatingFile::check_writable(&fresh).expect("writable file");
        assert_eq!(std::fs::read_to_string(&fresh).expect("read"), "kept\n");
        let _ = std::fs::remove_dir_all(&d);
    }
}
