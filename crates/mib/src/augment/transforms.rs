//! The individual transforms.

use super::Augment;
use crate::MibRng;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

/// torchvision's `RandomAffine` on a single-channel image (see [`super::AugmentStep::RandomAffine`]).
///
/// Output pixel `p` (pixel-centre coordinates, relative to the centre `c = ((w-1)/2, (h-1)/2)`)
/// samples the input at `A^-1 (p - t) + c` with `A = scale * R(angle) * Shear(shear)`, bilinearly,
/// reading 0 outside the image. Parameters are drawn in torchvision's order (angle, translation,
/// scale, shear); translations are rounded to whole pixels as torchvision does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomAffine {
    /// Maximum rotation in degrees: the angle is `U(-degrees, degrees)`.
    pub degrees: f32,
    /// Maximum translation as a fraction of width and height.
    pub translate: [f32; 2],
    /// Scale range.
    pub scale: [f32; 2],
    /// Maximum x-shear in degrees.
    pub shear: f32,
}

/// The parameters of one affine draw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AffineParams {
    /// Rotation in degrees, counter-clockwise on screen.
    pub angle: f32,
    /// Translation in pixels `(x right, y down)`.
    pub translate: (f32, f32),
    /// Scale factor.
    pub scale: f32,
    /// x-shear in degrees.
    pub shear: f32,
}

fn uniform(rng: &mut MibRng, lo: f32, hi: f32) -> f32 {
    if hi > lo {
        lo + (hi - lo) * rng.random::<f32>()
    } else {
        lo
    }
}

impl RandomAffine {
    /// Draws the parameters of one transform for an `h x w` image.
    pub fn sample_using(&self, h: usize, w: usize, rng: &mut MibRng) -> AffineParams {
        let angle = uniform(rng, -self.degrees, self.degrees);
        let mx = self.translate[0] * w as f32;
        let my = self.translate[1] * h as f32;
        let tx = uniform(rng, -mx, mx).round();
        let ty = uniform(rng, -my, my).round();
        let scale = uniform(rng, self.scale[0], self.scale[1]);
        let shear = uniform(rng, -self.shear, self.shear);
        AffineParams {
            angle,
            translate: (tx, ty),
            scale,
            shear,
        }
    }
}

/// Applies a fixed affine transform (bilinear sampling, zero fill) to an `h x w` image.
pub fn affine(src: &[f32], dst: &mut [f32], h: usize, w: usize, p: &AffineParams) {
    let th = (p.angle as f64).to_radians();
    let (sn, cs) = th.sin_cos();
    let (sn, cs) = (snap(sn), snap(cs));
    let tn = snap((p.shear as f64).to_radians().tan());
    let inv_s = 1.0 / p.scale as f64;
    // A^-1 = Sh^-1 R^-1 / s with R = [[c, s], [-s, c]] (counter-clockwise on screen, y down)
    // and Sh = [[1, tan], [0, 1]].
    let m00 = ((cs - tn * sn) * inv_s) as f32;
    let m01 = ((-sn - tn * cs) * inv_s) as f32;
    let m10 = (sn * inv_s) as f32;
    let m11 = (cs * inv_s) as f32;
    let cx = (w as f32 - 1.0) * 0.5;
    let cy = (h as f32 - 1.0) * 0.5;
    let (tx, ty) = p.translate;
    let (wi, hi) = (w as isize, h as isize);
    for y in 0..h {
        let qy = y as f32 - cy - ty;
        let qx0 = -cx - tx;
        // source position of output (0, y), then step by the first column of A^-1 per x.
        let mut sx = m00 * qx0 + m01 * qy + cx;
        let mut sy = m10 * qx0 + m11 * qy + cy;
        let row = &mut dst[y * w..(y + 1) * w];
        for out in row.iter_mut() {
            // floor without a libm call: exact for coordinates > -16; anything below is
            // outside the image and reads 0 either way (NaN too: it casts to 0, i.e. -16).
            let x0 = (sx + 16.0) as i32 as isize - 16;
            let y0 = (sy + 16.0) as i32 as isize - 16;
            let (ax, ay) = (sx - x0 as f32, sy - y0 as f32);
            *out = if x0 >= 0 && y0 >= 0 && x0 + 1 < wi && y0 + 1 < hi {
                let i = y0 as usize * w + x0 as usize;
                let top = src[i] + ax * (src[i + 1] - src[i]);
                let bot = src[i + w] + ax * (src[i + w + 1] - src[i + w]);
                top + ay * (bot - top)
            } else if x0 < -1 || y0 < -1 || x0 >= wi || y0 >= hi {
                0.0
            } else {
                let g = |xx: isize, yy: isize| -> f32 {
                    if xx >= 0 && yy >= 0 && xx < wi && yy < hi {
                        src[yy as usize * w + xx as usize]
                    } else {
                        0.0
                    }
                };
                let top = g(x0, y0) * (1.0 - ax) + g(x0 + 1, y0) * ax;
                let bot = g(x0, y0 + 1) * (1.0 - ax) + g(x0 + 1, y0 + 1) * ax;
                top * (1.0 - ay) + bot * ay
            };
            sx += m00;
            sy += m10;
        }
    }
}

