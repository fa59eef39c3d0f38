//! Figures of an evaluation, as PNG or SVG (feature `plot`): accuracy against labels per class,
//! the information plane, training curves from `metrics.jsonl`, and a 2-D PCA of representations.
//!
//! Each figure function returns a [`Figure`] (the encoded bytes and their format), which can be
//! saved with [`Figure::save`] or inlined into HTML. Text is drawn with DejaVu Sans, embedded in the
//! library (`assets/DejaVuSans.ttf`, Bitstream Vera licence in `assets/DejaVuSans-LICENSE.txt`), so
//! no system font library is needed.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use crate::eval::ProbeSummary;
use crate::{Error, Matrix, Result};

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The embedded font is valid; a failure would only leave text undrawn.
            let _ = plotters::style::register_font("sans-serif", style, FONT);
        }
    });
}

/// Image format of a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// PNG (RGB, 8 bits).
    Png,
    /// SVG (text).
    Svg,
}

impl ImageFormat {
    /// The format named by a path's extension (`.png` or `.svg`, case-insensitive).
    pub fn from_path(path: &Path) -> Result<ImageFormat> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("png") => Ok(ImageFormat::Png),
            Some("svg") => Ok(ImageFormat::Svg),
            _ => Err(Error::format(path, "figure files must end in .png or .svg")),
        }
    }
}

/// An encoded figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Its format.
    pub format: ImageFormat,
    /// PNG bytes, or the SVG document as UTF-8.
    pub bytes: Vec<u8>,
}

impl Figure {
    /// Writes the figure to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        std::fs::write(path.as_ref(), &self.bytes)
            .map_err(|e| Error::io("writing figure", path.as_ref(), e))
    }
}

fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::Data(format!("plot: {e}"))
}

/// Runs `$body` (which draws on the drawing area bound to `$root` and evaluates to `Result<()>`)
/// on an SVG or a bitmap backend, and encodes the result into a [`Figure`] of size `$w x $h`.
macro_rules! render {
    ($fmt:expr, $w:expr, $h:expr, |$root:ident| $body:block) => {{
        register_font();
        let (w, h): (u32, u32) = ($w, $h);
        match $fmt {
            ImageFormat::Svg => {
                let mut s = String::new();
                {
                    let area = SVGBackend::with_string(&mut s, (w, h)).into_drawing_area();
                    area.fill(&WHITE).map_err(plot_err)?;
                    let $root = &area;
                    let r: Result<()> = (|| $body)();
                    r?;
                    area.present().map_err(plot_err)?;
                }
                Ok(Figure {
                    format: ImageFormat::Svg,
                    bytes: s.into_bytes(),
                })
            }
            ImageFormat::Png => {
                let mut buf = vec![0u8; (w * h * 3) as usize];
                {
                    let area = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
                    area.fill(&WHITE).map_err(plot_err)?;
                    let $root = &area;
                    let r: Result<()> = (|| $body)();
                    r?;
                    area.present().map_err(plot_err)?;
                }
                encode_png(&buf, w, h).map(|bytes| Figure {
                    format: ImageFormat::Png,
                    bytes,
                })
            }
        }
    }};
}

fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Best);
        let mut wr = enc.write_header().map_err(plot_err)?;
        wr.write_image_data(rgb).map_err(plot_err)?;
    }
    Ok(out)
}

/// The Tableau-10 palette, cycled.
pub fn color(i: usize) -> RGBColor {
    const C: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    let (r, g, b) = C[i % 10];
    RGBColor(r, g, b)
}

fn padded(lo: f64, hi: f64, frac: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let span = (hi - lo).abs().max(1e-9);
    (lo - frac * span, hi + frac * span)
}

/// Draws `pts` as a line of colour `c` with markers of `radius`, labelled `name` in the legend.
fn draw_line<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    pts: &[(f64, f64)],
    c: RGBColor,
    name: &str,
    radius: i32,
) -> Result<()>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart
        .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
        .map_err(plot_err)?
        .label(name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
    chart
        .draw_series(pts.iter().map(|&p| Circle::new(p, radius, c.filled())))
        .map_err(plot_err)?;
    Ok(())
}

