//! Comparison studies: several objectives trained on the same data with the same iteration budget,
//! each evaluated with one protocol, beside the raw input features, summarised in one table.
//!
//! An experiment is written in TOML (`configs/experiments/*.toml`): a list of *arms*, each a training
//! preset with overrides (deep-merged into the preset's TOML), or the raw features of one view.
//!
//! ```toml
//! name = "paper-fashion-mnist"
//! budget = 3000                  # iterations of every trained arm
//! labels_per_class = [1, 10, 100]
//! repetitions = 10
//!
//! [[arm]]
//! name = "mib"
//! preset = "mib"                 # resolved by the caller (the CLI embeds configs/*.toml)
//! [arm.set.beta]                 # deep-merged into the preset
//! end = 1.0
//!
//! [[arm]]
//! name = "raw"
//! raw_view = 0                   # the raw input features of view 0
//! ```
//!
//! With `scale_schedule = true` (the default) an arm's beta schedule is scaled to its budget as the
//! reference's is to its 150,000 iterations: the warm phase ends at 1/3 of the budget and the ramp
//! takes the remaining 2/3 ([`scale_to_budget`]). An arm whose `set.beta` (or the experiment's)
//! gives `start_iteration` or `n_iterations` keeps the shape it asks for: its schedule is scaled by
//! budget / the config's `train.iterations`, as `mib train --iterations` scales one. The checkpoint
//! and probe intervals are set to a fifth of the budget unless the arm's `set` (or the experiment's)
//! gives `train.checkpoint_every` or `eval.every` itself.
//!
//! [`run_experiment`] trains and evaluates the arms in order, each in its own folder
//! `OUT/<arm>-<iterations>it/` (raw arms: `OUT/<arm>/`). It never overwrites a result: a folder with
//! `eval.json` is reused, a folder whose run is unfinished is resumed from its newest checkpoint, and a
//! folder holding a run of another config is an error. The summary (`OUT/summary.md`,
//! `OUT/summary.json`) is derived from the arms' folders and rewritten on every call.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::data::DatasetSplits;
use crate::eval::{EvalProtocol, EvalReport, KnnParams};
use crate::models::TrainedModel;
use crate::pool::ComputePool;
use crate::train::checkpoint;
use crate::train::schedule::BetaSchedule;
use crate::train::{self, RunOptions, TrainObserver};
use crate::{Error, Result};

fn default_scale() -> bool {
    true
}

fn default_lpc() -> Vec<usize> {
    vec![1, 10, 100]
}

fn default_reps() -> usize {
    10
}

/// One arm of an experiment, as written in its TOML file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ArmSpec {
    /// Name of the arm (also the stem of its folder).
    pub name: String,
    /// A training preset (name resolved by the caller, or a path to a TOML file).
    #[serde(default)]
    pub preset: Option<String>,
    /// Values deep-merged into the preset's TOML (tables merge key by key, other values replace).
    #[serde(default)]
    pub set: Option<toml::Table>,
    /// Iterations of this arm; default: the experiment's `budget`.
    #[serde(default)]
    pub iterations: Option<u64>,
    /// Scale the beta schedule to the budget (warm 1/3, ramp 2/3, or the shares of the arm's own
    /// `set.beta.start_iteration` / `n_iterations` when it gives them); default true.
    #[serde(default = "default_scale")]
    pub scale_schedule: bool,
    /// Instead of training: evaluate the raw input features of this view.
    #[serde(default)]
    pub raw_view: Option<usize>,
    /// For raw arms: the training preset whose data section names the data (default: the first
    /// trained arm's data).
    #[serde(default)]
    pub data_from: Option<String>,
    /// A line describing the arm in the summary.
    #[serde(default)]
    pub note: String,
}

