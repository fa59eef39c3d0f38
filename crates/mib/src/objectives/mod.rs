//! The objectives (MIB, MV-InfoMax, InfoMax, beta-VAE, supervised) as fused training steps.
