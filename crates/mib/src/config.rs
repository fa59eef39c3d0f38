//! The configuration of a training run: what a `config.toml` holds.
//!
//! A run is reproducible from its saved config: the data source, the model, the optimiser, the beta
//! schedule, the loop settings and the seed. Every section has documented defaults equal to the
//! reference implementation's (github mfederici/Multi-View-Information-Bottleneck), unknown keys are
//! rejected, and [`TrainConfig::validate`] checks every value once, before training starts, with
//! errors that name the offending key.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::data::{MemoryMap, MissingRows, PairingConfig, ScalingConfig};
use crate::objectives::{AdamConfig, ModelConfig};
use crate::train::schedule::BetaSchedule;
use crate::{Error, Result};

/// Where the training data comes from and how its two views are formed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `"mfeat"` (embedded), `"fashion-mnist"`, `"mnist"` (IDX files) or `"npy"` (files in `views`).
    pub dataset: String,
    /// For `mfeat`: the view names (two of `pix`, `fou`, `fac`, `kar`, `zer`, `mor`); for `npy`: the
    /// paths of one `.npy` file per view; unused for single-view image datasets.
    #[serde(default)]
    pub views: Vec<String>,
    /// For `npy`: the labels file (`.npy`, integer), optional.
    #[serde(default)]
    pub labels: Option<PathBuf>,
    /// Folder holding the dataset files (IDX); default: `$MIB_DATA`, then Debian's
    /// `/usr/share/datasets/<name>`.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// For `npy`: fraction of rows held out as the test split (seeded permutation), default 0.2.
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
    /// Input scaling of each view (`"auto"`, `"none"`, `"standardize"`, `"minmax"`, or a list with
    /// one per view), fitted on the training split and saved with the model
    /// ([`crate::data::scaling`]). `auto`: standardise file and in-memory views, `[0, 1]` for image
    /// views of augmented pairs, nothing for the named datasets (their loaders scale them).
    #[serde(default, skip_serializing_if = "ScalingConfig::is_auto")]
    pub scaling: ScalingConfig,
    /// For `npy`: whether the view files are memory-mapped and read row by row as training goes
    /// (`"auto"`, `"always"`, `"never"`; [`crate::data::mapped`]). `auto` maps plain `.npy` views
    /// whose `f32` copy would exceed 1 GiB.
    #[serde(default, skip_serializing_if = "MemoryMap::is_auto")]
    pub memory_map: MemoryMap,
    /// For `npy`: whether a row that is entirely NaN means the item lacks that view (`"none"`,
    /// the default: every NaN is an error; `"nan-rows"`). See `docs/missing-views.md`.
    #[serde(default, skip_serializing_if = "MissingRows::is_none")]
    pub missing: MissingRows,
    /// For `npy`: one presence mask file per view (`.npy` of `n` booleans or 0/1, `1` = the item
    /// has this view; an empty string for a view with every item), in the order of `views`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub present: Vec<PathBuf>,
    /// Semi-supervised mode (the `[data.labelled]` table, with `model.label_weight > 0`): the few
    /// training items whose labels the loss may use. Absent: no label is read in training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labelled: Option<LabelledConfig>,
    /// How the two views of an item are formed (`aligned`, `same-class`, or `augment` for
    /// single-view data).
    pub pairing: PairingConfig,
}

/// The labelled items of the semi-supervised mode: `labels_per_class` training items of each class,
/// the same items as draw `draw` of that count in the few-label probe (seed 0, the default of
/// `mib eval`: [`crate::eval::probe_draw`]), so the trained classifier and the frozen probe can be
/// compared on the same labels; or the training items listed in `items` (Python's `fit(views, y)`
/// with `y = -1` for the unlabelled items). Every batch puts `per_batch` of them (at most all) in
/// its first rows.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LabelledConfig {
    /// Labelled items per class (at least 1, or 0 with `items`).
    #[serde(default)]
    pub labels_per_class: usize,
    /// The labelled training items, by index (instead of `labels_per_class`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<u32>,
    /// Which draw of the probe's (default 0).
    #[serde(default)]
    pub draw: usize,
    /// Labelled rows per batch (default 32; at most the batch size).
    #[serde(default = "default_labelled_per_batch")]
    pub per_batch: usize,
}

fn default_labelled_per_batch() -> usize {
    32
}

/// The most compute threads a config may ask for: each is an OS thread with its own stack, and a
/// pool of 100,000 on a 2-core machine stalled it for most of an hour before this limit.
pub const MAX_THREADS: usize = 1024;

