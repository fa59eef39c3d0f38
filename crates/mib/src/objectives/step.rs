//! The fused training step: model, objective, backward pass and Adam, over preallocated buffers.
// Index loops over several parallel buffers read more clearly than zipped iterators here.
#![allow(clippy::needless_range_loop)]

use super::config::{AdamConfig, ModelConfig, ObjectiveKind, SklKind};
use super::encoder::Encoder;
use crate::distributions::{
    gaussian_head_backward, gaussian_head_forward, rate_monte_carlo, skl_closed_form,
    skl_monte_carlo, GaussianBatch, GaussianGrads,
};
use crate::estimators::{CriticKind, MiCritic};
use crate::memory::{try_zeros, MemoryPlan};
use crate::nn::ops::{all_finite, log_sum_exp, HALF_LN_2PI};
use crate::nn::{Adam, Mlp, ParamStore};
use crate::{Error, MibRng, Result};
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;
use std::ops::Range;
use std::path::Path;
use std::time::Instant;

/// A tensor as `(shape, values)`, as [`TrainStep::load_tensors`] receives it.
pub type NamedTensor = (Vec<usize>, Vec<f32>);

/// Scalars of one training step.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct StepStats {
    /// The loss that was minimised.
    pub loss: f32,
    /// The mutual-information bound being maximised (JSD / NWJ / InfoNCE surrogate); 0 when unused.
    pub mi_surrogate: f32,
    /// The logged MI estimate: NWJ for `jsd`/`nwj`, InfoNCE for `infonce`.
    pub mi_estimate: f32,
    /// Symmetrised KL between the two posteriors (MIB, MV-InfoMax), as configured.
    pub skl: f32,
    /// beta-VAE rate.
    pub rate: f32,
    /// beta-VAE distortion.
    pub distortion: f32,
    /// Supervised cross-entropy.
    pub cross_entropy: f32,
    /// The loss or a gradient was non-finite; the Adam update was skipped.
    pub nonfinite: bool,
    /// Seconds spent in forward passes (encoders, critic, losses).
    pub forward_s: f32,
    /// Seconds spent in backward passes.
    pub backward_s: f32,
    /// Seconds spent in the finiteness check and Adam.
    pub optimizer_s: f32,
}

/// A model, its objective and its Adam optimizer, with every buffer a step needs allocated once.
///
/// Parameters are named after the module tree: `encoder.layers.<i>.{weight,bias}` (weights
/// `[in_dim, out_dim]`), `encoder_v2.*`, `encoder_v3.*`, ... (views 1, 2, ... when encoders are
/// not shared), `critic.*`, `decoder.*`, `classifier.*`.
///
/// MIB and MV-InfoMax take `K >= 2` views (one per entry of `in_dims`): the loss is the mean over
/// the `K (K - 1) / 2` view pairs `(i, j)` of `-I_hat(z_i; z_j) + beta * SKL`, with one critic
/// shared by all pairs; `K = 2` is the paper's two-view loss.
///
/// ```
/// # fn main() -> mib::Result<()> {
/// use mib::objectives::{AdamConfig, ModelConfig, TrainStep};
/// use mib::MibRng;
/// use rand::SeedableRng;
///
/// let cfg = ModelConfig { encoder_hidden: vec![32], critic_hidden: vec![32], z_dim: 4, ..ModelConfig::default() };
/// let mut rng = MibRng::seed_from_u64(0);
/// let mut model = TrainStep::new(&cfg, &AdamConfig::default(), &[10, 10], 0, 8, &mut rng)?;
/// let (v1, v2) = (vec![0.5f32; 8 * 10], vec![0.25f32; 8 * 10]);
/// let stats = model.step(&[&v1, &v2], None, 8, 1e-3, &mut rng)?;
/// assert!(stats.loss.is_finite() && !stats.nonfinite);
/// let mut z = vec![0.0; 3 * 4];
/// model.encode_mean(0, &v1[..3 * 10], 3, &mut z)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TrainStep {
    cfg: ModelConfig,
    in_dims: Vec<usize>,
    n_classes: usize,
    max_batch: usize,
    store: ParamStore,
    adam: Adam,
    encoders: Vec<Encoder>,
    critic: Option<MiCritic>,
    decoder: Option<Mlp>,
    classifier: Option<Mlp>,
    /// Where the classifier's parameters lie in the store.
    classifier_range: Range<usize>,
    /// Views a step encodes: `K >= 2` for the multi-view objectives, 1 otherwise.
    n_views: usize,
    /// The view pairs `(i, j)`, `i < j`, of the multi-view objectives (all `K (K - 1) / 2`).
    pairs: Vec<(usize, usize)>,
    /// The critic's parameters in the store.
    critic_range: Range<usize>,
    /// `K > 2` only: the critic's parameter gradients summed over the pairs, and one pair's
    /// gradients w.r.t. its two samples (`[max_batch, z_dim]` each).
    critic_grad_sum: Vec<f32>,
    pair_dz: [Vec<f32>; 2],
    eps: Vec<f32>,
    mu: Vec<f32>,
    s: Vec<f32>,
    z: Vec<f32>,
    dmu: Vec<f32>,
    ds: Vec<f32>,
    dz: Vec<f32>,
    /// Buffers of the masked steps (items lacking views); empty until
    /// [`TrainStep::reserve_masks`].
    masked: MaskedBufs,
}

/// One view pair's rows gathered for a masked step: the items of the batch that have both views.
#[derive(Debug, Default)]
struct MaskedBufs {
    /// The batch rows of the items in the pair being computed (capacity `max_batch`).
    idx: Vec<usize>,
    /// Items of each pair present in the batch.
    counts: Vec<usize>,
    /// `[max_batch, z_dim]` each, for the two sides of a pair: samples, means, scales, and their
    /// gradients.
    z: [Vec<f32>; 2],
    mu: [Vec<f32>; 2],
    s: [Vec<f32>; 2],
    dz: [Vec<f32>; 2],
    dmu: [Vec<f32>; 2],
    ds: [Vec<f32>; 2],
    /// The critic's parameter gradients, weighted and summed over the pairs.
    critic_sum: Vec<f32>,
}

