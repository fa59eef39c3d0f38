//! Per-view input scaling that travels with the model.
//!
//! A view's values are mapped `x -> (x - shift[c]) * scale[c]` (per column `c`) before they reach
//! its encoder, in training and whenever the model embeds rows later. The statistics are computed
//! once, on the training split, and saved with the model (checkpoint and `model.safetensors`
//! metadata), so `mib embed`, `mib eval` and the Python `transform` apply exactly the transform
//! the encoder was trained behind.
//!
//! - [`ScalingKind::Standardize`]: per column, mean and standard deviation (columns with no spread
//!   are only centred);
//! - [`ScalingKind::Minmax`]: the whole view to `[0, 1]` with one minimum and one maximum (what
//!   images need: a pixel keeps its meaning whatever its position);
//! - [`ScalingKind::None`]: values as they are.
//!
//! [`ScalingConfig::Auto`] (the default) standardises views read from files or handed over from
//! memory, maps image views of augmented pairs to `[0, 1]`, and leaves the named datasets alone:
//! their loaders scale them already (mfeat's `pix` to `[0, 1]`, its other views standardised,
//! image datasets to `[0, 1]`).

use serde::{Deserialize, Serialize};

use crate::{Error, Matrix, Result};

/// How one view is scaled.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ScalingKind {
    /// Values as they are.
    None,
    /// Per column: `(x - mean) / std` with the training statistics.
    Standardize,
    /// The whole view to `[0, 1]`: `(x - min) / (max - min)` with the training extremes.
    Minmax,
}

/// The `data.scaling` config key: `"auto"`, one kind for every view, or one kind per view.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum ScalingConfig {
    /// `"auto"`, or one kind for every view (`"none"`, `"standardize"`, `"minmax"`).
    One(ScalingChoice),
    /// One kind per dataset view, in the order of `data.views`.
    PerView(Vec<ScalingKind>),
}

impl Default for ScalingConfig {
    fn default() -> Self {
        ScalingConfig::One(ScalingChoice::Auto)
    }
}

/// `"auto"` or a [`ScalingKind`].
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ScalingChoice {
    /// Chosen from where the view comes from (see the module docs).
    Auto,
    /// No scaling.
    None,
    /// Per-column standardisation.
    Standardize,
    /// The view to `[0, 1]`.
    Minmax,
}

impl ScalingConfig {
    /// Whether the key is left at its default (`auto`; not written to `config.toml` then).
    pub fn is_auto(&self) -> bool {
        matches!(self, ScalingConfig::One(ScalingChoice::Auto))
    }

    /// The kind of dataset view `v` of `n_views`: `named` says the data comes from a named
    /// dataset's loader (already scaled), `image` that the view is an image of augmented pairs.
    pub fn kind_for(
        &self,
        v: usize,
        n_views: usize,
        named: bool,
        image: bool,
    ) -> Result<ScalingKind> {
        let auto = || {
            if named {
                ScalingKind::None
            } else if image {
                ScalingKind::Minmax
            } else {
                ScalingKind::Standardize
            }
        };
        Ok(match self {
            ScalingConfig::One(ScalingChoice::Auto) => auto(),
            ScalingConfig::One(ScalingChoice::None) => ScalingKind::None,
            ScalingConfig::One(ScalingChoice::Standardize) => ScalingKind::Standardize,
            ScalingConfig::One(ScalingChoice::Minmax) => ScalingKind::Minmax,
            ScalingConfig::PerView(kinds) => {
                if kinds.len() != n_views {
                    return Err(Error::config(
                        "data.scaling",
                        format!("{} kinds", kinds.len()),
                        format!("give one kind per view ({n_views}), or one for all"),
                    ));
                }
                kinds[v]
            }
        })
    }
}

/// Rows the statistics are computed on at most: evenly spaced rows of the training split, so that a
/// view far larger than memory is not read in full before training starts.
pub const SCALING_SAMPLE_ROWS: usize = 50_000;

