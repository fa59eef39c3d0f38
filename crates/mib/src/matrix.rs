//! A plain row-major `f32` matrix: the container that data, views, embeddings and probes exchange.
//!
//! Its values are either owned (`Vec<f32>`) or borrowed from a buffer someone else keeps alive (a
//! NumPy array handed over by the Python bindings, a memory map): [`MatrixData`] dereferences to
//! `[f32]` either way, and copies a shared buffer into an owned one only when it is written to.

use std::sync::Arc;

use crate::{Error, Result};

/// A read-only `f32` buffer owned elsewhere (kept alive by the implementor).
///
/// # Safety
/// `as_slice` must return the same valid slice for as long as the value lives, and nothing may
/// write to it meanwhile.
pub unsafe trait SharedF32: Send + Sync {
    /// The values.
    fn as_slice(&self) -> &[f32];
}

/// The values of a [`Matrix`]: owned, or a shared read-only buffer (copied on first write).
#[derive(Clone)]
pub enum MatrixData {
    /// Values owned by the matrix.
    Owned(Vec<f32>),
    /// Values borrowed from a buffer kept alive by the `Arc`.
    Shared(Arc<dyn SharedF32>),
}

impl MatrixData {
    /// The values as an owned vector (copies a shared buffer).
    pub fn into_vec(self) -> Vec<f32> {
        match self {
            MatrixData::Owned(v) => v,
            MatrixData::Shared(s) => s.as_slice().to_vec(),
        }
    }
    /// Whether the values are borrowed from a shared buffer (no copy was made).
    pub fn is_shared(&self) -> bool {
        matches!(self, MatrixData::Shared(_))
    }
}

impl Default for MatrixData {
    fn default() -> Self {
        MatrixData::Owned(Vec::new())
    }
}

impl From<Vec<f32>> for MatrixData {
    fn from(v: Vec<f32>) -> Self {
        MatrixData::Owned(v)
    }
}

impl std::ops::Deref for MatrixData {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match self {
            MatrixData::Owned(v) => v,
            MatrixData::Shared(s) => s.as_slice(),
        }
    }
}

impl std::ops::DerefMut for MatrixData {
    fn deref_mut(&mut self) -> &mut [f32] {
        if let MatrixData::Shared(s) = self {
            *self = MatrixData::Owned(s.as_slice().to_vec());
        }
        match self {
            MatrixData::Owned(v) => v,
            MatrixData::Shared(_) => unreachable!("made owned above"),
        }
    }
}

impl PartialEq for MatrixData {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl PartialEq<Vec<f32>> for MatrixData {
    fn eq(&self, other: &Vec<f32>) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for MatrixData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s: &[f32] = self;
        if s.len() <= 16 {
            s.fmt(f)
        } else {
            write!(
                f,
                "[{} values{}]",
                s.len(),
                if self.is_shared() { ", shared" } else { "" }
            )
        }
    }
}

/// A dense row-major matrix of `f32`: row `i` is `data[i * cols..(i + 1) * cols]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Matrix {
    /// Number of rows (items).
    pub rows: usize,
    /// Number of columns (features).
    pub cols: usize,
    /// The values, `rows * cols` of them, row-major.
    pub data: MatrixData,
}

impl Matrix {
    /// A matrix from row-major data; errors when `data.len() != rows * cols`.
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self> {
        Self::from_data(rows, cols, MatrixData::Owned(data))
    }
    /// A matrix over a shared read-only buffer (no copy); errors when its length is not
    /// `rows * cols`.
    pub fn shared(rows: usize, cols: usize, data: Arc<dyn SharedF32>) -> Result<Self> {
        Self::from_data(rows, cols, MatrixData::Shared(data))
    }
    fn from_data(rows: usize, cols: usize, data: MatrixData) -> Result<Self> {
        if data.len() != rows * cols {
            return Err(Error::shape(
                "matrix data",
                format!("{rows} x {cols} = {}", rows * cols),
                data.len(),
            ));
        }
        Ok(Matrix { rows, cols, data })
    }
    /// A matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix {
            rows,
            cols,
            data: vec![0.0; rows * cols].into(),
        }
    }
    /// Row `i` as a slice.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
    /// Row `i` as a mutable slice.
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        let c = self.cols;
        &mut self.data[i * c..(i + 1) * c]
    }
    /// A new matrix made of the given rows, in that order.
    pub fn select_rows(&self, idx: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(idx.len() * self.cols);
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        Matrix {
            rows: idx.len(),
            cols: self.cols,
            data: data.into(),
        }
    }
    /// The first `n` rows (no copy of a shared buffer's other rows is made; the rows are copied).
    pub fn head(&self, n: usize) -> Matrix {
        let n = n.min(self.rows);
        Matrix {
            rows: n,
            cols: self.cols,
            data: self.data[..n * self.cols].to_vec().into(),
        }
    }
}
