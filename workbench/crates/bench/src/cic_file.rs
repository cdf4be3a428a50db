//! A CIC-IDS2017-sized CSV for the loading and pitfall benchmarks, built from the real rows in
//! `../shared/data` (the full 1.1 GB dataset is not shipped).
//!
//! What it is, exactly: the genuine "TrafficLabelling" rows of the Friday DDoS and PortScan files
//! (`friday-ddos-labelled-flows-head300.csv`, `friday-ddos-attack-rows-1000.csv`,
//! `friday-portscan-attack-rows-1000.csv`: 2,299 rows of 85 columns) cut to the 79 columns of
//! CIC's own "MachineLearningCVE" files (which are those files without `Flow ID`, `Source IP`,
//! `Source Port`, `Destination IP`, `Protocol` and `Timestamp`), then resampled: each output line
//! is one of those lines drawn uniformly with replacement by a ChaCha8 stream of a fixed seed.
//! Every value keeps its original text (`Infinity`, `6.0`, ...); the header is the real one with
//! its leading spaces and its repeated `Fwd Header Length`. Only rows are repeated, so every
//! line occurs about 1,200 times: the duplicate detector fires on it, as it should.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use workbench_data::dataset::detect::column_key;

use crate::error::{err, fail, Context, Error, Result};

/// Rows of the eight MachineLearningCVE files of CIC-IDS2017 together.
pub const CIC_ROWS: usize = 2_830_743;
/// The `--quick` size.
pub const QUICK_ROWS: usize = 200_000;
pub const DEFAULT_SEED: u64 = 2017;
/// Bump when the construction changes, so that an older file is not reused.
const FORMAT: &str = "v1";

const SOURCES: [&str; 3] = [
    "cic-ids2017/friday-ddos-labelled-flows-head300.csv",
    "cic-ids2017/friday-ddos-attack-rows-1000.csv",
    "cic-ids2017/friday-portscan-attack-rows-1000.csv",
];

/// Columns of TrafficLabelling that MachineLearningCVE does not have.
const IDENTIFIERS: [&str; 6] = [
    "flowid",
    "sourceip",
    "sourceport",
    "destinationip",
    "protocol",
    "timestamp",
];

#[derive(Debug, Clone, Serialize)]
pub struct CicFile {
    pub path: PathBuf,
    pub rows: usize,
    pub columns: usize,
    pub seed: u64,
    pub size_bytes: u64,
    /// Distinct real lines it was resampled from.
    pub source_lines: usize,
    pub sources: Vec<String>,
    /// True when an existing file of the same rows and seed was used.
    pub reused: bool,
    pub build_ms: u64,
}

/// `../shared/data`: `$WORKBENCH_SHARED_DATA`, else the first `shared/data` holding SOURCES.md
/// above the current directory or the executable (the repository sits beside `shared/`).
pub fn shared_data_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("WORKBENCH_SHARED_DATA") {
        return Some(PathBuf::from(d));
    }
    super::find_above("shared/data", "SOURCES.md")
}

/// `target/bench-data` of the build that runs (never committed), else the user cache.
pub fn bench_data_dir() -> PathBuf {
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(t).join("bench-data");
    }
    let exe = std::env::current_exe().ok();
    if let Some(target) = exe.as_deref().and_then(|e| {
        e.ancestors()
            .find(|a| a.file_name().is_some_and(|n| n == "target"))
    }) {
        return target.join("bench-data");
    }
    workbench_data::dataset::cache::user_cache_base()
        .unwrap_or_else(std::env::temp_dir)
        .join("ebpf-ml-workbench")
        .join("bench-data")
}

fn split(line: &[u8]) -> Vec<&[u8]> {
    line.split(|&b| b == b',').collect()
}

