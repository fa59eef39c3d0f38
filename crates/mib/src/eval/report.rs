//! The evaluation report (`eval.json`), the protocol that fills it, and its text table.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::info::{label_information_lower_bound, InfoPlane, I_YZ_PROBE_BOUND};
use super::knn::{knn_accuracy, KnnParams, KnnReport};
use super::linear_probe::LinearProbeParams;
use super::multilabel::MultilabelSummary;
use super::protocol::{few_label_probe, ProbeSummary};
use super::retrieval::{retrieval, RetrievalReport};
use crate::{Error, Matrix, Result};

/// Everything `mib eval` measures on one run; serialised as `eval.json`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EvalReport {
    /// Few-label linear probe, one entry per labels-per-class count.
    pub linear_probe: Vec<ProbeSummary>,
    /// kNN probe on all training labels.
    pub knn: Option<KnnReport>,
    /// Cross-view retrieval (view-1 queries against the view-2 gallery).
    pub retrieval: Option<RetrievalReport>,
    /// Label-limited multi-label probe (multi-hot labels).
    pub multilabel: Option<Vec<MultilabelSummary>>,
    /// Information-plane point.
    pub information_plane: Option<InfoPlane>,
    /// Representation dimension.
    pub representation_dim: Option<usize>,
    /// Which representation of a trained model was evaluated (`mean`, `hidden`, `mean+hidden`;
    /// absent for saved representations).
    pub representation: Option<String>,
    /// Training / test set sizes.
    pub n_train: Option<usize>,
    /// Test set size.
    pub n_test: Option<usize>,
    /// Seed of the protocol.
    pub seed: Option<u64>,
    /// Permutation tests of the learned dependence (`mib eval --permutations N`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permutation: Option<super::PermutationReport>,
    /// The same few-label probe on the raw features (`mib eval --baseline`, `mib demo`): what
    /// the representation must beat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
    /// The semi-supervised mode's own row: its classifier against the frozen probe and the raw
    /// inputs, on the labelled items it was trained with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub semi_supervised: Option<SemiSupervisedReport>,
}

/// A semi-supervised model (`model.label_weight > 0`) judged on the labels it was trained with:
/// draw `draw` of `labels_per_class` labels per class of the few-label probe (seed 0). Test
/// accuracy of the model's own classifier, of the linear probe on the frozen representation, and
/// of the same probe on the raw inputs, each fitted or trained on those items alone.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SemiSupervisedReport {
    /// Labelled items per class.
    pub labels_per_class: usize,
    /// Which of the probe's draws.
    pub draw: usize,
    /// The model's classifier (trained jointly with the representation).
    pub classifier_accuracy: f64,
    /// The linear probe on the representation evaluated, fitted on the same items.
    pub probe_accuracy: f64,
    /// The linear probe on the raw inputs of the view, fitted on the same items.
    pub raw_accuracy: f64,
}

/// The few-label probe on raw input features, beside a representation's.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Baseline {
    /// What was probed (`raw \`pix\``).
    pub name: String,
    /// Few-label linear probe on it.
    pub linear_probe: Vec<ProbeSummary>,
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.2}", 100.0 * x)
    } else {
        "n/a".into()
    }
}

fn opt(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite())
        .map_or("n/a".into(), |v| format!("{v:.4}"))
}

