//! Views larger than memory: `.npy` files memory-mapped and read row by row.
//!
//! A [`MappedArray`] maps one `.npy` file or uncompressed `.npz` member (C order; `f4`, `f2`, `f8`,
//! `u1`, `i1`, `i2`, either byte order) and converts the rows it is asked for to `f32`. Nothing is
//! read before training: opening checks the header and the file's length only, so the first batch
//! comes at once and the pages the batches touch stay in the page cache (file-backed memory the
//! kernel can drop), not in the process's anonymous memory.
//!
//! [`MappedViews`] is one split of such a dataset: the rows of the files it holds (an index list,
//! no copy), their labels, and the view names. The batch producer reads it through
//! [`RowSource`](super::RowSource). Whatever needs whole matrices (the input scaling's statistics,
//! the probes, evaluation) gets an evenly spaced in-memory sample of it ([`MappedViews::sample`]),
//! at most [`SAMPLE_BYTES`] of `f32` values per split.
//!
//! Values are checked as they are read: a NaN or infinity in a row stops training with an error
//! naming the file, the row and the column.

use super::{npy, npz, DatasetSplits, MultiViewDataset};
use crate::{Error, Matrix, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Whether `npy` views are memory-mapped (config key `data.memory_map`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryMap {
    /// Map when every view can be (a C-ordered `.npy` file or uncompressed `.npz` member, not
    /// gzip) and the views would take more than [`AUTO_MAP_BYTES`] as `f32` in memory.
    #[default]
    Auto,
    /// Always map (an error names the view that cannot be mapped).
    Always,
    /// Always read the views into memory.
    Never,
}

impl MemoryMap {
    /// Whether this is the default (`auto`).
    pub fn is_auto(&self) -> bool {
        *self == MemoryMap::Auto
    }
}

/// `auto` maps views whose `f32` copy would take more than this (1 GiB).
pub const AUTO_MAP_BYTES: u64 = 1 << 30;

/// The in-memory sample of each split of a mapped dataset holds at most this many bytes of `f32`
/// values (256 MiB): it feeds the input scaling's statistics, the probes and evaluation.
pub const SAMPLE_BYTES: u64 = 256 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dtype {
    F32,
    F16,
    F64,
    U8,
    I8,
    I16,
}

/// One memory-mapped `.npy` array of shape `(rows, ...)`, read as `rows x cols` (`cols`: the
/// product of the other dimensions).
pub struct MappedArray {
    path: PathBuf,
    map: memmap2::Mmap,
    offset: usize,
    dtype: Dtype,
    /// Bytes per stored value.
    elem: usize,
    big_endian: bool,
    rows: usize,
    cols: usize,
    /// `[c, h, w]` when the array is `[n, h, w]` or `[n, c, h, w]`.
    image_shape: Option<[usize; 3]>,
}

impl std::fmt::Debug for MappedArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedArray")
            .field("path", &self.path)
            .field("dtype", &self.dtype)
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .finish()
    }
}

/// Two maps are equal when they map the same file region the same way.
impl PartialEq for MappedArray {
    fn eq(&self, o: &Self) -> bool {
        (
            &self.path,
            self.offset,
            self.dtype,
            self.big_endian,
            self.rows,
            self.cols,
        ) == (&o.path, o.offset, o.dtype, o.big_endian, o.rows, o.cols)
    }
}

/// A mapped `.npy` file or stored `.npz` member: the map, its header, and the byte range of the
/// `.npy` bytes in the map.
struct RawMap {
    map: memmap2::Mmap,
    header: npy::NpyHeader,
    base: usize,
    len: usize,
}

/// Maps `spec` (a `.npy` path, or `archive.npz:array` for a member stored uncompressed) and parses
/// its header; errors name `spec`.
fn map_npy(spec: &Path) -> Result<RawMap> {
    let (file, range) = match npz::split_member(spec) {
        Some((archive, name)) => {
            let (off, len) = npz::stored_extent(&archive, &name)?;
            (archive, Some((off as usize, len as usize)))
        }
        None => (spec.to_path_buf(), None),
    };
    let f = std::fs::File::open(&file).map_err(|e| Error::io("opening", &file, e))?;
    // SAFETY: the map is read-only. Another process truncating or rewriting the file while it is
    // mapped is outside what this can guard against (as for every mapped reader).
    let map =
        unsafe { memmap2::Mmap::map(&f) }.map_err(|e| Error::io("memory-mapping", &file, e))?;
    let (base, len) = range.unwrap_or((0, map.len()));
    if base + len > map.len() {
        return Err(Error::format(
            spec,
            "the member runs past the end of the archive",
        ));
    }
    let bytes = &map[base..base + len];
    if super::array::is_gzip(bytes) {
        return Err(Error::format(
            spec,
            "cannot be memory-mapped: it is gzip-compressed (decompress it, or set data.memory_map = \"never\")",
        ));
    }
    let header = npy::parse_npy_header(bytes, spec)?;
    Ok(RawMap {
        map,
        header,
        base,
        len,
    })
}

