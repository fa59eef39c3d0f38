//! Mutual-information lower bounds and their critics.
//!
//! A critic `T(a, b)` scores pairs; an estimator turns the scores of matched (positive) and
//! mismatched (negative) pairs into a bound on `I(a; b)`:
//!
//! - JSD (reference `utils/modules.py`, `MIEstimator`): surrogate
//!   `-mean softplus(-T_pos) - mean softplus(T_neg)`, logged with the NWJ value;
//! - NWJ: `mean T_pos - mean exp(T_neg) + 1` (both surrogate and estimate);
//! - InfoNCE: `ln B + mean_j [T_jj - logsumexp_i T_ij]` over all `B x B` pairs.
//!
//! Critics: the reference MLP on the concatenation `[a, b]` (negatives pair row `i` of `b` with row
//! `i - 1` of `a`, i.e. `torch.roll(a, 1, 0)`; InfoNCE runs it on all `B^2` pairs), or a separable
//! critic `cos(a_i, b_j) / temperature` that scores all pairs with one product (no parameters).

use crate::nn::matmul::{matmul, matmul_nt, matmul_tn};
use crate::nn::ops::{log_sum_exp, sigmoid, softplus};
use crate::nn::{Mlp, ParamStore};
use crate::Result;
use serde::{Deserialize, Serialize};

/// Which mutual-information estimator to train with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EstimatorKind {
    /// Jensen-Shannon surrogate, as the reference (default).
    #[default]
    Jsd,
    /// Nguyen-Wainwright-Jordan bound.
    Nwj,
    /// InfoNCE over all pairs of the batch (symmetric for the separable critic).
    #[serde(rename = "infonce")]
    InfoNce,
}

/// Which critic scores the pairs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CriticKind {
    /// MLP on the concatenation `[a, b]` (reference).
    #[default]
    Mlp,
    /// `cos(a_i, b_j) / temperature` (CMC / SimCLR style).
    Separable,
}

/// A surrogate (what training maximises) and the logged estimate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MiValue {
    /// The differentiable bound being maximised.
    pub surrogate: f32,
    /// The logged estimate (NWJ for JSD/NWJ training, InfoNCE for InfoNCE).
    pub estimate: f32,
}

fn mean64(it: impl Iterator<Item = f32>, n: usize) -> f64 {
    it.map(|v| v as f64).sum::<f64>() / n as f64
}

/// JSD surrogate on positive and negative scores; writes `coef * d surrogate` into `dpos`/`dneg`;
/// the estimate is the NWJ value.
///
/// # Shapes
/// all `[n]` (`pos` and `neg` may differ in length).
pub fn jsd(pos: &[f32], neg: &[f32], coef: f32, dpos: &mut [f32], dneg: &mut [f32]) -> MiValue {
    let (np, nn) = (pos.len(), neg.len());
    let s = -mean64(pos.iter().map(|&p| softplus(-p)), np)
        - mean64(neg.iter().map(|&v| softplus(v)), nn);
    for (d, &p) in dpos.iter_mut().zip(pos) {
        *d = coef * sigmoid(-p) / np as f32;
    }
    for (d, &v) in dneg.iter_mut().zip(neg) {
        *d = -coef * sigmoid(v) / nn as f32;
    }
    MiValue {
        surrogate: s as f32,
        estimate: nwj_value(pos, neg),
    }
}

/// The NWJ value `mean pos - mean exp(neg) + 1`.
pub fn nwj_value(pos: &[f32], neg: &[f32]) -> f32 {
    (mean64(pos.iter().copied(), pos.len()) - mean64(neg.iter().map(|v| v.exp()), neg.len()) + 1.0)
        as f32
}

