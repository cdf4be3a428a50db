//! The rows `workbench bench train` fits: the 40 kernel features at the probe's decision points
//! of generated captures (honest variant), so that classes overlap the way the honest captures
//! make them overlap and scikit-learn's depth-12 tree neither runs out of rows to split nor
//! reaches accuracy 1.0 (the CIC-IDS2017-sized file repeats 2,299 distinct rows: every model
//! scored 1.0 on it and the comparison measured little).
//!
//! One generated capture (`gen::generate`, honest, one seed) holds about 10,000 packets and
//! 9,000 decision-point samples, of which about 78% are distinct; the table takes seed after
//! seed (`seed`, `seed + 1`, ...: each a capture of its own, read with a fresh flow table by
//! `decision_points::from_captures`, the function `workbench train --at decision-points` reads
//! captures with) until it holds the wanted number of distinct rows. No noise is added: the
//! honest variant's overlap (scans that look like failed connections, floods that complete
//! their handshakes) is what keeps the accuracy below 1.0. Rows are split 70/30 by flow (a
//! flow's decision points all on one side), seeded, the same split for every model.
//!
//! The table is written once into target/bench-data/ (keyed by seed and distinct rows) as a CSV
//! of integers: the 40 features, `label` (1 malicious) and `is_test`; both the workbench and
//! scikit-learn read that file. A JSON file beside it says which seeds and how many flows.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::cic_file;
use crate::error::{err, Context, Error, Result};
use workbench_data::features::labels::CicOptions;
use workbench_data::train::decision_points::{self, DecisionConfig, Sampling};
use workbench_data::train::split;
use workbench_flow::gen::{self, Variant};

/// Changing what a table holds (features, sampling, split) changes the file: bump this.
const TABLE_VERSION: u32 = 1;
/// The kernel features every default model may use (ids 0..40; the VLAN id is opt-in).
pub const FEATURES: usize = 40;
const _: () = assert!(FEATURES == shared::features::VLAN_ID_FEATURE);
pub const TEST_SHARE: f64 = 0.3;

pub type Row = [i64; FEATURES];

/// How the table was made (the JSON beside it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provenance {
    pub variant: String,
    pub first_seed: u64,
    pub seeds: u64,
    pub flows: usize,
    pub test_flows: usize,
    pub decide_first: u32,
    pub decide_every: u32,
}

/// What the table holds, counted when it is read.
#[derive(Debug, Clone, Serialize)]
pub struct TableInfo {
    pub path: String,
    #[serde(flatten)]
    pub provenance: Provenance,
    pub rows: usize,
    /// Rows whose 40 feature values no earlier row has (labels not compared).
    pub distinct_rows: usize,
    pub malicious_rows: usize,
    pub malicious_share: f64,
    pub rows_train: usize,
    pub rows_test: usize,
}

/// The table in memory: column-major features as f64 (what both fitters take).
pub struct Table {
    pub info: TableInfo,
    pub columns: Vec<Vec<f64>>,
    pub y: Vec<bool>,
    pub train: Vec<usize>,
    pub test: Vec<usize>,
}

/// The number of distinct rows (exact: sorted, then adjacent repeats skipped).
pub fn distinct_rows<const N: usize>(rows: &[[i64; N]]) -> usize {
    let mut idx: Vec<usize> = (0..rows.len()).collect();
    idx.sort_unstable_by(|&a, &b| rows[a].cmp(&rows[b]));
    idx.windows(2).filter(|w| rows[w[0]] != rows[w[1]]).count() + usize::from(!rows.is_empty())
}

/// Per row, whether it is on the test side: `test_share` of the flows (rounded), drawn with
/// `seed` by the workbench's random split, each taking all its rows with it.
pub fn split_by_flow(flow: &[u32], test_share: f64, seed: u64) -> Vec<bool> {
    let flows = flow.iter().map(|&f| f as usize + 1).max().unwrap_or(0);
    let s = split::random(flows, test_share, seed);
    let mut test_flow = vec![false; flows];
    for f in s.test {
        test_flow[f] = true;
    }
    flow.iter().map(|&f| test_flow[f as usize]).collect()
}

/// 128 bits of a row (two keyed SipHashes): the running distinct count while the table grows,
/// where an exact set of 40-value rows would take half a gigabyte.
fn fingerprint(row: &Row) -> u128 {
    let half = |salt: u64| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        salt.hash(&mut h);
        row.hash(&mut h);
        h.finish()
    };
    (u128::from(half(0x9e37_79b9_7f4a_7c15)) << 64) | u128::from(half(0xbf58_476d_1ce4_e5b9))
}

fn table_path(seed: u64, distinct: usize) -> PathBuf {
    cic_file::bench_data_dir().join(format!(
        "train-decision-points-v{TABLE_VERSION}-honest-seed{seed}-distinct{distinct}.csv"
    ))
}

