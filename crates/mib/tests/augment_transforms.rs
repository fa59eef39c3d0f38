//! Augmentations: exact geometry, statistics of pixel corruption, seeding, shape and range.

use approx::assert_abs_diff_eq;
use mib::augment::{
    affine, displace, resized_crop, AffineParams, Augment, AugmentConfig, AugmentStep,
    CorruptionMode, ElasticDistortion, GaussianNoise, HorizontalFlip, PixelCorruption,
    RandomAffine, RandomCrop, RandomResizedCrop,
};
use mib::MibRng;
use proptest::prelude::*;
use rand::SeedableRng;

fn ramp(h: usize, w: usize) -> Vec<f32> {
    (0..h * w)
        .map(|i| (i as f32 + 1.0) / (h * w) as f32)
        .collect()
}

#[test]
fn zero_parameter_affine_is_the_identity() {
    let (h, w) = (28, 28);
    let src = ramp(h, w);
    let mut dst = vec![0.0; h * w];
    let t = RandomAffine {
        degrees: 0.0,
        translate: [0.0, 0.0],
        scale: [1.0, 1.0],
        shear: 0.0,
    };
    t.apply_using(&src, &mut dst, h, w, &mut MibRng::seed_from_u64(3));
    assert_eq!(src, dst);
    // and the empty pipeline too
    AugmentConfig::default().build().unwrap().apply_using(
        &src,
        &mut dst,
        h,
        w,
        &mut MibRng::seed_from_u64(3),
    );
    assert_eq!(src, dst);
}

#[test]
fn ninety_degree_rotation_moves_known_pixels() {
    // 5x5 image with a single bright pixel right of the centre, one below the centre.
    let (h, w) = (5, 5);
    let mut src = vec![0.0; 25];
    src[2 * 5 + 4] = 1.0; // (x=4, y=2): right edge, middle row
    src[4 * 5 + 2] = 0.5; // (x=2, y=4): bottom middle
    let mut dst = vec![0.0; 25];
    let p = AffineParams {
        angle: 90.0,
        translate: (0.0, 0.0),
        scale: 1.0,
        shear: 0.0,
    };
    affine(&src, &mut dst, h, w, &p);
    // counter-clockwise on screen: right -> top, bottom -> right.
    assert_abs_diff_eq!(dst[2], 1.0, epsilon = 1e-6); // (x=2, y=0)
    assert_abs_diff_eq!(dst[2 * 5 + 4], 0.5, epsilon = 1e-6); // (x=4, y=2)
    assert_abs_diff_eq!(dst.iter().sum::<f32>(), 1.5, epsilon = 1e-5);
    // a translation by (+1, -1) moves pixels right and up; what leaves the image is zero-filled
    let p = AffineParams {
        angle: 0.0,
        translate: (1.0, -1.0),
        scale: 1.0,
        shear: 0.0,
    };
    affine(&src, &mut dst, h, w, &p);
    assert_eq!(dst[3 * 5 + 3], 0.5);
    assert_abs_diff_eq!(dst.iter().sum::<f32>(), 0.5, epsilon = 1e-6);
}

#[test]
fn pixel_corruption_drop_rate_within_three_sigma() {
    let n = 100_000;
    let keep = 0.8;
    let src = vec![1.0f32; n];
    let mut dst = vec![0.0; n];
    let t = PixelCorruption {
        keep,
        mode: CorruptionMode::Drop,
    };
    t.apply_using(&src, &mut dst, 1, n, &mut MibRng::seed_from_u64(11));
    let dropped = dst.iter().filter(|&&x| x == 0.0).count() as f64;
    let p = 1.0 - keep as f64;
    let sigma = (n as f64 * p * (1.0 - p)).sqrt();
    assert!(
        (dropped - n as f64 * p).abs() < 3.0 * sigma,
        "dropped {dropped}, expected {} +- {}",
        n as f64 * p,
        3.0 * sigma
    );
    // flip mode maps x to 1 - x
    let src = vec![0.25f32; 1000];
    let mut dst = vec![0.0; 1000];
    PixelCorruption {
        keep: 0.0,
        mode: CorruptionMode::Flip,
    }
    .apply_using(&src, &mut dst, 1, 1000, &mut MibRng::seed_from_u64(1));
    assert!(dst.iter().all(|&x| x == 0.75));
}

