//! `.npz` (zip) archives: the bytes are written to a file (the reader seeks in it), then every
//! array the central directory lists, and one it does not, is read.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mib::data::npz;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir();
    let path = dir.join(format!("mib-fuzz-{}.npz", std::process::id()));
    std::fs::write(&path, data).unwrap();
    if let Ok(names) = npz::array_names(&path) {
        for n in names.iter().take(8) {
            if let Ok(a) = npz::read_npz_array(&path, n) {
                let _ = a.to_matrix(1.0, &path);
            }
        }
    }
    let _ = npz::read_npz_array(&path, "missing");
});
