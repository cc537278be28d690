//! The service's shared state and how it is assembled at startup.

use crate::auth::KeyRing;
use crate::config::{Config, ConfigError, Role};
use crate::metrics::ApiLabels;
use crate::policy::{Policy, PolicySnapshot};
use crate::ratelimit::RateLimiter;
use crate::shards::{ShardOutputs, Shards};
use crate::webhooks::{Webhook, Webhooks};
use apiwarden_detect::{EngineConfig, ModelBundle, TrainConfig};
use apiwarden_record::Fingerprinter;
use apiwarden_store::{SledConfig, SledStore, Store, StoreError};
use metrics_exporter_prometheus::PrometheusHandle;
use std::collections::BTreeMap;
use std::ops::Deref;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64};
use std::sync::Arc;
use thiserror::Error;
use tokio::sync::{broadcast, watch};

#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the store in {path}: {source}")]
    Store { path: String, source: StoreError },
    #[error("{path}: {message}")]
    DataDir { path: String, message: String },
    #[error("cannot start scoring threads: {0}")]
    Threads(std::io::Error),
}

pub struct ModelInfo {
    pub version: u64,
    pub created_ms: i64,
}

pub struct Shared {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub keys: KeyRing,
    pub fingerprinter: Fingerprinter,
    pub shards: Shards,
    pub outputs: Arc<ShardOutputs>,
    pub rate: RateLimiter,
    pub metrics: Option<PrometheusHandle>,
    pub shutdown: watch::Sender<bool>,
    pub ready: AtomicBool,
    pub model: std::sync::Mutex<ModelInfo>,
    pub engine_config: EngineConfig,
    /// One training at a time.
    pub training: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// An empty bundle: every API starts in learning mode (scores 0, no alerts) until trained.
pub fn empty_bundle(seed: u64) -> ModelBundle {
    ModelBundle {
        format_version: apiwarden_detect::FORMAT_VERSION,
        created_at_ms: 0,
        train_config: TrainConfig {
            seed,
            ..TrainConfig::default()
        },
        records: 0,
        excluded_records: 0,
        apis: BTreeMap::new(),
        population: None,
    }
}

pub fn train_config(cfg: &Config) -> TrainConfig {
    TrainConfig {
        seed: cfg.train.seed,
        ..TrainConfig::default()
    }
}

impl AppState {
    /// Assemble the service over `store`. Must run inside a tokio runtime (webhook tasks).
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        keys: KeyRing,
        fingerprinter: Fingerprinter,
    ) -> Result<Self, StartError> {
        config.validate()?;
        let env = |k: &str| std::env::var(k).ok();
        let hooks = config
            .webhooks
            .iter()
            .map(|w| Webhook::from_config(w, env))
            .collect::<Result<Vec<_>, _>>()?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (alerts_tx, _) = broadcast::channel(1024);

        let policy = Policy::default();
        let allow = store
            .allowlist()
            .map_err(|source| store_err(&config, source))?;
        let settings = store
            .all_api_settings()
            .map_err(|source| store_err(&config, source))?;
        policy.replace(PolicySnapshot::new(&allow, &settings));

        let (bundle, model) = load_model(store.as_ref(), config.train.seed);
        // Before any metric handle is registered (handles made earlier are no-ops).
        let metrics = crate::metrics::install();
        let outputs = Arc::new(ShardOutputs {
            store: Arc::clone(&store),
            alerts: alerts_tx,
            webhooks: Webhooks::start(hooks, Arc::clone(&store), shutdown_rx),
            policy: Arc::new(policy),
            api_labels: Arc::new(ApiLabels::new(64)),
            // Traffic time resumes where the stored traffic left it, so open
            // alerts stay open (blocklist) across a restart.
            latest_ts_ms: Arc::new(AtomicI64::new(
                store.newest_record_ts().ok().flatten().unwrap_or(i64::MIN),
            )),
            hot: crate::metrics::HotMetrics::register(),
            backlog: Arc::new(tokio::sync::Semaphore::new(
                crate::shards::MAX_BACKLOG_RECORDS,
            )),
        });
        let engine_config = EngineConfig {
            alert_cooldown_ms: i64::try_from(config.alert_cooldown_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            ..EngineConfig::default()
        };
        let shards = Shards::start(
            config.shard_count(),
            Arc::new(bundle),
            engine_config.clone(),
            Arc::clone(&outputs),
        )
        .map_err(StartError::Threads)?;
        let rate = RateLimiter::new(
            config.limits.ingest_records_per_sec,
            config.limits.ingest_burst_records,
        );
        Ok(AppState(Arc::new(Shared {
            store,
            keys,
            fingerprinter,
            shards,
            outputs,
            rate,
            metrics,
            shutdown,
            ready: AtomicBool::new(true),
            model: std::sync::Mutex::new(model),
            engine_config,
            training: tokio::sync::Mutex::new(()),
            config,
        })))
    }

    /// The service as `apiwarden serve` runs it: sled in `DATA/store`, the
    /// fingerprint key in `DATA/fingerprint.key`, keys from the config and the
    /// environment. With no key at all, an admin key is generated into
    /// `DATA/admin.key` (0600) so the service still starts locked.
    pub fn open(config: Config) -> Result<Self, StartError> {
        let data = config.data_dir.clone();
        std::fs::create_dir_all(&data).map_err(|e| data_err(&data, e.to_string()))?;
        let fingerprinter = Fingerprinter::load_or_create(&data.join("fingerprint.key"))
            .map_err(|e| data_err(&data.join("fingerprint.key"), e.to_string()))?;
        let mut keys = KeyRing::from_config(&config, |k| std::env::var(k).ok())?;
        if keys.is_empty() {
            let path = data.join("admin.key");
            let key = load_or_create_admin_key(&path)?;
            keys.add("generated-admin", &key, [Role::Admin]);
            tracing::warn!(
                path = %path.display(),
                "no API keys configured: using the generated admin key stored in this file"
            );
        }
        let store_dir = data.join("store");
        let sled_cfg = SledConfig {
            cache_capacity_bytes: config.store.cache_mb.saturating_mul(1024 * 1024),
            ..SledConfig::default()
        };
        let store = SledStore::open(&store_dir, &sled_cfg).map_err(|source| StartError::Store {
            path: store_dir.display().to_string(),
            source,
        })?;
        Self::new(config, Arc::new(store), keys, fingerprinter)
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Replace the engines' models and remember which version serves. The swap is queued
    /// to every shard before the version is published: a reader that sees the version and
    /// then asks the shards finds the new models (the `apis` query relies on it).
    pub async fn install_model(
        &self,
        bundle: Arc<ModelBundle>,
        version: u64,
        created_ms: i64,
    ) -> Result<(), crate::shards::ShardsClosed> {
        self.shards.swap(bundle).await?;
        if let Ok(mut m) = self.model.lock() {
            *m = ModelInfo {
                version,
                created_ms,
            };
        }
        Ok(())
    }

    /// Re-read the allowlist and API settings from the store into the scoring policy.
    pub fn reload_policy(&self) -> Result<(), StoreError> {
        let allow = self.store.allowlist()?;
        let settings = self.store.all_api_settings()?;
        self.outputs
            .policy
            .replace(PolicySnapshot::new(&allow, &settings));
        Ok(())
    }
}

fn store_err(config: &Config, source: StoreError) -> StartError {
    StartError::Store {
        path: config.data_dir.display().to_string(),
        source,
    }
}

fn data_err(path: &Path, message: String) -> StartError {
    StartError::DataDir {
        path: path.display().to_string(),
        message,
    }
}

fn load_model(store: &dyn Store, seed: u64) -> (ModelBundle, ModelInfo) {
    let none = ModelInfo {
        version: 0,
        created_ms: 0,
    };
    match store.latest_model() {
        Ok(Some(m)) => match ModelBundle::from_bytes(&m.bytes) {
            Ok(bundle) => {
                tracing::info!(version = m.version, "loaded model bundle from the store");
                (
                    bundle,
                    ModelInfo {
                        version: m.version,
                        created_ms: m.created_ms,
                    },
                )
            }
            Err(e) => {
                tracing::error!(version = m.version, error = %e, "stored model bundle unusable; starting in learning mode");
                (empty_bundle(seed), none)
            }
        },
        Ok(None) => (empty_bundle(seed), none),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the stored model; starting in learning mode");
            (empty_bundle(seed), none)
        }
    }
}

fn load_or_create_admin_key(path: &Path) -> Result<String, StartError> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let key = text.trim().to_string();
        if !key.is_empty() {
            return Ok(key);
        }
    }
    // A fresh fingerprint key is 32 random bytes; reuse its generator for the admin key.
    let key = hex::encode(os_random()?);
    write_private(path, &key).map_err(|e| data_err(path, e.to_string()))?;
    Ok(key)
}

fn os_random() -> Result<[u8; 32], StartError> {
    let mut buf = [0u8; 32];
    let mut f = std::fs::File::open("/dev/urandom")
        .map_err(|e| data_err(Path::new("/dev/urandom"), e.to_string()))?;
    std::io::Read::read_exact(&mut f, &mut buf)
        .map_err(|e| data_err(Path::new("/dev/urandom"), e.to_string()))?;
    Ok(buf)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}
