//! The parsed, cleaned table cached as Parquet, keyed by a fingerprint of its sources (path,
//! size, modification time) and of the options that change the result. A changed file changes
//! the key, so a stale cache is never read; old entries are simply left behind.

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::clean::Meta;
use super::source::SourceFile;
use super::{DataError, LoadOptions};

/// Bump when the cleaned layout changes, so older caches are not read.
const CACHE_VERSION: &str = "data-cache-v2";

/// FNV-1a: stable across Rust releases, unlike `DefaultHasher`, so keys survive an upgrade.
fn fnv1a(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x0100_0000_01b3);
    }
    *h ^= 0xff;
    *h = h.wrapping_mul(0x0100_0000_01b3);
}

pub fn fingerprint(files: &[SourceFile], opts: &LoadOptions) -> Result<String, DataError> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    fnv1a(&mut h, CACHE_VERSION.as_bytes());
    for f in files {
        let name = f.display_name();
        let meta =
            std::fs::metadata(&f.path).map_err(|e| DataError::file(&name, format!("cannot read: {e}")))?;
        let path = std::fs::canonicalize(&f.path).unwrap_or_else(|_| f.path.clone());
        fnv1a(&mut h, path.to_string_lossy().as_bytes());
        fnv1a(&mut h, f.entry.as_deref().unwrap_or("").as_bytes());
        fnv1a(&mut h, &meta.len().to_le_bytes());
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        fnv1a(&mut h, &mtime.to_le_bytes());
    }
    fnv1a(&mut h, format!("{:?}", opts.kind).as_bytes());
    fnv1a(&mut h, opts.label.as_deref().unwrap_or("").as_bytes());
    fnv1a(&mut h, &[u8::from(opts.drop_duplicates)]);
    Ok(format!("{h:016x}"))
}

pub fn dir(opts: &LoadOptions) -> Option<PathBuf> {
    if let Some(d) = &opts.cache_dir {
        return Some(d.clone());
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
    Some(base.join("ebpf-ml-workbench").join("datasets"))
}

/// The cached table and its metadata, or None on any miss or damage (then the files are read).
pub fn read(opts: &LoadOptions, key: &str) -> Option<(DataFrame, Meta)> {
    let d = dir(opts)?;
    let meta: Meta = serde_json::from_slice(&std::fs::read(d.join(format!("{key}.json"))).ok()?).ok()?;
    let frame = ParquetReader::new(File::open(d.join(format!("{key}.parquet"))).ok()?)
        .finish()
        .ok()?;
    Some((frame, meta))
}

pub fn write(opts: &LoadOptions, key: &str, frame: &DataFrame, meta: &Meta) -> Result<(), String> {
    let d = dir(opts).ok_or("no cache directory (set XDG_CACHE_HOME or HOME)")?;
    std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    // Written under a temporary name and renamed: a reader never sees half a file.
    let tmp = d.join(format!("{key}.parquet.tmp{}", std::process::id()));
    let mut f = File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    ParquetWriter::new(&mut f)
        .finish(&mut frame.clone())
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    let json = serde_json::to_vec(meta).map_err(|e| e.to_string())?;
    std::fs::write(d.join(format!("{key}.json")), json).map_err(|e| format!("{}: {e}", d.display()))?;
    std::fs::rename(&tmp, d.join(format!("{key}.parquet"))).map_err(|e| format!("{}: {e}", d.display()))?;
    Ok(())
}
