//! Labels of the named IDX datasets (MNIST, Fashion-MNIST) are checked against their 10 classes,
//! against the number of images, and between the train and test splits; each error names the file
//! and the offending value.

use mib::data::{idx, load_idx_dir_with, load_named, Elements, RawArray};
use std::path::{Path, PathBuf};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mib-labels-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn images(n: usize) -> RawArray {
    RawArray {
        shape: vec![n, 2, 3],
        data: Elements::U8((0..n * 6).map(|i| (i % 256) as u8).collect()),
    }
}

fn labels(v: Vec<u8>) -> RawArray {
    RawArray {
        shape: vec![v.len()],
        data: Elements::U8(v),
    }
}

/// Writes an MNIST-layout folder: 12 train and 5 test images with the given labels (gzip train).
fn write_dir(d: &Path, train: Vec<u8>, test: Vec<u8>) {
    idx::write_idx(&d.join("train-images-idx3-ubyte.gz"), &images(12), true).unwrap();
    idx::write_idx(&d.join("train-labels-idx1-ubyte.gz"), &labels(train), true).unwrap();
    idx::write_idx(&d.join("t10k-images-idx3-ubyte"), &images(5), false).unwrap();
    idx::write_idx(&d.join("t10k-labels-idx1-ubyte"), &labels(test), false).unwrap();
}

fn err(d: &Path) -> String {
    match load_named("mnist", Some(d), None) {
        Ok(s) => panic!(
            "loaded, n_classes = {}, train labels {:?}",
            s.train.n_classes, s.train.labels
        ),
        Err(e) => e.to_string(),
    }
}

#[test]
fn labels_all_42_are_refused_naming_the_file_and_value() {
    let d = dir("42");
    write_dir(&d, vec![42; 12], vec![3; 5]);
    let e = err(&d);
    assert!(e.contains("train-labels-idx1-ubyte.gz"), "{e}");
    assert!(e.contains("label 42") && e.contains("10 classes"), "{e}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_test_label_out_of_range_names_the_test_file() {
    let d = dir("test10");
    let train: Vec<u8> = (0..12).map(|i| i % 10).collect();
    write_dir(&d, train, vec![1, 2, 10, 3, 4]);
    let e = err(&d);
    assert!(e.contains("t10k-labels-idx1-ubyte"), "{e}");
    assert!(e.contains("label 10 of item 2"), "{e}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn label_count_must_match_the_images() {
    let d = dir("count");
    write_dir(&d, vec![1; 11], vec![0; 5]);
    let e = err(&d);
    assert!(
        e.contains("train-labels-idx1-ubyte.gz") && e.contains("expected 12 labels"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// With inferred classes (a non-MNIST IDX set), test labels must be classes of the training labels.
#[test]
fn inferred_classes_must_agree_between_splits() {
    let d = dir("infer");
    let train: Vec<u8> = (0..12).map(|i| i % 12).collect();
    write_dir(&d, train.clone(), vec![0, 1, 2, 3, 4]);
    let s = load_idx_dir_with(&d, None).unwrap();
    assert_eq!((s.train.n_classes, s.test.n_classes), (12, 12));
    write_dir(&d, train, vec![0, 1, 2, 3, 14]);
    let e = load_idx_dir_with(&d, None).unwrap_err().to_string();
    assert!(
        e.contains("t10k-labels-idx1-ubyte") && e.contains("label 14 of item 4"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&d);
}