#[test]
fn equal_seeds_give_equal_views_and_different_seeds_differ() {
    let (h, w) = (28, 28);
    let src = ramp(h, w);
    let aug = AugmentConfig::reference().build().unwrap();
    let run = |seed| {
        let mut d = vec![0.0; h * w];
        aug.apply_using(&src, &mut d, h, w, &mut MibRng::seed_from_u64(seed));
        d
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

#[test]
fn reference_preset_serde_round_trip_and_validation() {
    let cfg = AugmentConfig::reference();
    let json = serde_json::to_string(&cfg).unwrap();
    assert!(json.contains("\"kind\":\"random-affine\""), "{json}");
    let back: AugmentConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cfg);
    assert!(serde_json::from_str::<AugmentConfig>(
        r#"{"steps":[{"kind":"pixel-corruption","keep":0.8,"oops":1}]}"#
    )
    .is_err());
    let bad = AugmentConfig {
        steps: vec![AugmentStep::PixelCorruption {
            keep: 1.5,
            mode: CorruptionMode::Drop,
        }],
    };
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .contains("steps[0].keep"));
    let bad = AugmentConfig {
        steps: vec![AugmentStep::RandomAffine {
            degrees: 10.0,
            translate: [0.0, 0.0],
            scale: [1.2, 0.8],
            shear: 0.0,
        }],
    };
    assert!(bad.validate().is_err());
}

#[test]
fn random_crop_is_an_integer_shift() {
    let (h, w) = (6, 7);
    let src = ramp(h, w);
    let mut dst = vec![0.0; h * w];
    RandomCrop { padding: 0 }.apply_using(&src, &mut dst, h, w, &mut MibRng::seed_from_u64(0));
    assert_eq!(src, dst);
    RandomCrop { padding: 2 }.apply_using(&src, &mut dst, h, w, &mut MibRng::seed_from_u64(9));
    // every nonzero output value is an input value
    assert!(dst.iter().all(|v| *v == 0.0 || src.contains(v)));
}

#[test]
fn horizontal_flip_mirrors_rows_with_its_probability() {
    let (h, w) = (3, 5);
    let src = ramp(h, w);
    let mirrored: Vec<f32> = (0..h)
        .flat_map(|y| (0..w).rev().map(move |x| (y * w + x) as f32))
        .map(|i| src[i as usize])
        .collect();
    let mut dst = vec![0.0; h * w];
    HorizontalFlip { p: 1.0 }.apply_using(&src, &mut dst, h, w, &mut MibRng::seed_from_u64(0));
    assert_eq!(dst, mirrored);
    HorizontalFlip { p: 0.0 }.apply_using(&src, &mut dst, h, w, &mut MibRng::seed_from_u64(0));
    assert_eq!(dst, src);
    let mut rng = MibRng::seed_from_u64(5);
    let flips = (0..4000)
        .filter(|_| {
            HorizontalFlip { p: 0.5 }.apply_using(&src, &mut dst, h, w, &mut rng);
            dst == mirrored
        })
        .count();
    assert!((1850..2150).contains(&flips), "{flips} of 4000 mirrored");
}

#[test]
fn resized_crop_of_the_whole_image_is_the_identity_and_a_window_is_resampled() {
    let (h, w) = (8, 6);
    let src = ramp(h, w);
    let mut dst = vec![0.0; h * w];
    resized_crop(&src, &mut dst, h, w, (0, 0, w, h));
    for (a, b) in dst.iter().zip(&src) {
        assert_abs_diff_eq!(a, b, epsilon = 1e-6);
    }
    // a 3 x 4 window at (1, 2) stretched 2x: output pixels 2k and 2k+1 bracket window pixel k
    resized_crop(&src, &mut dst, h, w, (1, 2, 3, 4));
    let at = |x: usize, y: usize| src[(2 + y) * w + 1 + x];
    assert_abs_diff_eq!(dst[0], at(0, 0), epsilon = 1e-6); // clamped corner
    assert_abs_diff_eq!(dst[(h - 1) * w + w - 1], at(2, 3), epsilon = 1e-6);
    // output (1, 1) samples window (0.25, 0.25)
    let want = 0.75 * 0.75 * at(0, 0) + 0.25 * 0.75 * (at(1, 0) + at(0, 1)) + 0.0625 * at(1, 1);
    assert_abs_diff_eq!(dst[w + 1], want, epsilon = 1e-6);
}

