//! Times Adam updates over 3.2 M parameters whose moments are normal, or one third subnormal (as
//! the reference recipe's are after 70,000 iterations: moments of dead ReLU units decaying to 0),
//! on rayon's default pool (IEEE subnormals) and on `mib`'s compute pool (subnormals flushed).
//!
//!   cargo run --release -p mib --example adam_subnormal
use mib::nn::Adam;
use mib::pool::ComputePool;
use std::time::Instant;

fn main() {
    let pool = ComputePool::new(0);
    for (name, flushed) in [("default pool", false), ("compute pool", true)] {
        for frac in [0.0f64, 0.33] {
            let line = if flushed {
                pool.install(|| time(frac)).unwrap()
            } else {
                time(frac)
            };
            println!("{name}, {line}");
        }
    }
}

fn time(frac: f64) -> String {
    let n = 3_200_000;
    let mut a = Adam::new(n, 0.9, 0.999, 1e-8, vec![(0..n, 1e-4)])
        .expect("an Adam state of this size fits in memory");
    {
        let (m, v, _) = a.state_mut();
        for i in 0..n {
            let sub = (i as f64 * 0.618).fract() < frac;
            m[i] = if sub { 1e-39 } else { 1e-4 };
            v[i] = if sub { 1e-40 } else { 1e-8 };
        }
    }
    let mut p = vec![0.01f32; n];
    let g = vec![0.0f32; n];
    let t = Instant::now();
    a.step(&mut p, &g);
    let first = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    for _ in 0..20 {
        a.step(&mut p, &g);
    }
    let rest = t.elapsed().as_secs_f64() * 1e3 / 20.0;
    let left = a
        .m()
        .iter()
        .chain(a.v())
        .filter(|x| x.is_subnormal())
        .count();
    format!(
        "subnormal fraction {frac}: first update {first:.2} ms, then {rest:.2} ms each; \
         {left} subnormal moments left"
    )
}
