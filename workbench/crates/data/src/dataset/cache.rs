//! The parsed, typed table cached as an Arrow IPC file, keyed by a fingerprint of its sources
//! (path, size, modification time, inode and status-change time, and a hash of the first line,
//! the header) and of the options that change the result. A changed file changes the key, so a
//! stale cache is never read (the modification time alone is not enough: `cp -p`, `rsync -t`
//! and unpacking an archive set it back, while the kernel sets the status-change time); old
//! entries are simply left behind. Written uncompressed and read by memory mapping: the columns
//! are used where they lie in the page cache, not decoded (Parquet's decode was most of a
//! cached reload: docs/BENCHMARKS.md, "Loading"). A CIC-IDS2017 of 2.8 million rows is mostly
//! 8-byte floats, which compress poorly anyway.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::clean::Meta;
use super::source::SourceFile;
use super::{DataError, LoadOptions};

/// Bump when the cleaned layout changes, so older caches are not read (v5: a `;` file's
/// decimal commas read as numbers, a header's UTF-8 byte-order mark dropped; v6: each file's
/// first data line, so that `eval --flows-out` names a row's line; v7: each row's line, also
/// after blank lines and quoted line breaks; v8: a row is removed as blank only when its line
/// holds nothing but separators, so a projected read keeps a row empty only in its columns).
const CACHE_VERSION: &str = "data-cache-v8-ipc";
/// The cache file's extension.
const EXT: &str = "arrow";

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
        let meta = std::fs::metadata(&f.path).map_err(|e| DataError::io(&name, "cannot read", e))?;
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
        // A file rewritten or replaced with its old modification time put back: a new inode,
        // or the same one with a new status-change time (which no user call can set back).
        fnv1a(&mut h, &meta.dev().to_le_bytes());
        fnv1a(&mut h, &meta.ino().to_le_bytes());
        fnv1a(&mut h, &meta.ctime().to_le_bytes());
        fnv1a(&mut h, &meta.ctime_nsec().to_le_bytes());
        // The header too: a file rewritten within the clock's resolution at the same size.
        if f.entry.is_none() {
            fnv1a(&mut h, &first_line(&f.path));
        }
    }
    fnv1a(&mut h, format!("{:?}", opts.kind).as_bytes());
    fnv1a(&mut h, opts.label.as_deref().unwrap_or("").as_bytes());
    fnv1a(&mut h, &[u8::from(opts.drop_duplicates)]);
    // A table of some columns is another table: its own entry (none for all the columns, so
    // a full load's key is what it was).
    if let Some(columns) = &opts.columns {
        let mut keys: Vec<String> = columns.iter().map(|c| super::detect::column_key(c)).collect();
        keys.sort_unstable();
        keys.dedup();
        fnv1a(&mut h, b"columns");
        for k in keys {
            fnv1a(&mut h, k.as_bytes());
        }
    }
    Ok(format!("{h:016x}"))
}

/// `$XDG_CACHE_HOME`, else `$HOME/.cache`.
pub fn user_cache_base() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
}

/// The first line of a file (at most 64 KiB of it).
fn first_line(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut buf = vec![0u8; 64 << 10];
    let n = File::open(path).and_then(|mut f| f.read(&mut buf)).unwrap_or(0);
    buf.truncate(n);
    let end = buf.iter().position(|&b| b == b'\n').unwrap_or(n);
    buf.truncate(end);
    buf
}

pub fn dir(opts: &LoadOptions) -> Option<PathBuf> {
    if let Some(d) = &opts.cache_dir {
        return Some(d.clone());
    }
    Some(user_cache_base()?.join("ebpf-ml-workbench").join("datasets"))
}

/// The cached table and its metadata, or None on any miss or damage (then the files are read).
pub fn read(opts: &LoadOptions, key: &str) -> Option<(DataFrame, Meta, PathBuf)> {
    let d = dir(opts)?;
    let meta: Meta = serde_json::from_slice(&std::fs::read(d.join(format!("{key}.json"))).ok()?).ok()?;
    let path = d.join(format!("{key}.{EXT}"));
    // Some columns (`workbench train`): read into memory, not mapped, so that the columns can be
    // freed one by one once converted (mapped pages stay resident until the whole file is
    // unmapped); a few hundred MB read at disk or page-cache speed.
    let mapped = opts.columns.is_none().then(|| path.clone());
    // One chunk per written batch, used as they are (no rechunk: that would copy the table).
    let frame = IpcReader::new(File::open(&path).ok()?)
        .memory_mapped(mapped)
        .set_rechunk(false)
        .finish()
        .ok()?;
    Some((frame, meta, path))
}

