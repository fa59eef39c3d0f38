//! Checkpoints: parameters, optimizer state, iteration and RNG state in one safetensors file,
//! written atomically (write to a temporary file, fsync, rename, fsync the folder) so that a kill at
//! any moment leaves either the previous checkpoint or the new one, never a torn file.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::objectives::TrainStep;
use crate::train::fit::IntervalSums;
use crate::{Error, MibRng, Result};

/// What a checkpoint records besides the tensors (stored in the safetensors metadata).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CheckpointMeta {
    /// Iterations completed when it was written.
    pub iteration: u64,
    /// Adam's step count.
    pub adam_step: u64,
    /// Non-finite steps skipped so far.
    pub nonfinite_total: u64,
    /// Training wall time so far, in seconds.
    pub wall_s: f64,
    /// The noise RNG's state, so that a resumed run draws the same noise.
    pub rng: MibRng,
    /// The input scaling of each training view slot (empty: none; older checkpoints have none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scaling: crate::data::scaling::SlotScaling,
    /// The sums of the logging interval it was written in, when that is not a log line's
    /// iteration (a stop between two lines); empty otherwise and in older checkpoints.
    #[serde(default, skip_serializing_if = "IntervalSums::is_empty")]
    pub interval: IntervalSums,
    /// Non-finite steps in a row up to it (0 in older checkpoints).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub nonfinite_streak: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Name of the checkpoint file for `iteration` inside `checkpoints/`.
pub fn checkpoint_name(iteration: u64) -> String {
    format!("ckpt-{iteration:010}.safetensors")
}

/// Name of the checkpoint kept when the schedule passes `beta` (at `iteration`), inside
/// `checkpoints/`: `beta-1e-3-0000001500.safetensors`. Never rotated away.
pub fn beta_checkpoint_name(beta: f64, iteration: u64) -> String {
    format!("beta-{beta:e}-{iteration:010}.safetensors")
}

/// A checkpoint kept on the beta path ([`beta_checkpoint_name`]).
#[derive(Clone, Debug, PartialEq)]
pub struct BetaCheckpoint {
    /// Its file.
    pub path: PathBuf,
    /// The beta it was asked for (`train.checkpoint_at_beta`).
    pub beta: f64,
    /// Iterations completed when it was written.
    pub iteration: u64,
}

/// Reads a [`beta_checkpoint_name`] back: `(beta, iteration)`.
pub fn parse_beta_checkpoint_name(name: &str) -> Option<(f64, u64)> {
    let stem = name.strip_prefix("beta-")?.strip_suffix(".safetensors")?;
    let (beta, it) = stem.rsplit_once('-')?;
    Some((beta.parse().ok()?, it.parse().ok()?))
}

/// The beta-path checkpoints in `dir`, in iteration order.
pub fn list_beta_checkpoints(dir: &Path) -> Result<Vec<BetaCheckpoint>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("listing", dir, e)),
    };
    for entry in rd {
        let p = entry.map_err(|e| Error::io("listing", dir, e))?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some((beta, iteration)) = parse_beta_checkpoint_name(name) {
            out.push(BetaCheckpoint {
                path: p,
                beta,
                iteration,
            });
        }
    }
    out.sort_by(|a, b| {
        a.iteration
            .cmp(&b.iteration)
            .then(a.beta.total_cmp(&b.beta))
    });
    Ok(out)
}

/// Writes a checkpoint of `model` kept on the beta path (`beta`) into `dir`; no rotation.
pub fn save_beta_checkpoint(
    dir: &Path,
    model: &TrainStep,
    meta: &CheckpointMeta,
    beta: f64,
) -> Result<PathBuf> {
    fs::create_dir_all(dir).map_err(|e| Error::io("creating checkpoint folder", dir, e))?;
    let mut md = HashMap::new();
    md.insert("mib.checkpoint".to_string(), serde_json::to_string(meta)?);
    let bytes = serialize_tensors(&model.tensors(), md)?;
    let path = dir.join(beta_checkpoint_name(beta, meta.iteration));
    write_atomic(&path, &bytes)?;
    Ok(path)
}

/// Serialises named `f32` tensors with string metadata into safetensors bytes.
pub fn serialize_tensors(
    tensors: &[(String, Vec<usize>, &[f32])],
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, d)| d.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let mut views = Vec::with_capacity(tensors.len());
    for ((name, shape, _), b) in tensors.iter().zip(&bytes) {
        views.push((name.clone(), TensorView::new(Dtype::F32, shape.clone(), b)?));
    }
    Ok(safetensors::serialize(views, &Some(metadata))?)
}

