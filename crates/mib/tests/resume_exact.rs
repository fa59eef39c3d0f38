//! A run stopped at any iteration (between two log lines, on one, on a probe line) and resumed
//! writes what an uninterrupted run writes: the same `metrics.jsonl` lines (timing fields aside)
//! and the same final model, byte for byte. Also when a stopped and resumed run is then killed
//! before its next checkpoint (simulated: the checkpoint it would have written is removed), so
//! that lines logged after its newest checkpoint are rewritten.

use std::path::{Path, PathBuf};

use mib::config::TrainConfig;
use mib::data::{load_splits, DatasetSplits};
use mib::train::checkpoint::LoadedCheckpoint;
use mib::train::fit::IntervalSums;
use mib::train::{self, NoObserver, RunOptions, TrainObserver};

/// Fields of a metrics line that measure time, not training.
const TIMING: [&str; 2] = ["wall_s", "it_per_s"];

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mib-resume-exact-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A small MIB run on the embedded mfeat views: 60 iterations, a line every 7 (the last one at
/// 60, a short interval), a checkpoint and a probe line every 14.
fn config() -> TrainConfig {
    TrainConfig::from_toml_str(
        r#"seed = 3
[data]
dataset = "mfeat"
views = ["pix", "fou"]
pairing = { kind = "aligned" }
[model]
objective = "mib"
encoder_hidden = [32]
z_dim = 8
shared_encoder = false
critic_hidden = [32]
[beta]
kind = "exponential"
start = 1e-3
end = 1.0
start_iteration = 10
n_iterations = 40
[train]
iterations = 60
batch_size = 32
threads = 1
log_every = 7
checkpoint_every = 14
keep_checkpoints = 100
[eval]
every = 14
labels_per_class = 2
repetitions = 1
max_test_items = 200
"#,
        "resume_exact.toml",
    )
    .unwrap()
}

struct StopAt(u64);
impl TrainObserver for StopAt {
    fn should_stop(&mut self, it: u64) -> bool {
        it >= self.0
    }
}

/// Trains into `run` (resuming when `resume`) until iteration `stop` (`None`: to the end).
fn session(cfg: &TrainConfig, data: &DatasetSplits, run: &Path, resume: bool, stop: Option<u64>) {
    let opts = RunOptions {
        resume,
        ..RunOptions::default()
    };
    let (s, _) = match stop {
        Some(k) => train::train(cfg, data, run, &opts, &mut StopAt(k)),
        None => train::train(cfg, data, run, &opts, &mut NoObserver),
    }
    .unwrap();
    assert_eq!(s.interrupted, stop.is_some());
    if let Some(k) = stop {
        assert_eq!(s.iterations, k);
    }
}

/// The metrics lines without their timing fields.
fn lines(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            for k in TIMING {
                assert!(v.as_object_mut().unwrap().remove(k).is_some(), "no {k}");
            }
            v.to_string()
        })
        .collect()
}

/// A safetensors file's header (its `mib.checkpoint` metadata without `wall_s`) and its data.
fn model_parts(path: &Path) -> (serde_json::Value, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let md = header["__metadata__"].as_object_mut().unwrap();
    let mut meta: serde_json::Value =
        serde_json::from_str(md["mib.checkpoint"].as_str().unwrap()).unwrap();
    assert!(meta.as_object_mut().unwrap().remove("wall_s").is_some());
    md.insert("mib.checkpoint".into(), meta);
    (header, bytes[8 + n..].to_vec())
}

fn assert_same_run(got: &Path, want: &Path) {
    assert_eq!(lines(got), lines(want), "metrics of {}", got.display());
    assert_eq!(
        model_parts(&got.join("model.safetensors")),
        model_parts(&want.join("model.safetensors")),
        "model of {}",
        got.display()
    );
    assert_eq!(
        std::fs::read(got.join("encoder.safetensors")).unwrap(),
        std::fs::read(want.join("encoder.safetensors")).unwrap(),
        "encoder of {}",
        got.display()
    );
}

fn checkpoint_meta(run: &Path, it: u64) -> serde_json::Value {
    let p = run
        .join("checkpoints")
        .join(format!("ckpt-{it:010}.safetensors"));
    let ck = LoadedCheckpoint::read(&p).unwrap();
    serde_json::to_value(&ck.meta).unwrap()
}

#[test]
fn stops_anywhere_then_resume_write_the_uninterrupted_run() {
    let dir = tmp("stops");
    let cfg = config();
    let data = load_splits(&cfg).unwrap();

    let reference = dir.join("reference");
    session(&cfg, &data, &reference, false, None);
    let want = lines(&reference);
    assert_eq!(want.len(), 9, "lines at 7, 14, ..., 56 and 60");
    let probed = want.iter().filter(|l| l.contains("probe_accuracy")).count();
    assert_eq!(probed, 4, "probe lines at 14, 28, 42, 56: {want:?}");

    // Stopped (as Ctrl-C or SIGTERM stop it) inside intervals, twice in one interval, on a
    // probe line (28) and on the last interval's boundary with the end (56), resumed each time.
    let run = dir.join("stopped");
    session(&cfg, &data, &run, false, Some(3));
    for k in [10, 11, 28, 33, 56, 59] {
        session(&cfg, &data, &run, true, Some(k));
    }
    // A stop between two lines carries the interval's sums; one on a line carries none (the
    // checkpoint reads as those written before the sums were saved).
    let mid = checkpoint_meta(&run, 33);
    assert_eq!(mid["interval"]["n"], 5, "{mid}");
    assert!(checkpoint_meta(&run, 28).get("interval").is_none());
    session(&cfg, &data, &run, true, None);
    assert_same_run(&run, &reference);

    // Stopped at 33, resumed, then killed at 40 and at 50 before the checkpoints at 42 and 56:
    // the lines after the newest checkpoint (35; 49) are dropped on resume and written again.
    let killed = dir.join("killed");
    session(&cfg, &data, &killed, false, Some(33));
    for k in [40, 50] {
        session(&cfg, &data, &killed, true, Some(k));
        std::fs::remove_file(
            killed
                .join("checkpoints")
                .join(format!("ckpt-{k:010}.safetensors")),
        )
        .unwrap();
        let logged = lines(&killed);
        assert_eq!(logged.len() as u64, k / 7, "{logged:?}");
    }
    session(&cfg, &data, &killed, true, None);
    assert_same_run(&killed, &reference);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn interval_sums_round_trip_exactly_even_when_not_finite() {
    let sums = IntervalSums {
        n: 3,
        nonfinite: 1,
        loss: 0.1 + 0.2,
        mi_estimate: f64::INFINITY,
        mi_surrogate: f64::NEG_INFINITY,
        skl: -0.0,
        rate: 1e-310,
        distortion: f64::MAX,
        cross_entropy: 0.0,
    };
    let back: IntervalSums = serde_json::from_str(&serde_json::to_string(&sums).unwrap()).unwrap();
    assert_eq!(back, sums);
    assert!(back.skl.is_sign_negative());
    let nan = IntervalSums {
        loss: f64::NAN,
        ..sums
    };
    let back: IntervalSums = serde_json::from_str(&serde_json::to_string(&nan).unwrap()).unwrap();
    assert_eq!(back.loss.to_bits(), nan.loss.to_bits());
}
