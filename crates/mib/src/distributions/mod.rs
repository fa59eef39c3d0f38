//! Diagonal Gaussian posteriors `N(mu, diag(s^2))` and KL divergences, forward and backward.
//!
//! An encoder's last layer emits `[rows, 2 * z_dim]` raw values: the first `z_dim` columns are the
//! mean, the rest pass through `softplus(.) + 1e-7` to give the scale, as in the reference
//! (`utils/modules.py`, `Encoder.forward`: `Independent(Normal(mu, softplus(sigma) + 1e-7), 1)`).
//!
//! All functions work on row-major slices of `rows` rows; reductions accumulate in `f64`.

use crate::nn::ops::{normal_log_prob, normal_log_prob_backward, sigmoid, softplus, HALF_LN_2PI};

/// Added to the softplus of the raw scale so that it is never zero (the reference's `1e-7`).
pub const MIN_SCALE: f32 = 1e-7;

/// Gaussian head forward: splits `raw` `[rows, 2Z]` into `mu` and `s = softplus(.) + 1e-7` and draws
/// the reparameterised sample `z = mu + s * eps`.
///
/// # Shapes
/// `raw`: `[rows, 2 * z_dim]`; `eps`, `mu`, `s`, `z`: `[rows, z_dim]`.
pub fn gaussian_head_forward(
    raw: &[f32],
    eps: &[f32],
    z_dim: usize,
    mu: &mut [f32],
    s: &mut [f32],
    z: &mut [f32],
) {
    let rows = mu.len() / z_dim;
    for r in 0..rows {
        let p = &raw[r * 2 * z_dim..(r + 1) * 2 * z_dim];
        for k in 0..z_dim {
            let i = r * z_dim + k;
            let m = p[k];
            let sc = softplus(p[z_dim + k]) + MIN_SCALE;
            mu[i] = m;
            s[i] = sc;
            z[i] = m + sc * eps[i];
        }
    }
}

/// Gaussian head backward: given the loss gradients w.r.t. `mu`, `s` (direct uses) and `z` (the
/// sample), writes the gradient w.r.t. `raw`: `d mu_total = dmu + dz`,
/// `d s_total = ds + dz * eps`, `d raw_scale = d s_total * sigmoid(raw_scale)`.
///
/// # Shapes
/// `raw`, `draw`: `[rows, 2 * z_dim]`; the rest `[rows, z_dim]`.
pub fn gaussian_head_backward(
    raw: &[f32],
    eps: &[f32],
    dmu: &[f32],
    ds: &[f32],
    dz: &[f32],
    z_dim: usize,
    draw: &mut [f32],
) {
    let rows = dmu.len() / z_dim;
    for r in 0..rows {
        let p = &raw[r * 2 * z_dim..(r + 1) * 2 * z_dim];
        let d = &mut draw[r * 2 * z_dim..(r + 1) * 2 * z_dim];
        for k in 0..z_dim {
            let i = r * z_dim + k;
            d[k] = dmu[i] + dz[i];
            d[z_dim + k] = (ds[i] + dz[i] * eps[i]) * sigmoid(p[z_dim + k]);
        }
    }
}

/// Gradient accumulators for one Gaussian: `dz`, `dmu`, `ds`, each `[rows, z_dim]`.
pub struct GaussianGrads<'a> {
    /// Gradient w.r.t. the sample.
    pub dz: &'a mut [f32],
    /// Gradient w.r.t. the mean (direct uses).
    pub dmu: &'a mut [f32],
    /// Gradient w.r.t. the scale (direct uses).
    pub ds: &'a mut [f32],
}

/// A diagonal Gaussian batch given by its mean, scale and a sample, each `[rows, z_dim]`.
#[derive(Clone, Copy)]
pub struct GaussianBatch<'a> {
    /// Means.
    pub mu: &'a [f32],
    /// Scales (standard deviations).
    pub s: &'a [f32],
    /// Reparameterised samples.
    pub z: &'a [f32],
}

/// Symmetrised KL between two posteriors as the reference's single-sample Monte-Carlo estimate
/// (`training/mib.py`):
/// `mean_i [ (log p1(z1) - log p2(z1)) + (log p2(z2) - log p1(z2)) ] / 2`, summing log-densities over
/// `z_dim`. Can be negative on one batch. Adds `coef * d value` to the gradients when given.
pub fn skl_monte_carlo(
    p1: GaussianBatch,
    p2: GaussianBatch,
    z_dim: usize,
    coef: f32,
    grads: Option<(GaussianGrads, GaussianGrads)>,
) -> f32 {
    let n = p1.mu.len();
    let rows = n / z_dim;
    let mut acc = 0.0f64;
    for i in 0..n {
        let (z1, m1, s1, z2, m2, s2) = (p1.z[i], p1.mu[i], p1.s[i], p2.z[i], p2.mu[i], p2.s[i]);
        acc += (normal_log_prob(z1, m1, s1) - normal_log_prob(z1, m2, s2)) as f64
            + (normal_log_prob(z2, m2, s2) - normal_log_prob(z2, m1, s1)) as f64;
    }
    if let Some((g1, g2)) = grads {
        let c = coef / (2.0 * rows as f32);
        for i in 0..n {
            let (z1, m1, s1, z2, m2, s2) = (p1.z[i], p1.mu[i], p1.s[i], p2.z[i], p2.mu[i], p2.s[i]);
            let (a_z, a_m, a_s) = normal_log_prob_backward(z1, m1, s1);
            let (b_z, b_m, b_s) = normal_log_prob_backward(z1, m2, s2);
            let (c_z, c_m, c_s) = normal_log_prob_backward(z2, m2, s2);
            let (d_z, d_m, d_s) = normal_log_prob_backward(z2, m1, s1);
            g1.dz[i] += c * (a_z - b_z);
            g1.dmu[i] += c * (a_m - d_m);
            g1.ds[i] += c * (a_s - d_s);
            g2.dz[i] += c * (c_z - d_z);
            g2.dmu[i] += c * (c_m - b_m);
            g2.ds[i] += c * (c_s - b_s);
        }
    }
    (acc / (2.0 * rows as f64)) as f32
}

