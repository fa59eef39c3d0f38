//! Diagnostics with advice: what a run's metrics, checkpoints, representations and evaluation say
//! about whether training worked, and what to change.
//!
//! One function does the work, [`diagnose`], on [`DiagnoseInputs`] (a config, the metrics lines,
//! optionally the posteriors of held-out items and an evaluation report); [`diagnose_run`] gathers
//! them from a run folder. `mib doctor`, the "Diagnosis" section of `mib report` and the Python
//! `est.diagnose()` / `mib.eval.diagnose(run)` all call these.
//!
//! The checks, and the numbers they rest on:
//! - the MI estimate is near zero, or the JSD surrogate sits at its no-information value `-ln 4`
//!   (the loss stuck at 1.386 of the reference repository's issue #1);
//! - the InfoNCE estimate is at its cap `ln(batch size)` (85 % of it or more);
//! - the SKL never fell although beta > 0 (MIB);
//! - latent dimensions collapsed to the prior `N(0, 1)` or to constants (posterior means that
//!   vary less across items than the posterior noise: `var(mean) < 0.01 E[scale^2]`, at most
//!   0.005 nats per dimension);
//! - the training-time probe peaked before the end (where, at which beta);
//! - the beta schedule ended before or after the run;
//! - non-finite steps were skipped;
//! - the learning rate is too high for the loss curve (spikes 100x the median loss, a JSD
//!   surrogate far below `-ln 4`, non-finite steps);
//! - the run did not finish; checkpoints that do not read; an encoder that keeps everything
//!   about `x` (the `I(x;z)` lower bound at its cap `ln n`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::estimators::EstimatorKind;
use crate::eval::EvalReport;
use crate::objectives::ObjectiveKind;
use crate::train::schedule::BetaSchedule;
use crate::train::{MetricsRecord, RunFolder};
use crate::{Matrix, Result};

/// The JSD surrogate's value when the critic cannot tell paired from unpaired items: `-ln 4`.
pub const JSD_NO_INFORMATION: f64 = -1.386_294_361_119_890_6;

/// What a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// The JSD surrogate stays at `-ln 4`: the critic learned nothing.
    MiAtNoInformation,
    /// The MI estimate stays near zero.
    MiNearZero,
    /// The InfoNCE estimate is at its cap `ln(batch size)`.
    MiAtInfonceCap,
    /// MIB's symmetrised KL never fell although beta > 0.
    SklNeverFell,
    /// Latent dimensions whose posterior is the prior `N(0, 1)` for every item.
    DimensionsAtPrior,
    /// Latent dimensions whose posterior mean is (nearly) the same for every item.
    DimensionsConstant,
    /// The training-time probe was better before the end of the run.
    ProbePeakedEarly,
    /// The beta ramp ends after the run: the final beta was never reached.
    ScheduleEndsAfterRun,
    /// The beta ramp ended early in the run (or never started).
    ScheduleEndsBeforeRun,
    /// Steps were skipped for a non-finite loss or gradient.
    NonfiniteSteps,
    /// The loss curve says the learning rate is too high.
    LearningRateTooHigh,
    /// The run stopped before its last iteration.
    RunUnfinished,
    /// Checkpoint files that do not read.
    UnreadableCheckpoints,
    /// The encoder keeps (nearly) everything about its input: the `I(x;z)` lower bound at its cap.
    NoCompression,
}

impl FindingKind {
    /// The kebab-case name (as in JSON).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing may be wrong.
    Info,
    /// Probably costs accuracy or robustness.
    Warning,
    /// Training did not work as intended.
    Problem,
}

/// One thing the doctor saw, with the numbers, and what to try.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// What it is about.
    pub kind: FindingKind,
    /// How much it matters.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// What was seen, with numbers.
    pub saw: String,
    /// What to try.
    pub advice: String,
}

/// The doctor's report on a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// One line about the run (objective, estimator, iterations).
    pub summary: String,
    /// What it found, most severe first.
    pub findings: Vec<Finding>,
    /// Checks that found nothing wrong, each with the numbers it looked at.
    pub passed: Vec<String>,
    /// Checks that could not run, with why.
    pub skipped: Vec<String>,
}

impl Diagnosis {
    /// Whether a finding of `kind` was made.
    pub fn has(&self, kind: FindingKind) -> bool {
        self.findings.iter().any(|f| f.kind == kind)
    }

