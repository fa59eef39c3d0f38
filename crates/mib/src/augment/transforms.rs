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

/// The channels of an image `[c, h, w]` (`c = src.len() / (h * w)`) of `src` and `dst`, pairwise:
/// the spatial transforms draw their parameters once per image and move every channel alike.
fn planes<'a>(
    src: &'a [f32],
    dst: &'a mut [f32],
    h: usize,
    w: usize,
) -> impl Iterator<Item = (&'a [f32], &'a mut [f32])> {
    let n = (h * w).max(1);
    src.chunks_exact(n).zip(dst.chunks_exact_mut(n))
}

impl Augment for RandomAffine {
    fn apply_using(&self, src: &[f32], dst: &mut [f32], h: usize, w: usize, rng: &mut MibRng) {
        let p = self.sample_using(h, w, rng);
        for (s, d) in planes(src, dst, h, w) {
            affine(s, d, h, w, &p);
        }
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
        for (src, dst) in planes(src, dst, h, w) {
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
}

/// torchvision's `RandomHorizontalFlip(p)`: mirrors the image left to right with probability `p`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HorizontalFlip {
    /// Probability of mirroring.
    pub p: f32,
}

impl Augment for HorizontalFlip {
    fn apply_using(&self, src: &[f32], dst: &mut [f32], _h: usize, w: usize, rng: &mut MibRng) {
        if rng.random::<f32>() < self.p {
            for (d, s) in dst.chunks_exact_mut(w).zip(src.chunks_exact(w)) {
                for (o, &v) in d.iter_mut().zip(s.iter().rev()) {
                    *o = v;
                }
            }
        } else {
            dst.copy_from_slice(src);
        }
    }
}

/// torchvision's `RandomResizedCrop(size=(h, w), scale, ratio)` at the image's own size: a window
/// of `U(scale)` of the image's area and log-uniform aspect ratio (width over height) in `ratio`
/// is cut at a uniformly random position (10 tries, then the centred largest window of an allowed
/// ratio, as torchvision does) and resized back to `h x w` bilinearly (half-pixel centres, edges
/// clamped: torchvision's `antialias=False`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomResizedCrop {
    /// Range of the window's area as a fraction of the image's.
    pub scale: [f32; 2],
    /// Range of the window's aspect ratio, width over height.
    pub ratio: [f32; 2],
}

impl RandomResizedCrop {
    /// Draws a window `(left, top, width, height)` in pixels for an `h x w` image.
    pub fn sample_using(
        &self,
        h: usize,
        w: usize,
        rng: &mut MibRng,
    ) -> (usize, usize, usize, usize) {
        let area = (h * w) as f32;
        let (lr0, lr1) = (self.ratio[0].ln(), self.ratio[1].ln());
        for _ in 0..10 {
            let target = area * uniform(rng, self.scale[0], self.scale[1]);
            let ar = uniform(rng, lr0, lr1).exp();
            let cw = (target * ar).sqrt().round() as usize;
            let ch = (target / ar).sqrt().round() as usize;
            if cw > 0 && ch > 0 && cw <= w && ch <= h {
                let left = rng.random_range(0..=w - cw);
                let top = rng.random_range(0..=h - ch);
                return (left, top, cw, ch);
            }
        }
        // torchvision's fallback: the whole image clipped to the allowed ratios, centred.
        let r = w as f32 / h as f32;
        let (cw, ch) = if r < self.ratio[0] {
            (w, ((w as f32 / self.ratio[0]).round() as usize).clamp(1, h))
        } else if r > self.ratio[1] {
            (((h as f32 * self.ratio[1]).round() as usize).clamp(1, w), h)
        } else {
            (w, h)
        };
        ((w - cw) / 2, (h - ch) / 2, cw, ch)
    }
}

