//! A stack of dense layers with ReLU between them, with explicit forward and backward passes into
//! buffers allocated once, at construction, for a maximum number of rows.

use super::matmul::{
    matmul_bias_act, matmul_cc_nt, matmul_cc_nt_one, matmul_tn, matmul_tn_one, transpose,
};

/// Layers with at least this many multiply-adds run their two gradient products side by side.
const PAIR_MIN_MACS: usize = 1 << 19;
use super::params::ParamStore;
use crate::memory::try_zeros;
use crate::{MibRng, Result};
use rand::Rng;

/// One dense layer `y = x W + b` inside a [`ParamStore`].
#[derive(Clone, Copy, Debug)]
struct Dense {
    w: usize,
    b: usize,
    in_dim: usize,
    out_dim: usize,
}

/// The layer normalisation (Ba et al. 2016) after a hidden dense layer: each row is normalised to
/// mean 0 and variance 1 over its features, then scaled and shifted per feature.
#[derive(Clone, Copy, Debug)]
struct LayerNorm {
    gain: usize,
    shift: usize,
}

/// The variance floor of [`LayerNorm`] (PyTorch's default `eps`).
const NORM_EPS: f32 = 1e-5;

/// A multi-layer perceptron `Linear -> ReLU -> ... -> Linear` (no activation after the last layer),
/// like the reference's `nn.Sequential(nn.Linear, nn.ReLU, ..., nn.Linear)`; with layer norms,
/// `Linear -> LayerNorm -> ReLU -> ... -> Linear`.
///
/// Parameters live in a [`ParamStore`] under `<prefix>.layers.<i>.weight` (`[in_dim, out_dim]`) and
/// `<prefix>.layers.<i>.bias` (`[out_dim]`), `i` counting the dense layers from 0; the layer norms
/// after them (all dense layers but the last) under `<prefix>.norms.<i>.weight` and `.bias`
/// (`[out_dim]`), registered after every dense layer.
///
/// Usage: write the input rows into [`Mlp::input_mut`], call [`Mlp::forward`], read
/// [`Mlp::output`]; write the loss gradient w.r.t. the output into [`Mlp::output_grad_mut`], call
/// [`Mlp::backward`], which overwrites the parameter gradients and (if enabled) fills
/// [`Mlp::input_grad`].
#[derive(Clone, Debug)]
pub struct Mlp {
    dims: Vec<usize>,
    layers: Vec<Dense>,
    /// acts[0] is the input; acts[l] (l >= 1) the output of dense layer l-1 (after its ReLU).
    acts: Vec<Vec<f32>>,
    /// grads[l]: gradient w.r.t. acts[l]; grads[0] is empty unless the input gradient is wanted.
    grads: Vec<Vec<f32>>,
    /// grads_t[l]: the same gradient transposed (`[d_l, rows]`), the layout in which `gemm` computes
    /// the input-gradient product fastest.
    grads_t: Vec<Vec<f32>>,
    max_rows: usize,
    input_grad: bool,
    /// norms[l]: the layer norm after dense layer l (hidden layers only, when enabled).
    norms: Vec<Option<LayerNorm>>,
    /// xhat[l]: the normalised pre-activation of dense layer l-1 (`[rows, dims[l]]`, before the
    /// gain and shift), kept for the backward pass; empty where there is no norm.
    xhat: Vec<Vec<f32>>,
    /// rstd[l]: `1 / sqrt(var + eps)` of each row of that pre-activation.
    rstd: Vec<Vec<f32>>,
}

impl Mlp {
    /// Registers the parameters of an MLP with layer widths `dims` (`dims[0]` the input width, the
    /// last the output width) in `store` under `prefix`, with buffers for up to `max_rows` rows.
    /// `input_grad`: whether [`Mlp::backward`] also computes the gradient w.r.t. the input.
    pub fn new(
        store: &mut ParamStore,
        prefix: &str,
        dims: &[usize],
        max_rows: usize,
        input_grad: bool,
    ) -> Result<Self> {
        Self::with_norm(store, prefix, dims, max_rows, input_grad, false)
    }

