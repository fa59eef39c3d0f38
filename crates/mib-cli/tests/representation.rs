//! `mib eval --representation` and `mib embed --representation`: the posterior means, the
//! encoder's last hidden layer or both; `[eval] representation` in the config is what `mib eval`
//! probes by default (`mib embed` gives the means unless asked).

mod common;
use common::{mib, npy_f32, npy_i64, ok, tmpdir};

use std::path::Path;

/// Two views of 60 items in 3 classes, widths 6 and 4.
fn write_views(d: &Path) -> (String, String) {
    let n = 60;
    let mut paths = Vec::new();
    for (v, w) in [6usize, 4].into_iter().enumerate() {
        let data: Vec<f32> = (0..n * w)
            .map(|k| {
                let (r, c) = (k / w, k % w);
                let hot = if c % 3 == r % 3 { 1.0 } else { 0.0 };
                hot + 0.1 * (((k * 7 + v * 13) % 11) as f32 / 11.0)
            })
            .collect();
        let p = d.join(format!("v{v}.npy"));
        std::fs::write(&p, npy_f32(&[n, w], &data)).unwrap();
        paths.push(p.display().to_string());
    }
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 3).collect();
    let lp = d.join("y.npy");
    std::fs::write(&lp, npy_i64(&labels)).unwrap();
    (paths.join(","), lp.display().to_string())
}

fn npy_shape(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    let header = String::from_utf8_lossy(&bytes[10..]).to_string();
    let s = header.find("'shape': (").unwrap() + 10;
    let e = header[s..].find(')').unwrap();
    header[s..s + e].to_string()
}

fn eval_json(run: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "eval",
        run,
        "--labels-per-class",
        "1,5",
        "--repetitions",
        "2",
        "--json",
        "--out",
        "/dev/null",
    ];
    args.extend_from_slice(extra);
    serde_json::from_slice(&ok(&args).stdout).unwrap()
}

#[test]
fn eval_and_embed_give_the_representation_asked_for() {
    let d = tmpdir("representation");
    let (views, labels) = write_views(&d);
    let run = d.join("run");
    let run_s = run.to_str().unwrap();
    // the demo recipe's encoders are 256-256 wide with z 32
    ok(&[
        "train",
        "-q",
        "--config",
        "demo",
        "--iterations",
        "10",
        "--batch-size",
        "8",
        "--views",
        &views,
        "--labels",
        &labels,
        "--out",
        run_s,
    ]);
    let mean = eval_json(run_s, &["--representation", "mean"]);
    assert_eq!(mean["representation"], "mean");
    assert_eq!(mean["representation_dim"], 32);
    assert!(mean["retrieval"].is_object());
    let hidden = eval_json(run_s, &["--representation", "hidden"]);
    assert_eq!(hidden["representation"], "hidden");
    assert_eq!(hidden["representation_dim"], 256);
    // retrieval is scored on the posterior means whatever is probed: the same numbers
    assert_eq!(hidden["retrieval"], mean["retrieval"]);
    let both = eval_json(run_s, &["--representation", "mean+hidden"]);
    assert_eq!(both["representation_dim"], 288);

    for (r, shape) in [
        ("mean", "12, 32"),
        ("hidden", "12, 256"),
        ("mean+hidden", "12, 288"),
    ] {
        let z = d.join(format!("z-{r}.npy"));
        ok(&[
            "embed",
            run_s,
            "--representation",
            r,
            "--out",
            z.to_str().unwrap(),
        ]);
        assert_eq!(npy_shape(&z), shape, "{r}");
    }
    // the config's [eval] representation is what mib eval probes by default: the demo preset's
    // mean+hidden, then what the config is changed to
    assert_eq!(eval_json(run_s, &[])["representation_dim"], 288);
    let cfg = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(cfg.contains("representation = \"mean+hidden\""), "{cfg}");
    let cfg = cfg.replace(
        "representation = \"mean+hidden\"",
        "representation = \"hidden\"",
    );
    std::fs::write(run.join("config.toml"), cfg).unwrap();
    assert_eq!(eval_json(run_s, &[])["representation_dim"], 256);
    // ... while mib embed gives the posterior means unless asked
    let z = d.join("z-default.npy");
    ok(&["embed", run_s, "--out", z.to_str().unwrap()]);
    assert_eq!(npy_shape(&z), "12, 32");

    let out = mib(&["eval", run_s, "--representation", "z"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && out.status.code() != Some(101),
        "{err}"
    );
    assert!(
        err.contains("'z'") || err.contains("`z`") || err.contains("z"),
        "{err}"
    );
    assert!(err.contains("mean+hidden"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}
