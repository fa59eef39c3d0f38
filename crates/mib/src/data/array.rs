//! A typed n-dimensional array as read from an IDX or NPY file.

use crate::{Error, Matrix, Result};
use std::path::Path;

/// The elements of an array read from a file, in their stored type, row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum Elements {
    /// Unsigned bytes (IDX `0x08`, NPY `u1`).
    U8(Vec<u8>),
    /// Signed bytes (IDX `0x09`, NPY `i1`).
    I8(Vec<i8>),
    /// 16-bit signed integers (IDX `0x0B`, NPY `i2`).
    I16(Vec<i16>),
    /// 32-bit signed integers (IDX `0x0C`, NPY `i4`).
    I32(Vec<i32>),
    /// 64-bit signed integers (NPY `i8`).
    I64(Vec<i64>),
    /// 32-bit floats (IDX `0x0D`, NPY `f4`).
    F32(Vec<f32>),
    /// 64-bit floats (IDX `0x0E`, NPY `f8`).
    F64(Vec<f64>),
}

impl Elements {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Elements::U8(v) => v.len(),
            Elements::I8(v) => v.len(),
            Elements::I16(v) => v.len(),
            Elements::I32(v) => v.len(),
            Elements::I64(v) => v.len(),
            Elements::F32(v) => v.len(),
            Elements::F64(v) => v.len(),
        }
    }
    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Size in bytes of one element.
    pub fn elem_size(&self) -> usize {
        match self {
            Elements::U8(_) | Elements::I8(_) => 1,
            Elements::I16(_) => 2,
            Elements::I32(_) | Elements::F32(_) => 4,
            Elements::I64(_) | Elements::F64(_) => 8,
        }
    }
    /// Element `i` as `f64` (exact for every stored type but `i64` beyond 2^53).
    pub fn get_f64(&self, i: usize) -> f64 {
        match self {
            Elements::U8(v) => v[i] as f64,
            Elements::I8(v) => v[i] as f64,
            Elements::I16(v) => v[i] as f64,
            Elements::I32(v) => v[i] as f64,
            Elements::I64(v) => v[i] as f64,
            Elements::F32(v) => v[i] as f64,
            Elements::F64(v) => v[i],
        }
    }
    /// Whether the elements are integers.
    pub fn is_integer(&self) -> bool {
        !matches!(self, Elements::F32(_) | Elements::F64(_))
    }
    /// All elements converted to `f32`, each multiplied by `scale`.
    pub fn to_f32_scaled(&self, scale: f32) -> Vec<f32> {
        match self {
            Elements::U8(v) => v.iter().map(|&x| x as f32 * scale).collect(),
            Elements::F32(v) if scale == 1.0 => v.clone(),
            Elements::F32(v) => v.iter().map(|&x| x * scale).collect(),
            Elements::F64(v) => v.iter().map(|&x| (x * scale as f64) as f32).collect(),
            _ => (0..self.len())
                .map(|i| (self.get_f64(i) * scale as f64) as f32)
                .collect(),
        }
    }
}

/// An n-dimensional array: its shape and its row-major elements.
#[derive(Debug, Clone, PartialEq)]
pub struct RawArray {
    /// The dimensions, outermost first (`[items, rows, cols]` for an IDX image file).
    pub shape: Vec<usize>,
    /// The elements, `shape.iter().product()` of them.
    pub data: Elements,
}

