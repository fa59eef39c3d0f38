//! Evaluation of frozen representations, as in the paper's experiments (Sec. 5) and the reference
//! code's `utils/evaluation.py`:
//!
//! - [`LinearProbeParams`] → [`FittedLinearProbe`]: multinomial logistic regression (C = 10, MinMax
//!   scaling fitted on the labelled set), solved exactly by L-BFGS;
//! - [`few_label_probe`]: the few-labels protocol (balanced draws of `k` labels per class, repeated);
//!   [`quick_probe`] for a cheap check during training;
//! - [`KnnParams`] → [`FittedKnn`]: k-nearest-neighbour probe;
//! - [`retrieval`]: cross-view mAP@all and Precision@K; [`mean_average_precision_multilabel`] and
//!   the one-vs-rest [`fit_multilabel_probe`] for multi-hot labels;
//! - [`label_entropy`] and [`label_information_lower_bound`] for the information plane;
//! - [`EvalProtocol`] runs all of it into an [`EvalReport`] (`eval.json`); [`evaluate_model`] runs it
//!   on a trained model's representations of a dataset, [`evaluate_raw`] on the raw features;
//! - [`FeatureAttribution`] (gradient x input, integrated gradients, loadings): which input
//!   features drive each latent dimension;
//! - [`mi_permutation_test`] and [`probe_permutation_test`]: p-values of the learned dependence;
//! - [`beta_path`]: the checkpoints along a run's beta ramp, evaluated, and the best beta.

mod attribution;
mod beta_path;
mod encoder_bounds;
mod info;
mod knn;
mod lbfgs;
mod linear_probe;
mod model_eval;
mod multilabel;
mod permutation;
mod protocol;
mod report;
mod retrieval;

pub use attribution::{loadings, AttributionMethod, FeatureAttribution, DEFAULT_IG_STEPS};
pub use beta_path::{beta_path, BetaPathParams, BetaPathPoint, BetaPathReport};
pub use encoder_bounds::{
    encoder_information_bounds_using, EncoderInformationBounds, I_XZ_ENCODER_BOUNDS,
};
pub use info::{label_entropy, label_information_lower_bound, InfoPlane, I_YZ_PROBE_BOUND};
pub use knn::{knn_accuracy, Distance, FittedKnn, KnnParams, KnnReport};
pub use linear_probe::{FittedLinearProbe, LinearProbeParams};
pub use model_eval::{
    embed_splits, embed_splits_of_view, evaluate_model, evaluate_model_fused, evaluate_model_view,
    evaluate_raw,
};
pub use multilabel::{
    few_label_multilabel_probe, fit_multilabel_probe, FittedMultilabelProbe, MultilabelSummary,
};
pub use permutation::{
    check_permutations, mi_permutation_test, probe_permutation_test, PermutationReport,
    PermutationTest, Quantile, NULL_QUANTILES,
};
pub use protocol::{balanced_draw_using, few_label_probe, probe_draw, quick_probe, ProbeSummary};
pub use report::{
    Baseline, Embeddings, EvalInputs, EvalProtocol, EvalReport, SemiSupervisedReport,
};
pub use retrieval::{
    average_precision, mean_average_precision_multilabel, query_metrics, retrieval, RetrievalReport,
};
