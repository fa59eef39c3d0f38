//! The ONNX export read back without ONNX Runtime: the bytes are decoded with a small protobuf
//! reader and the graph run by a naive interpreter of the few operators it uses (written here from
//! the ONNX operator specs, independently of `mib`'s kernels), whose outputs must equal
//! `TrainedModel::embed` / `posterior`. The Python suite checks the same with onnxruntime.

use std::collections::HashMap;

use mib::config::TrainConfig;
use mib::export::{encoder_onnx, write_encoder_onnx, OnnxOutput};
use mib::models::TrainedModel;
use mib::objectives::{EncoderConfig, EncoderNorm, EncoderPool};
use mib::Matrix;
use rand::{Rng, SeedableRng};

// ---- a protobuf reader -----------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed32,
}

fn varint(b: &[u8], pos: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let byte = b[*pos];
        *pos += 1;
        v |= ((byte & 0x7f) as u64) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// The fields of one message, in order.
fn fields(b: &[u8]) -> Vec<(u32, Field<'_>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let key = varint(b, &mut pos);
        let (field, wire) = ((key >> 3) as u32, key & 7);
        let f = match wire {
            0 => Field::Varint(varint(b, &mut pos)),
            2 => {
                let n = varint(b, &mut pos) as usize;
                pos += n;
                Field::Bytes(&b[pos - n..pos])
            }
            5 => {
                pos += 4;
                Field::Fixed32
            }
            w => panic!("unexpected wire type {w}"),
        };
        out.push((field, f));
    }
    out
}

fn all(b: &[u8], field: u32) -> Vec<&[u8]> {
    fields(b)
        .into_iter()
        .filter_map(|(f, v)| match (f == field, v) {
            (true, Field::Bytes(x)) => Some(x),
            _ => None,
        })
        .collect()
}
fn one(b: &[u8], field: u32) -> &[u8] {
    all(b, field)[0]
}
fn string(b: &[u8], field: u32) -> String {
    String::from_utf8(one(b, field).to_vec()).unwrap()
}
fn ints(b: &[u8], field: u32) -> Vec<i64> {
    fields(b)
        .into_iter()
        .filter_map(|(f, v)| match (f == field, v) {
            (true, Field::Varint(x)) => Some(x as i64),
            _ => None,
        })
        .collect()
}

// ---- the graph and a naive interpreter -----------------------------------------------------

#[derive(Clone, Debug)]
struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

struct Node {
    op: String,
    inputs: Vec<String>,
    output: String,
    attrs: HashMap<String, Vec<i64>>,
}

struct Graph {
    nodes: Vec<Node>,
    init: HashMap<String, Tensor>,
    /// int64 initializers (shapes)
    init_i64: HashMap<String, Vec<i64>>,
    input: (String, Vec<String>),
    outputs: Vec<String>,
    opset: i64,
    ir_version: i64,
}

/// The dims of a ValueInfoProto: numbers, or the symbolic name.
fn value_dims(vi: &[u8]) -> (String, Vec<String>) {
    let shape = one(one(one(vi, 2), 1), 2);
    let dims = all(shape, 1)
        .into_iter()
        .map(|d| match fields(d)[0] {
            (1, Field::Varint(v)) => v.to_string(),
            (2, Field::Bytes(p)) => format!("?{}", String::from_utf8_lossy(p)),
            ref x => panic!("bad dim {x:?}"),
        })
        .collect();
    (string(vi, 1), dims)
}

fn decode(model: &[u8]) -> Graph {
    let g = one(model, 7);
    let mut init = HashMap::new();
    let mut init_i64 = HashMap::new();
    for t in all(g, 5) {
        let dims: Vec<usize> = ints(t, 1).iter().map(|&d| d as usize).collect();
        let raw = one(t, 9);
        match ints(t, 2)[0] {
            1 => {
                let data: Vec<f32> = raw
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect();
                assert_eq!(dims.iter().product::<usize>(), data.len());
                init.insert(string(t, 8), Tensor { shape: dims, data });
            }
            7 => {
                let data = raw
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                    .collect();
                init_i64.insert(string(t, 8), data);
            }
            k => panic!("data type {k}"),
        }
    }
    let nodes = all(g, 1)
        .into_iter()
        .map(|n| {
            let attrs = all(n, 5)
                .into_iter()
                .map(|a| {
                    let mut v = ints(a, 8);
                    v.extend(ints(a, 3));
                    (string(a, 1), v)
                })
                .collect();
            let outs = all(n, 2);
            assert_eq!(outs.len(), 1);
            Node {
                op: string(n, 4),
                inputs: all(n, 1)
                    .into_iter()
                    .map(|s| String::from_utf8(s.to_vec()).unwrap())
                    .collect(),
                output: String::from_utf8(outs[0].to_vec()).unwrap(),
                attrs,
            }
        })
        .collect();
    let inputs = all(g, 11);
    assert_eq!(inputs.len(), 1);
    Graph {
        nodes,
        init,
        init_i64,
        input: value_dims(inputs[0]),
        outputs: all(g, 12).into_iter().map(|o| value_dims(o).0).collect(),
        opset: ints(one(model, 8), 2)[0],
        ir_version: ints(model, 1)[0],
    }
}

