//! One view's encoder as an ONNX model (opset [`ONNX_OPSET`], IR version 8), written by a small
//! protobuf encoder of our own.
//!
//! The graph computes what [`TrainedModel::embed`] (and [`TrainedModel::posterior`]) compute for
//! that view, from the raw rows:
//!
//! ```text
//! x [batch, in_dim]
//!   -> Sub(shift) -> Mul(scale)                       the model's input scaling (when it has one)
//!   -> Reshape [batch, C, H, W]                       conv encoders
//!      -> (Conv(pads, strides) [-> GroupNorm(1, C)] -> Relu) per layer
//!      [-> GlobalAveragePool]                          pool = "mean"
//!      -> Flatten
//!   -> (Gemm [-> LayerNorm] -> Relu) per hidden layer
//!   -> Gemm -> mean [batch, z_dim]
//!      Gemm -> Softplus -> Add(1e-7) -> scale [batch, z_dim]   (with OnnxOutput::MeanScale)
//! ```
//!
//! The last dense layer is split in two `Gemm`s (its mean columns and its raw-scale columns), so
//! that the default model holds no `Slice`. Normalisations are written with `ReduceMean`, `Sub`,
//! `Mul`, `Add`, `Sqrt` and `Div` (what `nn.GroupNorm(1, C)` and `nn.LayerNorm` compute, biased
//! variance, `eps = 1e-5`), not as `LayerNormalization`, so that runtimes with a partial operator
//! set (older TensorRT, tract, onnx.js) can run them too. The batch dimension is symbolic
//! (`batch`).
//!
//! Why a hand-written writer: the ONNX format is protobuf, and the handful of messages an encoder
//! needs (`ModelProto`, `GraphProto`, `NodeProto`, `AttributeProto`, `TensorProto` with
//! `raw_data`, `ValueInfoProto` / `TypeProto` / `TensorShapeProto`, `OperatorSetIdProto`,
//! `StringStringEntryProto`) take about a hundred lines of varints and length-delimited fields,
//! while a protobuf crate would bring code generation (`prost-build` and `protoc`, or a vendored
//! generated schema of the whole `onnx.proto`) into every build of the library. Field numbers are
//! those of `onnx/onnx.proto` in github.com/onnx/onnx (quoted beside each constant below).

use std::path::Path;

use crate::models::TrainedModel;
use crate::nn::{ConvPool, ParamStore};
use crate::objectives::{encoder_name, EncoderKind};
use crate::{Error, Result};

/// The ONNX operator set the exported graphs use (ONNX 1.12, 2022; `ReduceMean` still takes its
/// axes as an attribute).
pub const ONNX_OPSET: i64 = 17;
/// The IR version that goes with opset 17 (`IR_VERSION_2021_7_30`).
const IR_VERSION: i64 = 8;

/// What the exported model outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnnxOutput {
    /// `mean` `[batch, z_dim]`: the posterior means, what `embed` / `transform` return.
    #[default]
    Mean,
    /// `mean` and `scale` (`softplus(raw) + 1e-7`, the Gaussian's standard deviations), what
    /// `posterior` returns.
    MeanScale,
}

impl OnnxOutput {
    /// Parses `mean` or `mean-scale` (also `mean_scale`); the error names `what`.
    pub fn parse(s: &str, what: &str) -> Result<Self> {
        match s {
            "mean" => Ok(OnnxOutput::Mean),
            "mean-scale" | "mean_scale" => Ok(OnnxOutput::MeanScale),
            _ => Err(Error::config(what, s, "expected `mean` or `mean-scale`")),
        }
    }
    /// `mean` or `mean-scale`.
    pub fn name(self) -> &'static str {
        match self {
            OnnxOutput::Mean => "mean",
            OnnxOutput::MeanScale => "mean-scale",
        }
    }
}

// ---- protobuf wire format ------------------------------------------------------------------

/// One protobuf message being written: fields appended in order, in the wire format
/// (https://protobuf.dev/programming-guides/encoding/). Repeated scalars are written unpacked
/// (proto2's default, which `onnx.proto` uses; parsers accept both forms).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProtoWriter {
    buf: Vec<u8>,
}

