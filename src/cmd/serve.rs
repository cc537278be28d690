use anyhow::Context;
use apiwarden_server::{AppState, Config};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// TOML config file (see `config/apiwarden.toml`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080]; port 0 picks a free port.
    #[arg(long)]
    pub listen: Option<String>,
    /// Data directory of the embedded store [default: ./data].
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// Defaults, then the config file, then the environment, then the flags.
fn load_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => Config::load(path).map_err(|e| super::bad_input(e.to_string()))?,
        None => Config::default(),
    };
    config.apply_env(|k| std::env::var(k).ok());
    if let Some(listen) = &args.listen {
        config.listen = listen.clone();
    }
    if let Some(data) = &args.data {
        config.data_dir = data.clone();
    }
    config
        .validate()
        .map_err(|e| super::bad_input(e.to_string()))?;
    Ok(config)
}

pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let config = load_config(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("apiwarden-http")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listen = config.listen.clone();
        let state = AppState::open(config).map_err(|e| match e {
            apiwarden_server::StartError::Config(c) => super::bad_input(c.to_string()),
            other => anyhow::Error::new(other),
        })?;
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr().context("listener address")?;
        // Tests and scripts read the bound address (port 0) from this line.
        println!("apiwarden listening on http://{addr}");
        let _ = std::io::stdout().flush();
        tracing::info!(%addr, "listening");
        apiwarden_server::serve(listener, state, shutdown_signal()).await?;
        Ok(())
    })
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