    /// The finding of `kind`, if made.
    pub fn get(&self, kind: FindingKind) -> Option<&Finding> {
        self.findings.iter().find(|f| f.kind == kind)
    }

    /// Plain text, as `mib doctor` prints it.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{}", self.summary);
        if self.findings.is_empty() {
            let _ = writeln!(s, "\nNo findings: nothing in this run looks wrong.");
        }
        for f in &self.findings {
            let tag = match f.severity {
                Severity::Problem => "PROBLEM",
                Severity::Warning => "WARNING",
                Severity::Info => "INFO",
            };
            let _ = writeln!(s, "\n[{tag}] {} ({})", f.title, f.kind.name());
            let _ = writeln!(s, "  saw: {}", f.saw);
            let _ = writeln!(s, "  try: {}", f.advice);
        }
        if !self.passed.is_empty() {
            let _ = writeln!(s, "\nChecked and fine:");
            for p in &self.passed {
                let _ = writeln!(s, "  - {p}");
            }
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(s, "\nNot checked:");
            for p in &self.skipped {
                let _ = writeln!(s, "  - {p}");
            }
        }
        s
    }
}

/// What [`diagnose`] looks at.
#[derive(Clone, Copy, Debug)]
pub struct DiagnoseInputs<'a> {
    /// The run's config.
    pub config: &'a TrainConfig,
    /// Its metrics lines, in order.
    pub metrics: &'a [MetricsRecord],
    /// Whether the run finished (its final model was written); `None`: unknown (in memory).
    pub finished: Option<bool>,
    /// Posterior means and scales (`[n, z_dim]` each) of held-out items under the first view's
    /// encoder, for the latent-collapse check.
    pub posterior: Option<(&'a Matrix, &'a Matrix)>,
    /// The run's evaluation report, if any.
    pub eval: Option<&'a EvalReport>,
    /// Checkpoint files that did not read, with why.
    pub unreadable_checkpoints: &'a [(PathBuf, String)],
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(|a, b| a.total_cmp(b));
    s[s.len() / 2]
}

/// The finite values of one metric, with their iterations.
fn series(
    metrics: &[MetricsRecord],
    get: impl Fn(&MetricsRecord) -> Option<f64>,
) -> Vec<(u64, f64)> {
    metrics
        .iter()
        .filter_map(|r| get(r).filter(|v| v.is_finite()).map(|v| (r.iteration, v)))
        .collect()
}

/// The last fifth of a series (at least one point).
fn tail(s: &[(u64, f64)]) -> Vec<f64> {
    let k = (s.len() / 5).max(1).min(s.len());
    s[s.len() - k..].iter().map(|p| p.1).collect()
}

/// `beta` at the start of iteration `it` (what the metrics line for `it` records).
fn beta_at(cfg: &TrainConfig, metrics: &[MetricsRecord], it: u64) -> f64 {
    metrics
        .iter()
        .find(|r| r.iteration == it)
        .map_or_else(|| cfg.beta.value(it.saturating_sub(1)), |r| r.beta)
}

fn fmt_beta(b: f64) -> String {
    // three significant digits, printed plainly where that stays short (0.00316, 1, 972.7)
    let r: f64 = format!("{b:.2e}").parse().unwrap_or(b);
    if r == 0.0 || (1e-4..1e5).contains(&r.abs()) {
        format!("{r}")
    } else {
        format!("{r:e}")
    }
}

