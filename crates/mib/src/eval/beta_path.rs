//! The beta path: a run's checkpoints along its beta ramp (`train.checkpoint_at_beta`), each
//! evaluated for the information plane (`I(x;z)` bounds from the encoder's density, the `I(y;z)`
//! probe bound) and the few-label probe, and the beta that did best on the test split.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{EvalProtocol, ProbeSummary};
use crate::data::DatasetSplits;
use crate::models::TrainedModel;
use crate::train::RunFolder;
use crate::{Error, Result};

/// Settings of [`beta_path`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BetaPathParams {
    /// Labels per class of the few-label probe (default 1 and 10); the best beta is judged on
    /// the largest.
    pub labels_per_class: Vec<usize>,
    /// Draws of the labelled set per count (default 10).
    pub repetitions: usize,
    /// Seed of the label draws and of the `I(x;z)` samples (default 0).
    pub seed: u64,
    /// Which training view's encoder (default 0).
    pub view: usize,
}

impl Default for BetaPathParams {
    fn default() -> Self {
        BetaPathParams {
            labels_per_class: vec![1, 10],
            repetitions: 10,
            seed: 0,
            view: 0,
        }
    }
}

/// One checkpoint on the path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BetaPathPoint {
    /// The checkpoint (`beta-1e-2-0000001234`, or `final` for the final model).
    pub checkpoint: String,
    /// Iterations completed when it was written.
    pub iteration: u64,
    /// The beta of its last step (from the schedule).
    pub beta: f64,
    /// Lower bound on `I(x;z)`, nats.
    pub i_xz_lower: Option<f64>,
    /// Upper bound on `I(x;z)`, nats.
    pub i_xz_upper: Option<f64>,
    /// Lower bound on `I(y;z)`, nats (`H(y) - CE` of the probe on all training labels).
    pub i_yz: Option<f64>,
    /// Few-label probe, one entry per labels-per-class count.
    pub linear_probe: Vec<ProbeSummary>,
}

/// The beta path of a run (`beta_path.json`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BetaPathReport {
    /// The points, in iteration order.
    pub points: Vec<BetaPathPoint>,
    /// Index into `points` of the best one on the test split (highest accuracy at
    /// `best_labels_per_class`; the earlier on ties).
    pub best: Option<usize>,
    /// Labels per class the best point is judged at.
    pub best_labels_per_class: usize,
    /// Entropy of the test labels, nats (the ceiling of `I(y;z)`).
    pub h_y: Option<f64>,
    /// How the `I(x;z)` and `I(y;z)` bounds were computed.
    pub estimators: String,
    /// The settings.
    pub params: BetaPathParams,
}

fn num(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite())
        .map_or("n/a".into(), |v| format!("{v:.3}"))
}

impl BetaPathReport {
    /// The best point, if any.
    pub fn best_point(&self) -> Option<&BetaPathPoint> {
        self.best.and_then(|i| self.points.get(i))
    }

    /// A plain-text table, the best point marked.
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        let ks: Vec<usize> = self
            .points
            .first()
            .map(|p| p.linear_probe.iter().map(|q| q.labels_per_class).collect())
            .unwrap_or_default();
        let _ = write!(
            s,
            "{:>28} {:>9} {:>10} {:>16} {:>8}",
            "checkpoint", "iteration", "beta", "I(x;z) [lo, hi]", "I(y;z)"
        );
        for k in &ks {
            let _ = write!(s, " {:>9}", format!("acc@{k} %"));
        }
        s.push('\n');
        for (i, p) in self.points.iter().enumerate() {
            let _ = write!(
                s,
                "{:>28} {:>9} {:>10} {:>16} {:>8}",
                p.checkpoint,
                p.iteration,
                format!("{:.3e}", p.beta),
                format!("[{}, {}]", num(p.i_xz_lower), num(p.i_xz_upper)),
                num(p.i_yz)
            );
            for q in &p.linear_probe {
                let _ = write!(s, " {:>9.2}", 100.0 * q.mean);
            }
            if self.best == Some(i) {
                s.push_str("  <- best");
            }
            s.push('\n');
        }
        if let Some(b) = self.best_point() {
            let acc = b
                .linear_probe
                .iter()
                .find(|q| q.labels_per_class == self.best_labels_per_class)
                .map_or(f64::NAN, |q| q.mean);
            let _ = writeln!(
                s,
                "\nBest on the test split at {} labels per class: beta = {:.3e} ({}, iteration \
                 {}), {:.2} % accuracy. Use it: --checkpoint {}",
                self.best_labels_per_class,
                b.beta,
                b.checkpoint,
                b.iteration,
                100.0 * acc,
                b.checkpoint
            );
        }
        if let Some(h) = self.h_y {
            let _ = writeln!(s, "H(y) = {h:.3} nats (the ceiling of I(y;z))");
        }
        s
    }
}

