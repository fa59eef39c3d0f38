//! Model and optimizer configuration.

use crate::estimators::{CriticKind, EstimatorKind};
use crate::nn::{ConvLayerConfig, ConvPool, ConvStackConfig};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which objective a [`super::TrainStep`] optimises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectiveKind {
    /// Multi-View Information Bottleneck: `-I(z1; z2) + beta * SKL(p(z1|v1) || p(z2|v2))`; with
    /// `K > 2` views, the mean of that over all `K (K - 1) / 2` view pairs.
    #[default]
    Mib,
    /// Multi-View InfoMax: `-I(z1; z2)` (MIB with `beta = 0`).
    MvInfomax,
    /// InfoMax: `-I(z; x)`, critic on `[z, x]`, view 0 only.
    Infomax,
    /// beta-VAE: `distortion + beta * rate`, view 0 only.
    Vae,
    /// Supervised baseline: cross-entropy of a linear classifier on the encoder mean.
    Supervised,
}

impl ObjectiveKind {
    /// The name used in configs (`mib`, `mv-infomax`, `infomax`, `vae`, `supervised`).
    pub fn name(self) -> &'static str {
        match self {
            ObjectiveKind::Mib => "mib",
            ObjectiveKind::MvInfomax => "mv-infomax",
            ObjectiveKind::Infomax => "infomax",
            ObjectiveKind::Vae => "vae",
            ObjectiveKind::Supervised => "supervised",
        }
    }

    /// The fewest views the objective encodes: 2 for the multi-view objectives (which take any
    /// `K >= 2`), 1 for the single-view ones (which read view 0 only).
    pub fn n_views(self) -> usize {
        if self.is_multi_view() {
            2
        } else {
            1
        }
    }

    /// Whether it learns from `K >= 2` views of each item (MIB, MV-InfoMax).
    pub fn is_multi_view(self) -> bool {
        matches!(self, ObjectiveKind::Mib | ObjectiveKind::MvInfomax)
    }
}

/// How the symmetrised KL of MIB is computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SklKind {
    /// The reference's single-sample Monte-Carlo estimate (default; can be negative on a batch).
    #[default]
    MonteCarlo,
    /// The closed form of the Gaussian KL (non-negative, lower variance).
    ClosedForm,
}

/// The normalisation after each hidden layer of the encoder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncoderNorm {
    /// None, as in the reference (default).
    #[default]
    None,
    /// Layer normalisation (per item, over the layer's features, with a learned gain and shift)
    /// between each hidden dense layer and its ReLU. It is the same in training and inference.
    Layer,
}

impl EncoderNorm {
    /// Whether this is [`EncoderNorm::None`].
    pub fn is_none(&self) -> bool {
        *self == EncoderNorm::None
    }
}

/// Which kind of network an encoder is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncoderKind {
    /// Dense layers `in_dim -> encoder_hidden.. -> 2 * z_dim` (default).
    #[default]
    Mlp,
    /// Convolutions (each followed by a ReLU) over the view read as a `[c, h, w]` image, flattened,
    /// then dense layers `flat -> encoder_hidden.. -> 2 * z_dim` (a linear Gaussian head when
    /// `encoder_hidden` is empty).
    Conv,
}

/// How a conv encoder passes its last convolution's output `[C, H, W]` to the dense layers: the
/// `pool` key of `[model.encoder]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncoderPool {
    /// All `C * H * W` values (default).
    #[default]
    Flatten,
    /// Global average pooling: the mean of each channel over `H x W`, `C` values.
    Mean,
    /// Any other name, as written: [`EncoderConfig::validate_at`] refuses it naming its key.
    #[serde(untagged)]
    Unknown(String),
}

impl EncoderPool {
    /// Whether this is [`EncoderPool::Flatten`] (the default, left out of saved configs).
    pub fn is_flatten(&self) -> bool {
        *self == EncoderPool::Flatten
    }

    /// The compute core's pooling (`None` for an unknown name).
    pub fn conv_pool(&self) -> Option<ConvPool> {
        match self {
            EncoderPool::Flatten => Some(ConvPool::Flatten),
            EncoderPool::Mean => Some(ConvPool::Mean),
            EncoderPool::Unknown(_) => None,
        }
    }
}

impl From<ConvPool> for EncoderPool {
    fn from(p: ConvPool) -> Self {
        match p {
            ConvPool::Flatten => EncoderPool::Flatten,
            ConvPool::Mean => EncoderPool::Mean,
        }
    }
}

