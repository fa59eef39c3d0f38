//! The training loop: batches from the data pipeline, one fused step per batch on the caller's
//! [`ComputePool`], metrics, periodic checkpoints, a guard against non-finite losses, and
//! cancellation. Where the metrics and checkpoints go is the [`RunSink`]'s business: a run folder
//! ([`super::run_folder`]) or memory ([`super::fit`]).
//!
//! The batch at iteration `k` depends only on `(seed, k)`, and the noise RNG's state and the
//! sums of the logging interval in progress ([`IntervalSums`]) are part of the [`FitState`], so a
//! loop restarted from a checkpoint's state, taken at any iteration, continues with exactly the
//! losses and metrics lines of an uninterrupted run (on CPU; timing fields aside).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::data::scaling::{scaled_copy, SlotScaling};
use crate::data::{BatchProducer, MultiViewDataset, ViewScaling};
use crate::objectives::{ObjectiveKind, StepStats, TrainStep};
use crate::pool::ComputePool;
use crate::train::checkpoint::CheckpointMeta;
use crate::{Error, MibRng, Result};

use super::stream_seed;

/// One line of `metrics.jsonl`: means over the logging interval ending at `iteration`. The loss
/// parts an objective does not have are left out (`None`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct MetricsRecord {
    /// Iterations completed.
    pub iteration: u64,
    /// Training loss (`null` in the file, NaN here, for an interval whose steps were all
    /// non-finite).
    #[serde(deserialize_with = "null_as_nan")]
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

/// A number that JSON may hold as `null` (serde_json writes non-finite floats so): NaN.
fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Receives what the loop reports, and may ask it to stop. The CLI draws a progress bar from it;
/// the Python bindings call back into Python from it (it is always called on the thread that
/// called the loop, never on a compute thread).
pub trait TrainObserver {
    /// Called once, before the first step: first iteration to run and the total.
    fn on_start(&mut self, _start: u64, _total: u64) {}
    /// Called every `train.log_every` iterations.
    fn on_log(&mut self, _record: &MetricsRecord) {}
    /// Called after each checkpoint is written (run folders only).
    fn on_checkpoint(&mut self, _path: &std::path::Path) {}
    /// A non-fatal problem the user should know about (a skipped corrupt checkpoint, ...).
    fn on_warning(&mut self, _msg: &str) {}
    /// Called before every step: `true` stops the loop cleanly (a checkpoint is written where the
    /// run has a folder). The default never stops.
    fn should_stop(&mut self, _iteration: u64) -> bool {
        false
    }
}

/// An observer that ignores everything.
pub struct NoObserver;
impl TrainObserver for NoObserver {}

/// How a run ended.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainSummary {
    /// The run folder (empty for in-memory training).
    pub run_dir: PathBuf,
    /// Iteration the run started from (0, or the checkpoint it resumed from).
    pub started_at: u64,
    /// Iterations completed.
    pub iterations: u64,
    /// Whether it was stopped early (by the stop flag or the observer) rather than finishing.
    pub interrupted: bool,
    /// Total non-finite steps skipped.
    pub nonfinite_total: u64,
    /// Training wall time, seconds (all sessions).
    pub wall_s: f64,
    /// The last logged metrics.
    pub last: Option<MetricsRecord>,
}

/// Where the loop's metrics and checkpoints go.
pub trait RunSink {
    /// One logged record.
    fn metrics(&mut self, record: &MetricsRecord) -> Result<()>;
    /// A checkpoint of `model` with `meta`; returns where it was written (`None`: kept nowhere).
    fn checkpoint(&mut self, model: &TrainStep, meta: &CheckpointMeta) -> Result<Option<PathBuf>>;
    /// A checkpoint kept on the beta path (`train.checkpoint_at_beta`: the schedule passed
    /// `beta`); the default keeps it nowhere.
    fn beta_checkpoint(
        &mut self,
        _model: &TrainStep,
        _meta: &CheckpointMeta,
        _beta: f64,
    ) -> Result<Option<PathBuf>> {
        Ok(None)
    }
}

