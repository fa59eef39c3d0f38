//! The beta path: `train.checkpoint_at_beta` keeps one named checkpoint per beta (never rotated
//! away, not duplicated on resume), [`mib::eval::beta_path`] evaluates them and names the best,
//! checkpoints can be picked by name, and bad input is refused by name.

use std::path::PathBuf;

use mib::config::TrainConfig;
use mib::eval::{beta_path, BetaPathParams};
use mib::models::TrainedModel;
use mib::train::checkpoint::{beta_checkpoint_name, parse_beta_checkpoint_name};
use mib::train::{self, NoObserver, RunFolder, RunOptions, TrainObserver};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mib-beta-path-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// MIB on mfeat, 400 iterations, beta 1e-3 -> 1 over iterations 100..300 (exponential).
fn config(at: &str) -> TrainConfig {
    TrainConfig::from_toml_str(
        &format!(
            r#"seed = 2
[data]
dataset = "mfeat"
views = ["pix", "fou"]
pairing = {{ kind = "aligned" }}
[model]
objective = "mib"
encoder_hidden = [32]
z_dim = 8
shared_encoder = false
critic_hidden = [32]
[optim]
lr = 1e-3
[beta]
kind = "exponential"
start = 1e-3
end = 1.0
start_iteration = 100
n_iterations = 200
[train]
iterations = 400
log_every = 10
checkpoint_every = 50
keep_checkpoints = 1
threads = 1
checkpoint_at_beta = {at}
"#
        ),
        "beta_path test",
    )
    .unwrap()
}

#[test]
fn betas_map_to_the_first_iteration_that_reaches_them() {
    let cfg = config("[1.0, 1e-3, 0.01, 0.1]");
    let marks = cfg.beta_checkpoints().unwrap();
    // value(it - 1) >= beta first at: 1e-3 -> 1 (the start value), 1 -> 300 (the ramp's end)
    assert_eq!(marks[0], (1, 1e-3));
    assert_eq!(marks.last().unwrap(), &(301, 1.0));
    for &(it, b) in &marks {
        let v = cfg.beta.value(it - 1);
        assert!(v >= b * (1.0 - 1e-9), "beta {b} at {it}: {v}");
        if it > 1 {
            assert!(
                cfg.beta.value(it - 2) < b,
                "beta {b}: {it} is not the first"
            );
        }
    }
    // 0.01 is 1/3 of the way (log scale) through the 200-iteration ramp
    assert!((165..=168).contains(&marks[1].0), "{marks:?}");
    assert_eq!(
        beta_checkpoint_name(0.01, 167),
        "beta-1e-2-0000000167.safetensors"
    );
    assert_eq!(
        parse_beta_checkpoint_name("beta-1e-2-0000000167.safetensors"),
        Some((0.01, 167))
    );
}

#[test]
fn betas_the_schedule_never_reaches_are_refused_by_name() {
    let e = config("[2.0]").validate().unwrap_err().to_string();
    assert!(
        e.contains("train.checkpoint_at_beta") && e.contains("never reaches"),
        "{e}"
    );
    let e = config("[-1.0]").validate().unwrap_err().to_string();
    assert!(
        e.contains("train.checkpoint_at_beta") && e.contains(">= 0"),
        "{e}"
    );
    let mut c = config("[0.5]");
    c.beta = mib::train::schedule::BetaSchedule::Constant { value: 0.5 };
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("beta is constant"), "{e}");
    // the default asks for nothing
    assert!(config("[]").beta_checkpoints().unwrap().is_empty());
}