/// The table of at least `distinct` distinct rows for `seed`: read from target/bench-data/,
/// made there first when missing.
pub fn prepare(seed: u64, distinct: usize) -> Result<Table> {
    if distinct == 0 {
        return Err(Error::Invalid("--rows must be at least 1".into()));
    }
    let path = table_path(seed, distinct);
    let meta = path.with_extension("json");
    if !(path.is_file() && meta.is_file()) {
        eprintln!(
            "bench: building {} (decision points of generated captures, once)",
            path.display()
        );
        build(seed, distinct, &path, &meta)?;
    }
    read(&path, &meta)
}

struct Grown {
    rows: Vec<Row>,
    y: Vec<bool>,
    flow: Vec<u32>,
    seeds: u64,
}

/// Seed after seed until the rows hold `distinct` distinct feature vectors.
fn grow(seed: u64, distinct: usize, scratch: &Path) -> Result<Grown> {
    let config = DecisionConfig::default();
    let (pcap_name, labels_name) = gen::file_names(Variant::Honest);
    let pcap = scratch.join(pcap_name);
    let labels = scratch.join(labels_name);
    let mut g = Grown {
        rows: Vec::new(),
        y: Vec::new(),
        flow: Vec::new(),
        seeds: 0,
    };
    let mut seen: HashSet<u128> = HashSet::new();
    let mut next_flow = 0u32;
    // A seed gives thousands of new distinct rows; this many seeds without reaching the count
    // means the generator stopped giving new ones.
    let max_seeds = (distinct / 1_000 + 20) as u64;
    while seen.len() < distinct {
        if g.seeds >= max_seeds {
            return Err(err!(
                Measure,
                "{} generated captures (seeds {seed}..) gave {} distinct decision-point rows, fewer than the {distinct} asked for",
                g.seeds,
                seen.len()
            ));
        }
        let s = seed + g.seeds;
        let data = gen::generate(Variant::Honest, s);
        std::fs::write(&pcap, data.pcap_bytes()).context(|| pcap.display().to_string())?;
        std::fs::write(&labels, data.labels_csv()).context(|| labels.display().to_string())?;
        let samples = decision_points::from_captures(
            std::slice::from_ref(&pcap),
            None,
            &CicOptions::default(),
            Sampling::DecisionPoints(config),
            &|_, _| {},
        )
        .map_err(Error::data)
        .context(|| format!("decision points of the generated capture of seed {s}"))?;
        let ds = samples.ds;
        for (i, f) in ds.features.iter().enumerate() {
            let mut row = [0i64; FEATURES];
            row.copy_from_slice(&f[..FEATURES]);
            seen.insert(fingerprint(&row));
            g.rows.push(row);
            g.y.push(ds.malicious[i]);
            g.flow.push(next_flow + ds.flow[i]);
        }
        next_flow += samples.flows as u32;
        g.seeds += 1;
    }
    Ok(g)
}

