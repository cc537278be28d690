use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// NDJSON access records to learn from (`-` for stdin; `.gz` is decompressed).
    #[arg(long, num_args = 1.., required = true)]
    pub input: Vec<String>,
    /// Directory to write the model bundle to (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Seed for every random choice of training.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

pub fn run(_args: &TrainArgs) -> anyhow::Result<()> {
    anyhow::bail!("train: not implemented yet")
}
