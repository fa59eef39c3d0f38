//! The thread pool that runs the compute core: owned by whoever calls the library, never rayon's
//! global pool (which a second caller, e.g. a Python session, could not resize).
//!
//! A [`ComputePool`] builds its rayon pool on first use and rebuilds it in a forked child (the
//! parent's pool threads do not exist there; using them would hang), so a model held by a
//! process that forks (Python's `multiprocessing` on Linux) keeps working in the child.

use std::sync::{Arc, Mutex};

use crate::{Error, Result};

/// A lazily built, fork-aware rayon pool of a fixed number of threads.
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
        threads
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
