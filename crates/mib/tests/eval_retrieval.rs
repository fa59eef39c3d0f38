//! Retrieval, multi-label mAP and kNN on cases worked by hand.

use approx::assert_abs_diff_eq;
use mib::eval::{
    average_precision, few_label_multilabel_probe, fit_multilabel_probe, knn_accuracy,
    mean_average_precision_multilabel, query_metrics, retrieval, Distance, EvalInputs,
    EvalProtocol, EvalReport, KnnParams, LinearProbeParams, ProbeSummary,
};
use mib::Matrix;

fn col(v: &[f32]) -> Matrix {
    Matrix::new(v.len(), 1, v.to_vec()).unwrap()
}

/// Gallery on a line at 0, 1, 2, 3 with labels 0, 0, 1, 1.
/// - query at 0 (label 0): ranking 0,1,2,3, relevant at ranks 1,2: AP = 1, P@2 = 1 (perfect);
/// - query at 3 (label 0): ranking 3,2,1,0, relevant at ranks 3,4: AP = (1/3 + 2/4)/2 = 5/12, P@2 = 0
///   (reversed);
/// - query at 1 (label 7): no relevant item, left out and counted.
#[test]
fn retrieval_perfect_reversed_and_no_relevant() {
    let g = col(&[0.0, 1.0, 2.0, 3.0]);
    let gl = [0, 0, 1, 1];
    let r = retrieval(&col(&[0.0]), &[0], &g, &gl, 2).unwrap();
    assert_abs_diff_eq!(r.map_at_all, 1.0, epsilon = 1e-12);
    assert_abs_diff_eq!(r.precision_at_k, 1.0, epsilon = 1e-12);
    let r = retrieval(&col(&[3.0]), &[0], &g, &gl, 2).unwrap();
    assert_abs_diff_eq!(r.map_at_all, 5.0 / 12.0, epsilon = 1e-12);
    assert_abs_diff_eq!(r.precision_at_k, 0.0, epsilon = 1e-12);
    let r = retrieval(&col(&[0.0, 3.0, 1.0]), &[0, 0, 7], &g, &gl, 2).unwrap();
    assert_abs_diff_eq!(r.map_at_all, (1.0 + 5.0 / 12.0) / 2.0, epsilon = 1e-12);
    assert_abs_diff_eq!(r.precision_at_k, 0.5, epsilon = 1e-12);
    assert_eq!((r.queries, r.queries_without_relevant, r.k), (2, 1, 2));
    // K above the gallery size: the denominator is the gallery size (2 relevant of 4).
    let r = retrieval(&col(&[0.0]), &[0], &g, &gl, 10).unwrap();
    assert_abs_diff_eq!(r.precision_at_k, 0.5, epsilon = 1e-12);
    // Only queries without a relevant item: NaN means, all counted.
    let r = retrieval(&col(&[0.0]), &[9], &g, &gl, 2).unwrap();
    assert!(r.map_at_all.is_nan() && r.queries == 0 && r.queries_without_relevant == 1);
    // Mismatched dimensions and K = 0 are errors.
    assert!(retrieval(&Matrix::zeros(1, 2), &[0], &g, &gl, 2).is_err());
    assert!(retrieval(&col(&[0.0]), &[0], &g, &gl, 0).is_err());
}

/// Ties keep gallery order: gallery at +1 (label 1, index 0) and -1 (label 0, index 1), query at 0.
/// Both are at distance 1; the ranking is index 0 then index 1.
#[test]
fn retrieval_ties_keep_gallery_order() {
    let g = col(&[1.0, -1.0]);
    let r = retrieval(&col(&[0.0]), &[0], &g, &[1, 0], 1).unwrap();
    assert_abs_diff_eq!(r.map_at_all, 0.5, epsilon = 1e-12);
    assert_abs_diff_eq!(r.precision_at_k, 0.0, epsilon = 1e-12);
    let r = retrieval(&col(&[0.0]), &[1], &g, &[1, 0], 1).unwrap();
    assert_abs_diff_eq!(r.map_at_all, 1.0, epsilon = 1e-12);
    assert_abs_diff_eq!(r.precision_at_k, 1.0, epsilon = 1e-12);
    // The same through the per-query function: all tied, relevant items at ranks 2 and 3.
    let (ap, p2) = query_metrics(&[5.0; 3], &[false, true, true], 2).unwrap();
    assert_abs_diff_eq!(ap, (1.0 / 2.0 + 2.0 / 3.0) / 2.0, epsilon = 1e-12);
    assert_abs_diff_eq!(p2, 0.5, epsilon = 1e-12);
    assert!(query_metrics(&[1.0, 2.0], &[false, false], 1).is_none());
}

