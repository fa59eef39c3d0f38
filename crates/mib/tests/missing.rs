//! Incomplete multi-view data (issue 24): presence masks, the masked training step against a slow
//! reference, batching, fusion, the refusals, and exact resume with masks.

// Plain index loops are the point of a slow reference.
#![allow(clippy::needless_range_loop)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mib::config::TrainConfig;
use mib::data::npy::write_npy;
use mib::data::{
    load_splits, mark_missing, BatchProducer, Elements, MissingRows, MultiViewDataset,
    PairingConfig, RawArray,
};
use mib::estimators::{CriticKind, EstimatorKind};
use mib::models::{fuse_posteriors, Fuse};
use mib::objectives::{AdamConfig, ModelConfig, ObjectiveKind, SklKind, TrainStep};
use mib::train::{self, NoObserver, RunOptions, TrainObserver};
use mib::{Matrix, MibRng};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

fn randn(rng: &mut MibRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| StandardNormal.sample(rng)).collect()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mib-missing-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Three views, unshared encoders, the separable critic with InfoNCE and the closed-form SKL: a
/// loss the reference below computes with plain loops.
fn sep_cfg(objective: ObjectiveKind) -> ModelConfig {
    ModelConfig {
        objective,
        encoder_hidden: vec![7],
        z_dim: 3,
        critic: CriticKind::Separable,
        estimator: EstimatorKind::InfoNce,
        skl: SklKind::ClosedForm,
        temperature: 0.5,
        shared_encoder: false,
        ..ModelConfig::default()
    }
}

struct Case {
    step: TrainStep,
    views: Vec<Vec<f32>>,
    eps: Vec<Vec<f32>>,
    present: Vec<u8>,
    dims: Vec<usize>,
    batch: usize,
}

fn case(cfg: &ModelConfig, present: Vec<u8>) -> Case {
    let mut rng = MibRng::seed_from_u64(7);
    let dims = vec![5, 4, 6];
    let batch = present.len() / dims.len();
    let step = TrainStep::new(cfg, &AdamConfig::default(), &dims, 0, batch, &mut rng).unwrap();
    let views = dims
        .iter()
        .enumerate()
        .map(|(v, &d)| {
            (0..batch * d)
                .map(|k| {
                    // a missing view's row holds zeros, as the batch producer writes it
                    if present[v * batch + k / d] == 0 {
                        0.0
                    } else {
                        rng.random::<f32>()
                    }
                })
                .collect()
        })
        .collect();
    let eps = dims.iter().map(|_| randn(&mut rng, batch * 3)).collect();
    Case {
        step,
        views,
        eps,
        present,
        dims,
        batch,
    }
}

impl Case {
    fn loss(&mut self, beta: f32) -> mib::objectives::StepStats {
        let v: Vec<&[f32]> = self.views.iter().map(|v| &v[..]).collect();
        let e: Vec<&[f32]> = self.eps.iter().map(|v| &v[..]).collect();
        self.step
            .gradients_with_noise_masked(&v, Some(&self.present), None, self.batch, beta, &e)
            .unwrap()
    }

