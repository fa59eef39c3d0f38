//! Views with their own item ids from the CLI (`--ids`, `data.ids`; issue 24): views of
//! different rows are aligned on the union of their ids, train, and embed fused; duplicate ids,
//! an ids file of the wrong length and a view sharing no item are one clear line each.

mod common;
use common::{npy_f32, npy_i64, ok, one_line_error, tmpdir};

use std::path::Path;

const N: usize = 80;

/// The items each view has, in the order of its rows: view 0 lacks items 0, 4, 8, ...; view 1
/// lacks 1, 5, 9, ...; view 2 has every item, in reverse order.
fn view_items() -> [Vec<usize>; 3] {
    [
        (0..N).filter(|i| i % 4 != 0).collect(),
        (0..N).filter(|i| i % 4 != 1).collect(),
        (0..N).rev().collect(),
    ]
}

/// Three views of their own rows, with ids files (view 0 and 1: text, `item<k>`-free integers
/// one per line; view 2: an .npy of integers) and the labels of the aligned items (the union of
/// the ids in order of first appearance). Returns (views, ids, labels).
fn write_views(d: &Path) -> (String, String, String) {
    let widths = [6usize, 4, 5];
    let items = view_items();
    let (mut views, mut ids) = (Vec::new(), Vec::new());
    for (v, (&w, its)) in widths.iter().zip(&items).enumerate() {
        let data: Vec<f32> = its
            .iter()
            .flat_map(|&i| {
                (0..w).map(move |c| {
                    let hot = if c % 3 == i % 3 { 1.0 } else { 0.0 };
                    hot + 0.1 * (((i * 7 + c * 5 + v * 13) % 11) as f32 / 11.0)
                })
            })
            .collect();
        let p = d.join(format!("v{v}.npy"));
        std::fs::write(&p, npy_f32(&[its.len(), w], &data)).unwrap();
        views.push(p.display().to_string());
        let ip = if v == 2 {
            let p = d.join("ids2.npy");
            let x: Vec<i64> = its.iter().map(|&i| 1000 + i as i64).collect();
            std::fs::write(&p, npy_i64(&x)).unwrap();
            p
        } else {
            let p = d.join(format!("ids{v}.txt"));
            let text: String = its.iter().map(|i| format!("{}\n", 1000 + i)).collect();
            std::fs::write(&p, text).unwrap();
            p
        };
        ids.push(ip.display().to_string());
    }
    // the aligned items: view 0's ids, then view 1's new ones (0, 4, 8, ...), then none new
    let mut order: Vec<usize> = items[0].clone();
    order.extend(items[1].iter().filter(|&&i| i % 4 == 0));
    assert_eq!(order.len(), N);
    let labels: Vec<i64> = order.iter().map(|&i| (i % 3) as i64).collect();
    let lp = d.join("y.npy");
    std::fs::write(&lp, npy_i64(&labels)).unwrap();
    (views.join(","), ids.join(","), lp.display().to_string())
}

#[test]
fn views_with_their_own_ids_are_aligned_train_and_embed_fused() {
    let d = tmpdir("ids");
    let (views, ids, labels) = write_views(&d);
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
    // without ids the views' row counts differ: refused naming the file
    one_line_error(&train, &["v2.npy", "80 rows"]);
    train.extend(["--ids", &ids]);
    ok(&train);
    let cfg = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(cfg.contains("ids = [") && cfg.contains("ids2.npy"), "{cfg}");
    // every aligned item is in a split: 80 items, 16 of them in the test split
    let z = d.join("z.npy");
    ok(&[
        "embed",
        run_s,
        "--fuse",
        "poe",
        "--out",
        z.to_str().unwrap(),
    ]);
    let a = mib::data::npy::read_npy(&z).unwrap();
    assert_eq!(a.shape[0], 16, "{:?}", a.shape);
    let y = mib::data::npy::read_npy(&z.with_extension("labels.npy")).unwrap();
    assert_eq!(y.shape, [16]);
    // the rows' item ids: each row's label is its item's (item i has label i % 3), and the
    // train and test splits hold every item once
    let ids_of = |p: &Path| -> Vec<usize> {
        std::fs::read_to_string(p.with_extension("ids.txt"))
            .unwrap()
            .lines()
            .map(|l| l.parse::<usize>().unwrap() - 1000)
            .collect()
    };
    let test_ids = ids_of(&z);
    assert_eq!(test_ids.len(), 16);
    let y = y.to_labels(&z).unwrap();
    for (r, &i) in test_ids.iter().enumerate() {
        assert_eq!(y[r] as usize, i % 3, "row {r}, item {i}");
    }
    let zt = d.join("zt.npy");
    ok(&[
        "embed",
        run_s,
        "--split",
        "train",
        "--fuse",
        "poe",
        "--out",
        zt.to_str().unwrap(),
    ]);
    let mut all = ids_of(&zt);
    all.extend(test_ids);
    all.sort_unstable();
    assert_eq!(all, (0..N).collect::<Vec<_>>());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_ids_are_one_line_naming_the_view() {
    let d = tmpdir("ids-bad");
    let (views, ids, labels) = write_views(&d);
    let files: Vec<&str> = ids.split(',').collect();
    let run = d.join("r").display().to_string();
    let train = |ids: &str| -> Vec<String> {
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
            "--ids",
            ids,
            "--out",
            &run,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let check = |ids: String, needles: &[&str]| {
        let args = train(&ids);
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        one_line_error(&a, needles);
    };
    // an id twice in one view
    let dup = d.join("dup.txt");
    let mut text = std::fs::read_to_string(files[1]).unwrap();
    text = text.replacen("1002\n", "1003\n", 1);
    std::fs::write(&dup, text).unwrap();
    check(
        format!("{},{},{}", files[0], dup.display(), files[2]),
        &["view `v1`", "`1003` appears twice"],
    );
    // an ids file of the wrong length
    let short = d.join("short.txt");
    std::fs::write(&short, "1\n2\n3\n").unwrap();
    check(
        format!("{},{},{}", short.display(), files[1], files[2]),
        &["view `v0`", "3 item ids", "60 rows"],
    );
    // a view with no item in common with the others
    let other = d.join("other.txt");
    let text: String = (0..60).map(|i| format!("x{i}\n")).collect();
    std::fs::write(&other, text).unwrap();
    check(
        format!("{},{},{}", other.display(), files[1], files[2]),
        &["view `v0` has no item in common"],
    );
    // one ids file too few; ids with presence masks
    check(
        format!("{},{}", files[0], files[1]),
        &["data.ids", "one ids file per view"],
    );
    let mut args = train(&ids);
    args.extend(["--present".into(), format!("{},,", files[0])]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    one_line_error(&a, &["data.present", "not both"]);
    let _ = std::fs::remove_dir_all(&d);
}