/// The corner of the plotting area with the fewest data points, for the legend: `pts` in data
/// coordinates, the axes' ranges `x` and `y` (x on a log scale when `log_x`).
fn quiet_corner(
    pts: &[(f64, f64)],
    x: (f64, f64),
    y: (f64, f64),
    log_x: bool,
) -> SeriesLabelPosition {
    let fx = |v: f64| {
        if log_x {
            (v.max(1e-300).ln() - x.0.ln()) / (x.1.ln() - x.0.ln())
        } else {
            (v - x.0) / (x.1 - x.0)
        }
    };
    let fy = |v: f64| (v - y.0) / (y.1 - y.0);
    // the legend box covers about 40 % of the width and 35 % of the height in a corner
    let corners = [
        (SeriesLabelPosition::LowerRight, 0.6, 1.0, 0.0, 0.35),
        (SeriesLabelPosition::UpperLeft, 0.0, 0.4, 0.65, 1.0),
        (SeriesLabelPosition::LowerLeft, 0.0, 0.4, 0.0, 0.35),
        (SeriesLabelPosition::UpperRight, 0.6, 1.0, 0.65, 1.0),
    ];
    let mut best = (usize::MAX, SeriesLabelPosition::LowerRight);
    for (pos, x0, x1, y0, y1) in corners {
        let n = pts
            .iter()
            .filter(|&&(a, b)| {
                let (u, v) = (fx(a), fy(b));
                (x0..=x1).contains(&u) && (y0..=y1).contains(&v)
            })
            .count();
        if n < best.0 {
            best = (n, pos);
        }
    }
    best.1
}

/// The legend of the line figures, at `pos` (a corner [`quiet_corner`] picks).
fn draw_legend<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    pos: SeriesLabelPosition,
) -> Result<()>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart
        .configure_series_labels()
        .position(pos)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(plot_err)?;
    Ok(())
}

/// A mesh with a light grid: a few faint lines at the labelled ticks only, none between them.
macro_rules! light_mesh {
    ($chart:expr) => {
        $chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.08))
            .axis_style(BLACK.mix(0.6))
            .label_style(("sans-serif", 13))
    };
}

/// A named run's few-label probe results (one line of the accuracy figure).
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRun {
    /// Legend label.
    pub name: String,
    /// The summaries, one per labels-per-class count.
    pub summaries: Vec<ProbeSummary>,
}

/// Test accuracy (%) against labels per class (log x axis): one line per run with markers and a
/// band of one standard deviation.
pub fn accuracy_vs_labels(runs: &[ProbeRun], format: ImageFormat) -> Result<Figure> {
    accuracy_vs_labels_with_baselines(runs, &[], format)
}

