//! A CART classification tree (Gini, binary label) with a histogram split finder.
//!
//! Why not linfa-trees for large tables: its `TreeNode::fit` scans, at every node and for every
//! feature, the whole presorted column of *all* training rows (skipping those outside the node
//! with a mask) and updates two `HashMap`s of class weights per row, so a fit costs about
//! nodes x features x rows hash-map operations; measured in `workbench bench train` (see
//! docs/BENCHMARKS.md). Here every feature is binned once (at most [`MAX_BINS`] bins: its
//! distinct values when there are that few, so splits are exactly CART's midpoints, else
//! edges at equal counts of rows, as scikit-learn's histogram trees bin), and a node costs one pass over its own rows per feature to fill a
//! histogram of (benign, malicious) counts: rows x features per tree level.
//!
//! This crate is compiled with optimisations even in the dev profile (see the workspace
//! Cargo.toml): the workbench crate itself is not, and a tree fit is all inner loops. The
//! workbench turns the result into the float reference tree that `model::quantize` compiles.

pub mod buckets;
pub mod logistic;
mod loss_gradient;

/// Uniform numbers in [-1, 1) from a 64-bit LCG seeded with `seed`: the tests' reproducible
/// inputs, without a dependency.
#[cfg(test)]
fn test_uniform(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed;
    move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

/// A node of the fitted tree; node 0 is the root. Rows with `x[feature] <= threshold` go left.
#[derive(Debug, Clone, PartialEq)]
pub enum FloatNode {
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    Leaf {
        /// Share of malicious training rows that reached this leaf.
        p_malicious: f64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct FloatTree {
    pub nodes: Vec<FloatNode>,
}

impl FloatTree {
    /// P(malicious) for a row given as a function of the feature index. Walks at most
    /// `nodes.len()` steps, so a malformed tree (a cycle) cannot loop.
    pub fn predict_with(&self, row: impl Fn(usize) -> f64) -> f64 {
        let mut i = 0;
        for _ in 0..=self.nodes.len() {
            match self.nodes.get(i) {
                Some(FloatNode::Split {
                    feature,
                    threshold,
                    left,
                    right,
                }) => {
                    i = if row(*feature) <= *threshold {
                        *left
                    } else {
                        *right
                    }
                }
                Some(FloatNode::Leaf { p_malicious }) => return *p_malicious,
                None => return 0.0,
            }
        }
        0.0
    }
}

/// Bins per feature (codes fit a byte).
pub const MAX_BINS: usize = 256;

#[derive(Debug, Clone, Copy)]
pub struct HistTreeParams {
    pub max_depth: usize,
    /// A node with fewer rows is a leaf.
    pub min_samples_split: usize,
    /// Each side of a split keeps at least this many rows.
    pub min_samples_leaf: usize,
}

impl Default for HistTreeParams {
    fn default() -> Self {
        HistTreeParams {
            max_depth: 12,
            min_samples_split: 2,
            min_samples_leaf: 1,
        }
    }
}

/// One feature's bins: `upper[b]` is the largest training value in bin b; a split after bin b
/// sends `x <= threshold[b]` left, with the threshold halfway to the next bin's smallest value.
struct Binning {
    upper: Vec<f64>,
    threshold: Vec<f64>,
}

fn bin_feature(values: &[f64]) -> Binning {
    let mut all: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    all.sort_by(f64::total_cmp);
    let mut sorted = all.clone();
    sorted.dedup();
    if sorted.is_empty() {
        return Binning {
            upper: vec![f64::INFINITY],
            threshold: vec![f64::INFINITY],
        };
    }
    // Distinct values if few, else equal-count bins over the rows, as scikit-learn's histogram
    // trees bin: the edges fall where the rows are. Equal counts of *distinct* values (what this
    // did before) spent most edges on a long tail of rare values and left the dense range in a few
    // wide bins: on a CIC-IDS2017 day a depth-6 tree made 116 false positives against
    // scikit-learn's 13 (117 with that binning in scikit-learn, 9 with this one).
    let uppers: Vec<f64> = if sorted.len() <= MAX_BINS {
        sorted.clone()
    } else {
        let n = all.len();
        let mut u: Vec<f64> = (1..=MAX_BINS)
            .map(|k| all[(k * n).div_ceil(MAX_BINS).max(1) - 1])
            .collect();
        u.dedup();
        u
    };
    let threshold = uppers
        .iter()
        .map(|&u| {
            // The smallest distinct value above u (binary search in the sorted distinct values).
            let i = sorted.partition_point(|&v| v <= u);
            sorted.get(i).map_or(f64::INFINITY, |&next| u + (next - u) / 2.0)
        })
        .collect();
    Binning {
        upper: uppers,
        threshold,
    }
}

fn code(b: &Binning, v: f64) -> u8 {
    // NaN goes to the last bin (the kernel has no NaN; cleaning removes them before training).
    let i = if v.is_nan() {
        b.upper.len() - 1
    } else {
        b.upper.partition_point(|&u| u < v).min(b.upper.len() - 1)
    };
    i as u8
}

fn gini(neg: f64, pos: f64) -> f64 {
    let n = neg + pos;
    if n == 0.0 {
        return 0.0;
    }
    let p = pos / n;
    2.0 * p * (1.0 - p)
}

struct Grower<'a> {
    /// Bin codes, column-major: `codes[f * rows + r]`.
    codes: Vec<u8>,
    rows: usize,
    bins: Vec<Binning>,
    y: &'a [bool],
    /// Per row: its weight (None: 1 each). Sums of ones in f64 are exact, so an unweighted fit
    /// makes the same splits as counting would.
    weights: Option<&'a [f64]>,
    params: HistTreeParams,
    nodes: Vec<FloatNode>,
    /// Impurity decrease (weighted by rows) credited to each feature.
    importance: Vec<f64>,
}

struct Best {
    feature: usize,
    bin: usize,
    gain: f64,
}

impl Grower<'_> {
    /// The weight of row `r`.
    fn w(&self, r: usize) -> f64 {
        self.weights.map_or(1.0, |w| w[r])
    }

    /// Benign and malicious weight of the rows in `idx`.
    fn totals(&self, idx: &[u32]) -> (f64, f64) {
        let (mut neg, mut pos) = (0.0, 0.0);
        for &r in idx {
            let r = r as usize;
            if self.y[r] {
                pos += self.w(r);
            } else {
                neg += self.w(r);
            }
        }
        (neg, pos)
    }

    fn best_split(&self, idx: &[u32], neg: f64, pos: f64) -> Option<Best> {
        let n = neg + pos;
        let parent = gini(neg, pos);
        let mut best: Option<Best> = None;
        // Per bin: benign weight, malicious weight, and rows (the leaf-size limit counts rows).
        let mut hist = [[0f64; 2]; MAX_BINS];
        let mut rows_in = [0u32; MAX_BINS];
        let total_rows = idx.len() as u32;
        for (f, bins) in self.bins.iter().enumerate() {
            let nb = bins.upper.len();
            if nb < 2 {
                continue;
            }
            for (h, c) in hist.iter_mut().zip(rows_in.iter_mut()).take(nb) {
                *h = [0.0, 0.0];
                *c = 0;
            }
            let col = &self.codes[f * self.rows..(f + 1) * self.rows];
            match self.weights {
                None => {
                    for &r in idx {
                        let r = r as usize;
                        let b = col[r] as usize;
                        hist[b][usize::from(self.y[r])] += 1.0;
                        rows_in[b] += 1;
                    }
                }
                Some(w) => {
                    for &r in idx {
                        let r = r as usize;
                        let b = col[r] as usize;
                        hist[b][usize::from(self.y[r])] += w[r];
                        rows_in[b] += 1;
                    }
                }
            }
            let (mut ln, mut lp) = (0.0, 0.0);
            let mut left_rows = 0u32;
            let min_leaf = self.params.min_samples_leaf as u32;
            for (b, h) in hist.iter().enumerate().take(nb - 1) {
                ln += h[0];
                lp += h[1];
                left_rows += rows_in[b];
                let left = ln + lp;
                let right = n - left;
                if left_rows < min_leaf || total_rows - left_rows < min_leaf || rows_in[b] == 0 {
                    continue;
                }
                let child = (left * gini(ln, lp) + right * gini(neg - ln, pos - lp)) / n;
                let gain = parent - child;
                // Strictly better only: ties keep the first feature and lowest threshold.
                if gain > 1e-12 && best.as_ref().is_none_or(|b| gain > b.gain) {
                    best = Some(Best {
                        feature: f,
                        bin: b,
                        gain,
                    });
                }
            }
        }
        best
    }

    fn grow(&mut self, idx: &mut [u32], depth: usize) -> usize {
        let (neg, pos) = self.totals(idx);
        let me = self.nodes.len();
        let p_malicious = if neg + pos > 0.0 { pos / (neg + pos) } else { 0.0 };
        self.nodes.push(FloatNode::Leaf { p_malicious });
        if depth >= self.params.max_depth
            || idx.len() < self.params.min_samples_split
            || pos == 0.0
            || neg == 0.0
        {
            return me;
        }
        let Some(best) = self.best_split(idx, neg, pos) else {
            return me;
        };
        self.importance[best.feature] += best.gain * (neg + pos);
        // Partition the node's rows in place: left (code <= bin) first.
        let col = &self.codes[best.feature * self.rows..(best.feature + 1) * self.rows];
        let mut split = 0;
        for i in 0..idx.len() {
            if usize::from(col[idx[i] as usize]) <= best.bin {
                idx.swap(i, split);
                split += 1;
            }
        }
        let (l, r) = idx.split_at_mut(split);
        let left = self.grow(l, depth + 1);
        let right = self.grow(r, depth + 1);
        self.nodes[me] = FloatNode::Split {
            feature: best.feature,
            threshold: self.bins[best.feature].threshold[best.bin],
            left,
            right,
        };
        me
    }
}

pub struct HistTree {
    /// Split features index the columns of the training matrix.
    pub tree: FloatTree,
    /// Impurity-based importance per column (sums to 1, or all 0 for a single leaf).
    pub importance: Vec<f64>,
}

/// Fits on `columns[f][row]` (one slice per feature, all of `y.len()` rows).
pub fn fit(columns: &[&[f64]], y: &[bool], params: HistTreeParams) -> HistTree {
    fit_weighted(columns, y, None, params)
}

/// [`fit`] with a weight per row (`weights[row]`, positive): class counts, leaf probabilities,
/// impurity and importance are sums of weights. `workbench train --at decision-points` gives
/// each flow's samples weights summing to 1, so long flows do not outvote short ones. The
/// leaf-size limits still count rows.
pub fn fit_weighted(
    columns: &[&[f64]],
    y: &[bool],
    weights: Option<&[f64]>,
    params: HistTreeParams,
) -> HistTree {
    fit_binned(
        columns.len(),
        |f, codes| bin_into(columns[f], codes),
        y,
        weights,
        params,
    )
}

/// [`fit_weighted`] on `n_columns` columns made one at a time by `column(f)` (all of `y.len()`
/// rows): each is binned and dropped before the next is made, so a fit holds one column of
/// floats and the byte codes of all, not every column as floats (on 2 million rows of 34
/// features: 16 MB instead of 540 MB). The tree is the same as [`fit_weighted`]'s on the
/// same columns: each column is binned on its own.
pub fn fit_columns(
    n_columns: usize,
    mut column: impl FnMut(usize) -> Vec<f64>,
    y: &[bool],
    weights: Option<&[f64]>,
    params: HistTreeParams,
) -> HistTree {
    fit_binned(
        n_columns,
        |f, codes| bin_into(&column(f), codes),
        y,
        weights,
        params,
    )
}

/// Bins `values` and writes each one's bin code into `codes`.
fn bin_into(values: &[f64], codes: &mut [u8]) -> Binning {
    debug_assert_eq!(values.len(), codes.len(), "one value per row");
    let b = bin_feature(values);
    for (dst, &v) in codes.iter_mut().zip(values) {
        *dst = code(&b, v);
    }
    b
}

/// The fit, each column binned by `bin(f, codes of column f)`.
fn fit_binned(
    n_columns: usize,
    mut bin: impl FnMut(usize, &mut [u8]) -> Binning,
    y: &[bool],
    weights: Option<&[f64]>,
    params: HistTreeParams,
) -> HistTree {
    let rows = y.len();
    debug_assert!(weights.is_none_or(|w| w.len() == rows), "one weight per row");
    let mut codes = vec![0u8; rows * n_columns];
    let bins: Vec<Binning> = (0..n_columns)
        .map(|f| bin(f, &mut codes[f * rows..(f + 1) * rows]))
        .collect();
    let mut g = Grower {
        codes,
        rows,
        bins,
        y,
        weights,
        params,
        nodes: Vec::new(),
        importance: vec![0.0; n_columns],
    };
    let mut idx: Vec<u32> = (0..rows as u32).collect();
    if rows > 0 {
        g.grow(&mut idx, 0);
    }
    let total: f64 = g.importance.iter().sum();
    let importance = g
        .importance
        .iter()
        .map(|v| if total > 0.0 { v / total } else { 0.0 })
        .collect();
    HistTree {
        tree: FloatTree { nodes: g.nodes },
        importance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_split_exactly_like_cart() {
        // Malicious exactly when x is in (20, 40]: two splits, at the midpoints of the distinct
        // values 20|30 and 40|50.
        let x: Vec<f64> = (0..600).map(|i| f64::from((i % 6) * 10)).collect();
        let y: Vec<bool> = x.iter().map(|&v| v > 20.0 && v <= 40.0).collect();
        let t = fit(&[&x], &y, HistTreeParams::default());
        for (v, want) in [
            (0.0, false),
            (25.0, false),
            (30.0, true),
            (40.0, true),
            (46.0, false),
        ] {
            let p = t.tree.predict_with(|_| v);
            assert_eq!(p >= 0.5, want, "x={v}: p={p}");
        }
        let thresholds: Vec<f64> = t
            .tree
            .nodes
            .iter()
            .filter_map(|n| match n {
                FloatNode::Split { threshold, .. } => Some(*threshold),
                FloatNode::Leaf { .. } => None,
            })
            .collect();
        assert!(
            thresholds.iter().all(|t| [25.0, 45.0].contains(t)),
            "{thresholds:?}"
        );
        assert_eq!(t.importance, vec![1.0]);
    }

    /// Columns made one at a time give the tree and importance of the columns given at once.
    #[test]
    fn columns_made_one_at_a_time_fit_the_same_tree() {
        let n = 3_000;
        let mut u = test_uniform(9);
        let cols: Vec<Vec<f64>> = (0..4)
            .map(|c| (0..n).map(|_| (u() * 400.0).round() * f64::from(c + 1)).collect())
            .collect();
        let y: Vec<bool> = (0..n).map(|i| cols[0][i] + cols[2][i] * 0.5 > 10.0).collect();
        let w: Vec<f64> = (0..n).map(|i| 1.0 + (i % 3) as f64).collect();
        let slices: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        let at_once = fit_weighted(&slices, &y, Some(&w), HistTreeParams::default());
        let mut made = Vec::new();
        let one_by_one = fit_columns(
            cols.len(),
            |f| {
                made.push(f);
                cols[f].clone()
            },
            &y,
            Some(&w),
            HistTreeParams::default(),
        );
        assert_eq!(made, [0, 1, 2, 3], "each column made once, in order");
        assert!(at_once.tree.nodes.len() > 3);
        assert_eq!(one_by_one.tree, at_once.tree);
        assert_eq!(one_by_one.importance, at_once.importance);
    }

    #[test]
    fn a_weight_of_two_is_a_row_seen_twice() {
        // Rows 0..40 with x = i; malicious above 25, except a few benign ones that a weight
        // (or a duplicate) makes matter.
        let x: Vec<f64> = (0..40).map(f64::from).collect();
        let y: Vec<bool> = (0..40).map(|i| i > 25 && i % 7 != 0).collect();
        let w: Vec<f64> = (0..40).map(|i| if i % 7 == 0 { 2.0 } else { 1.0 }).collect();
        let weighted = fit_weighted(&[&x], &y, Some(&w), HistTreeParams::default());
        let mut xd = x.clone();
        let mut yd = y.clone();
        for i in (0..40).filter(|i| i % 7 == 0) {
            xd.push(x[i]);
            yd.push(y[i]);
        }
        let duplicated = fit(&[&xd], &yd, HistTreeParams::default());
        assert_eq!(weighted.tree, duplicated.tree);
        assert_eq!(weighted.importance, duplicated.importance);
        // And weights change the fit: halving the benign exceptions' weight moves a leaf.
        let light: Vec<f64> = (0..40).map(|i| if i % 7 == 0 { 0.1 } else { 1.0 }).collect();
        let depth1 = HistTreeParams {
            max_depth: 1,
            ..HistTreeParams::default()
        };
        let heavy = fit_weighted(&[&x], &y, Some(&w), depth1);
        let lighter = fit_weighted(&[&x], &y, Some(&light), depth1);
        assert_ne!(heavy.tree, lighter.tree);
    }

    /// Bins follow the rows: a dense range of common values beside a long tail of rare ones
    /// (a flow's bytes, ports, durations) gets most of the edges, so a split lands near the
    /// class boundary inside it. With equal counts of distinct values (the binning before), the
    /// 20,000 rare values took nearly every edge and the nearest one to 500 was about 80 values
    /// away: 800 rows on the wrong side.
    #[test]
    fn bin_edges_follow_the_rows_not_the_distinct_values() {
        let mut x: Vec<f64> = (0..100_000).map(|i| f64::from(i / 100)).collect();
        x.extend((0..20_000).map(|i| 1e6 + f64::from(i) * 1000.0));
        let y: Vec<bool> = x.iter().map(|&v| v > 500.0).collect();
        let t = fit(
            &[&x],
            &y,
            HistTreeParams {
                max_depth: 1,
                ..HistTreeParams::default()
            },
        );
        let wrong = x
            .iter()
            .zip(&y)
            .filter(|&(&v, &m)| (t.tree.predict_with(|_| v) >= 0.5) != m)
            .count();
        assert!(wrong <= 400, "{wrong} rows on the wrong side of the one split");
    }

    #[test]
    fn depth_is_respected_and_many_values_are_binned() {
        fn depth(t: &FloatTree, i: usize) -> usize {
            match &t.nodes[i] {
                FloatNode::Split { left, right, .. } => 1 + depth(t, *left).max(depth(t, *right)),
                FloatNode::Leaf { .. } => 0,
            }
        }
        let n = 5_000;
        let a: Vec<f64> = (0..n).map(|i| f64::from(i * 7 % 1000)).collect();
        let b: Vec<f64> = (0..n).map(|i| f64::from(i % 13)).collect();
        let y: Vec<bool> = (0..n as usize).map(|i| a[i] > 700.0 || b[i] == 3.0).collect();
        let t = fit(
            &[&a, &b],
            &y,
            HistTreeParams {
                max_depth: 3,
                ..HistTreeParams::default()
            },
        );
        assert!(depth(&t.tree, 0) <= 3);
        let correct = (0..n as usize)
            .filter(|&i| (t.tree.predict_with(|f| [a[i], b[i]][f]) >= 0.5) == y[i])
            .count();
        assert!(correct as f64 / f64::from(n) > 0.97, "{correct}");
    }
}
