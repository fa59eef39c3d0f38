//! Pairing of views and the deterministic, parallel, prefetching batch producer.

use super::scaling::{SlotScaling, ViewScaling};
use super::MultiViewDataset;
use crate::augment::{Augment, AugmentConfig, Compose};
use crate::{Error, MibRng, Result};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// How the views of a training item are made from the dataset (two or more: one per training
/// view slot).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PairingConfig {
    /// Row `i` of every view (true multi-view data).
    Aligned,
    /// Row `i` of the first view with, for each other view, a row drawn uniformly from the items of
    /// the same class as `i` (possibly `i` itself; one independent draw per view), re-drawn every
    /// epoch: the paper's Sketchy protocol. Needs labels.
    SameClass,
    /// Single-view data: two independent augmentations of the same row (views `a` and `b` are
    /// usually the same image view). Needs an image view.
    Augment {
        /// The augmentation applied, independently, to make each of the two views.
        augment: AugmentConfig,
    },
}

/// A batch of training items, one buffer per training view slot.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// The global iteration this batch belongs to (0-based, counted across epochs).
    pub iteration: u64,
    /// Number of items.
    pub rows: usize,
    /// The views, one per slot, row-major `[rows, dim_v]` (two for a pair).
    pub views: Vec<Vec<f32>>,
    /// The class of each item's first view (empty when the data is unlabelled).
    pub labels: Vec<u32>,
}