/// The `[model.encoder]` table: the encoder's architecture.
///
/// ```toml
/// [model.encoder]
/// kind = "conv"
/// channels = [32, 64, 128]
/// strides = [1, 2, 2]
/// kernel = 3
/// pool = "mean"
/// image_shape = [1, 28, 28]
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EncoderConfig {
    /// `mlp` or `conv`.
    pub kind: EncoderKind,
    /// Output channels of each convolution (conv only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<usize>,
    /// The stride of each convolution (default 1 for every layer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub strides: Vec<usize>,
    /// Kernel height and width of every convolution (default 3).
    #[serde(default = "default_kernel")]
    pub kernel: usize,
    /// Zero padding on each side (default `kernel / 2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub padding: Option<usize>,
    /// A per-item norm over each convolution's output before its ReLU (default `false`).
    #[serde(default)]
    pub norm: bool,
    /// What reaches the dense layers from the last convolution: `flatten` (all of it, default) or
    /// `mean` (its mean per channel over the pixels, global average pooling).
    #[serde(default, skip_serializing_if = "EncoderPool::is_flatten")]
    pub pool: EncoderPool,
    /// The image each view row holds, `[channels, height, width]` flattened in that order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_shape: Option<[usize; 3]>,
    /// The dense widths of this encoder (after the convolutions' flatten or pooling, or from
    /// the input for an MLP), in place of `model.encoder_hidden` for the views it encodes: e.g.
    /// one dense layer after a conv view's convolutions beside a deeper MLP on another view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Vec<usize>>,
}

fn default_kernel() -> usize {
    3
}

impl EncoderConfig {
    /// A convolutional encoder with these channels (stride 1, kernel 3, padding 1) over images of
    /// `image_shape`.
    pub fn conv(channels: Vec<usize>, image_shape: [usize; 3]) -> Self {
        EncoderConfig {
            kind: EncoderKind::Conv,
            channels,
            strides: Vec::new(),
            kernel: 3,
            padding: None,
            norm: false,
            pool: EncoderPool::Flatten,
            image_shape: Some(image_shape),
            hidden: None,
        }
    }

    /// Checks every value; errors name the offending key (`model.encoder.<field>`).
    pub fn validate(&self) -> Result<()> {
        self.validate_at("model.encoder")
    }

    /// [`EncoderConfig::validate`] for the table at `key` (`model.encoder`, or
    /// `model.encoders.<view>`): errors name `<key>.<field>`.
    pub fn validate_at(&self, key: &str) -> Result<()> {
        let k = |f: &str| format!("{key}.{f}");
        if let Some(h) = &self.hidden {
            check_widths(&k("hidden"), h)?;
        }
        if let EncoderPool::Unknown(name) = &self.pool {
            let names: Vec<&str> = ConvPool::ALL.iter().map(|p| p.name()).collect();
            return Err(Error::config(
                k("pool"),
                format!("{name:?}"),
                format!("expected one of {}", names.join(", ")),
            ));
        }
        if self.kind == EncoderKind::Mlp {
            if !self.channels.is_empty() || !self.strides.is_empty() {
                return Err(Error::config(
                    k("channels"),
                    format!("{:?}", self.channels),
                    "convolution settings need kind = \"conv\"",
                ));
            }
            if !self.pool.is_flatten() {
                return Err(Error::config(
                    k("pool"),
                    "\"mean\"",
                    "pooling is a conv encoder's: it needs kind = \"conv\"",
                ));
            }
            return Ok(());
        }
        if self.channels.is_empty() || self.channels.contains(&0) {
            return Err(Error::config(
                k("channels"),
                format!("{:?}", self.channels),
                "a conv encoder needs at least one convolution, each with at least one channel",
            ));
        }
        if !self.strides.is_empty() && self.strides.len() != self.channels.len() {
            return Err(Error::config(
                k("strides"),
                format!("{:?}", self.strides),
                format!(
                    "one stride per convolution ({} channels given), or none for stride 1",
                    self.channels.len()
                ),
            ));
        }
        if self.strides.contains(&0) {
            return Err(Error::config(
                k("strides"),
                format!("{:?}", self.strides),
                "strides must be at least 1",
            ));
        }
        if self.kernel == 0 {
            return Err(Error::config(k("kernel"), 0, "must be at least 1"));
        }
        if let Some(s) = self.image_shape {
            if s.contains(&0) {
                return Err(Error::config(
                    k("image_shape"),
                    format!("{s:?}"),
                    "needs at least one channel, row and column",
                ));
            }
        }
        if let Some(shape) = self.conv_stack() {
            shape.check(key)?;
        }
        Ok(())
    }

