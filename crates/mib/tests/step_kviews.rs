//! The K-view step (MIB and MV-InfoMax over `K > 2` views) against a slow reference: the mean, over
//! the `K (K - 1) / 2` view pairs, of two-view steps (themselves checked against PyTorch in
//! `golden.rs`) built from the same parameters, noise and inputs. Loss, logged parts and every
//! gradient must agree; finite differences check the K-view gradients directly; the errors of bad
//! view counts and widths name the field.
// Index loops over parallel buffers.
#![allow(clippy::needless_range_loop)]

use mib::estimators::{CriticKind, EstimatorKind};
use mib::objectives::{encoder_name, AdamConfig, ModelConfig, ObjectiveKind, SklKind, TrainStep};
use mib::MibRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use std::collections::HashMap;

fn randn(rng: &mut MibRng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| rng.sample::<f32, _>(StandardNormal))
        .collect()
}

fn tiny(objective: ObjectiveKind) -> ModelConfig {
    ModelConfig {
        objective,
        encoder_hidden: vec![9, 8],
        z_dim: 3,
        critic_hidden: vec![10],
        temperature: 0.5,
        ..ModelConfig::default()
    }
}

const BATCH: usize = 5;
const BETA: f32 = 0.7;

struct Inputs {
    views: Vec<Vec<f32>>,
    eps: Vec<Vec<f32>>,
}

fn inputs(in_dims: &[usize], z_dim: usize, seed: u64) -> Inputs {
    let mut rng = MibRng::seed_from_u64(seed);
    Inputs {
        views: in_dims
            .iter()
            .map(|&d| (0..BATCH * d).map(|_| rng.random::<f32>()).collect())
            .collect(),
        eps: in_dims
            .iter()
            .map(|_| randn(&mut rng, BATCH * z_dim))
            .collect(),
    }
}

fn step_for(cfg: &ModelConfig, in_dims: &[usize], seed: u64) -> TrainStep {
    let mut rng = MibRng::seed_from_u64(seed);
    TrainStep::new(cfg, &AdamConfig::default(), in_dims, 0, BATCH, &mut rng).unwrap()
}

fn refs(v: &[Vec<f32>]) -> Vec<&[f32]> {
    v.iter().map(|x| &x[..]).collect()
}

/// Gradients by parameter name.
fn grads_by_name(step: &TrainStep) -> HashMap<String, Vec<f32>> {
    let p = step.params();
    p.entries()
        .iter()
        .map(|e| (e.name.clone(), p.grads()[e.range()].to_vec()))
        .collect()
}

/// The slow reference: for each pair (i, j), a two-view step holding the K-view model's encoders of
/// views i and j and its critic, run on those views and noises; loss, parts and gradients averaged
/// over the pairs, encoder gradients mapped back to the K-view encoders.
fn pairwise_reference(
    cfg: &ModelConfig,
    kstep: &TrainStep,
    x: &Inputs,
) -> (f64, f64, f64, f64, HashMap<String, Vec<f64>>) {
    let k = x.views.len();
    let dims: Vec<usize> = kstep.in_dims().to_vec();
    let shared = cfg.shared_encoder;
    let kname = |v: usize| {
        if shared {
            encoder_name(0)
        } else {
            encoder_name(v)
        }
    };
    let mut grads: HashMap<String, Vec<f64>> = kstep
        .params()
        .entries()
        .iter()
        .map(|e| (e.name.clone(), vec![0.0; e.len()]))
        .collect();
    let pairs: Vec<(usize, usize)> = (0..k)
        .flat_map(|i| (i + 1..k).map(move |j| (i, j)))
        .collect();
    let w = 1.0 / pairs.len() as f64;
    let (mut loss, mut mi, mut mi_est, mut skl) = (0.0, 0.0, 0.0, 0.0);
    for &(i, j) in &pairs {
        let mut two = step_for(cfg, &[dims[i], dims[j]], 99);
        // name in the two-view step -> name in the K-view step
        let map = |name: &str| -> String {
            if let Some(rest) = name.strip_prefix("encoder_v2.") {
                format!("{}.{rest}", kname(j))
            } else if let Some(rest) = name.strip_prefix("encoder.") {
                format!("{}.{rest}", kname(i))
            } else {
                name.to_string()
            }
        };
        let names: Vec<String> = two
            .params()
            .entries()
            .iter()
            .map(|e| e.name.clone())
            .collect();
        for n in &names {
            let src = kstep.params().get(&map(n)).unwrap().to_vec();
            two.params_mut().get_mut(n).unwrap().copy_from_slice(&src);
        }
        let st = two
            .gradients_with_noise(
                &[&x.views[i], &x.views[j]],
                None,
                BATCH,
                BETA,
                &[&x.eps[i], &x.eps[j]],
            )
            .unwrap();
        loss += w * st.loss as f64;
        mi += w * st.mi_surrogate as f64;
        mi_est += w * st.mi_estimate as f64;
        skl += w * st.skl as f64;
        for n in &names {
            let g = two.params().grad(n).unwrap();
            for (acc, &v) in grads.get_mut(&map(n)).unwrap().iter_mut().zip(g) {
                *acc += w * v as f64;
            }
        }
    }
    (loss, mi, mi_est, skl, grads)
}

