//! Dataset readers, pairing of views and batch production.
//!
//! - Readers for standard formats, each validating what it reads and naming the file and the row or
//!   byte offset of the first problem: [`idx`] (MNIST, Fashion-MNIST; raw or gzip), [`npy`], [`csv`].
//! - [`MultiViewDataset`]: `N >= 1` views of the same items (row `i` of every view is item `i`),
//!   optional labels. [`load_named`] gives the train/test splits of `mfeat` (embedded, see [`mfeat`]),
//!   `fashion-mnist` and `mnist`; [`load_npy_views`] and [`load_csv_views`] read one file per view.
//! - [`PairingConfig`] and [`BatchProducer`]: how the two views of a training pair are made (aligned
//!   rows, a random same-class partner, or two augmentations of one view) and a deterministic,
//!   parallel, prefetching producer of batches.
//!
//! ```
//! # fn main() -> mib::Result<()> {
//! use mib::data::{load_named, BatchProducer, PairingConfig};
//!
//! let splits = load_named("mfeat", None, None)?; // embedded: views pix (16x15 image) and fou
//! assert_eq!(splits.train.view_dims(), [240, 76]);
//! let train = splits.train; // an `Arc`: shared with the producer, not copied
//! let producer = BatchProducer::new(train, PairingConfig::Aligned, [0, 1], 64, 0, 1)?;
//! let batch = producer.iter_from(0).next().unwrap();
//! assert_eq!((batch.rows, batch.views[0].len(), batch.views[1].len()), (64, 64 * 240, 64 * 76));
//! # Ok(())
//! # }
//! ```

pub mod array;
mod batch;
pub mod csv;
pub mod idx;
pub mod mapped;
pub mod mfeat;
pub mod missing;
pub mod npy;
pub mod npz;
pub mod scaling;
mod splits;

pub use array::{Elements, RawArray};
pub use batch::{
    make_pair_using, Batch, BatchIter, BatchProducer, PairingConfig, RowSource, MAX_AUGMENTED_VIEWS,
};
pub use csv::{CsvHeader, CsvOptions, CsvTable, LabelColumn};
pub use mapped::MemoryMap;
pub use missing::{mark_missing, read_mask, MissingRows};
pub use scaling::{ScalingChoice, ScalingConfig, ScalingKind, ViewScaling};
pub use splits::{load_splits, split_seeded};
use std::sync::Arc;

use crate::{Error, Matrix, Result};
use std::path::{Path, PathBuf};

/// `N >= 1` views of the same items: row `i` of every view describes item `i`.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiViewDataset {
    /// The views, each `len() x dim` (dims may differ).
    pub views: Vec<Matrix>,
    /// One class label per item, each `< n_classes`, when the data is labelled.
    pub labels: Option<Vec<u32>>,
    /// Number of classes (0 when unlabelled).
    pub n_classes: usize,
    /// One name per view (`view0`, `view1`, ... unless set).
    pub view_names: Vec<String>,
    /// `(height, width)` when the views are single-channel images (every view of dim `h * w` is one).
    pub image_shape: Option<(usize, usize)>,
    /// `[channels, height, width]` of each view that is an image (empty, or one entry per view):
    /// from a `[n, h, w]` or `[n, c, h, w]` array, or set with
    /// [`MultiViewDataset::with_view_image_shape`]. A view without one is still an image when
    /// [`Self::image_shape`] covers it ([`MultiViewDataset::view_image_shape`]).
    pub view_image_shapes: Vec<Option<[usize; 3]>>,
    /// Multi-hot targets `[len(), n_labels]` (each 0 or 1) when the items carry several labels
    /// each (MIR-Flickr's topics): evaluated with the multi-label probe (mAP).
    pub targets: Option<Matrix>,
    /// Which items each view has, `present[v][i]`, when some view lacks some item (`None`: every
    /// view has every item). The rows of missing items are zeros ([`missing`]).
    pub present: Option<Vec<Vec<bool>>>,
    /// The items' ids, one per item, when the views came with their own ids and were aligned on
    /// them ([`missing::align_ids`]; `data.ids`): they say which row is which item after the
    /// aligning and the train / test split.
    pub item_ids: Option<Vec<String>>,
}

