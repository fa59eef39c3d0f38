//! `mib report DIR [DIR...] --out report.html`: one self-contained HTML page comparing runs; and
//! `mib plot DIR [DIR...] --out-dir figures`: the same figures as PNG/SVG files.
//!
//! Per run directory it shows `config.toml` (verbatim), `eval.json` (an [`EvalReport`]) as tables,
//! the training curves from `metrics.jsonl`, and a 2-D PCA of the test representations from
//! `embeddings.safetensors`; across runs, accuracy against labels per class and the information
//! plane. Figures are inline SVG (curves) or base64 PNG (scatter plots). Missing or unreadable files
//! are named on the page instead of failing the report.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use clap::Args;
use mib::eval::BetaPathReport;
use mib::eval::{label_entropy, Embeddings, EvalReport};
use mib::plot::{
    accuracy_vs_beta, accuracy_vs_labels_with_baselines, beta_path_plane, information_plane,
    pca_scatter, probe_vs_iteration, read_metrics_jsonl, training_curves, Figure, ImageFormat,
    InfoPoint, ProbeCurve, ProbeRun,
};

/// Flags of `mib report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Run directories (each with `config.toml`, `metrics.jsonl`, `eval.json`, and optionally
    /// `embeddings.safetensors`).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Output HTML file.
    #[arg(long, default_value = "report.html")]
    pub out: PathBuf,
    /// Most points drawn in a PCA scatter plot.
    #[arg(long, default_value_t = 3000)]
    pub max_points: usize,
}

/// Escapes `&`, `<`, `>` and `"` for HTML text and attributes.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}

/// A figure as an HTML fragment: inline SVG, or a base64 PNG `<img>`.
pub fn figure_html(f: &Figure, alt: &str) -> String {
    match f.format {
        ImageFormat::Svg => format!(
            "<div class=\"fig\">{}</div>",
            String::from_utf8_lossy(&f.bytes)
        ),
        ImageFormat::Png => format!(
            "<div class=\"fig\"><img alt=\"{}\" src=\"data:image/png;base64,{}\"></div>",
            escape(alt),
            base64::engine::general_purpose::STANDARD.encode(&f.bytes)
        ),
    }
}

fn note(msg: &str) -> String {
    format!("<p class=\"missing\">{}</p>\n", escape(msg))
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.2}", 100.0 * x)
    } else {
        "n/a".into()
    }
}

fn num(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite())
        .map_or("n/a".into(), |v| format!("{v:.4}"))
}

/// HTML tables of an [`EvalReport`].
pub fn eval_tables(r: &EvalReport) -> String {
    let mut s = String::new();
    if !r.linear_probe.is_empty() {
        s.push_str("<h4>Linear probe (test accuracy, %)</h4>\n<table><tr><th>labels / class</th><th>mean</th><th>std</th><th>repetitions</th></tr>\n");
        for p in &r.linear_probe {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                p.labels_per_class,
                pct(p.mean),
                pct(p.std),
                p.repetitions
            );
        }
        s.push_str("</table>\n");
    }
    if let Some(k) = &r.knn {
        let _ = writeln!(
            s,
            "<h4>kNN probe</h4><table><tr><th>k</th><th>distance</th><th>accuracy (%)</th></tr><tr><td>{}</td><td>{}</td><td>{}</td></tr></table>",
            k.k,
            k.metric,
            pct(k.accuracy)
        );
    }
    if let Some(q) = &r.retrieval {
        let _ = writeln!(
            s,
            "<h4>Cross-view retrieval</h4><table><tr><th>mAP@all</th><th>Precision@{}</th><th>queries</th><th>without relevant item</th></tr><tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
            q.k,
            num(Some(q.map_at_all)),
            num(Some(q.precision_at_k)),
            q.queries,
            q.queries_without_relevant
        );
    }
    if let Some(m) = &r.multilabel {
        s.push_str("<h4>Multi-label probe (test mAP)</h4>\n<table><tr><th>labelled items</th><th>mAP</th><th>std</th><th>repetitions</th></tr>\n");
        for p in m {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{}</td></tr>",
                p.labelled, p.mean_map, p.std, p.repetitions
            );
        }
        s.push_str("</table>\n");
    }
    if let Some(ip) = &r.information_plane {
        let est = |e: &str| {
            if e.is_empty() {
                "not estimated".to_string()
            } else {
                escape(e)
            }
        };
        let _ = writeln!(
            s,
            "<h4>Information plane (nats)</h4><table><tr><th></th><th>value</th><th>estimator</th></tr><tr><td>I(x;z)</td><td>{}</td><td>{}</td></tr><tr><td>I(y;z)</td><td>{}</td><td>{}</td></tr></table>",
            num(ip.i_xz),
            est(&ip.i_xz_estimator),
            num(ip.i_yz),
            est(&ip.i_yz_estimator)
        );
    }
    if s.is_empty() {
        s = note("eval.json holds no results");
    }
    s
}

