//! Input gradients of a [`TrainedModel`]'s posterior means: the backward pass feature attributions
//! ([`crate::eval::FeatureAttribution`]) are built on.

use super::TrainedModel;
use crate::eval::{loadings, AttributionMethod, FeatureAttribution};
use crate::nn::ParamStore;
use crate::objectives::{encoder_name, Encoder};
use crate::{Error, Matrix, Result};

/// Rows per chunk of the attribution passes.
const ATTRIBUTION_ROWS: usize = 64;

impl TrainedModel {
    /// An encoder of training slot `slot` that also computes input gradients, with the step's
    /// parameter layout, and a gradient buffer for its parameters.
    fn input_grad_encoder(&self, slot: usize) -> Result<(Encoder, Vec<f32>)> {
        let m = &self.config.model;
        let n_enc = if m.objective.is_multi_view() && !m.shared_encoder {
            self.info.in_dims.len()
        } else {
            1
        };
        let e = slot.min(n_enc - 1);
        let mut scratch = ParamStore::new();
        let mut enc = None;
        for i in 0..=e {
            enc = Some(Encoder::with_input_grad(
                &mut scratch,
                &encoder_name(i),
                &m.for_view(i),
                self.info.in_dims[i],
                ATTRIBUTION_ROWS,
            )?);
        }
        let main = self.step.params().entries();
        let same = scratch.entries().len() <= main.len()
            && scratch
                .entries()
                .iter()
                .zip(main)
                .all(|(a, b)| a.name == b.name && a.shape == b.shape && a.range() == b.range());
        if !same {
            return Err(Error::Data(
                "the attribution encoder does not match the model's parameters".into(),
            ));
        }
        Ok((enc.expect("built above"), vec![0.0; main_len(self)]))
    }

    /// Runs the encoder of training view `view` over the rows of `x` (raw, scaled here as
    /// training scaled them) at each fraction `alphas` of the scaled input, and calls
    /// `sink(first_row, rows, scaled, grads)` per chunk with the scaled input `[rows, d]` and the
    /// gradients of the latent means w.r.t. the scaled input, averaged over `alphas`:
    /// `[z_dim, rows, d]` (dimension `k`'s block first).
    fn mean_input_gradients(
        &mut self,
        view: usize,
        x: &Matrix,
        alphas: &[f32],
        mut sink: impl FnMut(usize, usize, &[f32], &[f32]) + Send,
    ) -> Result<()> {
        let slot = self.check_view(view, x)?;
        let (mut enc, mut pgrads) = self.input_grad_encoder(slot)?;
        let params = self.step.params().values();
        let scaling = self.meta.scaling.get(view).and_then(Option::as_ref);
        let (d, zd) = (x.cols, self.z_dim());
        let data: &[f32] = &x.data;
        let mut scaled = vec![0f32; ATTRIBUTION_ROWS * d];
        let mut acc = vec![0f32; zd * ATTRIBUTION_ROWS * d];
        let w = 1.0 / alphas.len().max(1) as f32;
        self.pool.install(|| {
            let mut start = 0;
            while start < x.rows {
                let n = ATTRIBUTION_ROWS.min(x.rows - start);
                let rows = &data[start * d..(start + n) * d];
                let sc = &mut scaled[..n * d];
                match scaling {
                    Some(s) => s.apply_into(rows, sc),
                    None => sc.copy_from_slice(rows),
                }
                let acc = &mut acc[..zd * n * d];
                acc.fill(0.0);
                for &a in alphas {
                    for (o, &v) in enc.input_mut(n).iter_mut().zip(sc.iter()) {
                        *o = a * v;
                    }
                    enc.forward(params, n);
                    for k in 0..zd {
                        let (_, og) = enc.output_and_grad_mut(n);
                        og.fill(0.0);
                        for i in 0..n {
                            og[i * 2 * zd + k] = 1.0;
                        }
                        enc.backward(params, &mut pgrads, n);
                        for (o, &g) in acc[k * n * d..(k + 1) * n * d]
                            .iter_mut()
                            .zip(enc.input_grad(n))
                        {
                            *o += w * g;
                        }
                    }
                }
                sink(start, n, sc, acc);
                start += n;
            }
        })
    }