    /// The convolutional body (`None` for an MLP encoder, when `image_shape` is unset, or for an
    /// unknown `pool`, which [`EncoderConfig::validate`] refuses).
    pub fn conv_stack(&self) -> Option<ConvStackConfig> {
        let [c, h, w] = self.image_shape?;
        let pool = self.pool.conv_pool()?;
        (self.kind == EncoderKind::Conv).then(|| ConvStackConfig {
            in_channels: c,
            height: h,
            width: w,
            layers: self
                .channels
                .iter()
                .enumerate()
                .map(|(i, &o)| {
                    ConvLayerConfig::new(
                        o,
                        self.kernel,
                        self.strides.get(i).copied().unwrap_or(1),
                        self.padding.unwrap_or(self.kernel / 2),
                    )
                })
                .collect(),
            norm: self.norm,
            pool,
        })
    }
}

/// The architecture and objective of a model. `Default` is the reference architecture
/// (Federici et al. 2020, MNIST experiments).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// The objective (default `mib`).
    pub objective: ObjectiveKind,
    /// Hidden widths of the encoder MLP (default `[1024, 1024]`).
    pub encoder_hidden: Vec<usize>,
    /// Normalisation after each hidden layer of the encoder(s) (default `none`; `layer`).
    #[serde(skip_serializing_if = "EncoderNorm::is_none")]
    pub encoder_norm: EncoderNorm,
    /// The encoder architecture (the `[model.encoder]` table; absent: the MLP
    /// `in_dim -> encoder_hidden.. -> 2 * z_dim`, as in the reference).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoder: Option<EncoderConfig>,
    /// Encoders of single views, overriding [`ModelConfig::encoder`] for them: the
    /// `[model.encoders.<view>]` tables, keyed by a view's name or its index (`0`, `1`, ...).
    /// Training resolves names to indices against the data
    /// ([`crate::models::with_data_image_shape`]), so a run's `config.toml` holds indices. Views
    /// with different encoders need `shared_encoder = false`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub encoders: BTreeMap<String, EncoderConfig>,
    /// Representation width (default 64); the encoder's last layer has `2 * z_dim` outputs.
    pub z_dim: usize,
    /// One encoder for all views (default `true`); `false` gives each view its own encoder
    /// (required when the views differ in width).
    pub shared_encoder: bool,
    /// The critic (default `mlp`).
    pub critic: CriticKind,
    /// Hidden widths of the MLP critic (default `[1024, 1024]`).
    pub critic_hidden: Vec<usize>,
    /// Widths of the separable critic's projection head, one MLP `z_dim -> projection..` (ReLU
    /// between layers) applied to both samples before the cosine (default empty: the cosine of the
    /// samples themselves).
    pub projection: Vec<usize>,
    /// Temperature of the separable critic: scores are `cos(z1, z2) / temperature` (default 0.2).
    #[serde(serialize_with = "short_f32")]
    pub temperature: f32,
    /// The mutual-information estimator (default `jsd`). With the `mlp` critic, `infonce` scores all
    /// `B x B` pairs through the critic MLP (`B^2` rows: memory and time grow with the square of
    /// the batch); with the `separable` critic it costs one `B x B` product.
    pub estimator: EstimatorKind,
    /// How MIB's symmetrised KL is computed (default `monte-carlo`).
    pub skl: SklKind,
    /// Hidden widths of the beta-VAE decoder (default `[1024, 1024]`).
    pub decoder_hidden: Vec<usize>,
    /// Fixed scale of the decoder's Gaussian likelihood (default 0.39894 = 1/sqrt(2 pi)).
    #[serde(serialize_with = "short_f32")]
    pub decoder_scale: f32,
    /// Semi-supervised mode (default 0: off): the weight of the cross-entropy of a linear
    /// classifier `z_dim -> classes` on the posterior means of the batch's labelled rows (every
    /// view's), added to MIB's or MV-InfoMax's loss. The labelled items are `[data.labelled]`.
    #[serde(skip_serializing_if = "is_zero_f32", serialize_with = "short_f32")]
    pub label_weight: f32,
}