/// Rounds values within 1e-12 of 0, 1 or -1 to them, so that multiples of 90 degrees are exact.
fn snap(v: f64) -> f64 {
    let r = v.round();
    if (v - r).abs() < 1e-12 {
        r
    } else {
        v
    }
}

impl Augment for RandomAffine {
    fn apply_using(&self, src: &[f32], dst: &mut [f32], h: usize, w: usize, rng: &mut MibRng) {
        let p = self.sample_using(h, w, rng);
        affine(src, dst, h, w, &p);
    }
}

/// What [`PixelCorruption`] does to a corrupted pixel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CorruptionMode {
    /// Set it to 0 (the reference's `drop`).
    #[default]
    Drop,
    /// Set it to `1 - x` (the reference's `flip`).
    Flip,
}

/// The reference's `PixelCorruption(p)`: every pixel is kept with probability `keep`, independently.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelCorruption {
    /// Probability of keeping a pixel.
    pub keep: f32,
    /// What happens to the others.
    pub mode: CorruptionMode,
}

impl Augment for PixelCorruption {
    fn apply_using(&self, src: &[f32], dst: &mut [f32], _h: usize, _w: usize, rng: &mut MibRng) {
        // A pixel is corrupted when a uniform 32-bit draw is >= keep * 2^32.
        let thr = (self.keep as f64 * 4294967296.0).min(4294967296.0) as u64;
        let flip = self.mode == CorruptionMode::Flip;
        let mut d2 = dst.chunks_exact_mut(2);
        let mut s2 = src.chunks_exact(2);
        for (d, s) in (&mut d2).zip(&mut s2) {
            let bits = rng.next_u64();
            let (u0, u1) = (bits & 0xFFFF_FFFF, bits >> 32);
            d[0] = corrupt(s[0], u0 < thr, flip);
            d[1] = corrupt(s[1], u1 < thr, flip);
        }
        if let (Some(d), Some(s)) = (d2.into_remainder().first_mut(), s2.remainder().first()) {
            *d = corrupt(*s, (rng.next_u64() & 0xFFFF_FFFF) < thr, flip);
        }
    }
}

#[inline(always)]
fn corrupt(x: f32, keep: bool, flip: bool) -> f32 {
    match (keep, flip) {
        (true, _) => x,
        (false, false) => 0.0,
        (false, true) => 1.0 - x,
    }
}

/// Additive Gaussian noise `N(0, std^2)`, optionally clamped to `[0, 1]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GaussianNoise {
    /// Standard deviation.
    pub std: f32,
    /// Clamp to `[0, 1]`.
    pub clamp: bool,
}

impl Augment for GaussianNoise {
    fn apply_using(&self, src: &[f32], dst: &mut [f32], _h: usize, _w: usize, rng: &mut MibRng) {
        for (d, &s) in dst.iter_mut().zip(src) {
            let z: f32 = rng.sample(rand_distr::StandardNormal);
            let v = s + self.std * z;
            *d = if self.clamp { v.clamp(0.0, 1.0) } else { v };
        }
    }
}

/// torchvision's `RandomCrop(size=(h, w), padding)`: zero-pad, then crop at a random offset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomCrop {
    /// Zero padding on each side, in pixels.
    pub padding: usize,
}

impl Augment for RandomCrop {
    fn apply_using(&self, src: &[f32], dst: &mut [f32], h: usize, w: usize, rng: &mut MibRng) {
        let p = self.padding as i64;
        let ox = rng.random_range(-p..=p) as isize;
        let oy = rng.random_range(-p..=p) as isize;
        for y in 0..h as isize {
            for x in 0..w as isize {
                let (sx, sy) = (x + ox, y + oy);
                dst[(y * w as isize + x) as usize] =
                    if sx >= 0 && sy >= 0 && sx < w as isize && sy < h as isize {
                        src[(sy * w as isize + sx) as usize]
                    } else {
                        0.0
                    };
            }
        }
    }
}