    /// [`Mlp::new`], with a layer norm after every hidden dense layer when `layer_norm`.
    pub fn with_norm(
        store: &mut ParamStore,
        prefix: &str,
        dims: &[usize],
        max_rows: usize,
        input_grad: bool,
        layer_norm: bool,
    ) -> Result<Self> {
        assert!(dims.len() >= 2, "an MLP needs at least one layer");
        let mut layers = Vec::with_capacity(dims.len() - 1);
        for (i, w) in dims.windows(2).enumerate() {
            layers.push(Dense {
                w: store.register(format!("{prefix}.layers.{i}.weight"), &[w[0], w[1]])?,
                b: store.register(format!("{prefix}.layers.{i}.bias"), &[w[1]])?,
                in_dim: w[0],
                out_dim: w[1],
            });
        }
        let n_layers = layers.len();
        let mut norms: Vec<Option<LayerNorm>> = Vec::with_capacity(n_layers);
        for i in 0..n_layers {
            norms.push(if layer_norm && i + 1 < n_layers {
                Some(LayerNorm {
                    gain: store.register(format!("{prefix}.norms.{i}.weight"), &[dims[i + 1]])?,
                    shift: store.register(format!("{prefix}.norms.{i}.bias"), &[dims[i + 1]])?,
                })
            } else {
                None
            });
        }
        let rows_of = |d: usize, what: &str| {
            let n = d.checked_mul(max_rows).ok_or_else(|| {
                crate::Error::shape(
                    format!("{prefix} {what}"),
                    "a buffer that fits in memory",
                    format!("{max_rows} rows x {d}"),
                )
            })?;
            try_zeros(n, &format!("{prefix} {what}"))
        };
        // indexed like acts: the norm after dense layer l-1 normalises acts[l]
        let (mut xhat, mut rstd) = (Vec::new(), Vec::new());
        let (mut acts, mut grads, mut grads_t) = (Vec::new(), Vec::new(), Vec::new());
        for (l, &d) in dims.iter().enumerate() {
            if l.checked_sub(1).and_then(|i| norms[i]).is_some() {
                xhat.push(rows_of(d, "normalised activations")?);
                rstd.push(rows_of(1, "normalisation scales")?);
            } else {
                xhat.push(Vec::new());
                rstd.push(Vec::new());
            }
            acts.push(rows_of(d, "activations")?);
            if l > 0 || input_grad {
                grads.push(rows_of(d, "activation gradients")?);
                grads_t.push(rows_of(d, "activation gradients")?);
            } else {
                grads.push(Vec::new());
                grads_t.push(Vec::new());
            }
        }
        Ok(Mlp {
            dims: dims.to_vec(),
            layers,
            acts,
            grads,
            grads_t,
            max_rows,
            input_grad,
            norms,
            xhat,
            rstd,
        })
    }

    /// The parameters (weights, biases, layer-norm gains and shifts) of an MLP of widths `dims`.
    pub fn param_count(dims: &[usize], layer_norm: bool) -> u128 {
        let n = dims.len();
        let dense: u128 = dims
            .windows(2)
            .map(|w| w[0] as u128 * w[1] as u128 + w[1] as u128)
            .sum();
        let norms: u128 = if layer_norm && n > 2 {
            dims[1..n - 1].iter().map(|&d| 2 * d as u128).sum()
        } else {
            0
        };
        dense + norms
    }

    /// The `f32` values held in the buffers (activations, their gradients, normalisation state;
    /// not the parameters) of `Mlp::with_norm(.., dims, max_rows, input_grad, layer_norm)`.
    pub fn buffer_floats(
        dims: &[usize],
        max_rows: u128,
        input_grad: bool,
        layer_norm: bool,
    ) -> u128 {
        let n = dims.len();
        let rows = max_rows;
        let mut floats = 0u128;
        for (l, &d) in dims.iter().enumerate() {
            let d = d as u128;
            floats += d * rows; // activations
            if l > 0 || input_grad {
                floats += 2 * d * rows; // gradients and their transpose
            }
            if layer_norm && l >= 1 && l + 1 < n {
                floats += d * rows + rows;
            }
        }
        floats
    }

    /// Initialises weights and biases like PyTorch's `nn.Linear`: `U(-1/sqrt(in), 1/sqrt(in))`
    /// (kaiming-uniform with `a = sqrt(5)`), weights first, then bias, layer by layer.
    pub fn init_using(&self, store: &mut ParamStore, rng: &mut MibRng) {
        let values = store.values_mut();
        for l in &self.layers {
            let bound = 1.0 / (l.in_dim as f32).sqrt();
            for v in &mut values[l.w..l.w + l.in_dim * l.out_dim] {
                *v = (rng.random::<f32>() * 2.0 - 1.0) * bound;
            }
            for v in &mut values[l.b..l.b + l.out_dim] {
                *v = (rng.random::<f32>() * 2.0 - 1.0) * bound;
            }
        }
        // layer norms start as the identity (gain 1, shift 0), drawing no random numbers
        for (n, l) in self.norms.iter().zip(&self.layers) {
            if let Some(n) = n {
                values[n.gain..n.gain + l.out_dim].fill(1.0);
                values[n.shift..n.shift + l.out_dim].fill(0.0);
            }
        }
    }

