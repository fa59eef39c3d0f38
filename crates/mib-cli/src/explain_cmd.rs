//! `mib explain`: which input features drive each latent dimension of a run's encoder.
//!
//! The library computes the maps ([`mib::models::TrainedModel::feature_attribution`]); this
//! module picks the data, writes CSV, NPY, a JSON summary and figures, and prints the top
//! features per dimension.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use mib::eval::{AttributionMethod, FeatureAttribution, DEFAULT_IG_STEPS};
use mib::models::{slot_view, training_views};
use mib::plot::{attribution_heatmap, saliency_images, ImageFormat};
use mib::train::RunFolder;
use mib::Matrix;

use crate::run_cmds::Split;

/// Flags of `mib explain`.
#[derive(Args, Debug)]
pub(crate) struct ExplainArgs {
    /// Run folder (holds config.toml and model.safetensors or checkpoints/).
    run: PathBuf,
    /// The data to explain on (default: the run's own).
    #[command(flatten)]
    data: crate::args::DataArgs,
    /// Which training view's encoder: its index (0..K) or its name (e.g. pix).
    #[arg(long, default_value = "0")]
    view: String,
    /// Which split the attributions are averaged over.
    #[arg(long, value_enum, default_value_t = Split::Test)]
    split: Split,
    /// grad-x-input (gradient x input) or integrated-gradients.
    #[arg(long, default_value = "grad-x-input")]
    method: String,
    /// Steps of integrated gradients.
    #[arg(long, default_value_t = DEFAULT_IG_STEPS)]
    steps: usize,
    /// At most this many items of the split (evenly spaced), 0 = all.
    #[arg(long, default_value_t = 2000)]
    max_items: usize,
    /// Features listed per latent dimension in the printed summary.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Output folder (default RUN/explain).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Figure format: png or svg.
    #[arg(long, default_value = "png", value_parser = ["png", "svg"])]
    format: String,
}

