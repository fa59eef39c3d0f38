//! Measuring the speed of the training step (`mib bench step`).
//!
//! [`bench_step`] builds the reference architecture (input 784, encoder 1024-1024, z 64, critic
//! 1024-1024; decoder 1024-1024 for the VAE), runs warm-up steps and then times `steps` full
//! training steps (forward, backward, Adam) on a fixed random batch.
//! [`BenchStepConfig::with_conv_encoder`] swaps the encoder for issue 22's convolutional one, and
//! [`BenchReport::conv`] then says where the convolutions' time goes.

pub mod scale;

use crate::nn::{ConvPhases, ConvStack, ParamStore};
use crate::objectives::{
    AdamConfig, EncoderConfig, EncoderKind, ModelConfig, ObjectiveKind, TrainStep,
};
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
    /// Also measure the machine's multiply-add ceiling and memory floor of Adam on the same
    /// number of threads ([`fma_peak`], [`adam_stream_floor_ms`], ~1 s) and report the step's
    /// share of the ceiling.
    pub measure_peak: bool,
    /// Share of the batch's items that lack one of the two views (issue 24): `0` (default) is
    /// complete data, the unmasked step; above it, a fixed mask of the same batch through
    /// [`TrainStep::step_masked`].
    pub missing: f64,
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
            measure_peak: true,
            missing: 0.0,
        }
    }
}

impl BenchStepConfig {
    /// The convolutional encoder of issue 22's PyTorch check (`scripts/bench_step_torch.py
    /// --encoder conv`): 3x3 convolutions 1 -> 32 -> 64 -> 128 channels with strides 1, 2, 2 and
    /// padding 1 on 28x28 images, each followed by a ReLU, no norm, the flattened 7x7x128 output
    /// into a linear Gaussian head (no hidden dense layer).
    pub fn with_conv_encoder(mut self) -> Self {
        self.model.encoder = Some(EncoderConfig {
            kind: EncoderKind::Conv,
            channels: vec![32, 64, 128],
            strides: vec![1, 2, 2],
            kernel: 3,
            padding: Some(1),
            norm: false,
            pool: Default::default(),
            image_shape: Some([1, 28, 28]),
            hidden: None,
        });
        self.model.encoder_hidden = Vec::new();
        self.in_dim = 784;
        self
    }
}

/// Where a conv encoder's time goes: its convolution stack timed on its own over the rows a step
/// passes through it (both views of a batch for a shared encoder), on the same threads.
#[derive(Clone, Debug, Serialize)]
pub struct ConvBreakdown {
    /// Rows per pass.
    pub rows: usize,
    /// Mean milliseconds of the stack's forward pass (wall time).
    pub forward_ms: f64,
    /// Mean milliseconds of the stack's backward pass (wall time; no input gradient for the
    /// first layer, as in a step).
    pub backward_ms: f64,
    /// Milliseconds per pass of each phase, summed over the threads and divided by their number
    /// (so that the phases of a pass add up to about its wall time), by phase name
    /// ([`ConvPhases::NAMES`]).
    pub phases_ms: Vec<(String, f64)>,
}

