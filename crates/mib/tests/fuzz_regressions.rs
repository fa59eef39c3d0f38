//! Inputs found by the coverage-guided fuzzers (`fuzz/`, `scripts/fuzz.sh`), each replayed exactly
//! as its fuzz target ran it. Every one once panicked (or, in release builds, returned nonsense);
//! each must now give `Ok` or a clear `Err`.

use mib::data::idx;
use std::io::Write;
use std::path::Path;

/// Target `idx`: parse, then convert to a matrix and to labels.
fn idx_target(bytes: Vec<u8>, p: &Path) -> Option<mib::Error> {
    match idx::parse_idx(bytes, p) {
        Err(e) => Some(e),
        Ok(a) => {
            let m = a.to_matrix(1.0 / 255.0, p);
            let _ = a.to_labels(p);
            m.err()
        }
    }
}

/// fuzz/artifacts/idx/crash-58bf6d5b72065b34134bd31f7cd277190ec58771: an f64 IDX array of 8
/// dimensions, the first 0, the others large. Zero values in all, so the size check passed, but the
/// values per item (the product of the other dimensions) overflowed: `attempt to multiply with
/// overflow` in `RawArray::item_len` (a wrapped width in release builds).
#[test]
fn idx_zero_items_with_an_overflowing_item_size() {
    let bytes = vec![
        0x00, 0x00, 0x0e, 0x08, 0x00, 0x00, 0x00, 0x00, 0x27, 0x00, 0x00, 0x02, 0x3f, 0xf8, 0x00,
        0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x40, 0x04, 0x00,
        0x1e, 0x8b, 0x00, 0x00, 0x00, 0x00,
    ];
    let e = idx_target(bytes, Path::new("crash.idx")).expect("must be refused");
    let e = e.to_string();
    assert!(e.contains("crash.idx") && e.contains("overflows"), "{e}");
}

/// fuzz/artifacts/idx_gz/crash-d4b0d09692656243206607b1a6962cb28f3faf91 (mode byte 0x01: the rest
/// is gzip-compressed, then parsed): the same overflow through the gzip path, an f32 array of 13
/// dimensions whose second is 0.
#[test]
fn idx_gz_zero_items_with_an_overflowing_item_size() {
    let input = [
        0x01, 0x00, 0x00, 0x0b, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xcb, 0xcb,
        0xcb, 0x00, 0x00, 0x00, 0x00, 0xcb, 0xcb, 0xcb, 0xcb, 0xcb, 0xcb, 0xcb, 0xcb, 0xcb, 0xcb,
        0xcb, 0xcb, 0xcb, 0xcb, 0xcb, 0xcb, 0xcb, 0xcb, 0x00, 0x06, 0xcb, 0xcb, 0xcb, 0xcb, 0xcb,
        0xcb, 0xcb, 0x00, 0x00, 0xcb, 0xcb, 0x00, 0x07, 0xff, 0x2e, 0x41, 0xf9,
    ];
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&input[1..]).unwrap();
    let e = idx_target(enc.finish().unwrap(), Path::new("crash.idx.gz")).expect("must be refused");
    assert!(e.to_string().contains("crash.idx.gz"), "{e}");
}

/// An array of zero items with a width that does not overflow still says nothing about its
/// values; as a matrix it is refused rather than claiming, say, 2^62 columns.
#[test]
fn idx_zero_items_is_not_a_matrix() {
    let mut b = vec![0, 0, 0x08, 3];
    for d in [0u32, 1 << 31, 1 << 31] {
        b.extend(d.to_be_bytes());
    }
    let a = idx::parse_idx(b, Path::new("empty.idx")).unwrap();
    let e = a
        .to_matrix(1.0, Path::new("empty.idx"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty.idx") && e.contains("no items"), "{e}");
}