const WIRE_VARINT: u32 = 0;
const WIRE_LEN: u32 = 2;
const WIRE_FIXED32: u32 = 5;

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

impl ProtoWriter {
    /// An empty message.
    pub fn new() -> Self {
        Self::default()
    }
    fn key(&mut self, field: u32, wire: u32) {
        put_varint(&mut self.buf, ((field as u64) << 3) | wire as u64);
    }
    /// An `int64` / `int32` / enum field (negative values as ten-byte two's complement varints).
    pub fn int(&mut self, field: u32, v: i64) -> &mut Self {
        self.key(field, WIRE_VARINT);
        put_varint(&mut self.buf, v as u64);
        self
    }
    /// A `float` field.
    pub fn float(&mut self, field: u32, v: f32) -> &mut Self {
        self.key(field, WIRE_FIXED32);
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// A `bytes` field.
    pub fn bytes(&mut self, field: u32, v: &[u8]) -> &mut Self {
        self.key(field, WIRE_LEN);
        put_varint(&mut self.buf, v.len() as u64);
        self.buf.extend_from_slice(v);
        self
    }
    /// A `string` field.
    pub fn string(&mut self, field: u32, v: &str) -> &mut Self {
        self.bytes(field, v.as_bytes())
    }
    /// An embedded message field.
    pub fn message(&mut self, field: u32, m: &ProtoWriter) -> &mut Self {
        self.bytes(field, &m.buf)
    }
    /// The encoded message.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
    /// The encoded message, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

// Field numbers, from onnx/onnx.proto.
/// `ModelProto`: `ir_version = 1`, `producer_name = 2`, `producer_version = 3`,
/// `doc_string = 6`, `graph = 7`, `opset_import = 8`, `metadata_props = 14`.
mod model_f {
    pub const IR_VERSION: u32 = 1;
    pub const PRODUCER_NAME: u32 = 2;
    pub const PRODUCER_VERSION: u32 = 3;
    pub const DOC_STRING: u32 = 6;
    pub const GRAPH: u32 = 7;
    pub const OPSET_IMPORT: u32 = 8;
    pub const METADATA_PROPS: u32 = 14;
}
/// `OperatorSetIdProto`: `domain = 1`, `version = 2`.
const OPSET_VERSION: u32 = 2;
/// `StringStringEntryProto`: `key = 1`, `value = 2`.
const ENTRY_KEY: u32 = 1;
const ENTRY_VALUE: u32 = 2;
/// `GraphProto`: `node = 1`, `name = 2`, `initializer = 5`, `input = 11`, `output = 12`.
mod graph_f {
    pub const NODE: u32 = 1;
    pub const NAME: u32 = 2;
    pub const INITIALIZER: u32 = 5;
    pub const INPUT: u32 = 11;
    pub const OUTPUT: u32 = 12;
}
/// `NodeProto`: `input = 1`, `output = 2`, `name = 3`, `op_type = 4`, `attribute = 5`.
mod node_f {
    pub const INPUT: u32 = 1;
    pub const OUTPUT: u32 = 2;
    pub const NAME: u32 = 3;
    pub const OP_TYPE: u32 = 4;
    pub const ATTRIBUTE: u32 = 5;
}
/// `AttributeProto`: `name = 1`, `i = 3`, `ints = 8`, `type = 20`; `AttributeType` `INT = 2`,
/// `INTS = 7`.
mod attr_f {
    pub const NAME: u32 = 1;
    pub const I: u32 = 3;
    pub const INTS: u32 = 8;
    pub const TYPE: u32 = 20;
    pub const T_INT: i64 = 2;
    pub const T_INTS: i64 = 7;
}
/// `TensorProto`: `dims = 1`, `data_type = 2`, `name = 8`, `raw_data = 9`; `DataType`
/// `FLOAT = 1`, `INT64 = 7`.
mod tensor_f {
    pub const DIMS: u32 = 1;
    pub const DATA_TYPE: u32 = 2;
    pub const NAME: u32 = 8;
    pub const RAW_DATA: u32 = 9;
    pub const FLOAT: i64 = 1;
    pub const INT64: i64 = 7;
}
/// `ValueInfoProto`: `name = 1`, `type = 2`; `TypeProto`: `tensor_type = 1`;
/// `TypeProto.Tensor`: `elem_type = 1`, `shape = 2`; `TensorShapeProto`: `dim = 1`;
/// `TensorShapeProto.Dimension`: `dim_value = 1`, `dim_param = 2`.
mod value_f {
    pub const NAME: u32 = 1;
    pub const TYPE: u32 = 2;
    pub const TENSOR_TYPE: u32 = 1;
    pub const ELEM_TYPE: u32 = 1;
    pub const SHAPE: u32 = 2;
    pub const DIM: u32 = 1;
    pub const DIM_VALUE: u32 = 1;
    pub const DIM_PARAM: u32 = 2;
}

/// A dimension of a graph input or output.
#[derive(Clone, Debug)]
enum Dim {
    Fixed(usize),
    Symbolic(&'static str),
}

/// `ValueInfoProto` of a float tensor `name` of shape `dims`.
fn value_info(name: &str, dims: &[Dim]) -> ProtoWriter {
    let mut shape = ProtoWriter::new();
    for d in dims {
        let mut dim = ProtoWriter::new();
        match d {
            Dim::Fixed(v) => dim.int(value_f::DIM_VALUE, *v as i64),
            Dim::Symbolic(p) => dim.string(value_f::DIM_PARAM, p),
        };
        shape.message(value_f::DIM, &dim);
    }
    let mut tensor = ProtoWriter::new();
    tensor
        .int(value_f::ELEM_TYPE, tensor_f::FLOAT)
        .message(value_f::SHAPE, &shape);
    let mut ty = ProtoWriter::new();
    ty.message(value_f::TENSOR_TYPE, &tensor);
    let mut vi = ProtoWriter::new();
    vi.string(value_f::NAME, name).message(value_f::TYPE, &ty);
    vi
}

/// A node attribute.
enum Attr {
    Int(i64),
    Ints(Vec<i64>),
}

// ---- graph building ------------------------------------------------------------------------

/// The nodes and initializers of a graph under construction, with fresh value names.
#[derive(Default)]
struct GraphBuilder {
    nodes: Vec<ProtoWriter>,
    initializers: Vec<ProtoWriter>,
    counter: usize,
    /// The name of the norms' `eps` initializer, once one is needed.
    eps: Option<String>,
}

impl GraphBuilder {
    fn fresh(&mut self, stem: &str) -> String {
        self.counter += 1;
        format!("{stem}_{}", self.counter)
    }

    /// A float initializer `name` of shape `dims` (little-endian `raw_data`).
    fn f32_tensor(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), data.len());
        let mut t = ProtoWriter::new();
        for &d in dims {
            t.int(tensor_f::DIMS, d as i64);
        }
        let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        t.int(tensor_f::DATA_TYPE, tensor_f::FLOAT)
            .string(tensor_f::NAME, name)
            .bytes(tensor_f::RAW_DATA, &raw);
        self.initializers.push(t);
        name.to_string()
    }

    /// An int64 initializer (a shape for `Reshape`).
    fn i64_tensor(&mut self, name: &str, data: &[i64]) -> String {
        let mut t = ProtoWriter::new();
        t.int(tensor_f::DIMS, data.len() as i64);
        let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        t.int(tensor_f::DATA_TYPE, tensor_f::INT64)
            .string(tensor_f::NAME, name)
            .bytes(tensor_f::RAW_DATA, &raw);
        self.initializers.push(t);
        name.to_string()
    }

    /// Appends `op_type(inputs) -> output` (named `output`, or a fresh name) and returns the
    /// output's name.
    fn node(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        output: Option<&str>,
        attrs: &[(&str, Attr)],
    ) -> String {
        let out = output.map_or_else(|| self.fresh(&op_type.to_lowercase()), str::to_string);
        let mut n = ProtoWriter::new();
        for i in inputs {
            n.string(node_f::INPUT, i);
        }
        n.string(node_f::OUTPUT, &out)
            .string(node_f::NAME, &format!("{op_type}_{}", self.nodes.len()))
            .string(node_f::OP_TYPE, op_type);
        for (name, a) in attrs {
            let mut p = ProtoWriter::new();
            p.string(attr_f::NAME, name);
            match a {
                Attr::Int(v) => {
                    p.int(attr_f::I, *v).int(attr_f::TYPE, attr_f::T_INT);
                }
                Attr::Ints(vs) => {
                    for v in vs {
                        p.int(attr_f::INTS, *v);
                    }
                    p.int(attr_f::TYPE, attr_f::T_INTS);
                }
            }
            n.message(node_f::ATTRIBUTE, &p);
        }
        self.nodes.push(n);
        out
    }

    /// `Gemm(x, w [in, out], b [out])`.
    fn dense(&mut self, x: &str, w: &str, b: &str, output: Option<&str>) -> String {
        self.node("Gemm", &[x, w, b], output, &[])
    }

    /// Normalises `x` over `axes` (mean 0, biased variance 1, [`NORM_EPS`]), then
    /// `* gain + shift` (`gain`, `shift` broadcast against `x`): `nn.LayerNorm` /
    /// `nn.GroupNorm(1, C)`.
    fn normalise(&mut self, x: &str, axes: &[i64], gain: &str, shift: &str) -> String {
        let eps = match &self.eps {
            Some(e) => e.clone(),
            None => {
                let e = self.f32_tensor("norm_eps", &[], &[NORM_EPS]);
                self.eps = Some(e.clone());
                e
            }
        };
        let eps = eps.as_str();
        let red = |g: &mut Self, v: &str| {
            g.node(
                "ReduceMean",
                &[v],
                None,
                &[
                    ("axes", Attr::Ints(axes.to_vec())),
                    ("keepdims", Attr::Int(1)),
                ],
            )
        };
        let mean = red(self, x);
        let centred = self.node("Sub", &[x, &mean], None, &[]);
        let sq = self.node("Mul", &[&centred, &centred], None, &[]);
        let var = red(self, &sq);
        let var_eps = self.node("Add", &[&var, eps], None, &[]);
        let std = self.node("Sqrt", &[&var_eps], None, &[]);
        let n = self.node("Div", &[&centred, &std], None, &[]);
        let g = self.node("Mul", &[&n, gain], None, &[]);
        self.node("Add", &[&g, shift], None, &[])
    }
}

/// The variance floor of the layer and group norms (as in `nn::mlp` and `nn::conv`).
const NORM_EPS: f32 = 1e-5;

/// A parameter's values and shape from `store`, or an error naming the tensor (a model whose
/// layout does not match its config).
fn param<'a>(store: &'a ParamStore, name: &str) -> Result<(&'a [f32], &'a [usize])> {
    let e = store
        .entry(name)
        .ok_or_else(|| Error::Data(format!("ONNX export: the model has no tensor `{name}`")))?;
    Ok((&store.values()[e.range()], &e.shape))
}

