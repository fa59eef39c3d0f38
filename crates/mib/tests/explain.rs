//! Feature attributions and permutation tests on synthetic views where the answer is known: one
//! latent factor `s` planted in columns 2 and 7 of view 0 and column 3 of view 1, every other
//! column independent noise. After a short MIB training the planted columns must be the most
//! attributed (gradient x input, integrated gradients) and have the largest loadings; the input
//! gradients must match finite differences of the embedding; the learned dependence must be
//! significant, and that of a model trained on unrelated views must not.

use std::sync::Arc;

use mib::config::TrainConfig;
use mib::data::{MultiViewDataset, ScalingChoice, ScalingConfig};
use mib::estimators::{CriticKind, EstimatorKind};
use mib::eval::{
    mi_permutation_test, probe_permutation_test, AttributionMethod, LinearProbeParams,
};
use mib::models::TrainedModel;
use mib::objectives::{EncoderConfig, EncoderNorm};
use mib::train::{fit, NoObserver};
use mib::{Matrix, MibRng};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

const D0: usize = 10;
const D1: usize = 8;
const PLANTED0: [usize; 2] = [2, 7];
const PLANTED1: usize = 3;

struct Synthetic {
    views: [Matrix; 2],
    labels: Vec<u32>,
}

/// `n` items: `s ~ N(0, 1)`; view 0 column 2 = `s + 0.1 e`, column 7 = `-s + 0.1 e`, others
/// `N(0, 1)`; view 1 column 3 = `s + 0.1 e`, others `N(0, 1)`; both views then shifted and
/// stretched per column (so the input scaling matters). Labels: `s > 0`. `related = false`
/// replaces view 1's planted column by an independent factor.
fn synthetic(n: usize, seed: u64, related: bool) -> Synthetic {
    let mut rng = MibRng::seed_from_u64(seed);
    let mut g = || -> f32 { rng.sample(StandardNormal) };
    let (mut a, mut b, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let s = g();
        let t = if related { s } else { g() };
        for j in 0..D0 {
            let v = match j {
                2 => s + 0.1 * g(),
                7 => -s + 0.1 * g(),
                _ => g(),
            };
            a.push(3.0 + (1.0 + j as f32) * v);
        }
        for j in 0..D1 {
            let v = if j == PLANTED1 { t + 0.1 * g() } else { g() };
            b.push(-1.0 + 0.5 * (1.0 + j as f32) * v);
        }
        labels.push((s > 0.0) as u32);
    }
    Synthetic {
        views: [
            Matrix::new(n, D0, a).unwrap(),
            Matrix::new(n, D1, b).unwrap(),
        ],
        labels,
    }
}

fn config() -> TrainConfig {
    let mut cfg = TrainConfig::default();
    cfg.model.encoder_hidden = vec![32];
    cfg.model.z_dim = 2;
    cfg.model.shared_encoder = false;
    cfg.model.critic = CriticKind::Separable;
    cfg.model.estimator = EstimatorKind::InfoNce;
    cfg.train.iterations = 400;
    cfg.train.batch_size = 64;
    cfg.train.threads = 2;
    cfg.train.log_every = 400;
    cfg.train.checkpoint_every = 400;
    cfg.eval.every = 0;
    cfg.optim.lr = 3e-3;
    cfg.beta = mib::train::schedule::BetaSchedule::Constant { value: 1e-2 };
    cfg.data.scaling = ScalingConfig::One(ScalingChoice::Standardize);
    cfg
}

fn train(data: &Synthetic, cfg: &TrainConfig) -> TrainedModel {
    let ds = MultiViewDataset::new(data.views.to_vec(), Some(data.labels.clone()), None).unwrap();
    fit(cfg, Arc::new(ds), None, None, &mut NoObserver)
        .unwrap()
        .model
}

fn sorted(mut v: Vec<usize>) -> Vec<usize> {
    v.sort_unstable();
    v
}

/// Indices of the `top` largest values.
fn top(v: &[f32], top: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[b].total_cmp(&v[a]));
    idx.truncate(top);
    sorted(idx)
}

