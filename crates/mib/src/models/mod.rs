//! Encoders, decoders and critics built from configs, and [`TrainedModel`]: what a user holds
//! after training.
//!
//! Every network in `mib` is an [`crate::nn::Mlp`] (dense layers with ReLU between them, weights
//! `[in_dim, out_dim]`), except a convolutional encoder's body ([`crate::nn::ConvStack`]);
//! [`crate::objectives::TrainStep::new`] builds them from a [`crate::objectives::ModelConfig`]:
//!
//! - encoder ([`Encoder`]) `in_dim -> encoder_hidden.. -> 2 * z_dim`, or convolutions then
//!   `flat -> encoder_hidden.. -> 2 * z_dim` (`[model.encoder] kind = "conv"`), read as a diagonal
//!   Gaussian ([`crate::distributions::gaussian_head_forward`]); one shared by all views or one per
//!   view;
//! - critic `[z1, z2] -> critic_hidden.. -> 1` ([`crate::estimators::MiCritic`]), or the
//!   parameter-free separable cosine critic;
//! - decoder `z_dim -> decoder_hidden.. -> in_dim` with a fixed-scale Gaussian likelihood (beta-VAE);
//! - classifier `z_dim -> n_classes` on the encoder mean (supervised baseline).
//!
//! A [`TrainedModel`] is built by training ([`crate::train::fit`], [`crate::train::train`]), opened
//! from a run folder ([`TrainedModel::open`]) or read back from bytes ([`TrainedModel::from_bytes`]),
//! and embeds rows of any of its training views (`K >= 2` for MIB and MV-InfoMax): posterior
//! means, or seeded samples.

mod attribution;
pub mod fuse;
pub use fuse::{fuse_posteriors, poe_scales, Fuse};

use std::collections::HashMap;
use std::path::Path;

use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};

use crate::config::{Representation, TrainConfig};
use crate::data::{MultiViewDataset, PairingConfig};
use crate::nn::ParamStore;
use crate::objectives::Encoder;
use crate::objectives::{ModelConfig, ObjectiveKind, StepStats, TrainStep};
use crate::pool::ComputePool;
use crate::train::checkpoint::{self, CheckpointMeta, LoadedCheckpoint};
use crate::train::stream_seed;
use crate::{Error, Matrix, MibRng, Result};

/// What `encoder.toml` holds: enough to rebuild the encoder and check the data it is given.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EncoderInfo {
    /// Width of each view the model was trained on (one per training view slot).
    pub in_dims: Vec<usize>,
    /// Names of those views.
    pub view_names: Vec<String>,
    /// Number of classes of the training labels (0 if unlabelled).
    pub n_classes: usize,
    /// The model config.
    pub model: ModelConfig,
}

/// The dataset views a config trains on, one per training view slot: every view of the dataset
/// (`0..K`, `K >= 2`) for the multi-view objectives on aligned or same-class items, `[0; n_views]`
/// for augmentations of one view (`[0, 0]` by default), and `[0, 0]` for the single-view objectives
/// (which read view 0 only: the others are not used, see [`unused_views_note`]).
pub fn training_views(cfg: &TrainConfig, n_dataset_views: usize) -> Result<Vec<usize>> {
    if !cfg.model.objective.is_multi_view() {
        return Ok(vec![0, 0]);
    }
    if let PairingConfig::Augment { n_views, .. } = cfg.data.pairing {
        return Ok(vec![0; n_views.max(2)]);
    }
    if n_dataset_views < 2 {
        return Err(Error::config(
            "data.pairing",
            "aligned/same-class",
            format!(
                "the dataset has {n_dataset_views} view(s); use pairing kind = \"augment\" for single-view data"
            ),
        ));
    }
    Ok((0..n_dataset_views).collect())
}

/// The dataset view of training slot `view` among `views` ([`training_views`]); errors name the
/// slots the model has.
pub fn slot_view(views: &[usize], view: usize) -> Result<usize> {
    views.get(view).copied().ok_or_else(|| {
        Error::config(
            "view",
            view,
            format!(
                "the model has {} training views (0..{})",
                views.len(),
                views.len().saturating_sub(1)
            ),
        )
    })
}