/// An experiment, as written in `configs/experiments/<name>.toml`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    /// Name of the experiment.
    pub name: String,
    /// What it shows, one paragraph (copied into the summary).
    #[serde(default)]
    pub description: String,
    /// Iterations of every trained arm that does not set its own.
    pub budget: u64,
    /// Labels per class of the few-label probe.
    #[serde(default = "default_lpc")]
    pub labels_per_class: Vec<usize>,
    /// Balanced draws per label count.
    #[serde(default = "default_reps")]
    pub repetitions: usize,
    /// Seed of the probe's label draws.
    #[serde(default)]
    pub eval_seed: u64,
    /// Also run the kNN probe (k = 5) on all training labels (default false: it compares every test
    /// item with every training item, minutes for 60,000 raw images on 2 cores).
    #[serde(default)]
    pub knn: bool,
    /// Values deep-merged into every trained arm's preset before the arm's own `set`.
    #[serde(default)]
    pub set: Option<toml::Table>,
    /// Training seeds: every trained arm runs once per seed (its folder `<arm>-<iterations>it-seed<s>`)
    /// and the summary gives the mean and spread over seeds. Empty (the default): one run with the
    /// preset's seed.
    #[serde(default)]
    pub seeds: Vec<u64>,
    /// The arms, in the order they run.
    #[serde(rename = "arm")]
    pub arms: Vec<ArmSpec>,
}

