//! Heap allocations of a steady-state training step, counted with a global allocator (in its own
//! test binary, so the allocator only sees this file's work).
//!
//! The step runs inside a rayon pool (`install`), as a training loop on a worker thread does, so
//! that `rayon::join` uses the worker's deque instead of the global injector. Allocations made
//! inside `gemm` (its per-call packing buffers) are counted separately; every other allocation
//! would be ours (or rayon's), and there must be none.
//! Measured here: 28 per step for MIB at this size, 36 for the reference architecture.

use mib::objectives::{AdamConfig, ModelConfig, ObjectiveKind, TrainStep};
use mib::MibRng;
use rand::{Rng, SeedableRng};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

struct Counting;

/// Untimed steps first. (`gemm` also lazily creates a per-thread packing slab, `L2_SLAB`, the first
/// time a thread multiplies; a broadcast makes every pool thread do so before counting, since which
/// thread first runs which half otherwise depends on work stealing.)
const WARMUP: usize = 20;

static ON: AtomicBool = AtomicBool::new(false);
static IN_GEMM: AtomicUsize = AtomicUsize::new(0);
static OTHER: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
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

fn counts(cfg: &ModelConfig, in_dim: usize, threads: usize) -> Vec<(usize, usize)> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut rng = MibRng::seed_from_u64(0);
        let batch = 32;
        let n_classes = if cfg.objective == ObjectiveKind::Supervised {
            10
        } else {
            0
        };
        let mut step = TrainStep::new(
            cfg,
            &AdamConfig::default(),
            &[in_dim, in_dim],
            n_classes,
            batch,
            &mut rng,
        )
        .unwrap();
        let v: Vec<f32> = (0..batch * in_dim).map(|_| rng.random()).collect();
        let labels: Vec<u32> = (0..batch as u32).map(|i| i % 10).collect();
        let lab = (cfg.objective == ObjectiveKind::Supervised).then_some(&labels[..]);
        let mut out = vec![];
        for i in 0..WARMUP + 5 {
            IN_GEMM.store(0, Ordering::SeqCst);
            OTHER.store(0, Ordering::SeqCst);
            ON.store(true, Ordering::SeqCst);
            step.step(&[&v, &v], lab, batch, 0.1, &mut rng).unwrap();
            ON.store(false, Ordering::SeqCst);
            if i >= WARMUP {
                out.push((IN_GEMM.load(Ordering::SeqCst), OTHER.load(Ordering::SeqCst)));
            }
        }
        out
    })
}

/// The count per steady-state step is constant and every allocation happens inside `gemm`.
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
        let c = counts(&cfg, 196, 1);
        eprintln!("{objective:?}: allocations per step (inside gemm, elsewhere) = {c:?}");
        assert!(
            c.iter().all(|&x| x == c[0]),
            "{objective:?}: not constant: {c:?}"
        );
        assert_eq!(c[0].1, 0, "{objective:?}: allocations outside gemm");
    }
    // the reference architecture (784-1024-1024-2x64, critic 1024-1024)
    let c = counts(&ModelConfig::default(), 784, 1);
    eprintln!("reference MIB: allocations per step (inside gemm, elsewhere) = {c:?}");
    assert!(c.iter().all(|&x| x == c[0]) && c[0].1 == 0, "{c:?}");
}

/// With two threads nothing outside `gemm` allocates either; inside `gemm` the count per step is
/// the single-thread count, occasionally plus one (seen about once in 50 steps: which pool thread
/// runs which half of a split product varies with work stealing, and `gemm` keeps per-thread state).
#[test]
fn two_threads_allocate_only_inside_gemm() {
    let cfg = ModelConfig {
        encoder_hidden: vec![256, 256],
        critic_hidden: vec![256, 256],
        ..ModelConfig::default()
    };
    let one = counts(&cfg, 196, 1)[0].0;
    let c = counts(&cfg, 196, 2);
    eprintln!("MIB, 2 threads: {c:?}");
    assert!(
        c.iter()
            .all(|&(g, o)| o == 0 && (one..=one + 1).contains(&g)),
        "{c:?} vs {one}"
    );
}