/// Reads what a run folder holds and diagnoses it ([`diagnose`]): its config and metrics, whether
/// it finished, its checkpoints, its `eval.json`, and (when the run's data loads) the posteriors
/// of up to 2,000 test items under the final model (else its newest checkpoint), computing on
/// `threads` threads. Errors only when `dir` is not a run folder; what cannot be read is listed
/// in [`Diagnosis::skipped`].
pub fn diagnose_run(dir: &Path, threads: usize) -> Result<Diagnosis> {
    let run = RunFolder::new(dir);
    let cfg = run.read_config()?;
    let mut skipped = Vec::new();
    let metrics = match run.read_metrics() {
        Ok(m) => m,
        Err(e) => {
            skipped.push(format!("metrics checks: {e}"));
            Vec::new()
        }
    };
    let mut unreadable = Vec::new();
    for p in run.checkpoints().unwrap_or_default() {
        if let Err(e) = crate::train::checkpoint::LoadedCheckpoint::read(&p) {
            unreadable.push((p, e.to_string()));
        }
    }
    let finished = dir.join("model.safetensors").exists();
    let eval = match std::fs::read_to_string(dir.join("eval.json")) {
        Ok(t) => match serde_json::from_str::<EvalReport>(&t) {
            Ok(r) => Some(r),
            Err(e) => {
                skipped.push(format!("eval.json: not an evaluation report ({e})"));
                None
            }
        },
        Err(_) => None,
    };
    let posterior = (|| -> Result<(Matrix, Matrix)> {
        let mut model = run.open_model(threads)?;
        let data = crate::data::load_splits(&cfg)?;
        model.check_dataset(&data.train)?;
        let views = crate::models::training_views(model.config(), data.test.views.len())?;
        let x = data.test.views[views[0]].head(2000);
        model.posterior(0, &x)
    })();
    let posterior = match posterior {
        Ok(p) => Some(p),
        Err(e) => {
            skipped.push(format!(
                "latent collapse: the model or its data could not be read ({e})"
            ));
            None
        }
    };
    let mut d = diagnose(&DiagnoseInputs {
        config: &cfg,
        metrics: &metrics,
        finished: Some(finished),
        posterior: posterior.as_ref().map(|(m, s)| (m, s)),
        eval: eval.as_ref(),
        unreadable_checkpoints: &unreadable,
    });
    d.summary = format!("{}: {}", dir.display(), d.summary);
    skipped.append(&mut d.skipped);
    d.skipped = skipped;
    Ok(d)
}

/// Diagnoses a run from `inputs` (see the module docs for the checks). Never fails: checks whose
/// inputs are missing are listed in [`Diagnosis::skipped`].
pub fn diagnose(inputs: &DiagnoseInputs<'_>) -> Diagnosis {
    let cfg = inputs.config;
    let m = inputs.metrics;
    let obj = cfg.model.objective;
    let last_it = m.last().map_or(0, |r| r.iteration);
    let mut d = Diagnosis {
        summary: format!(
            "{} ({}estimator {}, batch {}, lr {}), {} of {} iterations logged, beta {}",
            obj.name(),
            if obj.is_multi_view() || obj == ObjectiveKind::Infomax {
                ""
            } else {
                "no critic; "
            },
            estimator_name(cfg.model.estimator),
            cfg.train.batch_size,
            cfg.optim.lr,
            last_it,
            cfg.train.iterations,
            cfg.beta.describe()
        ),
        ..Diagnosis::default()
    };
    if m.is_empty() {
        d.skipped
            .push("metrics checks: metrics.jsonl holds no line".into());
    } else {
        check_finished(inputs, &mut d);
        check_mi(cfg, m, &mut d);
        check_skl(cfg, m, &mut d);
        check_probe(cfg, m, &mut d);
        check_nonfinite(cfg, m, &mut d);
        check_learning_rate(cfg, m, &mut d);
    }
    check_schedule(cfg, m, inputs.finished, &mut d);
    match inputs.posterior {
        Some((mean, scale)) => check_collapse(mean, scale, &mut d),
        None => d
            .skipped
            .push("latent collapse: no posteriors of held-out items given".into()),
    }
    if let Some(e) = inputs.eval {
        check_eval(e, &mut d);
    }
    if !inputs.unreadable_checkpoints.is_empty() {
        let list: Vec<String> = inputs
            .unreadable_checkpoints
            .iter()
            .map(|(p, e)| format!("{} ({e})", p.display()))
            .collect();
        d.findings.push(Finding {
            kind: FindingKind::UnreadableCheckpoints,
            severity: Severity::Warning,
            title: format!(
                "{} checkpoint file(s) do not read",
                inputs.unreadable_checkpoints.len()
            ),
            saw: list.join("; "),
            advice: "resuming skips them and uses the newest one that reads; delete them if the \
                     disk was full or the copy torn"
                .into(),
        });
    }
    d.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    d
}

fn estimator_name(e: EstimatorKind) -> &'static str {
    match e {
        EstimatorKind::Jsd => "jsd",
        EstimatorKind::Nwj => "nwj",
        EstimatorKind::InfoNce => "infonce",
    }
}