/// [`accuracy_vs_labels`], with `baselines` (the same probe on raw features) drawn as dashed grey
/// lines beside the representations (identical baselines once).
pub fn accuracy_vs_labels_with_baselines(
    runs: &[ProbeRun],
    baselines: &[ProbeRun],
    format: ImageFormat,
) -> Result<Figure> {
    let mut base: Vec<&ProbeRun> = Vec::new();
    for b in baselines {
        if !b.summaries.is_empty() && !base.contains(&b) {
            base.push(b);
        }
    }
    let all: Vec<&ProbeSummary> = runs
        .iter()
        .chain(base.iter().copied())
        .flat_map(|r| &r.summaries)
        .collect();
    if all.is_empty() {
        return Err(Error::Data("accuracy figure: no probe results".into()));
    }
    let xmin = all
        .iter()
        .map(|s| s.labels_per_class)
        .min()
        .unwrap_or(1)
        .max(1) as f64;
    let xmax = all
        .iter()
        .map(|s| s.labels_per_class)
        .max()
        .unwrap_or(1)
        .max(2) as f64;
    let lo = all
        .iter()
        .map(|s| 100.0 * (s.mean - s.std))
        .fold(f64::INFINITY, f64::min);
    let hi = all
        .iter()
        .map(|s| 100.0 * (s.mean + s.std))
        .fold(f64::NEG_INFINITY, f64::max);
    let (ylo, yhi) = padded(lo, hi, 0.08);
    let (ylo, yhi) = (ylo.max(0.0), yhi.min(100.0));
    let (xa, xb) = (xmin / 1.5, xmax * 1.5);
    let pts: Vec<(f64, f64)> = all
        .iter()
        .flat_map(|s| {
            let x = s.labels_per_class as f64;
            [
                (x, 100.0 * s.mean),
                (x, 100.0 * (s.mean + s.std)),
                (x, 100.0 * (s.mean - s.std)),
            ]
        })
        .collect();
    let corner = quiet_corner(&pts, (xa, xb), (ylo, yhi), true);
    render!(format, 720, 480, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Linear probe: test accuracy", ("sans-serif", 22))
            .margin(14)
            .margin_right(24)
            .x_label_area_size(46)
            .y_label_area_size(60)
            .build_cartesian_2d((xa..xb).log_scale(), ylo..yhi)
            .map_err(plot_err)?;
        light_mesh!(chart)
            .x_desc("labels per class")
            .y_desc("accuracy (%)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .y_labels(6)
            .draw()
            .map_err(plot_err)?;
        for (i, b) in base.iter().enumerate() {
            let c = RGBColor(90, 90, 90).mix(if i == 0 { 0.9 } else { 0.6 });
            let mut s = b.summaries.clone();
            s.sort_by_key(|p| p.labels_per_class);
            let line: Vec<(f64, f64)> = s
                .iter()
                .map(|p| (p.labels_per_class as f64, 100.0 * p.mean))
                .collect();
            chart
                .draw_series(DashedLineSeries::new(line.clone(), 7, 5, c.stroke_width(2)))
                .map_err(plot_err)?
                .label(b.name.clone())
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (7, 0)], c.stroke_width(2))
                        + PathElement::new(vec![(11, 0), (18, 0)], c.stroke_width(2))
                });
            chart
                .draw_series(
                    line.iter()
                        .map(|&p| TriangleMarker::new(p, 5, RGBColor(90, 90, 90).filled())),
                )
                .map_err(plot_err)?;
        }
        for (i, run) in runs.iter().enumerate() {
            let c = color(i);
            let mut s = run.summaries.clone();
            s.sort_by_key(|p| p.labels_per_class);
            let band: Vec<(f64, f64)> = s
                .iter()
                .map(|p| (p.labels_per_class as f64, 100.0 * (p.mean + p.std)))
                .chain(
                    s.iter()
                        .rev()
                        .map(|p| (p.labels_per_class as f64, 100.0 * (p.mean - p.std))),
                )
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(band, c.mix(0.18))))
                .map_err(plot_err)?;
            let pts: Vec<(f64, f64)> = s
                .iter()
                .map(|p| (p.labels_per_class as f64, 100.0 * p.mean))
                .collect();
            draw_line(&mut chart, &pts, c, &run.name, 4)?;
        }
        draw_legend(&mut chart, corner)
    })
}

/// A named run's training-time probe: `(iteration, accuracy in [0, 1])` pairs, one line of
/// [`probe_vs_iteration`].
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeCurve {
    /// Legend label.
    pub name: String,
    /// `(iteration, accuracy)` in logging order.
    pub points: Vec<(f64, f64)>,
}

impl ProbeCurve {
    /// The `probe_accuracy` records of a run's `metrics.jsonl` (the training-time probe); `None`
    /// when the run logged none.
    pub fn from_metrics(name: impl Into<String>, records: &[MetricsRecord]) -> Option<Self> {
        let points: Vec<(f64, f64)> = records
            .iter()
            .filter_map(|r| Some((*r.get("iteration")?, *r.get("probe_accuracy")?)))
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        (!points.is_empty()).then(|| ProbeCurve {
            name: name.into(),
            points,
        })
    }
}

/// The training-time probe's test accuracy (%) against the iteration: one line with markers per
/// run, to compare how fast objectives learn and where they stop improving.
pub fn probe_vs_iteration(runs: &[ProbeCurve], format: ImageFormat) -> Result<Figure> {
    let all: Vec<(f64, f64)> = runs.iter().flat_map(|r| r.points.iter().copied()).collect();
    if all.is_empty() {
        return Err(Error::Data(
            "probe figure: no training-time probe results (`probe_accuracy` in metrics.jsonl)"
                .into(),
        ));
    }
    let fold = |f: fn(f64, f64) -> f64, init: f64, get: fn(&(f64, f64)) -> f64| {
        all.iter().map(get).fold(init, f)
    };
    let xmax = fold(f64::max, f64::NEG_INFINITY, |p| p.0).max(1.0);
    let (ylo, yhi) = padded(
        fold(f64::min, f64::INFINITY, |p| 100.0 * p.1),
        fold(f64::max, f64::NEG_INFINITY, |p| 100.0 * p.1),
        0.08,
    );
    let (ylo, yhi) = (ylo.max(0.0), yhi.min(100.0));
    let scaled: Vec<(f64, f64)> = all.iter().map(|&(x, y)| (x, 100.0 * y)).collect();
    let corner = quiet_corner(&scaled, (0.0, xmax * 1.02), (ylo, yhi), false);
    render!(format, 720, 480, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Training-time probe: test accuracy", ("sans-serif", 22))
            .margin(14)
            .margin_right(24)
            .x_label_area_size(46)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..xmax * 1.02, ylo..yhi)
            .map_err(plot_err)?;
        light_mesh!(chart)
            .x_desc("iteration")
            .y_desc("accuracy (%)")
            .x_label_formatter(&|x| short(*x))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .y_labels(6)
            .draw()
            .map_err(plot_err)?;
        for (i, run) in runs.iter().enumerate() {
            let c = color(i);
            let pts: Vec<(f64, f64)> = run.points.iter().map(|&(x, y)| (x, 100.0 * y)).collect();
            draw_line(&mut chart, &pts, c, &run.name, 3)?;
        }
        draw_legend(&mut chart, corner)
    })
}