    /// The masked loss with plain loops: for each view pair, the items having both views; its
    /// term is `-InfoNCE + beta * SKL` on those items; terms weighted by their item counts.
    fn reference(&mut self, beta: f32, mib: bool) -> f64 {
        let (b, zd) = (self.batch, 3);
        let mut z = Vec::new();
        let mut mu = Vec::new();
        let mut sd = Vec::new();
        for v in 0..self.dims.len() {
            let (mut m, mut s) = (vec![0.0; b * zd], vec![0.0; b * zd]);
            self.step
                .encode_posterior(v, &self.views[v], b, &mut m, &mut s)
                .unwrap();
            let zz: Vec<f64> = (0..b * zd)
                .map(|k| m[k] as f64 + s[k] as f64 * self.eps[v][k] as f64)
                .collect();
            z.push(zz);
            mu.push(m);
            sd.push(s);
        }
        let k = self.dims.len();
        let mut terms = Vec::new();
        for i in 0..k {
            for j in i + 1..k {
                let items: Vec<usize> = (0..b)
                    .filter(|&r| self.present[i * b + r] == 1 && self.present[j * b + r] == 1)
                    .collect();
                let m = items.len();
                if m < 2 {
                    continue;
                }
                let unit = |zv: &Vec<f64>, r: usize| -> Vec<f64> {
                    let row = &zv[r * zd..(r + 1) * zd];
                    let n = row.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-8);
                    row.iter().map(|x| x / n).collect()
                };
                let mut t = vec![vec![0.0f64; m]; m];
                for (a, &ra) in items.iter().enumerate() {
                    for (c, &rc) in items.iter().enumerate() {
                        let (x, y) = (unit(&z[i], ra), unit(&z[j], rc));
                        t[a][c] = x.iter().zip(&y).map(|(p, q)| p * q).sum::<f64>() / 0.5;
                    }
                }
                let lse = |xs: Vec<f64>| {
                    let mx = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    mx + xs.iter().map(|x| (x - mx).exp()).sum::<f64>().ln()
                };
                let (mut rows, mut cols) = (0.0, 0.0);
                for a in 0..m {
                    rows += t[a][a] - lse(t[a].clone());
                    cols += t[a][a] - lse((0..m).map(|c| t[c][a]).collect());
                }
                let ln_m = (m as f64).ln();
                let infonce = 0.5 * ((ln_m + rows / m as f64) + (ln_m + cols / m as f64));
                let mut skl = 0.0;
                for &r in &items {
                    for c in 0..zd {
                        let (m1, s1) = (mu[i][r * zd + c] as f64, sd[i][r * zd + c] as f64);
                        let (m2, s2) = (mu[j][r * zd + c] as f64, sd[j][r * zd + c] as f64);
                        let kl = |m1: f64, s1: f64, m2: f64, s2: f64| {
                            (s2 / s1).ln() + (s1 * s1 + (m1 - m2).powi(2)) / (2.0 * s2 * s2) - 0.5
                        };
                        skl += 0.5 * (kl(m1, s1, m2, s2) + kl(m2, s2, m1, s1));
                    }
                }
                skl /= m as f64;
                let term = -infonce + if mib { beta as f64 * skl } else { 0.0 };
                terms.push((m, term));
            }
        }
        let total: usize = terms.iter().map(|t| t.0).sum();
        terms
            .iter()
            .map(|&(m, t)| m as f64 / total as f64 * t)
            .sum()
    }
}

/// 3 views x 6 items: item 0 has all views, 1 lacks view 2, 2 lacks view 0, 3 lacks view 1,
/// 4 has views 0 and 2, 5 has only view 1 (it contributes to no pair).
fn mask() -> Vec<u8> {
    vec![
        1, 1, 0, 1, 1, 0, // view 0
        1, 1, 1, 0, 0, 1, // view 1
        1, 0, 1, 1, 1, 0, // view 2
    ]
}

#[test]
fn masked_loss_matches_a_slow_reference() {
    for (obj, mib) in [
        (ObjectiveKind::Mib, true),
        (ObjectiveKind::MvInfomax, false),
    ] {
        let mut c = case(&sep_cfg(obj), mask());
        let beta = 0.7;
        let got = c.loss(beta).loss as f64;
        let want = c.reference(beta, mib);
        assert!(
            (got - want).abs() < 1e-4 * want.abs().max(1.0),
            "{obj:?}: masked loss {got} vs reference {want}"
        );
    }
    // The weights are those of the items: with one pair left of three, the loss is that pair's.
    let mut one = mask();
    one[12..18].fill(0); // drop view 2 entirely from the batch: only pair (0, 1) remains
    one[5] = 1; // item 5 gets view 0 back (still a valid batch)
    let mut c = case(&sep_cfg(ObjectiveKind::Mib), one);
    let got = c.loss(0.3).loss as f64;
    let want = c.reference(0.3, true);
    assert!(
        (got - want).abs() < 1e-4 * want.abs().max(1.0),
        "{got} vs {want}"
    );
}

