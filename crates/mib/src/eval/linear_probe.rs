//! The linear probe: multinomial logistic regression on frozen representations, as the reference
//! evaluation does it (mfederici/Multi-View-Information-Bottleneck, `utils/evaluation.py`, which calls
//! scikit-learn's `LogisticRegression(C=10)` after a `MinMaxScaler` fitted on the labelled subset).
//!
//! Objective, for `n` labelled items `x_i` (after scaling) with labels `y_i` and `K` classes
//! (weights `W` of shape `K x d`, biases `b`, bias unpenalised, as in scikit-learn):
//!
//! ```text
//! J(W, b) = (1/n) sum_i [ logsumexp_k(w_k . x_i + b_k) - (w_{y_i} . x_i + b_{y_i}) ] + ||W||^2 / (2 C n)
//! ```
//!
//! This is scikit-learn's objective (`sum of log losses + ||W||^2 / (2C)`) divided by `n`. It is
//! minimised exactly (to `tol` on the largest gradient entry) by L-BFGS in `f64`.

use serde::{Deserialize, Serialize};

use super::lbfgs::{minimize, LbfgsSettings};
use crate::{Error, Matrix, Result};

/// Hyperparameters of the linear probe. [`Default`] is the reference setting (C = 10, MinMax scaling).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinearProbeParams {
    /// Inverse L2 regularisation strength (scikit-learn's `C`): the penalty is `||W||^2 / (2 C)`
    /// relative to the sum of log-losses. Must be positive and finite. Default 10.
    pub c: f64,
    /// Maximum number of L-BFGS iterations. Default 1000.
    pub max_iter: usize,
    /// Convergence tolerance on the largest absolute gradient entry of the (per-item mean)
    /// objective. Default 1e-5.
    pub tol: f64,
    /// Scale each feature to `[0, 1]` on the labelled set (scikit-learn's `MinMaxScaler`, fitted
    /// on the training items, applied unclipped to the test items). Default true.
    pub minmax: bool,
}

impl Default for LinearProbeParams {
    fn default() -> Self {
        LinearProbeParams {
            c: 10.0,
            max_iter: 1000,
            tol: 1e-5,
            minmax: true,
        }
    }
}

impl LinearProbeParams {
    /// Checks the hyperparameters; errors name the offending field.
    pub fn check(&self) -> Result<()> {
        if !(self.c.is_finite() && self.c > 0.0) {
            return Err(Error::config(
                "eval.probe.c",
                self.c,
                "must be positive and finite",
            ));
        }
        if self.max_iter == 0 {
            return Err(Error::config(
                "eval.probe.max_iter",
                0,
                "must be at least 1",
            ));
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(Error::config(
                "eval.probe.tol",
                self.tol,
                "must be finite and >= 0",
            ));
        }
        Ok(())
    }

