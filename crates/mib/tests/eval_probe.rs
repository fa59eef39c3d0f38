//! Linear probe against the scikit-learn reference fixture (`tests/data/PROBE_ORIGIN.md`) and the
//! few-label protocol's invariants.

use mib::eval::{
    balanced_draw_using, few_label_probe, label_entropy, label_information_lower_bound,
    quick_probe, FittedLinearProbe, LinearProbeParams,
};
use mib::{Matrix, MibRng};
use rand::{Rng, SeedableRng};
use safetensors::SafeTensors;

struct Fixture {
    x_train: Matrix,
    y_train: Vec<u32>,
    x_test: Matrix,
    y_test: Vec<u32>,
    json: serde_json::Value,
}

fn fixture() -> Fixture {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let bytes = std::fs::read(format!("{dir}/probe.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mat = |name: &str| {
        let t = st.tensor(name).unwrap();
        let data: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        Matrix::new(t.shape()[0], t.shape()[1], data).unwrap()
    };
    let labels = |name: &str| -> Vec<u32> {
        st.tensor(name)
            .unwrap()
            .data()
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as u32)
            .collect()
    };
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/probe.json")).unwrap())
            .unwrap();
    Fixture {
        x_train: mat("x_train"),
        y_train: labels("y_train"),
        x_test: mat("x_test"),
        y_test: labels("y_test"),
        json,
    }
}

