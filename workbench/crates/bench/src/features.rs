//! `workbench bench features`: feature extraction from captures (`workbench features`, run as
//! a child process exactly as a user runs it) against `tshark -T fields` extracting the 5-tuple
//! and the frame length from the same file, in packets per second of wall time (process start
//! included for both). Inputs: the real SYN flood capture in ../shared/data and a synthetic
//! capture of about 1 GB (50 MB with `--quick`); the peak resident memory of the extraction at
//! 100 MB and at 1 GB (10 MB and 50 MB with `--quick`), each in its own process, shows whether
//! memory grows with the file.
//!
//! The synthetic capture is made once into target/bench-data/ by the project's own generator
//! (`gen::generate`, honest variant, a fixed list of seeds): blocks of generated traffic, each
//! shifted in time after the previous one, cycling through the seeds. Flows of a seed recur in
//! later blocks with the same 5-tuple, so the file grows while the number of distinct flows
//! stays at that of the seeds: memory that grows with it would be the reader's or the writer's,
//! not the flow table's (which grows with distinct flows, by design: features at a flow's last
//! packet need every flow until the end).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{err, fail, Context, Error, Result};
use serde::Serialize;

use super::child::{self, ChildRun};
use super::figure::Figure;
use super::nfstream::{self, NfstreamRun};
use super::python::Baseline;
use workbench_flow::gen::{self, Variant};

pub const MB: u64 = 1_000_000;
/// Seeds of the synthetic capture's blocks (changing them changes the file: bump the version).
const SEEDS: [u64; 8] = [101, 102, 103, 104, 105, 106, 107, 108];
const SYNTHETIC_VERSION: u32 = 1;
pub const TARGET_RATIO: f64 = 10.0;
/// Flat memory: the larger file may take at most 25% more peak memory than the smaller one.
pub const FLAT_RATIO: f64 = 0.8;

/// The fields tshark extracts: frame length and the 5-tuple.
pub const TSHARK_FIELDS: [&str; 8] = [
    "frame.len",
    "ip.src",
    "ip.dst",
    "ip.proto",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
];

/// The repository's root (this crate is <root>/workbench/crates/bench), where target/ and
/// ../shared/data are found.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(3)
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

pub fn bench_data_dir() -> PathBuf {
    repo_root().join("target").join("bench-data")
}

pub fn synflood_capture() -> PathBuf {
    repo_root().join("../shared/data/pcaps/synflood-spoofed.pcap")
}

/// Writes (once) a synthetic capture of at least `bytes` bytes; returns its path.
pub fn synthetic_capture(bytes: u64) -> Result<PathBuf> {
    let dir = bench_data_dir();
    std::fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("synthetic-v{SYNTHETIC_VERSION}-{}MB.pcap", bytes / MB));
    if std::fs::metadata(&path).is_ok_and(|m| m.len() >= bytes) {
        return Ok(path);
    }
    eprintln!(
        "bench features: generating {} ({} MB, once)",
        path.display(),
        bytes / MB
    );
    let tmp = path.with_extension(format!("pcap.tmp{}", std::process::id()));
    let result = write_synthetic(&tmp, bytes);
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &path).context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(path)
}

fn write_synthetic(path: &Path, bytes: u64) -> Result<()> {
    let sets: Vec<_> = SEEDS.iter().map(|&s| gen::generate(Variant::Honest, s)).collect();
    let header = sets[0].pcap_bytes();
    let header = header
        .get(..24)
        .ok_or_else(|| err!(Measure, "the generator wrote no pcap header"))?;
    // One block lasts as long as the longest seed's capture, plus a second.
    let span_ns = sets
        .iter()
        .map(|d| match (d.frames.first(), d.frames.last()) {
            (Some(a), Some(b)) => b.ts_ns - a.ts_ns,
            _ => 0,
        })
        .max()
        .unwrap_or(0)
        + 1_000_000_000;
    let file = std::fs::File::create(path).context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    write_blocks(&mut out, header, &sets, span_ns, bytes).context(|| format!("writing {}", path.display()))
}

/// The pcap header, then the seeds' frames block after block until `bytes` are written.
fn write_blocks(
    out: &mut impl Write,
    header: &[u8],
    sets: &[gen::Dataset],
    span_ns: u64,
    bytes: u64,
) -> std::io::Result<()> {
    out.write_all(header)?;
    let mut written = header.len() as u64;
    let mut block = 0u64;
    while written < bytes {
        let set = &sets[(block as usize) % sets.len()];
        let base = set.frames.first().map_or(0, |f| f.ts_ns);
        for f in &set.frames {
            // Same layout as the generator's writer: microsecond little-endian pcap.
            let ts = f.ts_ns - base + sets[0].frames.first().map_or(0, |f| f.ts_ns) + block * span_ns;
            let len = f.data.len() as u32;
            out.write_all(&((ts / 1_000_000_000) as u32).to_le_bytes())?;
            out.write_all(&(((ts % 1_000_000_000) / 1000) as u32).to_le_bytes())?;
            out.write_all(&len.to_le_bytes())?;
            out.write_all(&len.to_le_bytes())?;
            out.write_all(&f.data)?;
            written += 16 + f.data.len() as u64;
        }
        block += 1;
    }
    out.flush()
}

