//! Times the full few-label linear-probe protocol (`mib::eval::few_label_probe`).
//!
//! ```text
//! cargo run --release -p mib --example bench_probe -- [DATA_DIR] [--reps R] [--lpc 1,2,5,10,100,1000]
//! ```
//!
//! `DATA_DIR` holds raw little-endian files `x_train.f32`, `y_train.u32`, `x_test.f32`, `y_test.u32`
//! and `meta.json` (`{"d": 64, "n_classes": 10}`), as `scripts/bench_probe_sklearn.py` writes them;
//! without it, seeded Gaussian blobs are made (64-d, 10 classes, 2,000 train and 1,000 test items per
//! class). Prints one JSON object: seconds, threads, and the per-count summaries.

use std::time::Instant;

use mib::eval::{few_label_probe, LinearProbeParams};
use mib::{Matrix, MibRng};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

fn read_f32(path: &str) -> Vec<f32> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn read_u32(path: &str) -> Vec<u32> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn blobs(d: usize, k: usize, per_class: &[usize], seed: u64) -> Vec<(Matrix, Vec<u32>)> {
    let mut rng = MibRng::seed_from_u64(seed);
    let centers: Vec<f32> = (0..k * d)
        .map(|_| {
            let e: f32 = StandardNormal.sample(&mut rng);
            0.35 * e
        })
        .collect();
    per_class
        .iter()
        .map(|&m| {
            let mut x = Vec::with_capacity(m * k * d);
            let mut y = Vec::with_capacity(m * k);
            for i in 0..m * k {
                let c = i % k;
                for j in 0..d {
                    let e: f32 = StandardNormal.sample(&mut rng);
                    x.push(centers[c * d + j] + e);
                }
                y.push(c as u32);
            }
            (Matrix::new(m * k, d, x).unwrap(), y)
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut dir = None;
    let mut reps = 20;
    let mut lpc = vec![1, 2, 5, 10, 100, 1000];
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--reps" => {
                reps = args[i + 1].parse().expect("--reps N");
                i += 1;
            }
            "--lpc" => {
                lpc = args[i + 1]
                    .split(',')
                    .map(|s| s.parse().expect("--lpc 1,2,5"))
                    .collect();
                i += 1;
            }
            a => dir = Some(a.to_string()),
        }
        i += 1;
    }
    let (train, ytr, test, yte, n_classes) = match dir {
        Some(dir) => {
            let meta: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(format!("{dir}/meta.json")).unwrap())
                    .unwrap();
            let d = meta["d"].as_u64().unwrap() as usize;
            let k = meta["n_classes"].as_u64().unwrap() as usize;
            let xtr = read_f32(&format!("{dir}/x_train.f32"));
            let xte = read_f32(&format!("{dir}/x_test.f32"));
            (
                Matrix::new(xtr.len() / d, d, xtr).unwrap(),
                read_u32(&format!("{dir}/y_train.u32")),
                Matrix::new(xte.len() / d, d, xte).unwrap(),
                read_u32(&format!("{dir}/y_test.u32")),
                k,
            )
        }
        None => {
            let mut v = blobs(64, 10, &[2000, 1000], 0);
            let (te, yte) = v.pop().unwrap();
            let (tr, ytr) = v.pop().unwrap();
            (tr, ytr, te, yte, 10)
        }
    };
    let params = LinearProbeParams::default();
    let t = Instant::now();
    let s = few_label_probe(&train, &ytr, &test, &yte, n_classes, &lpc, reps, &params, 0)
        .expect("protocol");
    let secs = t.elapsed().as_secs_f64();
    let out = serde_json::json!({
        "seconds": secs,
        "threads": rayon::current_num_threads(),
        "n_train": train.rows, "n_test": test.rows, "d": train.cols,
        "linear_probe": s,
    });
    println!("{out}");
}
