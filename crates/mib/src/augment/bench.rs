//! Throughput of the reference augmentation recipe.

use super::{Augment, AugmentConfig};
use crate::data::{BatchProducer, MultiViewDataset, PairingConfig};
use crate::{Matrix, MibRng, Result};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;

/// What [`bench_views`] measured.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BenchViewsReport {
    /// Image height and width.
    pub image: (usize, usize),
    /// Number of source images (each gives two views).
    pub images: usize,
    /// Views per second of the recipe alone, on one thread (a plain loop, no batching).
    pub views_per_sec_1thread: f64,
    /// Threads given to the batch producer.
    pub threads: usize,
    /// Batch size of the producer run.
    pub batch_size: usize,
    /// Views per second of one epoch through [`BatchProducer`] (shuffling, pairing, prefetching).
    pub producer_views_per_sec: f64,
    /// Seconds for that epoch (`2 * images` views).
    pub producer_epoch_seconds: f64,
}

/// Synthetic 28x28-like images in `[0, 1]` (a bright random blob on black), deterministic.
pub fn synthetic_images(n: usize, h: usize, w: usize, seed: u64) -> Matrix {
    let mut rng = MibRng::seed_from_u64(seed);
    let mut m = Matrix::zeros(n, h * w);
    for i in 0..n {
        let (cy, cx) = (
            rng.random_range(0.3..0.7) * h as f32,
            rng.random_range(0.3..0.7) * w as f32,
        );
        let r = rng.random_range(0.15..0.35) * h as f32;
        for (k, px) in m.row_mut(i).iter_mut().enumerate() {
            let (y, x) = ((k / w) as f32, (k % w) as f32);
            let d = ((y - cy).powi(2) + (x - cx).powi(2)).sqrt();
            *px = if d < r {
                1.0 - d / r * rng.random::<f32>() * 0.5
            } else {
                0.0
            };
        }
    }
    m
}

/// Measures views per second of [`AugmentConfig::reference`] on `images` synthetic `h x w` images:
/// a single-threaded loop, then one epoch through a [`BatchProducer`] with `threads` threads and
/// batches of `batch_size`.
pub fn bench_views(
    images: usize,
    h: usize,
    w: usize,
    threads: usize,
    batch_size: usize,
    seed: u64,
) -> Result<BenchViewsReport> {
    let m = synthetic_images(images, h, w, seed);
    let aug = AugmentConfig::reference().build()?;
    let mut out = vec![0f32; h * w];
    let mut rng = MibRng::seed_from_u64(seed);
    let mut sink = 0f32;
    let t = Instant::now();
    for i in 0..images {
        for _ in 0..2 {
            aug.apply_using(m.row(i), &mut out, h, w, &mut rng);
            sink += out[(i * 7) % (h * w)];
        }
    }
    let single = 2.0 * images as f64 / t.elapsed().as_secs_f64();
    std::hint::black_box(sink);
    let ds = MultiViewDataset::new(vec![m], None, None)?.with_image_shape((h, w))?;
    let pairing = PairingConfig::augment(AugmentConfig::reference());
    let prod = BatchProducer::new(Arc::new(ds), pairing, [0, 0], batch_size, seed, threads)?;
    let bpe = prod.batches_per_epoch();
    let t = Instant::now();
    let mut it = prod.iter_from(0);
    let mut views = 0usize;
    for _ in 0..bpe {
        let b = it.next().expect("the batch iterator is endless");
        views += 2 * b.rows;
        it.recycle(b);
    }
    let secs = t.elapsed().as_secs_f64();
    drop(it);
    Ok(BenchViewsReport {
        image: (h, w),
        images,
        views_per_sec_1thread: single,
        threads,
        batch_size,
        producer_views_per_sec: views as f64 / secs,
        producer_epoch_seconds: secs,
    })
}
