//! Multi-label linear probe (one-vs-rest logistic regressions, one per label) and its label-limited
//! protocol, scored by mean average precision (as for MIR-Flickr in the paper).

use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::lbfgs::{minimize, LbfgsSettings};
use super::linear_probe::{axpy, check_xy, dot, standardize, LinearProbeParams, Scaler};
use super::protocol::{mean_std, task_seed};
use super::retrieval::mean_average_precision_multilabel;
use crate::{Error, Matrix, MibRng, Result};

/// One-vs-rest logistic regressions, fitted with [`LinearProbeParams`] (each label's objective is
/// its mean binary log-loss + `||w||^2 / (2 C n)`, bias unpenalised; shared MinMax scaling).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedMultilabelProbe {
    scaler: Scaler,
    /// `n_labels x d`.
    weights: Vec<f64>,
    bias: Vec<f64>,
}

/// Fits one binary logistic regression per column of `targets` (`n x n_labels`, > 0.5 = positive)
/// on `x` (`n x d`); the labels are fitted in parallel.
pub fn fit_multilabel_probe(
    params: &LinearProbeParams,
    x: &Matrix,
    targets: &Matrix,
) -> Result<FittedMultilabelProbe> {
    params.check()?;
    check_xy(x, targets.rows, "multi-label probe")?;
    if targets.cols == 0 {
        return Err(Error::Data("multi-label probe: no labels".into()));
    }
    let scaler = Scaler::fit(x, params.minmax);
    let mut xs = scaler.transform_f64(x);
    let (n, d, nl) = (x.rows, x.cols, targets.cols);
    let penalty = 1.0 / (params.c * n as f64);
    // Same exact reparameterisation as the multinomial probe (standardised features, rescaled
    // weights and penalty), undone below.
    let (mu, sigma) = standardize(&mut xs, n, d);
    let pen: Vec<f64> = sigma.iter().map(|s| penalty / (s * s)).collect();
    let settings = LbfgsSettings {
        memory: 10,
        max_iter: params.max_iter,
        gtol: params.tol,
        ftol: 1e-13,
    };
    let fitted: Vec<Vec<f64>> = (0..nl)
        .into_par_iter()
        .map(|l| {
            let t: Vec<f64> = (0..n)
                .map(|i| (targets.data[i * nl + l] > 0.5) as u8 as f64)
                .collect();
            let mut theta = vec![0.0; d + 1];
            minimize(&mut theta, &settings, |theta, grad| {
                let (w, b) = (&theta[..d], theta[d]);
                grad.iter_mut().for_each(|g| *g = 0.0);
                let mut loss = 0.0;
                for i in 0..n {
                    let xi = &xs[i * d..(i + 1) * d];
                    let z = b + dot(w, xi);
                    // log(1 + e^z) - t z, stably; d/dz = sigmoid(z) - t.
                    let sp = if z > 0.0 {
                        z + (-z).exp().ln_1p()
                    } else {
                        z.exp().ln_1p()
                    };
                    loss += sp - t[i] * z;
                    let g = 1.0 / (1.0 + (-z).exp()) - t[i];
                    axpy(g, xi, &mut grad[..d]);
                    grad[d] += g;
                }
                let inv = 1.0 / n as f64;
                let mut reg = 0.0;
                for j in 0..d {
                    grad[j] = grad[j] * inv + pen[j] * w[j];
                    reg += pen[j] * w[j] * w[j];
                }
                grad[d] *= inv;
                loss * inv + 0.5 * reg
            });
            for j in 0..d {
                theta[j] /= sigma[j];
                theta[d] -= theta[j] * mu[j];
            }
            theta
        })
        .collect();
    let mut weights = Vec::with_capacity(nl * d);
    let mut bias = Vec::with_capacity(nl);
    for th in fitted {
        weights.extend_from_slice(&th[..d]);
        bias.push(th[d]);
    }
    Ok(FittedMultilabelProbe {
        scaler,
        weights,
        bias,
    })
}

impl FittedMultilabelProbe {
    /// Number of labels.
    pub fn n_labels(&self) -> usize {
        self.bias.len()
    }

    /// Decision scores (logits), `x.rows x n_labels`; rank by these for average precision.
    ///
    /// # Panics
    /// When `x.cols` differs from the fitted dimension.
    pub fn decision_function(&self, x: &Matrix) -> Matrix {
        let d = self.weights.len() / self.bias.len().max(1);
        assert_eq!(x.cols, d, "multi-label probe: dimension mismatch");
        let nl = self.n_labels();
        let mut buf = vec![0.0; d];
        let mut out = Matrix::zeros(x.rows, nl);
        for i in 0..x.rows {
            self.scaler.transform_row(x.row(i), &mut buf);
            for (l, o) in out.row_mut(i).iter_mut().enumerate() {
                *o = (self.bias[l] + dot(&self.weights[l * d..(l + 1) * d], &buf)) as f32;
            }
        }
        out
    }
}

/// Test mAP of the multi-label probe for one number of labelled training items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultilabelSummary {
    /// Labelled training items drawn (uniformly, without replacement).
    pub labelled: usize,
    /// Mean test mAP over repetitions.
    pub mean_map: f64,
    /// Population standard deviation of test mAP over repetitions.
    pub std: f64,
    /// Repetitions.
    pub repetitions: usize,
}

/// Label-limited multi-label protocol: for each count in `labelled`, `repetitions` uniform draws of
/// that many training items; fit [`fit_multilabel_probe`] and score the test set by
/// [`mean_average_precision_multilabel`]. Deterministic for a `seed`, whatever the thread count.
#[allow(clippy::too_many_arguments)]
pub fn few_label_multilabel_probe(
    train: &Matrix,
    t_train: &Matrix,
    test: &Matrix,
    t_test: &Matrix,
    labelled: &[usize],
    repetitions: usize,
    params: &LinearProbeParams,
    seed: u64,
) -> Result<Vec<MultilabelSummary>> {
    check_xy(train, t_train.rows, "multi-label training set")?;
    check_xy(test, t_test.rows, "multi-label test set")?;
    if t_train.cols != t_test.cols || train.cols != test.cols {
        return Err(Error::shape(
            "multi-label test set",
            format!("{} features, {} labels", train.cols, t_train.cols),
            format!("{} features, {} labels", test.cols, t_test.cols),
        ));
    }
    if repetitions == 0 {
        return Err(Error::config("eval.repetitions", 0, "must be at least 1"));
    }
    if let Some(&m) = labelled.iter().find(|&&m| m == 0 || m > train.rows) {
        return Err(Error::config(
            "eval.labelled",
            m,
            format!("must be in 1..={}", train.rows),
        ));
    }
    let tasks: Vec<(usize, usize)> = labelled
        .iter()
        .flat_map(|&m| (0..repetitions).map(move |r| (m, r)))
        .collect();
    let scores: Vec<f64> = tasks
        .par_iter()
        .map(|&(m, r)| {
            let mut rng = MibRng::seed_from_u64(task_seed(seed, m, r));
            let idx = rand::seq::index::sample(&mut rng, train.rows, m).into_vec();
            let f =
                fit_multilabel_probe(params, &train.select_rows(&idx), &t_train.select_rows(&idx))?;
            mean_average_precision_multilabel(&f.decision_function(test), t_test)
        })
        .collect::<Result<_>>()?;
    Ok(labelled
        .iter()
        .zip(scores.chunks(repetitions))
        .map(|(&m, s)| {
            let (mean_map, std) = mean_std(s);
            MultilabelSummary {
                labelled: m,
                mean_map,
                std,
                repetitions,
            }
        })
        .collect())
}
