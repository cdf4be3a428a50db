//! Train/test splits: the naive random one next to the honest ones (by time, by host, by file).
//!
//! Random splits put near-identical flows of one attack on both sides, so the test score
//! measures memory, not detection. A time split trains on the past and tests on the future; a
//! host split keeps every host entirely on one side, so a model cannot learn "this address is
//! the attacker"; a file split (data without timestamps or hosts: CIC-IDS2017's
//! MachineLearningCVE files are days) trains on the earlier files and tests on the later ones.

use super::{bail, Result};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum SplitKind {
    Random,
    Time,
    Host,
    File,
}

impl SplitKind {
    /// The name the command line and the JSON use.
    pub fn name(self) -> &'static str {
        match self {
            SplitKind::Random => "random",
            SplitKind::Time => "time",
            SplitKind::Host => "host",
            SplitKind::File => "file",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<usize>,
    pub test: Vec<usize>,
}

/// SplitMix64: a few lines, and unlike a library RNG its sequence is fixed forever, so a seed
/// gives the same split in every version of the workbench.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// Random split: `test_share` of the rows, shuffled with `seed`.
pub fn random(rows: usize, test_share: f64, seed: u64) -> Split {
    let mut idx: Vec<usize> = (0..rows).collect();
    SplitMix64(seed).shuffle(&mut idx);
    let n_test = ((rows as f64) * test_share).round() as usize;
    let test = idx[..n_test].to_vec();
    let mut train = idx[n_test..].to_vec();
    train.sort_unstable();
    let mut test = test;
    test.sort_unstable();
    Split { train, test }
}

/// Time split: the earliest rows train, the latest `test_share` test, cut between two
/// timestamps: rows that share the timestamp at the cut go to the side nearer the share, all
/// of them (CIC-IDS2017's are to the minute: cut by row count, 13% of a day's test rows were
/// stamped the same minute as training rows, not later). Only when every row has one
/// timestamp is it cut by row order.
pub fn by_time(time_ns: &[i64], test_share: f64) -> Split {
    let mut idx: Vec<usize> = (0..time_ns.len()).collect();
    idx.sort_by_key(|&i| (time_ns[i], i));
    let n = time_ns.len();
    let mut n_train = n - ((n as f64) * test_share).round() as usize;
    if n_train > 0 && n_train < n && time_ns[idx[n_train - 1]] == time_ns[idx[n_train]] {
        let at = time_ns[idx[n_train]];
        let first = idx.partition_point(|&i| time_ns[i] < at);
        let after = idx.partition_point(|&i| time_ns[i] <= at);
        n_train = match (first, after) {
            (0, a) if a == n => n_train,
            (0, a) => a,
            (f, a) if a == n => f,
            (f, a) if n_train - f <= a - n_train => f,
            (_, a) => a,
        };
    }
    let mut train = idx[..n_train].to_vec();
    let mut test = idx[n_train..].to_vec();
    train.sort_unstable();
    test.sort_unstable();
    Split { train, test }
}

/// Host split: hosts (e.g. source addresses) are shuffled and assigned whole to test until it
/// holds about `test_share` of the rows.
pub fn by_host(hosts: &[String], test_share: f64, seed: u64) -> Result<Split> {
    let mut names: Vec<&str> = hosts.iter().map(String::as_str).collect();
    names.sort_unstable();
    names.dedup();
    if names.len() < 2 {
        bail!(
            "a host split needs at least two hosts; the data has {}",
            names.len()
        );
    }
    SplitMix64(seed).shuffle(&mut names);
    let mut rows_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for h in hosts {
        *rows_of.entry(h.as_str()).or_default() += 1;
    }
    let target = ((hosts.len() as f64) * test_share).round() as usize;
    let mut test_hosts = std::collections::HashSet::new();
    let mut in_test = 0;
    for h in &names {
        if in_test >= target || test_hosts.len() + 1 == names.len() {
            break;
        }
        test_hosts.insert(*h);
        in_test += rows_of[h];
    }
    let (test, train): (Vec<usize>, Vec<usize>) =
        (0..hosts.len()).partition(|&i| test_hosts.contains(hosts[i].as_str()));
    Ok(Split { train, test })
}

/// File split: whole files, the last ones (in `file` index order, earliest first) to test
/// until it holds about `test_share` of the rows; at least one file on each side.
pub fn by_file(file: &[u32], test_share: f64) -> Result<Split> {
    let files = file.iter().copied().max().map_or(0, |m| m as usize + 1);
    let mut rows_of = vec![0usize; files];
    for &f in file {
        rows_of[f as usize] += 1;
    }
    let present: Vec<usize> = (0..files).filter(|&f| rows_of[f] > 0).collect();
    if present.len() < 2 {
        bail!(
            "a file split needs rows from at least two files; the data has {}",
            present.len()
        );
    }
    let target = ((file.len() as f64) * test_share).round() as usize;
    let mut in_test = 0;
    let mut first_test = files;
    for &f in present.iter().rev().take(present.len() - 1) {
        if in_test >= target.max(1) {
            break;
        }
        first_test = f;
        in_test += rows_of[f];
    }
    let (test, train): (Vec<usize>, Vec<usize>) =
        (0..file.len()).partition(|&i| file[i] as usize >= first_test);
    Ok(Split { train, test })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_split_is_a_seeded_partition() {
        let s = random(1000, 0.3, 7);
        assert_eq!((s.train.len(), s.test.len()), (700, 300));
        let mut all: Vec<usize> = s.train.iter().chain(&s.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        assert_eq!(s, random(1000, 0.3, 7));
        assert_ne!(s, random(1000, 0.3, 8));
    }

    #[test]
    fn time_split_tests_on_the_future() {
        let t: Vec<i64> = (0..100).rev().collect();
        let s = by_time(&t, 0.25);
        let latest_train = s.train.iter().map(|&i| t[i]).max().expect("rows");
        let earliest_test = s.test.iter().map(|&i| t[i]).min().expect("rows");
        assert!(latest_train < earliest_test);
        assert_eq!(s.test.len(), 25);
    }

    #[test]
    fn time_split_cuts_between_timestamps() {
        // Ten minutes of 10 rows each: a cut by count at row 78 falls inside minute 7 (rows
        // 70-79), nearer its end.
        let t: Vec<i64> = (0..100).map(|i| i / 10 * 60).collect();
        let s = by_time(&t, 0.22);
        let latest_train = s.train.iter().map(|&i| t[i]).max().expect("rows");
        let earliest_test = s.test.iter().map(|&i| t[i]).min().expect("rows");
        assert!(latest_train < earliest_test, "{latest_train} vs {earliest_test}");
        assert_eq!(s.test.len(), 20, "minute 7 goes to training, the nearer side");
        // One timestamp for every row: no boundary to cut at, so by row order.
        let s = by_time(&[5; 8], 0.25);
        assert_eq!((s.train.len(), s.test.len()), (6, 2));
        // The cut's timestamp holds the first rows: they all train.
        let mut t = vec![0; 10];
        t.extend(1..5);
        let s = by_time(&t, 0.5);
        assert_eq!(s.train.len(), 10);
    }

    #[test]
    fn host_split_keeps_each_host_on_one_side() {
        let hosts: Vec<String> = (0..500).map(|i| format!("10.0.0.{}", i % 17)).collect();
        let s = by_host(&hosts, 0.3, 1).expect("split");
        let train: std::collections::HashSet<&String> = s.train.iter().map(|&i| &hosts[i]).collect();
        assert!(s.test.iter().all(|&i| !train.contains(&hosts[i])));
        assert!(!s.test.is_empty() && !s.train.is_empty());
        assert!(by_host(&vec!["a".to_string(); 5], 0.3, 1).is_err());
    }

    #[test]
    fn file_split_tests_on_the_last_files_and_keeps_one_for_training() {
        // Files of 50, 30, 20 rows: 30% of 100 rows is the last file (20) and then the middle.
        let file: Vec<u32> = (0..100)
            .map(|i| {
                if i < 50 {
                    0
                } else if i < 80 {
                    1
                } else {
                    2
                }
            })
            .collect();
        let s = by_file(&file, 0.3).expect("split");
        assert_eq!(s.test, (50..100).collect::<Vec<_>>());
        assert_eq!(s.train, (0..50).collect::<Vec<_>>());
        // A small share still tests on one whole file; a share of 1 still trains on one.
        assert_eq!(
            by_file(&file, 0.01).expect("split").test,
            (80..100).collect::<Vec<_>>()
        );
        assert_eq!(
            by_file(&file, 1.0).expect("split").train,
            (0..50).collect::<Vec<_>>()
        );
        let e = by_file(&[0, 0, 0], 0.3).expect_err("one file").to_string();
        assert!(e.contains("at least two files; the data has 1"), "{e}");
    }
}
