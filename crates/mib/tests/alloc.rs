//! Heap allocations of a steady-state training step, counted with a global allocator (in its own
//! test binary, so the allocator only sees this file's work).
//!
//! The step runs inside a rayon pool (`install`), as a training loop on a worker thread does, so
//! that `rayon::join` uses the worker's deque instead of the global injector. Only the threads of
//! that pool are counted (libtest runs the tests of this file side by side, each with its own
//! pool), and the measurements are serialised by a mutex since the counters are global.
//!
//! Allocations made inside `gemm` (its packing buffers) are counted separately. Every other
//! allocation would be ours (or rayon's), and there must be none, at any step after warm-up.
//! `gemm`'s own count is not ours to pin: it varies with the build (constant in the test profile,
//! falling over the first steps in release, e.g. 62, 45, 28, 20, 14, as its per-thread caches
//! warm up), so it is only required to stay bounded by what warm-up saw.

use mib::objectives::{AdamConfig, ModelConfig, ObjectiveKind, TrainStep};
use mib::MibRng;
use rand::{Rng, SeedableRng};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

struct Counting;

thread_local! {
    /// Set on the threads of the pool being measured (and only there).
    static MEASURED: Cell<bool> = const { Cell::new(false) };
}

/// One measurement at a time: the counters below are shared by the whole test binary.
static SERIAL: Mutex<()> = Mutex::new(());

/// Untimed steps first. (`gemm` also lazily creates a per-thread packing slab, `L2_SLAB`, the first
/// time a thread multiplies; a broadcast makes every pool thread do so before counting, since which
/// thread first runs which half otherwise depends on work stealing.)
const WARMUP: usize = 20;

static ON: AtomicBool = AtomicBool::new(false);
static IN_GEMM: AtomicUsize = AtomicUsize::new(0);
static OTHER: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) && MEASURED.try_with(|m| m.get()).unwrap_or(false) {
            if mib::nn::matmul::inside_gemm() {
                IN_GEMM.fetch_add(1, Ordering::Relaxed);
            } else {
                OTHER.fetch_add(1, Ordering::Relaxed);
            }
        }
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Per step, after warm-up: (allocations inside `gemm`, elsewhere); and the most `gemm` made in
/// one warm-up step.
fn counts(cfg: &ModelConfig, in_dim: usize, threads: usize) -> (Vec<(usize, usize)>, usize) {
    counts_k(cfg, in_dim, 2, threads)
}

/// [`counts`] for a step over `k` views of width `in_dim`.
fn counts_k(
    cfg: &ModelConfig,
    in_dim: usize,
    k: usize,
    threads: usize,
) -> (Vec<(usize, usize)>, usize) {
    counts_masked(cfg, in_dim, k, threads, false)
}

/// [`counts_k`]; `masked`: the batches lack views (a different mask every step, through
/// [`TrainStep::step_masked`]).
fn counts_masked(
    cfg: &ModelConfig,
    in_dim: usize,
    k: usize,
    threads: usize,
    masked: bool,
) -> (Vec<(usize, usize)>, usize) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(|_| MEASURED.with(|m| m.set(true)))
        .build()
        .unwrap();
    pool.install(|| {
        let mut rng = MibRng::seed_from_u64(0);
        let batch = 32;
        let n_classes = if cfg.objective == ObjectiveKind::Supervised || cfg.label_weight > 0.0 {
            10
        } else {
            0
        };
        let mut step = TrainStep::new(
            cfg,
            &AdamConfig::default(),
            &vec![in_dim; k],
            n_classes,
            batch,
            &mut rng,
        )
        .unwrap();
        let v: Vec<f32> = (0..batch * in_dim).map(|_| rng.random()).collect();
        let views: Vec<&[f32]> = vec![&v[..]; k];
        let labels: Vec<u32> = (0..batch as u32).map(|i| i % 10).collect();
        let lab = if cfg.objective == ObjectiveKind::Supervised {
            Some(&labels[..])
        } else {
            // semi-supervised: the first 8 rows are labelled
            (cfg.label_weight > 0.0).then_some(&labels[..8])
        };
        let mut out = vec![];
        let mut warmup_max = 0;
        let mut present = vec![1u8; k * batch];
        for i in 0..WARMUP + MEASURED_STEPS {
            if masked {
                for (j, p) in present.iter_mut().enumerate() {
                    *p = u8::from((j + i) % 3 != 0);
                }
            }
            IN_GEMM.store(0, Ordering::SeqCst);
            OTHER.store(0, Ordering::SeqCst);
            ON.store(true, Ordering::SeqCst);
            if masked {
                step.step_masked(&views, Some(&present), lab, batch, 0.1, &mut rng)
                    .unwrap();
            } else {
                step.step(&views, lab, batch, 0.1, &mut rng).unwrap();
            }
            ON.store(false, Ordering::SeqCst);
            let c = (IN_GEMM.load(Ordering::SeqCst), OTHER.load(Ordering::SeqCst));
            if i >= WARMUP {
                out.push(c);
            } else {
                warmup_max = warmup_max.max(c.0);
            }
        }
        (out, warmup_max)
    })
}

