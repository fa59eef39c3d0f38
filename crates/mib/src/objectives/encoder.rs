//! The encoder of a view: an MLP, or a convolutional body with a dense head, behind one interface.

use super::config::{EncoderConfig, EncoderKind, EncoderNorm, ModelConfig};
use crate::nn::{ConvPool, ConvStack, Mlp, ParamStore};
use crate::{Error, MibRng, Result};

/// An encoder `x -> [mu, raw scale]` (`[rows, 2 * z_dim]`), as [`ModelConfig::encoder`] chooses:
///
/// - [`Encoder::Mlp`]: `in_dim -> encoder_hidden.. -> 2 * z_dim`, parameters
///   `<prefix>.layers.<i>.{weight,bias}` (the reference architecture);
/// - [`Encoder::Conv`]: convolutions with ReLUs over the row read as a `[c, h, w]` image
///   (`<prefix>.convs.<i>.{weight,bias}`, `[O, C, kh, kw]`), flattened (or averaged per channel
///   over the pixels, `pool = "mean"`), then the dense head `flat -> encoder_hidden.. -> 2 * z_dim`
///   (`<prefix>.head.layers.<i>.{weight,bias}`).
///
/// Usage mirrors [`Mlp`]: fill [`Encoder::input_mut`], [`Encoder::forward`], read
/// [`Encoder::output`]; write the output gradient, [`Encoder::backward`] overwrites the encoder's
/// parameter gradients. No input gradient is computed unless built by
/// [`Encoder::with_input_grad`].
#[derive(Clone, Debug)]
pub enum Encoder {
    /// Dense layers only.
    Mlp(Mlp),
    /// A convolutional body and a dense head on its flattened (or pooled) output.
    Conv {
        /// The convolutions (boxed: the variants would differ in size by a whole stack).
        body: Box<ConvStack>,
        /// The dense layers after the flatten (or the pooling).
        head: Mlp,
    },
}

/// The config key the conv settings are reported under.
const KEY: &str = "model.encoder";

fn conv_cfg(cfg: &ModelConfig) -> Option<&EncoderConfig> {
    cfg.encoder.as_ref().filter(|e| e.kind == EncoderKind::Conv)
}

/// The widths of the dense part: `first -> encoder_hidden.. -> 2 * z_dim`.
fn dense_dims(cfg: &ModelConfig, first: usize) -> Vec<usize> {
    let mut dims = vec![first];
    dims.extend_from_slice(&cfg.encoder_hidden);
    dims.push(cfg.z_dim.saturating_mul(2));
    dims
}

impl Encoder {
    /// Checks that view `view`, of width `in_dim`, fits its encoder
    /// ([`ModelConfig::encoder_for`]): always for an MLP; for a conv encoder, `image_shape` must be
    /// set and `c * h * w == in_dim`. Errors name the encoder's key and the view.
    pub fn check_view(cfg: &ModelConfig, view: usize, in_dim: usize) -> Result<()> {
        let Some(e) = cfg
            .encoder_for(view)
            .filter(|e| e.kind == EncoderKind::Conv)
        else {
            return Ok(());
        };
        let key = format!("{}.image_shape", cfg.encoder_key(view));
        let Some([c, h, w]) = e.image_shape else {
            return Err(Error::config(
                key,
                "unset",
                format!(
                    "the conv encoder of view {view} needs its image shape [channels, height, \
                     width] (from the data, e.g. a [n, c, h, w] .npy, or set here)"
                ),
            ));
        };
        if c * h * w != in_dim {
            return Err(Error::config(
                key,
                format!("[{c}, {h}, {w}]"),
                format!(
                    "view {view} has width {in_dim}, not channels * height * width = {}",
                    c * h * w
                ),
            ));
        }
        Ok(())
    }

    /// Registers the parameters of the encoder `cfg` describes for inputs of width `in_dim` in
    /// `store` under `prefix`, with buffers for `max_rows` rows.
    pub fn new(
        store: &mut ParamStore,
        prefix: &str,
        cfg: &ModelConfig,
        in_dim: usize,
        max_rows: usize,
    ) -> Result<Self> {
        Self::build(store, prefix, cfg, in_dim, max_rows, false)
    }

    /// [`Encoder::new`], with a backward pass that also computes the gradient w.r.t. the input
    /// ([`Encoder::input_grad`]): what feature attributions need (the training step does not).
    pub fn with_input_grad(
        store: &mut ParamStore,
        prefix: &str,
        cfg: &ModelConfig,
        in_dim: usize,
        max_rows: usize,
    ) -> Result<Self> {
        Self::build(store, prefix, cfg, in_dim, max_rows, true)
    }

