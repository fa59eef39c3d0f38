//! `mib doctor`'s checks ([`mib::diagnose`]), each on a run made to show its finding: tiny MIB,
//! MV-InfoMax and beta-VAE runs on the embedded mfeat views (each trains in well under a second),
//! and, where the finding needs no training (an unfinished run's metrics), a run stopped early.
//! Each test also checks a healthy run does not show the finding, so none can pass by always
//! firing.

use std::path::PathBuf;
use std::sync::OnceLock;

use mib::config::TrainConfig;
use mib::diagnose::{diagnose_run, Diagnosis, FindingKind as K, Severity};
use mib::train::{self, NoObserver, RunOptions, TrainObserver};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mib-doctor-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A small run on the mfeat views (`views`), then `rest` (sections and keys after `[model]`'s).
fn config(views: &str, model: &str, rest: &str) -> TrainConfig {
    let text = format!(
        r#"seed = 1
[data]
dataset = "mfeat"
views = {views}
pairing = {{ kind = "aligned" }}
[model]
encoder_hidden = [32]
z_dim = 8
shared_encoder = false
critic_hidden = [32]
decoder_hidden = [32]
{model}
{rest}"#
    );
    TrainConfig::from_toml_str(&text, "doctor test").unwrap()
}

const LOOP: &str = "iterations = 300\nlog_every = 10\ncheckpoint_every = 100\nthreads = 1";

/// Trains `cfg` into a fresh folder `name` and diagnoses it.
fn run_with(name: &str, cfg: &TrainConfig, observer: &mut dyn TrainObserver) -> Diagnosis {
    let dir = tmp(name);
    let data = mib::data::load_splits(cfg).unwrap();
    let r = train::train(cfg, &data, &dir, &RunOptions::default(), observer);
    r.unwrap();
    let d = diagnose_run(&dir, 1).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    d
}

fn run(name: &str, cfg: &TrainConfig) -> Diagnosis {
    run_with(name, cfg, &mut NoObserver)
}

/// A healthy MIB run: lr 1e-3, beta ramped 1e-3 -> 0.1 over the middle of the run, the probe
/// logged. Shared by the tests as the negative control.
fn healthy() -> &'static Diagnosis {
    static D: OnceLock<Diagnosis> = OnceLock::new();
    D.get_or_init(|| {
        let cfg = config(
            r#"["pix", "fou"]"#,
            r#"objective = "mib""#,
            "[optim]\nlr = 1e-3\n[beta]\nkind = \"exponential\"\nstart = 1e-3\nend = 0.1\n\
             start_iteration = 300\nn_iterations = 400\n\
             [train]\niterations = 1000\nlog_every = 20\ncheckpoint_every = 500\nthreads = 1\n\
             [eval]\nevery = 100\nlabels_per_class = 5\nrepetitions = 2\nmax_test_items = 400",
        );
        run("healthy", &cfg)
    })
}

fn show(d: &Diagnosis) -> String {
    d.to_text()
}

#[test]
fn a_healthy_run_has_no_problem() {
    let d = healthy();
    assert!(
        d.findings.iter().all(|f| f.severity != Severity::Problem),
        "{}",
        show(d)
    );
    for k in [
        K::MiAtNoInformation,
        K::MiNearZero,
        K::NonfiniteSteps,
        K::LearningRateTooHigh,
        K::RunUnfinished,
        K::ScheduleEndsAfterRun,
        K::ScheduleEndsBeforeRun,
        K::DimensionsAtPrior,
    ] {
        assert!(!d.has(k), "{k:?} in a healthy run:\n{}", show(d));
    }
    assert!(d.passed.iter().any(|p| p.starts_with("MI estimate")));
    assert!(d.to_text().contains("Checked and fine"));
}

#[test]
fn loss_stuck_at_ln4_is_found() {
    // beta = 1000 from the start: the encoders become constant and the critic has nothing to
    // tell apart, so the JSD surrogate sits at -ln 4 (the loss at 1.386 of the reference's #1).
    let cfg = config(
        r#"["pix", "fou"]"#,
        r#"objective = "mib""#,
        &format!(
            "[optim]\nlr = 1e-3\n[beta]\nkind = \"constant\"\nvalue = 1000.0\n[train]\n{LOOP}"
        ),
    );
    let d = run("stuck", &cfg);
    let f = d
        .get(K::MiAtNoInformation)
        .unwrap_or_else(|| panic!("{}", show(&d)));
    assert_eq!(f.severity, Severity::Problem);
    assert!(
        f.saw.contains("-1.386") && f.saw.contains("ln 4"),
        "{}",
        f.saw
    );
    assert!(f.advice.contains("beta = 0"), "{}", f.advice);
    // and every dimension is constant
    let c = d
        .get(K::DimensionsConstant)
        .unwrap_or_else(|| panic!("{}", show(&d)));
    assert!(c.title.starts_with("8 of 8"), "{}", c.title);
    assert_eq!(c.severity, Severity::Problem);
}