impl TrainStep {
    /// Builds the model for views of widths `in_dims` (MIB and MV-InfoMax encode all of them, at
    /// least 2; the single-view objectives read view 0 only), `n_classes` classes (supervised only)
    /// and batches of up to `max_batch` items, initialising parameters like PyTorch's `nn.Linear`
    /// from `rng`.
    pub fn new(
        cfg: &ModelConfig,
        adam: &AdamConfig,
        in_dims: &[usize],
        n_classes: usize,
        max_batch: usize,
        rng: &mut MibRng,
    ) -> Result<Self> {
        cfg.validate()?;
        adam.validate()?;
        let multi = cfg.objective.is_multi_view();
        if multi && in_dims.len() < 2 {
            return Err(Error::config(
                "views",
                in_dims.len(),
                format!(
                    "{} needs at least 2 views (got {}); a single view trains with infomax or vae, \
                     or with two augmentations of it (pairing kind = \"augment\")",
                    cfg.objective.name(),
                    in_dims.len()
                ),
            ));
        }
        let nv = if multi { in_dims.len() } else { 1 };
        if in_dims.is_empty() || in_dims.iter().take(nv).any(|&d| d == 0) {
            return Err(Error::config(
                "in_dims",
                format!("{in_dims:?}"),
                format!("need {nv} positive view widths"),
            ));
        }
        if max_batch == 0 {
            return Err(Error::config("max_batch", 0, "must be positive"));
        }
        if nv >= 2 && cfg.shared_encoder {
            if let Some(v) = (1..nv).find(|&v| in_dims[v] != in_dims[0]) {
                return Err(Error::config(
                    "model.shared_encoder",
                    true,
                    format!(
                        "views differ in width ({} for view 0 vs {} for view {v}); set shared_encoder = false",
                        in_dims[0], in_dims[v]
                    ),
                ));
            }
        }
        if cfg.objective == ObjectiveKind::Supervised && n_classes < 2 {
            return Err(Error::config(
                "n_classes",
                n_classes,
                "supervised needs at least 2 classes",
            ));
        }
        if cfg.label_weight > 0.0 && n_classes < 2 {
            return Err(Error::config(
                "n_classes",
                n_classes,
                "the semi-supervised classifier (model.label_weight > 0) needs labelled data \
                 with at least 2 classes",
            ));
        }
        cfg.check_encoder_views(nv)?;
        for (v, &d) in in_dims.iter().take(nv).enumerate() {
            Encoder::check_view(cfg, v, d)?;
        }
        Self::memory_plan(cfg, in_dims, n_classes, max_batch).check("the training step")?;
        let zd = cfg.z_dim;
        let mut store = ParamStore::new();
        let n_enc = if nv >= 2 && !cfg.shared_encoder {
            nv
        } else {
            1
        };
        let enc_rows = if n_enc == 1 {
            nv * max_batch
        } else {
            max_batch
        };
        let mut encoders = Vec::new();
        for e in 0..n_enc {
            encoders.push(Encoder::new(
                &mut store,
                &encoder_name(e),
                &cfg.for_view(e),
                in_dims[e],
                enc_rows,
            )?);
        }
        let enc_range = 0..store.len();
        let critic = match cfg.objective {
            ObjectiveKind::Mib | ObjectiveKind::MvInfomax | ObjectiveKind::Infomax => {
                let b_dim = if cfg.objective == ObjectiveKind::Infomax {
                    in_dims[0]
                } else {
                    zd
                };
                Some(MiCritic::new(
                    &mut store,
                    "critic",
                    cfg.critic,
                    cfg.estimator,
                    &cfg.critic_hidden,
                    &cfg.projection,
                    cfg.temperature,
                    zd,
                    b_dim,
                    max_batch,
                )?)
            }
            _ => None,
        };
        let critic_range = enc_range.end..store.len();
        let decoder = (cfg.objective == ObjectiveKind::Vae).then(|| {
            let mut dims = vec![zd];
            dims.extend_from_slice(&cfg.decoder_hidden);
            dims.push(in_dims[0]);
            Mlp::new(&mut store, "decoder", &dims, max_batch, true)
        });
        let decoder = decoder.transpose()?;
        let decoder_range = critic_range.end..store.len();
        let classifier = has_classifier(cfg)
            .then(|| {
                Mlp::new(
                    &mut store,
                    "classifier",
                    &[zd, n_classes],
                    classifier_rows(cfg, nv, max_batch),
                    true,
                )
            })
            .transpose()?;
        let classifier_range = decoder_range.end..store.len();
        for e in &encoders {
            e.init_using(&mut store, rng);
        }
        if let Some(c) = &critic {
            c.init_using(&mut store, rng);
        }
        for m in decoder.iter().chain(classifier.iter()) {
            m.init_using(&mut store, rng);
        }
        let groups: Vec<(Range<usize>, f32)> = vec![
            (enc_range, adam.lr_encoder.unwrap_or(adam.lr)),
            (critic_range.clone(), adam.lr_critic.unwrap_or(adam.lr)),
            (decoder_range, adam.lr_decoder.unwrap_or(adam.lr)),
            (classifier_range.clone(), adam.lr),
        ]
        .into_iter()
        .filter(|(r, _)| !r.is_empty())
        .collect();
        let opt = Adam::new(store.len(), adam.beta1, adam.beta2, adam.eps, groups)?;
        let zbuf = || {
            try_zeros(
                nv * max_batch * zd,
                "the latent samples and their gradients",
            )
        };
        let pairs: Vec<(usize, usize)> = if multi {
            (0..nv)
                .flat_map(|i| (i + 1..nv).map(move |j| (i, j)))
                .collect()
        } else {
            Vec::new()
        };
        let many = pairs.len() > 1;
        let pair_buf = || {
            try_zeros(
                if many { max_batch * zd } else { 0 },
                "a view pair's gradients",
            )
        };
        Ok(TrainStep {
            cfg: cfg.clone(),
            in_dims: in_dims.to_vec(),
            n_classes,
            max_batch,
            store,
            adam: opt,
            encoders,
            critic,
            decoder,
            classifier,
            classifier_range,
            n_views: nv,
            pairs,
            critic_grad_sum: try_zeros(
                if many { critic_range.len() } else { 0 },
                "the critic's summed gradients",
            )?,
            critic_range,
            pair_dz: [pair_buf()?, pair_buf()?],
            eps: zbuf()?,
            mu: zbuf()?,
            s: zbuf()?,
            z: zbuf()?,
            dmu: zbuf()?,
            ds: zbuf()?,
            dz: zbuf()?,
            masked: MaskedBufs::default(),
        })
    }

    /// Allocates what steps on batches with missing views ([`TrainStep::step_masked`]) need, so
    /// that those steps allocate nothing (a masked step reserves them itself otherwise): 12
    /// `[max_batch, z_dim]` buffers and one copy of the critic's gradients. No-op for the
    /// single-view objectives (their batches hold only items of their view).
    pub fn reserve_masks(&mut self) -> Result<()> {
        if !self.cfg.objective.is_multi_view() || !self.masked.critic_sum.is_empty() {
            return Ok(());
        }
        let n = self.max_batch * self.cfg.z_dim;
        let buf = || try_zeros(n, "the gathered rows of a view pair (missing views)");
        let m = &mut self.masked;
        m.idx = Vec::with_capacity(self.max_batch);
        m.counts = vec![0; self.pairs.len()];
        for side in 0..2 {
            m.z[side] = buf()?;
            m.mu[side] = buf()?;
            m.s[side] = buf()?;
            m.dz[side] = buf()?;
            m.dmu[side] = buf()?;
            m.ds[side] = buf()?;
        }
        m.critic_sum = try_zeros(
            self.critic_range.len().max(1),
            "the critic's summed gradients (missing views)",
        )?;
        Ok(())
    }

