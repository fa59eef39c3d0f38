//! SIGTERM (cluster schedulers, `docker stop`, systemd) stops `mib train` like the first Ctrl-C:
//! a checkpoint at the stop iteration, then exit status 143 (128 + 15); `--resume` then finishes
//! with the uninterrupted run's metrics lines (timing fields aside) and final model. The first
//! Ctrl-C keeps its status 0.

mod common;
use common::tmpdir;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A metrics line every 8 iterations, so that 7 stops in 8 land between two lines (the resumed
/// run must finish the interval the stop cut), and no periodic checkpoint: the only one is the
/// one the signal asks for.
const LOG_EVERY: u64 = 8;

fn config() -> String {
    common::small_mib_config(
        11,
        r#"[train]
iterations = 4000
batch_size = 32
threads = 1
log_every = 8
checkpoint_every = 4000
"#,
    )
}

fn mib() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mib"))
}

fn spawn_train(cfg: &Path, out: &Path) -> Child {
    mib()
        .args(["train", "--quiet", "--config"])
        .arg(cfg)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The metrics lines without their timing fields (wall time, iterations per second).
fn lines(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let o = v.as_object_mut().unwrap();
            assert!(o.remove("wall_s").is_some() && o.remove("it_per_s").is_some());
            v.to_string()
        })
        .collect()
}

/// A model file's tensor bytes and its checkpoint metadata without the wall time.
fn model_parts(path: &Path) -> (serde_json::Value, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let mut meta: serde_json::Value =
        serde_json::from_str(header["__metadata__"]["mib.checkpoint"].as_str().unwrap()).unwrap();
    assert!(meta.as_object_mut().unwrap().remove("wall_s").is_some());
    (meta, bytes[8 + n..].to_vec())
}

/// Starts a run, waits for its first metrics lines, sends `sig`; returns (exit status, stderr,
/// stop iteration from the "stopped at iteration N" line).
fn stop_with(sig: libc::c_int, cfg: &Path, run: &Path) -> (Option<i32>, String, u64) {
    let mut child = spawn_train(cfg, run);
    let t = Instant::now();
    while std::fs::read_to_string(run.join("metrics.jsonl")).map_or(0, |s| s.lines().count()) < 3 {
        if child.try_wait().unwrap().is_some() || t.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("training ended (or never started) before the signal");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let it = err
        .split("stopped at iteration ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no 'stopped at iteration' in: {err}"));
    (out.status.code(), err, it)
}

/// Resumes the stopped `run` and checks it ends as an uninterrupted run of `cfg` does.
fn resume_matches_uninterrupted(cfg: &Path, run: &Path, reference: &Path) {
    let out = mib()
        .args(["train", "--quiet", "--resume"])
        .arg(run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st = spawn_train(cfg, reference).wait().unwrap();
    assert!(st.success());
    assert_eq!(lines(run), lines(reference));
    assert_eq!(
        model_parts(&run.join("model.safetensors")),
        model_parts(&reference.join("model.safetensors"))
    );
    assert_eq!(
        std::fs::read(run.join("encoder.safetensors")).unwrap(),
        std::fs::read(reference.join("encoder.safetensors")).unwrap()
    );
}

#[test]
fn sigterm_checkpoints_exits_143_and_resumes_to_the_same_run() {
    let d = tmpdir("sigterm");
    let cfg = d.join("c.toml");
    std::fs::write(&cfg, config()).unwrap();
    let run = d.join("run");
    let (code, err, it) = stop_with(libc::SIGTERM, &cfg, &run);
    assert_eq!(code, Some(143), "{err}");
    assert!(it > 0 && it < 4000, "stopped at {it}");
    let ck = run
        .join("checkpoints")
        .join(format!("ckpt-{it:010}.safetensors"));
    assert!(ck.exists(), "no checkpoint at the stop iteration {it}");
    assert!(!run.join("model.safetensors").exists());
    assert_eq!(
        lines(&run).len() as u64,
        it / LOG_EVERY,
        "one line per {LOG_EVERY} iterations"
    );
    resume_matches_uninterrupted(&cfg, &run, &d.join("reference"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn first_ctrl_c_checkpoints_exits_0_and_resumes_to_the_same_run() {
    let d = tmpdir("sigint");
    let cfg = d.join("c.toml");
    std::fs::write(&cfg, config()).unwrap();
    let run = d.join("run");
    let (code, err, it) = stop_with(libc::SIGINT, &cfg, &run);
    assert_eq!(code, Some(0), "{err}");
    assert!(run
        .join("checkpoints")
        .join(format!("ckpt-{it:010}.safetensors"))
        .exists());
    resume_matches_uninterrupted(&cfg, &run, &d.join("reference"));
    let _ = std::fs::remove_dir_all(&d);
}
