//! Claims: a note, per running command, of what it made in the kernel for its own duration, so
//! that what a killed command (SIGKILL, power cut of the process) left behind is recognised by
//! the next start and named in one line with the command that removes it.
//!
//! A claim is a small JSON file `/run/ebpf-ml-workbench/claims/<pid>-<n>.json` (tmpfs: it lives as
//! long as the pins and namespaces it describes, one boot), with the objects, and a lock the
//! owner holds for as long as it runs (`locks::liveness_lock`, `claim-<pid>-<n>.lock`): a claim
//! whose lock nobody holds is stale. The pid alone cannot say it: in a pod the agent is pid 1 of
//! its own PID namespace, and the host's commands called its live probe stale (and suggested
//! removing it). A claim without a lock file (an older build's) is judged by its pid and start
//! time, as before. A process that takes over an object (an agent restarted after a kill -9
//! reuses the probe it left) takes it out of the dead claim, which otherwise kept calling the
//! running probe stale. Writing it is best effort: without write access to /run the command
//! still works; a leftover is then found only by what `probe attach` already checks (pins in its
//! directory).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};

use crate::bpffs;

const CLAIMS_DIR: &str = "/run/ebpf-ml-workbench/claims";

/// Claims of one process are numbered (`verify` holds one while `attach` inside it holds another).
static NEXT: AtomicU32 = AtomicU32::new(0);

/// Something a command made for its own duration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Object {
    /// The probe pinned (and attached) on an interface: `bpffs::iface_dir(iface)`.
    Probe { iface: String },
    /// A replay lab: namespace `ebml-<id>` with its veth pair.
    Lab { id: String },
    /// A private pinned probe directory under the project's bpffs directory (the benchmark's).
    Pins { dir: String },
}

