//! `mib train` is killed with SIGKILL at random moments (also during checkpoint writes), resumed,
//! and must finish with a valid run whose logged losses equal those of an uninterrupted run.

mod common;
use common::tmpdir;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

fn config() -> String {
    common::small_mib_config(
        7,
        r#"[optim]
lr = 1e-3
[beta]
kind = "exponential"
start = 1e-3
end = 1.0
start_iteration = 100
n_iterations = 200
[train]
iterations = 400
batch_size = 32
threads = 1
log_every = 5
checkpoint_every = 10
keep_checkpoints = 2
"#,
    )
}

fn mib() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mib"))
}

/// (iteration, loss bits) of each metrics line.
fn losses(run: &Path) -> Vec<(u64, String)> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["iteration"].as_u64().unwrap(),
                format!("{} {} {}", v["loss"], v["mi_estimate"], v["skl"]),
            )
        })
        .collect()
}

fn train_fresh(cfg: &Path, out: &Path) -> std::process::Child {
    mib()
        .args(["train", "--quiet", "--config"])
        .arg(cfg)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn resume(out: &Path) -> std::process::Child {
    mib()
        .args(["train", "--quiet", "--resume"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn sigkill_then_resume_gives_the_uninterrupted_losses() {
    let dir = tmpdir("resume");
    let cfg = dir.join("config.toml");
    std::fs::write(&cfg, config()).unwrap();

    let reference = dir.join("reference");
    let t0 = Instant::now();
    let st = train_fresh(&cfg, &reference).wait().unwrap();
    assert!(st.success(), "uninterrupted run failed");
    let full_time = t0.elapsed();
    let want = losses(&reference);
    assert_eq!(want.len(), 80);

    // Kill at pseudo-random moments spread over the run, then resume until it finishes.
    let killed = dir.join("killed");
    let mut seed = 0x2545_F491_4F6C_DD1Du64 ^ std::process::id() as u64;
    let mut child = train_fresh(&cfg, &killed);
    // Kills before the run folder exists leave nothing to resume (`--resume` says so); the random
    // moments start once `mib train` has written its config.
    let started = Instant::now();
    while !killed.join("config.toml").exists() {
        assert!(
            started.elapsed().as_secs() < 60,
            "mib train never wrote its config"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let mut kills = 0;
    loop {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let frac = (seed % 1000) as f64 / 1000.0;
        let wait = full_time.mul_f64(0.1 + 0.4 * frac);
        std::thread::sleep(wait);
        match child.try_wait().unwrap() {
            Some(st) => {
                assert!(st.success(), "a resumed run failed");
                break;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
                assert!(kills < 50, "the run never finished");
                child = resume(&killed);
            }
        }
    }
    assert!(kills >= 1, "the run was never killed");
    let got = losses(&killed);
    assert_eq!(
        got, want,
        "losses after resuming differ from the uninterrupted run"
    );
    assert!(killed.join("model.safetensors").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn torn_checkpoint_is_skipped_and_the_run_still_matches() {
    let dir = tmpdir("torn");
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        config().replace("iterations = 400", "iterations = 60"),
    )
    .unwrap();
    let reference = dir.join("reference");
    assert!(train_fresh(&cfg, &reference).wait().unwrap().success());

    // A run whose newest checkpoint is torn mid-write, with a stray temporary file beside it.
    let run = dir.join("run");
    let short = config().replace("iterations = 400", "iterations = 40");
    std::fs::write(dir.join("short.toml"), &short).unwrap();
    assert!(train_fresh(&dir.join("short.toml"), &run)
        .wait()
        .unwrap()
        .success());
    let ck = run.join("checkpoints");
    let mut files: Vec<_> = std::fs::read_dir(&ck)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let newest = files.last().unwrap().clone();
    let bytes = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(ck.join(".ckpt-0000000050.safetensors.tmp"), b"partial").unwrap();
    // Extend the run to the reference's length and resume.
    let out = mib()
        .args(["train", "--quiet", "--iterations", "60", "--resume"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped unreadable checkpoint"));
    assert_eq!(losses(&run), losses(&reference));
    // The torn file is kept for the user to look at, never deleted silently... unless pruned.
    let _ = std::fs::remove_dir_all(&dir);
}
