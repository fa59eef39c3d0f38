//! The `mib` command-line tool: a thin layer over the `mib` library.

use clap::{Parser, Subcommand};

mod eval_cmd;
mod report;

/// Multi-View Information Bottleneck: learn robust representations from two views.
#[derive(Parser)]
#[command(name = "mib", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the version and exit.
    Version,
    /// Evaluate a run's representations: few-label linear probe, kNN, retrieval, information bound.
    Eval(eval_cmd::EvalArgs),
    /// One self-contained HTML page comparing run directories.
    Report(report::ReportArgs),
    /// Figures of run directories as PNG/SVG files.
    Plot(report::PlotArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => println!("mib {}", env!("CARGO_PKG_VERSION")),
        Command::Eval(args) => {
            eval_cmd::run(&args)?;
        }
        Command::Report(args) => report::run(&args)?,
        Command::Plot(args) => report::run_plot(&args)?,
    }
    Ok(())
}
