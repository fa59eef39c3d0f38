//! `mib bench views`: throughput of the reference augmentation recipe.

use clap::Args;

/// Flags of `mib bench views`.
#[derive(Args, Debug)]
pub struct BenchViewsArgs {
    /// Number of source images (two views each).
    #[arg(long, default_value_t = 60000)]
    images: usize,
    /// Threads of the batch producer.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Batch size of the producer run.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `mib bench views`.
pub fn views(b: BenchViewsArgs) -> anyhow::Result<()> {
    {
        {
            let r = mib::augment::bench_views(b.images, 28, 28, b.threads, b.batch_size, b.seed)?;
            if b.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "reference recipe at 28x28: {:.0} views/s on 1 thread (plain loop); \
                     batch producer ({} threads, batch {}): {:.0} views/s, {} views in {:.2} s",
                    r.views_per_sec_1thread,
                    r.threads,
                    r.batch_size,
                    r.producer_views_per_sec,
                    2 * r.images,
                    r.producer_epoch_seconds
                );
            }
            Ok(())
        }
    }
}