    /// What [`TrainStep::new`] with these arguments allocates, part by part, each part naming the
    /// setting that drives it (checked against the memory available before anything is taken).
    pub fn memory_plan(
        cfg: &ModelConfig,
        in_dims: &[usize],
        n_classes: usize,
        max_batch: usize,
    ) -> MemoryPlan {
        let multi = cfg.objective.is_multi_view();
        let nv = if multi { in_dims.len().max(1) } else { 1 };
        let (b, zd) = (max_batch as u128, cfg.z_dim as u128);
        let n_enc = if nv >= 2 && !cfg.shared_encoder {
            nv
        } else {
            1
        };
        let enc_rows = if n_enc == 1 { nv as u128 * b } else { b };
        let widest = |w: &[usize]| w.iter().copied().max().unwrap_or(0);
        // The setting to blame for `rows x widths` buffers: whichever is further above its usual
        // size (batch 128, width 1024).
        let blame = |rows: u128, widths: &[usize], key: &str| -> (String, String) {
            if widest(widths) as f64 / 1024.0 > rows as f64 / 128.0 {
                (key.to_string(), format!("{widths:?}"))
            } else {
                ("train.batch_size".to_string(), max_batch.to_string())
            }
        };
        // The setting that grows encoder `e` most, as (key, value, widths): its table's conv
        // channels, its dense widths (the table's `hidden`, else `model.encoder_hidden`) or z.
        let encoder_setting = |e: usize| -> (String, String, Vec<usize>) {
            let (table, key) = (cfg.encoder_for(e), cfg.encoder_key(e));
            let (hidden_key, widths) = match table.and_then(|t| t.hidden.as_ref()) {
                Some(h) => (format!("{key}.hidden"), h.clone()),
                None => (
                    "model.encoder_hidden".to_string(),
                    cfg.encoder_hidden.clone(),
                ),
            };
            match table.filter(|t| t.kind == super::config::EncoderKind::Conv) {
                Some(t) if widest(&t.channels) > widest(&widths).max(cfg.z_dim) => (
                    format!("{key}.channels"),
                    format!("{:?}", t.channels),
                    t.channels.clone(),
                ),
                _ if cfg.z_dim > widest(&widths) => (
                    "model.z_dim".to_string(),
                    cfg.z_dim.to_string(),
                    vec![cfg.z_dim],
                ),
                _ => (hidden_key, format!("{widths:?}"), widths),
            }
        };
        // A module's width setting, or z when z is wider (it is the critic's and decoder's input).
        let width_or_z = |widths: &[usize], key: &'static str| -> (&'static str, String) {
            if cfg.z_dim > widest(widths) {
                ("model.z_dim", cfg.z_dim.to_string())
            } else {
                (key, format!("{widths:?}"))
            }
        };
        let mut plan = MemoryPlan::new();
        // Each module: its parameters with their gradients and Adam's two moments (4 values
        // each), blamed on its width setting; its activations on the width or the batch.
        let module = |plan: &mut MemoryPlan,
                      name: &str,
                      (key, value): (&str, String),
                      params: u128,
                      (act_key, act_value): (String, String),
                      buffers: u128| {
            plan.add_f32(
                format!("{name} parameters, gradients and Adam state"),
                key,
                value,
                params.saturating_mul(4),
            );
            plan.add_f32(format!("{name} activations"), act_key, act_value, buffers);
        };
        for e in 0..n_enc {
            let (p, buf) = Encoder::memory_floats(
                &cfg.for_view(e),
                in_dims.get(e).copied().unwrap_or(0),
                enc_rows,
            );
            let (enc_key, enc_value, enc_widths) = encoder_setting(e);
            let act = blame(enc_rows, &enc_widths, &enc_key);
            let act = if act.0 == enc_key {
                (act.0, enc_value.clone())
            } else {
                act
            };
            module(
                &mut plan,
                &encoder_name(e),
                (&enc_key, enc_value),
                p,
                act,
                buf,
            );
        }
        let many = nv * nv.saturating_sub(1) / 2 > 1;
        if matches!(
            cfg.objective,
            ObjectiveKind::Mib | ObjectiveKind::MvInfomax | ObjectiveKind::Infomax
        ) {
            let b_dim = if cfg.objective == ObjectiveKind::Infomax {
                in_dims.first().copied().unwrap_or(0)
            } else {
                cfg.z_dim
            };
            let (p, buf) = MiCritic::memory_floats(
                cfg.critic,
                cfg.estimator,
                &cfg.critic_hidden,
                &cfg.projection,
                cfg.z_dim,
                b_dim,
                max_batch,
            );
            let all_pairs = cfg.critic == CriticKind::Separable
                || cfg.estimator == crate::estimators::EstimatorKind::InfoNce;
            let (widths, widths_key) = if cfg.critic == CriticKind::Separable {
                (&cfg.projection, "model.projection")
            } else {
                (&cfg.critic_hidden, "model.critic_hidden")
            };
            // batch x batch pairs: the batch is what grows them fastest
            let rows = if all_pairs { b * b / 128 } else { b };
            let name = if all_pairs {
                "critic (batch x batch pairs)"
            } else {
                "critic"
            };
            // K > 2 views: the critic's gradients are also summed over the pairs
            let summed = if many { p } else { 0 };
            module(
                &mut plan,
                name,
                width_or_z(widths, widths_key),
                p,
                blame(rows, widths, widths_key),
                buf + summed,
            );
        }
        if cfg.objective == ObjectiveKind::Vae {
            let mut dims = vec![cfg.z_dim];
            dims.extend_from_slice(&cfg.decoder_hidden);
            dims.push(in_dims.first().copied().unwrap_or(0));
            module(
                &mut plan,
                "decoder",
                width_or_z(&cfg.decoder_hidden, "model.decoder_hidden"),
                Mlp::param_count(&dims, false),
                blame(b, &cfg.decoder_hidden, "model.decoder_hidden"),
                Mlp::buffer_floats(&dims, b, true, false),
            );
        }
        if has_classifier(cfg) {
            let dims = [cfg.z_dim, n_classes];
            module(
                &mut plan,
                "classifier",
                ("model.z_dim", cfg.z_dim.to_string()),
                Mlp::param_count(&dims, false),
                ("train.batch_size".to_string(), max_batch.to_string()),
                Mlp::buffer_floats(
                    &dims,
                    classifier_rows(cfg, nv, max_batch) as u128,
                    true,
                    false,
                ),
            );
        }
        let z_bufs = 7 * nv as u128 * b * zd + if many { 2 * b * zd } else { 0 };
        let (key, value) = if zd as f64 / 64.0 > b as f64 / 128.0 {
            ("model.z_dim".to_string(), cfg.z_dim.to_string())
        } else {
            ("train.batch_size".to_string(), max_batch.to_string())
        };
        plan.add_f32("latent samples and their gradients", key, value, z_bufs);
        plan
    }

    /// Views a step encodes: `K >= 2` for MIB and MV-InfoMax (every view it was built for), 1 for
    /// the single-view objectives.
    pub fn n_views(&self) -> usize {
        self.n_views
    }
    /// The view pairs `(i, j)`, `i < j`, whose terms a multi-view step averages (empty for the
    /// single-view objectives).
    pub fn view_pairs(&self) -> &[(usize, usize)] {
        &self.pairs
    }
    /// Index of the encoder that reads view slot `view` (0 for every view when shared).
    pub fn encoder_index(&self, view: usize) -> usize {
        self.encoder_of(view)
    }
    /// The encoder that reads view slot `view`.
    pub fn encoder(&self, view: usize) -> &Encoder {
        &self.encoders[self.encoder_of(view)]
    }
    /// The encoder that reads view `view` (index into the encoders; 0 when shared).
    fn encoder_of(&self, view: usize) -> usize {
        if self.encoders.len() == 1 {
            0
        } else {
            view
        }
    }

    /// The representation width.
    pub fn z_dim(&self) -> usize {
        self.cfg.z_dim
    }
    /// The input width of each view slot it was built for.
    pub fn in_dims(&self) -> &[usize] {
        &self.in_dims
    }
    /// The model configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }
    /// The largest batch a step takes.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }
    /// The number of Adam steps taken.
    pub fn adam_step_count(&self) -> u64 {
        self.adam.step_count()
    }
    /// The parameters and their gradients (from the last step).
    pub fn params(&self) -> &ParamStore {
        &self.store
    }
    /// Parameters, mutable (e.g. to set fixed test weights).
    pub fn params_mut(&mut self) -> &mut ParamStore {
        &mut self.store
    }
    /// Multiply-adds of the forward pass of one step at `batch` (backward is about twice this).
    pub fn forward_macs(&self, batch: usize) -> usize {
        let mut m: usize = (0..self.n_views)
            .map(|v| self.encoders[self.encoder_of(v)].macs_per_row() * batch)
            .sum();
        if let Some(c) = &self.critic {
            m += c.macs(batch) * self.pairs.len().max(1);
        }
        for d in self.decoder.iter().chain(self.classifier.iter()) {
            m += d.macs_per_row() * batch;
        }
        m
    }

    /// Floating-point operations of one full step at `batch` (forward, weight and input gradients;
    /// the encoder's first layer computes no input gradient), counting a multiply-add as 2.
    pub fn step_flops(&self, batch: usize) -> f64 {
        let first: usize = (0..self.n_views)
            .map(|v| self.encoders[self.encoder_of(v)].first_layer_macs() * batch)
            .sum();
        6.0 * self.forward_macs(batch) as f64 - 2.0 * first as f64
    }

    /// One training step: draws the reparameterisation noise from `rng`, then as
    /// [`TrainStep::step_with_noise`].
    ///
    /// # Shapes
    /// `views[v]`: `[batch, in_dims[v]]` row-major (every view for MIB / MV-InfoMax, view 0
    /// otherwise); `labels`: `[batch]` class indices (supervised only); `batch <= max_batch`.
    ///
    /// The step runs as one job on the current rayon pool; its matrix products split into fixed
    /// halves, so results do not depend on the number of threads. Nothing is allocated in this
    /// crate's code (the `gemm` crate allocates packing buffers inside each product).
    pub fn step(
        &mut self,
        views: &[&[f32]],
        labels: Option<&[u32]>,
        batch: usize,
        beta: f32,
        rng: &mut MibRng,
    ) -> Result<StepStats> {
        self.step_masked(views, None, labels, batch, beta, rng)
    }

    /// [`TrainStep::step`] on a batch whose items may lack views: `present` is slot-major
    /// `[n_views, batch]` (`present[v * batch + i]` is 1 when item `i` has view `v`; a missing
    /// view's row may hold anything finite, zeros as the batch producer writes them), `None` for
    /// complete data.
    ///
    /// MIB and MV-InfoMax average the terms of the view pairs `(i, j)` over the pairs, pair `p`
    /// weighted by its number of items with both views `m_p` (`w_p = m_p / sum_q m_q`, pairs with
    /// `m_p < 2` left out): each pair's term is today's two-view term on those `m_p` items, so its
    /// critic's negatives are the other items of the batch that have both views. Complete data
    /// gives `w_p = 1 / P`: exactly [`TrainStep::step`]'s loss. The single-view objectives ignore
    /// the mask (their batches hold items of their view only).
    pub fn step_masked(
        &mut self,
        views: &[&[f32]],
        present: Option<&[u8]>,
        labels: Option<&[u32]>,
        batch: usize,
        beta: f32,
        rng: &mut MibRng,
    ) -> Result<StepStats> {
        let n = self.n_views * batch * self.cfg.z_dim;
        if batch > self.max_batch {
            return Err(Error::shape(
                "batch",
                format!("<= {}", self.max_batch),
                batch,
            ));
        }
        if self.cfg.objective != ObjectiveKind::Supervised {
            for e in &mut self.eps[..n] {
                *e = StandardNormal.sample(rng);
            }
        }
        self.run_on_pool(views, present, labels, batch, beta, true)
    }

    /// [`TrainStep::gradients_with_noise`] for a batch with missing views (`present` as in
    /// [`TrainStep::step_masked`]).
    pub fn gradients_with_noise_masked(
        &mut self,
        views: &[&[f32]],
        present: Option<&[u8]>,
        labels: Option<&[u32]>,
        batch: usize,
        beta: f32,
        eps: &[&[f32]],
    ) -> Result<StepStats> {
        self.set_noise(eps, batch)?;
        self.run_on_pool(views, present, labels, batch, beta, false)
    }

    /// One training step with explicit noise: forward, backward and Adam.
    ///
    /// `views[v]` is row-major `[batch, in_dims[v]]`; `eps[v]` is `[batch, z_dim]` standard normal
    /// noise for view `v`'s sample (`z = mu + s * eps`). If the loss or any gradient is non-finite the
    /// update is skipped and `nonfinite` is set.
    pub fn step_with_noise(
        &mut self,
        views: &[&[f32]],
        labels: Option<&[u32]>,
        batch: usize,
        beta: f32,
        eps: &[&[f32]],
    ) -> Result<StepStats> {
        self.set_noise(eps, batch)?;
        self.run_on_pool(views, None, labels, batch, beta, true)
    }

    /// Loss and gradients (in [`TrainStep::params`]) for explicit noise, without updating anything.
    pub fn gradients_with_noise(
        &mut self,
        views: &[&[f32]],
        labels: Option<&[u32]>,
        batch: usize,
        beta: f32,
        eps: &[&[f32]],
    ) -> Result<StepStats> {
        self.set_noise(eps, batch)?;
        self.run_on_pool(views, None, labels, batch, beta, false)
    }

    fn set_noise(&mut self, eps: &[&[f32]], batch: usize) -> Result<()> {
        let nv = self.n_views;
        let zd = self.cfg.z_dim;
        if batch == 0 || batch > self.max_batch {
            return Err(Error::shape(
                "batch",
                format!("1..={}", self.max_batch),
                batch,
            ));
        }
        if self.cfg.objective == ObjectiveKind::Supervised {
            return Ok(());
        }
        if eps.len() < nv {
            return Err(Error::shape("noise views", nv, eps.len()));
        }
        for v in 0..nv {
            if eps[v].len() != batch * zd {
                return Err(Error::shape(
                    format!("noise of view {v}"),
                    batch * zd,
                    eps[v].len(),
                ));
            }
            self.eps[v * batch * zd..(v + 1) * batch * zd].copy_from_slice(eps[v]);
        }
        Ok(())
    }

    fn check_inputs(&self, views: &[&[f32]], labels: Option<&[u32]>, batch: usize) -> Result<()> {
        let nv = self.n_views;
        if batch == 0 || batch > self.max_batch {
            return Err(Error::shape(
                "batch",
                format!("1..={}", self.max_batch),
                batch,
            ));
        }
        if views.len() < nv {
            return Err(Error::shape("views", nv, views.len()));
        }
        for v in 0..nv {
            if views[v].len() != batch * self.in_dims[v] {
                return Err(Error::shape(
                    format!("view {v}"),
                    batch * self.in_dims[v],
                    views[v].len(),
                ));
            }
        }
        if self.cfg.objective == ObjectiveKind::Supervised {
            let l = labels
                .ok_or_else(|| Error::Data("the supervised objective needs labels".into()))?;
            if l.len() != batch {
                return Err(Error::shape("labels", batch, l.len()));
            }
            if let Some(&bad) = l.iter().find(|&&y| y as usize >= self.n_classes) {
                return Err(Error::Data(format!(
                    "label {bad} out of range 0..{}",
                    self.n_classes
                )));
            }
        } else if let Some(l) = labels.filter(|_| self.cfg.label_weight > 0.0) {
            // semi-supervised: the labels of the batch's first `l.len()` rows
            if l.len() > batch {
                return Err(Error::shape("labels", format!("<= {batch}"), l.len()));
            }
            if let Some(&bad) = l.iter().find(|&&y| y as usize >= self.n_classes) {
                return Err(Error::Data(format!(
                    "label {bad} out of range 0..{}",
                    self.n_classes
                )));
            }
        }
        Ok(())
    }

    /// Runs the step as one job of the current rayon pool, so that the many small parallel splits
    /// inside it use a worker's own deque (no cross-thread injection per product, no allocation)
    /// even when the caller is not a pool thread.
    fn run_on_pool(
        &mut self,
        views: &[&[f32]],
        present: Option<&[u8]>,
        labels: Option<&[u32]>,
        batch: usize,
        beta: f32,
        update: bool,
    ) -> Result<StepStats> {
        rayon::scope(|_| self.run(views, present, labels, batch, beta, update))
    }

    fn run(
        &mut self,
        views: &[&[f32]],
        present: Option<&[u8]>,
        labels: Option<&[u32]>,
        batch: usize,
        beta: f32,
        update: bool,
    ) -> Result<StepStats> {
        self.check_inputs(views, labels, batch)?;
        // Masked only where a multi-view objective's batch lacks some view of some item: complete
        // batches take today's path, unchanged.
        let masked = match present {
            Some(p) if self.cfg.objective.is_multi_view() => {
                let need = self.n_views * batch;
                if p.len() < need {
                    return Err(Error::shape("presence mask of the batch", need, p.len()));
                }
                p[..need].contains(&0)
            }
            _ => false,
        };
        if masked {
            self.reserve_masks()?;
        }
        let mut st = StepStats::default();
        let t0 = Instant::now();
        let obj = self.cfg.objective;
        let nv = self.n_views;
        let zd = self.cfg.z_dim;
        let b = batch;
        let nz = nv * b * zd;
        let shared = self.encoders.len() == 1;
        // ---- encoders
        if shared {
            let enc = &mut self.encoders[0];
            let d = self.in_dims[0];
            let input = enc.input_mut(nv * b);
            for v in 0..nv {
                input[v * b * d..(v + 1) * b * d].copy_from_slice(views[v]);
            }
            enc.forward(self.store.values(), nv * b);
            gaussian_head_forward(
                enc.output(nv * b),
                &self.eps[..nz],
                zd,
                &mut self.mu[..nz],
                &mut self.s[..nz],
                &mut self.z[..nz],
            );
        } else {
            for v in 0..nv {
                let enc = &mut self.encoders[v];
                enc.input_mut(b).copy_from_slice(views[v]);
                enc.forward(self.store.values(), b);
                let r = v * b * zd..(v + 1) * b * zd;
                gaussian_head_forward(
                    enc.output(b),
                    &self.eps[r.clone()],
                    zd,
                    &mut self.mu[r.clone()],
                    &mut self.s[r.clone()],
                    &mut self.z[r],
                );
            }
        }
        self.dmu[..nz].fill(0.0);
        self.ds[..nz].fill(0.0);
        self.dz[..nz].fill(0.0);
        let (params, grads) = self.store.split();
        // ---- objective forward
        let t_fwd_end: Instant;
        match obj {
            ObjectiveKind::Mib | ObjectiveKind::MvInfomax if masked => {
                masked_pairs(
                    MaskedPairs {
                        critic: self.critic.as_mut().expect("critic"),
                        pairs: &self.pairs,
                        present: present.expect("checked"),
                        mu: &self.mu[..nz],
                        s: &self.s[..nz],
                        z: &self.z[..nz],
                        dz: &mut self.dz[..nz],
                        dmu: &mut self.dmu[..nz],
                        ds: &mut self.ds[..nz],
                        bufs: &mut self.masked,
                        critic_range: self.critic_range.clone(),
                        skl_kind: self.cfg.skl,
                        mib: obj == ObjectiveKind::Mib,
                        zd,
                        b,
                    },
                    params,
                    grads,
                    beta,
                    &mut st,
                );
                t_fwd_end = Instant::now();
            }
            ObjectiveKind::Mib | ObjectiveKind::MvInfomax if self.pairs.len() > 1 => {
                // K > 2 views: the mean over the view pairs (i, j) of
                // -I_hat(z_i; z_j) + beta * SKL(p(z_i|v_i) || p(z_j|v_j)), one critic shared by
                // the pairs. The critic overwrites its parameter gradients and adds into the
                // sample gradients it is given, so each pair's are scaled by 1 / P and summed here.
                let critic = self.critic.as_mut().expect("critic");
                let w = 1.0 / self.pairs.len() as f32;
                let coef = if obj == ObjectiveKind::Mib {
                    beta * w
                } else {
                    0.0
                };
                let cr = self.critic_range.clone();
                let n = b * zd;
                let (mut mi_s, mut mi_e, mut skl) = (0.0f64, 0.0f64, 0.0f64);
                for (p, &(i, j)) in self.pairs.iter().enumerate() {
                    let (zi, zj) = (&self.z[i * n..(i + 1) * n], &self.z[j * n..(j + 1) * n]);
                    let mi = critic.forward(params, zi, zj, b);
                    mi_s += mi.surrogate as f64;
                    mi_e += mi.estimate as f64;
                    let [da, db] = &mut self.pair_dz;
                    let (da, db) = (&mut da[..n], &mut db[..n]);
                    da.fill(0.0);
                    db.fill(0.0);
                    critic.backward(params, grads, da, Some(db));
                    let sum = &mut self.critic_grad_sum;
                    for (acc, &g) in sum.iter_mut().zip(&grads[cr.clone()]) {
                        *acc = if p == 0 { w * g } else { *acc + w * g };
                    }
                    let (dzi, dzj) = two_mut(&mut self.dz[..nz], i, j, n);
                    for (d, &g) in dzi.iter_mut().zip(da.iter()) {
                        *d += w * g;
                    }
                    for (d, &g) in dzj.iter_mut().zip(db.iter()) {
                        *d += w * g;
                    }
                    let gauss = |v: usize| GaussianBatch {
                        mu: &self.mu[v * n..(v + 1) * n],
                        s: &self.s[v * n..(v + 1) * n],
                        z: &self.z[v * n..(v + 1) * n],
                    };
                    let (pi, pj) = (gauss(i), gauss(j));
                    let g = (coef != 0.0).then(|| {
                        let (dzi, dzj) = two_mut(&mut self.dz[..nz], i, j, n);
                        let (dmi, dmj) = two_mut(&mut self.dmu[..nz], i, j, n);
                        let (dsi, dsj) = two_mut(&mut self.ds[..nz], i, j, n);
                        (
                            GaussianGrads {
                                dz: dzi,
                                dmu: dmi,
                                ds: dsi,
                            },
                            GaussianGrads {
                                dz: dzj,
                                dmu: dmj,
                                ds: dsj,
                            },
                        )
                    });
                    skl += match self.cfg.skl {
                        SklKind::MonteCarlo => skl_monte_carlo(pi, pj, zd, coef, g),
                        SklKind::ClosedForm => skl_closed_form(pi, pj, zd, coef, g),
                    } as f64;
                }
                grads[cr].copy_from_slice(&self.critic_grad_sum);
                let np = self.pairs.len() as f64;
                st.mi_surrogate = (mi_s / np) as f32;
                st.mi_estimate = (mi_e / np) as f32;
                st.skl = (skl / np) as f32;
                st.loss = -st.mi_surrogate;
                if obj == ObjectiveKind::Mib {
                    st.loss += beta * st.skl;
                }
                // the pairs interleave forward and backward: the critic's backward counts as forward
                t_fwd_end = Instant::now();
            }
            ObjectiveKind::Mib | ObjectiveKind::MvInfomax | ObjectiveKind::Infomax => {
                let critic = self.critic.as_mut().expect("critic");
                let (z1, z2) = self.z[..nz].split_at(b * zd);
                let other = if obj == ObjectiveKind::Infomax {
                    views[0]
                } else {
                    z2
                };
                let mi = critic.forward(params, z1, other, b);
                st.mi_surrogate = mi.surrogate;
                st.mi_estimate = mi.estimate;
                st.loss = -mi.surrogate;
                let mut skl_grads = None;
                if obj != ObjectiveKind::Infomax {
                    let (p1, p2) =
                        split_gaussians(&self.mu[..nz], &self.s[..nz], &self.z[..nz], b * zd);
                    let coef = if obj == ObjectiveKind::Mib { beta } else { 0.0 };
                    st.skl = match self.cfg.skl {
                        SklKind::MonteCarlo => skl_monte_carlo(p1, p2, zd, coef, None),
                        SklKind::ClosedForm => skl_closed_form(p1, p2, zd, coef, None),
                    };
                    if obj == ObjectiveKind::Mib {
                        st.loss += beta * st.skl;
                        skl_grads = Some(coef);
                    }
                }
                t_fwd_end = Instant::now();
                let (dz1, dz2) = self.dz[..nz].split_at_mut(b * zd);
                critic.backward(
                    params,
                    grads,
                    dz1,
                    (obj != ObjectiveKind::Infomax).then_some(dz2),
                );
                if let Some(coef) = skl_grads.filter(|c| *c != 0.0) {
                    let (p1, p2) =
                        split_gaussians(&self.mu[..nz], &self.s[..nz], &self.z[..nz], b * zd);
                    let (dz1, dz2) = self.dz[..nz].split_at_mut(b * zd);
                    let (dm1, dm2) = self.dmu[..nz].split_at_mut(b * zd);
                    let (ds1, ds2) = self.ds[..nz].split_at_mut(b * zd);
                    let g = Some((
                        GaussianGrads {
                            dz: dz1,
                            dmu: dm1,
                            ds: ds1,
                        },
                        GaussianGrads {
                            dz: dz2,
                            dmu: dm2,
                            ds: ds2,
                        },
                    ));
                    match self.cfg.skl {
                        SklKind::MonteCarlo => skl_monte_carlo(p1, p2, zd, coef, g),
                        SklKind::ClosedForm => skl_closed_form(p1, p2, zd, coef, g),
                    };
                }
            }
            ObjectiveKind::Vae => {
                let dec = self.decoder.as_mut().expect("decoder");
                dec.input_mut(b).copy_from_slice(&self.z[..nz]);
                dec.forward(params, b);
                let sigma = self.cfg.decoder_scale;
                let x = views[0];
                let (mean, dmean) = dec.output_and_grad_mut(b);
                let mut acc = 0.0f64;
                let inv_var = 1.0 / (sigma * sigma);
                let c = sigma.ln() + HALF_LN_2PI;
                for ((&xi, &mi), d) in x.iter().zip(mean).zip(dmean.iter_mut()) {
                    let u = (xi - mi) / sigma;
                    acc += (0.5 * u * u + c) as f64;
                    *d = -(xi - mi) * inv_var / b as f32;
                }
                st.distortion = (acc / b as f64) as f32;
                let q = GaussianBatch {
                    mu: &self.mu[..nz],
                    s: &self.s[..nz],
                    z: &self.z[..nz],
                };
                st.rate = rate_monte_carlo(q, zd, beta, None);
                st.loss = st.distortion + beta * st.rate;
                t_fwd_end = Instant::now();
                dec.backward(params, grads, b);
                for (d, g) in self.dz[..nz].iter_mut().zip(dec.input_grad(b)) {
                    *d += g;
                }
                let g = GaussianGrads {
                    dz: &mut self.dz[..nz],
                    dmu: &mut self.dmu[..nz],
                    ds: &mut self.ds[..nz],
                };
                rate_monte_carlo(q, zd, beta, Some(g));
            }
            ObjectiveKind::Supervised => {
                let cls = self.classifier.as_mut().expect("classifier");
                let nc = self.n_classes;
                cls.input_mut(b).copy_from_slice(&self.mu[..nz]);
                cls.forward(params, b);
                let labels = labels.expect("checked");
                let (logits, dlogits) = cls.output_and_grad_mut(b);
                let mut acc = 0.0f64;
                for i in 0..b {
                    let row = &logits[i * nc..(i + 1) * nc];
                    let lse = log_sum_exp(row);
                    let y = labels[i] as usize;
                    acc += (lse - row[y]) as f64;
                    let d = &mut dlogits[i * nc..(i + 1) * nc];
                    for k in 0..nc {
                        d[k] = (row[k] - lse).exp() / b as f32;
                    }
                    d[y] -= 1.0 / b as f32;
                }
                st.cross_entropy = (acc / b as f64) as f32;
                st.loss = st.cross_entropy;
                t_fwd_end = Instant::now();
                cls.backward(params, grads, b);
                for (d, g) in self.dmu[..nz].iter_mut().zip(cls.input_grad(b)) {
                    *d += g;
                }
            }
        }
        // ---- semi-supervised: the classifier on the labelled rows' means (every view's)
        if self.cfg.label_weight > 0.0 {
            let cls = self.classifier.as_mut().expect("classifier");
            match labels.filter(|l| !l.is_empty()) {
                Some(l) => {
                    let ce = semi_supervised(
                        SemiSupervised {
                            classifier: cls,
                            n_classes: self.n_classes,
                            labels: l,
                            present: present.filter(|_| masked),
                            mu: &self.mu[..nz],
                            dmu: &mut self.dmu[..nz],
                            weight: self.cfg.label_weight,
                            nv,
                            b,
                            zd,
                        },
                        params,
                        grads,
                    );
                    st.cross_entropy = ce;
                    st.loss += self.cfg.label_weight * ce;
                }
                // no labelled row: the classifier's gradients are zero, not the last step's
                None => grads[self.classifier_range.clone()].fill(0.0),
            }
        }
        // ---- head + encoder backward
        if shared {
            let enc = &mut self.encoders[0];
            let (raw, draw) = enc.output_and_grad_mut(nv * b);
            gaussian_head_backward(
                raw,
                &self.eps[..nz],
                &self.dmu[..nz],
                &self.ds[..nz],
                &self.dz[..nz],
                zd,
                draw,
            );
            enc.backward(params, grads, nv * b);
        } else {
            for v in 0..nv {
                let enc = &mut self.encoders[v];
                let r = v * b * zd..(v + 1) * b * zd;
                let (raw, draw) = enc.output_and_grad_mut(b);
                gaussian_head_backward(
                    raw,
                    &self.eps[r.clone()],
                    &self.dmu[r.clone()],
                    &self.ds[r.clone()],
                    &self.dz[r],
                    zd,
                    draw,
                );
                enc.backward(params, grads, b);
            }
        }
        let t_bwd_end = Instant::now();
        st.nonfinite = !st.loss.is_finite() || !all_finite(self.store.grads());
        if update && !st.nonfinite {
            let (p, g) = self.store.split_mut();
            self.adam.step(p, g);
        }
        let t_end = Instant::now();
        st.forward_s = (t_fwd_end - t0).as_secs_f32();
        st.backward_s = (t_bwd_end - t_fwd_end).as_secs_f32();
        st.optimizer_s = (t_end - t_bwd_end).as_secs_f32();
        Ok(st)
    }

    /// The classifier's logits (`[rows, n_classes]`) for the posterior means `means`
    /// (`[rows, z_dim]`), in chunks of its row capacity; `None` without a classifier (only the
    /// supervised objective and the semi-supervised mode have one).
    pub fn classify_means(&mut self, means: &[f32], rows: usize) -> Option<Result<Vec<f32>>> {
        let cls = self.classifier.as_mut()?;
        let (zd, nc) = (self.cfg.z_dim, self.n_classes);
        if means.len() != rows * zd {
            return Some(Err(Error::shape(
                "classifier input",
                rows * zd,
                means.len(),
            )));
        }
        let mut out = Vec::new();
        if let Err(e) = out.try_reserve_exact(rows * nc) {
            return Some(Err(Error::Data(format!("the classifier's logits: {e}"))));
        }
        let chunk = cls.max_rows();
        let mut start = 0;
        while start < rows {
            let n = chunk.min(rows - start);
            cls.input_mut(n)
                .copy_from_slice(&means[start * zd..(start + n) * zd]);
            cls.forward(self.store.values(), n);
            out.extend_from_slice(cls.output(n));
            start += n;
        }
        Some(Ok(out))
    }

    /// Runs encoder `view` over `rows` items in chunks of its row capacity and hands each chunk's
    /// head output (`[n, 2 * z_dim]`: means, then raw scales) to `sink(first_row, n, output)`.
    fn encode_chunks(
        &mut self,
        view: usize,
        x: &[f32],
        rows: usize,
        mut sink: impl FnMut(usize, usize, &[f32]),
    ) -> Result<()> {
        let e = self.encoder_of(view);
        if view >= self.in_dims.len() || e >= self.encoders.len() {
            return Err(Error::config("view", view, "no encoder for this view"));
        }
        let d = self.in_dims[view];
        if x.len() != rows * d {
            return Err(Error::shape("encoder input", rows * d, x.len()));
        }
        let enc = &mut self.encoders[e];
        let chunk = enc.max_rows();
        let mut start = 0;
        while start < rows {
            let n = chunk.min(rows - start);
            enc.input_mut(n)
                .copy_from_slice(&x[start * d..(start + n) * d]);
            enc.forward(self.store.values(), n);
            sink(start, n, enc.output(n));
            start += n;
        }
        Ok(())
    }

    /// Posterior means of view `view` for `rows` items, in chunks of the encoder's row capacity.
    ///
    /// # Shapes
    /// `x`: `[rows, in_dims[view]]`; `out`: `[rows, z_dim]`.
    pub fn encode_mean(
        &mut self,
        view: usize,
        x: &[f32],
        rows: usize,
        out: &mut [f32],
    ) -> Result<()> {
        let zd = self.cfg.z_dim;
        if out.len() != rows * zd {
            return Err(Error::shape("encode_mean output", rows * zd, out.len()));
        }
        self.encode_chunks(view, x, rows, |start, n, o| {
            for i in 0..n {
                out[(start + i) * zd..(start + i + 1) * zd]
                    .copy_from_slice(&o[i * 2 * zd..i * 2 * zd + zd]);
            }
        })
    }

    /// Posterior means and scales (`softplus(raw) + 1e-7`, as in training) of view `view`.
    ///
    /// # Shapes
    /// `x`: `[rows, in_dims[view]]`; `mean`, `scale`: `[rows, z_dim]`.
    pub fn encode_posterior(
        &mut self,
        view: usize,
        x: &[f32],
        rows: usize,
        mean: &mut [f32],
        scale: &mut [f32],
    ) -> Result<()> {
        let zd = self.cfg.z_dim;
        if mean.len() != rows * zd || scale.len() != rows * zd {
            return Err(Error::shape(
                "encode_posterior outputs",
                rows * zd,
                format!("{} and {}", mean.len(), scale.len()),
            ));
        }
        self.encode_chunks(view, x, rows, |start, n, o| {
            for i in 0..n {
                for k in 0..zd {
                    let r = (start + i) * zd + k;
                    mean[r] = o[i * 2 * zd + k];
                    scale[r] = crate::nn::ops::softplus(o[i * 2 * zd + zd + k])
                        + crate::distributions::MIN_SCALE;
                }
            }
        })
    }

    /// Every named tensor: parameters, then Adam's moments as `adam.m.<name>` and `adam.v.<name>`.
    /// Each item is `(name, shape, values)`.
    pub fn tensors(&self) -> Vec<(String, Vec<usize>, &[f32])> {
        let mut out = Vec::new();
        for e in self.store.entries() {
            out.push((
                e.name.clone(),
                e.shape.clone(),
                &self.store.values()[e.range()],
            ));
        }
        for (prefix, buf) in [("adam.m.", self.adam.m()), ("adam.v.", self.adam.v())] {
            for e in self.store.entries() {
                out.push((
                    format!("{prefix}{}", e.name),
                    e.shape.clone(),
                    &buf[e.range()],
                ));
            }
        }
        out
    }

    /// Loads every tensor [`TrainStep::tensors`] names from `get` (which returns shape and values)
    /// and sets the Adam step count. Adam moments may be absent only when `adam_step == 0`.
    pub fn load_tensors(
        &mut self,
        get: &dyn Fn(&str) -> Option<NamedTensor>,
        adam_step: u64,
    ) -> Result<()> {
        let entries = self.store.entries().to_vec();
        // check everything first so that a failed load leaves the model untouched
        let mut loaded = Vec::with_capacity(entries.len() * 3);
        for (prefix, optional) in [
            ("", false),
            ("adam.m.", adam_step == 0),
            ("adam.v.", adam_step == 0),
        ] {
            for e in &entries {
                let name = format!("{prefix}{}", e.name);
                match get(&name) {
                    Some((shape, values)) => {
                        if shape != e.shape || values.len() != e.len() {
                            return Err(Error::shape(
                                name,
                                format!("{:?}", e.shape),
                                format!("{shape:?}"),
                            ));
                        }
                        loaded.push((prefix, e.range(), values));
                    }
                    None if optional => loaded.push((prefix, e.range(), vec![0.0; e.len()])),
                    None => return Err(Error::Data(format!("missing tensor `{name}`"))),
                }
            }
        }
        let (m, v, t) = self.adam.state_mut();
        for (prefix, range, values) in loaded {
            match prefix {
                "" => self.store.values_mut()[range].copy_from_slice(&values),
                "adam.m." => m[range].copy_from_slice(&values),
                _ => v[range].copy_from_slice(&values),
            }
        }
        *t = adam_step;
        Ok(())
    }

    /// Writes [`TrainStep::tensors`] to a safetensors file (f32, little-endian); the metadata holds
    /// `adam_step` and the model config as JSON (`model_config`).
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let tensors = self.tensors();
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
            .into_iter()
            .map(|(n, s, v)| (n, s, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
            .collect();
        let views = bytes
            .iter()
            .map(|(n, s, b)| {
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .map(|v| (n.clone(), v))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut meta = std::collections::HashMap::new();
        meta.insert("adam_step".to_string(), self.adam.step_count().to_string());
        meta.insert(
            "model_config".to_string(),
            serde_json::to_string(&self.cfg)?,
        );
        safetensors::serialize_to_file(views, &Some(meta), path)?;
        Ok(())
    }

    /// Loads a file written by [`TrainStep::save_safetensors`] into this (identically configured)
    /// model.
    pub fn load_safetensors(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let data = std::fs::read(path).map_err(|e| Error::io("reading model", path, e))?;
        self.load_safetensors_bytes(&data, path)
    }

    /// [`TrainStep::load_safetensors`] from the file's bytes; `path` names them in errors.
    pub fn load_safetensors_bytes(&mut self, data: &[u8], path: &Path) -> Result<()> {
        let bad = |e: safetensors::SafeTensorError| {
            Error::format(path, format!("not a valid safetensors file: {e}"))
        };
        let (_, meta) = safetensors::SafeTensors::read_metadata(data).map_err(bad)?;
        let adam_step = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("adam_step"))
            .map(|s| s.parse::<u64>())
            .transpose()
            .map_err(|e| Error::format(path, format!("bad adam_step metadata: {e}")))?
            .unwrap_or(0);
        let st = safetensors::SafeTensors::deserialize(data).map_err(bad)?;
        let get = |name: &str| -> Option<NamedTensor> {
            let t = st.tensor(name).ok()?;
            if t.dtype() != safetensors::Dtype::F32 {
                return None;
            }
            let v = t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Some((t.shape().to_vec(), v))
        };
        self.load_tensors(&get, adam_step)
    }
}

/// What [`masked_pairs`] reads and writes.
struct MaskedPairs<'a> {
    critic: &'a mut MiCritic,
    pairs: &'a [(usize, usize)],
    present: &'a [u8],
    mu: &'a [f32],
    s: &'a [f32],
    z: &'a [f32],
    dz: &'a mut [f32],
    dmu: &'a mut [f32],
    ds: &'a mut [f32],
    bufs: &'a mut MaskedBufs,
    critic_range: Range<usize>,
    skl_kind: SklKind,
    mib: bool,
    zd: usize,
    b: usize,
}