impl MultiViewDataset {
    /// Builds and validates a dataset: at least one view, every view with the same number of rows,
    /// only finite values, one label per row, each `< n_classes`. `n_classes = None` infers
    /// `max label + 1`. View names default to `view0`, `view1`, ...
    pub fn new(
        views: Vec<Matrix>,
        labels: Option<Vec<u32>>,
        n_classes: Option<usize>,
    ) -> Result<Self> {
        if views.is_empty() {
            return Err(Error::Data("a dataset needs at least one view".into()));
        }
        let n = views[0].rows;
        for (v, m) in views.iter().enumerate() {
            if m.rows != n {
                return Err(Error::shape(
                    format!("rows of view {v}"),
                    format!("{n} (rows of view 0)"),
                    m.rows,
                ));
            }
            if m.data.len() != m.rows * m.cols {
                return Err(Error::shape(
                    format!("data of view {v}"),
                    m.rows * m.cols,
                    m.data.len(),
                ));
            }
            if let Some(i) = m.data.iter().position(|x| !x.is_finite()) {
                return Err(Error::Data(format!(
                    "view {v}: non-finite value {} at row {}, column {}",
                    m.data[i],
                    i / m.cols,
                    i % m.cols
                )));
            }
        }
        let n_classes = match &labels {
            None => n_classes.unwrap_or(0),
            Some(l) => {
                if l.len() != n {
                    return Err(Error::shape("labels", n, l.len()));
                }
                let max = l.iter().max().map_or(0, |&m| m as usize + 1);
                let k = n_classes.unwrap_or(max);
                if k > MAX_CLASSES as usize {
                    return Err(Error::Data(format!(
                        "{k} classes: labels are class indices 0..K-1, with K at most {MAX_CLASSES}"
                    )));
                }
                if let Some(i) = l.iter().position(|&y| y as usize >= k) {
                    return Err(Error::Data(format!(
                        "label {} at row {i} is out of range (n_classes = {k})",
                        l[i]
                    )));
                }
                k
            }
        };
        let view_names = (0..views.len()).map(|v| format!("view{v}")).collect();
        Ok(MultiViewDataset {
            views,
            labels,
            n_classes,
            view_names,
            image_shape: None,
            view_image_shapes: Vec::new(),
            targets: None,
            present: None,
            item_ids: None,
        })
    }
    /// Sets multi-hot targets: one row per item, every value 0 or 1 (errors name the row and
    /// column of the first other value).
    pub fn with_targets(mut self, targets: Matrix) -> Result<Self> {
        if targets.rows != self.len() {
            return Err(Error::shape(
                "rows of the multi-label targets",
                self.len(),
                targets.rows,
            ));
        }
        if targets.cols == 0 {
            return Err(Error::shape("multi-label targets", "at least one label", 0));
        }
        if let Some(i) = targets.data.iter().position(|&t| t != 0.0 && t != 1.0) {
            return Err(Error::Data(format!(
                "multi-label target {} at row {}, label {} is not 0 or 1",
                targets.data[i],
                i / targets.cols,
                i % targets.cols
            )));
        }
        self.targets = Some(targets);
        Ok(self)
    }
    /// Sets the view names (one per view).
    pub fn with_view_names(mut self, names: Vec<String>) -> Result<Self> {
        if names.len() != self.views.len() {
            return Err(Error::shape("view names", self.views.len(), names.len()));
        }
        self.view_names = names;
        Ok(self)
    }
    /// Declares the views of dim `h * w` as `h x w` single-channel images (row-major); at least one
    /// view must have that dim.
    pub fn with_image_shape(mut self, shape: (usize, usize)) -> Result<Self> {
        let d = shape.0 * shape.1;
        if !self.views.iter().any(|m| m.cols == d) {
            return Err(Error::shape(
                "image shape (h * w) vs view dims",
                d,
                format!("{:?}", self.view_dims()),
            ));
        }
        self.image_shape = Some(shape);
        Ok(self)
    }
    /// Declares view `v` an image of `[channels, height, width]` (its row holds the channels one
    /// after the other, each row-major: NCHW). Errors name the view when `c * h * w` is not its
    /// width.
    pub fn with_view_image_shape(mut self, v: usize, shape: [usize; 3]) -> Result<Self> {
        let Some(m) = self.views.get(v) else {
            return Err(Error::config(
                "image_shape",
                v,
                format!("no view {v} (the data has {} views)", self.views.len()),
            ));
        };
        let [c, h, w] = shape;
        if shape.contains(&0) || c * h * w != m.cols {
            return Err(Error::config(
                format!("image_shape of view `{}`", self.view_names[v]),
                format!("{shape:?}"),
                format!(
                    "the view has width {}, not channels * height * width = {}",
                    m.cols,
                    c * h * w
                ),
            ));
        }
        if self.view_image_shapes.len() != self.views.len() {
            self.view_image_shapes = vec![None; self.views.len()];
        }
        self.view_image_shapes[v] = Some(shape);
        Ok(self)
    }
    /// `[channels, height, width]` of view `v` when it is an image: its own shape, else
    /// `[1, h, w]` when [`Self::image_shape`] is `(h, w)` and the view has `h * w` columns.
    pub fn view_image_shape(&self, v: usize) -> Option<[usize; 3]> {
        self.view_image_shapes
            .get(v)
            .copied()
            .flatten()
            .or_else(|| match self.image_shape {
                Some((h, w)) if self.views.get(v).is_some_and(|m| m.cols == h * w) => {
                    Some([1, h, w])
                }
                _ => None,
            })
    }
    /// Number of items.
    pub fn len(&self) -> usize {
        self.views[0].rows
    }
    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The dimension of each view.
    pub fn view_dims(&self) -> Vec<usize> {
        self.views.iter().map(|m| m.cols).collect()
    }
    /// Whether view `v` is an image ([`MultiViewDataset::view_image_shape`]).
    pub fn is_image_view(&self, v: usize) -> bool {
        self.view_image_shape(v).is_some()
    }
    /// The index of the view called `name`.
    pub fn view_index(&self, name: &str) -> Result<usize> {
        self.view_names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| {
                Error::config(
                    "views",
                    name,
                    format!("no such view; available: {}", self.view_names.join(", ")),
                )
            })
    }
    /// The items at `idx`, in that order, with every view.
    pub fn subset(&self, idx: &[usize]) -> MultiViewDataset {
        MultiViewDataset {
            views: self.views.iter().map(|m| m.select_rows(idx)).collect(),
            labels: self
                .labels
                .as_ref()
                .map(|l| idx.iter().map(|&i| l[i]).collect()),
            n_classes: self.n_classes,
            view_names: self.view_names.clone(),
            image_shape: self.image_shape,
            view_image_shapes: self.view_image_shapes.clone(),
            targets: self.targets.as_ref().map(|t| t.select_rows(idx)),
            present: self.present.as_ref().and_then(|p| {
                let sub: Vec<Vec<bool>> = p
                    .iter()
                    .map(|m| idx.iter().map(|&i| m[i]).collect())
                    .collect();
                (!sub.iter().all(|m| m.iter().all(|&x| x))).then_some(sub)
            }),
            item_ids: self
                .item_ids
                .as_ref()
                .map(|ids| idx.iter().map(|&i| ids[i].clone()).collect()),
        }
    }
    /// Only the views at `which`, in that order.
    pub fn select_views(&self, which: &[usize]) -> Result<MultiViewDataset> {
        if which.is_empty() {
            return Err(Error::Data("select at least one view".into()));
        }
        let mut views = Vec::with_capacity(which.len());
        let mut names = Vec::with_capacity(which.len());
        for &v in which {
            let m = self.views.get(v).ok_or_else(|| {
                Error::config("views", v, format!("only {} views", self.views.len()))
            })?;
            views.push(m.clone());
            names.push(self.view_names[v].clone());
        }
        let image_shape = self
            .image_shape
            .filter(|&(h, w)| views.iter().any(|m| m.cols == h * w));
        Ok(MultiViewDataset {
            views,
            labels: self.labels.clone(),
            n_classes: self.n_classes,
            view_names: names,
            image_shape,
            view_image_shapes: if self.view_image_shapes.is_empty() {
                Vec::new()
            } else {
                which.iter().map(|&v| self.view_image_shapes[v]).collect()
            },
            targets: self.targets.clone(),
            present: self
                .present
                .as_ref()
                .map(|p| which.iter().map(|&v| p[v].clone()).collect()),
            item_ids: self.item_ids.clone(),
        })
    }
}

