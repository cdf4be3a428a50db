//! The model directory: new or changed model files, and the rule that promotes a shadow model.
//!
//! The directory is polled, not watched with inotify: Kubernetes updates a ConfigMap volume by
//! writing a new timestamped directory and swapping the `..data` symlink, so the file names the
//! agent sees never get a write event of their own (inotify on them reports nothing, or the
//! watch dies with the old directory); a poll that reads what the names resolve to now sees
//! every kind of update (a swap, a `cp`, a `mv`) the same way. The files are small (a model is
//! at most a few hundred KiB), so reading them once a second costs nothing.
//!
//! The agent runs as root and whoever can write to the directory chooses what it reads, so a
//! file is opened without blocking and without following a last symlink (a FIFO put there would
//! stop the event loop in `read`), checked on the open descriptor to be a regular file of at
//! most [`MAX_MODEL_FILE_BYTES`], and read no further than that; symlinks are followed only
//! while they stay inside the directory (a ConfigMap's names point into `..data`; one to
//! /proc/self/pagemap or a huge file elsewhere is refused). A refused file is logged once (until
//! it changes) and is never a candidate: the running models are unchanged.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};

use super::log;
use super::promotion::Counts;

/// The largest model file the agent reads. A deployable model's kernel body is
/// `size_of::<shared::model::Model>()` at most (the header, MAX_TREES roots, the logistic terms
/// and MAX_NODES = 8192 nodes of 24 bytes: about 200 KiB), and its JSON header (the features,
/// provenance, metrics) tens of KiB; 16 MiB leaves a margin of over 50 times the largest file
/// the workbench writes, and still bounds what one poll reads.
pub const MAX_MODEL_FILE_BYTES: u64 = 16 << 20;
const _: () = assert!(core::mem::size_of::<shared::model::Model>() * 50 < MAX_MODEL_FILE_BYTES as usize);

/// The content of the model file `path` (a name in `dir`, whose canonical form is `dir_real`),
/// or why it is refused.
fn read_model_file(path: &Path, dir_real: &Path) -> Result<Vec<u8>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    // Symlinks resolved here, and only those that stay inside the directory.
    let real = std::fs::canonicalize(path).map_err(|e| format!("cannot resolve it: {e}"))?;
    if !real.starts_with(dir_real) {
        return Err(format!(
            "it leads out of the model directory (to {}): refused",
            real.display()
        ));
    }
    // O_NONBLOCK: a FIFO (or a device) opens at once instead of waiting for a writer;
    // O_NOFOLLOW: a symlink swapped in since the resolution above is not followed.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(&real)
        .map_err(|e| format!("cannot open it: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot stat it: {e}"))?;
    if !meta.file_type().is_file() {
        return Err("not a regular file (a FIFO, a device or a socket): refused".into());
    }
    let too_big = || {
        format!(
            "larger than the {} MiB a model file may have: refused",
            MAX_MODEL_FILE_BYTES >> 20
        )
    };
    if meta.len() > MAX_MODEL_FILE_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // One byte more than allowed: a file that grew past the cap since the fstat is seen to.
    file.take(MAX_MODEL_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > MAX_MODEL_FILE_BYTES {
        return Err(too_big());
    }
    Ok(bytes)
}

/// One look at the directory: the model files' contents (and their hashes) by path, and the
/// files refused with the reason.
#[derive(Default)]
struct Scan {
    files: BTreeMap<PathBuf, u64>,
    bytes: BTreeMap<PathBuf, Vec<u8>>,
    refused: BTreeMap<PathBuf, String>,
}

fn scan(dir: &Path) -> Scan {
    let mut out = Scan::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let Ok(dir_real) = std::fs::canonicalize(dir) else {
        return out;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        // `..data` and the timestamped directories of a ConfigMap, editors' dot files.
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        // `metadata` follows symlinks: a ConfigMap's names are symlinks into `..data`. Folders
        // are not model files (and no reason to complain).
        if std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        match read_model_file(&path, &dir_real) {
            Ok(bytes) => {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut h);
                out.files.insert(path.clone(), h.finish());
                out.bytes.insert(path, bytes);
            }
            // Gone between the listing and the open: nothing to say.
            Err(_) if std::fs::symlink_metadata(&path).is_err() => {}
            Err(reason) => {
                out.refused.insert(path, reason);
            }
        }
    }
    out
}