/// Largest `|loading|` of each feature over the latent dimensions.
fn max_abs_loading(l: &Matrix) -> Vec<f32> {
    (0..l.rows)
        .map(|j| l.row(j).iter().fold(0f32, |m, v| m.max(v.abs())))
        .collect()
}

#[test]
fn planted_columns_are_the_most_attributed() {
    let train_data = synthetic(1000, 1, true);
    let test = synthetic(300, 2, true);
    let mut model = train(&train_data, &config());
    assert!(
        !model.scaling().is_empty(),
        "the run standardised its views"
    );
    for method in [
        AttributionMethod::GradXInput,
        AttributionMethod::IntegratedGradients { steps: 16 },
    ] {
        let a0 = model
            .feature_attribution(0, &test.views[0], method)
            .unwrap();
        let a1 = model
            .feature_attribution(1, &test.views[1], method)
            .unwrap();
        assert_eq!((a0.importance.rows, a0.importance.cols), (D0, 2));
        assert_eq!((a1.loadings.rows, a1.loadings.cols), (D1, 2));
        assert_eq!(a0.n_items, 300);
        let t0 = a0.total_importance();
        let t1 = a1.total_importance();
        eprintln!("{method:?}: view 0 {t0:?}\n  view 1 {t1:?}");
        assert_eq!(top(&t0, 2), PLANTED0.to_vec(), "{method:?} view 0: {t0:?}");
        assert_eq!(top(&t1, 1), vec![PLANTED1], "{method:?} view 1: {t1:?}");
        // the planted columns dominate: each above twice the largest noise column
        let noise0 = (0..D0)
            .filter(|j| !PLANTED0.contains(j))
            .map(|j| t0[j])
            .fold(0f32, f32::max);
        assert!(
            PLANTED0.iter().all(|&j| t0[j] > 2.0 * noise0),
            "{method:?}: {t0:?}"
        );
        // loadings: the planted columns correlate with the representation, the noise does not
        let l0 = max_abs_loading(&a0.loadings);
        let l1 = max_abs_loading(&a1.loadings);
        assert_eq!(top(&l0, 2), PLANTED0.to_vec(), "loadings view 0: {l0:?}");
        assert_eq!(top(&l1, 1), vec![PLANTED1], "loadings view 1: {l1:?}");
        assert!(PLANTED0.iter().all(|&j| l0[j] > 0.8), "{l0:?}");
        // column 7 holds -s: its loading has the opposite sign of column 2's on the strongest
        // dimension
        let k = (0..2)
            .max_by(|&a, &b| {
                a0.loadings.data[2 * 2 + a]
                    .abs()
                    .total_cmp(&a0.loadings.data[2 * 2 + b].abs())
            })
            .unwrap();
        assert!(a0.loadings.data[2 * 2 + k] * a0.loadings.data[7 * 2 + k] < 0.0);
        assert_eq!(a0.top_features(k, 2).len(), 2);
        match method {
            AttributionMethod::GradXInput => assert!(a0.completeness_gap.is_none()),
            AttributionMethod::IntegratedGradients { .. } => {
                // completeness: attributions sum to mu(x) - mu(baseline), up to the Riemann sum
                let gap = a0.completeness_gap.unwrap();
                assert!(gap < 0.05, "completeness gap {gap}");
            }
        }
    }

    // the input gradients of the trained, input-scaled model against finite differences
    check_jacobian(&mut model, 0, &test.views[0].head(3), 1e-3);
    check_jacobian(&mut model, 1, &test.views[1].head(3), 1e-3);
}