#[test]
fn an_mi_estimate_that_never_rose_is_near_zero() {
    // NWJ on a learning rate so low nothing moves: the estimate stays at its no-information value 0
    let cfg = config(
        r#"["pix", "fou"]"#,
        "objective = \"mib\"\nestimator = \"nwj\"",
        &format!("[optim]\nlr = 1e-7\n[train]\n{LOOP}"),
    );
    let d = run("nearzero", &cfg);
    let f = d
        .get(K::MiNearZero)
        .unwrap_or_else(|| panic!("{}", show(&d)));
    assert!(f.saw.contains("NWJ estimate"), "{}", f.saw);
    assert!(
        !d.has(K::MiAtNoInformation),
        "NWJ has no ln 4:\n{}",
        show(&d)
    );
}

#[test]
fn infonce_at_its_cap_is_found() {
    // identical views, InfoNCE over a batch of 8: the estimate climbs to ln 8
    let cfg = config(
        r#"["fou", "fou"]"#,
        "objective = \"mib\"\nestimator = \"infonce\"",
        "[optim]\nlr = 1e-3\n[beta]\nkind = \"constant\"\nvalue = 0.0\n[train]\niterations = 800\n\
         log_every = 20\ncheckpoint_every = 400\nthreads = 1\nbatch_size = 8",
    );
    let d = run("cap", &cfg);
    let f = d
        .get(K::MiAtInfonceCap)
        .unwrap_or_else(|| panic!("{}", show(&d)));
    assert!(f.saw.contains("ln(8) = 2.079"), "{}", f.saw);
    assert!(f.advice.contains("batch_size"), "{}", f.advice);
    // beta 0: the SKL check says so, as information
    assert_eq!(d.get(K::SklNeverFell).unwrap().severity, Severity::Info);
    // JSD has no cap to reach
    assert!(!healthy().has(K::MiAtInfonceCap));
}

#[test]
fn an_skl_that_never_fell_is_found() {
    // beta 1e-3 throughout: the SKL grows as the encoders learn and nothing pulls it down
    let cfg = config(
        r#"["pix", "fou"]"#,
        r#"objective = "mib""#,
        "[optim]\nlr = 1e-3\n[train]\niterations = 400\nlog_every = 10\ncheckpoint_every = 100\n\
         threads = 1",
    );
    let d = run("skl", &cfg);
    let f = d
        .findings
        .iter()
        .find(|f| f.kind == K::SklNeverFell)
        .unwrap_or_else(|| panic!("{}\n{:?}", show(&d), d.passed));
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.saw.contains("beta = 0.001"), "{}", f.saw);
    assert!(!d.has(K::LearningRateTooHigh), "{}", show(&d));
}

#[test]
fn a_vae_with_a_large_beta_collapses_to_the_prior() {
    let cfg = config(
        r#"["pix"]"#,
        r#"objective = "vae""#,
        &format!("[optim]\nlr = 1e-3\n[beta]\nkind = \"constant\"\nvalue = 30.0\n[train]\n{LOOP}"),
    );
    let d = run("vae", &cfg);
    let f = d
        .get(K::DimensionsAtPrior)
        .unwrap_or_else(|| panic!("{}", show(&d)));
    assert!(f.title.starts_with("8 of 8"), "{}", f.title);
    assert!(f.saw.contains("N(0, 1)"), "{}", f.saw);
    assert!(!d.has(K::DimensionsConstant), "{}", show(&d));
}

#[test]
fn a_probe_that_peaked_early_is_found_with_its_beta() {
    // beta ramped to 1000: the representation is squeezed to nothing at the end
    let cfg = config(
        r#"["pix", "fou"]"#,
        r#"objective = "mib""#,
        "[optim]\nlr = 1e-3\n[beta]\nkind = \"exponential\"\nstart = 1e-3\nend = 1e3\n\
         start_iteration = 100\nn_iterations = 500\n\
         [train]\niterations = 600\nlog_every = 20\ncheckpoint_every = 200\nthreads = 1\n\
         [eval]\nevery = 60\nlabels_per_class = 5\nrepetitions = 2\nmax_test_items = 400",
    );
    let d = run("peak", &cfg);
    let f = d
        .get(K::ProbePeakedEarly)
        .unwrap_or_else(|| panic!("{}", show(&d)));
    assert!(
        f.saw.contains("at the end (iteration 600, beta "),
        "{}",
        f.saw
    );
    assert!(f.advice.contains("checkpoint_at_beta"), "{}", f.advice);
}

