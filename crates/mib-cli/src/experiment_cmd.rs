//! `mib experiment`: several objectives, one budget, one evaluation protocol, one comparison table.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mib::experiment::{
    run_experiment, ArmResult, ExperimentObserver, ExperimentOptions, ExperimentSpec, PlannedArm,
};
use mib::train::{MetricsRecord, TrainObserver};

use mib::presets;

/// The experiments shipped in `configs/experiments/`, embedded.
const EXPERIMENTS: &[(&str, &str)] = &[
    (
        "paper-fashion-mnist",
        include_str!("../../../configs/experiments/paper-fashion-mnist.toml"),
    ),
    (
        "paper-fashion-mnist-seeds",
        include_str!("../../../configs/experiments/paper-fashion-mnist-seeds.toml"),
    ),
    (
        "mfeat",
        include_str!("../../../configs/experiments/mfeat.toml"),
    ),
    (
        "mfeat-fast",
        include_str!("../../../configs/experiments/mfeat-fast.toml"),
    ),
    (
        "fast-sweep",
        include_str!("../../../configs/experiments/fast-sweep.toml"),
    ),
    (
        "fast-sweep-2",
        include_str!("../../../configs/experiments/fast-sweep-2.toml"),
    ),
    (
        "fast-sweep-3",
        include_str!("../../../configs/experiments/fast-sweep-3.toml"),
    ),
    (
        "fast-sweep-4",
        include_str!("../../../configs/experiments/fast-sweep-4.toml"),
    ),
    (
        "fast-seeds",
        include_str!("../../../configs/experiments/fast-seeds.toml"),
    ),
    (
        "paper-fashion-mnist-fast",
        include_str!("../../../configs/experiments/paper-fashion-mnist-fast.toml"),
    ),
    (
        "paper-fashion-mnist-30k",
        include_str!("../../../configs/experiments/paper-fashion-mnist-30k.toml"),
    ),
    (
        "best-search",
        include_str!("../../../configs/experiments/best-search.toml"),
    ),
];

/// Flags of `mib experiment`.
#[derive(Args, Debug)]
pub(crate) struct ExperimentArgs {
    /// Experiment: a preset (paper-fashion-mnist, paper-fashion-mnist-seeds,
    /// paper-fashion-mnist-fast, paper-fashion-mnist-30k, mfeat, mfeat-fast, fast-sweep, fast-sweep-2,
    /// fast-sweep-3, fast-sweep-4, fast-seeds, best-search) or a TOML file.
    #[arg(long, short)]
    preset: String,
    /// Iterations of every trained arm (default: the experiment's budget); the beta schedules are
    /// scaled to it (warm phase 1/3, ramp 2/3).
    #[arg(long)]
    budget_iterations: Option<u64>,
    /// Output folder; each arm gets a subfolder, finished arms are reused, unfinished ones resumed.
    #[arg(long, short)]
    out: PathBuf,
    /// Balanced draws per label count of the probe (default: the experiment's).
    #[arg(long)]
    repetitions: Option<usize>,
    /// Threads of the compute core (0 = all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Only the arms with these names (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Training seeds (comma-separated; default: the experiment's `seeds`): every trained arm runs
    /// once per seed, and the summary gives the mean and standard deviation over seeds.
    #[arg(long, value_delimiter = ',')]
    seeds: Option<Vec<u64>>,
    /// Print the resolved arms and exit.
    #[arg(long)]
    dry_run: bool,
    /// Plain progress lines instead of progress bars.
    #[arg(long)]
    quiet: bool,
}

