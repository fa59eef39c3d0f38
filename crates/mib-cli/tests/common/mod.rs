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

/// The `.npy` bytes of a row-major f32 array of `shape` (the library's own writer).
#[allow(dead_code)]
pub fn npy_f32(shape: &[usize], data: &[f32]) -> Vec<u8> {
    mib::data::npy::encode_npy(&mib::data::RawArray {
        shape: shape.to_vec(),
        data: mib::data::Elements::F32(data.to_vec()),
    })
    .unwrap()
}

/// The `.npy` bytes of a 1-D i64 array (labels).
#[allow(dead_code)]
pub fn npy_i64(data: &[i64]) -> Vec<u8> {
    mib::data::npy::encode_npy(&mib::data::RawArray {
        shape: vec![data.len()],
        data: mib::data::Elements::I64(data.to_vec()),
    })
    .unwrap()
}

/// Runs the `mib` binary with `args` (no backtraces).
#[allow(dead_code)]
pub fn mib(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mib"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap()
}

/// Runs `mib args`, asserting success (stderr in the message otherwise).
#[allow(dead_code)]
pub fn ok(args: &[&str]) -> std::process::Output {
    let out = mib(args);
    assert!(
        out.status.success(),
        "mib {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `mib args`, asserting it fails (no panic) with one line on stderr holding every needle.
#[allow(dead_code)]
pub fn one_line_error(args: &[&str], needles: &[&str]) {
    let out = mib(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "mib {args:?} should fail: {err}");
    assert_ne!(out.status.code(), Some(101), "panicked: {err}");
    let lines: Vec<_> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "mib {args:?}: expected one line, got: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "mib {args:?}: `{n}` not in: {err}");
    }
}