/// Appends the dense layers `<prefix>.layers.<i>` (with their layer norms and ReLUs) to `g`, from
/// `x`; the last layer is split into the mean and raw-scale `Gemm`s. Returns `(mean, raw)`.
fn dense_stack(
    g: &mut GraphBuilder,
    store: &ParamStore,
    prefix: &str,
    z_dim: usize,
    mut x: String,
) -> Result<(String, String)> {
    let n_layers = (0..)
        .take_while(|i| {
            store
                .entry(&format!("{prefix}.layers.{i}.weight"))
                .is_some()
        })
        .count();
    if n_layers == 0 {
        return Err(Error::Data(format!(
            "ONNX export: the model has no tensor `{prefix}.layers.0.weight`"
        )));
    }
    for l in 0..n_layers {
        let wn = format!("{prefix}.layers.{l}.weight");
        let bn = format!("{prefix}.layers.{l}.bias");
        let (w, ws) = param(store, &wn)?;
        let (b, _) = param(store, &bn)?;
        let (din, dout) = (ws[0], ws[1]);
        if l + 1 < n_layers {
            let wi = g.f32_tensor(&wn, &[din, dout], w);
            let bi = g.f32_tensor(&bn, &[dout], b);
            x = g.dense(&x, &wi, &bi, None);
            let gn = format!("{prefix}.norms.{l}.weight");
            if store.entry(&gn).is_some() {
                let (gain, _) = param(store, &gn)?;
                let sn = format!("{prefix}.norms.{l}.bias");
                let (shift, _) = param(store, &sn)?;
                let gi = g.f32_tensor(&gn, &[dout], gain);
                let si = g.f32_tensor(&sn, &[dout], shift);
                x = g.normalise(&x, &[1], &gi, &si);
            }
            x = g.node("Relu", &[&x], None, &[]);
        } else {
            if dout != 2 * z_dim {
                return Err(Error::shape(
                    format!("ONNX export: output width of `{wn}`"),
                    2 * z_dim,
                    dout,
                ));
            }
            // columns 0..z_dim are the means, z_dim..2 z_dim the raw scales
            let cols = |lo: usize| -> Vec<f32> {
                w.chunks_exact(dout)
                    .flat_map(|row| row[lo..lo + z_dim].iter().copied())
                    .collect()
            };
            let wm = g.f32_tensor(&format!("{wn}.mean"), &[din, z_dim], &cols(0));
            let bm = g.f32_tensor(&format!("{bn}.mean"), &[z_dim], &b[..z_dim]);
            let ws = g.f32_tensor(&format!("{wn}.scale"), &[din, z_dim], &cols(z_dim));
            let bs = g.f32_tensor(&format!("{bn}.scale"), &[z_dim], &b[z_dim..]);
            let mean = g.dense(&x, &wm, &bm, Some("mean"));
            let raw = g.dense(&x, &ws, &bs, None);
            return Ok((mean, raw));
        }
    }
    unreachable!("the loop returns at its last layer")
}