    /// Whether a layer norm follows each hidden dense layer.
    pub fn has_norm(&self) -> bool {
        self.norms.iter().any(Option::is_some)
    }

    /// Layer widths, input first.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }
    /// Input width.
    pub fn in_dim(&self) -> usize {
        self.dims[0]
    }
    /// Output width.
    pub fn out_dim(&self) -> usize {
        *self.dims.last().expect("non-empty")
    }
    /// The most rows a pass can take.
    pub fn max_rows(&self) -> usize {
        self.max_rows
    }
    /// Multiply-adds of one forward pass per row.
    pub fn macs_per_row(&self) -> usize {
        self.dims.windows(2).map(|w| w[0] * w[1]).sum()
    }

    /// The input buffer for `rows` rows, `[rows, in_dim]`.
    pub fn input_mut(&mut self, rows: usize) -> &mut [f32] {
        let d = self.dims[0];
        &mut self.acts[0][..rows * d]
    }
    /// The input of the last forward pass, `[rows, in_dim]`.
    pub fn input(&self, rows: usize) -> &[f32] {
        &self.acts[0][..rows * self.dims[0]]
    }
    /// The output of the last forward pass, `[rows, out_dim]`.
    pub fn output(&self, rows: usize) -> &[f32] {
        &self.acts[self.layers.len()][..rows * self.out_dim()]
    }
    /// The buffer for the gradient w.r.t. the output, `[rows, out_dim]`.
    pub fn output_grad_mut(&mut self, rows: usize) -> &mut [f32] {
        let d = self.out_dim();
        let l = self.layers.len();
        &mut self.grads[l][..rows * d]
    }
    /// Output (read) and output-gradient buffer (write) at once.
    pub fn output_and_grad_mut(&mut self, rows: usize) -> (&[f32], &mut [f32]) {
        let d = self.out_dim();
        let l = self.layers.len();
        (&self.acts[l][..rows * d], &mut self.grads[l][..rows * d])
    }
    /// The gradient w.r.t. the input from the last backward pass, `[rows, in_dim]`.
    ///
    /// # Panics
    /// When the MLP was built without `input_grad`.
    pub fn input_grad(&self, rows: usize) -> &[f32] {
        assert!(self.input_grad, "MLP built without input gradient");
        &self.grads[0][..rows * self.dims[0]]
    }

    /// Forward pass over the first `rows` rows of the input buffer.
    ///
    /// # Shapes
    /// input `[rows, dims[0]]` -> output `[rows, dims[last]]`.
    pub fn forward(&mut self, params: &[f32], rows: usize) {
        self.forward_from(params, rows, 0);
    }

    /// Forward pass from dense layer `first` on, reading its input from
    /// [`Mlp::layer_input_mut`]`(first, rows)`: for callers that compute the first layers
    /// themselves (such as a critic that factors its input layer).
    pub fn forward_from(&mut self, params: &[f32], rows: usize, first: usize) {
        assert!(rows <= self.max_rows && first < self.layers.len());
        let n_layers = self.layers.len();
        for (l, layer) in self.layers.iter().enumerate().skip(first) {
            let (lo, hi) = self.acts.split_at_mut(l + 1);
            let x = &lo[l][..rows * layer.in_dim];
            let y = &mut hi[0][..rows * layer.out_dim];
            let w = &params[layer.w..layer.w + layer.in_dim * layer.out_dim];
            let b = &params[layer.b..layer.b + layer.out_dim];
            let relu = l + 1 < n_layers;
            match self.norms[l] {
                None => matmul_bias_act(y, x, w, b, rows, layer.in_dim, layer.out_dim, relu),
                Some(n) => {
                    matmul_bias_act(y, x, w, b, rows, layer.in_dim, layer.out_dim, false);
                    let d = layer.out_dim;
                    layer_norm_relu_forward(
                        y,
                        &mut self.xhat[l + 1][..rows * d],
                        &mut self.rstd[l + 1][..rows],
                        &params[n.gain..n.gain + d],
                        &params[n.shift..n.shift + d],
                        d,
                    );
                }
            }
        }
    }