/// A training set and a test set, kept apart.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetSplits {
    /// The training items (shared: the batch producer reads them without a copy). For
    /// memory-mapped views, an evenly spaced in-memory sample of them ([`mapped`]).
    pub train: Arc<MultiViewDataset>,
    /// The held-out test items (for memory-mapped views, a sample of them).
    pub test: MultiViewDataset,
    /// Every training item, memory-mapped, when the views are read from disk as training goes
    /// ([`mapped`]): the batch producer reads these, the rest uses [`Self::train`].
    pub train_rows: Option<Arc<mapped::MappedViews>>,
    /// Every test item, memory-mapped, in the same case (`test` is then a sample of them).
    pub test_rows: Option<Arc<mapped::MappedViews>>,
}

impl DatasetSplits {
    /// Number of training items (all of them, also when `train` is a sample).
    pub fn train_len(&self) -> usize {
        self.train_rows
            .as_ref()
            .map_or(self.train.len(), |r| r.len())
    }
}

/// Standardises view `v` of both splits with the training mean and standard deviation of each
/// column (columns with zero spread are only centred).
pub fn standardize_view(splits: &mut DatasetSplits, v: usize) {
    let tr = &splits.train.views[v];
    let (n, d) = (tr.rows, tr.cols);
    let mut mean = vec![0f64; d];
    let mut var = vec![0f64; d];
    for r in 0..n {
        for (c, &x) in tr.row(r).iter().enumerate() {
            mean[c] += x as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    for r in 0..n {
        for (c, &x) in tr.row(r).iter().enumerate() {
            var[c] += (x as f64 - mean[c]).powi(2);
        }
    }
    let inv: Vec<f64> = var
        .iter()
        .map(|&s| {
            let sd = (s / n.max(1) as f64).sqrt();
            if sd > 1e-12 {
                1.0 / sd
            } else {
                1.0
            }
        })
        .collect();
    for m in [
        &mut Arc::make_mut(&mut splits.train).views[v],
        &mut splits.test.views[v],
    ] {
        for (i, x) in m.data.iter_mut().enumerate() {
            let c = i % d;
            *x = ((*x as f64 - mean[c]) * inv[c]) as f32;
        }
    }
}

/// The named datasets [`load_named`] knows.
pub const NAMED_DATASETS: [&str; 3] = ["mfeat", "fashion-mnist", "mnist"];

/// Loads a named dataset as train/test splits.
///
/// - `"mfeat"`: the embedded UCI Multiple Features set ([`mfeat`]); `views` selects two or more of
///   `pix, fou, fac, kar, zer, mor` by name (default `pix, fou`). Split: the fixed permutation
///   [`mfeat::mfeat_permutation`] (numpy `RandomState(0).permutation(2000)`), first 1,500 rows
///   train, last 500 test. `pix` (0-6) is scaled to `[0, 1]` and declared a 16 x 15 image; every
///   other view is standardised per column with the training mean and standard deviation.
/// - `"fashion-mnist"`, `"mnist"`: the IDX files (`train-images-idx3-ubyte[.gz]`,
///   `train-labels-idx1-ubyte[.gz]`, `t10k-...`), 60,000 train / 10,000 test, one view `image`
///   of 28 x 28 pixels scaled to `[0, 1]`, 10 classes. The folder is `data_dir` (or
///   `data_dir/<name>`), else `$MIB_DATA` (or `$MIB_DATA/<name>`), else
///   `/usr/share/datasets/<name>` (Debian's `dataset-fashion-mnist` package).
pub fn load_named(
    name: &str,
    data_dir: Option<&Path>,
    views: Option<&[String]>,
) -> Result<DatasetSplits> {
    match name {
        "mfeat" => load_mfeat_splits(views),
        "fashion-mnist" | "mnist" => {
            if let Some(v) = views {
                if v.iter().any(|s| s != "image") {
                    return Err(Error::config(
                        "data.views",
                        v.join(","),
                        format!(
                            "{name} has a single view `image`; make two views with augmentations"
                        ),
                    ));
                }
            }
            let dir = find_idx_dir(name, data_dir)?;
            load_idx_dir(&dir)
        }
        _ => Err(Error::config(
            "data.dataset",
            name,
            format!("unknown dataset; known: {}", NAMED_DATASETS.join(", ")),
        )),
    }
}

fn load_mfeat_splits(views: Option<&[String]>) -> Result<DatasetSplits> {
    let all = mfeat::load_mfeat_all()?;
    let default = ["pix".to_string(), "fou".to_string()];
    let names = views.unwrap_or(&default);
    if names.is_empty() {
        return Err(Error::config(
            "data.views",
            "[]",
            "select at least one mfeat view",
        ));
    }
    let idx = names
        .iter()
        .map(|n| all.view_index(n))
        .collect::<Result<Vec<_>>>()?;
    let mut ds = all.select_views(&idx)?;
    for (v, n) in ds.view_names.clone().iter().enumerate() {
        if n == "pix" {
            ds.views[v].data.iter_mut().for_each(|x| *x /= 6.0);
        }
    }
    if ds.view_names.iter().any(|n| n == "pix") {
        ds.image_shape = Some(mfeat::MFEAT_PIX_SHAPE);
    }
    let perm = mfeat::mfeat_permutation();
    let mut splits = DatasetSplits {
        train: Arc::new(ds.subset(&perm[..1500])),
        test: ds.subset(&perm[1500..]),
        train_rows: None,
        test_rows: None,
    };
    for (v, n) in ds.view_names.iter().enumerate() {
        if n != "pix" {
            standardize_view(&mut splits, v);
        }
    }
    Ok(splits)
}

const IDX_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

fn find_file(dir: &Path, stem: &str) -> Option<PathBuf> {
    [
        format!("{stem}.gz"),
        stem.to_string(),
        stem.replacen("-idx", ".idx", 1),
    ]
    .iter()
    .map(|f| dir.join(f))
    .find(|p| p.is_file())
}

fn find_idx_dir(name: &str, data_dir: Option<&Path>) -> Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(d) = data_dir {
        candidates.push(d.to_path_buf());
        candidates.push(d.join(name));
    } else if let Some(d) = std::env::var_os("MIB_DATA") {
        let d = PathBuf::from(d);
        candidates.push(d.clone());
        candidates.push(d.join(name));
    } else {
        candidates.push(PathBuf::from("/usr/share/datasets").join(name));
    }
    for c in &candidates {
        if find_file(c, IDX_FILES[0]).is_some() {
            return Ok(c.clone());
        }
    }
    let hint = if name == "fashion-mnist" {
        "install it with `apt-get install dataset-fashion-mnist` (files go to /usr/share/datasets/fashion-mnist)"
            .to_string()
    } else {
        format!("download the four IDX files (train-images-idx3-ubyte.gz, ...) of {name} into one folder")
    };
    Err(Error::Data(format!(
        "dataset {name} not found: no {}[.gz] in {}; {hint}, then pass --data-dir or set MIB_DATA",
        IDX_FILES[0],
        candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" or ")
    )))
}

