//! Heap allocations of a steady-state training step, counted with a global allocator (in its own
//! test binary, so the allocator only sees this file's work).
//!
//! The step runs inside a rayon pool (`install`), as a training loop on a worker thread does, so
//! that `rayon::join` uses the worker's deque instead of the global injector. Allocations made
//! inside `gemm` (its per-call packing buffers) are counted separately; every other allocation
//! would be ours (or rayon's), and there must be none.

use mib::objectives::{AdamConfig, ModelConfig, ObjectiveKind, TrainStep};
use mib::MibRng;
use rand::{Rng, SeedableRng};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

struct Counting;

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

fn counts(cfg: &ModelConfig, in_dim: usize) -> Vec<(usize, usize)> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
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
        for i in 0..8 {
            IN_GEMM.store(0, Ordering::SeqCst);
            OTHER.store(0, Ordering::SeqCst);
            ON.store(true, Ordering::SeqCst);
            step.step(&[&v, &v], lab, batch, 0.1, &mut rng).unwrap();
            ON.store(false, Ordering::SeqCst);
            if i >= 3 {
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
        let c = counts(&cfg, 196);
        eprintln!("{objective:?}: allocations per step (inside gemm, elsewhere) = {c:?}");
        assert!(
            c.iter().all(|&x| x == c[0]),
            "{objective:?}: not constant: {c:?}"
        );
        assert_eq!(c[0].1, 0, "{objective:?}: allocations outside gemm");
    }
    // the reference architecture (784-1024-1024-2x64, critic 1024-1024)
    let c = counts(&ModelConfig::default(), 784);
    eprintln!("reference MIB: allocations per step (inside gemm, elsewhere) = {c:?}");
    assert!(c.iter().all(|&x| x == c[0]) && c[0].1 == 0, "{c:?}");
}