impl Object {
    fn exists(&self) -> bool {
        match self {
            Object::Probe { iface } => bpffs::iface_dir(iface).exists(),
            Object::Lab { id } => {
                crate::lab::project_namespaces().contains(&format!("{}{id}", crate::lab::PREFIX))
            }
            Object::Pins { dir } => Path::new(bpffs::PROJECT_DIR).join(dir).exists(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Object::Probe { iface } => {
                // A classic attachment is filters on the interface too, not only pins.
                if bpffs::iface_dir(iface).join(crate::tc::PIN_TC_RECORD).exists() {
                    format!("probe on {iface} (cls_bpf filters)")
                } else {
                    format!("probe on {iface}")
                }
            }
            Object::Lab { id } => format!("lab namespace {}{id}", crate::lab::PREFIX),
            Object::Pins { dir } => format!("pins in {}/{dir}", bpffs::PROJECT_DIR),
        }
    }

    /// Whether removing `other` removes this object too: `lab down --id ID` detaches the probe
    /// from the lab's interfaces (`ebml-ID` and one letter) before it removes the namespace, so a
    /// `probe detach` after it would fail ("not attached").
    fn removed_with(&self, other: &Object) -> bool {
        match (self, other) {
            (Object::Probe { iface }, Object::Lab { id }) => crate::lab::replay_lab::is_lab_iface(id, iface),
            _ => false,
        }
    }

    /// The command that removes just this object (None: only `probe cleanup [--stale]` does).
    fn fix(&self) -> Option<String> {
        match self {
            Object::Probe { iface } => Some(format!("workbench probe detach --iface {iface}")),
            Object::Lab { id } => Some(format!("workbench lab down --id {id}")),
            Object::Pins { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    pid: u32,
    /// Process start time in clock ticks since boot (/proc/PID/stat field 22).
    start_ticks: u64,
    command: String,
    objects: Vec<Object>,
}

/// This process's claim; dropping it (the objects are gone by then) removes the note and its
/// lock.
pub struct Claim {
    path: PathBuf,
    record: Record,
    /// Held while this process runs (taken at the first object).
    alive: Option<crate::locks::IfaceLock>,
}

/// The liveness lock's name of the claim at `path` (`claim-<pid>-<n>.lock`).
fn lock_name(path: &Path) -> String {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    format!("claim-{}.lock", stem.unwrap_or_default())
}

fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

impl Claim {
    /// A claim for `command` (e.g. "verify"), with no objects yet.
    pub fn new(command: &str) -> Claim {
        let pid = std::process::id();
        Claim {
            path: Path::new(CLAIMS_DIR).join(format!("{pid}-{}.json", NEXT.fetch_add(1, Ordering::Relaxed))),
            record: Record {
                pid,
                start_ticks: start_ticks(pid).unwrap_or(0),
                command: command.to_string(),
                objects: Vec::new(),
            },
            alive: None,
        }
    }

    /// Notes `object` *before* making it, so a kill half-way through is covered too.
    pub fn add(&mut self, object: Object) {
        adopt(Path::new(CLAIMS_DIR), &object);
        if !self.record.objects.contains(&object) {
            self.record.objects.push(object);
        }
        if self.alive.is_none() {
            self.alive = crate::locks::liveness_lock(&lock_name(&self.path));
        }
        let _ = std::fs::create_dir_all(CLAIMS_DIR);
        // Written beside and renamed over: a kill during the write leaves the previous note (or
        // none), never a half-written one that `stale` would have to skip.
        if let Ok(json) = serde_json::to_vec(&self.record) {
            let tmp = self.path.with_extension("json.tmp");
            if std::fs::write(&tmp, json).is_ok() && std::fs::rename(&tmp, &self.path).is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What a command that is no longer running left behind.
#[derive(Debug, Clone, Serialize)]
pub struct Stale {
    pub pid: u32,
    pub command: String,
    pub objects: Vec<Object>,
}

impl Stale {
    pub fn has(&self, object: &Object) -> bool {
        self.objects.contains(object)
    }

    /// What `probe cleanup` says of it once removed.
    pub fn removed(&self) -> String {
        let what: Vec<String> = self.objects.iter().map(Object::describe).collect();
        format!(
            "removed the {} left by `workbench {}` (pid {}, no longer running)",
            what.join(" and "),
            self.command,
            self.pid
        )
    }
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what: Vec<String> = self.objects.iter().map(Object::describe).collect();
        // One command per object, except for objects another one's command removes as well
        // (the lab's probe: `lab down` detaches it, and a `probe detach` after it fails).
        let fixes: Vec<String> = self
            .objects
            .iter()
            .filter(|o| !self.objects.iter().any(|other| o.removed_with(other)))
            .filter_map(Object::fix)
            .collect();
        write!(
            f,
            "stale {} left by `workbench {}` (pid {}, no longer running): remove it with ",
            what.join(" and "),
            self.command,
            self.pid
        )?;
        if fixes.is_empty() {
            write!(
                f,
                "`workbench probe cleanup --stale` (removes what killed commands left)"
            )?;
        } else {
            write!(
                f,
                "`{}` (or `workbench probe cleanup --stale`, which removes everything killed commands left)",
                fixes.join(" && ")
            )?;
        }
        // A killed TUI could not give its terminal back.
        if self.command == "demo" {
            write!(
                f,
                "; if the terminal it ran in echoes nothing, `reset` gives it back"
            )?;
        }
        Ok(())
    }
}

/// Whether the process that wrote the claim at `path` still runs: its liveness lock is held,
/// or (a claim without one) its pid runs with the start time it recorded.
fn alive(record: &Record, path: &Path) -> bool {
    if let Some(held) = crate::locks::held_by_a_live_process(&lock_name(path)) {
        return held;
    }
    record.pid == std::process::id()
        || start_ticks(record.pid).is_some_and(|t| t == record.start_ticks || record.start_ticks == 0)
}

/// Deletes a dead claim and its lock file.
fn forget(path: &Path) {
    let _ = std::fs::remove_file(path);
    crate::locks::remove(&lock_name(path));
}

/// Takes `object` out of the claims in `dir` whose owners are gone: this process now makes it
/// its own (an agent restarted after a kill -9 reusing its probe), so it is no leftover.
fn adopt(dir: &Path, object: &Object) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
    {
        let Some(mut record) = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Record>(&b).ok())
        else {
            continue;
        };
        if !record.objects.contains(object) || alive(&record, &path) {
            continue;
        }
        record.objects.retain(|o| o != object);
        if record.objects.is_empty() {
            forget(&path);
        } else if let Ok(json) = serde_json::to_vec(&record) {
            let tmp = path.with_extension("json.tmp");
            if std::fs::write(&tmp, json).is_ok() && std::fs::rename(&tmp, &path).is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
        }
    }
}

/// Claims of processes that are gone, with the objects that still exist. Claims whose objects
/// are all gone (removed by hand or by `probe cleanup`) are deleted on the way.
pub fn stale() -> Vec<Stale> {
    let Ok(dir) = std::fs::read_dir(CLAIMS_DIR) else {
        return Vec::new();
    };
    // In the order the claims were made (`<pid>-<n>.json`): a process's outer claim (`verify`)
    // before the inner one (the `probe attach` inside it).
    let mut paths: Vec<(u32, u32, PathBuf)> = dir
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let stem = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut parts = stem.split('-').map(|n| n.parse().unwrap_or(u32::MAX));
            (
                parts.next().unwrap_or(u32::MAX),
                parts.next().unwrap_or(u32::MAX),
                p,
            )
        })
        .collect();
    paths.sort();
    let mut out: Vec<Stale> = Vec::new();
    for (_, _, path) in paths {
        let Some(record) = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Record>(&b).ok())
        else {
            continue;
        };
        if alive(&record, &path) {
            continue;
        }
        let objects: Vec<Object> = record.objects.into_iter().filter(Object::exists).collect();
        if objects.is_empty() {
            forget(&path);
            continue;
        }
        // One line per killed process: the claims it held (a `verify` killed inside its `probe
        // attach` held two) together, named by the outermost command, so that the line's
        // commands are run once and in an order that works.
        match out.iter_mut().find(|s| s.pid == record.pid) {
            Some(same) => {
                for o in objects {
                    if !same.objects.contains(&o) {
                        same.objects.push(o);
                    }
                }
            }
            None => out.push(Stale {
                pid: record.pid,
                command: record.command,
                objects,
            }),
        }
    }
    out
}

/// Prints one line per stale claim to stderr (at the start of commands that touch the kernel).
pub fn warn_stale() {
    for s in stale() {
        eprintln!("workbench: {s}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A claim whose pid says nothing (pid 1 of a pod's own PID namespace, as seen from the
    /// host) is alive while its liveness lock is held, and only then; a process that takes
    /// over its object takes the object out of it once its owner is gone.
    #[test]
    fn the_liveness_lock_decides_and_a_dead_claims_object_is_adopted() {
        let dir = std::env::temp_dir().join(format!("wb-claims-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join(format!("1-{}.json", 4_000_000 + std::process::id()));
        let probe = Object::Probe {
            iface: "ebml-claimtest".into(),
        };
        let lab = Object::Lab {
            id: "claimtest".into(),
        };
        let record = Record {
            pid: 1,
            start_ticks: 42,
            command: "agent".into(),
            objects: vec![probe.clone(), lab.clone()],
        };
        std::fs::write(&path, serde_json::to_vec(&record).expect("json")).expect("write");
        // Without a lock file: pid 1 runs, but not since tick 42: dead by the old test.
        assert!(!alive(&record, &path));
        let Some(held) = crate::locks::liveness_lock(&lock_name(&path)) else {
            eprintln!("skipped: /run/ebpf-ml-workbench is not writable here");
            let _ = std::fs::remove_dir_all(&dir);
            return;
        };
        assert!(
            alive(&record, &path),
            "the held lock says alive, whatever the pid"
        );
        adopt(&dir, &probe);
        let kept: Record = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        assert_eq!(
            kept.objects,
            vec![probe.clone(), lab.clone()],
            "a live owner keeps its objects"
        );
        drop(held);
        assert!(!alive(&record, &path), "the lock went with its holder");
        adopt(&dir, &probe);
        let kept: Record = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        assert_eq!(kept.objects, vec![lab.clone()], "the probe is the adopter's now");
        adopt(&dir, &lab);
        assert!(!path.exists(), "a claim with nothing left goes");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A killed `verify` left its lab and the probe on the lab's interface: `lab down` detaches
    /// that probe itself, so the line suggests it alone (a `probe detach` after it failed, "not
    /// attached"); a probe elsewhere keeps its own `probe detach`.
    #[test]
    fn a_labs_probe_gets_no_detach_of_its_own() {
        let stale = Stale {
            pid: 4242,
            command: "verify".into(),
            objects: vec![
                Object::Lab { id: "fxu".into() },
                Object::Probe {
                    iface: "ebml-fxub".into(),
                },
                Object::Probe {
                    iface: "ebml-fxu2b".into(),
                },
            ],
        };
        let line = stale.to_string();
        assert!(
            line.contains(
                "remove it with `workbench lab down --id fxu && workbench probe detach --iface ebml-fxu2b`"
            ),
            "{line}"
        );
        assert!(!line.contains("--iface ebml-fxub`"), "{line}");
        assert!(
            !line.contains("reset"),
            "a verify had no terminal to leave raw: {line}"
        );
        let demo = Stale {
            command: "demo".into(),
            ..stale
        };
        assert!(demo
            .to_string()
            .ends_with("; if the terminal it ran in echoes nothing, `reset` gives it back"));
    }
}
