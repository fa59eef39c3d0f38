//! A plain row-major `f32` matrix: the container that data, views, embeddings and probes exchange.

use crate::{Error, Result};

/// A dense row-major matrix of `f32`: row `i` is `data[i * cols..(i + 1) * cols]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Matrix {
    /// Number of rows (items).
    pub rows: usize,
    /// Number of columns (features).
    pub cols: usize,
    /// The values, `rows * cols` of them, row-major.
    pub data: Vec<f32>,
}

impl Matrix {
    /// A matrix from row-major data; errors when `data.len() != rows * cols`.
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self> {
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
            data: vec![0.0; rows * cols],
        }
    }
    /// Row `i` as a slice.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
    /// Row `i` as a mutable slice.
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.cols..(i + 1) * self.cols]
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
            data,
        }
    }
}
