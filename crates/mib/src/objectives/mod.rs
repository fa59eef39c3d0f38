//! STUB (lead's placeholder until the compute core lands).
#![allow(missing_docs, unused_variables)]
use crate::{MibRng, Result};
use serde::{Deserialize, Serialize};
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct ModelConfig {
    pub z_dim: usize,
    pub objective: ObjectiveKind,
}
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub enum ObjectiveKind {
    #[default]
    Mib,
    Supervised,
}
impl ModelConfig {
    pub fn validate(&self) -> Result<()> {
        Ok(())
    }
}
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct AdamConfig {
    pub lr: f32,
}
impl AdamConfig {
    pub fn validate(&self) -> Result<()> {
        Ok(())
    }
}
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct StepStats {
    pub loss: f32,
    pub mi_surrogate: f32,
    pub mi_estimate: f32,
    pub skl: f32,
    pub rate: f32,
    pub distortion: f32,
    pub cross_entropy: f32,
    pub nonfinite: bool,
}
pub struct TrainStep {
    w: Vec<f32>,
}
impl TrainStep {
    pub fn new(
        cfg: &ModelConfig,
        adam: &AdamConfig,
        in_dims: &[usize],
        n_classes: usize,
        max_batch: usize,
        rng: &mut MibRng,
    ) -> Result<Self> {
        Ok(Self { w: vec![0.0; 4] })
    }
    pub fn step(
        &mut self,
        views: &[&[f32]],
        labels: Option<&[u32]>,
        batch: usize,
        beta: f32,
        rng: &mut MibRng,
    ) -> Result<StepStats> {
        Ok(StepStats::default())
    }
    pub fn encode_mean(
        &mut self,
        view: usize,
        x: &[f32],
        rows: usize,
        out: &mut [f32],
    ) -> Result<()> {
        Ok(())
    }
    pub fn z_dim(&self) -> usize {
        4
    }
    pub fn tensors(&self) -> Vec<(String, Vec<usize>, &[f32])> {
        vec![("w".into(), vec![4], &self.w)]
    }
    pub fn adam_step_count(&self) -> u64 {
        0
    }
    pub fn load_tensors(
        &mut self,
        get: &dyn Fn(&str) -> Option<(Vec<usize>, Vec<f32>)>,
        adam_step: u64,
    ) -> Result<()> {
        Ok(())
    }
}