/// NWJ as the surrogate; writes `coef * d surrogate` into `dpos`/`dneg`.
pub fn nwj(pos: &[f32], neg: &[f32], coef: f32, dpos: &mut [f32], dneg: &mut [f32]) -> MiValue {
    let (np, nn) = (pos.len(), neg.len());
    dpos.fill(coef / np as f32);
    for (d, &v) in dneg.iter_mut().zip(neg) {
        *d = -coef * v.exp() / nn as f32;
    }
    let v = nwj_value(pos, neg);
    MiValue {
        surrogate: v,
        estimate: v,
    }
}

/// InfoNCE over an `n x n` score matrix `t[i * n + j] = T(a_i, b_j)`, in the reference direction
/// `ln n + mean_j [t_jj - logsumexp_i t_ij]`. Adds `coef * d value` into `dt` when given.
pub fn infonce(t: &[f32], n: usize, coef: f32, dt: Option<&mut [f32]>, col: &mut [f32]) -> f32 {
    let mut acc = 0.0f64;
    let mut dt = dt;
    for j in 0..n {
        for i in 0..n {
            col[i] = t[i * n + j];
        }
        let lse = log_sum_exp(&col[..n]);
        acc += (t[j * n + j] - lse) as f64;
        if let Some(dt) = dt.as_deref_mut() {
            for i in 0..n {
                dt[i * n + j] -= coef * (col[i] - lse).exp() / n as f32;
            }
            dt[j * n + j] += coef / n as f32;
        }
    }
    ((n as f64).ln() + acc / n as f64) as f32
}

/// InfoNCE in the other direction: `ln n + mean_i [t_ii - logsumexp_j t_ij]`.
pub fn infonce_rows(t: &[f32], n: usize, coef: f32, dt: Option<&mut [f32]>) -> f32 {
    let mut acc = 0.0f64;
    let mut dt = dt;
    for i in 0..n {
        let row = &t[i * n..(i + 1) * n];
        let lse = log_sum_exp(row);
        acc += (row[i] - lse) as f64;
        if let Some(dt) = dt.as_deref_mut() {
            for j in 0..n {
                dt[i * n + j] -= coef * (row[j] - lse).exp() / n as f32;
            }
            dt[i * n + i] += coef / n as f32;
        }
    }
    ((n as f64).ln() + acc / n as f64) as f32
}

/// The critic and estimator of one objective, with their buffers.
#[derive(Clone, Debug)]
pub struct MiCritic {
    kind: CriticKind,
    estimator: EstimatorKind,
    mlp: Option<Mlp>,
    temperature: f32,
    a_dim: usize,
    b_dim: usize,
    max_batch: usize,
    scores: Vec<f32>,
    dscores: Vec<f32>,
    col: Vec<f32>,
    na: Vec<f32>,
    nb: Vec<f32>,
    norms: Vec<f32>,
    dna: Vec<f32>,
    dnb: Vec<f32>,
    proj: Option<Mlp>,
    sep_dim: usize,
    dh: Vec<f32>,
    /// MLP critic with shifted negatives and at least one hidden layer: the input layer is
    /// factored as `[a, b] W = a W_a + b W_b`, each product computed once per batch.
    factored: bool,
    /// `a W_a`, `b W_b` and their gradients, `[max_batch, hidden]` each (factored only).
    fa: Vec<f32>,
    fb: Vec<f32>,
    dfa: Vec<f32>,
    dfb: Vec<f32>,
    last_batch: usize,
}

