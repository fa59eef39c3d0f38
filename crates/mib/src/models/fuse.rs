//! One representation per item from the views it has: the product of the views' Gaussian
//! posteriors (`poe`), or the mean of their means (`mean`).
//!
//! Each view's encoder gives a diagonal Gaussian `N(mu_v, diag(s_v^2))` over the same shared `z`.
//! Their product over the views `V(i)` item `i` has is, per coordinate,
//! `N(sum_v mu_v / s_v^2 / sum_v 1 / s_v^2, 1 / sum_v 1 / s_v^2)`: a precision-weighted mean.
//!
//! The product leaves out the prior `N(0, 1)`: MIB's encoders are trained against each other (the
//! symmetrised KL between the views), never against a prior, so their scales are not calibrated
//! against `N(0, 1)`; a prior expert would only shrink every item's mean towards 0 by an amount
//! that depends on its views' arbitrary scales. Without it, an item with one view gets exactly
//! that view's posterior, and `K` identical posteriors give the same mean.

use super::{training_views, TrainedModel};
use crate::data::MultiViewDataset;
use crate::{Error, Matrix, Result};
use serde::{Deserialize, Serialize};

/// How the views' posteriors of an item are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fuse {
    /// Product of experts: the precision-weighted mean of the present views' posterior means
    /// (no prior expert; see the module docs).
    Poe,
    /// The plain mean of the present views' posterior means.
    Mean,
}

impl std::str::FromStr for Fuse {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "poe" => Ok(Fuse::Poe),
            "mean" => Ok(Fuse::Mean),
            other => Err(Error::config("fuse", other, "expected poe or mean")),
        }
    }
}

/// Fuses per-view posteriors: `means[v]` and `scales[v]` are `[n, z_dim]`; `present[v][i]`
/// (`None`: all present) says whether item `i` has view `v`. Returns the fused means `[n, z_dim]`.
/// Errors name an item with no view, and mismatched shapes.
pub fn fuse_posteriors(
    means: &[Matrix],
    scales: &[Matrix],
    present: Option<&[Vec<bool>]>,
    fuse: Fuse,
) -> Result<Matrix> {
    let k = means.len();
    if k == 0 {
        return Err(Error::Data("fusing needs at least one view".into()));
    }
    let (n, zd) = (means[0].rows, means[0].cols);
    for v in 0..k {
        if means[v].rows != n || means[v].cols != zd {
            return Err(Error::shape(
                format!("posterior means of view {v}"),
                format!("[{n}, {zd}]"),
                format!("[{}, {}]", means[v].rows, means[v].cols),
            ));
        }
        if fuse == Fuse::Poe && (scales.len() != k || scales[v].rows != n || scales[v].cols != zd) {
            return Err(Error::shape(
                format!("posterior scales of view {v}"),
                format!("[{n}, {zd}]"),
                scales
                    .get(v)
                    .map_or("none".to_string(), |s| format!("[{}, {}]", s.rows, s.cols)),
            ));
        }
    }
    if let Some(p) = present {
        if p.len() != k {
            return Err(Error::shape("presence masks (one per view)", k, p.len()));
        }
        if let Some(v) = (0..k).find(|&v| p[v].len() != n) {
            return Err(Error::Data(format!(
                "view {v}: its presence mask has {} entries, but there are {n} items",
                p[v].len()
            )));
        }
    }
    let has = |v: usize, i: usize| present.is_none_or(|p| p[v][i]);
    let mut out = Matrix::zeros(n, zd);
    let mut acc = vec![0f64; zd];
    let mut norm = vec![0f64; zd];
    for i in 0..n {
        acc.fill(0.0);
        norm.fill(0.0);
        let mut any = false;
        for v in 0..k {
            if !has(v, i) {
                continue;
            }
            any = true;
            let m = means[v].row(i);
            match fuse {
                Fuse::Mean => {
                    for c in 0..zd {
                        acc[c] += m[c] as f64;
                        norm[c] += 1.0;
                    }
                }
                Fuse::Poe => {
                    let s = scales[v].row(i);
                    for c in 0..zd {
                        let prec = 1.0 / (s[c] as f64 * s[c] as f64);
                        acc[c] += prec * m[c] as f64;
                        norm[c] += prec;
                    }
                }
            }
        }
        if !any {
            return Err(Error::Data(format!(
                "item {i} has no view to represent it (every view marks it missing)"
            )));
        }
        for (o, (&a, &w)) in out.row_mut(i).iter_mut().zip(acc.iter().zip(&norm)) {
            *o = (a / w) as f32;
        }
    }
    Ok(out)
}

