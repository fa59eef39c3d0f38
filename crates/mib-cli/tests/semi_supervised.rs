//! `mib train --semi-supervised K`: MIB plus a classifier trained on the labels of the few-label
//! probe's draw; `mib eval` reports the classifier against the frozen probe and the raw inputs on
//! the same labels. Bad settings are one-line errors naming the key.

mod common;
use common::{ok, one_line_error, small_mib_config, tmpdir};

const REST: &str = r#"[optim]
lr = 1e-3
[train]
iterations = 80
batch_size = 64
threads = 1
"#;

#[test]
fn a_semi_supervised_run_is_evaluated_on_its_own_labels() {
    let d = tmpdir("semi-cli");
    let cfg = d.join("c.toml");
    std::fs::write(&cfg, small_mib_config(3, REST)).unwrap();
    let (c, run) = (
        cfg.display().to_string(),
        d.join("run").display().to_string(),
    );
    ok(&[
        "train",
        "-q",
        "-c",
        &c,
        "--semi-supervised",
        "2",
        "--out",
        &run,
    ]);
    let saved = std::fs::read_to_string(d.join("run/config.toml")).unwrap();
    assert!(saved.contains("[data.labelled]"), "{saved}");
    assert!(saved.contains("labels_per_class = 2") && saved.contains("label_weight = 1"));
    // the metrics log the classifier's cross-entropy
    let metrics = std::fs::read_to_string(d.join("run/metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(metrics.lines().last().unwrap()).unwrap();
    assert!(last["cross_entropy"].as_f64().unwrap() > 0.0, "{last}");
    let out = ok(&[
        "eval",
        &run,
        "--labels-per-class",
        "2",
        "--repetitions",
        "1",
        "--knn-k",
        "0",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["semi_supervised"];
    assert_eq!(s["labels_per_class"], 2);
    let acc = s["classifier_accuracy"].as_f64().unwrap();
    assert!(acc > 0.2 && acc <= 1.0, "{s}");
    for k in ["probe_accuracy", "raw_accuracy"] {
        assert!((0.0..=1.0).contains(&s[k].as_f64().unwrap()), "{s}");
    }
    // the table says it too
    let out = ok(&[
        "eval",
        &run,
        "--labels-per-class",
        "2",
        "--repetitions",
        "1",
        "--knn-k",
        "0",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Semi-supervised") && text.contains("its classifier"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn bad_semi_supervised_settings_are_one_line_errors() {
    let d = tmpdir("semi-cli-errors");
    let cfg = d.join("c.toml");
    std::fs::write(&cfg, small_mib_config(3, REST)).unwrap();
    let c = cfg.display().to_string();
    let out = d.join("r").display().to_string();
    one_line_error(
        &[
            "train",
            "-q",
            "-c",
            &c,
            "--semi-supervised",
            "0",
            "--out",
            &out,
        ],
        &["data.labelled.labels_per_class"],
    );
    one_line_error(
        &[
            "train",
            "-q",
            "-c",
            &c,
            "--semi-supervised",
            "2",
            "--label-weight=-1",
            "--out",
            &out,
        ],
        &["model.label_weight"],
    );
    one_line_error(
        &[
            "train",
            "-q",
            "-c",
            &c,
            "--semi-supervised",
            "2",
            "--labelled-per-batch",
            "65",
            "--out",
            &out,
        ],
        &["data.labelled.per_batch"],
    );
    // a class with fewer items than asked for (mfeat has under 150 training items per class):
    // refused when training starts, naming the key
    let res = common::mib(&[
        "train",
        "-q",
        "-c",
        &c,
        "--semi-supervised",
        "1000",
        "--out",
        &out,
    ]);
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(
        !res.status.success() && res.status.code() != Some(101),
        "{err}"
    );
    assert!(
        err.contains("data.labelled.labels_per_class") && err.contains("fewer than the 1000"),
        "{err}"
    );
    one_line_error(
        &[
            "train",
            "-q",
            "-c",
            "vae",
            "--semi-supervised",
            "2",
            "--out",
            &out,
        ],
        &["model.label_weight"],
    );
    let _ = std::fs::remove_dir_all(d);
}