impl MappedArray {
    /// Maps `path` (a `.npy` file, or `archive.npz:array` for an array stored uncompressed, as
    /// `np.savez` writes them) and checks its header and length (no data is read). Errors name the
    /// file or member.
    pub fn open(path: &Path) -> Result<Self> {
        let RawMap {
            map,
            header: h,
            base,
            len,
        } = map_npy(path)?;
        let dtype = match h.code.as_str() {
            "f4" => Dtype::F32,
            "f2" => Dtype::F16,
            "f8" => Dtype::F64,
            "u1" | "b1" => Dtype::U8,
            "i1" => Dtype::I8,
            "i2" => Dtype::I16,
            other => {
                return Err(Error::format(
                    path,
                    format!("cannot be memory-mapped: dtype '{other}' (mapped views: f4, f2, f8, u1, i1, i2)"),
                ))
            }
        };
        if h.fortran_order && h.shape.len() > 1 {
            return Err(Error::format(
                path,
                "cannot be memory-mapped: the array is in Fortran (column-major) order, so a row is \
                 scattered over the file; rewrite it in C order (Python: a = np.load(path, \
                 mmap_mode='r'); np.save(new_path, np.ascontiguousarray(a))), or read it into \
                 memory with --memory-map never (data.memory_map = \"never\")",
            ));
        }
        if h.shape.is_empty() {
            return Err(Error::format(
                path,
                "a view needs a shape (items, ...), got ()",
            ));
        }
        super::array::check_payload_len(
            path,
            len,
            &h.shape,
            h.elem_size,
            h.data_offset,
            &format!("NPY data ('{}')", h.descr),
        )?;
        let rows = h.shape[0];
        let cols = h.shape[1..].iter().product();
        Ok(MappedArray {
            path: path.to_path_buf(),
            map,
            offset: base + h.data_offset,
            dtype,
            elem: h.elem_size,
            big_endian: h.big_endian,
            rows,
            cols,
            image_shape: super::image_shape_of(&h.shape),
        })
    }
    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Number of rows (items).
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Values per row.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Converts row `r` to `f32` into `out` (`cols` long). On a NaN or infinity, returns its
    /// column (the rest of `out` is then unspecified).
    pub fn row_into(&self, r: usize, out: &mut [f32]) -> std::result::Result<(), usize> {
        let n = self.cols * self.elem;
        let start = self.offset + r * n;
        let b = &self.map[start..start + n];
        let big = self.big_endian;
        macro_rules! conv {
            ($t:ty, $k:expr, $f:expr) => {
                for (o, c) in out.iter_mut().zip(b.chunks_exact($k)) {
                    let a: [u8; $k] = c.try_into().unwrap();
                    let v = if big {
                        <$t>::from_be_bytes(a)
                    } else {
                        <$t>::from_le_bytes(a)
                    };
                    *o = $f(v);
                }
            };
        }
        match self.dtype {
            Dtype::U8 => {
                for (o, &v) in out.iter_mut().zip(b) {
                    *o = v as f32;
                }
                return Ok(());
            }
            Dtype::I8 => {
                for (o, &v) in out.iter_mut().zip(b) {
                    *o = v as i8 as f32;
                }
                return Ok(());
            }
            Dtype::I16 => {
                conv!(i16, 2, |v: i16| v as f32);
                return Ok(());
            }
            Dtype::F16 => conv!(u16, 2, npy::f16_to_f32),
            Dtype::F32 => conv!(f32, 4, |v: f32| v),
            Dtype::F64 => conv!(f64, 8, |v: f64| v as f32),
        }
        // A branch-free pass (vectorised); the column is looked for only when one is bad.
        if out.iter().fold(false, |bad, v| bad | !v.is_finite()) {
            return Err(out.iter().position(|v| !v.is_finite()).unwrap_or(0));
        }
        Ok(())
    }
    /// Marks every row that is entirely NaN as missing in `present` (`rows` entries), in one
    /// streaming pass over the file: one converted row in memory at a time, the file's pages
    /// read in order (they stay in the page cache, which the kernel can drop). Integer views
    /// hold no NaN and are not read.
    pub fn mark_nan_rows(&self, present: &mut [bool]) {
        if self.cols == 0 || !matches!(self.dtype, Dtype::F32 | Dtype::F16 | Dtype::F64) {
            return;
        }
        let _ = self.map.advise(memmap2::Advice::Sequential);
        let mut row = vec![0f32; self.cols];
        for (r, p) in present.iter_mut().enumerate().take(self.rows) {
            // a row is checked for NaN only when it has a non-finite value at all
            if *p && self.row_into(r, &mut row).is_err() && row.iter().all(|x| x.is_nan()) {
                *p = false;
            }
        }
        // training reads rows in random order
        let _ = self.map.advise(memmap2::Advice::Normal);
    }
    /// Asks the kernel to start reading `rows` (advice only: failures change nothing).
    fn will_need(&self, rows: impl Iterator<Item = usize>) {
        let n = self.cols * self.elem;
        for r in rows {
            let _ = self
                .map
                .advise_range(memmap2::Advice::WillNeed, self.offset + r * n, n);
        }
    }
    /// The error for a non-finite value at row `r`, column `c`.
    fn nonfinite(&self, r: usize, c: usize) -> Error {
        Error::format(
            &self.path,
            format!("non-finite value at row {r}, column {c}"),
        )
    }
    /// Rows `rows` (file rows) as an in-memory matrix; errors name the first non-finite value.
    pub fn gather(&self, rows: &[u32]) -> Result<Matrix> {
        self.gather_present(rows, None)
    }
    /// [`Self::gather`], with the rows that `present` (indexed by file row) marks missing left
    /// at zero and not read.
    fn gather_present(&self, rows: &[u32], present: Option<&[bool]>) -> Result<Matrix> {
        let has = |r: u32| present.is_none_or(|p| p[r as usize]);
        // Ask the kernel for every row at once (reads in flight together when the file is not in
        // the page cache), then read them in order. Advice only: failures change nothing.
        self.will_need(rows.iter().filter(|&&r| has(r)).map(|&r| r as usize));
        let mut m = Matrix::zeros(rows.len(), self.cols);
        for (i, &r) in rows.iter().enumerate().filter(|(_, &r)| has(r)) {
            self.row_into(r as usize, m.row_mut(i))
                .map_err(|c| self.nonfinite(r as usize, c))?;
        }
        Ok(m)
    }
}