/// The state a training run carries from one iteration to the next.
#[derive(Debug)]
pub struct FitState {
    /// The model, its objective and its optimizer.
    pub model: TrainStep,
    /// The noise RNG.
    pub rng: MibRng,
    /// Iterations completed.
    pub iteration: u64,
    /// Non-finite steps skipped so far.
    pub nonfinite_total: u64,
    /// Training wall time of earlier sessions, seconds.
    pub wall_before: f64,
    /// The input scaling of each training view slot, fitted on the training items.
    pub scaling: SlotScaling,
    /// The sums of the logging interval in progress (what the next metrics line averages).
    pub interval: IntervalSums,
    /// Non-finite steps in a row, up to the last step (`train.max_nonfinite` stops the run).
    pub nonfinite_streak: u64,
}

impl FitState {
    /// The untrained state of `cfg` for `train` (parameters initialised from the run's seed, input
    /// scaling fitted on `train` as `data.scaling` says; `named`: the items come from a named
    /// dataset's loader) and the dataset views of its training slots
    /// ([`crate::models::training_views`]).
    pub fn new(
        cfg: &TrainConfig,
        train: &MultiViewDataset,
        named: bool,
    ) -> Result<(Self, Vec<usize>)> {
        let views = crate::models::training_views(cfg, train.views.len())?;
        let dims = train.view_dims();
        let slot_dims: Vec<usize> = views.iter().map(|&v| dims[v]).collect();
        Self::memory_plan(cfg, &slot_dims, train).check("training")?;
        let image = matches!(cfg.data.pairing, crate::data::PairingConfig::Augment { .. });
        let scaling = views
            .iter()
            .map(|&v| {
                let kind = cfg
                    .data
                    .scaling
                    .kind_for(v, train.views.len(), named, image)?;
                // fitted on the items the view has (missing items' rows are zeros)
                Ok(ViewScaling::fit(kind, &train.present_rows(v)))
            })
            .collect::<Result<SlotScaling>>()?;
        let scaling = if scaling.iter().all(Option::is_none) {
            Vec::new()
        } else {
            scaling
        };
        if cfg.model.objective.is_multi_view() {
            train.check_shared_items(&views)?;
        }
        let mut model = crate::models::build_step(cfg, &slot_dims, train.n_classes)?;
        if train.has_missing() {
            model.reserve_masks()?;
        }
        let state = FitState {
            model,
            rng: MibRng::seed_from_u64(stream_seed(cfg.seed, 2)),
            iteration: 0,
            nonfinite_total: 0,
            wall_before: 0.0,
            scaling,
            interval: IntervalSums::default(),
            nonfinite_streak: 0,
        };
        Ok((state, views))
    }

    /// What training `cfg` on `train` (views of widths `slot_dims`) allocates besides the data:
    /// the training step ([`TrainStep::memory_plan`]), the batches in flight, and the scaled
    /// copies and codes of the training-time probe.
    pub fn memory_plan(
        cfg: &TrainConfig,
        slot_dims: &[usize],
        train: &MultiViewDataset,
    ) -> crate::memory::MemoryPlan {
        let b = cfg.train.batch_size;
        let mut plan = TrainStep::memory_plan(&cfg.model, slot_dims, train.n_classes, b);
        let row: u128 = slot_dims.iter().map(|&d| d as u128).sum();
        // the producer's queue (4), the batch it builds and the one the step reads, plus a spare
        plan.add_f32(
            "batches in flight",
            "train.batch_size",
            b,
            7 * b as u128 * row,
        );
        if train.has_missing() && cfg.model.objective.is_multi_view() {
            // TrainStep::reserve_masks: one view pair's rows gathered, with their gradients
            plan.add_f32(
                "gathered view pairs (missing views)",
                "train.batch_size",
                b,
                12 * b as u128 * cfg.model.z_dim as u128,
            );
        }
        if cfg.eval.every > 0 {
            let items = train.len() as u128 + cfg.eval.max_test_items as u128;
            let width = slot_dims.first().copied().unwrap_or(0) as u128 + cfg.model.z_dim as u128;
            plan.add_f32(
                "the training-time probe's inputs and codes",
                "eval.max_test_items",
                cfg.eval.max_test_items,
                2 * items * width,
            );
        }
        plan
    }

