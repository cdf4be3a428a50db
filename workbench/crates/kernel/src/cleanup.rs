//! `workbench probe cleanup`: removes everything the project left in the kernel, whatever state
//! it is in (a killed process, a deleted interface, an older pin layout): every pinned link,
//! program and map under the project's bpffs directory, then the lab namespaces and links.
//! TCX links are pinned, so removing their pins detaches them. cls_bpf filters (the classic tc
//! path) are not: each directory with a tc record has its filters, and the clsact qdisc the
//! probe added, removed first; a directory whose filters cannot be removed keeps its pins (the
//! record is what finds them) and the command fails naming it, after removing everything else.
//! `probe cleanup --stale` removes only what killed commands left (their claims say what, and
//! no live process holds the claim's lock): safe beside a running agent or another user's lab.

use std::path::{Path, PathBuf};

use crate::error::{fail, Context, Result};
use serde::Serialize;

use super::lifecycle::claims::{self, Object, Stale};
use super::{bpffs, caps, tc};

#[derive(Debug, Clone, Default, Serialize)]
pub struct CleanupReport {
    /// Pinned objects removed (paths under the project's bpffs directory).
    pub removed_pins: Vec<String>,
    pub removed_namespaces: Vec<String>,
    pub removed_links: Vec<String>,
    /// cls_bpf filters and clsact qdiscs of the classic path, and notes on what was gone.
    #[serde(flatten)]
    pub tc: tc::TcRemoval,
    /// Only what killed commands left was removed (`--stale`), nothing a live process holds.
    pub stale_only: bool,
    /// The killed commands whose leftovers were among what was removed (by their claims).
    pub leftovers: Vec<Stale>,
}

/// Directories under `dir` (itself included) that hold a tc record.
fn recorded_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    if dir.join(tc::PIN_TC_RECORD).exists() {
        out.push(dir.to_path_buf());
    }
    for entry in std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(std::result::Result::ok)
    {
        let path = entry.path();
        if path.is_dir() {
            recorded_dirs(&path, out);
        }
    }
}

/// Removes `dir` recursively except the directories in `keep` (and so their parents), link pins
/// before anything else in each directory (removing a link pin detaches the program before its
/// maps go).
fn remove_tree(dir: &Path, keep: &[PathBuf], removed: &mut Vec<String>) -> Result<()> {
    if keep.iter().any(|k| k == dir) {
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .context(|| format!("reading {}", dir.display()))?
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort_by_key(|p| {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (!name.starts_with("link"), name)
    });
    for path in entries {
        if path.is_dir() {
            remove_tree(&path, keep, removed)?;
        } else {
            std::fs::remove_file(&path).context(|| format!("removing {}", path.display()))?;
            removed.push(path.display().to_string());
        }
    }
    if keep.iter().any(|k| k.starts_with(dir)) {
        return Ok(());
    }
    std::fs::remove_dir(dir).context(|| format!("removing {}", dir.display()))
}

pub fn cleanup() -> Result<CleanupReport> {
    caps::require_kernel_access("probe cleanup")?;
    let mut report = CleanupReport {
        leftovers: claims::stale(),
        ..CleanupReport::default()
    };
    let project = Path::new(bpffs::PROJECT_DIR);
    // Filters first (while the lab namespaces they may live in still exist), then the pins.
    let mut recorded = Vec::new();
    recorded_dirs(project, &mut recorded);
    let mut kept = Vec::new();
    for dir in recorded {
        match tc::remove(&dir) {
            Ok(removal) => report.tc.extend(removal.unwrap_or_default()),
            Err(e) => kept.push((dir, format!("{e:#}"))),
        }
    }
    let keep: Vec<PathBuf> = kept.iter().map(|(d, _)| d.clone()).collect();
    if project.exists() {
        remove_tree(project, &keep, &mut report.removed_pins)?;
    }
    bpffs::tidy();
    let lab = crate::lab::replay_lab::down(None)?;
    report.removed_namespaces = lab.removed_namespaces;
    report.removed_links = lab.removed_links;
    if !kept.is_empty() {
        let what: Vec<String> = kept
            .iter()
            .map(|(d, e)| format!("{} ({e})", d.display()))
            .collect();
        fail!(
            State,
            "removed everything else, but kept the pins of {}: their cls_bpf filters could not be removed",
            what.join("; ")
        );
    }
    Ok(report)
}

/// Removes the objects of the claims whose owners are gone (`claims::stale`), each as its own
/// command would (`probe detach`, `lab down --id`), and then the claims. A probe first: its lab
/// goes after it, and a lab's `down` would otherwise detach it without saying which pins went.
pub fn cleanup_stale() -> Result<CleanupReport> {
    caps::require_kernel_access("probe cleanup --stale")?;
    let leftovers = claims::stale();
    let mut report = CleanupReport {
        stale_only: true,
        ..CleanupReport::default()
    };
    let objects = || leftovers.iter().flat_map(|s| s.objects.iter());
    for object in objects() {
        if let Object::Probe { iface } = object {
            match crate::probe::detach(iface) {
                Ok(d) => {
                    // Paths, as the whole cleanup reports them (detach names them in its dir).
                    let dir = bpffs::iface_dir(iface);
                    report
                        .removed_pins
                        .extend(d.removed_pins.iter().map(|p| dir.join(p).display().to_string()));
                    report.tc.extend(d.tc);
                }
                // Killed before anything was pinned: detach removed the empty directory.
                Err(_) if !bpffs::iface_dir(iface).exists() => {}
                Err(e) => return Err(e).context(|| format!("detaching the stale probe on {iface}")),
            }
        }
    }
    for object in objects() {
        match object {
            Object::Lab { id } => {
                let down = crate::lab::replay_lab::down(Some(id))?;
                report.removed_namespaces.extend(down.removed_namespaces);
                report.removed_links.extend(down.removed_links);
            }
            Object::Pins { dir } => {
                let dir = Path::new(bpffs::PROJECT_DIR).join(dir);
                if dir.exists() {
                    remove_tree(&dir, &[], &mut report.removed_pins)?;
                }
            }
            Object::Probe { .. } => {}
        }
    }
    bpffs::tidy();
    // Their objects gone, the dead claims are deleted by looking at them once more.
    let _ = claims::stale();
    report.leftovers = leftovers;
    Ok(report)
}