/// One split of a memory-mapped dataset: rows of the files (an index list), with their labels.
#[derive(Debug, PartialEq)]
pub struct MappedViews {
    arrays: Vec<Arc<MappedArray>>,
    /// The multi-hot targets, when the labels file is a 2-D array.
    targets: Option<Arc<MappedArray>>,
    /// The file row of each item of this split.
    rows: Vec<u32>,
    labels: Option<Vec<u32>>,
    n_classes: usize,
    view_names: Vec<String>,
    /// Which file rows each view has (`present[v][file row]`), when some view lacks some item
    /// (docs/missing-views.md): a missing row reads as zeros and is never read from the file.
    present: Option<Arc<Vec<Vec<bool>>>>,
}

impl MappedViews {
    /// Number of items.
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
    /// The width of each view.
    pub fn view_dims(&self) -> Vec<usize> {
        self.arrays.iter().map(|a| a.cols).collect()
    }
    /// The width of view `v`.
    pub fn view_dim(&self, v: usize) -> usize {
        self.arrays[v].cols
    }
    /// `[c, h, w]` of view `v` when its file is an `[n, h, w]` or `[n, c, h, w]` array.
    pub fn view_image_shape(&self, v: usize) -> Option<[usize; 3]> {
        self.arrays.get(v).and_then(|a| a.image_shape)
    }
    /// The view names (file stems).
    pub fn view_names(&self) -> &[String] {
        &self.view_names
    }
    /// The class of each item, when labelled.
    pub fn labels(&self) -> Option<&[u32]> {
        self.labels.as_deref()
    }
    /// Number of classes (0 when unlabelled).
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }
    /// The file row of item `item`.
    pub fn file_row(&self, item: usize) -> usize {
        self.rows[item] as usize
    }
    /// The items at `idx`, in that order (a view of the same files: no row is read). The
    /// presence masks are kept when some item of the selection lacks a view.
    pub fn select(&self, idx: &[usize]) -> MappedViews {
        let present = self.present.as_ref().filter(|p| {
            idx.iter()
                .any(|&i| p.iter().any(|m| !m[self.rows[i] as usize]))
        });
        MappedViews {
            arrays: self.arrays.clone(),
            targets: self.targets.clone(),
            rows: idx.iter().map(|&i| self.rows[i]).collect(),
            labels: self
                .labels
                .as_ref()
                .map(|l| idx.iter().map(|&i| l[i]).collect()),
            n_classes: self.n_classes,
            view_names: self.view_names.clone(),
            present: present.cloned(),
        }
    }
    /// Whether some view lacks some item.
    pub fn has_missing(&self) -> bool {
        self.present.is_some()
    }
    /// Whether view `v` has item `item`.
    pub fn is_present(&self, v: usize, item: usize) -> bool {
        self.present
            .as_ref()
            .is_none_or(|p| p[v][self.rows[item] as usize])
    }
    /// Sets which file rows each view has (`present[v][file row]`; `None`: all of them), checked
    /// as [`super::missing::check_presence`] checks it.
    pub fn with_present(mut self, present: Option<Vec<Vec<bool>>>) -> Result<Self> {
        if let Some(p) = &present {
            let n = self.arrays.first().map_or(0, |a| a.rows);
            super::missing::check_presence(p, &self.view_names, n)?;
        }
        self.present = present.map(Arc::new);
        Ok(self)
    }
    /// Converts view `v` of item `item` to `f32` into `out` (zeros when the view lacks the item:
    /// the file's row is then not read); errors name the file, row and column of a non-finite
    /// value.
    pub fn row_into(&self, v: usize, item: usize, out: &mut [f32]) -> Result<()> {
        if !self.is_present(v, item) {
            out.fill(0.0);
            return Ok(());
        }
        let a = &self.arrays[v];
        let r = self.file_row(item);
        a.row_into(r, out).map_err(|c| a.nonfinite(r, c))
    }
    /// Items spaced evenly over the split (every item when it fits), at most `max_bytes` of
    /// `f32` values, in memory with their labels and targets.
    pub fn sample(&self, max_bytes: u64) -> Result<MultiViewDataset> {
        let row_bytes = 4 * self.view_dims().iter().sum::<usize>().max(1) as u64;
        let n = self.len();
        let m = n.min((max_bytes / row_bytes).max(1) as usize);
        let picks: Vec<usize> = (0..m)
            .map(|i| ((i as u128 * n as u128) / m.max(1) as u128) as usize)
            .collect();
        let file_rows: Vec<u32> = picks.iter().map(|&i| self.rows[i]).collect();
        let views = self
            .arrays
            .iter()
            .enumerate()
            .map(|(v, a)| {
                a.gather_present(&file_rows, self.present.as_ref().map(|p| p[v].as_slice()))
            })
            .collect::<Result<Vec<_>>>()?;
        let labels = self
            .labels
            .as_ref()
            .map(|l| picks.iter().map(|&i| l[i]).collect());
        let mut ds = MultiViewDataset::new(views, labels, Some(self.n_classes))?
            .with_view_names(self.view_names.clone())?;
        // the sample's items with the views they have (`None` when the sample is complete, as
        // MultiViewDataset::subset gives it)
        ds.present = self.present.as_ref().and_then(|p| {
            let sub: Vec<Vec<bool>> = p
                .iter()
                .map(|m| file_rows.iter().map(|&r| m[r as usize]).collect())
                .collect();
            (!sub.iter().all(|m| m.iter().all(|&x| x))).then_some(sub)
        });
        for v in 0..self.arrays.len() {
            if let Some(shape) = self.view_image_shape(v) {
                ds = ds.with_view_image_shape(v, shape)?;
            }
        }
        match &self.targets {
            Some(t) => {
                let tm = t.gather(&file_rows)?;
                ds.with_targets(tm)
                    .map_err(|e| Error::format(&t.path, e.to_string()))
            }
            None => Ok(ds),
        }
    }
}