    /// Continues from checkpoint `ck`: its parameters, Adam state, iteration, counters, RNG and
    /// the sums of the logging interval it was written in (empty for checkpoints older than them).
    pub fn restore(&mut self, ck: &crate::train::checkpoint::LoadedCheckpoint) -> Result<()> {
        ck.restore(&mut self.model)?;
        self.iteration = ck.meta.iteration;
        self.nonfinite_total = ck.meta.nonfinite_total;
        self.wall_before = ck.meta.wall_s;
        self.rng = ck.meta.rng.clone();
        // The scaling the parameters were trained behind (none for checkpoints older than it).
        self.scaling = ck.meta.scaling.clone();
        self.interval = ck.meta.interval.clone();
        self.nonfinite_streak = ck.meta.nonfinite_streak;
        Ok(())
    }

    /// The trained model this state holds after `wall_s` seconds of training, for `train`'s
    /// views `views`, computing on `cfg.train.threads` threads.
    pub fn into_model(
        self,
        cfg: &TrainConfig,
        train: &MultiViewDataset,
        views: &[usize],
        wall_s: f64,
    ) -> crate::models::TrainedModel {
        let meta = self.meta(wall_s);
        crate::models::TrainedModel::from_step(
            cfg,
            self.model,
            train.n_classes,
            views.iter().map(|&v| train.view_names[v].clone()).collect(),
            meta,
            cfg.train.threads,
        )
    }

    /// The checkpoint metadata of this state after `wall_s` seconds of training in all.
    pub fn meta(&self, wall_s: f64) -> CheckpointMeta {
        CheckpointMeta {
            iteration: self.iteration,
            adam_step: self.model.adam_step_count(),
            nonfinite_total: self.nonfinite_total,
            wall_s,
            rng: self.rng.clone(),
            scaling: self.scaling.clone(),
            interval: self.interval.clone(),
            nonfinite_streak: self.nonfinite_streak,
        }
    }
}

/// Refuses a semi-supervised run whose labelled items cannot be drawn from `train` (a class with
/// fewer items than `labels_per_class`, an item out of range, no labels), naming the key, before
/// anything is built for it.
pub fn check_labelled(cfg: &TrainConfig, train: &MultiViewDataset) -> Result<()> {
    match &cfg.data.labelled {
        Some(l) => labelled_items(train, l).map(|_| ()),
        None => Ok(()),
    }
}

/// Refuses a `train.batch_size` larger than the `n_items` training items, naming both, before
/// anything is built for it (the CLI and Python agree: an error, not a silent clamp).
pub fn check_batch_size(cfg: &TrainConfig, n_items: usize) -> Result<()> {
    let b = cfg.train.batch_size;
    if b > n_items {
        return Err(Error::config(
            "train.batch_size",
            b,
            format!("larger than the {n_items} training items; use at most {n_items}"),
        ));
    }
    Ok(())
}

/// The data a loop reads: the training items (shared with the batch producer, not copied) and,
/// for the probe logged during training, labelled test items.
#[derive(Clone, Copy)]
pub struct LoopData<'a> {
    /// The training items (for memory-mapped views, a sample of them: see `train_rows`).
    pub train: &'a Arc<MultiViewDataset>,
    /// Every training item, memory-mapped, when the batches are to be read from there
    /// ([`crate::data::DatasetSplits::train_rows`]).
    pub train_rows: Option<&'a Arc<crate::data::mapped::MappedViews>>,
    /// Test items for the training-time probe (`[eval]`), if any.
    pub test: Option<&'a MultiViewDataset>,
    /// The dataset views of each training slot ([`crate::models::training_views`]).
    pub views: &'a [usize],
}

/// Threads of the batch producer for memory-mapped views (page faults block one each).
const MAPPED_PRODUCER_THREADS: usize = 4;

