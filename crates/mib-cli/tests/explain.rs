//! `mib explain` and `mib eval --permutations N` on a tiny run: the files they write, the JSON
//! section, and the errors they give for bad input.

mod common;
use common::{mib, small_mib_config, tmpdir};

use std::path::Path;

fn ok(args: &[&str]) -> String {
    let out = mib(args);
    assert!(
        out.status.success(),
        "mib {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// One stderr line starting with `error:` and containing every needle; exit status 1.
fn fails_with(args: &[&str], needles: &[&str]) {
    let out = mib(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "mib {args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let last = err.lines().last().unwrap_or("");
    assert!(last.starts_with("error: "), "mib {args:?}: {err}");
    for n in needles {
        assert!(last.contains(n), "mib {args:?}: `{n}` not in {last}");
    }
}

/// A tiny MIB run on mfeat (pix, a 15 x 16 image, and fou).
fn tiny_run(dir: &Path) -> String {
    let cfg = dir.join("tiny.toml");
    std::fs::write(
        &cfg,
        small_mib_config(
            1,
            "critic = \"separable\"\nestimator = \"infonce\"\n[beta]\nkind = \"constant\"\nvalue = 0.001\n\
             [train]\niterations = 300\nbatch_size = 64\nthreads = 2\nlog_every = 100\ncheckpoint_every = 300\n\
             [eval]\nevery = 0\n",
        ),
    )
    .unwrap();
    let run = dir.join("run");
    ok(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    run.to_str().unwrap().to_string()
}

fn npy_shape(path: &Path) -> Vec<usize> {
    let a = mib::data::npy::read_npy(path).unwrap();
    a.shape
}

#[test]
fn explain_writes_maps_figures_and_a_summary() {
    let d = tmpdir("explain");
    let run = tiny_run(&d);
    let out = d.join("ex");
    let o = out.to_str().unwrap();
    let text = ok(&["explain", &run, "--view", "fou", "--out", o, "--top", "3"]);
    assert!(text.contains("grad-x-input of view 1 (`fou`)"), "{text}");
    assert!(text.contains("76 features x 8 latent dimensions"), "{text}");
    for what in ["importance", "signed", "loadings"] {
        assert_eq!(npy_shape(&out.join(format!("{what}_fou.npy"))), vec![76, 8]);
    }
    let csv = std::fs::read_to_string(out.join("attribution_fou.csv")).unwrap();
    assert_eq!(
        csv.lines().next(),
        Some("feature,dim,importance,signed,loading")
    );
    assert_eq!(csv.lines().count(), 1 + 76 * 8);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("explain_fou.json")).unwrap())
            .unwrap();
    assert_eq!(json["method"], "grad-x-input");
    assert_eq!(json["n_items"], 500);
    assert_eq!(json["dims"].as_array().unwrap().len(), 8);
    assert_eq!(json["dims"][0]["top_features"].as_array().unwrap().len(), 3);
    for fig in ["importance_fou.png", "loadings_fou.png"] {
        let b = std::fs::read(out.join(fig)).unwrap();
        assert_eq!(&b[1..4], b"PNG", "{fig}");
    }
    // the image view (pix, 15 x 16): saliency images, integrated gradients on the train split
    let text = ok(&[
        "explain",
        &run,
        "--view",
        "0",
        "--out",
        o,
        "--method",
        "integrated-gradients",
        "--steps",
        "8",
        "--split",
        "train",
        "--max-items",
        "200",
        "--format",
        "svg",
    ]);
    assert!(text.contains("completeness gap"), "{text}");
    assert!(text.contains("200 items, 240 features"), "{text}");
    assert!(out.join("saliency_pix.svg").exists());
    assert!(out.join("saliency_loadings_pix.svg").exists());
    assert_eq!(npy_shape(&out.join("importance_pix.npy")), vec![240, 8]);

    fails_with(
        &["explain", &run, "--view", "img"],
        &["--view img", "0 (pix)", "1 (fou)"],
    );
    fails_with(
        &["explain", &run, "--view", "2"],
        &["--view 2", "2 training views"],
    );
    fails_with(&["explain", &run, "--method", "shap"], &["method", "shap"]);
    fails_with(
        &[
            "explain",
            &run,
            "--method",
            "integrated-gradients",
            "--steps",
            "0",
        ],
        &["steps"],
    );
    fails_with(&["explain", d.to_str().unwrap()], &["not a run folder"]);

    // permutation tests in eval's table and JSON
    let json = ok(&[
        "eval",
        &run,
        "--permutations",
        "9",
        "--labels-per-class",
        "1",
        "--repetitions",
        "2",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mi = &v["permutation"]["mutual_information"];
    assert_eq!(mi["n_permutations"], 9);
    assert_eq!(mi["null"].as_array().unwrap().len(), 9);
    assert!(
        (mi["p_value"].as_f64().unwrap() - 0.1).abs() < 1e-12,
        "{mi}"
    );
    let probe = &v["permutation"]["probe"];
    assert!(
        (probe["p_value"].as_f64().unwrap() - 0.1).abs() < 1e-12,
        "{probe}"
    );
    assert!(probe["observed"].as_f64().unwrap() > 0.5);
    assert!(probe["null_mean"].as_f64().unwrap() < 0.2, "{probe}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(&run).join("eval.json")).unwrap())
            .unwrap();
    assert_eq!(saved["permutation"], v["permutation"]);
    let table = ok(&[
        "eval",
        &run,
        "--permutations",
        "4",
        "--labels-per-class",
        "1",
        "--repetitions",
        "1",
    ]);
    assert!(table.contains("Permutation tests"), "{table}");
    assert!(table.contains("p = 0.2000"), "{table}");
    // saved representations: the probe's test only (no model, no critic)
    let emb = Path::new(&run).join("embeddings.safetensors");
    let json = ok(&[
        "eval",
        "--embeddings",
        emb.to_str().unwrap(),
        "--permutations",
        "4",
        "--labels-per-class",
        "1",
        "--repetitions",
        "1",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["permutation"]["mutual_information"].is_null(), "{v}");
    assert!((v["permutation"]["probe"]["p_value"].as_f64().unwrap() - 0.2).abs() < 1e-12);
    fails_with(
        &["eval", &run, "--permutations", "0"],
        &["--permutations 0"],
    );
    fails_with(
        &["eval", &run, "--permutations", "5", "--view", "3"],
        &["view", "3"],
    );
    let _ = std::fs::remove_dir_all(&d);
}