    /// Fits the probe on `x` (`n x d`) with labels `y` in `0..n_classes`.
    ///
    /// Errors on invalid hyperparameters, mismatched lengths, an empty set, labels out of range or
    /// non-finite features.
    pub fn fit(&self, x: &Matrix, y: &[u32], n_classes: usize) -> Result<FittedLinearProbe> {
        self.check()?;
        check_xy(x, y.len(), "linear probe")?;
        if n_classes < 2 {
            return Err(Error::config(
                "n_classes",
                n_classes,
                "need at least 2 classes",
            ));
        }
        if let Some(&bad) = y.iter().find(|&&l| l as usize >= n_classes) {
            return Err(Error::Data(format!(
                "label {bad} out of range for {n_classes} classes"
            )));
        }
        let scaler = Scaler::fit(x, self.minmax);
        let mut xs = scaler.transform_f64(x);
        let (n, d, k) = (x.rows, x.cols, n_classes);
        let penalty = 1.0 / (self.c * n as f64);
        // Exact reparameterisation for conditioning: the solver sees standardised features
        // `u = (x_s - mu) / sigma` and weights `v = w * sigma`, with bias `b' = b + w . mu`. The
        // objective is unchanged because the bias is unpenalised and the penalty on `w` becomes
        // `sum_j (v_j / sigma_j)^2`.
        let (mu, sigma) = standardize(&mut xs, n, d);
        let pen: Vec<f64> = sigma.iter().map(|s| penalty / (s * s)).collect();
        let mut theta = vec![0.0f64; k * d + k];
        // Logits, then softmax - one-hot, for all items: `n x k`, row-major.
        let mut z = vec![0.0f64; n * k];
        let settings = LbfgsSettings {
            memory: 10,
            max_iter: self.max_iter,
            gtol: self.tol,
            ftol: 1e-13,
        };
        let out = minimize(&mut theta, &settings, |theta, grad| {
            let (w, b) = theta.split_at(k * d);
            let (gw, gb) = grad.split_at_mut(k * d);
            // Z = U V^T (U: n x d standardised items, V: k x d weights).
            gemm_f64(n, k, d, &mut z, (k, 1), &xs, (d, 1), w, (1, d));
            gb.iter_mut().for_each(|g| *g = 0.0);
            let mut loss = 0.0;
            for (zi, &yi) in z.chunks_exact_mut(k).zip(y) {
                let mut mx = f64::NEG_INFINITY;
                for (zc, bc) in zi.iter_mut().zip(b) {
                    *zc += bc;
                    mx = mx.max(*zc);
                }
                let mut sum = 0.0;
                for zc in zi.iter_mut() {
                    *zc = (*zc - mx).exp();
                    sum += *zc;
                }
                let yi = yi as usize;
                // log-loss = logsumexp - z_y = ln(sum) + mx - z_y, with z_y - mx = ln(e_y).
                loss += sum.ln() - zi[yi].ln();
                let inv = 1.0 / sum;
                for (c, (zc, g)) in zi.iter_mut().zip(gb.iter_mut()).enumerate() {
                    *zc *= inv;
                    if c == yi {
                        *zc -= 1.0;
                    }
                    *g += *zc;
                }
            }
            // dW = G^T U  (k x d).
            gemm_f64(k, d, n, gw, (d, 1), &z, (1, k), &xs, (d, 1));
            let inv_n = 1.0 / n as f64;
            let mut reg = 0.0;
            for (j, (g, wv)) in gw.iter_mut().zip(w).enumerate() {
                let pj = pen[j % d];
                *g = *g * inv_n + pj * wv;
                reg += pj * wv * wv;
            }
            gb.iter_mut().for_each(|g| *g *= inv_n);
            loss * inv_n + 0.5 * reg
        });
        let mut bias = theta.split_off(k * d);
        for c in 0..k {
            let wc = &mut theta[c * d..(c + 1) * d];
            for j in 0..d {
                wc[j] /= sigma[j];
                bias[c] -= wc[j] * mu[j];
            }
        }
        Ok(FittedLinearProbe {
            n_classes: k,
            scaler,
            weights: theta,
            bias,
            objective: out.f,
            iterations: out.iterations,
            converged: out.converged,
        })
    }
}

pub(crate) fn check_xy(x: &Matrix, n_labels: usize, what: &str) -> Result<()> {
    if x.rows != n_labels {
        return Err(Error::shape(
            format!("{what} labels"),
            x.rows,
            format!("{n_labels} labels"),
        ));
    }
    if x.rows == 0 || x.cols == 0 {
        return Err(Error::Data(format!(
            "{what}: empty feature matrix ({} x {})",
            x.rows, x.cols
        )));
    }
    if x.data.len() != x.rows * x.cols {
        return Err(Error::shape(
            format!("{what} features"),
            x.rows * x.cols,
            x.data.len(),
        ));
    }
    if let Some(p) = x.data.iter().position(|v| !v.is_finite()) {
        return Err(Error::Data(format!(
            "{what}: non-finite feature at row {}, column {}",
            p / x.cols,
            p % x.cols
        )));
    }
    Ok(())
}

