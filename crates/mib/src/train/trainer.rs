//! The training loop: batches from the data pipeline, one fused step per batch, metrics, periodic
//! atomic checkpoints, a guard against non-finite losses, and exact resumption.
//!
//! A run lives in a folder:
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
//! Resuming reads the newest checkpoint that reads cleanly and continues from it; since the batch at
//! iteration `k` depends only on `(seed, k)` and the RNG state is checkpointed, the losses after
//! the resume point equal those of an uninterrupted run with the same seed (on CPU).

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::data::{BatchProducer, DatasetSplits, MultiViewDataset, PairingConfig};
use crate::objectives::{ModelConfig, ObjectiveKind, StepStats, TrainStep};
use crate::train::checkpoint::{self, CheckpointMeta};
use crate::{Error, MibRng, Result};

/// One line of `metrics.jsonl`: means over the logging interval ending at `iteration`. The loss
/// parts an objective does not have are left out (`None`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct MetricsRecord {
    /// Iterations completed.
    pub iteration: u64,
    /// Training loss.
    pub loss: f64,
    /// Beta at the last iteration of the interval.
    pub beta: f64,
    /// The logged mutual-information estimate (NWJ for the JSD and NWJ estimators, InfoNCE's value
    /// for InfoNCE), nats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mi_estimate: Option<f64>,
    /// The bound the optimiser maximises (JSD, NWJ or InfoNCE surrogate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mi_surrogate: Option<f64>,
    /// Symmetrised KL between the two posteriors (MIB, MV-InfoMax), nats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skl: Option<f64>,
    /// beta-VAE rate, nats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// beta-VAE distortion, nats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distortion: Option<f64>,
    /// Supervised cross-entropy, nats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_entropy: Option<f64>,
    /// Steps in this interval whose update was skipped for a non-finite loss or gradient.
    pub nonfinite_skipped: u64,
    /// Wall time of training so far (seconds; resumed runs add up their sessions).
    pub wall_s: f64,
    /// Iterations per second over the interval.
    pub it_per_s: f64,
    /// Test accuracy of the few-label linear probe, when evaluated at this iteration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_accuracy: Option<f64>,
}

/// Receives what the loop reports; the CLI draws a progress bar from it.
pub trait TrainObserver {
    /// Called once, before the first step: first iteration to run and the total.
    fn on_start(&mut self, _start: u64, _total: u64) {}
    /// Called every `train.log_every` iterations.
    fn on_log(&mut self, _record: &MetricsRecord) {}
    /// Called after each checkpoint is written.
    fn on_checkpoint(&mut self, _path: &Path) {}
    /// A non-fatal problem the user should know about (a skipped corrupt checkpoint, ...).
    fn on_warning(&mut self, _msg: &str) {}
}

/// An observer that ignores everything.
pub struct NoObserver;
impl TrainObserver for NoObserver {}

/// How a run ended.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainSummary {
    /// The run folder.
    pub run_dir: PathBuf,
    /// Iteration the run started from (0, or the checkpoint it resumed from).
    pub started_at: u64,
    /// Iterations completed.
    pub iterations: u64,
    /// Whether it was stopped early (by the stop flag) rather than finishing.
    pub interrupted: bool,
    /// Total non-finite steps skipped.
    pub nonfinite_total: u64,
    /// Training wall time, seconds (all sessions).
    pub wall_s: f64,
    /// The last logged metrics.
    pub last: Option<MetricsRecord>,
}

/// What `encoder.toml` holds: enough to rebuild the encoder and check the data it is given.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EncoderInfo {
    /// Width of each view the model was trained on.
    pub in_dims: Vec<usize>,
    /// Names of those views.
    pub view_names: Vec<String>,
    /// Number of classes of the training labels (0 if unlabelled).
    pub n_classes: usize,
    /// The model config.
    pub model: ModelConfig,
}

