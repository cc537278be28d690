use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct OutliersArgs {
    /// Numeric CSV table with a header (`.gz` is decompressed).
    #[arg(long)]
    pub input: PathBuf,
    /// 0/1 label column: not a feature; ROC AUC is printed against it.
    #[arg(long)]
    pub label: Option<String>,
    /// Where to write one score per row (default: stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Number of trees.
    #[arg(long, default_value_t = 100)]
    pub trees: usize,
    /// Rows sampled per tree.
    #[arg(long, default_value_t = 256)]
    pub sample_size: usize,
    /// Seed; tree i uses seed + i.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

pub fn run(_args: &OutliersArgs) -> anyhow::Result<()> {
    anyhow::bail!("outliers: not implemented yet")
}
