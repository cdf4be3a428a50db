//! Detaching: removing the probe's pins (links first, which detaches a TCX attachment; a classic
//! attachment's cls_bpf filters before any pin), on `probe detach`, on a failed or private load
//! ([`PinGuard`]), and under the interface's lock so that no attach runs in between.

use std::path::{Path, PathBuf};

use crate::error::{fail, Error, Result};
use crate::locks::iface_lock;
use crate::tc::{self, TcRemoval};
use crate::{bpffs, caps};
use serde::Serialize;

use super::{existing_pins, ifindex, ALL_PINS};

/// Removes every pin of the probe in `dir`, and `dir` itself, when dropped while armed: what a
/// failed (or, for a private load, any) run leaves behind.
pub struct PinGuard {
    dir: PathBuf,
    armed: bool,
}

impl PinGuard {
    pub fn new(dir: PathBuf) -> Self {
        PinGuard { dir, armed: true }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keeps the pins: the attachment is meant to outlive this process.
    pub fn disarm(&mut self) {
        self.armed = false;
    }

    /// Removes the pins now, reporting a failure (dropping an armed guard ignores it).
    pub fn remove(mut self) -> Result<Vec<String>> {
        self.armed = false;
        remove_pins(&self.dir).map(|(pins, _)| pins)
    }
}

impl Drop for PinGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = remove_pins(&self.dir);
        }
    }
}

/// Removes the links first (that detaches the program), then the program and the maps. A
/// classic attachment's filters (and the qdisc it added) go before any pin: a filter holds the
/// program, and the record is what finds it. If they cannot be removed, every pin stays.
fn remove_pins(dir: &Path) -> Result<(Vec<String>, Option<TcRemoval>)> {
    let tc_removal = tc::remove(dir)?;
    let mut removed = Vec::new();
    for pin in ALL_PINS {
        let path = dir.join(pin);
        match std::fs::remove_file(&path) {
            Ok(()) => removed.push(pin.to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("removing {}", path.display()), e)),
        }
    }
    // Anything else in the directory is not ours to guess about: leave it and say so.
    let left = existing_pins(dir);
    if !left.is_empty() {
        fail!(
            State,
            "{} still holds unknown pins: {}",
            dir.display(),
            left.join(", ")
        );
    }
    match std::fs::remove_dir(dir) {
        // Gone already (`probe cleanup` from another process): the end state we want.
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::io(format!("removing {}", dir.display()), e));
        }
        _ => {}
    }
    bpffs::tidy();
    Ok((removed, tc_removal))
}

#[derive(Debug, Clone, Serialize)]
pub struct DetachReport {
    pub iface: String,
    /// "tcx" or "tc", as it was attached.
    pub attach_mode: &'static str,
    pub removed_pins: Vec<String>,
    /// The classic path's filters, qdisc and notes (empty for TCX).
    #[serde(flatten)]
    pub tc: TcRemoval,
}

/// [`detach`], saying where the interface lives, as `attach_in` was told: `netns` must exist,
/// and a classic attachment's record must name that namespace (pins are found by the
/// interface's name either way, so a wrong namespace would detach another interface's probe
/// without this check). Nothing is removed when the check fails.
pub fn detach_in(netns: Option<&str>, iface: &str) -> Result<DetachReport> {
    // The check and the removal under one lock: no attach in between.
    let _lock = iface_lock(iface)?;
    if let Some(ns) = netns {
        caps::require_kernel_access("detaching the probe")?;
        let path = Path::new("/run/netns").join(ns);
        if !path.exists() {
            fail!(
                State,
                "no network namespace {ns} ({} does not exist; see `ip netns list`); \
                 `workbench probe detach --iface {iface}` without --netns removes the probe's pins wherever it was attached",
                path.display()
            );
        }
        match tc::read_record(&bpffs::iface_dir(iface))? {
            // TCX links record no namespace: the interface must at least be there.
            None => {
                if crate::lab::netns::run_in(ns, || ifindex(iface))?.is_err() {
                    fail!(
                        State,
                        "no interface {iface} in namespace {ns}; nothing detached (without --netns, \
                         `workbench probe detach --iface {iface}` removes the probe's pins wherever it was attached)"
                    );
                }
            }
            Some(record) if record.netns.as_deref() != Some(ns) => {
                fail!(
                    State,
                    "the probe on {iface} was attached in {}, not in namespace {ns}; nothing detached",
                    match &record.netns {
                        Some(other) => format!("namespace {other}"),
                        None => "a namespace without a name (the attaching process's own)".to_string(),
                    }
                );
            }
            Some(_) => {}
        }
    }
    detach_locked(iface)
}

/// Detaches the probe from `iface` (the interface may already be gone); waits for an attach or
/// detach on `iface` running in another process to finish first.
pub fn detach(iface: &str) -> Result<DetachReport> {
    let _lock = iface_lock(iface)?;
    detach_locked(iface)
}

/// [`detach`] with the interface's lock held by the caller.
fn detach_locked(iface: &str) -> Result<DetachReport> {
    caps::require_kernel_access("detaching the probe")?;
    let dir = bpffs::iface_dir(iface);
    if existing_pins(&dir).is_empty() {
        let _ = std::fs::remove_dir(&dir);
        bpffs::tidy();
        fail!(
            State,
            "the probe is not attached to {iface} (nothing pinned in {})",
            dir.display()
        );
    }
    let (removed_pins, tc_removal) = remove_pins(&dir)?;
    Ok(DetachReport {
        iface: iface.to_string(),
        attach_mode: if tc_removal.is_some() { "tc" } else { "tcx" },
        removed_pins,
        tc: tc_removal.unwrap_or_default(),
    })
}
