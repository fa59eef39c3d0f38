//! Golden tests against PyTorch: loss, named parts, every gradient and the parameters after one Adam
//! step, for MIB, MV-InfoMax, InfoMax and beta-VAE.
//!
//! Fixtures: `tests/data/objectives.{safetensors,json}`, written by `tests/data/make_fixtures.py`
//! (copied from the shared reference folder; small MLPs X=20, H=16, Z=4, batch 6, beta 0.37).
//! Torch weights are `[out, in]`; ours are `[in, out]`, so weights are transposed on load.
//!
//! Tolerances: loss and parts within 1e-5 relative; each gradient within 1e-4 of the largest
//! gradient magnitude of that objective; parameters after one Adam step within 1e-6.

use mib::estimators::{CriticKind, EstimatorKind};
use mib::objectives::{AdamConfig, ModelConfig, ObjectiveKind, SklKind, StepStats, TrainStep};
use mib::MibRng;
use rand::SeedableRng;
use safetensors::SafeTensors;
use std::collections::HashMap;

const BATCH: usize = 6;
const BETA: f32 = 0.37;

struct Fixture {
    t: HashMap<String, (Vec<usize>, Vec<f32>)>,
    json: serde_json::Value,
}

fn fixture() -> Fixture {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let bytes = std::fs::read(format!("{dir}/objectives.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut t = HashMap::new();
    for (name, view) in st.tensors() {
        let v: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        t.insert(name, (view.shape().to_vec(), v));
    }
    let json =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/objectives.json")).unwrap())
            .unwrap();
    Fixture { t, json }
}

impl Fixture {
    fn get(&self, name: &str) -> &[f32] {
        &self
            .t
            .get(name)
            .unwrap_or_else(|| panic!("fixture lacks {name}"))
            .1
    }
    /// A torch tensor in our layout: 2-d weights transposed to `[in, out]`.
    fn ours(&self, name: &str) -> Vec<f32> {
        let (shape, v) = self
            .t
            .get(name)
            .unwrap_or_else(|| panic!("fixture lacks {name}"));
        if shape.len() == 2 {
            let (o, i) = (shape[0], shape[1]);
            let mut t = vec![0.0; o * i];
            for r in 0..o {
                for c in 0..i {
                    t[c * o + r] = v[r * i + c];
                }
            }
            t
        } else {
            v.clone()
        }
    }
    fn scalar(&self, obj: &str, key: &str) -> f64 {
        let o = &self.json[obj];
        if key == "loss" {
            o["loss"].as_f64().unwrap()
        } else {
            o["parts"][key].as_f64().unwrap()
        }
    }
}

/// Our module prefix -> torch module prefix, per objective.
fn modules(obj: ObjectiveKind) -> Vec<(&'static str, &'static str)> {
    match obj {
        ObjectiveKind::Mib | ObjectiveKind::MvInfomax => {
            vec![("encoder", "enc"), ("critic", "mv_critic")]
        }
        ObjectiveKind::Infomax => vec![("encoder", "enc"), ("critic", "im_critic")],
        ObjectiveKind::Vae => vec![("encoder", "enc"), ("decoder", "dec")],
        ObjectiveKind::Supervised => unreachable!(),
    }
}

/// (our name, torch name) for every parameter of the objective.
fn param_names(obj: ObjectiveKind) -> Vec<(String, String)> {
    let mut out = vec![];
    for (ours, torch) in modules(obj) {
        for l in 0..3 {
            for kind in ["weight", "bias"] {
                out.push((
                    format!("{ours}.layers.{l}.{kind}"),
                    format!("{torch}.{}.{kind}", 2 * l),
                ));
            }
        }
    }
    out
}

fn small_config(obj: ObjectiveKind) -> ModelConfig {
    ModelConfig {
        objective: obj,
        encoder_hidden: vec![16, 16],
        z_dim: 4,
        critic_hidden: vec![16, 16],
        decoder_hidden: vec![16, 16],
        ..ModelConfig::default()
    }
}

fn build(f: &Fixture, cfg: &ModelConfig) -> TrainStep {
    let mut rng = MibRng::seed_from_u64(0);
    let mut step =
        TrainStep::new(cfg, &AdamConfig::default(), &[20, 20], 0, BATCH, &mut rng).unwrap();
    for (ours, torch) in param_names(cfg.objective) {
        let v = f.ours(&torch);
        let dst = step
            .params_mut()
            .get_mut(&ours)
            .unwrap_or_else(|| panic!("model lacks {ours}"));
        assert_eq!(dst.len(), v.len(), "{ours}");
        dst.copy_from_slice(&v);
    }
    step
}

fn run(f: &Fixture, step: &mut TrainStep, update: bool) -> StepStats {
    let views = [f.get("v1"), f.get("v2")];
    let eps = [f.get("eps1"), f.get("eps2")];
    if update {
        step.step_with_noise(&views, None, BATCH, BETA, &eps)
            .unwrap()
    } else {
        step.gradients_with_noise(&views, None, BATCH, BETA, &eps)
            .unwrap()
    }
}

fn assert_rel(name: &str, got: f32, want: f64, rel: f64) {
    let err = (got as f64 - want).abs();
    assert!(
        err <= rel * want.abs(),
        "{name}: got {got}, want {want} (rel err {:e})",
        err / want.abs()
    );
}

fn check(obj: ObjectiveKind, key: &str) {
    let f = fixture();
    let cfg = small_config(obj);
    let mut step = build(&f, &cfg);
    let st = run(&f, &mut step, false);
    assert!(!st.nonfinite);
    assert_rel("loss", st.loss, f.scalar(key, "loss"), 1e-5);
    match obj {
        ObjectiveKind::Mib | ObjectiveKind::MvInfomax | ObjectiveKind::Infomax => {
            assert_rel("jsd", st.mi_surrogate, f.scalar(key, "jsd"), 1e-5);
            assert_rel("nwj", st.mi_estimate, f.scalar(key, "nwj"), 1e-5);
            if obj == ObjectiveKind::Mib {
                assert_rel("skl", st.skl, f.scalar(key, "skl"), 1e-5);
            }
        }
        ObjectiveKind::Vae => {
            assert_rel("rate", st.rate, f.scalar(key, "rate"), 1e-5);
            assert_rel(
                "distortion",
                st.distortion,
                f.scalar(key, "distortion"),
                1e-5,
            );
        }
        ObjectiveKind::Supervised => unreachable!(),
    }
    // gradients
    let names = param_names(obj);
    let gmax = names
        .iter()
        .flat_map(|(_, t)| f.get(&format!("grad.{key}.{t}")).iter().map(|v| v.abs()))
        .fold(0.0f32, f32::max);
    for (ours, torch) in &names {
        let want = f.ours(&format!("grad.{key}.{torch}"));
        let got = step.params().grad(ours).unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-4 * gmax,
                "grad {ours}[{i}]: got {g}, want {w} (max |grad| {gmax})"
            );
        }
    }
    // one Adam step
    let mut step = build(&f, &cfg);
    let st = run(&f, &mut step, true);
    assert!(!st.nonfinite);
    assert_eq!(step.adam_step_count(), 1);
    for (ours, torch) in &names {
        let want = f.ours(&format!("adam1.{key}.{torch}"));
        let got = step.params().get(ours).unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-6,
                "adam1 {ours}[{i}]: got {g}, want {w}"
            );
        }
    }
}