impl MiCritic {
    /// Registers the critic (MLP parameters under `prefix`) for pairs of `a_dim`- and `b_dim`-wide
    /// rows and batches of up to `max_batch`. `hidden` are the MLP critic's hidden widths;
    /// `projection` the widths of the separable critic's projection head (`<prefix>.projection`,
    /// one MLP `a_dim -> projection..` applied to both sides; empty: cosine of the inputs).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: &mut ParamStore,
        prefix: &str,
        kind: CriticKind,
        estimator: EstimatorKind,
        hidden: &[usize],
        projection: &[usize],
        temperature: f32,
        a_dim: usize,
        b_dim: usize,
        max_batch: usize,
    ) -> Result<Self> {
        let pairs = match (kind, estimator) {
            (CriticKind::Mlp, EstimatorKind::InfoNce) | (CriticKind::Separable, _) => {
                max_batch * max_batch
            }
            (CriticKind::Mlp, _) => 2 * max_batch,
        };
        let mlp = (kind == CriticKind::Mlp).then(|| {
            let mut dims = vec![a_dim + b_dim];
            dims.extend_from_slice(hidden);
            dims.push(1);
            Mlp::new(store, prefix, &dims, pairs, true)
        });
        let mlp = mlp.transpose()?;
        let use_proj = kind == CriticKind::Separable && !projection.is_empty();
        let proj = use_proj.then(|| {
            let mut dims = vec![a_dim];
            dims.extend_from_slice(projection);
            Mlp::new(
                store,
                &format!("{prefix}.projection"),
                &dims,
                2 * max_batch,
                true,
            )
        });
        let proj = proj.transpose()?;
        let factored =
            kind == CriticKind::Mlp && estimator != EstimatorKind::InfoNce && !hidden.is_empty();
        let fsize = if factored { max_batch * hidden[0] } else { 0 };
        let sep_dim = proj.as_ref().map_or(a_dim, |p| p.out_dim());
        let sep = if kind == CriticKind::Separable {
            max_batch * sep_dim
        } else {
            0
        };
        let zeros = crate::memory::try_zeros;
        Ok(MiCritic {
            kind,
            estimator,
            mlp,
            temperature,
            a_dim,
            b_dim,
            max_batch,
            scores: zeros(pairs, "critic scores")?,
            dscores: zeros(pairs, "critic dscores")?,
            col: zeros(max_batch, "critic col")?,
            na: zeros(sep, "critic na")?,
            nb: zeros(sep, "critic nb")?,
            norms: zeros(2 * max_batch, "critic norms")?,
            dna: zeros(sep, "critic dna")?,
            dnb: zeros(sep, "critic dnb")?,
            proj,
            sep_dim,
            dh: zeros(2 * sep, "critic dh")?,
            factored,
            fa: zeros(fsize, "critic fa")?,
            fb: zeros(fsize, "critic fb")?,
            dfa: zeros(fsize, "critic dfa")?,
            dfb: zeros(fsize, "critic dfb")?,
            last_batch: 0,
        })
    }

    /// The parameters and the buffer values (`f32` each) of `MiCritic::new` with these arguments,
    /// for [`crate::memory::MemoryPlan`]s: `(params, buffers)`.
    #[allow(clippy::too_many_arguments)]
    pub fn memory_floats(
        kind: CriticKind,
        estimator: EstimatorKind,
        hidden: &[usize],
        projection: &[usize],
        a_dim: usize,
        b_dim: usize,
        max_batch: usize,
    ) -> (u128, u128) {
        let b = max_batch as u128;
        let pairs = match (kind, estimator) {
            (CriticKind::Mlp, EstimatorKind::InfoNce) | (CriticKind::Separable, _) => b * b,
            (CriticKind::Mlp, _) => 2 * b,
        };
        let (mut params, mut buffers) = (0u128, 2 * pairs + b + 2 * b);
        if kind == CriticKind::Mlp {
            let mut dims = vec![a_dim + b_dim];
            dims.extend_from_slice(hidden);
            dims.push(1);
            params += Mlp::param_count(&dims, false);
            buffers += Mlp::buffer_floats(&dims, pairs, true, false);
            if estimator != EstimatorKind::InfoNce && !hidden.is_empty() {
                buffers += 4 * b * hidden[0] as u128;
            }
        } else {
            let mut sep_dim = a_dim as u128;
            if !projection.is_empty() {
                let mut dims = vec![a_dim];
                dims.extend_from_slice(projection);
                params += Mlp::param_count(&dims, false);
                buffers += Mlp::buffer_floats(&dims, 2 * b, true, false);
                sep_dim = *projection.last().unwrap_or(&a_dim) as u128;
            }
            buffers += 6 * b * sep_dim;
        }
        (params, buffers)
    }

    /// The critic MLP, if any.
    pub fn mlp(&self) -> Option<&Mlp> {
        self.mlp.as_ref()
    }

    /// Initialises the critic's parameters.
    pub fn init_using(&self, store: &mut ParamStore, rng: &mut crate::MibRng) {
        for m in self.mlp.iter().chain(self.proj.iter()) {
            m.init_using(store, rng);
        }
    }

    /// Multiply-adds of the critic's forward pass for one batch.
    pub fn macs(&self, batch: usize) -> usize {
        match (&self.mlp, self.estimator) {
            (Some(m), EstimatorKind::InfoNce) => m.macs_per_row() * batch * batch,
            (Some(m), _) if self.factored => {
                let d = m.dims();
                // the input layer once per item, the rest once per pair
                batch * d[0] * d[1] + 2 * batch * (m.macs_per_row() - d[0] * d[1])
            }
            (Some(m), _) => m.macs_per_row() * 2 * batch,
            (None, _) => {
                batch * batch * self.sep_dim
                    + self
                        .proj
                        .as_ref()
                        .map_or(0, |p| 2 * batch * p.macs_per_row())
            }
        }
    }

    /// Scores the pairs of `a` and `b`, evaluates the estimator and back-propagates the loss
    /// `-surrogate`: overwrites the critic's parameter gradients in `grads` and adds the gradients
    /// w.r.t. `a` into `da` and (when given) w.r.t. `b` into `db`.
    ///
    /// # Shapes
    /// `a`, `da`: `[batch, a_dim]`; `b`, `db`: `[batch, b_dim]`.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_backward(
        &mut self,
        params: &[f32],
        grads: &mut [f32],
        a: &[f32],
        b: &[f32],
        batch: usize,
        da: &mut [f32],
        db: Option<&mut [f32]>,
    ) -> MiValue {
        let v = self.forward(params, a, b, batch);
        self.backward(params, grads, da, db);
        v
    }

    /// Forward half of [`MiCritic::forward_backward`]: scores, estimator value and the loss
    /// gradient w.r.t. the scores (kept for [`MiCritic::backward`]).
    pub fn forward(&mut self, params: &[f32], a: &[f32], b: &[f32], batch: usize) -> MiValue {
        assert!(batch <= self.max_batch && batch > 0);
        match self.kind {
            CriticKind::Mlp if self.factored => self.factored_forward(params, a, b, batch),
            CriticKind::Mlp => self.mlp_forward(params, a, b, batch),
            CriticKind::Separable => self.separable_forward(params, a, b, batch),
        }
    }

    /// Backward half of [`MiCritic::forward_backward`], for the batch of the last
    /// [`MiCritic::forward`].
    pub fn backward(
        &mut self,
        params: &[f32],
        grads: &mut [f32],
        da: &mut [f32],
        db: Option<&mut [f32]>,
    ) {
        match self.kind {
            CriticKind::Mlp if self.factored => self.factored_backward(params, grads, da, db),
            CriticKind::Mlp => self.mlp_backward(params, grads, da, db),
            CriticKind::Separable => self.separable_backward(params, grads, da, db),
        }
    }

    /// The MLP critic on `[a_i, b_i]` (positives) and `[a_{i-1}, b_i]` (negatives) with its input
    /// layer factored: `a W_a` and `b W_b` are computed once for the batch and the pre-activation of
    /// each pair is the sum of its two rows (the same function as the concatenated input, with half
    /// the input layer's multiply-adds).
    fn factored_forward(&mut self, params: &[f32], a: &[f32], b: &[f32], n: usize) -> MiValue {
        let (ad, bd) = (self.a_dim, self.b_dim);
        let mlp = self.mlp.as_mut().expect("mlp critic");
        let h = mlp.dims()[1];
        let (w0, b0) = mlp.layer_offsets(0);
        let (wa, wb) = params[w0..w0 + (ad + bd) * h].split_at(ad * h);
        let bias = &params[b0..b0 + h];
        // keep a and b for the backward pass in the (otherwise unused) input buffer
        let input = mlp.input_mut(2 * n);
        input[..n * ad].copy_from_slice(&a[..n * ad]);
        input[n * ad..n * (ad + bd)].copy_from_slice(&b[..n * bd]);
        let (fa, fb) = (&mut self.fa[..n * h], &mut self.fb[..n * h]);
        matmul(fa, &a[..n * ad], wa, n, ad, h, false);
        matmul(fb, &b[..n * bd], wb, n, bd, h, false);
        let x1 = mlp.layer_input_mut(1, 2 * n);
        let (pos, neg) = x1.split_at_mut(n * h);
        for i in 0..n {
            let prev = (i + n - 1) % n;
            let rb = &fb[i * h..(i + 1) * h];
            let (ra, rp) = (&fa[i * h..(i + 1) * h], &fa[prev * h..(prev + 1) * h]);
            let (op, on) = (&mut pos[i * h..(i + 1) * h], &mut neg[i * h..(i + 1) * h]);
            for j in 0..h {
                op[j] = (ra[j] + rb[j] + bias[j]).max(0.0);
                on[j] = (rp[j] + rb[j] + bias[j]).max(0.0);
            }
        }
        mlp.forward_from(params, 2 * n, 1);
        let (t, dt) = mlp.output_and_grad_mut(2 * n);
        let value = estimate(self.estimator, t, dt, n, &mut self.col);
        self.last_batch = n;
        value
    }

    /// Backward pass of [`MiCritic::factored_forward`].
    fn factored_backward(
        &mut self,
        params: &[f32],
        grads: &mut [f32],
        da: &mut [f32],
        db: Option<&mut [f32]>,
    ) {
        let n = self.last_batch;
        let (ad, bd) = (self.a_dim, self.b_dim);
        let mlp = self.mlp.as_mut().expect("mlp critic");
        let h = mlp.dims()[1];
        mlp.backward_to(params, grads, 2 * n, 1);
        let dpre = mlp.pre_activation_grad(1, 2 * n);
        let (dpos, dneg) = dpre.split_at(n * h);
        let (dfa, dfb) = (&mut self.dfa[..n * h], &mut self.dfb[..n * h]);
        for i in 0..n {
            // a_i is the first half of positive i and of negative i + 1
            let next = (i + 1) % n;
            let (pi, ni, nn) = (
                &dpos[i * h..(i + 1) * h],
                &dneg[i * h..(i + 1) * h],
                &dneg[next * h..(next + 1) * h],
            );
            let (ga, gb) = (&mut dfa[i * h..(i + 1) * h], &mut dfb[i * h..(i + 1) * h]);
            for j in 0..h {
                ga[j] = pi[j] + nn[j];
                gb[j] = pi[j] + ni[j];
            }
        }
        let (w0, b0) = mlp.layer_offsets(0);
        let (a, b) = mlp.input(2 * n)[..n * (ad + bd)].split_at(n * ad);
        let (wa, wb) = params[w0..w0 + (ad + bd) * h].split_at(ad * h);
        {
            let (gw, gb) = grads.split_at_mut(b0);
            let (gwa, gwb) = gw[w0..w0 + (ad + bd) * h].split_at_mut(ad * h);
            matmul_tn(gwa, a, dfa, ad, n, h, false);
            matmul_tn(gwb, b, dfb, bd, n, h, false);
            let gb = &mut gb[..h];
            gb.fill(0.0);
            for row in dfb.chunks_exact(h) {
                add(gb, row);
            }
        }
        matmul_nt(&mut da[..n * ad], dfa, wa, n, h, ad, true);
        if let Some(db) = db {
            matmul_nt(&mut db[..n * bd], dfb, wb, n, h, bd, true);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn mlp_forward(&mut self, params: &[f32], a: &[f32], b: &[f32], n: usize) -> MiValue {
        let (ad, bd) = (self.a_dim, self.b_dim);
        let w = ad + bd;
        let mlp = self.mlp.as_mut().expect("mlp critic");
        let all_pairs = self.estimator == EstimatorKind::InfoNce;
        let rows = if all_pairs { n * n } else { 2 * n };
        {
            let input = mlp.input_mut(rows);
            if all_pairs {
                for i in 0..n {
                    for j in 0..n {
                        let r = &mut input[(i * n + j) * w..(i * n + j + 1) * w];
                        r[..ad].copy_from_slice(&a[i * ad..(i + 1) * ad]);
                        r[ad..].copy_from_slice(&b[j * bd..(j + 1) * bd]);
                    }
                }
            } else {
                for i in 0..n {
                    let prev = (i + n - 1) % n;
                    let r = &mut input[i * w..(i + 1) * w];
                    r[..ad].copy_from_slice(&a[i * ad..(i + 1) * ad]);
                    r[ad..].copy_from_slice(&b[i * bd..(i + 1) * bd]);
                    let r = &mut input[(n + i) * w..(n + i + 1) * w];
                    r[..ad].copy_from_slice(&a[prev * ad..(prev + 1) * ad]);
                    r[ad..].copy_from_slice(&b[i * bd..(i + 1) * bd]);
                }
            }
        }
        mlp.forward(params, rows);
        let (t, dt) = mlp.output_and_grad_mut(rows);
        let value = estimate(self.estimator, t, dt, n, &mut self.col);
        self.last_batch = n;
        value
    }

    fn mlp_backward(
        &mut self,
        params: &[f32],
        grads: &mut [f32],
        da: &mut [f32],
        db: Option<&mut [f32]>,
    ) {
        let n = self.last_batch;
        let (ad, bd) = (self.a_dim, self.b_dim);
        let w = ad + bd;
        let mlp = self.mlp.as_mut().expect("mlp critic");
        let all_pairs = self.estimator == EstimatorKind::InfoNce;
        let rows = if all_pairs { n * n } else { 2 * n };
        mlp.backward(params, grads, rows);
        let dx = mlp.input_grad(rows);
        let mut db = db;
        if all_pairs {
            for i in 0..n {
                for j in 0..n {
                    let r = &dx[(i * n + j) * w..(i * n + j + 1) * w];
                    add(&mut da[i * ad..(i + 1) * ad], &r[..ad]);
                    if let Some(db) = db.as_deref_mut() {
                        add(&mut db[j * bd..(j + 1) * bd], &r[ad..]);
                    }
                }
            }
        } else {
            for i in 0..n {
                let prev = (i + n - 1) % n;
                let r = &dx[i * w..(i + 1) * w];
                add(&mut da[i * ad..(i + 1) * ad], &r[..ad]);
                let rn = &dx[(n + i) * w..(n + i + 1) * w];
                add(&mut da[prev * ad..(prev + 1) * ad], &rn[..ad]);
                if let Some(db) = db.as_deref_mut() {
                    let d = &mut db[i * bd..(i + 1) * bd];
                    add(d, &r[ad..]);
                    add(d, &rn[ad..]);
                }
            }
        }
    }

    fn separable_forward(&mut self, params: &[f32], a: &[f32], b: &[f32], n: usize) -> MiValue {
        let d = self.sep_dim;
        let tau = self.temperature;
        let (a, b) = match self.proj.as_mut() {
            Some(p) => {
                let ad = self.a_dim;
                let input = p.input_mut(2 * n);
                input[..n * ad].copy_from_slice(&a[..n * ad]);
                input[n * ad..].copy_from_slice(&b[..n * ad]);
                p.forward(params, 2 * n);
                p.output(2 * n).split_at(n * d)
            }
            None => (a, b),
        };
        // normalise rows (cosine similarity with norm clamped at 1e-8, as F.cosine_similarity)
        for (src, dst, off) in [(a, &mut self.na, 0), (b, &mut self.nb, n)] {
            for i in 0..n {
                let r = &src[i * d..(i + 1) * d];
                let nr = r.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-8);
                self.norms[off + i] = nr;
                for (o, &v) in dst[i * d..(i + 1) * d].iter_mut().zip(r) {
                    *o = v / nr;
                }
            }
        }
        let s = &mut self.scores[..n * n];
        matmul_nt(s, &self.na[..n * d], &self.nb[..n * d], n, d, n, false);
        for v in s.iter_mut() {
            *v /= tau;
        }
        let s = &self.scores[..n * n];
        let ds = &mut self.dscores[..n * n];
        ds.fill(0.0);
        let value = match self.estimator {
            EstimatorKind::InfoNce => {
                let v1 = infonce_rows(s, n, -0.5, Some(&mut *ds));
                let v2 = infonce(s, n, -0.5, Some(&mut *ds), &mut self.col);
                let v = 0.5 * (v1 + v2);
                MiValue {
                    surrogate: v,
                    estimate: v,
                }
            }
            est => {
                let (np, nn) = (n, n * (n - 1));
                let pos = (0..n).map(|i| s[i * n + i]);
                let neg = (0..n * n).filter(|k| k / n != k % n).map(|k| s[k]);
                let nwj_est = (mean64(pos.clone(), np)
                    - mean64(neg.clone().map(f32::exp), nn.max(1))
                    + 1.0) as f32;
                let surrogate = if est == EstimatorKind::Jsd {
                    for k in 0..n * n {
                        ds[k] = if k / n == k % n {
                            -sigmoid(-s[k]) / np as f32
                        } else {
                            sigmoid(s[k]) / nn.max(1) as f32
                        };
                    }
                    (-mean64(pos.map(|p| softplus(-p)), np) - mean64(neg.map(softplus), nn.max(1)))
                        as f32
                } else {
                    for k in 0..n * n {
                        ds[k] = if k / n == k % n {
                            -1.0 / np as f32
                        } else {
                            s[k].exp() / nn.max(1) as f32
                        };
                    }
                    nwj_est
                };
                MiValue {
                    surrogate,
                    estimate: nwj_est,
                }
            }
        };
        self.last_batch = n;
        value
    }

    fn separable_backward(
        &mut self,
        params: &[f32],
        grads: &mut [f32],
        da: &mut [f32],
        db: Option<&mut [f32]>,
    ) {
        let n = self.last_batch;
        let d = self.sep_dim;
        let tau = self.temperature;
        // dS -> d(na) = dS nb / tau, d(nb) = dS^T na / tau
        let ds = &self.dscores[..n * n];
        matmul(
            &mut self.dna[..n * d],
            ds,
            &self.nb[..n * d],
            n,
            n,
            d,
            false,
        );
        matmul_tn(
            &mut self.dnb[..n * d],
            ds,
            &self.na[..n * d],
            n,
            n,
            d,
            false,
        );
        // gradient w.r.t. the (projected) rows of both sides, through the normalisation
        let dh = &mut self.dh[..2 * n * d];
        for (side, off) in [(0usize, 0usize), (1, n)] {
            let (nx, dnx) = if side == 0 {
                (&self.na, &self.dna)
            } else {
                (&self.nb, &self.dnb)
            };
            for i in 0..n {
                let u = &nx[i * d..(i + 1) * d];
                let g = &dnx[i * d..(i + 1) * d];
                let dot: f32 = u.iter().zip(g).map(|(x, y)| x * y).sum();
                let inv = 1.0 / (self.norms[off + i] * tau);
                let target = &mut dh[(off + i) * d..(off + i + 1) * d];
                for k in 0..d {
                    target[k] = (g[k] - u[k] * dot) * inv;
                }
            }
        }
        let dx: &[f32] = match self.proj.as_mut() {
            Some(p) => {
                p.output_grad_mut(2 * n).copy_from_slice(dh);
                p.backward(params, grads, 2 * n);
                p.input_grad(2 * n)
            }
            None => dh,
        };
        let ad = self.a_dim;
        add(&mut da[..n * ad], &dx[..n * ad]);
        if let Some(db) = db {
            add(&mut db[..n * ad], &dx[n * ad..2 * n * ad]);
        }
    }
}