/// Steps counted after warm-up.
const MEASURED_STEPS: usize = 10;

/// Nothing outside `gemm` allocates in any counted step, and `gemm`'s count stays within what it
/// made during warm-up (it may fall as its caches fill, never grow).
fn check(what: &str, (c, warmup_max): &(Vec<(usize, usize)>, usize)) {
    eprintln!(
        "{what}: allocations per step (inside gemm, elsewhere) = {c:?}, warm-up max {warmup_max}"
    );
    assert!(
        c.iter().all(|&(_, other)| other == 0),
        "{what}: allocations outside gemm: {c:?}"
    );
    assert!(
        c.iter().all(|&(g, _)| g <= *warmup_max),
        "{what}: gemm allocates more than during warm-up ({warmup_max}): {c:?}"
    );
}

/// After warm-up, every allocation of a step happens inside `gemm`.
#[test]
fn steady_state_step_allocates_only_inside_gemm() {
    for objective in [
        ObjectiveKind::Mib,
        ObjectiveKind::Infomax,
        ObjectiveKind::Vae,
        ObjectiveKind::Supervised,
    ] {
        let cfg = ModelConfig {
            objective,
            encoder_hidden: vec![256, 256],
            critic_hidden: vec![256, 256],
            decoder_hidden: vec![256],
            ..ModelConfig::default()
        };
        check(&format!("{objective:?}"), &counts(&cfg, 196, 1));
    }
    // the reference architecture (784-1024-1024-2x64, critic 1024-1024)
    check("reference MIB", &counts(&ModelConfig::default(), 784, 1));
    // a layer-normalised encoder with the separable InfoNCE critic (the `fast` family)
    let cfg = ModelConfig {
        encoder_hidden: vec![256, 256],
        encoder_norm: mib::objectives::EncoderNorm::Layer,
        critic: mib::estimators::CriticKind::Separable,
        estimator: mib::estimators::EstimatorKind::InfoNce,
        ..ModelConfig::default()
    };
    check("MIB, layer norm", &counts(&cfg, 196, 1));
}

/// A step with a convolutional encoder (1 -> 8 -> 16 channels on 14x14 images, a dense head)
/// allocates nothing outside `gemm` either, on one thread and on two, flattened and pooled.
#[test]
fn conv_encoder_step_allocates_only_inside_gemm() {
    use mib::objectives::EncoderPool;
    let mut enc = mib::objectives::EncoderConfig::conv(vec![8, 16], [1, 14, 14]);
    enc.strides = vec![2, 2];
    for (threads, norm, pool) in [
        (1, false, EncoderPool::Flatten),
        (2, true, EncoderPool::Flatten),
        (2, false, EncoderPool::Mean),
    ] {
        enc.norm = norm;
        enc.pool = pool.clone();
        let cfg = ModelConfig {
            encoder: Some(enc.clone()),
            encoder_hidden: vec![64],
            critic_hidden: vec![64],
            ..ModelConfig::default()
        };
        check(
            &format!("MIB, conv encoder, {threads} threads, norm {norm}, pool {pool:?}"),
            &counts(&cfg, 196, threads),
        );
    }
}

/// The semi-supervised mode's classifier term allocates nothing either (complete and masked
/// batches, shared and separate encoders).
#[test]
fn semi_supervised_step_allocates_only_inside_gemm() {
    for (shared_encoder, masked) in [(true, false), (false, true)] {
        let cfg = ModelConfig {
            encoder_hidden: vec![128],
            critic_hidden: vec![128],
            shared_encoder,
            label_weight: 1.0,
            ..ModelConfig::default()
        };
        check(
            &format!("MIB semi-supervised, shared = {shared_encoder}, masked = {masked}"),
            &counts_masked(&cfg, 64, 2, 1, masked),
        );
    }
}

/// With two threads nothing outside `gemm` allocates either (which pool thread runs which half of
/// a split product varies with work stealing, and `gemm` keeps per-thread state, so its count may
/// move by one or two between steps).
#[test]
fn two_threads_allocate_only_inside_gemm() {
    let cfg = ModelConfig {
        encoder_hidden: vec![256, 256],
        critic_hidden: vec![256, 256],
        ..ModelConfig::default()
    };
    check("MIB, 2 threads", &counts(&cfg, 196, 2));
}