fn check_finished(inputs: &DiagnoseInputs<'_>, d: &mut Diagnosis) {
    let total = inputs.config.train.iterations;
    let last = inputs.metrics.last().map_or(0, |r| r.iteration);
    if inputs.finished == Some(false) || last < total {
        d.findings.push(Finding {
            kind: FindingKind::RunUnfinished,
            severity: Severity::Warning,
            title: "the run did not finish".into(),
            saw: format!(
                "the last metrics line is iteration {last} of {total}{}",
                if inputs.finished == Some(false) {
                    "; no final model.safetensors (the newest checkpoint serves)"
                } else {
                    ""
                }
            ),
            advice: "continue it with `mib train --resume RUN`; if it stopped on non-finite \
                     losses, lower optim.lr first (see the other findings)"
                .into(),
        });
    }
}

fn check_mi(cfg: &TrainConfig, m: &[MetricsRecord], d: &mut Diagnosis) {
    let obj = cfg.model.objective;
    if !matches!(
        obj,
        ObjectiveKind::Mib | ObjectiveKind::MvInfomax | ObjectiveKind::Infomax
    ) {
        return;
    }
    let est = series(m, |r| r.mi_estimate);
    let sur = series(m, |r| r.mi_surrogate);
    if est.is_empty() && sur.is_empty() {
        d.skipped
            .push("MI estimate: no finite mi_estimate in metrics.jsonl".into());
        return;
    }
    let est_tail = mean(&tail(&est));
    let est_max = est.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let sur_tail = mean(&tail(&sur));
    let n_tail = tail(&est).len().max(tail(&sur).len());
    let from_it = m[m.len() - n_tail.min(m.len())].iteration;
    let est_name = match cfg.model.estimator {
        EstimatorKind::InfoNce => "InfoNCE",
        _ => "NWJ",
    };
    let beta_end = cfg.beta.value(u64::MAX / 2);
    let first_advice = if beta_end > 0.0 && obj == ObjectiveKind::Mib {
        "train with beta = 0 first (`beta = { kind = \"constant\", value = 0 }`) and check that \
         I(z1;z2) rises well above zero; "
    } else {
        ""
    };
    let stuck = cfg.model.estimator == EstimatorKind::Jsd
        && sur_tail.is_finite()
        && (sur_tail - JSD_NO_INFORMATION).abs() < 0.02
        && (est_tail.is_nan() || est_tail <= 0.1);
    if stuck {
        d.findings.push(Finding {
            kind: FindingKind::MiAtNoInformation,
            severity: Severity::Problem,
            title: "the MI estimate is stuck at JSD's no-information value, ln 4".into(),
            saw: format!(
                "mi_surrogate = {sur_tail:.4} from iteration {from_it} on (-ln 4 = -1.3863: the \
                 loss sits near 1.386 plus beta x SKL); {est_name} estimate {est_tail:.3} nats: \
                 the critic scores paired and unpaired items alike"
            ),
            advice: format!(
                "{first_advice}otherwise use a stronger estimator: model.estimator = \"infonce\" \
                 with model.critic = \"separable\"; check that the two views of an item really \
                 share information (pairing, row order); a learning rate far too low or too high \
                 (now {}) also leaves the critic here",
                cfg.optim.lr
            ),
        });
    } else if est_tail.is_finite() && est_tail < 0.1 {
        d.findings.push(Finding {
            kind: FindingKind::MiNearZero,
            severity: Severity::Problem,
            title: "the MI estimate stays near zero".into(),
            saw: format!(
                "{est_name} estimate of I(z1;z2) = {est_tail:.3} nats from iteration {from_it} on \
                 (highest {est_max:.3}); its no-information value is 0"
            ),
            advice: format!(
                "{first_advice}check that the two views of an item share information (pairing, \
                 row order of the view files); otherwise use a stronger estimator \
                 (model.estimator = \"infonce\", model.critic = \"separable\") or train longer"
            ),
        });
    } else if est_tail.is_finite() {
        d.passed.push(format!(
            "MI estimate: {est_name} estimate of I(z1;z2) = {est_tail:.3} nats at the end \
             (highest {est_max:.3}), well above zero"
        ));
    }
    if cfg.model.estimator == EstimatorKind::InfoNce && est_tail.is_finite() {
        let cap = (cfg.train.batch_size as f64).ln();
        if est_tail >= 0.85 * cap {
            d.findings.push(Finding {
                kind: FindingKind::MiAtInfonceCap,
                severity: Severity::Warning,
                title: "the InfoNCE estimate is at its cap, ln(batch size)".into(),
                saw: format!(
                    "InfoNCE estimate {est_tail:.3} nats from iteration {from_it} on; it cannot \
                     exceed ln({}) = {cap:.3}: the true I(z1;z2) may be larger, and the \
                     objective has little left to push on",
                    cfg.train.batch_size
                ),
                advice: format!(
                    "raise train.batch_size (ln 256 = 5.55, ln 1024 = 6.93), or use \
                     model.estimator = \"jsd\" whose NWJ estimate has no such cap; at batch {} \
                     read the estimate as a lower bound only",
                    cfg.train.batch_size
                ),
            });
        } else {
            d.passed.push(format!(
                "InfoNCE cap: estimate {est_tail:.3} nats, below ln({}) = {cap:.3}",
                cfg.train.batch_size
            ));
        }
    }
}

