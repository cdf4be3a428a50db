//! L2-regularised logistic regression fitted by L-BFGS, the objective and solver scikit-learn's
//! `LogisticRegression(C=1/alpha, solver="lbfgs")` uses: sum of log-losses + alpha/2 |w|^2 (the
//! intercept not penalised), stopped when the largest component of the gradient divided by the
//! number of rows is <= `tolerance` (scikit-learn scales its objective by 1/rows) or after
//! `max_iterations`.
//!
//! Why not linfa-logistic for the benchmark: measured in `workbench bench train`, its argmin
//! L-BFGS took two orders of magnitude longer than scikit-learn on the same standardised rows
//! (docs/BENCHMARKS.md). This is the textbook two-loop recursion with a backtracking (Armijo)
//! line search; one pass over the rows per function-and-gradient evaluation.

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
}

impl Logistic {
    /// The logit for one row.
    pub fn logit(&self, row: &[f64]) -> f64 {
        self.intercept + row.iter().zip(&self.weights).map(|(x, w)| x * w).sum::<f64>()
    }
}

/// log(1 + exp(z)) without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Loss and gradient at `p` = (w_0..w_{d-1}, b) over row-major `x` (n x d), each row's
/// log-loss times its weight (1 without weights).
fn loss_grad(
    x: &[f64],
    y: &[bool],
    weights: Option<&[f64]>,
    d: usize,
    alpha: f64,
    p: &[f64],
    g: &mut [f64],
) -> f64 {
    g.fill(0.0);
    let (w, b) = p.split_at(d);
    let mut loss = 0.0;
    for (i, (row, &t)) in x.chunks_exact(d).zip(y).enumerate() {
        let z = b[0] + row.iter().zip(w).map(|(a, c)| a * c).sum::<f64>();
        let weight = weights.map_or(1.0, |ws| ws[i]);
        // -log P(t | z): softplus(z) for a benign row, softplus(-z) for a malicious one.
        loss += weight * if t { softplus(-z) } else { softplus(z) };
        let r = weight * (sigmoid(z) - f64::from(u8::from(t)));
        for (gi, a) in g[..d].iter_mut().zip(row) {
            *gi += r * a;
        }
        g[d] += r;
    }
    for (gi, wi) in g[..d].iter_mut().zip(w) {
        *gi += alpha * wi;
    }
    loss + 0.5 * alpha * w.iter().map(|v| v * v).sum::<f64>()
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
    const HISTORY: usize = 10;
    debug_assert!(weights.is_none_or(|w| w.len() == y.len()), "one weight per row");
    let total_weight = weights.map_or(y.len() as f64, |w| w.iter().sum());
    let dim = d + 1;
    let mut p = vec![0.0; dim];
    let mut g = vec![0.0; dim];
    let mut f = loss_grad(x, y, weights, d, params.alpha, &p, &mut g);
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut iterations = 0;
    let mut g_new = vec![0.0; dim];
    while iterations < params.max_iterations {
        if g.iter().fold(0.0f64, |m, v| m.max(v.abs())) <= params.tolerance * total_weight {
            break;
        }
        iterations += 1;
        // Two-loop recursion: direction = -H g.
        let mut q = g.clone();
        let mut alphas = Vec::with_capacity(s_hist.len());
        for (s, yv) in s_hist.iter().zip(&y_hist).rev() {
            let rho = 1.0 / dot(yv, s);
            let a = rho * dot(s, &q);
            q.iter_mut().zip(yv).for_each(|(qi, yi)| *qi -= a * yi);
            alphas.push((a, rho));
        }
        if let (Some(s), Some(yv)) = (s_hist.last(), y_hist.last()) {
            let gamma = dot(s, yv) / dot(yv, yv);
            for v in &mut q {
                *v *= gamma;
            }
        }
        for ((s, yv), (a, rho)) in s_hist.iter().zip(&y_hist).zip(alphas.into_iter().rev()) {
            let b = rho * dot(yv, &q);
            q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
        }
        let mut dir: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut slope = dot(&g, &dir);
        if slope >= 0.0 {
            // Not a descent direction (curvature lost): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            dir = g.iter().map(|v| -v).collect();
            slope = dot(&g, &dir);
        }
        // Backtracking line search (Armijo); the first step of L-BFGS is usually accepted.
        let mut step = if s_hist.is_empty() {
            1.0 / g.iter().map(|v| v * v).sum::<f64>().sqrt().max(1.0)
        } else {
            1.0
        };
        let mut p_new = vec![0.0; dim];
        let mut f_new;
        loop {
            p_new
                .iter_mut()
                .zip(&p)
                .zip(&dir)
                .for_each(|((n, o), d)| *n = o + step * d);
            f_new = loss_grad(x, y, weights, d, params.alpha, &p_new, &mut g_new);
            if f_new <= f + 1e-4 * step * slope || step < 1e-12 {
                break;
            }
            step *= 0.5;
        }
        let s: Vec<f64> = p_new.iter().zip(&p).map(|(a, b)| a - b).collect();
        let yv: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        if dot(&s, &yv) > 1e-10 {
            if s_hist.len() == HISTORY {
                s_hist.remove(0);
                y_hist.remove(0);
            }
            s_hist.push(s);
            y_hist.push(yv);
        }
        let converged = (f - f_new).abs() <= 1e-12 * f.abs().max(1.0);
        p.copy_from_slice(&p_new);
        g.copy_from_slice(&g_new);
        f = f_new;
        if converged {
            break;
        }
    }
    Logistic {
        intercept: p[d],
        weights: p[..d].to_vec(),
        iterations,
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
        let mut state = 12345u64;
        let mut rnd = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        };
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
        loss_grad(&x, &y, None, 2, 1.0, &p, &mut g);
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
