//! Encoders, decoders and critics built from configs.
