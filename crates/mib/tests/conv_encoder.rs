//! The convolutional encoder (`[model.encoder] kind = "conv"`) inside the training step: finite
//! differences of the whole step's gradients, chunked encoding, inference through
//! [`TrainedModel`], checkpoint names and the settings it refuses.

use mib::estimators::{CriticKind, EstimatorKind};
use mib::models::{build_step, TrainedModel};
use mib::objectives::{
    AdamConfig, EncoderConfig, EncoderNorm, EncoderPool, ModelConfig, ObjectiveKind, TrainStep,
};
use mib::MibRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

/// Images of 2 channels, 3 x 4 pixels: rows of 24 values.
const IMAGE: [usize; 3] = [2, 3, 4];
const D: usize = 24;

fn conv(objective: ObjectiveKind) -> ModelConfig {
    let mut enc = EncoderConfig::conv(vec![4, 3], IMAGE);
    enc.strides = vec![1, 2];
    ModelConfig {
        objective,
        encoder: Some(enc),
        encoder_hidden: vec![7],
        z_dim: 3,
        critic_hidden: vec![10],
        decoder_hidden: vec![7],
        temperature: 0.5,
        ..ModelConfig::default()
    }
}

fn randn(rng: &mut MibRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.sample(StandardNormal)).collect()
}

/// The gradient of every conv parameter and a sample of the others (head, critic) against central
/// differences of the step's loss at fixed noise.
fn check_step_gradients(cfg: &ModelConfig) {
    let mut rng = MibRng::seed_from_u64(4);
    let batch = 5;
    let mut step =
        TrainStep::new(cfg, &AdamConfig::default(), &[D, D], 3, batch, &mut rng).unwrap();
    let views: Vec<Vec<f32>> = (0..2)
        .map(|_| (0..batch * D).map(|_| rng.random::<f32>()).collect())
        .collect();
    let eps: Vec<Vec<f32>> = (0..2).map(|_| randn(&mut rng, batch * cfg.z_dim)).collect();
    let labels: Vec<u32> = (0..batch as u32).map(|i| i % 3).collect();
    let beta = 0.7;
    let loss = |step: &mut TrainStep| {
        let v: Vec<&[f32]> = views.iter().map(|v| &v[..]).collect();
        let e: Vec<&[f32]> = eps.iter().map(|v| &v[..]).collect();
        step.gradients_with_noise(&v, Some(&labels), batch, beta, &e)
            .unwrap()
            .loss as f64
    };
    loss(&mut step);
    let grads = step.params().grads().to_vec();
    let gmax = grads.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
    assert!(gmax > 0.0);
    // every conv parameter, and a sample of the rest
    let conv_end = step
        .params()
        .entries()
        .iter()
        .filter(|e| e.name.contains(".convs.") || e.name.contains(".norms."))
        .map(|e| e.range().end)
        .max()
        .unwrap_or(0);
    let n = grads.len();
    let mut worst = 0.0f64;
    let idx = (0..conv_end).chain((conv_end..n).step_by((n / 40).max(1)));
    for i in idx {
        // ReLU kinks of so small a network can sit within a step of the point: the best of three
        // step sizes (a wrong gradient is wrong at all of them). Seeds 3 and 6 put a ReLU input
        // within 2e-5 of its kink, where no step size helps; seed 4 does not.
        let p0 = step.params().values()[i];
        let mut err = f64::INFINITY;
        for h in [1e-3f32, 3e-4, 1e-4] {
            step.params_mut().values_mut()[i] = p0 + h;
            let a = loss(&mut step);
            step.params_mut().values_mut()[i] = p0 - h;
            let b = loss(&mut step);
            step.params_mut().values_mut()[i] = p0;
            let num = (a - b) / (2.0 * h as f64);
            err = err.min((num - grads[i] as f64).abs() / gmax);
        }
        worst = worst.max(err);
    }
    eprintln!(
        "{:?}/{:?}/shared={}/norm={}/pool={:?}: worst FD error {worst:.2e} of max abs grad \
         {gmax:.3}",
        cfg.objective,
        cfg.estimator,
        cfg.shared_encoder,
        cfg.encoder.as_ref().is_some_and(|e| e.norm),
        cfg.encoder.as_ref().map(|e| &e.pool)
    );
    assert!(
        worst < 5e-3,
        "{cfg:?}: worst FD error {worst} of max |grad| {gmax}"
    );
}