/// Average precision as scikit-learn's `average_precision_score` (values printed by it):
/// `([1,0,1,0], [.9,.5,.5,.1]) -> 0.8333`, `([1,1,0,0], [.1,.2,.3,.4]) -> 0.41667`,
/// `([0,1,1], [.3,.3,.3]) -> 0.66667` (tied scores form one threshold).
#[test]
fn average_precision_matches_sklearn_including_ties() {
    let ap =
        |s: &[f32], p: &[u8]| average_precision(s, &p.iter().map(|&v| v == 1).collect::<Vec<_>>());
    assert_abs_diff_eq!(
        ap(&[0.9, 0.5, 0.5, 0.1], &[1, 0, 1, 0]).unwrap(),
        5.0 / 6.0,
        epsilon = 1e-12
    );
    assert_abs_diff_eq!(
        ap(&[0.1, 0.2, 0.3, 0.4], &[1, 1, 0, 0]).unwrap(),
        5.0 / 12.0,
        epsilon = 1e-12
    );
    assert_abs_diff_eq!(
        ap(&[0.3, 0.3, 0.3], &[0, 1, 1]).unwrap(),
        2.0 / 3.0,
        epsilon = 1e-12
    );
    assert_abs_diff_eq!(
        ap(&[0.4, 0.3, 0.2, 0.1], &[1, 1, 0, 0]).unwrap(),
        1.0,
        epsilon = 1e-12
    );
    assert!(ap(&[0.4, 0.3], &[0, 0]).is_none());
}