/// A labelled point of the information plane (nats).
#[derive(Debug, Clone, PartialEq)]
pub struct InfoPoint {
    /// Label drawn next to the point.
    pub name: String,
    /// `I(x; z)`.
    pub i_xz: f64,
    /// `I(y; z)`.
    pub i_yz: f64,
}

/// The information plane: `I(x; z)` (x axis) against `I(y; z)` (y axis), runs as labelled points,
/// with the ceiling `I(y; z) <= H(y)` drawn when `h_y` is given.
pub fn information_plane(
    points: &[InfoPoint],
    h_y: Option<f64>,
    format: ImageFormat,
) -> Result<Figure> {
    let pts: Vec<&InfoPoint> = points
        .iter()
        .filter(|p| p.i_xz.is_finite() && p.i_yz.is_finite())
        .collect();
    if pts.is_empty() {
        return Err(Error::Data(
            "information plane: no run with both I(x;z) and I(y;z)".into(),
        ));
    }
    let (x0, x1) = padded(
        pts.iter()
            .map(|p| p.i_xz)
            .fold(f64::INFINITY, f64::min)
            .min(0.0),
        pts.iter().map(|p| p.i_xz).fold(f64::NEG_INFINITY, f64::max),
        0.12,
    );
    // room on the right for the names drawn beside the points
    let x1 = x1 + 0.15 * (x1 - x0);
    let ymax = pts
        .iter()
        .map(|p| p.i_yz)
        .fold(h_y.unwrap_or(f64::NEG_INFINITY), f64::max);
    let (y0, y1) = padded(
        pts.iter()
            .map(|p| p.i_yz)
            .fold(f64::INFINITY, f64::min)
            .min(0.0),
        ymax,
        0.1,
    );
    // Near-deterministic encoders have I(x; z) bounds thousands of times larger than compressed
    // ones: a log axis keeps both readable.
    let xmin_pos = pts
        .iter()
        .map(|p| p.i_xz)
        .filter(|&v| v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let log_x = xmin_pos.is_finite() && x1 / xmin_pos > 50.0;
    let (lx0, lx1) = (xmin_pos / 2.0, x1 * 12.0);
    macro_rules! draw_plane {
        ($chart:ident, $xa:expr, $xb:expr, $desc:expr) => {{
            light_mesh!($chart)
                .x_desc($desc)
                .y_desc("I(y; z) [nats]")
                .draw()
                .map_err(plot_err)?;
            if let Some(h) = h_y {
                $chart
                    .draw_series(DashedLineSeries::new(
                        vec![($xa, h), ($xb, h)],
                        8,
                        5,
                        RED.mix(0.7).stroke_width(2),
                    ))
                    .map_err(plot_err)?
                    .label(format!("H(y) = {h:.3} nats"))
                    .legend(|(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], RED.mix(0.7).stroke_width(2))
                    });
            }
            for (i, p) in pts.iter().enumerate() {
                let c = color(i);
                $chart
                    .draw_series(std::iter::once(
                        EmptyElement::at((p.i_xz.max($xa), p.i_yz))
                            + Circle::new((0, 0), 6, c.filled())
                            + Text::new(p.name.clone(), (9, 4), ("sans-serif", 14)),
                    ))
                    .map_err(plot_err)?;
            }
            if h_y.is_some() {
                $chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::LowerRight)
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK.mix(0.4))
                    .label_font(("sans-serif", 13))
                    .draw()
                    .map_err(plot_err)?;
            }
        }};
    }
    render!(format, 640, 480, |root| {
        let builder = |root| {
            let mut b = ChartBuilder::on(root);
            b.caption("Information plane", ("sans-serif", 22))
                .margin(14)
                .margin_right(24)
                .x_label_area_size(46)
                .y_label_area_size(60);
            b
        };
        if log_x {
            let mut chart = builder(root)
                .build_cartesian_2d((lx0..lx1).log_scale(), y0.max(0.0)..y1)
                .map_err(plot_err)?;
            draw_plane!(chart, lx0, lx1, "I(x; z) [nats, log scale]");
        } else {
            let mut chart = builder(root)
                .build_cartesian_2d(x0.max(0.0)..x1, y0.max(0.0)..y1)
                .map_err(plot_err)?;
            draw_plane!(chart, x0.max(0.0), x1, "I(x; z) [nats]");
        }
        Ok(())
    })
}