/// SplitMix64 finaliser: a bijective 64-bit mixer.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed derived from `(seed, epoch, item, slot)`; slot `u64::MAX` is the epoch permutation.
pub(crate) fn derive_seed(seed: u64, epoch: u64, item: u64, slot: u64) -> u64 {
    let mut h = mix64(seed ^ 0x6D69_622D_6461_7461);
    h = mix64(h ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    h = mix64(h ^ item.wrapping_mul(0xC2B2_AE3D_27D4_EB4F));
    mix64(h ^ slot.wrapping_mul(0x1656_67B1_9E37_79F9))
}

enum Pairing {
    Aligned,
    SameClass { by_class: Vec<Vec<u32>> },
    Augment { aug: Compose, shape: (usize, usize) },
}

/// Row `item` of dataset view `v` (how the producer reads the data).
fn view_row(ds: &MultiViewDataset, v: usize, item: usize) -> &[f32] {
    ds.views[v].row(item)
}

/// The width of dataset view `v`.
fn view_dim(ds: &MultiViewDataset, v: usize) -> usize {
    ds.views[v].cols
}

struct Shared {
    ds: Arc<MultiViewDataset>,
    pairing: Pairing,
    /// Input scaling of each slot (empty: none).
    scaling: SlotScaling,
    /// The dataset view of each slot.
    views: Vec<usize>,
    batch_size: usize,
    seed: u64,
    bpe: u64,
}

/// Makes the pair of item `item` in epoch `epoch` (writes view `a` into `out_a`, view `b` into
/// `out_b`), exactly as the [`BatchProducer`] does: the augmentation or partner draw of slot `s`
/// uses an RNG seeded from `(seed, epoch, item, s)`.
#[allow(clippy::too_many_arguments)]
pub fn make_pair_using(
    ds: &MultiViewDataset,
    pairing: &PairingConfig,
    views: [usize; 2],
    seed: u64,
    epoch: u64,
    item: usize,
    out_a: &mut [f32],
    out_b: &mut [f32],
) -> Result<()> {
    let p = Pairing::new(ds, pairing, &views)?;
    p.fill_slot(ds, &views, None, seed, epoch, item, 0, out_a);
    p.fill_slot(ds, &views, None, seed, epoch, item, 1, out_b);
    Ok(())
}

impl Pairing {
    fn new(ds: &MultiViewDataset, cfg: &PairingConfig, views: &[usize]) -> Result<Self> {
        if views.len() < 2 {
            return Err(Error::config(
                "pairing.views",
                format!("{views:?}"),
                "need at least two view slots",
            ));
        }
        for &v in views {
            if v >= ds.views.len() {
                return Err(Error::config(
                    "pairing.views",
                    v,
                    format!("the dataset has {} views", ds.views.len()),
                ));
            }
        }
        Ok(match cfg {
            PairingConfig::Aligned => Pairing::Aligned,
            PairingConfig::SameClass => {
                let labels = ds.labels.as_ref().ok_or_else(|| {
                    Error::config("pairing.kind", "same-class", "needs a labelled dataset")
                })?;
                let k = labels.iter().max().map_or(0, |&m| m as usize + 1);
                let mut by_class = vec![Vec::new(); ds.n_classes.max(k)];
                for (i, &y) in labels.iter().enumerate() {
                    by_class[y as usize].push(i as u32);
                }
                Pairing::SameClass { by_class }
            }
            PairingConfig::Augment { augment } => {
                let shape = ds.image_shape.ok_or_else(|| {
                    Error::config(
                        "pairing.kind",
                        "augment",
                        "needs image views (image_shape unset)",
                    )
                })?;
                for &v in views {
                    if !ds.is_image_view(v) {
                        return Err(Error::config(
                            "pairing.views",
                            v,
                            format!(
                                "view {} is not a {}x{} image",
                                ds.view_names[v], shape.0, shape.1
                            ),
                        ));
                    }
                }
                Pairing::Augment {
                    aug: augment.build()?,
                    shape,
                }
            }
        })
    }

    /// Writes slot `slot` of item `item` (dataset view `views[slot]`, scaled by `scaling`) into
    /// `out`: the augmentation or partner draw of slot `s` uses an RNG seeded from
    /// `(seed, epoch, item, s)`.
    #[allow(clippy::too_many_arguments)]
    fn fill_slot(
        &self,
        ds: &MultiViewDataset,
        views: &[usize],
        scaling: Option<&ViewScaling>,
        seed: u64,
        epoch: u64,
        item: usize,
        slot: usize,
        out: &mut [f32],
    ) {
        let v = views[slot];
        if let (Pairing::Augment { aug, shape }, Some(sc)) = (self, scaling) {
            // Augmentations see scaled pixels (so that what they fill in is the scaled black).
            SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                let row = view_row(ds, v, item);
                scratch.resize(row.len(), 0.0);
                sc.apply_into(row, &mut scratch);
                let mut r =
                    MibRng::seed_from_u64(derive_seed(seed, epoch, item as u64, slot as u64));
                aug.apply_using(&scratch, out, shape.0, shape.1, &mut r);
            });
            return;
        }
        match self {
            Pairing::Aligned => out.copy_from_slice(view_row(ds, v, item)),
            Pairing::SameClass { .. } if slot == 0 => out.copy_from_slice(view_row(ds, v, item)),
            Pairing::SameClass { by_class } => {
                let y = ds.labels.as_ref().unwrap()[item] as usize;
                let mut rng =
                    MibRng::seed_from_u64(derive_seed(seed, epoch, item as u64, slot as u64));
                let c = &by_class[y];
                let j = c[rng.random_range(0..c.len())] as usize;
                out.copy_from_slice(view_row(ds, v, j));
            }
            Pairing::Augment { aug, shape } => {
                let mut r =
                    MibRng::seed_from_u64(derive_seed(seed, epoch, item as u64, slot as u64));
                aug.apply_using(view_row(ds, v, item), out, shape.0, shape.1, &mut r);
                return;
            }
        }
        if let Some(sc) = scaling {
            sc.apply(out);
        }
    }
}