/// One measured run of a tool on a capture.
#[derive(Debug, Clone, Serialize)]
pub struct ToolRun {
    pub tool: &'static str,
    pub capture: String,
    pub capture_bytes: u64,
    pub packets: u64,
    pub wall_ns: u64,
    pub cpu_ns: u64,
    pub packets_per_s: f64,
    pub peak_rss_bytes: u64,
    /// The tool's own time inside its process, where it reports one (ours: `elapsed_ns`;
    /// NFStream: its script's `seconds`); tshark reports none.
    pub in_process_ns: Option<u64>,
}

impl ToolRun {
    /// A child's run of `tool` over `capture`, rated in `packets` per second of its wall time.
    pub fn measured(
        tool: &'static str,
        capture: &Path,
        packets: u64,
        run: &ChildRun,
        in_process_ns: Option<u64>,
    ) -> Result<ToolRun> {
        Ok(ToolRun {
            tool,
            capture: capture.display().to_string(),
            capture_bytes: std::fs::metadata(capture)
                .context(|| capture.display().to_string())?
                .len(),
            packets,
            wall_ns: run.wall_ns,
            cpu_ns: run.cpu_ns,
            packets_per_s: packets as f64 / (run.wall_ns.max(1) as f64 / 1e9),
            peak_rss_bytes: run.peak_rss_bytes,
            in_process_ns,
        })
    }
}

fn failed(what: &str, run: &ChildRun) -> Error {
    err!(
        Child,
        "{what} failed ({}): {}",
        run.describe_exit(),
        run.stderr.lines().last().unwrap_or("")
    )
}

/// `workbench features CAPTURE -o OUT.csv --json` in a child process.
fn workbench_features(capture: &Path, out_dir: &Path) -> Result<ToolRun> {
    let out = out_dir.join("features.csv");
    let mut cmd = child::workbench_command()?;
    cmd.arg("features").arg(capture).arg("-o").arg(&out).arg("--json");
    let run = child::run(cmd, None, None)?;
    if !run.success() {
        return Err(failed(&format!("workbench features {}", capture.display()), &run));
    }
    let doc: serde_json::Value = serde_json::from_slice(&run.stdout)
        .map_err(|e| Error::json("workbench features --json printed no JSON", e))?;
    let packets = doc["packets"]
        .as_u64()
        .ok_or_else(|| err!(Child, "workbench features --json has no `packets`"))?;
    let _ = std::fs::remove_file(&out);
    ToolRun::measured(
        "workbench features",
        capture,
        packets,
        &run,
        doc["elapsed_ns"].as_u64(),
    )
}

/// `tshark -T fields` in a child process, its output into a file (as ours goes to one).
fn tshark(capture: &Path, out_dir: &Path, packets: u64) -> Result<ToolRun> {
    let out = out_dir.join("tshark.tsv");
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(capture).args(["-T", "fields"]);
    for f in TSHARK_FIELDS {
        cmd.args(["-e", f]);
    }
    let run = child::run(cmd, Some(&out), None)?;
    if !run.success() {
        return Err(failed(&format!("tshark -r {}", capture.display()), &run));
    }
    // One line per packet: tshark saw the same packets as the extraction.
    let lines = count_lines(&out)?;
    let _ = std::fs::remove_file(&out);
    if lines != packets {
        fail!(
            Measure,
            "tshark printed {lines} lines for {} but the extraction read {packets} packets",
            capture.display()
        );
    }
    ToolRun::measured("tshark -T fields", capture, packets, &run, None)
}

fn count_lines(path: &Path) -> Result<u64> {
    count_lines_in(path).context(|| format!("reading {}", path.display()))
}

fn count_lines_in(path: &Path) -> std::io::Result<u64> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            return Ok(n);
        }
        n += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