/// Rows per record batch handed to the writer: a batch is made one chunk before it is written,
/// so the batch size bounds the extra memory.
const ROWS_PER_GROUP: usize = 128 * 1024;

/// Cache writes still running on their own thread (joined by [`wait_for_writes`]).
static PENDING: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>> = std::sync::Mutex::new(Vec::new());

/// Waits until every cache write started by this process is finished (the command's end, and
/// before any cache read, so that a second load in one process finds the first one's cache).
pub fn wait_for_writes() {
    let handles: Vec<_> = match PENDING.lock() {
        Ok(mut p) => p.drain(..).collect(),
        Err(_) => return,
    };
    for h in handles {
        let _ = h.join();
    }
}

/// Why the dataset cache was not written (the table itself is fine: a note, not a failure).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("no cache directory (set XDG_CACHE_HOME or HOME)")]
    NoDirectory,
    #[error("cannot start the cache writer")]
    Thread(#[source] std::io::Error),
    /// A file or folder of the cache could not be written.
    #[error("{}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", .path.display())]
    Ipc {
        path: PathBuf,
        #[source]
        source: PolarsError,
    },
    #[error("metadata")]
    Meta(#[source] serde_json::Error),
}

/// Starts writing the cache on its own thread and returns where it will be: the table is
/// usable now, and the cache costs the command no waiting unless it ends first. A reader never
/// sees half a file (written under a temporary name, renamed when complete).
pub fn write_in_background(
    opts: &LoadOptions,
    key: &str,
    frame: &DataFrame,
    meta: &Meta,
) -> Result<PathBuf, CacheError> {
    let d = dir(opts).ok_or(CacheError::NoDirectory)?;
    let path = d.join(format!("{key}.{EXT}"));
    let (opts, key, frame, meta) = (opts.clone(), key.to_string(), frame.clone(), meta.clone());
    let handle = std::thread::Builder::new()
        .name("dataset-cache".into())
        .spawn(move || {
            if let Err(e) = write(&opts, &key, &frame, &meta) {
                eprintln!("note: dataset cache not written: {}", crate::error_chain(&e));
            }
        })
        .map_err(CacheError::Thread)?;
    if let Ok(mut p) = PENDING.lock() {
        p.push(handle);
    }
    Ok(path)
}

/// Cache writes of this process so far, to name each one's temporary files.
static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Writes the table and its metadata; returns the cache file's path.
pub fn write(opts: &LoadOptions, key: &str, frame: &DataFrame, meta: &Meta) -> Result<PathBuf, CacheError> {
    let d = dir(opts).ok_or(CacheError::NoDirectory)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CacheError::Io { path, source }
    };
    std::fs::create_dir_all(&d).map_err(io(&d))?;
    sweep_dead_writes(&d, std::time::SystemTime::now());
    // Both files written under temporary names and renamed: a reader never sees half a file.
    // The names are this process's and this write's, so two loads of one table at once (two
    // threads, two processes) never write into one temporary file.
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = d.join(format!("{key}.{EXT}.tmp{}-{n}", std::process::id()));
    let result = write_ipc(&tmp, frame);
    if let Err(source) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(CacheError::Ipc { path: tmp, source });
    }
    let json = serde_json::to_vec(meta).map_err(CacheError::Meta)?;
    let json_tmp = d.join(format!("{key}.json.tmp{}-{n}", std::process::id()));
    let renamed = std::fs::write(&json_tmp, json)
        .and_then(|()| std::fs::rename(&json_tmp, d.join(format!("{key}.json"))));
    if let Err(e) = renamed {
        let _ = std::fs::remove_file(&json_tmp);
        let _ = std::fs::remove_file(&tmp);
        return Err(io(&d)(e));
    }
    let path = d.join(format!("{key}.{EXT}"));
    std::fs::rename(&tmp, &path).map_err(io(&d))?;
    Ok(path)
}

/// How long a dead process's temporary file is left alone: a write in progress touches its
/// file all the time, and a writer in another PID namespace (a container sharing the cache)
/// looks dead from here.
const DEAD_WRITE_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// Removes the temporary files (`KEY.EXT.tmpPID[-N]`, `KEY.json.tmpPID[-N]`) of writes whose
/// process is gone and that nothing touched for [`DEAD_WRITE_AGE`]: a load killed while its
/// cache was written left the table's size on disk for good (about 1 GB for the CIC-sized file).
fn sweep_dead_writes(d: &Path, now: std::time::SystemTime) {
    let Ok(entries) = std::fs::read_dir(d) else {
        return;
    };
    for entry in entries.filter_map(std::result::Result::ok) {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temporary_of) else {
            continue;
        };
        let idle = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok());
        let dead = pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists();
        if dead && idle.is_some_and(|i| i >= DEAD_WRITE_AGE) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The writer's pid of a cache temporary file's name (`...arrow.tmp123-4`, `...json.tmp123`).
