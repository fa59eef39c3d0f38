//! Permutation tests: is the learned dependence real?
//!
//! - **I(z1; z2)**: the trained critic's estimate on correctly paired held-out items, against its
//!   estimate on `N` seeded random re-pairings (every view after the first shuffled independently,
//!   which keeps each view's marginal and breaks the pairing) ([`mi_permutation_test`]);
//! - **the probe**: the test accuracy of a linear probe fitted on all training labels, against
//!   the same protocol run on `N` seeded label permutations (training and test labels each
//!   shuffled within their split, as Ojala & Garriga 2010's test 1 permutes the labels of the
//!   whole data; the null sits at chance level) ([`probe_permutation_test`]).
//!
//! The p-value is `(1 + #{null >= observed}) / (N + 1)` (Phipson & Smyth 2010: never 0, exact
//! under the null), so the smallest one `N` permutations can give is `1 / (N + 1)`.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::linear_probe::LinearProbeParams;
use crate::models::TrainedModel;
use crate::train::stream_seed;
use crate::{Error, Matrix, MibRng, Result};

/// One quantile of a null distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quantile {
    /// The level, in `[0, 1]`.
    pub q: f64,
    /// The value (linear interpolation between order statistics, numpy's default).
    pub value: f64,
}

/// The quantile levels reported.
pub const NULL_QUANTILES: [f64; 5] = [0.05, 0.25, 0.5, 0.75, 0.95];

/// The outcome of one permutation test.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermutationTest {
    /// What was measured.
    pub statistic: String,
    /// Its value on the real pairing (or the real labels).
    pub observed: f64,
    /// Number of permutations `N`.
    pub n_permutations: usize,
    /// Mean of the null distribution.
    pub null_mean: f64,
    /// Standard deviation of the null distribution (`N - 1` in the denominator; 0 when `N = 1`).
    pub null_sd: f64,
    /// Quantiles of the null distribution ([`NULL_QUANTILES`]).
    pub null_quantiles: Vec<Quantile>,
    /// Largest null value.
    pub null_max: f64,
    /// `(1 + #{null >= observed}) / (N + 1)`.
    pub p_value: f64,
    /// Items the statistic was computed on (held-out pairs, or test items of the probe).
    pub n_items: usize,
    /// Seed of the permutations.
    pub seed: u64,
    /// The null values, in the order drawn.
    pub null: Vec<f64>,
}

/// Both permutation tests of a run (`eval.json`'s `permutation` section).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PermutationReport {
    /// The critic's `I(z1; z2)` estimate against re-pairings (multi-view objectives).
    pub mutual_information: Option<PermutationTest>,
    /// Linear-probe test accuracy against label permutations (labelled data).
    pub probe: Option<PermutationTest>,
}

