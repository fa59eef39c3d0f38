//! Pairing of views and the deterministic, parallel, prefetching batch producer.

use super::mapped::MappedViews;
use super::scaling::{SlotScaling, ViewScaling};
use super::MultiViewDataset;
use crate::augment::{Augment, AugmentConfig, Compose};
use crate::{Error, MibRng, Result};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, OnceLock};
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
    /// Single-view data: independent augmentations of the same row (views `a` and `b` are usually
    /// the same image view). Needs an image view.
    Augment {
        /// The augmentation applied, independently, to make each view.
        augment: AugmentConfig,
        /// How many augmented views of each item the multi-view objectives train on (default 2;
        /// with `K > 2`, MIB averages its loss over the `K (K - 1) / 2` pairs). The single-view
        /// objectives read one.
        #[serde(default = "two_views", skip_serializing_if = "is_two_views")]
        n_views: usize,
    },
}

/// The most augmented views [`PairingConfig::Augment`] takes.
pub const MAX_AUGMENTED_VIEWS: usize = 16;

fn two_views() -> usize {
    2
}

fn is_two_views(n: &usize) -> bool {
    *n == 2
}

impl PairingConfig {
    /// Two augmentations of one image view by `augment`.
    pub fn augment(augment: AugmentConfig) -> Self {
        PairingConfig::Augment {
            augment,
            n_views: 2,
        }
    }
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
    /// Which slots each item has, slot-major `[slots, rows]` (`present[s * rows + i]` is 1 when
    /// item `i` has slot `s`'s view, 0 when it lacks it: its row is zeros). Empty when the data is
    /// complete.
    pub present: Vec<u8>,
    /// How many of the first rows are labelled items of the semi-supervised mode
    /// ([`BatchProducer::with_labelled`]; 0 otherwise).
    pub labelled: usize,
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
    SameClass {
        by_class: Vec<Vec<u32>>,
    },
    /// `shapes[v]`: `(height, width)` of dataset view `v`'s channels (`(0, 0)` for a view that is
    /// not augmented).
    Augment {
        aug: Compose,
        shapes: Vec<(usize, usize)>,
    },
}

/// The items a [`BatchProducer`] reads: views held in memory ([`MultiViewDataset`]) or rows of
/// memory-mapped files converted as they are read ([`MappedViews`]).
pub trait RowSource: Send + Sync + std::fmt::Debug {
    /// Number of items.
    fn len(&self) -> usize;
    /// Whether there are no items.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Number of views.
    fn n_views(&self) -> usize;
    /// The width of view `v`.
    fn dim(&self, v: usize) -> usize;
    /// The name of view `v`.
    fn view_name(&self, v: usize) -> &str;
    /// The class of each item, when labelled.
    fn labels(&self) -> Option<&[u32]>;
    /// Number of classes (0 when unlabelled).
    fn n_classes(&self) -> usize;
    /// `(height, width)` of the image views, if any.
    fn image_shape(&self) -> Option<(usize, usize)>;
    /// Row `item` of view `v` as `f32`: borrowed when in memory, else converted into `buf`.
    fn row<'a>(&'a self, v: usize, item: usize, buf: &'a mut Vec<f32>) -> Result<&'a [f32]>;
    /// Writes row `item` of view `v` into `out` (`dim(v)` long).
    fn row_into(&self, v: usize, item: usize, out: &mut [f32]) -> Result<()>;
    /// Whether view `v` is an image of [`Self::image_shape`].
    fn is_image_view(&self, v: usize) -> bool;
    /// `[channels, height, width]` of view `v` when it is an image.
    fn view_image_shape(&self, v: usize) -> Option<[usize; 3]>;
    /// Whether some view lacks some item ([`super::missing`]; default: no).
    fn has_missing(&self) -> bool {
        false
    }
    /// Whether view `v` has item `item` (default: yes).
    fn is_present(&self, _v: usize, _item: usize) -> bool {
        true
    }
}

impl RowSource for MultiViewDataset {
    fn len(&self) -> usize {
        MultiViewDataset::len(self)
    }
    fn n_views(&self) -> usize {
        self.views.len()
    }
    fn dim(&self, v: usize) -> usize {
        self.views[v].cols
    }
    fn view_name(&self, v: usize) -> &str {
        &self.view_names[v]
    }
    fn labels(&self) -> Option<&[u32]> {
        self.labels.as_deref()
    }
    fn n_classes(&self) -> usize {
        self.n_classes
    }
    fn image_shape(&self) -> Option<(usize, usize)> {
        self.image_shape
    }
    fn row<'a>(&'a self, v: usize, item: usize, _buf: &'a mut Vec<f32>) -> Result<&'a [f32]> {
        Ok(self.views[v].row(item))
    }
    fn row_into(&self, v: usize, item: usize, out: &mut [f32]) -> Result<()> {
        out.copy_from_slice(self.views[v].row(item));
        Ok(())
    }
    fn is_image_view(&self, v: usize) -> bool {
        MultiViewDataset::is_image_view(self, v)
    }
    fn view_image_shape(&self, v: usize) -> Option<[usize; 3]> {
        MultiViewDataset::view_image_shape(self, v)
    }
    fn has_missing(&self) -> bool {
        MultiViewDataset::has_missing(self)
    }
    fn is_present(&self, v: usize, item: usize) -> bool {
        MultiViewDataset::is_present(self, v, item)
    }
}

