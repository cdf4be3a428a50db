//! L2-regularised logistic regression fitted by L-BFGS, the objective and solver scikit-learn's
//! `LogisticRegression(C=1/alpha, solver="lbfgs")` uses: sum of log-losses + alpha/2 |w|^2 (the
//! intercept not penalised), stopped when the largest component of the gradient divided by the
//! number of rows is <= `tolerance` (scikit-learn scales its objective by 1/rows) or after
//! `max_iterations`.
//!
//! Why not linfa-logistic for the benchmark: measured in `workbench bench train`, its argmin
//! L-BFGS took two orders of magnitude longer than scikit-learn on the same standardised rows
//! (docs/BENCHMARKS.md). This is the textbook two-loop recursion with a backtracking (Armijo)
//! line search; one pass over the rows per function-and-gradient evaluation, on every core
//! (`loss_gradient`: fixed chunks added in a fixed order, so the fit does not depend on the
//! thread count), and no allocation inside the iteration loop.

use crate::loss_gradient::{LossGradient, Rows};

#[derive(Debug, Clone, Copy)]
pub struct LogisticParams {
    pub alpha: f64,
    pub max_iterations: usize,
    pub tolerance: f64,
}

impl Default for LogisticParams {
    fn default() -> Self {
        LogisticParams {
            alpha: 1.0,
            max_iterations: 100,
            tolerance: 1e-4,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Logistic {
    pub weights: Vec<f64>,
    pub intercept: f64,
    pub iterations: usize,
    /// Loss-and-gradient evaluations (passes over the rows), the first one included.
    pub evaluations: usize,
}

impl Logistic {
    /// The logit for one row.
    pub fn logit(&self, row: &[f64]) -> f64 {
        self.intercept + row.iter().zip(&self.weights).map(|(x, w)| x * w).sum::<f64>()
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Fits on row-major `x` (`y.len()` rows of `d` features).
pub fn fit(x: &[f64], y: &[bool], d: usize, params: LogisticParams) -> Logistic {
    fit_weighted(x, y, None, d, params)
}

/// [`fit`] with a weight per row: the objective is the weighted sum of log-losses (a weight of
/// 2 is a row seen twice), and the stopping rule scales with the total weight instead of the
/// row count.
pub fn fit_weighted(
    x: &[f64],
    y: &[bool],
    weights: Option<&[f64]>,
    d: usize,
    params: LogisticParams,
) -> Logistic {
    // The result does not depend on the thread count (see `loss_gradient`), only the time does.
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    fit_threads(Rows { x, y, weights, d }, params, threads)
}

/// The L-BFGS memory: the last [`HISTORY`] steps `s` and gradient changes `y`, oldest first
/// from `start`, in buffers allocated once per fit.
struct History {
    s: Vec<Vec<f64>>,
    y: Vec<Vec<f64>>,
    /// 1 / (y . s) of each pair.
    rho: Vec<f64>,
    start: usize,
    len: usize,
}

const HISTORY: usize = 10;

impl History {
    fn new(dim: usize) -> Self {
        History {
            s: vec![vec![0.0; dim]; HISTORY],
            y: vec![vec![0.0; dim]; HISTORY],
            rho: vec![0.0; HISTORY],
            start: 0,
            len: 0,
        }
    }

    /// Slot of the k-th oldest pair.
    fn slot(&self, k: usize) -> usize {
        (self.start + k) % HISTORY
    }

    /// Stores s = p_new - p, y = g_new - g when the curvature y . s is positive (else the
    /// inverse Hessian estimate would stop being positive definite); drops the oldest when full.
    fn push(&mut self, p_new: &[f64], p: &[f64], g_new: &[f64], g: &[f64]) {
        let ys: f64 = p_new
            .iter()
            .zip(p)
            .zip(g_new.iter().zip(g))
            .map(|((a, b), (c, e))| (c - e) * (a - b))
            .sum();
        if ys <= 1e-10 {
            return;
        }
        let k = if self.len == HISTORY {
            let k = self.start;
            self.start = (self.start + 1) % HISTORY;
            k
        } else {
            self.len += 1;
            self.slot(self.len - 1)
        };
        for (s, (a, b)) in self.s[k].iter_mut().zip(p_new.iter().zip(p)) {
            *s = a - b;
        }
        for (y, (c, e)) in self.y[k].iter_mut().zip(g_new.iter().zip(g)) {
            *y = c - e;
        }
        self.rho[k] = 1.0 / ys;
    }

    /// dir = -H g by the two-loop recursion (`alphas`: scratch of HISTORY values).
    fn direction(&self, g: &[f64], dir: &mut [f64], alphas: &mut [f64]) {
        for (q, gi) in dir.iter_mut().zip(g) {
            *q = *gi;
        }
        for k in (0..self.len).rev() {
            let j = self.slot(k);
            let a = self.rho[j] * dot(&self.s[j], dir);
            dir.iter_mut().zip(&self.y[j]).for_each(|(qi, yi)| *qi -= a * yi);
            alphas[k] = a;
        }
        if self.len > 0 {
            let j = self.slot(self.len - 1);
            let gamma = dot(&self.s[j], &self.y[j]) / dot(&self.y[j], &self.y[j]);
            for v in &mut *dir {
                *v *= gamma;
            }
        }
        for (k, a) in alphas.iter().enumerate().take(self.len) {
            let j = self.slot(k);
            let b = self.rho[j] * dot(&self.y[j], dir);
            dir.iter_mut()
                .zip(&self.s[j])
                .for_each(|(qi, si)| *qi += (a - b) * si);
        }
        for v in &mut *dir {
            *v = -*v;
        }
    }
}

/// [`fit_weighted`] with loss and gradient computed on up to `threads` threads.
fn fit_threads(rows: Rows<'_>, params: LogisticParams, threads: usize) -> Logistic {
    debug_assert!(
        rows.weights.is_none_or(|w| w.len() == rows.y.len()),
        "one weight per row"
    );
    let d = rows.d;
    let total_weight = rows.weights.map_or(rows.y.len() as f64, |w| w.iter().sum());
    let mut objective = LossGradient::new(rows, params.alpha, threads);
    let dim = d + 1;
    let mut p = vec![0.0; dim];
    let mut g = vec![0.0; dim];
    let mut f = objective.evaluate(&p, &mut g);
    let mut evaluations = 1;
    let mut history = History::new(dim);
    let mut alphas = [0.0; HISTORY];
    let mut dir = vec![0.0; dim];
    let mut p_new = vec![0.0; dim];
    let mut g_new = vec![0.0; dim];
    let mut iterations = 0;
    while iterations < params.max_iterations {
        if g.iter().fold(0.0f64, |m, v| m.max(v.abs())) <= params.tolerance * total_weight {
            break;
        }
        iterations += 1;
        history.direction(&g, &mut dir, &mut alphas);
        let mut slope = dot(&g, &dir);
        if slope >= 0.0 {
            // Not a descent direction (curvature lost): restart from steepest descent.
            history.len = 0;
            dir.iter_mut().zip(&g).for_each(|(di, gi)| *di = -gi);
            slope = dot(&g, &dir);
        }
        // Backtracking line search (Armijo); the first step of L-BFGS is usually accepted.
        let mut step = if history.len == 0 {
            1.0 / g.iter().map(|v| v * v).sum::<f64>().sqrt().max(1.0)
        } else {
            1.0
        };
        let mut f_new;
        loop {
            p_new
                .iter_mut()
                .zip(&p)
                .zip(&dir)
                .for_each(|((n, o), d)| *n = o + step * d);
            f_new = objective.evaluate(&p_new, &mut g_new);
            evaluations += 1;
            if f_new <= f + 1e-4 * step * slope || step < 1e-12 {
                break;
            }
            step *= 0.5;
        }
        history.push(&p_new, &p, &g_new, &g);
        let converged = (f - f_new).abs() <= 1e-12 * f.abs().max(1.0);
        std::mem::swap(&mut p, &mut p_new);
        std::mem::swap(&mut g, &mut g_new);
        f = f_new;
        if converged {
            break;
        }
    }
    Logistic {
        intercept: p[d],
        weights: p[..d].to_vec(),
        iterations,
        evaluations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_a_noisy_linear_rule_and_matches_the_optimum_condition() {
        // y = [2 a - b + 0.5 + noise > 0], 2,000 rows.
        let n = 2_000;
        let mut x = Vec::with_capacity(2 * n);
        let mut y = Vec::with_capacity(n);
        let mut rnd = crate::test_uniform(12345);
        for _ in 0..n {
            let (a, b, e) = (rnd(), rnd(), 0.3 * rnd());
            x.extend([a, b]);
            y.push(2.0 * a - b + 0.5 + e > 0.0);
        }
        let m = fit(&x, &y, 2, LogisticParams::default());
        let correct = x
            .chunks_exact(2)
            .zip(&y)
            .filter(|(r, t)| (m.logit(r) > 0.0) == **t)
            .count();
        assert!(correct as f64 / n as f64 > 0.95, "{correct}");
        assert!(m.weights[0] > 0.0 && m.weights[1] < 0.0, "{m:?}");
        // Stopped by the gradient rule: the mean gradient is below the tolerance.
        let mut g = vec![0.0; 3];
        let p = [m.weights[0], m.weights[1], m.intercept];
        let rows = Rows {
            x: &x,
            y: &y,
            weights: None,
            d: 2,
        };
        LossGradient::new(rows, 1.0, 1).evaluate(&p, &mut g);
        assert!(g.iter().all(|v| v.abs() <= 1e-4 * n as f64), "{g:?}");
    }

    #[test]
    fn a_weight_of_two_is_a_row_seen_twice() {
        let rows: [([f64; 2], bool); 6] = [
            ([0.0, 1.0], false),
            ([1.0, 0.5], false),
            ([2.0, 0.0], true),
            ([3.0, 1.0], true),
            ([1.5, 0.2], true),
            ([0.5, 0.9], false),
        ];
        let x: Vec<f64> = rows.iter().flat_map(|r| r.0).collect();
        let y: Vec<bool> = rows.iter().map(|r| r.1).collect();
        let w = [1.0, 2.0, 1.0, 1.0, 2.0, 1.0];
        let params = LogisticParams {
            max_iterations: 500,
            tolerance: 1e-10,
            ..LogisticParams::default()
        };
        let weighted = fit_weighted(&x, &y, Some(&w), 2, params);
        let mut xd = x.clone();
        let mut yd = y.clone();
        for i in [1, 4] {
            xd.extend(rows[i].0);
            yd.push(rows[i].1);
        }
        let duplicated = fit(&xd, &yd, 2, params);
        for (a, b) in weighted.weights.iter().zip(&duplicated.weights) {
            assert!((a - b).abs() < 1e-6, "{weighted:?} vs {duplicated:?}");
        }
        assert!((weighted.intercept - duplicated.intercept).abs() < 1e-6);
        let plain = fit(&x, &y, 2, params);
        assert!(
            (plain.intercept - weighted.intercept).abs() > 1e-3,
            "weights matter"
        );
    }
}

#[cfg(test)]
mod threads_and_optimum {
    use super::*;

    #[test]
    fn the_fitted_weights_do_not_depend_on_the_thread_count() {
        // 40,000 rows x 30 features (above the size that gets threads), a noisy linear rule.
        let (n, d) = (40_000, 30);
        let mut rnd = crate::test_uniform(99);
        let x: Vec<f64> = (0..n * d).map(|_| rnd()).collect();
        let y: Vec<bool> = x
            .chunks_exact(d)
            .map(|r| {
                r.iter()
                    .enumerate()
                    .map(|(j, v)| v / (1.0 + j as f64))
                    .sum::<f64>()
                    + 0.4 * rnd()
                    > 0.1
            })
            .collect();
        let rows = Rows {
            x: &x,
            y: &y,
            weights: None,
            d,
        };
        let params = LogisticParams::default();
        let one = fit_threads(rows, params, 1);
        assert!(one.iterations > 5, "{one:?}");
        for threads in [2, 3] {
            let many = fit_threads(rows, params, threads);
            assert_eq!(many.weights, one.weights, "{threads} threads");
            assert_eq!(many.intercept.to_bits(), one.intercept.to_bits());
            assert_eq!(
                (many.iterations, many.evaluations),
                (one.iterations, one.evaluations)
            );
        }
    }

    #[test]
    fn reaches_the_known_optimum_of_a_symmetric_problem() {
        // One feature, x = +1 in 4,000 rows (3,000 malicious) and x = -1 in 4,000 rows (1,000
        // malicious). By symmetry the intercept is 0, and the weight's gradient is
        // 2 (a + b) sigmoid(w) - 2 a + alpha w with a = 3,000, b = 1,000: its root is the
        // optimum (ln 3 without the penalty), found here by bisection.
        let (a, b, alpha) = (3_000usize, 1_000usize, 1.0);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for (value, malicious, benign) in [(1.0, a, b), (-1.0, b, a)] {
            x.extend(std::iter::repeat_n(value, malicious + benign));
            y.extend(std::iter::repeat_n(true, malicious));
            y.extend(std::iter::repeat_n(false, benign));
        }
        let gradient = |w: f64| 2.0 * (a + b) as f64 / (1.0 + (-w).exp()) - 2.0 * a as f64 + alpha * w;
        let (mut lo, mut hi) = (0.0f64, 10.0f64);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if gradient(mid) > 0.0 {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let optimum = 0.5 * (lo + hi);
        assert!((optimum - 3f64.ln()).abs() < 1e-3, "{optimum}");
        let params = LogisticParams {
            alpha,
            max_iterations: 100,
            tolerance: 1e-10,
        };
        let m = fit(&x, &y, 1, params);
        assert!((m.weights[0] - optimum).abs() < 1e-7, "{m:?} vs {optimum}");
        assert!(m.intercept.abs() < 1e-7, "{m:?}");
        assert!(m.iterations < 100, "stopped by the gradient rule: {m:?}");
    }
}