/// Runs `state` up to `cfg.train.iterations`, checkpointing every `train.checkpoint_every`
/// iterations and at the end (also when stopped), and returns how it ended.
pub fn run_loop(
    cfg: &TrainConfig,
    data: LoopData<'_>,
    state: &mut FitState,
    pool: &ComputePool,
    stop: Option<&AtomicBool>,
    sink: &mut dyn RunSink,
    observer: &mut dyn TrainObserver,
) -> Result<TrainSummary> {
    let total = cfg.train.iterations;
    let start = state.iteration;
    let views = data.views;
    let source: Arc<dyn crate::data::RowSource> = match data.train_rows {
        Some(r) => Arc::clone(r) as _,
        None => Arc::clone(data.train) as _,
    };
    let producer = BatchProducer::new(
        source,
        cfg.data.pairing.clone(),
        views.to_vec(),
        cfg.train.batch_size,
        stream_seed(cfg.seed, 3),
        // One producer thread makes >100,000 views/s, >10x what the step consumes: the cores
        // are left to the compute core. Rows of memory-mapped files may wait on the disk: four
        // threads keep four reads in flight.
        if data.train_rows.is_some() {
            MAPPED_PRODUCER_THREADS
        } else {
            1
        },
    )?
    .with_scaling(state.scaling.clone())?;
    let producer = match &cfg.data.labelled {
        Some(l) => producer.with_labelled(labelled_items(data.train, l)?, l.per_batch)?,
        None => producer,
    };
    if let Some(note) = crate::models::unused_views_note(cfg, &data.train.view_names) {
        observer.on_warning(&note);
    }
    observer.on_start(start, total);
    let needs_labels = cfg.model.objective == ObjectiveKind::Supervised;
    let mut last: Option<MetricsRecord> = None;
    let t0 = Instant::now();
    let wall = |t0: &Instant, before: f64| before + t0.elapsed().as_secs_f64();
    let mut t_interval = Instant::now();
    let mut interrupted = false;
    let mut batches = producer.iter_from(start);
    // the beta-path checkpoints still to write (a resumed run has written the earlier ones)
    let beta_marks: Vec<(u64, f64)> = cfg
        .beta_checkpoints()?
        .into_iter()
        .filter(|&(it, _)| it > start)
        .collect();
    let mut next_mark = 0;
    while state.iteration < total {
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) || observer.should_stop(state.iteration)
        {
            interrupted = true;
            break;
        }
        let batch = match batches.next() {
            Some(b) => b,
            None => {
                return Err(match batches.error() {
                    Some(e) => Error::Data(e.to_string()),
                    None => Error::Data("the batch producer stopped early".into()),
                })
            }
        };
        let it = state.iteration;
        let beta = cfg.beta.value(it) as f32;
        let labels = if needs_labels {
            Some(batch.labels.as_slice())
        } else {
            // semi-supervised: the labels of the first rows only
            (batch.labelled > 0).then(|| &batch.labels[..batch.labelled])
        };
        // two views on the stack (no allocation per iteration); K > 2 in a small vector
        let pair: [&[f32]; 2];
        let many: Vec<&[f32]>;
        let views_in: &[&[f32]] = if batch.views.len() == 2 {
            pair = [batch.views[0].as_slice(), batch.views[1].as_slice()];
            &pair
        } else {
            many = batch.views.iter().map(|v| v.as_slice()).collect();
            &many
        };
        let (model, rng) = (&mut state.model, &mut state.rng);
        let present = (!batch.present.is_empty()).then_some(batch.present.as_slice());
        let stats =
            pool.install(|| model.step_masked(views_in, present, labels, batch.rows, beta, rng))??;
        // The batch's buffers go back to the producer: no allocation per iteration.
        batches.recycle(batch);
        state.iteration += 1;
        let it = state.iteration;
        if stats.nonfinite {
            state.nonfinite_streak += 1;
            state.nonfinite_total += 1;
            state.interval.nonfinite += 1;
            let consecutive_bad = state.nonfinite_streak;
            if consecutive_bad >= cfg.train.max_nonfinite {
                // The parameters are those of the last good update (bad steps skip the update).
                let kept =
                    sink.checkpoint(&state.model, &state.meta(wall(&t0, state.wall_before)))?;
                return Err(Error::Diverged(format!(
                    "training stopped at iteration {it}: {consecutive_bad} non-finite losses or gradients in a row \
                     (beta = {beta}, lr = {}); likely cause: a learning rate or beta too large{}",
                    cfg.optim.lr,
                    kept.map_or(String::new(), |k| format!(
                        "; the last good parameters are in {}",
                        k.display()
                    ))
                )));
            }
        } else {
            state.nonfinite_streak = 0;
            state.interval.add(&stats);
        }
        if it % cfg.train.log_every == 0 || it == total {
            let dt = t_interval.elapsed().as_secs_f64();
            // The rate counts this session's iterations only (a resumed run's first interval
            // began before the stop).
            let n_in_interval = ((it - 1) % cfg.train.log_every + 1).min(it - start);
            let mut rec = state.interval.record(
                cfg.model.objective,
                it,
                cfg.beta.value(it - 1),
                wall(&t0, state.wall_before),
                n_in_interval as f64 / dt.max(1e-9),
            );
            if cfg.model.label_weight > 0.0 {
                // the semi-supervised classifier's cross-entropy
                rec.cross_entropy = Some(state.interval.mean_cross_entropy());
            }
            if cfg.eval.every > 0 && it % cfg.eval.every == 0 {
                if let Some(test) = data.test {
                    let (model, scaling) = (&mut state.model, &state.scaling);
                    rec.probe_accuracy = pool.install(|| {
                        probe_during_training(model, scaling, cfg, data.train, test, views, it)
                    })??;
                }
            }
            sink.metrics(&rec)?;
            observer.on_log(&rec);
            last = Some(rec);
            state.interval = IntervalSums::default();
            t_interval = Instant::now();
        }
        while next_mark < beta_marks.len() && beta_marks[next_mark].0 == it {
            let meta = state.meta(wall(&t0, state.wall_before));
            if let Some(p) = sink.beta_checkpoint(&state.model, &meta, beta_marks[next_mark].1)? {
                observer.on_checkpoint(&p);
            }
            next_mark += 1;
        }
        if it % cfg.train.checkpoint_every == 0 && it < total {
            if let Some(p) =
                sink.checkpoint(&state.model, &state.meta(wall(&t0, state.wall_before)))?
            {
                observer.on_checkpoint(&p);
            }
        }
    }
    drop(batches);
    let wall_s = wall(&t0, state.wall_before);
    if let Some(p) = sink.checkpoint(&state.model, &state.meta(wall_s))? {
        observer.on_checkpoint(&p);
    }
    Ok(TrainSummary {
        run_dir: PathBuf::new(),
        started_at: start,
        iterations: state.iteration,
        interrupted,
        nonfinite_total: state.nonfinite_total,
        wall_s,
        last,
    })
}

