//! A training config TOML: parse and validate; a config that validates must also serialise to
//! TOML that parses and validates again (it is saved as the run's config.toml and read on resume).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mib::config::TrainConfig;

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
});
