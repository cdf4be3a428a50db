//! Per-interface locks across processes: an exclusive open-file-description lock
//! (`F_OFD_SETLK`, owned by the open file like an `flock`, gone with the process) on a file under
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

/// A whole-file write lock request for `fcntl`.
fn whole_file(kind: libc::c_int) -> libc::flock {
    // SAFETY: `flock` is plain integers, all-zero valid; l_pid must be 0 for OFD requests.
    let mut l: libc::flock = unsafe { std::mem::zeroed() };
    l.l_type = kind as libc::c_short;
    l.l_whence = libc::SEEK_SET as libc::c_short;
    l
}

/// `F_OFD_SETLK` (take) or `F_OFD_GETLK` (ask) an exclusive lock on the whole of `file`: true
/// when taken / free, false when another open file holds it (another process, or another open
/// in this one).
fn ofd_lock(file: &std::fs::File, cmd: libc::c_int) -> std::io::Result<bool> {
    let mut l = whole_file(libc::F_WRLCK);
    // SAFETY: fcntl on an fd owned by `file` with a valid `flock`; a lock taken goes with the fd.
    let rc = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(file), cmd, &mut l) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EAGAIN | libc::EACCES) => Ok(false),
            _ => Err(e),
        };
    }
    Ok(cmd != libc::F_OFD_GETLK || l.l_type == libc::F_UNLCK as libc::c_short)
}