/// Golden test: the default probe reaches scikit-learn's exact L-BFGS solution.
/// probe.json: exact_lbfgs_test_accuracy 0.9815, objective 0.4736056370284713.
#[test]
fn probe_matches_sklearn_fixture() {
    let f = fixture();
    let fitted = LinearProbeParams::default()
        .fit(&f.x_train, &f.y_train, 10)
        .unwrap();
    let exact_obj = f.json["exact_lbfgs_train_log_loss_plus_penalty"]
        .as_f64()
        .unwrap();
    let exact_acc = f.json["exact_lbfgs_test_accuracy"].as_f64().unwrap();
    let acc = fitted.accuracy(&f.x_test, &f.y_test);
    eprintln!(
        "objective {} (exact {exact_obj}), test accuracy {acc} (sklearn {exact_acc}), {} iterations",
        fitted.objective(),
        fitted.iterations()
    );
    assert!(fitted.converged());
    assert!((fitted.objective() - exact_obj).abs() < 1e-3);
    // Much tighter in practice: the solver reaches the optimum.
    assert!((fitted.objective() - exact_obj).abs() < 1e-5);
    assert!((acc - exact_acc).abs() <= 0.01);
    // Objective recomputed from the public API: train cross-entropy + penalty.
    let reg: f64 = fitted.weights().iter().map(|w| w * w).sum::<f64>() / (2.0 * 10.0 * 50.0);
    let ce = fitted.cross_entropy(&f.x_train, &f.y_train);
    assert!((ce + reg - fitted.objective()).abs() < 1e-9);
    // Probabilities are a distribution per row, and predict = arg-max of them.
    let p = fitted.predict_proba(&f.x_test);
    let pred = fitted.predict(&f.x_test);
    for i in 0..p.rows {
        let r = p.row(i);
        assert!((r.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        let am = (0..10).fold(0, |b, c| if r[c] > r[b] { c } else { b });
        assert!(r[am] - r[pred[i] as usize] < 1e-6);
    }
}

#[test]
fn probe_round_trips_through_json() {
    let f = fixture();
    let fitted = LinearProbeParams::default()
        .fit(&f.x_train, &f.y_train, 10)
        .unwrap();
    let s = serde_json::to_string(&fitted).unwrap();
    let back: FittedLinearProbe = serde_json::from_str(&s).unwrap();
    assert_eq!(back.predict(&f.x_test), fitted.predict(&f.x_test));
}

#[test]
fn invalid_params_and_inputs_are_rejected() {
    let f = fixture();
    let bad = LinearProbeParams {
        c: -1.0,
        ..Default::default()
    };
    assert!(bad.fit(&f.x_train, &f.y_train, 10).is_err());
    assert!(LinearProbeParams::default()
        .fit(&f.x_train, &f.y_train[..10], 10)
        .is_err());
    assert!(LinearProbeParams::default()
        .fit(&f.x_train, &f.y_train, 5)
        .is_err());
    let mut nan = f.x_train.clone();
    nan.data[3] = f32::NAN;
    assert!(LinearProbeParams::default()
        .fit(&nan, &f.y_train, 10)
        .is_err());
}

#[test]
fn balanced_draws_are_balanced_and_distinct() {
    let y: Vec<u32> = (0..300).map(|i| (i % 3) as u32).collect();
    let mut rng = MibRng::seed_from_u64(1);
    let idx = balanced_draw_using(&y, 3, 7, &mut rng).unwrap();
    assert_eq!(idx.len(), 21);
    for c in 0..3 {
        assert_eq!(idx.iter().filter(|&&i| y[i] == c).count(), 7);
    }
    let mut s = idx.clone();
    s.sort();
    s.dedup();
    assert_eq!(s.len(), 21);
    assert!(balanced_draw_using(&y, 3, 101, &mut rng).is_err());
}

fn blobs(n_per_class: usize, d: usize, k: usize, spread: f32, seed: u64) -> (Matrix, Vec<u32>) {
    let mut rng = MibRng::seed_from_u64(seed);
    let centers: Vec<f32> = (0..k * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut data = Vec::new();
    let mut y = Vec::new();
    for i in 0..n_per_class * k {
        let c = i % k;
        for j in 0..d {
            data.push(centers[c * d + j] + spread * rng.random_range(-1.0f32..1.0));
        }
        y.push(c as u32);
    }
    (Matrix::new(n_per_class * k, d, data).unwrap(), y)
}

#[test]
fn protocol_is_deterministic_across_thread_counts_and_improves_with_labels() {
    let (tr, ytr) = blobs(60, 8, 4, 1.2, 3);
    let (te, yte) = blobs(50, 8, 4, 1.2, 4);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                few_label_probe(
                    &tr,
                    &ytr,
                    &te,
                    &yte,
                    4,
                    &[1, 5, 50],
                    6,
                    &LinearProbeParams::default(),
                    42,
                )
                .unwrap()
            })
    };
    let a = run(1);
    let b = run(3);
    assert_eq!(a, b);
    assert_eq!(a.len(), 3);
    assert_eq!(a[0].labels_per_class, 1);
    assert_eq!(a[2].repetitions, 6);
    assert!(a[2].mean > a[0].mean, "{a:?}");
    assert!(a
        .iter()
        .all(|s| s.std >= 0.0 && (0.0..=1.0).contains(&s.mean)));
    // A different seed gives different draws.
    let c = few_label_probe(
        &tr,
        &ytr,
        &te,
        &yte,
        4,
        &[1],
        6,
        &LinearProbeParams::default(),
        7,
    )
    .unwrap();
    assert_ne!(c[0], a[0]);
    // Asking for more labels than a class holds is an error, not a panic.
    assert!(few_label_probe(
        &tr,
        &ytr,
        &te,
        &yte,
        4,
        &[61],
        1,
        &LinearProbeParams::default(),
        0
    )
    .is_err());
    let q = quick_probe(&tr, &ytr, &te, &yte, 4, 10, 0).unwrap();
    assert!((0.0..=1.0).contains(&q));
}

#[test]
fn label_entropy_and_information_bound() {
    assert!((label_entropy(&[0, 1, 2, 3], 4) - 4f64.ln()).abs() < 1e-12);
    assert_eq!(label_entropy(&[2, 2, 2], 4), 0.0);
    assert!(
        (label_entropy(&[0, 0, 0, 1], 2) - (-(0.75f64 * 0.75f64.ln() + 0.25 * 0.25f64.ln()))).abs()
            < 1e-12
    );
    let f = fixture();
    let b = label_information_lower_bound(
        &f.x_train,
        &f.y_train,
        &f.x_test,
        &f.y_test,
        10,
        &LinearProbeParams::default(),
    )
    .unwrap();
    // Well-separated classes: close to, and below, H(y) = ln 10.
    assert!(b < 10f64.ln() && b > 0.5 * 10f64.ln(), "{b}");
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<LinearProbeParams>();
    check::<FittedLinearProbe>();
    check::<mib::eval::ProbeSummary>();
    check::<mib::eval::FittedKnn>();
    check::<mib::eval::EvalReport>();
    check::<mib::eval::EvalProtocol>();
    check::<mib::eval::Embeddings>();
    check::<mib::eval::FittedMultilabelProbe>();
}