/// The measurement.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// The encoder, in one line (e.g. `mlp 784-1024-1024-2x64`).
    pub encoder: String,
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
    /// The median single step, in milliseconds (robust to bursts of other load).
    pub median_step_ms: f64,
    /// Steps per second at the median step.
    pub median_steps_per_s: f64,
    /// Process CPU time (user + system, all threads) per timed step, in milliseconds, from
    /// `/proc/self/stat` (Linux; 10 ms resolution over the whole run). Unlike wall time it barely
    /// moves when other processes share the cores; `None` where `/proc` is unavailable.
    pub cpu_ms_per_step: Option<f64>,
    /// Floating-point operations per step (matrix products).
    pub gflop_per_step: f64,
    /// Achieved GFLOP/s over the whole step.
    pub gflop_per_s: f64,
    /// The machine's multiply-add ceiling on `threads` cores ([`fma_peak`]), when measured.
    pub peak_gflop_per_s: Option<f64>,
    /// `gflop_per_s / peak_gflop_per_s`: the share of the ceiling the whole step reaches.
    pub fraction_of_peak: Option<f64>,
    /// The memory floor of one Adam update of `parameters` values on `threads` threads
    /// ([`adam_stream_floor_ms`]), when measured.
    pub adam_floor_ms: Option<f64>,
    /// The step rate at the machine's ceiling: the products at `peak_gflop_per_s` plus one Adam
    /// update at `adam_floor_ms`. No implementation of the same step exceeds it on this machine.
    pub ceiling_steps_per_s: Option<f64>,
    /// Number of parameters.
    pub parameters: usize,
    /// Loss after the last step (sanity).
    pub final_loss: f32,
    /// Where a conv encoder's time goes (`None` for an MLP encoder).
    pub conv: Option<ConvBreakdown>,
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
    let mut present = vec![1u8; 2 * b];
    for i in 0..b {
        if rng.random::<f64>() < cfg.missing {
            present[(i % 2) * b + i] = 0;
        }
    }
    let mask = (cfg.missing > 0.0).then_some(&present[..]);
    for _ in 0..cfg.warmup {
        step.step_masked(&views, mask, lab, b, 1e-3, &mut rng)?;
    }
    let (mut f, mut bw, mut o) = (0.0f64, 0.0f64, 0.0f64);
    let mut last = 0.0;
    let mut best = f64::INFINITY;
    let mut times = Vec::with_capacity(cfg.steps);
    let cpu0 = process_cpu_s();
    let t0 = Instant::now();
    for _ in 0..cfg.steps {
        let ts = Instant::now();
        let st = step.step_masked(&views, mask, lab, b, 1e-3, &mut rng)?;
        let el = ts.elapsed().as_secs_f64();
        best = best.min(el);
        times.push(el);
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
    let (peak, adam_floor) = if cfg.measure_peak {
        (
            Some(fma_peak(threads, 300)?.gflop_per_s),
            Some(adam_stream_floor_ms(threads, step.params().len(), 8)?),
        )
    } else {
        (None, None)
    };
    let gflop_per_s = flops * n / total / 1e9;
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
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
        median_step_ms: 1e3 * median,
        median_steps_per_s: 1.0 / median,
        cpu_ms_per_step: cpu,
        gflop_per_step: flops / 1e9,
        gflop_per_s,
        peak_gflop_per_s: peak,
        fraction_of_peak: peak.map(|p| gflop_per_s / p),
        adam_floor_ms: adam_floor,
        ceiling_steps_per_s: peak
            .zip(adam_floor)
            .map(|(p, a)| 1.0 / (flops / (p * 1e9) + a / 1e3)),
        parameters: step.params().len(),
        final_loss: last,
        encoder: step.encoder(0).describe(),
        conv: conv_breakdown(cfg, threads, &mut rng)?,
    })
}