/// Reads an IDX image file and its label file as a one-view image dataset, pixels scaled to
/// `[0, 1]` (u8 / 255), 10 classes unless labels say more.
pub fn load_idx_pair(images: &Path, labels: &Path) -> Result<MultiViewDataset> {
    load_idx_pair_with(images, labels, None)
}

/// The most classes a labelled dataset may have (labels `0..MAX_CLASSES`): the evaluation keeps
/// per-class tables, so a stray label of 4e9 must be refused, not allocated for.
pub const MAX_CLASSES: u32 = 1 << 20;

/// The number of classes of MNIST and Fashion-MNIST (labels 0 to 9).
pub const MNIST_CLASSES: usize = 10;

/// [`load_idx_pair`] with a fixed number of classes: every label must be `< n_classes`, else the
/// error names the label file, the value and its item. `None` infers `max(10, max label + 1)`.
pub fn load_idx_pair_with(
    images: &Path,
    labels: &Path,
    n_classes: Option<usize>,
) -> Result<MultiViewDataset> {
    let img = idx::read_idx(images)?;
    if img.shape.len() != 3 {
        return Err(Error::format(
            images,
            format!(
                "expected a 3-dimensional IDX image file, shape is {:?}",
                img.shape
            ),
        ));
    }
    let scale = if matches!(img.data, Elements::U8(_)) {
        1.0 / 255.0
    } else {
        1.0
    };
    let m = img.to_matrix(scale, images)?;
    let lab = idx::read_idx(labels)?;
    if lab.shape.len() != 1 || lab.shape[0] != m.rows {
        return Err(Error::format(
            labels,
            format!(
                "expected {} labels (one per image of {}), shape is {:?}",
                m.rows,
                images.display(),
                lab.shape
            ),
        ));
    }
    let y = lab.to_labels(labels)?;
    let k = match n_classes {
        Some(k) => {
            if let Some(i) = y.iter().position(|&v| v as usize >= k) {
                return Err(Error::format(
                    labels,
                    format!(
                        "label {} of item {i} is out of range: this dataset has {k} classes \
                         (labels 0 to {})",
                        y[i],
                        k.saturating_sub(1)
                    ),
                ));
            }
            k
        }
        None => y.iter().max().map_or(10, |&x| (x as usize + 1).max(10)),
    };
    MultiViewDataset::new(vec![m], Some(y), Some(k))?
        .with_view_names(vec!["image".into()])?
        .with_image_shape((img.shape[1], img.shape[2]))
}

