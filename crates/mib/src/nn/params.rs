//! Named parameters in one flat buffer, with their gradients in a second one.
//!
//! Keeping every parameter of a model in one contiguous `Vec<f32>` makes the optimizer a single fused
//! pass, and lets each module own a contiguous range (for per-module learning rates).

use std::ops::Range;

/// One named tensor inside a [`ParamStore`].
#[derive(Clone, Debug, PartialEq)]
pub struct ParamEntry {
    /// Dotted name following the module tree, e.g. `encoder.layers.0.weight`.
    pub name: String,
    /// Shape; a dense weight is `[in_dim, out_dim]`, a bias `[out_dim]`.
    pub shape: Vec<usize>,
    /// Offset of the first value in the flat buffers.
    pub offset: usize,
}

impl ParamEntry {
    /// The number of values.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// Whether the tensor has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The range of this tensor in the flat buffers.
    pub fn range(&self) -> Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// All parameters of a model and their gradients, flat.
#[derive(Clone, Debug, Default)]
pub struct ParamStore {
    values: Vec<f32>,
    grads: Vec<f32>,
    entries: Vec<ParamEntry>,
}

impl ParamStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a zero tensor named `name` with `shape` and returns its offset; an error (not an
    /// abort) when its memory cannot be had.
    pub fn register(&mut self, name: impl Into<String>, shape: &[usize]) -> crate::Result<usize> {
        let name = name.into();
        let offset = self.values.len();
        let n = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .filter(|&n| offset.checked_add(n).is_some())
            .ok_or_else(|| {
                crate::Error::shape(&name, "a tensor that fits in memory", format!("{shape:?}"))
            })?;
        let oom = |_| {
            crate::Error::Data(format!(
                "could not allocate {} for parameter {name}: out of memory",
                crate::memory::format_bytes(n as u128 * 4)
            ))
        };
        self.values.try_reserve_exact(n).map_err(oom)?;
        self.grads.try_reserve_exact(n).map_err(oom)?;
        self.values.resize(offset + n, 0.0);
        self.grads.resize(offset + n, 0.0);
        self.entries.push(ParamEntry {
            name,
            shape: shape.to_vec(),
            offset,
        });
        Ok(offset)
    }
    /// The total number of values.
    pub fn len(&self) -> usize {
        self.values.len()
    }
    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
    /// All parameter values.
    pub fn values(&self) -> &[f32] {
        &self.values
    }
    /// All parameter values, mutable.
    pub fn values_mut(&mut self) -> &mut [f32] {
        &mut self.values
    }
    /// All gradients (same layout as the values).
    pub fn grads(&self) -> &[f32] {
        &self.grads
    }
    /// Values (shared) and gradients (mutable) at once, for backward passes.
    pub fn split(&mut self) -> (&[f32], &mut [f32]) {
        (&self.values, &mut self.grads)
    }
    /// Values and gradients, both mutable, for the optimizer.
    pub fn split_mut(&mut self) -> (&mut [f32], &mut [f32]) {
        (&mut self.values, &mut self.grads)
    }
    /// The named tensors, in registration order.
    pub fn entries(&self) -> &[ParamEntry] {
        &self.entries
    }
    /// The entry named `name`.
    pub fn entry(&self, name: &str) -> Option<&ParamEntry> {
        self.entries.iter().find(|e| e.name == name)
    }
    /// The values of the tensor named `name`.
    pub fn get(&self, name: &str) -> Option<&[f32]> {
        self.entry(name).map(|e| &self.values[e.range()])
    }
    /// The gradient of the tensor named `name`.
    pub fn grad(&self, name: &str) -> Option<&[f32]> {
        self.entry(name).map(|e| &self.grads[e.range()])
    }
    /// The values of the tensor named `name`, mutable.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut [f32]> {
        let r = self.entry(name)?.range();
        Some(&mut self.values[r])
    }
}
