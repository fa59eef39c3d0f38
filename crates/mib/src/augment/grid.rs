//! A PNG grid that shows what the pairing makes of some items: original | view 1 | view 2.

use crate::data::{make_pair_using, MultiViewDataset, PairingConfig};
use crate::{Error, MibRng, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::Path;

/// An 8-bit grayscale image, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrayImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height` pixels, row-major.
    pub pixels: Vec<u8>,
}

/// Renders `n` items drawn with `seed` as rows of three tiles, original (view `views[0]`) | view 1 |
/// view 2 as the pairing makes them in epoch 0, each tile magnified `zoom` times, separated by
/// gray lines. Every view shown must be an image view of the dataset; the channels of a colour
/// image (`[c, h, w]`) are shown side by side, each in gray.
pub fn render_views_grid(
    ds: &MultiViewDataset,
    pairing: &PairingConfig,
    views: [usize; 2],
    n: usize,
    seed: u64,
    zoom: usize,
) -> Result<GrayImage> {
    let shape = |v: usize| {
        ds.view_image_shape(v).ok_or_else(|| {
            Error::Data(format!(
                "view {} is not an image (no [channels, height, width]) and cannot be rendered",
                ds.view_names.get(v).map_or("?", |s| s.as_str())
            ))
        })
    };
    let [c, h, w] = shape(views[0])?;
    if shape(views[1])? != [c, h, w] {
        return Err(Error::Data(format!(
            "views {} and {} are images of different shapes and cannot be rendered side by side",
            ds.view_names[views[0]], ds.view_names[views[1]]
        )));
    }
    let n = n.min(ds.len());
    let zoom = zoom.max(1);
    let gap = 2;
    let (th, tw) = (h * zoom, c * w * zoom);
    let width = 3 * tw + 4 * gap;
    let height = n * th + (n + 1) * gap;
    let mut img = GrayImage {
        width,
        height,
        pixels: vec![128; width * height],
    };
    let mut items: Vec<usize> = (0..ds.len()).collect();
    items.shuffle(&mut MibRng::seed_from_u64(seed));
    let mut a = vec![0f32; c * h * w];
    let mut b = vec![0f32; c * h * w];
    for (r, &item) in items[..n].iter().enumerate() {
        make_pair_using(ds, pairing, views, seed, 0, item, &mut a, &mut b)?;
        let orig = ds.views[views[0]].row(item);
        for (c, tile) in [orig, &a[..], &b[..]].iter().enumerate() {
            let (x0, y0) = (gap + c * (tw + gap), gap + r * (th + gap));
            for y in 0..th {
                for x in 0..tw {
                    let (ch, xx) = ((x / zoom) / w, (x / zoom) % w);
                    let v = tile[ch * h * w + (y / zoom) * w + xx].clamp(0.0, 1.0);
                    img.pixels[(y0 + y) * width + x0 + x] = (v * 255.0).round() as u8;
                }
            }
        }
    }
    Ok(img)
}

/// Writes a grayscale PNG.
pub fn write_gray_png(path: &Path, img: &GrayImage) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|e| Error::io("creating image", path, e))?;
    let mut enc = png::Encoder::new(
        std::io::BufWriter::new(file),
        img.width as u32,
        img.height as u32,
    );
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let to_err = |e: png::EncodingError| Error::format(path, format!("PNG encoding: {e}"));
    let mut wr = enc.write_header().map_err(to_err)?;
    wr.write_image_data(&img.pixels).map_err(to_err)?;
    wr.finish().map_err(to_err)
}

/// [`render_views_grid`] then [`write_gray_png`].
pub fn write_views_png(
    path: &Path,
    ds: &MultiViewDataset,
    pairing: &PairingConfig,
    views: [usize; 2],
    n: usize,
    seed: u64,
    zoom: usize,
) -> Result<()> {
    let img = render_views_grid(ds, pairing, views, n, seed, zoom)?;
    write_gray_png(path, &img)
}
