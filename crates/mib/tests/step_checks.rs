//! Finite-difference checks of every backward pass (MLP layers, estimators, whole training steps of
//! every objective / critic / estimator / SKL variant), checkpoint round trips, thread-count
//! independence and auto-traits.
// Finite-difference loops index several parallel buffers.
#![allow(clippy::needless_range_loop)]

use mib::estimators::{infonce, infonce_rows, jsd, nwj, CriticKind, EstimatorKind};
use mib::nn::{Mlp, ParamStore};
use mib::objectives::{AdamConfig, ModelConfig, ObjectiveKind, SklKind, TrainStep};
use mib::MibRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

fn randn(rng: &mut MibRng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| rng.sample::<f32, _>(StandardNormal))
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

#[test]
fn mlp_backward_matches_finite_differences() {
    check_mlp_backward(false);
}

#[test]
fn layer_norm_mlp_backward_matches_finite_differences() {
    check_mlp_backward(true);
}

fn check_mlp_backward(layer_norm: bool) {
    let mut rng = MibRng::seed_from_u64(1);
    let mut store = ParamStore::new();
    let dims = [5, 7, 6, 3];
    let rows = 4;
    let mut mlp = Mlp::with_norm(&mut store, "net", &dims, rows, true, layer_norm).unwrap();
    mlp.init_using(&mut store, &mut rng);
    assert_eq!(mlp.has_norm(), layer_norm);
    if layer_norm {
        // gains and shifts away from the identity, so that their gradients are checked too
        let names: Vec<_> = store
            .entries()
            .iter()
            .filter(|e| e.name.contains("norms"))
            .map(|e| e.range())
            .collect();
        assert_eq!(
            names.len(),
            4,
            "a gain and a shift after each of the 2 hidden layers"
        );
        for r in names {
            for v in &mut store.values_mut()[r] {
                *v += 0.5 * rng.random::<f32>() - 0.25;
            }
        }
    }
    let x = randn(&mut rng, rows * 5);
    let r = randn(&mut rng, rows * 3);
    let loss = |mlp: &mut Mlp, p: &[f32], x: &[f32]| -> f64 {
        mlp.input_mut(rows).copy_from_slice(x);
        mlp.forward(p, rows);
        mlp.output(rows)
            .iter()
            .zip(&r)
            .map(|(a, b)| (a * b) as f64)
            .sum()
    };
    loss(&mut mlp, store.values(), &x);
    mlp.output_grad_mut(rows).copy_from_slice(&r);
    let (p, g) = store.split();
    mlp.backward(p, g, rows);
    let grads = store.grads().to_vec();
    let dx = mlp.input_grad(rows).to_vec();
    let gmax = grads.iter().chain(&dx).fold(0.0f32, |m, v| m.max(v.abs())) as f64;
    let mut params = store.values().to_vec();
    for i in 0..params.len() {
        let x = x.clone();
        // a step of 1e-3 can cross a ReLU kink; the smaller step then decides
        let mut num = fd(&mut params, i, 1e-3, |p| loss(&mut mlp, p, &x));
        if (num - grads[i] as f64).abs() >= 2e-3 * gmax {
            num = fd(&mut params, i, 1e-4, |p| loss(&mut mlp, p, &x));
        }
        assert!(
            (num - grads[i] as f64).abs() < 2e-3 * gmax,
            "param {i}: fd {num} vs {}",
            grads[i]
        );
    }
    let mut xs = x.clone();
    for i in 0..xs.len() {
        let p = params.clone();
        let mut num = fd(&mut xs, i, 1e-3, |x| loss(&mut mlp, &p, x));
        if (num - dx[i] as f64).abs() >= 2e-3 * gmax {
            num = fd(&mut xs, i, 1e-4, |x| loss(&mut mlp, &p, x));
        }
        assert!(
            (num - dx[i] as f64).abs() < 2e-3 * gmax,
            "input {i}: fd {num} vs {}",
            dx[i]
        );
    }
}

