//! The compute core: dense layers, 2-D convolutions, stable element-wise ops, fused Adam, named parameters.
//!
//! Everything works on row-major `f32` slices and writes into buffers allocated once; a training
//! step allocates nothing in this code (the `gemm` crate allocates its packing buffers per call).

pub mod adam;
pub mod conv;
pub mod matmul;
pub mod mlp;
pub mod ops;
pub mod params;

pub use adam::Adam;
pub use conv::{
    Conv2d, Conv2dShape, ConvLayerConfig, ConvPhases, ConvPool, ConvStack, ConvStackConfig,
};
pub use mlp::Mlp;
pub use params::{ParamEntry, ParamStore};
