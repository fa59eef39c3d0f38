//! `--iterations` scales the config's beta schedule to the run (unless `--keep-schedule`), prints
//! it and saves it in `config.toml`.

mod common;
use common::tmpdir;

use mib::train::schedule::BetaSchedule;
use std::process::Command;

fn train(dir: &std::path::Path, extra: &[&str]) -> (BetaSchedule, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mib"))
        .args([
            "train",
            "--config",
            "demo",
            "--threads",
            "1",
            "--quiet",
            "--out",
        ])
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    let cfg = mib::config::TrainConfig::from_file(&dir.join("config.toml")).unwrap();
    (cfg.beta, err)
}

fn ramp(b: &BetaSchedule) -> (u64, u64) {
    match b {
        BetaSchedule::Exponential {
            start_iteration,
            n_iterations,
            ..
        } => (*start_iteration, *n_iterations),
        other => panic!("the demo preset's schedule is exponential, got {other:?}"),
    }
}

#[test]
fn iterations_scale_the_preset_schedule() {
    let d = tmpdir("schedule-scaled");
    // demo: 3,000 iterations, beta ramps over 500..2000
    let (beta, err) = train(&d.join("a"), &["--iterations", "60"]);
    assert_eq!(ramp(&beta), (10, 30));
    assert!(
        err.contains("beta schedule: exponential 0.001 -> 1 over iterations 10..40"),
        "{err}"
    );
    let (beta, _) = train(&d.join("b"), &["--iterations", "60", "--keep-schedule"]);
    assert_eq!(ramp(&beta), (500, 1500));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_folder_named_like_a_preset_does_not_hide_the_preset() {
    // a run folder called `demo` in the working directory: `--config demo` is still the preset,
    // and `mib experiment --preset mfeat` the shipped experiment, not "reading demo: is a directory"
    let d = tmpdir("preset-shadow");
    std::fs::create_dir_all(d.join("demo")).unwrap();
    std::fs::create_dir_all(d.join("mfeat")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mib"))
        .current_dir(&d)
        .args([
            "train",
            "--config",
            "demo",
            "--iterations",
            "20",
            "--threads",
            "1",
        ])
        .args(["--quiet", "--out", "run"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_mib"))
        .current_dir(&d)
        .args([
            "experiment",
            "--preset",
            "mfeat",
            "--only",
            "nothing",
            "--out",
            "exp",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // the shipped experiment was read: its arms were looked up
    assert!(
        err.contains("--only nothing: no arm of that name in `mfeat`"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&d);
}