/// Times the conv stack of `cfg`'s encoder on its own (`None` for an MLP encoder).
fn conv_breakdown(
    cfg: &BenchStepConfig,
    threads: usize,
    rng: &mut MibRng,
) -> Result<Option<ConvBreakdown>> {
    let Some(stack_cfg) = cfg
        .model
        .encoder
        .as_ref()
        .and_then(EncoderConfig::conv_stack)
    else {
        return Ok(None);
    };
    let obj = cfg.model.objective;
    let two_views = matches!(obj, ObjectiveKind::Mib | ObjectiveKind::MvInfomax);
    let rows = if two_views && cfg.model.shared_encoder {
        2 * cfg.batch
    } else {
        cfg.batch
    };
    let mut store = ParamStore::new();
    let mut stack = ConvStack::new(&mut store, "conv", "model.encoder", &stack_cfg, rows, false)?;
    stack.init_using(&mut store, rng);
    let x: Vec<f32> = (0..rows * stack.in_dim()).map(|_| rng.random()).collect();
    let dy: Vec<f32> = (0..rows * stack.out_dim())
        .map(|_| rng.random::<f32>() - 0.5)
        .collect();
    stack.input_mut(rows).copy_from_slice(&x);
    let reps = cfg.steps.clamp(3, 20);
    // one untimed pass to warm up
    stack.forward(store.values(), rows);
    stack.output_grad_mut(rows).copy_from_slice(&dy);
    let (p, g) = store.split();
    stack.backward(p, g, rows);
    let (mut f, mut b) = (0.0, 0.0);
    stack.set_profiling(true);
    for _ in 0..reps {
        let t = Instant::now();
        stack.forward(store.values(), rows);
        f += t.elapsed().as_secs_f64();
        let t = Instant::now();
        stack.output_grad_mut(rows).copy_from_slice(&dy);
        let (p, g) = store.split();
        stack.backward(p, g, rows);
        b += t.elapsed().as_secs_f64();
    }
    let phases = stack.take_profile();
    let per = |s: f64| 1e3 * s / reps as f64;
    Ok(Some(ConvBreakdown {
        rows,
        forward_ms: per(f),
        backward_ms: per(b),
        phases_ms: ConvPhases::NAMES
            .iter()
            .zip(phases.seconds())
            .map(|(n, s)| (n.to_string(), per(s / threads as f64)))
            .collect(),
    }))
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

/// The machine's measured ceiling for `f32` multiply-adds (see [`fma_peak`]).
#[derive(Clone, Debug, Serialize)]
pub struct PeakReport {
    /// Threads that ran at once, one per core.
    pub threads: usize,
    /// The instruction set used: `avx512f`, `avx2+fma` or `scalar`.
    pub isa: &'static str,
    /// GFLOP/s of all threads together (a multiply-add counts as 2 FLOP).
    pub gflop_per_s: f64,
}

/// Bytes an f32 Adam update moves per parameter: reads parameter, gradient and both moments,
/// writes parameter and both moments.
pub const ADAM_BYTES_PER_PARAM: usize = 28;

/// The fastest time, in milliseconds, of a pass with an Adam update's memory traffic
/// ([`ADAM_BYTES_PER_PARAM`] per value: read four arrays, write three, with a single add per value
/// instead of Adam's arithmetic) over `params` values on `threads` threads, caches flushed before
/// each of `reps` passes: the memory floor of any f32 Adam update of that many parameters.
pub fn adam_stream_floor_ms(threads: usize, params: usize, reps: usize) -> Result<f64> {
    if threads == 0 {
        return Err(Error::config("threads", 0, "must be positive"));
    }
    let n = params.max(1);
    let (mut p, mut m, mut v) = (vec![1.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
    let g = vec![1e-3f32; n];
    // larger than the last-level caches of current desktop and server parts; read (not written)
    // before each pass, so that the caches hold no dirty lines to write back during it
    let flush = vec![1u8; 128 << 20];
    let chunk = n.div_ceil(threads);
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let mut sink = 0u8;
        for f in flush.iter().step_by(64) {
            sink ^= *f;
        }
        std::hint::black_box(sink);
        let t = Instant::now();
        std::thread::scope(|s| {
            let parts = p
                .chunks_mut(chunk)
                .zip(m.chunks_mut(chunk))
                .zip(v.chunks_mut(chunk))
                .zip(g.chunks(chunk));
            for (((p, m), v), g) in parts {
                s.spawn(move || {
                    for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g)
                    {
                        // the traffic of an update without its arithmetic
                        *m += g;
                        *v += g;
                        *p -= *m + *v;
                    }
                });
            }
        });
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(&p);
    Ok(1e3 * best)
}

/// Independent accumulator chains: enough to cover the multiply-add latency times the issue
/// width of current x86 cores (4-5 cycles x 2 pipes).
const CHAINS: usize = 12;

/// Measures the `f32` multiply-add ceiling of `threads` cores running at once: each thread runs
/// [`CHAINS`] independent chains of fused multiply-adds in registers (no memory traffic) for about
/// `millis` milliseconds, with the widest vectors the CPU has. No matrix product can beat this
/// number, so `gflop_per_step / gflop_per_s` of it bounds the step rate of any implementation.
pub fn fma_peak(threads: usize, millis: u64) -> Result<PeakReport> {
    if threads == 0 {
        return Err(Error::config("threads", 0, "must be positive"));
    }
    let (isa, lanes) = fma_isa();
    // calibrate the iteration count on one thread, then run all threads at once
    let mut iters: u64 = 1 << 14;
    loop {
        let t = Instant::now();
        std::hint::black_box(fma_chains(iters));
        let el = t.elapsed().as_secs_f64();
        if el > 0.02 || iters > 1 << 36 {
            iters = ((iters as f64) * (millis.max(1) as f64 / 1e3) / el.max(1e-9)).max(1.0) as u64;
            break;
        }
        iters *= 4;
    }
    let start = std::sync::Barrier::new(threads);
    let elapsed: Vec<f64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    let t = Instant::now();
                    std::hint::black_box(fma_chains(iters));
                    t.elapsed().as_secs_f64()
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or(f64::NAN))
            .collect()
    });
    let slowest = elapsed.iter().fold(1e-9f64, |a, &b| a.max(b));
    let flop = threads as f64 * iters as f64 * (CHAINS * lanes * 2) as f64;
    Ok(PeakReport {
        threads,
        isa,
        gflop_per_s: flop / slowest / 1e9,
    })
}

fn fma_isa() -> (&'static str, usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return ("avx512f", 16);
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return ("avx2+fma", 8);
        }
    }
    ("scalar", 1)
}

/// `iters` rounds of [`CHAINS`] independent multiply-adds; returns their sum so that none is
/// optimised away.
fn fma_chains(iters: u64) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            return unsafe { fma_chains_avx512(iters) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { fma_chains_avx2(iters) };
        }
    }
    let mut acc = [0.0f32; CHAINS];
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = a.mul_add(0.999_999, 1e-7);
        }
        std::hint::black_box(&mut acc);
    }
    acc.iter().sum()
}

