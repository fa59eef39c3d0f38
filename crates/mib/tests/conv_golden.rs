//! Golden tests of the convolutions against PyTorch: six `conv2d` cases (output and the gradients
//! w.r.t. input, weight and bias of `sum(y * dy)`), and a small conv encoder (three 3x3 convs with
//! ReLU, strides 1/2/2, a linear Gaussian head): its posteriors, and every parameter's gradient of
//! the MIB loss.
//!
//! Fixtures: `tests/data/conv.{safetensors,json}`, written by `tests/data/make_conv_fixtures.py`
//! (copied from the shared reference folder). Conv weights are `[O, C, kh, kw]` in both PyTorch and
//! `mib`; the head's Linear weight is `[out, in]` in PyTorch and `[in, out]` here, so it is
//! transposed on load.
//!
//! The encoder's gradients: the gradient of the MIB loss w.r.t. the head's raw output is computed
//! here, by central differences of the loss written in f64 (its value is checked against the
//! fixture's first); it is then backpropagated through the head ([`Mlp`]) and the [`ConvStack`],
//! and the parameter gradients compared with PyTorch's.
//!
//! Tolerances: every element within 1e-5 times the largest magnitude of its tensor (the errors
//! seen are about 1e-7 of it: float32 rounding).

use mib::distributions::gaussian_head_forward;
use mib::nn::{
    Conv2d, Conv2dShape, ConvLayerConfig, ConvPool, ConvStack, ConvStackConfig, Mlp, ParamStore,
};
use safetensors::SafeTensors;
use std::collections::HashMap;

struct Fixture {
    t: HashMap<String, (Vec<usize>, Vec<f32>)>,
    json: serde_json::Value,
}

fn fixture() -> Fixture {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let bytes = std::fs::read(format!("{dir}/conv.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut t = HashMap::new();
    for (name, view) in st.tensors() {
        let v: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        t.insert(name, (view.shape().to_vec(), v));
    }
    let json = serde_json::from_str(&std::fs::read_to_string(format!("{dir}/conv.json")).unwrap())
        .unwrap();
    Fixture { t, json }
}

impl Fixture {
    fn get(&self, name: &str) -> &[f32] {
        &self
            .t
            .get(name)
            .unwrap_or_else(|| panic!("fixture lacks {name}"))
            .1
    }
    fn shape(&self, name: &str) -> &[usize] {
        &self.t[name].0
    }
    /// A torch Linear weight `[out, in]` as ours, `[in, out]`.
    fn linear_weight(&self, name: &str) -> Vec<f32> {
        let (shape, v) = &self.t[name];
        let (o, i) = (shape[0], shape[1]);
        let mut t = vec![0.0; o * i];
        for r in 0..o {
            for c in 0..i {
                t[c * o + r] = v[r * i + c];
            }
        }
        t
    }
}

/// Every element within `tol` times the largest magnitude of `want`, and `got` as long.
fn close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    let worst = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0f32, f32::max);
    eprintln!("{what}: max abs error {worst:.2e} (scale {scale:.2e})");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * scale,
            "{what}[{i}]: {g} vs {w} (tolerance {})",
            tol * scale
        );
    }
}

#[test]
fn conv2d_cases_match_pytorch() {
    let f = fixture();
    let cases = f.json["cases"].as_object().unwrap();
    assert_eq!(cases.len(), 6);
    for (name, c) in cases {
        let u = |k: &str| c[k].as_u64().unwrap() as usize;
        let shape = Conv2dShape {
            in_channels: u("C"),
            out_channels: u("O"),
            kernel_h: u("kernel"),
            kernel_w: u("kernel"),
            stride: u("stride"),
            padding: u("padding"),
            in_h: u("H"),
            in_w: u("W"),
        };
        assert_eq!((shape.out_h(), shape.out_w()), (u("Ho"), u("Wo")), "{name}");
        let rows = u("N");
        let key = |k: &str| format!("conv.{name}.{k}");
        assert_eq!(
            f.shape(&key("w")),
            [u("O"), u("C"), u("kernel"), u("kernel")]
        );
        let mut store = ParamStore::new();
        let conv = Conv2d::new(&mut store, "c", shape).unwrap();
        store
            .get_mut("c.weight")
            .unwrap()
            .copy_from_slice(f.get(&key("w")));
        store
            .get_mut("c.bias")
            .unwrap()
            .copy_from_slice(f.get(&key("b")));
        let mut y = vec![0.0; rows * shape.out_len()];
        let mut work = vec![0.0; conv.workspace_len(rows)];
        let mut dx = vec![0.0; rows * shape.in_len()];
        let x = f.get(&key("x"));
        conv.forward(store.values(), x, &mut y, &mut work, rows, false);
        close(&key("y"), &y, f.get(&key("y")), 1e-5);
        let mut dy = f.get(&key("dy")).to_vec();
        let (params, grads) = store.split();
        conv.backward(
            params,
            grads,
            x,
            &mut dy,
            &y,
            Some(&mut dx),
            &mut work,
            rows,
            false,
        );
        close(&key("dx"), &dx, f.get(&key("dx")), 1e-5);
        close(
            &key("dw"),
            store.grad("c.weight").unwrap(),
            f.get(&key("dw")),
            1e-5,
        );
        close(
            &key("db"),
            store.grad("c.bias").unwrap(),
            f.get(&key("db")),
            1e-5,
        );
    }
}

