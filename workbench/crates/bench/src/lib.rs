//! Benchmarks: what the workbench costs, measured on this machine (`workbench bench ...`).
//! Every section prints one JSON document in the [`figure::Section`] shape (plus its own keys)
//! and `bench all` runs each one as a child process.

pub mod all;
mod child;
pub mod cic_file;
pub mod clock;
mod dispatch;
pub(crate) mod error;
pub mod events;
pub mod events_report;
pub mod features;
pub mod figure;
pub mod live;
pub mod load;
mod load_polars;
mod machine;
pub mod markdown;
pub mod models;
mod nfstream;
pub mod pitfalls;
pub mod probe;
mod probe_report;
mod python;
pub mod train;
pub(crate) mod train_memory;
mod train_table;

pub use error::{Error, Result};

use error::err;
use serde::Serialize;
use serde_json::Value;

use figure::{Figure, Section};

/// A section's JSON document: its details' keys, then `section`, `figures` and `notes`.
pub fn section_json<T: Serialize>(
    section: &str,
    figures: Vec<Figure>,
    notes: Vec<String>,
    details: &T,
) -> Result<Value> {
    let mut doc = serde_json::to_value(details)
        .map_err(|e| Error::json(format!("the {section} benchmark's details"), e))?;
    let obj = doc
        .as_object_mut()
        .ok_or_else(|| err!(Invalid, "the {section} benchmark's details are not a JSON object"))?;
    let head = serde_json::to_value(Section {
        section: section.to_string(),
        figures,
        notes,
    })
    .map_err(|e| Error::json(format!("the {section} benchmark's figures"), e))?;
    if let Value::Object(head) = head {
        obj.extend(head);
    }
    Ok(doc)
}

/// What a section prints with `--json` when it cannot run here: `bench all` records it as
/// skipped with this reason.
pub fn skipped_json(section: &str, reason: &str) -> Value {
    serde_json::json!({
        "section": section,
        "skipped": reason,
        "figures": [],
        "notes": [],
    })
}

/// Whether this process may load BPF programs and make network namespaces; the reason if not.
pub fn kernel_unavailable(action: &str) -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some(format!("{action} needs root (BPF and network namespaces)"));
    }
    workbench_kernel::caps::require_load_access(action)
        .err()
        .map(|e| e.to_string())
}

/// The first `<ancestor>/<rel>` holding `marker`, searched above the current directory, this
/// executable and this crate (the repository's `bench/`, the sibling `shared/data`).
pub fn find_above(rel: &str, marker: &str) -> Option<std::path::PathBuf> {
    let starts = [
        std::env::current_dir().ok(),
        std::env::current_exe().ok(),
        Some(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))),
    ];
    starts.into_iter().flatten().find_map(|start| {
        start
            .ancestors()
            .map(|a| a.join(rel))
            .find(|d| d.join(marker).is_file())
    })
}