/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_chains_avx512(iters: u64) -> f32 {
    // `_mm512_*` intrinsics need Rust 1.89; the loop is small enough to write out.
    if iters == 0 {
        return 0.0;
    }
    let (a, b) = (0.999_999f32, 1e-7f32);
    let mut lanes = [0.0f32; 16];
    std::arch::asm!(
        "vxorps ymm0, ymm0, ymm0", "vxorps ymm1, ymm1, ymm1", "vxorps ymm2, ymm2, ymm2",
        "vxorps ymm3, ymm3, ymm3", "vxorps ymm4, ymm4, ymm4", "vxorps ymm5, ymm5, ymm5",
        "vxorps ymm6, ymm6, ymm6", "vxorps ymm7, ymm7, ymm7", "vxorps ymm8, ymm8, ymm8",
        "vxorps ymm9, ymm9, ymm9", "vxorps ymm10, ymm10, ymm10", "vxorps ymm11, ymm11, ymm11",
        "vbroadcastss zmm12, dword ptr [{a}]",
        "vbroadcastss zmm13, dword ptr [{b}]",
        "2:",
        "vfmadd213ps zmm0, zmm12, zmm13", "vfmadd213ps zmm1, zmm12, zmm13",
        "vfmadd213ps zmm2, zmm12, zmm13", "vfmadd213ps zmm3, zmm12, zmm13",
        "vfmadd213ps zmm4, zmm12, zmm13", "vfmadd213ps zmm5, zmm12, zmm13",
        "vfmadd213ps zmm6, zmm12, zmm13", "vfmadd213ps zmm7, zmm12, zmm13",
        "vfmadd213ps zmm8, zmm12, zmm13", "vfmadd213ps zmm9, zmm12, zmm13",
        "vfmadd213ps zmm10, zmm12, zmm13", "vfmadd213ps zmm11, zmm12, zmm13",
        "dec {n}",
        "jnz 2b",
        "vaddps zmm0, zmm0, zmm1", "vaddps zmm2, zmm2, zmm3", "vaddps zmm4, zmm4, zmm5",
        "vaddps zmm6, zmm6, zmm7", "vaddps zmm8, zmm8, zmm9", "vaddps zmm10, zmm10, zmm11",
        "vaddps zmm0, zmm0, zmm2", "vaddps zmm4, zmm4, zmm6", "vaddps zmm8, zmm8, zmm10",
        "vaddps zmm0, zmm0, zmm4", "vaddps zmm0, zmm0, zmm8",
        "vmovups zmmword ptr [{out}], zmm0",
        n = inout(reg) iters => _,
        a = in(reg) &a,
        b = in(reg) &b,
        out = in(reg) lanes.as_mut_ptr(),
        out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _, out("zmm4") _,
        out("zmm5") _, out("zmm6") _, out("zmm7") _, out("zmm8") _, out("zmm9") _,
        out("zmm10") _, out("zmm11") _, out("zmm12") _, out("zmm13") _,
        options(nostack),
    );
    lanes.iter().sum()
}

/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_chains_avx2(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_setzero_ps(); CHAINS];
    let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    for _ in 0..iters {
        for r in acc.iter_mut() {
            *r = _mm256_fmadd_ps(*r, a, b);
        }
    }
    let mut s = _mm256_setzero_ps();
    for r in acc {
        s = _mm256_add_ps(s, r);
    }
    let mut lanes = [0.0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), s);
    lanes.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fma_peak_reports_a_positive_rate_and_rejects_zero_threads() {
        let r = fma_peak(1, 5).unwrap();
        assert!(r.gflop_per_s.is_finite() && r.gflop_per_s > 0.0, "{r:?}");
        assert!(fma_peak(0, 5).is_err());
        let ms = adam_stream_floor_ms(2, 1000, 1).unwrap();
        assert!(ms.is_finite() && ms > 0.0);
        assert!(adam_stream_floor_ms(0, 1000, 1).is_err());
    }

    #[test]
    fn fma_chains_compute_the_recurrence() {
        // 3 rounds of a <- 0.999999 a + 1e-7 from 0, in every lane of every chain
        let one = (0..3).fold(0.0f32, |a, _| a.mul_add(0.999_999, 1e-7));
        let (_, lanes) = fma_isa();
        let want = one * (CHAINS * lanes) as f32;
        assert!((fma_chains(3) - want).abs() <= 1e-6 * want.abs().max(1e-12));
    }
}