impl ExperimentSpec {
    /// Parses an experiment TOML document; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self> {
        let spec: ExperimentSpec = toml::from_str(text)
            .map_err(|e| Error::format(origin, e.to_string().replace('\n', " ")))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Checks the spec: a positive budget, unique arm names, and each arm trained or raw.
    pub fn validate(&self) -> Result<()> {
        if self.budget == 0 {
            return Err(Error::config("budget", 0, "must be at least 1"));
        }
        if self.arms.is_empty() {
            return Err(Error::config(
                "arm",
                "[]",
                "an experiment needs at least one arm",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for a in &self.arms {
            if !seen.insert(a.name.as_str()) {
                return Err(Error::config(
                    "arm.name",
                    &a.name,
                    "arm names must be unique",
                ));
            }
            if a.name.is_empty()
                || !a
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            {
                return Err(Error::config(
                    "arm.name",
                    &a.name,
                    "use letters, digits, '-', '_' or '.' (it names a folder)",
                ));
            }
            if a.preset.is_some() == a.raw_view.is_some() {
                return Err(Error::config(
                    "arm",
                    &a.name,
                    "set exactly one of `preset` (a trained arm) and `raw_view` (raw features)",
                ));
            }
        }
        Ok(())
    }

    /// Resolves the arms into configs: `lookup` returns the TOML text of a preset name; the
    /// experiment's (or `budget_override`'s) budget and the schedule scaling are applied.
    pub fn plan(
        &self,
        budget_override: Option<u64>,
        lookup: &dyn Fn(&str) -> Result<String>,
    ) -> Result<ExperimentPlan> {
        let mut seen = std::collections::HashSet::new();
        if let Some(s) = self.seeds.iter().find(|s| !seen.insert(**s)) {
            return Err(Error::config("seeds", s, "each seed may appear once"));
        }
        let budget = budget_override.unwrap_or(self.budget);
        if budget == 0 {
            return Err(Error::config("budget", 0, "must be at least 1"));
        }
        let mut trained: Vec<Option<TrainConfig>> = Vec::new();
        for a in &self.arms {
            let Some(preset) = &a.preset else {
                trained.push(None);
                continue;
            };
            let mut value: toml::Table = toml::from_str(&lookup(preset)?)
                .map_err(|e| Error::format(preset, e.to_string().replace('\n', " ")))?;
            for set in [&self.set, &a.set].into_iter().flatten() {
                merge_tables(&mut value, set);
            }
            let text = toml::to_string(&value).map_err(|e| Error::Data(e.to_string()))?;
            let mut cfg =
                TrainConfig::from_toml_str(&text, &format!("arm `{}` ({preset})", a.name))?;
            // An override budget applies to every arm; otherwise an arm may set its own.
            let iters = budget_override.unwrap_or(a.iterations.unwrap_or(budget));
            // What the arm (or the experiment) sets itself is kept: its schedule's shape, its
            // probe and checkpoint intervals.
            let own = |section: &str, key: &str| {
                [&self.set, &a.set].into_iter().flatten().any(|set| {
                    set.get(section)
                        .and_then(|t| t.as_table())
                        .is_some_and(|t| t.contains_key(key))
                })
            };
            let own_shape = own("beta", "start_iteration") || own("beta", "n_iterations");
            let (probe_every, checkpoint_every) = (cfg.eval.every, cfg.train.checkpoint_every);
            if a.scale_schedule && own_shape {
                cfg.beta = cfg.beta.scaled(cfg.train.iterations, iters);
                scale_to_budget(&mut cfg, iters, false);
            } else {
                scale_to_budget(&mut cfg, iters, a.scale_schedule);
            }
            if own("eval", "every") {
                cfg.eval.every = probe_every;
            }
            if own("train", "checkpoint_every") {
                cfg.train.checkpoint_every = checkpoint_every;
            }
            cfg.validate()?;
            trained.push(Some(cfg));
        }
        let first_data = trained.iter().flatten().next().cloned();
        let mut arms = Vec::new();
        for (a, cfg) in self.arms.iter().zip(trained) {
            let kind = match (cfg, a.raw_view) {
                (Some(cfg), _) => ArmKind::Train(Box::new(cfg)),
                (None, Some(view)) => {
                    let data = match &a.data_from {
                        Some(p) => {
                            let mut value: toml::Table = toml::from_str(&lookup(p)?)
                                .map_err(|e| Error::format(p, e.to_string().replace('\n', " ")))?;
                            if let Some(set) = &self.set {
                                merge_tables(&mut value, set);
                            }
                            let text =
                                toml::to_string(&value).map_err(|e| Error::Data(e.to_string()))?;
                            TrainConfig::from_toml_str(&text, p)?
                        }
                        None => first_data.clone().ok_or_else(|| {
                            Error::config(
                                "arm.data_from",
                                &a.name,
                                "a raw arm needs `data_from` when no arm is trained",
                            )
                        })?,
                    };
                    ArmKind::Raw {
                        view,
                        data: Box::new(data),
                    }
                }
                (None, None) => unreachable!("validated: every arm is trained or raw"),
            };
            match kind {
                ArmKind::Train(c) if !self.seeds.is_empty() => {
                    for &s in &self.seeds {
                        let mut c = c.clone();
                        c.seed = s;
                        arms.push(PlannedArm {
                            name: a.name.clone(),
                            note: a.note.clone(),
                            dir_name: format!("{}-{}it-seed{s}", a.name, c.train.iterations),
                            kind: ArmKind::Train(c),
                            seed: Some(s),
                        });
                    }
                }
                kind => {
                    let dir_name = match &kind {
                        ArmKind::Train(c) => format!("{}-{}it", a.name, c.train.iterations),
                        ArmKind::Raw { .. } => a.name.clone(),
                    };
                    arms.push(PlannedArm {
                        name: a.name.clone(),
                        note: a.note.clone(),
                        dir_name,
                        kind,
                        seed: None,
                    });
                }
            }
        }
        Ok(ExperimentPlan {
            name: self.name.clone(),
            description: self.description.clone(),
            budget,
            protocol: EvalProtocol {
                labels_per_class: self.labels_per_class.clone(),
                repetitions: self.repetitions,
                knn: self.knn.then(KnnParams::default),
                seed: self.eval_seed,
                ..Default::default()
            },
            arms,
        })
    }
}

/// Deep-merges `over` into `base`: tables merge key by key, every other value replaces. A table
/// whose `kind` differs from the base's (a tagged variant such as a beta schedule) replaces it whole.
pub fn merge_tables(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o))
                if o.get("kind").is_none() || o.get("kind") == b.get("kind") =>
            {
                merge_tables(b, o)
            }
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Sets `cfg` to train `iterations` iterations, and (when `scale_schedule`) scales its beta
/// schedule the way the reference's relates to its budget: the warm phase ends at `iterations / 3`,
/// the ramp takes the remaining `iterations - iterations / 3`. Checkpoint and probe intervals are
/// set so that a run has about 5 checkpoints and 5 probes.
pub fn scale_to_budget(cfg: &mut TrainConfig, iterations: u64, scale_schedule: bool) {
    cfg.train.iterations = iterations;
    if scale_schedule {
        let s0 = iterations / 3;
        let n = (iterations - s0).max(1);
        match &mut cfg.beta {
            BetaSchedule::Exponential {
                start_iteration,
                n_iterations,
                ..
            }
            | BetaSchedule::Linear {
                start_iteration,
                n_iterations,
                ..
            } => {
                *start_iteration = s0;
                *n_iterations = n;
            }
            BetaSchedule::Constant { .. } => {}
        }
    }
    let log = cfg.train.log_every.clamp(1, iterations.max(1));
    cfg.train.log_every = log;
    let every = |parts: u64| ((iterations / parts).max(log) / log) * log;
    cfg.train.checkpoint_every = every(5);
    if cfg.eval.every > 0 {
        cfg.eval.every = every(5);
    }
}

/// What an arm does.
#[derive(Clone, Debug, PartialEq)]
pub enum ArmKind {
    /// Train this config, then evaluate the posterior means.
    Train(Box<TrainConfig>),
    /// Evaluate the raw features of `view` of the data `data` names.
    Raw {
        /// The view.
        view: usize,
        /// A config whose data section names the data.
        data: Box<TrainConfig>,
    },
}

/// An arm with its config resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedArm {
    /// Name of the arm.
    pub name: String,
    /// Its description.
    pub note: String,
    /// Its folder under the experiment's output folder.
    pub dir_name: String,
    /// What it does.
    pub kind: ArmKind,
    /// The training seed of this run when the experiment lists `seeds`.
    pub seed: Option<u64>,
}

/// A resolved experiment: what [`run_experiment`] runs.
#[derive(Clone, Debug, PartialEq)]
pub struct ExperimentPlan {
    /// Name of the experiment.
    pub name: String,
    /// What it shows.
    pub description: String,
    /// Default iterations of a trained arm.
    pub budget: u64,
    /// The evaluation protocol of every arm.
    pub protocol: EvalProtocol,
    /// The arms, in order.
    pub arms: Vec<PlannedArm>,
}

/// The outcome of one arm (`OUT/<arm folder>/result.json`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ArmResult {
    /// Name of the arm.
    pub name: String,
    /// Its description.
    pub note: String,
    /// The training seed, when the experiment lists `seeds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Its folder.
    pub dir: PathBuf,
    /// Objective (`raw` for raw features).
    pub objective: String,
    /// Iterations trained (0 for raw features).
    pub iterations: u64,
    /// Batch size (0 for raw features).
    pub batch_size: usize,
    /// End-to-end training wall time in seconds (views included; all sessions of a resumed run).
    pub train_wall_s: f64,
    /// Evaluation wall time, seconds.
    pub eval_wall_s: f64,
    /// The evaluation.
    pub report: EvalReport,
}