/// `mean_jacobian` against central differences of `embed`, relative to the largest entry.
fn check_jacobian(model: &mut TrainedModel, view: usize, x: &Matrix, h: f32) {
    let jac = model.mean_jacobian(view, x).unwrap();
    let zd = model.z_dim();
    let mut worst = 0f32;
    let mut scale = 0f32;
    for (i, jm) in jac.iter().enumerate() {
        assert_eq!((jm.rows, jm.cols), (zd, x.cols));
        for j in 0..x.cols {
            let mut plus = x.row(i).to_vec();
            let mut minus = plus.clone();
            plus[j] += h;
            minus[j] -= h;
            let zp = model
                .embed(view, &Matrix::new(1, x.cols, plus).unwrap())
                .unwrap();
            let zm = model
                .embed(view, &Matrix::new(1, x.cols, minus).unwrap())
                .unwrap();
            for k in 0..zd {
                let fd = (zp.data[k] - zm.data[k]) / (2.0 * h);
                let an = jm.data[k * x.cols + j];
                worst = worst.max((fd - an).abs());
                scale = scale.max(an.abs());
            }
        }
    }
    assert!(scale > 0.0);
    assert!(
        worst <= 2e-2 * scale,
        "view {view}: |analytic - finite difference| up to {worst}, largest entry {scale}"
    );
}

/// The backward pass through every encoder kind (MLP, MLP with layer norm, conv with norms) of an
/// untrained model against finite differences.
#[test]
fn input_gradients_match_finite_differences() {
    let mut rng = MibRng::seed_from_u64(9);
    let mut randn = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.sample(StandardNormal)).collect() };
    let mut cfg = config();
    cfg.model.z_dim = 3;
    cfg.model.encoder_hidden = vec![12, 9];
    for norm in [EncoderNorm::None, EncoderNorm::Layer] {
        cfg.model.encoder_norm = norm;
        let mut m = TrainedModel::untrained(&cfg, &[D0, D1], 0, Vec::new(), 1).unwrap();
        let x0 = Matrix::new(4, D0, randn(4 * D0)).unwrap();
        let x1 = Matrix::new(4, D1, randn(4 * D1)).unwrap();
        check_jacobian(&mut m, 0, &x0, 1e-3);
        check_jacobian(&mut m, 1, &x1, 1e-3);
    }
    let mut enc = EncoderConfig::conv(vec![3, 4], [2, 3, 4]);
    enc.strides = vec![1, 2];
    enc.norm = true;
    cfg.model.encoder = Some(enc);
    cfg.model.encoder_norm = EncoderNorm::None;
    cfg.model.encoder_hidden = vec![7];
    let mut m = TrainedModel::untrained(&cfg, &[24, 24], 0, Vec::new(), 1).unwrap();
    let x = Matrix::new(3, 24, randn(3 * 24)).unwrap();
    check_jacobian(&mut m, 0, &x, 1e-3);
    check_jacobian(&mut m, 1, &x, 1e-3);
    // the attribution map of an image encoder has one row per pixel
    let a = m
        .feature_attribution(0, &x, AttributionMethod::GradXInput)
        .unwrap();
    assert_eq!((a.importance.rows, a.importance.cols), (24, 3));
}

#[test]
fn attribution_errors_name_the_problem() {
    let cfg = config();
    let mut m = TrainedModel::untrained(&cfg, &[D0, D1], 0, Vec::new(), 1).unwrap();
    let e = m
        .feature_attribution(2, &Matrix::zeros(3, D0), AttributionMethod::GradXInput)
        .unwrap_err()
        .to_string();
    assert!(e.contains("view") && e.contains('2'), "{e}");
    let e = m
        .feature_attribution(0, &Matrix::zeros(3, D1), AttributionMethod::GradXInput)
        .unwrap_err()
        .to_string();
    assert!(e.contains("columns of view 0"), "{e}");
    let e = m
        .feature_attribution(
            0,
            &Matrix::zeros(3, D0),
            AttributionMethod::IntegratedGradients { steps: 0 },
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("steps"), "{e}");
    let e = m
        .feature_attribution(0, &Matrix::zeros(0, D0), AttributionMethod::GradXInput)
        .unwrap_err()
        .to_string();
    assert!(e.contains("rows"), "{e}");
}

