//! `mib train` and `mib demo`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mib::config::TrainConfig;
use mib::train::{self, MetricsRecord, RunFolder, RunOptions, TrainObserver, TrainSummary};

use crate::args::DataArgs;
use mib::presets;

/// Flags of `mib train`.
#[derive(Args, Debug, Default)]
pub(crate) struct TrainArgs {
    /// Config file, or the name of a preset in configs/ (mib, mv-infomax, infomax, vae, supervised, fast, fast-conv, best, demo, demo-conv).
    #[arg(long, short)]
    config: Option<String>,
    #[command(flatten)]
    data: DataArgs,
    /// Run folder to create (default runs/<config name>-<seed>).
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Continue the run in this folder from its newest checkpoint.
    #[arg(long, conflicts_with_all = ["config", "out", "force"])]
    resume: Option<PathBuf>,
    /// Total training iterations. The config's beta schedule is scaled to them (its warm phase
    /// and ramp keep their share of the run) unless --keep-schedule.
    #[arg(long)]
    iterations: Option<u64>,
    /// With --iterations: keep the beta schedule's iterations as the config gives them.
    #[arg(long, requires = "iterations")]
    keep_schedule: bool,
    /// Seed of every random draw.
    #[arg(long)]
    seed: Option<u64>,
    /// Worker threads (0 = all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Batch size.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Semi-supervised mode: train a classifier on the posterior means of this many labelled
    /// items per class beside MIB's or MV-InfoMax's loss (the items of the few-label probe's
    /// draw --labelled-draw, so `mib eval` compares it with the frozen probe and the raw inputs on
    /// the same labels). Sets [data.labelled] and, unless given, model.label_weight = 1.
    #[arg(long, conflicts_with = "resume")]
    semi_supervised: Option<usize>,
    /// The weight of the semi-supervised cross-entropy (model.label_weight; default 1).
    #[arg(long, requires = "semi_supervised")]
    label_weight: Option<f32>,
    /// Which of the probe's draws gives the labelled items (default 0).
    #[arg(long, requires = "semi_supervised")]
    labelled_draw: Option<usize>,
    /// Labelled rows per batch (default 32, at most all labelled items).
    #[arg(long, requires = "semi_supervised")]
    labelled_per_batch: Option<usize>,
    /// Overwrite the output folder if it holds another run.
    #[arg(long)]
    force: bool,
    /// No progress bar: one plain line per checkpoint interval (for logs).
    #[arg(long, short)]
    quiet: bool,
}

