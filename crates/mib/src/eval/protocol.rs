//! The few-label protocol: linear probes fitted on balanced draws of `k` labelled items per class,
//! repeated, and summarised by the mean and standard deviation of test accuracy.

use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::linear_probe::{check_xy, LinearProbeParams};
use crate::{Error, Matrix, MibRng, Result};

/// Test accuracy of the linear probe for one number of labels per class, over repetitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeSummary {
    /// Labelled training items drawn per class.
    pub labels_per_class: usize,
    /// Mean test accuracy over the repetitions (a fraction in `[0, 1]`).
    pub mean: f64,
    /// Standard deviation of test accuracy over the repetitions (population, `ddof = 0`).
    pub std: f64,
    /// Number of repetitions (independent draws of the labelled set).
    pub repetitions: usize,
}

impl ProbeSummary {
    /// Summary of a list of per-repetition scores (mean and population std).
    pub fn from_scores(labels_per_class: usize, scores: &[f64]) -> ProbeSummary {
        let (mean, std) = mean_std(scores);
        ProbeSummary {
            labels_per_class,
            mean,
            std,
            repetitions: scores.len(),
        }
    }
}

pub(crate) fn mean_std(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// A seed for draw `rep` of the `k`-per-class task from the base `seed` (SplitMix64 finaliser).
pub(crate) fn task_seed(seed: u64, k: usize, rep: usize) -> u64 {
    let mut z = seed
        ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (rep as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Item indices grouped by class, each group in increasing order.
pub(crate) fn class_index(y: &[u32], n_classes: usize) -> Result<Vec<Vec<usize>>> {
    let mut by_class = vec![Vec::new(); n_classes];
    for (i, &l) in y.iter().enumerate() {
        by_class
            .get_mut(l as usize)
            .ok_or_else(|| Error::Data(format!("label {l} out of range for {n_classes} classes")))?
            .push(i);
    }
    Ok(by_class)
}

/// A balanced draw: `k` distinct items of each class, uniformly at random, listed class by class.
///
/// Errors when a class has fewer than `k` items.
pub fn balanced_draw_using(
    y: &[u32],
    n_classes: usize,
    k: usize,
    rng: &mut MibRng,
) -> Result<Vec<usize>> {
    let by_class = class_index(y, n_classes)?;
    draw_from_index(&by_class, k, rng)
}

fn draw_from_index(by_class: &[Vec<usize>], k: usize, rng: &mut MibRng) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(k * by_class.len());
    for (c, items) in by_class.iter().enumerate() {
        if items.len() < k {
            return Err(Error::Data(format!(
                "class {c} has {} training items, fewer than the {k} labels per class asked for",
                items.len()
            )));
        }
        out.extend(
            rand::seq::index::sample(rng, items.len(), k)
                .into_iter()
                .map(|j| items[j]),
        );
    }
    Ok(out)
}

/// The training items that draw `rep` of count `k` of [`few_label_probe`] with `seed` uses (listed
/// class by class): the semi-supervised mode trains on the labels of these items, so that its
/// classifier and the frozen probe see the same labels.
pub fn probe_draw(
    y: &[u32],
    n_classes: usize,
    k: usize,
    rep: usize,
    seed: u64,
) -> Result<Vec<usize>> {
    let by_class = class_index(y, n_classes)?;
    let mut rng = MibRng::seed_from_u64(task_seed(seed, k, rep));
    draw_from_index(&by_class, k, &mut rng)
}

/// The few-label linear-probe protocol of the paper (Fig. 3/4): for each `k` in `labels_per_class`
/// and each of `repetitions` draws, fit [`LinearProbeParams`] on `k` random training items per class
/// and measure accuracy on the whole test set.
///
/// Draw `r` of count `k` uses its own random stream, seeded from (`seed`, `k`, `r`); the fits run in
/// parallel with rayon and results are collected in order, so the output is the same for a given
/// seed whatever the number of threads. Returns one [`ProbeSummary`] per entry of
/// `labels_per_class`, in that order.
#[allow(clippy::too_many_arguments)]
pub fn few_label_probe(
    train: &Matrix,
    y_train: &[u32],
    test: &Matrix,
    y_test: &[u32],
    n_classes: usize,
    labels_per_class: &[usize],
    repetitions: usize,
    params: &LinearProbeParams,
    seed: u64,
) -> Result<Vec<ProbeSummary>> {
    params.check()?;
    check_xy(train, y_train.len(), "probe training set")?;
    check_xy(test, y_test.len(), "probe test set")?;
    if train.cols != test.cols {
        return Err(Error::shape("probe test features", train.cols, test.cols));
    }
    if repetitions == 0 {
        return Err(Error::config("eval.repetitions", 0, "must be at least 1"));
    }
    if let Some(&k) = labels_per_class.iter().find(|&&k| k == 0) {
        return Err(Error::config(
            "eval.labels_per_class",
            k,
            "must be at least 1",
        ));
    }
    let by_class = class_index(y_train, n_classes)?;
    if let Some(&bad) = y_test.iter().find(|&&l| l as usize >= n_classes) {
        return Err(Error::Data(format!(
            "test label {bad} out of range for {n_classes} classes"
        )));
    }
    // Check class sizes up front so the error is not raised from inside the parallel loop.
    for &k in labels_per_class {
        if let Some((c, items)) = by_class.iter().enumerate().find(|(_, v)| v.len() < k) {
            return Err(Error::Data(format!(
                "class {c} has {} training items, fewer than the {k} labels per class asked for",
                items.len()
            )));
        }
    }
    let tasks: Vec<(usize, usize)> = labels_per_class
        .iter()
        .flat_map(|&k| (0..repetitions).map(move |r| (k, r)))
        .collect();
    let scores: Vec<f64> = tasks
        .par_iter()
        .map(|&(k, r)| {
            let mut rng = MibRng::seed_from_u64(task_seed(seed, k, r));
            let idx = draw_from_index(&by_class, k, &mut rng)?;
            let x = train.select_rows(&idx);
            let y: Vec<u32> = idx.iter().map(|&i| y_train[i]).collect();
            let fitted = params.fit(&x, &y, n_classes)?;
            Ok(fitted.accuracy(test, y_test))
        })
        .collect::<Result<_>>()?;
    Ok(labels_per_class
        .iter()
        .zip(scores.chunks(repetitions))
        .map(|(&k, s)| ProbeSummary::from_scores(k, s))
        .collect())
}

/// A cheap probe for use during training: one balanced draw of `labels_per_class` items per class
/// (the paper tracks 10), the reference probe, test accuracy. Deterministic for a `seed`.
pub fn quick_probe(
    train: &Matrix,
    y_train: &[u32],
    test: &Matrix,
    y_test: &[u32],
    n_classes: usize,
    labels_per_class: usize,
    seed: u64,
) -> Result<f64> {
    let s = few_label_probe(
        train,
        y_train,
        test,
        y_test,
        n_classes,
        &[labels_per_class],
        1,
        &LinearProbeParams::default(),
        seed,
    )?;
    Ok(s[0].mean)
}
