//! Input scaling that travels with the model: mfeat's raw pix and fou views saved as `.npy` files
//! train like the embedded (pre-scaled) copy once `data.scaling` standardises them, and a model
//! read back from its run folder or from bytes embeds raw rows with the same scaling.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mib::config::TrainConfig;
use mib::data::array::{Elements, RawArray};
use mib::data::{load_splits, npy, DatasetSplits, ScalingChoice, ScalingConfig};
use mib::eval::{few_label_probe, LinearProbeParams};
use mib::models::TrainedModel;
use mib::train::{self, NoObserver, RunOptions};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mib-scaling-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// mfeat's raw pix (values 0-6) and fou views and the labels, as `.npy` files in `dir`.
fn write_raw_mfeat(dir: &Path) -> Vec<PathBuf> {
    let all = mib::data::mfeat::load_mfeat_all().unwrap();
    let mut paths = Vec::new();
    for name in ["pix", "fou"] {
        let m = &all.views[all.view_index(name).unwrap()];
        let p = dir.join(format!("{name}.npy"));
        npy::write_npy(
            &p,
            &RawArray {
                shape: vec![m.rows, m.cols],
                data: Elements::F32(m.data.to_vec()),
            },
        )
        .unwrap();
        paths.push(p);
    }
    let y = all.labels.as_ref().unwrap();
    npy::write_npy(
        &dir.join("y.npy"),
        &RawArray {
            shape: vec![y.len()],
            data: Elements::I64(y.iter().map(|&v| v as i64).collect()),
        },
    )
    .unwrap();
    paths
}

/// The demo recipe at `iterations` (schedule scaled), on 2 threads.
fn demo(iterations: u64) -> TrainConfig {
    let mut cfg =
        TrainConfig::from_toml_str(mib::presets::preset("demo").unwrap(), "demo").unwrap();
    cfg.beta = cfg.beta.scaled(cfg.train.iterations, iterations);
    cfg.train.iterations = iterations;
    cfg.train.threads = 2;
    cfg.train.checkpoint_every = iterations;
    cfg.train.log_every = 100;
    cfg.eval.every = 0;
    cfg
}

fn npy_config(paths: &[PathBuf], dir: &Path, scaling: ScalingConfig) -> TrainConfig {
    let mut cfg = demo(1000);
    cfg.data.dataset = "npy".into();
    cfg.data.views = paths.iter().map(|p| p.display().to_string()).collect();
    cfg.data.labels = Some(dir.join("y.npy"));
    cfg.data.scaling = scaling;
    cfg
}

/// Trains `cfg` into `run` and returns the 1-label-per-class probe accuracy on the test split.
fn one_label_accuracy(cfg: &TrainConfig, data: &DatasetSplits, run: &Path) -> f64 {
    let (_, mut model) =
        train::train(cfg, data, run, &RunOptions::default(), &mut NoObserver).unwrap();
    let ztr = model.embed_dataset(&data.train, 0).unwrap();
    let zte = model.embed_dataset(&data.test, 0).unwrap();
    let s = few_label_probe(
        &ztr,
        data.train.labels.as_ref().unwrap(),
        &zte,
        data.test.labels.as_ref().unwrap(),
        10,
        &[1],
        20,
        &LinearProbeParams::default(),
        0,
    )
    .unwrap();
    s[0].mean
}

#[test]
fn npy_copy_of_mfeat_scores_like_the_embedded_one() {
    let dir = tmp("npy");
    let paths = write_raw_mfeat(&dir);
    let auto = npy_config(&paths, &dir, ScalingConfig::default());
    let data = load_splits(&auto).unwrap();
    let acc_auto = one_label_accuracy(&auto, &data, &dir.join("run-auto"));
    let none = npy_config(&paths, &dir, ScalingConfig::One(ScalingChoice::None));
    let acc_none = one_label_accuracy(&none, &data, &dir.join("run-none"));
    let embedded = demo(1000);
    let edata = load_splits(&embedded).unwrap();
    let acc_embedded = one_label_accuracy(&embedded, &edata, &dir.join("run-embedded"));
    eprintln!(
        "1 label/class: npy auto {acc_auto:.3}, npy none {acc_none:.3}, embedded {acc_embedded:.3}"
    );
    assert!(
        acc_auto > acc_none + 0.04,
        "scaling should help the raw files: auto {acc_auto:.3}, none {acc_none:.3}"
    );
    assert!(
        acc_auto > acc_embedded - 0.06,
        "the .npy copy should score like the embedded one: {acc_auto:.3} vs {acc_embedded:.3}"
    );

    // The statistics travel with the model: opened from its folder or read back from bytes, it
    // embeds raw rows exactly as the model that was trained did.
    let run = dir.join("run-auto");
    let mut opened = TrainedModel::open(&run, 1).unwrap();
    assert_eq!(opened.scaling().len(), 2);
    assert!(opened.scaling().iter().all(Option::is_some));
    let raw = &data.test.views[0];
    let z_open = opened.embed(0, raw).unwrap();
    let mut again = TrainedModel::from_bytes(&opened.to_bytes().unwrap(), "bytes", 1).unwrap();
    assert_eq!(again.embed(0, raw).unwrap(), z_open);
    let cfg_text = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(
        !cfg_text.contains("scaling ="),
        "auto is the default and not written"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_resumed_run_keeps_the_scaling_of_its_checkpoint() {
    let dir = tmp("resume");
    let paths = write_raw_mfeat(&dir);
    let mut cfg = npy_config(&paths, &dir, ScalingConfig::default());
    cfg.train.iterations = 40;
    cfg.train.log_every = 10;
    cfg.train.checkpoint_every = 20;
    let data = load_splits(&cfg).unwrap();
    let run = dir.join("run");
    struct StopAt(u64);
    impl train::TrainObserver for StopAt {
        fn should_stop(&mut self, it: u64) -> bool {
            it >= self.0
        }
    }
    let (s, first) =
        train::train(&cfg, &data, &run, &RunOptions::default(), &mut StopAt(20)).unwrap();
    assert!(s.interrupted);
    let resumed = RunOptions {
        resume: true,
        ..RunOptions::default()
    };
    let (_, done) = train::train(&cfg, &data, &run, &resumed, &mut NoObserver).unwrap();
    assert_eq!(first.scaling(), done.scaling());
    let (_, straight) = train::train(
        &cfg,
        &data,
        &dir.join("straight"),
        &RunOptions::default(),
        &mut NoObserver,
    )
    .unwrap();
    assert_eq!(
        done.step().params().values(),
        straight.step().params().values()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_scaling_is_refused_with_the_key() {
    let dir = tmp("bad");
    let paths = write_raw_mfeat(&dir);
    let cfg = npy_config(
        &paths,
        &dir,
        ScalingConfig::PerView(vec![mib::data::ScalingKind::Minmax]),
    );
    let data = load_splits(&cfg).unwrap();
    let e = train::fit(&cfg, Arc::clone(&data.train), None, None, &mut NoObserver)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("data.scaling") && e.contains("one kind per view"),
        "{e}"
    );
    let e = TrainConfig::from_toml_str(
        "[data]\ndataset = \"mfeat\"\nscaling = \"loud\"\n[data.pairing]\nkind = \"aligned\"\n",
        "bad.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("bad.toml"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
