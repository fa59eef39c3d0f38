//! `mib::experiment`: plan resolution (preset overrides, budget scaling, raw arms) and a seconds-long
//! run on the embedded mfeat data that is reused, not redone, on a second call.

use std::path::PathBuf;

use anyhow::Result;
use mib::experiment::{
    merge_tables, run_experiment, scale_to_budget, ArmKind, ExperimentObserver, ExperimentOptions,
    ExperimentSpec, PlannedArm,
};
use mib::train::schedule::BetaSchedule;
use mib::train::{NoObserver, TrainObserver};

const PRESET: &str = r#"
seed = 1
[data]
dataset = "mfeat"
views = ["pix", "fou"]
[data.pairing]
kind = "aligned"
[model]
objective = "mib"
encoder_hidden = [16]
z_dim = 4
shared_encoder = false
critic = "separable"
estimator = "infonce"
[optim]
lr = 1e-3
[beta]
kind = "exponential"
start = 1e-3
end = 1.0
start_iteration = 50000
n_iterations = 100000
[train]
iterations = 150000
batch_size = 32
log_every = 10
checkpoint_every = 5000
threads = 1
"#;

const SPEC: &str = r#"
name = "tiny"
budget = 30
labels_per_class = [1, 5]
repetitions = 2
[set.train]
threads = 1
[[arm]]
name = "mib"
preset = "tiny"
[[arm]]
name = "raw"
raw_view = 1
[[arm]]
name = "mv-infomax"
preset = "tiny"
[arm.set.model]
objective = "mv-infomax"
[arm.set.beta]
kind = "constant"
value = 0.0
"#;

fn lookup(name: &str) -> mib::Result<String> {
    assert_eq!(name, "tiny");
    Ok(PRESET.to_string())
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mib-exp-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn plan_scales_the_schedule_and_merges_overrides() -> Result<()> {
    let spec = ExperimentSpec::from_toml_str(SPEC, "test")?;
    let plan = spec.plan(None, &lookup)?;
    let names: Vec<&str> = plan.arms.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["mib", "raw", "mv-infomax"]);
    let ArmKind::Train(mib) = &plan.arms[0].kind else {
        panic!("mib is trained")
    };
    assert_eq!(mib.train.iterations, 30);
    assert_eq!(plan.arms[0].dir_name, "mib-30it");
    match mib.beta {
        BetaSchedule::Exponential {
            start_iteration,
            n_iterations,
            ..
        } => assert_eq!((start_iteration, n_iterations), (10, 20)),
        ref b => panic!("unexpected schedule {b:?}"),
    }
    // A `kind` change replaces the whole table (no stray keys of the exponential schedule).
    let ArmKind::Train(mv) = &plan.arms[2].kind else {
        panic!("mv-infomax is trained")
    };
    assert_eq!(mv.beta, BetaSchedule::Constant { value: 0.0 });
    assert!(matches!(plan.arms[1].kind, ArmKind::Raw { view: 1, .. }));
    // An override budget applies to every trained arm.
    let plan = spec.plan(Some(90), &lookup)?;
    assert_eq!(plan.arms[2].dir_name, "mv-infomax-90it");
    Ok(())
}

#[test]
fn an_arm_that_shapes_its_schedule_keeps_the_shape() -> Result<()> {
    // The preset's 150,000 iterations with warm 1/6 and ramp 1/2 given by the arm: scaled to 3,000,
    // not reset to the 1/3 - 2/3 of the reference.
    let spec = SPEC.replace(
        "[[arm]]\nname = \"raw\"",
        "[arm.set.beta]\nstart_iteration = 25000\nn_iterations = 75000\n[[arm]]\nname = \"raw\"",
    );
    let spec = ExperimentSpec::from_toml_str(&spec, "test")?;
    let plan = spec.plan(Some(3000), &lookup)?;
    let ArmKind::Train(mib) = &plan.arms[0].kind else {
        panic!("mib is trained")
    };
    match mib.beta {
        BetaSchedule::Exponential {
            start_iteration,
            n_iterations,
            end,
            ..
        } => assert_eq!((start_iteration, n_iterations, end), (500, 1500, 1.0)),
        ref b => panic!("unexpected schedule {b:?}"),
    }
    Ok(())
}

