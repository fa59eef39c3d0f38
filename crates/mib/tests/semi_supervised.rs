//! The semi-supervised mode: MIB's loss plus `label_weight` times the cross-entropy of a linear
//! classifier on the labelled rows' posterior means. Checked against a slow reference, by finite
//! differences (shared and separate encoders, with a missing view), through `fit` and `mib eval`'s
//! report, and its config errors.
#![allow(clippy::needless_range_loop)]

use mib::config::{LabelledConfig, TrainConfig};
use mib::data::{load_splits, BatchProducer, PairingConfig};
use mib::objectives::{AdamConfig, ModelConfig, ObjectiveKind, TrainStep};
use mib::train::{NoObserver, RunOptions, TrainObserver};
use mib::MibRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use std::sync::Arc;

const B: usize = 5;
const NC: usize = 3;

fn tiny(shared_encoder: bool, label_weight: f32) -> ModelConfig {
    ModelConfig {
        objective: ObjectiveKind::Mib,
        encoder_hidden: vec![9, 8],
        z_dim: 3,
        critic_hidden: vec![10],
        shared_encoder,
        label_weight,
        ..ModelConfig::default()
    }
}

struct Case {
    step: TrainStep,
    views: Vec<Vec<f32>>,
    eps: Vec<Vec<f32>>,
    dims: [usize; 2],
}

fn case(cfg: &ModelConfig, seed: u64) -> Case {
    let mut rng = MibRng::seed_from_u64(seed);
    let dims = if cfg.shared_encoder { [6, 6] } else { [6, 4] };
    let step = TrainStep::new(cfg, &AdamConfig::default(), &dims, NC, B, &mut rng).unwrap();
    let views = dims
        .iter()
        .map(|&d| (0..B * d).map(|_| rng.random::<f32>()).collect())
        .collect();
    let eps = (0..2)
        .map(|_| {
            (0..B * cfg.z_dim)
                .map(|_| rng.sample::<f32, _>(StandardNormal))
                .collect()
        })
        .collect();
    Case {
        step,
        views,
        eps,
        dims,
    }
}

impl Case {
    fn loss(&mut self, labels: Option<&[u32]>, present: Option<&[u8]>) -> f32 {
        let v: Vec<&[f32]> = self.views.iter().map(|v| &v[..]).collect();
        let e: Vec<&[f32]> = self.eps.iter().map(|v| &v[..]).collect();
        self.step
            .gradients_with_noise_masked(&v, present, labels, B, 0.5, &e)
            .unwrap()
            .loss
    }