fn run_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// The "Diagnosis" section of a run: `mib doctor`'s findings ([`mib::diagnose::diagnose_run`]).
pub fn diagnosis_html(dir: &Path) -> String {
    let d = match mib::diagnose::diagnose_run(dir, 1) {
        Ok(d) => d,
        Err(e) => return note(&format!("no diagnosis: {e}")),
    };
    let mut s = String::new();
    if d.findings.is_empty() {
        s.push_str("<p>No findings: nothing in this run looks wrong.</p>\n");
    }
    for f in &d.findings {
        let sev = match f.severity {
            mib::diagnose::Severity::Problem => "problem",
            mib::diagnose::Severity::Warning => "warning",
            mib::diagnose::Severity::Info => "info",
        };
        let _ = writeln!(
            s,
            "<div class=\"finding {sev}\"><b>{}</b>: {} <span class=\"kind\">({})</span><br>saw: {}<br>try: {}</div>",
            sev.to_uppercase(),
            escape(&f.title),
            escape(&f.kind.name()),
            escape(&f.saw),
            escape(&f.advice)
        );
    }
    if !d.passed.is_empty() {
        let _ = writeln!(
            s,
            "<details><summary>checked and fine ({})</summary><ul>{}</ul></details>",
            d.passed.len(),
            d.passed
                .iter()
                .map(|p| format!("<li>{}</li>", escape(p)))
                .collect::<String>()
        );
    }
    if !d.skipped.is_empty() {
        let _ = writeln!(
            s,
            "<details><summary>not checked ({})</summary><ul>{}</ul></details>",
            d.skipped.len(),
            d.skipped
                .iter()
                .map(|p| format!("<li>{}</li>", escape(p)))
                .collect::<String>()
        );
    }
    s
}