#[test]
fn golden_mib() {
    check(ObjectiveKind::Mib, "mib");
}

#[test]
fn golden_mv_infomax() {
    check(ObjectiveKind::MvInfomax, "mv_infomax");
}

#[test]
fn golden_infomax() {
    check(ObjectiveKind::Infomax, "infomax");
}

#[test]
fn golden_vae() {
    check(ObjectiveKind::Vae, "vae");
}

/// The closed-form symmetrised KL and InfoNCE over all B x B pairs with the concatenation critic.
/// InfoNCE is ~3e-4 here (a sum of terms of order 1), so it gets an absolute tolerance of 1e-6.
#[test]
fn golden_closed_form_skl_and_infonce() {
    let f = fixture();
    let mut cfg = small_config(ObjectiveKind::Mib);
    cfg.skl = SklKind::ClosedForm;
    let mut step = build(&f, &cfg);
    let st = run(&f, &mut step, false);
    assert_rel(
        "skl_closed_form",
        st.skl,
        f.scalar("mib", "skl_closed_form"),
        1e-5,
    );
    let mut cfg = small_config(ObjectiveKind::Mib);
    cfg.estimator = EstimatorKind::InfoNce;
    assert_eq!(cfg.critic, CriticKind::Mlp);
    let mut step = build(&f, &cfg);
    let st = run(&f, &mut step, false);
    let want = f.scalar("mib", "infonce");
    assert!(
        (st.mi_estimate as f64 - want).abs() < 1e-6,
        "infonce {} vs {want}",
        st.mi_estimate
    );
}

/// The exponential beta schedule at the reference's chosen iterations, within 1e-9 relative.
#[test]
fn golden_exponential_schedule() {
    let f = fixture();
    let j = &f.json["beta_schedule"];
    let s = mib::train::schedule::BetaSchedule::Exponential {
        start: j["start"].as_f64().unwrap(),
        end: j["end"].as_f64().unwrap(),
        start_iteration: j["start_iteration"].as_u64().unwrap(),
        n_iterations: j["n_iterations"].as_u64().unwrap(),
        base: 10.0,
    };
    for (it, want) in j["values"].as_object().unwrap() {
        let want = want.as_f64().unwrap();
        let got = s.value(it.parse().unwrap());
        assert!(
            (got - want).abs() <= 1e-9 * want.abs(),
            "iteration {it}: {got} vs {want}"
        );
    }
}