/// One line of a run's `metrics.jsonl`: its numeric fields by name (non-numeric ones dropped).
pub type MetricsRecord = BTreeMap<String, f64>;

/// Reads `metrics.jsonl` (one JSON object per line; blank lines skipped), keeping numeric fields.
pub fn read_metrics_jsonl(path: impl AsRef<Path>) -> Result<Vec<MetricsRecord>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
    parse_metrics_jsonl(&text)
        .map_err(|(line, msg)| Error::format(path, format!("line {line}: {msg}")))
}

/// Parses the text of a `metrics.jsonl`; errors carry the 1-based line number.
pub fn parse_metrics_jsonl(text: &str) -> std::result::Result<Vec<MetricsRecord>, (usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| (i + 1, e.to_string()))?;
        let obj = v
            .as_object()
            .ok_or_else(|| (i + 1, "not a JSON object".to_string()))?;
        out.push(
            obj.iter()
                .filter_map(|(k, v)| v.as_f64().map(|x| (k.clone(), x)))
                .collect(),
        );
    }
    Ok(out)
}

/// Training curves: one small panel per numeric key of the records (except `iteration`, the x axis;
/// the record index when absent), three panels a row.
pub fn training_curves(records: &[MetricsRecord], format: ImageFormat) -> Result<Figure> {
    let mut keys: Vec<&String> = records
        .iter()
        .flat_map(|r| r.keys())
        .filter(|k| k.as_str() != "iteration")
        .collect();
    keys.sort();
    keys.dedup();
    if keys.is_empty() {
        return Err(Error::Data("training curves: no numeric metric".into()));
    }
    let cols = 3usize.min(keys.len());
    let rows = keys.len().div_ceil(cols);
    let x_of = |i: usize, r: &MetricsRecord| r.get("iteration").copied().unwrap_or(i as f64);
    render!(format, 340 * cols as u32, 240 * rows as u32, |root| {
        let panels = root.split_evenly((rows, cols));
        for (key, area) in keys.iter().zip(panels.iter()) {
            let pts: Vec<(f64, f64)> = records
                .iter()
                .enumerate()
                .filter_map(|(i, r)| r.get(*key).map(|&v| (x_of(i, r), v)))
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .collect();
            if pts.is_empty() {
                continue;
            }
            let (xa, xb) = padded(
                pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min),
                pts.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max),
                0.02,
            );
            let (ya, yb) = padded(
                pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min),
                pts.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max),
                0.08,
            );
            let mut chart = ChartBuilder::on(area)
                .caption(key.as_str(), ("sans-serif", 16))
                .margin(8)
                .x_label_area_size(28)
                .y_label_area_size(56)
                .build_cartesian_2d(xa..xb, ya..yb)
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .light_line_style(TRANSPARENT)
                .bold_line_style(BLACK.mix(0.08))
                .x_labels(4)
                .y_labels(5)
                .label_style(("sans-serif", 11))
                .x_label_formatter(&|x| short(*x))
                .y_label_formatter(&|y| short(*y))
                .draw()
                .map_err(plot_err)?;
            chart
                .draw_series(LineSeries::new(pts.clone(), color(0).stroke_width(2)))
                .map_err(plot_err)?;
            if pts.len() <= 60 {
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 2, color(0).filled())))
                    .map_err(plot_err)?;
            }
        }
        Ok(())
    })
}