/// Resizes the window `(left, top, cw, ch)` of the `h x w` image `src` to `h x w` (bilinear,
/// half-pixel centres, edges clamped).
pub fn resized_crop(
    src: &[f32],
    dst: &mut [f32],
    h: usize,
    w: usize,
    win: (usize, usize, usize, usize),
) {
    let (left, top, cw, ch) = win;
    let (sx, sy) = (cw as f32 / w as f32, ch as f32 / h as f32);
    for y in 0..h {
        let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (ch - 1) as f32);
        let y0 = fy as usize;
        let y1 = (y0 + 1).min(ch - 1);
        let ay = fy - y0 as f32;
        let (r0, r1) = ((top + y0) * w + left, (top + y1) * w + left);
        for (x, out) in dst[y * w..(y + 1) * w].iter_mut().enumerate() {
            let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (cw - 1) as f32);
            let x0 = fx as usize;
            let x1 = (x0 + 1).min(cw - 1);
            let ax = fx - x0 as f32;
            let top_v = src[r0 + x0] + ax * (src[r0 + x1] - src[r0 + x0]);
            let bot_v = src[r1 + x0] + ax * (src[r1 + x1] - src[r1 + x0]);
            *out = top_v + ay * (bot_v - top_v);
        }
    }
}

impl Augment for RandomResizedCrop {
    fn apply_using(&self, src: &[f32], dst: &mut [f32], h: usize, w: usize, rng: &mut MibRng) {
        let win = self.sample_using(h, w, rng);
        for (s, d) in planes(src, dst, h, w) {
            resized_crop(s, d, h, w, win);
        }
    }
}

/// Elastic distortion (Simard, Steinkraus and Platt 2003, the augmentation of the MNIST
/// literature): every pixel gets a displacement drawn from `U(-1, 1)` in x and in y, both fields
/// are smoothed by a Gaussian of standard deviation `sigma` pixels (reflected at the borders, as
/// torchvision's `gaussian_blur`) and scaled by `alpha` pixels, and the output pixel `(x, y)`
/// samples the input at `(x + dx, y + dy)` bilinearly, reading 0 outside the image. Simard et al.
/// used `alpha = 34`, `sigma = 4` on MNIST. torchvision's `ElasticTransform(alpha, sigma)` moves
/// pixels by half as much: its `alpha` is twice ours.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ElasticDistortion {
    /// Scale of the smoothed displacement field, in pixels.
    pub alpha: f32,
    /// Standard deviation of the Gaussian smoothing, in pixels.
    pub sigma: f32,
}

/// Reflects an index into `0..n` as torchvision's `reflect` padding does (the edge is not repeated).
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let m = i.rem_euclid(period);
    (if m < n { m } else { period - m }) as usize
}

/// Smooths the `h x w` field `f` in place with the normalised kernel `k` (odd length), separably,
/// using `tmp` (at least `h * w + w + k.len()` elements).
fn blur_separable(f: &mut [f32], tmp: &mut [f32], h: usize, w: usize, k: &[f32]) {
    let r = k.len() / 2;
    let (rows, pad) = tmp.split_at_mut(h * w);
    let pad = &mut pad[..w + 2 * r];
    // rows: each row reflected into `pad`, then a contiguous dot product per output pixel
    for y in 0..h {
        let row = &f[y * w..(y + 1) * w];
        for (i, p) in pad.iter_mut().enumerate() {
            *p = row[reflect(i as isize - r as isize, w)];
        }
        for (x, out) in rows[y * w..(y + 1) * w].iter_mut().enumerate() {
            *out = k.iter().zip(&pad[x..x + k.len()]).map(|(a, b)| a * b).sum();
        }
    }
    // columns: each output row is a weighted sum of (reflected) input rows
    for y in 0..h {
        let out = &mut f[y * w..(y + 1) * w];
        out.fill(0.0);
        for (j, &kv) in k.iter().enumerate() {
            let src = reflect(y as isize + j as isize - r as isize, h);
            for (o, &v) in out.iter_mut().zip(&rows[src * w..(src + 1) * w]) {
                *o += kv * v;
            }
        }
    }
}

/// Samples the `h x w` image `src` at the real position `(sx, sy)` bilinearly, 0 outside.
fn bilinear_zero(src: &[f32], h: usize, w: usize, sx: f32, sy: f32) -> f32 {
    if !(sx > -1.0 && sy > -1.0 && sx < w as f32 && sy < h as f32) {
        return 0.0;
    }
    let (x0, y0) = (sx.floor() as isize, sy.floor() as isize);
    let (ax, ay) = (sx - x0 as f32, sy - y0 as f32);
    let (wi, hi) = (w as isize, h as isize);
    let g = |xx: isize, yy: isize| -> f32 {
        if xx >= 0 && yy >= 0 && xx < wi && yy < hi {
            src[yy as usize * w + xx as usize]
        } else {
            0.0
        }
    };
    let top = g(x0, y0) + ax * (g(x0 + 1, y0) - g(x0, y0));
    let bot = g(x0, y0 + 1) + ax * (g(x0 + 1, y0 + 1) - g(x0, y0 + 1));
    top + ay * (bot - top)
}