/// Checks a permutation count: at least 1.
pub fn check_permutations(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::config(
            "permutations",
            0,
            "a permutation test needs at least 1 permutation (e.g. 100; the smallest p-value \
             N permutations can give is 1 / (N + 1))",
        ));
    }
    Ok(())
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl PermutationTest {
    /// The test of `observed` against the null values `null` (non-empty).
    pub fn from_null(
        statistic: impl Into<String>,
        observed: f64,
        null: Vec<f64>,
        n_items: usize,
        seed: u64,
    ) -> Self {
        let n = null.len();
        let mean = null.iter().sum::<f64>() / n.max(1) as f64;
        let sd = if n > 1 {
            (null.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        let mut sorted = null.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let exceed = null.iter().filter(|&&v| v >= observed).count();
        PermutationTest {
            statistic: statistic.into(),
            observed,
            n_permutations: n,
            null_mean: mean,
            null_sd: sd,
            null_quantiles: NULL_QUANTILES
                .iter()
                .map(|&q| Quantile {
                    q,
                    value: quantile(&sorted, q),
                })
                .collect(),
            null_max: sorted.last().copied().unwrap_or(f64::NAN),
            p_value: (1 + exceed) as f64 / (n + 1) as f64,
            n_items,
            seed,
            null,
        }
    }

    /// One line: the statistic, observed value, null mean +- sd, 95 % quantile and p-value.
    pub fn summary_line(&self) -> String {
        let q95 = self
            .null_quantiles
            .iter()
            .find(|q| (q.q - 0.95).abs() < 1e-9)
            .map_or(f64::NAN, |q| q.value);
        format!(
            "{}: observed {:.4}, null {:.4} +- {:.4} (95 % quantile {:.4}, max {:.4}; {} permutations), p = {:.4}",
            self.statistic,
            self.observed,
            self.null_mean,
            self.null_sd,
            q95,
            self.null_max,
            self.n_permutations,
            self.p_value
        )
    }
}

/// The critic's estimate of `I(z1; z2)` on the pairs of `views` (held-out items, one matrix per
/// training view slot, rows aligned) against `n` random re-pairings: each re-pairing shuffles the
/// rows of every view after the first with its own seeded permutation. The reparameterisation
/// noise is the same for every pairing (seed `seed`), so only the pairing differs.
///
/// Errors: `n == 0`; a model without a critic between views (InfoMax, beta-VAE, supervised); views
/// that do not fit the model ([`TrainedModel::evaluate_pairs`]).
pub fn mi_permutation_test(
    model: &mut TrainedModel,
    views: &[&Matrix],
    n: usize,
    seed: u64,
) -> Result<PermutationTest> {
    check_permutations(n)?;
    let m = &model.config().model;
    if !m.objective.is_multi_view() {
        return Err(Error::config(
            "model.objective",
            m.objective.name(),
            "the permutation test of I(z1; z2) needs a critic between views (mib or mv-infomax)",
        ));
    }
    let statistic = format!(
        "I(z1;z2) critic estimate ({}, nats)",
        format!("{:?}", m.estimator).to_lowercase()
    );
    let noise = stream_seed(seed, 1);
    let observed = model.evaluate_pairs(views, None, noise)?.mi_estimate as f64;
    let rows = views[0].rows;
    let mut rng = MibRng::seed_from_u64(stream_seed(seed, 2));
    let mut null = Vec::with_capacity(n);
    let mut idx: Vec<usize> = (0..rows).collect();
    for _ in 0..n {
        let mut shuffled: Vec<Matrix> = Vec::with_capacity(views.len() - 1);
        for v in &views[1..] {
            idx.shuffle(&mut rng);
            shuffled.push(v.select_rows(&idx));
        }
        let refs: Vec<&Matrix> = std::iter::once(views[0]).chain(shuffled.iter()).collect();
        null.push(model.evaluate_pairs(&refs, None, noise)?.mi_estimate as f64);
    }
    Ok(PermutationTest::from_null(
        statistic, observed, null, rows, seed,
    ))
}

/// The test accuracy of a linear probe (`params`) fitted on `(z_train, y_train)` and scored on
/// `(z_test, y_test)`, against the same fit and score after `n` seeded label permutations (each
/// shuffles `y_train` and `y_test` within their split: the representations no longer tell the
/// labels, the class frequencies stay).
#[allow(clippy::too_many_arguments)]
pub fn probe_permutation_test(
    z_train: &Matrix,
    y_train: &[u32],
    z_test: &Matrix,
    y_test: &[u32],
    n_classes: usize,
    params: &LinearProbeParams,
    n: usize,
    seed: u64,
) -> Result<PermutationTest> {
    check_permutations(n)?;
    if y_test.len() != z_test.rows {
        return Err(Error::shape("test labels", z_test.rows, y_test.len()));
    }
    let observed = params
        .fit(z_train, y_train, n_classes)?
        .accuracy(z_test, y_test);
    let mut rng = MibRng::seed_from_u64(stream_seed(seed, 3));
    let (mut y, mut yt) = (y_train.to_vec(), y_test.to_vec());
    let mut null = Vec::with_capacity(n);
    for _ in 0..n {
        y.shuffle(&mut rng);
        yt.shuffle(&mut rng);
        null.push(params.fit(z_train, &y, n_classes)?.accuracy(z_test, &yt));
    }
    Ok(PermutationTest::from_null(
        "linear probe test accuracy (all training labels)",
        observed,
        null,
        z_test.rows,
        seed,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_value_and_quantiles() {
        let t = PermutationTest::from_null("s", 2.0, vec![1.0, 3.0, 0.0, 2.0], 10, 0);
        // two null values >= 2
        assert!((t.p_value - 3.0 / 5.0).abs() < 1e-12);
        assert!((t.null_mean - 1.5).abs() < 1e-12);
        let med = t.null_quantiles.iter().find(|q| q.q == 0.5).unwrap().value;
        assert!((med - 1.5).abs() < 1e-12);
        assert_eq!(t.null_max, 3.0);
        let t = PermutationTest::from_null("s", 9.0, vec![1.0; 99], 10, 0);
        assert!((t.p_value - 0.01).abs() < 1e-12);
        assert!(check_permutations(0)
            .unwrap_err()
            .to_string()
            .contains("permutations"));
    }
}
