//! An experiment TOML: parse, validate and plan (presets resolved by a fixed lookup: `small` is a
//! tiny valid config, `bad` is not TOML, anything else is unknown).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mib::experiment::ExperimentSpec;

const SMALL: &str = r#"
seed = 1
[data]
dataset = "mfeat"
views = ["pix", "fou"]
pairing = { kind = "aligned" }
[model]
objective = "mib"
encoder_hidden = [8]
z_dim = 4
shared_encoder = false
critic_hidden = [8]
[beta]
kind = "exponential"
start = 1e-3
end = 1.0
start_iteration = 10
n_iterations = 20
[train]
iterations = 100
log_every = 10
checkpoint_every = 50
"#;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = ExperimentSpec::from_toml_str(text, "fuzz-experiment.toml") else {
        return;
    };
    let lookup = |name: &str| -> mib::Result<String> {
        match name {
            "small" => Ok(SMALL.to_string()),
            "bad" => Ok("[[[ not toml".to_string()),
            _ => Err(mib::Error::Data(format!("unknown preset {name}"))),
        }
    };
    let _ = spec.plan(None, &lookup);
    let _ = spec.plan(Some(7), &lookup);
});
