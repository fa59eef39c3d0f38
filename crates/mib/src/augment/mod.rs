//! Seeded image augmentations that make two views of one image.
//!
//! Each transform implements [`Augment`]: it maps a single-channel `h x w` image (row-major `f32`,
//! values in `[0, 1]`) to another image of the same size, drawing its randomness from the RNG it is
//! given, so that equal seeds give equal views. [`Compose`] chains them. [`AugmentConfig`] is the
//! serialisable description; [`AugmentConfig::reference`] is the recipe of the paper's MNIST
//! experiment (reference code: `utils/data.py` of mfederici/Multi-View-Information-Bottleneck):
//! `RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=15)` then
//! `PixelCorruption(0.8)` (20 % of the pixels set to 0).

mod bench;
mod grid;
mod transforms;

pub use bench::{bench_views, synthetic_images, BenchViewsReport};
pub use grid::{render_views_grid, write_gray_png, write_views_png, GrayImage};
pub use transforms::{
    affine, displace, resized_crop, AffineParams, CorruptionMode, ElasticDistortion, GaussianNoise,
    HorizontalFlip, PixelCorruption, RandomAffine, RandomCrop, RandomResizedCrop,
};

use crate::{Error, MibRng, Result};
use serde::{Deserialize, Serialize};

/// A random transform of an image, grey or with channels.
pub trait Augment: Send + Sync {
    /// Writes a random transform of `src` into `dst` (same size), drawing randomness from `rng`.
    /// `src` is an image of `c = src.len() / (h * w)` channels of `h x w` pixels each, one after
    /// the other (`[c, h, w]`, row-major): the spatial transforms move all channels of an image
    /// alike (one draw per image); the pixel-wise ones draw per value.
    fn apply_using(&self, src: &[f32], dst: &mut [f32], h: usize, w: usize, rng: &mut MibRng);
}

/// One step of an augmentation pipeline, as written in configs (`kind = "random-affine"`, ...).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum AugmentStep {
    /// torchvision's `RandomAffine`: rotation by `U(-degrees, degrees)` (positive = counter-clockwise
    /// on screen), translation by `round(U(-tx * w, tx * w))`, `round(U(-ty * h, ty * h))` pixels,
    /// scale `U(scale[0], scale[1])`, x-shear `U(-shear, shear)` degrees, about the image centre;
    /// bilinear sampling, zero fill.
    RandomAffine {
        /// Maximum rotation in degrees.
        degrees: f32,
        /// Maximum translation as a fraction of the width and height.
        #[serde(default)]
        translate: [f32; 2],
        /// Scale range.
        #[serde(default = "unit_scale")]
        scale: [f32; 2],
        /// Maximum x-shear in degrees.
        #[serde(default)]
        shear: f32,
    },
    /// The reference's `PixelCorruption`: each pixel is kept with probability `keep`, otherwise
    /// set to 0 (`drop`) or to `1 - x` (`flip`).
    PixelCorruption {
        /// Probability that a pixel is left unchanged.
        keep: f32,
        /// What happens to a corrupted pixel.
        #[serde(default)]
        mode: CorruptionMode,
    },
    /// Adds `N(0, std^2)` noise to every pixel, then clamps to `[0, 1]` when `clamp`.
    GaussianNoise {
        /// Standard deviation of the noise.
        std: f32,
        /// Clamp the result to `[0, 1]`.
        #[serde(default = "yes")]
        clamp: bool,
    },
    /// torchvision's `RandomCrop(size, padding)` at the image's own size: zero-pad by `padding`
    /// pixels on each side, then crop an `h x w` window at a uniformly random offset.
    RandomCrop {
        /// Zero padding on each side, in pixels.
        padding: usize,
    },
    /// torchvision's `RandomHorizontalFlip(p)`: mirrors left to right with probability `p`
    /// (for images whose mirror is the same kind of thing: clothes, not digits).
    HorizontalFlip {
        /// Probability of mirroring.
        #[serde(default = "half")]
        p: f32,
    },
    /// torchvision's `RandomResizedCrop` at the image's own size (SimCLR's main augmentation):
    /// a window of `U(scale)` of the area, aspect ratio log-uniform in `ratio`, resized back
    /// bilinearly.
    RandomResizedCrop {
        /// Range of the window's area as a fraction of the image's (torchvision: 0.08-1).
        #[serde(default = "crop_scale")]
        scale: [f32; 2],
        /// Range of the window's width over height (torchvision: 3/4-4/3).
        #[serde(default = "crop_ratio")]
        ratio: [f32; 2],
    },
    /// Elastic distortion (Simard et al. 2003): a random displacement field, `U(-1, 1)` per pixel
    /// and axis, smoothed by a Gaussian of `sigma` pixels and scaled by `alpha` pixels; bilinear
    /// sampling, zero fill. Simard et al.: `alpha = 34`, `sigma = 4` on MNIST. torchvision's
    /// `ElasticTransform(alpha, sigma)` is this with half the `alpha`.
    ElasticDistortion {
        /// Scale of the smoothed displacement field, in pixels.
        alpha: f32,
        /// Standard deviation of the smoothing Gaussian, in pixels.
        sigma: f32,
    },
}

