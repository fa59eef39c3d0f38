//! The NumPy `.npy` format, versions 1.0 to 3.0 (<https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html>).
//!
//! Supported element types: `f4`, `f8`, `u1`, `i1`, `i2`, `i4`, `i8`, little- or big-endian, C or
//! Fortran order (Fortran-ordered arrays are transposed to row-major on reading).

use super::array::{check_payload_len, Elements, RawArray};
use crate::{Error, Result};
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Reads a `.npy` file.
pub fn read_npy(path: &Path) -> Result<RawArray> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    parse_npy(&bytes, path)
}

fn header_value<'a>(header: &'a str, key: &str, path: &Path) -> Result<&'a str> {
    let pat_sq = format!("'{key}'");
    let pat_dq = format!("\"{key}\"");
    let start = header
        .find(&pat_sq)
        .or_else(|| header.find(&pat_dq))
        .ok_or_else(|| Error::format(path, format!("NPY header has no '{key}' key: {header}")))?;
    let rest = &header[start + key.len() + 2..];
    let colon = rest
        .find(':')
        .ok_or_else(|| Error::format(path, format!("NPY header: no ':' after '{key}'")))?;
    Ok(rest[colon + 1..].trim_start())
}

/// What a `.npy` header says: element type, byte order, layout, shape and where the data starts.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyHeader {
    /// The dtype as the header gives it (`<f4`, `|u1`, ...).
    pub descr: String,
    /// The type code without byte order (`f4`, `f2`, `u1`, ...).
    pub code: String,
    /// Big-endian elements.
    pub big_endian: bool,
    /// Bytes per element.
    pub elem_size: usize,
    /// Column-major (Fortran) order.
    pub fortran_order: bool,
    /// The shape.
    pub shape: Vec<usize>,
    /// Byte offset of the first element.
    pub data_offset: usize,
}

/// Parses the header at the start of `b` (the whole file or at least its header); `path` only
/// names the source in errors. The data is not checked.
pub fn parse_npy_header(b: &[u8], path: &Path) -> Result<NpyHeader> {
    if b.len() < 10 || &b[..6] != MAGIC {
        return Err(Error::format(
            path,
            "bad NPY magic number at byte 0 (expected \\x93NUMPY)",
        ));
    }
    let (hlen, hstart): (usize, usize) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        2 | 3 => {
            if b.len() < 12 {
                return Err(Error::format(path, "truncated NPY header at byte 8"));
            }
            (
                u32::from_le_bytes(b[8..12].try_into().unwrap()) as usize,
                12,
            )
        }
        v => {
            return Err(Error::format(
                path,
                format!("unsupported NPY version {v} at byte 6"),
            ))
        }
    };
    let hend = hstart
        .checked_add(hlen)
        .filter(|&e| e <= b.len())
        .ok_or_else(|| {
            Error::format(
                path,
                format!(
                    "truncated NPY header: it claims {hlen} bytes from offset {hstart}, file has {}",
                    b.len()
                ),
            )
        })?;
    let header = std::str::from_utf8(&b[hstart..hend])
        .map_err(|e| Error::format(path, format!("NPY header is not UTF-8: {e}")))?;
    // descr
    let d = header_value(header, "descr", path)?;
    let q = d.chars().next().unwrap_or(' ');
    if q != '\'' && q != '"' {
        return Err(Error::format(
            path,
            format!("NPY descr is not a simple type: {header}"),
        ));
    }
    let descr = d[1..]
        .split(q)
        .next()
        .ok_or_else(|| Error::format(path, "unterminated NPY descr"))?;
    let (endian, code) = match descr.as_bytes().first() {
        Some(b'<' | b'>' | b'|' | b'=') => (&descr[..1], &descr[1..]),
        _ => ("<", descr),
    };
    let big = endian == ">";
    let elem = match code {
        "u1" | "i1" | "b1" => 1,
        "i2" | "f2" => 2,
        "i4" | "f4" => 4,
        "i8" | "f8" => 8,
        _ => {
            return Err(Error::format(
                path,
                format!(
                    "unsupported NPY dtype '{descr}' (supported: f2, f4, f8, u1, i1, i2, i4, i8)"
                ),
            ))
        }
    };
    // fortran_order
    let f = header_value(header, "fortran_order", path)?;
    let fortran = if f.starts_with("True") {
        true
    } else if f.starts_with("False") {
        false
    } else {
        return Err(Error::format(
            path,
            format!("bad NPY fortran_order: {header}"),
        ));
    };
    // shape
    let s = header_value(header, "shape", path)?;
    if !s.starts_with('(') {
        return Err(Error::format(path, format!("bad NPY shape: {header}")));
    }
    let close = s
        .find(')')
        .ok_or_else(|| Error::format(path, format!("unterminated NPY shape: {header}")))?;
    let shape: Vec<usize> = s[1..close]
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| Error::format(path, format!("bad NPY dimension '{t}' in {header}")))
        })
        .collect::<Result<_>>()?;
    Ok(NpyHeader {
        descr: descr.to_string(),
        code: code.to_string(),
        big_endian: big,
        elem_size: elem,
        fortran_order: fortran,
        shape,
        data_offset: hend,
    })
}

