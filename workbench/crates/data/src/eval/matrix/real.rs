//! The real evaluation set: every capture in ../shared/data/pcaps and pcaps/apps, in name order,
//! labelled file by file by bench/real-eval/labels.toml.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::super::{bail, io_error, Result};
use serde::Serialize;

use crate::eval::{capture::is_capture, EvalReport};

/// The capture files of the real set, sorted by path.
pub fn real_captures(shared_data: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for dir in [shared_data.join("pcaps"), shared_data.join("pcaps/apps")] {
        let entries = std::fs::read_dir(&dir).map_err(io_error(format!("reading {}", dir.display())))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_capture(p))
            .collect();
        files.sort();
        out.extend(files);
    }
    if out.is_empty() {
        bail!("{}: no capture in pcaps/ or pcaps/apps/", shared_data.display());
    }
    Ok(out)
}

/// What the real set holds, per capture.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RealSet {
    pub captures: usize,
    pub flows: u64,
    pub benign_flows: u64,
    /// Attack flows per label.
    pub attack_flows: BTreeMap<String, u64>,
    /// Per capture: file name, flows, benign flows, attack flows.
    pub files: Vec<(String, u64, u64, u64)>,
}

impl RealSet {
    pub fn of(r: &EvalReport) -> RealSet {
        let name = |f: &str| {
            let p = Path::new(f);
            let parent = p
                .parent()
                .and_then(|d| d.file_name())
                .and_then(|d| d.to_str())
                .filter(|&d| d == "apps");
            let file = p.file_name().and_then(|n| n.to_str()).unwrap_or(f);
            match parent {
                Some(d) => format!("{d}/{file}"),
                None => file.to_string(),
            }
        };
        RealSet {
            captures: r.files.len(),
            flows: r.labelled_flows,
            benign_flows: r.metrics.benign_flows,
            attack_flows: r
                .per_class
                .iter()
                .filter(|(_, s)| s.malicious)
                .map(|(c, s)| (c.clone(), s.flows))
                .collect(),
            files: r
                .files
                .iter()
                .map(|f| (name(&f.file), f.flows, f.benign_flows, f.attack_flows))
                .collect(),
        }
    }
}