#[test]
fn estimator_gradients_match_finite_differences() {
    let mut rng = MibRng::seed_from_u64(2);
    let n = 5;
    let mut t = randn(&mut rng, n * n);
    let mut col = vec![0.0; n];
    // InfoNCE, both directions
    let mut g = vec![0.0; n * n];
    infonce(&t, n, 1.0, Some(&mut g), &mut col);
    let mut g2 = vec![0.0; n * n];
    infonce_rows(&t, n, 1.0, Some(&mut g2));
    for i in 0..n * n {
        let a = fd(&mut t, i, 1e-2, |t| {
            infonce(t, n, 1.0, None, &mut vec![0.0; n]) as f64
        });
        assert!((a - g[i] as f64).abs() < 1e-3, "infonce {i}");
        let b = fd(&mut t, i, 1e-2, |t| infonce_rows(t, n, 1.0, None) as f64);
        assert!((b - g2[i] as f64).abs() < 1e-3, "infonce_rows {i}");
    }
    // JSD and NWJ on positive / negative scores
    let mut s = randn(&mut rng, 2 * n);
    for est in [jsd, nwj] {
        let (mut dp, mut dn) = (vec![0.0; n], vec![0.0; n]);
        est(&s[..n], &s[n..], 1.0, &mut dp, &mut dn);
        let grad: Vec<f32> = dp.iter().chain(&dn).copied().collect();
        for i in 0..2 * n {
            let num = fd(&mut s, i, 1e-2, |s| {
                let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
                est(&s[..n], &s[n..], 1.0, &mut a, &mut b).surrogate as f64
            });
            assert!(
                (num - grad[i] as f64).abs() < 1e-3,
                "score {i}: {num} vs {}",
                grad[i]
            );
        }
    }
}

fn tiny(objective: ObjectiveKind) -> ModelConfig {
    ModelConfig {
        objective,
        encoder_hidden: vec![9, 8],
        z_dim: 3,
        critic_hidden: vec![10],
        decoder_hidden: vec![7],
        temperature: 0.5,
        ..ModelConfig::default()
    }
}

struct Case {
    step: TrainStep,
    views: Vec<Vec<f32>>,
    eps: Vec<Vec<f32>>,
    labels: Vec<u32>,
    batch: usize,
}

fn case(cfg: &ModelConfig, seed: u64) -> Case {
    let mut rng = MibRng::seed_from_u64(seed);
    let batch = 5;
    let in_dims = if cfg.shared_encoder { [6, 6] } else { [6, 4] };
    let step = TrainStep::new(cfg, &AdamConfig::default(), &in_dims, 3, batch, &mut rng).unwrap();
    let views = in_dims
        .iter()
        .map(|&d| (0..batch * d).map(|_| rng.random::<f32>()).collect())
        .collect();
    let eps = (0..2).map(|_| randn(&mut rng, batch * cfg.z_dim)).collect();
    let labels = (0..batch as u32).map(|i| i % 3).collect();
    Case {
        step,
        views,
        eps,
        labels,
        batch,
    }
}

impl Case {
    fn loss(&mut self, beta: f32) -> f32 {
        let v: Vec<&[f32]> = self.views.iter().map(|v| &v[..]).collect();
        let e: Vec<&[f32]> = self.eps.iter().map(|v| &v[..]).collect();
        self.step
            .gradients_with_noise(&v, Some(&self.labels), self.batch, beta, &e)
            .unwrap()
            .loss
    }
}

fn check_step_gradients(cfg: &ModelConfig) {
    let beta = 0.7;
    let mut c = case(cfg, 3);
    c.loss(beta);
    let grads = c.step.params().grads().to_vec();
    let gmax = grads.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
    assert!(gmax > 0.0);
    let n = grads.len();
    let mut worst = 0.0f64;
    for i in (0..n).step_by((n / 60).max(1)) {
        let p0 = c.step.params().values()[i];
        let h = 1e-3f32;
        c.step.params_mut().values_mut()[i] = p0 + h;
        let a = c.loss(beta) as f64;
        c.step.params_mut().values_mut()[i] = p0 - h;
        let b = c.loss(beta) as f64;
        c.step.params_mut().values_mut()[i] = p0;
        let num = (a - b) / (2.0 * h as f64);
        worst = worst.max((num - grads[i] as f64).abs() / gmax);
    }
    eprintln!(
        "{:?}/{:?}/{:?}/{:?}/shared={}: worst FD error {worst:.2e} of max abs grad {gmax:.3}",
        cfg.objective, cfg.critic, cfg.estimator, cfg.skl, cfg.shared_encoder
    );
    assert!(
        worst < 5e-3,
        "{cfg:?}: worst FD error {worst} of max |grad| {gmax}"
    );
}

