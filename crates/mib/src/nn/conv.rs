//! 2-D convolutions with explicit forward and backward passes by im2col and `gemm`, into buffers
//! allocated once for a maximum number of rows; and [`ConvStack`], a chain of them with ReLUs that
//! serves as the body of a convolutional encoder.
//!
//! A row is one item: an image `[C, H, W]` flattened in that order (as `torch.flatten(x, 1)` does),
//! so a batch is `[rows, C * H * W]` row-major, exactly PyTorch's `[N, C, H, W]` tensor. That is the
//! layout of [`Conv2d::forward`] / [`Conv2d::backward`] and of a [`ConvStack`]'s input and output;
//! inside, the passes work channels last (`[rows, H, W, C]`, [`Conv2d::forward_nhwc`]).
//!
//! # Algorithm
//! The items run in a fixed number of chunks in parallel on the rayon pool (each product
//! single-threaded inside `gemm`), each chunk in blocks of items whose patch rows fit in
//! `BLOCK_FLOATS` values (1 MiB; a scratch that stays in cache): a block is unfolded into patch rows
//! (`cols = im2col(x)`, `[items Ho Wo, kh kw C]`; channels last, each kernel row of a patch is one
//! contiguous copy), then one product `y = cols Wt + b` (`Wt`: the weight repacked as
//! `[kh kw C, O]`) gives the block's output channels last. The backward pass unfolds the block
//! again (cheaper than keeping every item's columns) and computes `dWt += cols^T dy`,
//! `db += sum(dy)` and, when the input gradient is wanted, `dcols = dy Wt^T` (written over the
//! columns) folded back with `col2im`. The weight and bias gradients are summed per chunk into
//! partial sums, then the partial sums in a fixed order and written back in PyTorch's
//! `[O, C, kh, kw]`: the chunks and blocks depend only on the number of rows and the shape, so
//! results are bit-identical whatever the number of threads.
//!
//! Measured against the per-item, channels-first version this replaced (one `[O, C kh kw] x
//! [C kh kw, Ho Wo]` product per item): the convolutions of issue 22's encoder (1-32-64-128,
//! 256 rows, 2 threads) went from 176 / 446 ms to 107 / 263 ms (forward / backward), most of it
//! from the larger products and the contiguous unfolding (`docs/conv-speed.md`).
//!
//! # Shapes
//! Output size per spatial dimension: `floor((h + 2 padding - kernel) / stride) + 1`.

use super::matmul::{matmul_nt_one, matmul_one, matmul_tn_one};
use super::params::ParamStore;
use crate::{Error, MibRng, Result};
use rand::Rng;
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// CPU time per phase of the conv passes, summed over threads (nanoseconds), while profiling is on
/// ([`ConvStack::set_profiling`]): where the time of a [`ConvStack`]'s passes goes.
#[derive(Debug, Default)]
pub struct ConvPhases([AtomicU64; ConvPhases::N]);

impl Clone for ConvPhases {
    fn clone(&self) -> Self {
        let c = ConvPhases::default();
        for (a, b) in c.0.iter().zip(&self.0) {
            a.store(b.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        c
    }
}

impl ConvPhases {
    const N: usize = 13;
    /// The phases' names, in the order of [`ConvPhases::seconds`].
    pub const NAMES: [&'static str; ConvPhases::N] = [
        "forward.layout",
        "forward.im2col",
        "forward.gemm",
        "forward.bias_relu",
        "forward.pool",
        "backward.pool",
        "backward.layout",
        "backward.relu_bias",
        "backward.im2col",
        "backward.dw_gemm",
        "backward.dx_gemm",
        "backward.col2im",
        "backward.sum",
    ];
    const F_LAYOUT: usize = 0;
    const F_IM2COL: usize = 1;
    const F_GEMM: usize = 2;
    const F_BIAS: usize = 3;
    const F_POOL: usize = 4;
    const B_POOL: usize = 5;
    const B_LAYOUT: usize = 6;
    const B_RELU: usize = 7;
    const B_IM2COL: usize = 8;
    const B_DW: usize = 9;
    const B_DX: usize = 10;
    const B_COL2IM: usize = 11;
    const B_SUM: usize = 12;

    /// Seconds of CPU time per phase (all threads together), in the order of
    /// [`ConvPhases::NAMES`].
    pub fn seconds(&self) -> Vec<f64> {
        self.0
            .iter()
            .map(|a| a.load(Ordering::Relaxed) as f64 * 1e-9)
            .collect()
    }
}

/// A stopwatch over the phases of one thread's work: each [`Clock::lap`] adds the time since the
/// last one to a phase. Costs nothing without a profile.
struct Clock<'a>(Option<(&'a ConvPhases, Instant)>);

impl<'a> Clock<'a> {
    fn start(p: Option<&'a ConvPhases>) -> Self {
        Clock(p.map(|p| (p, Instant::now())))
    }
    fn lap(&mut self, phase: usize) {
        if let Some((p, t)) = &mut self.0 {
            let now = Instant::now();
            p.0[phase].fetch_add((now - *t).as_nanos() as u64, Ordering::Relaxed);
            *t = now;
        }
    }
}

/// The most chunks of items whose weight gradients are summed separately in a backward pass.
const GRAD_CHUNKS: usize = 16;

/// Items per chunk and the number of chunks for a pass over `rows` rows (a function of `rows`
/// alone, so that partial sums are added in the same order whatever the number of threads).
fn chunking(rows: usize) -> (usize, usize) {
    let per = rows.div_ceil(rows.clamp(1, GRAD_CHUNKS));
    (per, rows.div_ceil(per))
}

/// The hyperparameters of one convolution layer in a [`ConvStackConfig`]: a square kernel, the same
/// stride and zero padding along both spatial dimensions (PyTorch's `nn.Conv2d(c_in, out_channels,
/// kernel, stride, padding)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvLayerConfig {
    /// Output channels.
    pub out_channels: usize,
    /// Kernel height and width.
    pub kernel: usize,
    /// Stride along height and width.
    pub stride: usize,
    /// Zero padding on each side of height and width.
    pub padding: usize,
}

impl ConvLayerConfig {
    /// A layer with `out_channels` channels, a `kernel x kernel` kernel, `stride` and `padding`.
    pub fn new(out_channels: usize, kernel: usize, stride: usize, padding: usize) -> Self {
        ConvLayerConfig {
            out_channels,
            kernel,
            stride,
            padding,
        }
    }
}

/// How a [`ConvStack`] turns its last convolution's output `[C, H, W]` (after the ReLU) into its
/// output row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConvPool {
    /// All `C * H * W` values, channels first (PyTorch's `nn.Flatten`; the default).
    #[default]
    Flatten,
    /// Global average pooling: the mean of each channel over `H x W`, `C` values (PyTorch's
    /// `nn.AdaptiveAvgPool2d(1)` then `nn.Flatten`).
    Mean,
}

impl ConvPool {
    /// Every variant, in the order of the docs.
    pub const ALL: [ConvPool; 2] = [ConvPool::Flatten, ConvPool::Mean];

    /// The name used in configs (`flatten`, `mean`).
    pub fn name(self) -> &'static str {
        match self {
            ConvPool::Flatten => "flatten",
            ConvPool::Mean => "mean",
        }
    }
}

/// A convolutional encoder body: the input image shape and a chain of convolution layers, each
/// followed by a ReLU, the last output flattened (`C, H, W` order) or averaged over `H x W`
/// ([`ConvPool`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvStackConfig {
    /// Input channels (1 for grey images).
    pub in_channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// The convolution layers, input first.
    pub layers: Vec<ConvLayerConfig>,
    /// Whether each convolution is followed by a layer norm over its whole output `[C, H, W]` with
    /// a per-channel gain and shift (PyTorch's `nn.GroupNorm(1, C)`), before the ReLU. It computes
    /// the same in training and inference (statistics per item, not per batch).
    pub norm: bool,
    /// What the stack outputs from the last convolution: all of it, or its mean per channel.
    pub pool: ConvPool,
}