/// Options of one call to [`train`].
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Continue from the newest valid checkpoint of the run folder instead of starting anew.
    pub resume: bool,
    /// When set (e.g. by a Ctrl-C handler), the loop writes a checkpoint and returns.
    pub stop: Option<Arc<AtomicBool>>,
}

/// The two dataset views a run trains on, and the widths the model is built for.
pub fn training_views(cfg: &TrainConfig, ds: &MultiViewDataset) -> Result<[usize; 2]> {
    let n = ds.views.len();
    if cfg.model.objective.n_views() == 1
        && !matches!(cfg.data.pairing, PairingConfig::Augment { .. })
    {
        // InfoMax, beta-VAE and the supervised baseline see one view: the first.
        return Ok([0, 0]);
    }
    match &cfg.data.pairing {
        PairingConfig::Aligned | PairingConfig::SameClass => {
            if n < 2 {
                return Err(Error::config(
                    "data.pairing",
                    "aligned/same-class",
                    format!("the dataset has {n} view(s); use pairing kind = \"augment\" for single-view data"),
                ));
            }
            Ok([0, 1])
        }
        #[allow(unreachable_patterns)]
        _ => Ok([0, 0]),
    }
}

/// Loads the data a config names: a named dataset's train and test splits, or `npy` views split
/// into train and test by a seeded permutation (`data.test_fraction` held out).
pub fn load_data(cfg: &TrainConfig) -> Result<DatasetSplits> {
    let d = &cfg.data;
    if d.dataset == "npy" {
        let paths: Vec<PathBuf> = d.views.iter().map(PathBuf::from).collect();
        let all = crate::data::load_npy_views(&paths, d.labels.as_deref())?;
        return Ok(split_seeded(
            &all,
            d.test_fraction,
            stream_seed(cfg.seed, 4),
        ));
    }
    let views = if d.dataset == "mfeat" && !d.views.is_empty() {
        Some(d.views.as_slice())
    } else {
        None
    };
    crate::data::load_named(&d.dataset, d.data_dir.as_deref(), views)
}

/// Splits a dataset into train and test by a seeded permutation.
pub fn split_seeded(ds: &MultiViewDataset, test_fraction: f64, seed: u64) -> DatasetSplits {
    use rand::seq::SliceRandom;
    let n = ds.len();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut MibRng::seed_from_u64(seed));
    let n_test = ((n as f64) * test_fraction)
        .round()
        .clamp(1.0, (n.max(2) - 1) as f64) as usize;
    let (test_idx, train_idx) = idx.split_at(n_test.min(n));
    let part = |rows: &[usize]| MultiViewDataset {
        views: ds.views.iter().map(|v| v.select_rows(rows)).collect(),
        labels: ds
            .labels
            .as_ref()
            .map(|l| rows.iter().map(|&i| l[i]).collect()),
        n_classes: ds.n_classes,
        view_names: ds.view_names.clone(),
        image_shape: ds.image_shape,
    };
    DatasetSplits {
        train: Arc::new(part(train_idx)),
        test: part(test_idx),
    }
}