fn temporary_of(name: &str) -> Option<u32> {
    let (base, tail) = name.rsplit_once(".tmp")?;
    // Our own names, exactly as written (lower case).
    let ext = Path::new(base).extension().and_then(|e| e.to_str());
    if !matches!(ext, Some(e) if e == EXT || e == "json") {
        return None;
    }
    let pid = tail.split_once('-').map_or(tail, |(pid, _)| pid);
    pid.parse().ok()
}

fn write_ipc(tmp: &Path, frame: &DataFrame) -> PolarsResult<()> {
    let f = std::io::BufWriter::new(File::create(tmp)?);
    let arrow_schema = frame.schema().to_arrow(CompatLevel::newest());
    let fields = polars_arrow::io::ipc::write::default_ipc_fields(arrow_schema.iter_values());
    let mut writer = IpcWriter::new(f).batched(frame.schema(), fields)?;
    let mut offset = 0;
    while offset < frame.height() {
        let len = ROWS_PER_GROUP.min(frame.height() - offset);
        let mut part = frame.slice(offset as i64, len);
        part.as_single_chunk();
        writer.write_batch(&part)?;
        offset += len;
    }
    writer.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{load, LoadOptions};

    /// Loads of one table at once (threads of a TUI, two commands) all miss the cache and all
    /// write it: each into its own temporary files, so the entry left is whole and the
    /// next load is served from it. With one temporary name per process the two writes went
    /// into one file, and the second rename failed.
    #[test]
    fn two_loads_at_once_leave_one_whole_cache_entry() {
        let dir = tempfile::tempdir().expect("dir");
        let csv = dir.path().join("t.csv");
        let mut text = String::from("a,b,c,Label\n");
        for i in 0..60_000u32 {
            text.push_str(&format!(
                "{i},{},{}.5,{}\n",
                i % 97,
                i % 13,
                if i % 3 == 0 { "attack" } else { "BENIGN" }
            ));
        }
        std::fs::write(&csv, text).expect("write");
        let opts = LoadOptions {
            cache_dir: Some(dir.path().join("cache")),
            ..Default::default()
        };
        let barrier = std::sync::Barrier::new(4);
        let loaded: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let ds = load(std::slice::from_ref(&csv), &opts).expect("load");
                        let meta = ds.meta_for_cleaning();
                        // The writes start together, three rounds of them.
                        barrier.wait();
                        let written: Vec<_> = (0..3)
                            .map(|_| {
                                super::write(&opts, "race", &ds.frame, &meta)
                                    .map_err(|e| crate::error_chain(&e))
                            })
                            .collect();
                        (ds, written)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        for (_, written) in &loaded {
            assert!(written.iter().all(Result::is_ok), "{written:?}");
        }
        let (frame, _, _) = super::read(&opts, "race").expect("a whole entry");
        assert!(frame.equals_missing(&loaded[0].0.frame));
    }

    /// A killed write's temporary files go once idle for ten minutes; a live process's, a fresh
    /// one's and anything else stay.
    #[test]
    fn a_dead_writes_temporary_files_are_swept() {
        let dir = tempfile::tempdir().expect("dir");
        let d = dir.path();
        // Above any pid_max: no such process.
        let dead = 4_194_305u32 + 7;
        let me = std::process::id();
        let names = [
            format!("k1.{}.tmp{dead}-3", super::EXT),
            format!("k1.json.tmp{dead}-3"),
            format!("k2.{}.tmp{dead}", super::EXT),
            format!("k3.{}.tmp{me}-0", super::EXT),
            format!("k4.{}", super::EXT),
            "notes.tmp1".to_string(),
        ];
        for n in &names {
            std::fs::write(d.join(n), b"x").expect("write");
        }
        let now = std::time::SystemTime::now();
        super::sweep_dead_writes(d, now);
        assert!(names.iter().all(|n| d.join(n).exists()), "nothing idle yet");
        super::sweep_dead_writes(d, now + super::DEAD_WRITE_AGE);
        let left: Vec<bool> = names.iter().map(|n| d.join(n).exists()).collect();
        assert_eq!(left, [false, false, false, true, true, true]);
    }
}
