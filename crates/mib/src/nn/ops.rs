//! Numerically stable element-wise primitives, each with its derivative.
//!
//! Every estimator, distribution and objective in `mib` goes through these functions instead of raw
//! `exp`/`ln`. Sources: softplus and log-sigmoid as in PyTorch's `F.softplus` / `F.logsigmoid`
//! (`max(x, 0) + log1p(exp(-|x|))`), log-sum-exp with the usual max shift (as linfa-logistic's
//! `log_sum_exp`).

/// `ln(2 pi) / 2`, the normalising constant of a standard normal log-density per dimension.
pub const HALF_LN_2PI: f32 = 0.918_938_5;

/// `softplus(x) = ln(1 + e^x)`, computed as `max(x, 0) + ln(1 + e^-|x|)` (no overflow).
#[inline]
pub fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// `sigmoid(x) = 1 / (1 + e^-x)`, the derivative of [`softplus`]; stable for large `|x|`.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `log_sigmoid(x) = ln sigmoid(x) = -softplus(-x)`; its derivative is `sigmoid(-x)`.
#[inline]
pub fn log_sigmoid(x: f32) -> f32 {
    -softplus(-x)
}

/// `ln sum_i exp(x_i)` with the max shifted out; `-inf` for an empty slice.
pub fn log_sum_exp(x: &[f32]) -> f32 {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !m.is_finite() {
        return m;
    }
    let s: f32 = x.iter().map(|&v| (v - m).exp()).sum();
    m + s.ln()
}

/// The gradient of [`log_sum_exp`]: `softmax(x)`, written into `out` (same length as `x`).
pub fn log_sum_exp_backward(x: &[f32], out: &mut [f32]) {
    let lse = log_sum_exp(x);
    for (o, &v) in out.iter_mut().zip(x) {
        *o = (v - lse).exp();
    }
}

/// The log-density of `N(mu, s^2)` at `z` for one coordinate:
/// `-((z - mu) / s)^2 / 2 - ln s - ln(2 pi) / 2`.
#[inline]
pub fn normal_log_prob(z: f32, mu: f32, s: f32) -> f32 {
    let u = (z - mu) / s;
    -0.5 * u * u - s.ln() - HALF_LN_2PI
}

/// Partial derivatives of [`normal_log_prob`] with respect to `(z, mu, s)`.
#[inline]
pub fn normal_log_prob_backward(z: f32, mu: f32, s: f32) -> (f32, f32, f32) {
    let u = (z - mu) / s;
    let dz = -u / s;
    (dz, -dz, (u * u - 1.0) / s)
}

/// In-place ReLU: `x = max(x, 0)`, branch-free.
#[inline]
pub fn relu_inplace(x: &mut [f32]) {
    for v in x {
        *v = v.max(0.0);
    }
}

/// ReLU backward given the ReLU *output* `y`: `dx = dy` where `y > 0`, else 0 (in place on `dy`).
#[inline]
pub fn relu_backward_inplace(dy: &mut [f32], y: &[f32]) {
    for (d, &v) in dy.iter_mut().zip(y) {
        *d = if v > 0.0 { *d } else { 0.0 };
    }
}

/// A finiteness check of a whole slice that vectorises: `true` when every value is finite.
/// Long slices are checked in parallel chunks on the rayon pool.
pub fn all_finite(x: &[f32]) -> bool {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 16;
    if x.len() > 2 * CHUNK {
        return x.par_chunks(CHUNK).all(all_finite_serial);
    }
    all_finite_serial(x)
}

fn all_finite_serial(x: &[f32]) -> bool {
    const L: usize = 16;
    let mut acc = [0.0f32; L];
    let chunks = x.chunks_exact(L);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..L {
            acc[i] += c[i] * 0.0;
        }
    }
    let mut s: f32 = acc.iter().sum();
    for &v in rest {
        s += v * 0.0;
    }
    s == 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fd(f: impl Fn(f32) -> f32, x: f32) -> f32 {
        let h = 1e-2f32;
        (f(x + h) - f(x - h)) / (2.0 * h)
    }

    #[test]
    fn derivatives_match_finite_differences() {
        for &x in &[-30.0f32, -5.0, -0.7, 0.0, 0.3, 4.0, 25.0] {
            let d = fd(softplus, x);
            assert!((d - sigmoid(x)).abs() < 1e-3, "softplus' at {x}");
            let d = fd(log_sigmoid, x);
            assert!((d - sigmoid(-x)).abs() < 1e-3, "log_sigmoid' at {x}");
        }
        for &(z, mu, s) in &[(0.3f32, -0.2f32, 0.7f32), (-1.0, 0.5, 1.3), (2.0, 2.1, 0.4)] {
            let (dz, dmu, ds) = normal_log_prob_backward(z, mu, s);
            let tol = 2e-3 * (1.0 + dz.abs() + ds.abs());
            assert!((fd(|v| normal_log_prob(v, mu, s), z) - dz).abs() < tol);
            assert!((fd(|v| normal_log_prob(z, v, s), mu) - dmu).abs() < tol);
            assert!((fd(|v| normal_log_prob(z, mu, v), s) - ds).abs() < tol);
        }
        let x = [0.5f32, -1.0, 2.0, 0.1];
        let mut g = [0.0; 4];
        log_sum_exp_backward(&x, &mut g);
        for i in 0..4 {
            let f = |v: f32| {
                let mut y = x;
                y[i] = v;
                log_sum_exp(&y)
            };
            assert!((fd(f, x[i]) - g[i]).abs() < 1e-3);
        }
    }

    #[test]
    fn stable_at_extremes() {
        assert_eq!(softplus(100.0), 100.0);
        assert!(softplus(-100.0) >= 0.0 && softplus(-100.0) < 1e-40);
        assert!((log_sum_exp(&[1000.0, 1000.0]) - (1000.0 + 2f32.ln())).abs() < 1e-3);
        assert!(
            all_finite(&[1.0; 40])
                && !all_finite(&[1.0, f32::NAN])
                && !all_finite(&[f32::INFINITY; 17])
        );
    }
}
