//! Every `.npy` layout NumPy writes trains: Fortran order (`np.save(p, a.T)`) and big-endian
//! dtypes (`a.astype('>f4')`), in memory (converted once while loading) and, for big-endian,
//! memory-mapped (converted as rows are read). A Fortran-ordered file cannot be memory-mapped:
//! `--memory-map always` refuses it saying how to rewrite it. The files are written with the
//! library's own writer; a run on them logs what the run on the same values in C order,
//! little-endian, logs.

mod common;
use common::tmpdir;

use mib::data::npy::{encode_npy_as, NpyLayout};
use mib::data::{Elements, RawArray};
use std::path::Path;
use std::process::Command;

fn write(path: &Path, shape: &[usize], data: Elements, layout: NpyLayout) {
    let a = RawArray {
        shape: shape.to_vec(),
        data,
    };
    std::fs::write(path, encode_npy_as(&a, layout).unwrap()).unwrap();
}

/// Writes views a (f32, 20 wide), b (f64, 10 wide) and labels y (i64) of 300 items in `layout`.
fn write_set(dir: &Path, layout: NpyLayout) {
    let n = 300;
    let a: Vec<f32> = (0..n * 20)
        .map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0) + (i % 20) as f32 * 0.01)
        .collect();
    let b: Vec<f64> = (0..n * 10)
        .map(|i| ((i * 53 % 97) as f64 / 48.0 - 1.0) + a[(i / 10) * 20] as f64 * 0.5)
        .collect();
    let y: Vec<i64> = (0..n as i64).map(|i| i % 3).collect();
    write(&dir.join("a.npy"), &[n, 20], Elements::F32(a), layout);
    write(&dir.join("b.npy"), &[n, 10], Elements::F64(b), layout);
    write(&dir.join("y.npy"), &[n], Elements::I64(y), layout);
}

fn train(dir: &Path, extra: &[&str]) -> std::process::Output {
    let views = format!(
        "{},{}",
        dir.join("a.npy").display(),
        dir.join("b.npy").display()
    );
    Command::new(env!("CARGO_BIN_EXE_mib"))
        .args(["train", "--config", "demo", "--views", &views, "--labels"])
        .arg(dir.join("y.npy"))
        .args(["--iterations", "30", "--out"])
        .arg(dir.join("run"))
        .args(extra)
        .output()
        .unwrap()
}

/// The run's metrics lines without their timing fields (the losses, estimates and probe
/// accuracies, as written: equal only if the runs saw the same values).
fn metrics(run: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("wall_s");
            o.remove("it_per_s");
            v
        })
        .collect()
}

#[test]
fn fortran_order_and_big_endian_files_train_like_c_order_ones() {
    let d = tmpdir("npy-layouts");
    let mut models = Vec::new();
    for (name, fortran_order, big_endian, map) in [
        ("c", false, false, "never"),
        ("fortran", true, false, "never"),
        ("big", false, true, "never"),
        ("fortran-big", true, true, "auto"),
        ("big-mapped", false, true, "always"),
        ("c-mapped", false, false, "always"),
    ] {
        let dir = d.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        write_set(
            &dir,
            NpyLayout {
                fortran_order,
                big_endian,
            },
        );
        let out = train(&dir, &["--memory-map", map]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {err}");
        models.push((name, metrics(&dir.join("run"))));
    }
    // in memory: every layout gives the run of the C-order file, bit for bit
    for (name, m) in &models[1..4] {
        assert!(*m == models[0].1, "{name} differs from the C-order run");
    }
    // mapped: big-endian rows are converted as read, the same run as mapped little-endian
    assert!(models[4].1 == models[5].1, "mapped big-endian differs");
    assert!(!models[0].1.is_empty());

    // a Fortran-ordered file cannot be mapped: the error says how to rewrite it
    let out = train(&d.join("fortran"), &["--memory-map", "always", "--force"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("a.npy") && err.contains("Fortran") && err.contains("np.ascontiguousarray"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&d);
}