pub(crate) fn load_config(spec: &str) -> Result<TrainConfig> {
    let path = Path::new(spec);
    if path.is_file() {
        return Ok(TrainConfig::from_file(path)?);
    }
    match presets::preset(spec) {
        Some(text) => Ok(TrainConfig::from_toml_str(
            text,
            &format!("preset `{spec}`"),
        )?),
        None => bail!(
            "config `{spec}`: no such file, and not a preset (presets: {})",
            presets::PRESETS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn apply_overrides(cfg: &mut TrainConfig, a: &TrainArgs) -> Result<()> {
    a.data.apply(cfg)?;
    if let Some(n) = a.iterations {
        if !a.keep_schedule && a.resume.is_none() {
            cfg.beta = cfg.beta.scaled(cfg.train.iterations, n);
        }
        cfg.train.iterations = n;
    }
    if let Some(s) = a.seed {
        cfg.seed = s;
    }
    if let Some(t) = a.threads {
        cfg.train.threads = t;
    }
    if let Some(b) = a.batch_size {
        cfg.train.batch_size = b;
    }
    if let Some(k) = a.semi_supervised {
        let l = cfg
            .data
            .labelled
            .get_or_insert(mib::config::LabelledConfig {
                labels_per_class: k,
                draw: 0,
                per_batch: 32,
                items: Vec::new(),
            });
        l.labels_per_class = k;
        l.items.clear();
        if let Some(d) = a.labelled_draw {
            l.draw = d;
        }
        l.per_batch = a
            .labelled_per_batch
            .unwrap_or(l.per_batch.min(cfg.train.batch_size));
        cfg.model.label_weight = match a.label_weight {
            Some(w) => w,
            None if cfg.model.label_weight > 0.0 => cfg.model.label_weight,
            None => 1.0,
        };
    }
    Ok(())
}

pub(crate) fn train(a: TrainArgs) -> Result<()> {
    let (cfg, run_dir, resume) = if let Some(dir) = &a.resume {
        let path = dir.join("config.toml");
        if !path.exists() {
            bail!(
                "{}: no run to resume here (config.toml is missing)",
                dir.display()
            );
        }
        let mut cfg = TrainConfig::from_file(&path)?;
        apply_overrides(&mut cfg, &a)?;
        (cfg, dir.clone(), true)
    } else {
        let spec = a.config.clone().unwrap_or_else(|| "mib".into());
        let mut cfg = load_config(&spec)?;
        apply_overrides(&mut cfg, &a)?;
        let name = Path::new(&spec)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("run")
            .to_string();
        let dir = a
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("runs/{name}-{}", cfg.seed)));
        (cfg, dir, false)
    };
    cfg.validate()?;
    if !resume && a.force && run_dir.join("config.toml").exists() {
        RunFolder::new(&run_dir).clear()?;
    }
    run_training(&cfg, &run_dir, resume, a.quiet).map(|_| ())
}

pub(crate) fn run_training(
    cfg: &TrainConfig,
    run_dir: &Path,
    resume: bool,
    quiet: bool,
) -> Result<TrainSummary> {
    RunFolder::new(run_dir).check(resume)?;
    // Before the data load: a folder that cannot be created fails at once, in one line.
    std::fs::create_dir_all(run_dir)
        .map_err(|e| mib::Error::io("creating run folder", run_dir, e))?;
    let threads = mib::pool::resolve_threads(cfg.train.threads);
    let data = mib::data::load_splits(cfg)?;
    // A view count the objective cannot train on fails here, before anything is printed.
    mib::models::training_views(cfg, data.train.views.len())?;
    // So do encoder tables of views the data lacks and image shapes that do not fit.
    mib::models::check_view_encoders(cfg, &data.train)?;
    // Ctrl-C or SIGTERM asks for a checkpoint and a clean stop; a second Ctrl-C kills at once.
    let stop = crate::signals::stop_flag(false);
    eprintln!(
        "mib: training {} on {} ({} train / {} test items, views {:?}), {} iterations, {} threads -> {}",
        cfg.model.objective.name(),
        cfg.data.dataset,
        data.train_len(),
        data.test.len(),
        data.train.view_dims(),
        cfg.train.iterations,
        threads,
        run_dir.display()
    );
    eprintln!("mib: beta schedule: {}", cfg.beta.describe());
    if data.train_rows.is_some() {
        eprintln!(
            "mib: views memory-mapped: batches read from the files; scaling, probes and evaluation use {} train / {} test items spaced evenly",
            data.train.len(),
            data.test.len()
        );
    }
    if let Some(s) = mib::data::scaling::describe(cfg, &data.train) {
        eprintln!("mib: input scaling: {s}");
    }
    let mut obs = Progress::new(quiet, cfg.train.checkpoint_every);
    let opts = RunOptions {
        resume,
        stop: Some(stop),
    };
    let (summary, _) = train::train(cfg, &data, run_dir, &opts, &mut obs)?;
    obs.finish();
    if summary.interrupted {
        eprintln!(
            "mib: stopped at iteration {}; continue with: mib train --resume {}",
            summary.iterations,
            run_dir.display()
        );
    } else {
        eprintln!(
            "mib: done: {} iterations in {:.1} s{}; run folder {}",
            summary.iterations,
            summary.wall_s,
            if summary.nonfinite_total > 0 {
                format!(" ({} non-finite steps skipped)", summary.nonfinite_total)
            } else {
                String::new()
            },
            run_dir.display()
        );
    }
    Ok(summary)
}

/// Progress bar (or plain lines with --quiet) fed by the training loop.
struct Progress {
    bar: Option<ProgressBar>,
    quiet_every: u64,
}

impl Progress {
    fn new(quiet: bool, quiet_every: u64) -> Self {
        Progress {
            bar: None,
            quiet_every: if quiet { quiet_every } else { 0 },
        }
    }
    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish();
        }
    }
}

fn describe(r: &MetricsRecord) -> String {
    let mut s = format!("loss {:.4}", r.loss);
    for (k, v) in [
        ("I", r.mi_estimate),
        ("skl", r.skl),
        ("rate", r.rate),
        ("dist", r.distortion),
        ("ce", r.cross_entropy),
    ] {
        if let Some(v) = v {
            s.push_str(&format!(" {k} {v:.3}"));
        }
    }
    s.push_str(&format!(" beta {:.2e}", r.beta));
    if let Some(p) = r.probe_accuracy {
        s.push_str(&format!(" probe {p:.3}"));
    }
    if r.nonfinite_skipped > 0 {
        s.push_str(&format!(" skipped {}", r.nonfinite_skipped));
    }
    s
}

impl TrainObserver for Progress {
    fn on_start(&mut self, start: u64, total: u64) {
        if self.quiet_every == 0 {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_position(start);
            bar.reset_eta();
            self.bar = Some(bar);
        } else if start > 0 {
            eprintln!("resuming at iteration {start} of {total}");
        }
    }
    fn on_log(&mut self, r: &MetricsRecord) {
        match &self.bar {
            Some(b) => {
                b.set_position(r.iteration);
                b.set_message(describe(r));
            }
            None => {
                if r.iteration % self.quiet_every == 0 || r.probe_accuracy.is_some() {
                    eprintln!(
                        "it {} ({:.1} it/s, {:.0} s): {}",
                        r.iteration,
                        r.it_per_s,
                        r.wall_s,
                        describe(r)
                    );
                }
            }
        }
    }
    fn on_warning(&mut self, msg: &str) {
        match &self.bar {
            Some(b) => b.println(format!("warning: {msg}")),
            None => eprintln!("warning: {msg}"),
        }
    }
}