#[test]
fn related_views_are_significant_and_unrelated_ones_are_not() {
    let n_perm = 19;
    let cfg = config();
    // related: the planted factor is shared
    let tr = synthetic(1000, 1, true);
    let te = synthetic(300, 3, true);
    let mut model = train(&tr, &cfg);
    let views = [&te.views[0], &te.views[1]];
    let t = mi_permutation_test(&mut model, &views, n_perm, 5).unwrap();
    eprintln!("related: {}", t.summary_line());
    assert_eq!(t.n_permutations, n_perm);
    assert_eq!(t.null.len(), n_perm);
    assert!(t.observed > t.null_max, "{t:?}");
    assert!((t.p_value - 1.0 / 20.0).abs() < 1e-12, "{t:?}");
    // the same seed gives the same null
    let again = mi_permutation_test(&mut model, &views, n_perm, 5).unwrap();
    assert_eq!(again.null, t.null);

    let ztr = model.embed(0, &tr.views[0]).unwrap();
    let zte = model.embed(0, &te.views[0]).unwrap();
    let p = probe_permutation_test(
        &ztr,
        &tr.labels,
        &zte,
        &te.labels,
        2,
        &LinearProbeParams::default(),
        n_perm,
        5,
    )
    .unwrap();
    eprintln!("related: {}", p.summary_line());
    assert!(p.observed > 0.85, "{p:?}");
    assert!((p.p_value - 1.0 / 20.0).abs() < 1e-12, "{p:?}");

    // unrelated: view 1's planted column follows an independent factor; the labels are coin flips
    let tr = synthetic(1000, 1, false);
    let te = synthetic(300, 3, false);
    let mut model = train(&tr, &cfg);
    let t = mi_permutation_test(&mut model, &[&te.views[0], &te.views[1]], n_perm, 5).unwrap();
    eprintln!("unrelated: {}", t.summary_line());
    assert!(t.p_value > 0.2, "{t:?}");
    let mut rng = MibRng::seed_from_u64(11);
    let coin = |n: usize, rng: &mut MibRng| -> Vec<u32> {
        (0..n).map(|_| rng.random_range(0..2)).collect()
    };
    let (ytr, yte) = (coin(1000, &mut rng), coin(300, &mut rng));
    let ztr = model.embed(0, &tr.views[0]).unwrap();
    let zte = model.embed(0, &te.views[0]).unwrap();
    let p = probe_permutation_test(
        &ztr,
        &ytr,
        &zte,
        &yte,
        2,
        &LinearProbeParams::default(),
        n_perm,
        5,
    )
    .unwrap();
    eprintln!("unrelated: {}", p.summary_line());
    assert!(p.p_value > 0.2, "{p:?}");
}

#[test]
fn permutation_errors_name_the_problem() {
    let cfg = config();
    let mut m = TrainedModel::untrained(&cfg, &[D0, D1], 0, Vec::new(), 1).unwrap();
    let x0 = Matrix::zeros(10, D0);
    let x1 = Matrix::zeros(10, D1);
    let e = mi_permutation_test(&mut m, &[&x0, &x1], 0, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("permutations") && e.contains('0'), "{e}");
    // a view that does not exist: three views for a two-view model is fine (extra ignored),
    // one view is not
    let e = mi_permutation_test(&mut m, &[&x0], 5, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("views"), "{e}");
    let e = mi_permutation_test(&mut m, &[&x1, &x0], 5, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("columns of view 0"), "{e}");
    let mut vae = config();
    vae.model.objective = mib::objectives::ObjectiveKind::Vae;
    vae.model.critic = CriticKind::Mlp;
    vae.model.estimator = EstimatorKind::Jsd;
    let mut m = TrainedModel::untrained(&vae, &[D0, D0], 0, Vec::new(), 1).unwrap();
    let e = mi_permutation_test(&mut m, &[&x0, &x0], 5, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("vae") && e.contains("critic"), "{e}");
    let z = Matrix::zeros(4, 2);
    let e = probe_permutation_test(
        &z,
        &[0, 1, 0, 1],
        &z,
        &[0, 1, 0, 1],
        2,
        &LinearProbeParams::default(),
        0,
        0,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("permutations"), "{e}");
}