#[test]
fn an_arm_that_sets_its_intervals_keeps_them() -> Result<()> {
    // Without its own values an arm probes and checkpoints every fifth of the budget; with them, it
    // keeps what it asks for (the 30k experiment asked for 3,000 and was given 6,000).
    let spec = ExperimentSpec::from_toml_str(SPEC, "test")?;
    let plan = spec.plan(Some(300), &lookup)?;
    let ArmKind::Train(mib) = &plan.arms[0].kind else {
        panic!("mib is trained")
    };
    assert_eq!(mib.train.checkpoint_every, 60);
    let spec = SPEC.replace(
        "[[arm]]\nname = \"raw\"",
        "[arm.set.eval]\nevery = 20\nlabels_per_class = 1\nrepetitions = 1\n\
         [arm.set.train]\ncheckpoint_every = 150\n[[arm]]\nname = \"raw\"",
    );
    let spec = ExperimentSpec::from_toml_str(&spec, "test")?;
    let plan = spec.plan(Some(300), &lookup)?;
    let ArmKind::Train(mib) = &plan.arms[0].kind else {
        panic!("mib is trained")
    };
    assert_eq!((mib.eval.every, mib.train.checkpoint_every), (20, 150));
    assert_eq!(mib.train.iterations, 300);
    // The other trained arm sets neither and keeps the budget's fifth.
    let ArmKind::Train(mv) = &plan.arms[2].kind else {
        panic!("mv-infomax is trained")
    };
    assert_eq!(mv.train.checkpoint_every, 60);
    // An interval the scaled log interval does not divide is an error naming the field.
    let bad = SPEC.replace(
        "[[arm]]\nname = \"raw\"",
        "[arm.set.eval]\nevery = 15\n[[arm]]\nname = \"raw\"",
    );
    let err = ExperimentSpec::from_toml_str(&bad, "bad")?
        .plan(Some(300), &lookup)
        .unwrap_err()
        .to_string();
    assert!(err.contains("eval.every"), "{err}");
    Ok(())
}

#[test]
fn scale_to_budget_keeps_intervals_valid() -> Result<()> {
    let mut cfg = mib::config::TrainConfig::from_toml_str(PRESET, "preset")?;
    for budget in [1, 7, 30, 3000, 150_000] {
        scale_to_budget(&mut cfg, budget, true);
        cfg.validate()?;
        assert_eq!(cfg.train.iterations, budget);
    }
    Ok(())
}

#[test]
fn merge_replaces_scalars_and_merges_tables() -> Result<()> {
    let mut base: toml::Table = toml::from_str("a = 1\n[t]\nx = 1\ny = 2\n")?;
    let over: toml::Table = toml::from_str("a = 2\n[t]\ny = 3\n")?;
    merge_tables(&mut base, &over);
    assert_eq!(base["a"].as_integer(), Some(2));
    assert_eq!(base["t"]["x"].as_integer(), Some(1));
    assert_eq!(base["t"]["y"].as_integer(), Some(3));
    Ok(())
}

#[test]
fn specs_are_checked() {
    let dup = "name = \"x\"\nbudget = 1\n[[arm]]\nname = \"a\"\nraw_view = 0\n[[arm]]\nname = \"a\"\nraw_view = 1\n";
    assert!(ExperimentSpec::from_toml_str(dup, "dup").is_err());
    let both = "name = \"x\"\nbudget = 1\n[[arm]]\nname = \"a\"\nraw_view = 0\npreset = \"p\"\n";
    assert!(ExperimentSpec::from_toml_str(both, "both").is_err());
    let slash = "name = \"x\"\nbudget = 1\n[[arm]]\nname = \"../a\"\nraw_view = 0\n";
    assert!(ExperimentSpec::from_toml_str(slash, "slash").is_err());
}

struct Log(Vec<String>, NoObserver);
impl ExperimentObserver for Log {
    fn on_arm(&mut self, _i: usize, _n: usize, arm: &PlannedArm, action: &str) {
        self.0.push(format!("{}: {action}", arm.name));
    }
    fn train_observer(&mut self) -> &mut dyn TrainObserver {
        &mut self.1
    }
}

