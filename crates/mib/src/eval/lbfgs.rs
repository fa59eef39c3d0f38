//! A compact limited-memory BFGS minimiser (Nocedal & Wright, "Numerical Optimization", 2nd ed.,
//! Algorithm 7.4 two-loop recursion + Algorithm 7.5) with a backtracking Armijo line search.
//!
//! Used for the smooth, strongly convex probe objectives (L2-penalised logistic regressions),
//! where a plain Armijo backtracking from the unit step is reliable.

/// Settings of one minimisation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LbfgsSettings {
    /// Number of correction pairs kept.
    pub memory: usize,
    /// Maximum number of iterations (line searches).
    pub max_iter: usize,
    /// Stop when `max_i |grad_i| <= gtol` (as scipy's `pgtol`, which scikit-learn sets to `tol`).
    pub gtol: f64,
    /// Stop when the relative objective decrease `(f_k - f_{k+1}) / max(|f_k|, |f_{k+1}|, 1)` is
    /// below this (scipy's `factr * eps`).
    pub ftol: f64,
}

/// Outcome of a minimisation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LbfgsOutcome {
    /// Objective at the returned point.
    pub f: f64,
    /// Iterations done.
    pub iterations: usize,
    /// Whether a stopping test (not the iteration cap) ended the run.
    pub converged: bool,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Minimises `f` from `x` (updated in place). `fg(x, grad)` returns `f(x)` and writes the gradient.
pub(crate) fn minimize(
    x: &mut [f64],
    settings: &LbfgsSettings,
    mut fg: impl FnMut(&[f64], &mut [f64]) -> f64,
) -> LbfgsOutcome {
    let n = x.len();
    let m = settings.memory.max(1);
    let mut g = vec![0.0; n];
    let mut f = fg(x, &mut g);
    let mut s_hist: Vec<Vec<f64>> = Vec::with_capacity(m);
    let mut y_hist: Vec<Vec<f64>> = Vec::with_capacity(m);
    let mut rho_hist: Vec<f64> = Vec::with_capacity(m);
    let mut alpha = vec![0.0; m];
    let mut d = vec![0.0; n];
    let mut x_new = vec![0.0; n];
    let mut g_new = vec![0.0; n];
    let gmax = |g: &[f64]| g.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    if !f.is_finite() || gmax(&g) <= settings.gtol {
        return LbfgsOutcome {
            f,
            iterations: 0,
            converged: f.is_finite(),
        };
    }
    for it in 1..=settings.max_iter {
        // Two-loop recursion: d = -H g.
        d.copy_from_slice(&g);
        let k = s_hist.len();
        for j in (0..k).rev() {
            alpha[j] = rho_hist[j] * dot(&s_hist[j], &d);
            let a = alpha[j];
            d.iter_mut()
                .zip(&y_hist[j])
                .for_each(|(di, yi)| *di -= a * yi);
        }
        let gamma = if k > 0 {
            dot(&s_hist[k - 1], &y_hist[k - 1]) / dot(&y_hist[k - 1], &y_hist[k - 1])
        } else {
            1.0 / dot(&g, &g).sqrt().max(1e-300)
        };
        d.iter_mut().for_each(|di| *di *= gamma);
        for j in 0..k {
            let b = rho_hist[j] * dot(&y_hist[j], &d);
            let c = alpha[j] - b;
            d.iter_mut()
                .zip(&s_hist[j])
                .for_each(|(di, si)| *di += c * si);
        }
        d.iter_mut().for_each(|di| *di = -*di);
        let mut slope = dot(&g, &d);
        if slope >= 0.0 {
            // Not a descent direction (should not happen on a convex problem): restart.
            s_hist.clear();
            y_hist.clear();
            rho_hist.clear();
            let scale = 1.0 / dot(&g, &g).sqrt().max(1e-300);
            d.iter_mut().zip(&g).for_each(|(di, gi)| *di = -gi * scale);
            slope = dot(&g, &d);
        }
        // Backtracking Armijo line search from the unit step.
        let mut step = 1.0;
        let mut f_new;
        let mut tries = 0;
        loop {
            x_new
                .iter_mut()
                .zip(x.iter().zip(&d))
                .for_each(|(xn, (xi, di))| *xn = xi + step * di);
            f_new = fg(&x_new, &mut g_new);
            if f_new.is_finite() && f_new <= f + 1e-4 * step * slope {
                break;
            }
            tries += 1;
            if tries > 40 {
                return LbfgsOutcome {
                    f,
                    iterations: it,
                    converged: false,
                };
            }
            step *= 0.5;
        }
        // Update the history.
        let s: Vec<f64> = x_new.iter().zip(x.iter()).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 * dot(&y, &y).max(1e-300) {
            if s_hist.len() == m {
                s_hist.remove(0);
                y_hist.remove(0);
                rho_hist.remove(0);
            }
            s_hist.push(s);
            y_hist.push(y);
            rho_hist.push(1.0 / sy);
        }
        x.copy_from_slice(&x_new);
        g.copy_from_slice(&g_new);
        let rel = (f - f_new) / f.abs().max(f_new.abs()).max(1.0);
        f = f_new;
        if gmax(&g) <= settings.gtol || rel <= settings.ftol {
            return LbfgsOutcome {
                f,
                iterations: it,
                converged: true,
            };
        }
    }
    LbfgsOutcome {
        f,
        iterations: settings.max_iter,
        converged: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimises_rosenbrock() {
        let mut x = vec![-1.2, 1.0];
        let out = minimize(
            &mut x,
            &LbfgsSettings {
                memory: 10,
                max_iter: 1000,
                gtol: 1e-10,
                ftol: 0.0,
            },
            |x, g| {
                let (a, b) = (x[0], x[1]);
                g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
                g[1] = 200.0 * (b - a * a);
                (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
            },
        );
        assert!(out.converged);
        assert!(
            (x[0] - 1.0).abs() < 1e-6 && (x[1] - 1.0).abs() < 1e-6,
            "{x:?}"
        );
    }
}
