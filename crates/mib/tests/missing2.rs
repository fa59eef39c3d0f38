//! Incomplete multi-view data, the rest of issue 24: memory-mapped views with presence masks and
//! NaN rows train exactly as the same views read into memory, and views with their own item ids
//! (`data.ids`) are aligned, with bad ids refused naming the view.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mib::config::TrainConfig;
use mib::data::npy::write_npy;
use mib::data::{load_splits, BatchProducer, Elements, MemoryMap, PairingConfig, RawArray};
use mib::models::Fuse;
use mib::train::{self, NoObserver, RunOptions};
use mib::{Matrix, MibRng};
use rand::{Rng, SeedableRng};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mib-missing2-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_f32(path: &Path, m: &Matrix) {
    let a = RawArray {
        shape: vec![m.rows, m.cols],
        data: Elements::F32(m.data.to_vec()),
    };
    write_npy(path, &a).unwrap();
}

fn write_u8(path: &Path, v: &[bool]) {
    let a = RawArray {
        shape: vec![v.len()],
        data: Elements::U8(v.iter().map(|&b| b as u8).collect()),
    };
    write_npy(path, &a).unwrap();
}

/// mfeat's fou, kar and zer as `.npy` files with about a third of the (item, view) entries
/// missing: views 0 and 1 say it with mask files, view 2 with NaN rows. Returns the config and
/// the presence of each view.
fn npy_data(dir: &Path) -> (TrainConfig, Vec<Vec<bool>>) {
    let splits = mib::data::load_named(
        "mfeat",
        None,
        Some(&["fou".to_string(), "kar".to_string(), "zer".to_string()]),
    )
    .unwrap();
    let ds = &splits.train;
    let n = ds.len();
    let mut rng = MibRng::seed_from_u64(5);
    let mut present = vec![vec![true; n]; 3];
    for i in 0..n {
        for p in present.iter_mut() {
            if rng.random::<f32>() < 0.35 {
                p[i] = false;
            }
        }
        if !present.iter().any(|p| p[i]) {
            present[i % 3][i] = true;
        }
    }
    let (mut views, mut masks) = (Vec::new(), Vec::new());
    for (v, name) in ["fou", "kar", "zer"].iter().enumerate() {
        let mut m = ds.views[v].clone();
        // what a missing row holds does not matter, except NaN for the nan-rows view
        for (i, _) in present[v].iter().enumerate().filter(|(_, &p)| !p) {
            m.row_mut(i)
                .fill(if v == 2 { f32::NAN } else { 1e3 + i as f32 });
        }
        let p = dir.join(format!("{name}.npy"));
        write_f32(&p, &m);
        views.push(p.display().to_string());
        let mp = dir.join(format!("{name}_present.npy"));
        write_u8(&mp, &present[v]);
        masks.push(if v == 2 { PathBuf::new() } else { mp });
    }
    let labels = dir.join("labels.npy");
    let y: Vec<i64> = ds
        .labels
        .as_ref()
        .unwrap()
        .iter()
        .map(|&y| y as i64)
        .collect();
    write_npy(
        &labels,
        &RawArray {
            shape: vec![n],
            data: Elements::I64(y),
        },
    )
    .unwrap();
    let mut cfg = TrainConfig::from_toml_str(
        r#"seed = 4
[data]
dataset = "npy"
missing = "nan-rows"
pairing = { kind = "aligned" }
[model]
objective = "mib"
encoder_hidden = [32]
z_dim = 8
shared_encoder = false
critic_hidden = [32]
[beta]
kind = "constant"
value = 0.01
[train]
iterations = 30
batch_size = 32
threads = 1
log_every = 5
checkpoint_every = 15
[eval]
every = 15
"#,
        "missing2.toml",
    )
    .unwrap();
    cfg.data.views = views;
    cfg.data.present = masks;
    cfg.data.labels = Some(labels);
    (cfg, present)
}

fn metrics(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("wall_s");
            v.as_object_mut().unwrap().remove("it_per_s");
            v.to_string()
        })
        .collect()
}

