//! Image views and encoders per view: `[model.encoders.<view>]` overriding `[model.encoder]` for
//! one view (a conv encoder on a colour image view, an MLP on a vector view in one model), image
//! shapes per view from `[n, h, w]` / `[n, c, h, w]` arrays, channel-aware augmentation, and the
//! settings refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mib::augment::{Augment, AugmentConfig};
use mib::config::TrainConfig;
use mib::data::{npy, DatasetSplits, Elements, MultiViewDataset, PairingConfig, RawArray};
use mib::models::TrainedModel;
use mib::train::{self, NoObserver, RunOptions};
use mib::{Matrix, MibRng};
use rand::{Rng, SeedableRng};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mib-images-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Colour images `[3, 4, 5]` (view `pix`, 60 values a row) and 7 coefficients (view `fou`).
const IMG: [usize; 3] = [3, 4, 5];
const PIX: usize = 60;
const FOU: usize = 7;

fn write_f32(path: &Path, shape: Vec<usize>, data: Vec<f32>) {
    npy::write_npy(
        path,
        &RawArray {
            shape,
            data: Elements::F32(data),
        },
    )
    .unwrap();
}

/// `pix.npy` `[n, 3, 4, 5]`, `fou.npy` `[n, 7]` and `y.npy` in `dir`.
fn write_views(dir: &Path, n: usize) -> Vec<PathBuf> {
    let mut rng = MibRng::seed_from_u64(3);
    let y: Vec<i64> = (0..n as i64).map(|i| i % 3).collect();
    let pix: Vec<f32> = (0..n * PIX)
        .map(|i| (y[i / PIX] as f32) * 0.3 + rng.random::<f32>() * 0.5)
        .collect();
    let fou: Vec<f32> = (0..n * FOU)
        .map(|i| y[i / FOU] as f32 + rng.random::<f32>())
        .collect();
    let paths = vec![dir.join("pix.npy"), dir.join("fou.npy")];
    let mut shape = vec![n];
    shape.extend(IMG);
    write_f32(&paths[0], shape, pix);
    write_f32(&paths[1], vec![n, FOU], fou);
    npy::write_npy(
        &dir.join("y.npy"),
        &RawArray {
            shape: vec![n],
            data: Elements::I64(y),
        },
    )
    .unwrap();
    paths
}

/// A tiny MIB config: MLP encoders by default, a conv encoder on view `pix`.
fn mixed_config(paths: &[PathBuf], dir: &Path, iterations: u64) -> TrainConfig {
    let text = format!(
        r#"
seed = 42
[model]
encoder_hidden = [16]
z_dim = 4
shared_encoder = false
critic = "separable"
estimator = "infonce"

[model.encoders.pix]
kind = "conv"
channels = [4, 6]
strides = [1, 2]

[train]
iterations = {iterations}
batch_size = 16
threads = 1
log_every = 2
checkpoint_every = 4

[eval]
every = 0

[data]
dataset = "npy"
views = ["{}", "{}"]
labels = "{}"

[data.pairing]
kind = "aligned"
"#,
        paths[0].display(),
        paths[1].display(),
        dir.join("y.npy").display()
    );
    TrainConfig::from_toml_str(&text, "mixed").unwrap()
}