impl RowSource for MappedViews {
    fn len(&self) -> usize {
        MappedViews::len(self)
    }
    fn n_views(&self) -> usize {
        self.view_names().len()
    }
    fn dim(&self, v: usize) -> usize {
        self.view_dim(v)
    }
    fn view_name(&self, v: usize) -> &str {
        &self.view_names()[v]
    }
    fn labels(&self) -> Option<&[u32]> {
        MappedViews::labels(self)
    }
    fn n_classes(&self) -> usize {
        MappedViews::n_classes(self)
    }
    fn image_shape(&self) -> Option<(usize, usize)> {
        None
    }
    fn row<'a>(&'a self, v: usize, item: usize, buf: &'a mut Vec<f32>) -> Result<&'a [f32]> {
        buf.resize(RowSource::dim(self, v), 0.0);
        MappedViews::row_into(self, v, item, buf)?;
        Ok(buf)
    }
    fn row_into(&self, v: usize, item: usize, out: &mut [f32]) -> Result<()> {
        MappedViews::row_into(self, v, item, out)
    }
    fn has_missing(&self) -> bool {
        MappedViews::has_missing(self)
    }
    fn is_present(&self, v: usize, item: usize) -> bool {
        MappedViews::is_present(self, v, item)
    }
    fn is_image_view(&self, v: usize) -> bool {
        MappedViews::view_image_shape(self, v).is_some()
    }
    fn view_image_shape(&self, v: usize) -> Option<[usize; 3]> {
        MappedViews::view_image_shape(self, v)
    }
}

struct Shared {
    ds: Arc<dyn RowSource>,
    /// The first error met reading rows (a non-finite value of a mapped view): the producer
    /// stops there and [`BatchIter::error`] reports it.
    error: OnceLock<Error>,
    pairing: Pairing,
    /// Input scaling of each slot (empty: none).
    scaling: SlotScaling,
    /// The dataset view of each slot.
    views: Vec<usize>,
    batch_size: usize,
    seed: u64,
    bpe: u64,
    /// The items batches are drawn from: every item for complete data, else the items that
    /// have at least two of the slots' views (a single-view objective's slots are `[0, 0]`: the
    /// items of view 0).
    items: Vec<u32>,
    /// The labelled items of the semi-supervised mode (empty: none) and how many of them each
    /// batch puts first.
    labelled: Vec<u32>,
    labelled_per_batch: usize,
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
    p.fill_slot(ds, &views, None, seed, epoch, item, 0, out_a)?;
    p.fill_slot(ds, &views, None, seed, epoch, item, 1, out_b)
}