/// Centres and scales the columns of the row-major `n x d` buffer in place to mean 0 and standard
/// deviation 1 (a constant column keeps scale 1); returns the means and scales.
pub(crate) fn standardize(xs: &mut [f64], n: usize, d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut mu = vec![0.0; d];
    for row in xs.chunks_exact(d) {
        axpy(1.0, row, &mut mu);
    }
    mu.iter_mut().for_each(|m| *m /= n as f64);
    let mut var = vec![0.0; d];
    for row in xs.chunks_exact_mut(d) {
        for j in 0..d {
            row[j] -= mu[j];
            var[j] += row[j] * row[j];
        }
    }
    let sigma: Vec<f64> = var
        .iter()
        .map(|v| {
            let s = (v / n as f64).sqrt();
            if s > 1e-12 {
                s
            } else {
                1.0
            }
        })
        .collect();
    for row in xs.chunks_exact_mut(d) {
        row.iter_mut().zip(&sigma).for_each(|(x, s)| *x /= s);
    }
    (mu, sigma)
}

/// `dst (m x n) = lhs (m x k) * rhs (k x n)` in `f64`, single-threaded, with each operand given as a
/// slice and its `(row stride, column stride)`.
///
/// # Panics
/// When an operand slice is too short for its shape and strides.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_f64(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f64],
    dst_s: (usize, usize),
    lhs: &[f64],
    lhs_s: (usize, usize),
    rhs: &[f64],
    rhs_s: (usize, usize),
) {
    gemm_t(m, n, k, dst, dst_s, lhs, lhs_s, rhs, rhs_s, 0.0, 1.0)
}

/// As [`gemm_f64`], in `f32`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_f32(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_s: (usize, usize),
    lhs: &[f32],
    lhs_s: (usize, usize),
    rhs: &[f32],
    rhs_s: (usize, usize),
) {
    gemm_t(m, n, k, dst, dst_s, lhs, lhs_s, rhs, rhs_s, 0.0, 1.0)
}

#[allow(clippy::too_many_arguments)]
fn gemm_t<T: Copy + 'static>(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [T],
    dst_s: (usize, usize),
    lhs: &[T],
    lhs_s: (usize, usize),
    rhs: &[T],
    rhs_s: (usize, usize),
    zero: T,
    one: T,
) {
    let need = |rows: usize, cols: usize, s: (usize, usize)| {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * s.0 + (cols - 1) * s.1 + 1
        }
    };
    assert!(dst.len() >= need(m, n, dst_s), "gemm: dst too short");
    assert!(lhs.len() >= need(m, k, lhs_s), "gemm: lhs too short");
    assert!(rhs.len() >= need(k, n, rhs_s), "gemm: rhs too short");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for i in 0..m {
            for j in 0..n {
                dst[i * dst_s.0 + j * dst_s.1] = zero;
            }
        }
        return;
    }
    // SAFETY: the asserts above guarantee that every element addressed by the shapes and strides
    // lies inside its slice; `dst` does not alias `lhs` or `rhs` (distinct borrows). `T` is f32 or
    // f64 (the crate-private callers), both supported by `gemm`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_s.1 as isize,
            dst_s.0 as isize,
            false,
            lhs.as_ptr(),
            lhs_s.1 as isize,
            lhs_s.0 as isize,
            rhs.as_ptr(),
            rhs_s.1 as isize,
            rhs_s.0 as isize,
            zero,
            one,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[inline]
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    // Four accumulators so the compiler vectorises without reassociation.
    let mut acc = [0.0f64; 4];
    let (ca, ra) = a.split_at(a.len() / 4 * 4);
    let (cb, rb) = b.split_at(ca.len());
    for (x, y) in ca.chunks_exact(4).zip(cb.chunks_exact(4)) {
        acc[0] += x[0] * y[0];
        acc[1] += x[1] * y[1];
        acc[2] += x[2] * y[2];
        acc[3] += x[3] * y[3];
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[inline]
pub(crate) fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    y.iter_mut().zip(x).for_each(|(yi, xi)| *yi += a * xi);
}

/// Per-feature affine scaling `x' = (x - min) * scale` (identity when MinMax scaling is off).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Scaler {
    min: Vec<f64>,
    scale: Vec<f64>,
}

