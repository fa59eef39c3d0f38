//! The `mib` command-line tool: a thin layer over the `mib` library.

mod bench;

use clap::{Parser, Subcommand};

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
    /// Benchmarks (training-step speed).
    Bench {
        #[command(subcommand)]
        cmd: bench::BenchCommand,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => println!("mib {}", env!("CARGO_PKG_VERSION")),
        Command::Bench { cmd } => bench::run(cmd)?,
    }
    Ok(())
}
