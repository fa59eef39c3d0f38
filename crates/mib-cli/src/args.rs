//! Flags shared by several subcommands.

use std::path::PathBuf;

use clap::Args;
use mib::config::TrainConfig;
use mib::data::{MemoryMap, MissingRows, ScalingChoice, ScalingConfig, ScalingKind};

/// Flags that choose the data, shared by `mib train` and `mib embed`.
#[derive(Args, Debug, Default, Clone)]
pub struct DataArgs {
    /// Dataset: mfeat (embedded), fashion-mnist, mnist, or npy (with --views).
    #[arg(long)]
    dataset: Option<String>,
    /// Views: for mfeat, names (e.g. pix,fou); otherwise .npy files or arrays of an .npz archive
    /// (data.npz:photos), one per view (implies --dataset npy). Stored as f4, f2, f8, u1, i1, ...
    #[arg(long, value_delimiter = ',')]
    views: Option<Vec<String>>,
    /// Labels for .npy views: class indices (integer .npy of shape [n]) or multi-hot targets (0/1
    /// .npy of shape [n, n_labels], evaluated with the multi-label probe).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Folder holding the dataset files (IDX); default $MIB_DATA, then /usr/share/datasets/<name>.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Input scaling when training: auto, none, standardize, minmax, or one per view (e.g.
    /// minmax,standardize). Fitted on the training split and saved with the model, which applies
    /// it whenever it embeds rows (embed and eval ignore this flag).
    #[arg(long, value_delimiter = ',')]
    scaling: Option<Vec<String>>,
    /// Memory-map .npy views and read their rows as training goes (for views larger than
    /// memory): auto (when their f32 copy would exceed 1 GiB), always, never.
    #[arg(long, value_parser = ["auto", "always", "never"])]
    memory_map: Option<String>,
    /// Missing views (docs/missing-views.md): `nan-rows` reads a row that is entirely NaN as
    /// "this item lacks this view"; `none` (default): every NaN is an error.
    #[arg(long, value_parser = ["none", "nan-rows"])]
    missing: Option<String>,
    /// Presence masks, one .npy per view in the order of --views (n booleans or 0/1; 1 = the
    /// item has the view); leave an entry empty (or `-`) for a view with every item
    /// (a.npy,,c.npy).
    #[arg(long, value_delimiter = ',')]
    present: Option<Vec<String>>,
    /// Item ids, one file per view in the order of --views (a text file with one id per line,
    /// or an .npy of integers), naming the rows of its view: views may then have different
    /// rows, and mib aligns them on the union of the ids (an item a view lacks is a missing
    /// view; docs/missing-views.md). Not with --present.
    #[arg(long, value_delimiter = ',')]
    ids: Option<Vec<PathBuf>>,
}

impl DataArgs {
    /// Writes the flags that were given into `cfg`; errors on an unknown scaling kind.
    pub fn apply(&self, cfg: &mut TrainConfig) -> mib::Result<()> {
        if let Some(s) = &self.scaling {
            cfg.data.scaling = parse_scaling(s)?;
        }
        if let Some(m) = &self.memory_map {
            cfg.data.memory_map = match m.as_str() {
                "always" => MemoryMap::Always,
                "never" => MemoryMap::Never,
                _ => MemoryMap::Auto,
            };
        }
        if let Some(d) = &self.dataset {
            cfg.data.dataset = d.clone();
        }
        if let Some(v) = &self.views {
            if v.iter()
                .any(|s| s.ends_with(".npy") || s.contains(".npz:") || s.ends_with(".npz"))
            {
                cfg.data.dataset = "npy".into();
            }
            cfg.data.views = v.clone();
        }
        if let Some(l) = &self.labels {
            cfg.data.labels = Some(l.clone());
        }
        if let Some(d) = &self.data_dir {
            cfg.data.data_dir = Some(d.clone());
        }
        if let Some(m) = &self.missing {
            cfg.data.missing = if m == "nan-rows" {
                MissingRows::NanRows
            } else {
                MissingRows::None
            };
        }
        if let Some(p) = &self.present {
            cfg.data.present = p
                .iter()
                .map(|s| PathBuf::from(if s == "-" { "" } else { s.as_str() }))
                .collect();
        }
        if let Some(i) = &self.ids {
            cfg.data.ids = i.clone();
        }
        Ok(())
    }
}

/// `--scaling` values: one choice for every view, or one kind per view.
fn parse_scaling(values: &[String]) -> mib::Result<ScalingConfig> {
    let bad = |v: &str| {
        mib::Error::config(
            "--scaling",
            v,
            "expected auto, none, standardize or minmax (or one of the last three per view)",
        )
    };
    let kind = |v: &str| match v {
        "none" => Ok(ScalingKind::None),
        "standardize" => Ok(ScalingKind::Standardize),
        "minmax" => Ok(ScalingKind::Minmax),
        _ => Err(bad(v)),
    };
    match values {
        [one] if one == "auto" => Ok(ScalingConfig::One(ScalingChoice::Auto)),
        [one] => Ok(ScalingConfig::One(match kind(one)? {
            ScalingKind::None => ScalingChoice::None,
            ScalingKind::Standardize => ScalingChoice::Standardize,
            ScalingKind::Minmax => ScalingChoice::Minmax,
        })),
        many => Ok(ScalingConfig::PerView(
            many.iter().map(|v| kind(v)).collect::<mib::Result<_>>()?,
        )),
    }
}