/// Evaluates the beta-path checkpoints of the run in `run_dir` (and its final model, when it
/// was written after them) on `data` (the run's own data, or data of the same widths), computing
/// on `threads` threads. Errors: `run_dir` is not a run folder, or it holds no beta-path
/// checkpoint (train with `train.checkpoint_at_beta`).
pub fn beta_path(
    run_dir: &Path,
    data: &DatasetSplits,
    params: &BetaPathParams,
    threads: usize,
) -> Result<BetaPathReport> {
    let run = RunFolder::new(run_dir);
    let cfg = run.read_config()?;
    let cks = run.beta_checkpoints()?;
    if cks.is_empty() {
        return Err(Error::Data(format!(
            "{}: no checkpoints on its beta path (checkpoints/beta-*.safetensors); train it with \
             train.checkpoint_at_beta = [1e-3, 1e-2, 0.1, 1] (betas its schedule passes)",
            run_dir.display()
        )));
    }
    if params.labels_per_class.is_empty() {
        return Err(Error::config(
            "labels_per_class",
            "[]",
            "give at least one count",
        ));
    }
    let mut entries: Vec<(String, Option<std::path::PathBuf>)> = cks
        .iter()
        .map(|c| {
            let name = c
                .path
                .file_stem()
                .and_then(|n| n.to_str())
                .unwrap_or("?")
                .to_string();
            (name, Some(c.path.clone()))
        })
        .collect();
    let last_it = cks.last().map_or(0, |c| c.iteration);
    let fin = run_dir.join("model.safetensors");
    if fin.exists() {
        entries.push(("final".into(), None));
    }
    let protocol = EvalProtocol {
        labels_per_class: params.labels_per_class.clone(),
        repetitions: params.repetitions,
        knn: None,
        information_bound: true,
        seed: params.seed,
        ..Default::default()
    };
    let mut points = Vec::new();
    let mut estimators = String::new();
    for (name, _) in &entries {
        let mut model = TrainedModel::open_checkpoint(run_dir, Some(name), threads)?;
        let it = model.iteration();
        if name == "final" && it <= last_it {
            continue;
        }
        let (report, _) = super::evaluate_model_view(&mut model, data, &protocol, params.view)?;
        let ip = report.information_plane.unwrap_or_default();
        if estimators.is_empty() {
            estimators = format!(
                "I(x;z): {}; I(y;z): {}",
                ip.i_xz_estimator, ip.i_yz_estimator
            );
        }
        points.push(BetaPathPoint {
            checkpoint: name.clone(),
            iteration: it,
            beta: cfg.beta.value(it.saturating_sub(1)),
            i_xz_lower: ip.i_xz_lower,
            i_xz_upper: ip.i_xz,
            i_yz: ip.i_yz,
            linear_probe: report.linear_probe,
        });
    }
    let best_k = points
        .iter()
        .flat_map(|p| p.linear_probe.iter().map(|q| q.labels_per_class))
        .max()
        .unwrap_or(0);
    let acc = |p: &BetaPathPoint| {
        p.linear_probe
            .iter()
            .find(|q| q.labels_per_class == best_k)
            .map_or(f64::NEG_INFINITY, |q| q.mean)
    };
    let mut best: Option<usize> = None;
    for (i, p) in points.iter().enumerate() {
        if best.is_none_or(|b| acc(p) > acc(&points[b])) {
            best = Some(i);
        }
    }
    let h_y = data
        .test
        .labels
        .as_ref()
        .map(|y| super::label_entropy(y, data.test.n_classes));
    Ok(BetaPathReport {
        points,
        best,
        best_labels_per_class: best_k,
        h_y,
        estimators,
        params: params.clone(),
    })
}
