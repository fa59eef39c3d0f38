//! `mib plot` over several run folders draws the training-time probe of every run that logged one
//! in `probe_vs_iteration`, and says so on stderr when none did.

mod common;
use common::tmpdir;

use std::process::Command;

fn run_dir(root: &std::path::Path, name: &str, probe: &[(u64, f64)]) -> std::path::PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::new();
    for it in (0..=3000).step_by(500) {
        let p = probe
            .iter()
            .find(|(i, _)| *i == it)
            .map_or(String::new(), |(_, a)| format!(", \"probe_accuracy\": {a}"));
        text.push_str(&format!(
            "{{\"iteration\": {it}, \"loss\": {}, \"beta\": 0.001{p}}}\n",
            -(it as f64) / 3000.0
        ));
    }
    std::fs::write(dir.join("metrics.jsonl"), text).unwrap();
    dir
}

fn plot(dirs: &[std::path::PathBuf], out: &std::path::Path) -> String {
    let res = Command::new(env!("CARGO_BIN_EXE_mib"))
        .arg("plot")
        .args(dirs)
        .arg("--out-dir")
        .arg(out)
        .args(["--format", "png"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr).to_string();
    assert!(res.status.success(), "{err}");
    err
}

#[test]
fn probe_vs_iteration_across_runs() {
    let root = tmpdir("plot-probe");
    let a = run_dir(&root, "mib", &[(1000, 0.5), (2000, 0.6), (3000, 0.62)]);
    let b = run_dir(&root, "vae", &[(1000, 0.55), (3000, 0.58)]);
    let out = root.join("figs");
    plot(&[a.clone(), b], &out);
    let png = std::fs::read(out.join("probe_vs_iteration.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(out.join("mib_training_curves.png").exists());

    // runs without a training-time probe: no figure, and a line that says why
    let c = run_dir(&root, "quiet", &[]);
    let out2 = root.join("figs2");
    let err = plot(&[c], &out2);
    assert!(!out2.join("probe_vs_iteration.png").exists());
    assert!(err.contains("no probe_vs_iteration figure"), "{err}");
    let _ = std::fs::remove_dir_all(&root);
}