/// The fitted scaling of one view: `x -> (x - shift[c]) * scale[c]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ViewScaling {
    /// Which kind it is.
    pub kind: ScalingKind,
    /// Subtracted from each column.
    pub shift: Vec<f32>,
    /// Then multiplied into each column.
    pub scale: Vec<f32>,
}

impl ViewScaling {
    /// Fits `kind` on the rows of `x` (at most [`SCALING_SAMPLE_ROWS`], evenly spaced); `None` for
    /// [`ScalingKind::None`].
    pub fn fit(kind: ScalingKind, x: &Matrix) -> Option<Self> {
        let (n, d) = (x.rows, x.cols);
        if kind == ScalingKind::None || n == 0 {
            return None;
        }
        let m = n.min(SCALING_SAMPLE_ROWS);
        // Row `i * n / m` for i in 0..m: every row when n <= the sample size.
        let rows = (0..m).map(|i| ((i as u128 * n as u128) / m as u128) as usize);
        let (shift, scale) = match kind {
            ScalingKind::None => unreachable!("returned above"),
            ScalingKind::Standardize => {
                let mut sum = vec![0f64; d];
                let mut sq = vec![0f64; d];
                for r in rows.clone() {
                    for (c, &v) in x.row(r).iter().enumerate() {
                        sum[c] += v as f64;
                    }
                }
                let mean: Vec<f64> = sum.iter().map(|s| s / m as f64).collect();
                for r in rows {
                    for (c, &v) in x.row(r).iter().enumerate() {
                        sq[c] += (v as f64 - mean[c]).powi(2);
                    }
                }
                let scale = sq
                    .iter()
                    .map(|&s| {
                        let sd = (s / m as f64).sqrt();
                        if sd > 1e-12 {
                            (1.0 / sd) as f32
                        } else {
                            1.0
                        }
                    })
                    .collect();
                (mean.iter().map(|&v| v as f32).collect(), scale)
            }
            ScalingKind::Minmax => {
                let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
                for r in rows {
                    for &v in x.row(r) {
                        lo = lo.min(v);
                        hi = hi.max(v);
                    }
                }
                let s = if hi - lo > 0.0 { 1.0 / (hi - lo) } else { 1.0 };
                (vec![lo; d], vec![s; d])
            }
        };
        Some(ViewScaling { kind, shift, scale })
    }

    /// Number of columns.
    pub fn dim(&self) -> usize {
        self.shift.len()
    }

    /// Scales `rows` in place (row-major, `dim()` columns).
    pub fn apply(&self, rows: &mut [f32]) {
        let d = self.dim();
        if d == 0 {
            return;
        }
        for row in rows.chunks_exact_mut(d) {
            for ((x, &m), &s) in row.iter_mut().zip(&self.shift).zip(&self.scale) {
                *x = (*x - m) * s;
            }
        }
    }

    /// Writes the scaled `src` into `dst` (same length, `dim()` columns).
    pub fn apply_into(&self, src: &[f32], dst: &mut [f32]) {
        let d = self.dim();
        for (so, dd) in src.chunks_exact(d).zip(dst.chunks_exact_mut(d)) {
            for (((o, &x), &m), &s) in dd.iter_mut().zip(so).zip(&self.shift).zip(&self.scale) {
                *o = (x - m) * s;
            }
        }
    }

    /// Checks it against a view of width `dim` (named `what` in the error): lengths agree and
    /// every value is finite.
    pub fn check(&self, dim: usize, what: &str) -> Result<()> {
        if self.shift.len() != dim || self.scale.len() != dim {
            return Err(Error::shape(
                format!("input scaling of {what}"),
                dim,
                format!(
                    "{} shifts and {} scales",
                    self.shift.len(),
                    self.scale.len()
                ),
            ));
        }
        if self.shift.iter().chain(&self.scale).any(|x| !x.is_finite()) {
            return Err(Error::Data(format!(
                "input scaling of {what}: non-finite statistics"
            )));
        }
        Ok(())
    }
}

