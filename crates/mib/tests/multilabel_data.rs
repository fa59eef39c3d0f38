//! Multi-label targets end to end: a multi-hot labels `.npy` `[n, n_labels]` is read as targets,
//! training ignores it, and the evaluation runs the label-limited multi-label probe (mAP at 1 %,
//! 10 % and 100 % of the training items) on a synthetic set whose answer is known: both views are
//! noisy linear images of the same binary factors, and the targets are those factors.

use std::path::{Path, PathBuf};

use mib::config::TrainConfig;
use mib::data::array::{Elements, RawArray};
use mib::data::{load_splits, npy};
use mib::eval::{evaluate_model, evaluate_raw, EvalProtocol};
use mib::pool::ComputePool;
use mib::train::{self, NoObserver, RunOptions};
use rand::{Rng, SeedableRng};

const N: usize = 1000;
const L: usize = 4;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mib-multilabel-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn save(path: &Path, shape: Vec<usize>, data: Elements) {
    npy::write_npy(path, &RawArray { shape, data }).unwrap();
}

/// Writes views `a.npy` `[N, 12]`, `b.npy` `[N, 10]` and the targets `t.npy` `[N, L]` (u8).
fn write_set(dir: &Path, permute_targets: bool) -> Vec<PathBuf> {
    let mut rng = mib::MibRng::seed_from_u64(7);
    let f: Vec<f32> = (0..N * L)
        .map(|_| (rng.random::<f32>() < 0.35) as u8 as f32)
        .collect();
    let mut paths = Vec::new();
    for (name, d) in [("a", 12), ("b", 10)] {
        let w: Vec<f32> = (0..L * d)
            .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
            .collect();
        let mut x = vec![0f32; N * d];
        for i in 0..N {
            for c in 0..d {
                let s: f32 = (0..L).map(|l| f[i * L + l] * w[l * d + c]).sum();
                x[i * d + c] = s + 0.1 * (rng.random::<f32>() - 0.5);
            }
        }
        let p = dir.join(format!("{name}.npy"));
        save(&p, vec![N, d], Elements::F32(x));
        paths.push(p);
    }
    let mut rows: Vec<usize> = (0..N).collect();
    if permute_targets {
        use rand::seq::SliceRandom;
        rows.shuffle(&mut rng);
    }
    let t: Vec<u8> = rows
        .iter()
        .flat_map(|&i| (0..L).map(move |l| (i, l)))
        .map(|(i, l)| f[i * L + l] as u8)
        .collect();
    save(&dir.join("t.npy"), vec![N, L], Elements::U8(t));
    paths
}

fn config(paths: &[PathBuf], dir: &Path) -> TrainConfig {
    let mut cfg = TrainConfig::from_toml_str(
        r#"
[data]
dataset = "npy"
[data.pairing]
kind = "aligned"
[model]
encoder_hidden = [64]
z_dim = 8
shared_encoder = false
critic = "separable"
estimator = "infonce"
temperature = 0.5
[optim]
lr = 1e-3
[beta]
kind = "constant"
value = 1e-3
[train]
iterations = 300
batch_size = 64
log_every = 50
checkpoint_every = 300
threads = 2
[eval]
every = 0
"#,
        "multilabel test config",
    )
    .unwrap();
    cfg.data.views = paths.iter().map(|p| p.display().to_string()).collect();
    cfg.data.labels = Some(dir.join("t.npy"));
    cfg
}

fn protocol() -> EvalProtocol {
    EvalProtocol {
        repetitions: 5,
        ..EvalProtocol::default()
    }
}

#[test]
fn multilabel_probe_finds_the_shared_factors() {
    let dir = tmp("known");
    let paths = write_set(&dir, false);
    let cfg = config(&paths, &dir);
    let data = load_splits(&cfg).unwrap();
    let t = data
        .train
        .targets
        .as_ref()
        .expect("a 2-D labels file is read as targets");
    assert_eq!((t.rows, t.cols), (800, L));
    assert!(data.train.labels.is_none());

    // Raw features: the targets are linear in them, so the probe on all items is near perfect.
    let pool = ComputePool::new(2);
    let raw = evaluate_raw(&data, 0, &protocol(), &pool).unwrap();
    let raw_ml = raw.multilabel.unwrap();
    let labelled: Vec<usize> = raw_ml.iter().map(|m| m.labelled).collect();
    assert_eq!(labelled, [8, 80, 800]);
    assert_eq!(raw_ml[2].repetitions, 1);
    assert!(raw_ml[2].mean_map > 0.97, "raw mAP {:?}", raw_ml);
    assert!(raw.linear_probe.is_empty());

    // MIB keeps what the views share, which is exactly the factors.
    let (_, mut model) = train::train(
        &cfg,
        &data,
        &dir.join("run"),
        &RunOptions::default(),
        &mut NoObserver,
    )
    .unwrap();
    let (report, _) = evaluate_model(&mut model, &data, &protocol()).unwrap();
    let ml = report.multilabel.clone().unwrap();
    eprintln!(
        "MIB mAP: {:?}",
        ml.iter().map(|m| m.mean_map).collect::<Vec<_>>()
    );
    assert!(ml[2].mean_map > 0.9, "{ml:?}");
    assert!(ml[1].mean_map > 0.8, "{ml:?}");
    let table = EvalReportTable(&report).to_string();
    assert!(table.contains("Multi-label probe"), "{table}");
    std::fs::remove_dir_all(&dir).unwrap();
}

struct EvalReportTable<'a>(&'a mib::eval::EvalReport);
impl std::fmt::Display for EvalReportTable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.to_table())
    }
}

#[test]
fn targets_unrelated_to_the_views_score_at_chance() {
    let dir = tmp("chance");
    let paths = write_set(&dir, true);
    let data = load_splits(&config(&paths, &dir)).unwrap();
    let pool = ComputePool::new(2);
    let ml = evaluate_raw(&data, 0, &protocol(), &pool)
        .unwrap()
        .multilabel
        .unwrap();
    // The base rate of each label is 0.35: a probe that knows nothing scores about that.
    assert!(ml[2].mean_map < 0.5, "{ml:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_targets_name_the_file_row_and_label() {
    let dir = tmp("bad");
    let paths = write_set(&dir, false);
    let mut t = vec![0u8; N * L];
    t[5 * L + 2] = 2;
    save(&dir.join("t.npy"), vec![N, L], Elements::U8(t));
    let e = load_splits(&config(&paths, &dir)).unwrap_err().to_string();
    assert!(
        e.contains("t.npy") && e.contains("row 5") && e.contains("label 2"),
        "{e}"
    );
    save(
        &dir.join("t.npy"),
        vec![N - 1, L],
        Elements::U8(vec![0; (N - 1) * L]),
    );
    let e = load_splits(&config(&paths, &dir)).unwrap_err().to_string();
    assert!(e.contains("t.npy") && e.contains("999 rows"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
