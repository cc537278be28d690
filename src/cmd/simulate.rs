use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Directory for train.ndjson, test.ndjson and labels.ndjson.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed: the same seed gives byte-identical output.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Traffic volume multiplier (1.0 = the default population and duration).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
}

pub fn run(_args: &SimulateArgs) -> anyhow::Result<()> {
    anyhow::bail!("simulate: not implemented yet")
}