const B: usize = 6;
const Z: usize = 4;

/// The fixture's encoder: the conv stack, and the head as a one-layer [`Mlp`], with PyTorch's
/// weights; buffers for both views at once (`2B` rows).
fn encoder(f: &Fixture) -> (ParamStore, ConvStack, Mlp) {
    let cfg = ConvStackConfig {
        in_channels: 1,
        height: 12,
        width: 12,
        layers: vec![
            ConvLayerConfig::new(4, 3, 1, 1),
            ConvLayerConfig::new(8, 3, 2, 1),
            ConvLayerConfig::new(8, 3, 2, 1),
        ],
        norm: false,
        pool: ConvPool::Flatten,
    };
    let mut store = ParamStore::new();
    let stack = ConvStack::new(&mut store, "enc", "model.encoder", &cfg, 2 * B, false).unwrap();
    assert_eq!(stack.out_shape(), (8, 3, 3));
    assert_eq!(stack.out_dim(), 72);
    let head = Mlp::new(&mut store, "head", &[72, 2 * Z], 2 * B, true).unwrap();
    for (i, torch) in [0, 2, 4].iter().enumerate() {
        for p in ["weight", "bias"] {
            store
                .get_mut(&format!("enc.convs.{i}.{p}"))
                .unwrap()
                .copy_from_slice(f.get(&format!("enc.{torch}.{p}")));
        }
    }
    let w = f.linear_weight("enc.head.weight");
    store
        .get_mut("head.layers.0.weight")
        .unwrap()
        .copy_from_slice(&w);
    store
        .get_mut("head.layers.0.bias")
        .unwrap()
        .copy_from_slice(f.get("enc.head.bias"));
    (store, stack, head)
}

/// Runs both views through the encoder; returns the head's raw output `[2B, 2Z]` (view 1's rows,
/// then view 2's).
fn encode(f: &Fixture, store: &ParamStore, stack: &mut ConvStack, head: &mut Mlp) -> Vec<f32> {
    let n = 144;
    let input = stack.input_mut(2 * B);
    input[..B * n].copy_from_slice(f.get("enc.v1"));
    input[B * n..].copy_from_slice(f.get("enc.v2"));
    stack.forward(store.values(), 2 * B);
    head.input_mut(2 * B).copy_from_slice(stack.output(2 * B));
    head.forward(store.values(), 2 * B);
    head.output(2 * B).to_vec()
}

#[test]
fn conv_encoder_posteriors_match_pytorch() {
    let f = fixture();
    let (store, mut stack, mut head) = encoder(&f);
    let raw = encode(&f, &store, &mut stack, &mut head);
    for (v, rows) in [(1, &raw[..B * 2 * Z]), (2, &raw[B * 2 * Z..])] {
        let eps = f.get(&format!("enc.eps{v}"));
        let (mut mu, mut s, mut z) = (vec![0.0; B * Z], vec![0.0; B * Z], vec![0.0; B * Z]);
        gaussian_head_forward(rows, eps, Z, &mut mu, &mut s, &mut z);
        close(&format!("mu{v}"), &mu, f.get(&format!("enc.mu{v}")), 1e-5);
        close(
            &format!("sigma{v}"),
            &s,
            f.get(&format!("enc.sigma{v}")),
            1e-5,
        );
        close(&format!("z{v}"), &z, f.get(&format!("enc.z{v}")), 1e-5);
    }
}

