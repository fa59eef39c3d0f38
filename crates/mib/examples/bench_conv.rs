//! Times the forward and backward passes of a conv stack (1 -> 32 -> 64 -> 128 channels, 3x3 kernels,
//! strides 1/2/2, padding 1, on 28x28 images, 128 rows) on a compute pool of 2 threads (or the
//! number given as the first argument), and where the time goes: the same im2col / col2im and
//! `gemm` calls as the passes make (per chunk of 8 items, into a cache-resident scratch), timed on
//! their own over the whole batch.
//!
//! With `norm` as the second argument, each convolution is followed by its norm (`GroupNorm(1, C)`).
//!
//!   cargo run --release -p mib --example bench_conv [-- threads [norm]]
use mib::nn::matmul::{matmul_nt_one, matmul_one, matmul_tn_one};
use mib::nn::{ConvLayerConfig, ConvStack, ConvStackConfig, ParamStore};
use mib::pool::ComputePool;
use mib::MibRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use std::time::Instant;

const ROWS: usize = 128;
const REPS: usize = 20;

/// Milliseconds per call of `f`, the best mean of three rounds of [`REPS`] calls.
fn ms(mut f: impl FnMut()) -> f64 {
    f();
    (0..3)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..REPS {
                f();
            }
            t.elapsed().as_secs_f64() * 1e3 / REPS as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("threads: a number"))
        .unwrap_or(2);
    let norm = std::env::args().nth(2).is_some_and(|a| a == "norm");
    let pool = ComputePool::new(threads);
    pool.install(|| run(threads, norm)).unwrap();
}

