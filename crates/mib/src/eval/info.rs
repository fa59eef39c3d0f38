//! Information-plane quantities that need no critic: the label entropy and the variational lower
//! bound `I(y; z) >= H(y) - CE`, where `CE` is the test cross-entropy of a probe `q(y | z)`
//! (Barber & Agakov, 2003: for any `q`, `I(y; z) = H(y) - H(y | z) >= H(y) - E[-ln q(y | z)]`).

use serde::{Deserialize, Serialize};

use super::linear_probe::LinearProbeParams;
use crate::{Error, Matrix, Result};

/// Name of the estimator that [`label_information_lower_bound`] computes (stored in reports).
pub const I_YZ_PROBE_BOUND: &str =
    "H(y) - CE_test(linear probe on all training labels), nats (Barber-Agakov lower bound)";

/// Empirical (plug-in) entropy of the label distribution of `y`, in nats.
///
/// # Panics
/// When a label is `>= n_classes`.
pub fn label_entropy(y: &[u32], n_classes: usize) -> f64 {
    let mut counts = vec![0usize; n_classes];
    for &l in y {
        counts[l as usize] += 1;
    }
    let n = y.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.ln()
        })
        .sum()
}

/// A point of the information plane: `I(x; z)` and `I(y; z)` in nats, each with the name of its
/// estimator. Missing values (estimators not run) are `None`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InfoPlane {
    /// Estimate of `I(x; z)` (nats), e.g. by a critic trained afresh on the frozen encoder.
    pub i_xz: Option<f64>,
    /// How `i_xz` was estimated.
    pub i_xz_estimator: String,
    /// A lower bound on `I(x; z)` (nats) when `i_xz` is an upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub i_xz_lower: Option<f64>,
    /// Estimate of `I(y; z)` (nats).
    pub i_yz: Option<f64>,
    /// How `i_yz` was estimated.
    pub i_yz_estimator: String,
}

/// `H(y_test) - CE_test`: fits the linear probe on all training labels and returns the lower bound
/// on `I(y; z)` in nats (see the module docs), with its estimator name [`I_YZ_PROBE_BOUND`].
pub fn label_information_lower_bound(
    train: &Matrix,
    y_train: &[u32],
    test: &Matrix,
    y_test: &[u32],
    n_classes: usize,
    params: &LinearProbeParams,
) -> Result<f64> {
    if test.cols != train.cols || test.rows != y_test.len() || y_test.is_empty() {
        return Err(Error::shape(
            "information-bound test set",
            format!("{} x {} with as many labels", test.rows, train.cols),
            format!("{} x {}, {} labels", test.rows, test.cols, y_test.len()),
        ));
    }
    if let Some(&bad) = y_test.iter().find(|&&l| l as usize >= n_classes) {
        return Err(Error::Data(format!(
            "test label {bad} out of range for {n_classes} classes"
        )));
    }
    let f = params.fit(train, y_train, n_classes)?;
    Ok(label_entropy(y_test, n_classes) - f.cross_entropy(test, y_test))
}
