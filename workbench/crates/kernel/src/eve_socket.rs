//! The agent's events socket: a Unix stream socket written without ever blocking. A reader
//! that stops reading (a stalled collector) filled the socket's buffer and a blocking write
//! froze the agent's one loop: no events, no `/metrics`, no SIGTERM. Lines wait in a bounded
//! queue that each turn of the loop moves to the socket as far as it takes them; a line that
//! does not fit in the queue is dropped whole and counted, so the stream keeps its framing
//! (never half a line) and the loop never waits.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// Bytes of lines waiting for a slow reader before new lines are dropped: a few seconds of a
/// busy probe's verdict events (a line is 400 to 600 bytes).
pub const QUEUE_BYTES: usize = 4 << 20;

/// What one [`SocketSink::flush`] moved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Lines whose last byte went to the socket.
    pub lines: u64,
}

/// A connected events socket with its queue of lines not yet sent.
pub struct SocketSink {
    path: PathBuf,
    stream: UnixStream,
    /// Whole lines (newline included) not yet fully sent; the front one may be part sent.
    queue: VecDeque<Vec<u8>>,
    /// Bytes of the front line already sent.
    front_sent: usize,
    queued_bytes: usize,
    limit: usize,
}

/// `connect(2)` without waiting: a listener whose accept queue is full (its process stalled)
/// makes a blocking connect wait as long as the reader does.
fn connect_nonblocking(path: &Path) -> io::Result<UnixStream> {
    // SAFETY: plain socket(2); the fd is owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: zeroed sockaddr_un is valid; sun_path filled below within its bounds.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= addr.sun_path.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the socket path is longer than a Unix socket address holds",
        ));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    let len = (std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1) as libc::socklen_t;
    // SAFETY: addr is a valid sockaddr_un of `len` bytes.
    let rc = unsafe {
        libc::connect(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            std::ptr::addr_of!(addr).cast(),
            len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(UnixStream::from(fd))
}

impl SocketSink {
    /// Connects to the listening socket at `path` (never waits); lines queue up to `limit` bytes.
    pub fn connect(path: &Path, limit: usize) -> io::Result<SocketSink> {
        Ok(SocketSink {
            path: path.to_path_buf(),
            stream: connect_nonblocking(path)?,
            queue: VecDeque::new(),
            front_sent: 0,
            queued_bytes: 0,
            limit,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues `line` and a newline; false when the queue is full and the line was dropped.
    pub fn push(&mut self, line: &str) -> bool {
        let len = line.len() + 1;
        if self.queued_bytes + len > self.limit {
            return false;
        }
        let mut buf = Vec::with_capacity(len);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        self.queue.push_back(buf);
        self.queued_bytes += len;
        true
    }

    /// Lines waiting (the part-sent one included).
    pub fn queued_lines(&self) -> usize {
        self.queue.len()
    }

    /// Sends what the socket takes now, without waiting. An error means the reader is gone
    /// (the socket is dead; the lines still queued are lost: [`Self::queued_lines`]).
    pub fn flush(&mut self) -> io::Result<Sent> {
        let mut sent = Sent::default();
        while !self.queue.is_empty() {
            let slices: Vec<IoSlice<'_>> = self
                .queue
                .iter()
                .take(64)
                .enumerate()
                .map(|(i, l)| IoSlice::new(if i == 0 { &l[self.front_sent..] } else { l }))
                .collect();
            let mut n = match self.stream.write_vectored(&slices) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            while n > 0 {
                let Some(front) = self.queue.front() else {
                    break;
                };
                let left = front.len() - self.front_sent;
                if n < left {
                    self.front_sent += n;
                    break;
                }
                n -= left;
                self.queued_bytes -= front.len();
                self.queue.pop_front();
                self.front_sent = 0;
                sent.lines += 1;
            }
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::os::unix::net::UnixListener;

    fn listener(name: &str) -> (PathBuf, UnixListener) {
        let path = std::env::temp_dir().join(format!("wb-sock-{name}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(&path).expect("bind");
        (path, l)
    }

    /// A reader that never reads: pushes never block, the queue stops at its limit and drops
    /// whole lines; once the reader reads, every line it gets is whole and in order.
    #[test]
    fn a_stalled_reader_never_blocks_and_the_framing_stays_intact() {
        let (path, l) = listener("stall");
        let mut sink = SocketSink::connect(&path, 64 << 10).expect("connect");
        let (peer, _) = l.accept().expect("accept");
        let line = "x".repeat(500);
        let started = std::time::Instant::now();
        let (mut queued, mut dropped, mut sent) = (0u64, 0u64, 0u64);
        for i in 0..5000 {
            if sink.push(&format!("{i:05} {line}")) {
                queued += 1;
            } else {
                dropped += 1;
            }
            sent += sink.flush().expect("flush").lines;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "never waits"
        );
        assert!(dropped > 0, "the queue filled and dropped lines");
        assert!(sink.queued_bytes <= 64 << 10);
        // The reader wakes up: everything sent, then what was queued, arrives whole.
        let reader = std::thread::spawn(move || {
            BufReader::new(peer)
                .lines()
                .map(|l| l.expect("line"))
                .collect::<Vec<_>>()
        });
        while sink.queued_lines() > 0 {
            sent += sink.flush().expect("flush").lines;
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        drop(sink);
        let got = reader.join().expect("reader");
        assert_eq!(got.len() as u64, queued);
        assert_eq!(sent, queued);
        let mut last = -1i64;
        for l in &got {
            assert_eq!(l.len(), 506, "a whole line: {l:?}");
            let n: i64 = l[..5].parse().expect("number");
            assert!(n > last, "in order");
            last = n;
        }
        let _ = std::fs::remove_file(&path);
    }

    /// A listener that never accepts, its backlog full: connect fails at once, not later.
    #[test]
    fn connect_never_waits_for_a_listener_that_does_not_accept() {
        let (path, l) = listener("backlog");
        // SAFETY: listen(2) again on our listening socket: the backlog made 0.
        assert_eq!(unsafe { libc::listen(std::os::fd::AsRawFd::as_raw_fd(&l), 0) }, 0);
        let started = std::time::Instant::now();
        let mut held = Vec::new();
        for _ in 0..100 {
            match SocketSink::connect(&path, 1024) {
                Ok(s) => held.push(s),
                Err(_) => break,
            }
        }
        assert!(held.len() < 100, "the backlog filled up: {}", held.len());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let _ = std::fs::remove_file(&path);
    }

    /// A reader that went away: flush says so.
    #[test]
    fn a_closed_reader_is_an_error() {
        let (path, l) = listener("closed");
        let mut sink = SocketSink::connect(&path, 1 << 20).expect("connect");
        drop(l.accept().expect("accept"));
        drop(l);
        assert!(sink.push("a"));
        let mut failed = false;
        for _ in 0..10 {
            if sink.flush().is_err() {
                failed = true;
                break;
            }
            assert!(sink.push("b"));
        }
        assert!(failed, "EPIPE");
        let _ = std::fs::remove_file(&path);
    }
}
