//! Checkpoint and model files (safetensors): check as `LoadedCheckpoint::read` does, list the
//! tensors, restore into a small model (shapes checked against it), and load as a final model.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mib::objectives::{AdamConfig, ModelConfig, ObjectiveKind, TrainStep};
use mib::train::checkpoint::LoadedCheckpoint;
use mib::MibRng;
use rand::SeedableRng;
use std::path::Path;

/// The model of the seed checkpoint `scripts/fuzz.sh` trains (mfeat pix/fou, 8 wide).
fn model() -> TrainStep {
    let cfg = ModelConfig {
        objective: ObjectiveKind::Mib,
        encoder_hidden: vec![8],
        z_dim: 4,
        shared_encoder: false,
        critic_hidden: vec![8],
        ..ModelConfig::default()
    };
    TrainStep::new(
        &cfg,
        &AdamConfig::default(),
        &[240, 76],
        0,
        8,
        &mut MibRng::seed_from_u64(0),
    )
    .unwrap()
}

thread_local! {
    /// Built once: restoring checks shapes and names only, so the values a previous input left
    /// change nothing for the next (and building per input would cost most of the time).
    static MODEL: std::cell::RefCell<TrainStep> = std::cell::RefCell::new(model());
}

fuzz_target!(|data: &[u8]| {
    let p = Path::new("fuzz.safetensors");
    MODEL.with(|m| {
        let mut m = m.borrow_mut();
        if let Ok(ck) = LoadedCheckpoint::from_bytes(data.to_vec(), p) {
            let _ = ck.tensor_shapes();
            let _ = ck.restore(&mut m);
        }
        let _ = m.load_safetensors_bytes(data, p);
    });
});