fn check_against_reference(cfg: &ModelConfig, in_dims: &[usize]) {
    let x = inputs(in_dims, cfg.z_dim, 7);
    let mut step = step_for(cfg, in_dims, 3);
    assert_eq!(step.n_views(), in_dims.len());
    assert_eq!(
        step.view_pairs().len(),
        in_dims.len() * (in_dims.len() - 1) / 2
    );
    let st = step
        .gradients_with_noise(&refs(&x.views), None, BATCH, BETA, &refs(&x.eps))
        .unwrap();
    let (loss, mi, mi_est, skl, want) = pairwise_reference(cfg, &step, &x);
    let what = format!(
        "{:?}/{:?}/{:?}/{:?}/shared={}/K={}",
        cfg.objective,
        cfg.critic,
        cfg.estimator,
        cfg.skl,
        cfg.shared_encoder,
        in_dims.len()
    );
    let close = |a: f32, b: f64| (a as f64 - b).abs() <= 1e-5 * (1.0 + b.abs());
    assert!(close(st.loss, loss), "{what}: loss {} vs {loss}", st.loss);
    assert!(
        close(st.mi_surrogate, mi),
        "{what}: mi {} vs {mi}",
        st.mi_surrogate
    );
    assert!(close(st.mi_estimate, mi_est), "{what}: estimate");
    assert!(close(st.skl, skl), "{what}: skl {} vs {skl}", st.skl);
    let got = grads_by_name(&step);
    let gmax = want.values().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(gmax > 0.0, "{what}");
    let mut worst = 0.0f64;
    for (name, w) in &want {
        let g = &got[name];
        assert_eq!(g.len(), w.len(), "{name}");
        for (a, b) in g.iter().zip(w) {
            worst = worst.max((*a as f64 - b).abs() / gmax);
        }
    }
    eprintln!("{what}: worst gradient error {worst:.2e} of max |grad| {gmax:.3}");
    assert!(worst < 1e-5, "{what}: worst gradient error {worst:.2e}");
    // every encoder and the critic get a gradient
    for e in step.params().entries() {
        if e.name.ends_with(".weight") && e.name.contains("layers.0") {
            assert!(got[&e.name].iter().any(|v| *v != 0.0), "{what}: {}", e.name);
        }
    }
}

#[test]
fn k_view_step_is_the_mean_of_its_two_view_pairs() {
    use CriticKind::*;
    use EstimatorKind::*;
    let mut cases: Vec<(ModelConfig, Vec<usize>)> = Vec::new();
    for obj in [ObjectiveKind::Mib, ObjectiveKind::MvInfomax] {
        for (critic, est) in [(Mlp, Jsd), (Mlp, Nwj), (Mlp, InfoNce), (Separable, InfoNce)] {
            cases.push((
                ModelConfig {
                    critic,
                    estimator: est,
                    ..tiny(obj)
                },
                vec![6, 6, 6],
            ));
        }
    }
    let separate = ModelConfig {
        shared_encoder: false,
        ..tiny(ObjectiveKind::Mib)
    };
    cases.push((separate.clone(), vec![6, 4, 5]));
    cases.push((separate.clone(), vec![6, 4, 5, 3]));
    cases.push((
        ModelConfig {
            critic: Separable,
            estimator: InfoNce,
            ..separate.clone()
        },
        vec![6, 4, 5, 3],
    ));
    cases.push((
        ModelConfig {
            critic: Separable,
            estimator: Jsd,
            projection: vec![7, 5],
            ..separate.clone()
        },
        vec![6, 4, 5],
    ));
    cases.push((
        ModelConfig {
            skl: SklKind::ClosedForm,
            ..tiny(ObjectiveKind::Mib)
        },
        vec![6, 6, 6, 6],
    ));
    for (cfg, dims) in &cases {
        check_against_reference(cfg, dims);
    }
}