/// Seeds of the run's random streams, derived from the config's seed.
fn stream_seed(seed: u64, stream: u64) -> u64 {
    // SplitMix64 finaliser over (seed, stream): independent streams from one user seed.
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Builds the model for `cfg` and the dataset's view widths, initialised from the run's seed.
pub fn build_model(
    cfg: &TrainConfig,
    ds: &MultiViewDataset,
    views: [usize; 2],
) -> Result<TrainStep> {
    let dims = ds.view_dims();
    let in_dims = [dims[views[0]], dims[views[1]]];
    let mut init_rng = MibRng::seed_from_u64(stream_seed(cfg.seed, 1));
    TrainStep::new(
        &cfg.model,
        &cfg.optim,
        &in_dims,
        ds.n_classes,
        cfg.train.batch_size,
        &mut init_rng,
    )
}

/// Checks that `run_dir` may receive a new run (`resume == false`: it holds no other run) or
/// holds one to resume (`resume == true`: its `config.toml` exists).
pub fn check_run_dir(run_dir: &Path, resume: bool) -> Result<()> {
    let exists = run_dir.join("config.toml").exists();
    if !resume && exists {
        return Err(Error::Data(format!(
            "{}: the folder holds another run (config.toml exists); continue it with --resume, \
             or pass --force to overwrite it",
            run_dir.display()
        )));
    }
    if resume && !exists {
        return Err(Error::Data(format!(
            "{}: no run to resume here (config.toml is missing)",
            run_dir.display()
        )));
    }
    Ok(())
}

/// Trains `cfg` on `data.train`, writing the run into `run_dir`.
///
/// Without `opts.resume` the folder must not hold another run (no `config.toml`); with it, the
/// run continues from its newest valid checkpoint (or from the start if there is none).
pub fn train(
    cfg: &TrainConfig,
    data: &DatasetSplits,
    run_dir: &Path,
    opts: &RunOptions,
    observer: &mut dyn TrainObserver,
) -> Result<TrainSummary> {
    cfg.validate()?;
    let config_path = run_dir.join("config.toml");
    let metrics_path = run_dir.join("metrics.jsonl");
    let ckpt_dir = run_dir.join("checkpoints");
    check_run_dir(run_dir, opts.resume)?;
    fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;

    let ds = &data.train;
    let views = training_views(cfg, ds)?;
    let mut model = build_model(cfg, ds, views)?;
    let mut rng = MibRng::seed_from_u64(stream_seed(cfg.seed, 2));
    let mut start = 0u64;
    let mut nonfinite_total = 0u64;
    let mut wall_before = 0.0f64;

    if opts.resume {
        let mut skipped = Vec::new();
        let ck = checkpoint::latest_valid(&ckpt_dir, &mut skipped)?;
        for (p, why) in skipped {
            observer.on_warning(&format!(
                "skipped unreadable checkpoint {}: {why}",
                p.display()
            ));
        }
        if let Some(ck) = ck {
            ck.restore(&mut model)?;
            start = ck.meta.iteration;
            nonfinite_total = ck.meta.nonfinite_total;
            wall_before = ck.meta.wall_s;
            rng = ck.meta.rng.clone();
        }
        truncate_metrics(&metrics_path, start)?;
    } else {
        let _ = fs::remove_file(&metrics_path);
    }
    checkpoint::write_atomic(&config_path, cfg.to_toml_string()?.as_bytes())?;

    let total = cfg.train.iterations;
    let producer = BatchProducer::new(
        Arc::clone(&data.train),
        cfg.data.pairing.clone(),
        views,
        cfg.train.batch_size,
        stream_seed(cfg.seed, 3),
        // One producer thread makes >100,000 views/s, >10x what the step consumes: the cores
        // are left to the compute core.
        1,
    )?;
    let mut metrics = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&metrics_path)
        .map_err(|e| Error::io(&metrics_path, e))?;

    observer.on_start(start, total);
    let needs_labels = matches!(
        cfg.model.objective,
        crate::objectives::ObjectiveKind::Supervised
    );
    let mut acc = Accum::default();
    let mut consecutive_bad = 0u64;
    let mut last: Option<MetricsRecord> = None;
    let t0 = Instant::now();
    let mut t_interval = Instant::now();
    let mut it = start;
    let mut interrupted = false;
    let mut batches = producer.iter_from(start);
    while it < total {
        if opts
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
        {
            interrupted = true;
            break;
        }
        let batch = batches
            .next()
            .ok_or_else(|| Error::Data("the batch producer stopped early".into()))?;
        let beta = cfg.beta.value(it) as f32;
        let labels = if needs_labels {
            Some(batch.labels.as_slice())
        } else {
            None
        };
        let views_in = [batch.views[0].as_slice(), batch.views[1].as_slice()];
        let stats = model.step(&views_in, labels, batch.rows, beta, &mut rng)?;
        // The batch's buffers go back to the producer: no allocation per iteration.
        batches.recycle(batch);
        it += 1;
        if stats.nonfinite {
            consecutive_bad += 1;
            nonfinite_total += 1;
            acc.nonfinite += 1;
            if consecutive_bad >= cfg.train.max_nonfinite {
                let meta = CheckpointMeta {
                    iteration: it,
                    adam_step: model.adam_step_count(),
                    nonfinite_total,
                    wall_s: wall_before + t0.elapsed().as_secs_f64(),
                    rng: rng.clone(),
                };
                // The parameters are those of the last good update (bad steps skip the update).
                let kept = checkpoint::save_checkpoint(
                    &ckpt_dir,
                    &model,
                    &meta,
                    cfg.train.keep_checkpoints,
                )?;
                return Err(Error::Diverged(format!(
                    "training stopped at iteration {it}: {consecutive_bad} non-finite losses or gradients in a row \
                     (beta = {beta}, lr = {}); likely cause: a learning rate or beta too large; \
                     the last good parameters are in {}",
                    cfg.optim.lr,
                    kept.display()
                )));
            }
        } else {
            consecutive_bad = 0;
            acc.add(&stats);
        }
        if it % cfg.train.log_every == 0 || it == total {
            let dt = t_interval.elapsed().as_secs_f64();
            let n_in_interval = (it - 1) % cfg.train.log_every + 1;
            let mut rec = acc.record(
                cfg.model.objective,
                it,
                cfg.beta.value(it - 1),
                wall_before + t0.elapsed().as_secs_f64(),
                n_in_interval as f64 / dt.max(1e-9),
            );
            if cfg.eval.every > 0 && it % cfg.eval.every == 0 {
                rec.probe_accuracy = probe_during_training(&mut model, cfg, data, views, it)?;
            }
            let line = serde_json::to_string(&rec)?;
            writeln!(metrics, "{line}").map_err(|e| Error::io(&metrics_path, e))?;
            observer.on_log(&rec);
            last = Some(rec);
            acc = Accum::default();
            t_interval = Instant::now();
        }
        if it % cfg.train.checkpoint_every == 0 && it < total {
            metrics
                .sync_data()
                .map_err(|e| Error::io(&metrics_path, e))?;
            let meta = CheckpointMeta {
                iteration: it,
                adam_step: model.adam_step_count(),
                nonfinite_total,
                wall_s: wall_before + t0.elapsed().as_secs_f64(),
                rng: rng.clone(),
            };
            let p =
                checkpoint::save_checkpoint(&ckpt_dir, &model, &meta, cfg.train.keep_checkpoints)?;
            observer.on_checkpoint(&p);
        }
    }
    drop(batches);
    metrics
        .sync_data()
        .map_err(|e| Error::io(&metrics_path, e))?;
    let wall_s = wall_before + t0.elapsed().as_secs_f64();
    let meta = CheckpointMeta {
        iteration: it,
        adam_step: model.adam_step_count(),
        nonfinite_total,
        wall_s,
        rng,
    };
    let p = checkpoint::save_checkpoint(&ckpt_dir, &model, &meta, cfg.train.keep_checkpoints)?;
    observer.on_checkpoint(&p);
    if !interrupted {
        write_final(run_dir, cfg, ds, views, &model, &meta)?;
    }
    Ok(TrainSummary {
        run_dir: run_dir.to_path_buf(),
        started_at: start,
        iterations: it,
        interrupted,
        nonfinite_total,
        wall_s,
        last,
    })
}