impl Pairing {
    fn new(ds: &dyn RowSource, cfg: &PairingConfig, views: &[usize]) -> Result<Self> {
        if views.len() < 2 {
            return Err(Error::config(
                "pairing.views",
                format!("{views:?}"),
                "need at least two view slots",
            ));
        }
        for &v in views {
            if v >= ds.n_views() {
                return Err(Error::config(
                    "pairing.views",
                    v,
                    format!("the dataset has {} views", ds.n_views()),
                ));
            }
        }
        Ok(match cfg {
            PairingConfig::Aligned => Pairing::Aligned,
            PairingConfig::SameClass => {
                let labels = ds.labels().ok_or_else(|| {
                    Error::config("pairing.kind", "same-class", "needs a labelled dataset")
                })?;
                let k = labels.iter().max().map_or(0, |&m| m as usize + 1);
                let mut by_class = vec![Vec::new(); ds.n_classes().max(k)];
                for (i, &y) in labels.iter().enumerate() {
                    by_class[y as usize].push(i as u32);
                }
                Pairing::SameClass { by_class }
            }
            PairingConfig::Augment { augment, .. } => {
                let mut shapes = vec![(0, 0); ds.n_views()];
                for &v in views {
                    let [_, h, w] = ds.view_image_shape(v).ok_or_else(|| {
                        Error::config(
                            "pairing.kind",
                            "augment",
                            format!(
                                "needs image views; view {v} (`{}`, width {}) has no image shape \
                                 (give it as a [n, h, w] or [n, c, h, w] array, or set image_shape)",
                                ds.view_name(v),
                                ds.dim(v)
                            ),
                        )
                    })?;
                    shapes[v] = (h, w);
                }
                Pairing::Augment {
                    aug: augment.build()?,
                    shapes,
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
        ds: &dyn RowSource,
        views: &[usize],
        scaling: Option<&ViewScaling>,
        seed: u64,
        epoch: u64,
        item: usize,
        slot: usize,
        out: &mut [f32],
    ) -> Result<()> {
        let v = views[slot];
        ROW.with(|buf| {
            let mut buf = buf.borrow_mut();
            if let (Pairing::Augment { aug, shapes }, Some(sc)) = (self, scaling) {
                let shape = shapes[v];
                // Augmentations see scaled pixels (so that what they fill in is the scaled black).
                return SCRATCH.with(|scratch| {
                    let mut scratch = scratch.borrow_mut();
                    let row = ds.row(v, item, &mut buf)?;
                    scratch.resize(row.len(), 0.0);
                    sc.apply_into(row, &mut scratch);
                    let mut r =
                        MibRng::seed_from_u64(derive_seed(seed, epoch, item as u64, slot as u64));
                    aug.apply_using(&scratch, out, shape.0, shape.1, &mut r);
                    Ok(())
                });
            }
            match self {
                Pairing::Aligned => ds.row_into(v, item, out)?,
                Pairing::SameClass { .. } if slot == 0 => ds.row_into(v, item, out)?,
                Pairing::SameClass { by_class } => {
                    let y = ds.labels().expect("checked by Pairing::new")[item] as usize;
                    let mut rng =
                        MibRng::seed_from_u64(derive_seed(seed, epoch, item as u64, slot as u64));
                    let c = &by_class[y];
                    let j = c[rng.random_range(0..c.len())] as usize;
                    ds.row_into(v, j, out)?;
                }
                Pairing::Augment { aug, shapes } => {
                    let shape = shapes[v];
                    let mut r =
                        MibRng::seed_from_u64(derive_seed(seed, epoch, item as u64, slot as u64));
                    aug.apply_using(ds.row(v, item, &mut buf)?, out, shape.0, shape.1, &mut r);
                    return Ok(());
                }
            }
            if let Some(sc) = scaling {
                sc.apply(out);
            }
            Ok(())
        })
    }
}

thread_local! {
    /// A row of scaled pixels for the augmentations (one per producer thread, reused).
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    /// A row converted from a memory-mapped view (one per producer thread, reused).
    static ROW: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Shared {
    fn permutation(&self, epoch: u64) -> Vec<u32> {
        let mut perm: Vec<u32> = self.items.clone();
        let mut rng = MibRng::seed_from_u64(derive_seed(self.seed, epoch, 0, u64::MAX));
        perm.shuffle(&mut rng);
        perm
    }

    fn build(&self, k: u64, perm: &[u32], mut bufs: Vec<Vec<f32>>, par: bool) -> Batch {
        let b = self.batch_size;
        let p = (k % self.bpe) as usize;
        let epoch = k / self.bpe;
        let mut items = &perm[p * b..(p + 1) * b];
        // Semi-supervised: the first rows are labelled items, drawn for this iteration (their
        // augmentations too: a labelled item seen every batch gets fresh views each time).
        let m = self.labelled_per_batch.min(self.labelled.len());
        let mixed: Vec<u32>;
        if m > 0 {
            let mut rng = MibRng::seed_from_u64(derive_seed(self.seed, k, 1, u64::MAX));
            mixed = rand::seq::index::sample(&mut rng, self.labelled.len(), m)
                .into_iter()
                .map(|j| self.labelled[j])
                .chain(items[m..].iter().copied())
                .collect();
            items = &mixed;
        }
        let view_epoch = |i: usize| if i < m { u64::MAX - k } else { epoch };
        bufs.resize_with(self.views.len(), Vec::new);
        for (slot, buf) in bufs.iter_mut().enumerate() {
            let d = self.ds.dim(self.views[slot]);
            buf.resize(b * d, 0.0);
            if d == 0 {
                continue;
            }
            let job = |(i, out): (usize, &mut [f32])| {
                if let Err(e) = self.pairing.fill_slot(
                    &*self.ds,
                    &self.views,
                    self.scaling.get(slot).and_then(Option::as_ref),
                    self.seed,
                    view_epoch(i),
                    items[i] as usize,
                    slot,
                    out,
                ) {
                    let _ = self.error.set(e);
                }
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
        let labels = match self.ds.labels() {
            Some(l) => items.iter().map(|&i| l[i as usize]).collect(),
            None => Vec::new(),
        };
        let present = if self.ds.has_missing() {
            self.views
                .iter()
                .flat_map(|&v| {
                    items
                        .iter()
                        .map(move |&i| u8::from(self.ds.is_present(v, i as usize)))
                })
                .collect()
        } else {
            Vec::new()
        };
        Batch {
            iteration: k,
            rows: b,
            views: bufs,
            labels,
            present,
            labelled: m,
        }
    }
}

/// Produces training batches (pairs, or one row per view slot), deterministically: the batch of global iteration `k`
/// depends only on `(seed, k)`, whatever the thread count or where iteration started.
///
/// Epochs drop the last incomplete batch: `bpe = n / batch_size` batches each, `n` the items drawn
/// from (every item; with missing views, the items that have two or more of the slots' views:
/// docs/missing-views.md). Epoch `e = k / bpe` uses a permutation of those items seeded from
/// `(seed, e)`; position `p = k % bpe` takes the items
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
        ds: Arc<dyn RowSource>,
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
        let pairing = Pairing::new(&*ds, &pairing, &views)?;
        let items: Vec<u32> = if ds.has_missing() {
            (0..ds.len() as u32)
                .filter(|&i| {
                    views
                        .iter()
                        .filter(|&&v| ds.is_present(v, i as usize))
                        .count()
                        >= 2
                })
                .collect()
        } else {
            (0..ds.len() as u32).collect()
        };
        if items.len() < batch_size {
            return Err(Error::config(
                "batch_size",
                batch_size,
                format!(
                    "larger than the {} items that have at least two of the views trained on \
                     (of {} items)",
                    items.len(),
                    ds.len()
                ),
            ));
        }
        let bpe = (items.len() / batch_size) as u64;
        Ok(BatchProducer {
            shared: Arc::new(Shared {
                ds,
                error: OnceLock::new(),
                pairing,
                scaling: Vec::new(),
                views,
                batch_size,
                seed,
                bpe,
                items,
                labelled: Vec::new(),
                labelled_per_batch: 0,
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
                sc.check(self.shared.ds.dim(v), &format!("slot {s}"))?;
            }
        }
        Arc::get_mut(&mut self.shared)
            .expect("the producer is not shared before iteration starts")
            .scaling = scaling;
        Ok(self)
    }
    /// Semi-supervised mode: every batch's first `per_batch` rows (at most all of them) are items of
    /// `labelled`, drawn without replacement from `(seed, iteration)`, with augmentations of their
    /// own; [`Batch::labelled`] says how many. Errors when an item is out of range or lacks the
    /// labels, or `per_batch` is 0 or above the batch size.
    pub fn with_labelled(mut self, labelled: Vec<u32>, per_batch: usize) -> Result<Self> {
        let sh = &self.shared;
        if per_batch == 0 || per_batch > sh.batch_size {
            return Err(Error::config(
                "data.labelled.per_batch",
                per_batch,
                format!("must be between 1 and the batch size ({})", sh.batch_size),
            ));
        }
        if sh.ds.labels().is_none() {
            return Err(Error::config(
                "data.labelled",
                "set",
                "the semi-supervised mode needs labelled data (the dataset has no labels)",
            ));
        }
        if let Some(&bad) = labelled.iter().find(|&&i| i as usize >= sh.ds.len()) {
            return Err(Error::config(
                "data.labelled",
                bad,
                format!(
                    "item out of range (the training split has {} items)",
                    sh.ds.len()
                ),
            ));
        }
        let sh = Arc::get_mut(&mut self.shared)
            .expect("the producer is not shared before iteration starts");
        sh.labelled = labelled;
        sh.labelled_per_batch = per_batch;
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
    /// The items the batches come from.
    pub fn rows(&self) -> &dyn RowSource {
        &*self.shared.ds
    }
    /// The batch of global iteration `k`, built on the calling thread (no prefetching); errors
    /// name a non-finite value read from a memory-mapped view.
    pub fn batch(&self, k: u64) -> Result<Batch> {
        let perm = self.shared.permutation(k / self.shared.bpe);
        let b = self.shared.build(k, &perm, Vec::new(), false);
        match self.shared.error.get() {
            Some(e) => Err(Error::Data(e.to_string())),
            None => Ok(b),
        }
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
            shared: Arc::clone(&self.shared),
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
        // A row that could not be read ends the stream: the consumer asks `BatchIter::error`.
        if shared.error.get().is_some() || tx.send(batch).is_err() {
            return;
        }
    }
}

/// The iterator returned by [`BatchProducer::iter_from`]: endless, prefetching.
pub struct BatchIter {
    rx: Option<Receiver<Batch>>,
    recycle: mpsc::Sender<Vec<Vec<f32>>>,
    handle: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
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
    /// Why the iterator ended, when a row could not be read (a non-finite value of a
    /// memory-mapped view, naming the file, row and column).
    pub fn error(&self) -> Option<&Error> {
        self.shared.error.get()
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