/// The multi-view loss of a batch with missing views ([`TrainStep::step_masked`]): for each view
/// pair with `m_p >= 2` items that have both views, gathers those items' rows, runs the critic and
/// the SKL on them as a batch of `m_p`, and scatters the gradients, weighted by
/// `w_p = m_p / sum_q m_q`, back to the items' rows. Allocates nothing (buffers from
/// [`TrainStep::reserve_masks`]).
fn masked_pairs(
    a: MaskedPairs<'_>,
    params: &[f32],
    grads: &mut [f32],
    beta: f32,
    st: &mut StepStats,
) {
    let MaskedPairs {
        critic,
        pairs,
        present,
        mu,
        s,
        z,
        dz,
        dmu,
        ds,
        bufs,
        critic_range,
        skl_kind,
        mib,
        zd,
        b,
    } = a;
    let has = |v: usize, k: usize| present[v * b + k] != 0;
    let mut total = 0usize;
    for (p, &(i, j)) in pairs.iter().enumerate() {
        let m = (0..b).filter(|&k| has(i, k) && has(j, k)).count();
        bufs.counts[p] = m;
        if m >= 2 {
            total += m;
        }
    }
    let (mut mi_s, mut mi_e, mut skl) = (0.0f64, 0.0f64, 0.0f64);
    let cr = critic_range;
    let mut first = true;
    for (p, &(i, j)) in pairs.iter().enumerate() {
        let m = bufs.counts[p];
        if m < 2 {
            continue;
        }
        let w = m as f32 / total as f32;
        bufs.idx.clear();
        bufs.idx.extend((0..b).filter(|&k| has(i, k) && has(j, k)));
        let n = m * zd;
        for (side, v) in [(0, i), (1, j)] {
            for (r, &k) in bufs.idx.iter().enumerate() {
                let (src, dst) = (
                    v * b * zd + k * zd..v * b * zd + (k + 1) * zd,
                    r * zd..(r + 1) * zd,
                );
                bufs.z[side][dst.clone()].copy_from_slice(&z[src.clone()]);
                bufs.mu[side][dst.clone()].copy_from_slice(&mu[src.clone()]);
                bufs.s[side][dst].copy_from_slice(&s[src]);
            }
            bufs.dz[side][..n].fill(0.0);
            bufs.dmu[side][..n].fill(0.0);
            bufs.ds[side][..n].fill(0.0);
        }
        let mi = critic.forward(params, &bufs.z[0][..n], &bufs.z[1][..n], m);
        mi_s += (w * mi.surrogate) as f64;
        mi_e += (w * mi.estimate) as f64;
        {
            let [da, db] = &mut bufs.dz;
            critic.backward(params, grads, &mut da[..n], Some(&mut db[..n]));
        }
        for (acc, &g) in bufs.critic_sum.iter_mut().zip(&grads[cr.clone()]) {
            *acc = if first { w * g } else { *acc + w * g };
        }
        first = false;
        for side in 0..2 {
            bufs.dz[side][..n].iter_mut().for_each(|g| *g *= w);
        }
        let coef = if mib { beta * w } else { 0.0 };
        let gauss = |side: usize| GaussianBatch {
            mu: &bufs.mu[side][..n],
            s: &bufs.s[side][..n],
            z: &bufs.z[side][..n],
        };
        let (pi, pj) = (gauss(0), gauss(1));
        let [dz0, dz1] = &mut bufs.dz;
        let [dm0, dm1] = &mut bufs.dmu;
        let [ds0, ds1] = &mut bufs.ds;
        let g = (coef != 0.0).then(|| {
            (
                GaussianGrads {
                    dz: &mut dz0[..n],
                    dmu: &mut dm0[..n],
                    ds: &mut ds0[..n],
                },
                GaussianGrads {
                    dz: &mut dz1[..n],
                    dmu: &mut dm1[..n],
                    ds: &mut ds1[..n],
                },
            )
        });
        skl += (w * match skl_kind {
            SklKind::MonteCarlo => skl_monte_carlo(pi, pj, zd, coef, g),
            SklKind::ClosedForm => skl_closed_form(pi, pj, zd, coef, g),
        }) as f64;
        for (side, v) in [(0, i), (1, j)] {
            for (r, &k) in bufs.idx.iter().enumerate() {
                let dst = v * b * zd + k * zd;
                for c in 0..zd {
                    dz[dst + c] += bufs.dz[side][r * zd + c];
                    dmu[dst + c] += bufs.dmu[side][r * zd + c];
                    ds[dst + c] += bufs.ds[side][r * zd + c];
                }
            }
        }
    }
    if first {
        // no pair has two items in this batch: nothing to learn from it
        grads[cr].fill(0.0);
    } else {
        let len = cr.len();
        grads[cr].copy_from_slice(&bufs.critic_sum[..len]);
    }
    st.mi_surrogate = mi_s as f32;
    st.mi_estimate = mi_e as f32;
    st.skl = skl as f32;
    st.loss = -st.mi_surrogate;
    if mib {
        st.loss += beta * st.skl;
    }
}