#[test]
fn resized_crop_windows_fit_and_follow_the_scale_range() {
    let (h, w) = (28, 28);
    let t = RandomResizedCrop {
        scale: [0.25, 0.5],
        ratio: [0.75, 4.0 / 3.0],
    };
    let mut rng = MibRng::seed_from_u64(11);
    for _ in 0..2000 {
        let (l, tp, cw, ch) = t.sample_using(h, w, &mut rng);
        assert!(l + cw <= w && tp + ch <= h && cw > 0 && ch > 0);
        let frac = (cw * ch) as f32 / (h * w) as f32;
        assert!(
            (0.2..=0.56).contains(&frac),
            "window {cw}x{ch}: {frac} of the area"
        );
    }
    let bad = AugmentConfig {
        steps: vec![AugmentStep::RandomResizedCrop {
            scale: [0.5, 1.5],
            ratio: [0.75, 1.33],
        }],
    };
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .contains("steps[0].scale"));
    let parsed: AugmentConfig = toml::from_str(
        "[[steps]]\nkind = \"random-resized-crop\"\n[[steps]]\nkind = \"horizontal-flip\"\n",
    )
    .unwrap();
    assert_eq!(
        parsed.steps,
        vec![
            AugmentStep::RandomResizedCrop {
                scale: [0.08, 1.0],
                ratio: [0.75, 4.0 / 3.0]
            },
            AugmentStep::HorizontalFlip { p: 0.5 }
        ]
    );
}

#[test]
fn displace_by_zero_is_the_identity_and_by_one_pixel_a_shift() {
    let (h, w) = (5, 7);
    let src = ramp(h, w);
    let mut dst = vec![f32::NAN; h * w];
    let zero = vec![0.0; h * w];
    displace(&src, &mut dst, h, w, &zero, &zero);
    assert_eq!(dst, src);
    // dx = +1: output (x, y) reads input (x + 1, y); the last column reads outside, so 0
    let one = vec![1.0; h * w];
    displace(&src, &mut dst, h, w, &one, &zero);
    for y in 0..h {
        for x in 0..w {
            let want = if x + 1 < w { src[y * w + x + 1] } else { 0.0 };
            assert_abs_diff_eq!(dst[y * w + x], want, epsilon = 1e-6);
        }
    }
    // dy = -0.5: halfway between the row above and this one; the first row blends with zeros
    let half = vec![-0.5; h * w];
    displace(&src, &mut dst, h, w, &zero, &half);
    assert_abs_diff_eq!(dst[3], 0.5 * src[3], epsilon = 1e-6);
    assert_abs_diff_eq!(
        dst[2 * w + 3],
        0.5 * (src[w + 3] + src[2 * w + 3]),
        epsilon = 1e-6
    );
}

