use anyhow::Context;
use apiwarden_detect::{ModelBundle, FINGERPRINT_KEY_FILE};
use apiwarden_record::Fingerprinter;
use apiwarden_server::{AppState, Config};
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    /// Serve a model bundle trained offline by `apiwarden train` (its
    /// fingerprint key comes along; it must match the data directory's).
    /// Stored like a bundle from `POST /v1/train`, so it survives restarts.
    #[arg(long)]
    pub models: Option<PathBuf>,
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

/// The bundle of `--models DIR`, with its fingerprint key installed in the
/// data directory: records must be fingerprinted with the key the bundle was
/// trained with, or no credential would match its baseline.
fn import_models(dir: &Path, data: &Path) -> anyhow::Result<ModelBundle> {
    let bundle = ModelBundle::load(dir)
        .map_err(|e| super::bad_input(format!("--models {}: {e}", dir.display())))?;
    let bundle_key_path = dir.join(FINGERPRINT_KEY_FILE);
    let bundle_key = std::fs::read_to_string(&bundle_key_path)
        .map_err(|e| super::bad_input(format!("{}: {e}", bundle_key_path.display())))?;
    std::fs::create_dir_all(data)
        .with_context(|| format!("cannot create the data directory {}", data.display()))?;
    let data_key_path = data.join(FINGERPRINT_KEY_FILE);
    match std::fs::read_to_string(&data_key_path) {
        Ok(existing) if existing.trim() != bundle_key.trim() => Err(super::bad_input(format!(
            "{} differs from {}: the data directory's records were fingerprinted with another key; \
             serve this bundle on a fresh --data directory",
            data_key_path.display(),
            bundle_key_path.display()
        ))),
        Ok(_) => Ok(bundle),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Fingerprinter::from_hex(bundle_key.trim())
                .and_then(|fp| fp.save(&data_key_path))
                .map_err(|e| super::bad_input(format!("{}: {e}", bundle_key_path.display())))?;
            Ok(bundle)
        }
        Err(e) => Err(super::bad_input(format!(
            "{}: {e}",
            data_key_path.display()
        ))),
    }
}

pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let config = load_config(args)?;
    let imported = match &args.models {
        Some(dir) => Some(import_models(dir, &config.data_dir)?),
        None => None,
    };
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
        if let Some(bundle) = imported {
            let created_ms = bundle_time_ms();
            let version = state
                .store
                .put_model(&bundle.to_bytes(), created_ms)
                .context("cannot store the imported model bundle")?;
            state
                .install_model(Arc::new(bundle), version, created_ms)
                .await
                .context("cannot install the imported model bundle")?;
            tracing::info!(version, "serving the model bundle given by --models");
        }
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

fn bundle_time_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