/// Numpy broadcasting of `a op b`.
fn broadcast(a: &Tensor, b: &Tensor, op: impl Fn(f32, f32) -> f32) -> Tensor {
    let r = a.shape.len().max(b.shape.len());
    let pad = |s: &[usize]| {
        let mut p = vec![1; r - s.len()];
        p.extend_from_slice(s);
        p
    };
    let (sa, sb) = (pad(&a.shape), pad(&b.shape));
    let shape: Vec<usize> = sa.iter().zip(&sb).map(|(&x, &y)| x.max(y)).collect();
    for i in 0..r {
        assert!(sa[i] == shape[i] || sa[i] == 1);
        assert!(sb[i] == shape[i] || sb[i] == 1);
    }
    let n: usize = shape.iter().product();
    let index = |s: &[usize], mut flat: usize| {
        let mut idx = 0;
        let mut stride = 1;
        for i in (0..r).rev() {
            let c = flat % shape[i];
            flat /= shape[i];
            if s[i] != 1 {
                idx += c * stride;
            }
            stride *= s[i];
        }
        idx
    };
    let data = (0..n)
        .map(|f| op(a.data[index(&sa, f)], b.data[index(&sb, f)]))
        .collect();
    Tensor { shape, data }
}

fn map(a: &Tensor, f: impl Fn(f32) -> f32) -> Tensor {
    Tensor {
        shape: a.shape.clone(),
        data: a.data.iter().map(|&v| f(v)).collect(),
    }
}

fn run(g: &Graph, x: &Matrix) -> Vec<Tensor> {
    let mut vals: HashMap<String, Tensor> = g.init.clone();
    vals.insert(
        g.input.0.clone(),
        Tensor {
            shape: vec![x.rows, x.cols],
            data: x.data.to_vec(),
        },
    );
    for n in &g.nodes {
        let get = |i: usize| vals[&n.inputs[i]].clone();
        let out = match n.op.as_str() {
            "Sub" => broadcast(&get(0), &get(1), |a, b| a - b),
            "Mul" => broadcast(&get(0), &get(1), |a, b| a * b),
            "Add" => broadcast(&get(0), &get(1), |a, b| a + b),
            "Div" => broadcast(&get(0), &get(1), |a, b| a / b),
            "Sqrt" => map(&get(0), f32::sqrt),
            "Relu" => map(&get(0), |v| v.max(0.0)),
            "Softplus" => map(&get(0), |v| (v as f64).exp().ln_1p() as f32),
            "Gemm" => {
                let (a, w, b) = (get(0), get(1), get(2));
                let (m, k, o) = (a.shape[0], a.shape[1], w.shape[1]);
                assert_eq!(w.shape[0], k);
                let mut y = vec![0f32; m * o];
                for i in 0..m {
                    for j in 0..o {
                        let mut s = 0f64;
                        for t in 0..k {
                            s += a.data[i * k + t] as f64 * w.data[t * o + j] as f64;
                        }
                        y[i * o + j] = s as f32 + b.data[j];
                    }
                }
                Tensor {
                    shape: vec![m, o],
                    data: y,
                }
            }
            "ReduceMean" => {
                let a = get(0);
                let axes = &n.attrs["axes"];
                assert_eq!(n.attrs["keepdims"], vec![1]);
                // every axis from the first reduced one to the last (what the exports use)
                let first = axes[0] as usize;
                assert_eq!(
                    axes.iter().map(|&v| v as usize).collect::<Vec<_>>(),
                    (first..a.shape.len()).collect::<Vec<_>>()
                );
                let inner: usize = a.shape[first..].iter().product();
                let data = a
                    .data
                    .chunks_exact(inner)
                    .map(|c| (c.iter().map(|&v| v as f64).sum::<f64>() / inner as f64) as f32)
                    .collect();
                let mut shape = a.shape.clone();
                shape[first..].iter_mut().for_each(|d| *d = 1);
                Tensor { shape, data }
            }
            "Reshape" => {
                let a = get(0);
                let s = &g.init_i64[&n.inputs[1]];
                let known: i64 = s.iter().filter(|&&d| d > 0).product();
                let shape = s
                    .iter()
                    .map(|&d| {
                        if d < 0 {
                            a.data.len() / known as usize
                        } else {
                            d as usize
                        }
                    })
                    .collect();
                Tensor {
                    shape,
                    data: a.data,
                }
            }
            "Flatten" => {
                let a = get(0);
                assert_eq!(n.attrs["axis"], vec![1]);
                let rest = a.data.len() / a.shape[0];
                Tensor {
                    shape: vec![a.shape[0], rest],
                    data: a.data,
                }
            }
            "Conv" => conv(&get(0), &get(1), &get(2), &n.attrs),
            "GlobalAveragePool" => {
                let a = get(0);
                let hw: usize = a.shape[2..].iter().product();
                let data = a
                    .data
                    .chunks_exact(hw)
                    .map(|c| (c.iter().map(|&v| v as f64).sum::<f64>() / hw as f64) as f32)
                    .collect();
                Tensor {
                    shape: vec![a.shape[0], a.shape[1], 1, 1],
                    data,
                }
            }
            op => panic!("operator {op} is not interpreted here"),
        };
        vals.insert(n.output.clone(), out);
    }
    g.outputs.iter().map(|o| vals[o].clone()).collect()
}