/// What the agent has seen of the directory.
pub struct ModelDir {
    pub dir: PathBuf,
    /// The content taken (or present at start) per file.
    taken: BTreeMap<PathBuf, u64>,
    /// The previous scan: a file is taken once two scans in a row read the same content, so a
    /// file being copied in is not judged half-written.
    previous: BTreeMap<PathBuf, u64>,
    /// Files refused, with the reason logged: said once, again only when the reason changes.
    refused: BTreeMap<PathBuf, String>,
}

impl ModelDir {
    /// Starts watching `dir`: what is there now is the baseline (the configured model usually
    /// lives there too), only what changes from now on is a candidate.
    pub fn new(dir: &Path) -> Self {
        let now = scan(dir);
        let mut w = ModelDir {
            dir: dir.to_path_buf(),
            taken: now.files.clone(),
            previous: now.files,
            refused: BTreeMap::new(),
        };
        w.note_refused(now.refused);
        w
    }

    /// Logs the refused files not logged yet (as the agent logs a rejected model file); how
    /// many, for `models_rejected_total`.
    fn note_refused(&mut self, refused: BTreeMap<PathBuf, String>) -> u64 {
        let mut new = 0;
        for (path, reason) in &refused {
            if self.refused.get(path) != Some(reason) {
                log(format!(
                    "model file rejected: {}: {reason}; the running models are unchanged",
                    path.display()
                ));
                new += 1;
            }
        }
        self.refused = refused;
        new
    }

    /// The model files taken so far (at start: every file there).
    pub fn files(&self) -> impl Iterator<Item = &PathBuf> {
        self.taken.keys()
    }

    /// Files new or changed since they were last taken, whose content held still for one poll,
    /// with the bytes this poll read (the agent parses those, never the path again: a FIFO
    /// swapped in after the checks would block it), and how many files were newly refused.
    pub fn poll(&mut self) -> Polled {
        let Scan {
            files: now,
            mut bytes,
            refused,
        } = scan(&self.dir);
        let refused = self.note_refused(refused);
        let mut ready = Vec::new();
        for (path, hash) in &now {
            if self.taken.get(path) == Some(hash) {
                continue;
            }
            if self.previous.get(path) == Some(hash) {
                self.taken.insert(path.clone(), *hash);
                ready.push((path.clone(), bytes.remove(path).unwrap_or_default()));
            }
        }
        self.taken.retain(|p, _| now.contains_key(p));
        self.previous = now;
        Polled { ready, refused }
    }
}

/// What one poll of the model directory found.
#[derive(Default)]
pub struct Polled {
    /// New or changed model files and their content.
    pub ready: Vec<(PathBuf, Vec<u8>)>,
    /// Files refused (not a regular file, too large, leading out) and logged by this poll.
    pub refused: u64,
}

/// Where a shadow candidate stands.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Evaluating,
    Held(String),
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Evaluating => "evaluating",
            State::Held(_) => "held",
        }
    }
}

/// A model from the directory running as shadow, and the probe counters when it went in.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub file: PathBuf,
    pub model: String,
    /// The probe's counters per interface when it became shadow.
    pub baseline: BTreeMap<String, Counts>,
    /// Counted since.
    pub counts: Counts,
    pub state: State,
}