fn short(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 10.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Projection of the rows of `x` onto their top two principal components (`x.rows x 2`), by power
/// iteration with deflation on the `d x d` covariance. Component signs are fixed so that the largest
/// loading is positive (deterministic output).
pub fn pca_2d(x: &Matrix) -> Matrix {
    let (n, d) = (x.rows, x.cols);
    if n == 0 || d == 0 {
        return Matrix::zeros(n, 2);
    }
    let mut mean = vec![0.0f64; d];
    for i in 0..n {
        for (m, v) in mean.iter_mut().zip(x.row(i)) {
            *m += *v as f64 / n as f64;
        }
    }
    let mut cov = vec![0.0f64; d * d];
    let mut c = vec![0.0f64; d];
    for i in 0..n {
        for (cj, (v, m)) in c.iter_mut().zip(x.row(i).iter().zip(&mean)) {
            *cj = *v as f64 - m;
        }
        for a in 0..d {
            for b in 0..d {
                cov[a * d + b] += c[a] * c[b];
            }
        }
    }
    let mut comps: Vec<Vec<f64>> = Vec::new();
    for _ in 0..2.min(d) {
        let mut v: Vec<f64> = (0..d).map(|j| 1.0 + 0.01 * j as f64).collect();
        for _ in 0..500 {
            let mut w: Vec<f64> = (0..d)
                .map(|a| (0..d).map(|b| cov[a * d + b] * v[b]).sum())
                .collect();
            for u in &comps {
                let p: f64 = w.iter().zip(u).map(|(a, b)| a * b).sum();
                w.iter_mut().zip(u).for_each(|(a, b)| *a -= p * b);
            }
            let norm = w.iter().map(|a| a * a).sum::<f64>().sqrt();
            if norm < 1e-300 {
                break;
            }
            w.iter_mut().for_each(|a| *a /= norm);
            let diff: f64 = w.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
            v = w;
            if diff < 1e-12 {
                break;
            }
        }
        let big = v
            .iter()
            .fold(0.0f64, |a, &b| if b.abs() > a.abs() { b } else { a });
        if big < 0.0 {
            v.iter_mut().for_each(|a| *a = -*a);
        }
        comps.push(v);
    }
    let mut out = Matrix::zeros(n, 2);
    for i in 0..n {
        for (k, u) in comps.iter().enumerate() {
            out.data[i * 2 + k] = x
                .row(i)
                .iter()
                .zip(&mean)
                .zip(u)
                .map(|((v, m), w)| (*v as f64 - m) * w)
                .sum::<f64>() as f32;
        }
    }
    out
}

/// Scatter plot of the first two principal components of `x`, coloured by `labels`; at most
/// `max_points` rows are drawn (an even stride through the data).
pub fn pca_scatter(
    x: &Matrix,
    labels: &[u32],
    max_points: usize,
    format: ImageFormat,
) -> Result<Figure> {
    if labels.len() != x.rows {
        return Err(Error::shape("PCA labels", x.rows, labels.len()));
    }
    if x.rows == 0 {
        return Err(Error::Data("PCA figure: no points".into()));
    }
    let p = pca_2d(x);
    let stride = x.rows.div_ceil(max_points.max(1));
    let idx: Vec<usize> = (0..x.rows).step_by(stride).collect();
    let (xa, xb) = padded(
        idx.iter()
            .map(|&i| p.data[2 * i] as f64)
            .fold(f64::INFINITY, f64::min),
        idx.iter()
            .map(|&i| p.data[2 * i] as f64)
            .fold(f64::NEG_INFINITY, f64::max),
        0.05,
    );
    let (ya, yb) = padded(
        idx.iter()
            .map(|&i| p.data[2 * i + 1] as f64)
            .fold(f64::INFINITY, f64::min),
        idx.iter()
            .map(|&i| p.data[2 * i + 1] as f64)
            .fold(f64::NEG_INFINITY, f64::max),
        0.05,
    );
    let mut classes: Vec<u32> = labels.to_vec();
    classes.sort_unstable();
    classes.dedup();
    render!(format, 640, 560, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Test representations: first two principal components",
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(xa..xb, ya..yb)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.08))
            .x_desc("PC 1")
            .y_desc("PC 2")
            .label_style(("sans-serif", 12))
            .x_label_formatter(&|x| short(*x))
            .y_label_formatter(&|y| short(*y))
            .draw()
            .map_err(plot_err)?;
        for &cl in &classes {
            let c = color(cl as usize);
            chart
                .draw_series(idx.iter().filter(|&&i| labels[i] == cl).map(|&i| {
                    Circle::new(
                        (p.data[2 * i] as f64, p.data[2 * i + 1] as f64),
                        2,
                        c.mix(0.7).filled(),
                    )
                }))
                .map_err(plot_err)?
                .label(format!("{cl}"))
                .legend(move |(x, y)| Circle::new((x + 6, y), 4, c.filled()));
        }
        if classes.len() <= 20 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .label_font(("sans-serif", 12))
                .draw()
                .map_err(plot_err)?;
        }
        Ok(())
    })
}

