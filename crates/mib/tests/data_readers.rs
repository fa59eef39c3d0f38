//! Every reader round-trips the files these tests write, and bad files give one clear error that
//! names the file and the row or byte offset.

use mib::data::{
    csv, idx, load_csv_views, load_idx_dir, load_npy_views, npy, CsvHeader, CsvOptions, Elements,
    LabelColumn, MultiViewDataset, RawArray,
};
use mib::Matrix;
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mib-data-tests-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn all_kinds() -> Vec<RawArray> {
    vec![
        RawArray {
            shape: vec![3, 2, 2],
            data: Elements::U8((0..12).collect()),
        },
        RawArray {
            shape: vec![4],
            data: Elements::I8(vec![-1, 0, 1, 127]),
        },
        RawArray {
            shape: vec![2, 2],
            data: Elements::I16(vec![-300, 0, 7, 32000]),
        },
        RawArray {
            shape: vec![2, 3],
            data: Elements::I32(vec![-70000, 1, 2, 3, 4, i32::MAX]),
        },
        RawArray {
            shape: vec![3, 1],
            data: Elements::F32(vec![0.5, -1.25, 1e-7]),
        },
        RawArray {
            shape: vec![1, 2],
            data: Elements::F64(vec![std::f64::consts::PI, -2.0]),
        },
    ]
}

#[test]
fn idx_round_trips_raw_and_gzip() -> anyhow::Result<()> {
    for (i, a) in all_kinds().iter().enumerate() {
        for gz in [false, true] {
            let p = tmp(&format!("a{i}-{gz}.idx"));
            idx::write_idx(&p, a, gz)?;
            assert_eq!(&idx::read_idx(&p)?, a);
        }
    }
    Ok(())
}

#[test]
fn npy_round_trips_every_dtype() -> anyhow::Result<()> {
    let mut kinds = all_kinds();
    kinds.push(RawArray {
        shape: vec![3],
        data: Elements::I64(vec![-5, 0, 1 << 40]),
    });
    for (i, a) in kinds.iter().enumerate() {
        let p = tmp(&format!("a{i}.npy"));
        npy::write_npy(&p, a)?;
        assert_eq!(&npy::read_npy(&p)?, a);
    }
    Ok(())
}

#[test]
fn npy_fortran_order_and_big_endian() -> anyhow::Result<()> {
    // np.asfortranarray(np.arange(6, dtype='>i4').reshape(2, 3))
    let header = "{'descr': '>i4', 'fortran_order': True, 'shape': (2, 3), }";
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend((header.len() as u16).to_le_bytes());
    b.extend(header.as_bytes());
    for v in [0i32, 3, 1, 4, 2, 5] {
        b.extend(v.to_be_bytes());
    }
    let a = npy::parse_npy(&b, Path::new("f.npy"))?;
    assert_eq!(a.shape, vec![2, 3]);
    assert_eq!(a.data, Elements::I32((0..6).collect()));
    Ok(())
}

#[test]
fn csv_round_trips_with_header_and_labels() -> anyhow::Result<()> {
    let m = Matrix::new(3, 2, vec![0.5, -1.0, 2.25, 3.0, 1e-3, 7.0])?;
    let labels = [2u32, 0, 1];
    let p = tmp("t.csv");
    let header: Vec<String> = ["a", "b", "label"].iter().map(|s| s.to_string()).collect();
    csv::write_csv(&p, &m, Some(&labels), Some(&header))?;
    let opts = CsvOptions {
        label: LabelColumn::Name("label".into()),
        ..Default::default()
    };
    let t = csv::read_csv(&p, &opts)?;
    assert_eq!(t.features, m);
    assert_eq!(t.labels.as_deref(), Some(&labels[..]));
    assert_eq!(t.header.unwrap(), ["a", "b"]);
    // No header, label in column 0, semicolons.
    let p2 = tmp("t2.csv");
    std::fs::write(&p2, "1;0.5;2\n0;1.5;-3\n")?;
    let t = csv::read_csv(
        &p2,
        &CsvOptions {
            delimiter: ';',
            header: CsvHeader::No,
            label: LabelColumn::Index(0),
        },
    )?;
    assert_eq!(t.features, Matrix::new(2, 2, vec![0.5, 2.0, 1.5, -3.0])?);
    assert_eq!(t.labels, Some(vec![1, 0]));
    Ok(())
}

