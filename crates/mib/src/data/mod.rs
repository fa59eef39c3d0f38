//! STUB
#![allow(missing_docs, unused_variables)]
use crate::{Matrix, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
pub struct MultiViewDataset {
    pub views: Vec<Matrix>,
    pub labels: Option<Vec<u32>>,
    pub n_classes: usize,
    pub view_names: Vec<String>,
    pub image_shape: Option<(usize, usize)>,
}
impl MultiViewDataset {
    pub fn len(&self) -> usize {
        self.views[0].rows
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn view_dims(&self) -> Vec<usize> {
        self.views.iter().map(|v| v.cols).collect()
    }
}
pub struct DatasetSplits {
    pub train: MultiViewDataset,
    pub test: MultiViewDataset,
}
pub fn load_named(
    name: &str,
    data_dir: Option<&Path>,
    views: Option<&[String]>,
) -> Result<DatasetSplits> {
    todo!()
}
pub fn load_npy_views(paths: &[PathBuf], labels: Option<&Path>) -> Result<MultiViewDataset> {
    todo!()
}
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PairingConfig {
    Aligned,
    SameClass,
}
pub struct Batch {
    pub iteration: u64,
    pub rows: usize,
    pub views: [Vec<f32>; 2],
    pub labels: Vec<u32>,
}
pub struct BatchProducer;
impl BatchProducer {
    pub fn new(
        ds: Arc<MultiViewDataset>,
        pairing: PairingConfig,
        views: [usize; 2],
        batch_size: usize,
        seed: u64,
        threads: usize,
    ) -> Result<Self> {
        Ok(BatchProducer)
    }
    pub fn iter_from(&self, start: u64) -> std::vec::IntoIter<Batch> {
        vec![].into_iter()
    }
    pub fn batches_per_epoch(&self) -> u64 {
        1
    }
}
