//! Beta schedules, the training loop, checkpoints and metrics.