impl EvalReport {
    /// A human-readable plain-text rendering (accuracies in percent).
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        if let (Some(d), Some(a), Some(b)) = (self.representation_dim, self.n_train, self.n_test) {
            let what = self
                .representation
                .as_deref()
                .map_or(String::new(), |r| format!(" ({r})"));
            let _ = writeln!(
                s,
                "representation dim {d}{what}, {a} train / {b} test items\n"
            );
        }
        if !self.linear_probe.is_empty() {
            let _ = writeln!(s, "Linear probe (test accuracy, %)");
            let _ = writeln!(
                s,
                "{:>16} {:>8} {:>7} {:>6}",
                "labels/class", "mean", "std", "reps"
            );
            for p in &self.linear_probe {
                let _ = writeln!(
                    s,
                    "{:>16} {:>8} {:>7} {:>6}",
                    p.labels_per_class,
                    pct(p.mean),
                    pct(p.std),
                    p.repetitions
                );
            }
            s.push('\n');
        }
        if let Some(k) = &self.knn {
            let _ = writeln!(
                s,
                "kNN probe (k = {}, {}): test accuracy {} %\n",
                k.k,
                k.metric,
                pct(k.accuracy)
            );
        }
        if let Some(r) = &self.retrieval {
            let _ = writeln!(
                s,
                "Cross-view retrieval: mAP@all {}, Precision@{} {} ({} queries, {} without a relevant item)\n",
                opt(Some(r.map_at_all)),
                r.k,
                opt(Some(r.precision_at_k)),
                r.queries,
                r.queries_without_relevant
            );
        }
        if let Some(m) = &self.multilabel {
            let _ = writeln!(s, "Multi-label probe (test mAP)");
            let _ = writeln!(
                s,
                "{:>16} {:>8} {:>7} {:>6}",
                "labelled items", "mAP", "std", "reps"
            );
            for p in m {
                let _ = writeln!(
                    s,
                    "{:>16} {:>8.4} {:>7.4} {:>6}",
                    p.labelled, p.mean_map, p.std, p.repetitions
                );
            }
            s.push('\n');
        }
        if let Some(b) = &self.baseline {
            let _ = writeln!(s, "Baseline: the same probe on the {} features", b.name);
            let _ = writeln!(s, "{:>16} {:>8} {:>7}", "labels/class", "mean", "std");
            for p in &b.linear_probe {
                let _ = writeln!(
                    s,
                    "{:>16} {:>8} {:>7}",
                    p.labels_per_class,
                    pct(p.mean),
                    pct(p.std)
                );
            }
            s.push('\n');
        }
        if let Some(m) = &self.semi_supervised {
            let _ = writeln!(
                s,
                "Semi-supervised: the {} labels per class it trained with (draw {}), test accuracy %",
                m.labels_per_class, m.draw
            );
            let _ = writeln!(
                s,
                "  its classifier        {:>8}",
                pct(m.classifier_accuracy)
            );
            let _ = writeln!(s, "  probe on the repr.    {:>8}", pct(m.probe_accuracy));
            let _ = writeln!(s, "  probe on raw inputs   {:>8}", pct(m.raw_accuracy));
            s.push('\n');
        }
        if let Some(ip) = &self.information_plane {
            let _ = writeln!(s, "Information plane (nats)");
            let _ = writeln!(
                s,
                "  I(x;z) = {}{}  [{}]",
                opt(ip.i_xz),
                ip.i_xz_lower
                    .map(|l| format!(" (lower bound {l:.4})"))
                    .unwrap_or_default(),
                or_none(&ip.i_xz_estimator)
            );
            let _ = writeln!(
                s,
                "  I(y;z) = {}  [{}]",
                opt(ip.i_yz),
                or_none(&ip.i_yz_estimator)
            );
        }
        if let Some(p) = &self.permutation {
            let _ = writeln!(s, "\nPermutation tests");
            for t in [&p.mutual_information, &p.probe].into_iter().flatten() {
                let _ = writeln!(s, "  {}", t.summary_line());
            }
        }
        if s.is_empty() {
            s.push_str("(empty evaluation report)\n");
        }
        s
    }
}

fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "not estimated"
    } else {
        s
    }
}

/// Settings of a full evaluation (what `mib eval` runs). [`Default`] follows the paper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvalProtocol {
    /// Labels per class for the few-label probe (default 1, 2, 5, 10, 100, 1000; counts larger than
    /// the smallest class are dropped by [`EvalProtocol::evaluate`] with a `tracing` warning).
    pub labels_per_class: Vec<usize>,
    /// Draws per count (default 20).
    pub repetitions: usize,
    /// The probe (default: the reference, C = 10 with MinMax scaling).
    pub probe: LinearProbeParams,
    /// kNN probe on all training labels (default `Some(k = 5, Euclidean)`).
    pub knn: Option<KnnParams>,
    /// `K` of Precision@K for cross-view retrieval (default 200).
    pub retrieval_k: usize,
    /// Compute the `H(y) - CE` bound on `I(y; z)` (default true).
    pub information_bound: bool,
    /// Seed of the label draws (default 0).
    pub seed: u64,
    /// For multi-hot targets: the fractions of the training items whose labels the multi-label
    /// probe may use (default 1 %, 10 %, 100 %: the MIR-Flickr protocol); each fraction below 1 is
    /// drawn `repetitions` times, the full set once.
    pub multilabel_fractions: Vec<f64>,
}

impl Default for EvalProtocol {
    fn default() -> Self {
        EvalProtocol {
            labels_per_class: vec![1, 2, 5, 10, 100, 1000],
            repetitions: 20,
            probe: LinearProbeParams::default(),
            knn: Some(KnnParams::default()),
            retrieval_k: 200,
            information_bound: true,
            seed: 0,
            multilabel_fractions: vec![0.01, 0.1, 1.0],
        }
    }
}