fn check_skl(cfg: &TrainConfig, m: &[MetricsRecord], d: &mut Diagnosis) {
    if cfg.model.objective != ObjectiveKind::Mib {
        return;
    }
    let skl = series(m, |r| r.skl);
    if skl.len() < 5 {
        d.skipped
            .push("SKL: fewer than 5 finite skl values logged".into());
        return;
    }
    let beta_end = m.last().map_or(0.0, |r| r.beta);
    let (peak_it, peak) =
        skl.iter()
            .copied()
            .fold((0, f64::NEG_INFINITY), |a, p| if p.1 > a.1 { p } else { a });
    let end = mean(&tail(&skl));
    if beta_end == 0.0 {
        d.findings.push(Finding {
            kind: FindingKind::SklNeverFell,
            severity: Severity::Info,
            title: "beta is 0 at the end: the SKL is not penalised".into(),
            saw: format!(
                "skl ends at {end:.3} nats (peak {peak:.3} at iteration {peak_it}) with beta = 0: \
                 this run is MV-InfoMax"
            ),
            advice: "fine as the first check the authors recommend (does I(z1;z2) rise?); then \
                     ramp beta up (e.g. exponential 1e-3 -> 1) to drop what the views do not share"
                .into(),
        });
    } else if end >= 0.9 * peak {
        d.findings.push(Finding {
            kind: FindingKind::SklNeverFell,
            severity: Severity::Warning,
            title: "the SKL never fell".into(),
            saw: format!(
                "skl ends at {end:.3} nats, {:.0} % of its peak {peak:.3} (iteration {peak_it}), \
                 with beta = {} at the end: the regulariser has not compressed",
                100.0 * end / peak,
                fmt_beta(beta_end)
            ),
            advice: "raise beta's end value (the paper ends at 1), or reach it sooner (a shorter \
                     warm phase, beta.start_iteration) and train on at the end value; if you want \
                     no compression, this is fine"
                .into(),
        });
    } else {
        d.passed.push(format!(
            "SKL: fell from its peak {peak:.3} (iteration {peak_it}) to {end:.3} nats"
        ));
    }
}

fn check_probe(cfg: &TrainConfig, m: &[MetricsRecord], d: &mut Diagnosis) {
    let p = series(m, |r| r.probe_accuracy);
    if p.len() < 2 {
        d.skipped.push(
            "training-time probe: fewer than 2 probe_accuracy values (set eval.every)".into(),
        );
        return;
    }
    let (best_it, best) =
        p.iter()
            .copied()
            .fold((0, f64::NEG_INFINITY), |a, q| if q.1 > a.1 { q } else { a });
    let (last_it, last) = *p.last().expect("two values");
    if best - last >= 0.01 && best_it < last_it {
        let (bb, bl) = (beta_at(cfg, m, best_it), beta_at(cfg, m, last_it));
        d.findings.push(Finding {
            kind: FindingKind::ProbePeakedEarly,
            severity: Severity::Warning,
            title: "the training-time probe peaked before the end".into(),
            saw: format!(
                "probe accuracy {:.1} % at iteration {best_it} (beta {}), {:.1} % at the end \
                 (iteration {last_it}, beta {}): {:.1} points lost",
                100.0 * best,
                fmt_beta(bb),
                100.0 * last,
                fmt_beta(bl),
                100.0 * (best - last)
            ),
            advice: format!(
                "keep the model from near the peak: set train.checkpoint_at_beta = [{}, {}] and \
                 compare them with `mib eval RUN --beta-path`; or end the beta ramp lower \
                 (beta.end = {}), or train for {best_it} iterations",
                fmt_beta(bb),
                fmt_beta(bl),
                fmt_beta(bb)
            ),
        });
    } else {
        d.passed.push(format!(
            "training-time probe: best {:.1} % (iteration {best_it}), {:.1} % at the end",
            100.0 * best,
            100.0 * last
        ));
    }
}

