//! Feature attributions: which input features drive each latent mean.
//!
//! For a view's encoder `mu(x)` (the posterior mean, `z_dim` outputs) and items `x_1..x_n`, each
//! method gives a `[n_features, z_dim]` map:
//!
//! - **gradient x input** (Shrikumar et al. 2016; Simonyan et al. 2014 for the gradient):
//!   `a_ijk = x~_ij * d mu_k / d x~_ij (x~_i)`;
//! - **integrated gradients** (Sundararajan et al., ICML 2017, Eq. 1, Riemann midpoint rule with
//!   `m` steps): `a_ijk = x~_ij * (1/m) sum_s d mu_k / d x~_ij ((s + 1/2)/m * x~_i)`, whose sum over
//!   `j` approaches `mu_k(x~_i) - mu_k(0)` ("completeness", Prop. 1);
//!
//! where `x~ = (x - shift) * scale` is the input as the encoder sees it, after the run's input
//! scaling ([`crate::data::ViewScaling`]): the baseline `x~ = 0` is the training mean under
//! `standardize`, the training minimum under `minmax`, and `x = 0` without scaling. Since
//! `d mu / d x~_j = (d mu / d x_j) / scale_j`, gradient x input is also `(x_j - shift_j) * d mu / d
//! x_j`: the raw gradient times the input's distance from the baseline.
//!
//! The map reports, over the items, the mean of `|a_ijk|` (how strongly feature `j` drives
//! dimension `k`, [`FeatureAttribution::importance`]) and the mean of `a_ijk` (its direction,
//! [`FeatureAttribution::signed`]); and the **loadings** that CCA users read: the Pearson
//! correlation of each raw feature with each latent mean over the same items
//! ([`loadings`]; 0 for a constant feature or dimension).

use serde::{Deserialize, Serialize};

use crate::{Error, Matrix, Result};

/// How attributions are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttributionMethod {
    /// Gradient x input: one gradient per item and dimension.
    GradXInput,
    /// Integrated gradients from the baseline `x~ = 0`, with this many steps.
    IntegratedGradients {
        /// Steps of the Riemann sum (at least 1; 32 is plenty for small encoders).
        steps: usize,
    },
}

/// The default number of integrated-gradient steps.
pub const DEFAULT_IG_STEPS: usize = 32;

impl AttributionMethod {
    /// The method named `name`: `grad-x-input` or `integrated-gradients` (with `steps` steps).
    pub fn parse(name: &str, steps: usize) -> Result<Self> {
        match name {
            "grad-x-input" | "gradient-x-input" | "gxi" => Ok(AttributionMethod::GradXInput),
            "integrated-gradients" | "ig" => {
                if steps == 0 {
                    return Err(Error::config(
                        "steps",
                        steps,
                        "integrated gradients need at least 1 step",
                    ));
                }
                Ok(AttributionMethod::IntegratedGradients { steps })
            }
            other => Err(Error::config(
                "method",
                other,
                "expected grad-x-input or integrated-gradients",
            )),
        }
    }
    /// Its name, as [`AttributionMethod::parse`] reads it.
    pub fn name(&self) -> &'static str {
        match self {
            AttributionMethod::GradXInput => "grad-x-input",
            AttributionMethod::IntegratedGradients { .. } => "integrated-gradients",
        }
    }
    /// The points along the path from the baseline at which gradients are taken (fractions of
    /// the input): `[1]` for gradient x input.
    pub fn alphas(&self) -> Vec<f32> {
        match *self {
            AttributionMethod::GradXInput => vec![1.0],
            AttributionMethod::IntegratedGradients { steps } => (0..steps)
                .map(|s| ((s as f64 + 0.5) / steps as f64) as f32)
                .collect(),
        }
    }
}

/// The attribution maps of one view's encoder over a set of items
/// ([`crate::models::TrainedModel::feature_attribution`]).
///
/// # Shapes
/// `importance`, `signed` and `loadings` are `[n_features, z_dim]`: row `j` is input feature `j`,
/// column `k` latent dimension `k`.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureAttribution {
    /// How the attributions were computed.
    pub method: AttributionMethod,
    /// The training view whose encoder was explained.
    pub view: usize,
    /// Its name.
    pub view_name: String,
    /// Items averaged over.
    pub n_items: usize,
    /// Mean over items of `|a_ijk|`.
    pub importance: Matrix,
    /// Mean over items of `a_ijk`.
    pub signed: Matrix,
    /// Correlation of raw feature `j` with latent mean `k` over the items.
    pub loadings: Matrix,
    /// Integrated gradients only: the completeness gap, `mean_ik |sum_j a_ijk - (mu_k(x_i) -
    /// mu_k(0))|` divided by `mean_ik |mu_k(x_i) - mu_k(0)|` (0 = exact; it shrinks with the steps).
    pub completeness_gap: Option<f64>,
}