#[test]
fn step_gradients_match_finite_differences() {
    use CriticKind::*;
    use EstimatorKind::*;
    let mut cfgs = vec![];
    for obj in [ObjectiveKind::Mib, ObjectiveKind::MvInfomax] {
        for (critic, est) in [
            (Mlp, Jsd),
            (Mlp, Nwj),
            (Mlp, InfoNce),
            (Separable, Jsd),
            (Separable, Nwj),
            (Separable, InfoNce),
        ] {
            cfgs.push(ModelConfig {
                critic,
                estimator: est,
                ..tiny(obj)
            });
        }
    }
    for est in [Jsd, InfoNce] {
        cfgs.push(ModelConfig {
            critic: Separable,
            estimator: est,
            projection: vec![7, 5],
            ..tiny(ObjectiveKind::Mib)
        });
    }
    cfgs.push(ModelConfig {
        skl: SklKind::ClosedForm,
        ..tiny(ObjectiveKind::Mib)
    });
    cfgs.push(ModelConfig {
        shared_encoder: false,
        ..tiny(ObjectiveKind::Mib)
    });
    for shared_encoder in [true, false] {
        cfgs.push(ModelConfig {
            encoder_norm: mib::objectives::EncoderNorm::Layer,
            critic: Separable,
            estimator: InfoNce,
            shared_encoder,
            ..tiny(ObjectiveKind::Mib)
        });
    }
    for obj in [
        ObjectiveKind::Infomax,
        ObjectiveKind::Vae,
        ObjectiveKind::Supervised,
    ] {
        cfgs.push(tiny(obj));
    }
    cfgs.push(ModelConfig {
        estimator: InfoNce,
        ..tiny(ObjectiveKind::Infomax)
    });
    for cfg in &cfgs {
        check_step_gradients(cfg);
    }
}

#[test]
fn supervised_loss_decreases() {
    let cfg = tiny(ObjectiveKind::Supervised);
    let mut rng = MibRng::seed_from_u64(9);
    let mut step = TrainStep::new(
        &cfg,
        &AdamConfig {
            lr: 1e-2,
            ..AdamConfig::default()
        },
        &[6],
        3,
        30,
        &mut rng,
    )
    .unwrap();
    let labels: Vec<u32> = (0..30).map(|i| i % 3).collect();
    let x: Vec<f32> = (0..30 * 6)
        .map(|k| {
            if (k % 6) as u32 == labels[k / 6] {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let first = step
        .step(&[&x], Some(&labels), 30, 0.0, &mut rng)
        .unwrap()
        .loss;
    let mut last = first;
    for _ in 0..100 {
        last = step
            .step(&[&x], Some(&labels), 30, 0.0, &mut rng)
            .unwrap()
            .loss;
    }
    assert!(last < 0.2 * first, "{first} -> {last}");
    let mut z = vec![0.0; 30 * 3];
    step.encode_mean(0, &x, 30, &mut z).unwrap();
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let cfg = ModelConfig {
                encoder_hidden: vec![256, 256],
                critic_hidden: vec![256],
                z_dim: 16,
                ..ModelConfig::default()
            };
            let mut rng = MibRng::seed_from_u64(5);
            let mut step =
                TrainStep::new(&cfg, &AdamConfig::default(), &[100, 100], 0, 48, &mut rng).unwrap();
            let v: Vec<f32> = (0..48 * 100).map(|_| rng.random()).collect();
            for _ in 0..3 {
                step.step(&[&v, &v], None, 48, 0.1, &mut rng).unwrap();
            }
            step.params().values().to_vec()
        })
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(3));
}

