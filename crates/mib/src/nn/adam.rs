//! Adam (Kingma & Ba, 2015) with PyTorch's semantics, fused and in place over flat buffers.
//!
//! Follows `torch.optim.adam._single_tensor_adam` (no weight decay, no amsgrad):
//! `m = m + (1 - b1) (g - m)`, `v = b2 v + (1 - b2) g^2`,
//! `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.

use rayon::prelude::*;
use std::ops::Range;

/// Values per parallel chunk (keeps the update memory-bound and the split independent of threads).
const CHUNK: usize = 1 << 15;

/// The scalars of one update.
#[derive(Clone, Copy)]
struct Kernel {
    b1: f32,
    b2: f32,
    eps: f32,
    inv_bc2_sqrt: f32,
    step_size: f32,
}

impl Kernel {
    #[inline(always)]
    fn run(self, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
        let Kernel {
            b1,
            b2,
            eps,
            inv_bc2_sqrt,
            step_size,
        } = self;
        for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
            let mi = *m + (1.0 - b1) * (g - *m);
            let vi = *v * b2 + (1.0 - b2) * g * g;
            *m = mi;
            *v = vi;
            let denom = vi.sqrt() * inv_bc2_sqrt + eps;
            *p -= step_size * (mi / denom);
        }
    }

    /// [`Kernel::run`] compiled for AVX-512 (same arithmetic, wider vectors).
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn run_avx512(self, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
        self.run(p, m, v, g)
    }
}

/// Adam state over a flat parameter buffer, with one learning rate per contiguous range.
#[derive(Clone, Debug)]
pub struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    t: u64,
    beta1: f32,
    beta2: f32,
    eps: f32,
    groups: Vec<(Range<usize>, f32)>,
}

impl Adam {
    /// Adam for `n` parameters; `groups` gives each parameter range its learning rate (ranges not
    /// listed are not updated).
    pub fn new(
        n: usize,
        beta1: f32,
        beta2: f32,
        eps: f32,
        groups: Vec<(Range<usize>, f32)>,
    ) -> crate::Result<Self> {
        Ok(Adam {
            m: crate::memory::try_zeros(n, "Adam's first moments")?,
            v: crate::memory::try_zeros(n, "Adam's second moments")?,
            t: 0,
            beta1,
            beta2,
            eps,
            groups,
        })
    }
    /// The number of steps taken.
    pub fn step_count(&self) -> u64 {
        self.t
    }
    /// First-moment estimates (same layout as the parameters).
    pub fn m(&self) -> &[f32] {
        &self.m
    }
    /// Second-moment estimates.
    pub fn v(&self) -> &[f32] {
        &self.v
    }
    /// Moments and step count, mutable (for loading a checkpoint).
    pub fn state_mut(&mut self) -> (&mut [f32], &mut [f32], &mut u64) {
        (&mut self.m, &mut self.v, &mut self.t)
    }
    /// One update of `params` with `grads`.
    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        self.t += 1;
        let t = self.t as i32;
        let bc1 = 1.0 - (self.beta1 as f64).powi(t);
        // multiplying by 1 / sqrt(1 - b2^t) instead of dividing differs from torch by at most an ulp
        let inv_bc2_sqrt = (1.0 / (1.0 - (self.beta2 as f64).powi(t)).sqrt()) as f32;
        let (b1, b2, eps) = (self.beta1, self.beta2, self.eps);
        for (range, lr) in &self.groups {
            let step_size = (*lr as f64 / bc1) as f32;
            let p = &mut params[range.clone()];
            let g = &grads[range.clone()];
            let m = &mut self.m[range.clone()];
            let v = &mut self.v[range.clone()];
            p.par_chunks_mut(CHUNK)
                .zip(m.par_chunks_mut(CHUNK))
                .zip(v.par_chunks_mut(CHUNK))
                .zip(g.par_chunks(CHUNK))
                .for_each(|(((p, m), v), g)| {
                    let k = Kernel {
                        b1,
                        b2,
                        eps,
                        inv_bc2_sqrt,
                        step_size,
                    };
                    #[cfg(target_arch = "x86_64")]
                    if std::arch::is_x86_feature_detected!("avx512f") {
                        // SAFETY: the CPU supports AVX-512F (checked just above).
                        return unsafe { k.run_avx512(p, m, v, g) };
                    }
                    k.run(p, m, v, g)
                });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On the compute pool (which flushes subnormals, `crate::pool::flush_subnormals`) moments
    /// decaying below the normal range become 0; the parameters move as Adam without the flush
    /// moves them (an f64 reference, to 1e-6), and those whose moments were flushed stay.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn subnormal_moments_are_flushed_without_changing_the_update() {
        let n = 3 * CHUNK + 5;
        let mut a = Adam::new(n, 0.9, 0.999, 1e-8, vec![(0..n, 1e-3)]).unwrap();
        let (m, v, _) = a.state_mut();
        for i in 0..n {
            (m[i], v[i]) = if i % 3 == 0 {
                (1e-39, 1e-40)
            } else {
                (1e-4, 1e-8)
            };
        }
        let g: Vec<f32> = (0..n)
            .map(|i| if i % 3 == 0 { 0.0 } else { 1e-3 })
            .collect();
        let mut p = vec![0.01f32; n];
        let mut want = p.clone();
        // the update without the flush, in f64
        let (b1, b2) = (0.9f64, 0.999f64);
        for i in 0..n {
            let (m0, v0) = if i % 3 == 0 {
                (1e-39, 1e-40)
            } else {
                (1e-4, 1e-8)
            };
            let gi = g[i] as f64;
            let mi = m0 + (1.0 - b1) * (gi - m0);
            let vi = b2 * v0 + (1.0 - b2) * gi * gi;
            let upd = 1e-3 / (1.0 - b1) * mi / (vi.sqrt() / (1.0 - b2).sqrt() + 1e-8);
            want[i] = (want[i] as f64 - upd) as f32;
        }
        crate::pool::ComputePool::new(2)
            .install(|| a.step(&mut p, &g))
            .unwrap();
        for i in 0..n {
            assert!(
                (p[i] - want[i]).abs() <= 1e-6 * want[i].abs(),
                "param {i}: {} vs {}",
                p[i],
                want[i]
            );
            if i % 3 == 0 {
                assert_eq!((a.m()[i], a.v()[i], p[i]), (0.0, 0.0, 0.01), "item {i}");
            }
        }
        assert!(!a.m().iter().chain(a.v()).any(|x| x.is_subnormal()));
    }
}