mod attribution;
pub use attribution::{attribution_heatmap, saliency_images};
fn beta_label(b: f64) -> String {
    if b == 0.0 {
        "β=0".into()
    } else {
        let e = format!("{b:.0e}");
        let plain: f64 = e.parse().unwrap_or(b);
        if (plain - b).abs() <= 1e-9 * b.abs() && (1e-2..1e3).contains(&b) {
            format!("β={plain}")
        } else if (plain - b).abs() <= 1e-9 * b.abs() {
            format!("β={e}")
        } else {
            format!("β={b:.2e}")
        }
    }
}

/// A run's beta path on the information plane: `I(x;z)` (the upper bound, with a bar down to the
/// lower bound) against `I(y;z)`, one point per checkpoint joined in iteration order and named by
/// its beta; the best checkpoint circled; the ceiling `H(y)` dashed when known.
pub fn beta_path_plane(
    report: &crate::eval::BetaPathReport,
    format: ImageFormat,
) -> Result<Figure> {
    let name = |i: usize, beta: f64| {
        let b = beta_label(beta);
        let mut n = if report.points[i].checkpoint == "final" {
            format!("final, {b}")
        } else {
            b
        };
        if report.best == Some(i) {
            n.push_str(" (best)");
        }
        n
    };
    let pts: Vec<(f64, f64, f64, f64, usize)> = report
        .points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let (hi, y) = (p.i_xz_upper?, p.i_yz?);
            let lo = p.i_xz_lower.unwrap_or(hi);
            (hi.is_finite() && y.is_finite()).then_some((lo, hi, y, p.beta, i))
        })
        .collect();
    if pts.is_empty() {
        return Err(Error::Data(
            "beta path figure: no checkpoint with both I(x;z) and I(y;z)".into(),
        ));
    }
    let xmax = pts.iter().map(|p| p.1).fold(0.0, f64::max);
    let ymax = pts
        .iter()
        .map(|p| p.2)
        .fold(report.h_y.unwrap_or(0.0), f64::max);
    let ymin = pts
        .iter()
        .map(|p| p.2)
        .fold(f64::INFINITY, f64::min)
        .min(0.0);
    let (x0, x1) = (0.0, (xmax * 1.25).max(1e-3));
    let (y0, y1) = padded(ymin, ymax, 0.1);
    let (y0, y1) = (y0.max(0.0), y1);
    render!(format, 680, 480, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Beta path: information plane", ("sans-serif", 22))
            .margin(14)
            .margin_right(24)
            .x_label_area_size(46)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(plot_err)?;
        light_mesh!(chart)
            .x_desc("I(x; z) [nats]")
            .y_desc("I(y; z) [nats]")
            .x_label_formatter(&|x| format!("{x:.1}"))
            .y_label_formatter(&|y| format!("{y:.1}"))
            .draw()
            .map_err(plot_err)?;
        if let Some(h) = report.h_y {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x0, h), (x1, h)],
                    8,
                    5,
                    RED.mix(0.6).stroke_width(2),
                ))
                .map_err(plot_err)?;
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((x0 + 0.02 * (x1 - x0), h))
                        + Text::new(
                            format!("H(y) = {h:.2} nats"),
                            (0, -18),
                            ("sans-serif", 13).into_font().color(&RED.mix(0.8)),
                        ),
                ))
                .map_err(plot_err)?;
        }
        let c = color(0);
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|p| (p.1, p.2)),
                c.mix(0.6).stroke_width(2),
            ))
            .map_err(plot_err)?;
        for &(lo, hi, y, beta, i) in &pts {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(lo, y), (hi, y)],
                    c.mix(0.5).stroke_width(1),
                )))
                .map_err(plot_err)?;
            let best = report.best == Some(i);
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((hi, y))
                        + Circle::new((0, 0), 5, c.filled())
                        + Circle::new((0, 0), if best { 10 } else { 0 }, RED.stroke_width(2))
                        + Text::new(
                            name(i, beta),
                            (
                                8,
                                if report.points[i].checkpoint == "final" {
                                    4
                                } else {
                                    -18
                                },
                            ),
                            ("sans-serif", 13),
                        ),
                ))
                .map_err(plot_err)?;
        }
        Ok(())
    })
}