fn check_nonfinite(cfg: &TrainConfig, m: &[MetricsRecord], d: &mut Diagnosis) {
    let total: u64 = m.iter().map(|r| r.nonfinite_skipped).sum();
    if total == 0 {
        d.passed.push("non-finite steps: none skipped".into());
        return;
    }
    let first = m
        .iter()
        .find(|r| r.nonfinite_skipped > 0)
        .expect("total > 0");
    let lines = m.iter().filter(|r| r.nonfinite_skipped > 0).count();
    let steps = m.last().map_or(0, |r| r.iteration).max(1);
    d.findings.push(Finding {
        kind: FindingKind::NonfiniteSteps,
        severity: if total * 100 >= steps {
            Severity::Problem
        } else {
            Severity::Warning
        },
        title: "non-finite steps were skipped".into(),
        saw: format!(
            "{total} of {steps} steps ({:.1} %) had a non-finite loss or gradient and skipped \
             their update, in {lines} logging interval(s), first in the one ending at iteration \
             {} (beta {}); lr = {}",
            100.0 * total as f64 / steps as f64,
            first.iteration,
            fmt_beta(first.beta),
            cfg.optim.lr
        ),
        advice: format!(
            "lower optim.lr (try {:.0e}); check the inputs for huge values (data.scaling = \
             \"standardize\"); a very large beta also blows up the SKL",
            cfg.optim.lr / 10.0
        ),
    });
}

/// The loss curve a too-high learning rate shows in: the loss itself (its size does not depend
/// on beta's schedule enough to matter against a 100x spike).
fn check_learning_rate(cfg: &TrainConfig, m: &[MetricsRecord], d: &mut Diagnosis) {
    let loss = series(m, |r| Some(r.loss));
    let nonfinite: u64 = m.iter().map(|r| r.nonfinite_skipped).sum();
    let mut signs = Vec::new();
    if loss.len() >= 3 {
        let med = median(&loss.iter().map(|p| p.1.abs()).collect::<Vec<_>>());
        let (max_it, max) = loss
            .iter()
            .map(|&(i, v)| (i, v.abs()))
            .fold((0, 0.0), |a, p| if p.1 > a.1 { p } else { a });
        if med > 0.0 && max > 100.0 * med.max(1e-3) {
            signs.push(format!(
                "the loss reached {max:.3e} at iteration {max_it}, {:.0}x its median {med:.3}",
                max / med
            ));
        } else if max > 1e6 {
            signs.push(format!(
                "the loss stays huge (median {med:.3e}, up to {max:.3e})"
            ));
        }
    }
    if cfg.model.estimator == EstimatorKind::Jsd {
        let sur = series(m, |r| r.mi_surrogate);
        let low = sur
            .iter()
            .copied()
            .fold((0, f64::INFINITY), |a, p| if p.1 < a.1 { p } else { a });
        if low.1 < 2.0 * JSD_NO_INFORMATION {
            signs.push(format!(
                "the JSD surrogate fell to {:.3} at iteration {} (a critic that learns stays \
                 above -ln 4 = -1.386)",
                low.1, low.0
            ));
        }
    }
    if nonfinite > 0 {
        signs.push(format!("{nonfinite} non-finite steps"));
    }
    if signs.is_empty() {
        d.passed.push(format!(
            "learning rate: the loss curve shows no spikes or divergence at lr {}",
            cfg.optim.lr
        ));
        return;
    }
    d.findings.push(Finding {
        kind: FindingKind::LearningRateTooHigh,
        severity: Severity::Problem,
        title: "the learning rate is too high for the loss curve".into(),
        saw: format!("{}; lr = {}", signs.join("; "), cfg.optim.lr),
        advice: format!(
            "lower optim.lr tenfold (to {:.0e}; the reference uses 1e-4) and retrain",
            cfg.optim.lr / 10.0
        ),
    });
}