fn default_test_fraction() -> f64 {
    0.2
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            dataset: "mfeat".into(),
            views: vec!["pix".into(), "fou".into()],
            labels: None,
            data_dir: None,
            test_fraction: default_test_fraction(),
            scaling: ScalingConfig::default(),
            memory_map: MemoryMap::Auto,
            missing: MissingRows::None,
            present: Vec::new(),
            labelled: None,
            pairing: PairingConfig::Aligned,
        }
    }
}

/// Settings of the training loop.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LoopConfig {
    /// Total number of training iterations (one batch each). Reference: ~940,000 on a GPU.
    pub iterations: u64,
    /// Batch size (reference: 64).
    pub batch_size: usize,
    /// Worker threads for the compute core and the data pipeline; 0 = all available cores.
    pub threads: usize,
    /// Write one line to `metrics.jsonl` every this many iterations (mean over the interval).
    pub log_every: u64,
    /// Write a checkpoint every this many iterations (a multiple of `log_every`).
    pub checkpoint_every: u64,
    /// Number of checkpoints kept in `checkpoints/` (older ones are removed).
    pub keep_checkpoints: usize,
    /// Stop after this many consecutive non-finite losses or gradients (each one skips its update).
    pub max_nonfinite: u64,
    /// Betas at which to keep a checkpoint (`checkpoints/beta-<beta>-<iteration>.safetensors`,
    /// never rotated away): one at the first iteration whose step ran at that beta or past it on
    /// the schedule's way ([`TrainConfig::beta_checkpoints`]); `mib eval RUN --beta-path`
    /// evaluates them. Default none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checkpoint_at_beta: Vec<f64>,
}

impl Default for LoopConfig {
    fn default() -> Self {
        LoopConfig {
            iterations: 2000,
            batch_size: 64,
            threads: 0,
            log_every: 10,
            checkpoint_every: 500,
            keep_checkpoints: 3,
            max_nonfinite: 20,
            checkpoint_at_beta: Vec::new(),
        }
    }
}

/// Evaluation during training: the few-label linear probe as the reference logs it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EvalDuringTraining {
    /// Run the probe every this many iterations (a multiple of `train.log_every`); 0 = never.
    pub every: u64,
    /// Labels per class of the probe (reference: 10).
    pub labels_per_class: usize,
    /// Repetitions of the probe (balanced draws).
    pub repetitions: usize,
    /// Number of test items it scores (the first ones of the test split); 0 = all.
    pub max_test_items: usize,
    /// The representation `mib eval` (and [`crate::eval::evaluate_model`] through
    /// [`crate::models::TrainedModel::representation`]) probes by default ([`Representation`]);
    /// `mib embed` and Python's `transform` give the means unless asked, and the probe logged
    /// during training always reads the means.
    pub representation: Representation,
}

/// Which representation of an item a trained encoder gives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Representation {
    /// The posterior mean `E[z | x]` (default; the paper's).
    #[default]
    #[serde(rename = "mean")]
    Mean,
    /// The encoder's last hidden layer, before the Gaussian head (after its ReLU; for a conv
    /// encoder without dense hidden layers, the flattened convolutions). SimCLR found the layer
    /// before the projection much better for linear probes than the projection's output.
    #[serde(rename = "hidden")]
    Hidden,
    /// The posterior mean and the last hidden layer side by side, `[mean, hidden]`.
    #[serde(rename = "mean+hidden")]
    MeanHidden,
}

impl Representation {
    /// Every variant, in the order of the docs.
    pub const ALL: [Representation; 3] = [
        Representation::Mean,
        Representation::Hidden,
        Representation::MeanHidden,
    ];

    /// The name written in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Representation::Mean => "mean",
            Representation::Hidden => "hidden",
            Representation::MeanHidden => "mean+hidden",
        }
    }
}

impl std::str::FromStr for Representation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Representation::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| {
                Error::config(
                    "representation",
                    s,
                    "expected one of mean, hidden, mean+hidden",
                )
            })
    }
}

impl Default for EvalDuringTraining {
    fn default() -> Self {
        EvalDuringTraining {
            every: 0,
            labels_per_class: 10,
            repetitions: 5,
            max_test_items: 2000,
            representation: Representation::Mean,
        }
    }
}

/// The whole configuration of a run, as written in `config.toml`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Seed of every random draw of the run (initialisation, batches, augmentations, noise).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Data source and pairing.
    #[serde(default)]
    pub data: DataConfig,
    /// Model: objective, encoders, critic, estimator.
    #[serde(default)]
    pub model: ModelConfig,
    /// Adam settings (reference: lr 1e-4, eps 1e-8).
    #[serde(default)]
    pub optim: AdamConfig,
    /// The beta schedule (reference MIB: exponential from 1e-3 to 1 after a warm period).
    #[serde(default = "default_beta")]
    pub beta: BetaSchedule,
    /// The training loop.
    #[serde(default)]
    pub train: LoopConfig,
    /// Evaluation during training.
    #[serde(default)]
    pub eval: EvalDuringTraining,
}