/// What `data.scaling` does to the views of a run folder's training set `train` (named datasets
/// come scaled from their loaders), e.g. `pix: standardize, fou: standardize (fitted on the training
/// split, saved with the model)`; `None` when it scales nothing.
pub fn describe(
    cfg: &crate::config::TrainConfig,
    train: &super::MultiViewDataset,
) -> Option<String> {
    let named = cfg.data.dataset != "npy";
    let image = matches!(cfg.data.pairing, super::PairingConfig::Augment { .. });
    let n = train.views.len();
    let parts: Vec<String> = (0..n)
        .filter_map(|v| {
            let k = cfg.data.scaling.kind_for(v, n, named, image).ok()?;
            (k != ScalingKind::None).then(|| {
                format!(
                    "{}: {}",
                    train.view_names[v],
                    match k {
                        ScalingKind::Standardize => "standardize",
                        ScalingKind::Minmax => "minmax",
                        ScalingKind::None => "none",
                    }
                )
            })
        })
        .collect();
    (!parts.is_empty()).then(|| {
        format!(
            "{} (fitted on the training split, saved with the model)",
            parts.join(", ")
        )
    })
}

/// One fitted scaling (or `None`) per training view slot.
pub type SlotScaling = Vec<Option<ViewScaling>>;

/// Applies slot `slot`'s scaling of `scaling` to `rows` in place (nothing when it has none).
pub fn apply_slot(scaling: &[Option<ViewScaling>], slot: usize, rows: &mut [f32]) {
    if let Some(Some(s)) = scaling.get(slot) {
        s.apply(rows);
    }
}

/// A scaled copy of `rows` when slot `slot` has a scaling, else `None` (use the rows as they are).
pub fn scaled_copy(scaling: &[Option<ViewScaling>], slot: usize, rows: &[f32]) -> Option<Vec<f32>> {
    match scaling.get(slot) {
        Some(Some(s)) => {
            let mut out = vec![0.0; rows.len()];
            s.apply_into(rows, &mut out);
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardize_gives_zero_mean_unit_variance() {
        let x = Matrix::new(4, 2, vec![1.0, 5.0, 2.0, 5.0, 3.0, 5.0, 4.0, 5.0]).unwrap();
        let s = ViewScaling::fit(ScalingKind::Standardize, &x).unwrap();
        let mut d = x.data.to_vec();
        s.apply(&mut d);
        let col0: Vec<f32> = d.iter().step_by(2).copied().collect();
        let mean: f32 = col0.iter().sum::<f32>() / 4.0;
        let var: f32 = col0.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 4.0;
        assert!(
            mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5,
            "{mean} {var}"
        );
        // a constant column is only centred
        assert!(d.iter().skip(1).step_by(2).all(|&v| v == 0.0));
    }

    #[test]
    fn minmax_maps_the_view_to_the_unit_interval() {
        let x = Matrix::new(2, 3, vec![0.0, 3.0, 6.0, 1.5, 0.0, 6.0]).unwrap();
        let s = ViewScaling::fit(ScalingKind::Minmax, &x).unwrap();
        let mut d = x.data.to_vec();
        s.apply(&mut d);
        assert_eq!(d, vec![0.0, 0.5, 1.0, 0.25, 0.0, 1.0]);
    }

    #[test]
    fn auto_depends_on_the_source() {
        let a = ScalingConfig::default();
        assert_eq!(a.kind_for(0, 2, true, false).unwrap(), ScalingKind::None);
        assert_eq!(
            a.kind_for(0, 2, false, false).unwrap(),
            ScalingKind::Standardize
        );
        assert_eq!(a.kind_for(0, 1, false, true).unwrap(), ScalingKind::Minmax);
        let per = ScalingConfig::PerView(vec![ScalingKind::None, ScalingKind::Minmax]);
        assert_eq!(
            per.kind_for(1, 2, false, false).unwrap(),
            ScalingKind::Minmax
        );
        let e = per.kind_for(0, 3, false, false).unwrap_err().to_string();
        assert!(e.contains("data.scaling"), "{e}");
    }
}
