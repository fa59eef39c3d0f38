//! The batch producer: determinism across thread counts and restarts, pairing semantics.

use mib::augment::AugmentConfig;
use mib::data::{load_named, BatchProducer, MultiViewDataset, PairingConfig};
use mib::Matrix;
use std::collections::HashSet;
use std::sync::Arc;

fn image_ds(n: usize) -> Arc<MultiViewDataset> {
    let m = mib::augment::synthetic_images(n, 12, 10, 1);
    let y = (0..n as u32).map(|i| i % 4).collect();
    Arc::new(
        MultiViewDataset::new(vec![m], Some(y), None)
            .unwrap()
            .with_image_shape((12, 10))
            .unwrap(),
    )
}

#[test]
fn same_batches_whatever_the_thread_count_and_start() -> anyhow::Result<()> {
    let ds = image_ds(50);
    let pairing = PairingConfig::augment(AugmentConfig::reference());
    let p1 = BatchProducer::new(ds.clone(), pairing.clone(), [0, 0], 8, 42, 1)?;
    let p2 = BatchProducer::new(ds.clone(), pairing.clone(), [0, 0], 8, 42, 2)?.with_prefetch(1);
    assert_eq!(p1.batches_per_epoch(), 6);
    let a: Vec<_> = p1.iter_from(0).take(20).collect();
    let b: Vec<_> = p2.iter_from(0).take(20).collect();
    assert_eq!(a, b);
    // resuming at k gives the batches from k on
    let c: Vec<_> = p2.iter_from(7).take(13).collect();
    assert_eq!(&a[7..], &c[..]);
    assert_eq!(p1.batch(13).unwrap(), a[13]);
    for (k, batch) in a.iter().enumerate() {
        assert_eq!(batch.iteration, k as u64);
        assert_eq!(
            (batch.rows, batch.views[0].len(), batch.labels.len()),
            (8, 8 * 120, 8)
        );
        assert_ne!(
            batch.views[0], batch.views[1],
            "two independent augmentations"
        );
    }
    // another seed gives other batches; recycling buffers changes nothing
    let p3 = BatchProducer::new(ds, pairing, [0, 0], 8, 43, 1)?;
    assert_ne!(p3.batch(0).unwrap(), a[0]);
    let mut it = p1.iter_from(0);
    for expected in &a[..10] {
        let b = it.next().unwrap();
        assert_eq!(&b, expected);
        it.recycle(b);
    }
    Ok(())
}

#[test]
fn each_epoch_is_a_permutation_without_repeats() -> anyhow::Result<()> {
    let n = 30;
    let ids = Matrix::new(n, 1, (0..n).map(|i| i as f32).collect())?;
    let ds = Arc::new(MultiViewDataset::new(vec![ids.clone(), ids], None, None)?);
    let p = BatchProducer::new(ds, PairingConfig::Aligned, [0, 1], 7, 0, 2)?;
    let bpe = p.batches_per_epoch() as usize;
    let all: Vec<_> = p.iter_from(0).take(3 * bpe).collect();
    let mut epochs = Vec::new();
    for e in 0..3 {
        let items: Vec<f32> = all[e * bpe..(e + 1) * bpe]
            .iter()
            .flat_map(|b| b.views[0].clone())
            .collect();
        let set: HashSet<u32> = items.iter().map(|&x| x as u32).collect();
        assert_eq!(set.len(), items.len(), "no repeats within an epoch");
        assert!(
            all[e * bpe..(e + 1) * bpe]
                .iter()
                .all(|b| b.views[0] == b.views[1]),
            "aligned rows"
        );
        assert!(all[e * bpe].labels.is_empty());
        epochs.push(items);
    }
    assert_ne!(epochs[0], epochs[1], "reshuffled every epoch");
    Ok(())
}

#[test]
fn same_class_pairing_never_crosses_classes_and_redraws() -> anyhow::Result<()> {
    // mfeat: view 0 = pix, view 1 = fou; label of an item is recovered from its fou row.
    let s = load_named("mfeat", None, None)?;
    let train = s.train;
    let fou_label: std::collections::HashMap<Vec<u32>, u32> = (0..train.len())
        .map(|i| {
            (
                train.views[1].row(i).iter().map(|x| x.to_bits()).collect(),
                train.labels.as_ref().unwrap()[i],
            )
        })
        .collect();
    let p = BatchProducer::new(train.clone(), PairingConfig::SameClass, [0, 1], 64, 7, 2)?;
    let bpe = p.batches_per_epoch();
    let mut partners = [
        std::collections::HashMap::new(),
        std::collections::HashMap::new(),
    ];
    for (k, b) in p.iter_from(0).take(2 * bpe as usize).enumerate() {
        for r in 0..b.rows {
            let key: Vec<u32> = b.views[1][r * 76..(r + 1) * 76]
                .iter()
                .map(|x| x.to_bits())
                .collect();
            assert_eq!(fou_label[&key], b.labels[r], "partner from another class");
            let item: Vec<u32> = b.views[0][r * 240..(r + 1) * 240]
                .iter()
                .map(|x| x.to_bits())
                .collect();
            partners[k / bpe as usize].insert(item, key);
        }
    }
    let redrawn = partners[0]
        .iter()
        .filter(|(i, k)| partners[1].get(*i).is_some_and(|k1| k1 != *k))
        .count();
    assert!(
        redrawn > 1000,
        "partners are re-drawn every epoch ({redrawn} of ~1400 changed)"
    );
    assert!(
        BatchProducer::new(
            Arc::new(MultiViewDataset::new(
                vec![Matrix::zeros(4, 1)],
                None,
                None
            )?),
            PairingConfig::SameClass,
            [0, 0],
            2,
            0,
            1
        )
        .is_err(),
        "same-class pairing needs labels"
    );
    Ok(())
}