    /// The classifier's cross-entropy on the labelled rows of every (present) view, by hand.
    fn reference_ce(&mut self, labels: &[u32], present: Option<&[u8]>) -> f64 {
        let zd = self.step.z_dim();
        let tensors: Vec<(String, Vec<f32>)> = self
            .step
            .tensors()
            .into_iter()
            .map(|(n, _, v)| (n, v.to_vec()))
            .collect();
        let get = |name: &str| {
            tensors
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let (w, b) = (
            get("classifier.layers.0.weight"),
            get("classifier.layers.0.bias"),
        );
        let (mut acc, mut rows) = (0.0f64, 0usize);
        for v in 0..2 {
            let mut mu = vec![0.0; B * zd];
            let x = self.views[v].clone();
            self.step.encode_mean(v, &x, B, &mut mu).unwrap();
            for (i, &y) in labels.iter().enumerate() {
                if present.is_some_and(|p| p[v * B + i] == 0) {
                    continue;
                }
                let logits: Vec<f64> = (0..NC)
                    .map(|k| {
                        b[k] as f64
                            + (0..zd)
                                .map(|j| w[j * NC + k] as f64 * mu[i * zd + j] as f64)
                                .sum::<f64>()
                    })
                    .collect();
                let m = logits.iter().cloned().fold(f64::MIN, f64::max);
                let lse = m + logits.iter().map(|l| (l - m).exp()).sum::<f64>().ln();
                acc += lse - logits[y as usize];
                rows += 1;
            }
        }
        acc / rows as f64
    }
}

#[test]
fn the_loss_adds_the_weighted_cross_entropy_of_the_labelled_rows() {
    let labels = [2u32, 0, 1];
    // the fourth item lacks view 1: a masked batch, whose labelled row 1 lacks view 0
    let present: Vec<u8> = vec![1, 0, 1, 1, 1, 1, 1, 1, 0, 1];
    for shared in [true, false] {
        for mask in [None, Some(&present[..])] {
            let w = 0.7;
            let mut c = case(&tiny(shared, w), 4);
            let without = c.loss(None, mask) as f64;
            let with = c.loss(Some(&labels), mask) as f64;
            let ce = c.reference_ce(&labels, mask);
            assert!(ce > 0.1, "{ce}");
            assert!(
                (with - without - w as f64 * ce).abs() < 1e-4,
                "shared={shared} mask={}: {with} - {without} != {w} * {ce}",
                mask.is_some()
            );
        }
    }
}

#[test]
fn semi_supervised_gradients_match_finite_differences() {
    let labels = [1u32, 2, 0];
    let present: Vec<u8> = vec![1, 1, 0, 1, 1, 1, 0, 1, 1, 1];
    for shared in [true, false] {
        for mask in [None, Some(&present[..])] {
            let mut c = case(&tiny(shared, 2.0), 7);
            c.loss(Some(&labels), mask);
            let grads = c.step.params().grads().to_vec();
            let gmax = grads.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
            let n = grads.len();
            // the classifier's parameters come last: check every one of them, and a spread of
            // the others
            let first_cls = c
                .step
                .tensors()
                .iter()
                .take_while(|(name, _, _)| !name.starts_with("classifier"))
                .map(|(_, _, v)| v.len())
                .sum::<usize>();
            let idx: Vec<usize> = (0..n)
                .step_by((n / 50).max(1))
                .chain(first_cls..n)
                .collect();
            let mut worst = 0.0f64;
            for &i in &idx {
                let p0 = c.step.params().values()[i];
                let h = 1e-3f32;
                c.step.params_mut().values_mut()[i] = p0 + h;
                let a = c.loss(Some(&labels), mask) as f64;
                c.step.params_mut().values_mut()[i] = p0 - h;
                let b = c.loss(Some(&labels), mask) as f64;
                c.step.params_mut().values_mut()[i] = p0;
                let num = (a - b) / (2.0 * h as f64);
                worst = worst.max((num - grads[i] as f64).abs() / gmax);
            }
            assert!(
                worst < 5e-3,
                "shared={shared} mask={}: worst FD error {worst} of {gmax}",
                mask.is_some()
            );
            // and the classifier's gradients are not all zero
            assert!(grads[first_cls..].iter().any(|g| g.abs() > 1e-6));
        }
    }
}

#[test]
fn a_step_without_labelled_rows_gives_the_classifier_zero_gradients() {
    let mut c = case(&tiny(true, 1.0), 5);
    c.loss(Some(&[0, 1, 2]), None);
    let n = c.step.params().grads().len();
    let nc_params = NC * 3 + NC;
    assert!(c.step.params().grads()[n - nc_params..]
        .iter()
        .any(|g| *g != 0.0));
    c.loss(None, None);
    assert!(c.step.params().grads()[n - nc_params..]
        .iter()
        .all(|g| *g == 0.0));
    let _ = c.dims;
}

#[test]
fn labels_out_of_range_or_too_many_are_refused() {
    let mut c = case(&tiny(true, 1.0), 5);
    let v: Vec<&[f32]> = c.views.iter().map(|v| &v[..]).collect();
    let e: Vec<&[f32]> = c.eps.iter().map(|v| &v[..]).collect();
    let err = c
        .step
        .gradients_with_noise(&v, Some(&[0, 3]), B, 0.5, &e)
        .unwrap_err()
        .to_string();
    assert!(err.contains("label 3 out of range"), "{err}");
    let err = c
        .step
        .gradients_with_noise(&v, Some(&[0; B + 1]), B, 0.5, &e)
        .unwrap_err()
        .to_string();
    assert!(err.contains("labels"), "{err}");
}

fn mfeat_cfg() -> TrainConfig {
    let mut cfg = TrainConfig::default();
    cfg.data.views = vec!["pix".into(), "fou".into()];
    cfg.model.encoder_hidden = vec![32];
    cfg.model.critic_hidden = vec![32];
    cfg.model.z_dim = 8;
    cfg.model.shared_encoder = false;
    cfg.train.batch_size = 32;
    cfg.train.iterations = 60;
    cfg.train.threads = 1;
    cfg.optim.lr = 1e-3;
    cfg.model.label_weight = 1.0;
    cfg.data.labelled = Some(LabelledConfig {
        labels_per_class: 2,
        draw: 0,
        per_batch: 8,
        items: Vec::new(),
    });
    cfg
}

#[test]
fn config_errors_name_the_keys() {
    let check = |cfg: TrainConfig, key: &str| {
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains(key), "{key}: {err}");
    };
    let mut c = mfeat_cfg();
    c.data.labelled = None;
    check(c, "model.label_weight");
    let mut c = mfeat_cfg();
    c.model.label_weight = 0.0;
    check(c, "data.labelled");
    let mut c = mfeat_cfg();
    c.model.label_weight = f32::NAN;
    check(c, "model.label_weight");
    let mut c = mfeat_cfg();
    c.model.objective = ObjectiveKind::Vae;
    check(c, "model.label_weight");
    let mut c = mfeat_cfg();
    c.data.labelled.as_mut().unwrap().labels_per_class = 0;
    check(c, "data.labelled.labels_per_class");
    let mut c = mfeat_cfg();
    c.data.labelled.as_mut().unwrap().per_batch = 33;
    check(c, "data.labelled.per_batch");
    assert!(mfeat_cfg().validate().is_ok());
    // the table round-trips through TOML, and a config without it writes neither key
    let text = mfeat_cfg().to_toml_string().unwrap();
    assert!(text.contains("[data.labelled]") && text.contains("label_weight"));
    let back = TrainConfig::from_toml_str(&text, "t").unwrap();
    assert_eq!(back, mfeat_cfg());
    let plain = TrainConfig::default().to_toml_string().unwrap();
    assert!(!plain.contains("labelled") && !plain.contains("label_weight"));
}