/// A run's beta path as accuracy (%) against beta (log axis): one line per labels-per-class count
/// with a band of one standard deviation; the best checkpoint circled. Checkpoints at beta 0 are
/// left out (no place on a log axis).
pub fn accuracy_vs_beta(
    report: &crate::eval::BetaPathReport,
    format: ImageFormat,
) -> Result<Figure> {
    let mut ks: Vec<usize> = report
        .points
        .iter()
        .flat_map(|p| p.linear_probe.iter().map(|q| q.labels_per_class))
        .collect();
    ks.sort_unstable();
    ks.dedup();
    let pts: Vec<&crate::eval::BetaPathPoint> =
        report.points.iter().filter(|p| p.beta > 0.0).collect();
    if ks.is_empty() || pts.is_empty() {
        return Err(Error::Data(
            "accuracy against beta: no probe results at beta > 0".into(),
        ));
    }
    let bmin = pts.iter().map(|p| p.beta).fold(f64::INFINITY, f64::min);
    let bmax = pts.iter().map(|p| p.beta).fold(0.0, f64::max);
    let (xa, xb) = (bmin / 2.0, (bmax * 2.0).max(bmin * 4.0));
    let all: Vec<(f64, f64)> = pts
        .iter()
        .flat_map(|p| {
            p.linear_probe.iter().flat_map(move |q| {
                [
                    (p.beta, 100.0 * (q.mean + q.std)),
                    (p.beta, 100.0 * (q.mean - q.std)),
                    (p.beta, 100.0 * q.mean),
                ]
            })
        })
        .collect();
    let (ylo, yhi) = padded(
        all.iter().map(|p| p.1).fold(f64::INFINITY, f64::min),
        all.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max),
        0.1,
    );
    let (ylo, yhi) = (ylo.max(0.0), yhi.min(100.0));
    let corner = quiet_corner(&all, (xa, xb), (ylo, yhi), true);
    render!(format, 680, 480, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Beta path: test accuracy against beta", ("sans-serif", 22))
            .margin(14)
            .margin_right(24)
            .x_label_area_size(46)
            .y_label_area_size(60)
            .build_cartesian_2d((xa..xb).log_scale(), ylo..yhi)
            .map_err(plot_err)?;
        light_mesh!(chart)
            .x_desc("beta (log scale)")
            .y_desc("accuracy (%)")
            .y_label_formatter(&|y| format!("{y:.0}"))
            .x_label_formatter(&|x| format!("{x:.0e}"))
            .y_labels(6)
            .draw()
            .map_err(plot_err)?;
        for (i, &k) in ks.iter().enumerate() {
            let c = color(i);
            let line: Vec<(f64, f64, f64)> = pts
                .iter()
                .filter_map(|p| {
                    p.linear_probe
                        .iter()
                        .find(|q| q.labels_per_class == k)
                        .map(|q| (p.beta, 100.0 * q.mean, 100.0 * q.std))
                })
                .collect();
            let band: Vec<(f64, f64)> = line
                .iter()
                .map(|&(x, m, s)| (x, m + s))
                .chain(line.iter().rev().map(|&(x, m, s)| (x, m - s)))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(band, c.mix(0.15))))
                .map_err(plot_err)?;
            let xy: Vec<(f64, f64)> = line.iter().map(|&(x, m, _)| (x, m)).collect();
            draw_line(
                &mut chart,
                &xy,
                c,
                &format!("{k} label{} per class", if k == 1 { "" } else { "s" }),
                4,
            )?;
            if let Some(b) = report.best_point() {
                if k == report.best_labels_per_class && b.beta > 0.0 {
                    if let Some(q) = b.linear_probe.iter().find(|q| q.labels_per_class == k) {
                        chart
                            .draw_series(std::iter::once(Circle::new(
                                (b.beta, 100.0 * q.mean),
                                10,
                                RED.stroke_width(2),
                            )))
                            .map_err(plot_err)?;
                    }
                }
            }
        }
        draw_legend(&mut chart, corner)
    })
}