/// The scales of the product of the present views' Gaussian posteriors (`scales[v]`,
/// `[n, z_dim]`; `present[v][i]`, `None`: all): per coordinate `1 / sqrt(sum_v 1 / s_v^2)`, the
/// scale that goes with [`fuse_posteriors`]'s [`Fuse::Poe`] means. Errors as that function does.
pub fn poe_scales(scales: &[Matrix], present: Option<&[Vec<bool>]>) -> Result<Matrix> {
    // the means' checks are the scales' own (same shapes)
    let precision = fuse_posteriors(scales, scales, present, Fuse::Mean)?;
    let (n, zd) = (precision.rows, precision.cols);
    let mut out = Matrix::zeros(n, zd);
    let mut acc = vec![0f64; zd];
    for i in 0..n {
        acc.fill(0.0);
        for (v, s) in scales.iter().enumerate() {
            if present.is_some_and(|p| !p[v][i]) {
                continue;
            }
            for (a, &x) in acc.iter_mut().zip(s.row(i)) {
                *a += 1.0 / (x as f64 * x as f64);
            }
        }
        for (o, &a) in out.row_mut(i).iter_mut().zip(&acc) {
            *o = (1.0 / a.sqrt()) as f32;
        }
    }
    Ok(out)
}

impl TrainedModel {
    /// One representation per item of `views` (one matrix per training view, in training order)
    /// from the views it has (`present[v][i]`; `None`: all), fused by `fuse`
    /// ([`fuse_posteriors`]). Rows of missing views are not read for those items.
    pub fn embed_fused(
        &mut self,
        views: &[Matrix],
        present: Option<&[Vec<bool>]>,
        fuse: Fuse,
    ) -> Result<Matrix> {
        if views.len() != self.n_views() {
            return Err(Error::shape(
                "views to fuse (one per training view)",
                self.n_views(),
                views.len(),
            ));
        }
        let mut means = Vec::with_capacity(views.len());
        let mut scales = Vec::with_capacity(views.len());
        for (v, x) in views.iter().enumerate() {
            let (m, s) = self.posterior(v, x)?;
            means.push(m);
            scales.push(s);
        }
        fuse_posteriors(&means, &scales, present, fuse)
    }

    /// [`Self::embed_fused`] of every item of `ds` (its training views, with its presence masks).
    pub fn embed_dataset_fused(&mut self, ds: &MultiViewDataset, fuse: Fuse) -> Result<Matrix> {
        let slots = training_views(&self.config, ds.views.len())?;
        let mut uniq = slots.clone();
        uniq.dedup();
        if uniq.len() < slots.len() {
            return Err(Error::config(
                "fuse",
                format!("{fuse:?}").to_lowercase(),
                "fusing needs a model trained on two or more distinct views (MIB or MV-InfoMax on \
                 multi-view data)",
            ));
        }
        let views: Vec<Matrix> = slots.iter().map(|&v| ds.views[v].clone()).collect();
        let present: Option<Vec<Vec<bool>>> = ds
            .present
            .as_ref()
            .map(|p| slots.iter().map(|&v| p[v].clone()).collect());
        self.embed_fused(&views, present.as_deref(), fuse)
    }
}