fn half() -> f32 {
    0.5
}
fn crop_scale() -> [f32; 2] {
    [0.08, 1.0]
}
fn crop_ratio() -> [f32; 2] {
    [3.0 / 4.0, 4.0 / 3.0]
}

fn unit_scale() -> [f32; 2] {
    [1.0, 1.0]
}
fn yes() -> bool {
    true
}

/// A serialisable augmentation pipeline: the steps, applied in order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct AugmentConfig {
    /// The steps, applied in order (none = identity).
    pub steps: Vec<AugmentStep>,
}

impl AugmentConfig {
    /// The paper's MNIST recipe: `RandomAffine(degrees 15, translate 0.1, scale 0.9-1.1, shear 15)`
    /// then `PixelCorruption(keep 0.8, drop)`.
    pub fn reference() -> Self {
        AugmentConfig {
            steps: vec![
                AugmentStep::RandomAffine {
                    degrees: 15.0,
                    translate: [0.1, 0.1],
                    scale: [0.9, 1.1],
                    shear: 15.0,
                },
                AugmentStep::PixelCorruption {
                    keep: 0.8,
                    mode: CorruptionMode::Drop,
                },
            ],
        }
    }
    /// Checks every parameter, naming the offending one.
    pub fn validate(&self) -> Result<()> {
        for (i, s) in self.steps.iter().enumerate() {
            let f = |name: &str| format!("augment.steps[{i}].{name}");
            let fin = |v: f32| v.is_finite();
            match *s {
                AugmentStep::RandomAffine {
                    degrees,
                    translate,
                    scale,
                    shear,
                } => {
                    if !fin(degrees) || !(0.0..=180.0).contains(&degrees) {
                        return Err(Error::config(f("degrees"), degrees, "must be in [0, 180]"));
                    }
                    if translate
                        .iter()
                        .any(|&t| !fin(t) || !(0.0..=1.0).contains(&t))
                    {
                        return Err(Error::config(
                            f("translate"),
                            format!("{translate:?}"),
                            "must be in [0, 1]",
                        ));
                    }
                    if scale.iter().any(|&s| !fin(s) || s <= 0.0) || scale[0] > scale[1] {
                        return Err(Error::config(
                            f("scale"),
                            format!("{scale:?}"),
                            "must be 0 < min <= max",
                        ));
                    }
                    if !fin(shear) || !(0.0..90.0).contains(&shear) {
                        return Err(Error::config(f("shear"), shear, "must be in [0, 90)"));
                    }
                }
                AugmentStep::PixelCorruption { keep, .. } => {
                    if !fin(keep) || !(0.0..=1.0).contains(&keep) {
                        return Err(Error::config(
                            f("keep"),
                            keep,
                            "must be a probability in [0, 1]",
                        ));
                    }
                }
                AugmentStep::GaussianNoise { std, .. } => {
                    if !fin(std) || std < 0.0 {
                        return Err(Error::config(f("std"), std, "must be finite and >= 0"));
                    }
                }
                AugmentStep::RandomCrop { padding } => {
                    if padding > 1024 {
                        return Err(Error::config(f("padding"), padding, "must be <= 1024"));
                    }
                }
                AugmentStep::HorizontalFlip { p } => {
                    if !fin(p) || !(0.0..=1.0).contains(&p) {
                        return Err(Error::config(f("p"), p, "must be a probability in [0, 1]"));
                    }
                }
                AugmentStep::ElasticDistortion { alpha, sigma } => {
                    if !fin(alpha) || !(0.0..=1000.0).contains(&alpha) {
                        return Err(Error::config(
                            f("alpha"),
                            alpha,
                            "must be in [0, 1000] pixels",
                        ));
                    }
                    if !fin(sigma) || !(0.0..=100.0).contains(&sigma) {
                        return Err(Error::config(
                            f("sigma"),
                            sigma,
                            "must be in [0, 100] pixels",
                        ));
                    }
                }
                AugmentStep::RandomResizedCrop { scale, ratio } => {
                    if scale.iter().any(|&s| !fin(s) || s <= 0.0 || s > 1.0) || scale[0] > scale[1]
                    {
                        return Err(Error::config(
                            f("scale"),
                            format!("{scale:?}"),
                            "must be 0 < min <= max <= 1 (fractions of the image's area)",
                        ));
                    }
                    if ratio.iter().any(|&r| !fin(r) || r <= 0.0) || ratio[0] > ratio[1] {
                        return Err(Error::config(
                            f("ratio"),
                            format!("{ratio:?}"),
                            "must be 0 < min <= max",
                        ));
                    }
                }
            }
        }
        Ok(())
    }
    /// Validates and builds the pipeline.
    pub fn build(&self) -> Result<Compose> {
        self.validate()?;
        let steps = self
            .steps
            .iter()
            .map(|s| -> Box<dyn Augment> {
                match *s {
                    AugmentStep::RandomAffine {
                        degrees,
                        translate,
                        scale,
                        shear,
                    } => Box::new(RandomAffine {
                        degrees,
                        translate,
                        scale,
                        shear,
                    }),
                    AugmentStep::PixelCorruption { keep, mode } => {
                        Box::new(PixelCorruption { keep, mode })
                    }
                    AugmentStep::GaussianNoise { std, clamp } => {
                        Box::new(GaussianNoise { std, clamp })
                    }
                    AugmentStep::RandomCrop { padding } => Box::new(RandomCrop { padding }),
                    AugmentStep::HorizontalFlip { p } => Box::new(HorizontalFlip { p }),
                    AugmentStep::RandomResizedCrop { scale, ratio } => {
                        Box::new(RandomResizedCrop { scale, ratio })
                    }
                    AugmentStep::ElasticDistortion { alpha, sigma } => {
                        Box::new(ElasticDistortion { alpha, sigma })
                    }
                }
            })
            .collect();
        Ok(Compose { steps })
    }
}