/// The name of encoder `e`: `encoder` for the first (or the shared one), `encoder_v2`,
/// `encoder_v3`, ... for the views after it when each view has its own.
pub fn encoder_name(e: usize) -> String {
    if e == 0 {
        "encoder".to_string()
    } else {
        format!("encoder_v{}", e + 1)
    }
}

/// Blocks `i < j` of `len` items of `buf`, both mutable.
fn two_mut(buf: &mut [f32], i: usize, j: usize, len: usize) -> (&mut [f32], &mut [f32]) {
    debug_assert!(i < j);
    let (lo, hi) = buf.split_at_mut(j * len);
    (&mut lo[i * len..(i + 1) * len], &mut hi[..len])
}

fn split_gaussians<'a>(
    mu: &'a [f32],
    s: &'a [f32],
    z: &'a [f32],
    at: usize,
) -> (GaussianBatch<'a>, GaussianBatch<'a>) {
    let (m1, m2) = mu.split_at(at);
    let (s1, s2) = s.split_at(at);
    let (z1, z2) = z.split_at(at);
    (
        GaussianBatch {
            mu: m1,
            s: s1,
            z: z1,
        },
        GaussianBatch {
            mu: m2,
            s: s2,
            z: z2,
        },
    )
}

/// Whether the model has the linear classifier on the means: the supervised objective, or the
/// semi-supervised mode (`label_weight > 0`).
fn has_classifier(cfg: &ModelConfig) -> bool {
    cfg.objective == ObjectiveKind::Supervised || cfg.label_weight > 0.0
}