#[test]
fn conv_step_gradients_match_finite_differences() {
    let mut cfgs = Vec::new();
    for shared_encoder in [true, false] {
        cfgs.push(ModelConfig {
            shared_encoder,
            ..conv(ObjectiveKind::Mib)
        });
    }
    // a linear Gaussian head, channel norms and a layer-normalised head, the separable critic
    let mut c = conv(ObjectiveKind::Mib);
    c.encoder_hidden = Vec::new();
    cfgs.push(c);
    let mut c = conv(ObjectiveKind::Mib);
    c.encoder.as_mut().unwrap().norm = true;
    c.encoder_norm = EncoderNorm::Layer;
    c.critic = CriticKind::Separable;
    c.estimator = EstimatorKind::InfoNce;
    cfgs.push(c);
    for obj in [
        ObjectiveKind::Infomax,
        ObjectiveKind::Vae,
        ObjectiveKind::Supervised,
    ] {
        cfgs.push(conv(obj));
    }
    for cfg in &cfgs {
        check_step_gradients(cfg);
    }
}

fn pooled(mut cfg: ModelConfig) -> ModelConfig {
    cfg.encoder.as_mut().unwrap().pool = EncoderPool::Mean;
    cfg
}

/// As [`conv_step_gradients_match_finite_differences`], with `pool = "mean"`: every objective,
/// shared and separate encoders, a linear head, norms.
#[test]
fn pooled_conv_step_gradients_match_finite_differences() {
    let mut cfgs = Vec::new();
    for shared_encoder in [true, false] {
        cfgs.push(pooled(ModelConfig {
            shared_encoder,
            ..conv(ObjectiveKind::Mib)
        }));
    }
    let mut c = pooled(conv(ObjectiveKind::MvInfomax));
    c.encoder_hidden = Vec::new();
    c.encoder.as_mut().unwrap().norm = true;
    cfgs.push(c);
    for obj in [
        ObjectiveKind::Infomax,
        ObjectiveKind::Vae,
        ObjectiveKind::Supervised,
    ] {
        cfgs.push(pooled(conv(obj)));
    }
    for cfg in &cfgs {
        check_step_gradients(cfg);
    }
}

/// With `pool = "mean"` the head reads one value per channel of the last convolution, the
/// description says so, and `hidden` of an encoder with no dense hidden layer is the pooled
/// output (the channel means of the flattened encoder's).
#[test]
fn a_pooled_conv_encoder_feeds_the_channel_means_to_its_head() {
    let mut rng = MibRng::seed_from_u64(5);
    let flat_cfg = ModelConfig {
        encoder_hidden: Vec::new(),
        ..conv(ObjectiveKind::Mib)
    };
    let mean_cfg = pooled(flat_cfg.clone());
    let flat = TrainStep::new(&flat_cfg, &AdamConfig::default(), &[D, D], 0, 4, &mut rng).unwrap();
    let mean = TrainStep::new(&mean_cfg, &AdamConfig::default(), &[D, D], 0, 4, &mut rng).unwrap();
    let shape = |s: &TrainStep, name: &str| s.params().entry(name).unwrap().shape.clone();
    // 2x3x4 -> 4@3x4 -> 3@2x2: 12 flattened values, 3 channel means
    assert_eq!(shape(&flat, "encoder.head.layers.0.weight"), [12, 6]);
    assert_eq!(shape(&mean, "encoder.head.layers.0.weight"), [3, 6]);
    let describe = mean.encoder(0).describe();
    assert!(
        describe.ends_with("-> 3@2x2 (k3 s2 p1), mean pool 3-2x3"),
        "{describe}"
    );
    assert!(
        flat.encoder(0).describe().ends_with(", flat 12-2x3"),
        "{}",
        flat.encoder(0).describe()
    );
}