/// `KL(N(m1, s1^2) || N(m2, s2^2))` for one coordinate:
/// `ln(s2 / s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2`.
#[inline]
pub fn kl_normal(m1: f32, s1: f32, m2: f32, s2: f32) -> f32 {
    let d = m1 - m2;
    (s2 / s1).ln() + (s1 * s1 + d * d) / (2.0 * s2 * s2) - 0.5
}

/// Partial derivatives of [`kl_normal`] w.r.t. `(m1, s1, m2, s2)`.
#[inline]
pub fn kl_normal_backward(m1: f32, s1: f32, m2: f32, s2: f32) -> (f32, f32, f32, f32) {
    let d = m1 - m2;
    let v2 = s2 * s2;
    (
        d / v2,
        -1.0 / s1 + s1 / v2,
        -d / v2,
        1.0 / s2 - (s1 * s1 + d * d) / (v2 * s2),
    )
}

/// Symmetrised KL in closed form: `mean_i sum_k [KL(p1 || p2) + KL(p2 || p1)] / 2` (non-negative).
/// Adds `coef * d value` to the `dmu`/`ds` gradients when given (`dz` is untouched).
pub fn skl_closed_form(
    p1: GaussianBatch,
    p2: GaussianBatch,
    z_dim: usize,
    coef: f32,
    grads: Option<(GaussianGrads, GaussianGrads)>,
) -> f32 {
    let n = p1.mu.len();
    let rows = n / z_dim;
    let mut acc = 0.0f64;
    for i in 0..n {
        let (m1, s1, m2, s2) = (p1.mu[i], p1.s[i], p2.mu[i], p2.s[i]);
        acc += (kl_normal(m1, s1, m2, s2) + kl_normal(m2, s2, m1, s1)) as f64;
    }
    if let Some((g1, g2)) = grads {
        let c = coef / (2.0 * rows as f32);
        for i in 0..n {
            let (m1, s1, m2, s2) = (p1.mu[i], p1.s[i], p2.mu[i], p2.s[i]);
            let (a1, b1, a2, b2) = kl_normal_backward(m1, s1, m2, s2);
            let (c2, d2, c1, d1) = kl_normal_backward(m2, s2, m1, s1);
            g1.dmu[i] += c * (a1 + c1);
            g1.ds[i] += c * (b1 + d1);
            g2.dmu[i] += c * (a2 + c2);
            g2.ds[i] += c * (b2 + d2);
        }
    }
    (acc / (2.0 * rows as f64)) as f32
}

/// The beta-VAE rate as the reference estimates it (`training/vae.py`): the single-sample
/// `mean_i [log q(z_i | x_i) - log N(z_i; 0, I)]`. Adds `coef * d value` to the gradients.
pub fn rate_monte_carlo(
    q: GaussianBatch,
    z_dim: usize,
    coef: f32,
    grads: Option<GaussianGrads>,
) -> f32 {
    let n = q.mu.len();
    let rows = n / z_dim;
    let mut acc = 0.0f64;
    for i in 0..n {
        let z = q.z[i];
        acc += (normal_log_prob(z, q.mu[i], q.s[i]) - (-0.5 * z * z - HALF_LN_2PI)) as f64;
    }
    if let Some(g) = grads {
        let c = coef / rows as f32;
        for i in 0..n {
            let z = q.z[i];
            let (dz, dm, ds) = normal_log_prob_backward(z, q.mu[i], q.s[i]);
            g.dz[i] += c * (dz + z);
            g.dmu[i] += c * dm;
            g.ds[i] += c * ds;
        }
    }
    (acc / rows as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_backward_matches_finite_differences() {
        let x = [0.3f32, 0.8, -0.4, 1.3];
        let g = kl_normal_backward(x[0], x[1], x[2], x[3]);
        let g = [g.0, g.1, g.2, g.3];
        for i in 0..4 {
            let h = 1e-2;
            let (mut a, mut b) = (x, x);
            a[i] += h;
            b[i] -= h;
            let fd =
                (kl_normal(a[0], a[1], a[2], a[3]) - kl_normal(b[0], b[1], b[2], b[3])) / (2.0 * h);
            assert!(
                (fd - g[i]).abs() < 2e-3 * (1.0 + g[i].abs()),
                "{i}: {fd} vs {}",
                g[i]
            );
        }
        assert!(kl_normal(0.1, 0.5, 0.1, 0.5).abs() < 1e-6);
    }
}