/// The ONNX model (protobuf bytes) of the encoder of training view `view` of `model`: raw rows
/// `x` `[batch, in_dim]` in, `mean` (and, with [`OnnxOutput::MeanScale`], `scale`)
/// `[batch, z_dim]` out, equal to [`TrainedModel::embed`] / [`TrainedModel::posterior`] up to
/// float rounding. Errors name a view the model does not have.
pub fn encoder_onnx(model: &TrainedModel, view: usize, output: OnnxOutput) -> Result<Vec<u8>> {
    let info = model.info();
    let cfg = &model.config().model;
    let k = model.n_views();
    if view >= k {
        return Err(Error::config(
            "view",
            view,
            format!("the model has {k} training views (0..{})", k - 1),
        ));
    }
    // which encoder reads this view (as TrainedModel::encode picks it)
    let n_enc = if cfg.objective.is_multi_view() && !cfg.shared_encoder {
        k
    } else {
        1
    };
    let slot = if cfg.objective.is_multi_view() {
        view
    } else {
        0
    };
    let prefix = encoder_name(slot.min(n_enc - 1));
    let in_dim = info.in_dims[view];
    let z_dim = model.z_dim();
    let store = model.step().params();

    let mut g = GraphBuilder::default();
    let mut x = "x".to_string();
    if let Some(Some(s)) = model.scaling().get(view) {
        s.check(in_dim, &format!("view {view}"))?;
        let shift = g.f32_tensor("input_shift", &[in_dim], &s.shift);
        let scale = g.f32_tensor("input_scale", &[in_dim], &s.scale);
        let c = g.node("Sub", &[&x, &shift], Some("x_centred"), &[]);
        x = g.node("Mul", &[&c, &scale], Some("x_scaled"), &[]);
    }
    let conv = cfg
        .encoder_for(slot.min(n_enc - 1))
        .filter(|e| e.kind == EncoderKind::Conv)
        .and_then(|e| e.conv_stack());
    let head_prefix = match conv {
        None => prefix.clone(),
        Some(stack) => {
            let shapes = stack.check(&cfg.encoder_key(slot.min(n_enc - 1)))?;
            let (c, h, w) = (stack.in_channels, stack.height, stack.width);
            let shape = g.i64_tensor("image_shape", &[-1, c as i64, h as i64, w as i64]);
            x = g.node("Reshape", &[&x, &shape], Some("image"), &[]);
            for (l, s) in shapes.iter().enumerate() {
                let wn = format!("{prefix}.convs.{l}.weight");
                let bn = format!("{prefix}.convs.{l}.bias");
                let (wv, _) = param(store, &wn)?;
                let (bv, _) = param(store, &bn)?;
                let o = s.out_channels;
                let wi = g.f32_tensor(&wn, &[o, s.in_channels, s.kernel_h, s.kernel_w], wv);
                let bi = g.f32_tensor(&bn, &[o], bv);
                let p = s.padding as i64;
                let st = s.stride as i64;
                x = g.node(
                    "Conv",
                    &[&x, &wi, &bi],
                    None,
                    &[
                        (
                            "kernel_shape",
                            Attr::Ints(vec![s.kernel_h as i64, s.kernel_w as i64]),
                        ),
                        ("pads", Attr::Ints(vec![p, p, p, p])),
                        ("strides", Attr::Ints(vec![st, st])),
                        ("dilations", Attr::Ints(vec![1, 1])),
                        ("group", Attr::Int(1)),
                    ],
                );
                let gn = format!("{prefix}.norms.{l}.weight");
                if store.entry(&gn).is_some() {
                    let sn = format!("{prefix}.norms.{l}.bias");
                    let (gain, _) = param(store, &gn)?;
                    let (shift, _) = param(store, &sn)?;
                    let gi = g.f32_tensor(&gn, &[o, 1, 1], gain);
                    let si = g.f32_tensor(&sn, &[o, 1, 1], shift);
                    x = g.normalise(&x, &[1, 2, 3], &gi, &si);
                }
                x = g.node("Relu", &[&x], None, &[]);
            }
            if stack.pool == ConvPool::Mean {
                // [batch, C, H, W] -> [batch, C, 1, 1]: the mean of each channel
                x = g.node("GlobalAveragePool", &[&x], Some("pooled"), &[]);
            }
            x = g.node("Flatten", &[&x], Some("flat"), &[("axis", Attr::Int(1))]);
            format!("{prefix}.head")
        }
    };
    let (mean, raw) = dense_stack(&mut g, store, &head_prefix, z_dim, x)?;
    let mut outputs = vec![mean];
    if output == OnnxOutput::MeanScale {
        let min_scale = g.f32_tensor("min_scale", &[], &[crate::distributions::MIN_SCALE]);
        let sp = g.node("Softplus", &[&raw], None, &[]);
        outputs.push(g.node("Add", &[&sp, &min_scale], Some("scale"), &[]));
    }

    let view_name = info.view_names.get(view).cloned().unwrap_or_default();
    let mut graph = ProtoWriter::new();
    for n in &g.nodes {
        graph.message(graph_f::NODE, n);
    }
    graph.string(graph_f::NAME, &format!("mib_encoder_{view_name}"));
    for t in &g.initializers {
        graph.message(graph_f::INITIALIZER, t);
    }
    graph.message(
        graph_f::INPUT,
        &value_info("x", &[Dim::Symbolic("batch"), Dim::Fixed(in_dim)]),
    );
    for o in &outputs {
        graph.message(
            graph_f::OUTPUT,
            &value_info(o, &[Dim::Symbolic("batch"), Dim::Fixed(z_dim)]),
        );
    }

    let mut opset = ProtoWriter::new();
    opset.int(OPSET_VERSION, ONNX_OPSET);
    let mut m = ProtoWriter::new();
    m.int(model_f::IR_VERSION, IR_VERSION)
        .string(model_f::PRODUCER_NAME, "mib")
        .string(model_f::PRODUCER_VERSION, env!("CARGO_PKG_VERSION"))
        .string(
            model_f::DOC_STRING,
            &format!(
                "mib {} encoder of view {view} (`{view_name}`): x [batch, {in_dim}] (raw rows; \
                 the input scaling is part of the graph) -> {}",
                cfg.objective.name(),
                match output {
                    OnnxOutput::Mean => format!("mean [batch, {z_dim}]"),
                    OnnxOutput::MeanScale =>
                        format!("mean, scale [batch, {z_dim}] (scale = softplus(raw) + 1e-7)"),
                }
            ),
        )
        .message(model_f::GRAPH, &graph)
        .message(model_f::OPSET_IMPORT, &opset);
    for (key, value) in [
        ("mib.view", view.to_string()),
        ("mib.view_name", view_name),
        ("mib.z_dim", z_dim.to_string()),
        ("mib.output", output.name().to_string()),
        ("mib.objective", cfg.objective.name().to_string()),
        ("mib.iteration", model.iteration().to_string()),
    ] {
        let mut e = ProtoWriter::new();
        e.string(ENTRY_KEY, key).string(ENTRY_VALUE, &value);
        m.message(model_f::METADATA_PROPS, &e);
    }
    Ok(m.into_bytes())
}