#[test]
fn producer_rejects_bad_setups() {
    let ds = image_ds(10);
    assert!(BatchProducer::new(ds.clone(), PairingConfig::Aligned, [0, 1], 2, 0, 1).is_err());
    assert!(BatchProducer::new(ds.clone(), PairingConfig::Aligned, [0, 0], 11, 0, 1).is_err());
    assert!(BatchProducer::new(ds, PairingConfig::Aligned, [0, 0], 0, 0, 1).is_err());
    let ds = Arc::new(MultiViewDataset::new(vec![Matrix::zeros(4, 3)], None, None).unwrap());
    let aug = PairingConfig::augment(AugmentConfig::reference());
    assert!(
        BatchProducer::new(ds, aug, [0, 0], 2, 0, 1).is_err(),
        "augment needs images"
    );
}

#[test]
fn pairing_config_serde() {
    let p: PairingConfig = serde_json::from_str(r#"{"kind":"same-class"}"#).unwrap();
    assert_eq!(p, PairingConfig::SameClass);
    let a = PairingConfig::augment(AugmentConfig::reference());
    let s = serde_json::to_string(&a).unwrap();
    assert_eq!(serde_json::from_str::<PairingConfig>(&s).unwrap(), a);
    assert!(
        !s.contains("n_views"),
        "the default of two views is not written: {s}"
    );
    let four = PairingConfig::Augment {
        augment: AugmentConfig::reference(),
        n_views: 4,
    };
    let s = serde_json::to_string(&four).unwrap();
    assert!(s.contains(r#""n_views":4"#), "{s}");
    assert_eq!(serde_json::from_str::<PairingConfig>(&s).unwrap(), four);
    // (serde ignores unknown fields of unit variants of internally tagged enums, so only the
    // augment variant rejects them.)
    assert!(serde_json::from_str::<PairingConfig>(
        r#"{"kind":"augment","augment":{"steps":[]},"x":1}"#
    )
    .is_err());
}

#[test]
fn autotraits() {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<MultiViewDataset>();
    is_send_sync::<BatchProducer>();
    is_send_sync::<mib::data::Batch>();
    is_send_sync::<PairingConfig>();
}

/// Three view slots: aligned batches carry row `i` of every view; same-class batches give views 1
/// and 2 independent partners of the item's class; the first two slots are those of a pair.
#[test]
fn three_view_batches_align_and_draw_partners_per_view() -> anyhow::Result<()> {
    let n = 40;
    let y: Vec<u32> = (0..n as u32).map(|i| i % 4).collect();
    let ids = |scale: f32| Matrix::new(n, 1, (0..n).map(|i| i as f32 * scale).collect());
    let ds = Arc::new(MultiViewDataset::new(
        vec![ids(1.0)?, ids(10.0)?, ids(100.0)?],
        Some(y.clone()),
        None,
    )?);
    let p = BatchProducer::new(ds.clone(), PairingConfig::Aligned, [0, 1, 2], 8, 3, 1)?;
    let pair = BatchProducer::new(ds.clone(), PairingConfig::Aligned, [0, 1], 8, 3, 1)?;
    for k in 0..10 {
        let (b, b2) = (p.batch(k).unwrap(), pair.batch(k).unwrap());
        assert_eq!(b.views.len(), 3);
        assert_eq!(
            &b.views[..2],
            &b2.views[..],
            "the first two slots are the pair's"
        );
        for r in 0..b.rows {
            assert_eq!(b.views[1][r], 10.0 * b.views[0][r]);
            assert_eq!(b.views[2][r], 100.0 * b.views[0][r]);
        }
    }
    let p = BatchProducer::new(ds, PairingConfig::SameClass, vec![0, 1, 2], 8, 3, 2)?;
    let mut differ = 0;
    for b in p.iter_from(0).take(20) {
        for r in 0..b.rows {
            let (i, j1, j2) = (
                b.views[0][r] as usize,
                (b.views[1][r] / 10.0) as usize,
                (b.views[2][r] / 100.0) as usize,
            );
            assert_eq!(y[j1], y[i], "view 1 partner from another class");
            assert_eq!(y[j2], y[i], "view 2 partner from another class");
            differ += usize::from(j1 != j2);
        }
    }
    assert!(
        differ > 50,
        "views 1 and 2 draw their partners independently ({differ})"
    );
    Ok(())
}