#[test]
fn a_colour_npy_view_has_its_image_shape_in_memory_and_mapped() {
    let dir = tmp("shapes");
    let paths = write_views(&dir, 12);
    let ds = mib::data::load_npy_views(&paths, None).unwrap();
    assert_eq!(ds.view_image_shape(0), Some(IMG));
    assert_eq!(ds.view_image_shape(1), None);
    assert!(ds.is_image_view(0) && !ds.is_image_view(1));
    // a [n, h, w] array is a grey image
    let grey = dir.join("grey.npy");
    write_f32(&grey, vec![12, 4, 5], vec![0.5; 12 * 20]);
    let g = mib::data::load_npy_views(std::slice::from_ref(&grey), None).unwrap();
    assert_eq!(g.view_image_shape(0), Some([1, 4, 5]));
    // memory-mapped views keep the shapes, and so does their in-memory sample
    let mapped = mib::data::mapped::MappedViews::open(&paths, None).unwrap();
    assert_eq!(mapped.view_image_shape(0), Some(IMG));
    assert_eq!(mapped.view_image_shape(1), None);
    let sample = mapped.sample(1 << 20).unwrap();
    assert_eq!(sample.view_image_shape(0), Some(IMG));
    // selecting views keeps each view's shape
    let fou_pix = ds.select_views(&[1, 0]).unwrap();
    assert_eq!(fou_pix.view_image_shape(1), Some(IMG));
    assert_eq!(fou_pix.view_image_shape(0), None);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_view_image_shape_must_match_its_width_naming_the_view() {
    let m = |d: usize| Matrix::new(4, d, vec![0.0; 4 * d]).unwrap();
    let ds = MultiViewDataset::new(vec![m(PIX), m(FOU)], None, None)
        .unwrap()
        .with_view_names(vec!["pix".into(), "fou".into()])
        .unwrap();
    let e = ds
        .clone()
        .with_view_image_shape(1, [1, 2, 3])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("fou") && e.contains("7") && e.contains("6"),
        "{e}"
    );
    let ok = ds.with_view_image_shape(0, [3, 5, 4]).unwrap();
    assert_eq!(ok.view_image_shape(0), Some([3, 5, 4]));
}

/// `cfg` trained straight through into `dir/straight`.
fn train_straight(cfg: &TrainConfig, data: &DatasetSplits, dir: &Path) -> TrainedModel {
    let opts = RunOptions::default();
    let (_, m) = train::train(cfg, data, &dir.join("straight"), &opts, &mut NoObserver).unwrap();
    m
}

/// `cfg` trained into `run`, stopped after iteration `stop`, then resumed to the end.
fn train_stopped_and_resumed(
    cfg: &TrainConfig,
    data: &DatasetSplits,
    run: &Path,
    stop: u64,
) -> TrainedModel {
    struct StopAt(u64);
    impl train::TrainObserver for StopAt {
        fn should_stop(&mut self, it: u64) -> bool {
            it >= self.0
        }
    }
    let (s, _) = train::train(cfg, data, run, &RunOptions::default(), &mut StopAt(stop)).unwrap();
    assert!(s.interrupted);
    let resumed = RunOptions {
        resume: true,
        ..RunOptions::default()
    };
    let (_, done) = train::train(cfg, data, run, &resumed, &mut NoObserver).unwrap();
    done
}

