//! `mib eval`: the evaluation protocol on a run's representations.
//!
//! The library does the work ([`mib::eval::EvalProtocol::evaluate`]); this module maps flags to the
//! protocol, prints the report (a table, or one JSON document with `--json`) and writes `eval.json`.
//! Representations come from `--embeddings FILE` or `DIR/embeddings.safetensors` (layout:
//! [`mib::eval::Embeddings`]); embedding a dataset with a trained model is the trainer's side, which
//! calls [`run_with_inputs`].

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use mib::eval::{
    Distance, Embeddings, EvalInputs, EvalProtocol, EvalReport, KnnParams, PermutationReport,
    PermutationTest,
};
use mib::models::training_views;
use mib::train::RunFolder;

/// Flags of `mib eval`.
#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// Run directory (holds `config.toml`; `eval.json` is written there).
    pub dir: Option<PathBuf>,
    /// The data to embed with the run's encoder (default: the run's own).
    #[command(flatten)]
    pub data: crate::args::DataArgs,
    /// Representations to evaluate (default `DIR/embeddings.safetensors`).
    #[arg(long)]
    pub embeddings: Option<PathBuf>,
    /// Labels per class of the few-label linear probe.
    #[arg(long, value_delimiter = ',', default_value = "1,2,5,10,100,1000")]
    pub labels_per_class: Vec<usize>,
    /// Draws of the labelled set per count.
    #[arg(long, default_value_t = 20)]
    pub repetitions: usize,
    /// Inverse L2 strength of the linear probe (scikit-learn's C).
    #[arg(long, default_value_t = 10.0)]
    pub c: f64,
    /// Neighbours of the kNN probe (0 turns it off).
    #[arg(long, default_value_t = 5)]
    pub knn_k: usize,
    /// Distance of the kNN probe: euclidean or cosine.
    #[arg(long, default_value = "euclidean")]
    pub knn_metric: Distance,
    /// K of Precision@K for cross-view retrieval (multi-view data).
    #[arg(long, default_value_t = 200)]
    pub retrieval_k: usize,
    /// Seed of the label draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// For multi-hot targets (a labels .npy of shape [n, n_labels]): fractions of the training
    /// items labelled for the multi-label probe (test mAP).
    #[arg(long, value_delimiter = ',', default_value = "0.01,0.1,1")]
    pub multilabel_fractions: Vec<f64>,
    /// Which training view's representations to evaluate (0 = the first; a model trained on K
    /// views has views 0..K).
    #[arg(long, default_value_t = 0)]
    pub view: usize,
    /// The representation evaluated: `mean` (posterior means, the paper's), `hidden` (the encoder's
    /// last hidden layer) or `mean+hidden` (default: the run's `eval.representation`; --fuse
    /// gives posterior means).
    #[arg(long, conflicts_with = "fuse")]
    pub representation: Option<mib::config::Representation>,
    /// Permutation tests with N permutations: the critic's I(z1;z2) on held-out pairs against N
    /// random re-pairings (multi-view objectives), and the linear probe (all training labels)
    /// against N label permutations; reported with p-values in the `permutation` section.
    #[arg(long, value_name = "N")]
    pub permutations: Option<usize>,
    /// Held-out pairs the I(z1;z2) permutation test scores (evenly spaced; 0 = all).
    #[arg(long, default_value_t = 2000)]
    pub permutation_items: usize,
    /// Which checkpoint of the run to evaluate: final, latest, a file name in checkpoints/
    /// (ckpt-0000000500, beta-1e-2-0000001234), beta=<value>, or a path (default: the final
    /// model, else the newest checkpoint).
    #[arg(long)]
    pub checkpoint: Option<String>,
    /// Evaluate the run's beta path instead: every checkpoint kept by train.checkpoint_at_beta
    /// (and the final model): I(x;z) bounds, I(y;z), the probe at 1 and 10 labels per class
    /// (--repetitions draws), and the best beta on the test split; writes DIR/beta_path.json.
    #[arg(long, conflicts_with_all = ["checkpoint", "embeddings"])]
    pub beta_path: bool,
    /// Also evaluate the raw features of the view with the same probe (the baseline the
    /// representation must beat; `mib report` draws it beside the representation).
    #[arg(long)]
    pub baseline: bool,
    /// Evaluate one representation per item fused from the views it has (docs/missing-views.md):
    /// `poe` (product of the views' Gaussian posteriors) or `mean` (mean of their means); every
    /// item counts, also those lacking views. Default: --view's representation (the items that
    /// have that view).
    #[arg(long, value_parser = ["poe", "mean"])]
    pub fuse: Option<String>,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Where to write the report (default `DIR/eval.json`; nothing is written without DIR or --out).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl EvalArgs {
    /// The protocol these flags describe.
    pub fn protocol(&self) -> EvalProtocol {
        let mut p = EvalProtocol {
            labels_per_class: self.labels_per_class.clone(),
            repetitions: self.repetitions,
            knn: (self.knn_k > 0).then_some(KnnParams {
                k: self.knn_k,
                metric: self.knn_metric,
            }),
            retrieval_k: self.retrieval_k,
            seed: self.seed,
            multilabel_fractions: self.multilabel_fractions.clone(),
            ..Default::default()
        };
        p.probe.c = self.c;
        p
    }
}