/// The fixture's MIB loss in f64 from the head's raw outputs `[2B, 2Z]`: separable critic (cosine
/// / temperature), InfoNCE both directions averaged, Monte-Carlo SKL. Returns (loss, infonce, skl).
fn mib_loss(raw: &[f64], eps1: &[f32], eps2: &[f32], beta: f64, temp: f64) -> (f64, f64, f64) {
    let softplus = |x: f64| x.max(0.0) + (-x.abs()).exp().ln_1p();
    let post = |v: usize, eps: &[f32]| {
        let (mut mu, mut s, mut z) = (vec![0.0; B * Z], vec![0.0; B * Z], vec![0.0; B * Z]);
        for r in 0..B {
            let p = &raw[(v * B + r) * 2 * Z..][..2 * Z];
            for k in 0..Z {
                mu[r * Z + k] = p[k];
                s[r * Z + k] = softplus(p[Z + k]) + 1e-7;
                z[r * Z + k] = p[k] + s[r * Z + k] * eps[r * Z + k] as f64;
            }
        }
        (mu, s, z)
    };
    let (m1, s1, z1) = post(0, eps1);
    let (m2, s2, z2) = post(1, eps2);
    let unit = |z: &[f64]| {
        z.chunks(Z)
            .map(|r| {
                let n = r.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
                r.iter().map(|v| v / n).collect::<Vec<f64>>()
            })
            .collect::<Vec<_>>()
    };
    let (u1, u2) = (unit(&z1), unit(&z2));
    let t = |i: usize, j: usize| u1[i].iter().zip(&u2[j]).map(|(a, b)| a * b).sum::<f64>() / temp;
    let lse = |v: Vec<f64>| {
        let m = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
    };
    let ln_b = (B as f64).ln();
    let i12 = ln_b
        + (0..B)
            .map(|i| t(i, i) - lse((0..B).map(|j| t(i, j)).collect()))
            .sum::<f64>()
            / B as f64;
    let i21 = ln_b
        + (0..B)
            .map(|j| t(j, j) - lse((0..B).map(|i| t(i, j)).collect()))
            .sum::<f64>()
            / B as f64;
    let infonce = (i12 + i21) / 2.0;
    let lp = |z: f64, m: f64, s: f64| {
        -0.5 * ((z - m) / s).powi(2) - s.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
    };
    let mut skl = 0.0;
    for i in 0..B * Z {
        skl += (lp(z1[i], m1[i], s1[i]) - lp(z1[i], m2[i], s2[i]))
            + (lp(z2[i], m2[i], s2[i]) - lp(z2[i], m1[i], s1[i]));
    }
    skl /= 2.0 * B as f64;
    (-infonce + beta * skl, infonce, skl)
}

#[test]
fn conv_encoder_gradients_match_pytorch() {
    let f = fixture();
    let enc = &f.json["encoder"];
    let (beta, temp) = (
        enc["beta"].as_f64().unwrap(),
        enc["temperature"].as_f64().unwrap(),
    );
    let (mut store, mut stack, mut head) = encoder(&f);
    let raw: Vec<f64> = encode(&f, &store, &mut stack, &mut head)
        .iter()
        .map(|&v| v as f64)
        .collect();
    let (eps1, eps2) = (f.get("enc.eps1"), f.get("enc.eps2"));
    let (loss, infonce, skl) = mib_loss(&raw, eps1, eps2, beta, temp);
    for (what, got, key) in [
        ("loss", loss, "loss"),
        ("infonce", infonce, "infonce"),
        ("skl", skl, "skl"),
    ] {
        let want = enc[key].as_f64().unwrap();
        eprintln!("{what}: {got} vs {want}");
        assert!(
            (got - want).abs() < 1e-5 * (1.0 + want.abs()),
            "{what}: {got} vs {want}"
        );
    }
    // dL / d raw by central differences of the f64 loss
    let h = 1e-6;
    let mut draw = vec![0.0f32; raw.len()];
    let mut r = raw.clone();
    for i in 0..raw.len() {
        r[i] = raw[i] + h;
        let a = mib_loss(&r, eps1, eps2, beta, temp).0;
        r[i] = raw[i] - h;
        let b = mib_loss(&r, eps1, eps2, beta, temp).0;
        r[i] = raw[i];
        draw[i] = ((a - b) / (2.0 * h)) as f32;
    }
    head.output_grad_mut(2 * B).copy_from_slice(&draw);
    let (params, grads) = store.split();
    head.backward(params, grads, 2 * B);
    stack
        .output_grad_mut(2 * B)
        .copy_from_slice(head.input_grad(2 * B));
    stack.backward(params, grads, 2 * B);
    for (i, torch) in [0, 2, 4].iter().enumerate() {
        for p in ["weight", "bias"] {
            let ours = format!("enc.convs.{i}.{p}");
            close(
                &ours,
                store.grad(&ours).unwrap(),
                f.get(&format!("enc.grad.enc.{torch}.{p}")),
                1e-5,
            );
        }
    }
    // the head's weight gradient, back in PyTorch's [out, in] layout
    let gw = store.grad("head.layers.0.weight").unwrap();
    let mut gw_t = vec![0.0; gw.len()];
    for i in 0..72 {
        for o in 0..2 * Z {
            gw_t[o * 72 + i] = gw[i * 2 * Z + o];
        }
    }
    close(
        "head.weight",
        &gw_t,
        f.get("enc.grad.enc.head.weight"),
        1e-5,
    );
    close(
        "head.bias",
        store.grad("head.layers.0.bias").unwrap(),
        f.get("enc.grad.enc.head.bias"),
        1e-5,
    );
}