/// The note a single-view objective's run gives when its data has views it does not use (`None`
/// when it uses them all): InfoMax, beta-VAE and the supervised baseline train on view 0 only.
pub fn unused_views_note(cfg: &TrainConfig, view_names: &[String]) -> Option<String> {
    let obj = cfg.model.objective;
    if obj.is_multi_view() || view_names.len() < 2 {
        return None;
    }
    Some(format!(
        "{} is a single-view objective: it trains on view 0 (`{}`) only; view(s) {} are not used \
         (list one view in data.views / --views to silence this)",
        obj.name(),
        view_names[0],
        view_names[1..]
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// `cfg` resolved against the training data: `[model.encoders.<name>]` keyed by a view name gets
/// that view's index, and a conv encoder's unset `image_shape` is taken from its view's image shape
/// ([`MultiViewDataset::view_image_shape`]; `[model.encoder]` takes the first image view's that
/// fits). Training resolves its config through this, so the run folder's `config.toml` holds the
/// indices and shapes. Errors name an encoder key that is no view of the data.
pub fn with_data_image_shape(cfg: &TrainConfig, train: &MultiViewDataset) -> Result<TrainConfig> {
    let mut cfg = cfg.clone();
    let m = &mut cfg.model;
    let keys: Vec<String> = m.encoders.keys().cloned().collect();
    for key in keys {
        let v = match key.parse::<usize>() {
            Ok(v) => v,
            Err(_) => train.view_index(&key).map_err(|_| {
                Error::config(
                    format!("model.encoders.{key}"),
                    &key,
                    format!(
                        "no view of that name; the views are {} (or key them by index 0 to {})",
                        train.view_names.join(", "),
                        train.views.len().saturating_sub(1)
                    ),
                )
            })?,
        };
        let e = m.encoders.remove(&key).expect("listed");
        if m.encoders.insert(v.to_string(), e).is_some() {
            return Err(Error::config(
                format!("model.encoders.{key}"),
                &key,
                format!("view {v} has two encoder tables (by name and by index)"),
            ));
        }
    }
    let conv = |e: &crate::objectives::EncoderConfig| {
        e.kind == crate::objectives::EncoderKind::Conv && e.image_shape.is_none()
    };
    for (key, e) in m.encoders.iter_mut() {
        if conv(e) {
            let v: usize = key.parse().expect("resolved above");
            e.image_shape = train.view_image_shape(v);
        }
    }
    if let Some(e) = m.encoder.as_mut().filter(|e| conv(e)) {
        // the views [model.encoder] encodes: those without a table of their own
        let own = |v: usize| m.encoders.contains_key(&v.to_string());
        e.image_shape = (0..train.views.len())
            .filter(|&v| !own(v))
            .find_map(|v| train.view_image_shape(v));
    }
    Ok(cfg)
}

/// Resolves `cfg` against `train` ([`with_data_image_shape`]) and checks every training view
/// against its encoder (a conv encoder's image shape against the view's width), so that a front
/// end can refuse bad settings before it starts; errors name the key and the view.
pub fn check_view_encoders(cfg: &TrainConfig, train: &MultiViewDataset) -> Result<()> {
    let r = with_data_image_shape(cfg, train)?;
    let slots = training_views(&r, train.views.len())?;
    let nv = if r.model.objective.is_multi_view() {
        slots.len()
    } else {
        1
    };
    r.model.check_encoder_views(nv)?;
    for (slot, &v) in slots.iter().take(nv).enumerate() {
        crate::objectives::Encoder::check_view(&r.model, slot, train.views[v].cols)?;
    }
    Ok(())
}

/// Builds the (untrained) model of `cfg` for views of widths `in_dims` (one per training view
/// slot), initialised from the run's seed.
pub fn build_step(cfg: &TrainConfig, in_dims: &[usize], n_classes: usize) -> Result<TrainStep> {
    let mut init_rng = MibRng::seed_from_u64(stream_seed(cfg.seed, 1));
    TrainStep::new(
        &cfg.model,
        &cfg.optim,
        in_dims,
        n_classes,
        cfg.train.batch_size,
        &mut init_rng,
    )
}

/// A trained model: its config, what its encoders expect, its parameters, and the thread pool it
/// computes on.
///
/// ```
/// # fn main() -> mib::Result<()> {
/// use mib::models::TrainedModel;
/// use mib::{config::TrainConfig, Matrix};
///
/// let mut cfg = TrainConfig::default();
/// cfg.model.encoder_hidden = vec![16];
/// cfg.model.critic_hidden = vec![16];
/// cfg.model.z_dim = 4;
/// cfg.model.shared_encoder = false;
/// let mut model = TrainedModel::untrained(&cfg, &[6, 3], 0, Vec::new(), 1)?;
/// let z = model.embed(1, &Matrix::zeros(5, 3))?;
/// assert_eq!((z.rows, z.cols), (5, 4));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TrainedModel {
    config: TrainConfig,
    info: EncoderInfo,
    step: TrainStep,
    meta: CheckpointMeta,
    pool: ComputePool,
    /// Encoders with buffers for [`INFERENCE_ROWS`] rows (built on first use), reading the step's
    /// parameters: embedding in larger chunks than the training batch.
    inference: Option<Vec<Encoder>>,
    /// What [`Self::embed_dataset`] and [`Self::embed_rows`] give.
    representation: Representation,
}

/// Rows per chunk when embedding (the training step's encoders hold one batch).
const INFERENCE_ROWS: usize = 512;

impl TrainedModel {
    /// A freshly initialised model of `cfg` for training views of widths `in_dims`, computing on
    /// `threads` threads (0 = all cores).
    pub fn untrained(
        cfg: &TrainConfig,
        in_dims: &[usize],
        n_classes: usize,
        view_names: Vec<String>,
        threads: usize,
    ) -> Result<Self> {
        let step = build_step(cfg, in_dims, n_classes)?;
        let meta = CheckpointMeta {
            iteration: 0,
            adam_step: 0,
            nonfinite_total: 0,
            wall_s: 0.0,
            rng: MibRng::seed_from_u64(stream_seed(cfg.seed, 2)),
            scaling: Vec::new(),
            interval: Default::default(),
            nonfinite_streak: 0,
        };
        Ok(Self::from_step(
            cfg, step, n_classes, view_names, meta, threads,
        ))
    }

    /// Wraps a trained step.
    pub(crate) fn from_step(
        cfg: &TrainConfig,
        step: TrainStep,
        n_classes: usize,
        mut view_names: Vec<String>,
        meta: CheckpointMeta,
        threads: usize,
    ) -> Self {
        let in_dims = step.in_dims().to_vec();
        let in_dims = if in_dims.len() == 1 {
            vec![in_dims[0], in_dims[0]]
        } else {
            in_dims
        };
        view_names.resize_with(in_dims.len(), String::new);
        for (i, n) in view_names.iter_mut().enumerate() {
            if n.is_empty() {
                *n = format!("view{i}");
            }
        }
        TrainedModel {
            info: EncoderInfo {
                in_dims,
                view_names,
                n_classes,
                model: cfg.model.clone(),
            },
            config: cfg.clone(),
            step,
            meta,
            pool: ComputePool::new(threads),
            inference: None,
            representation: cfg.eval.representation,
        }
    }

    /// The model of a run folder: its `config.toml` and its final `model.safetensors`, else its
    /// newest checkpoint that reads cleanly. View widths come from the tensors, view names from
    /// `encoder.toml` when present. Computes on `threads` threads (0 = all cores).
    pub fn open(run_dir: &Path, threads: usize) -> Result<Self> {
        Self::open_with(run_dir, None, threads)
    }

    /// The model of a run folder at checkpoint `name` (`final`, `latest`, a file name in
    /// `checkpoints/`, `beta=<value>`, or a path: [`crate::train::RunFolder::checkpoint_path`]);
    /// `None` as [`TrainedModel::open`].
    pub fn open_checkpoint(run_dir: &Path, name: Option<&str>, threads: usize) -> Result<Self> {
        match name {
            None => Self::open(run_dir, threads),
            Some(n) => {
                let p = crate::train::RunFolder::new(run_dir).checkpoint_path(n)?;
                Self::open_with(run_dir, Some(&p), threads)
            }
        }
    }

    fn open_with(run_dir: &Path, file: Option<&Path>, threads: usize) -> Result<Self> {
        let cfg_path = run_dir.join("config.toml");
        if !cfg_path.exists() {
            return Err(Error::format(
                run_dir,
                "not a run folder (config.toml is missing)",
            ));
        }
        let cfg = TrainConfig::from_file(&cfg_path)?;
        let fin = run_dir.join("model.safetensors");
        let ck = if let Some(f) = file {
            LoadedCheckpoint::read(f)?
        } else if fin.exists() {
            LoadedCheckpoint::read(&fin)?
        } else {
            let mut skipped = Vec::new();
            checkpoint::latest_valid(&run_dir.join("checkpoints"), &mut skipped)?.ok_or_else(
                || Error::format(run_dir, "no model.safetensors and no valid checkpoint"),
            )?
        };
        let info_path = run_dir.join("encoder.toml");
        let info = match std::fs::read_to_string(&info_path) {
            Ok(text) => Some(
                toml::from_str::<EncoderInfo>(&text)
                    .map_err(|e| Error::format(&info_path, e.to_string()))?,
            ),
            Err(_) => None,
        };
        let names = info
            .as_ref()
            .map(|i| i.view_names.clone())
            .unwrap_or_default();
        let k = info.as_ref().map(|i| i.in_dims.len());
        let mut model = Self::from_checkpoint_with(&cfg, &ck, names, k, threads)?;
        if let Some(i) = info {
            model.info.n_classes = i.n_classes;
        }
        Ok(model)
    }

    /// Rebuilds the model of `cfg` around the tensors of `ck` (widths read from the tensors; the
    /// number of views of a shared encoder from `cfg`'s data section).
    pub fn from_checkpoint(
        cfg: &TrainConfig,
        ck: &LoadedCheckpoint,
        view_names: Vec<String>,
        threads: usize,
    ) -> Result<Self> {
        Self::from_checkpoint_with(cfg, ck, view_names, None, threads)
    }

    /// [`TrainedModel::from_checkpoint`], with the number of training views when it is known (from
    /// `encoder.toml`): the tensors of a shared encoder do not tell it.
    fn from_checkpoint_with(
        cfg: &TrainConfig,
        ck: &LoadedCheckpoint,
        view_names: Vec<String>,
        n_views: Option<usize>,
        threads: usize,
    ) -> Result<Self> {
        let shapes: HashMap<String, Vec<usize>> = ck.tensor_shapes().into_iter().collect();
        let (in_dims, n_classes) = dims_from_shapes(cfg, &shapes, &ck.path, n_views)?;
        check_scaling(&ck.meta, &in_dims, &ck.path.display().to_string())?;
        let mut step = build_step(cfg, &in_dims, n_classes)?;
        ck.restore(&mut step)?;
        Ok(Self::from_step(
            cfg,
            step,
            n_classes,
            view_names,
            ck.meta.clone(),
            threads,
        ))
    }

    /// The model as bytes (safetensors: the parameters, with the config and encoder info in the
    /// metadata; no optimizer state): what pickling stores.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let tensors: Vec<_> = self
            .step
            .tensors()
            .into_iter()
            .filter(|(n, _, _)| !n.starts_with("adam."))
            .collect();
        let mut md = HashMap::new();
        md.insert("mib.config".into(), self.config.to_toml_string()?);
        md.insert(
            "mib.encoder".into(),
            toml::to_string(&self.info).map_err(|e| Error::Data(e.to_string()))?,
        );
        // Training state a model's bytes do not carry (as they carry no Adam moments).
        let meta = CheckpointMeta {
            adam_step: 0,
            interval: Default::default(),
            nonfinite_streak: 0,
            ..self.meta.clone()
        };
        md.insert("mib.checkpoint".into(), serde_json::to_string(&meta)?);
        checkpoint::serialize_tensors(&tensors, md)
    }

    /// Reads [`TrainedModel::to_bytes`]'s output; `origin` names the source in errors.
    pub fn from_bytes(bytes: &[u8], origin: &str, threads: usize) -> Result<Self> {
        let bad = |msg: String| Error::format(origin, msg);
        let (_, header) =
            SafeTensors::read_metadata(bytes).map_err(|e| bad(format!("not a mib model: {e}")))?;
        let md = header.metadata().clone().unwrap_or_default();
        let get = |k: &str| {
            md.get(k)
                .ok_or_else(|| bad(format!("no `{k}` metadata: not a mib model")))
        };
        let cfg = TrainConfig::from_toml_str(get("mib.config")?, origin)?;
        let info: EncoderInfo =
            toml::from_str(get("mib.encoder")?).map_err(|e| bad(e.to_string()))?;
        let meta: CheckpointMeta = serde_json::from_str(get("mib.checkpoint")?)
            .map_err(|e| bad(format!("bad mib.checkpoint metadata: {e}")))?;
        if info.in_dims.len() < 2 {
            return Err(bad(format!(
                "encoder info has {} view widths, expected at least 2",
                info.in_dims.len()
            )));
        }
        check_scaling(&meta, &info.in_dims, origin)?;
        let mut step = build_step(&cfg, &info.in_dims, info.n_classes)?;
        checkpoint::restore_tensors(bytes, Path::new(origin), &mut step, 0)?;
        Ok(Self::from_step(
            &cfg,
            step,
            info.n_classes,
            info.view_names,
            meta,
            threads,
        ))
    }

    /// The resolved config it was trained with.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }
    /// Replaces the data section of its config (where the data it was trained on lives, as a
    /// run folder records it); the model is unchanged.
    pub fn set_data_config(&mut self, data: crate::config::DataConfig) {
        self.config.data = data;
    }
    /// What its encoders expect (view widths and names, classes, model config).
    pub fn info(&self) -> &EncoderInfo {
        &self.info
    }
    /// Iterations it was trained for.
    pub fn iteration(&self) -> u64 {
        self.meta.iteration
    }
    /// The input scaling of each training view slot (empty: none), applied to every row it
    /// embeds or scores.
    pub fn scaling(&self) -> &[Option<crate::data::ViewScaling>] {
        &self.meta.scaling
    }
    /// Its training state: iteration, optimizer step, RNG (what a checkpoint records).
    pub fn meta(&self) -> &CheckpointMeta {
        &self.meta
    }
    /// Representation width.
    pub fn z_dim(&self) -> usize {
        self.step.z_dim()
    }
    /// How many training view slots have an encoder input: `K >= 2` for MIB and MV-InfoMax on
    /// multi-view data, 2 for augmented pairs and for the single-view objectives (whose two slots
    /// both read view 0's width).
    pub fn n_views(&self) -> usize {
        self.info.in_dims.len()
    }
    /// The fused training step (parameters and optimizer state).
    pub fn step(&self) -> &TrainStep {
        &self.step
    }
    /// The compute pool.
    pub fn pool(&self) -> &ComputePool {
        &self.pool
    }
    /// Computes on `threads` threads from now on (0 = all cores); results do not depend on it.
    pub fn set_threads(&mut self, threads: usize) {
        if crate::pool::resolve_threads(threads) != self.pool.threads() {
            self.pool = ComputePool::new(threads);
        }
    }

    fn check_view(&self, view: usize, x: &Matrix) -> Result<usize> {
        let slot = if !self.config.model.objective.is_multi_view() {
            // single-view objectives have one encoder: both slots read view 0's width
            if view > 1 {
                return Err(Error::config("view", view, "must be 0 or 1"));
            }
            0
        } else {
            view
        };
        let want = *self.info.in_dims.get(view).ok_or_else(|| {
            Error::config(
                "view",
                view,
                format!(
                    "the model has {} views (0..{})",
                    self.n_views(),
                    self.n_views() - 1
                ),
            )
        })?;
        if x.cols != want {
            return Err(Error::shape(
                format!(
                    "columns of view {view} (`{}`)",
                    self.info.view_names.get(view).map_or("?", |s| s.as_str())
                ),
                want,
                x.cols,
            ));
        }
        Ok(slot)
    }

    /// The inference encoders, built on first use with the step's parameter layout (`None` if
    /// the layouts do not agree, which would be a bug: the step's own encoders are used then).
    fn inference_encoders(&mut self) -> Option<&mut Vec<Encoder>> {
        if self.inference.is_none() {
            let m = &self.config.model;
            let n_enc = if m.objective.is_multi_view() && !m.shared_encoder {
                self.info.in_dims.len()
            } else {
                1
            };
            let mut scratch = ParamStore::new();
            let encoders: Vec<Encoder> = (0..n_enc)
                .map(|e| {
                    Encoder::new(
                        &mut scratch,
                        &crate::objectives::encoder_name(e),
                        &m.for_view(e),
                        self.info.in_dims[e],
                        INFERENCE_ROWS,
                    )
                })
                .collect::<Result<Vec<Encoder>>>()
                .ok()?; // out of memory: the step's own encoders serve, in smaller chunks
            let main = self.step.params().entries();
            let same = scratch
                .entries()
                .iter()
                .zip(main)
                .all(|(a, b)| a.name == b.name && a.shape == b.shape && a.range() == b.range());
            if !same {
                return None;
            }
            self.inference = Some(encoders);
        }
        self.inference.as_mut()
    }

    /// Runs the encoder of slot `slot` over `x` (scaled as training view `view`'s inputs were) in
    /// chunks; `sink(first_row, rows, encoder)` reads each chunk's outputs from the encoder (its
    /// `[rows, 2 * z_dim]` head output, its last hidden layer).
    fn encode(
        &mut self,
        slot: usize,
        view: usize,
        x: &Matrix,
        mut sink: impl FnMut(usize, usize, &Encoder) + Send,
    ) -> Result<()> {
        if self.inference_encoders().is_none() {
            return Err(Error::Data(
                "the inference encoders do not match the model's parameters".into(),
            ));
        }
        let encoders = self.inference.as_mut().expect("built above");
        let e = slot.min(encoders.len() - 1);
        let enc = &mut encoders[e];
        let params = self.step.params().values();
        let scaling = self.meta.scaling.get(view).and_then(Option::as_ref);
        let d = x.cols;
        let data: &[f32] = &x.data;
        self.pool.install(|| {
            let mut start = 0;
            while start < x.rows {
                let n = INFERENCE_ROWS.min(x.rows - start);
                let rows = &data[start * d..(start + n) * d];
                match scaling {
                    Some(s) => s.apply_into(rows, enc.input_mut(n)),
                    None => enc.input_mut(n).copy_from_slice(rows),
                }
                enc.forward(params, n);
                sink(start, n, enc);
                start += n;
            }
        })
    }

    /// Posterior means `E[z | x]` of the rows of `x` under the encoder of training view `view`.
    ///
    /// # Shapes
    /// `x`: `[n, in_dims[view]]`; returns `[n, z_dim]`.
    pub fn embed(&mut self, view: usize, x: &Matrix) -> Result<Matrix> {
        let slot = self.check_view(view, x)?;
        let zd = self.z_dim();
        let mut out = Matrix::zeros(x.rows, zd);
        let o: &mut [f32] = &mut out.data;
        self.encode(slot, view, x, |start, n, enc| {
            let h = enc.output(n);
            for i in 0..n {
                o[(start + i) * zd..(start + i + 1) * zd]
                    .copy_from_slice(&h[i * 2 * zd..i * 2 * zd + zd]);
            }
        })?;
        Ok(out)
    }

    /// The classes the model's classifier predicts for the rows of `x` (view `view`'s encoder, its
    /// posterior means, then the linear classifier): the supervised objective and the
    /// semi-supervised mode (`model.label_weight > 0`) have one; other models give an error.
    ///
    /// # Shapes
    /// `x`: `[n, in_dims[view]]`; returns `n` class indices.
    pub fn classify(&mut self, view: usize, x: &Matrix) -> Result<Vec<u32>> {
        let means = self.embed(view, x)?;
        let nc = self.info.n_classes.max(1);
        let logits = self
            .pool
            .install(|| self.step.classify_means(&means.data, means.rows))?
            .ok_or_else(|| {
                Error::config(
                    "model.objective",
                    self.config.model.objective.name(),
                    "this model has no classifier (train the supervised objective, or the \
                     semi-supervised mode: model.label_weight > 0 with [data.labelled])",
                )
            })??;
        Ok(logits
            .chunks(nc)
            .map(|row| {
                let mut best = 0;
                for (k, &v) in row.iter().enumerate() {
                    if v > row[best] {
                        best = k;
                    }
                }
                best as u32
            })
            .collect())
    }

    /// The representation `repr` of the rows of `x` under the encoder of training view `view`:
    /// posterior means ([`Self::embed`]), the encoder's last hidden layer, or both side by side.
    ///
    /// # Shapes
    /// `x`: `[n, in_dims[view]]`; returns `[n, self.representation_dim(repr)]`.
    pub fn represent(&mut self, view: usize, x: &Matrix, repr: Representation) -> Result<Matrix> {
        if repr == Representation::Mean {
            return self.embed(view, x);
        }
        let slot = self.check_view(view, x)?;
        let zd = self.z_dim();
        let hd = self.step.encoder(slot).hidden_dim();
        let means = if repr == Representation::MeanHidden {
            zd
        } else {
            0
        };
        let width = means + hd;
        let mut out = Matrix::zeros(x.rows, width);
        let o: &mut [f32] = &mut out.data;
        self.encode(slot, view, x, |start, n, enc| {
            let (h, hidden) = (enc.output(n), enc.hidden(n));
            for i in 0..n {
                let row = &mut o[(start + i) * width..(start + i + 1) * width];
                row[..means].copy_from_slice(&h[i * 2 * zd..i * 2 * zd + means]);
                row[means..].copy_from_slice(&hidden[i * hd..(i + 1) * hd]);
            }
        })?;
        Ok(out)
    }

    /// One line per encoder: which training views it reads and its architecture
    /// ([`Encoder::describe`]), e.g. `view 0 (pix): mlp 240-256-256-2x32`.
    pub fn describe_encoders(&self) -> Vec<String> {
        let names = &self.info.view_names;
        let n = if self.config.model.objective.is_multi_view() {
            self.info.in_dims.len()
        } else {
            1
        };
        let shared = (0..n).all(|v| self.step.encoder_index(v) == 0);
        if shared {
            let which = if n == 1 {
                format!("view 0 ({})", names[0])
            } else {
                format!("views 0..{} (shared)", n - 1)
            };
            return vec![format!("{which}: {}", self.step.encoder(0).describe())];
        }
        (0..n)
            .map(|v| {
                format!(
                    "view {v} ({}): {}",
                    names.get(v).map_or("?", |s| s.as_str()),
                    self.step.encoder(v).describe()
                )
            })
            .collect()
    }

    /// Width of the last hidden layer of training view slot `view`'s encoder
    /// ([`Representation::Hidden`]).
    pub fn hidden_dim(&self, view: usize) -> usize {
        let slot = if self.config.model.objective.is_multi_view() {
            view
        } else {
            0
        };
        self.step.encoder(slot).hidden_dim()
    }

    /// Width of representation `repr` of training view slot `view`.
    pub fn representation_dim(&self, view: usize, repr: Representation) -> usize {
        match repr {
            Representation::Mean => self.z_dim(),
            Representation::Hidden => self.hidden_dim(view),
            Representation::MeanHidden => self.z_dim() + self.hidden_dim(view),
        }
    }

    /// The representation [`Self::embed_dataset`] and [`Self::embed_rows`] give (at first the
    /// config's `eval.representation`).
    pub fn representation(&self) -> Representation {
        self.representation
    }

    /// Sets the representation [`Self::embed_dataset`] and [`Self::embed_rows`] give.
    pub fn set_representation(&mut self, repr: Representation) {
        self.representation = repr;
    }

    /// Posterior means and scales (`softplus(raw) + 1e-7`, as in training) of the rows of `x`
    /// under the encoder of view `view`.
    pub fn posterior(&mut self, view: usize, x: &Matrix) -> Result<(Matrix, Matrix)> {
        let slot = self.check_view(view, x)?;
        let zd = self.z_dim();
        let (mut mean, mut scale) = (Matrix::zeros(x.rows, zd), Matrix::zeros(x.rows, zd));
        let (m, s): (&mut [f32], &mut [f32]) = (&mut mean.data, &mut scale.data);
        self.encode(slot, view, x, |start, n, enc| {
            let h = enc.output(n);
            for i in 0..n {
                for k in 0..zd {
                    let r = (start + i) * zd + k;
                    m[r] = h[i * 2 * zd + k];
                    s[r] = crate::nn::ops::softplus(h[i * 2 * zd + zd + k])
                        + crate::distributions::MIN_SCALE;
                }
            }
        })?;
        Ok((mean, scale))
    }

    /// One sample `z = mean + scale * eps` per row, with `eps` drawn from `rng`.
    pub fn embed_sample_using(
        &mut self,
        view: usize,
        x: &Matrix,
        rng: &mut MibRng,
    ) -> Result<Matrix> {
        let (mut mean, scale) = self.posterior(view, x)?;
        for (m, s) in mean.data.iter_mut().zip(scale.data.iter()) {
            let e: f32 = StandardNormal.sample(rng);
            *m += s * e;
        }
        Ok(mean)
    }

    /// The objective's loss parts, averaged over the pairs of `views` (one matrix per training
    /// view slot; one suffices for the single-view objectives), without updating anything: the
    /// estimate `score` reports on held-out pairs. The reparameterisation noise comes from `seed`;
    /// beta is the schedule's last value. Pairs are taken in batches of `train.batch_size`
    /// (a last partial batch of at least two pairs counts too).
    pub fn evaluate_pairs(
        &mut self,
        views: &[&Matrix],
        labels: Option<&[u32]>,
        seed: u64,
    ) -> Result<StepStats> {
        let obj = self.config.model.objective;
        let nv = self.step.n_views();
        if views.len() < nv {
            return Err(Error::shape("views", format!("{nv} matrices"), views.len()));
        }
        for (v, x) in views.iter().take(nv).enumerate() {
            self.check_view(v, x)?;
            if x.rows != views[0].rows {
                return Err(Error::shape(
                    format!("rows of view {v}"),
                    format!("{} (rows of view 0)", views[0].rows),
                    x.rows,
                ));
            }
        }
        if obj == ObjectiveKind::Supervised && labels.is_none() {
            return Err(Error::Data(
                "the supervised objective is scored on labelled pairs: give y".into(),
            ));
        }
        let n = views[0].rows;
        if n < 2 {
            return Err(Error::shape("rows of the scored views", "at least 2", n));
        }
        let beta = self
            .config
            .beta
            .value(self.config.train.iterations.saturating_sub(1)) as f32;
        let zd = self.z_dim();
        let bs = self.step.max_batch();
        let mut rng = MibRng::seed_from_u64(seed);
        let mut sums = [0f64; 7];
        let mut counted = 0usize;
        let mut start = 0;
        while start + 2 <= n {
            let b = bs.min(n - start);
            let scaled: Vec<Option<Vec<f32>>> = views
                .iter()
                .take(nv)
                .enumerate()
                .map(|(v, x)| {
                    crate::data::scaling::scaled_copy(
                        &self.meta.scaling,
                        v,
                        &x.data[start * x.cols..(start + b) * x.cols],
                    )
                })
                .collect();
            let xs: Vec<&[f32]> = views
                .iter()
                .take(nv)
                .zip(&scaled)
                .map(|(x, s)| {
                    s.as_deref()
                        .unwrap_or(&x.data[start * x.cols..(start + b) * x.cols])
                })
                .collect();
            let eps: Vec<Vec<f32>> = (0..nv)
                .map(|_| {
                    (0..b * zd)
                        .map(|_| StandardNormal.sample(&mut rng))
                        .collect()
                })
                .collect();
            let eps_ref: Vec<&[f32]> = eps.iter().map(|e| e.as_slice()).collect();
            let lab = labels
                .filter(|_| obj == ObjectiveKind::Supervised)
                .map(|l| &l[start..start + b]);
            let step = &mut self.step;
            let st = self
                .pool
                .install(|| step.gradients_with_noise(&xs, lab, b, beta, &eps_ref))??;
            for (s, v) in sums.iter_mut().zip([
                st.loss,
                st.mi_surrogate,
                st.mi_estimate,
                st.skl,
                st.rate,
                st.distortion,
                st.cross_entropy,
            ]) {
                *s += v as f64 * b as f64;
            }
            counted += b;
            start += b;
        }
        let m = |i: usize| (sums[i] / counted as f64) as f32;
        Ok(StepStats {
            loss: m(0),
            mi_surrogate: m(1),
            mi_estimate: m(2),
            skl: m(3),
            rate: m(4),
            distortion: m(5),
            cross_entropy: m(6),
            ..StepStats::default()
        })
    }

    /// The representations ([`Self::representation`]; posterior means by default) of training view
    /// `view` (`0..n_views()`) of every item of `ds` (the dataset view the slot was trained on:
    /// `view` for multi-view data, view 0 otherwise).
    pub fn embed_dataset(&mut self, ds: &MultiViewDataset, view: usize) -> Result<Matrix> {
        let views = training_views(&self.config, ds.views.len())?;
        let v = slot_view(&views, view)?;
        let x = ds.views.get(v).ok_or_else(|| {
            Error::shape(
                "dataset views",
                format!("at least {}", v + 1),
                ds.views.len(),
            )
        })?;
        self.represent(view, x, self.representation)
    }

    /// The representations of every item of `rows` (memory-mapped views, read and encoded a
    /// block of rows at a time) under training view slot `view`, as [`Self::embed_dataset`].
    pub fn embed_rows(
        &mut self,
        rows: &crate::data::mapped::MappedViews,
        view: usize,
    ) -> Result<Matrix> {
        let views = training_views(&self.config, rows.view_names().len())?;
        let v = slot_view(&views, view)?;
        const BLOCK: usize = 4096;
        let repr = self.representation;
        let (n, d, zd) = (
            rows.len(),
            rows.view_dim(v),
            self.representation_dim(view, repr),
        );
        let mut out = Matrix::zeros(n, zd);
        let mut x = Matrix::zeros(BLOCK.min(n), d);
        for start in (0..n).step_by(BLOCK) {
            let m = BLOCK.min(n - start);
            if x.rows != m {
                x = Matrix::zeros(m, d);
            }
            for i in 0..m {
                rows.row_into(v, start + i, x.row_mut(i))?;
            }
            let z = self.represent(view, &x, repr)?;
            out.data[start * zd..(start + m) * zd].copy_from_slice(&z.data);
        }
        Ok(out)
    }

    /// Checks that `ds`'s training views have the widths this model was trained on, naming the
    /// view and both widths.
    pub fn check_dataset(&self, ds: &MultiViewDataset) -> Result<()> {
        let views = training_views(&self.config, ds.views.len())?;
        if views.len() != self.n_views() {
            return Err(Error::shape(
                format!("views of the data ({})", ds.view_names.join(", ")),
                format!(
                    "{} (the model was trained on {})",
                    self.n_views(),
                    self.info.view_names.join(", ")
                ),
                views.len(),
            ));
        }
        for (slot, &v) in views.iter().enumerate() {
            let (want, got) = (self.info.in_dims[slot], ds.views[v].cols);
            if want != got {
                return Err(Error::shape(
                    format!(
                        "view {slot} (`{}`) of the data: the model was trained on width",
                        ds.view_names.get(v).map_or("?", |s| s.as_str()),
                    ),
                    want,
                    got,
                ));
            }
        }
        Ok(())
    }
}

/// Checks the input scaling a checkpoint records against the model's view widths.
fn check_scaling(meta: &CheckpointMeta, in_dims: &[usize], origin: &str) -> Result<()> {
    if meta.scaling.is_empty() {
        return Ok(());
    }
    if meta.scaling.len() != in_dims.len() {
        return Err(Error::format(
            origin,
            format!(
                "input scaling for {} views, the model has {}",
                meta.scaling.len(),
                in_dims.len()
            ),
        ));
    }
    for (v, (s, &d)) in meta.scaling.iter().zip(in_dims).enumerate() {
        if let Some(s) = s {
            s.check(d, &format!("view {v}"))
                .map_err(|e| Error::format(origin, e.to_string()))?;
        }
    }
    Ok(())
}

/// View widths and classes from a checkpoint's tensor shapes: one encoder per view
/// (`encoder`, `encoder_v2`, `encoder_v3`, ...), or one shared encoder read by `n_views` views
/// (default: those the config's data section lists, at least 2).
fn dims_from_shapes(
    tcfg: &TrainConfig,
    shapes: &HashMap<String, Vec<usize>>,
    path: &Path,
    n_views: Option<usize>,
) -> Result<(Vec<usize>, usize)> {
    let cfg = &tcfg.model;
    let width = |name: &str| -> Result<usize> {
        shapes
            .get(name)
            .and_then(|s| s.first().copied())
            .ok_or_else(|| Error::format(path, format!("missing tensor `{name}`")))
    };
    // a conv encoder's input width is its image shape's size, its first tensor `convs.0.weight`
    let image = |e: usize| {
        cfg.encoder_for(e)
            .and_then(|e| e.conv_stack())
            .map(|s| s.in_channels * s.height * s.width)
    };
    let enc_width = |e: usize| -> Result<usize> {
        let name = crate::objectives::encoder_name(e);
        match image(e) {
            Some(d) => width(&format!("{name}.convs.0.weight")).map(|_| d),
            None => width(&format!("{name}.layers.0.weight")),
        }
    };
    let d0 = enc_width(0)?;
    let in_dims = if !cfg.objective.is_multi_view() {
        vec![d0, d0]
    } else if !cfg.shared_encoder {
        let mut dims = vec![d0, enc_width(1)?];
        while let Ok(d) = enc_width(dims.len()) {
            dims.push(d);
        }
        dims
    } else {
        let listed = match tcfg.data.pairing {
            PairingConfig::Augment { n_views, .. } => n_views,
            _ => tcfg.data.views.len(),
        };
        vec![d0; n_views.unwrap_or(listed).max(2)]
    };
    let n_classes = if cfg.objective == ObjectiveKind::Supervised || cfg.label_weight > 0.0 {
        shapes
            .get("classifier.layers.0.weight")
            .and_then(|s| s.get(1).copied())
            .ok_or_else(|| Error::format(path, "missing tensor `classifier.layers.0.weight`"))?
    } else {
        0
    };
    Ok((in_dims, n_classes))
}