/// Same arms and scores (up to the last bit of a JSON round trip).
fn assert_same(a: &[mib::experiment::ArmResult], b: &[mib::experiment::ArmResult]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.name, y.name);
        assert_eq!(x.report.linear_probe.len(), y.report.linear_probe.len());
        for (p, q) in x.report.linear_probe.iter().zip(&y.report.linear_probe) {
            approx::assert_abs_diff_eq!(p.mean, q.mean, epsilon = 1e-12);
        }
    }
}

#[test]
fn runs_reuses_and_never_overwrites() -> Result<()> {
    let out = tmp("run");
    let spec = ExperimentSpec::from_toml_str(SPEC, "test")?;
    let plan = spec.plan(None, &lookup)?;
    let opts = ExperimentOptions {
        threads: 1,
        stop: None,
    };
    let mut log = Log(Vec::new(), NoObserver);
    let first = run_experiment(&plan, &out, &opts, &mut log)?;
    assert_eq!(first.len(), 3);
    assert!(log.0.iter().any(|l| l == "mib: train"));
    for r in &first {
        assert_eq!(r.report.linear_probe.len(), 2);
        assert!(r.dir.join("eval.json").exists());
    }
    // The multi-view arms are scored on cross-view retrieval, the raw arm is not.
    assert!(first[0].report.retrieval.is_some());
    assert!(first[1].report.retrieval.is_none());
    assert!(out.join("summary.md").exists());

    // Second call: everything is reused, the results are the same.
    let mut log = Log(Vec::new(), NoObserver);
    let second = run_experiment(&plan, &out, &opts, &mut log)?;
    assert!(log.0.iter().all(|l| l.ends_with("reuse")), "{:?}", log.0);
    assert_same(&first, &second);

    // A finished training run without its evaluation is evaluated, not retrained.
    std::fs::remove_file(out.join("mib-30it/eval.json"))?;
    let mut log = Log(Vec::new(), NoObserver);
    let third = run_experiment(&plan, &out, &opts, &mut log)?;
    assert!(log.0.iter().any(|l| l == "mib: evaluate finished run"));
    assert_same(&first, &third);

    // A folder that holds a run of another config is an error, never overwritten.
    let mut changed = plan.clone();
    if let ArmKind::Train(c) = &mut changed.arms[0].kind {
        c.optim.lr = 5e-3;
    }
    std::fs::remove_file(out.join("mib-30it/eval.json"))?;
    let err = run_experiment(&changed, &out, &opts, &mut Log(Vec::new(), NoObserver));
    assert!(err.is_err());
    // The same for a raw arm pointed at another view.
    let mut changed = plan.clone();
    if let ArmKind::Raw { view, .. } = &mut changed.arms[1].kind {
        *view = 0;
    }
    let err = run_experiment(&changed, &out, &opts, &mut Log(Vec::new(), NoObserver));
    assert!(err.is_err());
    assert!(out.join("raw/eval.json").exists());
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}