/// The few-label probe logged during training (`[eval]`): `labels_per_class` labels per class drawn
/// from the first `max_test_items` training items, scored on the first `max_test_items` test items.
/// Uses its own seeds, so it changes nothing in the training run. `None` for unlabelled data.
fn probe_during_training(
    model: &mut TrainStep,
    cfg: &TrainConfig,
    data: &DatasetSplits,
    views: [usize; 2],
    iteration: u64,
) -> Result<Option<f64>> {
    let e = &cfg.eval;
    let (Some(ytr), Some(yte)) = (&data.train.labels, &data.test.labels) else {
        return Ok(None);
    };
    let cap = |n: usize| {
        if e.max_test_items == 0 {
            n
        } else {
            n.min(e.max_test_items)
        }
    };
    let (ntr, nte) = (cap(data.train.len()), cap(data.test.len()));
    let mut counts = vec![0usize; data.train.n_classes];
    for &l in &ytr[..ntr] {
        counts[l as usize] += 1;
    }
    let k = e
        .labels_per_class
        .min(counts.iter().copied().min().unwrap_or(0));
    if k == 0 {
        return Ok(None);
    }
    let rows = |n: usize| (0..n).collect::<Vec<usize>>();
    let xtr = data.train.views[views[0]].select_rows(&rows(ntr));
    let xte = data.test.views[views[0]].select_rows(&rows(nte));
    let mut ztr = crate::Matrix::zeros(ntr, model.z_dim());
    let mut zte = crate::Matrix::zeros(nte, model.z_dim());
    model.encode_mean(0, &xtr.data, ntr, &mut ztr.data)?;
    model.encode_mean(0, &xte.data, nte, &mut zte.data)?;
    let s = crate::eval::few_label_probe(
        &ztr,
        &ytr[..ntr],
        &zte,
        &yte[..nte],
        data.train.n_classes,
        &[k],
        e.repetitions,
        &crate::eval::LinearProbeParams::default(),
        stream_seed(cfg.seed, 5) ^ iteration,
    )?;
    Ok(s.first().map(|s| s.mean))
}

