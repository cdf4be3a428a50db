//! Per-interface locks across processes: an exclusive `flock` on a file under
//! `/run/ebpf-ml-workbench/locks` (tmpfs, beside the claims: one boot, like the pins they
//! guard). Not on bpffs, which holds no regular files, and not the pin directory itself, which
//! attach creates and detach removes. Two locks per interface: `<iface>.lock`, held around an
//! attach or detach (waited for), and `<iface>.events.lock`, held by the reader of the probe's
//! verdict-event ring for its lifetime (refused at once, naming the holder).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{fail, Error, Result};

const LOCK_DIR: &str = "/run/ebpf-ml-workbench/locks";
/// How long an attach or detach waits for another one on the same interface.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// An exclusive `flock` on `LOCK_DIR/<name>`, held until the guard is dropped (or the process
/// dies). While another process holds it, `busy(path)` is called: an error stops the attempt
/// and is returned, Ok tries again 20 ms later. Best effort, as the model slots' lock: without
/// write access to /run nothing is locked (None).
fn lock_in_dir(name: &str, mut busy: impl FnMut(&Path) -> Result<()>) -> Result<Option<IfaceLock>> {
    use std::os::unix::fs::MetadataExt;
    if std::fs::create_dir_all(LOCK_DIR).is_err() {
        return Ok(None);
    }
    let path = Path::new(LOCK_DIR).join(name);
    loop {
        let Ok(file) = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
        else {
            return Ok(None);
        };
        // SAFETY: flock on an fd owned by `file`; the lock goes with the fd.
        if unsafe {
            libc::flock(
                std::os::fd::AsRawFd::as_raw_fd(&file),
                libc::LOCK_EX | libc::LOCK_NB,
            )
        } == 0
        {
            // The holder before removed the file as it let go (`IfaceLock`'s drop): a lock on
            // that file is no lock; open the current one again.
            let same = match (file.metadata(), std::fs::metadata(&path)) {
                (Ok(held), Ok(now)) => held.ino() == now.ino() && held.dev() == now.dev(),
                _ => false,
            };
            if same {
                return Ok(Some(IfaceLock { path, file }));
            }
            continue;
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(Error::io(format!("locking {}", path.display()), e));
        }
        busy(&path)?;
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// One attach or detach at a time per interface, across processes (two `probe attach`, an
/// attach and a `lab down`, the agent and a `verify`): `LOCK_DIR/<iface>.lock`. Without it a
/// second attach saw the first one's pin directory half made and called it a stale probe of a
/// killed attach, whose suggested fix removed the probe just attached. The waiter says once on
/// stderr what it waits for, and stops on Ctrl-C.
pub(crate) fn iface_lock(iface: &str) -> Result<Option<IfaceLock>> {
    let started = std::time::Instant::now();
    let mut said = false;
    lock_in_dir(&format!("{iface}.lock"), |path| {
        crate::lifecycle::check()?;
        let waited = started.elapsed();
        if waited >= LOCK_WAIT {
            fail!(
                State,
                "another workbench command has been attaching or detaching the probe on {iface} for {} s \
                 ({} is locked); try again once it is done",
                waited.as_secs(),
                path.display()
            );
        }
        if !said && waited >= std::time::Duration::from_secs(1) {
            eprintln!("workbench: waiting for another command attaching or detaching the probe on {iface}");
            said = true;
        }
        Ok(())
    })
}

/// The one reader of `iface`'s verdict-event ring (the agent, `live --jsonl`): a BPF ring
/// buffer hands each event to one consumer, so a second reader silently took part of the
/// stream from the first (a SIEM feed lost two thirds of its events to an analyst's `live`).
/// `LOCK_DIR/<iface>.events.lock`, holding the holder's pid and command; a second reader is
/// refused at once with them.
pub fn events_reader_lock(iface: &str) -> Result<Option<IfaceLock>> {
    let lock = lock_in_dir(&format!("{iface}.events.lock"), |path| {
        let mut holder = String::new();
        let _ = std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut holder));
        let holder = match holder.trim().split_once(' ') {
            Some((pid, cmd)) => format!("pid {pid} (`{cmd}`)"),
            None => format!("another process ({} is locked)", path.display()),
        };
        fail!(
            State,
            "the verdict events of the probe on {iface} are already being read by {holder}: a second \
             reader would split the stream (each event goes to one reader only). Stop that reader first, \
             or read what it writes (an agent's events_file or events_socket)"
        )
    })?;
    if let Some(l) = &lock {
        // Who holds it, for the refusal above: "PID COMMAND".
        let cmd = std::fs::read("/proc/self/cmdline")
            .map(|b| {
                b.split(|c| *c == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let _ = l.file.set_len(0);
        let _ = (&l.file).write_all(format!("{} {cmd}\n", std::process::id()).as_bytes());
    }
    Ok(lock)
}

/// A lock that says its holder is alive: `LOCK_DIR/<name>`, held for as long as the holder
/// runs (a killed process's lock goes with it). A claim's owner is told by it, not by its pid,
/// which means nothing across PID namespaces (an agent in a pod is pid 1). None when /run is not
/// writable or the name is somehow taken.
pub(crate) fn liveness_lock(name: &str) -> Option<IfaceLock> {
    lock_in_dir(name, |path| {
        fail!(State, "{} is held by another process", path.display())
    })
    .ok()
    .flatten()
}

/// Whether some process holds an flock on `path`, read from /proc/locks without touching the
/// lock: trying it would, for that moment, refuse the owner its own lock (a `live --jsonl`
/// starting while the TUI looked was told another reader had the ring). A line there is
/// `1: FLOCK  ADVISORY  WRITE PID MAJ:MIN:INODE 0 EOF` (device numbers in hex); `->` marks a
/// waiter, not a holder. None when /proc/locks cannot be read.
fn flocked(path: &Path) -> Option<bool> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let (dev, ino) = (meta.dev(), meta.ino());
    let want = format!("{:02x}:{:02x}:{ino}", libc::major(dev), libc::minor(dev));
    let text = std::fs::read_to_string("/proc/locks").ok()?;
    Some(
        text.lines()
            .any(|l| l.contains(" FLOCK ") && !l.contains("->") && l.split_whitespace().any(|w| w == want)),
    )
}

/// Whether a process reads the verdict events of `iface`'s probe (holds its
/// [`events_reader_lock`]: the agent, `live --jsonl`); without one the ring fills and the
/// probe counts what it could not write as `events_lost`.
pub fn events_reader_active(iface: &str) -> bool {
    held_by_a_live_process(&format!("{iface}.events.lock")) == Some(true)
}

/// Whether a live process holds the [`liveness_lock`] `name` (read from /proc/locks, or tried
/// once where that cannot be read, never waited for); None when there is no such lock file
/// (written without one: an older build, or no /run).
pub(crate) fn held_by_a_live_process(name: &str) -> Option<bool> {
    let path = Path::new(LOCK_DIR).join(name);
    if !path.exists() {
        return None;
    }
    if let Some(held) = flocked(&path) {
        return Some(held);
    }
    let file = std::fs::OpenOptions::new().read(true).open(&path).ok()?;
    // SAFETY: flock on an fd owned by `file`; a lock taken here goes when `file` is dropped.
    let taken = unsafe {
        libc::flock(
            std::os::fd::AsRawFd::as_raw_fd(&file),
            libc::LOCK_EX | libc::LOCK_NB,
        )
    } == 0;
    Some(!taken)
}

/// Removes the lock file `name` (a dead holder's, found by [`held_by_a_live_process`]).
pub(crate) fn remove(name: &str) {
    let _ = std::fs::remove_file(Path::new(LOCK_DIR).join(name));
}

/// A held lock ([`iface_lock`], [`events_reader_lock`], [`liveness_lock`]). Dropping it removes the lock file while
/// still holding the lock, then lets go, so no file per interface ever used stays behind; a
/// waiter that then gets the removed file's lock sees it is not the current file and opens anew.
pub struct IfaceLock {
    path: PathBuf,
    file: std::fs::File,
}

impl Drop for IfaceLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second reader (another open of the lock file, as another process makes) is refused
    /// at once, naming the holder's pid and command; once the holder lets go, the lock is free
    /// and its file gone.
    #[test]
    fn a_second_events_reader_is_refused_naming_the_holder() {
        let iface = format!("wbunit{}", std::process::id() % 100_000);
        let Some(held) = events_reader_lock(&iface).expect("first") else {
            eprintln!("skipped: {LOCK_DIR} is not writable here");
            return;
        };
        let started = std::time::Instant::now();
        let e = format!("{:#}", events_reader_lock(&iface).err().expect("refused"));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "not waited for"
        );
        assert!(
            e.contains(&iface) && e.contains(&format!("pid {} (`", std::process::id())),
            "{e}"
        );
        drop(held);
        let again = events_reader_lock(&iface).expect("free again");
        assert!(again.is_some());
        drop(again);
        assert!(!Path::new(LOCK_DIR).join(format!("{iface}.events.lock")).exists());
    }

    /// Whether a lock is held is read from /proc/locks: asking never takes the lock, so the
    /// owner taking it at that moment is not refused; a holder is seen, a free file is not.
    #[test]
    fn a_held_lock_is_seen_without_taking_it() {
        let iface = format!("wbseen{}", std::process::id() % 100_000);
        assert!(!events_reader_active(&iface), "no lock file: no reader");
        let Some(held) = events_reader_lock(&iface).expect("lock") else {
            eprintln!("skipped: {LOCK_DIR} is not writable here");
            return;
        };
        let path = Path::new(LOCK_DIR).join(format!("{iface}.events.lock"));
        assert_eq!(flocked(&path), Some(true), "/proc/locks lists the holder");
        assert!(events_reader_active(&iface));
        drop(held);
        // A file nobody holds (left by a killed reader): seen as free, and still free after.
        std::fs::write(&path, b"").expect("a lock file");
        assert_eq!(flocked(&path), Some(false));
        assert_eq!(
            held_by_a_live_process(&format!("{iface}.events.lock")),
            Some(false)
        );
        let taken = events_reader_lock(&iface).expect("not refused");
        assert!(taken.is_some(), "asking left the lock free");
        drop(taken);
    }
}