/// The training view slot `view` names: an index, or a view name of the model.
fn parse_view(view: &str, names: &[String]) -> Result<usize> {
    if let Ok(i) = view.parse::<usize>() {
        if i < names.len() {
            return Ok(i);
        }
    } else if let Some(i) = names.iter().position(|n| n == view) {
        return Ok(i);
    }
    bail!(
        "--view {view}: the model has {} training views: {}",
        names.len(),
        names
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{i} ({n})"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

pub(crate) fn explain(a: ExplainArgs) -> Result<()> {
    let run = RunFolder::new(&a.run);
    let mut cfg = run.read_config()?;
    a.data.apply(&mut cfg)?;
    let method = AttributionMethod::parse(&a.method, a.steps)?;
    let mut model = run.open_model(cfg.train.threads)?;
    let view = parse_view(&a.view, &model.info().view_names.clone())?;
    let data = mib::data::load_splits(&cfg)?;
    model.check_dataset(&data.train)?;
    let ds = match a.split {
        Split::Train => &*data.train,
        Split::Test => &data.test,
    };
    let views = training_views(model.config(), ds.views.len())?;
    let v = slot_view(&views, view)?;
    let x_all = &ds.views[v];
    let x = if a.max_items > 0 && x_all.rows > a.max_items {
        let idx: Vec<usize> = (0..a.max_items)
            .map(|i| i * x_all.rows / a.max_items)
            .collect();
        x_all.select_rows(&idx)
    } else {
        x_all.clone()
    };
    let attr = model.feature_attribution(view, &x, method)?;
    let name = sanitize(if attr.view_name.is_empty() {
        "view"
    } else {
        &attr.view_name
    });
    let out = a.out.clone().unwrap_or_else(|| a.run.join("explain"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let image = model
        .config()
        .model
        .encoder_for(view)
        .and_then(|e| e.image_shape)
        .or_else(|| ds.view_image_shape(v))
        .filter(|s| s.iter().product::<usize>() == x.cols);
    let mut written = Vec::new();
    for (what, m) in [
        ("importance", &attr.importance),
        ("signed", &attr.signed),
        ("loadings", &attr.loadings),
    ] {
        let p = out.join(format!("{what}_{name}.npy"));
        crate::run_cmds::write_npy_f32(&p, &m.data, &[m.rows, m.cols])?;
        written.push(p);
    }
    let csv = out.join(format!("attribution_{name}.csv"));
    write_csv(&csv, &attr)?;
    written.push(csv);
    let json = out.join(format!("explain_{name}.json"));
    mib::train::checkpoint::write_atomic(&json, (summary_json(&attr, a.top)? + "\n").as_bytes())?;
    written.push(json);
    let fmt = if a.format == "svg" {
        ImageFormat::Svg
    } else {
        ImageFormat::Png
    };
    let what = format!(
        "({}), view `{}`, {} items",
        method.name(),
        attr.view_name,
        attr.n_items
    );
    let fig = |stem: &str| out.join(format!("{stem}_{name}.{}", a.format));
    match image {
        Some(shape) => {
            let p = fig("saliency");
            saliency_images(
                &attr.importance,
                shape,
                &format!("mean |attribution| {what}"),
                false,
                fmt,
            )?
            .save(&p)?;
            written.push(p);
            let p = fig("saliency_loadings");
            saliency_images(
                &attr.loadings,
                shape,
                &format!("loadings of view `{}`", attr.view_name),
                true,
                fmt,
            )?
            .save(&p)?;
            written.push(p);
        }
        None => {
            let p = fig("importance");
            attribution_heatmap(
                &attr.importance,
                None,
                &format!("mean |attribution| {what}"),
                false,
                fmt,
            )?
            .save(&p)?;
            written.push(p);
            let p = fig("loadings");
            attribution_heatmap(
                &attr.loadings,
                None,
                &format!("loadings (correlation) of view `{}`", attr.view_name),
                true,
                fmt,
            )?
            .save(&p)?;
            written.push(p);
        }
    }
    print!("{}", summary_table(&attr, a.top));
    for p in written {
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// One line per (feature, dimension): `feature,dim,importance,signed,loading`.
fn write_csv(path: &Path, a: &FeatureAttribution) -> Result<()> {
    let (d, zd) = (a.importance.rows, a.importance.cols);
    let mut s = String::from("feature,dim,importance,signed,loading\n");
    for j in 0..d {
        for k in 0..zd {
            let i = j * zd + k;
            let _ = writeln!(
                s,
                "{j},{k},{},{},{}",
                a.importance.data[i], a.signed.data[i], a.loadings.data[i]
            );
        }
    }
    mib::train::checkpoint::write_atomic(path, s.as_bytes())?;
    Ok(())
}

fn column(m: &Matrix, k: usize, j: usize) -> f32 {
    m.data[j * m.cols + k]
}

fn summary_json(a: &FeatureAttribution, top: usize) -> Result<String> {
    let dims: Vec<serde_json::Value> = (0..a.importance.cols)
        .map(|k| {
            serde_json::json!({
                "dim": k,
                "top_features": a.top_features(k, top),
                "top_importance": a.top_features(k, top).iter().map(|&j| column(&a.importance, k, j)).collect::<Vec<_>>(),
                "top_loadings": a.top_loadings(k, top),
                "loading_values": a.top_loadings(k, top).iter().map(|&j| column(&a.loadings, k, j)).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(serde_json::to_string_pretty(&serde_json::json!({
        "method": a.method.name(),
        "steps": match a.method {
            AttributionMethod::IntegratedGradients { steps } => Some(steps),
            AttributionMethod::GradXInput => None,
        },
        "view": a.view,
        "view_name": a.view_name,
        "n_items": a.n_items,
        "n_features": a.importance.rows,
        "z_dim": a.importance.cols,
        "completeness_gap": a.completeness_gap,
        "total_importance": a.total_importance(),
        "dims": dims,
    }))?)
}

fn summary_table(a: &FeatureAttribution, top: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} of view {} (`{}`), {} items, {} features x {} latent dimensions",
        a.method.name(),
        a.view,
        a.view_name,
        a.n_items,
        a.importance.rows,
        a.importance.cols
    );
    if let Some(g) = a.completeness_gap {
        let _ = writeln!(
            s,
            "completeness gap {g:.4} (|sum of attributions - (mu(x) - mu(baseline))|, relative)"
        );
    }
    let total = a.total_importance();
    let mut order: Vec<usize> = (0..total.len()).collect();
    order.sort_by(|&x, &y| total[y].total_cmp(&total[x]));
    let _ = writeln!(
        s,
        "features by total importance: {}",
        order
            .iter()
            .take(top.max(1) * 2)
            .map(|&j| format!("{j} ({:.3})", total[j]))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        s,
        "{:>4}  {:<48}  top |loading|",
        "dim", "top features (mean |attribution|)"
    );
    for k in 0..a.importance.cols {
        let f = a
            .top_features(k, top)
            .iter()
            .map(|&j| format!("{j} ({:.3})", column(&a.importance, k, j)))
            .collect::<Vec<_>>()
            .join(", ");
        let l = a
            .top_loadings(k, top)
            .iter()
            .map(|&j| format!("{j} ({:+.2})", column(&a.loadings, k, j)))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(s, "{k:>4}  {f:<48}  {l}");
    }
    s
}