thread_local! {
    /// A row of scaled pixels for the augmentations (one per producer thread, reused).
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Shared {
    fn permutation(&self, epoch: u64) -> Vec<u32> {
        let mut perm: Vec<u32> = (0..self.ds.len() as u32).collect();
        let mut rng = MibRng::seed_from_u64(derive_seed(self.seed, epoch, 0, u64::MAX));
        perm.shuffle(&mut rng);
        perm
    }

    fn build(&self, k: u64, perm: &[u32], mut bufs: Vec<Vec<f32>>, par: bool) -> Batch {
        let b = self.batch_size;
        let p = (k % self.bpe) as usize;
        let epoch = k / self.bpe;
        let items = &perm[p * b..(p + 1) * b];
        bufs.resize_with(self.views.len(), Vec::new);
        for (slot, buf) in bufs.iter_mut().enumerate() {
            let d = view_dim(&self.ds, self.views[slot]);
            buf.resize(b * d, 0.0);
            if d == 0 {
                continue;
            }
            let job = |(i, out): (usize, &mut [f32])| {
                self.pairing.fill_slot(
                    &self.ds,
                    &self.views,
                    self.scaling.get(slot).and_then(Option::as_ref),
                    self.seed,
                    epoch,
                    items[i] as usize,
                    slot,
                    out,
                )
            };
            if par {
                buf.par_chunks_mut(d)
                    .enumerate()
                    .with_min_len(8)
                    .for_each(job);
            } else {
                buf.chunks_mut(d).enumerate().for_each(job);
            }
        }
        let labels = match &self.ds.labels {
            Some(l) => items.iter().map(|&i| l[i as usize]).collect(),
            None => Vec::new(),
        };
        Batch {
            iteration: k,
            rows: b,
            views: bufs,
            labels,
        }
    }
}

/// Produces training batches (pairs, or one row per view slot), deterministically: the batch of global iteration `k`
/// depends only on `(seed, k)`, whatever the thread count or where iteration started.
///
/// Epochs drop the last incomplete batch: `bpe = n / batch_size` batches each. Epoch `e = k / bpe`
/// uses a permutation of the items seeded from `(seed, e)`; position `p = k % bpe` takes the items
/// `perm[p*B..(p+1)*B]`; each item's augmentation or partner draw uses an RNG seeded from
/// `(seed, e, item, view slot)`. Batches are built on a dedicated pool of `threads` threads and
/// prefetched into a bounded queue.
pub struct BatchProducer {
    shared: Arc<Shared>,
    threads: usize,
    prefetch: usize,
}

impl std::fmt::Debug for BatchProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchProducer")
            .field("items", &self.shared.ds.len())
            .field("batch_size", &self.shared.batch_size)
            .field("views", &self.shared.views)
            .field("seed", &self.shared.seed)
            .field("threads", &self.threads)
            .field("prefetch", &self.prefetch)
            .finish()
    }
}