impl Scaler {
    /// scikit-learn's `MinMaxScaler` to `[0, 1]`: a constant feature gets scale 1.
    pub(crate) fn fit(x: &Matrix, minmax: bool) -> Scaler {
        let d = x.cols;
        if !minmax {
            return Scaler {
                min: vec![0.0; d],
                scale: vec![1.0; d],
            };
        }
        let mut lo = vec![f64::INFINITY; d];
        let mut hi = vec![f64::NEG_INFINITY; d];
        for i in 0..x.rows {
            for (j, &v) in x.row(i).iter().enumerate() {
                lo[j] = lo[j].min(v as f64);
                hi[j] = hi[j].max(v as f64);
            }
        }
        let scale = lo
            .iter()
            .zip(&hi)
            .map(|(l, h)| {
                let r = h - l;
                if r > 0.0 {
                    1.0 / r
                } else {
                    1.0
                }
            })
            .collect();
        Scaler { min: lo, scale }
    }

    pub(crate) fn transform_row(&self, row: &[f32], out: &mut [f64]) {
        for ((o, &v), (m, s)) in out
            .iter_mut()
            .zip(row)
            .zip(self.min.iter().zip(&self.scale))
        {
            *o = (v as f64 - m) * s;
        }
    }

    pub(crate) fn transform_f64(&self, x: &Matrix) -> Vec<f64> {
        let mut out = vec![0.0; x.rows * x.cols];
        for i in 0..x.rows {
            self.transform_row(x.row(i), &mut out[i * x.cols..(i + 1) * x.cols]);
        }
        out
    }
}

/// A fitted linear probe: the scaler and the softmax-regression weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedLinearProbe {
    n_classes: usize,
    scaler: Scaler,
    /// `n_classes x d`, row-major, acting on scaled features.
    weights: Vec<f64>,
    bias: Vec<f64>,
    objective: f64,
    iterations: usize,
    converged: bool,
}

impl FittedLinearProbe {
    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }
    /// Input dimension.
    pub fn n_features(&self) -> usize {
        self.scaler.min.len()
    }
    /// The weights (`n_classes x n_features`, row-major), acting on *scaled* features.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }
    /// The biases (`n_classes`).
    pub fn bias(&self) -> &[f64] {
        &self.bias
    }
    /// The training objective at the solution (mean log-loss + `||W||^2 / (2 C n)`).
    pub fn objective(&self) -> f64 {
        self.objective
    }
    /// L-BFGS iterations used.
    pub fn iterations(&self) -> usize {
        self.iterations
    }
    /// Whether the solver met its tolerance before `max_iter`.
    pub fn converged(&self) -> bool {
        self.converged
    }

    /// Calls `f(i, logits_i)` for every row `i` of `x` (unscaled features), in order. The scaler
    /// is folded into the weights and the logits computed by blocks of rows with one matrix product.
    fn for_each_logits(&self, x: &Matrix, mut f: impl FnMut(usize, &[f64])) {
        let (d, k) = (self.n_features(), self.n_classes);
        // w'_cj = w_cj * scale_j, b'_c = b_c - sum_j w'_cj min_j.
        let mut w = self.weights.clone();
        let mut b = self.bias.clone();
        for c in 0..k {
            for j in 0..d {
                w[c * d + j] *= self.scaler.scale[j];
                b[c] -= w[c * d + j] * self.scaler.min[j];
            }
        }
        const BLOCK: usize = 2048;
        let mut xb = vec![0.0f64; BLOCK.min(x.rows) * d];
        let mut z = vec![0.0f64; BLOCK.min(x.rows) * k];
        for start in (0..x.rows).step_by(BLOCK) {
            let m = BLOCK.min(x.rows - start);
            for (o, v) in xb.iter_mut().zip(&x.data[start * d..(start + m) * d]) {
                *o = *v as f64;
            }
            gemm_f64(m, k, d, &mut z, (k, 1), &xb, (d, 1), &w, (1, d));
            for (r, zi) in z[..m * k].chunks_exact_mut(k).enumerate() {
                zi.iter_mut().zip(&b).for_each(|(zc, bc)| *zc += bc);
                f(start + r, zi);
            }
        }
    }

    fn assert_dim(&self, x: &Matrix) {
        assert_eq!(
            x.cols,
            self.n_features(),
            "probe fitted on {} features, given {}",
            self.n_features(),
            x.cols
        );
    }

    /// Class probabilities, `x.rows x n_classes`.
    ///
    /// # Panics
    /// When `x.cols` differs from the fitted dimension.
    pub fn predict_proba(&self, x: &Matrix) -> Matrix {
        self.assert_dim(x);
        let mut out = Matrix::zeros(x.rows, self.n_classes);
        self.for_each_logits(x, |i, z| {
            let lse = log_sum_exp(z);
            for (o, l) in out.row_mut(i).iter_mut().zip(z) {
                *o = (l - lse).exp() as f32;
            }
        });
        out
    }

    /// Predicted classes (arg-max of the logits; the lowest class index wins ties).
    ///
    /// # Panics
    /// When `x.cols` differs from the fitted dimension.
    pub fn predict(&self, x: &Matrix) -> Vec<u32> {
        self.assert_dim(x);
        let mut out = Vec::with_capacity(x.rows);
        self.for_each_logits(x, |_, z| out.push(argmax(z) as u32));
        out
    }

    /// Fraction of rows of `x` whose predicted class equals `y` (0 for an empty set).
    ///
    /// # Panics
    /// When `x.cols` differs from the fitted dimension or `y.len() != x.rows`.
    pub fn accuracy(&self, x: &Matrix, y: &[u32]) -> f64 {
        assert_eq!(
            x.rows,
            y.len(),
            "accuracy: {} rows, {} labels",
            x.rows,
            y.len()
        );
        if y.is_empty() {
            return 0.0;
        }
        let hits = self
            .predict(x)
            .iter()
            .zip(y)
            .filter(|(p, t)| p == t)
            .count();
        hits as f64 / y.len() as f64
    }

    /// Mean cross-entropy `-(1/n) sum_i ln p(y_i | x_i)` in nats (0 for an empty set).
    ///
    /// # Panics
    /// When `x.cols` differs from the fitted dimension, `y.len() != x.rows` or a label is out of range.
    pub fn cross_entropy(&self, x: &Matrix, y: &[u32]) -> f64 {
        self.assert_dim(x);
        assert_eq!(
            x.rows,
            y.len(),
            "cross_entropy: {} rows, {} labels",
            x.rows,
            y.len()
        );
        if y.is_empty() {
            return 0.0;
        }
        let mut s = 0.0;
        self.for_each_logits(x, |i, z| s += log_sum_exp(z) - z[y[i] as usize]);
        s / y.len() as f64
    }
}

