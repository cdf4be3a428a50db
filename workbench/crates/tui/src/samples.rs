//! The sample captures the binary carries, for the TUI started from any folder: `./sample-pcaps`
//! when the working folder is a clone of the repository, else the generator's output (it is
//! deterministic: the same bytes as the committed files) written once into the user's cache
//! folder, `$XDG_CACHE_HOME/ebpf-ml-workbench/sample-pcaps`.

use std::path::{Path, PathBuf};

use crate::error::Result;

use crate::jobs;

/// Where the sample captures are.
pub struct Samples {
    pub dir: PathBuf,
}

/// `./sample-pcaps` if it holds labelled captures, else the cache copy (written if missing).
pub fn locate() -> Result<Samples> {
    let local = Path::new("sample-pcaps");
    if !jobs::sample_captures(local).is_empty() {
        return Ok(Samples {
            dir: local.to_path_buf(),
        });
    }
    let base = workbench_data::dataset::cache::user_cache_base().ok_or_else(|| {
        crate::error::Error::Missing(
            "no sample-pcaps/ here and no cache folder for generated ones (set XDG_CACHE_HOME or HOME)"
                .into(),
        )
    })?;
    let dir = base.join("ebpf-ml-workbench").join("sample-pcaps");
    if jobs::sample_captures(&dir).len() < workbench_flow::gen::Variant::ALL.len() {
        workbench_flow::gen::write_all(&dir, workbench_flow::gen::DEFAULT_SEED)?;
    }
    Ok(Samples { dir })
}