/// Central differences of the K-view loss against its gradients (independent of the two-view code).
#[test]
fn k_view_gradients_match_finite_differences() {
    for (cfg, dims) in [
        (tiny(ObjectiveKind::Mib), vec![6, 6, 6]),
        (
            ModelConfig {
                shared_encoder: false,
                critic: CriticKind::Separable,
                estimator: EstimatorKind::InfoNce,
                ..tiny(ObjectiveKind::Mib)
            },
            vec![6, 4, 5, 3],
        ),
    ] {
        let x = inputs(&dims, cfg.z_dim, 5);
        let mut step = step_for(&cfg, &dims, 4);
        let loss = |step: &mut TrainStep| -> f64 {
            step.gradients_with_noise(&refs(&x.views), None, BATCH, BETA, &refs(&x.eps))
                .unwrap()
                .loss as f64
        };
        loss(&mut step);
        let grads = step.params().grads().to_vec();
        let gmax = grads.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
        let n = grads.len();
        let mut worst = 0.0f64;
        for i in (0..n).step_by((n / 80).max(1)) {
            let p0 = step.params().values()[i];
            let h = 1e-3f32;
            step.params_mut().values_mut()[i] = p0 + h;
            let a = loss(&mut step);
            step.params_mut().values_mut()[i] = p0 - h;
            let b = loss(&mut step);
            step.params_mut().values_mut()[i] = p0;
            let num = (a - b) / (2.0 * h as f64);
            worst = worst.max((num - grads[i] as f64).abs() / gmax);
        }
        eprintln!("K={}: worst FD error {worst:.2e} of {gmax:.3}", dims.len());
        assert!(worst < 5e-3, "K={}: worst FD error {worst}", dims.len());
    }
}

/// A K-view model trains: the loss falls on views that share a signal, and a training step with
/// drawn noise is deterministic for a seed.
#[test]
fn k_view_training_lowers_the_loss_and_is_seeded() {
    let cfg = ModelConfig {
        shared_encoder: false,
        encoder_hidden: vec![32],
        critic: CriticKind::Separable,
        estimator: EstimatorKind::InfoNce,
        z_dim: 4,
        ..ModelConfig::default()
    };
    let n = 32;
    let mut rng = MibRng::seed_from_u64(8);
    // three views of one latent class signal, different widths and noise
    let classes: Vec<usize> = (0..n).map(|i| i % 4).collect();
    let dims = [8usize, 5, 6];
    let views: Vec<Vec<f32>> = dims
        .iter()
        .map(|&d| {
            (0..n * d)
                .map(|k| {
                    let (r, c) = (k / d, k % d);
                    let s = if c % 4 == classes[r] { 2.0 } else { 0.0 };
                    s + 0.3 * rng.sample::<f32, _>(StandardNormal)
                })
                .collect()
        })
        .collect();
    let run = |seed: u64| {
        let mut rng = MibRng::seed_from_u64(seed);
        let mut step = TrainStep::new(
            &cfg,
            &AdamConfig {
                lr: 1e-2,
                ..AdamConfig::default()
            },
            &dims,
            0,
            n,
            &mut rng,
        )
        .unwrap();
        let v = refs(&views);
        let first = step.step(&v, None, n, 1e-3, &mut rng).unwrap().loss;
        let mut last = first;
        for _ in 0..60 {
            last = step.step(&v, None, n, 1e-3, &mut rng).unwrap().loss;
        }
        (first, last, step.params().values().to_vec())
    };
    let (first, last, p1) = run(1);
    assert!(last < first - 0.5, "{first} -> {last}");
    assert_eq!(p1, run(1).2);
}

#[test]
fn bad_view_counts_and_widths_are_named() {
    let mut rng = MibRng::seed_from_u64(0);
    let adam = AdamConfig::default();
    for obj in [ObjectiveKind::Mib, ObjectiveKind::MvInfomax] {
        let e = TrainStep::new(&tiny(obj), &adam, &[6], 0, 4, &mut rng).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("at least 2 views"), "{msg}");
        assert!(msg.contains(obj.name()), "{msg}");
    }
    let e = TrainStep::new(&tiny(ObjectiveKind::Mib), &adam, &[6, 6, 5], 0, 4, &mut rng)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("shared_encoder") && e.contains("view 2") && e.contains('5'),
        "{e}"
    );
    let mut step = step_for(&tiny(ObjectiveKind::Mib), &[6, 6, 6], 0);
    let x = inputs(&[6, 6, 6], 3, 0);
    // two views given to a three-view model
    let e = step
        .gradients_with_noise(&refs(&x.views[..2]), None, BATCH, BETA, &refs(&x.eps))
        .unwrap_err()
        .to_string();
    assert!(e.contains("views"), "{e}");
    // noise for two of three views
    let e = step
        .gradients_with_noise(&refs(&x.views), None, BATCH, BETA, &refs(&x.eps[..2]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("noise"), "{e}");
    // a view of the wrong width is named by its index
    let mut short = x.views.clone();
    short[2].truncate(BATCH * 5);
    let e = step
        .gradients_with_noise(&refs(&short), None, BATCH, BETA, &refs(&x.eps))
        .unwrap_err()
        .to_string();
    assert!(e.contains("view 2"), "{e}");
    // encoders are named per view
    let sep = step_for(
        &ModelConfig {
            shared_encoder: false,
            ..tiny(ObjectiveKind::Mib)
        },
        &[6, 4, 5],
        0,
    );
    for name in ["encoder", "encoder_v2", "encoder_v3"] {
        assert!(sep
            .params()
            .get(&format!("{name}.layers.0.weight"))
            .is_some());
    }
    assert!(sep.params().get("encoder_v4.layers.0.weight").is_none());
}
