//! The IDX format of MNIST and Fashion-MNIST (raw or gzip-compressed).
//!
//! Layout (<http://yann.lecun.com/exdb/mnist/>): two zero bytes, a type byte (`0x08` u8, `0x09` i8,
//! `0x0B` i16, `0x0C` i32, `0x0D` f32, `0x0E` f64), the number of dimensions, each dimension as a
//! big-endian `u32`, then the values, big-endian, row-major.

use super::array::{
    check_payload_len, checked_product, is_gzip, read_upto, Elements, RawArray, DEFLATE_MAX_RATIO,
    MAX_DECOMPRESSED_BYTES,
};
use crate::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Reads an IDX file (gzip-compressed when it starts with `1f 8b`).
pub fn read_idx(path: &Path) -> Result<RawArray> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    parse_idx(bytes, path)
}

/// The size in bytes of an element of IDX type byte `t`, `None` for an unknown type.
fn elem_size(t: u8) -> Option<usize> {
    match t {
        0x08 | 0x09 => Some(1),
        0x0B => Some(2),
        0x0C | 0x0D => Some(4),
        0x0E => Some(8),
        _ => None,
    }
}

/// Un-gzips an IDX file, reading no more than its header declares plus one byte: memory is bounded
/// by the declared size, a declared size over [`MAX_DECOMPRESSED_BYTES`] is refused before any
/// allocation, and data past the declared end is an error. A stream too short for its header or
/// data is returned as it is, for [`parse_idx`] to report like an uncompressed file.
fn gunzip_idx(gz: &[u8], path: &Path) -> Result<Vec<u8>> {
    let mut dec = flate2::read::MultiGzDecoder::new(gz);
    let mut b = Vec::new();
    read_upto(&mut dec, &mut b, 4, 4, path)?;
    let Some(elem) = b.get(2).copied().and_then(elem_size) else {
        return Ok(b);
    };
    if b.len() < 4 || b[0] != 0 || b[1] != 0 {
        return Ok(b);
    }
    let header = 4 + 4 * b[3] as usize;
    read_upto(&mut dec, &mut b, header as u64, header as u64, path)?;
    if b.len() < header {
        return Ok(b);
    }
    let shape: Vec<usize> = b[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes(c.try_into().unwrap()) as usize)
        .collect();
    let data = checked_product(&shape, path)?
        .checked_mul(elem)
        .filter(|&d| d as u64 <= MAX_DECOMPRESSED_BYTES)
        .ok_or_else(|| {
            Error::format(
                path,
                format!(
                    "IDX header declares shape {shape:?} of {elem}-byte values, more than the \
                     {MAX_DECOMPRESSED_BYTES}-byte limit for decompressed data"
                ),
            )
        })?;
    let need = header + data;
    // The first allocation: what the header declares, or what the stream can deliver if less.
    let expect = (need as u64 + 1).min((gz.len() as u64).saturating_mul(DEFLATE_MAX_RATIO));
    read_upto(&mut dec, &mut b, need as u64 + 1, expect, path)?;
    if b.len() > need {
        return Err(Error::format(
            path,
            format!(
                "unexpected trailing data after the declared shape {shape:?}: the decompressed \
                 stream goes on past byte offset {need}"
            ),
        ));
    }
    Ok(b)
}

/// Parses IDX bytes (gzip-compressed or not); `path` only names the source in errors.
pub fn parse_idx(bytes: Vec<u8>, path: &Path) -> Result<RawArray> {
    let b = if is_gzip(&bytes) {
        gunzip_idx(&bytes, path)?
    } else {
        bytes
    };
    if b.len() < 4 {
        return Err(Error::format(
            path,
            format!("truncated IDX header: {} bytes, need at least 4", b.len()),
        ));
    }
    if b[0] != 0 || b[1] != 0 {
        return Err(Error::format(
            path,
            format!(
                "bad IDX magic number {:02x} {:02x} {:02x} {:02x} at byte 0 (expected 00 00 <type> <ndim>)",
                b[0], b[1], b[2], b[3]
            ),
        ));
    }
    let Some(elem) = elem_size(b[2]) else {
        return Err(Error::format(
            path,
            format!("unknown IDX element type 0x{:02x} at byte 2", b[2]),
        ));
    };
    let ndim = b[3] as usize;
    let header = 4 + 4 * ndim;
    if b.len() < header {
        return Err(Error::format(
            path,
            format!(
                "truncated IDX header: {ndim} dimensions need {header} bytes, file has {}",
                b.len()
            ),
        ));
    }
    let shape: Vec<usize> = (0..ndim)
        .map(|i| u32::from_be_bytes(b[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    check_payload_len(path, b.len(), &shape, elem, header, "IDX data")?;
    let d = &b[header..];
    let data = match b[2] {
        0x08 => Elements::U8(d.to_vec()),
        0x09 => Elements::I8(d.iter().map(|&x| x as i8).collect()),
        0x0B => Elements::I16(
            d.chunks_exact(2)
                .map(|c| i16::from_be_bytes([c[0], c[1]]))
                .collect(),
        ),
        0x0C => Elements::I32(
            d.chunks_exact(4)
                .map(|c| i32::from_be_bytes(c.try_into().unwrap()))
                .collect(),
        ),
        0x0D => Elements::F32(
            d.chunks_exact(4)
                .map(|c| f32::from_be_bytes(c.try_into().unwrap()))
                .collect(),
        ),
        _ => Elements::F64(
            d.chunks_exact(8)
                .map(|c| f64::from_be_bytes(c.try_into().unwrap()))
                .collect(),
        ),
    };
    Ok(RawArray { shape, data })
}

/// Encodes an array as IDX bytes (`i64` arrays are not representable and give an error).
pub fn encode_idx(a: &RawArray) -> Result<Vec<u8>> {
    let n: usize = a.shape.iter().product();
    if n != a.data.len() || a.shape.len() > 255 {
        return Err(Error::shape("IDX array", n, a.data.len()));
    }
    let ty = match &a.data {
        Elements::U8(_) => 0x08,
        Elements::I8(_) => 0x09,
        Elements::I16(_) => 0x0B,
        Elements::I32(_) => 0x0C,
        Elements::F32(_) => 0x0D,
        Elements::F64(_) => 0x0E,
        Elements::I64(_) => return Err(Error::Data("IDX cannot store i64 values".into())),
    };
    let mut out = vec![0, 0, ty, a.shape.len() as u8];
    for &d in &a.shape {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    match &a.data {
        Elements::U8(v) => out.extend_from_slice(v),
        Elements::I8(v) => out.extend(v.iter().map(|&x| x as u8)),
        Elements::I16(v) => v.iter().for_each(|x| out.extend(x.to_be_bytes())),
        Elements::I32(v) => v.iter().for_each(|x| out.extend(x.to_be_bytes())),
        Elements::F32(v) => v.iter().for_each(|x| out.extend(x.to_be_bytes())),
        Elements::F64(v) => v.iter().for_each(|x| out.extend(x.to_be_bytes())),
        Elements::I64(_) => unreachable!(),
    }
    Ok(out)
}

/// Writes an array as an IDX file, gzip-compressed when `gzip` is true.
pub fn write_idx(path: &Path, a: &RawArray, gzip: bool) -> Result<()> {
    let bytes = encode_idx(a)?;
    let bytes = if gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&bytes)
            .map_err(|e| Error::io("compressing", path, e))?;
        enc.finish()
            .map_err(|e| Error::io("compressing", path, e))?
    } else {
        bytes
    };
    std::fs::write(path, bytes).map_err(|e| Error::io("writing", path, e))
}