/// Over K = 4 views (six pairs, shared and separate encoders) nothing outside `gemm` allocates.
#[test]
fn k_view_step_allocates_only_inside_gemm() {
    for shared_encoder in [true, false] {
        let cfg = ModelConfig {
            encoder_hidden: vec![128],
            critic_hidden: vec![128],
            shared_encoder,
            ..ModelConfig::default()
        };
        check(
            &format!("MIB, 4 views, shared = {shared_encoder}"),
            &counts_k(&cfg, 64, 4, 1),
        );
    }
}

/// Batches that lack views (issue 24): the masked MIB step over K = 3 views allocates nothing
/// outside `gemm` either (its gathering buffers are reserved once, at the first masked step).
#[test]
fn masked_step_allocates_only_inside_gemm() {
    for (shared_encoder, critic, estimator) in [
        (
            false,
            mib::estimators::CriticKind::Mlp,
            mib::estimators::EstimatorKind::Jsd,
        ),
        (
            true,
            mib::estimators::CriticKind::Separable,
            mib::estimators::EstimatorKind::InfoNce,
        ),
    ] {
        let cfg = ModelConfig {
            encoder_hidden: vec![128],
            critic_hidden: vec![128],
            shared_encoder,
            critic,
            estimator,
            ..ModelConfig::default()
        };
        check(
            &format!("masked MIB, 3 views, shared = {shared_encoder}, {critic:?}"),
            &counts_masked(&cfg, 64, 3, 1, true),
        );
    }
}

/// Per forward + backward of a conv stack (1 -> 8 -> 16 channels, 3x3, strides 1 and 2, on 14x14
/// images, 32 rows; with norms when `norm`; the output pooled by `conv_pool`), after warm-up: as
/// [`counts`].
fn conv_counts(
    threads: usize,
    norm: bool,
    conv_pool: mib::nn::ConvPool,
) -> (Vec<(usize, usize)>, usize) {
    use mib::nn::{ConvLayerConfig, ConvStack, ConvStackConfig, ParamStore};
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(|_| MEASURED.with(|m| m.set(true)))
        .build()
        .unwrap();
    pool.install(|| {
        let mut rng = MibRng::seed_from_u64(0);
        let rows = 32;
        let cfg = ConvStackConfig {
            in_channels: 1,
            height: 14,
            width: 14,
            layers: vec![
                ConvLayerConfig::new(8, 3, 1, 1),
                ConvLayerConfig::new(16, 3, 2, 1),
            ],
            norm,
            pool: conv_pool,
        };
        let mut store = ParamStore::new();
        let mut stack =
            ConvStack::new(&mut store, "conv", "model.encoder", &cfg, rows, true).unwrap();
        stack.init_using(&mut store, &mut rng);
        let x: Vec<f32> = (0..rows * stack.in_dim()).map(|_| rng.random()).collect();
        let dy: Vec<f32> = (0..rows * stack.out_dim())
            .map(|_| rng.random::<f32>() - 0.5)
            .collect();
        let mut out = vec![];
        let mut warmup_max = 0;
        for i in 0..WARMUP + MEASURED_STEPS {
            IN_GEMM.store(0, Ordering::SeqCst);
            OTHER.store(0, Ordering::SeqCst);
            ON.store(true, Ordering::SeqCst);
            stack.input_mut(rows).copy_from_slice(&x);
            stack.forward(store.values(), rows);
            stack.output_grad_mut(rows).copy_from_slice(&dy);
            let (p, g) = store.split();
            stack.backward(p, g, rows);
            ON.store(false, Ordering::SeqCst);
            let c = (IN_GEMM.load(Ordering::SeqCst), OTHER.load(Ordering::SeqCst));
            if i >= WARMUP {
                out.push(c);
            } else {
                warmup_max = warmup_max.max(c.0);
            }
        }
        (out, warmup_max)
    })
}

/// A conv stack's forward and backward passes allocate nothing outside `gemm`, on one thread and
/// on two, with and without norms, flattened and pooled.
#[test]
fn conv_stack_allocates_only_inside_gemm() {
    use mib::nn::ConvPool::{Flatten, Mean};
    check("conv stack, 1 thread", &conv_counts(1, false, Flatten));
    check("conv stack, 2 threads", &conv_counts(2, false, Flatten));
    check(
        "conv stack with norms, 2 threads",
        &conv_counts(2, true, Flatten),
    );
    check("pooled conv stack, 1 thread", &conv_counts(1, false, Mean));
    check(
        "pooled conv stack with norms, 2 threads",
        &conv_counts(2, true, Mean),
    );
}