/// Parses `.npy` bytes; `path` only names the source in errors.
pub fn parse_npy(b: &[u8], path: &Path) -> Result<RawArray> {
    let h = parse_npy_header(b, path)?;
    let (code, big, hend) = (h.code.as_str(), h.big_endian, h.data_offset);
    let descr = &h.descr;
    let need = check_payload_len(
        path,
        b.len(),
        &h.shape,
        h.elem_size,
        hend,
        &format!("NPY data ('{descr}')"),
    )?;
    let d = &b[hend..need];
    macro_rules! conv {
        ($t:ty, $n:expr) => {
            d.chunks_exact($n)
                .map(|c| {
                    let a: [u8; $n] = c.try_into().unwrap();
                    if big {
                        <$t>::from_be_bytes(a)
                    } else {
                        <$t>::from_le_bytes(a)
                    }
                })
                .collect()
        };
    }
    let data = match code {
        "u1" | "b1" => Elements::U8(d.to_vec()),
        "i1" => Elements::I8(d.iter().map(|&x| x as i8).collect()),
        "i2" => Elements::I16(conv!(i16, 2)),
        "i4" => Elements::I32(conv!(i32, 4)),
        "i8" => Elements::I64(conv!(i64, 8)),
        "f4" => Elements::F32(conv!(f32, 4)),
        // half precision is widened to f32 as it is read (exact)
        "f2" => {
            let bits: Vec<u16> = conv!(u16, 2);
            Elements::F32(bits.into_iter().map(f16_to_f32).collect())
        }
        _ => Elements::F64(conv!(f64, 8)),
    };
    let mut a = RawArray {
        shape: h.shape,
        data,
    };
    if h.fortran_order && a.shape.len() > 1 {
        a = fortran_to_c(a);
    }
    Ok(a)
}

/// The IEEE 754 half-precision value with bits `h`, as `f32` (exact: every half is an f32; NaNs
/// stay NaN). Branch-light, so that loops over rows of halves vectorise (F. Giesen's method).
#[inline]
pub fn f16_to_f32(h: u16) -> f32 {
    const EXP: u32 = 0x7c00 << 13;
    let h = h as u32;
    let mut o = (h & 0x7fff) << 13;
    let exp = o & EXP;
    o += (127 - 15) << 23;
    let o = if exp == EXP {
        // infinity or NaN: exponent all ones
        o + ((128 - 16) << 23)
    } else if exp == 0 {
        // zero or subnormal: renormalise through a float subtraction
        (f32::from_bits(o + (1 << 23)) - f32::from_bits(113 << 23)).to_bits()
    } else {
        o
    };
    f32::from_bits(o | ((h & 0x8000) << 16))
}

/// The half-precision bits nearest `x` (ties to even), for writing `f2` arrays. Magnitudes below
/// 2^-14 (the subnormal halves) become zero, those above 65504 saturate to +-65504, NaN stays NaN.
pub fn f32_to_f16(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    if x.is_nan() {
        return 0x7e00;
    }
    let a = x.abs();
    if a < f32::from_bits(113 << 23) {
        return sign;
    }
    if a >= 65504.0 {
        return sign | 0x7bff;
    }
    let exp = ((b >> 23) & 0xff) + 15 - 127;
    let man = b & 0x7f_ffff;
    let mut h = (exp << 10) | (man >> 13);
    let rest = man & 0x1fff;
    if rest > 0x1000 || (rest == 0x1000 && h & 1 == 1) {
        // may carry into the exponent, which is the correctly rounded result (at most 0x7bff here)
        h += 1;
    }
    sign | h.min(0x7bff) as u16
}