/// The real lines cut to the MachineLearningCVE columns, and that layout's header line.
fn source_lines(data: &Path) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let mut header: Option<Vec<u8>> = None;
    let mut lines = Vec::new();
    for rel in SOURCES {
        let path = data.join(rel);
        let name = path.display().to_string();
        let text = std::fs::read(&path).map_err(|e| Error::io(format!("{name}: cannot read"), e))?;
        let mut it = text.split(|&b| b == b'\n');
        let head = it.next().ok_or_else(|| err!(Invalid, "{name}: empty"))?;
        let head = head.strip_suffix(b"\r").unwrap_or(head);
        let names = split(head);
        if names.len() != 85 {
            fail!(
                Invalid,
                "{name}: header has {} columns, a TrafficLabelling file has 85",
                names.len()
            );
        }
        let keep: Vec<bool> = names
            .iter()
            .map(|n| !IDENTIFIERS.contains(&column_key(&String::from_utf8_lossy(n)).as_str()))
            .collect();
        let cut = |fields: &[&[u8]]| -> Vec<u8> {
            let kept: Vec<&[u8]> = fields
                .iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(f, _)| *f)
                .collect();
            kept.join(&b","[..])
        };
        // The first file's header (leading spaces and all) is the real files' spelling.
        header.get_or_insert_with(|| cut(&names));
        for (i, line) in it.enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let fields = split(line);
            if fields.len() != 85 {
                fail!(
                    Invalid,
                    "{name}: line {} has {} fields, expected 85",
                    i + 2,
                    fields.len()
                );
            }
            lines.push(cut(&fields));
        }
    }
    let header = header.ok_or_else(|| err!(Invalid, "no source file"))?;
    Ok((header, lines))
}

/// Builds the file into `dir`, or reuses the one already there for the same rows and seed (it
/// is written under a temporary name and renamed, so an existing file is complete).
pub fn build_or_reuse(dir: &Path, data: &Path, rows: usize, seed: u64) -> Result<CicFile> {
    let started = std::time::Instant::now();
    let path = dir.join(format!(
        "cic-ids2017-resampled-{FORMAT}-rows{rows}-seed{seed}.csv"
    ));
    let (header, lines) = source_lines(data)?;
    let sources = SOURCES
        .iter()
        .map(|s| data.join(s).display().to_string())
        .collect();
    let columns = split(&header).len();
    let done = |reused: bool| -> Result<CicFile> {
        let size_bytes = std::fs::metadata(&path)
            .context(|| path.display().to_string())?
            .len();
        Ok(CicFile {
            path: path.clone(),
            rows,
            columns,
            seed,
            size_bytes,
            source_lines: lines.len(),
            sources,
            reused,
            build_ms: started.elapsed().as_millis() as u64,
        })
    };
    if path.is_file() {
        return done(true);
    }
    std::fs::create_dir_all(dir).context(|| dir.display().to_string())?;
    let tmp = path.with_extension(format!("csv.tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
        w.write_all(&header)?;
        w.write_all(b"\n")?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for _ in 0..rows {
            let line = &lines[rng.random_range(0..lines.len())];
            w.write_all(line)?;
            w.write_all(b"\n")?;
        }
        w.into_inner()
            .map_err(std::io::IntoInnerError::into_error)?
            .sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(format!("{}: cannot write", tmp.display()), e));
    }
    std::fs::rename(&tmp, &path).context(|| path.display().to_string())?;
    done(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampled_file_has_79_columns_real_lines_and_is_reproducible() {
        let Some(data) = shared_data_dir() else {
            panic!("../shared/data not found (set WORKBENCH_SHARED_DATA)");
        };
        let (_, pool) = source_lines(&data).expect("sources");
        assert_eq!(pool.len(), 2_299);
        let tmp = tempfile::tempdir().expect("tempdir");
        let a = build_or_reuse(&tmp.path().join("a"), &data, 500, 7).expect("build");
        let b = build_or_reuse(&tmp.path().join("b"), &data, 500, 7).expect("build");
        assert!(!a.reused);
        assert_eq!(a.columns, 79);
        let text_a = std::fs::read(&a.path).expect("read");
        assert_eq!(
            text_a,
            std::fs::read(&b.path).expect("read"),
            "same seed, same bytes"
        );
        let lines: Vec<&[u8]> = text_a.split(|&c| c == b'\n').filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 501);
        assert!(lines[0].starts_with(b" Destination Port, Flow Duration"));
        for l in &lines[1..] {
            assert!(pool.iter().any(|p| p.as_slice() == *l), "not a real line");
        }
        let again = build_or_reuse(&tmp.path().join("a"), &data, 500, 7).expect("reuse");
        assert!(again.reused);
    }
}