impl ConvStackConfig {
    /// Checks the chain against the input shape and returns the shape of every layer. Errors are
    /// [`Error::Config`] naming `<key>.input_shape`, `<key>.layers`, `<key>.channels`,
    /// `<key>.kernel`, `<key>.strides`, `<key>.padding` (the message says which layer), where `key`
    /// is the config path of this stack (e.g. `model.encoder`). Every buffer size of an accepted
    /// layer fits in a `usize` (the memory it implies is checked by the caller's plan).
    pub fn check(&self, key: &str) -> Result<Vec<Conv2dShape>> {
        let (c, h, w) = (self.in_channels, self.height, self.width);
        if c == 0 || h == 0 || w == 0 {
            return Err(Error::config(
                format!("{key}.input_shape"),
                format!("[{c}, {h}, {w}]"),
                "the input needs at least one channel, row and column",
            ));
        }
        if self.layers.is_empty() {
            return Err(Error::config(
                format!("{key}.layers"),
                "[]",
                "a convolutional stack needs at least one layer",
            ));
        }
        let (mut c, mut h, mut w) = (c, h, w);
        let mut shapes = Vec::with_capacity(self.layers.len());
        for (i, l) in self.layers.iter().enumerate() {
            if l.out_channels == 0 {
                return Err(Error::config(
                    format!("{key}.channels"),
                    l.out_channels,
                    format!("layer {i}: a convolution needs at least one output channel"),
                ));
            }
            if l.stride == 0 {
                return Err(Error::config(
                    format!("{key}.strides"),
                    l.stride,
                    format!("layer {i}: the stride must be at least 1"),
                ));
            }
            let padded = |d: usize| l.padding.checked_mul(2).and_then(|p| p.checked_add(d));
            let (Some(ph), Some(pw)) = (padded(h), padded(w)) else {
                return Err(Error::config(
                    format!("{key}.padding"),
                    l.padding,
                    format!("layer {i}: the padded image does not fit in memory"),
                ));
            };
            if l.kernel == 0 || l.kernel > ph || l.kernel > pw {
                let shrunk = if i > 0 {
                    " (the strides of the layers before it reduced the image to that)"
                } else {
                    ""
                };
                return Err(Error::config(
                    format!("{key}.kernel"),
                    l.kernel,
                    format!(
                        "layer {i}: the kernel must be at least 1 and fit the padded input \
                         {ph}x{pw} ({h}x{w} plus padding {} on each side){shrunk}",
                        l.padding
                    ),
                ));
            }
            let s = Conv2dShape {
                in_channels: c,
                out_channels: l.out_channels,
                kernel_h: l.kernel,
                kernel_w: l.kernel,
                stride: l.stride,
                padding: l.padding,
                in_h: h,
                in_w: w,
            };
            // every buffer of the layer must have a size at all (a weight of channels x channels
            // x kernel x kernel values, patch columns, padded input and output per item)
            let sizes = [
                c.checked_mul(l.kernel)
                    .and_then(|v| v.checked_mul(l.kernel))
                    .and_then(|v| v.checked_mul(l.out_channels.max(s.out_h() * s.out_w()))),
                c.checked_mul(ph).and_then(|v| v.checked_mul(pw)),
                l.out_channels
                    .checked_mul(s.out_h())
                    .and_then(|v| v.checked_mul(s.out_w())),
            ];
            if sizes.iter().any(Option::is_none) {
                return Err(Error::config(
                    format!("{key}.channels"),
                    l.out_channels,
                    format!("layer {i}: a layer of this size does not fit in memory"),
                ));
            }
            (c, h, w) = (s.out_channels, s.out_h(), s.out_w());
            shapes.push(s);
        }
        Ok(shapes)
    }
}

/// The shape of one 2-D convolution over NCHW items: `[in_channels, in_h, in_w]` ->
/// `[out_channels, out_h, out_w]`, a `kernel_h x kernel_w` kernel, one stride and one zero padding
/// for both spatial dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dShape {
    /// Input channels `C`.
    pub in_channels: usize,
    /// Output channels `O`.
    pub out_channels: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Stride (both dimensions).
    pub stride: usize,
    /// Zero padding on each side (both dimensions).
    pub padding: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
}