/// Representations to evaluate (posterior means), borrowed.
#[derive(Debug, Clone, Copy)]
pub struct EvalInputs<'a> {
    /// Training representations (`n_train x d`), the pool of labelled items.
    pub train: &'a Matrix,
    /// Training labels.
    pub y_train: &'a [u32],
    /// Test representations (`n_test x d`).
    pub test: &'a Matrix,
    /// Test labels.
    pub y_test: &'a [u32],
    /// Number of classes.
    pub n_classes: usize,
    /// For multi-view data: test representations of the second view, row-aligned with `test`
    /// (queries are `test`, the gallery is `test_view2`, both labelled by `y_test`).
    pub test_view2: Option<&'a Matrix>,
}

impl EvalProtocol {
    /// The label-limited multi-label probe on multi-hot targets (`[n, n_labels]`, rows aligned
    /// with `train` and `test`): test mAP for each of [`EvalProtocol::multilabel_fractions`] of
    /// the training items (at least one item each).
    pub fn evaluate_multilabel(
        &self,
        train: &Matrix,
        t_train: &Matrix,
        test: &Matrix,
        t_test: &Matrix,
    ) -> Result<Vec<MultilabelSummary>> {
        let n = train.rows;
        let mut out = Vec::new();
        for &f in &self.multilabel_fractions {
            if !(f > 0.0 && f <= 1.0) {
                return Err(Error::config(
                    "eval.multilabel_fractions",
                    f,
                    "each must lie in (0, 1]",
                ));
            }
            let m = ((n as f64 * f).round() as usize).clamp(1, n);
            let reps = if m == n { 1 } else { self.repetitions };
            out.extend(super::few_label_multilabel_probe(
                train,
                t_train,
                test,
                t_test,
                &[m],
                reps,
                &self.probe,
                self.seed,
            )?);
        }
        Ok(out)
    }

    /// Runs the protocol on `inputs`.
    pub fn evaluate(&self, inputs: &EvalInputs<'_>) -> Result<EvalReport> {
        let mut counts = vec![0usize; inputs.n_classes];
        for &l in inputs.y_train {
            *counts
                .get_mut(l as usize)
                .ok_or_else(|| Error::Data(format!("train label {l} out of range")))? += 1;
        }
        let smallest = counts.iter().copied().min().unwrap_or(0);
        let lpc: Vec<usize> = self
            .labels_per_class
            .iter()
            .copied()
            .filter(|&k| {
                let ok = k <= smallest;
                if !ok {
                    tracing::warn!(
                        k,
                        smallest,
                        "labels per class above the smallest class size: skipped"
                    );
                }
                ok
            })
            .collect();
        let linear_probe = few_label_probe(
            inputs.train,
            inputs.y_train,
            inputs.test,
            inputs.y_test,
            inputs.n_classes,
            &lpc,
            self.repetitions,
            &self.probe,
            self.seed,
        )?;
        let knn = match &self.knn {
            Some(p) => Some(knn_accuracy(
                p,
                inputs.train,
                inputs.y_train,
                inputs.test,
                inputs.y_test,
                inputs.n_classes,
            )?),
            None => None,
        };
        let retrieval = match inputs.test_view2 {
            Some(g) => Some(retrieval(
                inputs.test,
                inputs.y_test,
                g,
                inputs.y_test,
                self.retrieval_k,
            )?),
            None => None,
        };
        let information_plane = if self.information_bound {
            Some(InfoPlane {
                i_xz: None,
                i_xz_estimator: String::new(),
                i_xz_lower: None,
                i_yz: Some(label_information_lower_bound(
                    inputs.train,
                    inputs.y_train,
                    inputs.test,
                    inputs.y_test,
                    inputs.n_classes,
                    &self.probe,
                )?),
                i_yz_estimator: I_YZ_PROBE_BOUND.into(),
            })
        } else {
            None
        };
        Ok(EvalReport {
            linear_probe,
            knn,
            retrieval,
            multilabel: None,
            information_plane,
            representation_dim: Some(inputs.train.cols),
            representation: None,
            n_train: Some(inputs.train.rows),
            n_test: Some(inputs.test.rows),
            seed: Some(self.seed),
            permutation: None,
            baseline: None,
            semi_supervised: None,
        })
    }
}

/// Representations of a run saved for evaluation and figures: `embeddings.safetensors` in a run
/// directory, with tensors `z_train` `[n_train, d]` and `z_test` `[n_test, d]` (F32), labels
/// `y_train`, `y_test` (I64, I32 or U32), and for multi-view data optionally `z_test_v2`
/// `[n_test, d]` (the second view's test representations, row-aligned with `z_test`).
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// Training representations.
    pub train: Matrix,
    /// Training labels.
    pub y_train: Vec<u32>,
    /// Test representations.
    pub test: Matrix,
    /// Test labels.
    pub y_test: Vec<u32>,
    /// Second-view test representations, when there is a second view.
    pub test_view2: Option<Matrix>,
}

