//! Memory-mapped views (`data.memory_map`): training from mapped `.npy` files of f4, f2 and u1 gives
//! exactly what training from the same files read into memory gives, and bad files are refused
//! with the file, row and column named.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mib::config::TrainConfig;
use mib::data::array::{Elements, RawArray};
use mib::data::mapped::MappedViews;
use mib::data::{load_splits, npy, BatchProducer, MemoryMap, PairingConfig};
use mib::train::{self, NoObserver, RunOptions};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mib-mapped-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `data` as an `.npy` array of `shape`.
fn write(p: &Path, shape: &[usize], data: Elements) {
    npy::write_npy(
        p,
        &RawArray {
            shape: shape.to_vec(),
            data,
        },
    )
    .unwrap();
}

fn write_f16(p: &Path, rows: usize, cols: usize, v: &[f32]) {
    // numpy's header for '<f2', then the little-endian halves
    let head = RawArray {
        shape: vec![rows, cols],
        data: Elements::U8(vec![0; rows * cols]),
    };
    let mut bytes = npy::encode_npy(&head).unwrap();
    let at = bytes.windows(4).position(|w| w == b"|u1'").unwrap();
    bytes[at..at + 3].copy_from_slice(b"<f2");
    let hdr = bytes.len() - rows * cols;
    bytes.truncate(hdr);
    for &x in v {
        bytes.extend_from_slice(&npy::f32_to_f16(x).to_le_bytes());
    }
    std::fs::write(p, bytes).unwrap();
}

/// mfeat's pix (u1: its values are 0-6), fou (f2) and fac (f4) views and the labels in `dir`.
fn write_views(dir: &Path) -> Vec<PathBuf> {
    let all = mib::data::mfeat::load_mfeat_all().unwrap();
    let get = |n: &str| all.views[all.view_index(n).unwrap()].clone();
    let (pix, fou, fac) = (get("pix"), get("fou"), get("fac"));
    let ps: Vec<PathBuf> = ["pix", "fou", "fac"]
        .iter()
        .map(|n| dir.join(format!("{n}.npy")))
        .collect();
    // The embedded pix is scaled to [0, 1]: back to its integer levels 0..6.
    let pix_u8: Vec<u8> = pix.data.iter().map(|&v| (v * 6.0).round() as u8).collect();
    write(&ps[0], &[pix.rows, pix.cols], Elements::U8(pix_u8));
    write_f16(&ps[1], fou.rows, fou.cols, &fou.data);
    write(
        &ps[2],
        &[fac.rows, fac.cols],
        Elements::F32(fac.data.to_vec()),
    );
    let y = all.labels.as_ref().unwrap();
    write(
        &dir.join("y.npy"),
        &[y.len()],
        Elements::I64(y.iter().map(|&v| v as i64).collect()),
    );
    ps
}

fn config(paths: &[PathBuf], dir: &Path, map: MemoryMap) -> TrainConfig {
    let mut cfg =
        TrainConfig::from_toml_str(mib::presets::preset("demo").unwrap(), "demo").unwrap();
    cfg.beta = cfg.beta.scaled(cfg.train.iterations, 60);
    cfg.train.iterations = 60;
    cfg.train.threads = 2;
    cfg.train.checkpoint_every = 30;
    cfg.train.log_every = 10;
    cfg.eval.every = 0;
    cfg.data.dataset = "npy".into();
    cfg.data.views = paths.iter().map(|p| p.display().to_string()).collect();
    cfg.data.labels = Some(dir.join("y.npy"));
    cfg.data.memory_map = map;
    cfg
}

