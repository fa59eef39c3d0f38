//! `.npy` bytes, then matrix and label conversion (Fortran order included).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let p = Path::new("fuzz.npy");
    if let Ok(a) = mib::data::npy::parse_npy(data, p) {
        let _ = a.to_matrix(1.0, p);
        let _ = a.to_labels(p);
        // What the writer makes of it must read back the same.
        if let Ok(b) = mib::data::npy::encode_npy(&a) {
            let back = mib::data::npy::parse_npy(&b, p).expect("encode_npy output must parse");
            assert_eq!(back.shape, a.shape);
        }
    }
});
