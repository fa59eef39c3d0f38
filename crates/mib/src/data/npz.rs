//! NumPy `.npz` archives (`np.savez`, `np.savez_compressed`): a zip file of `.npy` members, one
//! array each. A view or labels file inside one is named `archive.npz:array` (the member
//! `array.npy`).
//!
//! Only what the archive says it needs is read: the end-of-central-directory record (zip64 too),
//! the central directory, then the one member asked for, stored or deflated. A member's declared
//! size is checked against [`super::array::MAX_DECOMPRESSED_BYTES`] before anything is allocated,
//! and decompression stops one byte past it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::array::{RawArray, MAX_DECOMPRESSED_BYTES};
use super::npy;
use crate::{Error, Result};

/// One member of the archive.
#[derive(Clone, Debug, PartialEq)]
struct Member {
    name: String,
    method: u16,
    compressed: u64,
    size: u64,
    local_offset: u64,
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}
fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"))
}

fn read_at(f: &mut File, path: &Path, offset: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    f.seek(SeekFrom::Start(offset))
        .and_then(|_| f.read_exact(&mut buf))
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => Error::format(
                path,
                format!("truncated zip archive: {len} bytes at offset {offset} are missing"),
            ),
            _ => Error::io("reading", path, e),
        })?;
    Ok(buf)
}

/// The members listed in the central directory of the zip archive at `path`.
fn members(f: &mut File, path: &Path) -> Result<Vec<Member>> {
    let bad = |m: &str| Error::format(path, format!("not a valid .npz (zip) archive: {m}"));
    let len = f
        .metadata()
        .map_err(|e| Error::io("reading", path, e))?
        .len();
    // The end-of-central-directory record: 22 bytes plus a comment of up to 65,535.
    let tail_len = len.min(22 + 65_535) as usize;
    let tail = read_at(f, path, len - tail_len as u64, tail_len)?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(&tail, i) == 0x0605_4b50)
        .ok_or_else(|| bad("no end-of-central-directory record"))?;
    let mut count = u16_at(&tail, eocd + 10) as u64;
    let mut cd_size = u32_at(&tail, eocd + 12) as u64;
    let mut cd_offset = u32_at(&tail, eocd + 16) as u64;
    if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
        // zip64: a locator just before the record points at the zip64 end record
        let loc = eocd
            .checked_sub(20)
            .filter(|&i| u32_at(&tail, i) == 0x0706_4b50)
            .ok_or_else(|| bad("zip64 sizes without a zip64 locator"))?;
        let rec_off = u64_at(&tail, loc + 8);
        if rec_off.checked_add(56).is_none_or(|e| e > len) {
            return Err(bad("zip64 end record out of the file"));
        }
        let rec = read_at(f, path, rec_off, 56)?;
        if u32_at(&rec, 0) != 0x0606_4b50 {
            return Err(bad("bad zip64 end record"));
        }
        count = u64_at(&rec, 32);
        cd_size = u64_at(&rec, 40);
        cd_offset = u64_at(&rec, 48);
    }
    if cd_offset.checked_add(cd_size).is_none_or(|e| e > len) || cd_size > 1 << 30 {
        return Err(bad("central directory out of the file"));
    }
    let cd = read_at(f, path, cd_offset, cd_size as usize)?;
    let mut out = Vec::new();
    let mut i = 0usize;
    for _ in 0..count {
        if i + 46 > cd.len() || u32_at(&cd, i) != 0x0201_4b50 {
            return Err(bad("truncated central directory"));
        }
        let method = u16_at(&cd, i + 10);
        let mut compressed = u32_at(&cd, i + 20) as u64;
        let mut size = u32_at(&cd, i + 24) as u64;
        let (n, m, k) = (
            u16_at(&cd, i + 28) as usize,
            u16_at(&cd, i + 30) as usize,
            u16_at(&cd, i + 32) as usize,
        );
        let mut local_offset = u32_at(&cd, i + 42) as u64;
        if i + 46 + n + m + k > cd.len() {
            return Err(bad("truncated central directory entry"));
        }
        let name = String::from_utf8_lossy(&cd[i + 46..i + 46 + n]).into_owned();
        // zip64 extended information: the 64-bit values of the fields that hold 0xFFFFFFFF
        let mut extra = &cd[i + 46 + n..i + 46 + n + m];
        while extra.len() >= 4 {
            let (id, sz) = (u16_at(extra, 0), u16_at(extra, 2) as usize);
            if 4 + sz > extra.len() {
                break;
            }
            if id == 0x0001 {
                let mut fields = extra[4..4 + sz].chunks_exact(8).map(|c| u64_at(c, 0));
                if size == 0xFFFF_FFFF {
                    size = fields.next().ok_or_else(|| bad("short zip64 field"))?;
                }
                if compressed == 0xFFFF_FFFF {
                    compressed = fields.next().ok_or_else(|| bad("short zip64 field"))?;
                }
                if local_offset == 0xFFFF_FFFF {
                    local_offset = fields.next().ok_or_else(|| bad("short zip64 field"))?;
                }
            }
            extra = &extra[4 + sz..];
        }
        out.push(Member {
            name,
            method,
            compressed,
            size,
            local_offset,
        });
        i += 46 + n + m + k;
    }
    Ok(out)
}

