//! `mib doctor`, `mib eval --beta-path / --checkpoint / --baseline`, `mib embed --checkpoint` and
//! the sections they add to `mib report`, on one tiny run (under two seconds of training).

mod common;
use common::{mib, small_mib_config, tmpdir};

use std::path::Path;

fn ok(args: &[&str]) -> String {
    let out = mib(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "mib {args:?}: {err}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Expects one error line naming every `needles` item, and no panic.
fn refused(args: &[&str], needles: &[&str]) {
    let out = mib(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "mib {args:?}: {err}");
    let last = err.lines().last().unwrap_or("");
    assert!(last.starts_with("error: "), "{err}");
    for n in needles {
        assert!(last.contains(n), "mib {args:?}: `{n}` not in {last}");
    }
}

fn train(dir: &Path, name: &str, rest: &str) -> String {
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(&cfg, small_mib_config(5, rest)).unwrap();
    let run = dir.join(name);
    ok(&[
        "train",
        "-q",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    run.to_str().unwrap().to_string()
}

#[test]
fn doctor_beta_path_checkpoints_and_report() {
    let d = tmpdir("doctor-cli");
    // beta ramped to 100 at the end: the probe peaks early and the end squeezes the codes
    let run = train(
        &d,
        "ramp",
        "[optim]\nlr = 1e-3\n[beta]\nkind = \"exponential\"\nstart = 1e-3\nend = 100.0\n\
         start_iteration = 100\nn_iterations = 400\n\
         [train]\niterations = 600\nlog_every = 20\ncheckpoint_every = 200\nthreads = 1\n\
         checkpoint_at_beta = [1e-3, 0.01, 1, 100]\n\
         [eval]\nevery = 60\nlabels_per_class = 5\nrepetitions = 2\nmax_test_items = 400\n",
    );

    // mib doctor: findings with what it saw and what to try
    let text = ok(&["doctor", &run, "--threads", "1"]);
    assert!(text.contains("probe-peaked-early"), "{text}");
    assert!(
        text.contains("  saw: ") && text.contains("  try: "),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["doctor", &run, "--json", "--threads", "1"])).unwrap();
    let kinds: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"probe-peaked-early"), "{kinds:?}");
    refused(
        &["doctor", d.to_str().unwrap()],
        &["not a run folder", "config.toml"],
    );

    // mib eval --beta-path: a table, the best beta, beta_path.json
    let table = ok(&["eval", &run, "--beta-path", "--repetitions", "2"]);
    assert!(
        table.contains("<- best") && table.contains("beta-1e2-"),
        "{table}"
    );
    let bp: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&run).join("beta_path.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        bp["points"].as_array().unwrap().len(),
        5,
        "4 betas and the final model"
    );

    // --checkpoint picks one for eval and embed; a bad name lists what there is
    let out = d.join("z.npy");
    ok(&[
        "embed",
        &run,
        "--checkpoint",
        "beta=0.01",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(out.exists());
    refused(
        &[
            "embed",
            &run,
            "--checkpoint",
            "nope",
            "--out",
            out.to_str().unwrap(),
        ],
        &["checkpoint", "nope", "final", "beta-1e-2-"],
    );
    // eval at a checkpoint, with the raw-feature baseline
    let table = ok(&[
        "eval",
        &run,
        "--checkpoint",
        "beta=0.01",
        "--labels-per-class",
        "1,5",
        "--repetitions",
        "2",
        "--baseline",
    ]);
    assert!(
        table.contains("Baseline: the same probe on the raw `pix` features"),
        "{table}"
    );
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(&run).join("eval.json")).unwrap())
            .unwrap();
    assert_eq!(
        eval["baseline"]["linear_probe"].as_array().unwrap().len(),
        2
    );

    // mib report: the baseline on the accuracy figure, the beta path, the diagnosis
    let html_path = d.join("report.html");
    ok(&["report", &run, "--out", html_path.to_str().unwrap()]);
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains("<h3>Diagnosis</h3>"));
    assert!(html.contains("probe-peaked-early"));
    assert!(html.contains("<h3>Beta path</h3>") && html.contains("(best)"));
    assert!(html.contains("Beta path: information plane"));
    assert!(html.contains("Beta path: test accuracy against beta"));
    assert!(
        html.contains("raw `pix`"),
        "the baseline is in the accuracy figure's legend"
    );

    // a run without a beta path is refused by name
    let plain = train(
        &d,
        "plain",
        "[train]\niterations = 40\nlog_every = 10\ncheckpoint_every = 20\nthreads = 1\n",
    );
    refused(
        &["eval", &plain, "--beta-path"],
        &["no checkpoints on its beta path", "checkpoint_at_beta"],
    );
    let _ = std::fs::remove_dir_all(&d);
}