impl BatchProducer {
    /// A producer of batches of `batch_size` items with one slot per entry of `views` (the dataset
    /// view of each slot, at least two: `[0, 1]` for a pair, `[0, 0]` for two augmentations of
    /// view 0, `[0, 1, 2]` for three views), built on `threads` threads (0 = as many as rayon's
    /// default) with a prefetch depth of 4.
    pub fn new(
        ds: Arc<MultiViewDataset>,
        pairing: PairingConfig,
        views: impl Into<Vec<usize>>,
        batch_size: usize,
        seed: u64,
        threads: usize,
    ) -> Result<Self> {
        if batch_size == 0 {
            return Err(Error::config("batch_size", 0, "must be > 0"));
        }
        if ds.len() < batch_size {
            return Err(Error::config(
                "batch_size",
                batch_size,
                format!("larger than the dataset ({} items)", ds.len()),
            ));
        }
        let views = views.into();
        let pairing = Pairing::new(&ds, &pairing, &views)?;
        let bpe = (ds.len() / batch_size) as u64;
        Ok(BatchProducer {
            shared: Arc::new(Shared {
                ds,
                pairing,
                scaling: Vec::new(),
                views,
                batch_size,
                seed,
                bpe,
            }),
            threads,
            prefetch: 4,
        })
    }
    /// Scales the rows of each slot with `scaling` (one entry per slot, or empty for none), as
    /// the model's inputs are scaled; errors when a scaling's width is not its view's.
    pub fn with_scaling(mut self, scaling: SlotScaling) -> Result<Self> {
        for (s, sc) in scaling.iter().enumerate() {
            if let (Some(sc), Some(&v)) = (sc, self.shared.views.get(s)) {
                sc.check(view_dim(&self.shared.ds, v), &format!("slot {s}"))?;
            }
        }
        Arc::get_mut(&mut self.shared)
            .expect("the producer is not shared before iteration starts")
            .scaling = scaling;
        Ok(self)
    }
    /// Sets how many batches are prepared ahead (at least 1; default 4).
    pub fn with_prefetch(mut self, depth: usize) -> Self {
        self.prefetch = depth.max(1);
        self
    }
    /// Batches per epoch: `n / batch_size` (the last incomplete batch is dropped).
    pub fn batches_per_epoch(&self) -> u64 {
        self.shared.bpe
    }
    /// The dataset the batches come from.
    pub fn dataset(&self) -> &MultiViewDataset {
        &self.shared.ds
    }
    /// The batch of global iteration `k`, built on the calling thread (no prefetching).
    pub fn batch(&self, k: u64) -> Batch {
        let perm = self.shared.permutation(k / self.shared.bpe);
        self.shared.build(k, &perm, Vec::new(), false)
    }
    /// An endless iterator over the batches from global iteration `start` on (so a resumed run
    /// gets exactly the batches it would have had), built and prefetched in the background.
    /// Dropping the iterator stops the background work.
    pub fn iter_from(&self, start: u64) -> BatchIter {
        let (tx, rx) = mpsc::sync_channel::<Batch>(self.prefetch);
        let (recycle_tx, recycle_rx) = mpsc::channel::<Vec<Vec<f32>>>();
        let shared = Arc::clone(&self.shared);
        let threads = self.threads;
        let handle = std::thread::Builder::new()
            .name("mib-batches".into())
            .spawn(move || producer_loop(shared, start, threads, tx, recycle_rx))
            .expect("spawning the batch producer thread should succeed");
        BatchIter {
            rx: Some(rx),
            recycle: recycle_tx,
            handle: Some(handle),
        }
    }
}

fn producer_loop(
    shared: Arc<Shared>,
    start: u64,
    threads: usize,
    tx: SyncSender<Batch>,
    recycle: Receiver<Vec<Vec<f32>>>,
) {
    let pool = if threads == 1 {
        None
    } else {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("mib-views-{i}"))
            .build()
            .ok()
    };
    let mut epoch = u64::MAX;
    let mut perm = Vec::new();
    for k in start.. {
        if k / shared.bpe != epoch {
            epoch = k / shared.bpe;
            perm = shared.permutation(epoch);
        }
        let bufs = recycle.try_recv().unwrap_or_default();
        let batch = match &pool {
            Some(p) => p.install(|| shared.build(k, &perm, bufs, true)),
            None => shared.build(k, &perm, bufs, false),
        };
        if tx.send(batch).is_err() {
            return;
        }
    }
}

/// The iterator returned by [`BatchProducer::iter_from`]: endless, prefetching.
pub struct BatchIter {
    rx: Option<Receiver<Batch>>,
    recycle: mpsc::Sender<Vec<Vec<f32>>>,
    handle: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for BatchIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BatchIter")
    }
}

impl BatchIter {
    /// Hands a consumed batch's buffers back so that later batches reuse them (optional).
    pub fn recycle(&self, batch: Batch) {
        let _ = self.recycle.send(batch.views);
    }
}

impl Iterator for BatchIter {
    type Item = Batch;
    fn next(&mut self) -> Option<Batch> {
        self.rx.as_ref()?.recv().ok()
    }
}

impl Drop for BatchIter {
    fn drop(&mut self) {
        // Closing the channel makes the producer's next send fail, so it exits.
        self.rx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
