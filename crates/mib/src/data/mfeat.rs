//! The UCI Multiple Features (mfeat) data set, embedded in the library.
//!
//! 2,000 handwritten digits (200 per class, rows in class order) described by six views extracted
//! from the same scans: `pix` (240 pixel averages 0-6 of a 16 x 15 window), `fou` (76 Fourier
//! coefficients), `fac` (216 profile correlations), `kar` (64 Karhunen-Loeve coefficients), `zer`
//! (47 Zernike moments) and `mor` (6 morphological features). Source: the UCI Machine Learning
//! Repository "Multiple Features" (Duin; van Breukelen et al. 1998), CC BY 4.0.
//!
//! Storage (`assets/mfeat.bin`, 1.39 MB, built by `assets/make_mfeat.py`): every value of the
//! original text files is a short decimal, stored exactly as an integer mantissa and a count of
//! decimals, zlib-compressed per view. Decoding gives `mantissa / 10^decimals` rounded to `f32`
//! (through `f64`), i.e. the value the CSV text denotes, lossless up to `f32` rounding.

use super::MultiViewDataset;
use crate::{Error, Matrix, Result};
use std::io::Read;

static MFEAT: &[u8] = include_bytes!("../../assets/mfeat.bin");
static SPLIT: &[u8] = include_bytes!("../../assets/mfeat_split.bin");

/// Names of the six views, in storage order.
pub const MFEAT_VIEWS: [&str; 6] = ["pix", "fou", "fac", "kar", "zer", "mor"];

/// Rows of the `pix` view's image (16 rows x 15 columns).
pub const MFEAT_PIX_SHAPE: (usize, usize) = (16, 15);

/// Size in bytes of the embedded asset.
pub fn embedded_size() -> usize {
    MFEAT.len() + SPLIT.len()
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or_else(|| {
            Error::Data(format!(
                "embedded mfeat asset truncated at byte {}",
                self.pos
            ))
        })?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
}

/// All six views of the 2,000 digits, unsplit and unscaled, with labels 0-9, in the original
/// row order (200 rows per class, class by class).
pub fn load_mfeat_all() -> Result<MultiViewDataset> {
    let mut c = Cursor { b: MFEAT, pos: 0 };
    if c.take(6)? != b"MFEAT2" {
        return Err(Error::Data("embedded mfeat asset: bad magic".into()));
    }
    let n = u32::from_le_bytes(c.take(4)?.try_into().unwrap()) as usize;
    let nviews = c.u8()? as usize;
    let labels: Vec<u32> = c.take(n)?.iter().map(|&l| l as u32).collect();
    let mut views = Vec::with_capacity(nviews);
    let mut names = Vec::with_capacity(nviews);
    for _ in 0..nviews {
        let len = c.u8()? as usize;
        let name = String::from_utf8_lossy(c.take(len)?).into_owned();
        let cols = u16::from_le_bytes(c.take(2)?.try_into().unwrap()) as usize;
        let order = c.u8()?;
        let planes = c.u8()? as usize;
        let zlen = u32::from_le_bytes(c.take(4)?.try_into().unwrap()) as usize;
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(c.take(zlen)?)
            .read_to_end(&mut raw)
            .map_err(|e| Error::Data(format!("embedded mfeat asset, view {name}: {e}")))?;
        let m = n * cols;
        if raw.len() != m * (1 + planes) {
            return Err(Error::Data(format!(
                "embedded mfeat asset, view {name}: {} bytes, expected {}",
                raw.len(),
                m * (1 + planes)
            )));
        }
        let mut data = vec![0f32; m];
        const POW10: [f64; 16] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
        ];
        for k in 0..m {
            let mut z: u64 = 0;
            for p in 0..planes {
                z |= (raw[m * (1 + p) + k] as u64) << (8 * p);
            }
            let mant = ((z >> 1) as i64) ^ -((z & 1) as i64);
            let dec = raw[k] as usize;
            let v = (mant as f64 / POW10[dec.min(15)]) as f32;
            let (r, col) = if order == 0 {
                (k % n, k / n)
            } else {
                (k / cols, k % cols)
            };
            data[r * cols + col] = v;
        }
        views.push(Matrix::new(n, cols, data)?);
        names.push(name);
    }
    MultiViewDataset::new(views, Some(labels), Some(10))?.with_view_names(names)
}

/// The fixed train/test permutation of the 2,000 rows: numpy's
/// `np.random.RandomState(0).permutation(2000)` (the split of the baselines in the data set's
/// README); the first 1,500 entries are the training rows, the last 500 the test rows.
pub fn mfeat_permutation() -> Vec<usize> {
    SPLIT
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]) as usize)
        .collect()
}
