//! Figures render in both formats (feature `plot`). With `MIB_DOC_FIGURES=DIR` set, the PNG and SVG
//! files are also written to DIR (that is how `docs/figures/` was made:
//! `MIB_DOC_FIGURES=$PWD/docs/figures cargo nextest run -p mib --features plot -E 'binary(eval_plot)'`).
#![cfg(feature = "plot")]

use mib::eval::ProbeSummary;
use mib::plot::{
    accuracy_vs_labels, information_plane, parse_metrics_jsonl, pca_2d, pca_scatter,
    probe_vs_iteration, training_curves, Figure, ImageFormat, InfoPoint, ProbeCurve, ProbeRun,
};
use mib::{Matrix, MibRng};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

fn check_and_maybe_save(name: &str, png: Figure, svg: Figure) {
    assert_eq!(&png.bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.bytes.len() > 2000, "{name}: suspiciously small PNG");
    let text = String::from_utf8(svg.bytes.clone()).unwrap();
    assert!(text.contains("<svg") && text.contains("</svg>"));
    if let Ok(dir) = std::env::var("MIB_DOC_FIGURES") {
        std::fs::create_dir_all(&dir).unwrap();
        png.save(format!("{dir}/{name}.png")).unwrap();
        svg.save(format!("{dir}/{name}.svg")).unwrap();
    }
}

fn both<F: Fn(ImageFormat) -> mib::Result<Figure>>(f: F) -> (Figure, Figure) {
    (f(ImageFormat::Png).unwrap(), f(ImageFormat::Svg).unwrap())
}

#[test]
fn accuracy_figure() {
    let run = |name: &str, base: f64| ProbeRun {
        name: name.into(),
        summaries: [1usize, 2, 5, 10, 100, 1000]
            .iter()
            .map(|&k| ProbeSummary {
                labels_per_class: k,
                mean: base + (1.0 - base) * (1.0 - 1.0 / (1.0 + (k as f64).ln())),
                std: 0.04 / (k as f64).sqrt(),
                repetitions: 20,
            })
            .collect(),
    };
    let runs = [
        run("MIB (beta = 1)", 0.8),
        run("MV-InfoMax", 0.6),
        run("VAE", 0.4),
    ];
    let (p, s) = both(|f| accuracy_vs_labels(&runs, f));
    check_and_maybe_save("accuracy_vs_labels", p, s);
    assert!(accuracy_vs_labels(&[], ImageFormat::Png).is_err());
}

#[test]
fn information_plane_figure() {
    let pts = [
        InfoPoint {
            name: "MIB".into(),
            i_xz: 2.4,
            i_yz: 2.2,
        },
        InfoPoint {
            name: "MV-InfoMax".into(),
            i_xz: 7.9,
            i_yz: 2.25,
        },
        InfoPoint {
            name: "InfoMax".into(),
            i_xz: 11.0,
            i_yz: 1.9,
        },
        InfoPoint {
            name: "VAE".into(),
            i_xz: 9.5,
            i_yz: 1.6,
        },
    ];
    let (p, s) = both(|f| information_plane(&pts, Some(10f64.ln()), f));
    check_and_maybe_save("information_plane", p, s);
    let missing = [InfoPoint {
        name: "x".into(),
        i_xz: f64::NAN,
        i_yz: 1.0,
    }];
    assert!(information_plane(&missing, None, ImageFormat::Svg).is_err());
}

#[test]
fn training_curves_figure() {
    let mut text = String::new();
    for i in 0..50 {
        let it = i * 200;
        let t = i as f64 / 49.0;
        text.push_str(&format!(
            "{{\"iteration\": {it}, \"loss\": {}, \"beta\": {}, \"mi_estimate\": {}, \"skl\": {}, \"wall_s\": {}, \"objective\": \"mib\"{}}}\n",
            -3.0 * (1.0 - (-4.0 * t).exp()) + 0.1 * (i as f64).sin() * (1.0 - t),
            1e-4 * (1.0f64 / 1e-4).powf(t),
            3.0 * (1.0 - (-4.0 * t).exp()),
            4.0 * (-3.0 * t).exp() + 0.2,
            0.8 * i as f64,
            if i % 10 == 0 { format!(", \"probe_accuracy\": {}", 0.5 + 0.45 * t) } else { String::new() }
        ));
    }
    let rec = parse_metrics_jsonl(&text).unwrap();
    assert_eq!(rec.len(), 50);
    assert!(
        !rec[0].contains_key("objective"),
        "non-numeric fields are dropped"
    );
    let (p, s) = both(|f| training_curves(&rec, f));
    check_and_maybe_save("training_curves", p, s);
    // the probe records (every 10th) become one curve of the probe-vs-iteration figure
    let curve = ProbeCurve::from_metrics("mib", &rec).unwrap();
    assert_eq!(curve.points.len(), 5);
    assert_eq!(curve.points[1], (2000.0, 0.5 + 0.45 * 10.0 / 49.0));
    let flat = ProbeCurve {
        name: "flat".into(),
        points: vec![(0.0, 0.6), (9800.0, 0.6)],
    };
    let (p, s) = both(|f| probe_vs_iteration(&[curve.clone(), flat.clone()], f));
    check_and_maybe_save("probe_vs_iteration", p.clone(), s);
    let svg = String::from_utf8(
        probe_vs_iteration(&[curve, flat], ImageFormat::Svg)
            .unwrap()
            .bytes,
    )
    .unwrap();
    assert!(svg.contains("mib") && svg.contains("flat") && svg.contains("iteration"));
    let no_probe = parse_metrics_jsonl("{\"iteration\": 1, \"loss\": 2}\n").unwrap();
    assert!(ProbeCurve::from_metrics("x", &no_probe).is_none());
    assert!(probe_vs_iteration(&[], ImageFormat::Png)
        .unwrap_err()
        .to_string()
        .contains("probe_accuracy"));
    assert_eq!(
        parse_metrics_jsonl("{\"a\": 1}\nnot json\n").unwrap_err().0,
        2
    );
}

#[test]
fn pca_figure_and_projection() {
    let mut rng = MibRng::seed_from_u64(0);
    let (n, d, k) = (1500, 16, 10);
    let centers: Vec<f32> = (0..k * d)
        .map(|_| {
            let e: f32 = StandardNormal.sample(&mut rng);
            3.0 * e
        })
        .collect();
    let mut data = Vec::new();
    let mut y = Vec::new();
    for i in 0..n {
        let c = i % k;
        for j in 0..d {
            let e: f32 = StandardNormal.sample(&mut rng);
            data.push(centers[c * d + j] + e);
        }
        y.push(c as u32);
    }
    let x = Matrix::new(n, d, data).unwrap();
    let (p, s) = both(|f| pca_scatter(&x, &y, 5000, f));
    check_and_maybe_save("pca_test_representations", p, s);
    // On data spread along one axis, PC 1 is that axis (up to the fixed sign).
    let line = Matrix::new(4, 2, vec![-3.0, 0.1, -1.0, -0.1, 1.0, 0.1, 3.0, -0.1]).unwrap();
    let proj = pca_2d(&line);
    let pc1: Vec<f32> = (0..4).map(|i| proj.data[2 * i]).collect();
    for (a, b) in pc1.iter().zip([-3.0f32, -1.0, 1.0, 3.0]) {
        assert!((a - b).abs() < 0.01, "{pc1:?}");
    }
}
