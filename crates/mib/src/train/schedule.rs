//! Schedules for the weight `beta` of the regulariser (MIB's SKL, the beta-VAE rate).
//!
//! Equal to the reference's `utils/schedulers.py` (`LinearScheduler`, `ExponentialScheduler`): before
//! and at `start_iteration` the value is `start`; after `start_iteration + n_iterations` it is `end`;
//! in between it moves linearly (or linearly in `log_base`) from `start` to `end`.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

fn default_base() -> f64 {
    10.0
}

/// A beta schedule over training iterations.
///
/// In TOML: `beta = { kind = "exponential", start = 1e-3, end = 1.0, start_iteration = 50000,
/// n_iterations = 100000 }`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum BetaSchedule {
    /// The same value at every iteration.
    Constant {
        /// The value.
        value: f64,
    },
    /// Linear from `start` to `end` over `n_iterations` after `start_iteration`.
    Linear {
        /// Value up to and including `start_iteration`.
        start: f64,
        /// Value after `start_iteration + n_iterations`.
        end: f64,
        /// Last iteration at `start`.
        start_iteration: u64,
        /// Length of the ramp.
        n_iterations: u64,
    },
    /// Exponential (linear in `log_base`) from `start` to `end`: the reference's MIB schedule.
    Exponential {
        /// Value up to and including `start_iteration` (> 0).
        start: f64,
        /// Value after `start_iteration + n_iterations` (> 0).
        end: f64,
        /// Last iteration at `start`.
        start_iteration: u64,
        /// Length of the ramp.
        n_iterations: u64,
        /// Base of the logarithm (default 10; the value does not depend on it mathematically,
        /// but it is kept for bit-level agreement with the reference).
        #[serde(default = "default_base")]
        base: f64,
    },
}

impl Default for BetaSchedule {
    fn default() -> Self {
        BetaSchedule::Constant { value: 0.0 }
    }
}

impl BetaSchedule {
    /// The schedule of a run of `to` iterations in place of `from`: the warm phase and the ramp
    /// keep their share of the run (`start_iteration` and `n_iterations` scaled by `to / from`,
    /// rounded, the ramp at least one iteration). A constant schedule is unchanged.
    ///
    /// ```
    /// use mib::train::schedule::BetaSchedule;
    /// let reference = BetaSchedule::Exponential {
    ///     start: 1e-3, end: 1.0, start_iteration: 50_000, n_iterations: 100_000, base: 10.0,
    /// };
    /// let s = reference.scaled(150_000, 3_000);
    /// assert_eq!(s, BetaSchedule::Exponential {
    ///     start: 1e-3, end: 1.0, start_iteration: 1_000, n_iterations: 2_000, base: 10.0,
    /// });
    /// ```
    pub fn scaled(&self, from: u64, to: u64) -> BetaSchedule {
        let f = to as f64 / from.max(1) as f64;
        let s = |x: u64| (x as f64 * f).round() as u64;
        match self.clone() {
            BetaSchedule::Constant { value } => BetaSchedule::Constant { value },
            BetaSchedule::Linear {
                start,
                end,
                start_iteration,
                n_iterations,
            } => BetaSchedule::Linear {
                start,
                end,
                start_iteration: s(start_iteration),
                n_iterations: s(n_iterations).max(1),
            },
            BetaSchedule::Exponential {
                start,
                end,
                start_iteration,
                n_iterations,
                base,
            } => BetaSchedule::Exponential {
                start,
                end,
                start_iteration: s(start_iteration),
                n_iterations: s(n_iterations).max(1),
                base,
            },
        }
    }

    /// One line for logs: `constant 0.001`, `exponential 0.001 -> 1 over iterations 1000..3000`.
    pub fn describe(&self) -> String {
        match self {
            BetaSchedule::Constant { value } => format!("constant {value}"),
            BetaSchedule::Linear {
                start,
                end,
                start_iteration,
                n_iterations,
            } => format!(
                "linear {start} -> {end} over iterations {start_iteration}..{}",
                start_iteration + n_iterations
            ),
            BetaSchedule::Exponential {
                start,
                end,
                start_iteration,
                n_iterations,
                ..
            } => format!(
                "exponential {start} -> {end} over iterations {start_iteration}..{}",
                start_iteration + n_iterations
            ),
        }
    }

    /// The value at `iteration`.
    pub fn value(&self, iteration: u64) -> f64 {
        match *self {
            BetaSchedule::Constant { value } => value,
            BetaSchedule::Linear {
                start,
                end,
                start_iteration,
                n_iterations,
            } => {
                if iteration > start_iteration + n_iterations {
                    end
                } else if iteration <= start_iteration {
                    start
                } else {
                    // reference: m = (end - start) / n; c = start - m * s0; value = it * m + c
                    let m = (end - start) / n_iterations as f64;
                    let c = start - m * start_iteration as f64;
                    iteration as f64 * m + c
                }
            }
            BetaSchedule::Exponential {
                start,
                end,
                start_iteration,
                n_iterations,
                base,
            } => {
                let ls = start.ln() / base.ln();
                let le = end.ln() / base.ln();
                let v = if iteration > start_iteration + n_iterations {
                    le
                } else if iteration <= start_iteration {
                    ls
                } else {
                    (iteration - start_iteration) as f64 * (le - ls) / n_iterations as f64 + ls
                };
                base.powf(v)
            }
        }
    }

    /// Checks the values (finite, non-negative; positive for the exponential schedule, whose base
    /// must be positive and not 1). Errors name the field as `beta.<name>`.
    pub fn validate(&self) -> Result<()> {
        let field = "beta";
        let check = |name: &str, v: f64, positive: bool| -> Result<()> {
            if !v.is_finite() || v < 0.0 || (positive && v == 0.0) {
                let need = if positive {
                    "finite and > 0"
                } else {
                    "finite and >= 0"
                };
                return Err(Error::config(
                    format!("{field}.{name}"),
                    v,
                    format!("must be {need}"),
                ));
            }
            Ok(())
        };
        match *self {
            BetaSchedule::Constant { value } => check("value", value, false),
            BetaSchedule::Linear { start, end, .. } => {
                check("start", start, false)?;
                check("end", end, false)
            }
            BetaSchedule::Exponential {
                start, end, base, ..
            } => {
                check("start", start, true)?;
                check("end", end, true)?;
                check("base", base, true)?;
                if base == 1.0 {
                    return Err(Error::config(
                        format!("{field}.base"),
                        base,
                        "must not be 1",
                    ));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_matches_reference_formula() {
        let s = BetaSchedule::Linear {
            start: 0.0,
            end: 1.0,
            start_iteration: 10,
            n_iterations: 100,
        };
        assert_eq!(s.value(0), 0.0);
        assert_eq!(s.value(10), 0.0);
        assert!((s.value(60) - 0.5).abs() < 1e-12);
        assert_eq!(s.value(111), 1.0);
        assert!((s.value(110) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn toml_round_trip_and_validation() {
        let s: BetaSchedule = toml::from_str(
            "kind = \"exponential\"\nstart = 1e-3\nend = 1.0\nstart_iteration = 5\nn_iterations = 10",
        )
        .unwrap();
        assert!(matches!(s, BetaSchedule::Exponential { base, .. } if base == 10.0));
        s.validate().unwrap();
        let bad = BetaSchedule::Exponential {
            start: 0.0,
            end: 1.0,
            start_iteration: 0,
            n_iterations: 1,
            base: 10.0,
        };
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("beta.start"), "{e}");
    }
}
