//! `mib bench`: speed measurements.

use clap::{Args, Subcommand};
use mib::bench::{
    adam_stream_floor_ms, bench_step, fma_peak, BenchStepConfig, ADAM_BYTES_PER_PARAM,
};
use mib::estimators::{CriticKind, EstimatorKind};
use mib::objectives::{EncoderKind, ModelConfig, ObjectiveKind};

/// Benchmarks.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Time the full training step (forward, backward, Adam) of the reference architecture.
    Step(StepArgs),
    /// Views per second of the reference recipe (RandomAffine + PixelCorruption) at 28x28.
    Views(crate::bench_views::BenchViewsArgs),
    /// The machine's f32 multiply-add ceiling (GFLOP/s) on a number of cores: what no matrix
    /// product can beat.
    Peak(PeakArgs),
    /// Training from views larger than memory: writes a synthetic MIR-Flickr-sized dataset
    /// (1,000,000 items, 3,857 f2 + 2,000 u1 features, 9.7 GB), trains from the memory-mapped
    /// files and from an in-memory subset in alternating rounds, and reports the step rates, the
    /// time to the first step and the anonymous resident memory. Removes its files at the end.
    Scale(ScaleArgs),
}

/// Options of `mib bench scale`.
#[derive(Args)]
pub struct ScaleArgs {
    /// A new folder for the files (removed at the end unless --keep).
    #[arg(long, default_value = "mib-bench-scale")]
    dir: std::path::PathBuf,
    /// Items.
    #[arg(long, default_value_t = 1_000_000)]
    items: usize,
    /// Width of the f2 view.
    #[arg(long, default_value_t = 3857)]
    image_dim: usize,
    /// Width of the u1 view.
    #[arg(long, default_value_t = 2000)]
    tag_dim: usize,
    /// Items of the in-memory subset trained from for comparison.
    #[arg(long, default_value_t = 50_000)]
    memory_items: usize,
    /// Training iterations per run.
    #[arg(long, default_value_t = 300)]
    iterations: u64,
    /// Rounds (one mapped and one in-memory run each).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Compute threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Keep the files.
    #[arg(long)]
    keep: bool,
    /// Drop the page cache before each run from the maps (needs root), so rows come from disk.
    #[arg(long)]
    cold: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Options of `mib bench peak`.
#[derive(Args)]
pub struct PeakArgs {
    /// Threads, one per core (default: all available cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Milliseconds to run the multiply-adds.
    #[arg(long, default_value_t = 1000)]
    millis: u64,
    /// Parameters of the Adam-shaped memory pass (default: the reference MIB model's).
    #[arg(long, default_value_t = 3_167_361)]
    params: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Options of `mib bench step`.
#[derive(Args)]
pub struct StepArgs {
    /// Objective: mib, mv-infomax, infomax, vae or supervised.
    #[arg(long, default_value = "mib", value_parser = parse_kebab::<ObjectiveKind>)]
    objective: ObjectiveKind,
    /// Critic: mlp (reference) or separable.
    #[arg(long, default_value = "mlp", value_parser = parse_kebab::<CriticKind>)]
    critic: CriticKind,
    /// MI estimator: jsd (reference), nwj or infonce.
    #[arg(long, default_value = "jsd", value_parser = parse_kebab::<EstimatorKind>)]
    estimator: EstimatorKind,
    /// Encoder: mlp (reference: 784-1024-1024-2x64) or conv (issue 22: 3x3 convolutions
    /// 32-64-128, strides 1-2-2, padding 1, on 28x28 images, the flattened 7x7x128 into a linear
    /// Gaussian head; also times the convolutions on their own and reports their phases).
    #[arg(long, default_value = "mlp", value_parser = parse_kebab::<EncoderKind>)]
    encoder: EncoderKind,
    /// Batch size.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Threads (default: all available cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Timed steps.
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Skip measuring the machine's ceiling (saves ~1 s).
    #[arg(long)]
    no_peak: bool,
    /// Share of the batch's items lacking one of the two views (0 to 1; docs/missing-views.md):
    /// times the masked step on the same batch. 0: complete data.
    #[arg(long, default_value_t = 0.0)]
    missing: f64,
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn parse_kebab<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|e| e.to_string())
}

/// Runs a `mib bench` subcommand.
pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Views(b) => crate::bench_views::views(b),
        BenchCommand::Peak(a) => {
            let threads = a.threads.unwrap_or_else(default_threads);
            let r = fma_peak(threads, a.millis)?;
            let adam_ms = adam_stream_floor_ms(threads, a.params, 10)?;
            let gb_per_s = (ADAM_BYTES_PER_PARAM * a.params) as f64 / adam_ms / 1e6;
            if a.json {
                let mut v = serde_json::to_value(&r)?;
                v["adam_params"] = a.params.into();
                v["adam_floor_ms"] = adam_ms.into();
                v["stream_gb_per_s"] = gb_per_s.into();
                println!("{v}");
            } else {
                println!(
                    "f32 multiply-add ceiling on {} threads ({}): {:.1} GFLOP/s; an Adam update of {} parameters takes at least {:.2} ms ({:.1} GB/s)",
                    r.threads, r.isa, r.gflop_per_s, a.params, adam_ms, gb_per_s
                );
            }
            Ok(())
        }
        BenchCommand::Scale(a) => {
            let cfg = mib::bench::scale::ScaleBenchConfig {
                dir: a.dir,
                items: a.items,
                image_dim: a.image_dim,
                tag_dim: a.tag_dim,
                memory_items: a.memory_items,
                iterations: a.iterations,
                rounds: a.rounds,
                threads: a.threads,
                keep: a.keep,
                cold: a.cold,
                ..Default::default()
            };
            let r = mib::bench::scale::bench_scale(&cfg, &mut |m| eprintln!("mib: {m}"))?;
            if a.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                let mb = |x: Option<f64>| x.map_or("?".into(), |v| format!("{v:.0} MiB"));
                println!(
                    "{} items, views {:?} (f2, u1): {:.2} GB on disk ({:.1} GB as f32), written in {:.0} s",
                    r.items,
                    r.view_dims,
                    r.file_bytes as f64 / 1e9,
                    r.f32_bytes as f64 / 1e9,
                    r.write_s
                );
                for (i, x) in r.rounds.iter().enumerate() {
                    println!(
                        "round {i}: mapped {:.2} steps/s, in memory ({} items) {:.2} steps/s, ratio {:.3}; first step {:.2} s; RssAnon {}",
                        x.mapped_steps_per_s,
                        r.memory_items,
                        x.memory_steps_per_s,
                        x.ratio,
                        x.mapped_first_step_s,
                        mb(x.mapped_rss_anon_mib)
                    );
                }
                println!(
                    "median ratio {:.3}; slowest first step {:.2} s; RssAnon before {} -> peak {} while training from the maps; model (parameters, gradients, Adam) {:.0} MiB; beyond the model {}; in-memory samples of {} items per split",
                    r.median_ratio,
                    r.max_first_step_s,
                    mb(r.rss_anon_before_mib),
                    mb(r.mapped_rss_anon_peak_mib),
                    r.model_mib,
                    mb(r.rss_anon_beyond_model_mib),
                    r.sample_items
                );
            }
            Ok(())
        }
        BenchCommand::Step(a) => {
            let mut cfg = BenchStepConfig {
                model: ModelConfig {
                    objective: a.objective,
                    critic: a.critic,
                    estimator: a.estimator,
                    ..ModelConfig::default()
                },
                batch: a.batch,
                steps: a.steps,
                warmup: a.warmup,
                threads: Some(a.threads.unwrap_or_else(default_threads)),
                measure_peak: !a.no_peak,
                missing: if (0.0..1.0).contains(&a.missing) {
                    a.missing
                } else {
                    anyhow::bail!("--missing {}: a share of the items, 0 <= x < 1", a.missing)
                },
                ..BenchStepConfig::default()
            };
            if a.encoder == EncoderKind::Conv {
                cfg = cfg.with_conv_encoder();
            }
            let r = bench_step(&cfg)?;
            if a.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "{:?} batch {} threads {}: {:.1} steps/s ({:.2} ms/step: forward {:.2}, backward {:.2}, optimizer {:.2} ms); best step {:.2} ms ({:.1} steps/s); CPU {} ms/step; {:.2} GFLOP/step, {:.0} GFLOP/s{}; {} parameters",
                    r.objective,
                    r.batch,
                    r.threads,
                    r.steps_per_s,
                    r.step_ms,
                    r.forward_ms,
                    r.backward_ms,
                    r.optimizer_ms,
                    r.best_step_ms,
                    r.best_steps_per_s,
                    r.cpu_ms_per_step.map_or("?".to_string(), |c| format!("{c:.1}")),
                    r.gflop_per_step,
                    r.gflop_per_s,
                    match (r.peak_gflop_per_s, r.ceiling_steps_per_s) {
                        (Some(p), Some(c)) => format!(
                            " ({:.0} % of the {p:.0} GFLOP/s multiply-add ceiling; with Adam's memory floor the machine allows at most {c:.1} steps/s)",
                            100.0 * r.gflop_per_s / p
                        ),
                        _ => String::new(),
                    },
                    r.parameters
                );
                println!("encoder: {}", r.encoder);
                if let Some(c) = &r.conv {
                    let phases: Vec<String> = c
                        .phases_ms
                        .iter()
                        .filter(|(_, ms)| *ms > 0.0)
                        .map(|(n, ms)| format!("{n} {ms:.2}"))
                        .collect();
                    println!(
                        "convolutions alone ({} rows): forward {:.2} ms, backward {:.2} ms; phases (ms per pass, CPU time / threads): {}",
                        c.rows,
                        c.forward_ms,
                        c.backward_ms,
                        phases.join(", ")
                    );
                }
            }
            Ok(())
        }
    }
}