fn load_spec(spec: &str) -> Result<ExperimentSpec> {
    let path = Path::new(spec);
    if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| mib::Error::io("reading", path, e))?;
        return Ok(ExperimentSpec::from_toml_str(
            &text,
            &path.display().to_string(),
        )?);
    }
    let name = spec.trim_end_matches(".toml");
    match EXPERIMENTS.iter().find(|(n, _)| *n == name) {
        Some((_, text)) => Ok(ExperimentSpec::from_toml_str(
            text,
            &format!("experiment `{name}`"),
        )?),
        None => bail!(
            "experiment `{spec}`: no such file, and not a preset (presets: {})",
            EXPERIMENTS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn lookup_preset(name: &str) -> mib::Result<String> {
    if let Some(t) = presets::preset(name) {
        return Ok(t.to_string());
    }
    let p = Path::new(name);
    std::fs::read_to_string(p).map_err(|e| mib::Error::io("reading preset", p, e))
}

pub(crate) fn experiment(a: ExperimentArgs) -> Result<()> {
    let mut spec = load_spec(&a.preset)?;
    if let Some(r) = a.repetitions {
        spec.repetitions = r;
    }
    if let Some(only) = &a.only {
        for n in only {
            if !spec.arms.iter().any(|x| &x.name == n) {
                bail!("--only {n}: no arm of that name in `{}`", spec.name);
            }
        }
        // Raw arms keep their data source even when the trained arm they borrow it from is left out.
        let first = spec.arms.iter().find_map(|x| x.preset.clone());
        for arm in &mut spec.arms {
            if arm.raw_view.is_some() && arm.data_from.is_none() {
                arm.data_from = first.clone();
            }
        }
        spec.arms.retain(|x| only.contains(&x.name));
    }
    if let Some(s) = &a.seeds {
        spec.seeds = s.clone();
    }
    let plan = spec.plan(a.budget_iterations, &lookup_preset)?;
    eprintln!(
        "experiment `{}`: {} arms, budget {} iterations, probe at {:?} labels/class x {} draws -> {}",
        plan.name,
        plan.arms.len(),
        plan.budget,
        plan.protocol.labels_per_class,
        plan.protocol.repetitions,
        a.out.display()
    );
    for arm in &plan.arms {
        eprintln!("  {}", describe_arm(arm));
    }
    if a.dry_run {
        return Ok(());
    }
    let threads = mib::pool::resolve_threads(a.threads);
    let stop = crate::signals::stop_flag(true);
    let mut obs = Observer {
        quiet: a.quiet,
        bar: None,
    };
    let opts = ExperimentOptions {
        threads,
        stop: Some(stop),
    };
    let results = run_experiment(&plan, &a.out, &opts, &mut obs)?;
    println!(
        "{}",
        mib::experiment::summary_markdown(&plan.name, &plan.protocol, &results)
    );
    // The HTML comparison of the trained arms (figures: accuracy vs labels, information plane,
    // training curves), from `mib report`.
    let trained: Vec<PathBuf> = results
        .iter()
        .filter(|r| r.iterations > 0)
        .map(|r| r.dir.clone())
        .collect();
    let html = a.out.join("report.html");
    if !trained.is_empty() {
        std::fs::write(&html, crate::report::build_report(&trained, 3000))?;
    }
    eprintln!(
        "mib: wrote {}, {} and {}",
        a.out.join("summary.md").display(),
        a.out.join("summary.json").display(),
        html.display()
    );
    Ok(())
}

fn describe_arm(arm: &PlannedArm) -> String {
    match &arm.kind {
        mib::experiment::ArmKind::Train(c) => format!(
            "{:<14} {:?} encoder {:?}{} critic {:?} estimator {:?}, batch {}, lr {:e}, {} its, beta {}",
            arm.name,
            c.model.objective,
            c.model.encoder_hidden,
            if c.model.encoder_norm.is_none() {
                ""
            } else {
                " layer-norm"
            },
            c.model.critic,
            c.model.estimator,
            c.train.batch_size,
            c.optim.lr,
            c.train.iterations,
            toml::to_string(&c.beta)
                .unwrap_or_default()
                .replace('\n', " ")
                .trim()
        ),
        mib::experiment::ArmKind::Raw { view, data } => format!(
            "{:<14} raw features of view {view} of {}",
            arm.name, data.data.dataset
        ),
    }
}

struct Observer {
    quiet: bool,
    bar: Option<ProgressBar>,
}

impl ExperimentObserver for Observer {
    fn on_arm(&mut self, index: usize, total: usize, arm: &PlannedArm, action: &str) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        eprintln!("[{}/{}] {}: {action}", index + 1, total, arm.name);
    }
    fn train_observer(&mut self) -> &mut dyn TrainObserver {
        self
    }
    fn on_arm_done(&mut self, r: &ArmResult) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        let acc: Vec<String> = r
            .report
            .linear_probe
            .iter()
            .map(|p| format!("{}: {:.3}", p.labels_per_class, p.mean))
            .collect();
        eprintln!(
            "      done: probe {} (train {:.0} s, eval {:.0} s)",
            acc.join(", "),
            r.train_wall_s,
            r.eval_wall_s
        );
    }
}

impl TrainObserver for Observer {
    fn on_start(&mut self, start: u64, total: u64) {
        if self.quiet {
            return;
        }
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "      {elapsed_precise} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_position(start);
        bar.reset_eta();
        self.bar = Some(bar);
    }
    fn on_log(&mut self, r: &MetricsRecord) {
        match &self.bar {
            Some(b) => {
                b.set_position(r.iteration);
                b.set_message(format!("loss {:.3} beta {:.1e}", r.loss, r.beta));
            }
            None => {
                if r.probe_accuracy.is_some() {
                    eprintln!(
                        "      it {} ({:.1} it/s, {:.0} s): loss {:.3} beta {:.1e} probe {:.3}",
                        r.iteration,
                        r.it_per_s,
                        r.wall_s,
                        r.loss,
                        r.beta,
                        r.probe_accuracy.unwrap_or(f64::NAN)
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