#[test]
fn batches_put_the_labelled_items_first() {
    let cfg = mfeat_cfg();
    let splits = load_splits(&cfg).unwrap();
    let train = Arc::clone(&splits.train);
    let labelled = mib::train::labelled_items(&train, cfg.data.labelled.as_ref().unwrap()).unwrap();
    // the probe's draw 0 of 2 labels per class (seed 0): 2 items of each of the 10 classes
    assert_eq!(labelled.len(), 20);
    let expect = mib::eval::probe_draw(train.labels.as_ref().unwrap(), 10, 2, 0, 0).unwrap();
    assert_eq!(
        labelled,
        expect.iter().map(|&i| i as u32).collect::<Vec<_>>()
    );
    let producer = BatchProducer::new(train.clone(), PairingConfig::Aligned, vec![0, 1], 32, 9, 1)
        .unwrap()
        .with_labelled(labelled.clone(), 8)
        .unwrap();
    let y = train.labels.as_ref().unwrap();
    let mut seen = std::collections::HashSet::new();
    for k in 0..20 {
        let b = producer.batch(k).unwrap();
        assert_eq!(b.labelled, 8);
        // the first rows are labelled items: their rows and labels are those items'
        for i in 0..8 {
            let row = &b.views[0][i * 240..(i + 1) * 240];
            let item = labelled
                .iter()
                .copied()
                .find(|&j| train.views[0].row(j as usize) == row)
                .expect("a labelled item's row");
            assert_eq!(b.labels[i], y[item as usize]);
            seen.insert(item);
        }
    }
    // drawn afresh each batch: over 20 batches every labelled item shows up
    assert_eq!(seen.len(), 20);
    let err = BatchProducer::new(train, PairingConfig::Aligned, vec![0, 1], 32, 9, 1)
        .unwrap()
        .with_labelled(labelled, 33)
        .unwrap_err()
        .to_string();
    assert!(err.contains("data.labelled.per_batch"), "{err}");
}

struct StopAt(u64);
impl TrainObserver for StopAt {
    fn should_stop(&mut self, it: u64) -> bool {
        it >= self.0
    }
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("mib-semi-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn a_semi_supervised_run_trains_resumes_and_reports_its_own_row() {
    let cfg = mfeat_cfg();
    let splits = load_splits(&cfg).unwrap();
    let opts = RunOptions::default();
    let full = tmp("full");
    mib::train::train(&cfg, &splits, &full, &opts, &mut NoObserver).unwrap();
    // stopped at 30 and resumed: the same parameters as 60 at once
    let part = tmp("part");
    mib::train::train(&cfg, &splits, &part, &opts, &mut StopAt(30)).unwrap();
    let resume = RunOptions {
        resume: true,
        ..RunOptions::default()
    };
    mib::train::train(&cfg, &splits, &part, &resume, &mut NoObserver).unwrap();
    let mut model = mib::models::TrainedModel::open(&full, 1).unwrap();
    let resumed = mib::models::TrainedModel::open(&part, 1).unwrap();
    assert!(
        model.step().params().values() == resumed.step().params().values(),
        "a resumed semi-supervised run differs"
    );
    let protocol = mib::eval::EvalProtocol {
        labels_per_class: vec![2],
        repetitions: 2,
        knn: None,
        ..mib::eval::EvalProtocol::default()
    };
    let (report, _) = mib::eval::evaluate_model(&mut model, &splits, &protocol).unwrap();
    let s = report
        .semi_supervised
        .clone()
        .expect("the semi-supervised row");
    assert_eq!((s.labels_per_class, s.draw), (2, 0));
    for a in [s.classifier_accuracy, s.probe_accuracy, s.raw_accuracy] {
        assert!((0.0..=1.0).contains(&a), "{a}");
    }
    // 10 classes: the classifier is above chance after 60 steps
    assert!(s.classifier_accuracy > 0.2, "{s:?}");
    assert!(report.to_table().contains("Semi-supervised"));
    let predicted = model.classify(0, &splits.test.views[0]).unwrap();
    assert_eq!(predicted.len(), splits.test.views[0].rows);
    // a model without a classifier says so, and has no such row
    let mut plain = mfeat_cfg();
    plain.model.label_weight = 0.0;
    plain.data.labelled = None;
    plain.train.iterations = 2;
    let pdir = tmp("plain");
    mib::train::train(&plain, &splits, &pdir, &opts, &mut NoObserver).unwrap();
    let mut m = mib::models::TrainedModel::open(&pdir, 1).unwrap();
    let err = m
        .classify(0, &splits.test.views[0])
        .unwrap_err()
        .to_string();
    assert!(err.contains("no classifier"), "{err}");
    let (report, _) = mib::eval::evaluate_model(&mut m, &splits, &protocol).unwrap();
    assert!(report.semi_supervised.is_none());
    for d in [full, part, pdir] {
        let _ = std::fs::remove_dir_all(d);
    }
}
