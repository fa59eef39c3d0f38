//! Bad input gives one line on stderr naming the problem and a non-zero exit, never a panic.

mod common;
use common::{npy_f32, tmpdir};

use std::process::Command;

/// Runs `mib args`, expects it to exit with status 1 (not a panic's 101 or an abort's 134) and
/// returns its non-empty stderr lines.
fn refused(args: &[&str]) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_mib"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "mib {args:?}: {err}");
    assert!(!err.contains("panicked"), "mib {args:?} panicked: {err}");
    err.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Runs `mib args`, expects failure with one stderr line containing every `needles` item.
fn fails_with(args: &[&str], needles: &[&str]) {
    let lines = refused(args);
    assert_eq!(
        lines.len(),
        1,
        "mib {args:?}: expected one line, got: {lines:?}"
    );
    for n in needles {
        assert!(
            lines[0].contains(n),
            "mib {args:?}: `{n}` not in: {lines:?}"
        );
    }
}

/// Runs `mib args`, expects failure with an error as the last stderr line (after the run's header
/// lines) containing every `needles` item.
fn refused_with(args: &[&str], needles: &[&str]) {
    let lines = refused(args);
    let last = lines.last().map_or("", |l| l.as_str());
    assert!(last.starts_with("error: "), "mib {args:?}: {lines:?}");
    for n in needles {
        assert!(last.contains(n), "mib {args:?}: `{n}` not in: {lines:?}");
    }
}

