//! The memory a training step says it will need ([`TrainStep::memory_plan`]) against what
//! building it really allocates, counted by a global allocator (in its own test binary, so the
//! allocator sees only this file's work), over every objective and critic layout. And settings
//! that ask for more than any machine has are refused before anything is allocated.

use mib::estimators::{CriticKind, EstimatorKind};
use mib::objectives::{
    AdamConfig, EncoderConfig, EncoderNorm, EncoderPool, ModelConfig, ObjectiveKind, TrainStep,
};
use mib::MibRng;
use rand::SeedableRng;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// One measurement at a time: the counters are shared by the whole test binary.
static SERIAL: Mutex<()> = Mutex::new(());

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // counted as a new block held beside the old one until the copy is done
        let now = LIVE.fetch_add(new_size, Ordering::Relaxed) + new_size;
        PEAK.fetch_max(now, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static A: Counting = Counting;

/// (bytes the step holds once built, bytes at the peak of building it, bytes planned).
fn measure(
    cfg: &ModelConfig,
    in_dims: &[usize],
    n_classes: usize,
    batch: usize,
) -> (u128, u128, u128) {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let plan = TrainStep::memory_plan(cfg, in_dims, n_classes, batch).total();
    let mut rng = MibRng::seed_from_u64(0);
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let step = TrainStep::new(
        cfg,
        &AdamConfig::default(),
        in_dims,
        n_classes,
        batch,
        &mut rng,
    )
    .expect("a small step builds");
    let held = LIVE.load(Ordering::Relaxed) - before;
    let peak = PEAK.load(Ordering::Relaxed) - before;
    drop(step);
    (held as u128, peak as u128, plan)
}

fn model(objective: ObjectiveKind) -> ModelConfig {
    ModelConfig {
        objective,
        encoder_hidden: vec![96, 64],
        critic_hidden: vec![48, 32],
        decoder_hidden: vec![80],
        z_dim: 12,
        ..ModelConfig::default()
    }
}

#[test]
fn the_plan_covers_what_a_step_allocates_and_little_more() {
    let mut cases: Vec<(String, ModelConfig, Vec<usize>, usize)> = Vec::new();
    for obj in [
        ObjectiveKind::Mib,
        ObjectiveKind::MvInfomax,
        ObjectiveKind::Infomax,
        ObjectiveKind::Vae,
        ObjectiveKind::Supervised,
    ] {
        let mut m = model(obj);
        m.shared_encoder = !obj.is_multi_view();
        for (critic, est) in [
            (CriticKind::Mlp, EstimatorKind::Jsd),
            (CriticKind::Mlp, EstimatorKind::InfoNce),
            (CriticKind::Separable, EstimatorKind::InfoNce),
        ] {
            if obj == ObjectiveKind::Infomax && critic == CriticKind::Separable {
                continue; // InfoMax's critic reads a view and a code of different widths
            }
            let mut m = m.clone();
            m.critic = critic;
            m.estimator = est;
            cases.push((format!("{obj:?} {critic:?} {est:?}"), m, vec![40, 30], 48));
        }
    }
    // K = 3 views (summed critic gradients), a shared encoder, layer norm, a projection head
    let mut m = model(ObjectiveKind::Mib);
    m.shared_encoder = false;
    cases.push(("mib 3 views".into(), m.clone(), vec![40, 30, 20], 32));
    m.shared_encoder = true;
    m.encoder_norm = EncoderNorm::Layer;
    cases.push((
        "mib shared, layer norm".into(),
        m.clone(),
        vec![40, 40, 40],
        32,
    ));
    m.critic = CriticKind::Separable;
    m.projection = vec![64, 16];
    cases.push(("mib projection".into(), m, vec![40, 40], 64));
    // conv encoders: shared and per view, with channel norms and a layer-normalised head
    for (shared, norm, pool) in [
        (true, false, EncoderPool::Flatten),
        (false, true, EncoderPool::Flatten),
        (true, true, EncoderPool::Mean),
    ] {
        let mut m = model(ObjectiveKind::Mib);
        let mut enc = EncoderConfig::conv(vec![8, 16], [2, 6, 5]);
        enc.strides = vec![1, 2];
        enc.norm = norm;
        enc.pool = pool.clone();
        m.encoder = Some(enc);
        m.shared_encoder = shared;
        if norm {
            m.encoder_norm = EncoderNorm::Layer;
        }
        cases.push((
            format!("mib conv, shared {shared}, norm {norm}, pool {pool:?}"),
            m,
            vec![60, 60],
            48,
        ));
    }

    for (name, cfg, dims, batch) in cases {
        let (held, peak, plan) = measure(&cfg, &dims, 5, batch);
        eprintln!("{name}: held {held} B, peak {peak} B, planned {plan} B");
        // The plan counts the buffers; names, shapes and small bookkeeping are not in it.
        let slack = 16 * 1024;
        assert!(
            plan + slack >= peak,
            "{name}: planned {plan} B, building peaked at {peak} B"
        );
        assert!(
            plan <= held + held / 4 + slack,
            "{name}: planned {plan} B for a step that holds {held} B"
        );
    }
}

#[test]
fn settings_beyond_any_machine_are_refused_naming_them() {
    // (serialised with the measurements, whose counters this test's allocations would disturb)
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let mut base = model(ObjectiveKind::Mib);
    base.shared_encoder = false;
    let mut wide = base.clone();
    wide.encoder_hidden = vec![1 << 40];
    let mut z = base.clone();
    z.z_dim = 1 << 40;
    let mut pairs = base.clone();
    pairs.critic = CriticKind::Mlp;
    pairs.estimator = EstimatorKind::InfoNce;
    let mut critic = base.clone();
    critic.critic_hidden = vec![1 << 40];
    // one view's own dense widths ([model.encoders.1] hidden) are named, not encoder_hidden's
    let mut per_view = base.clone();
    let mut table: mib::objectives::EncoderConfig = toml::from_str("kind = \"mlp\"").unwrap();
    table.hidden = Some(vec![1 << 40]);
    per_view.encoders.insert("1".into(), table);
    let mut decoder = model(ObjectiveKind::Vae);
    decoder.shared_encoder = true;
    decoder.decoder_hidden = vec![1 << 40];
    for (cfg, batch, key) in [
        (wide, 64, "model.encoder_hidden"),
        (per_view, 64, "model.encoders.1.hidden"),
        (z, 64, "model.z_dim"),
        (pairs, 1 << 22, "train.batch_size"),
        (critic, 64, "model.critic_hidden"),
        (decoder, 64, "model.decoder_hidden"),
    ] {
        let mut rng = MibRng::seed_from_u64(0);
        let e = TrainStep::new(&cfg, &AdamConfig::default(), &[40, 30], 0, batch, &mut rng)
            .expect_err("refused");
        let msg = e.to_string();
        assert!(msg.contains(&format!("`{key}`")), "{key}: {msg}");
        // refused by the plan, before any buffer (not by a failed allocation)
        assert!(
            msg.contains("would need") && msg.contains("available"),
            "{msg}"
        );
    }
}