/// Rows of the classifier's buffers: a batch (supervised), or every view's rows of a batch
/// (semi-supervised).
fn classifier_rows(cfg: &ModelConfig, n_views: usize, max_batch: usize) -> usize {
    if cfg.objective == ObjectiveKind::Supervised {
        max_batch
    } else {
        n_views * max_batch
    }
}

/// The semi-supervised term's inputs: the classifier, the labels of each view's first
/// `labels.len()` rows, the means `[n_views, b, z_dim]` and their gradients.
struct SemiSupervised<'a> {
    classifier: &'a mut Mlp,
    n_classes: usize,
    labels: &'a [u32],
    /// `[n_views, b]` presence (masked batches only): absent rows are left out.
    present: Option<&'a [u8]>,
    mu: &'a [f32],
    dmu: &'a mut [f32],
    weight: f32,
    nv: usize,
    b: usize,
    zd: usize,
}

/// The mean cross-entropy of the classifier on the means of every view's labelled rows (the
/// present ones); adds `weight` times its gradient into `dmu` and overwrites the classifier's
/// parameter gradients. Returns the cross-entropy (0 with no present labelled row).
fn semi_supervised(a: SemiSupervised<'_>, params: &[f32], grads: &mut [f32]) -> f32 {
    let SemiSupervised {
        classifier: cls,
        n_classes: nc,
        labels,
        present,
        mu,
        dmu,
        weight,
        nv,
        b,
        zd,
    } = a;
    let m = labels.len().min(b);
    let has = |v: usize, i: usize| present.is_none_or(|p| p[v * b + i] != 0);
    let rows = (0..nv)
        .map(|v| (0..m).filter(|&i| has(v, i)).count())
        .sum::<usize>();
    let input = cls.input_mut(rows.max(1));
    let mut r = 0;
    for v in 0..nv {
        for i in (0..m).filter(|&i| has(v, i)) {
            let at = (v * b + i) * zd;
            input[r * zd..(r + 1) * zd].copy_from_slice(&mu[at..at + zd]);
            r += 1;
        }
    }
    if rows == 0 {
        input.fill(0.0);
    }
    cls.forward(params, rows.max(1));
    let (logits, dlogits) = cls.output_and_grad_mut(rows.max(1));
    let mut acc = 0.0f64;
    let scale = if rows == 0 { 0.0 } else { weight / rows as f32 };
    let mut r = 0;
    for v in 0..nv {
        for i in (0..m).filter(|&i| has(v, i)) {
            let row = &logits[r * nc..(r + 1) * nc];
            let lse = log_sum_exp(row);
            let y = labels[i] as usize;
            acc += (lse - row[y]) as f64;
            let d = &mut dlogits[r * nc..(r + 1) * nc];
            for k in 0..nc {
                d[k] = (row[k] - lse).exp() * scale;
            }
            d[y] -= scale;
            r += 1;
        }
    }
    if rows == 0 {
        dlogits.fill(0.0);
    }
    cls.backward(params, grads, rows.max(1));
    let g = cls.input_grad(rows.max(1));
    let mut r = 0;
    for v in 0..nv {
        for i in (0..m).filter(|&i| has(v, i)) {
            let at = (v * b + i) * zd;
            for (d, &x) in dmu[at..at + zd].iter_mut().zip(&g[r * zd..(r + 1) * zd]) {
                *d += x;
            }
            r += 1;
        }
    }
    if rows == 0 {
        0.0
    } else {
        (acc / rows as f64) as f32
    }
}
