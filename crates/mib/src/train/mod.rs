//! Beta schedules, the training loop, checkpoints and metrics.
pub mod checkpoint;
pub mod schedule;
pub mod trainer;