impl Embeddings {
    /// Number of classes: one more than the largest label.
    pub fn n_classes(&self) -> usize {
        self.y_train
            .iter()
            .chain(&self.y_test)
            .map(|&l| l as usize + 1)
            .max()
            .unwrap_or(0)
    }

    /// The borrowed [`EvalInputs`] view.
    pub fn inputs(&self) -> EvalInputs<'_> {
        EvalInputs {
            train: &self.train,
            y_train: &self.y_train,
            test: &self.test,
            y_test: &self.y_test,
            n_classes: self.n_classes(),
            test_view2: self.test_view2.as_ref(),
        }
    }

    /// Reads `path` (layout in the type docs).
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Embeddings> {
        use safetensors::{Dtype, SafeTensors};
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io("reading embeddings", path, e))?;
        let st = SafeTensors::deserialize(&bytes)?;
        let names = st.names();
        let has = |n: &str| names.iter().any(|m| *m == n);
        let matrix = |name: &str| -> Result<Matrix> {
            let t = st
                .tensor(name)
                .map_err(|_| Error::format(path, format!("missing tensor `{name}`")))?;
            if t.dtype() != Dtype::F32 || t.shape().len() != 2 {
                return Err(Error::format(
                    path,
                    format!(
                        "`{name}` must be a 2-D F32 tensor, found {:?} {:?}",
                        t.dtype(),
                        t.shape()
                    ),
                ));
            }
            let data = t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Matrix::new(t.shape()[0], t.shape()[1], data)
        };
        let labels = |name: &str| -> Result<Vec<u32>> {
            let t = st
                .tensor(name)
                .map_err(|_| Error::format(path, format!("missing tensor `{name}`")))?;
            let bad = || Error::format(path, format!("`{name}`: negative or too large label"));
            let d = t.data();
            match t.dtype() {
                Dtype::I64 => d
                    .chunks_exact(8)
                    .map(|c| {
                        let v = i64::from_le_bytes(c.try_into().expect("8 bytes"));
                        u32::try_from(v).map_err(|_| bad())
                    })
                    .collect(),
                Dtype::I32 => d
                    .chunks_exact(4)
                    .map(|c| {
                        let v = i32::from_le_bytes(c.try_into().expect("4 bytes"));
                        u32::try_from(v).map_err(|_| bad())
                    })
                    .collect(),
                Dtype::U32 => Ok(d
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
                    .collect()),
                other => Err(Error::format(
                    path,
                    format!("`{name}`: labels must be I64, I32 or U32, found {other:?}"),
                )),
            }
        };
        let e = Embeddings {
            train: matrix("z_train")?,
            y_train: labels("y_train")?,
            test: matrix("z_test")?,
            y_test: labels("y_test")?,
            test_view2: if has("z_test_v2") {
                Some(matrix("z_test_v2")?)
            } else {
                None
            },
        };
        if e.train.rows != e.y_train.len() || e.test.rows != e.y_test.len() {
            return Err(Error::format(
                path,
                "representations and labels differ in length",
            ));
        }
        if e.test.cols != e.train.cols
            || e.test_view2
                .as_ref()
                .is_some_and(|v| v.rows != e.test.rows || v.cols != e.test.cols)
        {
            return Err(Error::format(
                path,
                "train/test/view-2 representation shapes disagree",
            ));
        }
        Ok(e)
    }

    /// Writes `path` (layout in the type docs; labels as I64).
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        use safetensors::tensor::TensorView;
        use safetensors::Dtype;
        let path = path.as_ref();
        let f = |m: &Matrix| {
            m.data
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>()
        };
        let l = |y: &[u32]| {
            y.iter()
                .flat_map(|&v| (v as i64).to_le_bytes())
                .collect::<Vec<u8>>()
        };
        let mut bufs: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> = vec![
            (
                "z_train",
                Dtype::F32,
                vec![self.train.rows, self.train.cols],
                f(&self.train),
            ),
            (
                "y_train",
                Dtype::I64,
                vec![self.y_train.len()],
                l(&self.y_train),
            ),
            (
                "z_test",
                Dtype::F32,
                vec![self.test.rows, self.test.cols],
                f(&self.test),
            ),
            (
                "y_test",
                Dtype::I64,
                vec![self.y_test.len()],
                l(&self.y_test),
            ),
        ];
        if let Some(v) = &self.test_view2 {
            bufs.push(("z_test_v2", Dtype::F32, vec![v.rows, v.cols], f(v)));
        }
        let views: Vec<(&str, TensorView<'_>)> = bufs
            .iter()
            .map(|(n, dt, shape, b)| Ok((*n, TensorView::new(*dt, shape.clone(), b)?)))
            .collect::<Result<_>>()?;
        safetensors::serialize_to_file(views, &None, path)?;
        Ok(())
    }
}