/// Parameters follow the module tree: `encoder.convs.<i>`, `encoder.head.layers.<i>`, and
/// `encoder_v2.*` for a second view's own encoder.
#[test]
fn conv_parameters_are_named_after_the_module_tree() {
    let cfg = ModelConfig {
        shared_encoder: false,
        ..conv(ObjectiveKind::Mib)
    };
    let step = TrainStep::new(
        &cfg,
        &AdamConfig::default(),
        &[D, D],
        0,
        4,
        &mut MibRng::seed_from_u64(0),
    )
    .unwrap();
    let names: Vec<(&str, &[usize])> = step
        .params()
        .entries()
        .iter()
        .map(|e| (e.name.as_str(), &e.shape[..]))
        .filter(|(n, _)| n.starts_with("encoder"))
        .collect();
    // 3x4 -> (stride 1) 3x4 -> (stride 2, padding 1) 2x2: 3 channels x 2 x 2 = 12 flat
    let want: Vec<(&str, &[usize])> = vec![
        ("encoder.convs.0.weight", &[4, 2, 3, 3]),
        ("encoder.convs.0.bias", &[4]),
        ("encoder.convs.1.weight", &[3, 4, 3, 3]),
        ("encoder.convs.1.bias", &[3]),
        ("encoder.head.layers.0.weight", &[12, 7]),
        ("encoder.head.layers.0.bias", &[7]),
        ("encoder.head.layers.1.weight", &[7, 6]),
        ("encoder.head.layers.1.bias", &[6]),
        ("encoder_v2.convs.0.weight", &[4, 2, 3, 3]),
        ("encoder_v2.convs.0.bias", &[4]),
        ("encoder_v2.convs.1.weight", &[3, 4, 3, 3]),
        ("encoder_v2.convs.1.bias", &[3]),
        ("encoder_v2.head.layers.0.weight", &[12, 7]),
        ("encoder_v2.head.layers.0.bias", &[7]),
        ("encoder_v2.head.layers.1.weight", &[7, 6]),
        ("encoder_v2.head.layers.1.bias", &[6]),
    ];
    assert_eq!(names, want);
}

/// A conv MIB model trains: finite losses and moving parameters over a few steps.
#[test]
fn conv_mib_trains_through_step() {
    let cfg = conv(ObjectiveKind::Mib);
    let mut rng = MibRng::seed_from_u64(1);
    let batch = 8;
    let mut step =
        TrainStep::new(&cfg, &AdamConfig::default(), &[D, D], 0, batch, &mut rng).unwrap();
    let before = step.params().values().to_vec();
    let v1: Vec<f32> = (0..batch * D).map(|_| rng.random()).collect();
    let v2: Vec<f32> = v1.iter().map(|x| x + 0.1 * rng.random::<f32>()).collect();
    for _ in 0..5 {
        let st = step.step(&[&v1, &v2], None, batch, 1e-3, &mut rng).unwrap();
        assert!(st.loss.is_finite() && !st.nonfinite, "{st:?}");
    }
    assert_ne!(step.params().values(), &before[..]);
    assert!(step.forward_macs(batch) > 0);
    assert!(step.step_flops(batch) > 0.0);
}

/// `encode_mean` takes any number of rows in chunks of the encoder's capacity and gives what one
/// row at a time gives; inference through [`TrainedModel`] (chunks of 512 rows) agrees with the
/// step's own encoder.
#[test]
fn conv_encode_mean_chunks_and_inference_agree() {
    let mut tcfg = mib::config::TrainConfig {
        model: conv(ObjectiveKind::Mib),
        ..mib::config::TrainConfig::default()
    };
    tcfg.train.batch_size = 5;
    let rows = 600;
    let mut rng = MibRng::seed_from_u64(5);
    let x: Vec<f32> = (0..rows * D).map(|_| rng.random()).collect();
    let mut step = build_step(&tcfg, &[D, D], 0).unwrap();
    let mut all = vec![0.0; rows * 3];
    step.encode_mean(0, &x, rows, &mut all).unwrap();
    for r in [0, 7, 599] {
        let mut one = vec![0.0; 3];
        step.encode_mean(0, &x[r * D..(r + 1) * D], 1, &mut one)
            .unwrap();
        assert_eq!(&all[r * 3..(r + 1) * 3], &one[..]);
    }
    assert!(step.encode_mean(0, &x[..D - 1], 1, &mut [0.0; 3]).is_err());
    let mut model = TrainedModel::untrained(&tcfg, &[D, D], 0, Vec::new(), 1).unwrap();
    let z = model
        .embed(0, &mib::Matrix::new(rows, D, x.clone()).unwrap())
        .unwrap();
    assert_eq!(z.data, all);
}