#[test]
fn mapped_views_with_masks_train_exactly_like_views_in_memory() {
    let dir = tmp("mapped");
    let (mut mem_cfg, present) = npy_data(&dir);
    mem_cfg.data.memory_map = MemoryMap::Never;
    let mut map_cfg = mem_cfg.clone();
    map_cfg.data.memory_map = MemoryMap::Always;
    let mem = load_splits(&mem_cfg).unwrap();
    let map = load_splits(&map_cfg).unwrap();
    let rows = map.train_rows.as_ref().expect("memory-mapped");
    assert!(mem.train_rows.is_none());
    // the same items, masks and zeroed rows (mfeat is small: the samples are every item)
    assert!(mem.train.has_missing() && map.train.has_missing());
    assert_eq!(*map.train, *mem.train);
    assert_eq!(map.test, mem.test);
    let missing: usize = present
        .iter()
        .map(|p| p.iter().filter(|&&x| !x).count())
        .sum();
    let missing_split: usize = [&*mem.train, &mem.test]
        .iter()
        .map(|d| {
            d.present
                .as_ref()
                .unwrap()
                .iter()
                .map(|p| p.iter().filter(|&&x| !x).count())
                .sum::<usize>()
        })
        .sum();
    assert_eq!(missing, missing_split);
    // the mapped rows give the in-memory batches, masks included (and zeros for missing rows,
    // whatever the file holds there)
    let a = BatchProducer::new(
        mem.train.clone(),
        PairingConfig::Aligned,
        [0, 1, 2],
        32,
        7,
        1,
    )
    .unwrap();
    let b = BatchProducer::new(
        rows.clone() as Arc<dyn mib::data::RowSource>,
        PairingConfig::Aligned,
        [0, 1, 2],
        32,
        7,
        2,
    )
    .unwrap();
    let from_mem: Vec<_> = a.iter_from(0).take(40).collect();
    let from_map: Vec<_> = b.iter_from(0).take(40).collect();
    assert!(from_mem.iter().all(|b| !b.present.is_empty()));
    assert_eq!(from_mem, from_map);

    // training: the same metrics and the same parameters
    let (_, m1) = train::train(
        &mem_cfg,
        &mem,
        &dir.join("mem"),
        &RunOptions::default(),
        &mut NoObserver,
    )
    .unwrap();
    let (_, mut m2) = train::train(
        &map_cfg,
        &map,
        &dir.join("map"),
        &RunOptions::default(),
        &mut NoObserver,
    )
    .unwrap();
    assert_eq!(m1.step().params().values(), m2.step().params().values());
    let (want, got) = (metrics(&dir.join("mem")), metrics(&dir.join("map")));
    assert_eq!(want.len(), 6);
    assert_eq!(want, got);
    // the fused evaluation reads the mapped splits too
    let protocol = mib::eval::EvalProtocol {
        labels_per_class: vec![1],
        repetitions: 1,
        knn: None,
        information_bound: false,
        ..Default::default()
    };
    let (r, emb) = mib::eval::evaluate_model_fused(&mut m2, &map, &protocol, Fuse::Poe).unwrap();
    assert_eq!(emb.test.rows, map.test.len());
    assert_eq!(r.linear_probe.len(), 1);
    // PoE fusion is a Gaussian encoder of the views an item has: its I(x; z) bounds are reported
    let ip = r.information_plane.as_ref().unwrap();
    let (lo, hi) = (ip.i_xz_lower.unwrap(), ip.i_xz.unwrap());
    assert!(
        lo.is_finite() && hi.is_finite() && lo <= hi + 1e-9,
        "{lo} {hi}"
    );
    assert!(
        ip.i_xz_estimator.contains("product"),
        "{}",
        ip.i_xz_estimator
    );
    // the mean of means is no posterior: no bounds
    let (r, _) = mib::eval::evaluate_model_fused(&mut m2, &map, &protocol, Fuse::Mean).unwrap();
    assert!(r
        .information_plane
        .as_ref()
        .is_none_or(|ip| ip.i_xz.is_none()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mapped_views_with_masks_refuse_what_memory_refuses() {
    let dir = tmp("mapped-bad");
    let (mut cfg, present) = npy_data(&dir);
    cfg.data.memory_map = MemoryMap::Always;
    // a NaN inside a present row of the nan-rows view names the file, the row and the column
    let zer = PathBuf::from(&cfg.data.views[2]);
    let splits = mib::data::load_named("mfeat", None, Some(&["zer".to_string()])).unwrap();
    let mut m = splits.train.views[0].clone();
    let row = present[2].iter().position(|&p| p).unwrap();
    m.row_mut(row)[3] = f32::NAN;
    for (i, &p) in present[2].iter().enumerate() {
        if !p {
            m.row_mut(i).fill(f32::NAN);
        }
    }
    write_f32(&zer, &m);
    let e = load_splits(&cfg).unwrap_err().to_string();
    assert!(
        e.contains("zer.npy") && e.contains(&format!("row {row},")) && e.contains("column 3"),
        "{e}"
    );
    // an item with no view
    m.row_mut(row)[3] = 0.0;
    write_f32(&zer, &m);
    let mut none = present.clone();
    let lonely = (0..none[0].len())
        .find(|&i| !present[2][i])
        .expect("an item lacking zer");
    none[0][lonely] = false;
    none[1][lonely] = false;
    write_u8(&cfg.data.present[0], &none[0]);
    write_u8(&cfg.data.present[1], &none[1]);
    let e = load_splits(&cfg).unwrap_err().to_string();
    assert!(e.contains(&format!("item {lonely} has no view")), "{e}");
    // a view with no present item
    write_u8(&cfg.data.present[0], &vec![false; present[0].len()]);
    let e = load_splits(&cfg).unwrap_err().to_string();
    assert!(e.contains("`fou` has no present item"), "{e}");
    // a mask of the wrong length
    write_u8(&cfg.data.present[0], &[true, false, true]);
    let e = load_splits(&cfg).unwrap_err().to_string();
    assert!(e.contains("`fou`") && e.contains("3 entries"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ids_align_on_their_union_in_order_of_first_appearance() {
    use mib::data::missing::{align_ids, align_views_by_ids};
    let names: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
    let ids = vec![vec!["x", "y", "z"], vec!["w", "z", "x"]];
    let (items, rows) = align_ids(&ids, &names).unwrap();
    assert_eq!(items, ["x", "y", "z", "w"]);
    assert_eq!(rows, [vec![0, 1, 2], vec![3, 2, 0]]);
    // the views become one row per item, zeros and a missing entry where a view lacks it
    let mut views = vec![
        Matrix::new(3, 1, vec![1.0, 2.0, 3.0]).unwrap(),
        Matrix::new(3, 1, vec![40.0, 30.0, 10.0]).unwrap(),
    ];
    let ids_s: Vec<Vec<String>> = ids
        .iter()
        .map(|v| v.iter().map(|s| s.to_string()).collect())
        .collect();
    let (_, present) = align_views_by_ids(&mut views, &ids_s, &names).unwrap();
    assert_eq!(views[0].data.to_vec(), [1.0, 2.0, 3.0, 0.0]);
    assert_eq!(views[1].data.to_vec(), [10.0, 0.0, 30.0, 40.0]);
    assert_eq!(
        present,
        [[true, true, true, false], [true, false, true, true]]
    );
    // refusals name the view
    let e = align_ids(&[vec![1, 2, 1], vec![1, 2, 3]], &names).unwrap_err();
    assert!(
        e.to_string()
            .contains("view `a`: item id `1` appears twice (rows 0 and 2)"),
        "{e}"
    );
    let e = align_ids(&[vec![1, 2], vec![3, 4]], &names).unwrap_err();
    assert!(
        e.to_string().contains("view `a` has no item in common"),
        "{e}"
    );
    let e = align_views_by_ids(
        &mut views,
        &[ids_s[0][..2].to_vec(), ids_s[1].clone()],
        &names,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("view `a`: 2 item ids, but the view has 4 rows"),
        "{e}"
    );
}

#[test]
fn poe_scales_are_the_product_of_the_present_posteriors() {
    let s0 = Matrix::new(2, 2, vec![1.0, 2.0, 0.5, 3.0]).unwrap();
    let s1 = Matrix::new(2, 2, vec![1.0, 2.0, 4.0, 3.0]).unwrap();
    let both = mib::models::poe_scales(&[s0.clone(), s1.clone()], None).unwrap();
    let h = std::f32::consts::FRAC_1_SQRT_2;
    let want = [h, 2.0 * h, 1.0 / (4.0f32 + 1.0 / 16.0).sqrt(), 3.0 * h];
    for (a, b) in both.data.iter().zip(want) {
        assert!((a - b).abs() < 1e-6, "{a} {b}");
    }
    // an item with one view keeps that view's scale
    let present = vec![vec![true, true], vec![true, false]];
    let one = mib::models::poe_scales(&[s0, s1], Some(&present)).unwrap();
    assert_eq!(one.row(1), [0.5, 3.0]);
}