fn default_seed() -> u64 {
    42
}

fn default_beta() -> BetaSchedule {
    BetaSchedule::Constant { value: 1e-3 }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            seed: default_seed(),
            data: DataConfig::default(),
            model: ModelConfig::default(),
            optim: AdamConfig::default(),
            beta: default_beta(),
            train: LoopConfig::default(),
            eval: EvalDuringTraining::default(),
        }
    }
}

impl TrainConfig {
    /// The semi-supervised settings: `[data.labelled]` and `model.label_weight > 0` come together,
    /// for the objectives that train a classifier beside their own loss (MIB, MV-InfoMax).
    fn validate_labelled(&self) -> Result<()> {
        let w = self.model.label_weight;
        match &self.data.labelled {
            None if w > 0.0 => Err(Error::config(
                "model.label_weight",
                w,
                "the semi-supervised mode needs its labelled items: add a [data.labelled] table \
                 (labels_per_class = ...)",
            )),
            None => Ok(()),
            Some(_) if w == 0.0 => Err(Error::config(
                "data.labelled",
                "set",
                "the labelled items need model.label_weight > 0 (the weight of their \
                 cross-entropy)",
            )),
            Some(l) => {
                if !self.model.objective.is_multi_view() {
                    return Err(Error::config(
                        "data.labelled",
                        self.model.objective.name(),
                        "the semi-supervised mode adds a classifier to mib or mv-infomax \
                         (the supervised objective uses every label)",
                    ));
                }
                if (l.labels_per_class == 0) == l.items.is_empty() {
                    return Err(Error::config(
                        "data.labelled.labels_per_class",
                        l.labels_per_class,
                        "give labels_per_class >= 1 (the probe's draw) or the items list, \
                         one of them",
                    ));
                }
                if l.per_batch == 0 || l.per_batch > self.train.batch_size {
                    return Err(Error::config(
                        "data.labelled.per_batch",
                        l.per_batch,
                        format!(
                            "must be between 1 and the batch size ({})",
                            self.train.batch_size
                        ),
                    ));
                }
                if l.draw > 1_000_000 {
                    return Err(Error::config(
                        "data.labelled.draw",
                        l.draw,
                        "must be at most 1000000",
                    ));
                }
                Ok(())
            }
        }
    }

