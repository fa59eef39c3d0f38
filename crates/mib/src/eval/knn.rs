//! k-nearest-neighbour probe and the distances shared with retrieval.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::linear_probe::check_xy;
use crate::{Error, Matrix, Result};

/// Distance between representations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distance {
    /// Euclidean distance (ranked by its square).
    #[default]
    Euclidean,
    /// Cosine distance `1 - <a, b> / (|a| |b|)`; a zero vector is at distance 1 from everything.
    Cosine,
}

impl std::fmt::Display for Distance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Distance::Euclidean => "euclidean",
            Distance::Cosine => "cosine",
        })
    }
}

impl std::str::FromStr for Distance {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "euclidean" | "l2" => Ok(Distance::Euclidean),
            "cosine" | "cos" => Ok(Distance::Cosine),
            _ => Err(Error::config(
                "eval.knn.metric",
                s,
                "expected `euclidean` or `cosine`",
            )),
        }
    }
}

/// Rows scaled to unit norm (zero rows stay zero), for the cosine distance.
pub(crate) fn normalize_rows(x: &Matrix) -> Matrix {
    let mut out = x.clone();
    for i in 0..out.rows {
        let r = out.row_mut(i);
        let n = r.iter().map(|v| v * v).sum::<f32>().sqrt();
        if n > 0.0 {
            r.iter_mut().for_each(|v| *v /= n);
        }
    }
    out
}

/// Distance of two rows already prepared for `metric` (unit-normalised for cosine).
/// Euclidean returns the squared distance (same order).
#[inline]
pub(crate) fn prepared_distance(metric: Distance, a: &[f32], b: &[f32]) -> f32 {
    match metric {
        Distance::Euclidean => a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum(),
        Distance::Cosine => 1.0 - a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>(),
    }
}

pub(crate) fn prepare(metric: Distance, x: &Matrix) -> std::borrow::Cow<'_, Matrix> {
    match metric {
        Distance::Euclidean => std::borrow::Cow::Borrowed(x),
        Distance::Cosine => std::borrow::Cow::Owned(normalize_rows(x)),
    }
}

/// Hyperparameters of the kNN probe.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KnnParams {
    /// Number of neighbours (default 5; capped at the training-set size).
    pub k: usize,
    /// Distance (default Euclidean).
    pub metric: Distance,
}

impl Default for KnnParams {
    fn default() -> Self {
        KnnParams {
            k: 5,
            metric: Distance::Euclidean,
        }
    }
}

impl KnnParams {
    /// Checks the hyperparameters.
    pub fn check(&self) -> Result<()> {
        if self.k == 0 {
            return Err(Error::config("eval.knn.k", 0, "must be at least 1"));
        }
        Ok(())
    }

    /// Stores the labelled training set.
    pub fn fit(&self, x: &Matrix, y: &[u32], n_classes: usize) -> Result<FittedKnn> {
        self.check()?;
        check_xy(x, y.len(), "kNN training set")?;
        if let Some(&bad) = y.iter().find(|&&l| l as usize >= n_classes) {
            return Err(Error::Data(format!(
                "label {bad} out of range for {n_classes} classes"
            )));
        }
        Ok(FittedKnn {
            params: *self,
            x: prepare(self.metric, x).into_owned(),
            y: y.to_vec(),
            n_classes,
        })
    }
}

/// A kNN classifier: the (prepared) training set.
#[derive(Debug, Clone)]
pub struct FittedKnn {
    params: KnnParams,
    x: Matrix,
    y: Vec<u32>,
    n_classes: usize,
}

/// kNN probe result for the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnnReport {
    /// Number of neighbours.
    pub k: usize,
    /// Distance used.
    pub metric: Distance,
    /// Test accuracy.
    pub accuracy: f64,
}

impl FittedKnn {
    /// Predicted classes: majority vote of the `k` nearest training items. Neighbours at equal
    /// distance are taken in training-set order; a tied vote goes to the tied class whose member
    /// ranks nearest.
    ///
    /// # Panics
    /// When `x.cols` differs from the training dimension.
    pub fn predict(&self, x: &Matrix) -> Vec<u32> {
        assert_eq!(x.cols, self.x.cols, "kNN: dimension mismatch");
        let q = prepare(self.params.metric, x);
        let k = self.params.k.min(self.x.rows);
        (0..q.rows)
            .into_par_iter()
            .map(|i| {
                let nn = nearest(self.params.metric, q.row(i), &self.x, k);
                let mut votes = vec![0usize; self.n_classes];
                for &(_, j) in &nn {
                    votes[self.y[j] as usize] += 1;
                }
                let top = *votes.iter().max().unwrap_or(&0);
                nn.iter()
                    .map(|&(_, j)| self.y[j])
                    .find(|&c| votes[c as usize] == top)
                    .unwrap_or(0)
            })
            .collect()
    }

    /// Fraction of correct predictions.
    ///
    /// # Panics
    /// As [`FittedKnn::predict`], or when `y.len() != x.rows`.
    pub fn accuracy(&self, x: &Matrix, y: &[u32]) -> f64 {
        assert_eq!(x.rows, y.len());
        if y.is_empty() {
            return 0.0;
        }
        let p = self.predict(x);
        p.iter().zip(y).filter(|(a, b)| a == b).count() as f64 / y.len() as f64
    }
}

/// The `k` nearest rows of `g` to `q` as `(distance, index)`, nearest first, ties by index.
fn nearest(metric: Distance, q: &[f32], g: &Matrix, k: usize) -> Vec<(f32, usize)> {
    let mut best: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
    for j in 0..g.rows {
        let d = prepared_distance(metric, q, g.row(j));
        if best.len() == k && d >= best[k - 1].0 {
            continue;
        }
        let pos = best.partition_point(|&(bd, _)| bd <= d);
        best.insert(pos, (d, j));
        best.truncate(k);
    }
    best
}

/// Fits the kNN probe on the training set and reports its test accuracy.
pub fn knn_accuracy(
    params: &KnnParams,
    train: &Matrix,
    y_train: &[u32],
    test: &Matrix,
    y_test: &[u32],
    n_classes: usize,
) -> Result<KnnReport> {
    check_xy(test, y_test.len(), "kNN test set")?;
    if test.cols != train.cols {
        return Err(Error::shape("kNN test features", train.cols, test.cols));
    }
    let f = params.fit(train, y_train, n_classes)?;
    Ok(KnnReport {
        k: params.k,
        metric: params.metric,
        accuracy: f.accuracy(test, y_test),
    })
}