/// The names of the arrays in the `.npz` archive at `path` (member names without `.npy`).
pub fn array_names(path: &Path) -> Result<Vec<String>> {
    let mut f = File::open(path).map_err(|e| Error::io("opening", path, e))?;
    Ok(members(&mut f, path)?
        .into_iter()
        .map(|m| m.name.trim_end_matches(".npy").to_string())
        .collect())
}

/// Where member `name` (or `name.npy`) of the `.npz` archive at `path` lies: the open file, the
/// member, the byte offset of its data and the `archive.npz:name` spec that names it in errors.
/// Errors list the arrays the archive has when `name` is not one of them.
fn locate(path: &Path, name: &str) -> Result<(File, Member, u64, PathBuf)> {
    let mut f = File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let all = members(&mut f, path)?;
    let origin = PathBuf::from(format!("{}:{name}", path.display()));
    let m = all
        .iter()
        .find(|m| m.name == format!("{name}.npy") || m.name == name)
        .ok_or_else(|| {
            Error::format(
                path,
                format!(
                    "no array `{name}` in the archive (it has: {})",
                    all.iter()
                        .map(|m| m.name.trim_end_matches(".npy"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?
        .clone();
    let file_len = f
        .metadata()
        .map_err(|e| Error::io("reading", path, e))?
        .len();
    let head = read_at(&mut f, path, m.local_offset, 30)?;
    if u32_at(&head, 0) != 0x0403_4b50 {
        return Err(Error::format(&origin, "bad zip local header"));
    }
    let start = m.local_offset + 30 + u16_at(&head, 26) as u64 + u16_at(&head, 28) as u64;
    if start.checked_add(m.compressed).is_none_or(|e| e > file_len) {
        return Err(Error::format(
            &origin,
            format!(
                "truncated archive: the member needs {} bytes from offset {start}, the file has {file_len}",
                m.compressed
            ),
        ));
    }
    Ok((f, m, start, origin))
}

/// The byte range `(offset, len)` in the archive file of member `name` when it is stored
/// uncompressed (`np.savez`), so that it can be memory-mapped; errors name the member when it is
/// compressed (`np.savez_compressed`).
pub fn stored_extent(path: &Path, name: &str) -> Result<(u64, u64)> {
    let (_, m, start, origin) = locate(path, name)?;
    match m.method {
        0 if m.size == m.compressed => Ok((start, m.size)),
        _ => Err(Error::format(
            &origin,
            "cannot be memory-mapped: the member is compressed (np.savez_compressed); save the archive with np.savez",
        )),
    }
}

/// Reads array `name` (the member `name.npy`) of the `.npz` archive at `path`; errors list the
/// arrays the archive has when `name` is not one of them.
pub fn read_npz_array(path: &Path, name: &str) -> Result<RawArray> {
    let (mut f, m, start, origin) = locate(path, name)?;
    if m.size > MAX_DECOMPRESSED_BYTES {
        return Err(Error::format(
            &origin,
            format!(
                "the member declares {} bytes, more than the {} a view may have",
                m.size, MAX_DECOMPRESSED_BYTES
            ),
        ));
    }
    f.seek(SeekFrom::Start(start))
        .map_err(|e| Error::io("reading", path, e))?;
    let raw = (&mut f).take(m.compressed);
    let mut bytes = Vec::with_capacity(m.size.min(64 << 20) as usize);
    match m.method {
        0 => raw
            .take(m.size + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("reading", path, e))?,
        8 => flate2::read::DeflateDecoder::new(raw)
            .take(m.size + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::format(&origin, format!("corrupt deflate data: {e}")))?,
        other => {
            return Err(Error::format(
                &origin,
                format!("zip compression method {other} is not supported (stored or deflate only)"),
            ))
        }
    };
    if bytes.len() as u64 != m.size {
        return Err(Error::format(
            &origin,
            format!(
                "the member holds {} bytes, its header says {}",
                bytes.len(),
                m.size
            ),
        ));
    }
    npy::parse_npy(&bytes, &origin)
}

/// Splits `archive.npz:array` into the archive's path and the array name; `None` for any other
/// path.
pub fn split_member(spec: &Path) -> Option<(PathBuf, String)> {
    let s = spec.to_str()?;
    let i = s.rfind(".npz:")?;
    Some((PathBuf::from(&s[..i + 4]), s[i + 5..].to_string()))
}

/// Reads a `.npy` file, or the array `archive.npz:array`; a bare `.npz` path is refused with the
/// names of its arrays.
pub fn read_array(spec: &Path) -> Result<RawArray> {
    if let Some((archive, name)) = split_member(spec) {
        return read_npz_array(&archive, &name);
    }
    if spec.extension().is_some_and(|e| e == "npz") {
        let names = array_names(spec)?;
        return Err(Error::format(
            spec,
            format!(
                "name the array of an .npz archive as {}:NAME (it has: {})",
                spec.display(),
                names.join(", ")
            ),
        ));
    }
    npy::read_npy(spec)
}

/// The name of the view read from `spec`: the array's name inside an archive, else the file stem.
pub fn view_name(spec: &Path) -> String {
    match split_member(spec) {
        Some((_, name)) => name,
        None => spec
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}