/// The "Beta path" section of a run (`beta_path.json`, from `mib eval RUN --beta-path`): the
/// table, the information-plane path and the accuracy against beta. Empty when the run has none.
pub fn beta_path_html(dir: &Path) -> String {
    let path = dir.join("beta_path.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return String::new();
    };
    let r: BetaPathReport = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => return note(&format!("beta_path.json is not a beta-path report: {e}")),
    };
    let mut s = String::from("<h3>Beta path</h3>\n<table><tr><th>checkpoint</th><th>iteration</th><th>beta</th><th>I(x;z) lower</th><th>I(x;z) upper</th><th>I(y;z)</th>");
    let ks: Vec<usize> = r
        .points
        .first()
        .map(|p| p.linear_probe.iter().map(|q| q.labels_per_class).collect())
        .unwrap_or_default();
    for k in &ks {
        let _ = write!(s, "<th>accuracy, {k} / class (%)</th>");
    }
    s.push_str("</tr>\n");
    for (i, p) in r.points.iter().enumerate() {
        let best = r.best == Some(i);
        let _ = write!(
            s,
            "<tr{}><td>{}{}</td><td>{}</td><td>{:.3e}</td><td>{}</td><td>{}</td><td>{}</td>",
            if best { " class=\"best\"" } else { "" },
            escape(&p.checkpoint),
            if best { " (best)" } else { "" },
            p.iteration,
            p.beta,
            num(p.i_xz_lower),
            num(p.i_xz_upper),
            num(p.i_yz)
        );
        for q in &p.linear_probe {
            let _ = write!(s, "<td>{}</td>", pct(q.mean));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
    if let Some(b) = r.best_point() {
        let _ = writeln!(
            s,
            "<p>Best on the test split at {} labels per class: beta = {:.3e} (<code>--checkpoint {}</code>).</p>",
            r.best_labels_per_class,
            b.beta,
            escape(&b.checkpoint)
        );
    }
    for (fig, alt) in [
        (
            beta_path_plane(&r, ImageFormat::Svg),
            "beta path on the information plane",
        ),
        (
            accuracy_vs_beta(&r, ImageFormat::Svg),
            "accuracy against beta",
        ),
    ] {
        match fig {
            Ok(f) => s.push_str(&figure_html(&f, alt)),
            Err(e) => s.push_str(&note(&format!("{alt}: {e}"))),
        }
    }
    s
}

/// Builds the HTML page for `dirs`.
pub fn build_report(dirs: &[PathBuf], max_points: usize) -> String {
    let mut body = String::new();
    let mut baselines = Vec::new();
    let mut probe_runs = Vec::new();
    let mut info_points = Vec::new();
    let mut report_curves = Vec::new();
    let mut h_y = None;
    for dir in dirs {
        let name = run_name(dir);
        let _ = writeln!(
            body,
            "<section><h2>{}</h2><p class=\"path\">{}</p>",
            escape(&name),
            escape(&dir.display().to_string())
        );
        // config.toml
        body.push_str("<h3>Configuration</h3>\n");
        match std::fs::read_to_string(dir.join("config.toml")) {
            Ok(t) => {
                let _ = writeln!(
                    body,
                    "<details open><summary>config.toml</summary><pre>{}</pre></details>",
                    escape(&t)
                );
            }
            Err(e) => body.push_str(&note(&format!("config.toml missing or unreadable: {e}"))),
        }
        // eval.json
        body.push_str("<h3>Evaluation</h3>\n");
        match std::fs::read_to_string(dir.join("eval.json")) {
            Ok(t) => match serde_json::from_str::<EvalReport>(&t) {
                Ok(r) => {
                    body.push_str(&eval_tables(&r));
                    if let Some(b) = &r.baseline {
                        baselines.push(ProbeRun {
                            name: b.name.clone(),
                            summaries: b.linear_probe.clone(),
                        });
                    }
                    if !r.linear_probe.is_empty() {
                        probe_runs.push(ProbeRun {
                            name: name.clone(),
                            summaries: r.linear_probe.clone(),
                        });
                    }
                    if let Some(ip) = &r.information_plane {
                        if let (Some(x), Some(y)) = (ip.i_xz, ip.i_yz) {
                            info_points.push(InfoPoint {
                                name: name.clone(),
                                i_xz: x,
                                i_yz: y,
                            });
                        }
                    }
                }
                Err(e) => body.push_str(&note(&format!(
                    "eval.json is not an evaluation report: {e}"
                ))),
            },
            Err(e) => body.push_str(&note(&format!("eval.json missing or unreadable: {e}"))),
        }
        body.push_str(&beta_path_html(dir));
        if dir.join("config.toml").exists() {
            body.push_str("<h3>Diagnosis</h3>\n");
            body.push_str(&diagnosis_html(dir));
        }
        // metrics.jsonl
        body.push_str("<h3>Training curves</h3>\n");
        match read_metrics_jsonl(dir.join("metrics.jsonl")) {
            Ok(rec) if !rec.is_empty() => {
                report_curves.extend(ProbeCurve::from_metrics(name.clone(), &rec));
                match training_curves(&rec, ImageFormat::Svg) {
                    Ok(f) => body.push_str(&figure_html(&f, "training curves")),
                    Err(e) => body.push_str(&note(&format!("training curves: {e}"))),
                }
            }
            Ok(_) => body.push_str(&note("metrics.jsonl is empty")),
            Err(e) => body.push_str(&note(&format!("metrics.jsonl missing or unreadable: {e}"))),
        }
        // embeddings
        body.push_str("<h3>Test representations</h3>\n");
        let emb_path = dir.join("embeddings.safetensors");
        if emb_path.exists() {
            match Embeddings::load(&emb_path) {
                Ok(e) => {
                    if h_y.is_none() {
                        h_y = Some(label_entropy(&e.y_test, e.n_classes()));
                    }
                    match pca_scatter(&e.test, &e.y_test, max_points, ImageFormat::Png) {
                        Ok(f) => body.push_str(&figure_html(&f, "PCA of test representations")),
                        Err(err) => body.push_str(&note(&format!("PCA figure: {err}"))),
                    }
                }
                Err(err) => {
                    body.push_str(&note(&format!("embeddings.safetensors unreadable: {err}")))
                }
            }
        } else {
            body.push_str(&note("embeddings.safetensors missing: no PCA figure"));
        }
        body.push_str("</section>\n");
    }
    let mut summary = String::new();
    if probe_runs.is_empty() {
        summary.push_str(&note("no run has linear-probe results: no accuracy figure"));
    } else {
        match accuracy_vs_labels_with_baselines(&probe_runs, &baselines, ImageFormat::Svg) {
            Ok(f) => summary.push_str(&figure_html(&f, "accuracy against labels per class")),
            Err(e) => summary.push_str(&note(&format!("accuracy figure: {e}"))),
        }
    }
    if !report_curves.is_empty() {
        match probe_vs_iteration(&report_curves, ImageFormat::Svg) {
            Ok(f) => summary.push_str(&figure_html(&f, "training-time probe against iteration")),
            Err(e) => summary.push_str(&note(&format!("probe figure: {e}"))),
        }
    }
    if info_points.is_empty() {
        summary.push_str(&note(
            "information plane: no run has both I(x;z) and I(y;z) estimates",
        ));
    } else {
        match information_plane(&info_points, h_y, ImageFormat::Svg) {
            Ok(f) => summary.push_str(&figure_html(&f, "information plane")),
            Err(e) => summary.push_str(&note(&format!("information plane: {e}"))),
        }
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>mib report</title>\n<style>{CSS}</style></head><body>\n<h1>mib report</h1>\n<p>{} run(s), made by mib {}.</p>\n<section><h2>Comparison</h2>\n{summary}</section>\n{body}</body></html>\n",
        dirs.len(),
        env!("CARGO_PKG_VERSION")
    )
}

const CSS: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:3px 10px;text-align:right}\
th{background:#eee}pre{background:#f6f6f6;padding:.6em;overflow:auto;font-size:90%}\
.missing{color:#a33;font-style:italic}.finding{margin:.4em 0;padding:.3em .6em;border-left:4px solid #999}\
.finding.problem{border-color:#c33;background:#fdf0f0}.finding.warning{border-color:#e90;background:#fff8ec}\
.finding.info{border-color:#59c;background:#f2f7fc}.kind{color:#777;font-size:85%}tr.best td{font-weight:bold}.path{color:#666;font-size:90%}.fig{margin:.6em 0}\
section{border-top:2px solid #ccc;margin-top:1.5em}";

/// `mib report`: writes the page to `args.out`.
pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let html = build_report(&args.dirs, args.max_points);
    std::fs::write(&args.out, html).map_err(|e| mib::Error::io("writing", &args.out, e))?;
    println!("wrote {}", args.out.display());
    Ok(())
}

/// Flags of `mib plot`.
#[derive(Debug, Clone, Args)]
pub struct PlotArgs {
    /// Run directories (as for `mib report`).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Folder the figures are written to (created if needed).
    #[arg(long, default_value = "figures")]
    pub out_dir: PathBuf,
    /// Image formats: png, svg, or both.
    #[arg(long, default_value = "both", value_parser = ["png", "svg", "both"])]
    pub format: String,
    /// Most points drawn in a PCA scatter plot.
    #[arg(long, default_value_t = 5000)]
    pub max_points: usize,
}

/// `mib plot`: writes the figures of `mib report` as files: `accuracy_vs_labels`,
/// `information_plane` and `probe_vs_iteration` (across runs), `<run>_training_curves`, `<run>_pca` (per run), each as
/// `.png` and/or `.svg`. Missing inputs are reported on stderr and skipped.
pub fn run_plot(args: &PlotArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out_dir)
        .map_err(|e| mib::Error::io("creating folder", &args.out_dir, e))?;
    let formats: Vec<(ImageFormat, &str)> = match args.format.as_str() {
        "png" => vec![(ImageFormat::Png, "png")],
        "svg" => vec![(ImageFormat::Svg, "svg")],
        _ => vec![(ImageFormat::Png, "png"), (ImageFormat::Svg, "svg")],
    };
    let save = |stem: &str, make: &dyn Fn(ImageFormat) -> mib::Result<Figure>| {
        for (fmt, ext) in &formats {
            match make(*fmt) {
                Ok(f) => {
                    let path = args.out_dir.join(format!("{stem}.{ext}"));
                    match f.save(&path) {
                        Ok(()) => println!("wrote {}", path.display()),
                        Err(e) => eprintln!("{stem}: {e}"),
                    }
                }
                Err(e) => {
                    eprintln!("{stem}: {e}");
                    return;
                }
            }
        }
    };
    let mut probe_runs = Vec::new();
    let mut baselines = Vec::new();
    let mut probe_curves = Vec::new();
    let mut info_points = Vec::new();
    let mut h_y = None;
    for dir in &args.dirs {
        let name = run_name(dir);
        match std::fs::read_to_string(dir.join("eval.json"))
            .map_err(anyhow::Error::from)
            .and_then(|t| Ok(serde_json::from_str::<EvalReport>(&t)?))
        {
            Ok(r) => {
                if let Some(b) = &r.baseline {
                    baselines.push(ProbeRun {
                        name: b.name.clone(),
                        summaries: b.linear_probe.clone(),
                    });
                }
                if !r.linear_probe.is_empty() {
                    probe_runs.push(ProbeRun {
                        name: name.clone(),
                        summaries: r.linear_probe.clone(),
                    });
                }
                if let Some((x, y)) = r
                    .information_plane
                    .as_ref()
                    .and_then(|ip| ip.i_xz.zip(ip.i_yz))
                {
                    info_points.push(InfoPoint {
                        name: name.clone(),
                        i_xz: x,
                        i_yz: y,
                    });
                }
            }
            Err(e) => eprintln!("{}: eval.json: {e}", dir.display()),
        }
        match read_metrics_jsonl(dir.join("metrics.jsonl")) {
            Ok(rec) => {
                probe_curves.extend(ProbeCurve::from_metrics(name.clone(), &rec));
                save(&format!("{name}_training_curves"), &|f| {
                    training_curves(&rec, f)
                })
            }
            Err(e) => eprintln!("{}: {e}", dir.display()),
        }
        if let Ok(t) = std::fs::read_to_string(dir.join("beta_path.json")) {
            match serde_json::from_str::<BetaPathReport>(&t) {
                Ok(r) => {
                    save(&format!("{name}_beta_path_plane"), &|f| {
                        beta_path_plane(&r, f)
                    });
                    save(&format!("{name}_accuracy_vs_beta"), &|f| {
                        accuracy_vs_beta(&r, f)
                    });
                }
                Err(e) => eprintln!("{}: beta_path.json: {e}", dir.display()),
            }
        }
        let emb = dir.join("embeddings.safetensors");
        if emb.exists() {
            match Embeddings::load(&emb) {
                Ok(e) => {
                    h_y.get_or_insert_with(|| label_entropy(&e.y_test, e.n_classes()));
                    save(&format!("{name}_pca"), &|f| {
                        pca_scatter(&e.test, &e.y_test, args.max_points, f)
                    });
                }
                Err(err) => eprintln!("{}: {err}", emb.display()),
            }
        } else {
            eprintln!(
                "{}: no embeddings.safetensors, no PCA figure",
                dir.display()
            );
        }
    }
    if probe_curves.is_empty() {
        eprintln!("no training-time probe in any metrics.jsonl: no probe_vs_iteration figure");
    } else {
        save("probe_vs_iteration", &|f| {
            probe_vs_iteration(&probe_curves, f)
        });
    }
    if probe_runs.is_empty() {
        eprintln!("no linear-probe results: no accuracy figure");
    } else {
        save("accuracy_vs_labels", &|f| {
            accuracy_vs_labels_with_baselines(&probe_runs, &baselines, f)
        });
    }
    if info_points.is_empty() {
        eprintln!("no run has both I(x;z) and I(y;z): no information-plane figure");
    } else {
        save("information_plane", &|f| {
            information_plane(&info_points, h_y, f)
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_shows_what_exists_and_names_what_is_missing() {
        let dir = std::env::temp_dir().join(format!("mib-report-test-{}", std::process::id()));
        let run = dir.join("run<1>");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("config.toml"), "seed = 3 # <b>not bold</b>\n").unwrap();
        std::fs::write(
            run.join("eval.json"),
            r#"{"linear_probe": [{"labels_per_class": 1, "mean": 0.5, "std": 0.1, "repetitions": 2},
                                 {"labels_per_class": 10, "mean": 0.9, "std": 0.01, "repetitions": 2}]}"#,
        )
        .unwrap();
        std::fs::write(
            run.join("metrics.jsonl"),
            "{\"iteration\": 0, \"loss\": 1.0}\n{\"iteration\": 10, \"loss\": 0.5}\n",
        )
        .unwrap();
        let html = build_report(&[run.clone(), dir.join("absent")], 100);
        assert!(html.contains("seed = 3 # &lt;b&gt;not bold&lt;/b&gt;"));
        assert!(html.contains("run&lt;1&gt;"));
        assert!(html.contains("<td>90.00</td>"));
        assert!(
            html.matches("<svg").count() >= 2,
            "accuracy figure and training curves"
        );
        assert!(html.contains("embeddings.safetensors missing"));
        assert!(html.contains("config.toml missing"));
        assert!(html.contains("information plane: no run has both"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
