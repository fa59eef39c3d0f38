//! Evaluation: linear and kNN probes, retrieval, information plane.