#[test]
fn the_beta_path_is_kept_evaluated_and_picked_from() {
    let dir = tmp("path");
    let cfg = config("[1e-3, 1e-2, 0.1, 1.0]");
    let data = mib::data::load_splits(&cfg).unwrap();
    // stopped at 200, then resumed: the checkpoints before the stop are not written twice
    struct StopAt(u64);
    impl TrainObserver for StopAt {
        fn should_stop(&mut self, it: u64) -> bool {
            it >= self.0
        }
    }
    train::train(&cfg, &data, &dir, &RunOptions::default(), &mut StopAt(200)).unwrap();
    let run = RunFolder::new(&dir);
    assert_eq!(run.beta_checkpoints().unwrap().len(), 2, "1e-3 and 1e-2");
    let resume = RunOptions {
        resume: true,
        ..Default::default()
    };
    train::train(&cfg, &data, &dir, &resume, &mut NoObserver).unwrap();
    let cks = run.beta_checkpoints().unwrap();
    let betas: Vec<f64> = cks.iter().map(|c| c.beta).collect();
    assert_eq!(betas, vec![1e-3, 1e-2, 0.1, 1.0]);
    // keep_checkpoints = 1 rotated the periodic ones, not these
    assert_eq!(run.checkpoints().unwrap().len(), 1);
    for c in &cks {
        let m = TrainedModel::open_checkpoint(&dir, Some(&format!("beta={}", c.beta)), 1).unwrap();
        assert_eq!(m.iteration(), c.iteration);
    }
    // by file name, with or without the extension (0.1 is 2/3 of the way: iteration 235)
    for name in ["beta-1e-1-0000000235", "beta-1e-1-0000000235.safetensors"] {
        let m = TrainedModel::open_checkpoint(&dir, Some(name), 1).unwrap();
        assert_eq!(m.iteration(), 235);
    }
    assert_eq!(
        TrainedModel::open_checkpoint(&dir, Some("final"), 1)
            .unwrap()
            .iteration(),
        400
    );

    let params = BetaPathParams {
        repetitions: 2,
        ..Default::default()
    };
    let r = beta_path(&dir, &data, &params, 1).unwrap();
    assert_eq!(r.points.len(), 5, "4 betas and the final model");
    assert_eq!(r.points[4].checkpoint, "final");
    assert_eq!(r.best_labels_per_class, 10);
    let acc = |i: usize| r.points[i].linear_probe[1].mean;
    let best = r.best.unwrap();
    assert!((0..5).all(|i| acc(i) <= acc(best)), "{}", r.to_table());
    for p in &r.points {
        let (lo, hi) = (p.i_xz_lower.unwrap(), p.i_xz_upper.unwrap());
        assert!(lo <= hi + 1e-9 && lo >= -1e-9, "{p:?}");
        assert!(p.i_yz.unwrap() <= r.h_y.unwrap() + 1e-9);
        assert_eq!(p.linear_probe.len(), 2);
    }
    // the untrained start carries less about x than the model at beta 0.01
    assert!(r.points[0].i_xz_upper.unwrap() < r.points[1].i_xz_upper.unwrap());
    let t = r.to_table();
    assert!(t.contains("<- best") && t.contains("--checkpoint"), "{t}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_runs_and_checkpoint_names_are_refused_by_name() {
    let dir = tmp("bad");
    let cfg = config("[]");
    let data = mib::data::load_splits(&cfg).unwrap();
    // not a run folder
    std::fs::create_dir_all(&dir).unwrap();
    let e = beta_path(&dir, &data, &BetaPathParams::default(), 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a run folder"), "{e}");
    // a run without a beta path
    let mut short = cfg.clone();
    short.train.iterations = 50;
    short.beta = short.beta.scaled(400, 50);
    train::train(&short, &data, &dir, &RunOptions::default(), &mut NoObserver).unwrap();
    let e = beta_path(&dir, &data, &BetaPathParams::default(), 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no checkpoints on its beta path") && e.contains("checkpoint_at_beta"),
        "{e}"
    );
    // a checkpoint that is not there: the error lists what is
    let e = TrainedModel::open_checkpoint(&dir, Some("ckpt-123"), 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ckpt-123") && e.contains("final") && e.contains("ckpt-0000000050"),
        "{e}"
    );
    let e = TrainedModel::open_checkpoint(&dir, Some("beta=abc"), 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("beta=<number>"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
