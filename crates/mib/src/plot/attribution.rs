//! Figures of feature attributions ([`crate::eval::FeatureAttribution`]): a heatmap of a
//! `[n_features, z_dim]` map, and for image views one saliency image per latent dimension.

use plotters::prelude::*;

use super::{encode_png, plot_err, register_font, Figure, ImageFormat};
use crate::{Error, Matrix, Result};

/// A colour for `v` in `[-1, 1]`: white at 0, red for positive, blue for negative (a diverging
/// map); `signed = false` maps `[0, 1]` from white to dark red.
fn heat(v: f64, signed: bool) -> RGBColor {
    let v = if v.is_finite() {
        v.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let mix = |a: (f64, f64, f64), t: f64| {
        let c = |w: f64| (255.0 + (w - 255.0) * t).round() as u8;
        RGBColor(c(a.0), c(a.1), c(a.2))
    };
    if !signed || v >= 0.0 {
        mix((178.0, 24.0, 43.0), v.abs())
    } else {
        mix((33.0, 102.0, 172.0), -v)
    }
}

fn max_abs(m: &[f32]) -> f64 {
    m.iter()
        .filter(|v| v.is_finite())
        .fold(0f64, |a, &v| a.max(v.abs() as f64))
}

/// A heatmap of `map` (`[n_features, z_dim]`): one row per input feature, one column per latent
/// dimension, coloured by value scaled by the largest `|value|` (`signed`: a diverging map
/// around 0, for signed attributions and loadings; otherwise white to red). `feature_names`, when
/// given (one per row), label the rows; at most about 60 row labels are drawn.
pub fn attribution_heatmap(
    map: &Matrix,
    feature_names: Option<&[String]>,
    title: &str,
    signed: bool,
    format: ImageFormat,
) -> Result<Figure> {
    let (d, zd) = (map.rows, map.cols);
    if d == 0 || zd == 0 {
        return Err(Error::Data("attribution figure: an empty map".into()));
    }
    if let Some(n) = feature_names {
        if n.len() != d {
            return Err(Error::shape("attribution feature names", d, n.len()));
        }
    }
    let scale = max_abs(&map.data).max(1e-30);
    let cell_h = (900 / d as u32).clamp(2, 22);
    let cell_w = (640 / zd as u32).clamp(8, 48);
    let (w, h) = ((cell_w * zd as u32 + 190).max(420), cell_h * d as u32 + 130);
    let label_every = d.div_ceil(60).max(1);
    let data: &[f32] = &map.data;
    render!(format, w, h, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "{title} (full colour at {}{})",
                    if signed { "+-" } else { "" },
                    super::short(scale)
                ),
                ("sans-serif", 15),
            )
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(if feature_names.is_some() { 110 } else { 48 })
            .build_cartesian_2d(-0.5f64..zd as f64 - 0.5, -0.5f64..d as f64 - 0.5)
            .map_err(plot_err)?;
        let names = feature_names;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("latent dimension")
            .y_desc("input feature")
            .x_labels(zd.min(32))
            .y_labels((d / label_every).clamp(1, 60))
            .label_style(("sans-serif", 11))
            .x_label_formatter(&|x| {
                // cell k spans k - 0.5 .. k + 0.5: ticks at integers are cell centres
                let k = x.round();
                if (x - k).abs() < 1e-6 && k >= 0.0 && (k as usize) < zd {
                    format!("{k}")
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| {
                // row j is drawn from the top, centred at y = d - 1 - j
                let r = y.round();
                if (y - r).abs() > 1e-6 || r < 0.0 || r as usize >= d {
                    return String::new();
                }
                let j = d - 1 - r as usize;
                match names {
                    Some(n) => n[j].chars().take(16).collect(),
                    None => format!("{j}"),
                }
            })
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series((0..d).flat_map(|j| {
                (0..zd).map(move |k| {
                    let (x, y) = (k as f64, (d - j - 1) as f64);
                    Rectangle::new(
                        [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                        heat(data[j * zd + k] as f64 / scale, signed).filled(),
                    )
                })
            }))
            .map_err(plot_err)?;
        Ok(())
    })
}

/// One saliency image per latent dimension: column `k` of `map` (`[c * h * w, z_dim]`, rows in
/// `[c, h, w]` order) summed over channels and drawn as an `h x w` image, each panel scaled by its
/// own largest `|value|` (`signed`: diverging map around 0; otherwise white to red).
pub fn saliency_images(
    map: &Matrix,
    image_shape: [usize; 3],
    title: &str,
    signed: bool,
    format: ImageFormat,
) -> Result<Figure> {
    let [c, ih, iw] = image_shape;
    if c * ih * iw != map.rows || map.rows == 0 || map.cols == 0 {
        return Err(Error::shape(
            "saliency map rows (channels x height x width)",
            format!("{c} x {ih} x {iw} = {}", c * ih * iw),
            map.rows,
        ));
    }
    let zd = map.cols;
    let per_row = zd.min(8);
    let rows = zd.div_ceil(per_row);
    let px = (96 / ih.max(iw) as u32).max(1);
    let (pw, ph) = (px * iw as u32, px * ih as u32);
    let (gap, label_h, top) = (10u32, 16u32, 34u32);
    let w = (per_row as u32 * (pw + gap) + gap).max(360);
    let h = top + rows as u32 * (ph + label_h + gap) + gap;
    let data: &[f32] = &map.data;
    render!(format, w, h, |root| {
        root.draw(&Text::new(
            format!("{title} (each panel scaled to its largest |value|)"),
            (gap as i32, 8),
            ("sans-serif", 16).into_font(),
        ))
        .map_err(plot_err)?;
        for k in 0..zd {
            let (r, col) = (k / per_row, k % per_row);
            let x0 = (gap + col as u32 * (pw + gap)) as i32;
            let y0 = (top + r as u32 * (ph + label_h + gap)) as i32;
            root.draw(&Text::new(
                format!("z{k}"),
                (x0, y0),
                ("sans-serif", 12).into_font(),
            ))
            .map_err(plot_err)?;
            let y0 = y0 + label_h as i32;
            let img: Vec<f64> = (0..ih * iw)
                .map(|p| {
                    (0..c)
                        .map(|ch| data[(ch * ih * iw + p) * zd + k] as f64)
                        .sum()
                })
                .collect();
            let s = img
                .iter()
                .filter(|v| v.is_finite())
                .fold(0f64, |a, v| a.max(v.abs()))
                .max(1e-30);
            for y in 0..ih {
                for x in 0..iw {
                    let (ax, ay) = (x0 + (x as u32 * px) as i32, y0 + (y as u32 * px) as i32);
                    root.draw(&Rectangle::new(
                        [(ax, ay), (ax + px as i32, ay + px as i32)],
                        heat(img[y * iw + x] / s, signed).filled(),
                    ))
                    .map_err(plot_err)?;
                }
            }
            root.draw(&Rectangle::new(
                [(x0, y0), (x0 + pw as i32, y0 + ph as i32)],
                BLACK.mix(0.3).stroke_width(1),
            ))
            .map_err(plot_err)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_render_and_check_shapes() {
        let m = Matrix::new(
            6,
            2,
            vec![
                0.1, -0.2, 0.3, 0.0, -1.0, 2.0, 0.5, 0.5, 0.0, 0.0, 1.0, -1.0,
            ],
        )
        .unwrap();
        let f = attribution_heatmap(&m, None, "t", true, ImageFormat::Png).unwrap();
        assert_eq!(&f.bytes[1..4], b"PNG");
        let names: Vec<String> = (0..6).map(|j| format!("f{j}")).collect();
        let f = attribution_heatmap(&m, Some(&names), "t", false, ImageFormat::Svg).unwrap();
        assert!(String::from_utf8(f.bytes).unwrap().contains("f5"));
        assert!(attribution_heatmap(&m, Some(&names[..2]), "t", true, ImageFormat::Png).is_err());
        let f = saliency_images(&m, [1, 2, 3], "s", true, ImageFormat::Png).unwrap();
        assert_eq!(&f.bytes[1..4], b"PNG");
        let e = saliency_images(&m, [1, 2, 2], "s", true, ImageFormat::Png)
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 x 2"), "{e}");
        assert_eq!(heat(0.0, true), RGBColor(255, 255, 255));
        assert_eq!(heat(-1.0, true), RGBColor(33, 102, 172));
    }
}