/// Writes `model.safetensors`, `encoder.safetensors` and `encoder.toml`.
fn write_final(
    run_dir: &Path,
    cfg: &TrainConfig,
    ds: &MultiViewDataset,
    views: [usize; 2],
    model: &TrainStep,
    meta: &CheckpointMeta,
) -> Result<()> {
    let mut md = std::collections::HashMap::new();
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
    let dims = ds.view_dims();
    let info = EncoderInfo {
        in_dims: vec![dims[views[0]], dims[views[1]]],
        view_names: views
            .iter()
            .map(|&v| {
                ds.view_names
                    .get(v)
                    .cloned()
                    .unwrap_or_else(|| format!("view{v}"))
            })
            .collect(),
        n_classes: ds.n_classes,
        model: cfg.model.clone(),
    };
    let text = toml::to_string_pretty(&info).map_err(|e| Error::Data(e.to_string()))?;
    checkpoint::write_atomic(&run_dir.join("encoder.toml"), text.as_bytes())
}

/// Keeps the lines of `metrics.jsonl` up to `iteration` (those written before the checkpoint a
/// run resumes from), rewriting the file atomically. Torn last lines are dropped.
fn truncate_metrics(path: &Path, iteration: u64) -> Result<()> {
    let f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut kept = String::new();
    for line in BufReader::new(f).lines() {
        let line = line.map_err(|e| Error::io(path, e))?;
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
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| Error::format(path, format!("line {}: {e}", i + 1)))
        })
        .collect()
}

/// Sums of step statistics over a logging interval.
#[derive(Default)]
struct Accum {
    n: u64,
    nonfinite: u64,
    loss: f64,
    mi_estimate: f64,
    mi_surrogate: f64,
    skl: f64,
    rate: f64,
    distortion: f64,
    cross_entropy: f64,
}

