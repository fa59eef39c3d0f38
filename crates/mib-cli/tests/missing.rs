//! Missing views from files (issue 24): `--missing nan-rows` and `--present` masks train, `embed
//! --fuse` and `eval --fuse` give every item a representation, bad masks are one clear line.

mod common;
use common::{npy_f32, npy_i64, ok, one_line_error, tmpdir};

use std::path::Path;

fn mask_npy(mask: &[bool]) -> Vec<u8> {
    mib::data::npy::encode_npy(&mib::data::RawArray {
        shape: vec![mask.len()],
        data: mib::data::Elements::U8(mask.iter().map(|&b| b as u8).collect()),
    })
    .unwrap()
}

/// Three views of 90 items in 3 classes; view 0 lacks items 0, 3, 6, ... (said by a mask file),
/// view 2 lacks items 1, 4, 7, ... (said by NaN rows). Returns (views, labels, masks).
fn write_views(d: &Path) -> (String, String, String) {
    let n = 90;
    let widths = [6usize, 4, 5];
    let mut paths = Vec::new();
    for (v, &w) in widths.iter().enumerate() {
        let data: Vec<f32> = (0..n * w)
            .map(|k| {
                let (r, c) = (k / w, k % w);
                if v == 2 && r % 3 == 1 {
                    return f32::NAN;
                }
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
    let m0: Vec<bool> = (0..n).map(|i| i % 3 != 0).collect();
    let mp = d.join("m0.npy");
    std::fs::write(&mp, mask_npy(&m0)).unwrap();
    (
        paths.join(","),
        lp.display().to_string(),
        format!("{},,", mp.display()),
    )
}

#[test]
fn views_with_missing_items_train_embed_and_evaluate_fused() {
    let d = tmpdir("missing");
    let (views, labels, masks) = write_views(&d);
    let run = d.join("run");
    let run_s = run.to_str().unwrap();
    let mut train = vec![
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
    // without saying that NaN rows are missing items, the NaN is an error naming file, row, column
    one_line_error(&train, &["v2.npy", "row 1", "column 0"]);
    train.extend(["--missing", "nan-rows", "--present", &masks]);
    ok(&train);
    let cfg = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(
        cfg.contains("missing = \"nan-rows\"") && cfg.contains("m0.npy"),
        "{cfg}"
    );
    for fuse in ["poe", "mean"] {
        let z = d.join(format!("z-{fuse}.npy"));
        ok(&["embed", run_s, "--fuse", fuse, "--out", z.to_str().unwrap()]);
        let a = mib::data::npy::read_npy(&z).unwrap();
        assert_eq!(a.shape[0], 18, "every test item: {:?}", a.shape);
        let out = d.join(format!("eval-{fuse}.json"));
        ok(&[
            "eval",
            run_s,
            "--fuse",
            fuse,
            "--labels-per-class",
            "1",
            "--repetitions",
            "2",
            "--json",
            "--out",
            out.to_str().unwrap(),
        ]);
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        // every test item is evaluated (18 of 90 at test_fraction 0.2)
        assert_eq!(r["n_test"], 18, "{r}");
    }
    // one view alone: only the items that have it
    let out = d.join("eval-view0.json");
    ok(&[
        "eval",
        run_s,
        "--view",
        "0",
        "--labels-per-class",
        "1",
        "--repetitions",
        "2",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(r["n_test"].as_u64().unwrap() < 18, "{r}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_masks_are_one_line_naming_the_view_or_item() {
    let d = tmpdir("missing-bad");
    let (views, labels, _) = write_views(&d);
    let short = d.join("short.npy");
    std::fs::write(&short, mask_npy(&[true, false, true])).unwrap();
    let none = d.join("none.npy");
    std::fs::write(&none, mask_npy(&[false; 90])).unwrap();
    let base = |present: String| -> Vec<String> {
        [
            "train",
            "-q",
            "--config",
            "demo",
            "--iterations",
            "2",
            "--batch-size",
            "8",
            "--views",
            &views,
            "--labels",
            &labels,
            "--missing",
            "nan-rows",
            "--present",
            &present,
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([d.join("r").display().to_string()])
        .collect()
    };
    let args = base(format!(",{},", short.display()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    one_line_error(&a, &["view `v1`", "3 entries", "90 rows"]);
    let args = base(format!(",{},", none.display()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    one_line_error(&a, &["view `v1` has no present item"]);
    let args = base(format!("{},", short.display()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    one_line_error(&a, &["data.present", "one mask file per view"]);
    let _ = std::fs::remove_dir_all(&d);
}