/// A checkpoint of a conv model loads back into a fresh one (and its config round-trips).
#[test]
fn conv_model_round_trips_through_safetensors_and_toml() {
    let cfg = conv(ObjectiveKind::Mib);
    let mut rng = MibRng::seed_from_u64(2);
    let mut a = TrainStep::new(&cfg, &AdamConfig::default(), &[D, D], 0, 4, &mut rng).unwrap();
    let v: Vec<f32> = (0..4 * D).map(|_| rng.random()).collect();
    a.step(&[&v, &v], None, 4, 1e-3, &mut rng).unwrap();
    let dir = std::env::temp_dir().join(format!("mib-conv-encoder-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    a.save_safetensors(&path).unwrap();
    let mut b = TrainStep::new(
        &cfg,
        &AdamConfig::default(),
        &[D, D],
        0,
        4,
        &mut MibRng::seed_from_u64(9),
    )
    .unwrap();
    b.load_safetensors(&path).unwrap();
    assert_eq!(a.params().values(), b.params().values());
    std::fs::remove_dir_all(&dir).ok();

    let text = toml::to_string(&cfg).unwrap();
    assert!(text.contains("[encoder]"), "{text}");
    // the default pooling is not written: configs read and write as before it existed
    assert!(!text.contains("pool"), "{text}");
    let back: ModelConfig = toml::from_str(&text).unwrap();
    assert_eq!(back, cfg);
    let cfg = pooled(cfg);
    let text = toml::to_string(&cfg).unwrap();
    assert!(text.contains("pool = \"mean\""), "{text}");
    let back: ModelConfig = toml::from_str(&text).unwrap();
    assert_eq!(back, cfg);
    // without the table nothing about the encoder is written
    let plain = toml::to_string(&ModelConfig::default()).unwrap();
    assert!(!plain.contains("encoder]"), "{plain}");
}

fn refused(cfg: &ModelConfig, in_dims: &[usize]) -> String {
    TrainStep::new(
        cfg,
        &AdamConfig::default(),
        in_dims,
        0,
        4,
        &mut MibRng::seed_from_u64(0),
    )
    .unwrap_err()
    .to_string()
}

/// Bad settings are refused naming the key (and the view whose width is not `c * h * w`).
#[test]
fn conv_settings_are_refused_naming_the_key() {
    let parsed: ModelConfig = toml::from_str(
        "z_dim = 3\n[encoder]\nkind = \"conv\"\nchannels = [8, 16]\nstrides = [1, 2]\n\
         image_shape = [2, 3, 4]\n",
    )
    .unwrap();
    let enc = parsed.encoder.as_ref().unwrap();
    assert_eq!((enc.kernel, enc.padding, enc.norm), (3, None, false));
    parsed.validate().unwrap();
    assert!(toml::from_str::<ModelConfig>("[encoder]\nkind = \"conv\"\nkernal = 3\n").is_err());

    let with = |f: &dyn Fn(&mut EncoderConfig)| {
        let mut c = conv(ObjectiveKind::Mib);
        f(c.encoder.as_mut().unwrap());
        c
    };
    let cases: Vec<(ModelConfig, &str)> = vec![
        (with(&|e| e.channels.clear()), "model.encoder.channels"),
        (with(&|e| e.channels = vec![4, 0]), "model.encoder.channels"),
        (with(&|e| e.strides = vec![1]), "model.encoder.strides"),
        (with(&|e| e.strides = vec![1, 0]), "model.encoder.strides"),
        (with(&|e| e.kernel = 0), "model.encoder.kernel"),
        (
            with(&|e| {
                e.kernel = 9;
                e.padding = Some(0);
            }),
            "model.encoder.kernel",
        ),
        (
            with(&|e| e.image_shape = Some([0, 3, 4])),
            "model.encoder.image_shape",
        ),
        (with(&|e| e.image_shape = None), "model.encoder.image_shape"),
        (
            with(&|e| e.pool = EncoderPool::Unknown("max".into())),
            "model.encoder.pool",
        ),
    ];
    for (cfg, key) in &cases {
        let e = refused(cfg, &[D, D]);
        assert!(e.contains(key), "want {key}: {e}");
    }
    // an unknown pooling, read from TOML, is refused naming the key and the choices, for the
    // default table and a view's own
    for (text, key) in [
        (
            "[encoder]\nkind = \"conv\"\npool = \"max\"\n",
            "model.encoder.pool",
        ),
        (
            "shared_encoder = false\n[encoders.1]\nkind = \"conv\"\npool = \"max\"\n",
            "model.encoders.1.pool",
        ),
    ] {
        let parsed: ModelConfig = toml::from_str(text).unwrap();
        let e = parsed.validate().unwrap_err().to_string();
        for want in [key, "\"max\"", "flatten, mean"] {
            assert!(e.contains(want), "want {want}: {e}");
        }
    }
    let parsed: ModelConfig =
        toml::from_str("[encoder]\nkind = \"conv\"\npool = \"mean\"\n").unwrap();
    assert_eq!(parsed.encoder.unwrap().pool, EncoderPool::Mean);
    // an encoder built from an unvalidated config refuses the name too (no panic)
    let mut c = conv(ObjectiveKind::Mib);
    c.encoder.as_mut().unwrap().pool = EncoderPool::Unknown("max".into());
    let mut store = mib::nn::ParamStore::new();
    let e = mib::objectives::Encoder::new(&mut store, "encoder", &c, D, 4)
        .unwrap_err()
        .to_string();
    assert!(e.contains("model.encoder.pool"), "{e}");
    // pooling is a conv encoder's
    let mlp: ModelConfig = toml::from_str("[encoder]\nkind = \"mlp\"\npool = \"mean\"\n").unwrap();
    let e = mlp.validate().unwrap_err().to_string();
    assert!(
        e.contains("model.encoder.pool") && e.contains("conv"),
        "{e}"
    );
    let e = refused(
        &ModelConfig {
            shared_encoder: false,
            ..conv(ObjectiveKind::Mib)
        },
        &[D, 20],
    );
    assert!(
        e.contains("model.encoder.image_shape") && e.contains("view 1"),
        "{e}"
    );
}

/// The encoder alone (conv body, flatten, dense head) against central differences of a random
/// linear function of its output, every parameter.
#[test]
fn conv_encoder_backward_matches_finite_differences() {
    use mib::nn::ParamStore;
    use mib::objectives::Encoder;
    let cfg = conv(ObjectiveKind::Mib);
    let rows = 10;
    let mut store = ParamStore::new();
    let mut enc = Encoder::new(&mut store, "encoder", &cfg, D, rows).unwrap();
    let mut rng = MibRng::seed_from_u64(6);
    enc.init_using(&mut store, &mut rng);
    assert_eq!((enc.in_dim(), enc.out_dim(), enc.max_rows()), (D, 6, rows));
    let x: Vec<f32> = (0..rows * D).map(|_| rng.random()).collect();
    let r: Vec<f32> = randn(&mut rng, rows * 6);
    let f = |enc: &mut Encoder, p: &[f32]| -> f64 {
        enc.input_mut(rows).copy_from_slice(&x);
        enc.forward(p, rows);
        enc.output(rows)
            .iter()
            .zip(&r)
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum()
    };
    let mut p = store.values().to_vec();
    f(&mut enc, &p);
    enc.output_and_grad_mut(rows).1.copy_from_slice(&r);
    let mut g = vec![0.0; p.len()];
    enc.backward(&p, &mut g, rows);
    for i in 0..p.len() {
        let p0 = p[i];
        let h = 1e-3;
        p[i] = p0 + h;
        let a = f(&mut enc, &p);
        p[i] = p0 - h;
        let b = f(&mut enc, &p);
        p[i] = p0;
        let num = (a - b) / (2.0 * h as f64);
        assert!(
            (num - g[i] as f64).abs() < 1e-3,
            "parameter {i}: fd {num} vs {}",
            g[i]
        );
    }
}

/// The `fast-conv` preset reads, validates and builds a step for 28x28 images.
#[test]
fn fast_conv_preset_builds() {
    let text = mib::presets::preset("fast-conv").unwrap();
    let mut cfg = mib::config::TrainConfig::from_toml_str(text, "fast-conv").unwrap();
    let enc = cfg.model.encoder.clone().unwrap();
    assert_eq!(enc.image_shape, Some([1, 28, 28]));
    cfg.train.batch_size = 4;
    let step = build_step(&cfg, &[784, 784], 0).unwrap();
    assert!(step.params().get("encoder.convs.2.weight").is_some());
    assert_eq!(
        step.params()
            .entry("encoder.head.layers.0.weight")
            .unwrap()
            .shape,
        [64 * 4 * 4, 256]
    );
}

/// A conv model survives `to_bytes` / `from_bytes` (what pickling stores) and embeds the same.
#[test]
fn conv_trained_model_round_trips_through_bytes() {
    let mut tcfg = mib::config::TrainConfig {
        model: conv(ObjectiveKind::Mib),
        ..mib::config::TrainConfig::default()
    };
    tcfg.train.batch_size = 4;
    let mut rng = MibRng::seed_from_u64(8);
    let x = mib::Matrix::new(9, D, (0..9 * D).map(|_| rng.random()).collect()).unwrap();
    let mut a = TrainedModel::untrained(&tcfg, &[D, D], 0, Vec::new(), 1).unwrap();
    let za = a.embed(0, &x).unwrap();
    let mut b = TrainedModel::from_bytes(&a.to_bytes().unwrap(), "test", 1).unwrap();
    assert_eq!(b.embed(1, &x).unwrap().data, za.data);
}

/// A conv encoder without `image_shape` takes the data's image shape (`[1, h, w]`) when training.
#[test]
fn conv_image_shape_comes_from_the_data() {
    let mut rng = MibRng::seed_from_u64(11);
    let (n, h, w) = (40, 3, 4);
    let mut view = || mib::Matrix::new(n, h * w, (0..n * h * w).map(|_| rng.random()).collect());
    let views = vec![view().unwrap(), view().unwrap()];
    let ds = mib::data::MultiViewDataset::new(views, None, None)
        .unwrap()
        .with_image_shape((h, w))
        .unwrap();
    let mut model = conv(ObjectiveKind::Mib);
    model.encoder.as_mut().unwrap().image_shape = None;
    let mut cfg = mib::config::TrainConfig {
        model,
        ..mib::config::TrainConfig::default()
    };
    cfg.data.dataset = "npy".into();
    cfg.train.iterations = 3;
    cfg.train.batch_size = 8;
    cfg.train.threads = 1;
    cfg.eval.every = 0;
    let resolved = mib::models::with_data_image_shape(&cfg, &ds).unwrap();
    assert_eq!(
        resolved.model.encoder.as_ref().unwrap().image_shape,
        Some([1, h, w])
    );
    let fitted = mib::train::fit(
        &cfg,
        std::sync::Arc::new(ds),
        None,
        None,
        &mut mib::train::NoObserver,
    )
    .unwrap();
    assert_eq!(fitted.summary.iterations, 3);
    let saved = fitted.model.config().model.encoder.clone().unwrap();
    assert_eq!(saved.image_shape, Some([1, h, w]));
    // without an image shape in the config or the data, the key is named
    let plain =
        mib::data::MultiViewDataset::new(vec![view().unwrap(), view().unwrap()], None, None)
            .unwrap();
    let e = mib::train::fit(
        &cfg,
        std::sync::Arc::new(plain),
        None,
        None,
        &mut mib::train::NoObserver,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("model.encoder.image_shape"), "{e}");
}