fn is_zero_f32(v: &f32) -> bool {
    *v == 0.0
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            objective: ObjectiveKind::Mib,
            encoder_hidden: vec![1024, 1024],
            encoder_norm: EncoderNorm::None,
            encoder: None,
            encoders: BTreeMap::new(),
            z_dim: 64,
            shared_encoder: true,
            critic: CriticKind::Mlp,
            critic_hidden: vec![1024, 1024],
            projection: Vec::new(),
            temperature: 0.2,
            estimator: EstimatorKind::Jsd,
            skl: SklKind::MonteCarlo,
            decoder_hidden: vec![1024, 1024],
            decoder_scale: 0.39894,
            label_weight: 0.0,
        }
    }
}

fn check_widths(field: &str, w: &[usize]) -> Result<()> {
    if w.contains(&0) {
        return Err(Error::config(
            field,
            format!("{w:?}"),
            "hidden widths must be positive",
        ));
    }
    Ok(())
}

/// Whether two encoder settings build the same network (`None` is the default MLP;
/// `encoder_hidden`: the dense widths of a table without its own `hidden`).
fn same_encoder(
    a: Option<&EncoderConfig>,
    b: Option<&EncoderConfig>,
    encoder_hidden: &[usize],
) -> bool {
    let mlp = |e: Option<&EncoderConfig>| e.is_none_or(|e| e.kind == EncoderKind::Mlp);
    let hidden = |e: Option<&EncoderConfig>| {
        e.and_then(|e| e.hidden.as_deref())
            .unwrap_or(encoder_hidden)
            .to_vec()
    };
    (mlp(a) && mlp(b) && hidden(a) == hidden(b)) || a == b
}

impl ModelConfig {
    /// The encoder settings of view `view` (its `[model.encoders.<view>]` table, else
    /// `[model.encoder]`; `None`: the default MLP).
    pub fn encoder_for(&self, view: usize) -> Option<&EncoderConfig> {
        self.encoders
            .get(&view.to_string())
            .or(self.encoder.as_ref())
    }

    /// The config key of view `view`'s encoder table (`model.encoders.<view>` or `model.encoder`).
    pub fn encoder_key(&self, view: usize) -> String {
        if self.encoders.contains_key(&view.to_string()) {
            format!("model.encoders.{view}")
        } else {
            "model.encoder".to_string()
        }
    }

    /// This config as seen by the encoder of view `view`: `encoder` is that view's
    /// ([`ModelConfig::encoder_for`]), `encoder_hidden` its dense widths (the table's `hidden`,
    /// when it has one) and there are no overrides.
    pub fn for_view(&self, view: usize) -> ModelConfig {
        let encoder = self.encoder_for(view).cloned();
        let encoder_hidden = encoder
            .as_ref()
            .and_then(|e| e.hidden.clone())
            .unwrap_or_else(|| self.encoder_hidden.clone());
        ModelConfig {
            encoder,
            encoders: BTreeMap::new(),
            encoder_hidden,
            ..self.clone()
        }
    }

    /// Checks that every `[model.encoders.<view>]` key is a view index below `n_views` (names are
    /// resolved to indices against the data before a model is built).
    pub fn check_encoder_views(&self, n_views: usize) -> Result<()> {
        for view in self.encoders.keys() {
            match view.parse::<usize>() {
                Ok(v) if v < n_views => {}
                Ok(_) => {
                    return Err(Error::config(
                        format!("model.encoders.{view}"),
                        view,
                        format!("no view {view}: the model encodes {n_views} view(s), 0 to {}", n_views - 1),
                    ))
                }
                Err(_) => {
                    return Err(Error::config(
                        format!("model.encoders.{view}"),
                        view,
                        "no view of that name in the data (key a view by its name or its index 0, 1, ...)",
                    ))
                }
            }
        }
        Ok(())
    }

