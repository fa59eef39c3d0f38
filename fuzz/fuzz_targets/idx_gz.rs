//! IDX through gzip. First byte odd: the rest is compressed here and parsed (valid deflate, so the
//! fuzzer explores IDX headers behind the bounded decompression); even: the rest is taken as the
//! gzip stream itself, after the `1f 8b` magic (corrupt and truncated streams, members).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::Write;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode & 1 == 1 {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(rest).unwrap();
        e.finish().unwrap()
    } else {
        let mut b = vec![0x1f, 0x8b];
        b.extend_from_slice(rest);
        b
    };
    let p = Path::new("fuzz.idx.gz");
    if let Ok(a) = mib::data::idx::parse_idx(bytes, p) {
        let _ = a.to_matrix(1.0, p);
        let _ = a.to_labels(p);
    }
});