#[test]
fn complete_mask_gives_exactly_the_unmasked_step() {
    for k in [2usize, 3] {
        let mut cfg = sep_cfg(ObjectiveKind::Mib);
        cfg.critic = CriticKind::Mlp;
        cfg.critic_hidden = vec![8];
        cfg.estimator = EstimatorKind::Jsd;
        let mut rng = MibRng::seed_from_u64(1);
        let dims = &[5usize, 4, 6][..k];
        let b = 6;
        let views: Vec<Vec<f32>> = dims.iter().map(|&d| randn(&mut rng, b * d)).collect();
        let eps: Vec<Vec<f32>> = dims.iter().map(|_| randn(&mut rng, b * 3)).collect();
        let v: Vec<&[f32]> = views.iter().map(|x| &x[..]).collect();
        let e: Vec<&[f32]> = eps.iter().map(|x| &x[..]).collect();
        let mut a = TrainStep::new(&cfg, &AdamConfig::default(), dims, 0, b, &mut rng).unwrap();
        let mut r2 = MibRng::seed_from_u64(1);
        let _ = randn(&mut r2, 0);
        let ones = vec![1u8; k * b];
        let s1 = a.gradients_with_noise(&v, None, b, 0.5, &e).unwrap();
        let g1 = a.params().grads().to_vec();
        let s2 = a
            .gradients_with_noise_masked(&v, Some(&ones), None, b, 0.5, &e)
            .unwrap();
        assert_eq!(s1.loss, s2.loss);
        assert_eq!(g1, a.params().grads());
        // and the masked path, forced by a mask with every entry set but computed pair by pair,
        // gives the same loss up to rounding: weights m_p / sum m_q = 1 / P
        let mut almost = ones.clone();
        almost[0] = 0; // item 0 lacks view 0
        let s3 = a
            .gradients_with_noise_masked(&v, Some(&almost), None, b, 0.5, &e)
            .unwrap();
        assert!(s3.loss.is_finite() && s3.loss != s1.loss);
    }
}

#[test]
fn masked_gradients_match_finite_differences() {
    let mut cfg = sep_cfg(ObjectiveKind::Mib);
    cfg.critic = CriticKind::Mlp;
    cfg.critic_hidden = vec![6];
    cfg.estimator = EstimatorKind::Jsd;
    for estimator in [EstimatorKind::Jsd, EstimatorKind::InfoNce] {
        cfg.estimator = estimator;
        let mut c = case(&cfg, mask());
        let beta = 0.7;
        c.loss(beta);
        let grads = c.step.params().grads().to_vec();
        let gmax = grads.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
        assert!(gmax > 0.0);
        let n = grads.len();
        let mut worst = 0.0f64;
        for i in (0..n).step_by((n / 80).max(1)) {
            let p0 = c.step.params().values()[i];
            let h = 1e-3f32;
            c.step.params_mut().values_mut()[i] = p0 + h;
            let a = c.loss(beta).loss as f64;
            c.step.params_mut().values_mut()[i] = p0 - h;
            let b = c.loss(beta).loss as f64;
            c.step.params_mut().values_mut()[i] = p0;
            let num = (a - b) / (2.0 * h as f64);
            worst = worst.max((num - grads[i] as f64).abs() / gmax);
        }
        assert!(
            worst < 5e-3,
            "{estimator:?}: worst FD error {worst} of {gmax}"
        );
    }
}

fn dataset(n: usize, seed: u64) -> MultiViewDataset {
    let mut rng = MibRng::seed_from_u64(seed);
    let views = [4usize, 3, 5]
        .iter()
        .map(|&d| Matrix::new(n, d, randn(&mut rng, n * d)).unwrap())
        .collect();
    MultiViewDataset::new(views, Some((0..n as u32).map(|i| i % 2).collect()), None).unwrap()
}

