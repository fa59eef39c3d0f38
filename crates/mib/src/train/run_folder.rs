//! A run folder: the on-disk record of a training run, and training into one.
//!
//! ```text
//! RUN/config.toml           the resolved configuration (the run is reproducible from it)
//! RUN/metrics.jsonl         one JSON object per logged iteration
//! RUN/checkpoints/          ckpt-<iteration>.safetensors (parameters, Adam state, iteration, RNG state)
//! RUN/model.safetensors     the final model (same format as a checkpoint)
//! RUN/encoder.safetensors   the final encoder(s) alone
//! RUN/encoder.toml          what the encoder needs to be rebuilt (model config, view widths)
//! ```
//!
//! Resuming reads the newest checkpoint that reads cleanly, drops the metrics lines logged after
//! it, and continues from it: `metrics.jsonl` and the final model are those of an uninterrupted
//! run, timing fields aside (see [`super::fit`]).

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::checkpoint::{self, CheckpointMeta, LoadedCheckpoint};
use super::fit::{
    run_loop, FitState, LoopData, MetricsRecord, RunSink, TrainObserver, TrainSummary,
};
use super::lock::RunLock;
use crate::config::TrainConfig;
use crate::data::DatasetSplits;
use crate::models::TrainedModel;
use crate::objectives::TrainStep;
use crate::pool::ComputePool;
use crate::{Error, Result};

/// The files `mib train` writes into a run folder (what `--force` removes).
const RUN_FILES: [&str; 6] = [
    "config.toml",
    "metrics.jsonl",
    "model.safetensors",
    "encoder.safetensors",
    "encoder.toml",
    "eval.json",
];

/// A run folder (see the module docs for its layout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFolder {
    dir: PathBuf,
}

