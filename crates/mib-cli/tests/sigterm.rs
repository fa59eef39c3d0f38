//! SIGTERM (cluster schedulers, `docker stop`, systemd) stops `mib train` like the first Ctrl-C:
//! a checkpoint at the stop iteration, then exit status 143 (128 + 15); `--resume` then finishes
//! with the uninterrupted run's losses. The first Ctrl-C keeps its status 0.

mod common;
use common::tmpdir;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// One metrics line per iteration (so a stop between lines loses nothing of the comparison) and
// no periodic checkpoint: the only one is the one the signal asks for.
fn config() -> String {
    common::small_mib_config(
        11,
        r#"[train]
iterations = 4000
batch_size = 32
threads = 1
log_every = 1
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

fn losses(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!("{} {} {}", v["iteration"], v["loss"], v["mi_estimate"])
        })
        .collect()
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

#[test]
fn sigterm_checkpoints_exits_143_and_resumes_to_the_same_losses() {
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
    assert_eq!(losses(&run).len() as u64, it, "one line per iteration");

    let out = mib()
        .args(["train", "--quiet", "--resume"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference = d.join("reference");
    let st = spawn_train(&cfg, &reference).wait().unwrap();
    assert!(st.success());
    assert_eq!(losses(&run), losses(&reference));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn first_ctrl_c_still_checkpoints_and_exits_0() {
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
    let _ = std::fs::remove_dir_all(&d);
}
