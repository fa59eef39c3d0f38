//! The compute core: dense layers, stable element-wise ops, fused Adam, named parameters.