fn check_schedule(
    cfg: &TrainConfig,
    m: &[MetricsRecord],
    finished: Option<bool>,
    d: &mut Diagnosis,
) {
    let (start, end, s0, n) = match cfg.beta {
        BetaSchedule::Constant { value } => {
            d.passed
                .push(format!("beta schedule: constant {}", fmt_beta(value)));
            return;
        }
        BetaSchedule::Linear {
            start,
            end,
            start_iteration,
            n_iterations,
        }
        | BetaSchedule::Exponential {
            start,
            end,
            start_iteration,
            n_iterations,
            ..
        } => (start, end, start_iteration, n_iterations),
    };
    let total = cfg.train.iterations;
    let ramp_end = s0 + n;
    let reached = cfg.beta.value(total.saturating_sub(1));
    if ramp_end > total {
        d.findings.push(Finding {
            kind: FindingKind::ScheduleEndsAfterRun,
            severity: Severity::Warning,
            title: "the beta schedule ends after the run".into(),
            saw: format!(
                "the ramp {} -> {} runs over iterations {s0}..{ramp_end}, the run has {total}: \
                 beta reached only {} ({:.0} % of the ramp)",
                fmt_beta(start),
                fmt_beta(end),
                fmt_beta(reached),
                100.0 * (total.saturating_sub(s0)) as f64 / n.max(1) as f64
            ),
            advice: format!(
                "train for at least {ramp_end} iterations, or scale the schedule to the run \
                 (`mib train --iterations N` does, unless --keep-schedule), or set beta.end = {} \
                 if that is the beta you want",
                fmt_beta(reached)
            ),
        });
    } else if s0 >= total.saturating_sub(1) {
        d.findings.push(Finding {
            kind: FindingKind::ScheduleEndsBeforeRun,
            severity: Severity::Warning,
            title: "the beta ramp never started".into(),
            saw: format!(
                "the ramp starts at iteration {s0}, the run has {total}: beta stayed at {}",
                fmt_beta(start)
            ),
            advice: "lower beta.start_iteration, or use a constant beta".into(),
        });
    } else if (ramp_end as f64) < 0.5 * total as f64 {
        d.findings.push(Finding {
            kind: FindingKind::ScheduleEndsBeforeRun,
            severity: Severity::Info,
            title: "the beta schedule ended early in the run".into(),
            saw: format!(
                "the ramp {} -> {} ended at iteration {ramp_end}, {:.0} % into the run: the last \
                 {} iterations trained at beta = {}",
                fmt_beta(start),
                fmt_beta(end),
                100.0 * ramp_end as f64 / total as f64,
                total - ramp_end,
                fmt_beta(end)
            ),
            advice: "fine if the model should settle at the final beta (the reference ends its \
                     ramp at 16 % of its run); to see the trade-off along beta, spread the ramp \
                     over the run and save train.checkpoint_at_beta"
                .into(),
        });
    } else {
        d.passed.push(format!(
            "beta schedule: {} -> {} over iterations {s0}..{ramp_end} of {total}",
            fmt_beta(start),
            fmt_beta(end)
        ));
    }
    let last = m.last().map_or(0, |r| r.iteration);
    if finished == Some(false) && last < ramp_end && last > 0 {
        d.findings.push(Finding {
            kind: FindingKind::ScheduleEndsAfterRun,
            severity: Severity::Info,
            title: "the run stopped inside the beta ramp".into(),
            saw: format!(
                "the last metrics line is iteration {last}, beta {}; the ramp ends at {ramp_end}",
                fmt_beta(beta_at(cfg, m, last))
            ),
            advice: "resume it (`mib train --resume RUN`) to reach the final beta".into(),
        });
    }
}