    /// Store offsets `(weight, bias)` of dense layer `l` (weight `[in, out]` row-major).
    pub fn layer_offsets(&self, l: usize) -> (usize, usize) {
        (self.layers[l].w, self.layers[l].b)
    }

    /// The input buffer of dense layer `l`, `[rows, dims[l]]` (for `l > 0`, the previous layer's
    /// output after its ReLU).
    pub fn layer_input_mut(&mut self, l: usize, rows: usize) -> &mut [f32] {
        let d = self.dims[l];
        &mut self.acts[l][..rows * d]
    }

    /// The input of dense layer `l` after the last forward pass, `[rows, dims[l]]` (for `l > 0`,
    /// the previous layer's output after its norm and ReLU).
    pub fn layer_input(&self, l: usize, rows: usize) -> &[f32] {
        let d = self.dims[l];
        &self.acts[l][..rows * d]
    }

    /// After [`Mlp::backward_to`]`(.., first)` with `first > 0`: the gradient w.r.t. the
    /// pre-activation of dense layer `first - 1` (the input gradient of layer `first`, masked by
    /// the ReLU between them), `[rows, dims[first]]`.
    pub fn pre_activation_grad(&self, first: usize, rows: usize) -> &[f32] {
        assert!(first > 0);
        &self.grads[first][..rows * self.dims[first]]
    }

    /// Backward pass for the last forward pass (same `rows`): reads the output gradient buffer,
    /// overwrites this MLP's parameter gradients in `grads` and, when enabled, the input gradient.
    pub fn backward(&mut self, params: &[f32], grads: &mut [f32], rows: usize) {
        self.backward_to(params, grads, rows, 0);
    }

    /// Backward pass down to dense layer `first` (the counterpart of [`Mlp::forward_from`]):
    /// overwrites the parameter gradients of layers `first..`; with `first > 0` it leaves the
    /// gradient w.r.t. layer `first - 1`'s pre-activation in [`Mlp::pre_activation_grad`].
    pub fn backward_to(&mut self, params: &[f32], grads: &mut [f32], rows: usize, first: usize) {
        assert!(rows <= self.max_rows && first < self.layers.len());
        let n_layers = self.layers.len();
        let top = self.out_dim();
        transpose(
            &self.grads[n_layers][..rows * top],
            rows,
            top,
            &mut self.grads_t[n_layers][..rows * top],
        );
        for l in (first..n_layers).rev() {
            let layer = self.layers[l];
            let (gi, go) = (layer.in_dim, layer.out_dim);
            let x = &self.acts[l][..rows * gi];
            let dy = &self.grads[l + 1][..rows * go];
            let (glo_t, ghi_t) = self.grads_t.split_at_mut(l + 1);
            let dy_t = &ghi_t[0][..rows * go];
            // a layer's bias follows its weight in the parameter store
            let (gw, gb) = grads.split_at_mut(layer.b);
            let (gw, gb) = (&mut gw[layer.w..layer.w + gi * go], &mut gb[..go]);
            let w = &params[layer.w..layer.w + gi * go];
            let need_dx = l > 0 || self.input_grad;
            let dx_t = &mut glo_t[l][..if need_dx { rows * gi } else { 0 }];
            let bias_grad = |gb: &mut [f32]| {
                for (d, col) in gb.iter_mut().zip(dy_t.chunks_exact(rows)) {
                    *d = col.iter().sum();
                }
            };
            if need_dx && rows * gi * go >= PAIR_MIN_MACS {
                // the weight and input gradients depend only on dy: one single-threaded product each,
                // side by side
                rayon::join(
                    || {
                        matmul_tn_one(gw, x, dy, gi, rows, go, false);
                        bias_grad(gb);
                    },
                    || matmul_cc_nt_one(dx_t, dy_t, w, rows, go, gi, false),
                );
            } else {
                matmul_tn(gw, x, dy, gi, rows, go, false);
                bias_grad(gb);
                if need_dx {
                    matmul_cc_nt(dx_t, dy_t, w, rows, go, gi, false);
                }
            }
            if need_dx {
                let dx = &mut self.grads[l][..rows * gi];
                if l > 0 {
                    mask_transpose(dx_t, x, rows, gi, dx);
                    if let Some(n) = self.norms[l - 1] {
                        // dx is the gradient w.r.t. the norm's output; through the norm to dense
                        // layer l-1's pre-activation, in both layouts
                        let (gg, gs) = grads.split_at_mut(n.shift);
                        layer_norm_backward(
                            dx,
                            &self.xhat[l][..rows * gi],
                            &self.rstd[l][..rows],
                            &params[n.gain..n.gain + gi],
                            &mut gg[n.gain..n.gain + gi],
                            &mut gs[..gi],
                            gi,
                        );
                        transpose(dx, rows, gi, dx_t);
                    }
                } else {
                    transpose(dx_t, gi, rows, dx);
                }
            }
        }
    }
}

