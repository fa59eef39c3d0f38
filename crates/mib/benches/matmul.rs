//! Throughput of the matrix products of the reference MIB step (batch 64, both views stacked:
//! 128 rows), in GFLOP/s: `cargo bench -p mib --bench matmul`.

use mib::nn::matmul::{matmul, matmul_cc_nt, matmul_nt, matmul_nt_colmajor, matmul_tn};
use std::time::Instant;

fn time(mut f: impl FnMut()) -> f64 {
    f();
    let reps = 20;
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    t.elapsed().as_secs_f64() / reps as f64
}

fn main() {
    let rows = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(128usize);
    for &(i, o) in &[
        (784usize, 1024usize),
        (1024, 1024),
        (1024, 128),
        (128, 1024),
    ] {
        let x = vec![0.5f32; rows * i];
        let w = vec![0.25f32; i * o];
        let dy = vec![0.1f32; rows * o];
        let mut y = vec![0.0f32; rows * o];
        let mut dw = vec![0.0f32; i * o];
        let mut dx = vec![0.0f32; rows * i];
        let fl = 2.0 * (rows * i * o) as f64 / 1e9;
        let f = time(|| matmul(&mut y, &x, &w, rows, i, o, false));
        let t = time(|| matmul_tn(&mut dw, &x, &dy, i, rows, o, false));
        let n = time(|| matmul_nt(&mut dx, &dy, &w, rows, o, i, false));
        let c = time(|| matmul_nt_colmajor(&mut dx, &dy, &w, rows, o, i, false));
        let dyt = vec![0.1f32; rows * o];
        let cc = time(|| matmul_cc_nt(&mut dx, &dyt, &w, rows, o, i, false));
        println!(
            "{rows}x{i}->{o}: fwd {:.0}  dW {:.0}  dX {:.0}  dX(col-major) {:.0}  dX(cc) {:.0} GFLOP/s",
            fl / f,
            fl / t,
            fl / n,
            fl / c,
            fl / cc
        );
    }
}