    /// Checks every value; errors name the offending field.
    pub fn validate(&self) -> Result<()> {
        if self.z_dim == 0 {
            return Err(Error::config("model.z_dim", 0, "must be positive"));
        }
        check_widths("model.encoder_hidden", &self.encoder_hidden)?;
        if let Some(e) = &self.encoder {
            e.validate()?;
        }
        for (view, e) in &self.encoders {
            e.validate_at(&format!("model.encoders.{view}"))?;
        }
        if self.shared_encoder && self.objective.is_multi_view() {
            if let Some((view, _)) = self
                .encoders
                .iter()
                .find(|(_, e)| !same_encoder(Some(e), self.encoder.as_ref(), &self.encoder_hidden))
            {
                return Err(Error::config(
                    "model.shared_encoder",
                    true,
                    format!(
                        "[model.encoders.{view}] gives view `{view}` an encoder of its own, unlike \
                         [model.encoder]; set shared_encoder = false"
                    ),
                ));
            }
        }
        check_widths("model.critic_hidden", &self.critic_hidden)?;
        check_widths("model.decoder_hidden", &self.decoder_hidden)?;
        check_widths("model.projection", &self.projection)?;
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(Error::config(
                "model.temperature",
                self.temperature,
                "must be finite and > 0",
            ));
        }
        if !(self.decoder_scale.is_finite() && self.decoder_scale > 0.0) {
            return Err(Error::config(
                "model.decoder_scale",
                self.decoder_scale,
                "must be finite and > 0",
            ));
        }
        if !(self.label_weight.is_finite() && self.label_weight >= 0.0) {
            return Err(Error::config(
                "model.label_weight",
                self.label_weight,
                "must be finite and >= 0",
            ));
        }
        if self.label_weight > 0.0 && !self.objective.is_multi_view() {
            return Err(Error::config(
                "model.label_weight",
                self.label_weight,
                format!(
                    "the semi-supervised classifier is added to mib or mv-infomax, not {}",
                    self.objective.name()
                ),
            ));
        }
        if self.objective == ObjectiveKind::Infomax && self.critic == CriticKind::Separable {
            return Err(Error::config(
                "model.critic",
                "separable",
                "the InfoMax critic compares z with x (different widths); use `mlp`",
            ));
        }
        Ok(())
    }
}

/// Adam hyperparameters, with optional per-module learning rates (PyTorch defaults otherwise; the
/// reference uses `lr = 1e-4` everywhere).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdamConfig {
    /// Learning rate of every module without its own (default 1e-4).
    #[serde(serialize_with = "short_f32")]
    pub lr: f32,
    /// Learning rate of the encoder(s).
    #[serde(
        serialize_with = "short_opt_f32",
        skip_serializing_if = "Option::is_none"
    )]
    pub lr_encoder: Option<f32>,
    /// Learning rate of the critic.
    #[serde(
        serialize_with = "short_opt_f32",
        skip_serializing_if = "Option::is_none"
    )]
    pub lr_critic: Option<f32>,
    /// Learning rate of the decoder (beta-VAE).
    #[serde(
        serialize_with = "short_opt_f32",
        skip_serializing_if = "Option::is_none"
    )]
    pub lr_decoder: Option<f32>,
    /// First-moment decay (default 0.9).
    #[serde(serialize_with = "short_f32")]
    pub beta1: f32,
    /// Second-moment decay (default 0.999).
    #[serde(serialize_with = "short_f32")]
    pub beta2: f32,
    /// Denominator epsilon (default 1e-8).
    #[serde(serialize_with = "short_f32")]
    pub eps: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-4,
            lr_encoder: None,
            lr_critic: None,
            lr_decoder: None,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

impl AdamConfig {
    /// Checks every value; errors name the offending field.
    pub fn validate(&self) -> Result<()> {
        let lrs = [
            ("optim.lr", Some(self.lr)),
            ("optim.lr_encoder", self.lr_encoder),
            ("optim.lr_critic", self.lr_critic),
            ("optim.lr_decoder", self.lr_decoder),
        ];
        for (field, v) in lrs {
            if let Some(v) = v {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(Error::config(
                        field,
                        v,
                        "learning rate must be finite and >= 0",
                    ));
                }
            }
        }
        for (field, v) in [("optim.beta1", self.beta1), ("optim.beta2", self.beta2)] {
            if !(0.0..1.0).contains(&v) {
                return Err(Error::config(field, v, "must be in [0, 1)"));
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::config(
                "optim.eps",
                self.eps,
                "must be finite and > 0",
            ));
        }
        Ok(())
    }
}

/// Writes an `f32` as the shortest decimal that reads back to it (`0.001`, not
/// `0.0010000000474974513`), so saved configs read as they were written.
fn short_f32<S: serde::Serializer>(v: &f32, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(v.to_string().parse::<f64>().unwrap_or(*v as f64))
}

fn short_opt_f32<S: serde::Serializer>(
    v: &Option<f32>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(v) => short_f32(v, s),
        None => s.serialize_none(),
    }
}
