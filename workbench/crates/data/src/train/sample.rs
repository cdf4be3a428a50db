//! `workbench train --sample-rows N`: train on a seeded random sample of N of the loaded rows.
//! The pitfall report's split comparison fits on the same sample of a large table, so that the
//! `train` command it prints reproduces its figures exactly.

use super::split::SplitMix64;
use super::Result;
use crate::dataset::LoadedDataset;

/// Mixed into the seed, so that the sample's shuffle is not the random split's (which shuffles
/// with the seed itself).
const SALT: u64 = 0x5341_4d50_4c45;

/// The rows a sample of `rows` of `total` keeps, in table order (None: `total` is no more).
pub fn sample_index(total: usize, rows: usize, seed: u64) -> Option<Vec<usize>> {
    if total <= rows {
        return None;
    }
    let mut idx: Vec<usize> = (0..total).collect();
    SplitMix64(seed ^ SALT).shuffle(&mut idx);
    idx.truncate(rows);
    idx.sort_unstable();
    Some(idx)
}

/// `loaded` with a seeded random sample of `rows` of its loaded rows (before cleaning, which
/// then runs on the sample as on a whole table), or None when it has no more rows than that.
pub fn sample_rows(loaded: &LoadedDataset, rows: usize, seed: u64) -> Result<Option<LoadedDataset>> {
    let Some(idx) = sample_index(loaded.rows(), rows, seed) else {
        return Ok(None);
    };
    Ok(Some(loaded.with_rows(&idx)?))
}

/// What a sample is, in words (the train report and the pitfall evidence say it alike).
pub fn sample_words(rows: usize, total: usize, seed: u64) -> String {
    format!("a random sample of {rows} of the {total} loaded rows (--sample-rows {rows}, seed {seed})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_is_seeded_in_order_and_not_the_random_split() {
        assert_eq!(sample_index(10, 10, 1), None);
        let a = sample_index(1000, 100, 1).expect("sample");
        assert_eq!(a.len(), 100);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Some(a.clone()), sample_index(1000, 100, 1));
        assert_ne!(Some(a.clone()), sample_index(1000, 100, 2));
        // The random split's test rows of the same seed are another set.
        let split = super::super::split::random(1000, 0.1, 1);
        assert_ne!(a, split.test);
    }
}
