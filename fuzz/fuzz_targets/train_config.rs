//! A training config TOML: parse and validate; a config that validates must also serialise to
//! TOML that parses and validates again (it is saved as the run's config.toml and read on resume).
//! Then the memory its training step would take: the plan must not overflow or panic for any
//! setting, a plan over a small budget is refused naming a setting, and a step the plan admits
//! builds (so no setting can abort the process on its way to training).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mib::config::TrainConfig;
use mib::memory::Available;
use mib::objectives::TrainStep;
use mib::MibRng;
use rand::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cfg) = TrainConfig::from_toml_str(text, "fuzz.toml") else {
        return;
    };
    if cfg.validate().is_err() {
        return;
    }
    let saved = cfg.to_toml_string().expect("a valid config serialises");
    let back = TrainConfig::from_toml_str(&saved, "saved config.toml")
        .unwrap_or_else(|e| panic!("saved config does not parse: {e}\n{saved}"));
    back.validate()
        .unwrap_or_else(|e| panic!("saved config does not validate: {e}\n{saved}"));

    let dims = [24usize, 16, 24];
    let plan = TrainStep::memory_plan(&cfg.model, &dims, 3, cfg.train.batch_size);
    let budget = Available {
        bytes: 64 << 20,
        source: "fuzz budget",
    };
    match plan.check_against("the training step", Some(budget)) {
        Err(e) => assert!(e.to_string().contains("would need"), "{e}"),
        Ok(()) => {
            let mut rng = MibRng::seed_from_u64(0);
            // may be refused for other reasons (views the objective cannot take), never abort
            let _ = TrainStep::new(&cfg.model, &cfg.optim, &dims, 3, cfg.train.batch_size, &mut rng);
        }
    }
});