/// Loads the four MNIST-style IDX files of `dir` as train/test splits with [`MNIST_CLASSES`]
/// classes (MNIST, Fashion-MNIST).
pub fn load_idx_dir(dir: &Path) -> Result<DatasetSplits> {
    load_idx_dir_with(dir, Some(MNIST_CLASSES))
}

/// Loads the four MNIST-style IDX files of `dir` as train/test splits; `n_classes` as in
/// [`load_idx_pair_with`]. When it is inferred, the test labels must fall within the classes of
/// the training labels (a probe fitted on the training split cannot predict any other class).
pub fn load_idx_dir_with(dir: &Path, n_classes: Option<usize>) -> Result<DatasetSplits> {
    let f = |stem: &str| {
        find_file(dir, stem)
            .ok_or_else(|| Error::Data(format!("{}: missing {stem}[.gz]", dir.display())))
    };
    let train = load_idx_pair_with(&f(IDX_FILES[0])?, &f(IDX_FILES[1])?, n_classes)?;
    let test_labels = f(IDX_FILES[3])?;
    let mut test = load_idx_pair_with(&f(IDX_FILES[2])?, &test_labels, n_classes)?;
    if train.image_shape != test.image_shape {
        return Err(Error::shape(
            "test image shape",
            format!("{:?}", train.image_shape),
            format!("{:?}", test.image_shape),
        ));
    }
    if test.n_classes > train.n_classes {
        let y = test.labels.as_deref().unwrap_or(&[]);
        let i = y
            .iter()
            .position(|&v| v as usize >= train.n_classes)
            .unwrap_or(0);
        return Err(Error::format(
            &test_labels,
            format!(
                "label {} of item {i} is not a class of the training labels (0 to {})",
                y.get(i).copied().unwrap_or(0),
                train.n_classes - 1
            ),
        ));
    }
    test.n_classes = train.n_classes;
    Ok(DatasetSplits {
        train: Arc::new(train),
        test,
        train_rows: None,
        test_rows: None,
    })
}