    /// Parses a TOML document; `origin` names it in errors (a file path, or `"<preset>"`).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::format(origin, one_line(&e.to_string())))
    }

    /// Reads and parses a TOML file.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::io("reading config", path, e))?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// The config as TOML text (what is saved as the run's `config.toml`).
    pub fn to_toml_string(&self) -> Result<String> {
        toml::to_string_pretty(self)
            .map_err(|e| Error::config("<config>", "<serialisation>", e.to_string()))
    }

    /// Checks every value, naming the first bad key.
    pub fn validate(&self) -> Result<()> {
        let d = &self.data;
        match d.dataset.as_str() {
            "mfeat" | "fashion-mnist" | "mnist" | "npy" => {}
            other => {
                return Err(Error::config(
                    "data.dataset",
                    other,
                    "expected one of mfeat, fashion-mnist, mnist, npy",
                ))
            }
        }
        if d.dataset == "npy" && d.views.is_empty() {
            return Err(Error::config(
                "data.views",
                "[]",
                "dataset `npy` needs the paths of one .npy file per view",
            ));
        }
        if (!d.missing.is_none() || !d.present.is_empty()) && d.dataset != "npy" {
            return Err(Error::config(
                if d.present.is_empty() {
                    "data.missing"
                } else {
                    "data.present"
                },
                &d.dataset,
                "missing views are read from files: use dataset `npy` (--views a.npy,b.npy)",
            ));
        }
        if !d.present.is_empty() && d.present.len() != d.views.len() {
            return Err(Error::config(
                "data.present",
                d.present.len(),
                format!(
                    "give one mask file per view ({} views; an empty string for a complete view)",
                    d.views.len()
                ),
            ));
        }
        if (!d.missing.is_none() || !d.present.is_empty())
            && !matches!(d.pairing, PairingConfig::Aligned)
        {
            return Err(Error::config(
                "data.pairing",
                "same-class/augment",
                "missing views need aligned pairing (kind = \"aligned\")",
            ));
        }
        if !(d.test_fraction > 0.0 && d.test_fraction < 1.0) {
            return Err(Error::config(
                "data.test_fraction",
                d.test_fraction,
                "must lie strictly between 0 and 1",
            ));
        }
        if let PairingConfig::Augment { augment, n_views } = &d.pairing {
            augment.validate()?;
            if !(2..=crate::data::MAX_AUGMENTED_VIEWS).contains(n_views) {
                return Err(Error::config(
                    "data.pairing.n_views",
                    n_views,
                    format!("must be between 2 and {}", crate::data::MAX_AUGMENTED_VIEWS),
                ));
            }
        }
        self.model.validate()?;
        self.validate_labelled()?;
        self.optim.validate()?;
        self.beta.validate()?;
        let t = &self.train;
        if t.iterations == 0 {
            return Err(Error::config("train.iterations", 0, "must be at least 1"));
        }
        if t.batch_size < 2 {
            return Err(Error::config(
                "train.batch_size",
                t.batch_size,
                "must be at least 2 (the critic needs a negative pair)",
            ));
        }
        if t.log_every == 0 {
            return Err(Error::config("train.log_every", 0, "must be at least 1"));
        }
        if t.checkpoint_every == 0 || t.checkpoint_every % t.log_every != 0 {
            return Err(Error::config(
                "train.checkpoint_every",
                t.checkpoint_every,
                format!(
                    "must be a positive multiple of train.log_every ({})",
                    t.log_every
                ),
            ));
        }
        if t.keep_checkpoints == 0 {
            return Err(Error::config(
                "train.keep_checkpoints",
                0,
                "must be at least 1",
            ));
        }
        if t.threads > MAX_THREADS {
            return Err(Error::config(
                "train.threads",
                t.threads,
                format!("at most {MAX_THREADS} (0 = every available core)"),
            ));
        }
        if t.max_nonfinite == 0 {
            return Err(Error::config(
                "train.max_nonfinite",
                0,
                "must be at least 1",
            ));
        }
        self.beta_checkpoints()?;
        let e = &self.eval;
        if e.every > 0 {
            if e.every % t.log_every != 0 {
                return Err(Error::config(
                    "eval.every",
                    e.every,
                    format!("must be a multiple of train.log_every ({})", t.log_every),
                ));
            }
            if e.labels_per_class == 0 || e.repetitions == 0 {
                return Err(Error::config(
                    "eval.labels_per_class",
                    e.labels_per_class,
                    "labels_per_class and repetitions must be at least 1",
                ));
            }
        }
        Ok(())
    }
}

impl TrainConfig {
    /// The checkpoints `train.checkpoint_at_beta` asks for, as `(iteration, beta)` pairs in
    /// iteration order: for each beta, the first iteration `it` (iterations completed) whose step
    /// ran at that beta or past it in the schedule's direction (`beta.value(it - 1)`). Errors name
    /// the beta the schedule never reaches within `train.iterations`, or a constant schedule.
    pub fn beta_checkpoints(&self) -> Result<Vec<(u64, f64)>> {
        let targets = &self.train.checkpoint_at_beta;
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let field = "train.checkpoint_at_beta";
        if let BetaSchedule::Constant { value } = self.beta {
            return Err(Error::config(
                field,
                format!("{targets:?}"),
                format!(
                    "beta is constant ({value}): there is no beta path to checkpoint; ramp it \
                     (beta.kind = \"exponential\" or \"linear\")"
                ),
            ));
        }
        let total = self.train.iterations.max(1);
        let v = |it: u64| self.beta.value(it - 1);
        let (first, last) = (v(1), v(total));
        let up = last >= first;
        let passes = |b: f64, t: f64| {
            let tol = 1e-9 * t.abs().max(1e-300);
            if up {
                b >= t - tol
            } else {
                b <= t + tol
            }
        };
        let mut out = Vec::with_capacity(targets.len());
        for &t in targets {
            if !t.is_finite() || t < 0.0 {
                return Err(Error::config(field, t, "each beta must be finite and >= 0"));
            }
            if !passes(last, t) {
                return Err(Error::config(
                    field,
                    t,
                    format!(
                        "the schedule never reaches it within the run's {total} iterations (beta \
                         goes from {first:.4e} to {last:.4e})"
                    ),
                ));
            }
            // the schedule is monotone: the first iteration that passes, by bisection
            let (mut lo, mut hi) = (1u64, total);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if passes(v(mid), t) {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            out.push((lo, t));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        Ok(out)
    }
}

/// Keeps the first line of a multi-line parser message, trimmed.
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