/// The labelled items of the semi-supervised mode: `l.items` when given, else draw `l.draw` of
/// `l.labels_per_class` labels per class of the few-label probe (seed 0, `mib eval`'s default),
/// over the training split.
pub fn labelled_items(
    train: &MultiViewDataset,
    l: &crate::config::LabelledConfig,
) -> Result<Vec<u32>> {
    let y = train.labels.as_deref().ok_or_else(|| {
        Error::config(
            "data.labelled",
            "set",
            "the semi-supervised mode needs labels (the training data has none)",
        )
    })?;
    if !l.items.is_empty() {
        if let Some(&bad) = l.items.iter().find(|&&i| i as usize >= train.len()) {
            return Err(Error::config(
                "data.labelled.items",
                bad,
                format!(
                    "item out of range (the training data has {} items)",
                    train.len()
                ),
            ));
        }
        return Ok(l.items.clone());
    }
    let idx = crate::eval::probe_draw(y, train.n_classes, l.labels_per_class, l.draw, 0).map_err(
        |e| {
            Error::config(
                "data.labelled.labels_per_class",
                l.labels_per_class,
                e.to_string(),
            )
        },
    )?;
    Ok(idx.into_iter().map(|i| i as u32).collect())
}

/// The few-label probe logged during training (`[eval]`): `labels_per_class` labels per class drawn
/// from the first `max_test_items` training items, scored on the first `max_test_items` test items.
/// Uses its own seeds, so it changes nothing in the training run. `None` for unlabelled data.
fn probe_during_training(
    model: &mut TrainStep,
    scaling: &[Option<ViewScaling>],
    cfg: &TrainConfig,
    train: &MultiViewDataset,
    test: &MultiViewDataset,
    views: &[usize],
    iteration: u64,
) -> Result<Option<f64>> {
    let e = &cfg.eval;
    // Missing views: the probe reads view 0's representation of the items that have it.
    let (train_sub, test_sub);
    let (train, test) = if train.has_missing() || test.has_missing() {
        train_sub = train.subset(&train.present_items(views[0]));
        test_sub = test.subset(&test.present_items(views[0]));
        (&train_sub, &test_sub)
    } else {
        (train, test)
    };
    let (Some(ytr), Some(yte)) = (&train.labels, &test.labels) else {
        return Ok(None);
    };
    let cap = |n: usize| {
        if e.max_test_items == 0 {
            n
        } else {
            n.min(e.max_test_items)
        }
    };
    let (ntr, nte) = (cap(train.len()), cap(test.len()));
    let mut counts = vec![0usize; train.n_classes];
    for &l in &ytr[..ntr] {
        counts[l as usize] += 1;
    }
    let k = e
        .labels_per_class
        .min(counts.iter().copied().min().unwrap_or(0));
    if k == 0 || nte == 0 {
        return Ok(None);
    }
    let xtr = &train.views[views[0]].data[..ntr * train.views[views[0]].cols];
    let xte = &test.views[views[0]].data[..nte * test.views[views[0]].cols];
    let (str_, ste) = (scaled_copy(scaling, 0, xtr), scaled_copy(scaling, 0, xte));
    let xtr = str_.as_deref().unwrap_or(xtr);
    let xte = ste.as_deref().unwrap_or(xte);
    let mut ztr = crate::Matrix::zeros(ntr, model.z_dim());
    let mut zte = crate::Matrix::zeros(nte, model.z_dim());
    model.encode_mean(0, xtr, ntr, &mut ztr.data)?;
    model.encode_mean(0, xte, nte, &mut zte.data)?;
    let s = crate::eval::few_label_probe(
        &ztr,
        &ytr[..ntr],
        &zte,
        &yte[..nte],
        train.n_classes,
        &[k],
        e.repetitions,
        &crate::eval::LinearProbeParams::default(),
        stream_seed(cfg.seed, 5) ^ iteration,
    )?;
    Ok(s.first().map(|s| s.mean))
}