fn file_stem(p: &Path) -> String {
    let s = p
        .file_name()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    s.split('.').next().unwrap_or("").to_string()
}

fn check_rows(paths: &[PathBuf], views: &[Matrix]) -> Result<()> {
    for (p, m) in paths.iter().zip(views).skip(1) {
        if m.rows != views[0].rows {
            return Err(Error::format(
                p,
                format!(
                    "{} rows, but the first view {} has {}",
                    m.rows,
                    paths[0].display(),
                    views[0].rows
                ),
            ));
        }
    }
    Ok(())
}

fn labels_checked(path: &Path, labels: Vec<u32>, n: usize) -> Result<Vec<u32>> {
    if labels.len() != n {
        return Err(Error::format(
            path,
            format!("{} labels, but the views have {n} rows", labels.len()),
        ));
    }
    Ok(labels)
}

/// The image shape `[c, h, w]` an array of `shape` holds: `[n, h, w]` is grey (`c = 1`),
/// `[n, c, h, w]` has `c` channels (NCHW); other ranks hold no image.
pub fn image_shape_of(shape: &[usize]) -> Option<[usize; 3]> {
    match *shape {
        [_, h, w] => Some([1, h, w]),
        [_, c, h, w] => Some([c, h, w]),
        _ => None,
    }
    .filter(|s| !s.contains(&0))
}