/// A direct (loop) 2-D convolution, NCHW, with symmetric pads and strides.
fn conv(x: &Tensor, w: &Tensor, b: &Tensor, attrs: &HashMap<String, Vec<i64>>) -> Tensor {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3]);
    assert_eq!(w.shape[1], c);
    assert_eq!(attrs["kernel_shape"], vec![kh as i64, kw as i64]);
    let p = attrs["pads"][0] as isize;
    assert!(attrs["pads"].iter().all(|&v| v as isize == p));
    let s = attrs["strides"][0] as usize;
    let oh = (h + 2 * p as usize - kh) / s + 1;
    let ow = (wd + 2 * p as usize - kw) / s + 1;
    let mut y = vec![0f32; n * o * oh * ow];
    for item in 0..n {
        for oc in 0..o {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = b.data[oc] as f64;
                    for ic in 0..c {
                        for i in 0..kh {
                            for j in 0..kw {
                                let yy = (oy * s + i) as isize - p;
                                let xx = (ox * s + j) as isize - p;
                                if yy < 0 || xx < 0 || yy >= h as isize || xx >= wd as isize {
                                    continue;
                                }
                                let xv =
                                    x.data[((item * c + ic) * h + yy as usize) * wd + xx as usize];
                                let wv = w.data[((oc * c + ic) * kh + i) * kw + j];
                                acc += xv as f64 * wv as f64;
                            }
                        }
                    }
                    y[((item * o + oc) * oh + oy) * ow + ox] = acc as f32;
                }
            }
        }
    }
    Tensor {
        shape: vec![n, o, oh, ow],
        data: y,
    }
}

// ---- the tests ------------------------------------------------------------------------------

fn rows(n: usize, d: usize, seed: u64) -> Matrix {
    let mut rng = mib::MibRng::seed_from_u64(seed);
    Matrix::new(n, d, (0..n * d).map(|_| rng.random::<f32>()).collect()).unwrap()
}