impl Accum {
    fn add(&mut self, s: &StepStats) {
        self.n += 1;
        self.loss += s.loss as f64;
        self.mi_estimate += s.mi_estimate as f64;
        self.mi_surrogate += s.mi_surrogate as f64;
        self.skl += s.skl as f64;
        self.rate += s.rate as f64;
        self.distortion += s.distortion as f64;
        self.cross_entropy += s.cross_entropy as f64;
    }
    fn record(
        &self,
        objective: ObjectiveKind,
        iteration: u64,
        beta: f64,
        wall_s: f64,
        it_per_s: f64,
    ) -> MetricsRecord {
        use ObjectiveKind as O;
        let n = self.n.max(1) as f64;
        let m = |v: f64| if self.n == 0 { f64::NAN } else { v / n };
        let has = |yes: bool, v: f64| yes.then(|| m(v));
        let critic = matches!(objective, O::Mib | O::MvInfomax | O::Infomax);
        MetricsRecord {
            iteration,
            loss: m(self.loss),
            beta,
            mi_estimate: has(critic, self.mi_estimate),
            mi_surrogate: has(critic, self.mi_surrogate),
            skl: has(matches!(objective, O::Mib | O::MvInfomax), self.skl),
            rate: has(objective == O::Vae, self.rate),
            distortion: has(objective == O::Vae, self.distortion),
            cross_entropy: has(objective == O::Supervised, self.cross_entropy),
            nonfinite_skipped: self.nonfinite,
            wall_s,
            it_per_s,
            probe_accuracy: None,
        }
    }
}

/// Posterior means of `ds` under a trained model: rebuilds the model of `cfg` for the widths of
/// `train` (the data it was trained on), loads `ck`, and encodes training view `view` (0 or 1) of
/// every item of `ds`. Errors name a view whose width does not match the model's.
pub fn embed_view(
    cfg: &TrainConfig,
    ck: &checkpoint::LoadedCheckpoint,
    train: &MultiViewDataset,
    ds: &MultiViewDataset,
    view: usize,
) -> Result<crate::Matrix> {
    let views = training_views(cfg, train)?;
    let mut model = build_model(cfg, train, views)?;
    ck.restore(&mut model)?;
    encode_dataset(&mut model, ds, views, view)
}

/// Checks that the data's training views have the widths the run was trained on (its
/// `encoder.toml`, when present), naming the view and both widths.
pub fn check_view_widths(run_dir: &Path, cfg: &TrainConfig, ds: &MultiViewDataset) -> Result<()> {
    let path = run_dir.join("encoder.toml");
    let Ok(text) = fs::read_to_string(&path) else {
        return Ok(());
    };
    let info: EncoderInfo =
        toml::from_str(&text).map_err(|e| Error::format(&path, e.to_string()))?;
    let views = training_views(cfg, ds)?;
    let dims = ds.view_dims();
    for (slot, &v) in views.iter().enumerate() {
        if let Some(&want) = info.in_dims.get(slot) {
            if dims[v] != want {
                return Err(Error::shape(
                    format!(
                        "view {slot} (`{}`) of the data: the run in {} was trained on width",
                        ds.view_names.get(v).map_or("?", |s| s.as_str()),
                        run_dir.display()
                    ),
                    want,
                    dims[v],
                ));
            }
        }
    }
    Ok(())
}

/// Posterior means of training view `view` (0 or 1) of every item of `ds` under `model`.
pub fn encode_dataset(
    model: &mut TrainStep,
    ds: &MultiViewDataset,
    views: [usize; 2],
    view: usize,
) -> Result<crate::Matrix> {
    let v = views[view.min(1)];
    let x = ds.views.get(v).ok_or_else(|| {
        Error::shape(
            "dataset views",
            format!("at least {}", v + 1),
            ds.views.len(),
        )
    })?;
    let mut out = crate::Matrix::zeros(x.rows, model.z_dim());
    model.encode_mean(view.min(1), &x.data, x.rows, &mut out.data)?;
    Ok(out)
}

