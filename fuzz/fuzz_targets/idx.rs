//! IDX bytes (raw; input starting with `1f 8b` goes through the gzip path), then what the loaders
//! do with an array: matrix and label conversion.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let p = Path::new("fuzz.idx");
    if let Ok(a) = mib::data::idx::parse_idx(data.to_vec(), p) {
        let _ = a.to_matrix(1.0 / 255.0, p);
        let _ = a.to_labels(p);
    }
});
