//! `mib train --views a.npy,b.npy,c.npy` trains one model over all three views; `mib eval` and
//! `mib embed` use any of them; bad view counts and indices are one clear line on stderr.

mod common;
use common::{npy_f32, npy_i64, ok, one_line_error, tmpdir};

use std::path::Path;

/// Three views of 60 items in 3 classes (the class shows in every view), widths 6, 4 and 5.
fn write_views(d: &Path) -> (String, String) {
    let n = 60;
    let widths = [6usize, 4, 5];
    let mut paths = Vec::new();
    for (v, &w) in widths.iter().enumerate() {
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

#[test]
fn three_npy_views_train_evaluate_and_embed() {
    let d = tmpdir("kviews");
    let (views, labels) = write_views(&d);
    let run = d.join("run");
    let run_s = run.to_str().unwrap();
    let train = [
        "train",
        "-q",
        "--config",
        "demo",
        "--iterations",
        "20",
        "--batch-size",
        "8",
        "--views",
        &views,
        "--labels",
        &labels,
        "--out",
        run_s,
    ];
    ok(&train);
    let cfg = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(cfg.contains("v2.npy"), "{cfg}");
    let enc: toml::Value =
        toml::from_str(&std::fs::read_to_string(run.join("encoder.toml")).unwrap()).unwrap();
    let dims: Vec<i64> = enc["in_dims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_integer().unwrap())
        .collect();
    assert_eq!(dims, [6, 4, 5]);
    // every view's representations: eval and embed
    for view in ["0", "2"] {
        let out = run.join(format!("eval{view}.json"));
        ok(&[
            "eval",
            run_s,
            "--view",
            view,
            "--labels-per-class",
            "1",
            "--repetitions",
            "2",
            "--json",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(out.exists());
        let z = d.join(format!("z{view}.npy"));
        ok(&["embed", run_s, "--view", view, "--out", z.to_str().unwrap()]);
        assert!(z.exists());
    }
    one_line_error(
        &["embed", run_s, "--view", "3", "--out", "/dev/null"],
        &["--view 3", "3 training views"],
    );
    one_line_error(
        &["eval", run_s, "--view", "5"],
        &["view", "5", "3 training views"],
    );
    // the same run evaluated on two of its three views: the view count is named
    let two: Vec<&str> = views.split(',').take(2).collect();
    one_line_error(
        &["eval", run_s, "--views", &two.join(",")],
        &["views of the data", "3", "2"],
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn one_view_for_mib_is_refused_and_single_view_objectives_say_what_they_ignore() {
    let d = tmpdir("kviews-one");
    let (views, labels) = write_views(&d);
    let first = views.split(',').next().unwrap().to_string();
    let run = d.join("run");
    one_line_error(
        &[
            "train",
            "-q",
            "--config",
            "demo",
            "--iterations",
            "10",
            "--batch-size",
            "8",
            "--views",
            &first,
            "--out",
            run.to_str().unwrap(),
        ],
        &["1 view", "augment"],
    );
    // a mismatched row count names the file
    let short = d.join("short.npy");
    std::fs::write(&short, npy_f32(&[10, 4], &[0.5; 40])).unwrap();
    let bad = format!("{views},{}", short.display());
    one_line_error(
        &[
            "train",
            "-q",
            "--config",
            "demo",
            "--views",
            &bad,
            "--out",
            d.join("run2").to_str().unwrap(),
        ],
        &["short.npy", "10 rows"],
    );
    // InfoMax on three views: trains on view 0 and says so
    let list: Vec<String> = views.split(',').map(|v| format!("{v:?}")).collect();
    let cfg = d.join("infomax.toml");
    std::fs::write(
        &cfg,
        format!(
            "[data]\ndataset = \"npy\"\nviews = [{}]\nlabels = {labels:?}\n\
             pairing = {{ kind = \"aligned\" }}\n[model]\nobjective = \"infomax\"\n\
             encoder_hidden = [16]\nz_dim = 4\ncritic_hidden = [16]\n\
             [train]\niterations = 10\nbatch_size = 8\nlog_every = 5\ncheckpoint_every = 10\n",
            list.join(", ")
        ),
    )
    .unwrap();
    let out = ok(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        d.join("im").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("single-view objective") && err.contains("`v1`, `v2`"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn memory_mapped_views_train_evaluate_and_embed_every_row() {
    let d = tmpdir("kviews-mapped");
    let (views, labels) = write_views(&d);
    let run = d.join("run");
    let run_s = run.to_str().unwrap();
    let out = ok(&[
        "train",
        "-q",
        "--config",
        "demo",
        "--iterations",
        "20",
        "--batch-size",
        "8",
        "--views",
        &views,
        "--labels",
        &labels,
        "--memory-map",
        "always",
        "--out",
        run_s,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("memory-mapped"), "{err}");
    let cfg = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(cfg.contains("memory_map = \"always\""), "{cfg}");
    let report = run.join("eval.json");
    ok(&[
        "eval",
        run_s,
        "--labels-per-class",
        "1",
        "--repetitions",
        "2",
        "--json",
        "--out",
        report.to_str().unwrap(),
    ]);
    assert!(report.exists());
    // 60 items, 12 held out (test_fraction 0.2): embed writes every row of a split
    for (split, rows) in [("train", "(48, "), ("test", "(12, ")] {
        let z = d.join(format!("z-{split}.npy"));
        ok(&[
            "embed",
            run_s,
            "--split",
            split,
            "--out",
            z.to_str().unwrap(),
        ]);
        let bytes = std::fs::read(&z).unwrap();
        let head = String::from_utf8_lossy(&bytes[..128.min(bytes.len())]).to_string();
        assert!(head.contains(rows), "{head}");
    }
    // a view with fewer rows is named, mapped or not
    let short = d.join("short.npy");
    std::fs::write(&short, npy_f32(&[10, 4], &[0.5; 40])).unwrap();
    one_line_error(
        &[
            "train",
            "-q",
            "--config",
            "demo",
            "--memory-map",
            "always",
            "--views",
            &format!("{views},{}", short.display()),
            "--out",
            d.join("run2").to_str().unwrap(),
        ],
        &["short.npy", "10 rows"],
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// `pairing = { kind = "augment", n_views = 3 }` trains MIB on three augmentations of each image
/// (three view slots through the shared encoder); the model evaluates like a two-view one; a view
/// count outside 2..=16 is one line naming the field.
#[test]
fn three_augmented_views_of_one_image_train_and_evaluate() {
    let d = tmpdir("kviews-augment");
    let write = |name: &str, n_views: usize| {
        let p = d.join(name);
        std::fs::write(
            &p,
            format!(
                "[data]\ndataset = \"mfeat\"\nviews = [\"pix\"]\n\
                 [data.pairing]\nkind = \"augment\"\nn_views = {n_views}\n\
                 [[data.pairing.augment.steps]]\nkind = \"pixel-corruption\"\nkeep = 0.8\nmode = \"drop\"\n\
                 [model]\nencoder_hidden = [32]\nz_dim = 4\ncritic = \"separable\"\nestimator = \"infonce\"\n\
                 [train]\niterations = 20\nbatch_size = 16\nlog_every = 10\ncheckpoint_every = 20\n"
            ),
        )
        .unwrap();
        p.display().to_string()
    };
    let cfg = write("three.toml", 3);
    let run = d.join("run");
    let run_s = run.to_str().unwrap();
    ok(&["train", "-q", "--config", &cfg, "--out", run_s]);
    let saved = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(saved.contains("n_views = 3"), "{saved}");
    let enc = std::fs::read_to_string(run.join("encoder.toml")).unwrap();
    assert_eq!(
        enc.matches("784").count() + enc.matches("240").count(),
        3,
        "{enc}"
    );
    let out = ok(&[
        "eval",
        run_s,
        "--labels-per-class",
        "1",
        "--repetitions",
        "1",
        "--json",
    ]);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(j["linear_probe"][0]["mean"].as_f64().unwrap() > 0.0, "{j}");
    for bad in [1, 17] {
        let cfg = write(&format!("bad{bad}.toml"), bad);
        one_line_error(
            &[
                "train",
                "--config",
                &cfg,
                "--out",
                d.join("bad").to_str().unwrap(),
            ],
            &["data.pairing.n_views", &bad.to_string()],
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}
