//! Measuring the speed of the training step (`mib bench step`).
//!
//! [`bench_step`] builds the reference architecture (input 784, encoder 1024-1024, z 64, critic
//! 1024-1024; decoder 1024-1024 for the VAE), runs warm-up steps and then times `steps` full
//! training steps (forward, backward, Adam) on a fixed random batch.

use crate::objectives::{AdamConfig, ModelConfig, ObjectiveKind, TrainStep};
use crate::{Error, MibRng, Result};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::time::Instant;

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchStepConfig {
    /// The model (default: the reference MIB architecture).
    pub model: ModelConfig,
    /// Input width of each view (default 784, MNIST).
    pub in_dim: usize,
    /// Batch size (default 64).
    pub batch: usize,
    /// Timed steps (default 50).
    pub steps: usize,
    /// Untimed warm-up steps (default 5).
    pub warmup: usize,
    /// Threads of a dedicated rayon pool; `None` uses the global pool.
    pub threads: Option<usize>,
    /// Seed of the weights, data and noise.
    pub seed: u64,
}

impl Default for BenchStepConfig {
    fn default() -> Self {
        BenchStepConfig {
            model: ModelConfig::default(),
            in_dim: 784,
            batch: 64,
            steps: 50,
            warmup: 5,
            threads: None,
            seed: 0,
        }
    }
}

/// The measurement.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// The objective measured.
    pub objective: ObjectiveKind,
    /// Batch size.
    pub batch: usize,
    /// Threads used.
    pub threads: usize,
    /// Timed steps.
    pub steps: usize,
    /// Training steps per second.
    pub steps_per_s: f64,
    /// Mean milliseconds per step.
    pub step_ms: f64,
    /// Mean milliseconds in forward passes.
    pub forward_ms: f64,
    /// Mean milliseconds in backward passes.
    pub backward_ms: f64,
    /// Mean milliseconds in the finiteness check and Adam.
    pub optimizer_ms: f64,
    /// The fastest single step, in milliseconds (robust to other load on the machine).
    pub best_step_ms: f64,
    /// Steps per second at the fastest single step.
    pub best_steps_per_s: f64,
    /// Process CPU time (user + system, all threads) per timed step, in milliseconds, from
    /// `/proc/self/stat` (Linux; 10 ms resolution over the whole run). Unlike wall time it barely
    /// moves when other processes share the cores; `None` where `/proc` is unavailable.
    pub cpu_ms_per_step: Option<f64>,
    /// Floating-point operations per step (matrix products).
    pub gflop_per_step: f64,
    /// Achieved GFLOP/s over the whole step.
    pub gflop_per_s: f64,
    /// Number of parameters.
    pub parameters: usize,
    /// Loss after the last step (sanity).
    pub final_loss: f32,
}

/// Runs the benchmark described by `cfg`.
pub fn bench_step(cfg: &BenchStepConfig) -> Result<BenchReport> {
    if cfg.steps == 0 {
        return Err(Error::config("steps", 0, "must be positive"));
    }
    match cfg.threads {
        Some(0) => Err(Error::config("threads", 0, "must be positive")),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| Error::config("threads", n, e.to_string()))?;
            pool.install(|| bench_in_pool(cfg, n))
        }
        None => bench_in_pool(cfg, rayon::current_num_threads()),
    }
}

fn bench_in_pool(cfg: &BenchStepConfig, threads: usize) -> Result<BenchReport> {
    let mut rng = MibRng::seed_from_u64(cfg.seed);
    let obj = cfg.model.objective;
    let n_classes = if obj == ObjectiveKind::Supervised {
        10
    } else {
        0
    };
    let mut step = TrainStep::new(
        &cfg.model,
        &AdamConfig::default(),
        &[cfg.in_dim, cfg.in_dim],
        n_classes,
        cfg.batch,
        &mut rng,
    )?;
    let b = cfg.batch;
    let v1: Vec<f32> = (0..b * cfg.in_dim).map(|_| rng.random::<f32>()).collect();
    let v2: Vec<f32> = (0..b * cfg.in_dim).map(|_| rng.random::<f32>()).collect();
    let labels: Vec<u32> = (0..b as u32).map(|i| i % 10).collect();
    let lab = (obj == ObjectiveKind::Supervised).then_some(&labels[..]);
    let views = [&v1[..], &v2[..]];
    for _ in 0..cfg.warmup {
        step.step(&views, lab, b, 1e-3, &mut rng)?;
    }
    let (mut f, mut bw, mut o) = (0.0f64, 0.0f64, 0.0f64);
    let mut last = 0.0;
    let mut best = f64::INFINITY;
    let cpu0 = process_cpu_s();
    let t0 = Instant::now();
    for _ in 0..cfg.steps {
        let ts = Instant::now();
        let st = step.step(&views, lab, b, 1e-3, &mut rng)?;
        best = best.min(ts.elapsed().as_secs_f64());
        f += st.forward_s as f64;
        bw += st.backward_s as f64;
        o += st.optimizer_s as f64;
        last = st.loss;
    }
    let total = t0.elapsed().as_secs_f64();
    let cpu = process_cpu_s()
        .zip(cpu0)
        .map(|(b, a)| 1e3 * (b - a) / cfg.steps as f64);
    let n = cfg.steps as f64;
    let flops = step.step_flops(b);
    Ok(BenchReport {
        objective: obj,
        batch: b,
        threads,
        steps: cfg.steps,
        steps_per_s: n / total,
        step_ms: 1e3 * total / n,
        forward_ms: 1e3 * f / n,
        backward_ms: 1e3 * bw / n,
        optimizer_ms: 1e3 * o / n,
        best_step_ms: 1e3 * best,
        best_steps_per_s: 1.0 / best,
        cpu_ms_per_step: cpu,
        gflop_per_step: flops / 1e9,
        gflop_per_s: flops * n / total / 1e9,
        parameters: step.params().len(),
        final_loss: last,
    })
}

/// User + system CPU seconds of this process (all threads), from `/proc/self/stat` (fields 14 and
/// 15, in clock ticks of 1/100 s, Linux's USER_HZ).
fn process_cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // the command name (field 2) may hold spaces; fields after its closing parenthesis are plain
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
