//! The train/test splits a config names, and seeded splitting of files without a fixed split.

use std::path::PathBuf;
use std::sync::Arc;

use rand::SeedableRng;

use super::{DatasetSplits, MultiViewDataset};
use crate::config::TrainConfig;
use crate::train::stream_seed;
use crate::{MibRng, Result};

/// Loads the data a config names: a named dataset's train and test splits, or `npy` views split
/// into train and test by a seeded permutation (`data.test_fraction` held out).
pub fn load_splits(cfg: &TrainConfig) -> Result<DatasetSplits> {
    let d = &cfg.data;
    if d.dataset == "npy" {
        if d.views.is_empty() {
            return Err(crate::Error::config(
                "data.views",
                "[]",
                "dataset `npy` needs the paths of one .npy file per view (--views a.npy,b.npy)",
            ));
        }
        let paths: Vec<PathBuf> = d.views.iter().map(PathBuf::from).collect();
        let incomplete = !d.missing.is_none() || !d.present.is_empty() || !d.ids.is_empty();
        if incomplete {
            // views with their own ids are aligned in memory
            let map = if d.ids.is_empty() {
                d.memory_map
            } else {
                super::MemoryMap::Never
            };
            if let Some((arrays, targets)) =
                super::mapped::open_views(&paths, d.labels.as_deref(), map)?
            {
                let masks = super::missing::read_masks(&paths, &d.present)?;
                let names: Vec<String> = paths.iter().map(|p| super::npz::view_name(p)).collect();
                let present = super::missing::mapped_presence(&arrays, &names, d.missing, &masks)?;
                let (perm, n_test) =
                    split_permutation(arrays[0].rows(), d.test_fraction, stream_seed(cfg.seed, 4));
                return super::mapped::mapped_splits(
                    &paths,
                    arrays,
                    targets,
                    d.labels.as_deref(),
                    &perm,
                    n_test,
                    present,
                );
            }
            let all = super::load_npy_views_ids(
                &paths,
                d.labels.as_deref(),
                d.missing,
                &d.present,
                &d.ids,
            )?;
            return Ok(split_seeded(
                &all,
                d.test_fraction,
                stream_seed(cfg.seed, 4),
            ));
        }
        if let Some((arrays, targets)) =
            super::mapped::open_views(&paths, d.labels.as_deref(), d.memory_map)?
        {
            let (perm, n_test) =
                split_permutation(arrays[0].rows(), d.test_fraction, stream_seed(cfg.seed, 4));
            return super::mapped::mapped_splits(
                &paths,
                arrays,
                targets,
                d.labels.as_deref(),
                &perm,
                n_test,
                None,
            );
        }
        let all = super::load_npy_views(&paths, d.labels.as_deref())?;
        return Ok(split_seeded(
            &all,
            d.test_fraction,
            stream_seed(cfg.seed, 4),
        ));
    }
    let views = if d.dataset == "mfeat" && !d.views.is_empty() {
        Some(d.views.as_slice())
    } else {
        None
    };
    super::load_named(&d.dataset, d.data_dir.as_deref(), views)
}

/// The seeded permutation of `n` rows that splits them (test rows first) and the number of test
/// rows: `round(n * test_fraction)`, at least one and leaving at least one for training.
fn split_permutation(n: usize, test_fraction: f64, seed: u64) -> (Vec<usize>, usize) {
    use rand::seq::SliceRandom;
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut MibRng::seed_from_u64(seed));
    let n_test = ((n as f64) * test_fraction)
        .round()
        .clamp(1.0, (n.max(2) - 1) as f64) as usize;
    (idx, n_test.min(n))
}

/// Splits a dataset into train and test by a seeded permutation.
pub fn split_seeded(ds: &MultiViewDataset, test_fraction: f64, seed: u64) -> DatasetSplits {
    let (idx, n_test) = split_permutation(ds.len(), test_fraction, seed);
    let (test_idx, train_idx) = idx.split_at(n_test);
    DatasetSplits {
        train: Arc::new(ds.subset(train_idx)),
        test: ds.subset(test_idx),
        train_rows: None,
        test_rows: None,
    }
}
