//! `workbench probe cleanup`: removes everything the project left in the kernel, whatever state
//! it is in (a killed process, a deleted interface, an older pin layout): every pinned link,
//! program and map under the project's bpffs directory, then the lab namespaces and links.
//! TCX links are pinned, so removing their pins detaches them; the project makes no cls_bpf
//! filters or qdiscs.

use std::path::Path;

use color_eyre::eyre::{eyre, Result};
use serde::Serialize;

use super::{bpffs, caps};

#[derive(Debug, Clone, Default, Serialize)]
pub struct CleanupReport {
    /// Pinned objects removed (paths under the project's bpffs directory).
    pub removed_pins: Vec<String>,
    pub removed_namespaces: Vec<String>,
    pub removed_links: Vec<String>,
}

/// Removes `dir` recursively, link pins before anything else in each directory (removing a link
/// pin detaches the program before its maps go).
fn remove_tree(dir: &Path, removed: &mut Vec<String>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| eyre!("reading {}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
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
            remove_tree(&path, removed)?;
        } else {
            std::fs::remove_file(&path).map_err(|e| eyre!("removing {}: {e}", path.display()))?;
            removed.push(path.display().to_string());
        }
    }
    std::fs::remove_dir(dir).map_err(|e| eyre!("removing {}: {e}", dir.display()))
}

pub fn cleanup() -> Result<CleanupReport> {
    caps::require_kernel_access("probe cleanup")?;
    let mut report = CleanupReport::default();
    let project = Path::new(bpffs::PROJECT_DIR);
    if project.exists() {
        remove_tree(project, &mut report.removed_pins)?;
    }
    bpffs::tidy();
    let lab = crate::lab::replay_lab::down(None)?;
    report.removed_namespaces = lab.removed_namespaces;
    report.removed_links = lab.removed_links;
    Ok(report)
}