#[test]
fn elastic_distortion_fields_are_bounded_smooth_and_seeded() {
    let (h, w) = (28, 28);
    let e = ElasticDistortion {
        alpha: 34.0,
        sigma: 4.0,
    };
    let k = e.kernel();
    assert_eq!(k.len(), 2 * 12 + 1);
    assert_abs_diff_eq!(k.iter().sum::<f32>(), 1.0, epsilon = 1e-5);
    assert!((0..k.len()).all(|i| (k[i] - k[k.len() - 1 - i]).abs() < 1e-7));
    assert!(k[12] > k[11] && k[11] > k[0]);
    let roughness = |sigma: f32, seed: u64| {
        let e = ElasticDistortion { alpha: 1.0, sigma };
        let (mut dx, mut dy) = (vec![0.0; h * w], vec![0.0; h * w]);
        let mut scratch = vec![0.0; e.scratch_len(h, w)];
        e.sample_into(
            h,
            w,
            &mut MibRng::seed_from_u64(seed),
            &mut dx,
            &mut dy,
            &mut scratch,
        );
        assert!(dx.iter().chain(&dy).all(|v| v.abs() <= 1.0 + 1e-6));
        let size: f32 = dx.iter().map(|v| v.abs()).sum::<f32>() / (h * w) as f32;
        let step: f32 = (0..h * w - 1)
            .filter(|i| (i + 1) % w != 0)
            .map(|i| (dx[i + 1] - dx[i]).abs())
            .sum::<f32>()
            / (h * (w - 1)) as f32;
        (size, step / size)
    };
    // unsmoothed: U(-1, 1) has mean |v| = 0.5 and neighbours are independent (ratio ~ 4/3)
    let (size0, rough0) = roughness(0.0, 3);
    assert!(
        (0.45..0.55).contains(&size0) && rough0 > 1.0,
        "{size0} {rough0}"
    );
    // smoothed with sigma 4: neighbours move together
    let (size4, rough4) = roughness(4.0, 3);
    assert!(size4 > 0.0 && rough4 < 0.35, "{size4} {rough4}");
    // alpha 0 moves nothing; equal seeds give equal views, different seeds differ
    let src = ramp(h, w);
    let mut a = vec![0.0; h * w];
    let mut b = vec![0.0; h * w];
    ElasticDistortion {
        alpha: 0.0,
        sigma: 4.0,
    }
    .apply_using(&src, &mut a, h, w, &mut MibRng::seed_from_u64(1));
    assert_eq!(a, src);
    e.apply_using(&src, &mut a, h, w, &mut MibRng::seed_from_u64(9));
    e.apply_using(&src, &mut b, h, w, &mut MibRng::seed_from_u64(9));
    assert_eq!(a, b);
    assert_ne!(a, src);
    e.apply_using(&src, &mut b, h, w, &mut MibRng::seed_from_u64(10));
    assert_ne!(a, b);
}

#[test]
fn elastic_distortion_parses_and_rejects_bad_values() {
    let parsed: AugmentConfig =
        toml::from_str("[[steps]]\nkind = \"elastic-distortion\"\nalpha = 34.0\nsigma = 4.0\n")
            .unwrap();
    assert_eq!(
        parsed.steps,
        vec![AugmentStep::ElasticDistortion {
            alpha: 34.0,
            sigma: 4.0
        }]
    );
    assert!(parsed.build().is_ok());
    for (alpha, sigma, field) in [
        (f32::NAN, 4.0, "alpha"),
        (-1.0, 4.0, "alpha"),
        (34.0, -2.0, "sigma"),
        (34.0, f32::INFINITY, "sigma"),
    ] {
        let bad = AugmentConfig {
            steps: vec![AugmentStep::ElasticDistortion { alpha, sigma }],
        };
        let msg = bad.validate().unwrap_err().to_string();
        assert!(msg.contains(&format!("steps[0].{field}")), "{msg}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Every transform keeps the shape and, for [0, 1] input, the range [0, 1].
    #[test]
    fn transforms_preserve_range(seed in any::<u64>(), h in 1usize..20, w in 1usize..20, deg in 0f32..180.0, sh in 0f32..60.0, keep in 0f32..1.0) {
        let src: Vec<f32> = (0..h * w).map(|i| ((i * 7919) % 101) as f32 / 100.0).collect();
        let steps: Vec<Box<dyn Augment>> = vec![
            Box::new(RandomAffine { degrees: deg, translate: [0.3, 0.3], scale: [0.5, 1.5], shear: sh }),
            Box::new(PixelCorruption { keep, mode: CorruptionMode::Flip }),
            Box::new(GaussianNoise { std: 0.3, clamp: true }),
            Box::new(RandomCrop { padding: 3 }),
            Box::new(HorizontalFlip { p: 0.5 }),
            Box::new(RandomResizedCrop { scale: [0.08, 1.0], ratio: [0.75, 4.0 / 3.0] }),
            Box::new(ElasticDistortion { alpha: 34.0, sigma: 4.0 }),
            Box::new(ElasticDistortion { alpha: 3.0, sigma: 0.0 }),
        ];
        let mut rng = MibRng::seed_from_u64(seed);
        for s in &steps {
            let mut dst = vec![f32::NAN; h * w];
            s.apply_using(&src, &mut dst, h, w, &mut rng);
            prop_assert!(dst.iter().all(|x| (-1e-6..=1.0 + 1e-6).contains(x)), "{dst:?}");
        }
    }
}