impl Conv2dShape {
    /// Output height, `floor((in_h + 2 padding - kernel_h) / stride) + 1`.
    pub fn out_h(&self) -> usize {
        (self.in_h + 2 * self.padding - self.kernel_h) / self.stride + 1
    }
    /// Output width, `floor((in_w + 2 padding - kernel_w) / stride) + 1`.
    pub fn out_w(&self) -> usize {
        (self.in_w + 2 * self.padding - self.kernel_w) / self.stride + 1
    }
    /// Values per input item, `C * in_h * in_w`.
    pub fn in_len(&self) -> usize {
        self.in_channels * self.in_h * self.in_w
    }
    /// Values per output item, `O * out_h * out_w`.
    pub fn out_len(&self) -> usize {
        self.out_channels * self.out_h() * self.out_w()
    }
    /// Values per patch, `C * kernel_h * kernel_w` (the inner dimension of the products).
    pub fn patch_len(&self) -> usize {
        self.in_channels * self.kernel_h * self.kernel_w
    }
    /// Values of the unfolded patch columns of one item, `patch_len * out_h * out_w`.
    pub fn cols_len(&self) -> usize {
        self.patch_len() * self.out_h() * self.out_w()
    }
    /// Values of the weight, `O * C * kernel_h * kernel_w`.
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.patch_len()
    }
    /// Multiply-adds of the forward pass per item.
    pub fn macs_per_item(&self) -> usize {
        self.weight_len()
            .saturating_mul(self.out_h() * self.out_w())
    }

    /// Items whose patch columns one product takes at once: as many as fit in
    /// `BLOCK_FLOATS` values (1 MiB; at least one), so that the block stays in cache between its
    /// unfolding and its products. A function of the shape alone.
    pub fn block_items(&self) -> usize {
        (BLOCK_FLOATS / self.cols_len().max(1)).max(1)
    }

    /// Unfolds one item `x` (`[in_h, in_w, C]`, channels last) into patch rows `cols`
    /// (`[out_h out_w, kh kw C]`: row `(oy, ox)`, column `(i, j, c)` holding
    /// `x[oy s + i - p, ox s + j - p, c]`, 0 in the padding). Channels last, each kernel row of a
    /// patch is one contiguous run of `kw C` input values.
    pub fn im2col(&self, x: &[f32], cols: &mut [f32]) {
        let c = self.in_channels;
        let (h, w, p) = (
            self.in_h as isize,
            self.in_w as isize,
            self.padding as isize,
        );
        let (kw, s, ow) = (self.kernel_w, self.stride, self.out_w());
        let x = &x[..self.in_len()];
        let run = kw * c;
        for (pix, row) in cols[..self.cols_len()]
            .chunks_exact_mut(self.patch_len())
            .enumerate()
        {
            let (oy, ox) = (pix / ow, pix % ow);
            let x0 = (ox * s) as isize - p;
            let inside = x0 >= 0 && x0 + kw as isize <= w;
            for (i, dst) in row.chunks_exact_mut(run).enumerate() {
                let iy = (oy * s + i) as isize - p;
                if iy < 0 || iy >= h {
                    dst.fill(0.0);
                    continue;
                }
                let xr = &x[iy as usize * w as usize * c..][..w as usize * c];
                if inside {
                    dst.copy_from_slice(&xr[x0 as usize * c..][..run]);
                } else {
                    for (j, d) in dst.chunks_exact_mut(c).enumerate() {
                        let ix = x0 + j as isize;
                        if ix < 0 || ix >= w {
                            d.fill(0.0);
                        } else {
                            d.copy_from_slice(&xr[ix as usize * c..][..c]);
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of [`Conv2dShape::im2col`]: overwrites `dx` (`[in_h, in_w, C]`) with the sums of
    /// the patch-row gradients `dcols` (`[out_h out_w, kh kw C]`) over every place each input value
    /// was copied to (in a fixed order).
    pub fn col2im(&self, dcols: &[f32], dx: &mut [f32]) {
        let c = self.in_channels;
        let (h, w, p) = (
            self.in_h as isize,
            self.in_w as isize,
            self.padding as isize,
        );
        let (kw, s, ow) = (self.kernel_w, self.stride, self.out_w());
        let dx = &mut dx[..self.in_len()];
        dx.fill(0.0);
        let run = kw * c;
        for (pix, row) in dcols[..self.cols_len()]
            .chunks_exact(self.patch_len())
            .enumerate()
        {
            let (oy, ox) = (pix / ow, pix % ow);
            let x0 = (ox * s) as isize - p;
            let inside = x0 >= 0 && x0 + kw as isize <= w;
            for (i, src) in row.chunks_exact(run).enumerate() {
                let iy = (oy * s + i) as isize - p;
                if iy < 0 || iy >= h {
                    continue;
                }
                let xr = &mut dx[iy as usize * w as usize * c..][..w as usize * c];
                if inside {
                    for (d, &g) in xr[x0 as usize * c..][..run].iter_mut().zip(src) {
                        *d += g;
                    }
                } else {
                    for (j, g) in src.chunks_exact(c).enumerate() {
                        let ix = x0 + j as isize;
                        if ix >= 0 && ix < w {
                            for (d, &g) in xr[ix as usize * c..][..c].iter_mut().zip(g) {
                                *d += g;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Scratch values of the channels-last passes ([`Conv2d::forward_nhwc`],
    /// [`Conv2d::backward_nhwc`]) over up to `rows` rows: the weight repacked `[kh kw C, O]`, then
    /// per chunk of items one block's patch rows and a partial weight and bias gradient.
    pub fn nhwc_workspace_floats(&self, rows: u128) -> u128 {
        let chunks = rows.min(GRAD_CHUNKS as u128);
        let per = if chunks == 0 {
            0
        } else {
            rows.div_ceil(chunks)
        };
        let block = per.min(self.block_items() as u128);
        let (wl, o) = (self.weight_len() as u128, self.out_channels as u128);
        wl + chunks * (block * self.cols_len() as u128 + wl + o)
    }
}

/// Patch-row values one product block holds at most (1 MiB of `f32`, half a core's L2 cache on
/// the machines measured): see [`Conv2dShape::block_items`].
const BLOCK_FLOATS: usize = 1 << 18;

/// `[rows, C, HW]` (channels first) -> `[rows, HW, C]` (channels last), item by item.
fn to_nhwc(src: &[f32], dst: &mut [f32], c: usize, hw: usize) {
    let n = c * hw;
    dst.par_chunks_mut(n)
        .zip(src.par_chunks(n))
        .for_each(|(d, s)| {
            for (ch, s) in s.chunks_exact(hw).enumerate() {
                for (p, &v) in s.iter().enumerate() {
                    d[p * c + ch] = v;
                }
            }
        });
}

/// `[rows, HW, C]` (channels last) -> `[rows, C, HW]` (channels first), item by item.
fn to_nchw(src: &[f32], dst: &mut [f32], c: usize, hw: usize) {
    let n = c * hw;
    dst.par_chunks_mut(n)
        .zip(src.par_chunks(n))
        .for_each(|(d, s)| {
            for (ch, d) in d.chunks_exact_mut(hw).enumerate() {
                for (p, v) in d.iter_mut().enumerate() {
                    *v = s[p * c + ch];
                }
            }
        });
}

/// One convolution layer `y = conv2d(x, W, b)` (PyTorch's `nn.Conv2d`) whose weight
/// (`[O, C, kh, kw]`, PyTorch's layout) and bias (`[O]`) live in a [`ParamStore`].
///
/// The layer owns no buffers: its passes read and write slices the caller allocated once (see
/// [`ConvStack`], which holds them for a chain of layers), plus [`Conv2d::workspace_len`] values
/// of scratch (one item's patch columns and a partial weight gradient per chunk of items).
#[derive(Clone, Copy, Debug)]
pub struct Conv2d {
    shape: Conv2dShape,
    w: usize,
    b: usize,
}

impl Conv2d {
    /// Registers the weight `<prefix>.weight` (`[O, C, kh, kw]`) and bias `<prefix>.bias` (`[O]`) of
    /// a convolution of shape `shape` in `store`.
    ///
    /// Errors when its parameters cannot be allocated.
    ///
    /// # Panics
    /// When the shape is degenerate (a zero size or stride, a kernel larger than the padded
    /// input); [`ConvStackConfig::check`] reports these as errors.
    pub fn new(store: &mut ParamStore, prefix: &str, shape: Conv2dShape) -> Result<Self> {
        let s = shape;
        assert!(
            s.in_channels > 0 && s.out_channels > 0 && s.stride > 0 && s.kernel_h > 0,
            "degenerate convolution {s:?}"
        );
        assert!(
            s.kernel_w > 0
                && s.kernel_h <= s.in_h + 2 * s.padding
                && s.kernel_w <= s.in_w + 2 * s.padding,
            "kernel larger than the padded input: {s:?}"
        );
        let w = store.register(
            format!("{prefix}.weight"),
            &[s.out_channels, s.in_channels, s.kernel_h, s.kernel_w],
        )?;
        let b = store.register(format!("{prefix}.bias"), &[s.out_channels])?;
        Ok(Conv2d { shape, w, b })
    }

    /// The layer's shape.
    pub fn shape(&self) -> &Conv2dShape {
        &self.shape
    }

    /// Store offsets `(weight, bias)`.
    pub fn offsets(&self) -> (usize, usize) {
        (self.w, self.b)
    }

    /// Initialises the weight and bias like PyTorch's `nn.Conv2d`: `U(-1/sqrt(fan_in),
    /// 1/sqrt(fan_in))` with `fan_in = C kh kw` (kaiming-uniform with `a = sqrt(5)`), weight first.
    pub fn init_using(&self, values: &mut [f32], rng: &mut MibRng) {
        let bound = 1.0 / (self.shape.patch_len() as f32).sqrt();
        let (wl, o) = (self.shape.weight_len(), self.shape.out_channels);
        for r in [self.w..self.w + wl, self.b..self.b + o] {
            for v in &mut values[r] {
                *v = (rng.random::<f32>() * 2.0 - 1.0) * bound;
            }
        }
    }

    /// Scratch values [`Conv2d::forward`] and [`Conv2d::backward`] need for `rows` rows: the
    /// channels-last copies of their operands and [`Conv2dShape::nhwc_workspace_floats`].
    pub fn workspace_len(&self, rows: usize) -> usize {
        let s = &self.shape;
        self.nhwc_workspace_len(rows) + rows * 2 * (s.in_len() + s.out_len())
    }

    /// Scratch values [`Conv2d::forward_nhwc`] and [`Conv2d::backward_nhwc`] need for `rows` rows.
    pub fn nhwc_workspace_len(&self, rows: usize) -> usize {
        self.shape.nhwc_workspace_floats(rows as u128) as usize
    }

    /// `(items per chunk, chunks, items per block, scratch values per chunk)` of a pass over
    /// `rows` rows: functions of `rows` and the shape alone.
    fn plan(&self, rows: usize) -> (usize, usize, usize, usize) {
        let s = &self.shape;
        let (per, n_chunks) = chunking(rows);
        let block = per.min(s.block_items());
        (
            per,
            n_chunks,
            block,
            block * s.cols_len() + s.weight_len() + s.out_channels,
        )
    }

    /// Writes the weight `[O, C, kh, kw]` as the `[kh kw C, O]` matrix the channels-last products
    /// take.
    fn pack_weight(&self, params: &[f32], wt: &mut [f32]) {
        let s = &self.shape;
        let (c, o, kh, kw) = (s.in_channels, s.out_channels, s.kernel_h, s.kernel_w);
        let w = &params[self.w..self.w + s.weight_len()];
        for (oi, wo) in w.chunks_exact(c * kh * kw).enumerate() {
            for (ci, wc) in wo.chunks_exact(kh * kw).enumerate() {
                for (ij, &v) in wc.iter().enumerate() {
                    wt[(ij * c + ci) * o + oi] = v;
                }
            }
        }
    }

    /// Forward pass over `rows` items: `y = conv2d(x, W, b)`, then ReLU when `relu`, in PyTorch's
    /// channels-first layout (through channels-last copies in `work`).
    ///
    /// # Shapes
    /// `x`: `[rows, in_len]`, `y`: `[rows, out_len]` (see [`Conv2dShape`]); `work`: at least
    /// [`Conv2d::workspace_len`]`(rows)` values.
    pub fn forward(
        &self,
        params: &[f32],
        x: &[f32],
        y: &mut [f32],
        work: &mut [f32],
        rows: usize,
        relu: bool,
    ) {
        let s = &self.shape;
        let (il, ol) = (rows * s.in_len(), rows * s.out_len());
        let (xt, rest) = work.split_at_mut(il);
        let (yt, rest) = rest.split_at_mut(ol);
        to_nhwc(&x[..il], xt, s.in_channels, s.in_h * s.in_w);
        self.forward_nhwc(params, xt, yt, rest, rows, relu, None);
        to_nchw(yt, &mut y[..ol], s.out_channels, s.out_h() * s.out_w());
    }

    /// [`Conv2d::forward`] with every image channels last: `x` `[rows, in_h, in_w, C]`, `y`
    /// `[rows, out_h, out_w, O]`; `work`: at least [`Conv2d::nhwc_workspace_len`]`(rows)` values.
    /// With `prof`, the time of each phase is added to it.
    ///
    /// Per block of items: `cols = im2col(x)` (`[items out_h out_w, kh kw C]`), then one product
    /// `y = cols Wt` (`Wt`: `[kh kw C, O]`), then bias and ReLU.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_nhwc(
        &self,
        params: &[f32],
        x: &[f32],
        y: &mut [f32],
        work: &mut [f32],
        rows: usize,
        relu: bool,
        prof: Option<&ConvPhases>,
    ) {
        if rows == 0 {
            return;
        }
        let s = &self.shape;
        let (il, ol, cl) = (s.in_len(), s.out_len(), s.cols_len());
        let (o, k, hw, wl) = (
            s.out_channels,
            s.patch_len(),
            s.out_h() * s.out_w(),
            s.weight_len(),
        );
        let (per, n_chunks, block, scratch) = self.plan(rows);
        let (wt, rest) = work.split_at_mut(wl);
        let mut clock = Clock::start(prof);
        self.pack_weight(params, wt);
        clock.lap(ConvPhases::F_LAYOUT);
        let wt = &*wt;
        let b = &params[self.b..self.b + o];
        y[..rows * ol]
            .par_chunks_mut(per * ol)
            .zip(x[..rows * il].par_chunks(per * il))
            .zip(rest[..n_chunks * scratch].par_chunks_mut(scratch))
            .for_each(|((y, x), work)| {
                let cols = &mut work[..block * cl];
                let mut clock = Clock::start(prof);
                for (y, x) in y.chunks_mut(block * ol).zip(x.chunks(block * il)) {
                    let n = x.len() / il;
                    for (x, c) in x.chunks_exact(il).zip(cols.chunks_exact_mut(cl)) {
                        s.im2col(x, c);
                    }
                    clock.lap(ConvPhases::F_IM2COL);
                    matmul_one(y, cols, wt, n * hw, k, o, false);
                    clock.lap(ConvPhases::F_GEMM);
                    for px in y.chunks_exact_mut(o) {
                        if relu {
                            for (v, &b) in px.iter_mut().zip(b) {
                                *v = (*v + b).max(0.0);
                            }
                        } else {
                            for (v, &b) in px.iter_mut().zip(b) {
                                *v += b;
                            }
                        }
                    }
                    clock.lap(ConvPhases::F_BIAS);
                }
            });
    }

    /// Backward pass for the last [`Conv2d::forward`] over the same `x` and `rows`: overwrites
    /// this layer's weight and bias gradients in `grads` and, when `dx` is given, the input
    /// gradient.
    ///
    /// `dy` holds the gradient w.r.t. the output `y` (after the ReLU when `relu`); it is masked in
    /// place by the ReLU (becoming the gradient w.r.t. the pre-activation).
    ///
    /// # Shapes
    /// `x`, `dx`: `[rows, in_len]`; `dy`, `y`: `[rows, out_len]`; `work`: at least
    /// [`Conv2d::workspace_len`]`(rows)` values.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        params: &[f32],
        grads: &mut [f32],
        x: &[f32],
        dy: &mut [f32],
        y: &[f32],
        dx: Option<&mut [f32]>,
        work: &mut [f32],
        rows: usize,
        relu: bool,
    ) {
        let s = &self.shape;
        let (c, hw_in) = (s.in_channels, s.in_h * s.in_w);
        let (o, hw_out) = (s.out_channels, s.out_h() * s.out_w());
        let (il, ol) = (rows * s.in_len(), rows * s.out_len());
        let (xt, rest) = work.split_at_mut(il);
        let (dxt, rest) = rest.split_at_mut(il);
        let (yt, rest) = rest.split_at_mut(ol);
        let (dyt, rest) = rest.split_at_mut(ol);
        to_nhwc(&x[..il], xt, c, hw_in);
        to_nhwc(&y[..ol], yt, o, hw_out);
        to_nhwc(&dy[..ol], dyt, o, hw_out);
        let want_dx = dx.is_some();
        self.backward_nhwc(
            params,
            grads,
            xt,
            dyt,
            yt,
            want_dx.then_some(&mut *dxt),
            rest,
            rows,
            relu,
            None,
        );
        to_nchw(dyt, &mut dy[..ol], o, hw_out);
        if let Some(dx) = dx {
            to_nchw(dxt, &mut dx[..il], c, hw_in);
        }
    }

    /// [`Conv2d::backward`] with every image channels last (as [`Conv2d::forward_nhwc`]); `work`:
    /// at least [`Conv2d::nhwc_workspace_len`]`(rows)` values. With `prof`, the time of each phase
    /// is added to it.
    ///
    /// Per block of items: the ReLU mask and bias gradient, `cols = im2col(x)` again (cheaper
    /// than keeping every item's columns), `dWt += cols^T dy` and, when the input gradient is
    /// wanted, `dcols = dy Wt^T` (over the columns) folded back by `col2im`. The weight and bias
    /// gradients are summed per chunk of items, then the chunks' sums in a fixed order.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_nhwc(
        &self,
        params: &[f32],
        grads: &mut [f32],
        x: &[f32],
        dy: &mut [f32],
        y: &[f32],
        dx: Option<&mut [f32]>,
        work: &mut [f32],
        rows: usize,
        relu: bool,
        prof: Option<&ConvPhases>,
    ) {
        let s = &self.shape;
        let (il, ol, cl) = (s.in_len(), s.out_len(), s.cols_len());
        let (o, k, hw, wl) = (
            s.out_channels,
            s.patch_len(),
            s.out_h() * s.out_w(),
            s.weight_len(),
        );
        if rows == 0 {
            grads[self.w..self.w + wl].fill(0.0);
            grads[self.b..self.b + o].fill(0.0);
            return;
        }
        let (per, n_chunks, block, scratch) = self.plan(rows);
        let (wt, rest) = work.split_at_mut(wl);
        let mut clock = Clock::start(prof);
        self.pack_weight(params, wt);
        clock.lap(ConvPhases::B_LAYOUT);
        let wt = &*wt;
        let rest = &mut rest[..n_chunks * scratch];
        // one chunk of items: its partial weight and bias gradients, and its input gradients
        let chunk =
            |x: &[f32], dy: &mut [f32], y: &[f32], work: &mut [f32], dx: Option<&mut [f32]>| {
                let (cols, part) = work.split_at_mut(block * cl);
                let (pw, pb) = part.split_at_mut(wl);
                pb.fill(0.0);
                let mut clock = Clock::start(prof);
                let mut dx = dx.map(|d| d.chunks_mut(block * il));
                for (bi, ((dy, y), x)) in dy
                    .chunks_mut(block * ol)
                    .zip(y.chunks(block * ol))
                    .zip(x.chunks(block * il))
                    .enumerate()
                {
                    let n = x.len() / il;
                    for (g, yv) in dy.chunks_exact_mut(o).zip(y.chunks_exact(o)) {
                        if relu {
                            for (g, &v) in g.iter_mut().zip(yv) {
                                if v <= 0.0 {
                                    *g = 0.0;
                                }
                            }
                        }
                        for (b, &g) in pb.iter_mut().zip(g.iter()) {
                            *b += g;
                        }
                    }
                    clock.lap(ConvPhases::B_RELU);
                    for (x, c) in x.chunks_exact(il).zip(cols.chunks_exact_mut(cl)) {
                        s.im2col(x, c);
                    }
                    clock.lap(ConvPhases::B_IM2COL);
                    // dWt [kh kw C, O] (+)= cols^T [kh kw C, n HW] dy [n HW, O]
                    matmul_tn_one(pw, cols, dy, k, n * hw, o, bi > 0);
                    clock.lap(ConvPhases::B_DW);
                    if let Some(dx) = dx.as_mut().and_then(|d| d.next()) {
                        // dcols [n HW, kh kw C] = dy [n HW, O] Wt^T [O, kh kw C], over the columns
                        matmul_nt_one(cols, dy, wt, n * hw, o, k, false);
                        clock.lap(ConvPhases::B_DX);
                        for (c, dx) in cols.chunks_exact(cl).zip(dx.chunks_exact_mut(il)) {
                            s.col2im(c, dx);
                        }
                        clock.lap(ConvPhases::B_COL2IM);
                    }
                }
            };
        let it = x[..rows * il]
            .par_chunks(per * il)
            .zip(dy[..rows * ol].par_chunks_mut(per * ol))
            .zip(y[..rows * ol].par_chunks(per * ol))
            .zip(rest.par_chunks_mut(scratch));
        match dx {
            Some(dx) => it
                .zip(dx[..rows * il].par_chunks_mut(per * il))
                .for_each(|((((x, dy), y), wk), dx)| chunk(x, dy, y, wk, Some(dx))),
            None => it.for_each(|(((x, dy), y), wk)| chunk(x, dy, y, wk, None)),
        }
        // the sums of the partial gradients (weight and bias adjacent), chunk by chunk in order,
        // into the first chunk's
        let mut clock = Clock::start(prof);
        let off = block * cl;
        let (first, others) = rest.split_at_mut(scratch);
        let acc = &mut first[off..off + wl + o];
        let others = &*others;
        const SPAN: usize = 4096;
        acc.par_chunks_mut(SPAN).enumerate().for_each(|(i, g)| {
            for p in others.chunks_exact(scratch) {
                for (g, &v) in g.iter_mut().zip(&p[off + i * SPAN..]) {
                    *g += v;
                }
            }
        });
        // [kh kw C, O] -> PyTorch's [O, C, kh, kw]
        let (c, khw) = (s.in_channels, s.kernel_h * s.kernel_w);
        for (oi, g) in grads[self.w..self.w + wl]
            .chunks_exact_mut(c * khw)
            .enumerate()
        {
            for (ci, g) in g.chunks_exact_mut(khw).enumerate() {
                for (ij, g) in g.iter_mut().enumerate() {
                    *g = acc[(ij * c + ci) * o + oi];
                }
            }
        }
        grads[self.b..self.b + o].copy_from_slice(&acc[wl..]);
        clock.lap(ConvPhases::B_SUM);
    }
}

/// A chain of [`Conv2d`] layers, each followed by a ReLU, the last output flattened to
/// `[rows, C * H * W]` (PyTorch's `nn.Sequential(Conv2d, ReLU, ..., Conv2d, ReLU, Flatten)`) or,
/// with [`ConvPool::Mean`], averaged over `H x W` to `[rows, C]` (`..., ReLU,
/// AdaptiveAvgPool2d(1), Flatten)`): the body of a convolutional encoder, whose output feeds a
/// dense head (an [`super::Mlp`]).
///
/// Parameters live in a [`ParamStore`] under `<prefix>.convs.<i>.weight` (`[O, C, kh, kw]`,
/// PyTorch's layout, unlike the `[in, out]` of dense weights) and `<prefix>.convs.<i>.bias` (`[O]`).
///
/// Usage mirrors [`super::Mlp`]: write the input rows (NCHW images, flattened) into
/// [`ConvStack::input_mut`], call [`ConvStack::forward`], read [`ConvStack::output`]; write the loss
/// gradient w.r.t. the output into [`ConvStack::output_grad_mut`], call [`ConvStack::backward`],
/// which overwrites the parameter gradients and (if enabled) fills [`ConvStack::input_grad`].
///
/// Inside, every activation is channels last ([`Conv2d::forward_nhwc`]); the input, the output and
/// their gradients are copied between the layouts where they differ (neither for one channel).
///
/// Memory: activations and their gradients for `max_rows` rows, channels-first copies of the
/// input and output where the layouts differ (the pooled output and its gradient instead of the
/// output's copies with [`ConvPool::Mean`]), and one shared scratch of
/// [`Conv2d::nhwc_workspace_len`] values (the patch rows are unfolded per block of items into a
/// scratch that stays in cache, in the forward pass and again in the backward pass, instead of
/// being kept for every item).
#[derive(Clone, Debug)]
pub struct ConvStack {
    layers: Vec<Conv2d>,
    /// norms[l]: the norm after layer l, when enabled.
    norms: Vec<Option<ChannelNorm>>,
    /// xhat[l]: the normalised output of layer l before gain, shift and ReLU (`[rows, out_len]`),
    /// kept for the backward pass; empty without norms.
    xhat: Vec<Vec<f32>>,
    /// rstd[l]: `1 / sqrt(var + eps)` of each row of layer l's output; empty without norms.
    rstd: Vec<Vec<f32>>,
    /// Partial gain and shift gradients per chunk of rows.
    norm_work: Vec<f32>,
    /// acts[0] is the input (channels first); acts[l] (l >= 1) the output of layer l-1 (after its
    /// ReLU), channels last.
    acts: Vec<Vec<f32>>,
    /// grads[l]: gradient w.r.t. acts[l], channels last; grads[0] is empty unless the input
    /// gradient is wanted.
    grads: Vec<Vec<f32>>,
    /// The input channels last (empty where the layouts agree: one channel or one pixel).
    input_nhwc: Vec<f32>,
    /// The input gradient channels first (empty unless wanted and the layouts differ).
    input_grad_nchw: Vec<f32>,
    /// The output and its gradient channels first (empty where the layouts agree, or pooled).
    output_nchw: Vec<f32>,
    output_grad_nchw: Vec<f32>,
    /// What the output is ([`ConvPool`]).
    pool: ConvPool,
    /// With [`ConvPool::Mean`], the output `[rows, C]` (the mean of the last activation over its
    /// pixels) and its gradient; empty otherwise.
    pooled: Vec<f32>,
    pooled_grad: Vec<f32>,
    /// Scratch for the patch rows and partial gradients (shared by the layers).
    work: Vec<f32>,
    max_rows: usize,
    input_grad: bool,
    /// Time per phase while `profiling`.
    phases: ConvPhases,
    profiling: bool,
}

/// Whether `[C, HW]` and `[HW, C]` hold the same values in the same order.
fn same_layout(c: usize, hw: usize) -> bool {
    c == 1 || hw == 1
}

impl ConvStack {
    /// Checks `cfg` ([`ConvStackConfig::check`], errors naming `<key>.<field>`), registers the
    /// layers' parameters in `store` under `prefix` and allocates buffers for up to `max_rows` rows.
    /// `input_grad`: whether [`ConvStack::backward`] also computes the gradient w.r.t. the input.
    pub fn new(
        store: &mut ParamStore,
        prefix: &str,
        key: &str,
        cfg: &ConvStackConfig,
        max_rows: usize,
        input_grad: bool,
    ) -> Result<Self> {
        let shapes = cfg.check(key)?;
        let layers: Vec<Conv2d> = shapes
            .iter()
            .enumerate()
            .map(|(i, &s)| Conv2d::new(store, &format!("{prefix}.convs.{i}"), s))
            .collect::<Result<_>>()?;
        let norms: Vec<Option<ChannelNorm>> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                cfg.norm
                    .then(|| -> Result<ChannelNorm> {
                        Ok(ChannelNorm {
                            gain: store.register(
                                format!("{prefix}.norms.{i}.weight"),
                                &[s.out_channels],
                            )?,
                            shift: store
                                .register(format!("{prefix}.norms.{i}.bias"), &[s.out_channels])?,
                        })
                    })
                    .transpose()
            })
            .collect::<Result<_>>()?;
        let (xhat, rstd) = shapes
            .iter()
            .map(|s| match cfg.norm {
                true => (vec![0.0; s.out_len() * max_rows], vec![0.0; max_rows]),
                false => (Vec::new(), Vec::new()),
            })
            .unzip();
        let max_o = shapes.iter().map(|s| s.out_channels).max().unwrap_or(0);
        let norm_work = vec![0.0; if cfg.norm { GRAD_CHUNKS * 2 * max_o } else { 0 }];
        let mut acts = vec![vec![0.0; shapes[0].in_len() * max_rows]];
        acts.extend(shapes.iter().map(|s| vec![0.0; s.out_len() * max_rows]));
        let grads = acts
            .iter()
            .enumerate()
            .map(|(l, a)| {
                if l > 0 || input_grad {
                    a.clone()
                } else {
                    Vec::new()
                }
            })
            .collect();
        let (first, last) = (shapes[0], shapes[shapes.len() - 1]);
        let pooled = cfg.pool == ConvPool::Mean;
        let in_differs = !same_layout(first.in_channels, first.in_h * first.in_w);
        let out_differs = !pooled && !same_layout(last.out_channels, last.out_h() * last.out_w());
        let buf = |on: bool, len: usize| vec![0.0; if on { len * max_rows } else { 0 }];
        let work_len = layers
            .iter()
            .map(|l| l.nhwc_workspace_len(max_rows))
            .max()
            .unwrap_or(0);
        let work = vec![0.0; work_len];
        Ok(ConvStack {
            layers,
            norms,
            xhat,
            rstd,
            norm_work,
            acts,
            grads,
            input_nhwc: buf(in_differs, first.in_len()),
            input_grad_nchw: buf(in_differs && input_grad, first.in_len()),
            output_nchw: buf(out_differs, last.out_len()),
            output_grad_nchw: buf(out_differs, last.out_len()),
            pool: cfg.pool,
            pooled: buf(pooled, last.out_channels),
            pooled_grad: buf(pooled, last.out_channels),
            work,
            max_rows,
            input_grad,
            phases: ConvPhases::default(),
            profiling: false,
        })
    }

    /// The parameters (weights, biases, norm gains and shifts) of a stack of layers `shapes`
    /// ([`ConvStackConfig::check`]).
    pub fn param_count(shapes: &[Conv2dShape], norm: bool) -> u128 {
        shapes
            .iter()
            .map(|s| {
                let o = s.out_channels as u128;
                s.weight_len() as u128 + o + if norm { 2 * o } else { 0 }
            })
            .sum()
    }

    /// The `f32` values held in the buffers (activations, their gradients, norm state, the pooled
    /// output and the scratch; not the parameters) of a stack of layers `shapes` built for
    /// `max_rows` rows.
    pub fn buffer_floats(
        shapes: &[Conv2dShape],
        norm: bool,
        pool: ConvPool,
        max_rows: u128,
        input_grad: bool,
    ) -> u128 {
        let (Some(first), Some(last)) = (shapes.first(), shapes.last()) else {
            return 0;
        };
        let rows = max_rows;
        let input = first.in_len() as u128 * rows;
        let output = last.out_len() as u128 * rows;
        let pooled = pool == ConvPool::Mean;
        let in_differs = !same_layout(first.in_channels, first.in_h * first.in_w);
        let out_differs = !pooled && !same_layout(last.out_channels, last.out_h() * last.out_w());
        let copies = |on: bool, n: u128| if on { n } else { 0 };
        let mut floats = input * if input_grad { 2 } else { 1 }
            + copies(in_differs, input) * if input_grad { 2 } else { 1 }
            + copies(out_differs, 2 * output)
            + copies(pooled, 2 * last.out_channels as u128 * rows);
        let mut work = 0u128;
        let mut max_o = 0u128;
        for s in shapes {
            let out = s.out_len() as u128 * rows;
            floats += 2 * out;
            if norm {
                floats += out + rows;
            }
            work = work.max(s.nhwc_workspace_floats(rows));
            max_o = max_o.max(s.out_channels as u128);
        }
        if norm {
            floats += GRAD_CHUNKS as u128 * 2 * max_o;
        }
        floats + work
    }

    /// Initialises every layer like PyTorch's `nn.Conv2d` ([`Conv2d::init_using`]), layer by layer.
    pub fn init_using(&self, store: &mut ParamStore, rng: &mut MibRng) {
        let values = store.values_mut();
        for l in &self.layers {
            l.init_using(values, rng);
        }
        // norms start as the identity (gain 1, shift 0), drawing no random numbers
        for (n, l) in self.norms.iter().zip(&self.layers) {
            if let Some(n) = n {
                let o = l.shape.out_channels;
                values[n.gain..n.gain + o].fill(1.0);
                values[n.shift..n.shift + o].fill(0.0);
            }
        }
    }

    /// Turns the profile of the passes' phases on or off ([`ConvStack::take_profile`]).
    pub fn set_profiling(&mut self, on: bool) {
        self.profiling = on;
    }

    /// The time per phase since the last call (or since profiling was turned on), then zero.
    pub fn take_profile(&mut self) -> ConvPhases {
        std::mem::take(&mut self.phases)
    }

    /// Whether a norm follows each convolution.
    pub fn has_norm(&self) -> bool {
        self.norms.iter().any(Option::is_some)
    }

    /// The layers, input first.
    pub fn layers(&self) -> &[Conv2d] {
        &self.layers
    }
    /// Values per input row, `C * H * W` of the input image.
    pub fn in_dim(&self) -> usize {
        self.layers[0].shape.in_len()
    }
    /// Values per output row: `C * H * W` of the last layer's output, or `C` when pooled.
    pub fn out_dim(&self) -> usize {
        let s = self.layers.last().expect("non-empty").shape;
        match self.pool {
            ConvPool::Flatten => s.out_len(),
            ConvPool::Mean => s.out_channels,
        }
    }
    /// What the output is: the last activation flattened, or its mean per channel.
    pub fn pool(&self) -> ConvPool {
        self.pool
    }
    /// The last convolution's output image shape `(C, H, W)` (before any pooling).
    pub fn out_shape(&self) -> (usize, usize, usize) {
        let s = self.layers.last().expect("non-empty").shape;
        (s.out_channels, s.out_h(), s.out_w())
    }
    /// The most rows a pass can take.
    pub fn max_rows(&self) -> usize {
        self.max_rows
    }
    /// Multiply-adds of one forward pass per row.
    pub fn macs_per_row(&self) -> usize {
        self.layers.iter().map(|l| l.shape.macs_per_item()).sum()
    }

    /// The input buffer for `rows` rows, `[rows, in_dim]`.
    pub fn input_mut(&mut self, rows: usize) -> &mut [f32] {
        let d = self.in_dim();
        &mut self.acts[0][..rows * d]
    }
    /// The input of the last forward pass, `[rows, in_dim]`.
    pub fn input(&self, rows: usize) -> &[f32] {
        &self.acts[0][..rows * self.in_dim()]
    }
    /// The output of the last forward pass (after the last ReLU and the pooling, if any),
    /// `[rows, out_dim]`, channels first.
    pub fn output(&self, rows: usize) -> &[f32] {
        let n = rows * self.out_dim();
        if self.pool == ConvPool::Mean {
            &self.pooled[..n]
        } else if self.output_nchw.is_empty() {
            &self.acts[self.layers.len()][..n]
        } else {
            &self.output_nchw[..n]
        }
    }
    /// The buffer for the gradient w.r.t. the output, `[rows, out_dim]`, channels first (consumed
    /// by [`ConvStack::backward`]).
    pub fn output_grad_mut(&mut self, rows: usize) -> &mut [f32] {
        let n = rows * self.out_dim();
        if self.pool == ConvPool::Mean {
            &mut self.pooled_grad[..n]
        } else if self.output_grad_nchw.is_empty() {
            let l = self.layers.len();
            &mut self.grads[l][..n]
        } else {
            &mut self.output_grad_nchw[..n]
        }
    }
    /// The gradient w.r.t. the input from the last backward pass, `[rows, in_dim]`, channels
    /// first.
    ///
    /// # Panics
    /// When the stack was built without `input_grad`.
    pub fn input_grad(&self, rows: usize) -> &[f32] {
        assert!(self.input_grad, "conv stack built without input gradient");
        let n = rows * self.in_dim();
        if self.input_grad_nchw.is_empty() {
            &self.grads[0][..n]
        } else {
            &self.input_grad_nchw[..n]
        }
    }

    /// Forward pass over the first `rows` rows of the input buffer.
    ///
    /// # Shapes
    /// input `[rows, in_dim]` -> output `[rows, out_dim]`.
    pub fn forward(&mut self, params: &[f32], rows: usize) {
        assert!(rows <= self.max_rows);
        let prof = self.profiling.then_some(&self.phases);
        let mut clock = Clock::start(prof);
        let first = self.layers[0].shape;
        if !self.input_nhwc.is_empty() {
            let n = rows * first.in_len();
            to_nhwc(
                &self.acts[0][..n],
                &mut self.input_nhwc[..n],
                first.in_channels,
                first.in_h * first.in_w,
            );
        }
        clock.lap(ConvPhases::F_LAYOUT);
        for (l, layer) in self.layers.iter().enumerate() {
            let (lo, hi) = self.acts.split_at_mut(l + 1);
            let x = if l == 0 && !self.input_nhwc.is_empty() {
                &self.input_nhwc
            } else {
                &lo[l]
            };
            let norm = self.norms[l];
            layer.forward_nhwc(
                params,
                x,
                &mut hi[0],
                &mut self.work,
                rows,
                norm.is_none(),
                prof,
            );
            if let Some(n) = norm {
                let s = layer.shape;
                n.forward(
                    params,
                    &mut hi[0][..rows * s.out_len()],
                    &mut self.xhat[l][..rows * s.out_len()],
                    &mut self.rstd[l][..rows],
                    s.out_channels,
                );
            }
        }
        let mut clock = Clock::start(prof);
        if !self.output_nchw.is_empty() {
            let s = self.layers[self.layers.len() - 1].shape;
            let n = rows * s.out_len();
            to_nchw(
                &self.acts[self.layers.len()][..n],
                &mut self.output_nchw[..n],
                s.out_channels,
                s.out_h() * s.out_w(),
            );
        }
        clock.lap(ConvPhases::F_LAYOUT);
        if self.pool == ConvPool::Mean {
            let s = self.layers[self.layers.len() - 1].shape;
            let (c, hw) = (s.out_channels, s.out_h() * s.out_w());
            let act = &self.acts[self.layers.len()][..rows * hw * c];
            for (p, a) in self.pooled[..rows * c]
                .chunks_exact_mut(c)
                .zip(act.chunks_exact(hw * c))
            {
                p.fill(0.0);
                for px in a.chunks_exact(c) {
                    for (p, &v) in p.iter_mut().zip(px) {
                        *p += v;
                    }
                }
                for p in p {
                    *p /= hw as f32;
                }
            }
            clock.lap(ConvPhases::F_POOL);
        }
    }

    /// Backward pass for the last forward pass (same `rows`): reads (and overwrites) the output
    /// gradient buffer, overwrites this stack's parameter gradients in `grads` and, when enabled,
    /// the input gradient.
    pub fn backward(&mut self, params: &[f32], grads: &mut [f32], rows: usize) {
        assert!(rows <= self.max_rows);
        let prof = self.profiling.then_some(&self.phases);
        let mut clock = Clock::start(prof);
        let nl = self.layers.len();
        if self.pool == ConvPool::Mean {
            // d mean_c / d a[p, c] = 1 / HW at every pixel p
            let s = self.layers[nl - 1].shape;
            let (c, hw) = (s.out_channels, s.out_h() * s.out_w());
            for (g, pg) in self.grads[nl][..rows * hw * c]
                .chunks_exact_mut(hw * c)
                .zip(self.pooled_grad[..rows * c].chunks_exact_mut(c))
            {
                for v in pg.iter_mut() {
                    *v /= hw as f32;
                }
                for px in g.chunks_exact_mut(c) {
                    px.copy_from_slice(pg);
                }
            }
            clock.lap(ConvPhases::B_POOL);
        }
        if !self.output_grad_nchw.is_empty() {
            let s = self.layers[nl - 1].shape;
            let n = rows * s.out_len();
            to_nhwc(
                &self.output_grad_nchw[..n],
                &mut self.grads[nl][..n],
                s.out_channels,
                s.out_h() * s.out_w(),
            );
        }
        clock.lap(ConvPhases::B_LAYOUT);
        for (l, layer) in self.layers.iter().enumerate().rev() {
            let (lo, hi) = self.grads.split_at_mut(l + 1);
            let dx = (l > 0 || self.input_grad).then(|| &mut lo[l][..]);
            let norm = self.norms[l];
            if let Some(n) = norm {
                let s = layer.shape;
                n.backward(
                    params,
                    grads,
                    &mut hi[0][..rows * s.out_len()],
                    &self.acts[l + 1][..rows * s.out_len()],
                    &self.xhat[l][..rows * s.out_len()],
                    &self.rstd[l][..rows],
                    &mut self.norm_work,
                    s.out_channels,
                );
            }
            let x = if l == 0 && !self.input_nhwc.is_empty() {
                &self.input_nhwc
            } else {
                &self.acts[l]
            };
            layer.backward_nhwc(
                params,
                grads,
                x,
                &mut hi[0],
                &self.acts[l + 1],
                dx,
                &mut self.work,
                rows,
                norm.is_none(),
                prof,
            );
        }
        let mut clock = Clock::start(prof);
        if !self.input_grad_nchw.is_empty() {
            let s = self.layers[0].shape;
            let n = rows * s.in_len();
            to_nchw(
                &self.grads[0][..n],
                &mut self.input_grad_nchw[..n],
                s.in_channels,
                s.in_h * s.in_w,
            );
        }
        clock.lap(ConvPhases::B_LAYOUT);
    }
}

/// The variance floor of [`ChannelNorm`] (PyTorch's default `eps`).
const NORM_EPS: f32 = 1e-5;

/// A layer norm over each item's whole image with a per-channel gain and shift, followed by a
/// ReLU (PyTorch's `nn.GroupNorm(1, C)` then `nn.ReLU`), on channels-last rows `[HW, C]`.
#[derive(Clone, Copy, Debug)]
struct ChannelNorm {
    gain: usize,
    shift: usize,
}

impl ChannelNorm {
    /// Normalises each row of `y` (`[rows, HW * C]`, channels last) in place, then gain, shift
    /// and ReLU; keeps the normalised values in `xhat` and each row's `1 / sqrt(var + eps)` in
    /// `rstd`.
    fn forward(&self, params: &[f32], y: &mut [f32], xhat: &mut [f32], rstd: &mut [f32], c: usize) {
        let rows = rstd.len();
        if rows == 0 {
            return;
        }
        let d = y.len() / rows;
        let gain = &params[self.gain..self.gain + c];
        let shift = &params[self.shift..self.shift + c];
        y.par_chunks_mut(d)
            .zip(xhat.par_chunks_mut(d))
            .zip(rstd.par_iter_mut())
            .for_each(|((row, xh), r)| {
                let mean = row.iter().sum::<f32>() / d as f32;
                let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
                let inv = 1.0 / (var + NORM_EPS).sqrt();
                *r = inv;
                for (px, xh) in row.chunks_exact_mut(c).zip(xh.chunks_exact_mut(c)) {
                    for (((v, h), &g), &s) in px.iter_mut().zip(xh).zip(gain).zip(shift) {
                        let n = (*v - mean) * inv;
                        *h = n;
                        *v = (g * n + s).max(0.0);
                    }
                }
            });
    }

    /// The backward pass of [`ChannelNorm::forward`]: `dy` (`[rows, HW * C]`, the gradient w.r.t.
    /// the ReLU's output `y`) is replaced by the gradient w.r.t. the norm's input; the gain and
    /// shift gradients in `grads` are overwritten (summed per chunk of rows in `work`, then in
    /// order).
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        params: &[f32],
        grads: &mut [f32],
        dy: &mut [f32],
        y: &[f32],
        xhat: &[f32],
        rstd: &[f32],
        work: &mut [f32],
        c: usize,
    ) {
        let rows = rstd.len();
        grads[self.gain..self.gain + c].fill(0.0);
        grads[self.shift..self.shift + c].fill(0.0);
        if rows == 0 {
            return;
        }
        let d = dy.len() / rows;
        let gain = &params[self.gain..self.gain + c];
        let (per, n_chunks) = chunking(rows);
        let work = &mut work[..n_chunks * 2 * c];
        dy.par_chunks_mut(per * d)
            .zip(y.par_chunks(per * d))
            .zip(xhat.par_chunks(per * d))
            .zip(rstd.par_chunks(per))
            .zip(work.par_chunks_mut(2 * c))
            .for_each(|((((dy, y), xh), rs), part)| {
                let (dg, ds) = part.split_at_mut(c);
                dg.fill(0.0);
                ds.fill(0.0);
                for (((row, y), xh), &r) in dy
                    .chunks_exact_mut(d)
                    .zip(y.chunks_exact(d))
                    .zip(xh.chunks_exact(d))
                    .zip(rs)
                {
                    let (mut sum, mut dot) = (0.0f32, 0.0f32);
                    for ((px, y), xh) in row
                        .chunks_exact_mut(c)
                        .zip(y.chunks_exact(c))
                        .zip(xh.chunks_exact(c))
                    {
                        for (((((g, &y), &h), dg), ds), &gn) in px
                            .iter_mut()
                            .zip(y)
                            .zip(xh)
                            .zip(dg.iter_mut())
                            .zip(ds.iter_mut())
                            .zip(gain)
                        {
                            if y <= 0.0 {
                                *g = 0.0;
                            }
                            *dg += *g * h;
                            *ds += *g;
                            *g *= gn;
                            sum += *g;
                            dot += *g * h;
                        }
                    }
                    let (mean, mean_dot) = (sum / d as f32, dot / d as f32);
                    for (g, &h) in row.iter_mut().zip(xh) {
                        *g = r * (*g - mean - h * mean_dot);
                    }
                }
            });
        let work = &*work;
        for p in work.chunks_exact(2 * c) {
            for (g, &v) in grads[self.gain..self.gain + c].iter_mut().zip(&p[..c]) {
                *g += v;
            }
            for (g, &v) in grads[self.shift..self.shift + c].iter_mut().zip(&p[c..]) {
                *g += v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Direct convolution of one item, in f64.
    fn naive(s: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f64> {
        let (oh, ow) = (s.out_h(), s.out_w());
        let mut y = vec![0.0f64; s.out_len()];
        for o in 0..s.out_channels {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = b[o] as f64;
                    for c in 0..s.in_channels {
                        for i in 0..s.kernel_h {
                            for j in 0..s.kernel_w {
                                let iy = (oy * s.stride + i) as isize - s.padding as isize;
                                let ix = (ox * s.stride + j) as isize - s.padding as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= s.in_h as isize
                                    || ix >= s.in_w as isize
                                {
                                    continue;
                                }
                                let xv = x[(c * s.in_h + iy as usize) * s.in_w + ix as usize];
                                let wv =
                                    w[((o * s.in_channels + c) * s.kernel_h + i) * s.kernel_w + j];
                                acc += xv as f64 * wv as f64;
                            }
                        }
                    }
                    y[(o * oh + oy) * ow + ox] = acc;
                }
            }
        }
        y
    }

    fn shapes() -> Vec<Conv2dShape> {
        let mk = |c, o, kh, kw, stride, padding, in_h, in_w| Conv2dShape {
            in_channels: c,
            out_channels: o,
            kernel_h: kh,
            kernel_w: kw,
            stride,
            padding,
            in_h,
            in_w,
        };
        vec![
            mk(3, 4, 3, 3, 1, 1, 7, 6),
            mk(2, 5, 3, 3, 2, 1, 8, 7),
            mk(2, 3, 5, 5, 1, 2, 9, 9),
            mk(2, 4, 3, 3, 2, 0, 9, 8),
            mk(6, 3, 1, 1, 1, 0, 5, 5),
            mk(3, 4, 4, 4, 2, 1, 8, 8),
            mk(2, 3, 2, 3, 3, 2, 5, 7),
            mk(1, 2, 3, 3, 2, 3, 2, 2),
        ]
    }

    #[test]
    fn forward_matches_direct_convolution() {
        let mut rng = MibRng::seed_from_u64(3);
        for s in shapes() {
            let mut store = ParamStore::new();
            let conv = Conv2d::new(&mut store, "c", s).unwrap();
            conv.init_using(store.values_mut(), &mut rng);
            let rows = 3;
            let x: Vec<f32> = (0..rows * s.in_len())
                .map(|_| rng.random::<f32>() - 0.5)
                .collect();
            let mut y = vec![0.0; rows * s.out_len()];
            let mut work = vec![0.0; conv.workspace_len(rows)];
            conv.forward(store.values(), &x, &mut y, &mut work, rows, false);
            let (w, b) = (store.get("c.weight").unwrap(), store.get("c.bias").unwrap());
            for n in 0..rows {
                let want = naive(&s, &x[n * s.in_len()..(n + 1) * s.in_len()], w, b);
                for (g, w) in y[n * s.out_len()..].iter().zip(&want) {
                    assert!((*g as f64 - w).abs() < 1e-5, "{s:?}: {g} vs {w}");
                }
            }
        }
    }

    /// `<im2col(x), c> == <x, col2im(c)>` for random `x`, `c`: col2im is im2col's adjoint.
    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        let mut rng = MibRng::seed_from_u64(4);
        for s in shapes() {
            let x: Vec<f32> = (0..s.in_len()).map(|_| rng.random::<f32>() - 0.5).collect();
            let c: Vec<f32> = (0..s.cols_len())
                .map(|_| rng.random::<f32>() - 0.5)
                .collect();
            let mut cols = vec![f32::NAN; s.cols_len()];
            s.im2col(&x, &mut cols);
            let mut dx = vec![f32::NAN; s.in_len()];
            s.col2im(&c, &mut dx);
            let a: f64 = cols
                .iter()
                .zip(&c)
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum();
            let b: f64 = x.iter().zip(&dx).map(|(a, b)| *a as f64 * *b as f64).sum();
            assert!((a - b).abs() < 1e-4 * (1.0 + a.abs()), "{s:?}: {a} vs {b}");
        }
    }

    #[test]
    fn config_errors_name_the_key() {
        let cfg = |layers: Vec<ConvLayerConfig>| ConvStackConfig {
            in_channels: 1,
            height: 8,
            width: 8,
            layers,
            norm: false,
            pool: ConvPool::Flatten,
        };
        let field = |c: ConvStackConfig| match c.check("model.encoder") {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        };
        let l = ConvLayerConfig::new;
        assert_eq!(field(cfg(vec![l(4, 11, 1, 1)])), "model.encoder.kernel");
        assert_eq!(field(cfg(vec![l(4, 0, 1, 1)])), "model.encoder.kernel");
        assert_eq!(field(cfg(vec![l(4, 3, 0, 1)])), "model.encoder.strides");
        assert_eq!(field(cfg(vec![l(0, 3, 1, 1)])), "model.encoder.channels");
        assert_eq!(field(cfg(vec![])), "model.encoder.layers");
        let mut c = cfg(vec![l(4, 3, 1, 1)]);
        c.in_channels = 0;
        assert_eq!(field(c), "model.encoder.input_shape");
        // 8 -> 4 -> 2 -> 1 -> a 3x3 kernel without padding no longer fits
        let chain = vec![l(4, 3, 2, 1), l(4, 3, 2, 1), l(4, 3, 2, 1), l(4, 3, 1, 0)];
        let err = cfg(chain).check("model.encoder").unwrap_err().to_string();
        assert!(
            err.contains("model.encoder.kernel") && err.contains("layer 3"),
            "{err}"
        );
        let ok = cfg(vec![l(4, 3, 1, 1), l(8, 3, 2, 1), l(8, 3, 2, 1)]);
        let shapes = ok.check("model.encoder").unwrap();
        assert_eq!(
            shapes
                .iter()
                .map(|s| (s.out_h(), s.out_w()))
                .collect::<Vec<_>>(),
            vec![(8, 8), (4, 4), (2, 2)]
        );
    }

    fn randn(rng: &mut MibRng, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal))
            .collect()
    }

    /// Central difference of `f` at `x[i]` with step `h`, evaluated in f64 around f32 values.
    fn fd(x: &mut [f32], i: usize, h: f32, mut f: impl FnMut(&[f32]) -> f64) -> f64 {
        let x0 = x[i];
        x[i] = x0 + h;
        let a = f(x);
        x[i] = x0 - h;
        let b = f(x);
        x[i] = x0;
        (a - b) / (2.0 * h as f64)
    }

    /// A small stack (2 -> 3 -> 4 -> 2 channels on 7x6 images, with an input gradient).
    fn pooled_stack(
        store: &mut ParamStore,
        max_rows: usize,
        norm: bool,
        pool: ConvPool,
    ) -> ConvStack {
        let cfg = ConvStackConfig {
            in_channels: 2,
            height: 7,
            width: 6,
            layers: vec![
                ConvLayerConfig::new(3, 3, 1, 1),
                ConvLayerConfig::new(4, 3, 2, 1),
                ConvLayerConfig::new(2, 2, 1, 0),
            ],
            norm,
            pool,
        };
        ConvStack::new(store, "conv", "model.encoder", &cfg, max_rows, true).unwrap()
    }

    /// The gradients of `sum(output * r)` w.r.t. every parameter and input value match central
    /// differences (with a smaller step where the first one crosses a ReLU kink).
    #[test]
    fn stack_backward_matches_finite_differences() {
        check_stack_backward(false, ConvPool::Flatten);
    }

    /// As [`stack_backward_matches_finite_differences`], with a norm after each convolution.
    #[test]
    fn normed_stack_backward_matches_finite_differences() {
        check_stack_backward(true, ConvPool::Flatten);
    }

    /// As [`stack_backward_matches_finite_differences`], with the output averaged over the
    /// pixels (without and with norms).
    #[test]
    fn pooled_stack_backward_matches_finite_differences() {
        check_stack_backward(false, ConvPool::Mean);
        check_stack_backward(true, ConvPool::Mean);
    }

    /// The pooled output is the mean over `H x W` of the flattened output of a stack with the
    /// same parameters, and has `C` values per row.
    #[test]
    fn pooled_output_is_the_mean_of_the_flattened_output() {
        for norm in [false, true] {
            let rows = 4;
            let mut rng = MibRng::seed_from_u64(6);
            let mut store = ParamStore::new();
            let mut flat = pooled_stack(&mut store, rows + 1, norm, ConvPool::Flatten);
            flat.init_using(&mut store, &mut rng);
            let mut other = ParamStore::new();
            let mut mean = pooled_stack(&mut other, rows + 1, norm, ConvPool::Mean);
            assert_eq!(store.entries().len(), other.entries().len());
            assert_eq!(
                (mean.pool(), flat.pool()),
                (ConvPool::Mean, ConvPool::Flatten)
            );
            let (c, h, w) = flat.out_shape();
            assert_eq!(mean.out_shape(), (c, h, w));
            assert_eq!((flat.out_dim(), mean.out_dim()), (c * h * w, c));
            let x = randn(&mut rng, rows * flat.in_dim());
            flat.input_mut(rows).copy_from_slice(&x);
            flat.forward(store.values(), rows);
            mean.input_mut(rows).copy_from_slice(&x);
            mean.forward(store.values(), rows);
            let (f, m) = (flat.output(rows), mean.output(rows));
            assert_eq!(m.len(), rows * c);
            for (i, (row, got)) in f.chunks_exact(c * h * w).zip(m.chunks_exact(c)).enumerate() {
                for (ch, &got) in got.iter().enumerate() {
                    let px = &row[ch * h * w..][..h * w];
                    let want = px.iter().map(|&v| v as f64).sum::<f64>() / (h * w) as f64;
                    assert!(
                        (got as f64 - want).abs() < 1e-6 * (1.0 + want.abs()),
                        "norm {norm}, row {i}, channel {ch}: {got} vs {want}"
                    );
                }
            }
            // not a constant: the channels and rows differ
            assert!(m.iter().any(|&v| (v - m[0]).abs() > 1e-3), "{m:?}");
        }
    }

    fn check_stack_backward(norm: bool, pool: ConvPool) {
        let mut rng = MibRng::seed_from_u64(1);
        let mut store = ParamStore::new();
        let rows = 3;
        // built for more rows than used, so that passes over fewer rows are exercised
        let mut stack = pooled_stack(&mut store, rows + 2, norm, pool);
        stack.init_using(&mut store, &mut rng);
        assert_eq!(stack.has_norm(), norm);
        // gains and shifts away from the identity, so that their gradients are checked too
        let ranges: Vec<_> = store
            .entries()
            .iter()
            .filter(|e| e.name.contains("norms"))
            .map(|e| e.range())
            .collect();
        assert_eq!(ranges.len(), if norm { 6 } else { 0 });
        for r in ranges {
            for v in &mut store.values_mut()[r] {
                *v += 0.5 * rng.random::<f32>() - 0.25;
            }
        }
        assert_eq!(stack.out_shape(), (2, 3, 2));
        let x = randn(&mut rng, rows * stack.in_dim());
        let r = randn(&mut rng, rows * stack.out_dim());
        let loss = |st: &mut ConvStack, p: &[f32], x: &[f32]| -> f64 {
            st.input_mut(rows).copy_from_slice(x);
            st.forward(p, rows);
            st.output(rows)
                .iter()
                .zip(&r)
                .map(|(a, b)| (a * b) as f64)
                .sum()
        };
        loss(&mut stack, store.values(), &x);
        stack.output_grad_mut(rows).copy_from_slice(&r);
        let (p, g) = store.split();
        stack.backward(p, g, rows);
        let grads = store.grads().to_vec();
        let dx = stack.input_grad(rows).to_vec();
        assert!(grads.iter().filter(|g| **g != 0.0).count() > grads.len() / 2);
        let gmax = grads.iter().chain(&dx).fold(0.0f32, |m, v| m.max(v.abs())) as f64;
        let mut params = store.values().to_vec();
        let check = |what: &str, i: usize, num: &mut dyn FnMut(f32) -> f64, want: f32| {
            let mut n = num(1e-3);
            if (n - want as f64).abs() >= 2e-3 * gmax {
                n = num(1e-4);
            }
            assert!(
                (n - want as f64).abs() < 2e-3 * gmax,
                "{what} {i}: fd {n} vs {want}"
            );
        };
        for (i, &want) in grads.iter().enumerate() {
            let mut num = |h: f32| fd(&mut params, i, h, |p| loss(&mut stack, p, &x));
            check("param", i, &mut num, want);
        }
        let mut xs = x.clone();
        for (i, &want) in dx.iter().enumerate() {
            let p = store.values();
            let mut num = |h: f32| fd(&mut xs, i, h, |x| loss(&mut stack, p, x));
            check("input", i, &mut num, want);
        }
    }

    /// The profile times the phases that ran (the products, the unfolding, the layout copies of
    /// a stack whose input and output have several channels) and changes no result.
    #[test]
    fn profiling_times_the_phases_and_changes_nothing() {
        let run = |profile: bool| run_profiled(profile, ConvPool::Flatten);
        let phase = |seconds: &[f64], name: &str| {
            seconds[ConvPhases::NAMES.iter().position(|n| *n == name).unwrap()]
        };
        let (plain, none) = run(false);
        let (profiled, seconds) = run(true);
        assert_eq!(plain, profiled);
        assert!(none.iter().all(|s| *s == 0.0), "{none:?}");
        assert_eq!(seconds.len(), ConvPhases::NAMES.len());
        for name in [
            "forward.layout",
            "forward.im2col",
            "forward.gemm",
            "backward.layout",
            "backward.dw_gemm",
            "backward.dx_gemm",
            "backward.col2im",
        ] {
            assert!(phase(&seconds, name) > 0.0, "{name}: {seconds:?}");
        }
        for name in ["forward.pool", "backward.pool"] {
            assert_eq!(phase(&seconds, name), 0.0, "{name}: {seconds:?}");
        }
        // a pooled stack times its pooling, in both passes
        let (pooled, seconds) = run_profiled(true, ConvPool::Mean);
        assert_eq!(pooled, run_profiled(false, ConvPool::Mean).0);
        for name in ["forward.pool", "backward.pool", "forward.gemm"] {
            assert!(phase(&seconds, name) > 0.0, "{name}: {seconds:?}");
        }
    }

    type Passes = (Vec<f32>, Vec<f32>, Vec<f32>);

    /// Output, parameter and input gradients of one forward and backward pass of the small stack
    /// (with `pool`), and the profile of the phases.
    fn run_profiled(profile: bool, pool: ConvPool) -> (Passes, Vec<f64>) {
        let mut rng = MibRng::seed_from_u64(5);
        let mut store = ParamStore::new();
        let rows = 5;
        let mut stack = pooled_stack(&mut store, rows, false, pool);
        stack.init_using(&mut store, &mut rng);
        stack.set_profiling(profile);
        let res = one_pass(&mut stack, &mut store, &mut rng, rows);
        let seconds = stack.take_profile().seconds();
        let again = stack.take_profile().seconds();
        assert!(again.iter().all(|s| *s == 0.0), "taken: {again:?}");
        (res, seconds)
    }

    /// One forward and backward pass on random input and output gradient: the output, the
    /// parameter gradients and the input gradient.
    fn one_pass(
        stack: &mut ConvStack,
        store: &mut ParamStore,
        rng: &mut MibRng,
        rows: usize,
    ) -> Passes {
        let x = randn(rng, rows * stack.in_dim());
        stack.input_mut(rows).copy_from_slice(&x);
        stack.forward(store.values(), rows);
        let out = stack.output(rows).to_vec();
        let r = randn(rng, rows * stack.out_dim());
        stack.output_grad_mut(rows).copy_from_slice(&r);
        let (p, g) = store.split();
        stack.backward(p, g, rows);
        (out, store.grads().to_vec(), stack.input_grad(rows).to_vec())
    }

    /// Forward and backward give bit-identical results on 1, 2 and 3 threads.
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        for (norm, pool) in [
            (false, ConvPool::Flatten),
            (true, ConvPool::Flatten),
            (false, ConvPool::Mean),
        ] {
            check_thread_count(norm, pool);
        }
    }

    fn check_thread_count(norm: bool, pool: ConvPool) {
        let run = |threads: usize| {
            let threads = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            threads.install(|| {
                let mut rng = MibRng::seed_from_u64(2);
                let mut store = ParamStore::new();
                let rows = 37;
                let mut stack = pooled_stack(&mut store, rows, norm, pool);
                stack.init_using(&mut store, &mut rng);
                one_pass(&mut stack, &mut store, &mut rng, rows)
            })
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
    }
}
