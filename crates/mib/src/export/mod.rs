//! Taking a trained encoder out of `mib`: [`onnx`] writes one view's encoder as an ONNX model
//! (input scaling folded in, posterior mean, optionally its scale), for ONNX Runtime, a C++
//! service, a browser or PyTorch.

pub mod onnx;

pub use onnx::{encoder_onnx, resolve_view, write_encoder_onnx, OnnxOutput, ONNX_OPSET};
