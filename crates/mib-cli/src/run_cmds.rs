//! `mib embed` and `mib inspect`: use and look into a finished (or running) run folder.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use mib::train::checkpoint::{self, LoadedCheckpoint};
use mib::train::RunFolder;

/// Which split of a dataset.
#[derive(Clone, Copy, Debug, ValueEnum, Default)]
pub(crate) enum Split {
    /// The training split.
    Train,
    /// The held-out test split.
    #[default]
    Test,
}

/// Flags of `mib embed`.
#[derive(Args, Debug)]
pub(crate) struct EmbedArgs {
    /// Run folder (holds config.toml and model.safetensors or checkpoints/).
    run: PathBuf,
    /// The data to embed (default: the run's own).
    #[command(flatten)]
    data: crate::args::DataArgs,
    /// Which split.
    #[arg(long, value_enum, default_value_t = Split::Test)]
    split: Split,
    /// Which training view to encode (0 or 1; 0..K for a model trained on K views).
    #[arg(long, default_value_t = 0)]
    view: usize,
    /// The representation: `mean` (posterior means, the paper's), `hidden` (the encoder's last
    /// hidden layer) or `mean+hidden` (default: mean, whatever the run's `eval.representation`;
    /// --fuse gives posterior means).
    #[arg(long, conflicts_with = "fuse")]
    representation: Option<mib::config::Representation>,
    /// Which checkpoint: final, latest, a file name in checkpoints/ (ckpt-0000000500,
    /// beta-1e-2-0000001234), beta=<value>, or a path (default: the final model, else the
    /// newest checkpoint).
    #[arg(long)]
    checkpoint: Option<String>,
    /// One representation per item from the views it has (docs/missing-views.md): `poe`, the
    /// product of the views' Gaussian posteriors (precision-weighted means), or `mean`, the mean
    /// of their means. Default: --view's representation alone.
    #[arg(long, value_parser = ["poe", "mean"], conflicts_with = "view")]
    fuse: Option<String>,
    /// Output .npy file (float32, [items, width]); labels go to <stem>.labels.npy beside it, and
    /// for views aligned by item ids (--ids, data.ids) the row's item ids to <stem>.ids.txt.
    #[arg(long, short)]
    out: PathBuf,
}

/// Flags of `mib inspect`.
#[derive(Args, Debug)]
pub(crate) struct InspectArgs {
    /// A run folder or a checkpoint file.
    path: PathBuf,
}

pub(crate) fn embed(a: EmbedArgs) -> Result<()> {
    let run = RunFolder::new(&a.run);
    let mut cfg = run.read_config()?;
    a.data.apply(&mut cfg)?;
    let mut model = mib::models::TrainedModel::open_checkpoint(
        &a.run,
        a.checkpoint.as_deref(),
        cfg.train.threads,
    )?;
    // Embeddings are posterior means unless asked (the config's representation is what
    // `mib eval` probes).
    model.set_representation(
        a.representation
            .unwrap_or(mib::config::Representation::Mean),
    );
    if a.view >= model.n_views() {
        bail!(
            "--view {}: the model has {} training views (0..{})",
            a.view,
            model.n_views(),
            model.n_views() - 1
        );
    }
    let data = mib::data::load_splits(&cfg)?;
    model.check_dataset(&data.train)?;
    let (ds, mapped) = match a.split {
        Split::Train => (&*data.train, &data.train_rows),
        Split::Test => (&data.test, &data.test_rows),
    };
    // Memory-mapped views: every item of the split, read a block at a time (`ds` is a sample).
    let fuse = a
        .fuse
        .as_deref()
        .map(str::parse::<mib::models::Fuse>)
        .transpose()?;
    if let (Some(f), Some(rows)) = (fuse, mapped) {
        if rows.len() != ds.len() {
            bail!(
                "--fuse {:?}: the views are memory-mapped and larger than the in-memory sample \
                 ({} of {} items); fusing reads the sample only: use --memory-map never",
                f,
                ds.len(),
                rows.len()
            );
        }
    }
    if fuse.is_none() && ds.present.is_some() {
        let v =
            mib::models::slot_view(&mib::models::training_views(&cfg, ds.views.len())?, a.view)?;
        let lacking = ds.len() - ds.present_items(v).len();
        if lacking > 0 {
            eprintln!(
                "note: {lacking} of {} items lack view `{}`: their rows encode zeros; \
                 --fuse poe (or mean) gives every item a representation from the views it has",
                ds.len(),
                ds.view_names[v]
            );
        }
    }
    let ids = ds.item_ids.as_ref().filter(|_| mapped.is_none());
    let (z, labels) = match mapped {
        _ if fuse.is_some() => (
            model.embed_dataset_fused(ds, fuse.expect("checked"))?,
            ds.labels.clone(),
        ),
        Some(rows) => (
            model.embed_rows(rows, a.view)?,
            rows.labels().map(<[u32]>::to_vec),
        ),
        None => (model.embed_dataset(ds, a.view)?, ds.labels.clone()),
    };
    write_npy_f32(&a.out, &z.data, &[z.rows, z.cols])?;
    let mut msg = format!("wrote {} ({} x {})", a.out.display(), z.rows, z.cols);
    if let Some(l) = &labels {
        let lp = a.out.with_extension("labels.npy");
        write_npy_i64(&lp, l)?;
        msg.push_str(&format!(" and {}", lp.display()));
    }
    if let Some(ids) = ids {
        let ip = a.out.with_extension("ids.txt");
        let mut text = ids.join("\n");
        text.push('\n');
        std::fs::write(&ip, text).with_context(|| format!("writing {}", ip.display()))?;
        msg.push_str(&format!(" and {} (the rows' item ids)", ip.display()));
    }
    eprintln!("{msg}");
    Ok(())
}