fn run(threads: usize, norm: bool) {
    let cfg = ConvStackConfig {
        in_channels: 1,
        height: 28,
        width: 28,
        layers: vec![
            ConvLayerConfig::new(32, 3, 1, 1),
            ConvLayerConfig::new(64, 3, 2, 1),
            ConvLayerConfig::new(128, 3, 2, 1),
        ],
        norm,
    };
    let mut rng = MibRng::seed_from_u64(0);
    let mut store = ParamStore::new();
    let mut stack = ConvStack::new(&mut store, "conv", "model.encoder", &cfg, ROWS, false).unwrap();
    stack.init_using(&mut store, &mut rng);
    let x: Vec<f32> = (0..ROWS * stack.in_dim()).map(|_| rng.random()).collect();
    let dy: Vec<f32> = (0..ROWS * stack.out_dim())
        .map(|_| rng.random::<f32>() - 0.5)
        .collect();
    stack.input_mut(ROWS).copy_from_slice(&x);
    let gflop = 2.0 * stack.macs_per_row() as f64 * ROWS as f64 / 1e9;
    println!(
        "conv stack 1-32-64-128, 3x3, strides 1/2/2, 28x28 -> {:?}, {ROWS} rows, {threads} threads, \
         norm {norm}, {} parameters, {gflop:.2} GFLOP per forward",
        stack.out_shape(),
        store.len()
    );

    let fwd = ms(|| stack.forward(store.values(), ROWS));
    let bwd = ms(|| {
        stack.output_grad_mut(ROWS).copy_from_slice(&dy);
        let (p, g) = store.split();
        stack.backward(p, g, ROWS);
    });
    let copy = ms(|| stack.output_grad_mut(ROWS).copy_from_slice(&dy));
    println!(
        "forward  {fwd:7.2} ms ({:.1} GFLOP/s)\nbackward {:7.2} ms ({:.1} GFLOP/s; no input gradient \
         for the first layer)",
        gflop / fwd * 1e3,
        bwd - copy,
        2.0 * gflop / (bwd - copy) * 1e3
    );

    // the parts, layer by layer, over the whole batch in chunks of 8 items as the passes run them,
    // each chunk unfolding into its own cache-resident scratch
    const PER: usize = 8;
    let params = store.values().to_vec();
    let (mut t_im2col, mut t_fgemm, mut t_dw, mut t_dcols, mut t_col2im) =
        (0.0, 0.0, 0.0, 0.0, 0.0);
    for (l, layer) in stack.layers().iter().enumerate() {
        let s = *layer.shape();
        let (il, cl, ol, wl) = (s.in_len(), s.cols_len(), s.out_len(), s.weight_len());
        let (o, pl, hw) = (s.out_channels, s.patch_len(), s.out_h() * s.out_w());
        let (w0, _) = layer.offsets();
        let w = &params[w0..w0 + wl];
        let chunks = ROWS / PER;
        let xin: Vec<f32> = (0..ROWS * il).map(|_| rng.random()).collect();
        let mut cols = vec![0.0f32; chunks * cl];
        let mut y = vec![0.0f32; ROWS * ol];
        let dyl: Vec<f32> = (0..ROWS * ol).map(|_| rng.random::<f32>() - 0.5).collect();
        let mut dx = vec![0.0f32; ROWS * il];
        let mut partial = vec![0.0f32; chunks * wl];
        let pad = s.padded_len();
        let mut padded = vec![0.0f32; chunks * pad];
        let a = ms(|| {
            cols.par_chunks_mut(cl)
                .zip(padded.par_chunks_mut(pad))
                .zip(xin.par_chunks(PER * il))
                .for_each(|((c, xp), x)| x.chunks_exact(il).for_each(|x| s.im2col(x, xp, c)))
        });
        let b = ms(|| {
            y.par_chunks_mut(PER * ol)
                .zip(cols.par_chunks(cl))
                .for_each(|(y, c)| {
                    y.chunks_exact_mut(ol)
                        .for_each(|y| matmul_one(y, w, c, o, pl, hw, false))
                })
        });
        let c = ms(|| {
            partial
                .par_chunks_mut(wl)
                .zip(dyl.par_chunks(PER * ol))
                .zip(cols.par_chunks(cl))
                .for_each(|((pw, dy), c)| {
                    for (i, dy) in dy.chunks_exact(ol).enumerate() {
                        matmul_nt_one(pw, dy, c, o, hw, pl, i > 0);
                    }
                })
        });
        let d = ms(|| {
            cols.par_chunks_mut(cl)
                .zip(dyl.par_chunks(PER * ol))
                .for_each(|(c, dy)| {
                    dy.chunks_exact(ol)
                        .for_each(|dy| matmul_tn_one(c, w, dy, pl, o, hw, false))
                })
        });
        let e = ms(|| {
            dx.par_chunks_mut(PER * il)
                .zip(padded.par_chunks_mut(pad))
                .zip(cols.par_chunks(cl))
                .for_each(|((dx, xp), c)| {
                    dx.chunks_exact_mut(il).for_each(|dx| s.col2im(c, xp, dx))
                })
        });
        let first = l == 0;
        println!(
            "layer {l}: {}x{}x{} -> {}x{}x{} (k = {pl}): im2col {a:.2} ms, W cols {b:.2} ms | dW {c:.2} ms, \
             W^T dy {d:.2} ms, col2im {e:.2} ms{}",
            s.in_channels,
            s.in_h,
            s.in_w,
            o,
            s.out_h(),
            s.out_w(),
            if first { " (input gradient not computed)" } else { "" }
        );
        t_im2col += a;
        t_fgemm += b;
        t_dw += c;
        if !first {
            t_dcols += d;
            t_col2im += e;
        }
    }
    println!(
        "forward parts: im2col {t_im2col:.2} ms, gemm {t_fgemm:.2} ms, bias + ReLU and the rest {:.2} ms",
        fwd - t_im2col - t_fgemm
    );
    println!(
        "backward parts: im2col again {t_im2col:.2} ms, dW gemm {t_dw:.2} ms, dcols gemm {t_dcols:.2} ms, \
         col2im {t_col2im:.2} ms, ReLU mask, bias and partial sums {:.2} ms",
        bwd - copy - t_im2col - t_dw - t_dcols - t_col2im
    );
}