/// Transforms applied one after the other.
pub struct Compose {
    steps: Vec<Box<dyn Augment>>,
}

impl std::fmt::Debug for Compose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Compose({} steps)", self.steps.len())
    }
}

impl Compose {
    /// A pipeline of the given transforms.
    pub fn new(steps: Vec<Box<dyn Augment>>) -> Self {
        Compose { steps }
    }
}

impl Augment for Compose {
    fn apply_using(&self, src: &[f32], dst: &mut [f32], h: usize, w: usize, rng: &mut MibRng) {
        let k = self.steps.len();
        if k == 0 {
            dst.copy_from_slice(src);
            return;
        }
        if k == 1 {
            self.steps[0].apply_using(src, dst, h, w, rng);
            return;
        }
        // Ping-pong between `dst` and a per-thread scratch buffer so that the last step writes
        // into `dst`, without allocating.
        thread_local! {
            static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        SCRATCH.with(|cell| {
            let mut scratch = cell.borrow_mut();
            scratch.resize(src.len(), 0.0);
            let tmp = &mut scratch[..];
            // step i writes into dst when (k - 1 - i) is even, else into tmp.
            let first_into_dst = (k - 1) % 2 == 0;
            if first_into_dst {
                self.steps[0].apply_using(src, dst, h, w, rng);
            } else {
                self.steps[0].apply_using(src, tmp, h, w, rng);
            }
            for (i, s) in self.steps.iter().enumerate().skip(1) {
                if (k - 1 - i) % 2 == 0 {
                    s.apply_using(tmp, dst, h, w, rng);
                } else {
                    s.apply_using(dst, tmp, h, w, rng);
                }
            }
        });
    }
}
