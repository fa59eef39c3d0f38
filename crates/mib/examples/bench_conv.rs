//! Times the forward and backward passes of a conv stack (1 -> 32 -> 64 -> 128 channels, 3x3 kernels,
//! strides 1/2/2, padding 1, on 28x28 images, 256 rows: both views of a batch of 128) on a compute
//! pool of 2 threads (or the number given as the first argument), and where the time goes (the
//! stack's profile of its phases, CPU time divided by the threads).
//!
//! With `norm` as the second argument, each convolution is followed by its norm (`GroupNorm(1, C)`).
//!
//!   cargo run --release -p mib --example bench_conv [-- threads [norm]]
use mib::nn::{ConvLayerConfig, ConvPhases, ConvPool, ConvStack, ConvStackConfig, ParamStore};
use mib::pool::ComputePool;
use mib::MibRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;

const ROWS: usize = 256;
const REPS: usize = 10;

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
        pool: ConvPool::Flatten,
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
    println!(
        "forward  {fwd:7.2} ms ({:.1} GFLOP/s)\nbackward {bwd:7.2} ms ({:.1} GFLOP/s; no input \
         gradient for the first layer)",
        gflop / fwd * 1e3,
        2.0 * gflop / bwd * 1e3
    );
    stack.set_profiling(true);
    for _ in 0..REPS {
        stack.forward(store.values(), ROWS);
        stack.output_grad_mut(ROWS).copy_from_slice(&dy);
        let (p, g) = store.split();
        stack.backward(p, g, ROWS);
    }
    per_layer(&stack, &mut store, &mut rng);
    let phases = stack.take_profile().seconds();
    for (name, s) in ConvPhases::NAMES.iter().zip(phases) {
        println!(
            "  {name:20} {:7.2} ms per pass",
            s * 1e3 / REPS as f64 / threads as f64
        );
    }
}

/// Each layer's channels-last passes on their own, over the same rows.
fn per_layer(stack: &ConvStack, store: &mut ParamStore, rng: &mut MibRng) {
    for (l, layer) in stack.layers().iter().enumerate() {
        let s = *layer.shape();
        let x: Vec<f32> = (0..ROWS * s.in_len()).map(|_| rng.random()).collect();
        let mut y = vec![0.0f32; ROWS * s.out_len()];
        let mut dy: Vec<f32> = (0..ROWS * s.out_len())
            .map(|_| rng.random::<f32>() - 0.5)
            .collect();
        let mut dx = vec![0.0f32; ROWS * s.in_len()];
        let mut work = vec![0.0f32; layer.nhwc_workspace_len(ROWS)];
        let f = ms(|| layer.forward_nhwc(store.values(), &x, &mut y, &mut work, ROWS, true, None));
        let (p, g) = store.split();
        let b = ms(|| {
            let dx = (l > 0).then_some(&mut dx[..]);
            layer.backward_nhwc(p, g, &x, &mut dy, &y, dx, &mut work, ROWS, true, None)
        });
        println!("layer {l} {s:?}: forward {f:.2} ms, backward {b:.2} ms");
    }
}