/// Layer norm, gain, shift and ReLU in place on the rows of `y` (`[rows, d]`), keeping the
/// normalised values in `xhat` and each row's `1 / sqrt(var + eps)` in `rstd`.
fn layer_norm_relu_forward(
    y: &mut [f32],
    xhat: &mut [f32],
    rstd: &mut [f32],
    gain: &[f32],
    shift: &[f32],
    d: usize,
) {
    for ((row, xh), r) in y
        .chunks_exact_mut(d)
        .zip(xhat.chunks_exact_mut(d))
        .zip(rstd.iter_mut())
    {
        let mean = row.iter().sum::<f32>() / d as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
        let inv = 1.0 / (var + NORM_EPS).sqrt();
        *r = inv;
        for (((v, h), g), s) in row.iter_mut().zip(xh.iter_mut()).zip(gain).zip(shift) {
            let n = (*v - mean) * inv;
            *h = n;
            *v = (g * n + s).max(0.0);
        }
    }
}

/// The backward pass of [`layer_norm_relu_forward`] after the ReLU mask: `dy` (`[rows, d]`, the
/// gradient w.r.t. the norm's output) is replaced by the gradient w.r.t. its input; the gain and
/// shift gradients are overwritten.
fn layer_norm_backward(
    dy: &mut [f32],
    xhat: &[f32],
    rstd: &[f32],
    gain: &[f32],
    dgain: &mut [f32],
    dshift: &mut [f32],
    d: usize,
) {
    dgain.fill(0.0);
    dshift.fill(0.0);
    let inv_d = 1.0 / d as f32;
    for ((row, xh), &r) in dy.chunks_exact_mut(d).zip(xhat.chunks_exact(d)).zip(rstd) {
        let (mut sum, mut dot) = (0.0f32, 0.0f32);
        for (((g, &h), dg), ds) in row
            .iter()
            .zip(xh)
            .zip(dgain.iter_mut())
            .zip(dshift.iter_mut())
        {
            *dg += g * h;
            *ds += g;
        }
        for ((g, &h), &w) in row.iter_mut().zip(xh).zip(gain) {
            *g *= w;
            sum += *g;
            dot += *g * h;
        }
        let (mean, mean_dot) = (sum * inv_d, dot * inv_d);
        for (g, &h) in row.iter_mut().zip(xh) {
            *g = r * (*g - mean - h * mean_dot);
        }
    }
}

/// ReLU backward fused with the transpose back to row-major: `dx_t` (`[cols, rows]`) is masked in
/// place where the ReLU output `y` (`[rows, cols]`) is not positive, and written transposed to `dx`.
///
/// Tiles of 8 rows keep the 4 KiB-strided row-major accesses from aliasing in L1; the inner loop
/// runs along the contiguous rows of `y` and `dx`.
///
/// Large gradients are processed as two halves of rows side by side (the split depends only on the
/// shape; the result is the same either way).
fn mask_transpose(dx_t: &mut [f32], y: &[f32], rows: usize, cols: usize, dx: &mut [f32]) {
    assert!(dx_t.len() >= rows * cols && y.len() >= rows * cols && dx.len() >= rows * cols);
    let t = DxT(dx_t.as_mut_ptr());
    if rows * cols >= 1 << 15 && rows >= 16 {
        let h = (rows / 2).div_ceil(8) * 8;
        let (d1, d2) = dx[..rows * cols].split_at_mut(h * cols);
        // SAFETY: the halves touch disjoint rows i of dx_t's columns (element j * rows + i).
        rayon::join(
            || unsafe { mask_transpose_rows(t, y, rows, cols, 0, h, d1) },
            || unsafe { mask_transpose_rows(t, y, rows, cols, h, rows, d2) },
        );
    } else {
        // SAFETY: one call covers all rows.
        unsafe { mask_transpose_rows(t, y, rows, cols, 0, rows, &mut dx[..rows * cols]) }
    }
}

