//! Two `mib train` processes on one run folder: exactly one trains, the other is refused with the
//! holder's pid; a holder killed with SIGKILL leaves no lock behind.

mod common;
use common::tmpdir;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn config() -> String {
    common::small_mib_config(
        3,
        r#"[train]
iterations = 1500
batch_size = 32
threads = 1
log_every = 10
checkpoint_every = 100
"#,
    )
}

fn mib() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mib"));
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

fn fresh(cfg: &Path, out: &Path) -> Child {
    mib()
        .args(["train", "--quiet", "--config"])
        .arg(cfg)
        .arg("--out")
        .arg(out)
        .spawn()
        .unwrap()
}

fn resume(out: &Path) -> Child {
    mib()
        .args(["train", "--quiet", "--resume"])
        .arg(out)
        .spawn()
        .unwrap()
}

/// Kills the child when a failed assertion unwinds past it (no training left running).
struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn refused_by(err: &str, pid: u32) -> bool {
    err.contains(&format!(
        "another mib process (pid {pid}) is training this run folder; wait for it or stop it"
    ))
}

/// Waits until `run`'s metrics.jsonl has a line (the trainer holds the lock by then).
fn wait_for_metrics(run: &Path, child: &mut Child) {
    let t = Instant::now();
    loop {
        let n = std::fs::read_to_string(run.join("metrics.jsonl")).map_or(0, |s| s.lines().count());
        if n > 0 {
            return;
        }
        assert!(child.try_wait().unwrap().is_none(), "training ended early");
        assert!(t.elapsed() < Duration::from_secs(60), "no metrics line");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn two_trains_at_once_exactly_one_is_refused() {
    let d = tmpdir("lock-two");
    let cfg = d.join("c.toml");
    std::fs::write(&cfg, config()).unwrap();
    let run = d.join("run");
    let a = fresh(&cfg, &run);
    let b = fresh(&cfg, &run);
    let (pa, pb) = (a.id(), b.id());
    let (oa, ob) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let (ea, eb) = (stderr(&oa), stderr(&ob));
    assert!(
        oa.status.success() != ob.status.success(),
        "exactly one must train:\nA {:?}: {ea}\nB {:?}: {eb}",
        oa.status,
        ob.status
    );
    let (winner, loser_err) = if oa.status.success() {
        (pa, &eb)
    } else {
        (pb, &ea)
    };
    assert!(refused_by(loser_err, winner), "{loser_err}");
    assert!(run.join("model.safetensors").exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn resume_while_training_is_refused_and_a_killed_holder_does_not_block() {
    let d = tmpdir("lock-kill");
    let cfg = d.join("c.toml");
    std::fs::write(&cfg, config()).unwrap();
    let run = d.join("run");
    // Long enough never to finish before it is killed; no checkpoint, so the resume starts over.
    let long = config()
        .replace("iterations = 1500", "iterations = 1000000")
        .replace("checkpoint_every = 100", "checkpoint_every = 1000000");
    std::fs::write(&cfg, long).unwrap();
    let mut a = KillOnDrop(fresh(&cfg, &run));
    wait_for_metrics(&run, &mut a.0);
    let b = resume(&run).wait_with_output().unwrap();
    assert!(!b.status.success());
    assert!(refused_by(&stderr(&b), a.0.id()), "{}", stderr(&b));
    // --force must not clear the files of a run in progress either.
    let f = mib()
        .args(["train", "--quiet", "--force", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        !f.status.success() && refused_by(&stderr(&f), a.0.id()),
        "{}",
        stderr(&f)
    );
    assert!(run.join("config.toml").exists());
    a.0.kill().unwrap(); // SIGKILL: the kernel drops the flock with the process
    a.0.wait().unwrap();
    assert!(run.join(".lock").exists(), "the stale lock file stays");
    let c = mib()
        .args(["train", "--quiet", "--iterations", "200", "--resume"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(c.status.success(), "{}", stderr(&c));
    assert!(run.join("model.safetensors").exists());
    let _ = std::fs::remove_dir_all(&d);
}