fn assert_close(got: &Tensor, want: &Matrix, what: &str) {
    assert_eq!(got.shape, vec![want.rows, want.cols], "{what}");
    let err = got
        .data
        .iter()
        .zip(want.data.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(err <= 1e-5, "{what}: max |onnx - mib| = {err}");
}

fn mlp_model() -> TrainedModel {
    let mut cfg = TrainConfig::default();
    cfg.model.encoder_hidden = vec![16, 8];
    cfg.model.encoder_norm = EncoderNorm::Layer;
    cfg.model.critic_hidden = vec![16];
    cfg.model.z_dim = 4;
    cfg.model.shared_encoder = false;
    TrainedModel::untrained(&cfg, &[6, 3], 0, vec!["a".into(), "b".into()], 1).unwrap()
}

fn conv_model(norm: bool, pool: EncoderPool) -> TrainedModel {
    let mut cfg = TrainConfig::default();
    let mut enc = EncoderConfig::conv(vec![3, 4], [2, 7, 6]);
    enc.strides = vec![2, 1];
    enc.norm = norm;
    enc.pool = pool;
    cfg.model.encoder = Some(enc);
    cfg.model.encoder_hidden = vec![8];
    cfg.model.critic_hidden = vec![16];
    cfg.model.z_dim = 3;
    TrainedModel::untrained(&cfg, &[84, 84], 0, Vec::new(), 1).unwrap()
}

#[test]
fn an_mlp_encoder_runs_as_it_does_in_mib() {
    let mut model = mlp_model();
    for (view, d) in [(0, 6), (1, 3)] {
        let g = decode(&encoder_onnx(&model, view, OnnxOutput::MeanScale).unwrap());
        assert_eq!((g.opset, g.ir_version), (17, 8));
        assert_eq!(g.input, ("x".into(), vec!["?batch".into(), d.to_string()]));
        assert_eq!(g.outputs, ["mean", "scale"]);
        // the view's own encoder: view 1 reads encoder_v2's tensors
        let prefix = if view == 0 { "encoder." } else { "encoder_v2." };
        assert!(g.init.keys().any(|k| k.starts_with(prefix)), "{view}");
        for n in [1, 5, 33] {
            let x = rows(n, d, 7 + n as u64);
            let out = run(&g, &x);
            let (mean, scale) = model.posterior(view, &x).unwrap();
            assert_close(&out[0], &mean, "mean");
            assert_close(&out[1], &scale, "scale");
        }
        let g = decode(&encoder_onnx(&model, view, OnnxOutput::Mean).unwrap());
        assert_eq!(g.outputs, ["mean"]);
        assert!(!g.nodes.iter().any(|n| n.op == "Softplus"));
        let x = rows(4, d, 1);
        assert_close(&run(&g, &x)[0], &model.embed(view, &x).unwrap(), "mean");
    }
}

#[test]
fn a_conv_encoder_runs_as_it_does_in_mib() {
    for (norm, pool) in [
        (false, EncoderPool::Flatten),
        (true, EncoderPool::Flatten),
        (false, EncoderPool::Mean),
        (true, EncoderPool::Mean),
    ] {
        let pooled = pool == EncoderPool::Mean;
        let mut model = conv_model(norm, pool);
        let g = decode(&encoder_onnx(&model, 1, OnnxOutput::MeanScale).unwrap());
        let ops: Vec<&str> = g.nodes.iter().map(|n| n.op.as_str()).collect();
        assert_eq!(ops[0], "Reshape");
        assert_eq!(ops.iter().filter(|&&o| o == "Conv").count(), 2);
        assert_eq!(ops.contains(&"ReduceMean"), norm, "{ops:?}");
        assert_eq!(ops.contains(&"GlobalAveragePool"), pooled, "{ops:?}");
        // the head reads C = 4 values (pooled) or C H W = 4 x 4 x 3 (flattened)
        let w0 = &g.init["encoder.head.layers.0.weight"];
        assert_eq!(w0.shape, vec![if pooled { 4 } else { 48 }, 8]);
        let c = g.nodes.iter().find(|n| n.op == "Conv").unwrap();
        assert_eq!(c.attrs["strides"], vec![2, 2]);
        assert_eq!(c.attrs["pads"], vec![1, 1, 1, 1]);
        for n in [1, 9] {
            let x = rows(n, 84, n as u64);
            let out = run(&g, &x);
            let (mean, scale) = model.posterior(1, &x).unwrap();
            assert_close(&out[0], &mean, "conv mean");
            assert_close(&out[1], &scale, "conv scale");
        }
    }
}

#[test]
fn a_missing_view_and_an_unwritable_path_are_named() {
    let model = mlp_model();
    let e = encoder_onnx(&model, 2, OnnxOutput::Mean)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("view") && e.contains('2') && e.contains("0..1"),
        "{e}"
    );
    let e = mib::export::resolve_view(&model, "c")
        .unwrap_err()
        .to_string();
    assert!(e.contains("`c`") || e.contains("= c"), "{e}");
    assert!(e.contains("0 (`a`)") && e.contains("1 (`b`)"), "{e}");
    assert_eq!(mib::export::resolve_view(&model, "b").unwrap(), 1);
    assert_eq!(mib::export::resolve_view(&model, "0").unwrap(), 0);
    let bad = std::env::temp_dir().join("mib-no-such-dir-onnx/sub/enc.onnx");
    let e = write_encoder_onnx(&model, 0, OnnxOutput::Mean, &bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains(&bad.display().to_string()), "{e}");
}