    fn build(
        store: &mut ParamStore,
        prefix: &str,
        cfg: &ModelConfig,
        in_dim: usize,
        max_rows: usize,
        input_grad: bool,
    ) -> Result<Self> {
        let layer_norm = cfg.encoder_norm == EncoderNorm::Layer;
        match conv_cfg(cfg) {
            None => Ok(Encoder::Mlp(Mlp::with_norm(
                store,
                prefix,
                &dense_dims(cfg, in_dim),
                max_rows,
                input_grad,
                layer_norm,
            )?)),
            Some(e) => {
                Self::check_view(cfg, 0, in_dim)?;
                // the image shape is checked: an unknown pool is what is left, which validation
                // names (a config that was validated never gets here)
                let Some(stack) = e.conv_stack() else {
                    e.validate_at(KEY)?;
                    return Err(Error::config(
                        format!("{KEY}.pool"),
                        format!("{:?}", e.pool),
                        "unknown pooling",
                    ));
                };
                let body = Box::new(ConvStack::new(
                    store, prefix, KEY, &stack, max_rows, input_grad,
                )?);
                let head = Mlp::with_norm(
                    store,
                    &format!("{prefix}.head"),
                    &dense_dims(cfg, body.out_dim()),
                    max_rows,
                    true,
                    layer_norm,
                )?;
                Ok(Encoder::Conv { body, head })
            }
        }
    }

    /// `(parameters, buffer floats)` of `Encoder::new(.., cfg, in_dim, max_rows)` (zero buffers
    /// for a conv encoder whose settings do not check out: construction refuses it anyway).
    pub fn memory_floats(cfg: &ModelConfig, in_dim: usize, max_rows: u128) -> (u128, u128) {
        let layer_norm = cfg.encoder_norm == EncoderNorm::Layer;
        match conv_cfg(cfg) {
            None => {
                let dims = dense_dims(cfg, in_dim);
                (
                    Mlp::param_count(&dims, layer_norm),
                    Mlp::buffer_floats(&dims, max_rows, false, layer_norm),
                )
            }
            Some(e) => {
                let Some((stack, shapes)) = e
                    .conv_stack()
                    .and_then(|s| s.check(KEY).ok().map(|shapes| (s, shapes)))
                else {
                    return (0, 0);
                };
                let flat = shapes.last().map_or(0, |s| match stack.pool {
                    ConvPool::Flatten => s.out_len(),
                    ConvPool::Mean => s.out_channels,
                });
                let dims = dense_dims(cfg, flat);
                (
                    ConvStack::param_count(&shapes, e.norm) + Mlp::param_count(&dims, layer_norm),
                    ConvStack::buffer_floats(&shapes, e.norm, stack.pool, max_rows, false)
                        + Mlp::buffer_floats(&dims, max_rows, true, layer_norm),
                )
            }
        }
    }

    /// Initialises the parameters like PyTorch's `nn.Conv2d` and `nn.Linear`, convolutions first.
    pub fn init_using(&self, store: &mut ParamStore, rng: &mut MibRng) {
        match self {
            Encoder::Mlp(m) => m.init_using(store, rng),
            Encoder::Conv { body, head } => {
                body.init_using(store, rng);
                head.init_using(store, rng);
            }
        }
    }

    fn head(&self) -> &Mlp {
        match self {
            Encoder::Mlp(m) => m,
            Encoder::Conv { head, .. } => head,
        }
    }

    fn head_mut(&mut self) -> &mut Mlp {
        match self {
            Encoder::Mlp(m) => m,
            Encoder::Conv { head, .. } => head,
        }
    }

    /// Input width (`c * h * w` for a conv encoder).
    pub fn in_dim(&self) -> usize {
        match self {
            Encoder::Mlp(m) => m.in_dim(),
            Encoder::Conv { body, .. } => body.in_dim(),
        }
    }
    /// Output width, `2 * z_dim`.
    pub fn out_dim(&self) -> usize {
        self.head().out_dim()
    }
    /// The most rows a pass can take.
    pub fn max_rows(&self) -> usize {
        self.head().max_rows()
    }
    /// Multiply-adds of one forward pass per row.
    pub fn macs_per_row(&self) -> usize {
        match self {
            Encoder::Mlp(m) => m.macs_per_row(),
            Encoder::Conv { body, head } => body.macs_per_row() + head.macs_per_row(),
        }
    }
    /// Multiply-adds per row of the first layer (whose input gradient a step does not compute).
    pub fn first_layer_macs(&self) -> usize {
        match self {
            Encoder::Mlp(m) => m.dims()[0] * m.dims()[1],
            Encoder::Conv { body, .. } => body.layers()[0].shape().macs_per_item(),
        }
    }