impl MappedViews {
    /// Maps one `.npy` file per view, every row an item, with optional class labels (an integer
    /// `.npy` of shape `(n,)`, read into memory). Nothing else is read.
    pub fn open(paths: &[PathBuf], labels: Option<&Path>) -> Result<Self> {
        let (arrays, targets) = open_views(paths, labels, MemoryMap::Always)?
            .ok_or_else(|| Error::Data("give at least one view file".into()))?;
        Self::whole(paths, arrays, targets, labels)
    }

    /// Every row of the mapped `arrays` (opened from `paths`) an item, with the labels of
    /// `labels` (read into memory) unless `targets` holds them.
    fn whole(
        paths: &[PathBuf],
        arrays: Vec<Arc<MappedArray>>,
        targets: Option<Arc<MappedArray>>,
        labels: Option<&Path>,
    ) -> Result<Self> {
        let n = arrays[0].rows;
        let labels = match (labels, &targets) {
            (Some(p), None) => {
                let a = npz::read_array(p)?;
                Some(super::labels_checked(p, a.to_labels(p)?, n)?)
            }
            _ => None,
        };
        if let Some(t) = &targets {
            if t.rows != n {
                return Err(Error::format(
                    &t.path,
                    format!("{} rows of targets, but the views have {n} rows", t.rows),
                ));
            }
        }
        let n_classes = labels
            .as_ref()
            .and_then(|l| l.iter().max())
            .map_or(0, |&m| m as usize + 1);
        Ok(MappedViews {
            arrays,
            targets,
            rows: (0..n as u32).collect(),
            labels,
            n_classes,
            view_names: paths.iter().map(|p| npz::view_name(p)).collect(),
            present: None,
        })
    }
}

