//! `mib demo`: train on the embedded data, evaluate, compare with the raw features, report.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use mib::config::TrainConfig;

use crate::train_cmd::run_training;
use mib::presets;

/// Flags of `mib demo`.
#[derive(Args, Debug, Default)]
pub(crate) struct DemoArgs {
    /// Run folder (default runs/demo-<unix time>).
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Training iterations (default: the demo preset's).
    #[arg(long)]
    iterations: Option<u64>,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

pub(crate) fn demo(a: DemoArgs) -> Result<()> {
    let text = presets::preset("demo").expect("demo preset is embedded");
    let mut cfg = TrainConfig::from_toml_str(text, "preset `demo`")?;
    if let Some(n) = a.iterations {
        cfg.beta = cfg.beta.scaled(cfg.train.iterations, n);
        cfg.train.iterations = n;
    }
    cfg.train.threads = a.threads;
    cfg.validate()?;
    let dir = a.out.clone().unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        PathBuf::from(format!("runs/demo-{t}"))
    });
    run_training(&cfg, &dir, false, a.quiet)?;
    eprintln!("mib: evaluating (few-label linear probe, kNN, cross-view retrieval)...");
    let args = crate::eval_cmd::EvalArgs::for_run(dir.clone());
    let mut report = crate::eval_cmd::run(&args)?;
    // The baseline the representation must beat: the same probe on the raw features of the
    // first view, kept in eval.json so that the report draws it beside the representation.
    let data = mib::data::load_splits(&cfg)?;
    let raw = crate::eval_cmd::raw_baseline(&args, &data, &cfg, cfg.train.threads)?;
    // The paper's representation, the posterior means z, when the recipe probes another one.
    let repr = cfg.eval.representation;
    let means = if repr == mib::config::Representation::Mean {
        None
    } else {
        let protocol = mib::eval::EvalProtocol {
            knn: None,
            information_bound: false,
            ..args.protocol()
        };
        let mut model = mib::train::RunFolder::new(&dir).open_model(cfg.train.threads)?;
        model.set_representation(mib::config::Representation::Mean);
        let emb = mib::eval::embed_splits(&mut model, &data)?;
        let inputs = mib::eval::EvalInputs {
            n_classes: data.train.n_classes,
            test_view2: None,
            ..emb.inputs()
        };
        Some(model.pool().install(|| protocol.evaluate(&inputs))??)
    };
    println!(
        "Same probe on the {} features (the baseline){}:",
        raw.name,
        if means.is_some() {
            ", and on the posterior means z alone"
        } else {
            ""
        }
    );
    let head = format!("MIB {}", repr.name());
    match &means {
        Some(_) => println!("    labels/class {head:>16} {:>10} {:>10}", "MIB z", "raw"),
        None => println!("    labels/class {head:>16} {:>10}", "raw"),
    }
    for (i, (m, r)) in report
        .linear_probe
        .iter()
        .zip(&raw.linear_probe)
        .enumerate()
    {
        let z = means
            .as_ref()
            .and_then(|z| z.linear_probe.get(i))
            .map_or(String::new(), |z| format!(" {:>10.2}", 100.0 * z.mean));
        println!(
            "    {:>12} {:>16.2}{z} {:>10.2}",
            m.labels_per_class,
            100.0 * m.mean,
            100.0 * r.mean
        );
    }
    report.baseline = Some(raw);
    mib::train::checkpoint::write_atomic(
        &dir.join("eval.json"),
        (serde_json::to_string_pretty(&report)? + "\n").as_bytes(),
    )?;
    crate::report::run(&crate::report::ReportArgs {
        dirs: vec![dir.clone()],
        out: dir.join("report.html"),
        max_points: 3000,
    })?;
    eprintln!(
        "mib: results in {}: report.html (open it in a browser), eval.json, metrics.jsonl, \
         model.safetensors, config.toml",
        dir.display()
    );
    Ok(())
}