#[test]
fn a_schedule_longer_or_much_shorter_than_the_run_is_found() {
    let after = config(
        r#"["pix", "fou"]"#,
        r#"objective = "mib""#,
        &format!(
            "[optim]\nlr = 1e-3\n[beta]\nkind = \"exponential\"\nstart = 1e-3\nend = 1.0\n\
             start_iteration = 100\nn_iterations = 900\n[train]\n{LOOP}"
        ),
    );
    let d = run("after", &after);
    let f = d
        .get(K::ScheduleEndsAfterRun)
        .unwrap_or_else(|| panic!("{}", show(&d)));
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.saw.contains("the run has 300"), "{}", f.saw);
    assert!(f.saw.contains("22 % of the ramp"), "{}", f.saw);
    assert!(!d.has(K::ScheduleEndsBeforeRun));

    let before = config(
        r#"["pix", "fou"]"#,
        r#"objective = "mib""#,
        &format!(
            "[optim]\nlr = 1e-3\n[beta]\nkind = \"linear\"\nstart = 0.0\nend = 0.1\n\
             start_iteration = 10\nn_iterations = 40\n[train]\n{LOOP}"
        ),
    );
    let d = run("before", &before);
    let f = d
        .get(K::ScheduleEndsBeforeRun)
        .unwrap_or_else(|| panic!("{}", show(&d)));
    assert!(f.saw.contains("ended at iteration 50"), "{}", f.saw);
    assert!(f.saw.contains("last 250 iterations"), "{}", f.saw);
    assert!(!d.has(K::ScheduleEndsAfterRun));
}

#[test]
fn skipped_non_finite_steps_and_a_too_high_learning_rate_are_found() {
    // lr 1000: after the first step every loss is non-finite; max_nonfinite lets the run finish
    let cfg = config(
        r#"["pix", "fou"]"#,
        r#"objective = "mib""#,
        &format!("[optim]\nlr = 1e3\n[train]\n{LOOP}\nmax_nonfinite = 100000"),
    );
    let d = run("nonfinite", &cfg);
    let f = d
        .get(K::NonfiniteSteps)
        .unwrap_or_else(|| panic!("{}", show(&d)));
    assert!(f.saw.starts_with("299 of 300 steps"), "{}", f.saw);
    assert_eq!(f.severity, Severity::Problem);
    assert!(d.has(K::LearningRateTooHigh), "{}", show(&d));
    assert!(!healthy().has(K::NonfiniteSteps));
}

#[test]
fn a_learning_rate_that_makes_the_loss_spike_is_found() {
    // lr 0.1: no step is non-finite, but the loss jumps by orders of magnitude
    let cfg = config(
        r#"["pix", "fou"]"#,
        r#"objective = "mib""#,
        &format!("[optim]\nlr = 0.1\n[train]\n{LOOP}"),
    );
    let d = run("lr", &cfg);
    let f = d
        .get(K::LearningRateTooHigh)
        .unwrap_or_else(|| panic!("{}", show(&d)));
    assert!(f.saw.contains("its median"), "{}", f.saw);
    assert!(f.advice.contains("1e-2"), "{}", f.advice);
    assert!(!d.has(K::NonfiniteSteps));
    assert!(!healthy().has(K::LearningRateTooHigh));
}

#[test]
fn a_run_stopped_inside_its_ramp_is_unfinished() {
    struct StopAt(u64);
    impl TrainObserver for StopAt {
        fn should_stop(&mut self, it: u64) -> bool {
            it >= self.0
        }
    }
    let cfg = config(
        r#"["pix", "fou"]"#,
        r#"objective = "mib""#,
        &format!(
            "[optim]\nlr = 1e-3\n[beta]\nkind = \"exponential\"\nstart = 1e-3\nend = 1.0\n\
             start_iteration = 50\nn_iterations = 200\n[train]\n{LOOP}"
        ),
    );
    let d = run_with("unfinished", &cfg, &mut StopAt(120));
    let f = d
        .get(K::RunUnfinished)
        .unwrap_or_else(|| panic!("{}", show(&d)));
    assert!(f.saw.contains("iteration 120 of 300"), "{}", f.saw);
    assert!(f.advice.contains("--resume"), "{}", f.advice);
    assert!(
        d.findings
            .iter()
            .any(|f| f.title == "the run stopped inside the beta ramp"),
        "{}",
        show(&d)
    );
}

#[test]
fn a_folder_that_is_not_a_run_is_refused_by_name() {
    let dir = tmp("notarun");
    std::fs::create_dir_all(&dir).unwrap();
    let e = diagnose_run(&dir, 1).unwrap_err().to_string();
    assert!(
        e.contains("not a run folder") && e.contains("config.toml"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn findings_serialise_with_kebab_case_kinds() {
    let d = healthy();
    let j = serde_json::to_value(d).unwrap();
    assert!(j["findings"].is_array() && j["passed"].is_array());
    let back: Diagnosis = serde_json::from_value(j).unwrap();
    assert_eq!(&back, d);
    assert_eq!(K::MiAtInfonceCap.name(), "mi-at-infonce-cap");
}