/// Reads one `.npy` file per view (`f4`, `f8`, `u1`, ... of shape `(n, ...)`, flattened to
/// `n x dim`; values are taken as they are) and an optional labels file: class indices (integers
/// of shape `(n,)`), or multi-hot targets (0/1 values of shape `(n, n_labels)`, kept as
/// [`MultiViewDataset::targets`]). A path `archive.npz:array` reads one array of an `.npz`
/// archive ([`npz`]). Views are named after their file stems (or array names). A view of shape
/// `[n, h, w]` or `[n, c, h, w]` is an image of `[1, h, w]` or `[c, h, w]`
/// ([`MultiViewDataset::view_image_shape`]).
pub fn load_npy_views(paths: &[PathBuf], labels: Option<&Path>) -> Result<MultiViewDataset> {
    load_npy_views_with(paths, labels, MissingRows::None, &[])
}

/// [`load_npy_views`] for views that may lack items ([`missing`]): `missing` turns all-NaN rows
/// into missing items; `present[v]`, when given (an empty path: none), is the presence mask file
/// of view `v` ([`read_mask`]). Errors name the view file of a mask of the wrong length.
pub fn load_npy_views_with(
    paths: &[PathBuf],
    labels: Option<&Path>,
    missing: MissingRows,
    present: &[PathBuf],
) -> Result<MultiViewDataset> {
    load_npy_views_ids(paths, labels, missing, present, &[])
}

