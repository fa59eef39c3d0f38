//! `mib doctor RUN`: what a run's metrics, checkpoints, representations and evaluation say, with
//! advice ([`mib::diagnose::diagnose_run`]).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

/// Flags of `mib doctor`.
#[derive(Args, Debug)]
pub(crate) struct DoctorArgs {
    /// Run folder (holds config.toml and metrics.jsonl).
    run: PathBuf,
    /// Print one JSON document (findings with kind, severity, saw, advice) instead of text.
    #[arg(long)]
    json: bool,
    /// Worker threads for embedding the held-out items (0 = all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

pub(crate) fn doctor(a: DoctorArgs) -> Result<()> {
    let d = mib::diagnose::diagnose_run(&a.run, a.threads)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        print!("{}", d.to_text());
    }
    Ok(())
}
