//! The objectives (MIB, MV-InfoMax, InfoMax, beta-VAE, supervised) as fused training steps.
//!
//! | objective | loss | reference |
//! |---|---|---|
//! | `mib` | `-I_jsd(z1; z2) + beta * SKL` | `training/mib.py` |
//! | `mv-infomax` | `-I_jsd(z1; z2)` | `training/multiview_infomax.py` |
//! | `infomax` | `-I_jsd(z1; x1)` | `training/infomax.py` |
//! | `vae` | `-E log N(x; dec(z), 0.39894^2) + beta * (log q(z|x) - log N(z; 0, I))` | `training/vae.py` |
//! | `supervised` | cross-entropy of a linear classifier on the encoder mean | — |
//!
//! [`TrainStep`] holds the networks, Adam and every buffer; one call to [`TrainStep::step`] runs the
//! forward pass, the backward pass and the update without allocating.

mod config;
mod encoder;
mod step;

pub use config::{
    AdamConfig, EncoderConfig, EncoderKind, EncoderNorm, EncoderPool, ModelConfig, ObjectiveKind,
    SklKind,
};
pub use encoder::Encoder;
pub use step::{encoder_name, NamedTensor, StepStats, TrainStep};