    /// The input buffer for `rows` rows, `[rows, in_dim]`.
    pub fn input_mut(&mut self, rows: usize) -> &mut [f32] {
        match self {
            Encoder::Mlp(m) => m.input_mut(rows),
            Encoder::Conv { body, .. } => body.input_mut(rows),
        }
    }
    /// The output of the last forward pass, `[rows, 2 * z_dim]`: means, then raw scales.
    pub fn output(&self, rows: usize) -> &[f32] {
        self.head().output(rows)
    }
    /// The architecture in one line, e.g. `mlp 240-256-256-2x32`,
    /// `conv [1, 28, 28] -> 16@14x14 (k3 s2 p1) -> 32@7x7 (k3 s2 p1), flat 1568-256-2x64` or, with
    /// `pool = "mean"`, `conv [1, 28, 28] -> ... -> 32@7x7 (k3 s2 p1), mean pool 32-256-2x64`.
    pub fn describe(&self) -> String {
        let dense = |m: &Mlp| {
            let d = m.dims();
            let mut parts: Vec<String> = d[..d.len() - 1].iter().map(|w| w.to_string()).collect();
            parts.push(format!("2x{}", d[d.len() - 1] / 2));
            parts
        };
        match self {
            Encoder::Mlp(m) => {
                let norm = if m.has_norm() { ", layer norm" } else { "" };
                format!("mlp {}{norm}", dense(m).join("-"))
            }
            Encoder::Conv { body, head } => {
                let first = body.layers()[0].shape();
                let mut s = format!(
                    "conv [{}, {}, {}]",
                    first.in_channels, first.in_h, first.in_w
                );
                for l in body.layers() {
                    let c = l.shape();
                    s.push_str(&format!(
                        " -> {}@{}x{} (k{} s{} p{})",
                        c.out_channels,
                        c.out_h(),
                        c.out_w(),
                        c.kernel_h,
                        c.stride,
                        c.padding
                    ));
                }
                if body.has_norm() {
                    s.push_str(", group norm");
                }
                let pool = match body.pool() {
                    ConvPool::Flatten => "flat",
                    ConvPool::Mean => "mean pool",
                };
                format!("{s}, {pool} {}", dense(head).join("-"))
            }
        }
    }
    /// Width of [`Encoder::hidden`]: the input width of the Gaussian head's last dense layer.
    pub fn hidden_dim(&self) -> usize {
        let d = self.head().dims();
        d[d.len() - 2]
    }
    /// The last hidden layer of the last forward pass, `[rows, hidden_dim]`: the input of the
    /// dense layer that outputs the posterior (after the previous layer's ReLU; the flattened or
    /// pooled convolutions for a conv encoder with no dense hidden layer; the input itself for an MLP
    /// with none).
    pub fn hidden(&self, rows: usize) -> &[f32] {
        let head = self.head();
        head.layer_input(head.dims().len() - 2, rows)
    }
    /// Output (read) and output-gradient buffer (write) at once.
    pub fn output_and_grad_mut(&mut self, rows: usize) -> (&[f32], &mut [f32]) {
        self.head_mut().output_and_grad_mut(rows)
    }

    /// Forward pass over the first `rows` rows of the input buffer.
    pub fn forward(&mut self, params: &[f32], rows: usize) {
        match self {
            Encoder::Mlp(m) => m.forward(params, rows),
            Encoder::Conv { body, head } => {
                body.forward(params, rows);
                head.input_mut(rows).copy_from_slice(body.output(rows));
                head.forward(params, rows);
            }
        }
    }

    /// The gradient w.r.t. the input from the last backward pass, `[rows, in_dim]`.
    ///
    /// # Panics
    /// When the encoder was not built by [`Encoder::with_input_grad`].
    pub fn input_grad(&self, rows: usize) -> &[f32] {
        match self {
            Encoder::Mlp(m) => m.input_grad(rows),
            Encoder::Conv { body, .. } => body.input_grad(rows),
        }
    }

    /// Backward pass for the last forward pass (same `rows`), from the output gradient buffer;
    /// overwrites the encoder's parameter gradients in `grads`.
    pub fn backward(&mut self, params: &[f32], grads: &mut [f32], rows: usize) {
        match self {
            Encoder::Mlp(m) => m.backward(params, grads, rows),
            Encoder::Conv { body, head } => {
                head.backward(params, grads, rows);
                body.output_grad_mut(rows)
                    .copy_from_slice(head.input_grad(rows));
                body.backward(params, grads, rows);
            }
        }
    }
}
