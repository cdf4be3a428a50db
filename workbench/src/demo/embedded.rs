//! The demo's default dataset, compiled into the binary so that `workbench demo` needs no
//! download: a real CIC-IDS2017 slice (both classes, in time order), source and citation in
//! `workbench/data/README.md`. It is written out once to a cache file because the data loader
//! (the same as `workbench inspect`) reads files; an unchanged file keeps its modification time,
//! so the loader's parsed-table cache stays valid from one demo to the next.

use std::path::{Path, PathBuf};

use color_eyre::eyre::{Result, WrapErr};

/// File name of the embedded archive (the loader reads the CSV inside without unpacking).
pub const FILE_NAME: &str = "cic-ids2017-wednesday-slowloris.zip";
/// What the embedded slice is, for the summary and the screen.
pub const DESCRIPTION: &str =
    "CIC-IDS2017 Wednesday 9:48-10:10 (TrafficLabelling, 10 columns): 30,233 flows, BENIGN 24,445, DoS slowloris 5,788";
pub const CITATION: &str = "Sharafaldin, Lashkari, Ghorbani, \"Toward Generating a New Intrusion Detection Dataset and Intrusion Traffic Characterization\", ICISSP 2018";

pub static BYTES: &[u8] = include_bytes!("../../data/cic-ids2017-wednesday-slowloris.zip");

/// `$XDG_CACHE_HOME/ebpf-ml-workbench/demo` (or `~/.cache/...`), as the data cache picks its base.
pub fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
    Some(base.join("ebpf-ml-workbench").join("demo"))
}

/// Writes the embedded dataset (unless an identical copy is there) and returns its path: in the
/// cache directory when it is writable, else in `fallback` (the demo's scratch directory).
pub fn write(fallback: &Path) -> Result<PathBuf> {
    if let Some(dir) = cache_dir() {
        let path = dir.join(FILE_NAME);
        if std::fs::read(&path).is_ok_and(|b| b == BYTES) {
            return Ok(path);
        }
        if std::fs::create_dir_all(&dir).is_ok() && write_new(&path).is_ok() {
            return Ok(path);
        }
    }
    let path = fallback.join(FILE_NAME);
    write_new(&path)?;
    Ok(path)
}

fn write_new(path: &Path) -> Result<()> {
    write_whole(path, |tmp| {
        std::fs::write(tmp, BYTES).wrap_err_with(|| format!("writing {}", tmp.display()))
    })
}

/// Writes `path` through `write` to a temporary name, then renames: a reader (another demo
/// sharing the cache folder) never sees half a file.
pub fn write_whole(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    write(&tmp)?;
    std::fs::rename(&tmp, path).wrap_err_with(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_dataset_loads_with_both_classes() {
        let dir = std::env::temp_dir().join(format!("wb-embedded-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join(FILE_NAME);
        write_new(&path).expect("write");
        let ds = workbench_data::dataset::load(
            &[path],
            &workbench_data::dataset::LoadOptions {
                no_cache: true,
                ..Default::default()
            },
        )
        .expect("the embedded zip loads");
        assert_eq!(ds.rows(), 30_233);
        let attacks = ds.malicious.iter().filter(|m| **m).count();
        assert_eq!(attacks, 5_788);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
