//! Flags shared by several subcommands.

use std::path::PathBuf;

use clap::Args;
use mib::config::TrainConfig;

/// Flags that choose the data, shared by `mib train` and `mib embed`.
#[derive(Args, Debug, Default, Clone)]
pub struct DataArgs {
    /// Dataset: mfeat (embedded), fashion-mnist, mnist, or npy (with --views).
    #[arg(long)]
    dataset: Option<String>,
    /// Views: for mfeat, names (e.g. pix,fou); otherwise .npy files, one per view (implies --dataset npy).
    #[arg(long, value_delimiter = ',')]
    views: Option<Vec<String>>,
    /// Labels for .npy views (integer .npy).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Folder holding the dataset files (IDX); default $MIB_DATA, then /usr/share/datasets/<name>.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl DataArgs {
    /// Writes the flags that were given into `cfg`.
    pub fn apply(&self, cfg: &mut TrainConfig) {
        if let Some(d) = &self.dataset {
            cfg.data.dataset = d.clone();
        }
        if let Some(v) = &self.views {
            if v.iter().any(|s| s.ends_with(".npy")) {
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
    }
}