impl FeatureAttribution {
    /// The input features most important to latent dimension `k` (by [`Self::importance`]),
    /// most important first, at most `top`.
    pub fn top_features(&self, k: usize, top: usize) -> Vec<usize> {
        top_rows(&self.importance, k, top, |v| v)
    }
    /// The input features with the largest absolute loading on dimension `k`, at most `top`.
    pub fn top_loadings(&self, k: usize, top: usize) -> Vec<usize> {
        top_rows(&self.loadings, k, top, f32::abs)
    }
    /// Importance summed over the latent dimensions: one number per input feature.
    pub fn total_importance(&self) -> Vec<f32> {
        (0..self.importance.rows)
            .map(|j| self.importance.row(j).iter().sum())
            .collect()
    }
}

fn top_rows(m: &Matrix, k: usize, top: usize, key: impl Fn(f32) -> f32) -> Vec<usize> {
    if k >= m.cols {
        return Vec::new();
    }
    let mut idx: Vec<usize> = (0..m.rows).collect();
    idx.sort_by(|&a, &b| {
        key(m.data[b * m.cols + k])
            .partial_cmp(&key(m.data[a * m.cols + k]))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    idx.truncate(top);
    idx
}

/// Pearson correlation of each column of `x` (`[n, d]`) with each column of `z` (`[n, z_dim]`):
/// `[d, z_dim]`, 0 where either column is constant.
pub fn loadings(x: &Matrix, z: &Matrix) -> Result<Matrix> {
    if x.rows != z.rows {
        return Err(Error::shape("rows of the representations", x.rows, z.rows));
    }
    let (n, d, zd) = (x.rows, x.cols, z.cols);
    let mut out = Matrix::zeros(d, zd);
    if n < 2 {
        return Ok(out);
    }
    let mean = |m: &Matrix| -> Vec<f64> {
        let mut s = vec![0f64; m.cols];
        for i in 0..m.rows {
            for (a, &v) in s.iter_mut().zip(m.row(i)) {
                *a += v as f64;
            }
        }
        s.iter().map(|v| v / m.rows as f64).collect()
    };
    let (mx, mz) = (mean(x), mean(z));
    let mut sxz = vec![0f64; d * zd];
    let (mut sxx, mut szz) = (vec![0f64; d], vec![0f64; zd]);
    let mut dz = vec![0f64; zd];
    for i in 0..n {
        for (k, (o, &v)) in dz.iter_mut().zip(z.row(i)).enumerate() {
            *o = v as f64 - mz[k];
            szz[k] += *o * *o;
        }
        for (j, &v) in x.row(i).iter().enumerate() {
            let dx = v as f64 - mx[j];
            sxx[j] += dx * dx;
            let row = &mut sxz[j * zd..(j + 1) * zd];
            for (a, b) in row.iter_mut().zip(&dz) {
                *a += dx * b;
            }
        }
    }
    let o: &mut [f32] = &mut out.data;
    for j in 0..d {
        for k in 0..zd {
            let den = (sxx[j] * szz[k]).sqrt();
            // relative floor: a column constant up to rounding has no correlation to report
            let tiny = 1e-12 * (n as f64);
            o[j * zd + k] = if sxx[j] > tiny && szz[k] > tiny && den > 0.0 {
                (sxz[j * zd + k] / den) as f32
            } else {
                0.0
            };
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loadings_match_a_direct_correlation() {
        // x0 = z, x1 = -2 z + 1, x2 constant
        let zs = [0.5f32, -1.0, 2.0, 0.0, 1.5];
        let x: Vec<f32> = zs.iter().flat_map(|&z| [z, -2.0 * z + 1.0, 3.0]).collect();
        let x = Matrix::new(5, 3, x).unwrap();
        let z = Matrix::new(5, 1, zs.to_vec()).unwrap();
        let l = loadings(&x, &z).unwrap();
        assert!((l.data[0] - 1.0).abs() < 1e-6);
        assert!((l.data[1] + 1.0).abs() < 1e-6);
        assert_eq!(l.data[2], 0.0);
    }

    #[test]
    fn methods_parse_and_name() {
        assert_eq!(
            AttributionMethod::parse("grad-x-input", 0).unwrap(),
            AttributionMethod::GradXInput
        );
        let ig = AttributionMethod::parse("integrated-gradients", 4).unwrap();
        assert_eq!(ig.name(), "integrated-gradients");
        assert_eq!(ig.alphas(), vec![0.125, 0.375, 0.625, 0.875]);
        assert!(AttributionMethod::parse("integrated-gradients", 0).is_err());
        let e = AttributionMethod::parse("shap", 1).unwrap_err().to_string();
        assert!(e.contains("shap") && e.contains("grad-x-input"), "{e}");
    }
}