impl Candidate {
    /// The counters since it became shadow from the probe's current ones per interface (an
    /// interface added since counts from zero).
    pub fn update(&mut self, now: &BTreeMap<String, Counts>) {
        self.counts = now.iter().fold(Counts::default(), |sum, (iface, c)| {
            sum.plus(c.since(self.baseline.get(iface).copied().unwrap_or_default()))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_model_dir_takes_a_file_once_it_holds_still() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("old.ebml"), b"old").expect("write");
        let mut w = ModelDir::new(dir.path());
        let mut poll = || w.poll().ready;
        assert!(poll().is_empty(), "the baseline is not a candidate");
        std::fs::write(dir.path().join("new.ebml"), b"new").expect("write");
        std::fs::write(dir.path().join(".hidden"), b"x").expect("write");
        assert!(poll().is_empty(), "seen once: not yet");
        // The bytes the poll read come with the path: the agent never opens it again.
        assert_eq!(poll(), vec![(dir.path().join("new.ebml"), b"new".to_vec())]);
        assert!(poll().is_empty(), "taken once");
        std::fs::write(dir.path().join("old.ebml"), b"changed").expect("write");
        poll();
        assert_eq!(poll(), vec![(dir.path().join("old.ebml"), b"changed".to_vec())]);
    }

    /// What someone who can write to the directory puts there instead of a model: a FIFO (a
    /// plain read would block the agent's loop for good), a symlink out of the directory (to
    /// /proc/self/pagemap, read whole every poll), a file over the cap. Each is refused at once
    /// and never becomes a candidate; a ConfigMap's symlinks inside the directory still work.
    #[test]
    fn agent_model_dir_refuses_fifos_links_out_and_huge_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        let mut w = ModelDir::new(d);
        let fifo = d.join("fifo.ebml");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        std::os::unix::fs::symlink("/proc/self/pagemap", d.join("pagemap.ebml")).expect("link");
        let big = std::fs::File::create(d.join("big.ebml")).expect("big");
        big.set_len(MAX_MODEL_FILE_BYTES + 1).expect("sparse");
        // A ConfigMap's layout: the name a symlink into `..data`, itself a symlink.
        std::fs::create_dir(d.join("..2024_01_01")).expect("ts dir");
        std::fs::write(d.join("..2024_01_01").join("cm.ebml"), b"model").expect("write");
        std::os::unix::fs::symlink("..2024_01_01", d.join("..data")).expect("..data");
        std::os::unix::fs::symlink("..data/cm.ebml", d.join("cm.ebml")).expect("cm");
        // Each poll returns at once (a FIFO read would block this test forever).
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let first = w.poll();
            let second = w.poll();
            let _ = tx.send((first, second, w.refused.clone()));
        });
        let (first, second, refused) = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the polls returned (a FIFO blocked them)");
        assert!(first.ready.is_empty());
        // The three refused files counted once (for models_rejected_total), not again.
        assert_eq!((first.refused, second.refused), (3, 0));
        let second: Vec<_> = second.ready.into_iter().map(|(p, _)| p).collect();
        assert_eq!(second, vec![d.join("cm.ebml")], "only the ConfigMap's model");
        let names: Vec<_> = refused.keys().map(|p| p.file_name().expect("name")).collect();
        assert_eq!(names, ["big.ebml", "fifo.ebml", "pagemap.ebml"], "{refused:?}");
        assert!(refused[&fifo].contains("not a regular file"), "{refused:?}");
        assert!(refused[&d.join("big.ebml")].contains("16 MiB"), "{refused:?}");
        assert!(
            refused[&d.join("pagemap.ebml")].contains("out of the model directory"),
            "{refused:?}"
        );
    }

    fn counts(evaluations: u64, disagreements: u64) -> Counts {
        Counts {
            evaluations,
            disagreements,
            beside_malicious: disagreements / 2,
            missed: disagreements / 3,
        }
    }

    #[test]
    fn agent_candidate_counts_since_it_went_in() {
        let mut c = Candidate {
            file: "m".into(),
            model: "x".into(),
            baseline: [("a".to_string(), counts(100, 10))].into(),
            counts: Counts::default(),
            state: State::Evaluating,
        };
        c.update(
            &[
                ("a".to_string(), counts(150, 12)),
                ("b".to_string(), counts(5, 1)),
            ]
            .into(),
        );
        assert_eq!(c.counts, counts(55, 3));
    }
}
