//! Bounds on `I(x; z)` of a Gaussian encoder from its own density, for the information plane.
//!
//! The encoder `p(z|x) = N(mu(x), diag(s(x)^2))` is known in closed form, so no critic has to be
//! trained: with `N` items `x_1..x_N` and one sample `z_i ~ p(z|x_i)` each, the aggregate posterior
//! `p(z) = E_x p(z|x)` is approximated by the mixture of the `N` posteriors, which sandwiches the
//! mutual information (Poole et al., "On Variational Bounds of Mutual Information", ICML 2019, eq. 12
//! and the leave-one-out bound of section 3):
//!
//! ```text
//! lower = mean_i [ log p(z_i|x_i) - log( 1/N     sum_j      p(z_i|x_j) ) ]   <= I(x; z)   (<= log N)
//! upper = mean_i [ log p(z_i|x_i) - log( 1/(N-1) sum_{j!=i} p(z_i|x_j) ) ]   >= I(x; z)   (in expectation)
//! ```
//!
//! A near-deterministic encoder (MV-InfoMax) has a lower bound close to its cap `log N` and a large
//! upper bound; a compressing one (MIB with a large beta) has both small and close together.

use rand::Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Error, Matrix, MibRng, Result};

/// Lower and upper bounds on `I(x; z)` in nats, over `n` items.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EncoderInformationBounds {
    /// The InfoNCE-type lower bound (at most `ln n`).
    pub lower: f64,
    /// The leave-one-out upper bound.
    pub upper: f64,
    /// Number of items used.
    pub n: usize,
}

/// Name of the estimator, for reports.
pub const I_XZ_ENCODER_BOUNDS: &str =
    "encoder-density bounds over test items (Poole et al. 2019): InfoNCE lower, leave-one-out upper";

/// Computes the bounds from posterior means and scales (`[n, z_dim]` each), drawing one sample
/// per item from `rng`.
pub fn encoder_information_bounds_using(
    mean: &Matrix,
    scale: &Matrix,
    rng: &mut MibRng,
) -> Result<EncoderInformationBounds> {
    let (n, d) = (mean.rows, mean.cols);
    if scale.rows != n || scale.cols != d {
        return Err(Error::shape(
            "posterior scales",
            format!("{n} x {d}"),
            format!("{} x {}", scale.rows, scale.cols),
        ));
    }
    if n < 2 {
        return Err(Error::Data(format!(
            "I(x;z) bounds need at least 2 items, got {n}"
        )));
    }
    if scale.data.iter().any(|&s| !(s > 0.0 && s.is_finite()))
        || mean.data.iter().any(|m| !m.is_finite())
    {
        return Err(Error::Data(
            "I(x;z) bounds: non-finite posterior mean or non-positive scale".into(),
        ));
    }
    let z: Vec<f64> = (0..n * d)
        .map(|i| {
            let e: f64 = rng.sample(StandardNormal);
            mean.data[i] as f64 + scale.data[i] as f64 * e
        })
        .collect();
    let inv_s: Vec<f64> = scale.data.iter().map(|&s| 1.0 / s as f64).collect();
    // Per posterior j: -sum_k log s_jk - d/2 log(2 pi).
    let norm: Vec<f64> = (0..n)
        .map(|j| {
            -(0..d)
                .map(|k| (scale.data[j * d + k] as f64).ln())
                .sum::<f64>()
                - 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln()
        })
        .collect();
    let per_item: Vec<(f64, f64)> = (0..n)
        .into_par_iter()
        .map(|i| {
            let zi = &z[i * d..(i + 1) * d];
            let logq = |j: usize| -> f64 {
                let mut q = 0.0;
                for k in 0..d {
                    let t = (zi[k] - mean.data[j * d + k] as f64) * inv_s[j * d + k];
                    q += t * t;
                }
                norm[j] - 0.5 * q
            };
            let own = logq(i);
            let mut max_other = f64::NEG_INFINITY;
            let others: Vec<f64> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let v = logq(j);
                    max_other = max_other.max(v);
                    v
                })
                .collect();
            let sum_other: f64 = others.iter().map(|v| (v - max_other).exp()).sum();
            let lse_other = max_other + sum_other.ln();
            let m = max_other.max(own);
            let lse_all = m + ((own - m).exp() + ((lse_other - m).exp())).ln();
            (
                own - lse_all + (n as f64).ln(),
                own - lse_other + ((n - 1) as f64).ln(),
            )
        })
        .collect();
    let lower = per_item.iter().map(|p| p.0).sum::<f64>() / n as f64;
    let upper = per_item.iter().map(|p| p.1).sum::<f64>() / n as f64;
    Ok(EncoderInformationBounds { lower, upper, n })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn posterior(n: usize, d: usize, spread: f32, s: f32) -> (Matrix, Matrix) {
        let mut rng = MibRng::seed_from_u64(3);
        let mean = Matrix::new(
            n,
            d,
            (0..n * d)
                .map(|_| spread * rng.sample::<f32, _>(StandardNormal))
                .collect(),
        )
        .unwrap();
        (mean, Matrix::new(n, d, vec![s; n * d]).unwrap())
    }

    #[test]
    fn bounds_sandwich_the_gaussian_channel_information() {
        // x ~ N(0, a^2 I), z = x + N(0, s^2 I): I(x; z) = d/2 ln(1 + a^2 / s^2) exactly.
        let (n, d, a, s) = (1500, 2, 1.0f32, 0.5f32);
        let (mean, scale) = posterior(n, d, a, s);
        let truth = 0.5 * d as f64 * (1.0 + (a * a / (s * s)) as f64).ln();
        let b =
            encoder_information_bounds_using(&mean, &scale, &mut MibRng::seed_from_u64(1)).unwrap();
        assert!(b.lower <= b.upper);
        assert!(
            (b.lower - truth).abs() < 0.1,
            "lower {} truth {truth}",
            b.lower
        );
        assert!(
            (b.upper - truth).abs() < 0.1,
            "upper {} truth {truth}",
            b.upper
        );
    }

    #[test]
    fn a_deterministic_encoder_hits_the_log_n_cap() {
        let (mean, scale) = posterior(200, 4, 1.0, 1e-4);
        let b =
            encoder_information_bounds_using(&mean, &scale, &mut MibRng::seed_from_u64(1)).unwrap();
        assert!((b.lower - (200f64).ln()).abs() < 1e-3);
        assert!(b.upper > 100.0);
    }

    #[test]
    fn an_encoder_that_ignores_x_carries_no_information() {
        let (mut mean, scale) = posterior(300, 3, 1.0, 1.0);
        mean.data.iter_mut().for_each(|m| *m = 0.25);
        let b =
            encoder_information_bounds_using(&mean, &scale, &mut MibRng::seed_from_u64(1)).unwrap();
        assert!(b.lower.abs() < 1e-9 && b.upper.abs() < 1e-9, "{b:?}");
    }
}
