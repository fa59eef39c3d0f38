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
use mib::eval::{Distance, Embeddings, EvalInputs, EvalProtocol, EvalReport, KnnParams};
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
    let report = args.protocol().evaluate(inputs)?;
    emit(args, &report)?;
    Ok(report)
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
    let mut model = run.open_model(cfg.train.threads)?;
    let data = mib::data::load_splits(&cfg)?;
    let (report, emb) = match args.fuse.as_deref() {
        Some(f) => mib::eval::evaluate_model_fused(
            &mut model,
            &data,
            &args.protocol(),
            f.parse::<mib::models::Fuse>()?,
        )?,
        None => mib::eval::evaluate_model_view(&mut model, &data, &args.protocol(), args.view)?,
    };
    // Saved for `mib report` (PCA of the test representations) and for re-evaluation.
    let emb_path = dir.join("embeddings.safetensors");
    emb.save(&emb_path)?;
    emit(args, &report)?;
    Ok(report)
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