/// The version line of tshark, or None when it cannot run.
pub fn tshark_version() -> Option<String> {
    let out = Command::new("tshark").arg("--version").output().ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub name: String,
    pub ours: ToolRun,
    pub tshark: ToolRun,
    /// NFStream's median run, where it ran on this capture (docs: quick mode runs it on the
    /// real capture only).
    pub nfstream: Option<NfstreamRun>,
    /// Runs of each tool (the median run by wall time is reported).
    pub runs: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct FeaturesBench {
    pub quick: bool,
    pub tshark_version: String,
    pub comparisons: Vec<Comparison>,
    pub nfstream_version: Option<String>,
    /// Why NFStream did not run (not installable, failed), if it did not.
    pub nfstream_skipped: Option<String>,
    /// The extraction on the smaller and the larger synthetic capture, for memory.
    pub memory_small: ToolRun,
    pub memory_large: ToolRun,
}

fn median_run(mut runs: Vec<ToolRun>) -> Result<ToolRun> {
    runs.sort_by_key(|r| r.wall_ns);
    let n = runs.len();
    runs.into_iter().nth(n / 2).ok_or_else(|| err!(Measure, "no run"))
}

/// NFStream for the captures it runs on: the baseline, or why it is skipped; its version.
type Nf = std::result::Result<(Baseline, Option<String>), String>;

fn compare(
    name: &str,
    capture: &Path,
    runs: usize,
    out_dir: &Path,
    mut nf: Option<&mut Nf>,
) -> Result<Comparison> {
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut nf_runs = Vec::new();
    for _ in 0..runs {
        eprintln!("bench features: {name}: workbench features");
        let o = workbench_features(capture, out_dir)?;
        eprintln!("bench features: {name}: tshark");
        theirs.push(tshark(capture, out_dir, o.packets)?);
        if let Some(Ok((b, version))) = nf.as_deref_mut() {
            eprintln!("bench features: {name}: NFStream");
            match nfstream::run(b, capture, o.packets) {
                Ok((r, v)) => {
                    nf_runs.push(r);
                    *version = Some(v);
                }
                // Reported as the baseline's skip reason; tshark's figures still stand.
                Err(e) => {
                    if let Some(nf) = nf.as_deref_mut() {
                        *nf = Err(format!("NFStream failed on {name}: {e:#}"));
                    }
                    nf_runs.clear();
                }
            }
        }
        ours.push(o);
    }
    nf_runs.sort_by_key(|r| r.run.wall_ns);
    let n = nf_runs.len();
    Ok(Comparison {
        name: name.to_string(),
        ours: median_run(ours)?,
        tshark: median_run(theirs)?,
        nfstream: nf_runs.into_iter().nth(n / 2),
        runs,
    })
}

/// Runs the section. The reason to skip when tshark is missing.
pub fn run(quick: bool) -> Result<std::result::Result<FeaturesBench, String>> {
    let Some(tshark_version) = tshark_version() else {
        return Ok(Err(
            "tshark is not installed (Debian: apt-get install tshark); it is the baseline".into(),
        ));
    };
    let (small, large) = if quick {
        (10 * MB, 50 * MB)
    } else {
        (100 * MB, 1_000 * MB)
    };
    let large_path = synthetic_capture(large)?;
    let small_path = synthetic_capture(small)?;
    let out_dir = bench_data_dir().join(format!("out-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).context(|| format!("creating {}", out_dir.display()))?;
    let mut nf: Nf = nfstream::prepare()
        .map(|b| (b, None))
        .map_err(|e| format!("{e:#}"));
    let result = (|| -> Result<FeaturesBench> {
        let mut comparisons = Vec::new();
        let synflood = synflood_capture();
        if synflood.exists() {
            comparisons.push(compare(
                "synflood-spoofed.pcap",
                &synflood,
                if quick { 1 } else { 3 },
                &out_dir,
                Some(&mut nf),
            )?);
        }
        // NFStream reads about 60k packets/s: on the large capture only in the full run.
        comparisons.push(compare(
            &format!("synthetic {} MB", large / MB),
            &large_path,
            1,
            &out_dir,
            (!quick).then_some(&mut nf),
        )?);
        eprintln!("bench features: memory at {} MB", small / MB);
        let memory_small = workbench_features(&small_path, &out_dir)?;
        // The large run of the comparison measured the large file's memory alone already.
        let memory_large = comparisons
            .last()
            .map(|c| c.ours.clone())
            .ok_or_else(|| err!(Measure, "no run on the large capture"))?;
        let (nfstream_version, nfstream_skipped) = match &nf {
            Ok((_, v)) => (v.clone(), None),
            Err(why) => (None, Some(why.clone())),
        };
        if nfstream_skipped.is_some() {
            // A failure on a later capture discards the earlier captures' runs too: one
            // baseline, run on every capture or on none.
            for c in &mut comparisons {
                c.nfstream = None;
            }
        }
        Ok(FeaturesBench {
            quick,
            tshark_version,
            comparisons,
            nfstream_version,
            nfstream_skipped,
            memory_small,
            memory_large,
        })
    })();
    let _ = std::fs::remove_dir_all(&out_dir);
    result.map(Ok)
}

/// A capture's name as a figure name's suffix: `synflood-spoofed.pcap` ->
/// `synflood_spoofed_pcap`, `synthetic 1000 MB` -> `synthetic_1000_MB`.
pub fn figure_key(name: &str) -> String {
    name.split([' ', '.'])
        .collect::<Vec<_>>()
        .join("_")
        .replace('-', "_")
}

pub fn figures(b: &FeaturesBench) -> Vec<Figure> {
    let mut figures = Vec::new();
    for c in &b.comparisons {
        let key = figure_key(&c.name);
        let f = Figure::versus(
            &format!("features_packets_per_s_{key}"),
            c.ours.packets_per_s,
            "packets_per_s",
            "tshark -T fields (5-tuple + frame.len)",
            c.tshark.packets_per_s,
            true,
        );
        let met = f.ratio.is_some_and(|r| r >= TARGET_RATIO);
        figures.push(f.with_target(&format!(">= {TARGET_RATIO}x tshark"), met));
        // NFStream runs where its target is judged: the real capture, the 1 GB one (full run).
        if let Some(nf) = &c.nfstream {
            figures.extend(nfstream::figures(&key, &c.ours, &nf.run));
        }
    }
    let (s, l) = (&b.memory_small, &b.memory_large);
    let f = Figure::versus(
        &format!("features_peak_rss_bytes_{}MB", l.capture_bytes / MB),
        l.peak_rss_bytes as f64,
        "bytes",
        &format!("peak RSS on {} MB", s.capture_bytes / MB),
        s.peak_rss_bytes as f64,
        false,
    );
    let met = f.ratio.is_some_and(|r| r >= FLAT_RATIO);
    figures.push(f.with_target(&format!(">= {FLAT_RATIO}x (flat: at most 25% more memory)"), met));
    figures
}

pub fn notes(b: &FeaturesBench) -> Vec<String> {
    let mut notes = vec![format!(
        "packets/s are packets over the wall time of the whole process (start, read, write the \
         output file) for both tools; baseline {}",
        b.tshark_version
    )];
    if b.quick {
        notes.push(format!(
            "quick mode: synthetic captures of {} MB and {} MB instead of 100 MB and 1 GB",
            b.memory_small.capture_bytes / MB,
            b.memory_large.capture_bytes / MB
        ));
    }
    for c in &b.comparisons {
        notes.push(format!(
            "{}: {} packets; workbench {:.0} packets/s ({} MiB peak), tshark {:.0} packets/s ({} MiB peak)",
            c.name,
            c.ours.packets,
            c.ours.packets_per_s,
            c.ours.peak_rss_bytes >> 20,
            c.tshark.packets_per_s,
            c.tshark.peak_rss_bytes >> 20
        ));
        if let Some(nf) = &c.nfstream {
            notes.push(nfstream::note(&c.name, &c.ours, nf));
        }
    }
    match (&b.nfstream_skipped, &b.nfstream_version) {
        (Some(why), _) => notes.push(format!("NFStream baseline skipped: {why}")),
        (None, Some(v)) => notes.push(format!(
            "NFStream {v} (bench/nfstream_features.py, statistical_analysis=True, bench/.venv) on {}; \
             process included = the whole Python process, in process = from creating the streamer \
             to its last flow (ours: `elapsed_ns` of `workbench features --json`)",
            if b.quick {
                "the real capture only (quick mode)"
            } else {
                "the real capture and the large synthetic one"
            }
        )),
        (None, None) => {}
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_capture_is_deterministic_and_parses() {
        let dir = std::env::temp_dir().join(format!("ebml-synth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (a, b) = (dir.join("a.pcap"), dir.join("b.pcap"));
        write_synthetic(&a, 3 * MB).expect("a");
        write_synthetic(&b, 3 * MB).expect("b");
        let (x, y) = (std::fs::read(&a).expect("read"), std::fs::read(&b).expect("read"));
        assert_eq!(x, y, "same seeds, same bytes");
        assert!(x.len() as u64 >= 3 * MB);
        // Every record parses and time never goes backwards across blocks.
        let reader = workbench_flow::capture::open(&a, false).expect("opens");
        let (mut n, mut last) = (0u64, 0u64);
        for p in reader {
            let p = p.expect("record");
            assert!(p.ts_ns >= last, "packet {n} goes back in time");
            last = p.ts_ns;
            n += 1;
        }
        assert!(n > 9_699, "more than one block: {n}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