/// Writes `bytes` to `path` atomically: temporary file in the same folder, fsync, rename, fsync folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    {
        let mut f = File::create(&tmp).map_err(|e| Error::io("creating", &tmp, e))?;
        f.write_all(bytes)
            .map_err(|e| Error::io("writing", &tmp, e))?;
        f.sync_all().map_err(|e| Error::io("syncing", &tmp, e))?;
    }
    fs::rename(&tmp, path).map_err(|e| Error::io("replacing", path, e))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes a checkpoint of `model` into `dir` (the run's `checkpoints/` folder) and removes all
/// but the newest `keep` checkpoints. Returns the new file's path.
pub fn save_checkpoint(
    dir: &Path,
    model: &TrainStep,
    meta: &CheckpointMeta,
    keep: usize,
) -> Result<PathBuf> {
    fs::create_dir_all(dir).map_err(|e| Error::io("creating checkpoint folder", dir, e))?;
    let mut md = HashMap::new();
    md.insert("mib.checkpoint".to_string(), serde_json::to_string(meta)?);
    let bytes = serialize_tensors(&model.tensors(), md)?;
    let path = dir.join(checkpoint_name(meta.iteration));
    write_atomic(&path, &bytes)?;
    prune(dir, keep)?;
    Ok(path)
}

/// The checkpoint files in `dir`, oldest first.
pub fn list_checkpoints(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("listing", dir, e)),
    };
    for entry in rd {
        let p = entry.map_err(|e| Error::io("listing", dir, e))?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("ckpt-") && name.ends_with(".safetensors") {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

fn prune(dir: &Path, keep: usize) -> Result<()> {
    let all = list_checkpoints(dir)?;
    if all.len() > keep {
        for p in &all[..all.len() - keep] {
            fs::remove_file(p).map_err(|e| Error::io("removing old checkpoint", p, e))?;
        }
    }
    Ok(())
}

/// A checkpoint read from disk: its metadata and its tensors.
pub struct LoadedCheckpoint {
    /// Where it was read from.
    pub path: PathBuf,
    /// Iteration, optimizer step, RNG state.
    pub meta: CheckpointMeta,
    bytes: Vec<u8>,
}

impl LoadedCheckpoint {
    /// Reads and checks a checkpoint file (header, metadata, every tensor's dtype).
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = fs::read(path).map_err(|e| Error::io("reading checkpoint", path, e))?;
        Self::from_bytes(bytes, path)
    }

    /// Checks checkpoint `bytes` as [`LoadedCheckpoint::read`] does; `path` names them in errors.
    pub fn from_bytes(bytes: Vec<u8>, path: &Path) -> Result<Self> {
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
        let raw = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get("mib.checkpoint"))
            .ok_or_else(|| {
                Error::format(path, "no `mib.checkpoint` metadata: not a mib checkpoint")
            })?;
        let meta: CheckpointMeta = serde_json::from_str(raw)
            .map_err(|e| Error::format(path, format!("bad checkpoint metadata: {e}")))?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(Error::format(path, format!("tensor `{name}` is not f32")));
            }
        }
        Ok(LoadedCheckpoint {
            path: path.to_path_buf(),
            meta,
            bytes,
        })
    }

    /// Tensor names with their shapes.
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let st = SafeTensors::deserialize(&self.bytes).expect("validated in read");
        let mut v: Vec<_> = st
            .tensors()
            .into_iter()
            .map(|(n, t)| (n, t.shape().to_vec()))
            .collect();
        v.sort();
        v
    }

    /// Loads the tensors into `model` (parameters and Adam state).
    pub fn restore(&self, model: &mut TrainStep) -> Result<()> {
        restore_tensors(&self.bytes, &self.path, model, self.meta.adam_step)
    }
}

/// Loads the `f32` tensors in safetensors `bytes` (read from `path`) into `model`.
pub fn restore_tensors(
    bytes: &[u8],
    path: &Path,
    model: &mut TrainStep,
    adam_step: u64,
) -> Result<()> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
    let get = |name: &str| -> Option<(Vec<usize>, Vec<f32>)> {
        let t = st.tensor(name).ok()?;
        let data = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Some((t.shape().to_vec(), data))
    };
    model.load_tensors(&get, adam_step).map_err(|e| match e {
        Error::Format { .. } | Error::Io { .. } => e,
        other => Error::format(path, other.to_string()),
    })
}

/// The newest checkpoint in `dir` that reads cleanly; corrupt or torn files are skipped (and
/// reported through `skipped`), never deleted.
pub fn latest_valid(
    dir: &Path,
    skipped: &mut Vec<(PathBuf, String)>,
) -> Result<Option<LoadedCheckpoint>> {
    for p in list_checkpoints(dir)?.into_iter().rev() {
        match LoadedCheckpoint::read(&p) {
            Ok(c) => return Ok(Some(c)),
            Err(e) => skipped.push((p, e.to_string())),
        }
    }
    Ok(None)
}
