//! k-nearest-neighbour probe and the distances shared with retrieval.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::linear_probe::{check_xy, gemm_f32};
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

/// Queries per distance block (a block of distances is `QUERY_BLOCK x gallery rows`).
pub(crate) const QUERY_BLOCK: usize = 64;

/// Distances from the prepared query rows `q` (`m x d`, row-major) to every prepared row of `g`,
/// into `out` (`m x g.rows`, row-major), through one matrix product: squared Euclidean as
/// `|q|^2 + |g|^2 - 2 q.g` (clamped at 0), cosine as `1 - q.g`. `g_sq` holds the squared norms of
/// the rows of `g`.
pub(crate) fn distance_block(
    metric: Distance,
    q: &[f32],
    g: &Matrix,
    g_sq: &[f32],
    out: &mut Vec<f32>,
) {
    let d = g.cols;
    let m = q.len() / d.max(1);
    out.resize(m * g.rows, 0.0);
    gemm_f32(m, g.rows, d, out, (g.rows, 1), q, (d, 1), &g.data, (1, d));
    for (i, row) in out.chunks_exact_mut(g.rows.max(1)).enumerate().take(m) {
        match metric {
            Distance::Euclidean => {
                let qi = &q[i * d..(i + 1) * d];
                let q_sq: f32 = qi.iter().map(|v| v * v).sum();
                for (o, gs) in row.iter_mut().zip(g_sq) {
                    *o = (q_sq + gs - 2.0 * *o).max(0.0);
                }
            }
            Distance::Cosine => row.iter_mut().for_each(|o| *o = 1.0 - *o),
        }
    }
}

/// Squared norms of the rows.
pub(crate) fn row_sq_norms(x: &Matrix) -> Vec<f32> {
    (0..x.rows)
        .map(|i| x.row(i).iter().map(|v| v * v).sum())
        .collect()
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
        let g_sq = row_sq_norms(&self.x);
        let d = x.cols.max(1);
        q.data
            .par_chunks(QUERY_BLOCK * d)
            .flat_map_iter(|block| {
                let mut dist = Vec::new();
                distance_block(self.params.metric, block, &self.x, &g_sq, &mut dist);
                let mut out = Vec::with_capacity(block.len() / d);
                for row in dist.chunks_exact(self.x.rows.max(1)).take(block.len() / d) {
                    let nn = nearest(row, k);
                    let mut votes = vec![0usize; self.n_classes];
                    for &(_, j) in &nn {
                        votes[self.y[j] as usize] += 1;
                    }
                    let top = *votes.iter().max().unwrap_or(&0);
                    out.push(
                        nn.iter()
                            .map(|&(_, j)| self.y[j])
                            .find(|&c| votes[c as usize] == top)
                            .unwrap_or(0),
                    );
                }
                out
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

/// The `k` smallest entries of `dist` as `(distance, index)`, nearest first, ties by index.
fn nearest(dist: &[f32], k: usize) -> Vec<(f32, usize)> {
    let mut best: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
    for (j, &d) in dist.iter().enumerate() {
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
