use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// TOML config file (see `config/apiwarden.toml`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<String>,
    /// Data directory of the embedded store [default: ./data].
    #[arg(long)]
    pub data: Option<PathBuf>,
}

pub fn run(_args: &ServeArgs) -> anyhow::Result<()> {
    anyhow::bail!("serve: not implemented yet")
}
