//! The HTTP service of `apiwarden serve` (CONTRACT §3): durable ingest, live
//! scoring on per-API engine shards, alerts out (store, SSE, webhooks,
//! blocklist), queries, API keys with roles, and Prometheus metrics.
//!
//! [`app`] builds the router over an [`AppState`]; [`serve`] runs it on a
//! listener until a shutdown future resolves, then drains: in-flight requests
//! finish (their records are durable), shards score what they hold, and the
//! store is flushed.

/// The service allocates and frees many small buffers per record (parsing,
/// sled's copy-on-write nodes) from several threads; under load glibc malloc
/// took ~40% of the CPU. Linking this crate makes mimalloc the allocator of the
/// whole binary (feature `mimalloc`, on by default).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod auth;
pub mod config;
pub mod error;
pub mod ingest;
pub mod metrics;
pub mod owners;
pub mod policy;
pub mod queries;
pub mod ratelimit;
pub mod shards;
pub mod state;
pub mod stream;
pub mod train;
pub mod webhooks;

pub use config::{Config, ConfigError, Role};
pub use error::ApiError;
pub use state::{AppState, StartError};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tower_http::timeout::TimeoutLayer;

/// Wall-clock epoch milliseconds (bookkeeping only; detection uses traffic time).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Every route. `/v1` routes check their role in their first extractor.
pub fn app(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.config.limits.request_timeout_secs);
    let bounded = Router::new()
        .route("/v1/records", post(ingest::ingest).get(queries::records))
        .route("/v1/records/{id}", get(queries::record))
        .route("/v1/scores/{id}", get(queries::score))
        .route("/v1/alerts", get(queries::alerts))
        .route("/v1/alerts/{id}", get(queries::alert))
        .route("/v1/entities/{kind}/{value}", get(queries::entity))
        .route("/v1/apis", get(queries::apis))
        .route(
            "/v1/apis/{api}/thresholds",
            get(queries::get_thresholds).put(queries::put_thresholds),
        )
        .route(
            "/v1/apis/{api}/owner",
            get(queries::get_owner)
                .put(queries::put_owner)
                .delete(queries::delete_owner),
        )
        .route(
            "/v1/allowlist",
            get(queries::get_allowlist)
                .put(queries::put_allowlist)
                .delete(queries::delete_allowlist),
        )
        .route("/v1/blocklist", get(queries::blocklist))
        .route("/v1/dead_letters", get(queries::dead_letters))
        .route("/metrics", get(metrics_route))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ));
    Router::new()
        .route("/v1/alerts/stream", get(stream::alerts_stream))
        // Training runs as long as the stored traffic takes and is not
        // cancelled by a timeout: a 408 would report a failure while the
        // models still get trained and installed.
        .route("/v1/train", post(train::train))
        .merge(bounded)
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .with_state(state)
}

/// Every route of the service with the role it needs (`None` = open), for docs and tests.
pub const ROUTES: &[(&str, &str, Option<Role>)] = &[
    ("POST", "/v1/records", Some(Role::Ingest)),
    ("GET", "/v1/records?api=x", Some(Role::Read)),
    ("GET", "/v1/records/x", Some(Role::Read)),
    ("GET", "/v1/scores/x", Some(Role::Read)),
    ("GET", "/v1/alerts", Some(Role::Read)),
    ("GET", "/v1/alerts/x", Some(Role::Read)),
    ("GET", "/v1/alerts/stream", Some(Role::Read)),
    ("GET", "/v1/entities/ip/10.0.0.1", Some(Role::Read)),
    ("GET", "/v1/apis", Some(Role::Read)),
    ("GET", "/v1/apis/x/thresholds", Some(Role::Read)),
    ("PUT", "/v1/apis/x/thresholds", Some(Role::Admin)),
    ("GET", "/v1/apis/x/owner", Some(Role::Read)),
    ("PUT", "/v1/apis/x/owner", Some(Role::Admin)),
    ("DELETE", "/v1/apis/x/owner", Some(Role::Admin)),
    ("GET", "/v1/allowlist", Some(Role::Read)),
    ("PUT", "/v1/allowlist", Some(Role::Admin)),
    ("DELETE", "/v1/allowlist?kind=ip&value=x", Some(Role::Admin)),
    ("GET", "/v1/blocklist", Some(Role::Read)),
    ("POST", "/v1/train", Some(Role::Admin)),
    ("GET", "/v1/dead_letters", Some(Role::Admin)),
    ("GET", "/metrics", None),
    ("GET", "/healthz", None),
    ("GET", "/readyz", None),
];

