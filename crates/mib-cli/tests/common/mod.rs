//! Helpers shared by the CLI integration tests.

use std::path::PathBuf;

/// A fresh, empty temporary folder for test `name` of this process.
pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mib-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A small MIB config on the embedded mfeat views (32-wide encoders and critic, z_dim 8) with
/// `seed`, followed by `rest` (the `[optim]`, `[beta]` and `[train]` sections a test needs).
#[allow(dead_code)] // not every test binary that includes this module uses it
pub fn small_mib_config(seed: u64, rest: &str) -> String {
    format!(
        r#"seed = {seed}
[data]
dataset = "mfeat"
views = ["pix", "fou"]
pairing = {{ kind = "aligned" }}
[model]
objective = "mib"
encoder_hidden = [32]
z_dim = 8
shared_encoder = false
critic_hidden = [32]
{rest}"#
    )
}