fn config(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn config_errors_name_the_key() {
    let d = tmpdir("config");
    let out = d.join("out");
    let out = out.to_str().unwrap();
    let c = config(&d, "unknown_key.toml", "seed = 1\nlearning_rate = 3\n");
    fails_with(
        &["train", "--config", &c, "--out", out],
        &["unknown_key.toml", "learning_rate"],
    );
    let c = config(&d, "objective.toml", "[model]\nobjective = \"magic\"\n");
    fails_with(
        &["train", "--config", &c, "--out", out],
        &["objective.toml", "magic"],
    );
    let c = config(
        &d,
        "beta.toml",
        "[beta]\nkind = \"constant\"\nvalue = -0.5\n",
    );
    fails_with(&["train", "--config", &c, "--out", out], &["beta", "-0.5"]);
    let c = config(&d, "lr.toml", "[optim]\nlr = -1.0\n");
    fails_with(&["train", "--config", &c, "--out", out], &["lr", "-1"]);
    let c = config(&d, "iters.toml", "[train]\niterations = 0\n");
    fails_with(
        &["train", "--config", &c, "--out", out],
        &["train.iterations"],
    );
    let c = config(
        &d,
        "ds.toml",
        "[data]\ndataset = \"imagenet\"\npairing = { kind = \"aligned\" }\n",
    );
    fails_with(
        &["train", "--config", &c, "--out", out],
        &["data.dataset", "imagenet"],
    );
    let c = config(
        &d,
        "pool.toml",
        "[model.encoder]\nkind = \"conv\"\nchannels = [4]\npool = \"max\"\n",
    );
    fails_with(
        &["train", "--config", &c, "--out", out],
        &["model.encoder.pool", "max", "flatten, mean"],
    );
    fails_with(
        &["train", "--config", "/nonexistent/x.toml"],
        &["/nonexistent/x.toml"],
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// Settings that ask for more memory than the machine has: refused up front with exit 1 (not
/// killed by an abort, exit 134), naming the setting, the bytes needed and the bytes available.
#[test]
fn settings_beyond_the_machine_are_refused_before_training() {
    let d = tmpdir("memory");
    let out = d.join("out");
    let out = out.to_str().unwrap();
    // the case: a batch of 100,000 on the demo's 1,500 training items
    refused_with(
        &[
            "train",
            "--config",
            "demo",
            "--batch-size",
            "100000",
            "--out",
            out,
        ],
        &["train.batch_size", "100000", "1500 training items"],
    );
    for (name, text, needles) in [
        (
            "wide.toml",
            "[model]\nencoder_hidden = [100000000000]\n",
            &["model.encoder_hidden", "would need", "available"][..],
        ),
        (
            "z.toml",
            "[model]\nz_dim = 1000000000000\n",
            &["model.z_dim", "would need", "available"][..],
        ),
        (
            "pairs.toml",
            "[model]\ncritic = \"mlp\"\nestimator = \"infonce\"\n[train]\nbatch_size = 1400\n",
            &[
                "train.batch_size",
                "batch x batch",
                "would need",
                "available",
            ][..],
        ),
        (
            "critic.toml",
            "[model]\ncritic = \"mlp\"\ncritic_hidden = [100000000000, 8]\n",
            &["model.critic_hidden", "would need"][..],
        ),
    ] {
        let c = config(&d, name, text);
        refused_with(&["train", "--config", &c, "--out", out], needles);
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn data_errors_name_the_file() {
    let d = tmpdir("data");
    let out = d.join("out");
    let out = out.to_str().unwrap();
    // Missing IDX folder: the message says how to get the data.
    fails_with(
        &[
            "train",
            "--config",
            "mib",
            "--dataset",
            "fashion-mnist",
            "--data-dir",
            "/nonexistent/fm",
            "--out",
            out,
        ],
        &["/nonexistent/fm"],
    );
    // A corrupt .npy view.
    let bad = d.join("bad.npy");
    std::fs::write(&bad, b"\x93NUMPY\x01\x00garbage").unwrap();
    let good = d.join("good.npy");
    std::fs::write(&good, npy_f32(&[4, 2], &[0.0; 8])).unwrap();
    let views = format!("{},{}", good.display(), bad.display());
    fails_with(&["train", "--views", &views, "--out", out], &["bad.npy"]);
    // Views with different row counts.
    let short = d.join("short.npy");
    std::fs::write(&short, npy_f32(&[3, 2], &[0.0; 6])).unwrap();
    let views = format!("{},{}", good.display(), short.display());
    fails_with(&["train", "--views", &views, "--out", out], &["short.npy"]);
    // NaN in a view.
    let nan = d.join("nan.npy");
    std::fs::write(
        &nan,
        npy_f32(&[4, 2], &[0.0, 1.0, f32::NAN, 0.0, 0.0, 0.0, 0.0, 0.0]),
    )
    .unwrap();
    let views = format!("{},{}", good.display(), nan.display());
    fails_with(&["train", "--views", &views, "--out", out], &["nan.npy"]);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_folder_holding_another_run_is_not_overwritten() {
    let d = tmpdir("exists");
    let run = d.join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("config.toml"), "seed = 1\n").unwrap();
    std::fs::write(run.join("metrics.jsonl"), "precious\n").unwrap();
    fails_with(
        &["train", "--config", "mib", "--out", run.to_str().unwrap()],
        &["--force", "another run"],
    );
    assert_eq!(
        std::fs::read_to_string(run.join("metrics.jsonl")).unwrap(),
        "precious\n"
    );
    fails_with(
        &["train", "--resume", d.join("nothing").to_str().unwrap()],
        &["nothing"],
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_view_width_that_does_not_match_the_run_is_named() {
    let d = tmpdir("width");
    let run = d.join("run");
    let (a, b) = (d.join("a.npy"), d.join("b.npy"));
    std::fs::write(&a, npy_f32(&[40, 6], &[0.5; 240])).unwrap();
    std::fs::write(&b, npy_f32(&[40, 3], &[0.25; 120])).unwrap();
    let views = format!("{},{}", a.display(), b.display());
    let out = Command::new(env!("CARGO_BIN_EXE_mib"))
        .args([
            "train",
            "-q",
            "--config",
            "demo",
            "--iterations",
            "20",
            "--batch-size",
            "8",
        ])
        .args(["--views", &views, "--out", run.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wide = d.join("wide.npy");
    std::fs::write(&wide, npy_f32(&[40, 9], &[0.5; 360])).unwrap();
    let views = format!("{},{}", wide.display(), b.display());
    let z = d.join("z.npy");
    fails_with(
        &[
            "embed",
            run.to_str().unwrap(),
            "--views",
            &views,
            "--out",
            z.to_str().unwrap(),
        ],
        &["view 0", "6", "9"],
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn divergence_stops_with_the_likely_cause_and_keeps_a_checkpoint() {
    let d = tmpdir("diverge");
    let run = d.join("run");
    let c = config(
        &d,
        "nan.toml",
        "[data]\ndataset = \"mfeat\"\nviews = [\"pix\", \"fou\"]\npairing = { kind = \"aligned\" }\n\
         [model]\nencoder_hidden = [16]\nz_dim = 4\nshared_encoder = false\ncritic_hidden = [16]\n\
         [optim]\nlr = 1e30\n[train]\niterations = 300\nlog_every = 10\ncheckpoint_every = 100\nmax_nonfinite = 5\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_mib"))
        .args([
            "train",
            "-q",
            "--config",
            &c,
            "--out",
            run.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let last = err.lines().last().unwrap_or("");
    assert!(last.starts_with("error: training stopped"), "{err}");
    assert!(
        last.contains("learning rate") && last.contains("non-finite"),
        "{err}"
    );
    let kept: Vec<_> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .collect();
    assert_eq!(kept.len(), 1, "the last good parameters are kept");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn mnist_labels_out_of_range_are_refused() {
    let d = tmpdir("labels42");
    // 4 images of 2 x 2 and their labels, all 42, in the MNIST layout.
    let idx = |dims: &[u32], data: &[u8]| {
        let mut b = vec![0, 0, 0x08, dims.len() as u8];
        dims.iter().for_each(|x| b.extend(x.to_be_bytes()));
        b.extend_from_slice(data);
        b
    };
    for split in ["train", "t10k"] {
        std::fs::write(
            d.join(format!("{split}-images-idx3-ubyte")),
            idx(&[4, 2, 2], &[7; 16]),
        )
        .unwrap();
        std::fs::write(
            d.join(format!("{split}-labels-idx1-ubyte")),
            idx(&[4], &[42; 4]),
        )
        .unwrap();
    }
    let out = d.join("out");
    fails_with(
        &[
            "train",
            "--dataset",
            "mnist",
            "--data-dir",
            d.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &["train-labels-idx1-ubyte", "label 42", "10 classes"],
    );
    assert!(!out.join("config.toml").exists());
    let _ = std::fs::remove_dir_all(&d);
}

/// An I/O failure is one line that says what was attempted, on which path, and why, once. (Tests
/// run as root, which ignores permission bits: a run folder under a regular file fails for root
/// too, with "not a directory".) The run folder is created before the data is loaded, so a folder
/// that cannot be made is the whole message even when the data could not be loaded either.
#[test]
fn io_errors_name_the_operation_and_the_path_once() {
    let d = tmpdir("io-once");
    let file = d.join("plain-file");
    std::fs::write(&file, "not a folder").unwrap();
    let run = file.join("run");
    let want = format!(
        "error: creating run folder {}: not a directory\n",
        run.display()
    );
    let missing_data = d.join("no-such-data-dir");
    for extra in [
        vec![],
        // data that cannot be loaded: the folder is still reported first, and alone
        vec![
            "--dataset".to_string(),
            "fashion-mnist".to_string(),
            "--data-dir".to_string(),
            missing_data.display().to_string(),
        ],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_mib"))
            .args(["train", "-q", "--config", "demo", "--iterations", "5"])
            .args(&extra)
            .arg("--out")
            .arg(&run)
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {err}");
        assert!(out.stdout.is_empty(), "{extra:?}: stdout not empty");
        assert_eq!(err.lines().count(), 1, "{extra:?}: not one line: {err}");
        assert_eq!(err, want, "{extra:?}: stderr must be exactly this one line");
    }
    let _ = std::fs::remove_dir_all(&d);
}
