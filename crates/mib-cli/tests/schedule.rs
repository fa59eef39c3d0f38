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