/// Label-wise mean: label 0 perfect (AP 1), label 1 reversed (AP 5/12), label 2 has no positive and
/// is left out. mAP = (1 + 5/12) / 2.
#[test]
fn multilabel_map_averages_labels_with_positives() {
    let scores = Matrix::new(
        4,
        3,
        vec![0.4, 0.1, 0.0, 0.3, 0.2, 0.0, 0.2, 0.3, 0.0, 0.1, 0.4, 0.0],
    )
    .unwrap();
    let targets = Matrix::new(
        4,
        3,
        vec![1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    )
    .unwrap();
    let m = mean_average_precision_multilabel(&scores, &targets).unwrap();
    assert_abs_diff_eq!(m, (1.0 + 5.0 / 12.0) / 2.0, epsilon = 1e-12);
    assert!(mean_average_precision_multilabel(&scores, &Matrix::zeros(4, 2)).is_err());
}

/// One-vs-rest probe on data where label 0 = (x0 > 0) and label 1 = (x1 > 0): near-perfect mAP.
#[test]
fn multilabel_probe_learns_separable_labels() {
    let mut x = Vec::new();
    let mut t = Vec::new();
    for i in 0..80 {
        let a = ((i * 37) % 80) as f32 / 40.0 - 1.0 + 0.0125;
        let b = ((i * 53) % 80) as f32 / 40.0 - 1.0 + 0.0125;
        x.extend([a, b]);
        t.extend([(a > 0.0) as u8 as f32, (b > 0.0) as u8 as f32]);
    }
    let x = Matrix::new(80, 2, x).unwrap();
    let t = Matrix::new(80, 2, t).unwrap();
    let f = fit_multilabel_probe(&LinearProbeParams::default(), &x, &t).unwrap();
    assert_eq!(f.n_labels(), 2);
    let m = mean_average_precision_multilabel(&f.decision_function(&x), &t).unwrap();
    assert!(m > 0.99, "{m}");
    let s = few_label_multilabel_probe(
        &x,
        &t,
        &x,
        &t,
        &[10, 40],
        3,
        &LinearProbeParams::default(),
        1,
    )
    .unwrap();
    assert_eq!(s.len(), 2);
    assert!(s[1].mean_map > 0.95 && s[1].repetitions == 3, "{s:?}");
}

/// 1-D kNN: train at 0,1,2 (class 0) and 10,11,12 (class 1).
#[test]
fn knn_hand_cases() {
    let tr = col(&[0.0, 1.0, 2.0, 10.0, 11.0, 12.0]);
    let ytr = [0, 0, 0, 1, 1, 1];
    let p = KnnParams {
        k: 3,
        metric: Distance::Euclidean,
    };
    let r = knn_accuracy(&p, &tr, &ytr, &col(&[1.5, 10.5, 6.9]), &[0, 1, 1], 2).unwrap();
    // 6.9: nearest 10, 11, 2 -> class 1.
    assert_abs_diff_eq!(r.accuracy, 1.0, epsilon = 1e-12);
    // Tied vote (k = 2, one neighbour of each class) goes to the nearer one's class.
    let f = KnnParams {
        k: 2,
        metric: Distance::Euclidean,
    }
    .fit(&col(&[0.0, 2.0]), &[0, 1], 2)
    .unwrap();
    assert_eq!(f.predict(&col(&[0.9, 1.1])), vec![0, 1]);
    // Cosine ignores the norm.
    let f = KnnParams {
        k: 1,
        metric: Distance::Cosine,
    }
    .fit(
        &Matrix::new(2, 2, vec![10.0, 0.0, 0.0, 0.1]).unwrap(),
        &[0, 1],
        2,
    )
    .unwrap();
    assert_eq!(
        f.predict(&Matrix::new(2, 2, vec![0.1, 0.05, 1.0, 5.0]).unwrap()),
        vec![0, 1]
    );
    // k above the training size uses everything; k = 0 is rejected.
    let all = KnnParams {
        k: 100,
        metric: Distance::Euclidean,
    };
    assert!(knn_accuracy(&all, &tr, &ytr, &col(&[0.0]), &[0], 2).is_ok());
    assert!(KnnParams {
        k: 0,
        metric: Distance::Euclidean
    }
    .fit(&tr, &ytr, 2)
    .is_err());
    assert_eq!("cosine".parse::<Distance>().unwrap(), Distance::Cosine);
    assert!("manhattan".parse::<Distance>().is_err());
}

/// The JSON layout `mib eval --json` prints, the round trip, and the table.
#[test]
fn report_json_layout_and_table() {
    let r = EvalReport {
        linear_probe: vec![ProbeSummary {
            labels_per_class: 1,
            mean: 0.93,
            std: 0.02,
            repetitions: 20,
        }],
        ..Default::default()
    };
    let v: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(
        v["linear_probe"],
        serde_json::json!([{"labels_per_class": 1, "mean": 0.93, "std": 0.02, "repetitions": 20}])
    );
    let back: EvalReport = serde_json::from_value(v).unwrap();
    assert_eq!(back, r);
    // Missing keys deserialise to defaults (older or partial eval.json files).
    let partial: EvalReport = serde_json::from_str(r#"{"linear_probe": []}"#).unwrap();
    assert!(partial.knn.is_none());
    let t = r.to_table();
    assert!(t.contains("93.00") && t.contains("2.00"), "{t}");
}

/// The whole protocol on tiny two-view data.
#[test]
fn protocol_end_to_end() {
    let n = 40;
    let tr = Matrix::new(
        n,
        2,
        (0..n)
            .flat_map(|i| [(i % 2) as f32 * 3.0 + (i as f32) * 0.01, 1.0])
            .collect(),
    )
    .unwrap();
    let y: Vec<u32> = (0..n).map(|i| (i % 2) as u32).collect();
    let v2 = Matrix::new(n, 2, tr.data.iter().map(|v| v + 0.05).collect()).unwrap();
    let proto = EvalProtocol {
        labels_per_class: vec![1, 5, 1000],
        repetitions: 3,
        retrieval_k: 5,
        ..Default::default()
    };
    let rep = proto
        .evaluate(&EvalInputs {
            train: &tr,
            y_train: &y,
            test: &tr,
            y_test: &y,
            n_classes: 2,
            test_view2: Some(&v2),
        })
        .unwrap();
    // 1000 labels per class is more than a class holds: dropped.
    assert_eq!(
        rep.linear_probe
            .iter()
            .map(|p| p.labels_per_class)
            .collect::<Vec<_>>(),
        vec![1, 5]
    );
    assert_abs_diff_eq!(rep.linear_probe[1].mean, 1.0, epsilon = 1e-12);
    assert_abs_diff_eq!(rep.knn.as_ref().unwrap().accuracy, 1.0, epsilon = 1e-12);
    assert_abs_diff_eq!(
        rep.retrieval.as_ref().unwrap().precision_at_k,
        1.0,
        epsilon = 1e-12
    );
    let ip = rep.information_plane.as_ref().unwrap();
    assert!(ip.i_xz.is_none() && ip.i_yz.unwrap() > 0.0 && ip.i_yz.unwrap() <= 2f64.ln());
    assert!(rep.to_table().contains("Precision@5"));
}

/// `embeddings.safetensors` round trip, and label dtypes other than I64.
#[test]
fn embeddings_round_trip() {
    use mib::eval::Embeddings;
    let e = Embeddings {
        train: Matrix::new(3, 2, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap(),
        y_train: vec![0, 1, 2],
        test: Matrix::new(2, 2, vec![1.5, 2.5, -1.0, 0.25]).unwrap(),
        y_test: vec![2, 0],
        test_view2: Some(Matrix::new(2, 2, vec![1.0, 2.0, 3.0, 4.0]).unwrap()),
    };
    let dir = std::env::temp_dir().join(format!("mib-eval-emb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("embeddings.safetensors");
    e.save(&p).unwrap();
    let back = Embeddings::load(&p).unwrap();
    assert_eq!(back, e);
    assert_eq!(back.n_classes(), 3);
    assert!(back.inputs().test_view2.is_some());
    std::fs::write(&p, b"not safetensors").unwrap();
    assert!(Embeddings::load(&p).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The blocked, matrix-product retrieval agrees with a naive loop (exact f64 distances, stable sort).
#[allow(clippy::needless_range_loop)]
#[test]
fn retrieval_matches_naive_loop() {
    use rand::{Rng, SeedableRng};
    let mut rng = mib::MibRng::seed_from_u64(5);
    let (nq, ng, d) = (150, 230, 7);
    let q = Matrix::new(
        nq,
        d,
        (0..nq * d).map(|_| rng.random_range(-2.0..2.0)).collect(),
    )
    .unwrap();
    let g = Matrix::new(
        ng,
        d,
        (0..ng * d).map(|_| rng.random_range(-2.0..2.0)).collect(),
    )
    .unwrap();
    let ql: Vec<u32> = (0..nq).map(|_| rng.random_range(0..6)).collect();
    let gl: Vec<u32> = (0..ng).map(|_| rng.random_range(0..5)).collect(); // class 5: no relevant item
    let k = 20;
    let (mut ap_sum, mut p_sum, mut n, mut skipped) = (0.0, 0.0, 0, 0);
    for i in 0..nq {
        let mut order: Vec<(f64, usize)> = (0..ng)
            .map(|j| {
                let d2: f64 = q
                    .row(i)
                    .iter()
                    .zip(g.row(j))
                    .map(|(a, b)| ((a - b) as f64).powi(2))
                    .sum();
                (d2, j)
            })
            .collect();
        order.sort_by(|a, b| a.0.total_cmp(&b.0));
        let n_rel = gl.iter().filter(|&&l| l == ql[i]).count();
        if n_rel == 0 {
            skipped += 1;
            continue;
        }
        let (mut hits, mut ap, mut hk) = (0, 0.0, 0);
        for (r, &(_, j)) in order.iter().enumerate() {
            if gl[j] == ql[i] {
                hits += 1;
                ap += hits as f64 / (r + 1) as f64;
            }
            if r + 1 == k {
                hk = hits;
            }
        }
        ap_sum += ap / n_rel as f64;
        p_sum += hk as f64 / k as f64;
        n += 1;
    }
    let r = retrieval(&q, &ql, &g, &gl, k).unwrap();
    assert_eq!((r.queries, r.queries_without_relevant), (n, skipped));
    assert!(skipped > 0);
    assert_abs_diff_eq!(r.map_at_all, ap_sum / n as f64, epsilon = 1e-9);
    assert_abs_diff_eq!(r.precision_at_k, p_sum / n as f64, epsilon = 1e-9);
}

proptest::proptest! {
    /// AP and Precision@K lie in [0, 1]; AP is 1 when every item is relevant, and moving the
    /// relevant items to the front never lowers AP.
    #[test]
    fn ranking_metric_bounds(dist in proptest::collection::vec(0.0f32..10.0, 1..40), seed in 0u64..1000, k in 1usize..50) {
        let rel: Vec<bool> = dist.iter().enumerate().map(|(i, _)| (i as u64 * 7 + seed) % 3 == 0).collect();
        if let Some((ap, p)) = query_metrics(&dist, &rel, k) {
            proptest::prop_assert!(ap > 0.0 && ap <= 1.0 + 1e-12);
            proptest::prop_assert!((0.0..=1.0).contains(&p));
            let front: Vec<f32> = rel.iter().zip(&dist).map(|(&r, &d)| if r { d * 1e-3 } else { d + 20.0 }).collect();
            let (ap2, _) = query_metrics(&front, &rel, k).unwrap();
            proptest::prop_assert!((ap2 - 1.0).abs() < 1e-12 && ap2 >= ap);
        }
        let all = vec![true; dist.len()];
        let (ap, _) = query_metrics(&dist, &all, k).unwrap();
        proptest::prop_assert!((ap - 1.0).abs() < 1e-12);
    }
}

/// One-vs-rest probe against scikit-learn (1.9.1). Generated by:
///
/// ```python
/// rng = np.random.RandomState(0)
/// X = rng.randn(40, 3).round(2)
/// W = np.array([[1.0, -1.0, 0.5], [0.0, 2.0, -1.0]])
/// T = (X @ W.T + 0.8 * rng.randn(40, 2) > 0).astype(int)
/// a = MinMaxScaler().fit_transform(X)
/// for l in range(2):
///     m = LogisticRegression(C=10, tol=1e-10, max_iter=10000).fit(a, T[:, l])  # coef_, intercept_
/// mAP = mean(average_precision_score(T[:, l], m_l.decision_function(a)))     # 0.9545438567115341
/// ```
#[test]
fn multilabel_probe_matches_sklearn() {
    #[rustfmt::skip]
    let x: Vec<f32> = vec![1.76, 0.4, 0.98, 2.24, 1.87, -0.98, 0.95, -0.15, -0.1, 0.41, 0.14, 1.45, 0.76, 0.12, 0.44, 0.33, 1.49, -0.21, 0.31, -0.85, -2.55, 0.65, 0.86, -0.74, 2.27, -1.45, 0.05, -0.19, 1.53, 1.47, 0.15, 0.38, -0.89, -1.98, -0.35, 0.16, 1.23, 1.2, -0.39, -0.3, -1.05, -1.42, -1.71, 1.95, -0.51, -0.44, -1.25, 0.78, -1.61, -0.21, -0.9, 0.39, -0.51, -1.18, -0.03, 0.43, 0.07, 0.3, -0.63, -0.36, -0.67, -0.36, -0.81, -1.73, 0.18, -0.4, -1.63, 0.46, -0.91, 0.05, 0.73, 0.13, 1.14, -1.23, 0.4, -0.68, -0.87, -0.58, -0.31, 0.06, -1.17, 0.9, 0.47, -1.54, 1.49, 1.9, 1.18, -0.18, -1.07, 1.05, -0.4, 1.22, 0.21, 0.98, 0.36, 0.71, 0.01, 1.79, 0.13, 0.4, 1.88, -1.35, -1.27, 0.97, -1.17, 1.94, -0.41, -0.75, 1.92, 1.48, 1.87, 0.91, -0.86, 1.91, -0.27, 0.8, 0.95, -0.16, 0.61, 0.92];
    #[rustfmt::skip]
    let t: Vec<f32> = [1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1].iter().map(|&v| v as f32).collect();
    let coef = [
        [4.65051141927686, -3.3644194474589972, 4.040537963276991],
        [-0.04184498419593715, 5.538892750056013, -2.8373875659332897],
    ];
    let intercept = [-2.9729271620250897, -0.3581939985154272];
    let x = Matrix::new(40, 3, x).unwrap();
    let t = Matrix::new(40, 2, t).unwrap();
    let params = LinearProbeParams {
        tol: 1e-10,
        ..Default::default()
    };
    let f = fit_multilabel_probe(&params, &x, &t).unwrap();
    let s = f.decision_function(&x);
    // Expected scores from scikit-learn's coefficients on MinMax-scaled features.
    let (mut lo, mut hi) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
    for i in 0..40 {
        for j in 0..3 {
            lo[j] = lo[j].min(x.row(i)[j]);
            hi[j] = hi[j].max(x.row(i)[j]);
        }
    }
    for i in 0..40 {
        for l in 0..2 {
            let e: f64 = intercept[l]
                + (0..3)
                    .map(|j| coef[l][j] * ((x.row(i)[j] - lo[j]) / (hi[j] - lo[j])) as f64)
                    .sum::<f64>();
            assert_abs_diff_eq!(s.row(i)[l] as f64, e, epsilon = 1e-3);
        }
    }
    let m = mean_average_precision_multilabel(&s, &t).unwrap();
    assert_abs_diff_eq!(m, 0.9545438567115341, epsilon = 1e-9);
}