/// Runs the protocol on `inputs`, prints the report and writes it (see [`EvalArgs::out`]).
pub fn run_with_inputs(args: &EvalArgs, inputs: &EvalInputs<'_>) -> anyhow::Result<EvalReport> {
    let mut report = args.protocol().evaluate(inputs)?;
    if let Some(n) = args.permutations {
        report.permutation = Some(PermutationReport {
            mutual_information: None,
            probe: probe_test(args, inputs, n)?,
        });
    }
    emit(args, &report)?;
    Ok(report)
}

/// The probe's permutation test on `inputs` (none without class labels).
fn probe_test(
    args: &EvalArgs,
    inputs: &EvalInputs<'_>,
    n: usize,
) -> anyhow::Result<Option<PermutationTest>> {
    if inputs.y_train.is_empty() || inputs.y_test.is_empty() {
        eprintln!("note: no class labels: the probe's permutation test is skipped");
        return Ok(None);
    }
    Ok(Some(mib::eval::probe_permutation_test(
        inputs.train,
        inputs.y_train,
        inputs.test,
        inputs.y_test,
        inputs.n_classes,
        &args.protocol().probe,
        n,
        args.seed,
    )?))
}

/// Prints `report` (table or JSON) and writes it to `--out` or `DIR/eval.json`.
fn emit(args: &EvalArgs, report: &EvalReport) -> anyhow::Result<()> {
    use std::io::Write as _;
    let done: Vec<usize> = report
        .linear_probe
        .iter()
        .map(|p| p.labels_per_class)
        .collect();
    let dropped: Vec<usize> = args
        .labels_per_class
        .iter()
        .copied()
        .filter(|k| !done.contains(k))
        .collect();
    if !dropped.is_empty() {
        eprintln!(
            "note: labels per class {dropped:?} skipped: more than the smallest class of the training set holds"
        );
    }
    let text = if args.json {
        serde_json::to_string_pretty(report)? + "\n"
    } else {
        report.to_table()
    };
    // A closed pipe (`mib eval --json | head`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    let out = args
        .out
        .clone()
        .or_else(|| args.dir.as_ref().map(|d| d.join("eval.json")));
    if let Some(out) = out {
        mib::train::checkpoint::write_atomic(
            &out,
            (serde_json::to_string_pretty(report)? + "\n").as_bytes(),
        )?;
        if !args.json {
            eprintln!("wrote {}", out.display());
        }
    }
    Ok(())
}