fn check_collapse(mean: &Matrix, scale: &Matrix, d: &mut Diagnosis) {
    let (n, k) = (mean.rows, mean.cols);
    if n < 2 || scale.rows != n || scale.cols != k {
        d.skipped
            .push("latent collapse: fewer than 2 posteriors".into());
        return;
    }
    let mut prior = Vec::new();
    let mut constant = Vec::new();
    let mut ratios = Vec::new();
    for j in 0..k {
        fn col(m: &Matrix, j: usize) -> impl Iterator<Item = f64> + '_ {
            (0..m.rows).map(move |i| m.data[i * m.cols + j] as f64)
        }
        let mu = col(mean, j).sum::<f64>() / n as f64;
        let var = col(mean, j).map(|v| (v - mu) * (v - mu)).sum::<f64>() / n as f64;
        let s2 = col(scale, j).map(|s| s * s).sum::<f64>() / n as f64;
        let s_mean = col(scale, j).sum::<f64>() / n as f64;
        let ratio = var / s2.max(1e-30);
        ratios.push(ratio);
        if ratio < 0.01 {
            if mu.abs() < 0.1 && (s_mean - 1.0).abs() < 0.1 {
                prior.push(j);
            } else {
                constant.push(j);
            }
        }
    }
    let dead = prior.len() + constant.len();
    let live = k - dead;
    let sev = if live == 0 {
        Severity::Problem
    } else if 2 * dead >= k {
        Severity::Warning
    } else {
        Severity::Info
    };
    let list = |v: &[usize]| {
        v.iter()
            .map(|j| j.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let which = |v: &[usize]| {
        if v.len() == 1 {
            format!("dimension {} has", v[0])
        } else {
            format!("dimensions {} have", list(v))
        }
    };
    let advice = if live == 0 {
        "the representation carries nothing: lower beta (its end value), or check the MI \
         findings; with beta ramped, evaluate earlier checkpoints (`mib eval RUN --beta-path`)"
            .to_string()
    } else {
        format!(
            "{live} of {k} dimensions carry information: model.z_dim = {} would do; if accuracy \
             suffers, lower beta",
            live.max(1)
        )
    };
    if !prior.is_empty() {
        d.findings.push(Finding {
            kind: FindingKind::DimensionsAtPrior,
            severity: sev,
            title: format!(
                "{} of {k} latent dimensions collapsed to the prior",
                prior.len()
            ),
            saw: format!(
                "{} posterior N(0, 1) for every item (variance of the means < 1 % of the \
                 posterior variance) over {n} held-out items",
                which(&prior)
            ),
            advice: advice.clone(),
        });
    }
    if !constant.is_empty() {
        d.findings.push(Finding {
            kind: FindingKind::DimensionsConstant,
            severity: sev,
            title: format!("{} of {k} latent dimensions are constant", constant.len()),
            saw: format!(
                "{} (nearly) the same posterior mean for every item (variance of the means < 1 % \
                 of the posterior variance, <= 0.005 nats each) over {n} held-out items",
                which(&constant)
            ),
            advice,
        });
    }
    if dead == 0 {
        let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        d.passed.push(format!(
            "latent collapse: all {k} dimensions vary across {n} held-out items (smallest \
             variance of the means / posterior variance: {min:.3})"
        ));
    }
}

fn check_eval(e: &EvalReport, d: &mut Diagnosis) {
    let Some(ip) = &e.information_plane else {
        return;
    };
    let (Some(lower), Some(upper)) = (ip.i_xz_lower, ip.i_xz) else {
        return;
    };
    // the items the bounds used: "(n = N)" in the estimator's name
    let n = ip
        .i_xz_estimator
        .rsplit("n = ")
        .next()
        .and_then(|s| s.trim_end_matches(')').parse::<f64>().ok());
    let Some(n) = n else { return };
    let cap = n.ln();
    if lower > cap - 0.05 {
        d.findings.push(Finding {
            kind: FindingKind::NoCompression,
            severity: Severity::Info,
            title: "the encoder keeps (nearly) everything about its input".into(),
            saw: format!(
                "eval.json: I(x;z) lower bound {lower:.3} nats, at its cap ln({n}) = {cap:.3}; \
                 upper bound {upper:.3}"
            ),
            advice: "expected for MV-InfoMax and a small beta; for a representation robust to \
                     what the views do not share, raise beta (and compare along \
                     `mib eval RUN --beta-path`)"
                .into(),
        });
    } else {
        d.passed.push(format!(
            "compression: I(x;z) between {lower:.3} and {upper:.3} nats (cap ln({n}) = {cap:.3})"
        ));
    }
}