#[inline]
/// The estimator's value from the MLP critic's scores `t` of a batch of `n`, and the gradient of
/// `-surrogate` w.r.t. them in `dt`: `t` holds `n` positives then `n` shifted negatives (JSD, NWJ),
/// or all `n x n` pairs (InfoNCE).
fn estimate(
    estimator: EstimatorKind,
    t: &[f32],
    dt: &mut [f32],
    n: usize,
    col: &mut [f32],
) -> MiValue {
    match estimator {
        EstimatorKind::Jsd => {
            let (dp, dn) = dt.split_at_mut(n);
            jsd(&t[..n], &t[n..], -1.0, dp, dn)
        }
        EstimatorKind::Nwj => {
            let (dp, dn) = dt.split_at_mut(n);
            nwj(&t[..n], &t[n..], -1.0, dp, dn)
        }
        EstimatorKind::InfoNce => {
            dt.fill(0.0);
            let v = infonce(t, n, -1.0, Some(dt), col);
            MiValue {
                surrogate: v,
                estimate: v,
            }
        }
    }
}

fn add(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The factored input layer computes the same scores, bound and gradients as the MLP on the
    /// concatenated pairs.
    #[test]
    fn factored_critic_matches_the_concatenated_one() {
        for (est, bd) in [
            (EstimatorKind::Jsd, 5),
            (EstimatorKind::Nwj, 3),
            (EstimatorKind::Jsd, 7),
        ] {
            let (n, ad) = (6, 4);
            let mut store = ParamStore::new();
            let mut c = MiCritic::new(
                &mut store,
                "critic",
                CriticKind::Mlp,
                est,
                &[16, 8],
                &[],
                1.0,
                ad,
                bd,
                n,
            )
            .unwrap();
            assert!(c.factored);
            let mut rng = crate::MibRng::seed_from_u64(3);
            c.init_using(&mut store, &mut rng);
            let a: Vec<f32> = (0..n * ad)
                .map(|_| rng.random::<f32>() * 2.0 - 1.0)
                .collect();
            let b: Vec<f32> = (0..n * bd)
                .map(|_| rng.random::<f32>() * 2.0 - 1.0)
                .collect();
            let mut run = |factored: bool| {
                c.factored = factored;
                let (params, grads) = store.split();
                grads.fill(f32::NAN);
                let (mut da, mut db) = (vec![0.5f32; n * ad], vec![0.25f32; n * bd]);
                let v = c.forward_backward(params, grads, &a, &b, n, &mut da, Some(&mut db));
                (v.surrogate, v.estimate, grads.to_vec(), da, db)
            };
            let (s0, e0, g0, da0, db0) = run(false);
            let (s1, e1, g1, da1, db1) = run(true);
            let close = |x: f32, y: f32| (x - y).abs() <= 1e-5 * (1.0 + x.abs());
            assert!(close(s0, s1) && close(e0, e1), "{s0} {s1} {e0} {e1}");
            for (x, y) in g0
                .iter()
                .zip(&g1)
                .chain(da0.iter().zip(&da1))
                .chain(db0.iter().zip(&db1))
            {
                assert!(x.is_finite() && close(*x, *y), "{x} vs {y}");
            }
        }
    }
}