#[test]
fn mixed_encoders_train_resume_and_embed() {
    let dir = tmp("mixed");
    let paths = write_views(&dir, 48);
    let cfg = mixed_config(&paths, &dir, 8);
    let data = mib::data::load_splits(&cfg).unwrap();
    assert_eq!(data.train.view_image_shape(0), Some(IMG));

    // straight through
    let straight = train_straight(&cfg, &data, &dir);
    let described = straight.describe_encoders().join("\n");
    assert!(
        described.contains("conv [3, 4, 5]") && described.contains("mlp 7-16-2x4"),
        "{described}"
    );
    let names: Vec<String> = straight
        .step()
        .params()
        .entries()
        .iter()
        .map(|e| e.name.clone())
        .collect();
    assert!(
        names.iter().any(|n| n == "encoder.convs.0.weight"),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n == "encoder_v2.layers.0.weight"),
        "{names:?}"
    );
    // the config written holds the view's index and its image shape
    let written = std::fs::read_to_string(dir.join("straight/config.toml")).unwrap();
    let written = TrainConfig::from_toml_str(&written, "config.toml").unwrap();
    let keys: Vec<&String> = written.model.encoders.keys().collect();
    assert_eq!(keys, ["0"]);
    assert_eq!(written.model.encoders["0"].image_shape, Some(IMG));

    // stopped at 4, resumed to 8: the same parameters
    let run = dir.join("run");
    let done = train_stopped_and_resumed(&cfg, &data, &run, 4);
    assert_eq!(
        done.step().params().values(),
        straight.step().params().values()
    );

    // opened from the folder and from bytes, each view embeds as the trained model does
    let mut trained = done;
    let mut opened = TrainedModel::open(&run, 1).unwrap();
    let mut again = TrainedModel::from_bytes(&opened.to_bytes().unwrap(), "bytes", 1).unwrap();
    for v in 0..2 {
        let x = &data.test.views[v];
        let z = trained.embed(v, x).unwrap();
        assert_eq!(z.cols, 4);
        assert_eq!(opened.embed(v, x).unwrap(), z);
        assert_eq!(again.embed(v, x).unwrap(), z);
    }
    // attributions differentiate each view's own encoder: its Jacobian matches finite differences
    for v in 0..2 {
        let x = data.test.views[v].select_rows(&[0]);
        let jac = opened.mean_jacobian(v, &x).unwrap();
        assert_eq!((jac[0].rows, jac[0].cols), (4, x.cols));
        for j in [0, x.cols / 2, x.cols - 1] {
            for k in 0..4 {
                let g = jac[0].data[k * x.cols + j];
                // the best of three steps: a ReLU kink near the point spoils one, not all
                let err = [1e-2f32, 3e-3, 1e-3]
                    .iter()
                    .map(|&h| {
                        let (mut up, mut down) = (x.clone(), x.clone());
                        up.data[j] += h;
                        down.data[j] -= h;
                        let zu = opened.embed(v, &up).unwrap().data[k];
                        let zd = opened.embed(v, &down).unwrap().data[k];
                        ((zu - zd) / (2.0 * h) - g).abs()
                    })
                    .fold(f32::INFINITY, f32::min);
                assert!(
                    err <= 1e-2 * (1.0 + g.abs()),
                    "view {v}, z{k}, x{j}: {g}, error {err}"
                );
            }
        }
    }
    // the ONNX export takes each view's encoder
    for v in 0..2 {
        let bytes = mib::export::encoder_onnx(&opened, v, mib::export::OnnxOutput::Mean).unwrap();
        assert!(bytes.len() > 100);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A conv encoder with `pool = "mean"` (global average pooling) on the colour view: it trains,
/// stops and resumes to the parameters of a straight run, its run folder (config.toml,
/// encoder.toml) keeps the pooling, and the opened model embeds, gives its hidden layer (the
/// channel means before the head when there is no dense hidden layer) and exports to ONNX.
#[test]
fn a_pooled_conv_encoder_trains_resumes_and_embeds() {
    use mib::config::Representation;
    use mib::objectives::EncoderPool;
    let dir = tmp("pooled");
    let paths = write_views(&dir, 48);
    let mut cfg = mixed_config(&paths, &dir, 8);
    cfg.model.encoders.get_mut("pix").unwrap().pool = EncoderPool::Mean;
    cfg.model.encoder_hidden = Vec::new();
    let data = mib::data::load_splits(&cfg).unwrap();
    let straight = train_straight(&cfg, &data, &dir);
    // 3x4x5 -> 4@4x5 -> 6@2x3, averaged to 6 values: the head is 6 -> 2x4
    let described = straight.describe_encoders().join("\n");
    assert!(
        described.contains("-> 6@2x3 (k3 s2 p1), mean pool 6-2x4"),
        "{described}"
    );
    let head = straight
        .step()
        .params()
        .entry("encoder.head.layers.0.weight");
    assert_eq!(head.unwrap().shape, [6, 8]);
    let written = std::fs::read_to_string(dir.join("straight/config.toml")).unwrap();
    assert!(written.contains("pool = \"mean\""), "{written}");
    let written = TrainConfig::from_toml_str(&written, "config.toml").unwrap();
    assert_eq!(written.model.encoders["0"].pool, EncoderPool::Mean);
    let info = std::fs::read_to_string(dir.join("straight/encoder.toml")).unwrap();
    assert!(info.contains("pool = \"mean\""), "{info}");

    let run = dir.join("run");
    let mut done = train_stopped_and_resumed(&cfg, &data, &run, 4);
    assert_eq!(
        done.step().params().values(),
        straight.step().params().values()
    );

    let mut opened = TrainedModel::open(&run, 1).unwrap();
    let x = &data.test.views[0];
    let z = done.embed(0, x).unwrap();
    assert_eq!(opened.embed(0, x).unwrap(), z);
    assert_eq!(opened.hidden_dim(0), 6);
    let hidden = opened.represent(0, x, Representation::Hidden).unwrap();
    assert_eq!((hidden.rows, hidden.cols), (x.rows, 6));
    // the channel means of ReLU outputs: non-negative, not all equal
    assert!(hidden.data.iter().all(|&v| v >= 0.0));
    assert!(hidden.data.iter().any(|&v| v != hidden.data[0]));
    let bytes = mib::export::encoder_onnx(&opened, 0, mib::export::OnnxOutput::Mean).unwrap();
    assert!(bytes.windows(17).any(|w| w == b"GlobalAveragePool"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_encoder_table_gives_its_views_dense_widths_of_their_own() {
    use mib::objectives::{EncoderConfig, EncoderKind};
    let dir = tmp("hidden");
    let paths = write_views(&dir, 48);
    let mut cfg = mixed_config(&paths, &dir, 8);
    // pix: convolutions then one dense layer of 5; fou: an MLP 7 -> 9 -> 3; encoder_hidden
    // (16) is nobody's
    cfg.model.encoders.get_mut("pix").unwrap().hidden = Some(vec![5]);
    let mut mlp = EncoderConfig::conv(vec![1], [1, 1, 1]);
    (mlp.kind, mlp.channels, mlp.image_shape) = (EncoderKind::Mlp, Vec::new(), None);
    mlp.hidden = Some(vec![9, 3]);
    cfg.model.encoders.insert("fou".into(), mlp);
    let data = mib::data::load_splits(&cfg).unwrap();
    let mut straight = train_straight(&cfg, &data, &dir);
    let shape = |name: &str| straight.step().params().entry(name).unwrap().shape.clone();
    // pix: 6@2x3 = 36 flattened -> 5 -> 2x4
    assert_eq!(shape("encoder.head.layers.0.weight"), [36, 5]);
    assert_eq!(shape("encoder.head.layers.1.weight"), [5, 8]);
    assert_eq!(shape("encoder_v2.layers.0.weight"), [7, 9]);
    assert_eq!(shape("encoder_v2.layers.1.weight"), [9, 3]);
    assert_eq!(shape("encoder_v2.layers.2.weight"), [3, 8]);
    let written = std::fs::read_to_string(dir.join("straight/config.toml")).unwrap();
    let written = TrainConfig::from_toml_str(&written, "config.toml").unwrap();
    assert_eq!(written.model.encoders["1"].hidden, Some(vec![9, 3]));
    assert_eq!(written.model.encoders["0"].hidden, Some(vec![5]));

    // the saved run builds the same encoders: it opens and embeds as the trained model does
    let mut opened = TrainedModel::open(&dir.join("straight"), 1).unwrap();
    assert_eq!((opened.hidden_dim(0), opened.hidden_dim(1)), (5, 3));
    for v in 0..2 {
        let x = &data.test.views[v];
        assert_eq!(opened.embed(v, x).unwrap(), straight.embed(v, x).unwrap());
    }

    // refused naming the key: a zero width, and a shared encoder whose view tables differ in
    // their widths
    let mut bad = cfg.clone();
    bad.model.encoders.get_mut("fou").unwrap().hidden = Some(vec![4, 0]);
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("model.encoders.fou.hidden"), "{e}");
    let mut shared = cfg.clone();
    shared.model.encoders.remove("pix");
    shared.model.shared_encoder = true;
    let e = shared.validate().unwrap_err().to_string();
    assert!(e.contains("model.shared_encoder"), "{e}");
    // the same widths as encoder_hidden's are no encoder of its own
    shared.model.encoders.get_mut("fou").unwrap().hidden = Some(vec![16]);
    shared.validate().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn differing_encoders_need_separate_encoders() {
    let dir = tmp("shared");
    let paths = write_views(&dir, 24);
    let mut cfg = mixed_config(&paths, &dir, 2);
    cfg.model.shared_encoder = true;
    let e = cfg.validate().unwrap_err().to_string();
    assert!(
        e.contains("model.shared_encoder") && e.contains("model.encoders.pix"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn encoder_tables_of_unknown_views_and_bad_shapes_are_refused() {
    let dir = tmp("refused");
    let paths = write_views(&dir, 24);
    let data = mib::data::load_splits(&mixed_config(&paths, &dir, 2)).unwrap();
    let fit = |cfg: &TrainConfig| {
        train::fit(cfg, Arc::clone(&data.train), None, None, &mut NoObserver)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    // a name that is no view
    let mut cfg = mixed_config(&paths, &dir, 2);
    let e = cfg.model.encoders.remove("pix").unwrap();
    cfg.model.encoders.insert("pixels".into(), e.clone());
    let err = fit(&cfg);
    assert!(
        err.contains("model.encoders.pixels") && err.contains("pix, fou"),
        "{err}"
    );
    // an index past the views
    let mut cfg = mixed_config(&paths, &dir, 2);
    cfg.model.encoders.clear();
    cfg.model.encoders.insert("2".into(), e.clone());
    let err = fit(&cfg);
    assert!(err.contains("model.encoders.2"), "{err}");
    // an explicit image shape that does not fit the view's width
    let mut cfg = mixed_config(&paths, &dir, 2);
    cfg.model.encoders.get_mut("pix").unwrap().image_shape = Some([1, 4, 5]);
    let err = fit(&cfg);
    assert!(
        err.contains("model.encoders.0.image_shape") && err.contains("view 0"),
        "{err}"
    );
    // a conv encoder on a view that is no image
    let mut cfg = mixed_config(&paths, &dir, 2);
    cfg.model.encoders.clear();
    cfg.model.encoders.insert("fou".into(), e);
    let err = fit(&cfg);
    assert!(
        err.contains("model.encoders.1.image_shape") && err.contains("view 1"),
        "{err}"
    );
    // the same table twice, by name and by index
    let mut cfg = mixed_config(&paths, &dir, 2);
    let e = cfg.model.encoders["pix"].clone();
    cfg.model.encoders.insert("0".into(), e);
    let err = fit(&cfg);
    assert!(err.contains("two encoder tables"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn configs_without_encoder_tables_serialise_as_before() {
    for name in ["demo", "fast", "fast-conv"] {
        let text = mib::presets::preset(name).unwrap();
        let cfg = TrainConfig::from_toml_str(text, name).unwrap();
        assert!(cfg.model.encoders.is_empty());
        assert!(
            !cfg.to_toml_string().unwrap().contains("encoders"),
            "{name}"
        );
    }
    // a table per view round-trips
    let dir = tmp("roundtrip");
    let paths = write_views(&dir, 4);
    let cfg = mixed_config(&paths, &dir, 2);
    let text = cfg.to_toml_string().unwrap();
    assert!(text.contains("[model.encoders.pix]"), "{text}");
    assert_eq!(TrainConfig::from_toml_str(&text, "again").unwrap(), cfg);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Channel 1 of every image is twice channel 0, channel 2 is channel 0 plus 1 at every pixel:
/// a transform that moves all channels alike keeps `c1 = 2 c0`; one that moves them differently
/// (or mixes them) breaks it.
fn linked_channels(h: usize, w: usize, rng: &mut MibRng) -> Vec<f32> {
    let c0: Vec<f32> = (0..h * w).map(|_| rng.random::<f32>()).collect();
    let mut img = c0.clone();
    img.extend(c0.iter().map(|x| 2.0 * x));
    img.extend(c0.iter().map(|x| x + 1.0));
    img
}

fn assert_linked(out: &[f32], h: usize, w: usize, what: &str) {
    let n = h * w;
    let (c0, c1) = (&out[..n], &out[n..2 * n]);
    for (i, (a, b)) in c0.iter().zip(c1).enumerate() {
        assert!((2.0 * a - b).abs() <= 1e-5, "{what}: pixel {i}: {a} vs {b}");
    }
}

#[test]
fn augmentations_move_all_channels_of_an_image_alike() {
    let (h, w) = (9, 11);
    let mut rng = MibRng::seed_from_u64(5);
    let img = linked_channels(h, w, &mut rng);
    let steps = [
        r#"{"kind": "random-affine", "degrees": 30.0, "translate": [0.2, 0.2], "scale": [0.8, 1.2]}"#,
        r#"{"kind": "random-resized-crop", "scale": [0.3, 0.9]}"#,
        r#"{"kind": "random-crop", "padding": 3}"#,
        r#"{"kind": "horizontal-flip", "p": 1.0}"#,
        r#"{"kind": "elastic-distortion", "alpha": 8.0, "sigma": 2.0}"#,
    ];
    for step in steps {
        let cfg: AugmentConfig =
            serde_json::from_str(&format!(r#"{{"steps": [{step}]}}"#)).unwrap();
        let aug = cfg.build().unwrap();
        let mut out = vec![0.0; img.len()];
        aug.apply_using(&img, &mut out, h, w, &mut MibRng::seed_from_u64(7));
        assert_ne!(
            out[..h * w],
            img[..h * w],
            "{step} left the image as it was"
        );
        assert_linked(&out, h, w, step);
    }
}

#[test]
fn augment_pairing_reads_colour_image_views() {
    let (n, h, w) = (6, 8, 7);
    let mut rng = MibRng::seed_from_u64(9);
    let data: Vec<f32> = (0..n)
        .flat_map(|_| linked_channels(h, w, &mut rng))
        .collect();
    let ds = MultiViewDataset::new(vec![Matrix::new(n, 3 * h * w, data).unwrap()], None, None)
        .unwrap()
        .with_view_image_shape(0, [3, h, w])
        .unwrap();
    let pairing = PairingConfig::augment(AugmentConfig::reference());
    let (mut a, mut b) = (vec![0.0; 3 * h * w], vec![0.0; 3 * h * w]);
    mib::data::make_pair_using(&ds, &pairing, [0, 0], 1, 0, 2, &mut a, &mut b).unwrap();
    assert_ne!(a, b);
    // the reference augmentation corrupts pixels independently, so compare the affine alone
    let affine: AugmentConfig = serde_json::from_str(
        r#"{"steps": [{"kind": "random-affine", "degrees": 15.0, "translate": [0.1, 0.1]}]}"#,
    )
    .unwrap();
    let pairing = PairingConfig::augment(affine);
    mib::data::make_pair_using(&ds, &pairing, [0, 0], 1, 0, 2, &mut a, &mut b).unwrap();
    assert_linked(&a, h, w, "slot 0");
    assert_linked(&b, h, w, "slot 1");
    // a view without an image shape is refused, naming it
    let flat = MultiViewDataset::new(
        vec![Matrix::new(n, 5, vec![0.0; n * 5]).unwrap()],
        None,
        None,
    )
    .unwrap();
    let (mut a5, mut b5) = (vec![0.0; 5], vec![0.0; 5]);
    let e = mib::data::make_pair_using(&flat, &pairing, [0, 0], 1, 0, 0, &mut a5, &mut b5)
        .unwrap_err()
        .to_string();
    assert!(e.contains("view0") && e.contains("image"), "{e}");
}
