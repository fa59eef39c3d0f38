//! # mib: the Multi-View Information Bottleneck in Rust
//!
//! Learns robust representations from two views of the same items with the Multi-View Information
//! Bottleneck (Federici et al., "Learning Robust Representations via Multi-View Information Bottleneck",
//! ICLR 2020), and the baselines it is judged against (MV-InfoMax, InfoMax, beta-VAE).
//!
//! The training objective for two views `v1`, `v2` with stochastic encoders `p(z1|v1)`, `p(z2|v2)` is
//!
//! ```text
//! loss = -I_hat(z1; z2) + beta * SKL(p(z1|v1) || p(z2|v2))
//! ```
//!
//! Module map (named after the concepts of the paper):
//! - [`nn`]: the compute core (dense layers, stable element-wise ops, fused Adam) on the `gemm` crate;
//! - [`distributions`]: diagonal Gaussian posteriors and KL divergences;
//! - [`estimators`]: mutual-information lower bounds (JSD, NWJ, InfoNCE) and their critics;
//! - [`models`]: encoders, decoders and critics built from configs, and [`models::TrainedModel`];
//! - [`pool`]: the thread pool the compute core runs on, owned by the caller;
//! - [`objectives`]: MIB, MV-InfoMax, InfoMax, beta-VAE and the supervised baseline, as fused training steps;
//! - [`train`]: beta schedules, the training loop, checkpoints and metrics;
//! - [`data`]: dataset readers (IDX, NPY, CSV, the embedded UCI mfeat set), pairing and batching;
//! - [`augment`]: seeded image augmentations that make two views of one image;
//! - [`eval`]: linear and kNN probes, cross-view retrieval, the information plane;
//! - [`export`]: a trained encoder as an ONNX model, for ONNX Runtime and other runtimes;
//! - [`diagnose`]: what a run's metrics, checkpoints and evaluation say, with advice (`mib doctor`);
//! - [`experiment`]: comparison studies (several objectives, one budget, one evaluation, one table);
//! - `plot` (feature `plot`): figures of evaluations and training runs, as PNG or SVG.
#![warn(missing_docs)]

pub mod augment;
pub mod bench;
pub mod config;
pub mod data;
pub mod diagnose;
pub mod distributions;
pub mod error;
pub mod estimators;
pub mod eval;
pub mod experiment;
pub mod export;
pub mod matrix;
pub mod memory;
pub mod models;
pub mod nn;
pub mod objectives;
#[cfg(feature = "plot")]
pub mod plot;
pub mod pool;
pub mod presets;
pub mod train;

pub use error::{Error, Result};
pub use matrix::Matrix;

/// The random number generator used everywhere in `mib`: small, fast, seedable and serialisable
/// (its state goes into checkpoints so that a resumed run continues the same random stream).
pub type MibRng = rand_xoshiro::Xoshiro256PlusPlus;