impl RunFolder {
    /// The run folder at `dir` (nothing is read or created yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RunFolder { dir: dir.into() }
    }
    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// `config.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    /// `metrics.jsonl`.
    pub fn metrics_path(&self) -> PathBuf {
        self.dir.join("metrics.jsonl")
    }
    /// `checkpoints/`.
    pub fn checkpoints_dir(&self) -> PathBuf {
        self.dir.join("checkpoints")
    }
    /// Whether the folder holds a run (its `config.toml` exists).
    pub fn holds_run(&self) -> bool {
        self.config_path().exists()
    }

    /// Checks that no other process trains in the folder ([`RunLock`]) and that it may receive a
    /// new run (`resume == false`: it holds no other run) or holds one to resume (`resume == true`).
    pub fn check(&self, resume: bool) -> Result<()> {
        RunLock::check_free(&self.dir)?;
        let exists = self.holds_run();
        if !resume && exists {
            return Err(Error::Data(format!(
                "{}: the folder holds another run (config.toml exists); continue it with --resume, \
                 or pass --force to overwrite it",
                self.dir.display()
            )));
        }
        if resume && !exists {
            return Err(Error::Data(format!(
                "{}: no run to resume here (config.toml is missing)",
                self.dir.display()
            )));
        }
        Ok(())
    }

    /// The run's config.
    pub fn read_config(&self) -> Result<TrainConfig> {
        if !self.holds_run() {
            return Err(Error::format(
                &self.dir,
                "not a run folder (config.toml is missing)",
            ));
        }
        TrainConfig::from_file(&self.config_path())
    }

    /// The run's metrics lines.
    pub fn read_metrics(&self) -> Result<Vec<MetricsRecord>> {
        read_metrics(&self.metrics_path())
    }

    /// The checkpoint files, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<PathBuf>> {
        checkpoint::list_checkpoints(&self.checkpoints_dir())
    }

    /// The checkpoints kept on the beta path (`train.checkpoint_at_beta`), in iteration order.
    pub fn beta_checkpoints(&self) -> Result<Vec<checkpoint::BetaCheckpoint>> {
        checkpoint::list_beta_checkpoints(&self.checkpoints_dir())
    }

    /// The file of the checkpoint `name` names: `final` (`model.safetensors`), `latest` (the
    /// newest periodic checkpoint), a file name inside `checkpoints/` (with or without
    /// `.safetensors`: `ckpt-0000000500`, `beta-1e-2-0000001234`), `beta=<value>` (the
    /// beta-path checkpoint of that beta), or a path to a checkpoint file. Errors name what the
    /// run holds.
    pub fn checkpoint_path(&self, name: &str) -> Result<PathBuf> {
        if !self.holds_run() {
            return Err(Error::format(
                &self.dir,
                "not a run folder (config.toml is missing)",
            ));
        }
        let ck = self.checkpoints_dir();
        let found = match name {
            "final" => Some(self.dir.join("model.safetensors")).filter(|p| p.exists()),
            "latest" => self.checkpoints()?.pop(),
            _ => {
                if let Some(b) = name.strip_prefix("beta=") {
                    let b: f64 = b.trim().parse().map_err(|_| {
                        Error::config("checkpoint", name, "beta=<number>, e.g. beta=0.01")
                    })?;
                    self.beta_checkpoints()?
                        .into_iter()
                        .find(|c| (c.beta - b).abs() <= 1e-9 * b.abs().max(1e-300))
                        .map(|c| c.path)
                } else {
                    let file = if name.ends_with(".safetensors") {
                        name.to_string()
                    } else {
                        format!("{name}.safetensors")
                    };
                    let inside = ck.join(&file);
                    if !name.contains('/') && inside.is_file() {
                        Some(inside)
                    } else {
                        Some(PathBuf::from(name)).filter(|p| p.is_file())
                    }
                }
            }
        };
        found.ok_or_else(|| {
            let mut names: Vec<String> = Vec::new();
            if self.dir.join("model.safetensors").exists() {
                names.push("final".into());
            }
            let mut files: Vec<String> = std::fs::read_dir(&ck)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .filter_map(|e| e.file_name().to_str().map(str::to_string))
                        .filter(|n| n.ends_with(".safetensors") && !n.starts_with('.'))
                        .map(|n| n.trim_end_matches(".safetensors").to_string())
                        .collect()
                })
                .unwrap_or_default();
            files.sort();
            names.extend(files);
            Error::config(
                "checkpoint",
                name,
                if names.is_empty() {
                    format!("{} holds no model and no checkpoint", self.dir.display())
                } else {
                    format!(
                        "no such checkpoint in {}; it holds: {}",
                        self.dir.display(),
                        names.join(", ")
                    )
                },
            )
        })
    }

    /// The newest checkpoint that reads cleanly (unreadable ones are listed in `skipped`).
    pub fn latest_checkpoint(
        &self,
        skipped: &mut Vec<(PathBuf, String)>,
    ) -> Result<Option<LoadedCheckpoint>> {
        checkpoint::latest_valid(&self.checkpoints_dir(), skipped)
    }

    /// The trained model (final, else the newest valid checkpoint), computing on `threads`.
    pub fn open_model(&self, threads: usize) -> Result<TrainedModel> {
        TrainedModel::open(&self.dir, threads)
    }

    /// Removes the files of an earlier run (only the ones `mib train` writes), holding the
    /// folder's [`RunLock`] meanwhile: the files of a run in progress are never removed.
    pub fn clear(&self) -> Result<()> {
        if !self.dir.is_dir() {
            return Ok(());
        }
        let _lock = RunLock::acquire(&self.dir)?;
        self.remove_run_files()
    }

    fn remove_run_files(&self) -> Result<()> {
        for f in RUN_FILES {
            let p = self.dir.join(f);
            if p.exists() {
                fs::remove_file(&p).map_err(|e| Error::io("removing", &p, e))?;
            }
        }
        let ck = self.checkpoints_dir();
        if ck.exists() {
            fs::remove_dir_all(&ck).map_err(|e| Error::io("removing", &ck, e))?;
        }
        Ok(())
    }

    /// Writes `model.safetensors`, `encoder.safetensors` and `encoder.toml` for `model`.
    pub fn write_model(&self, model: &TrainedModel) -> Result<()> {
        write_final(&self.dir, model.step(), model.meta(), model.info())
    }

    /// Writes a complete run folder for a model trained elsewhere (in memory): `config.toml`,
    /// `metrics.jsonl` from `history`, a checkpoint and the final model. The folder must not hold
    /// another run unless `overwrite`.
    pub fn save(
        &self,
        model: &TrainedModel,
        history: &[MetricsRecord],
        overwrite: bool,
    ) -> Result<()> {
        if !overwrite {
            self.check(false)?;
        }
        fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io("creating run folder", &self.dir, e))?;
        let _lock = RunLock::acquire(&self.dir)?;
        if overwrite {
            self.remove_run_files()?;
        }
        let mut lines = String::new();
        for r in history {
            lines.push_str(&serde_json::to_string(r)?);
            lines.push('\n');
        }
        checkpoint::write_atomic(&self.metrics_path(), lines.as_bytes())?;
        checkpoint::save_checkpoint(
            &self.checkpoints_dir(),
            model.step(),
            model.meta(),
            model.config().train.keep_checkpoints,
        )?;
        self.write_model(model)?;
        // config.toml last: its presence marks the folder as holding a run.
        checkpoint::write_atomic(
            &self.config_path(),
            model.config().to_toml_string()?.as_bytes(),
        )
    }
}

