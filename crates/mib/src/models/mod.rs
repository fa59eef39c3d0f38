//! Encoders, decoders and critics built from configs.
//!
//! Every network in `mib` is an [`crate::nn::Mlp`] (dense layers with ReLU between them, weights
//! `[in_dim, out_dim]`); [`crate::objectives::TrainStep::new`] builds them from a
//! [`crate::objectives::ModelConfig`]:
//!
//! - encoder `in_dim -> encoder_hidden.. -> 2 * z_dim`, read as a diagonal Gaussian
//!   ([`crate::distributions::gaussian_head_forward`]); one shared by both views or one per view;
//! - critic `[z1, z2] -> critic_hidden.. -> 1` ([`crate::estimators::MiCritic`]), or the
//!   parameter-free separable cosine critic;
//! - decoder `z_dim -> decoder_hidden.. -> in_dim` with a fixed-scale Gaussian likelihood (beta-VAE);
//! - classifier `z_dim -> n_classes` on the encoder mean (supervised baseline).