#[test]
fn multi_view_loaders_round_trip() -> anyhow::Result<()> {
    let v1 = Matrix::new(4, 2, (0..8).map(|x| x as f32).collect())?;
    let v2 = Matrix::new(4, 3, (0..12).map(|x| x as f32 * 0.5).collect())?;
    let y = vec![0u32, 1, 1, 2];
    // NPY
    let (p1, p2, pl) = (tmp("v1.npy"), tmp("v2.npy"), tmp("y.npy"));
    npy::write_npy(
        &p1,
        &RawArray {
            shape: vec![4, 2],
            data: Elements::F32(v1.data.to_vec()),
        },
    )?;
    npy::write_npy(
        &p2,
        &RawArray {
            shape: vec![4, 3],
            data: Elements::F64(v2.data.iter().map(|&x| x as f64).collect()),
        },
    )?;
    npy::write_npy(
        &pl,
        &RawArray {
            shape: vec![4],
            data: Elements::I64(y.iter().map(|&x| x as i64).collect()),
        },
    )?;
    let ds = load_npy_views(&[p1.clone(), p2.clone()], Some(&pl))?;
    assert_eq!(ds.views, vec![v1.clone(), v2.clone()]);
    assert_eq!(ds.labels.as_ref(), Some(&y));
    assert_eq!(
        (ds.n_classes, ds.view_names.clone()),
        (3, vec!["v1".to_string(), "v2".to_string()])
    );
    // CSV with the label as last column of both files.
    let (c1, c2) = (tmp("c1.csv"), tmp("c2.csv"));
    csv::write_csv(&c1, &v1, Some(&y), None)?;
    csv::write_csv(&c2, &v2, Some(&y), None)?;
    let opts = CsvOptions {
        label: LabelColumn::Last,
        ..Default::default()
    };
    let ds = load_csv_views(&[c1.clone(), c2.clone()], None, &opts)?;
    assert_eq!(ds.views, vec![v1, v2]);
    assert_eq!(ds.labels, Some(y));
    Ok(())
}

#[test]
fn idx_dir_round_trips_as_named_layout() -> anyhow::Result<()> {
    let d = tmp("idxdir");
    std::fs::create_dir_all(&d)?;
    let img = |n: usize| RawArray {
        shape: vec![n, 2, 3],
        data: Elements::U8((0..n * 6).map(|i| (i * 37 % 256) as u8).collect()),
    };
    let lab = |n: usize| RawArray {
        shape: vec![n],
        data: Elements::U8((0..n).map(|i| (i % 10) as u8).collect()),
    };
    idx::write_idx(&d.join("train-images-idx3-ubyte.gz"), &img(12), true)?;
    idx::write_idx(&d.join("train-labels-idx1-ubyte.gz"), &lab(12), true)?;
    idx::write_idx(&d.join("t10k-images-idx3-ubyte"), &img(5), false)?;
    idx::write_idx(&d.join("t10k-labels-idx1-ubyte"), &lab(5), false)?;
    let s = load_idx_dir(&d)?;
    assert_eq!((s.train.len(), s.test.len()), (12, 5));
    assert_eq!(s.train.image_shape, Some((2, 3)));
    approx::assert_abs_diff_eq!(
        s.train.views[0].row(1)[0],
        (6.0 * 37.0) / 255.0,
        epsilon = 1e-6
    );
    // via the named loader with MIB-style data_dir
    let s2 = mib::data::load_named("mnist", Some(&d), None)?;
    assert_eq!(s2, s);
    Ok(())
}