/// Receives the progress of [`run_experiment`]; the CLI draws progress bars from it.
pub trait ExperimentObserver {
    /// An arm starts (`index` of `total`); `action` says what happens (train, resume, evaluate,
    /// reuse).
    fn on_arm(&mut self, _index: usize, _total: usize, _arm: &PlannedArm, _action: &str) {}
    /// The observer of the arm's training run.
    fn train_observer(&mut self) -> &mut dyn TrainObserver;
    /// An arm finished.
    fn on_arm_done(&mut self, _result: &ArmResult) {}
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::format(path, e.to_string()))
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    checkpoint::write_atomic(path, serde_json::to_string_pretty(v)?.as_bytes())
}

/// Configs equal up to the settings that do not change the result (`train.threads`).
fn same_run(a: &TrainConfig, b: &TrainConfig) -> bool {
    let mut a = a.clone();
    a.train.threads = b.train.threads;
    a == *b
}

/// Options of [`run_experiment`].
#[derive(Clone, Default)]
pub struct ExperimentOptions {
    /// Replaces `train.threads` of every arm (0 = all cores; results do not depend on it).
    pub threads: usize,
    /// When set (e.g. by a Ctrl-C handler), the running arm writes a checkpoint and the experiment
    /// stops with an error; calling it again resumes.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// Trains and evaluates every arm of `plan` under `out` (see the module docs for what is reused).
/// Returns one result per arm, in the plan's order.
pub fn run_experiment(
    plan: &ExperimentPlan,
    out: &Path,
    opts: &ExperimentOptions,
    observer: &mut dyn ExperimentObserver,
) -> Result<Vec<ArmResult>> {
    fs::create_dir_all(out).map_err(|e| Error::io("creating experiment folder", out, e))?;
    let mut data_cache: HashMap<String, DatasetSplits> = HashMap::new();
    let mut results = Vec::new();
    let total = plan.arms.len();
    for (i, arm) in plan.arms.iter().enumerate() {
        let dir = out.join(&arm.dir_name);
        let eval_path = dir.join("eval.json");
        let result_path = dir.join("result.json");
        check_folder(arm, &dir)?;
        if eval_path.exists() && result_path.exists() {
            observer.on_arm(i, total, arm, "reuse");
            let r: ArmResult = read_json(&result_path)?;
            observer.on_arm_done(&r);
            results.push(r);
            continue;
        }
        let data_cfg = match &arm.kind {
            ArmKind::Train(c) => c.as_ref(),
            ArmKind::Raw { data, .. } => data.as_ref(),
        };
        let key = toml::to_string(&data_cfg.data).map_err(|e| Error::Data(e.to_string()))?;
        if !data_cache.contains_key(&key) {
            data_cache.insert(key.clone(), crate::data::load_splits(data_cfg)?);
        }
        let data = &data_cache[&key];
        let result = match &arm.kind {
            ArmKind::Raw { view, .. } => {
                observer.on_arm(i, total, arm, "evaluate raw features");
                fs::create_dir_all(&dir).map_err(|e| Error::io("creating arm folder", &dir, e))?;
                checkpoint::write_atomic(&dir.join("data.toml"), raw_identity(arm)?.as_bytes())?;
                let t = Instant::now();
                let report = crate::eval::evaluate_raw(
                    data,
                    *view,
                    &plan.protocol,
                    &ComputePool::new(opts.threads),
                )?;
                ArmResult {
                    name: arm.name.clone(),
                    note: arm.note.clone(),
                    seed: None,
                    dir: dir.clone(),
                    objective: "raw".into(),
                    iterations: 0,
                    batch_size: 0,
                    train_wall_s: 0.0,
                    eval_wall_s: t.elapsed().as_secs_f64(),
                    report,
                }
            }
            ArmKind::Train(cfg) => {
                let mut cfg = (**cfg).clone();
                cfg.train.threads = opts.threads;
                let stop = opts.stop.clone();
                run_trained_arm(
                    i,
                    total,
                    arm,
                    &cfg,
                    data,
                    &dir,
                    &plan.protocol,
                    stop,
                    observer,
                )?
            }
        };
        write_json(&result_path, &result)?;
        // eval.json last: its presence marks the arm as finished.
        write_json(&eval_path, &result.report)?;
        observer.on_arm_done(&result);
        results.push(result);
    }
    write_summary(plan, out, &results)?;
    Ok(results)
}

/// What a raw arm evaluates (its data section and view), as TOML: stored in its folder as
/// `data.toml` so that a folder is reused only for the same data.
fn raw_identity(arm: &PlannedArm) -> Result<String> {
    match &arm.kind {
        ArmKind::Raw { view, data } => {
            let mut t = toml::Table::new();
            t.insert("view".into(), toml::Value::Integer(*view as i64));
            t.insert(
                "data".into(),
                toml::Value::try_from(&data.data).map_err(|e| Error::Data(e.to_string()))?,
            );
            toml::to_string(&t).map_err(|e| Error::Data(e.to_string()))
        }
        ArmKind::Train(_) => Err(Error::Data("not a raw arm".into())),
    }
}

/// Errors when `dir` holds the results of another arm config (never reused, never overwritten).
fn check_folder(arm: &PlannedArm, dir: &Path) -> Result<()> {
    let other = |what: &str| {
        Error::Data(format!(
            "{}: holds {what} of another config (the preset, overrides or budget changed); \
             choose another --out (results are never overwritten)",
            dir.display()
        ))
    };
    match &arm.kind {
        ArmKind::Train(cfg) => {
            let saved = dir.join("config.toml");
            if saved.exists() && !same_run(&TrainConfig::from_file(&saved)?, cfg) {
                return Err(other("a run"));
            }
        }
        ArmKind::Raw { .. } => {
            let saved = dir.join("data.toml");
            if saved.exists() {
                let text =
                    fs::read_to_string(&saved).map_err(|e| Error::io("reading", &saved, e))?;
                if text != raw_identity(arm)? {
                    return Err(other("an evaluation"));
                }
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_trained_arm(
    i: usize,
    total: usize,
    arm: &PlannedArm,
    cfg: &TrainConfig,
    data: &DatasetSplits,
    dir: &Path,
    protocol: &EvalProtocol,
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    observer: &mut dyn ExperimentObserver,
) -> Result<ArmResult> {
    let saved = dir.join("config.toml");
    let final_model = dir.join("model.safetensors");
    // check_folder has compared an existing config.toml with `cfg`.
    let exists = saved.exists();
    let (mut model, train_wall_s) = if exists && final_model.exists() {
        observer.on_arm(i, total, arm, "evaluate finished run");
        (TrainedModel::open(dir, cfg.train.threads)?, last_wall(dir)?)
    } else {
        observer.on_arm(i, total, arm, if exists { "resume" } else { "train" });
        let opts = RunOptions {
            resume: exists,
            stop,
        };
        let (summary, model) = train::train(cfg, data, dir, &opts, observer.train_observer())?;
        if summary.interrupted {
            return Err(Error::Data(format!(
                "{}: training was interrupted; run the experiment again to resume it",
                dir.display()
            )));
        }
        (model, summary.wall_s)
    };
    observer.on_arm(i, total, arm, "evaluate");
    let t = Instant::now();
    let (report, _) = crate::eval::evaluate_model(&mut model, data, protocol)?;
    Ok(ArmResult {
        name: arm.name.clone(),
        note: arm.note.clone(),
        seed: arm.seed,
        dir: dir.to_path_buf(),
        objective: cfg.model.objective.name().to_string(),
        iterations: cfg.train.iterations,
        batch_size: cfg.train.batch_size,
        train_wall_s,
        eval_wall_s: t.elapsed().as_secs_f64(),
        report,
    })
}

/// Training wall time of a finished run, from the last line of its `metrics.jsonl`.
fn last_wall(dir: &Path) -> Result<f64> {
    let m = train::read_metrics(&dir.join("metrics.jsonl"))?;
    Ok(m.last().map_or(f64::NAN, |r| r.wall_s))
}

fn fmt_opt(x: Option<f64>, digits: usize) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "n/a".into(),
    }
}

/// The comparison table in Markdown: one row per arm, accuracy (mean +- std over repetitions) at each
/// label count, kNN, retrieval mAP when present, `I(x;z)`, `I(y;z)`, iterations and wall times.
pub fn summary_markdown(plan_name: &str, protocol: &EvalProtocol, results: &[ArmResult]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let has_retrieval = results.iter().any(|r| r.report.retrieval.is_some());
    let has_knn = results.iter().any(|r| r.report.knn.is_some());
    let _ = write!(s, "| arm | objective | iterations |");
    for k in &protocol.labels_per_class {
        let _ = write!(s, " {k} label{}/class |", if *k == 1 { "" } else { "s" });
    }
    if has_knn {
        let _ = write!(s, " kNN (k=5) |");
    }
    if has_retrieval {
        let _ = write!(s, " retrieval mAP |");
    }
    let _ = writeln!(s, " I(x;z) lower-upper | I(y;z) | train s | eval s |");
    let n_cols =
        3 + protocol.labels_per_class.len() + usize::from(has_knn) + usize::from(has_retrieval) + 4;
    let _ = writeln!(s, "|{}", "---|".repeat(n_cols));
    for r in results {
        let _ = write!(
            s,
            "| {} | {} | {} |",
            match r.seed {
                Some(seed) => format!("{} (seed {seed})", r.name),
                None => r.name.clone(),
            },
            r.objective,
            if r.iterations == 0 {
                "-".to_string()
            } else {
                r.iterations.to_string()
            }
        );
        for k in &protocol.labels_per_class {
            match r
                .report
                .linear_probe
                .iter()
                .find(|p| p.labels_per_class == *k)
            {
                Some(p) => {
                    let _ = write!(s, " {:.3} +- {:.3} |", p.mean, p.std);
                }
                None => {
                    let _ = write!(s, " n/a |");
                }
            }
        }
        if has_knn {
            let _ = write!(
                s,
                " {} |",
                fmt_opt(r.report.knn.as_ref().map(|k| k.accuracy), 3)
            );
        }
        if has_retrieval {
            let _ = write!(
                s,
                " {} |",
                fmt_opt(r.report.retrieval.as_ref().map(|k| k.map_at_all), 3)
            );
        }
        let ip = r.report.information_plane.as_ref();
        let _ = writeln!(
            s,
            " {} | {} | {} | {:.0} |",
            match (ip.and_then(|p| p.i_xz_lower), ip.and_then(|p| p.i_xz)) {
                (Some(lo), Some(hi)) => format!("{lo:.2}-{hi:.2}"),
                (lo, hi) => fmt_opt(hi.or(lo), 2),
            },
            fmt_opt(ip.and_then(|p| p.i_yz), 3),
            if r.iterations == 0 {
                "-".to_string()
            } else {
                format!("{:.0}", r.train_wall_s)
            },
            r.eval_wall_s
        );
    }
    let _ = writeln!(
        s,
        "\n{plan_name}: linear probe on posterior means, {} balanced draws per label count \
         (seed {}); I(y;z) is the H(y) - CE bound of a probe on all training labels; I(x;z) is \
         bracketed by the encoder-density bounds (InfoNCE lower, leave-one-out upper) over up to 2,000 \
         test items (so at most ln 2000 = 7.6 nats); nats throughout.",
        protocol.repetitions, protocol.seed
    );
    s
}

/// One arm's accuracy at one label count over its training seeds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SeedSummary {
    /// The arm.
    pub name: String,
    /// Labels per class.
    pub labels_per_class: usize,
    /// Training seeds it ran with.
    pub seeds: Vec<u64>,
    /// Mean over seeds of the probe's mean accuracy.
    pub mean: f64,
    /// Sample standard deviation over seeds (`ddof = 1`; 0 with one seed).
    pub seed_std: f64,
    /// Mean over seeds of the probe's standard deviation over label draws.
    pub draw_std: f64,
}

/// Groups the runs of each arm over its seeds (arms without seeds give one-seed groups).
pub fn seed_summaries(protocol: &EvalProtocol, results: &[ArmResult]) -> Vec<SeedSummary> {
    let mut names: Vec<&str> = Vec::new();
    for r in results {
        if !names.contains(&r.name.as_str()) {
            names.push(&r.name);
        }
    }
    let mut out = Vec::new();
    for name in names {
        let runs: Vec<&ArmResult> = results.iter().filter(|r| r.name == name).collect();
        for &k in &protocol.labels_per_class {
            let per: Vec<(f64, f64)> = runs
                .iter()
                .filter_map(|r| {
                    r.report
                        .linear_probe
                        .iter()
                        .find(|p| p.labels_per_class == k)
                        .map(|p| (p.mean, p.std))
                })
                .collect();
            if per.is_empty() {
                continue;
            }
            let n = per.len() as f64;
            let mean = per.iter().map(|p| p.0).sum::<f64>() / n;
            let seed_std = if per.len() > 1 {
                (per.iter().map(|p| (p.0 - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
            } else {
                0.0
            };
            out.push(SeedSummary {
                name: name.to_string(),
                labels_per_class: k,
                seeds: runs.iter().filter_map(|r| r.seed).collect(),
                mean,
                seed_std,
                draw_std: per.iter().map(|p| p.1).sum::<f64>() / n,
            });
        }
    }
    out
}

/// The over-seeds table in Markdown: per arm and label count, `mean ± std over seeds (draws ±
/// mean std over label draws)`.
pub fn seeds_markdown(protocol: &EvalProtocol, summaries: &[SeedSummary]) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("| arm | seeds |");
    for k in &protocol.labels_per_class {
        let _ = write!(s, " {k} label{}/class |", if *k == 1 { "" } else { "s" });
    }
    s.push('\n');
    let _ = writeln!(s, "|{}", "---|".repeat(2 + protocol.labels_per_class.len()));
    let mut names: Vec<&str> = Vec::new();
    for x in summaries {
        if !names.contains(&x.name.as_str()) {
            names.push(&x.name);
        }
    }
    for name in names {
        let rows: Vec<&SeedSummary> = summaries.iter().filter(|x| x.name == name).collect();
        let seeds = rows.first().map_or(0, |x| x.seeds.len().max(1));
        let _ = write!(s, "| {name} | {seeds} |");
        for k in &protocol.labels_per_class {
            match rows.iter().find(|x| x.labels_per_class == *k) {
                Some(x) => {
                    let _ = write!(
                        s,
                        " {:.3} ± {:.3} (draws ± {:.3}) |",
                        x.mean, x.seed_std, x.draw_std
                    );
                }
                None => s.push_str(" n/a |"),
            }
        }
        s.push('\n');
    }
    s.push_str(
        "\nMean over training seeds ± their standard deviation (ddof = 1); in brackets the mean \
         spread of the probe over label draws. Arms without seeds (raw features) ran once.\n",
    );
    s
}

fn write_summary(plan: &ExperimentPlan, out: &Path, results: &[ArmResult]) -> Result<()> {
    let mut md = format!("# Experiment `{}`\n\n", plan.name);
    if !plan.description.is_empty() {
        md.push_str(plan.description.trim());
        md.push_str("\n\n");
    }
    if results.iter().any(|r| r.seed.is_some()) {
        md.push_str("## Over training seeds\n\n");
        md.push_str(&seeds_markdown(
            &plan.protocol,
            &seed_summaries(&plan.protocol, results),
        ));
        md.push_str("\n## Every run\n\n");
    }
    md.push_str(&summary_markdown(&plan.name, &plan.protocol, results));
    md.push('\n');
    // One note per arm (the runs of an arm's seeds share it).
    let mut noted = std::collections::HashSet::new();
    for r in results {
        if !r.note.is_empty() && noted.insert(&r.name) {
            md.push_str(&format!("- `{}`: {}\n", r.name, r.note));
        }
    }
    checkpoint::write_atomic(&out.join("summary.md"), md.as_bytes())?;
    write_json(&out.join("summary.json"), &results)?;
    if results.iter().any(|r| r.seed.is_some()) {
        write_json(
            &out.join("seeds.json"),
            &seed_summaries(&plan.protocol, results),
        )?;
    }
    Ok(())
}