/// `mib eval`: on a run folder written by `mib train`, embeds the run's dataset with its trained
/// encoder (posterior means; also bounds `I(x; z)` with the encoder's density) and saves the
/// representations as `DIR/embeddings.safetensors`; on saved representations otherwise
/// (`--embeddings FILE`, or `DIR/embeddings.safetensors` in a folder without `config.toml`).
pub fn run(args: &EvalArgs) -> anyhow::Result<EvalReport> {
    if let Some(n) = args.permutations {
        mib::eval::check_permutations(n).map_err(|_| {
            anyhow::anyhow!(
                "--permutations 0: a permutation test needs at least 1 permutation (e.g. 100; \
                 the smallest p-value N permutations can give is 1 / (N + 1))"
            )
        })?;
    }
    if args.beta_path {
        beta_path(args)?;
        return Ok(EvalReport::default());
    }
    let saved = match (&args.embeddings, &args.dir) {
        (Some(p), _) => Some(p.clone()),
        // A run folder written by `mib train`: embed with its encoder (fresh, never stale).
        (None, Some(d)) if d.join("config.toml").exists() => None,
        (None, Some(d)) => Some(d.join("embeddings.safetensors")),
        (None, None) => bail!("give a run directory or --embeddings FILE"),
    };
    if let Some(path) = saved {
        if !path.exists() {
            bail!("{} not found", path.display());
        }
        let emb = Embeddings::load(&path)?;
        return run_with_inputs(args, &emb.inputs());
    }
    let dir = args.dir.as_ref().expect("checked above");
    let run = RunFolder::new(dir);
    let mut cfg = run.read_config()?;
    args.data.apply(&mut cfg)?;
    let mut model = mib::models::TrainedModel::open_checkpoint(
        dir,
        args.checkpoint.as_deref(),
        cfg.train.threads,
    )?;
    if let Some(r) = args.representation {
        model.set_representation(r);
    }
    let data = mib::data::load_splits(&cfg)?;
    let (mut report, emb) = match args.fuse.as_deref() {
        Some(f) => mib::eval::evaluate_model_fused(
            &mut model,
            &data,
            &args.protocol(),
            f.parse::<mib::models::Fuse>()?,
        )?,
        None => mib::eval::evaluate_model_view(&mut model, &data, &args.protocol(), args.view)?,
    };
    if let Some(n) = args.permutations {
        let mi = if model.config().model.objective.is_multi_view() {
            let slots = training_views(model.config(), data.test.views.len())?;
            let rows = data.test.len();
            let take = if args.permutation_items > 0 && rows > args.permutation_items {
                let idx: Vec<usize> = (0..args.permutation_items)
                    .map(|i| i * rows / args.permutation_items)
                    .collect();
                slots
                    .iter()
                    .map(|&v| data.test.views[v].select_rows(&idx))
                    .collect::<Vec<_>>()
            } else {
                slots.iter().map(|&v| data.test.views[v].clone()).collect()
            };
            let refs: Vec<&mib::Matrix> = take.iter().collect();
            Some(mib::eval::mi_permutation_test(
                &mut model, &refs, n, args.seed,
            )?)
        } else {
            eprintln!(
                "note: {} has no critic between views: the I(z1;z2) permutation test is skipped",
                model.config().model.objective.name()
            );
            None
        };
        let inputs = EvalInputs {
            n_classes: data.train.n_classes,
            ..emb.inputs()
        };
        let probe = model.pool().install(|| probe_test(args, &inputs, n))??;
        report.permutation = Some(PermutationReport {
            mutual_information: mi,
            probe,
        });
    }
    if args.baseline {
        report.baseline = Some(raw_baseline(
            args,
            &data,
            model.config(),
            cfg.train.threads,
        )?);
    }
    // Saved for `mib report` (PCA of the test representations) and for re-evaluation.
    let emb_path = dir.join("embeddings.safetensors");
    emb.save(&emb_path)?;
    emit(args, &report)?;
    Ok(report)
}

/// The raw features of the view `args.view` trains on, under the few-label probe of `args`:
/// the baseline a representation must beat.
pub fn raw_baseline(
    args: &EvalArgs,
    data: &mib::data::DatasetSplits,
    cfg: &mib::config::TrainConfig,
    threads: usize,
) -> anyhow::Result<mib::eval::Baseline> {
    let views = mib::models::training_views(cfg, data.train.views.len())?;
    let v = mib::models::slot_view(&views, args.view)?;
    let protocol = EvalProtocol {
        knn: None,
        information_bound: false,
        ..args.protocol()
    };
    let raw = mib::eval::evaluate_raw(data, v, &protocol, &mib::pool::ComputePool::new(threads))?;
    Ok(mib::eval::Baseline {
        name: format!("raw `{}`", data.train.view_names[v]),
        linear_probe: raw.linear_probe,
    })
}

/// `mib eval RUN --beta-path`: evaluates the run's beta-path checkpoints, prints the table (or
/// JSON) and writes `RUN/beta_path.json`.
fn beta_path(args: &EvalArgs) -> anyhow::Result<()> {
    use std::io::Write as _;
    let Some(dir) = &args.dir else {
        bail!("--beta-path needs a run directory");
    };
    let run = RunFolder::new(dir);
    let mut cfg = run.read_config()?;
    args.data.apply(&mut cfg)?;
    let data = mib::data::load_splits(&cfg)?;
    let params = mib::eval::BetaPathParams {
        labels_per_class: vec![1, 10],
        repetitions: args.repetitions,
        seed: args.seed,
        view: args.view,
    };
    let report = mib::eval::beta_path(dir, &data, &params, cfg.train.threads)?;
    let json = serde_json::to_string_pretty(&report)? + "\n";
    let text = if args.json {
        json.clone()
    } else {
        report.to_table()
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| dir.join("beta_path.json"));
    mib::train::checkpoint::write_atomic(&out, json.as_bytes())?;
    if !args.json {
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

impl EvalArgs {
    /// The defaults, for evaluating `dir` (as `mib demo` does).
    pub fn for_run(dir: PathBuf) -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            a: EvalArgs,
        }
        let mut a = Wrap::parse_from(["mib"]).a;
        a.dir = Some(dir);
        a
    }
}
