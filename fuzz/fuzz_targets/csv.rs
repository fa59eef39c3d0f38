//! CSV bytes with options chosen by the first byte (delimiter, header mode, label column; bit 7
//! gzip-compresses the rest first).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mib::data::{csv, CsvHeader, CsvOptions, LabelColumn};
use std::io::Write;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some((&o, rest)) = data.split_first() else {
        return;
    };
    let opts = CsvOptions {
        delimiter: [',', ';', '\t', ' '][(o & 3) as usize],
        header: [
            CsvHeader::Auto,
            CsvHeader::Yes,
            CsvHeader::No,
            CsvHeader::Auto,
        ][((o >> 2) & 3) as usize],
        label: match (o >> 4) & 7 {
            0 | 1 => LabelColumn::None,
            2 => LabelColumn::Last,
            3 => LabelColumn::Index(0),
            4 => LabelColumn::Index(3),
            5 => LabelColumn::Name("label".into()),
            _ => LabelColumn::Name("b".into()),
        },
    };
    let bytes = if o & 0x80 != 0 {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(rest).unwrap();
        e.finish().unwrap()
    } else {
        rest.to_vec()
    };
    let _ = csv::parse_csv(bytes, Path::new("fuzz.csv"), &opts);
});