/// Evaluates `model` the way the paper does: posterior means of the train and test splits
/// (first training view), the few-label linear probe, kNN, the `I(y;z)` bound, `I(x;z)` bounds
/// from the encoder's density, and for multi-view data cross-view retrieval (test items of view 1
/// as queries against view 2).
pub fn evaluate_model(
    model: &mut TrainStep,
    cfg: &TrainConfig,
    data: &DatasetSplits,
    protocol: &crate::eval::EvalProtocol,
) -> Result<crate::eval::EvalReport> {
    Ok(evaluate_model_with_embeddings(model, cfg, data, protocol)?.0)
}

/// [`evaluate_model`], also returning the representations it evaluated (to save or plot).
pub fn evaluate_model_with_embeddings(
    model: &mut TrainStep,
    cfg: &TrainConfig,
    data: &DatasetSplits,
    protocol: &crate::eval::EvalProtocol,
) -> Result<(crate::eval::EvalReport, crate::eval::Embeddings)> {
    let views = training_views(cfg, &data.train)?;
    let emb = embed_splits(model, cfg, data)?;
    let mut report = protocol.evaluate(&crate::eval::EvalInputs {
        n_classes: data.train.n_classes,
        ..emb.inputs()
    })?;
    // I(x; z) of the first view's encoder, bounded with its own density on (up to) 2,000 test items.
    let n = data.test.len().min(2000);
    let x = data.test.views[views[0]].select_rows(&(0..n).collect::<Vec<_>>());
    let (mut mean, mut scale) = (
        crate::Matrix::zeros(n, model.z_dim()),
        crate::Matrix::zeros(n, model.z_dim()),
    );
    model.encode_posterior(0, &x.data, n, &mut mean.data, &mut scale.data)?;
    let mut rng = MibRng::seed_from_u64(stream_seed(protocol.seed, 6));
    let b = crate::eval::encoder_information_bounds_using(&mean, &scale, &mut rng)?;
    let ip = report
        .information_plane
        .get_or_insert_with(Default::default);
    ip.i_xz = Some(b.upper);
    ip.i_xz_lower = Some(b.lower);
    ip.i_xz_estimator = format!("{} (n = {})", crate::eval::I_XZ_ENCODER_BOUNDS, b.n);
    Ok((report, emb))
}

/// Posterior means of the train and test splits under `model` (first training view; for
/// multi-view objectives on two distinct views, the second view's test items too), with labels.
pub fn embed_splits(
    model: &mut TrainStep,
    cfg: &TrainConfig,
    data: &DatasetSplits,
) -> Result<crate::eval::Embeddings> {
    let views = training_views(cfg, &data.train)?;
    let labels = |ds: &MultiViewDataset, which: &str| {
        ds.labels.clone().ok_or_else(|| {
            Error::Data(format!(
                "the {which} split has no labels: nothing to evaluate against"
            ))
        })
    };
    let test_view2 = if views[0] != views[1] && cfg.model.objective.n_views() == 2 {
        Some(encode_dataset(model, &data.test, views, 1)?)
    } else {
        None
    };
    Ok(crate::eval::Embeddings {
        train: encode_dataset(model, &data.train, views, 0)?,
        y_train: labels(&data.train, "train")?,
        test: encode_dataset(model, &data.test, views, 0)?,
        y_test: labels(&data.test, "test")?,
        test_view2,
    })
}

/// Evaluates the raw input features of view `view` with the same protocol (the baseline a
/// representation must beat).
pub fn evaluate_raw(
    data: &DatasetSplits,
    view: usize,
    protocol: &crate::eval::EvalProtocol,
) -> Result<crate::eval::EvalReport> {
    let (tr, te) = (&data.train, &data.test);
    let y = |ds: &MultiViewDataset| {
        ds.labels
            .clone()
            .ok_or_else(|| Error::Data("no labels".into()))
    };
    let (y_train, y_test) = (y(tr)?, y(te)?);
    protocol.evaluate(&crate::eval::EvalInputs {
        train: &tr.views[view],
        y_train: &y_train,
        test: &te.views[view],
        y_test: &y_test,
        n_classes: tr.n_classes,
        test_view2: None,
    })
}
