//! `mib views`: a PNG grid of original | view 1 | view 2 for a few items.

use anyhow::Context;
use clap::Args;
use mib::augment::{write_views_png, AugmentConfig};
use mib::data::{load_named, load_npy_views, PairingConfig};
use std::path::PathBuf;

/// Flags of `mib views`.
#[derive(Args, Debug)]
pub struct ViewsArgs {
    /// Named dataset: fashion-mnist, mnist or mfeat (its `pix` view).
    #[arg(long, default_value = "fashion-mnist")]
    dataset: String,
    /// Folder of the IDX files (else $MIB_DATA, else /usr/share/datasets/<name>).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// A `.npy` file of images, `[n, h, w]` (grey) or `[n, c, h, w]` (channels shown side by
    /// side), instead of --dataset.
    #[arg(long, conflicts_with = "dataset")]
    npy: Option<PathBuf>,
    /// Number of items (rows of the grid).
    #[arg(long, default_value_t = 8)]
    n: usize,
    /// Seed of the item choice and of the augmentations.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Magnification of each tile.
    #[arg(long, default_value_t = 4)]
    zoom: usize,
    /// Augmentation recipe as JSON (`{"steps": [...]}`); default: the paper's reference recipe.
    #[arg(long)]
    augment: Option<String>,
    /// Output PNG.
    #[arg(long, default_value = "views.png")]
    out: PathBuf,
}

/// Runs `mib views`.
pub fn views(a: ViewsArgs) -> anyhow::Result<()> {
    let (source, ds) = match &a.npy {
        Some(p) => (
            p.display().to_string(),
            std::sync::Arc::new(load_npy_views(std::slice::from_ref(p), None)?),
        ),
        None => {
            let views = (a.dataset == "mfeat").then(|| vec!["pix".to_string()]);
            let splits = load_named(&a.dataset, a.data_dir.as_deref(), views.as_deref())?;
            (a.dataset.clone(), splits.train)
        }
    };
    let augment = match &a.augment {
        Some(j) => serde_json::from_str(j).context("parsing --augment")?,
        None => AugmentConfig::reference(),
    };
    let pairing = PairingConfig::augment(augment);
    write_views_png(&a.out, &ds, &pairing, [0, 0], a.n, a.seed, a.zoom)?;
    println!(
        "wrote {} (original | view 1 | view 2 for {} training items of {source})",
        a.out.display(),
        a.n,
    );
    Ok(())
}
