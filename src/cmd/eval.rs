use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Labels NDJSON (`{"id", "label", "episode"}` per test record, in order).
    #[arg(long)]
    pub labels: PathBuf,
    /// Scores NDJSON written by `apiwarden score`.
    #[arg(long)]
    pub scores: PathBuf,
    /// Alerts NDJSON written by `apiwarden score --alerts`.
    #[arg(long)]
    pub alerts: Option<PathBuf>,
}

pub fn run(_args: &EvalArgs) -> anyhow::Result<()> {
    anyhow::bail!("eval: not implemented yet")
}