fn build(seed: u64, distinct: usize, path: &Path, meta: &Path) -> Result<()> {
    let dir = cic_file::bench_data_dir();
    let scratch = dir.join(format!("train-gen-scratch-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).context(|| format!("creating {}", scratch.display()))?;
    let grown = grow(seed, distinct, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    let g = grown?;
    let is_test = split_by_flow(&g.flow, TEST_SHARE, seed);
    let flows = g.flow.iter().map(|&f| f as usize + 1).max().unwrap_or(0);
    let test_flows = split::random(flows, TEST_SHARE, seed).test.len();
    let tmp = path.with_extension(format!("csv.tmp{}", std::process::id()));
    let written = write_csv(&tmp, &g.rows, &g.y, &is_test).context(|| tmp.display().to_string());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let config = DecisionConfig::default();
    let provenance = Provenance {
        variant: Variant::Honest.name().into(),
        first_seed: seed,
        seeds: g.seeds,
        flows,
        test_flows,
        decide_first: config.decide_first,
        decide_every: config.decide_every,
    };
    let json =
        serde_json::to_string_pretty(&provenance).map_err(|e| Error::json("the table's provenance", e))?;
    std::fs::write(meta, json).context(|| meta.display().to_string())?;
    std::fs::rename(&tmp, path).context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

fn write_csv(path: &Path, rows: &[Row], y: &[bool], is_test: &[bool]) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let names: Vec<&str> = shared::features::FEATURES[..FEATURES]
        .iter()
        .map(|f| f.name)
        .collect();
    writeln!(w, "{},label,is_test", names.join(","))?;
    let mut line = String::new();
    for (r, row) in rows.iter().enumerate() {
        line.clear();
        for v in row {
            line.push_str(&v.to_string());
            line.push(',');
        }
        line.push_str(if y[r] { "1," } else { "0," });
        line.push_str(if is_test[r] { "1\n" } else { "0\n" });
        w.write_all(line.as_bytes())?;
    }
    w.flush()
}

fn read(path: &Path, meta: &Path) -> Result<Table> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(meta).context(|| meta.display().to_string())?;
    let provenance: Provenance =
        serde_json::from_str(&text).map_err(|e| Error::json(meta.display().to_string(), e))?;
    let file = std::fs::File::open(path).context(|| name.clone())?;
    let mut lines = std::io::BufReader::with_capacity(1 << 20, file).lines();
    let header = lines
        .next()
        .ok_or_else(|| err!(Invalid, "{name}: empty file"))?
        .context(|| name.clone())?;
    // A cached table of another layout (an older build's) is refused, not misread.
    let expected = shared::features::FEATURES[..FEATURES].iter().map(|f| f.name);
    if !header.split(',').take(FEATURES).eq(expected) {
        return Err(err!(
            Invalid,
            "{name}: its header is not the {FEATURES} kernel features in order; delete it and run again to rebuild it"
        ));
    }
    let mut rows: Vec<Row> = Vec::new();
    let mut y = Vec::new();
    let mut is_test = Vec::new();
    for (n, line) in lines.enumerate() {
        let line = line.context(|| name.clone())?;
        let bad = || {
            err!(
                Invalid,
                "{name}: line {}: expected {} comma-separated integers (features, label, is_test)",
                n + 2,
                FEATURES + 2
            )
        };
        let mut values = line.split(',').map(str::parse::<i64>);
        let mut row = [0i64; FEATURES];
        for slot in &mut row {
            *slot = values.next().and_then(Result::ok).ok_or_else(bad)?;
        }
        let label = values.next().and_then(Result::ok).ok_or_else(bad)?;
        let test = values.next().and_then(Result::ok).ok_or_else(bad)?;
        if values.next().is_some() {
            return Err(bad());
        }
        rows.push(row);
        y.push(label == 1);
        is_test.push(test == 1);
    }
    let distinct = distinct_rows(&rows);
    let columns: Vec<Vec<f64>> = (0..FEATURES)
        .map(|c| rows.iter().map(|r| r[c] as f64).collect())
        .collect();
    drop(rows);
    let (test, train): (Vec<usize>, Vec<usize>) = (0..y.len()).partition(|&i| is_test[i]);
    let malicious = y.iter().filter(|&&m| m).count();
    Ok(Table {
        info: TableInfo {
            path: name,
            provenance,
            rows: y.len(),
            distinct_rows: distinct,
            malicious_rows: malicious,
            malicious_share: malicious as f64 / y.len().max(1) as f64,
            rows_train: train.len(),
            rows_test: test.len(),
        },
        columns,
        y,
        train,
        test,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_rows_counts_each_repeated_row_once() {
        assert_eq!(distinct_rows::<2>(&[]), 0);
        assert_eq!(distinct_rows(&[[1, 2]]), 1);
        assert_eq!(
            distinct_rows(&[[1, 2], [2, 1], [1, 2], [1, 3], [2, 1], [1, 2]]),
            3
        );
        // Order of values matters; a negative value is a value.
        assert_eq!(distinct_rows(&[[0, -1], [-1, 0], [0, 1]]), 3);
    }

    #[test]
    fn fingerprints_tell_rows_apart_as_the_exact_count_does() {
        let mut rows: Vec<Row> = Vec::new();
        for i in 0..2_000i64 {
            let mut r = [0i64; FEATURES];
            r[i as usize % FEATURES] = i / 7;
            r[(i as usize * 3) % FEATURES] += i % 5;
            rows.push(r);
        }
        let set: HashSet<u128> = rows.iter().map(fingerprint).collect();
        assert_eq!(set.len(), distinct_rows(&rows));
        assert!(set.len() < rows.len(), "the rows repeat some values");
    }

    #[test]
    fn the_flow_split_keeps_every_flow_on_one_side() {
        // 100 flows of 1-5 rows each, interleaved.
        let mut flow = Vec::new();
        for round in 0..5u32 {
            for f in 0..100u32 {
                if f % 5 >= round {
                    flow.push(f);
                }
            }
        }
        let is_test = split_by_flow(&flow, 0.3, 7);
        assert_eq!(is_test.len(), flow.len());
        let mut side: std::collections::HashMap<u32, bool> = std::collections::HashMap::new();
        for (&f, &t) in flow.iter().zip(&is_test) {
            assert_eq!(*side.entry(f).or_insert(t), t, "flow {f} on both sides");
        }
        assert_eq!(side.values().filter(|&&t| t).count(), 30, "30% of the flows test");
        assert_eq!(is_test, split_by_flow(&flow, 0.3, 7), "same seed, same split");
        assert_ne!(
            is_test,
            split_by_flow(&flow, 0.3, 8),
            "another seed, another split"
        );
    }
}