/// For each row-major (C) position of an array of `shape`, its column-major (Fortran) position.
fn fortran_positions(shape: &[usize]) -> Vec<usize> {
    let n: usize = shape.iter().product();
    let nd = shape.len();
    let mut idx = vec![0usize; nd];
    let mut map = Vec::with_capacity(n);
    for _ in 0..n {
        let mut fpos = 0;
        let mut stride = 1;
        for k in 0..nd {
            fpos += idx[k] * stride;
            stride *= shape[k];
        }
        map.push(fpos);
        for k in (0..nd).rev() {
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    map
}

/// Reorders the elements of a Fortran-ordered (column-major) array to row-major.
fn fortran_to_c(a: RawArray) -> RawArray {
    let shape = a.shape.clone();
    let map = fortran_positions(&shape);
    macro_rules! perm {
        ($v:expr, $var:ident) => {
            Elements::$var(map.iter().map(|&i| $v[i]).collect())
        };
    }
    let data = match &a.data {
        Elements::U8(v) => perm!(v, U8),
        Elements::I8(v) => perm!(v, I8),
        Elements::I16(v) => perm!(v, I16),
        Elements::I32(v) => perm!(v, I32),
        Elements::I64(v) => perm!(v, I64),
        Elements::F32(v) => perm!(v, F32),
        Elements::F64(v) => perm!(v, F64),
    };
    RawArray { shape, data }
}

/// How [`encode_npy_as`] lays out the elements: byte order and C or Fortran order (NumPy writes
/// both: `np.save(p, a.T)` is Fortran-ordered, `a.astype('>f4')` big-endian).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NpyLayout {
    /// Column-major element order (`'fortran_order': True`).
    pub fortran_order: bool,
    /// Big-endian elements (`'>f4'`).
    pub big_endian: bool,
}

/// Encodes an array as `.npy` (version 1.0, little-endian, C order).
pub fn encode_npy(a: &RawArray) -> Result<Vec<u8>> {
    encode_npy_as(a, NpyLayout::default())
}

/// Encodes a row-major array as `.npy` (version 1.0) in `layout`.
pub fn encode_npy_as(a: &RawArray, layout: NpyLayout) -> Result<Vec<u8>> {
    let n: usize = a.shape.iter().product();
    if n != a.data.len() {
        return Err(Error::shape("NPY array", n, a.data.len()));
    }
    let e = if layout.big_endian { '>' } else { '<' };
    let descr = match &a.data {
        Elements::U8(_) => "|u1".to_string(),
        Elements::I8(_) => "|i1".to_string(),
        Elements::I16(_) => format!("{e}i2"),
        Elements::I32(_) => format!("{e}i4"),
        Elements::I64(_) => format!("{e}i8"),
        Elements::F32(_) => format!("{e}f4"),
        Elements::F64(_) => format!("{e}f8"),
    };
    let shape = match a.shape.len() {
        1 => format!("({},)", a.shape[0]),
        _ => format!(
            "({})",
            a.shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let fortran = layout.fortran_order && a.shape.len() > 1;
    let order_word = if fortran { "True" } else { "False" };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': {order_word}, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    // the row-major index of each element in file order
    let order: Vec<usize> = if fortran {
        let mut inv = vec![0usize; n];
        for (c, f) in fortran_positions(&a.shape).into_iter().enumerate() {
            inv[f] = c;
        }
        inv
    } else {
        (0..n).collect()
    };
    macro_rules! put {
        ($v:expr) => {
            for &i in &order {
                if layout.big_endian {
                    out.extend($v[i].to_be_bytes())
                } else {
                    out.extend($v[i].to_le_bytes())
                }
            }
        };
    }
    match &a.data {
        Elements::U8(v) => put!(v),
        Elements::I8(v) => put!(v),
        Elements::I16(v) => put!(v),
        Elements::I32(v) => put!(v),
        Elements::I64(v) => put!(v),
        Elements::F32(v) => put!(v),
        Elements::F64(v) => put!(v),
    }
    Ok(out)
}

/// Writes an array as a `.npy` file.
pub fn write_npy(path: &Path, a: &RawArray) -> Result<()> {
    std::fs::write(path, encode_npy(a)?).map_err(|e| Error::io("writing", path, e))
}
