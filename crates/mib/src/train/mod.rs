//! Beta schedules, the training loop, checkpoints and metrics.

pub mod schedule;
