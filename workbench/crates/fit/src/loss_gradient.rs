//! The logistic regression's loss and gradient over all rows: the whole cost of a fit (one pass
//! over the rows per evaluation, about 100 evaluations), so it is written for speed while giving
//! the same result on any number of threads.
//!
//! Determinism: the rows are cut into chunks of a fixed [`CHUNK_ROWS`] rows, whatever the thread
//! count; each chunk's partial loss and gradient are summed in row order into a slot of their own,
//! and the slots are added in chunk order after the threads have joined. Threads only decide who
//! computes a chunk, never the order of any addition, so the weights a fit returns are the same
//! bit for bit on 1, 2 or 16 threads (a test in `logistic.rs` checks it).
//!
//! Speed: the dot product of a row with the weights sums into [`LANES`] separate accumulators (a
//! fixed order the compiler can keep in vector registers; one running sum would be a chain of
//! dependent additions, which is what bound the first version), a row's exp(-|z|) serves both
//! its log-loss and its sigmoid (one exp and one ln_1p per row instead of two exps and a ln_1p),
//! and the row is added into the chunk's gradient while it is still in the L1 cache.

/// Rows per chunk: small enough that two threads get even shares of a bench-sized table (216
/// chunks for 884,177 rows), large enough that the per-chunk combine (`dim` additions) is noise.
pub const CHUNK_ROWS: usize = 4096;

/// Independent partial sums of a row's dot product (a multiple of the vector width of every x86-64
/// and aarch64 target: 2 with SSE2, 4 with AVX2).
const LANES: usize = 8;

/// Below this many row-features work per evaluation a second thread costs more than it saves.
const MIN_PARALLEL_WORK: usize = 1 << 20;

/// The rows of one fit: row-major `x` (`y.len()` rows of `d` features), labels, optional weights.
#[derive(Clone, Copy)]
pub struct Rows<'a> {
    pub x: &'a [f64],
    pub y: &'a [bool],
    pub weights: Option<&'a [f64]>,
    pub d: usize,
}

/// Evaluates loss and gradient at many points for one set of rows, keeping its buffers.
pub struct LossGradient<'a> {
    rows: Rows<'a>,
    alpha: f64,
    threads: usize,
    /// One slot of `d + 2` values per chunk: the gradient (weights, intercept), then the loss.
    partials: Vec<f64>,
}

impl<'a> LossGradient<'a> {
    /// `threads`: the most threads an evaluation uses (at least 1; fewer on small problems).
    pub fn new(rows: Rows<'a>, alpha: f64, threads: usize) -> Self {
        let chunks = rows.y.len().div_ceil(CHUNK_ROWS).max(1);
        let work = rows.y.len() * rows.d.max(1);
        let threads = if work < MIN_PARALLEL_WORK {
            1
        } else {
            threads.clamp(1, chunks)
        };
        LossGradient {
            rows,
            alpha,
            threads,
            partials: vec![0.0; chunks * (rows.d + 2)],
        }
    }

    /// The objective (sum of row-weighted log-losses + alpha/2 |w|^2, the intercept not
    /// penalised) at `p` = (w_0..w_{d-1}, b), its gradient written into `g` (`d + 1` values).
    pub fn evaluate(&mut self, p: &[f64], g: &mut [f64]) -> f64 {
        let d = self.rows.d;
        let slot = d + 2;
        let rows = self.rows;
        let chunks = self.partials.len() / slot;
        if self.threads <= 1 {
            for (c, part) in self.partials.chunks_exact_mut(slot).enumerate() {
                chunk(rows, c, p, part);
            }
        } else {
            // Contiguous runs of chunks per thread; each writes only its own slots.
            let per_thread = chunks.div_ceil(self.threads);
            std::thread::scope(|s| {
                let mut runs = self.partials.chunks_mut(per_thread * slot).enumerate();
                let first = runs.next();
                for (t, run) in runs {
                    s.spawn(move || run_chunks(rows, t * per_thread, p, run));
                }
                if let Some((_, run)) = first {
                    run_chunks(rows, 0, p, run);
                }
            });
        }
        g.fill(0.0);
        let mut loss = 0.0;
        for part in self.partials.chunks_exact(slot) {
            for (gi, v) in g.iter_mut().zip(&part[..=d]) {
                *gi += v;
            }
            loss += part[d + 1];
        }
        let w = &p[..d];
        for (gi, wi) in g[..d].iter_mut().zip(w) {
            *gi += self.alpha * wi;
        }
        loss + 0.5 * self.alpha * w.iter().map(|v| v * v).sum::<f64>()
    }
}

fn run_chunks(rows: Rows<'_>, first_chunk: usize, p: &[f64], slots: &mut [f64]) {
    for (k, part) in slots.chunks_exact_mut(rows.d + 2).enumerate() {
        chunk(rows, first_chunk + k, p, part);
    }
}