impl ElasticDistortion {
    /// Taps of the smoothing kernel: `2 ceil(3 sigma) + 1`.
    pub fn kernel_len(&self) -> usize {
        2 * (3.0 * self.sigma).ceil().max(0.0) as usize + 1
    }

    /// Writes the normalised Gaussian kernel of the smoothing (radius `ceil(3 sigma)`; one tap of
    /// 1 when `sigma` is 0) into `k`, which has [`ElasticDistortion::kernel_len`] elements.
    fn kernel_into(&self, k: &mut [f32]) {
        if self.sigma <= 0.0 {
            k.fill(1.0);
            return;
        }
        let r = (k.len() / 2) as f32;
        for (i, v) in k.iter_mut().enumerate() {
            let d = i as f32 - r;
            *v = (-0.5 * d * d / (self.sigma * self.sigma)).exp();
        }
        let s: f32 = k.iter().sum();
        k.iter_mut().for_each(|v| *v /= s);
    }

    /// The normalised Gaussian kernel of the smoothing.
    pub fn kernel(&self) -> Vec<f32> {
        let mut k = vec![0.0; self.kernel_len()];
        self.kernel_into(&mut k);
        k
    }

    /// Length of the `scratch` that [`ElasticDistortion::sample_into`] needs for an `h x w` image.
    pub fn scratch_len(&self, h: usize, w: usize) -> usize {
        h * w + w + 3 * self.kernel_len()
    }

    /// Draws the displacement fields `(dx, dy)` (pixels) of one transform for an `h x w` image
    /// into `dx`, `dy` (`h * w` elements each), using `scratch`
    /// ([`ElasticDistortion::scratch_len`] elements) for the kernel and the blur.
    pub fn sample_into(
        &self,
        h: usize,
        w: usize,
        rng: &mut MibRng,
        dx: &mut [f32],
        dy: &mut [f32],
        scratch: &mut [f32],
    ) {
        let (kernel, tmp) = scratch.split_at_mut(self.kernel_len());
        self.kernel_into(kernel);
        for v in dx.iter_mut() {
            *v = rng.random::<f32>() * 2.0 - 1.0;
        }
        for v in dy.iter_mut() {
            *v = rng.random::<f32>() * 2.0 - 1.0;
        }
        blur_separable(dx, tmp, h, w, kernel);
        blur_separable(dy, tmp, h, w, kernel);
        for v in dx.iter_mut().chain(dy.iter_mut()) {
            *v *= self.alpha;
        }
    }
}

/// Applies the displacement fields `dx`, `dy` (pixels) to the `h x w` image `src`: output pixel
/// `(x, y)` samples `src` at `(x + dx, y + dy)` bilinearly, 0 outside.
pub fn displace(src: &[f32], dst: &mut [f32], h: usize, w: usize, dx: &[f32], dy: &[f32]) {
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            dst[i] = bilinear_zero(src, h, w, x as f32 + dx[i], y as f32 + dy[i]);
        }
    }
}

impl Augment for ElasticDistortion {
    fn apply_using(&self, src: &[f32], dst: &mut [f32], h: usize, w: usize, rng: &mut MibRng) {
        // Per-thread scratch (fields, kernel, blur buffer), so that augmenting allocates nothing
        // after the first image of a size.
        thread_local! {
            static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        SCRATCH.with(|cell| {
            let mut fields = cell.borrow_mut();
            let n = h * w;
            fields.resize(2 * n + self.scratch_len(h, w), 0.0);
            let (dx, rest) = fields.split_at_mut(n);
            let (dy, scratch) = rest.split_at_mut(n);
            self.sample_into(h, w, rng, dx, dy, scratch);
            for (s, d) in planes(src, dst, h, w) {
                displace(s, d, h, w, dx, dy);
            }
        });
    }
}