fn err(r: mib::Result<impl std::fmt::Debug>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn bad_files_name_the_file_and_the_offset() -> anyhow::Result<()> {
    let p = Path::new("bad.idx");
    let good = idx::encode_idx(&RawArray {
        shape: vec![2, 2],
        data: Elements::U8(vec![1, 2, 3, 4]),
    })?;
    let e = err(idx::parse_idx(good[..good.len() - 1].to_vec(), p));
    assert!(
        e.contains("bad.idx") && e.contains("truncated") && e.contains("byte 15"),
        "{e}"
    );
    let mut magic = good.clone();
    magic[0] = 7;
    let e = err(idx::parse_idx(magic, p));
    assert!(e.contains("magic") && e.contains("byte 0"), "{e}");
    let mut ty = good.clone();
    ty[2] = 0x42;
    assert!(err(idx::parse_idx(ty, p)).contains("0x42"));
    let mut long = good.clone();
    long.push(0);
    assert!(err(idx::parse_idx(long, p)).contains("offset 16"));
    assert!(err(idx::parse_idx(vec![0x1f, 0x8b, 1, 2, 3], p)).contains("gzip"));

    let q = Path::new("bad.npy");
    let good = npy::encode_npy(&RawArray {
        shape: vec![2],
        data: Elements::F32(vec![1.0, 2.0]),
    })?;
    let e = err(npy::parse_npy(&good[..good.len() - 2], q));
    assert!(e.contains("bad.npy") && e.contains("truncated"), "{e}");
    assert!(err(npy::parse_npy(b"NUMPY not really", q)).contains("magic"));
    let mut nan = good.clone();
    let n = nan.len();
    nan[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
    let e = err(npy::parse_npy(&nan, q)?.to_matrix(1.0, q));
    assert!(e.contains("bad.npy") && e.contains("row 1"), "{e}");

    let c = tmp("bad.csv");
    std::fs::write(&c, "a,b\n1,2\n3\n")?;
    let e = err(csv::read_csv(&c, &CsvOptions::default()));
    assert!(e.contains("bad.csv") && e.contains("line 3"), "{e}");
    std::fs::write(&c, "1,2\n3,inf\n")?;
    let e = err(csv::read_csv(&c, &CsvOptions::default()));
    assert!(
        e.contains("line 2, column 2") && e.contains("non-finite"),
        "{e}"
    );
    std::fs::write(&c, "1,2\n3,x\n")?;
    assert!(err(csv::read_csv(&c, &CsvOptions::default())).contains("'x' is not a number"));
    std::fs::write(&c, "1,2\n3,-1\n")?;
    let opts = CsvOptions {
        label: LabelColumn::Last,
        ..Default::default()
    };
    assert!(err(csv::read_csv(&c, &opts)).contains("line 2"));
    Ok(())
}

#[test]
fn dataset_validation_errors() -> anyhow::Result<()> {
    let a = Matrix::zeros(3, 2);
    let b = Matrix::zeros(4, 2);
    let e = err(MultiViewDataset::new(vec![a.clone(), b], None, None));
    assert!(
        e.contains("rows of view 1") && e.contains('3') && e.contains('4'),
        "{e}"
    );
    let mut nan = Matrix::zeros(3, 2);
    nan.data[5] = f32::INFINITY;
    let e = err(MultiViewDataset::new(vec![a.clone(), nan], None, None));
    assert!(e.contains("view 1") && e.contains("row 2, column 1"), "{e}");
    let e = err(MultiViewDataset::new(
        vec![a.clone()],
        Some(vec![0, 1, 5]),
        Some(3),
    ));
    assert!(e.contains("label 5 at row 2"), "{e}");
    assert!(MultiViewDataset::new(vec![a.clone()], Some(vec![0, 1]), None).is_err());
    assert!(MultiViewDataset::new(vec![], None, None).is_err());
    // NPY views with different row counts: the error names the file.
    let (p1, p2) = (tmp("r1.npy"), tmp("r2.npy"));
    npy::write_npy(
        &p1,
        &RawArray {
            shape: vec![3, 1],
            data: Elements::U8(vec![1, 2, 3]),
        },
    )?;
    npy::write_npy(
        &p2,
        &RawArray {
            shape: vec![2, 1],
            data: Elements::U8(vec![1, 2]),
        },
    )?;
    let e = err(load_npy_views(&[p1, p2], None));
    assert!(e.contains("r2.npy") && e.contains("2 rows"), "{e}");
    Ok(())
}