/// Options of one call to [`train`].
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Continue from the newest valid checkpoint of the run folder instead of starting anew.
    pub resume: bool,
    /// When set (e.g. by a Ctrl-C handler), the loop writes a checkpoint and returns.
    pub stop: Option<Arc<AtomicBool>>,
}

/// The sink of a run folder: metrics lines appended to `metrics.jsonl` (synced before each
/// checkpoint), atomic checkpoints in `checkpoints/`.
struct FolderSink {
    metrics: fs::File,
    metrics_path: PathBuf,
    ckpt_dir: PathBuf,
    keep: usize,
}

impl RunSink for FolderSink {
    fn metrics(&mut self, record: &MetricsRecord) -> Result<()> {
        let line = serde_json::to_string(record)?;
        writeln!(self.metrics, "{line}")
            .map_err(|e| Error::io("appending to", &self.metrics_path, e))
    }
    fn checkpoint(&mut self, model: &TrainStep, meta: &CheckpointMeta) -> Result<Option<PathBuf>> {
        self.metrics
            .sync_data()
            .map_err(|e| Error::io("syncing", &self.metrics_path, e))?;
        checkpoint::save_checkpoint(&self.ckpt_dir, model, meta, self.keep).map(Some)
    }
    fn beta_checkpoint(
        &mut self,
        model: &TrainStep,
        meta: &CheckpointMeta,
        beta: f64,
    ) -> Result<Option<PathBuf>> {
        self.metrics
            .sync_data()
            .map_err(|e| Error::io("syncing", &self.metrics_path, e))?;
        checkpoint::save_beta_checkpoint(&self.ckpt_dir, model, meta, beta).map(Some)
    }
}