#[test]
fn shipped_experiments_resolve() -> Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let lookup = |name: &str| -> mib::Result<String> {
        let p = root.join(format!("{name}.toml"));
        std::fs::read_to_string(&p).map_err(|e| mib::Error::io("reading", &p, e))
    };
    let mut names: Vec<String> = std::fs::read_dir(root.join("experiments"))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    names.retain(|n| n.ends_with(".toml"));
    assert!(names.len() >= 8, "{names:?}");
    for file in &names {
        let name = file.trim_end_matches(".toml");
        let p = root.join("experiments").join(file);
        let spec = ExperimentSpec::from_toml_str(&std::fs::read_to_string(&p)?, name)?;
        let plan = spec.plan(None, &lookup)?;
        // one planned arm per arm, and per seed for trained arms of multi-seed experiments
        assert!(plan.arms.len() >= spec.arms.len(), "{name}");
        for arm in &plan.arms {
            // best-search and paper-fashion-mnist-30k log the probe during training on purpose
            // (their accuracy curves)
            let curves = ["best-search", "paper-fashion-mnist-30k"].contains(&name);
            if let (ArmKind::Train(c), false) = (&arm.kind, curves) {
                assert_eq!(
                    c.eval.every, 0,
                    "{name}/{}: no probe during training",
                    arm.name
                );
            }
        }
    }
    // The fast preset is fast-seeds' `fast-t05` arm (fast-sweep trial 12 at temperature 0.5).
    let fast = mib::config::TrainConfig::from_toml_str(&lookup("fast")?, "fast")?;
    let seeds = ExperimentSpec::from_toml_str(
        &std::fs::read_to_string(root.join("experiments/fast-seeds.toml"))?,
        "fast-seeds",
    )?
    .plan(None, &lookup)?;
    let trial = seeds
        .arms
        .iter()
        .find(|a| a.name.starts_with("fast-t05"))
        .expect("fast-t05");
    let ArmKind::Train(t) = &trial.kind else {
        panic!("trained")
    };
    assert_eq!(t.model, fast.model);
    assert_eq!(t.optim, fast.optim);
    assert_eq!(t.beta, fast.beta);
    assert_eq!(t.data, fast.data);
    assert_eq!(t.train.iterations, fast.train.iterations);
    assert_eq!(t.train.batch_size, fast.train.batch_size);
    // The best preset is best-search's run (the same recipe for 15,000 iterations).
    let best = mib::config::TrainConfig::from_toml_str(&lookup("best")?, "best")?;
    let search = ExperimentSpec::from_toml_str(
        &std::fs::read_to_string(root.join("experiments/best-search.toml"))?,
        "best-search",
    )?
    .plan(None, &lookup)?;
    let ArmKind::Train(t) = &search.arms[0].kind else {
        panic!("trained")
    };
    assert_eq!(t.model, best.model);
    assert_eq!(t.optim, best.optim);
    assert_eq!(t.beta, best.beta);
    assert_eq!(t.data, best.data);
    assert_eq!(t.seed, best.seed);
    assert_eq!(t.train.iterations, best.train.iterations);
    assert_eq!(t.train.batch_size, best.train.batch_size);
    Ok(())
}

#[test]
fn seeds_run_every_trained_arm_once_each_and_summarise_over_them() -> Result<()> {
    let mut spec = ExperimentSpec::from_toml_str(SPEC, "test")?;
    spec.seeds = vec![3, 4, 5];
    spec.arms.truncate(2); // mib and raw
    spec.arms[0].note = "the MIB arm".into();
    let plan = spec.plan(None, &lookup)?;
    let dirs: Vec<&str> = plan.arms.iter().map(|a| a.dir_name.as_str()).collect();
    assert_eq!(
        dirs,
        ["mib-30it-seed3", "mib-30it-seed4", "mib-30it-seed5", "raw"]
    );
    for (a, s) in plan.arms.iter().zip([3, 4, 5]) {
        match &a.kind {
            ArmKind::Train(c) => assert_eq!(c.seed, s),
            ArmKind::Raw { .. } => panic!("raw arms run once"),
        }
    }
    let out = tmp("seeds");
    let opts = ExperimentOptions {
        threads: 1,
        stop: None,
    };
    let results = run_experiment(&plan, &out, &opts, &mut Log(Vec::new(), NoObserver))?;
    let sums = mib::experiment::seed_summaries(&plan.protocol, &results);
    let one = sums
        .iter()
        .find(|s| s.name == "mib" && s.labels_per_class == 1)
        .unwrap();
    assert_eq!(one.seeds, [3, 4, 5]);
    let means: Vec<f64> = results[..3]
        .iter()
        .map(|r| r.report.linear_probe[0].mean)
        .collect();
    approx::assert_abs_diff_eq!(one.mean, means.iter().sum::<f64>() / 3.0, epsilon = 1e-12);
    // different seeds train different models
    assert!(one.seed_std > 0.0, "{means:?}");
    let raw = sums.iter().find(|s| s.name == "raw").unwrap();
    assert_eq!(raw.seed_std, 0.0);
    let md = std::fs::read_to_string(out.join("summary.md"))?;
    assert!(
        md.contains("## Over training seeds") && md.contains("| mib | 3 |"),
        "{md}"
    );
    assert!(md.contains("mib (seed 4)"), "{md}");
    assert_eq!(
        md.matches("the MIB arm").count(),
        1,
        "one note per arm: {md}"
    );
    assert!(out.join("seeds.json").exists());
    // A repeated seed is refused.
    spec.seeds = vec![1, 1];
    let e = spec.plan(None, &lookup).unwrap_err().to_string();
    assert!(e.contains("seeds"), "{e}");
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}