async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> impl IntoResponse {
    if state.ready.load(Ordering::Relaxed) && !state.is_shutting_down() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

async fn metrics_route(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> impl IntoResponse {
    match &state.metrics {
        Some(h) => (
            StatusCode::OK,
            [("content-type", "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => ApiError::Unavailable("metrics recorder not installed".into()).into_response(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("HTTP server: {0}")]
    Io(#[from] std::io::Error),
    #[error("flushing the store at shutdown: {0}")]
    Store(#[from] apiwarden_store::StoreError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Serve until `shutdown` resolves, then drain and flush.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    // The config's default owners join those the store holds before any alert can go out.
    state
        .outputs
        .webhooks
        .configure_owners(&state.config, |k| std::env::var(k).ok())?;
    let tasks = spawn_background(&state);
    let signal = state.shutdown.clone();
    let result = axum::serve(listener, app(state.clone()))
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = signal.send(true);
        })
        .await;
    state.ready.store(false, Ordering::Relaxed);
    let _ = state.shutdown.send(true);
    for t in tasks {
        t.abort();
    }
    let draining = state.clone();
    let flushed = tokio::task::spawn_blocking(move || {
        draining.shards.close();
        draining.store.flush()
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    result?;
    flushed?;
    tracing::info!("shutdown complete: store flushed");
    Ok(())
}

fn spawn_background(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = vec![tokio::spawn(upkeep(state.clone()))];
    if state.config.retention.max_age_hours > 0 {
        tasks.push(tokio::spawn(retention(state.clone())));
    }
    if state.config.train.learn_after_records > 0 || state.config.train.retrain_interval_secs > 0 {
        tasks.push(tokio::spawn(auto_train(state.clone())));
    }
    tasks
}

async fn upkeep(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        if let Some(h) = &state.metrics {
            h.run_upkeep();
        }
        ::metrics::gauge!("apiwarden_store_size_bytes").set(state.store.size_on_disk() as f64);
        if let Ok(n) = state.store.record_count() {
            ::metrics::gauge!("apiwarden_store_records").set(n as f64);
        }
    }
}

/// Retention counts age back from the newest traffic seen (or the wall clock
/// if that is earlier), so replayed old traffic is not deleted on arrival.
async fn retention(state: AppState) {
    let every = Duration::from_secs(state.config.retention.check_interval_secs.max(1));
    let max_age_ms = i64::try_from(
        state
            .config
            .retention
            .max_age_hours
            .saturating_mul(3_600_000),
    )
    .unwrap_or(i64::MAX);
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let latest = state.outputs.latest_ts_ms.load(Ordering::Relaxed);
        if latest == i64::MIN {
            continue;
        }
        let cutoff = latest.min(now_ms()).saturating_sub(max_age_ms);
        let store = Arc::clone(&state.store);
        match tokio::task::spawn_blocking(move || store.apply_retention(cutoff)).await {
            Ok(Ok(stats)) => {
                ::metrics::counter!("apiwarden_retention_deleted_records_total")
                    .increment(stats.records);
                if stats.records + stats.alerts > 0 {
                    tracing::info!(
                        records = stats.records,
                        scores = stats.scores,
                        alerts = stats.alerts,
                        "retention"
                    );
                }
            }
            Ok(Err(e)) => tracing::error!(error = %e, "retention failed"),
            Err(e) => tracing::error!(error = %e, "retention task failed"),
        }
    }
}

/// Train when an API still on priors has seen enough traffic, and periodically if configured.
async fn auto_train(state: AppState) {
    let learn_after = state.config.train.learn_after_records;
    let every = state.config.train.retrain_interval_secs;
    let mut last = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tick.tick().await;
        // Decided under the training lock: a training that was running (an
        // operator's `POST /v1/train`) has installed its models by then, and
        // the APIs it trained no longer call for another one.
        let one_at_a_time = state.training.lock().await;
        let periodic = every > 0 && last.elapsed() >= Duration::from_secs(every);
        let learning = learn_after > 0
            && state.shards.status().await.is_ok_and(|apis| {
                apis.iter().any(|a| {
                    a.model != apiwarden_detect::ModelStatus::Trained && a.records >= learn_after
                })
            });
        if !(periodic || learning) {
            continue;
        }
        last = tokio::time::Instant::now();
        match train::run_locked(&state, &one_at_a_time).await {
            Ok(r) => tracing::info!(version = r.version, apis = ?r.apis, "automatic training done"),
            Err(e) => tracing::warn!(error = ?e, "automatic training failed"),
        }
    }
}