#[test]
fn mapped_views_train_exactly_like_views_in_memory() {
    let dir = tmp("same");
    let paths = write_views(&dir);
    let mem_cfg = config(&paths, &dir, MemoryMap::Never);
    let map_cfg = config(&paths, &dir, MemoryMap::Always);
    let mem = load_splits(&mem_cfg).unwrap();
    let map = load_splits(&map_cfg).unwrap();
    assert!(mem.train_rows.is_none());
    let rows = map.train_rows.as_ref().expect("memory-mapped");
    // mfeat is small: the in-memory sample is every training item, in the split's order.
    assert_eq!(rows.len(), mem.train.len());
    assert_eq!(*map.train, *mem.train);
    assert_eq!(map.test, mem.test);
    assert_eq!(map.train_len(), mem.train_len());
    // The f2 view is widened exactly; the u1 view holds the integer levels.
    assert!(mem.train.views[0].data.iter().all(|v| v.fract() == 0.0));

    // The producer over the mapped rows gives the in-memory producer's batches.
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
    let from_mem: Vec<_> = a.iter_from(40).take(60).collect();
    let from_map: Vec<_> = b.iter_from(40).take(60).collect();
    assert_eq!(from_mem, from_map);

    // Three views trained from the maps: the same parameters as from memory.
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
    assert_eq!(m1.n_views(), 3);
    assert_eq!(m1.step().params().values(), m2.step().params().values());
    // Embedding every mapped row block by block equals embedding the in-memory split.
    let z_rows = m2.embed_rows(rows, 1).unwrap();
    let z_mem = m2.embed_dataset(&mem.train, 1).unwrap();
    assert_eq!(z_rows, z_mem);
    let saved = std::fs::read_to_string(dir.join("map/config.toml")).unwrap();
    assert!(saved.contains("memory_map = \"always\""), "{saved}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn auto_keeps_small_views_in_memory() {
    let dir = tmp("auto");
    let paths = write_views(&dir);
    let s = load_splits(&config(&paths, &dir, MemoryMap::Auto)).unwrap();
    assert!(s.train_rows.is_none(), "mfeat is far below 1 GiB");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_nan_in_a_mapped_row_stops_training_naming_file_row_and_column() {
    let dir = tmp("nan");
    let p = dir.join("a.npy");
    let q = dir.join("b.npy");
    let mut a = vec![0.5f32; 300 * 4];
    a[123 * 4 + 2] = f32::NAN;
    for (path, v) in [(&p, a), (&q, vec![1.0f32; 300 * 3])] {
        let cols = v.len() / 300;
        write(path, &[300, cols], Elements::F32(v));
    }
    let mv = Arc::new(MappedViews::open(&[p.clone(), q.clone()], None).unwrap());
    let prod = BatchProducer::new(mv.clone(), PairingConfig::Aligned, [0, 1], 50, 0, 1).unwrap();
    let mut it = prod.iter_from(0);
    let n = it.by_ref().take(10).count();
    assert!(
        n < 6,
        "the epoch holding row 123 ends the stream ({n} batches)"
    );
    let e = it.error().expect("an error").to_string();
    assert!(
        e.contains("a.npy") && e.contains("row 123") && e.contains("column 2"),
        "{e}"
    );
    let e = prod.batch(0).unwrap_err().to_string();
    assert!(e.contains("row 123"), "{e}");
    // The in-memory sample of a split checks what it reads too.
    let e = mv.sample(1 << 20).unwrap_err().to_string();
    assert!(e.contains("a.npy") && e.contains("row 123"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unmappable_files_are_refused_with_always_naming_the_file() {
    let dir = tmp("bad");
    let p = dir.join("v.npy");
    let raw = RawArray {
        shape: vec![20, 3],
        data: Elements::F32(vec![1.0; 60]),
    };
    let bytes = npy::encode_npy(&raw).unwrap();
    let check = |bytes: &[u8], want: &str| {
        std::fs::write(&p, bytes).unwrap();
        let e = MappedViews::open(std::slice::from_ref(&p), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("v.npy") && e.contains(want), "{e}");
    };
    check(&bytes[..bytes.len() - 5], "truncated");
    let mut fortran = bytes.clone();
    let at = fortran.windows(5).position(|w| w == b"False").unwrap();
    fortran[at..at + 5].copy_from_slice(b"True ");
    check(&fortran, "Fortran");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &bytes).unwrap();
    check(&gz.finish().unwrap(), "gzip");
    let i8s = npy::encode_npy(&RawArray {
        shape: vec![20, 3],
        data: Elements::I64(vec![1; 60]),
    })
    .unwrap();
    check(&i8s, "dtype");
    // Views of different lengths name both files.
    std::fs::write(&p, &bytes).unwrap();
    let q = dir.join("w.npy");
    write(&q, &[19, 3], Elements::F32(vec![1.0; 57]));
    let e = MappedViews::open(&[p.clone(), q], None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("w.npy") && e.contains("19 rows"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn multi_hot_targets_of_mapped_views_reach_the_samples() {
    let dir = tmp("targets");
    let paths = write_views(&dir);
    // Three topics per item: its class mod 2, mod 3 and mod 5 being zero.
    let all = mib::data::mfeat::load_mfeat_all().unwrap();
    let y = all.labels.as_ref().unwrap();
    let t: Vec<f32> = y
        .iter()
        .flat_map(|&c| [c % 2 == 0, c % 3 == 0, c % 5 == 0].map(|b| f32::from(u8::from(b))))
        .collect();
    let tp = dir.join("topics.npy");
    write(&tp, &[y.len(), 3], Elements::F32(t));
    let mut mem_cfg = config(&paths, &dir, MemoryMap::Never);
    mem_cfg.data.labels = Some(tp.clone());
    let mut map_cfg = mem_cfg.clone();
    map_cfg.data.memory_map = MemoryMap::Always;
    let (mem, map) = (
        load_splits(&mem_cfg).unwrap(),
        load_splits(&map_cfg).unwrap(),
    );
    assert!(map.train_rows.is_some());
    let targets = map.test.targets.as_ref().expect("targets in the sample");
    assert_eq!(targets.cols, 3);
    assert_eq!(map.test.targets, mem.test.targets);
    assert_eq!(map.train.targets, mem.train.targets);
    // A target that is not 0 or 1 is named with its file, row and label.
    let mut bad = vec![0f32; y.len() * 3];
    bad[7 * 3 + 1] = 0.5;
    write(&tp, &[y.len(), 3], Elements::F32(bad));
    let e = load_splits(&map_cfg).unwrap_err().to_string();
    assert!(e.contains("topics.npy") && e.contains("0.5"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