pub(crate) fn inspect(a: InspectArgs) -> Result<()> {
    let p = &a.path;
    if p.is_file() {
        let ck = LoadedCheckpoint::read(p)?;
        print_checkpoint(&ck);
        return Ok(());
    }
    let run = RunFolder::new(p);
    let cfg = run.read_config()?;
    let fin = p.join("model.safetensors");
    let ck = if fin.exists() {
        LoadedCheckpoint::read(&fin)?
    } else {
        run.latest_checkpoint(&mut Vec::new())?.with_context(|| {
            format!(
                "{}: no model.safetensors and no valid checkpoint",
                p.display()
            )
        })?
    };
    println!("run folder: {}", p.display());
    println!(
        "objective: {:?}, dataset: {} {:?}, seed {}, {} iterations planned",
        cfg.model.objective, cfg.data.dataset, cfg.data.views, cfg.seed, cfg.train.iterations
    );
    let metrics = run.metrics_path();
    if metrics.exists() {
        let m = run.read_metrics()?;
        if let Some(last) = m.last() {
            println!(
                "metrics.jsonl: {} lines; last: {}",
                m.len(),
                serde_json::to_string(last)?
            );
        }
    }
    let cks = run.checkpoints()?;
    println!("checkpoints: {}", cks.len());
    for c in &cks {
        match LoadedCheckpoint::read(c) {
            Ok(l) => println!("  {} (iteration {})", c.display(), l.meta.iteration),
            Err(e) => println!("  {} (unreadable: {e})", c.display()),
        }
    }
    for f in [
        "model.safetensors",
        "encoder.safetensors",
        "encoder.toml",
        "eval.json",
    ] {
        println!(
            "{f}: {}",
            if p.join(f).exists() {
                "present"
            } else {
                "missing"
            }
        );
    }
    print_checkpoint(&ck);
    // The architecture, when the run's model opens (a checkpoint alone has no config).
    if let Ok(model) = run.open_model(1) {
        println!("encoders:");
        for line in model.describe_encoders() {
            println!("  {line}");
        }
    }
    Ok(())
}

fn print_checkpoint(ck: &LoadedCheckpoint) {
    println!(
        "{}: iteration {}, adam step {}, {} non-finite steps skipped, {:.1} s of training",
        ck.path.display(),
        ck.meta.iteration,
        ck.meta.adam_step,
        ck.meta.nonfinite_total,
        ck.meta.wall_s
    );
    let shapes = ck.tensor_shapes();
    let params: usize = shapes
        .iter()
        .filter(|(n, _)| !n.starts_with("adam."))
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    println!("  {} tensors, {} parameters", shapes.len(), params);
    for (n, s) in shapes.iter().filter(|(n, _)| !n.starts_with("adam.")) {
        println!("  {n} {s:?}");
    }
}

fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let shape_s = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_s}, }}");
    let total = 10 + h.len() + 1;
    h.push_str(&" ".repeat((64 - total % 64) % 64));
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out
}

pub(crate) fn write_npy_f32(path: &Path, data: &[f32], shape: &[usize]) -> Result<()> {
    let mut b = npy_header("<f4", shape);
    for v in data {
        b.extend_from_slice(&v.to_le_bytes());
    }
    checkpoint::write_atomic(path, &b)?;
    Ok(())
}

fn write_npy_i64(path: &Path, data: &[u32]) -> Result<()> {
    let mut b = npy_header("<i8", &[data.len()]);
    for &v in data {
        b.extend_from_slice(&(v as i64).to_le_bytes());
    }
    checkpoint::write_atomic(path, &b)?;
    Ok(())
}