/// The mapped views and, when the labels file holds multi-hot targets, the mapped targets.
pub type OpenedViews = (Vec<Arc<MappedArray>>, Option<Arc<MappedArray>>);

/// Opens every view (and a 2-D labels file) mapped when `mode` and the files allow it; `None`
/// when they are to be read into memory instead. Errors (with `always`) name the view that
/// cannot be mapped and why.
pub fn open_views(
    paths: &[PathBuf],
    labels: Option<&Path>,
    mode: MemoryMap,
) -> Result<Option<OpenedViews>> {
    if mode == MemoryMap::Never || paths.is_empty() {
        return Ok(None);
    }
    let mut arrays = Vec::with_capacity(paths.len());
    for p in paths {
        match MappedArray::open(p) {
            Ok(a) => arrays.push(Arc::new(a)),
            // `auto` falls back to reading the files (which reports their own errors).
            Err(_) if mode == MemoryMap::Auto => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    let f32_bytes: u64 = arrays
        .iter()
        .map(|a| (a.rows as u64) * (a.cols as u64) * 4)
        .sum();
    if mode == MemoryMap::Auto && f32_bytes <= AUTO_MAP_BYTES {
        return Ok(None);
    }
    let n = arrays[0].rows;
    for (p, a) in paths.iter().zip(&arrays) {
        if a.rows != n {
            return Err(Error::format(
                p,
                format!("{} rows, but {} has {n}", a.rows, paths[0].display()),
            ));
        }
    }
    if n > u32::MAX as usize {
        return Err(Error::format(
            &paths[0],
            format!(
                "{n} rows: memory-mapped views hold at most {} rows",
                u32::MAX
            ),
        ));
    }
    let targets = match labels {
        Some(p) if map_npy(p).is_ok_and(|m| m.header.shape.len() == 2) => {
            Some(Arc::new(MappedArray::open(p)?))
        }
        _ => None,
    };
    Ok(Some((arrays, targets)))
}

/// The train/test splits of mapped views: `perm` (a permutation of the file rows) gives the test
/// rows first (`n_test` of them), then the training rows, as [`super::split_seeded`] does for
/// in-memory data. `train` and `test` of the result are in-memory samples
/// ([`MappedViews::sample`]); [`DatasetSplits::train_rows`] and [`DatasetSplits::test_rows`] hold every row.
/// `present` (`present[v][file row]`, [`super::missing::mapped_presence`]) says which rows each
/// view has when some view lacks some item.
pub fn mapped_splits(
    paths: &[PathBuf],
    arrays: Vec<Arc<MappedArray>>,
    targets: Option<Arc<MappedArray>>,
    labels: Option<&Path>,
    perm: &[usize],
    n_test: usize,
    present: Option<Vec<Vec<bool>>>,
) -> Result<DatasetSplits> {
    let all = MappedViews::whole(paths, arrays, targets, labels)?.with_present(present)?;
    let (test_idx, train_idx) = perm.split_at(n_test.min(perm.len()));
    let train_rows = Arc::new(all.select(train_idx));
    let test_rows = Arc::new(all.select(test_idx));
    Ok(DatasetSplits {
        train: Arc::new(train_rows.sample(SAMPLE_BYTES)?),
        test: test_rows.sample(SAMPLE_BYTES)?,
        train_rows: Some(train_rows),
        test_rows: Some(test_rows),
    })
}
