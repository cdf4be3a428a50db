//! The model directory: new or changed model files, and the rule that promotes a shadow model.
//!
//! The directory is polled, not watched with inotify: Kubernetes updates a ConfigMap volume by
//! writing a new timestamped directory and swapping the `..data` symlink, so the file names the
//! agent sees never get a write event of their own (inotify on them reports nothing, or the
//! watch dies with the old directory); a poll that reads what the names resolve to now sees
//! every kind of update (a swap, a `cp`, a `mv`) the same way. The files are small (a model is
//! at most a few hundred KiB), so reading them once a second costs nothing.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

/// Contents of the model files in a directory by path, as hashes.
fn scan(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        // `..data` and the timestamped directories of a ConfigMap, editors' dot files.
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        // `metadata` follows symlinks: a ConfigMap's names are symlinks into `..data`.
        if !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        if let Ok(bytes) = std::fs::read(&path) {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut h);
            out.insert(path, h.finish());
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
}

impl ModelDir {
    /// Starts watching `dir`: what is there now is the baseline (the configured model usually
    /// lives there too), only what changes from now on is a candidate.
    pub fn new(dir: &Path) -> Self {
        let now = scan(dir);
        ModelDir {
            dir: dir.to_path_buf(),
            taken: now.clone(),
            previous: now,
        }
    }

    /// The model files taken so far (at start: every file there).
    pub fn files(&self) -> impl Iterator<Item = &PathBuf> {
        self.taken.keys()
    }

    /// Files new or changed since they were last taken, whose content held still for one poll.
    pub fn poll(&mut self) -> Vec<PathBuf> {
        let now = scan(&self.dir);
        let mut ready = Vec::new();
        for (path, hash) in &now {
            if self.taken.get(path) == Some(hash) {
                continue;
            }
            if self.previous.get(path) == Some(hash) {
                self.taken.insert(path.clone(), *hash);
                ready.push(path.clone());
            }
        }
        self.taken.retain(|p, _| now.contains_key(p));
        self.previous = now;
        ready
    }
}

/// The rule's answer for a shadow model.
#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    /// Fewer than N decisions since it became shadow.
    Wait,
    Promote,
    /// Stays shadow: why.
    Hold(String),
}

/// The promotion rule: after `after` evaluations (decisions of the active model, each also made
/// by the shadow) since the model became shadow, promote when the share of them where the
/// shadow disagreed is at or below `max_share`.
pub fn judge(evaluations: u64, disagreements: u64, after: u64, max_share: f64) -> Judgement {
    if evaluations < after || evaluations == 0 {
        return Judgement::Wait;
    }
    let share = disagreements as f64 / evaluations as f64;
    if share <= max_share {
        Judgement::Promote
    } else {
        Judgement::Hold(format!(
            "disagreed with the active model in {disagreements} of {evaluations} decisions ({:.1}%), above promote_max_disagreement {:.1}%",
            share * 100.0,
            max_share * 100.0
        ))
    }
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
    /// (evaluations, shadow_disagreements) per interface when it became shadow.
    pub baseline: BTreeMap<String, (u64, u64)>,
    pub evaluations: u64,
    pub disagreements: u64,
    pub state: State,
}

impl Candidate {
    /// The counters since it became shadow from the probe's current ones per interface (an
    /// interface added since counts from zero).
    pub fn update(&mut self, now: &BTreeMap<String, (u64, u64)>) {
        let (mut e, mut d) = (0, 0);
        for (iface, (evals, dis)) in now {
            let (e0, d0) = self.baseline.get(iface).copied().unwrap_or((0, 0));
            e += evals.saturating_sub(e0);
            d += dis.saturating_sub(d0);
        }
        self.evaluations = e;
        self.disagreements = d;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_promotion_rule() {
        assert_eq!(judge(9, 0, 10, 0.1), Judgement::Wait);
        assert_eq!(judge(10, 1, 10, 0.1), Judgement::Promote);
        assert_eq!(judge(0, 0, 1, 1.0), Judgement::Wait);
        match judge(10, 2, 10, 0.1) {
            Judgement::Hold(why) => assert!(why.contains("2 of 10 decisions (20.0%)"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn agent_model_dir_takes_a_file_once_it_holds_still() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("old.ebml"), b"old").expect("write");
        let mut w = ModelDir::new(dir.path());
        assert!(w.poll().is_empty(), "the baseline is not a candidate");
        std::fs::write(dir.path().join("new.ebml"), b"new").expect("write");
        std::fs::write(dir.path().join(".hidden"), b"x").expect("write");
        assert!(w.poll().is_empty(), "seen once: not yet");
        assert_eq!(w.poll(), vec![dir.path().join("new.ebml")]);
        assert!(w.poll().is_empty(), "taken once");
        std::fs::write(dir.path().join("old.ebml"), b"changed").expect("write");
        w.poll();
        assert_eq!(w.poll(), vec![dir.path().join("old.ebml")]);
    }

    #[test]
    fn agent_candidate_counts_since_it_went_in() {
        let mut c = Candidate {
            file: "m".into(),
            model: "x".into(),
            baseline: [("a".to_string(), (100, 10))].into(),
            evaluations: 0,
            disagreements: 0,
            state: State::Evaluating,
        };
        c.update(&[("a".to_string(), (150, 12)), ("b".to_string(), (5, 1))].into());
        assert_eq!((c.evaluations, c.disagreements), (55, 3));
    }
}