/// The training view `spec` names in `model`: an index (`0`, `1`, ...) or a view name (`pix`);
/// the error lists the views the model has.
pub fn resolve_view(model: &TrainedModel, spec: &str) -> Result<usize> {
    let names = &model.info().view_names;
    let k = model.n_views();
    if let Ok(v) = spec.parse::<usize>() {
        if v < k {
            return Ok(v);
        }
    } else if let Some(v) = names.iter().position(|n| n == spec) {
        return Ok(v);
    }
    let listed: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{i} (`{n}`)"))
        .collect();
    Err(Error::config(
        "view",
        spec,
        format!("the model has {k} training views: {}", listed.join(", ")),
    ))
}

/// Writes [`encoder_onnx`] to `path`; errors name the path that cannot be written.
pub fn write_encoder_onnx(
    model: &TrainedModel,
    view: usize,
    output: OnnxOutput,
    path: &Path,
) -> Result<()> {
    let bytes = encoder_onnx(model, view, output)?;
    std::fs::write(path, bytes).map_err(|e| Error::io("writing ONNX model", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_follow_the_protobuf_encoding() {
        // the examples of https://protobuf.dev/programming-guides/encoding/
        let mut m = ProtoWriter::new();
        m.int(1, 150);
        assert_eq!(m.as_bytes(), &[0x08, 0x96, 0x01]);
        let mut m = ProtoWriter::new();
        m.string(2, "testing");
        assert_eq!(
            m.as_bytes(),
            &[0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67]
        );
        // an embedded message: field 3 holding {1: 150}
        let mut inner = ProtoWriter::new();
        inner.int(1, 150);
        let mut m = ProtoWriter::new();
        m.message(3, &inner);
        assert_eq!(m.as_bytes(), &[0x1a, 0x03, 0x08, 0x96, 0x01]);
        // a negative int64 is ten bytes; a float is fixed32 little-endian
        let mut m = ProtoWriter::new();
        m.int(1, -1).float(2, 1.0);
        assert_eq!(
            m.as_bytes(),
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x15, 0x00, 0x00,
                0x80, 0x3f
            ]
        );
        // a field number above 15 takes a two-byte key (AttributeProto.type = 20, INTS)
        let mut m = ProtoWriter::new();
        m.int(attr_f::TYPE, attr_f::T_INTS);
        assert_eq!(m.as_bytes(), &[0xa0, 0x01, 0x07]);
    }

    #[test]
    fn a_value_info_encodes_as_onnx_expects() {
        // ValueInfoProto { name: "x", type { tensor_type { elem_type: FLOAT, shape { dim {
        // dim_param: "batch" } dim { dim_value: 3 } } } } }, as
        // `onnx.helper.make_tensor_value_info("x", 1, ["batch", 3]).SerializeToString()` gives
        let got = value_info("x", &[Dim::Symbolic("batch"), Dim::Fixed(3)]).into_bytes();
        let want: Vec<u8> = vec![
            0x0a, 0x01, b'x', // name
            0x12, 0x13, // type (19 bytes)
            0x0a, 0x11, // tensor_type (17 bytes)
            0x08, 0x01, // elem_type FLOAT
            0x12, 0x0d, // shape (13 bytes)
            0x0a, 0x07, 0x12, 0x05, b'b', b'a', b't', b'c', b'h', // dim { dim_param }
            0x0a, 0x02, 0x08, 0x03, // dim { dim_value: 3 }
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn output_kinds_parse_and_name_themselves() {
        assert_eq!(
            OnnxOutput::parse("mean", "output").unwrap(),
            OnnxOutput::Mean
        );
        assert_eq!(
            OnnxOutput::parse("mean-scale", "output").unwrap(),
            OnnxOutput::MeanScale
        );
        let e = OnnxOutput::parse("median", "--output")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--output") && e.contains("median"), "{e}");
        assert_eq!(OnnxOutput::MeanScale.name(), "mean-scale");
    }
}
