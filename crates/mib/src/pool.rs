//! The thread pool that runs the compute core: owned by whoever calls the library, never rayon's
//! global pool (which a second caller, e.g. a Python session, could not resize).
//!
//! A [`ComputePool`] builds its rayon pool on first use and rebuilds it in a forked child (the
//! parent's pool threads do not exist there; using them would hang), so a model held by a
//! process that forks (Python's `multiprocessing` on Linux) keeps working in the child.

use std::sync::{Arc, Mutex};

use crate::{Error, Result};

/// Sets the calling thread to flush subnormal floats to zero (x86 MXCSR: flush-to-zero for
/// results, denormals-are-zero for inputs), as `torch.set_flush_denormal(True)` does.
///
/// Long runs drift into subnormals: the gradients and Adam moments of dead ReLU units decay
/// towards 0 through the subnormal range, where x86 arithmetic is 10-100x slower. The reference
/// recipe's MV-InfoMax fell from 40 to 13 iterations/s by iteration 70,000, 77 % of it in the
/// `gemm` microkernel, and an Adam update over a state with a third of its moments subnormal took
/// 39 ms instead of 2 (`cargo run --release -p mib --example adam_subnormal`). Only values below
/// 1.2e-38 change, to 0. Training, inference and evaluation all compute on these threads, so their
/// results do not depend on the calling thread. Other CPUs than x86-64 keep IEEE subnormals.
pub fn flush_subnormals() {
    #[cfg(target_arch = "x86_64")]
    #[allow(deprecated)] // the replacement is inline assembly, which says the same less clearly
    // SAFETY: sets two MXCSR mode bits of this thread; no memory is touched.
    unsafe {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        const FTZ: u32 = 1 << 15;
        const DAZ: u32 = 1 << 6;
        _mm_setcsr(_mm_getcsr() | FTZ | DAZ);
    }
}

/// A lazily built, fork-aware rayon pool of a fixed number of threads; its threads flush
/// subnormal floats to zero ([`flush_subnormals`]).
pub struct ComputePool {
    threads: usize,
    inner: Mutex<Option<(u32, Arc<rayon::ThreadPool>)>>,
}

impl std::fmt::Debug for ComputePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComputePool")
            .field("threads", &self.threads)
            .finish()
    }
}

impl Clone for ComputePool {
    /// A pool of the same size (built anew on first use).
    fn clone(&self) -> Self {
        ComputePool::new(self.threads)
    }
}

/// The number of threads `threads` stands for: itself, or every available core when 0.
pub fn resolve_threads(threads: usize) -> usize {
    if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        // configs are refused above the limit; callers that pass a count directly are held to it
        threads.min(crate::config::MAX_THREADS)
    }
}

impl ComputePool {
    /// A pool of `threads` threads (0 = every available core).
    pub fn new(threads: usize) -> Self {
        ComputePool {
            threads: resolve_threads(threads),
            inner: Mutex::new(None),
        }
    }

    /// The number of threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    fn pool(&self) -> Result<Arc<rayon::ThreadPool>> {
        let pid = std::process::id();
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match g.as_ref() {
            Some((p, pool)) if *p == pid => return Ok(Arc::clone(pool)),
            Some(_) => {
                // A forked child: the parent's threads are gone. Dropping the stale pool would
                // signal threads that do not exist (and could wait on a lock held at fork time),
                // so it is leaked.
                if let Some(stale) = g.take() {
                    std::mem::forget(stale);
                }
            }
            None => {}
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads)
            .thread_name(|i| format!("mib-compute-{i}"))
            .start_handler(|_| flush_subnormals())
            .build()
            .map_err(|e| Error::Data(format!("starting {} compute threads: {e}", self.threads)))?;
        let pool = Arc::new(pool);
        *g = Some((pid, Arc::clone(&pool)));
        Ok(pool)
    }

    /// Runs `f` on the pool (from the calling thread; it returns when `f` has).
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Result<R> {
        Ok(self.pool()?.install(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On the compute threads a product below the normal range is 0, and a subnormal input reads
    /// as 0; elsewhere IEEE arithmetic is left as it is.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn compute_threads_flush_subnormals() {
        let (a, b) = (
            std::hint::black_box(1e-30f32),
            std::hint::black_box(1e-10f32),
        );
        let sub = std::hint::black_box(1e-40f32);
        assert!(sub.is_subnormal());
        let pool = ComputePool::new(2);
        let (prod, plus) = pool.install(|| (a * b, sub + 0.0)).unwrap();
        assert_eq!((prod, plus), (0.0, 0.0));
        std::thread::spawn(move || assert!((a * b).is_subnormal()))
            .join()
            .unwrap();
    }
}