#[test]
fn nan_rows_become_missing_items_and_other_nans_stay_errors() {
    let mut ds = dataset(6, 0);
    ds.views[1].row_mut(2).fill(f32::NAN);
    let names = ds.view_names.clone();
    // without nan-rows, the NaN is an error naming view, row and column
    let e = MultiViewDataset::new(ds.views.clone(), None, None).unwrap_err();
    assert!(
        e.to_string().contains("view 1") && e.to_string().contains("row 2"),
        "{e}"
    );
    let mut views = ds.views.clone();
    let p = mark_missing(&mut views, &names, MissingRows::NanRows, &[])
        .unwrap()
        .unwrap();
    assert_eq!(p[1], [true, true, false, true, true, true]);
    assert!(views[1].row(2).iter().all(|&x| x == 0.0));
    // a NaN in a row that is not entirely NaN is still an error
    let mut views = dataset(6, 0).views;
    views[2].row_mut(4)[1] = f32::NAN;
    let p = mark_missing(&mut views, &names, MissingRows::NanRows, &[]).unwrap();
    assert!(p.is_none());
    let e = MultiViewDataset::new(views, None, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("view 2") && e.contains("row 4") && e.contains("column 1"),
        "{e}"
    );
}

#[test]
fn bad_masks_are_refused_naming_the_view_or_item() {
    let ds = dataset(6, 0);
    let names = ds.view_names.clone();
    let mut views = ds.views.clone();
    let e = mark_missing(
        &mut views,
        &names,
        MissingRows::None,
        &[None, Some(vec![true; 5]), None],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("view1") && e.contains("5 entries"), "{e}");
    let all = |v: bool| vec![v; 6];
    let e = ds
        .clone()
        .with_present(Some(vec![all(true), all(false), all(true)]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("view `view1` has no present item"), "{e}");
    let mut m0 = all(true);
    m0[3] = false;
    let mut m1 = all(true);
    m1[3] = false;
    let mut m2 = all(true);
    m2[3] = false;
    let e = ds
        .clone()
        .with_present(Some(vec![m0, m1, m2]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("item 3 has no view"), "{e}");
    // views 0 and 2 share one item only
    let m0 = vec![true, true, true, false, false, false];
    let m1 = all(true);
    let m2 = vec![false, false, true, true, true, true];
    let ok = ds.clone().with_present(Some(vec![m0, m1, m2])).unwrap();
    let e = ok.check_shared_items(&[0, 1, 2]).unwrap_err().to_string();
    assert!(e.contains("`view0` and `view2` share 1 item"), "{e}");
    assert!(ok.check_shared_items(&[0, 1]).is_ok());
}

#[test]
fn batches_hold_items_with_two_views_and_their_mask() {
    let n = 40;
    let mut p = vec![vec![true; n]; 3];
    for i in 0..n {
        match i % 4 {
            0 => p[0][i] = false,
            1 => {
                p[1][i] = false;
                p[2][i] = false; // only view 0: in no pair
            }
            _ => {}
        }
    }
    let ds = dataset(n, 1).with_present(Some(p.clone())).unwrap();
    let ds = Arc::new(ds);
    let prod = BatchProducer::new(ds.clone(), PairingConfig::Aligned, [0, 1, 2], 5, 3, 1).unwrap();
    assert_eq!(
        prod.batches_per_epoch(),
        30 / 5,
        "30 items have two views or more"
    );
    // the single-view objectives' slots [0, 0]: the items of view 0
    let single = BatchProducer::new(ds.clone(), PairingConfig::Aligned, [0, 0], 5, 3, 1).unwrap();
    assert_eq!(single.batches_per_epoch(), 30 / 5);
    for k in 0..12 {
        let b = prod.batch(k).unwrap();
        assert_eq!(b.present.len(), 3 * 5);
        for v in 0..3 {
            for r in 0..5 {
                let row = &b.views[v][r * ds.views[v].cols..(r + 1) * ds.views[v].cols];
                let has = b.present[v * 5 + r] == 1;
                assert_eq!(
                    has,
                    row.iter().any(|&x| x != 0.0),
                    "batch {k} view {v} row {r}"
                );
            }
            assert!((0..5).all(|r| (0..3).filter(|&v| b.present[v * 5 + r] == 1).count() >= 2));
        }
        let s = single.batch(k).unwrap();
        assert!(s.present[..5].iter().all(|&x| x == 1), "{:?}", s.present);
    }
    // complete data: no mask, every item
    let full = Arc::new(dataset(n, 1));
    let prod = BatchProducer::new(full, PairingConfig::Aligned, [0, 1, 2], 5, 3, 1).unwrap();
    assert!(prod.batch(0).unwrap().present.is_empty());
    assert_eq!(prod.batches_per_epoch(), 8);
}

#[test]
fn poe_fusion_matches_its_definition() {
    let mut rng = MibRng::seed_from_u64(5);
    let (n, zd) = (4, 3);
    let m = |rng: &mut MibRng| Matrix::new(n, zd, randn(rng, n * zd)).unwrap();
    let s = |rng: &mut MibRng| {
        Matrix::new(
            n,
            zd,
            (0..n * zd).map(|_| 0.2 + rng.random::<f32>()).collect(),
        )
        .unwrap()
    };
    // identical posteriors: PoE and mean both give that mean
    let (m0, s0) = (m(&mut rng), s(&mut rng));
    for f in [Fuse::Poe, Fuse::Mean] {
        let out = fuse_posteriors(
            &[m0.clone(), m0.clone()],
            &[s0.clone(), s0.clone()],
            None,
            f,
        )
        .unwrap();
        for (a, b) in out.data.iter().zip(m0.data.iter()) {
            assert!((a - b).abs() < 1e-6);
        }
    }
    // one view missing: that item's representation is the other view's
    let (m1, s1) = (m(&mut rng), s(&mut rng));
    let present = vec![vec![true, false, true, true], vec![true, true, false, true]];
    let out = fuse_posteriors(
        &[m0.clone(), m1.clone()],
        &[s0.clone(), s1.clone()],
        Some(&present),
        Fuse::Poe,
    )
    .unwrap();
    assert_eq!(out.row(1), m1.row(1));
    assert_eq!(out.row(2), m0.row(2));
    // both present: precision-weighted mean, coordinate by coordinate
    for i in [0usize, 3] {
        for c in 0..zd {
            let (p0, p1) = (1.0 / s0.row(i)[c].powi(2), 1.0 / s1.row(i)[c].powi(2));
            let want = (p0 * m0.row(i)[c] + p1 * m1.row(i)[c]) / (p0 + p1);
            assert!((out.row(i)[c] - want).abs() < 1e-5);
        }
    }
    let e = fuse_posteriors(
        &[m0.clone(), m1.clone()],
        &[s0, s1],
        Some(&[
            vec![true, false, true, true],
            vec![true, false, false, true],
        ]),
        Fuse::Mean,
    )
    .unwrap_err();
    assert!(e.to_string().contains("item 1 has no view"), "{e}");
}

fn write_f32(path: &Path, m: &Matrix) {
    let a = RawArray {
        shape: vec![m.rows, m.cols],
        data: Elements::F32(m.data.to_vec()),
    };
    write_npy(path, &a).unwrap();
}

/// Three mfeat views as .npy files, with about a third of the (item, view) entries missing
/// (every item keeps one view or more): masks as files, and one view's missing rows as NaN.
fn npy_data(dir: &Path) -> TrainConfig {
    let splits = mib::data::load_named(
        "mfeat",
        None,
        Some(&["fou".to_string(), "kar".to_string(), "zer".to_string()]),
    )
    .unwrap();
    let ds = &splits.train;
    let n = ds.len();
    let mut rng = MibRng::seed_from_u64(11);
    let mut present = vec![vec![true; n]; 3];
    for i in 0..n {
        for v in 0..3 {
            if rng.random::<f32>() < 0.35 {
                present[v][i] = false;
            }
        }
        if !present.iter().any(|p| p[i]) {
            present[i % 3][i] = true;
        }
    }
    let mut views = Vec::new();
    let mut masks = Vec::new();
    for (v, name) in ["fou", "kar", "zer"].iter().enumerate() {
        let mut m = ds.views[v].clone();
        if v == 2 {
            for i in 0..n {
                if !present[v][i] {
                    m.row_mut(i).fill(f32::NAN);
                }
            }
        }
        let p = dir.join(format!("{name}.npy"));
        write_f32(&p, &m);
        views.push(p.display().to_string());
        let mp = dir.join(format!("{name}_present.npy"));
        let a = RawArray {
            shape: vec![n],
            data: Elements::U8(present[v].iter().map(|&b| b as u8).collect()),
        };
        write_npy(&mp, &a).unwrap();
        // view 2 says its missing items by NaN rows only
        masks.push(if v == 2 { PathBuf::new() } else { mp });
    }
    let labels = dir.join("labels.npy");
    write_npy(
        &labels,
        &RawArray {
            shape: vec![n],
            data: Elements::I64(
                ds.labels
                    .as_ref()
                    .unwrap()
                    .iter()
                    .map(|&y| y as i64)
                    .collect(),
            ),
        },
    )
    .unwrap();
    let mut cfg = TrainConfig::from_toml_str(
        r#"seed = 3
[data]
dataset = "npy"
missing = "nan-rows"
pairing = { kind = "aligned" }
[model]
objective = "mib"
encoder_hidden = [32]
z_dim = 8
shared_encoder = false
critic_hidden = [32]
[beta]
kind = "constant"
value = 0.01
[train]
iterations = 40
batch_size = 32
threads = 1
log_every = 5
checkpoint_every = 10
keep_checkpoints = 100
"#,
        "missing.toml",
    )
    .unwrap();
    cfg.data.views = views;
    cfg.data.present = masks;
    cfg.data.labels = Some(labels);
    cfg
}

struct StopAt(u64);
impl TrainObserver for StopAt {
    fn should_stop(&mut self, it: u64) -> bool {
        it >= self.0
    }
}

fn metrics(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("wall_s");
            v.as_object_mut().unwrap().remove("it_per_s");
            v.to_string()
        })
        .collect()
}

