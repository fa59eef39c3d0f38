//! `mib export`: writes a view's encoder as an ONNX file (numbers checked against `mib embed` in
//! python/tests/test_onnx.py with onnxruntime, and by crates/mib/tests/onnx.rs), and bad input
//! (a folder that is not a run, a view the model does not have, a path that cannot be written)
//! gets one error line naming it.

mod common;
use common::{mib, tmpdir};

/// Expects exit status 1 with one stderr line holding every `needles` item.
fn fails_with(args: &[&str], needles: &[&str]) {
    let out = mib(args);
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(out.status.code(), Some(1), "mib {args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "mib {args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "mib {args:?}: `{n}` not in: {err}");
    }
}

#[test]
fn export_writes_onnx_and_names_bad_input() {
    let d = tmpdir("export");
    let cfg = d.join("small.toml");
    std::fs::write(
        &cfg,
        common::small_mib_config(
            3,
            "[train]\niterations = 20\nbatch_size = 32\nthreads = 1\nlog_every = 10\n",
        ),
    )
    .unwrap();
    let run = d.join("run");
    let (cfg_s, run_s) = (cfg.to_str().unwrap(), run.to_str().unwrap());
    let out = mib(&["train", "--config", cfg_s, "--out", run_s, "--quiet"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // by index and by name; the default file goes into the run folder
    let f = d.join("fou.onnx");
    let f_s = f.to_str().unwrap();
    let out = mib(&[
        "export",
        run_s,
        "--view",
        "fou",
        "--out",
        f_s,
        "--output",
        "mean-scale",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&f).unwrap();
    // ModelProto: ir_version (field 1) = 8 first, then producer_name "mib"
    assert_eq!(&bytes[..7], &[0x08, 0x08, 0x12, 0x03, b'm', b'i', b'b']);
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"encoder_v2.layers.0.weight") && has(b"Softplus") && has(b"scale"));
    let out = mib(&["export", run_s, "--format", "onnx", "--view", "0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let default = std::fs::read(run.join("encoder_view0.onnx")).unwrap();
    assert!(!default.windows(8).any(|w| w == b"Softplus"));

    fails_with(
        &["export", d.to_str().unwrap()],
        &["not a run folder", d.to_str().unwrap()],
    );
    fails_with(
        &["export", run_s, "--view", "2"],
        &["--view", "2 training views", "0 (`pix`)", "1 (`fou`)"],
    );
    fails_with(&["export", run_s, "--view", "zer"], &["--view", "zer"]);
    let bad = d.join("no/such/dir/enc.onnx");
    fails_with(
        &["export", run_s, "--out", bad.to_str().unwrap()],
        &["writing ONNX model", bad.to_str().unwrap()],
    );
    let _ = std::fs::remove_dir_all(&d);
}