/// Trains `cfg` on `data.train`, writing the run into `run_dir`, and returns the trained model
/// with how the run ended. Computes on a pool of `cfg.train.threads` threads.
///
/// Without `opts.resume` the folder must not hold another run (no `config.toml`); with it, the
/// run continues from its newest valid checkpoint (or from the start if there is none). A conv
/// encoder without `image_shape` takes the data's ([`crate::models::with_data_image_shape`]); the
/// `config.toml` written holds it.
pub fn train(
    cfg: &TrainConfig,
    data: &DatasetSplits,
    run_dir: &Path,
    opts: &RunOptions,
    observer: &mut dyn TrainObserver,
) -> Result<(TrainSummary, TrainedModel)> {
    let cfg = &crate::models::with_data_image_shape(cfg, &data.train)?;
    cfg.validate()?;
    super::fit::check_batch_size(cfg, data.train_len())?;
    super::fit::check_labelled(cfg, &data.train)?;
    let run = RunFolder::new(run_dir);
    run.check(opts.resume)?;
    fs::create_dir_all(run_dir).map_err(|e| Error::io("creating run folder", run_dir, e))?;
    let _lock = RunLock::acquire(run_dir)?;
    let metrics_path = run.metrics_path();

    // Named datasets come scaled from their loaders; `npy` views are scaled by `data.scaling`.
    let named = cfg.data.dataset != "npy";
    let (mut state, views) = FitState::new(cfg, &data.train, named)?;
    if opts.resume {
        let mut skipped = Vec::new();
        let ck = run.latest_checkpoint(&mut skipped)?;
        for (p, why) in skipped {
            observer.on_warning(&format!(
                "skipped unreadable checkpoint {}: {why}",
                p.display()
            ));
        }
        if let Some(ck) = ck {
            state.restore(&ck)?;
        }
        truncate_metrics(&metrics_path, state.iteration)?;
    } else {
        let _ = fs::remove_file(&metrics_path);
    }
    checkpoint::write_atomic(&run.config_path(), cfg.to_toml_string()?.as_bytes())?;
    let mut sink = FolderSink {
        metrics: fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&metrics_path)
            .map_err(|e| Error::io("opening", &metrics_path, e))?,
        metrics_path,
        ckpt_dir: run.checkpoints_dir(),
        keep: cfg.train.keep_checkpoints,
    };
    let pool = ComputePool::new(cfg.train.threads);
    let mut summary = run_loop(
        cfg,
        LoopData {
            train: &data.train,
            train_rows: data.train_rows.as_ref(),
            test: Some(&data.test),
            views: &views,
        },
        &mut state,
        &pool,
        opts.stop.as_deref(),
        &mut sink,
        observer,
    )?;
    summary.run_dir = run_dir.to_path_buf();
    let model = state.into_model(cfg, &data.train, &views, summary.wall_s);
    if !summary.interrupted {
        run.write_model(&model)?;
    }
    Ok((summary, model))
}

/// Writes `model.safetensors`, `encoder.safetensors` and `encoder.toml`.
fn write_final(
    run_dir: &Path,
    model: &TrainStep,
    meta: &CheckpointMeta,
    info: &crate::models::EncoderInfo,
) -> Result<()> {
    let mut md = HashMap::new();
    md.insert("mib.checkpoint".to_string(), serde_json::to_string(meta)?);
    let all = model.tensors();
    checkpoint::write_atomic(
        &run_dir.join("model.safetensors"),
        &checkpoint::serialize_tensors(&all, md)?,
    )?;
    let enc: Vec<_> = all
        .into_iter()
        .filter(|(n, _, _)| n.starts_with("encoder"))
        .collect();
    checkpoint::write_atomic(
        &run_dir.join("encoder.safetensors"),
        &checkpoint::serialize_tensors(&enc, Default::default())?,
    )?;
    let text = toml::to_string_pretty(info).map_err(|e| Error::Data(e.to_string()))?;
    checkpoint::write_atomic(&run_dir.join("encoder.toml"), text.as_bytes())
}

/// Keeps the lines of `metrics.jsonl` up to `iteration` (those written before the checkpoint a
/// run resumes from), rewriting the file atomically. Torn last lines are dropped.
fn truncate_metrics(path: &Path, iteration: u64) -> Result<()> {
    let f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("reading", path, e)),
    };
    let mut kept = String::new();
    for line in BufReader::new(f).lines() {
        let line = line.map_err(|e| Error::io("reading", path, e))?;
        match serde_json::from_str::<MetricsRecord>(&line) {
            Ok(r) if r.iteration <= iteration => {
                kept.push_str(&line);
                kept.push('\n');
            }
            _ => {}
        }
    }
    checkpoint::write_atomic(path, kept.as_bytes())
}

/// Reads a run's `metrics.jsonl`.
pub fn read_metrics(path: &Path) -> Result<Vec<MetricsRecord>> {
    let text = fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| Error::format(path, format!("line {}: {e}", i + 1)))
        })
        .collect()
}