#[test]
fn safetensors_round_trip() {
    let cfg = tiny(ObjectiveKind::Mib);
    let mut a = case(&cfg, 11);
    let views: Vec<&[f32]> = a.views.iter().map(|v| &v[..]).collect();
    let mut rng = MibRng::seed_from_u64(0);
    for _ in 0..3 {
        a.step.step(&views, None, a.batch, 0.5, &mut rng).unwrap();
    }
    let dir = std::env::temp_dir().join(format!("mib-core-rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    a.step.save_safetensors(&path).unwrap();
    let mut b = case(&cfg, 12);
    assert_ne!(a.step.params().values(), b.step.params().values());
    b.step.load_safetensors(&path).unwrap();
    assert_eq!(b.step.adam_step_count(), 3);
    let ta = a.step.tensors();
    let tb = b.step.tensors();
    assert_eq!(ta.len(), tb.len());
    for ((na, sa, va), (nb, sb, vb)) in ta.iter().zip(&tb) {
        assert_eq!((na, sa, va), (nb, sb, vb));
    }
    assert!(ta
        .iter()
        .any(|(n, _, _)| n == "adam.m.encoder.layers.0.weight"));
    assert!(ta.iter().any(|(n, _, _)| n == "critic.layers.1.bias"));
    // the same next step on both
    let mut r1 = MibRng::seed_from_u64(4);
    let mut r2 = MibRng::seed_from_u64(4);
    let s1 = a.step.step(&views, None, a.batch, 0.5, &mut r1).unwrap();
    let s2 = b.step.step(&views, None, a.batch, 0.5, &mut r2).unwrap();
    assert_eq!(s1.loss, s2.loss);
    assert_eq!(a.step.params().values(), b.step.params().values());
    // a missing tensor is named
    let err = b
        .step
        .load_tensors(
            &|n: &str| {
                if n == "critic.layers.0.weight" {
                    None
                } else {
                    Some((vec![1], vec![0.0]))
                }
            },
            1,
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("encoder.layers.0.weight") || err.contains("critic.layers.0.weight"),
        "{err}"
    );
    let err = b.step.load_tensors(&|_| None, 1).unwrap_err().to_string();
    assert!(
        err.contains("missing tensor `encoder.layers.0.weight`"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn nonfinite_input_skips_the_update() {
    let cfg = tiny(ObjectiveKind::Mib);
    let mut c = case(&cfg, 13);
    c.views[0][0] = f32::NAN;
    let before = c.step.params().values().to_vec();
    let views: Vec<&[f32]> = c.views.iter().map(|v| &v[..]).collect();
    let st = c
        .step
        .step(&views, None, c.batch, 0.5, &mut MibRng::seed_from_u64(0))
        .unwrap();
    assert!(st.nonfinite);
    assert_eq!(before, c.step.params().values());
    assert_eq!(c.step.adam_step_count(), 0);
}

#[test]
fn config_errors_name_the_field() {
    let bad = ModelConfig {
        z_dim: 0,
        ..ModelConfig::default()
    };
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .contains("model.z_dim"));
    let cfg = ModelConfig::default();
    let e = TrainStep::new(
        &cfg,
        &AdamConfig::default(),
        &[10, 12],
        0,
        4,
        &mut MibRng::seed_from_u64(0),
    )
    .unwrap_err();
    assert!(e.to_string().contains("shared_encoder"), "{e}");
    let e = AdamConfig {
        lr: f32::NAN,
        ..AdamConfig::default()
    }
    .validate()
    .unwrap_err();
    assert!(e.to_string().contains("optim.lr"));
    let toml_cfg: ModelConfig =
        toml::from_str("objective = \"mv-infomax\"\ncritic = \"separable\"\nestimator = \"infonce\"\nskl = \"closed-form\"").unwrap();
    assert_eq!(toml_cfg.objective, ObjectiveKind::MvInfomax);
    assert!(toml::from_str::<ModelConfig>("z_dimm = 3").is_err());
}

#[test]
fn public_types_are_send() {
    fn send<T: Send>() {}
    send::<TrainStep>();
    send::<ModelConfig>();
    send::<mib::objectives::StepStats>();
}

/// The separable critic's estimators against naive loops over all pairs.
#[test]
fn separable_estimators_match_naive_loops() {
    use mib::estimators::MiCritic;
    let (n, d, tau) = (6, 4, 0.3f32);
    let mut rng = MibRng::seed_from_u64(21);
    let a = randn(&mut rng, n * d);
    let b = randn(&mut rng, n * d);
    let cos = |i: usize, j: usize| -> f64 {
        let (x, y) = (&a[i * d..(i + 1) * d], &b[j * d..(j + 1) * d]);
        let dot: f64 = x.iter().zip(y).map(|(p, q)| (p * q) as f64).sum();
        let nx: f64 = x.iter().map(|p| (p * p) as f64).sum::<f64>().sqrt();
        let ny: f64 = y.iter().map(|p| (p * p) as f64).sum::<f64>().sqrt();
        dot / (nx * ny) / tau as f64
    };
    let lse = |v: &[f64]| {
        let m = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
    };
    let sp = |x: f64| (1.0 + x.exp()).ln();
    let (mut rows, mut cols, mut pos, mut negs, mut nexp) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for i in 0..n {
        let r: Vec<f64> = (0..n).map(|j| cos(i, j)).collect();
        let c: Vec<f64> = (0..n).map(|j| cos(j, i)).collect();
        rows += cos(i, i) - lse(&r);
        cols += cos(i, i) - lse(&c);
        pos += cos(i, i);
        for j in (0..n).filter(|&j| j != i) {
            negs += sp(cos(i, j));
            nexp += cos(i, j).exp();
        }
    }
    let nn = (n * (n - 1)) as f64;
    let nf = n as f64;
    let want_infonce = nf.ln() + 0.5 * (rows + cols) / nf;
    let want_jsd = -(0..n).map(|i| sp(-cos(i, i))).sum::<f64>() / nf - negs / nn;
    let want_nwj = pos / nf - nexp / nn + 1.0;
    for (est, want_s, want_e) in [
        (EstimatorKind::InfoNce, want_infonce, want_infonce),
        (EstimatorKind::Jsd, want_jsd, want_nwj),
        (EstimatorKind::Nwj, want_nwj, want_nwj),
    ] {
        let mut store = ParamStore::new();
        let mut c = MiCritic::new(
            &mut store,
            "critic",
            CriticKind::Separable,
            est,
            &[],
            &[],
            tau,
            d,
            d,
            n,
        )
        .unwrap();
        let v = c.forward(store.values(), &a, &b, n);
        assert!(
            (v.surrogate as f64 - want_s).abs() < 1e-5 * (1.0 + want_s.abs()),
            "{est:?} {v:?} vs {want_s}"
        );
        assert!(
            (v.estimate as f64 - want_e).abs() < 1e-5 * (1.0 + want_e.abs()),
            "{est:?} {v:?} vs {want_e}"
        );
    }
}

/// `encode_mean` processes any number of rows in chunks and gives the same means as one pass, per
/// view, with separate encoders.
#[test]
fn encode_mean_chunks_and_views() {
    let cfg = ModelConfig {
        shared_encoder: false,
        ..tiny(ObjectiveKind::Mib)
    };
    let mut c = case(&cfg, 17);
    let rows = 23; // capacity is 5 rows per encoder
    let mut rng = MibRng::seed_from_u64(3);
    for (view, d) in [(0usize, 6usize), (1, 4)] {
        let x: Vec<f32> = (0..rows * d).map(|_| rng.random()).collect();
        let mut all = vec![0.0; rows * 3];
        c.step.encode_mean(view, &x, rows, &mut all).unwrap();
        for r in 0..rows {
            let mut one = vec![0.0; 3];
            c.step
                .encode_mean(view, &x[r * d..(r + 1) * d], 1, &mut one)
                .unwrap();
            assert_eq!(&all[r * 3..(r + 1) * 3], &one[..]);
        }
    }
    assert!(c.step.encode_mean(2, &[0.0; 6], 1, &mut [0.0; 3]).is_err());
    assert!(c.step.encode_mean(0, &[0.0; 5], 1, &mut [0.0; 3]).is_err());
}

/// A layer-normalised encoder embeds the same in inference (chunks of 512 rows) as in the training
/// step, and differs from the same weights without the norms.
#[test]
fn layer_norm_encoder_embeds_like_the_training_step() {
    use mib::models::{build_step, TrainedModel};
    let mut cfg = mib::config::TrainConfig {
        model: ModelConfig {
            encoder_hidden: vec![12, 10],
            encoder_norm: mib::objectives::EncoderNorm::Layer,
            critic: CriticKind::Separable,
            estimator: EstimatorKind::InfoNce,
            z_dim: 3,
            ..ModelConfig::default()
        },
        ..mib::config::TrainConfig::default()
    };
    cfg.train.batch_size = 8;
    let rows = 700;
    let mut rng = MibRng::seed_from_u64(5);
    let x: Vec<f32> = (0..rows * 6).map(|_| rng.random()).collect();
    let mut step = build_step(&cfg, &[6, 6], 0).unwrap();
    let mut want = vec![0.0; rows * 3];
    step.encode_mean(0, &x, rows, &mut want).unwrap();
    let mut model = TrainedModel::untrained(&cfg, &[6, 6], 0, Vec::new(), 1).unwrap();
    let z = model
        .embed(0, &mib::Matrix::new(rows, 6, x.clone()).unwrap())
        .unwrap();
    assert_eq!(z.data, want);
    let mut plain = cfg.clone();
    plain.model.encoder_norm = mib::objectives::EncoderNorm::None;
    let mut other = vec![0.0; rows * 3];
    build_step(&plain, &[6, 6], 0)
        .unwrap()
        .encode_mean(0, &x, rows, &mut other)
        .unwrap();
    assert_ne!(other, want, "the norms change the encoder's output");
}