/// Sums of step statistics over the logging interval in progress: the next metrics line is
/// their means. Part of the [`FitState`] and of its checkpoints, so that a run stopped between
/// two log lines and resumed writes the line an uninterrupted run writes. In checkpoints the sums
/// are stored as their `f64` bit patterns: exact, and non-finite values survive JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IntervalSums {
    /// Steps summed (those with a finite loss and gradients).
    pub n: u64,
    /// Steps skipped for a non-finite loss or gradient.
    pub nonfinite: u64,
    /// Sum of the training losses.
    #[serde(with = "f64_bits")]
    pub loss: f64,
    /// Sum of the logged MI estimates.
    #[serde(with = "f64_bits")]
    pub mi_estimate: f64,
    /// Sum of the MI surrogates.
    #[serde(with = "f64_bits")]
    pub mi_surrogate: f64,
    /// Sum of the symmetrised KLs.
    #[serde(with = "f64_bits")]
    pub skl: f64,
    /// Sum of the beta-VAE rates.
    #[serde(with = "f64_bits")]
    pub rate: f64,
    /// Sum of the beta-VAE distortions.
    #[serde(with = "f64_bits")]
    pub distortion: f64,
    /// Sum of the supervised cross-entropies.
    #[serde(with = "f64_bits")]
    pub cross_entropy: f64,
}

/// `f64` as its bit pattern (a `u64`), for values that must round-trip exactly through JSON.
mod f64_bits {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_u64(v.to_bits())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
        u64::deserialize(d).map(f64::from_bits)
    }
}

impl IntervalSums {
    /// Whether no step has been counted yet (the interval has just begun).
    pub fn is_empty(&self) -> bool {
        self.n == 0 && self.nonfinite == 0
    }

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
    /// The interval's mean cross-entropy (NaN when it is empty).
    fn mean_cross_entropy(&self) -> f64 {
        if self.n == 0 {
            f64::NAN
        } else {
            self.cross_entropy / self.n as f64
        }
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