/// `ln sum_c exp(z_c)`, stably (max-shifted).
pub(crate) fn log_sum_exp(z: &[f64]) -> f64 {
    let mx = z.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    mx + z.iter().map(|v| (v - mx).exp()).sum::<f64>().ln()
}

pub(crate) fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The analytic gradient matches central finite differences of the objective.
    #[test]
    fn fitted_objective_is_stationary_and_matches_recomputation() {
        let x = Matrix::new(
            6,
            2,
            vec![0.0, 1.0, 1.0, 0.5, 0.2, 0.1, 0.9, 0.8, 0.3, 0.3, 0.7, 0.0],
        )
        .unwrap();
        let y = [0, 1, 2, 1, 0, 2];
        let p = LinearProbeParams {
            tol: 1e-10,
            minmax: false,
            ..Default::default()
        };
        let f = p.fit(&x, &y, 3).unwrap();
        assert!(f.converged());
        // Recompute the objective from the public pieces.
        let ce = f.cross_entropy(&x, &y);
        let reg: f64 = f.weights().iter().map(|w| w * w).sum::<f64>() / (2.0 * 10.0 * 6.0);
        assert!((ce + reg - f.objective()).abs() < 1e-9);
        // Perturbing the solution in any coordinate does not lower the objective.
        let obj = |w: &[f64], b: &[f64]| {
            let g = FittedLinearProbe {
                weights: w.to_vec(),
                bias: b.to_vec(),
                ..f.clone()
            };
            g.cross_entropy(&x, &y) + w.iter().map(|v| v * v).sum::<f64>() / 120.0
        };
        for j in 0..f.weights.len() {
            let mut w = f.weights.clone();
            w[j] += 1e-3;
            assert!(obj(&w, &f.bias) >= f.objective() - 1e-10);
        }
    }
}