/// Chunk `c`'s log-loss and gradient, summed in row order into `part` (`d + 2` values).
fn chunk(rows: Rows<'_>, c: usize, p: &[f64], part: &mut [f64]) {
    let d = rows.d;
    let start = (c * CHUNK_ROWS).min(rows.y.len());
    let end = (start + CHUNK_ROWS).min(rows.y.len());
    let (w, b) = p.split_at(d);
    let b = b[0];
    part.fill(0.0);
    let (g, rest) = part.split_at_mut(d);
    let mut g_b = 0.0;
    let mut loss = 0.0;
    let x = &rows.x[start * d..end * d];
    let y = &rows.y[start..end];
    for (i, (row, &t)) in x.chunks_exact(d.max(1)).zip(y).enumerate() {
        let z = b + dot(row, w);
        let weight = rows.weights.map_or(1.0, |ws| ws[start + i]);
        // -log P(t | z) is softplus(z) for a benign row and softplus(-z) for a malicious one;
        // softplus(v) = max(v, 0) + ln(1 + exp(-|v|)), and the same exp(-|z|) gives sigmoid(z).
        let e = (-z.abs()).exp();
        let one_e = 1.0 + e;
        let v = if t { -z } else { z };
        loss += weight * (v.max(0.0) + one_e.ln());
        let sigmoid = if z >= 0.0 { 1.0 / one_e } else { e / one_e };
        let r = weight * (sigmoid - f64::from(u8::from(t)));
        for (gi, a) in g.iter_mut().zip(row) {
            *gi += r * a;
        }
        g_b += r;
    }
    rest[0] = g_b;
    rest[1] = loss;
}

/// sum a_i b_i in [`LANES`] interleaved partial sums, added pairwise at the end: a fixed order.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; LANES];
    let (a_main, a_tail) = a.split_at(a.len() - a.len() % LANES);
    let (b_main, b_tail) = b.split_at(a_main.len());
    for (ca, cb) in a_main.chunks_exact(LANES).zip(b_main.chunks_exact(LANES)) {
        for ((s, x), y) in acc.iter_mut().zip(ca).zip(cb) {
            *s += x * y;
        }
    }
    let tail: f64 = a_tail.iter().zip(b_tail).map(|(x, y)| x * y).sum();
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first version's formulas, summed row by row in one running sum: the reference.
    fn plain(rows: Rows<'_>, alpha: f64, p: &[f64], g: &mut [f64]) -> f64 {
        let d = rows.d;
        g.fill(0.0);
        let mut loss = 0.0;
        for (i, (row, &t)) in rows.x.chunks_exact(d).zip(rows.y).enumerate() {
            let z = p[d] + row.iter().zip(p).map(|(a, c)| a * c).sum::<f64>();
            let weight = rows.weights.map_or(1.0, |ws| ws[i]);
            let v = if t { -z } else { z };
            loss += weight * (v.max(0.0) + (-v.abs()).exp().ln_1p());
            let r = weight * (1.0 / (1.0 + (-z).exp()) - f64::from(u8::from(t)));
            for (gi, a) in g.iter_mut().zip(row) {
                *gi += r * a;
            }
            g[d] += r;
        }
        for (gi, wi) in g[..d].iter_mut().zip(p) {
            *gi += alpha * wi;
        }
        loss + 0.5 * alpha * p[..d].iter().map(|v| v * v).sum::<f64>()
    }

    #[test]
    fn every_thread_count_gives_the_same_bits_and_the_plain_sum() {
        // 8 whole chunks and a partial one; 37 features: a dot product with a tail after the
        // lanes; weighted rows. 1.2M row-features: above the threshold for threads.
        let (n, d) = (8 * CHUNK_ROWS + 123, 37);
        let mut rnd = crate::test_uniform(7);
        let x: Vec<f64> = (0..n * d).map(|_| 3.0 * rnd()).collect();
        let y: Vec<bool> = (0..n).map(|_| rnd() > 0.2).collect();
        let weights: Vec<f64> = (0..n).map(|_| 1.5 + rnd()).collect();
        let p: Vec<f64> = (0..=d).map(|_| 0.3 * rnd()).collect();
        let rows = Rows {
            x: &x,
            y: &y,
            weights: Some(&weights),
            d,
        };
        let mut g_ref = vec![0.0; d + 1];
        let f_ref = plain(rows, 0.7, &p, &mut g_ref);
        let mut g1 = vec![0.0; d + 1];
        let mut one = LossGradient::new(rows, 0.7, 1);
        let f1 = one.evaluate(&p, &mut g1);
        for threads in [2, 3, 4, 9] {
            let mut many = LossGradient::new(rows, 0.7, threads);
            assert_eq!(many.threads, threads, "the test must use {threads} threads");
            let mut g = vec![0.0; d + 1];
            let f = many.evaluate(&p, &mut g);
            assert_eq!(f.to_bits(), f1.to_bits(), "loss on {threads} threads");
            assert_eq!(g, g1, "gradient on {threads} threads");
        }
        // Another summation order than the plain one, so equal only to rounding: relative 1e-12
        // (the sums here are of order 1e4-1e5 with terms of either sign).
        let scale = g_ref.iter().fold(f_ref.abs(), |m, v| m.max(v.abs()));
        assert!((f1 - f_ref).abs() <= 1e-12 * scale, "{f1} vs {f_ref}");
        for (a, b) in g1.iter().zip(&g_ref) {
            assert!((a - b).abs() <= 1e-12 * scale, "{g1:?} vs {g_ref:?}");
        }
    }
}