    /// The Jacobian of the posterior mean w.r.t. the raw input, one `[z_dim, d]` matrix per row of
    /// `x` (`d mu_k / d x_j`, the input scaling included): what [`Self::feature_attribution`]
    /// differentiates, exposed for checks against finite differences of [`Self::embed`]. Holds
    /// `n * z_dim * d` floats: meant for a few rows.
    pub fn mean_jacobian(&mut self, view: usize, x: &Matrix) -> Result<Vec<Matrix>> {
        let (d, zd) = (x.cols, self.z_dim());
        let scale: Option<Vec<f32>> = self
            .meta
            .scaling
            .get(view)
            .and_then(Option::as_ref)
            .map(|s| s.scale.clone());
        let mut out = vec![Matrix::zeros(zd, d); x.rows];
        self.mean_input_gradients(view, x, &[1.0], |start, n, _, g| {
            for i in 0..n {
                let m: &mut [f32] = &mut out[start + i].data;
                for k in 0..zd {
                    let src = &g[(k * n + i) * d..(k * n + i + 1) * d];
                    for (j, (o, &v)) in m[k * d..(k + 1) * d].iter_mut().zip(src).enumerate() {
                        *o = v * scale.as_ref().map_or(1.0, |s| s[j]);
                    }
                }
            }
        })?;
        Ok(out)
    }

    /// Feature attributions of training view `view`'s encoder over the rows of `x` (raw; the
    /// run's input scaling is applied): per input feature and latent dimension, the mean
    /// `|attribution|` and mean attribution of `method`, and the loadings (correlation of each
    /// raw feature with each latent mean). See [`crate::eval::FeatureAttribution`].
    ///
    /// # Shapes
    /// `x`: `[n, in_dims[view]]`, `n >= 1`; the maps are `[in_dims[view], z_dim]`.
    pub fn feature_attribution(
        &mut self,
        view: usize,
        x: &Matrix,
        method: AttributionMethod,
    ) -> Result<FeatureAttribution> {
        if let AttributionMethod::IntegratedGradients { steps: 0 } = method {
            return Err(Error::config(
                "steps",
                0,
                "integrated gradients need at least 1 step",
            ));
        }
        self.check_view(view, x)?;
        if x.rows == 0 {
            return Err(Error::shape("rows to attribute", "at least 1", 0));
        }
        let (n_all, d, zd) = (x.rows, x.cols, self.z_dim());
        let mut abs = vec![0f64; d * zd];
        let mut sig = vec![0f64; d * zd];
        // integrated gradients: sum_j a_ijk per row and dimension, for the completeness check
        let ig = matches!(method, AttributionMethod::IntegratedGradients { .. });
        let mut sums = if ig {
            vec![0f32; n_all * zd]
        } else {
            Vec::new()
        };
        self.mean_input_gradients(view, x, &method.alphas(), |start, n, sc, g| {
            for k in 0..zd {
                for i in 0..n {
                    let gi = &g[(k * n + i) * d..(k * n + i + 1) * d];
                    let xi = &sc[i * d..(i + 1) * d];
                    let mut s = 0f32;
                    for j in 0..d {
                        let a = gi[j] * xi[j];
                        abs[j * zd + k] += a.abs() as f64;
                        sig[j * zd + k] += a as f64;
                        s += a;
                    }
                    if ig {
                        sums[(start + i) * zd + k] = s;
                    }
                }
            }
        })?;
        let inv = 1.0 / n_all as f64;
        let to_matrix = |v: Vec<f64>| {
            Matrix::new(d, zd, v.into_iter().map(|a| (a * inv) as f32).collect())
                .expect("d * zd values")
        };
        let z = self.embed(view, x)?;
        let completeness_gap = if ig {
            // mu(baseline): the input that the scaling maps to 0
            let base = match self.meta.scaling.get(view).and_then(Option::as_ref) {
                Some(s) => Matrix::new(1, d, s.shift.clone())?,
                None => Matrix::zeros(1, d),
            };
            let zb = self.embed(view, &base)?;
            let (mut gap, mut size) = (0f64, 0f64);
            for i in 0..n_all {
                for k in 0..zd {
                    let delta = (z.data[i * zd + k] - zb.data[k]) as f64;
                    gap += (sums[i * zd + k] as f64 - delta).abs();
                    size += delta.abs();
                }
            }
            Some(if size > 0.0 { gap / size } else { 0.0 })
        } else {
            None
        };
        Ok(FeatureAttribution {
            method,
            view,
            view_name: self.info.view_names.get(view).cloned().unwrap_or_default(),
            n_items: n_all,
            importance: to_matrix(abs),
            signed: to_matrix(sig),
            loadings: loadings(x, &z)?,
            completeness_gap,
        })
    }
}

fn main_len(m: &TrainedModel) -> usize {
    m.step.params().values().len()
}