/// `dx_t`'s pointer, shared by the two halves of [`mask_transpose`] (they write disjoint elements).
#[derive(Clone, Copy)]
struct DxT(*mut f32);
// SAFETY: see mask_transpose; each element is written by exactly one half.
unsafe impl Send for DxT {}
unsafe impl Sync for DxT {}
impl DxT {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// Rows `r0..r1` of [`mask_transpose`]; `dx` holds exactly those rows.
///
/// # Safety
/// `dx_t` must point to `rows * cols` values, and no other thread may touch rows `r0..r1` of it.
unsafe fn mask_transpose_rows(
    dx_t: DxT,
    y: &[f32],
    rows: usize,
    cols: usize,
    r0: usize,
    r1: usize,
    dx: &mut [f32],
) {
    let dx_t = dx_t.get();
    // 4 x 4 blocks with SSE (baseline on x86_64) over the bulk, scalar code for the edges
    let (i4, j4) = if cfg!(target_arch = "x86_64") {
        (r0 + (r1 - r0) / 4 * 4, cols / 4 * 4)
    } else {
        (r0, 0)
    };
    #[cfg(target_arch = "x86_64")]
    {
        const TI: usize = 16;
        const TJ: usize = 64;
        for i0 in (r0..i4).step_by(TI) {
            for j0 in (0..j4).step_by(TJ) {
                for i in (i0..(i0 + TI).min(i4)).step_by(4) {
                    for j in (j0..(j0 + TJ).min(j4)).step_by(4) {
                        // SAFETY: i + 3 < r1 <= rows and j + 3 < cols, all offsets in bounds.
                        block4(dx_t, y.as_ptr(), dx.as_mut_ptr(), rows, cols, r0, i, j);
                    }
                }
            }
        }
    }
    let mut scalar = |i: usize, j: usize| {
        let t = dx_t.add(j * rows + i);
        let v = if y[i * cols + j] > 0.0 { *t } else { 0.0 };
        *t = v;
        dx[(i - r0) * cols + j] = v;
    };
    for i in r0..i4 {
        for j in j4..cols {
            scalar(i, j);
        }
    }
    for i in i4..r1 {
        for j in 0..cols {
            scalar(i, j);
        }
    }
}

/// One 4 x 4 block of [`mask_transpose_rows`]: rows `i..i+4`, columns `j..j+4`.
///
/// # Safety
/// All 16 elements must be in bounds of the three buffers.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn block4(
    dx_t: *mut f32,
    y: *const f32,
    dx: *mut f32,
    rows: usize,
    cols: usize,
    r0: usize,
    i: usize,
    j: usize,
) {
    use std::arch::x86_64::*;
    let t = |k: usize| dx_t.add((j + k) * rows + i);
    let (a0, a1, a2, a3) = (
        _mm_loadu_ps(t(0)),
        _mm_loadu_ps(t(1)),
        _mm_loadu_ps(t(2)),
        _mm_loadu_ps(t(3)),
    );
    let (b0, b1, b2, b3) = transpose4(a0, a1, a2, a3);
    let zero = _mm_setzero_ps();
    let mask = |v: __m128, k: usize| {
        let m = _mm_cmpgt_ps(_mm_loadu_ps(y.add((i + k) * cols + j)), zero);
        let r = _mm_and_ps(v, m);
        _mm_storeu_ps(dx.add((i + k - r0) * cols + j), r);
        r
    };
    let (c0, c1, c2, c3) = (mask(b0, 0), mask(b1, 1), mask(b2, 2), mask(b3, 3));
    let (d0, d1, d2, d3) = transpose4(c0, c1, c2, c3);
    _mm_storeu_ps(t(0), d0);
    _mm_storeu_ps(t(1), d1);
    _mm_storeu_ps(t(2), d2);
    _mm_storeu_ps(t(3), d3);
}

/// Transposes the 4 x 4 matrix whose rows are `r0..r3`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn transpose4(
    r0: std::arch::x86_64::__m128,
    r1: std::arch::x86_64::__m128,
    r2: std::arch::x86_64::__m128,
    r3: std::arch::x86_64::__m128,
) -> (
    std::arch::x86_64::__m128,
    std::arch::x86_64::__m128,
    std::arch::x86_64::__m128,
    std::arch::x86_64::__m128,
) {
    use std::arch::x86_64::*;
    let t0 = _mm_unpacklo_ps(r0, r1);
    let t1 = _mm_unpacklo_ps(r2, r3);
    let t2 = _mm_unpackhi_ps(r0, r1);
    let t3 = _mm_unpackhi_ps(r2, r3);
    (
        _mm_movelh_ps(t0, t1),
        _mm_movehl_ps(t1, t0),
        _mm_movelh_ps(t2, t3),
        _mm_movehl_ps(t3, t2),
    )
}
