//! `.npz` archives and half-precision arrays: views named `archive.npz:array`, stored or
//! deflated, f16 widened exactly, and clear errors for a missing array, a bare archive path and a
//! truncated archive. Fixtures: `tests/data/make_npz_fixtures.py` (numpy's own writer).

use std::path::{Path, PathBuf};

use mib::data::{load_npy_views, npz};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn expected_a() -> Vec<f32> {
    std::fs::read_to_string(fixture("views_a_f32.txt"))
        .unwrap()
        .split_whitespace()
        .map(|t| t.parse().unwrap())
        .collect()
}

#[test]
fn stored_and_deflated_archives_give_the_same_views() {
    for archive in ["views.npz", "views_compressed.npz"] {
        let p = fixture(archive);
        let spec = |n: &str| PathBuf::from(format!("{}:{n}", p.display()));
        let ds = load_npy_views(&[spec("a"), spec("b"), spec("c")], Some(&spec("y"))).unwrap();
        assert_eq!(ds.view_names, ["a", "b", "c"]);
        assert_eq!(ds.view_dims(), [4, 3, 2]);
        assert_eq!(
            ds.views[0].data.to_vec(),
            expected_a(),
            "{archive}: f16 widened exactly"
        );
        assert_eq!(ds.labels.as_deref(), Some(&[0, 1, 2, 0, 1, 2][..]));
        assert!(ds.views[1].data.iter().all(|&v| (0.0..=255.0).contains(&v)));
        assert!(ds.views[2]
            .data
            .iter()
            .all(|&v| (-128.0..=127.0).contains(&v)));
        assert_eq!(npz::array_names(&p).unwrap(), ["a", "b", "c", "y"]);
    }
}

#[test]
fn half_precision_special_values() {
    use mib::data::npy::f16_to_f32;
    assert_eq!(f16_to_f32(0x3c00), 1.0);
    assert_eq!(f16_to_f32(0xc000), -2.0);
    assert_eq!(f16_to_f32(0x7bff), 65504.0);
    assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
    assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
    assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
    assert!(f16_to_f32(0x7e00).is_nan());
    // Every one of the 65,536 halves against the definition: (-1)^s * 2^(e-15) * (1 + m/1024),
    // subnormals 2^-14 * m/1024, exponent 31 infinity (m = 0) or NaN.
    for h in 0..=u16::MAX {
        let (s, e, m) = (h >> 15, (h >> 10) & 0x1f, h & 0x3ff);
        let sign = if s == 1 { -1.0f64 } else { 1.0 };
        let want = match e {
            0 => sign * 2f64.powi(-14) * (m as f64 / 1024.0),
            31 if m == 0 => sign * f64::INFINITY,
            31 => f64::NAN,
            _ => sign * 2f64.powi(e as i32 - 15) * (1.0 + m as f64 / 1024.0),
        };
        let got = f16_to_f32(h);
        if want.is_nan() {
            assert!(got.is_nan(), "{h:#06x}");
        } else {
            assert_eq!(got.to_bits(), (want as f32).to_bits(), "{h:#06x}");
        }
        // Narrowing gives every normal half back, and rounds halfway values to even.
        if (1..31).contains(&e) {
            assert_eq!(mib::data::npy::f32_to_f16(got), h, "{h:#06x}");
            if e < 30 && m < 1023 {
                let next = f16_to_f32(h + 1);
                let mid = (got as f64 + next as f64) / 2.0;
                let even = if m % 2 == 0 { h } else { h + 1 };
                assert_eq!(mib::data::npy::f32_to_f16(mid as f32), even, "{h:#06x}");
            }
        }
    }
}

#[test]
fn errors_name_the_archive_and_the_array() {
    let p = fixture("views.npz");
    let e = load_npy_views(&[PathBuf::from(format!("{}:photos", p.display()))], None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("views.npz") && e.contains("no array `photos`") && e.contains("a, b, c, y"),
        "{e}"
    );
    let e = load_npy_views(std::slice::from_ref(&p), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains(":NAME") && e.contains("a, b, c, y"), "{e}");

    // Every truncation of the archive is an error naming it, never a panic.
    let bytes = std::fs::read(fixture("views_compressed.npz")).unwrap();
    let dir = std::env::temp_dir().join(format!("mib-npz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cut = dir.join("cut.npz");
    for n in (0..bytes.len()).step_by(7) {
        std::fs::write(&cut, &bytes[..n]).unwrap();
        let spec = PathBuf::from(format!("{}:a", cut.display()));
        let e = load_npy_views(&[spec], None).unwrap_err().to_string();
        assert!(e.contains("cut.npz"), "{n} bytes: {e}");
    }
    // A flipped byte in the deflated data is caught (by the deflate stream or the sizes).
    let mut bad = bytes.clone();
    for i in (40..bytes.len() / 2).step_by(5) {
        bad[i] ^= 0x55;
        std::fs::write(&cut, &bad).unwrap();
        let _ = load_npy_views(&[PathBuf::from(format!("{}:a", cut.display()))], None);
        bad[i] ^= 0x55;
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stored_members_are_memory_mapped_and_compressed_ones_named() {
    use mib::data::mapped::MappedViews;
    let p = fixture("views.npz");
    let spec = |n: &str| PathBuf::from(format!("{}:{n}", p.display()));
    let views = [spec("a"), spec("b"), spec("c")];
    let mapped = MappedViews::open(&views, Some(&spec("y"))).unwrap();
    let sample = mapped.sample(1 << 20).unwrap();
    let read = load_npy_views(&views, Some(&spec("y"))).unwrap();
    assert_eq!(
        sample, read,
        "mapped members equal the members read into memory"
    );
    let c = fixture("views_compressed.npz");
    let e = MappedViews::open(&[PathBuf::from(format!("{}:a", c.display()))], None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("views_compressed.npz:a") && e.contains("np.savez_compressed"),
        "{e}"
    );
}