/// [`load_npy_views_with`] for views that may come with their own item ids: `ids[v]`, when
/// `ids` is not empty, is the ids file of view `v` ([`missing::read_ids`]), and the views are
/// aligned on the union of the ids ([`missing::align_ids`]; an item a view lacks is a missing
/// view). The labels file then holds one label per aligned item, in the order of the union (the
/// first view's ids, then each later view's new ids). Not with `present` (the ids say it).
pub fn load_npy_views_ids(
    paths: &[PathBuf],
    labels: Option<&Path>,
    missing: MissingRows,
    present: &[PathBuf],
    ids: &[PathBuf],
) -> Result<MultiViewDataset> {
    if paths.is_empty() {
        return Err(Error::Data("give at least one view file".into()));
    }
    if !ids.is_empty() && ids.len() != paths.len() {
        return Err(Error::config(
            "data.ids",
            ids.len(),
            format!("give one ids file per view ({} views)", paths.len()),
        ));
    }
    if !ids.is_empty() && !present.is_empty() {
        return Err(Error::config(
            "data.present",
            present.len(),
            "give data.ids or data.present, not both (the ids say which items a view has)",
        ));
    }
    let masks = missing::read_masks(paths, present)?;
    let mut shapes = Vec::with_capacity(paths.len());
    let mut views = paths
        .iter()
        .enumerate()
        .map(|(v, p)| {
            let a = npz::read_array(p)?;
            shapes.push(image_shape_of(&a.shape));
            a.to_matrix_missing(
                1.0,
                p,
                missing == MissingRows::NanRows,
                masks.get(v).and_then(|m| m.as_deref()),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let names: Vec<String> = paths.iter().map(|p| npz::view_name(p)).collect();
    let mut item_ids = None;
    let masks = if ids.is_empty() {
        masks
    } else {
        let ids = ids
            .iter()
            .map(|p| missing::read_ids(p))
            .collect::<Result<Vec<_>>>()?;
        let (items, present) = missing::align_views_by_ids(&mut views, &ids, &names)?;
        item_ids = Some(items);
        present.into_iter().map(Some).collect()
    };
    let present = mark_missing(&mut views, &names, missing, &masks)?;
    check_rows(paths, &views)?;
    let n = views[0].rows;
    let (mut y, mut targets) = (None, None);
    if let Some(p) = labels {
        let a = npz::read_array(p)?;
        if a.shape.len() == 2 {
            let t = a.to_matrix(1.0, p)?;
            if t.rows != n {
                return Err(Error::format(
                    p,
                    format!("{} rows of targets, but the views have {n} rows", t.rows),
                ));
            }
            targets = Some(t);
        } else {
            y = Some(labels_checked(p, a.to_labels(p)?, n)?);
        }
    }
    let mut ds = MultiViewDataset::new(views, y, None)?
        .with_view_names(names)?
        .with_present(present)?;
    ds.item_ids = item_ids;
    for (v, shape) in shapes.into_iter().enumerate() {
        if let Some(shape) = shape {
            ds = ds.with_view_image_shape(v, shape)?;
        }
    }
    match (targets, labels) {
        (Some(t), Some(p)) => ds
            .with_targets(t)
            .map_err(|e| Error::format(p, e.to_string())),
        _ => Ok(ds),
    }
}

/// Reads one CSV file per view with `opts`. Labels come from `labels` (a one-column CSV) when
/// given, else from the label column of the files (`opts.label`), which must then agree.
pub fn load_csv_views(
    paths: &[PathBuf],
    labels: Option<&Path>,
    opts: &CsvOptions,
) -> Result<MultiViewDataset> {
    if paths.is_empty() {
        return Err(Error::Data("give at least one view file".into()));
    }
    let tables = paths
        .iter()
        .map(|p| csv::read_csv(p, opts))
        .collect::<Result<Vec<_>>>()?;
    let mut y: Option<Vec<u32>> = None;
    for (p, t) in paths.iter().zip(&tables) {
        if let (Some(a), Some(b)) = (&y, &t.labels) {
            if let Some(i) = a.iter().zip(b).position(|(x, z)| x != z) {
                return Err(Error::format(
                    p,
                    format!(
                        "label at row {i} differs from the one in {}",
                        paths[0].display()
                    ),
                ));
            }
        }
        if y.is_none() {
            y = t.labels.clone();
        }
    }
    let views: Vec<Matrix> = tables.into_iter().map(|t| t.features).collect();
    check_rows(paths, &views)?;
    if let Some(p) = labels {
        let t = csv::read_csv(
            p,
            &CsvOptions {
                label: LabelColumn::Index(0),
                ..opts.clone()
            },
        )?;
        y = t.labels;
    }
    let y = match (y, labels) {
        (Some(y), Some(p)) => Some(labels_checked(p, y, views[0].rows)?),
        (Some(y), None) => Some(labels_checked(&paths[0], y, views[0].rows)?),
        (None, _) => None,
    };
    MultiViewDataset::new(views, y, None)?
        .with_view_names(paths.iter().map(|p| file_stem(p)).collect())
}
