use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// Model bundle directory written by `apiwarden train`.
    #[arg(long)]
    pub models: PathBuf,
    /// NDJSON access records to score, in order (`-` for stdin; `.gz` is decompressed).
    #[arg(long)]
    pub input: String,
    /// Scores: NDJSON, one line per input line, in input order.
    #[arg(long)]
    pub out: PathBuf,
    /// Alerts: NDJSON, one line per deduplicated alert.
    #[arg(long)]
    pub alerts: Option<PathBuf>,
}

pub fn run(_args: &ScoreArgs) -> anyhow::Result<()> {
    anyhow::bail!("score: not implemented yet")
}