/// An exclusive `flock` on `file` without waiting: false when another open file holds one (an
/// older build's holder; a lock of this build's holds its OFD lock first).
fn try_flock(file: &std::fs::File) -> std::io::Result<bool> {
    // SAFETY: flock on an fd owned by `file`; the lock goes with the fd.
    let rc = unsafe {
        libc::flock(
            std::os::fd::AsRawFd::as_raw_fd(file),
            libc::LOCK_EX | libc::LOCK_NB,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(false),
        _ => Err(e),
    }
}

/// An exclusive OFD lock on `LOCK_DIR/<name>`, held until the guard is dropped (or the process
/// dies). OFD rather than `flock`, because the kernel answers "would this conflict" for it
/// (`F_OFD_GETLK`) without taking it: see [`held_by_a_live_process`]. An `flock` is taken on
/// the same file too, as builds before the OFD locks took only that: one of them still running
/// beside this one (an agent left running through an upgrade) keeps its lock, and sees ours.
/// While another process holds either, `busy(path)` is called: an error stops the attempt and
/// is returned, Ok tries again 20 ms later. Best effort, as the model slots' lock: without
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
        let taken = ofd_lock(&file, libc::F_OFD_SETLK)
            .and_then(|ofd| Ok(ofd && try_flock(&file)?))
            .map_err(|e| Error::io(format!("locking {}", path.display()), e))?;
        if taken {
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

/// Whether a process reads the verdict events of `iface`'s probe (holds its
/// [`events_reader_lock`]: the agent, `live --jsonl`); without one the ring fills and the
/// probe counts what it could not write as `events_lost`.
pub fn events_reader_active(iface: &str) -> bool {
    held_by_a_live_process(&format!("{iface}.events.lock")) == Some(true)
}

/// Whether a live process holds the [`liveness_lock`] `name`, asked of the kernel with
/// `F_OFD_GETLK`, which never takes the lock: taking it, even for a moment, refused the owner
/// its own lock if it took it then (a `live --jsonl` starting while the TUI looked was told
/// another reader had the ring). Not read from /proc/locks either: that file comes in several
/// reads, and a lock released before ours between two of them shifts ours out of the listing
/// (a held lock went unseen in 506 of 20,000 reads while four threads took and released
/// locks). Only when no OFD lock is held is /proc/locks read, for an `flock` of a build before
/// the OFD locks (so that an agent left running through an upgrade is not called dead and its
/// probe a leftover). None when there is no such lock file (written without one: an older
/// build, or no /run) or it cannot be opened.
pub(crate) fn held_by_a_live_process(name: &str) -> Option<bool> {
    let path = Path::new(LOCK_DIR).join(name);
    let file = std::fs::File::open(&path).ok()?;
    let free = ofd_lock(&file, libc::F_OFD_GETLK).ok()?;
    Some(!free || flocked(&file))
}

/// Whether /proc/locks lists an `flock` on `file` (`1: FLOCK  ADVISORY  WRITE PID MAJ:MIN:INODE
/// 0 EOF`, device numbers in hex; `->` marks a waiter, not a holder).
fn flocked(file: &std::fs::File) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = file.metadata() else {
        return false;
    };
    let (dev, ino) = (meta.dev(), meta.ino());
    let want = format!("{:02x}:{:02x}:{ino}", libc::major(dev), libc::minor(dev));
    std::fs::read_to_string("/proc/locks").is_ok_and(|text| {
        text.lines()
            .any(|l| l.contains(" FLOCK ") && !l.contains("->") && l.split_whitespace().any(|w| w == want))
    })
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

    /// Whether a lock is held is asked of the kernel: asking never takes the lock, so the
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
        assert!(events_reader_active(&iface));
        drop(held);
        // A file nobody holds (left by a killed reader): seen as free, and still free after.
        std::fs::write(&path, b"").expect("a lock file");
        assert_eq!(
            held_by_a_live_process(&format!("{iface}.events.lock")),
            Some(false)
        );
        let taken = events_reader_lock(&iface).expect("not refused");
        assert!(taken.is_some(), "asking left the lock free");
        drop(taken);
    }

    /// Other locks taken and let go all the while (the agent, `verify`, a TUI) never hide a
    /// held one: read from /proc/locks, 201 of these 3000 answers said "free".
    #[test]
    fn a_held_lock_is_seen_while_other_locks_come_and_go() {
        let name = format!("wbchurn{}.lock", std::process::id() % 100_000);
        let Some(held) = liveness_lock(&name) else {
            eprintln!("skipped: {LOCK_DIR} is not writable here");
            return;
        };
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let churn: Vec<_> = (0..3)
            .map(|i| {
                let stop = stop.clone();
                let other = format!("wbchurn{}-{i}.lock", std::process::id() % 100_000);
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        drop(liveness_lock(&other));
                    }
                })
            })
            .collect();
        let unseen = (0..3000)
            .filter(|_| held_by_a_live_process(&name) != Some(true))
            .count();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in churn {
            t.join().expect("churn thread");
        }
        drop(held);
        assert_eq!(unseen, 0, "a held lock answered as free");
        assert_eq!(held_by_a_live_process(&name), None, "the file went with the lock");
    }

    /// A build before the OFD locks holds only an `flock` (an agent left running through an
    /// upgrade): its lock is seen as held, and this build's lock on the same file waits for it.
    #[test]
    fn an_older_builds_flock_is_seen_and_respected() {
        let name = format!("wbolder{}.lock", std::process::id() % 100_000);
        if std::fs::create_dir_all(LOCK_DIR).is_err() {
            eprintln!("skipped: {LOCK_DIR} is not writable here");
            return;
        }
        let path = Path::new(LOCK_DIR).join(&name);
        let older = std::fs::File::create(&path).expect("lock file");
        assert!(try_flock(&older).expect("flock"), "the older build's lock");
        assert_eq!(held_by_a_live_process(&name), Some(true));
        let refused = lock_in_dir(&name, |_| fail!(State, "busy"))
            .err()
            .expect("refused");
        assert!(format!("{refused:#}").contains("busy"), "{refused:#}");
        drop(older);
        assert_eq!(held_by_a_live_process(&name), Some(false));
        let ours = lock_in_dir(&name, |_| fail!(State, "busy"))
            .expect("free")
            .expect("a lock");
        // Both kinds held: an older build asking by `flock` sees it too.
        let other = std::fs::File::open(&path).expect("open");
        assert!(
            !try_flock(&other).expect("flock"),
            "held for an older build as well"
        );
        drop(ours);
        assert_eq!(held_by_a_live_process(&name), None, "the file went with the lock");
    }
}
