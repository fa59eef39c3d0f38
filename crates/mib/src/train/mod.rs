//! Beta schedules, the training loop, run folders, checkpoints and metrics.
//!
//! Two ways to train, one loop ([`fit::run_loop`]):
//! - [`train`]: into a run folder (checkpoints, metrics, resumable), as `mib train` does;
//! - [`fit`]: in memory, from views the caller holds (the Python estimators), with the metrics
//!   returned as a history.

pub mod checkpoint;
pub mod fit;
pub mod lock;
pub mod run_folder;
pub mod schedule;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub use fit::{
    labelled_items, FitState, MetricsRecord, NoObserver, RunSink, TrainObserver, TrainSummary,
};
pub use run_folder::{read_metrics, train, RunFolder, RunOptions};

use crate::config::TrainConfig;
use crate::data::MultiViewDataset;
use crate::models::TrainedModel;
use crate::objectives::TrainStep;
use crate::pool::ComputePool;
use crate::train::checkpoint::CheckpointMeta;
use crate::Result;

/// Seeds of the run's random streams, derived from the config's seed: independent generators
/// (one per stream, row, ...) from one user seed.
pub fn stream_seed(seed: u64, stream: u64) -> u64 {
    // SplitMix64 finaliser over (seed, stream): independent streams from one user seed.
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The metrics history of an in-memory fit.
#[derive(Default)]
struct MemorySink {
    history: Vec<MetricsRecord>,
}

impl RunSink for MemorySink {
    fn metrics(&mut self, record: &MetricsRecord) -> Result<()> {
        self.history.push(record.clone());
        Ok(())
    }
    fn checkpoint(&mut self, _: &TrainStep, _: &CheckpointMeta) -> Result<Option<PathBuf>> {
        Ok(None)
    }
}

/// What an in-memory [`fit`] returns.
#[derive(Debug)]
pub struct Fitted {
    /// The trained model (also when stopped early: the parameters of the last completed step).
    pub model: TrainedModel,
    /// How the run ended.
    pub summary: TrainSummary,
    /// Every logged metrics record (what `metrics.jsonl` would hold).
    pub history: Vec<MetricsRecord>,
}

/// Trains `cfg` on the views the caller holds (`train` is shared with the batch producer, not
/// copied; `test`, when given, feeds the probe logged during training), on a pool of
/// `cfg.train.threads` threads. Nothing is written to disk. `stop` and
/// [`TrainObserver::should_stop`] end the run early; the model then holds the last completed step.
/// A conv encoder without `image_shape` takes the data's ([`crate::models::with_data_image_shape`]).
pub fn fit(
    cfg: &TrainConfig,
    train: Arc<MultiViewDataset>,
    test: Option<&MultiViewDataset>,
    stop: Option<&AtomicBool>,
    observer: &mut dyn TrainObserver,
) -> Result<Fitted> {
    let cfg = &crate::models::with_data_image_shape(cfg, &train)?;
    cfg.validate()?;
    fit::check_batch_size(cfg, train.len())?;
    fit::check_labelled(cfg, &train)?;
    let (mut state, views) = FitState::new(cfg, &train, false)?;
    let pool = ComputePool::new(cfg.train.threads);
    let mut sink = MemorySink::default();
    let summary = fit::run_loop(
        cfg,
        fit::LoopData {
            train: &train,
            train_rows: None,
            test,
            views: &views,
        },
        &mut state,
        &pool,
        stop,
        &mut sink,
        observer,
    )?;
    let model = state.into_model(cfg, &train, &views, summary.wall_s);
    Ok(Fitted {
        model,
        summary,
        history: sink.history,
    })
}