#[test]
fn training_with_masks_resumes_exactly_and_fuses() {
    let dir = tmp("resume");
    let cfg = npy_data(&dir);
    let data = load_splits(&cfg).unwrap();
    assert!(data.train.has_missing() && data.test.has_missing());
    let reference = dir.join("reference");
    let (s, mut model) = train::train(
        &cfg,
        &data,
        &reference,
        &RunOptions::default(),
        &mut NoObserver,
    )
    .unwrap();
    assert_eq!(s.iterations, 40);
    let want = metrics(&reference);
    assert_eq!(want.len(), 8);
    assert!(want.iter().all(|l| !l.contains("null")), "{want:?}");

    let run = dir.join("stopped");
    let opts = RunOptions::default();
    train::train(&cfg, &data, &run, &opts, &mut StopAt(13)).unwrap();
    let resume = RunOptions {
        resume: true,
        ..RunOptions::default()
    };
    train::train(&cfg, &data, &run, &resume, &mut StopAt(27)).unwrap();
    train::train(&cfg, &data, &run, &resume, &mut NoObserver).unwrap();
    assert_eq!(metrics(&run), want);
    let bytes = |p: &Path| std::fs::read(p.join("encoder.safetensors")).unwrap();
    assert_eq!(bytes(&run), bytes(&reference));

    // one representation per test item, from the views it has
    let test = &data.test;
    for fuse in [Fuse::Poe, Fuse::Mean] {
        let z = model.embed_dataset_fused(test, fuse).unwrap();
        assert_eq!((z.rows, z.cols), (test.len(), 8));
        assert!(z.data.iter().all(|x| x.is_finite()));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn config_refusals_name_the_key() {
    let dir = tmp("refusals");
    let mut cfg = npy_data(&dir);
    cfg.data.present.pop();
    let e = cfg.validate().unwrap_err().to_string();
    assert!(e.contains("data.present"), "{e}");
    let mut cfg = npy_data(&dir);
    cfg.data.dataset = "mfeat".into();
    let e = cfg.validate().unwrap_err().to_string();
    assert!(
        e.contains("data.missing") || e.contains("data.present"),
        "{e}"
    );
    // a mask of the wrong length names the view
    let cfg = npy_data(&dir);
    let short = dir.join("short.npy");
    write_npy(
        &short,
        &RawArray {
            shape: vec![3],
            data: Elements::U8(vec![1, 0, 1]),
        },
    )
    .unwrap();
    let mut bad = cfg.clone();
    bad.data.present[1] = short;
    let e = load_splits(&bad).unwrap_err().to_string();
    assert!(e.contains("`kar`") && e.contains("3 entries"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
