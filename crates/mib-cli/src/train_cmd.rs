//! `mib train` and `mib demo`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mib::config::TrainConfig;
use mib::train::trainer::{self, MetricsRecord, RunOptions, TrainObserver, TrainSummary};

use crate::presets;

/// Flags that choose the data, shared by `mib train` and `mib embed`.
#[derive(Args, Debug, Default)]
pub(crate) struct DataArgs {
    /// Dataset: mfeat (embedded), fashion-mnist, mnist, or npy (with --views).
    #[arg(long)]
    dataset: Option<String>,
    /// Views: for mfeat, names (e.g. pix,fou); otherwise .npy files, one per view (implies --dataset npy).
    #[arg(long, value_delimiter = ',')]
    views: Option<Vec<String>>,
    /// Labels for .npy views (integer .npy).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Folder holding the dataset files (IDX); default $MIB_DATA, then /usr/share/datasets/<name>.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl DataArgs {
    /// Writes the flags that were given into `cfg`.
    pub(crate) fn apply(&self, cfg: &mut TrainConfig) {
        if let Some(d) = &self.dataset {
            cfg.data.dataset = d.clone();
        }
        if let Some(v) = &self.views {
            if v.iter().any(|s| s.ends_with(".npy")) {
                cfg.data.dataset = "npy".into();
            }
            cfg.data.views = v.clone();
        }
        if let Some(l) = &self.labels {
            cfg.data.labels = Some(l.clone());
        }
        if let Some(d) = &self.data_dir {
            cfg.data.data_dir = Some(d.clone());
        }
    }
}

/// Flags of `mib train`.
#[derive(Args, Debug, Default)]
pub(crate) struct TrainArgs {
    /// Config file, or the name of a preset in configs/ (mib, mv-infomax, infomax, vae, supervised, fast, demo).
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
    /// Total training iterations.
    #[arg(long)]
    iterations: Option<u64>,
    /// Seed of every random draw.
    #[arg(long)]
    seed: Option<u64>,
    /// Worker threads (0 = all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Batch size.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Overwrite the output folder if it holds another run.
    #[arg(long)]
    force: bool,
    /// No progress bar: one plain line per checkpoint interval (for logs).
    #[arg(long, short)]
    quiet: bool,
}

/// Flags of `mib demo`.
#[derive(Args, Debug, Default)]
pub(crate) struct DemoArgs {
    /// Run folder (default runs/demo-<unix time>).
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Training iterations (default: the demo preset's).
    #[arg(long)]
    iterations: Option<u64>,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

fn load_config(spec: &str) -> Result<TrainConfig> {
    let path = Path::new(spec);
    if path.exists() {
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

fn apply_overrides(cfg: &mut TrainConfig, a: &TrainArgs) {
    a.data.apply(cfg);
    if let Some(n) = a.iterations {
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
        apply_overrides(&mut cfg, &a);
        (cfg, dir.clone(), true)
    } else {
        let spec = a.config.clone().unwrap_or_else(|| "mib".into());
        let mut cfg = load_config(&spec)?;
        apply_overrides(&mut cfg, &a);
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
        clear_run(&run_dir)?;
    }
    run_training(&cfg, &run_dir, resume, a.quiet).map(|_| ())
}

/// Removes the files of an earlier run from `dir` (only the ones `mib train` writes).
fn clear_run(dir: &Path) -> Result<()> {
    for f in [
        "config.toml",
        "metrics.jsonl",
        "model.safetensors",
        "encoder.safetensors",
        "encoder.toml",
        "eval.json",
    ] {
        let p = dir.join(f);
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    let ck = dir.join("checkpoints");
    if ck.exists() {
        std::fs::remove_dir_all(&ck).with_context(|| format!("removing {}", ck.display()))?;
    }
    Ok(())
}

fn run_training(
    cfg: &TrainConfig,
    run_dir: &Path,
    resume: bool,
    quiet: bool,
) -> Result<TrainSummary> {
    trainer::check_run_dir(run_dir, resume)?;
    let threads = crate::init_threads(cfg.train.threads)?;
    let data = trainer::load_data(cfg)?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second Ctrl-C kills at once; the first asks for a checkpoint and a clean stop.
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    }
    eprintln!(
        "mib: training {} on {} ({} train / {} test items, views {:?}), {} iterations, {} threads -> {}",
        cfg.model.objective.name(),
        cfg.data.dataset,
        data.train.len(),
        data.test.len(),
        data.train.view_dims(),
        cfg.train.iterations,
        threads,
        run_dir.display()
    );
    let mut obs = Progress::new(quiet, cfg.train.checkpoint_every);
    let opts = RunOptions {
        resume,
        stop: Some(stop),
    };
    let summary = trainer::train(cfg, &data, run_dir, &opts, &mut obs)?;
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

pub(crate) fn demo(a: DemoArgs) -> Result<()> {
    let text = presets::preset("demo").expect("demo preset is embedded");
    let mut cfg = TrainConfig::from_toml_str(text, "preset `demo`")?;
    if let Some(n) = a.iterations {
        cfg.train.iterations = n;
    }
    cfg.train.threads = a.threads;
    cfg.validate()?;
    let dir = a.out.clone().unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        PathBuf::from(format!("runs/demo-{t}"))
    });
    run_training(&cfg, &dir, false, a.quiet)?;
    eprintln!("mib: evaluating (few-label linear probe, kNN, cross-view retrieval)...");
    let args = crate::eval_cmd::EvalArgs::for_run(dir.clone());
    let report = crate::eval_cmd::run(&args)?;
    // The baseline the representation must beat: the same probe on the raw pixel view.
    let data = trainer::load_data(&cfg)?;
    let protocol = mib::eval::EvalProtocol {
        labels_per_class: args.labels_per_class.clone(),
        repetitions: args.repetitions,
        knn: None,
        information_bound: false,
        ..Default::default()
    };
    let raw = trainer::evaluate_raw(&data, 0, &protocol)?;
    println!(
        "Same probe on the raw `{}` features (the baseline):",
        data.train.view_names[0]
    );
    println!("    labels/class   MIB mean    raw mean");
    for (m, r) in report.linear_probe.iter().zip(&raw.linear_probe) {
        println!(
            "    {:>12} {:>10.2} {:>11.2}",
            m.labels_per_class,
            100.0 * m.mean,
            100.0 * r.mean
        );
    }
    crate::report::run(&crate::report::ReportArgs {
        dirs: vec![dir.clone()],
        out: dir.join("report.html"),
        max_points: 3000,
    })?;
    eprintln!(
        "mib: results in {}: report.html (open it in a browser), eval.json, metrics.jsonl, \
         model.safetensors, config.toml",
        dir.display()
    );
    Ok(())
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