impl RawArray {
    /// Number of items (the first dimension; 1 for a scalar).
    pub fn items(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }
    /// Number of values per item (the product of all dimensions but the first; `usize::MAX` when
    /// that product overflows, which the readers refuse, as they refuse an array of zero items).
    pub fn item_len(&self) -> usize {
        self.shape
            .iter()
            .skip(1)
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .unwrap_or(usize::MAX)
    }
    /// The array as an `items x item_len` matrix of `f32`, each value multiplied by `scale`.
    /// Errors (naming `path`) on an array without items (its shape would say nothing about its
    /// values, and could claim any width) and on the first NaN or infinite value, with its row
    /// and column.
    pub fn to_matrix(&self, scale: f32, path: &Path) -> Result<Matrix> {
        let (rows, cols) = (self.items(), self.item_len());
        if rows == 0 {
            return Err(Error::format(
                path,
                format!("the array holds no items (shape {:?})", self.shape),
            ));
        }
        let data = self.data.to_f32_scaled(scale);
        if let Some(i) = data.iter().position(|x| !x.is_finite()) {
            let (r, c) = (i / cols.max(1), i % cols.max(1));
            return Err(Error::format(
                path,
                format!("non-finite value {} at row {r}, column {c}", data[i]),
            ));
        }
        Matrix::new(rows, cols, data)
    }
    /// [`Self::to_matrix`] for a view that may lack items ([`super::missing`]): a non-finite
    /// value is an error (naming `path`, row and column) unless its row is a missing item: one
    /// `present` marks missing, or (with `nan_rows`) a row that is entirely NaN.
    pub fn to_matrix_missing(
        &self,
        scale: f32,
        path: &Path,
        nan_rows: bool,
        present: Option<&[bool]>,
    ) -> Result<Matrix> {
        let (rows, cols) = (self.items(), self.item_len());
        if rows == 0 {
            return Err(Error::format(
                path,
                format!("the array holds no items (shape {:?})", self.shape),
            ));
        }
        let data = self.data.to_f32_scaled(scale);
        for r in 0..rows {
            let row = &data[r * cols..(r + 1) * cols];
            if present.is_some_and(|p| p.get(r) == Some(&false))
                || (nan_rows && cols > 0 && row.iter().all(|x| x.is_nan()))
            {
                continue;
            }
            if let Some(c) = row.iter().position(|x| !x.is_finite()) {
                return Err(Error::format(
                    path,
                    format!("non-finite value {} at row {r}, column {c}", row[c]),
                ));
            }
        }
        Matrix::new(rows, cols, data)
    }
    /// The array as class labels: it must hold one non-negative integer per item.
    /// Errors (naming `path`) on a negative or non-integer value, with its index.
    pub fn to_labels(&self, path: &Path) -> Result<Vec<u32>> {
        if self.item_len() != 1 {
            return Err(Error::format(
                path,
                format!(
                    "labels must have one value per item, shape is {:?}",
                    self.shape
                ),
            ));
        }
        (0..self.data.len())
            .map(|i| {
                let v = self.data.get_f64(i);
                if v < 0.0 || v.fract() != 0.0 || v > u32::MAX as f64 || !v.is_finite() {
                    Err(Error::format(
                        path,
                        format!("label {v} at row {i} is not a non-negative integer"),
                    ))
                } else if v >= super::MAX_CLASSES as f64 {
                    Err(Error::format(
                        path,
                        format!(
                            "label {v} at row {i} is too large: labels are class indices \
                             0..K-1, with K at most {}",
                            super::MAX_CLASSES
                        ),
                    ))
                } else {
                    Ok(v as u32)
                }
            })
            .collect()
    }
}

/// The most bytes a gzip-compressed input may expand to, unless its format sets a lower cap:
/// 4 GiB. Deflate expands up to about 1,000x, so without a cap a few megabytes of file could ask
/// for gigabytes of memory; IDX and NPY headers declare their size, and a declared size over this
/// cap is refused before anything is allocated.
pub const MAX_DECOMPRESSED_BYTES: u64 = 4 << 30;

/// The most text a gzip-compressed CSV file may expand to: 1 GiB (CSV declares no size, and the
/// reader holds the whole text and its values at once; larger data belongs in `.npy` files).
pub const MAX_CSV_DECOMPRESSED_BYTES: u64 = 1 << 30;

/// The first allocation for decompressed data is at most this large (64 MiB); it grows as the
/// stream really delivers bytes, so a small file that declares a huge size costs nothing up front.
const FIRST_RESERVE: u64 = 64 << 20;

/// Without a declared size, the first allocation guesses this expansion of the compressed size.
const GUESSED_RATIO: u64 = 4;

