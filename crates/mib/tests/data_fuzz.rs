//! The readers survive arbitrary bytes: random inputs and random mutations of valid files give
//! `Ok` or an `Err`, never a panic or a huge allocation. Each test prints how many inputs it ran.

use mib::data::{csv, idx, npy, CsvHeader, CsvOptions, Elements, LabelColumn, RawArray};
use proptest::prelude::*;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

const CASES: u32 = 20_000;

fn valid_files() -> Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let a = RawArray {
        shape: vec![3, 2, 2],
        data: Elements::U8((0..12).collect()),
    };
    let b = RawArray {
        shape: vec![2, 3],
        data: Elements::F32(vec![0.5, -1.0, 2.0, 3.0, 4.0, 5.0]),
    };
    let c = RawArray {
        shape: vec![4],
        data: Elements::I32(vec![1, 2, 3, -4]),
    };
    [a, b, c]
        .iter()
        .map(|x| {
            let csv = b"a,b,label\n1,2.5,0\n-3,4e-2,1\n5,6,2\n".to_vec();
            (
                idx::encode_idx(x).unwrap(),
                npy::encode_npy(x).unwrap(),
                csv,
            )
        })
        .collect()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn mutate(mut b: Vec<u8>, edits: &[(usize, u8, u8)], cut: Option<usize>) -> Vec<u8> {
    for &(pos, val, kind) in edits {
        if b.is_empty() {
            b.push(val);
            continue;
        }
        let i = pos % b.len();
        match kind % 4 {
            0 => b[i] = val,
            1 => b[i] ^= 1 << (val % 8),
            2 => b.insert(i, val),
            _ => {
                b.remove(i);
            }
        }
    }
    if let Some(c) = cut {
        let n = b.len();
        b.truncate(c % (n + 1));
    }
    b
}

fn all_readers(bytes: &[u8]) {
    let p = Path::new("fuzz");
    let _ = idx::parse_idx(bytes.to_vec(), p);
    if let Ok(a) = npy::parse_npy(bytes, p) {
        let _ = a.to_matrix(1.0, p);
        let _ = a.to_labels(p);
    }
    for opts in [
        CsvOptions::default(),
        CsvOptions {
            header: CsvHeader::No,
            label: LabelColumn::Last,
            ..Default::default()
        },
        CsvOptions {
            header: CsvHeader::Yes,
            label: LabelColumn::Name("label".into()),
            delimiter: ';',
        },
        CsvOptions {
            label: LabelColumn::Index(1),
            ..Default::default()
        },
    ] {
        let _ = csv::parse_csv(bytes.to_vec(), p, &opts);
    }
}

static RANDOM: AtomicUsize = AtomicUsize::new(0);
static MUTATED: AtomicUsize = AtomicUsize::new(0);

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn readers_survive_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256), prefix in 0usize..4) {
        // Half of the inputs start with a real magic number so that parsing goes past it.
        let mut b = match prefix {
            0 => vec![0, 0, 8, 3],
            1 => b"\x93NUMPY\x01\x00".to_vec(),
            _ => Vec::new(),
        };
        b.extend(bytes);
        all_readers(&b);
        all_readers(&gzip(&b));
        let n = RANDOM.fetch_add(1, Ordering::Relaxed) + 1;
        if n == CASES as usize {
            eprintln!("readers_survive_random_bytes: {n} inputs x 2 (raw, gzip) x 3 readers");
        }
    }

    #[test]
    fn readers_survive_mutated_valid_files(
        which in 0usize..3,
        fmt in 0usize..3,
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6),
        cut in prop::option::of(any::<usize>()),
        gz in any::<bool>(),
    ) {
        let files = valid_files();
        let (i, n, c) = &files[which];
        let base = [i, n, c][fmt].clone();
        let b = mutate(base, &edits, cut);
        let b = if gz { gzip(&b) } else { b };
        all_readers(&b);
        let k = MUTATED.fetch_add(1, Ordering::Relaxed) + 1;
        if k == CASES as usize {
            eprintln!("readers_survive_mutated_valid_files: {k} inputs x 3 readers");
        }
    }
}

#[test]
fn huge_claimed_shapes_are_rejected_without_allocating() {
    let p = Path::new("huge");
    let mut b = vec![0, 0, 0x0D, 3];
    for _ in 0..3 {
        b.extend(u32::MAX.to_be_bytes());
    }
    assert!(idx::parse_idx(b, p)
        .unwrap_err()
        .to_string()
        .contains("overflows"));
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (4000000000, 4000000000), }";
    let mut n = b"\x93NUMPY\x01\x00".to_vec();
    n.extend((header.len() as u16).to_le_bytes());
    n.extend(header.as_bytes());
    assert!(npy::parse_npy(&n, p).is_err());
}
