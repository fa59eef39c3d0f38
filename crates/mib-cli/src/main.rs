//! The `mib` command-line tool: a thin layer over the `mib` library.
//!
//! Each subcommand parses its flags, loads a config, applies flag overrides and calls one library
//! function. Errors are printed as one line on stderr with a non-zero exit code.

mod args;
mod bench;
mod bench_views;
mod demo_cmd;
mod doctor_cmd;
mod eval_cmd;
mod experiment_cmd;
mod explain_cmd;
mod export_cmd;
mod report;
mod run_cmds;
mod signals;
mod train_cmd;
mod views;

use clap::{Parser, Subcommand};

/// Multi-View Information Bottleneck: learn robust representations from two views of your data.
#[derive(Parser)]
#[command(name = "mib", version, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model (MIB, MV-InfoMax, InfoMax, beta-VAE, supervised) into a run folder.
    Train(train_cmd::TrainArgs),
    /// The main job on the embedded UCI mfeat data: train MIB for about a minute, then evaluate.
    Demo(demo_cmd::DemoArgs),
    /// Compare objectives on one budget: train and evaluate each arm of an experiment, one table.
    Experiment(experiment_cmd::ExperimentArgs),
    /// Write the posterior means of a trained encoder for a dataset split to an .npy file.
    Embed(run_cmds::EmbedArgs),
    /// Write one view's encoder of a run as an ONNX model (input scaling folded in; dynamic batch).
    Export(export_cmd::ExportArgs),
    /// Evaluate a run: few-label linear probe, kNN, cross-view retrieval, information bound.
    Eval(eval_cmd::EvalArgs),
    /// Which input features drive each latent dimension: attributions (gradient x input or
    /// integrated gradients) and loadings of a view's encoder, as CSV, NPY and figures.
    Explain(explain_cmd::ExplainArgs),
    /// Diagnose a run: what its metrics, checkpoints and evaluation say, and what to change.
    Doctor(doctor_cmd::DoctorArgs),
    /// One self-contained HTML page comparing run folders (config, tables, figures).
    Report(report::ReportArgs),
    /// Figures of run folders as PNG/SVG files.
    Plot(report::PlotArgs),
    /// Print what a run folder or checkpoint holds.
    Inspect(run_cmds::InspectArgs),
    /// Write a PNG grid of original | view 1 | view 2 to see the augmentations.
    Views(views::ViewsArgs),
    /// Benchmarks: `mib bench step` (training step), `mib bench views` (augmentations), `mib bench
    /// scale` (training from memory-mapped views larger than memory).
    Bench {
        #[command(subcommand)]
        cmd: bench::BenchCommand,
    },
}

fn main() {
    // Behave like other command-line tools when the reader of our output goes away
    // (`mib eval RUN | head`): exit quietly instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(a) => train_cmd::train(a),
        Command::Demo(a) => demo_cmd::demo(a),
        Command::Experiment(a) => experiment_cmd::experiment(a),
        Command::Embed(a) => run_cmds::embed(a),
        Command::Export(a) => export_cmd::export(a),
        Command::Eval(a) => eval_cmd::run(&a).map(|_| ()),
        Command::Explain(a) => explain_cmd::explain(a),
        Command::Doctor(a) => doctor_cmd::doctor(a),
        Command::Report(a) => report::run(&a),
        Command::Plot(a) => report::run_plot(&a),
        Command::Inspect(a) => run_cmds::inspect(a),
        Command::Views(a) => views::views(a),
        Command::Bench { cmd } => bench::run(cmd),
    };
    // After a stop that SIGTERM asked for (checkpoint written), exit with 128 + 15.
    let signalled = signals::exit_code();
    if let Err(e) = result {
        let msg = format!("{e:#}").replace('\n', " ");
        eprintln!("error: {msg}");
        std::process::exit(signalled.unwrap_or(1));
    }
    if let Some(code) = signalled {
        std::process::exit(code);
    }
}