/// Deflate expands by at most about 1,032x; a stream of `n` bytes cannot deliver more than about
/// this many times `n` (used only to size first allocations, never as a limit).
pub(crate) const DEFLATE_MAX_RATIO: u64 = 1100;

/// Whether `bytes` start with the gzip magic `1f 8b`.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Reads a whole file, transparently un-gzipping it (at most [`MAX_DECOMPRESSED_BYTES`]) when it
/// starts with the gzip magic `1f 8b`.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    maybe_gunzip(bytes, path)
}

/// Un-gzips `bytes` when they start with the gzip magic `1f 8b` (at most
/// [`MAX_DECOMPRESSED_BYTES`]); returns them unchanged otherwise.
pub fn maybe_gunzip(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    maybe_gunzip_limited(bytes, path, MAX_DECOMPRESSED_BYTES)
}

/// [`maybe_gunzip`] with a cap: decompression stops after `limit + 1` bytes, and more than `limit`
/// is an error, so memory stays within the cap whatever the stream holds.
pub fn maybe_gunzip_limited(bytes: Vec<u8>, path: &Path, limit: u64) -> Result<Vec<u8>> {
    if !is_gzip(&bytes) {
        return Ok(bytes);
    }
    let mut dec = flate2::read::MultiGzDecoder::new(&bytes[..]);
    let mut out = Vec::new();
    let guess = (bytes.len() as u64).saturating_mul(GUESSED_RATIO);
    read_upto(&mut dec, &mut out, limit.saturating_add(1), guess, path)?;
    if out.len() as u64 > limit {
        return Err(Error::format(
            path,
            format!("gzip stream expands to more than {limit} bytes, the limit for this file"),
        ));
    }
    Ok(out)
}

/// Appends bytes from `r` to `out` until `out` holds `upto` bytes or the stream ends (so at most
/// `upto` bytes are ever held). The first allocation is for at most `expect` more bytes (and never
/// over [`FIRST_RESERVE`]); the buffer grows as data really arrives. A decoding error names `path`.
pub(crate) fn read_upto(
    r: &mut impl std::io::Read,
    out: &mut Vec<u8>,
    upto: u64,
    expect: u64,
    path: &Path,
) -> Result<()> {
    use std::io::Read;
    let have = out.len() as u64;
    if have >= upto {
        return Ok(());
    }
    let want = upto - have;
    out.reserve_exact(want.min(expect).min(FIRST_RESERVE) as usize);
    r.take(want)
        .read_to_end(out)
        .map_err(|e| Error::format(path, format!("corrupt gzip stream: {e}")))?;
    Ok(())
}

/// Checks that a file of `len` bytes holds exactly a `header`-byte header and the `shape` array of
/// `elem`-byte elements; `what` names the data in errors (e.g. `IDX data`). Returns the data's end.
pub(crate) fn check_payload_len(
    path: &Path,
    len: usize,
    shape: &[usize],
    elem: usize,
    header: usize,
    what: &str,
) -> Result<usize> {
    // The values per item must be a number too (with zero items the total may be 0 while the
    // item size overflows).
    checked_product(shape.get(1..).unwrap_or(&[]), path)?;
    let need = checked_product(shape, path)?
        .checked_mul(elem)
        .and_then(|x| x.checked_add(header))
        .ok_or_else(|| Error::format(path, format!("{what}: shape {shape:?} overflows")))?;
    if len < need {
        return Err(Error::format(
            path,
            format!(
                "truncated {what}: shape {shape:?} needs {need} bytes, file ends at byte {len}"
            ),
        ));
    }
    if len > need {
        return Err(Error::format(
            path,
            format!(
                "{} unexpected trailing bytes after the data, from byte offset {need}",
                len - need
            ),
        ));
    }
    Ok(need)
}

/// The product of `dims`, or an error when it overflows.
pub(crate) fn checked_product(dims: &[usize], path: &Path) -> Result<usize> {
    dims.iter().try_fold(1usize, |acc, &d| {
        acc.checked_mul(d)
            .ok_or_else(|| Error::format(path, format!("shape {dims:?} overflows")))
    })
}
