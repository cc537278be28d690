//! Training inside the service: from stored traffic, leaving out the records
//! of entities that alerted, then persisting the bundle and swapping engines.

use crate::auth::{AdminRole, Authed};
use crate::error::ApiError;
use crate::state::{train_config, AppState};
use apiwarden_alert::{AlertFamily, EntityKind};
use apiwarden_detect::{ModelBundle, Trainer};
use apiwarden_store::AlertQuery;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;

#[derive(Debug, Serialize)]
pub struct TrainReport {
    pub version: u64,
    pub apis: Vec<String>,
    pub records_used: u64,
    pub records_excluded: u64,
}

pub async fn train(
    _auth: Authed<AdminRole>,
    State(state): State<AppState>,
) -> Result<Json<TrainReport>, ApiError> {
    run(&state).await.map(Json)
}

/// Entities (api, kind, value) that have alerted: their traffic is not normal.
fn alerted_entities(state: &AppState) -> Result<BTreeSet<(String, EntityKind, String)>, ApiError> {
    let mut set = BTreeSet::new();
    let mut query = AlertQuery {
        limit: 1000,
        ..AlertQuery::default()
    };
    loop {
        let page = state.store.alerts(&query)?;
        for a in page.alerts {
            if a.family == AlertFamily::Attack && a.entity.kind != EntityKind::Api {
                set.insert((a.api, a.entity.kind, a.entity.value));
            }
        }
        match page.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => break,
        }
    }
    Ok(set)
}

pub async fn run(state: &AppState) -> Result<TrainReport, ApiError> {
    let one_at_a_time = state.training.lock().await;
    run_locked(state, &one_at_a_time).await
}

/// Train while holding the training lock (the caller decided, under the
/// lock, that a training is still wanted).
pub async fn run_locked(
    state: &AppState,
    _one_at_a_time: &tokio::sync::MutexGuard<'_, ()>,
) -> Result<TrainReport, ApiError> {
    let worker = state.clone();
    let (bundle, used, excluded) = tokio::task::spawn_blocking(move || {
        let alerted = alerted_entities(&worker)?;
        let mut trainer = Trainer::new(train_config(&worker.config));
        let max = worker.config.train.max_records;
        let (mut used, mut excluded) = (0u64, 0u64);
        // Shared evenly among APIs: a plain scan stops inside the APIs whose
        // names sort first, and a new API would never get its own baseline.
        worker.store.scan_records_fair(max, &mut |e| {
            let r = &e.record;
            let bad =
                |kind, value: &str| alerted.contains(&(e.api.clone(), kind, value.to_string()));
            let tainted = bad(EntityKind::Ip, &r.client_ip.to_string())
                || r.user.as_deref().is_some_and(|u| bad(EntityKind::User, u))
                || r.api_key
                    .as_ref()
                    .is_some_and(|k| bad(EntityKind::ApiKey, k.as_str()))
                || r.token
                    .as_ref()
                    .is_some_and(|t| bad(EntityKind::Token, t.as_str()));
            if tainted {
                excluded += 1;
            } else {
                trainer.observe(r);
                used += 1;
            }
        })?;
        if used == 0 {
            return Err(ApiError::BadRequest(
                "no stored traffic to train on (ingest records first)".into(),
            ));
        }
        let bundle = trainer
            .finish()
            .map_err(|e| ApiError::BadRequest(format!("training failed: {e}")))?;
        Ok::<_, ApiError>((bundle, used, excluded))
    })
    .await
    .map_err(ApiError::internal)??;
    install(state, bundle, used, excluded).await
}

async fn install(
    state: &AppState,
    bundle: ModelBundle,
    used: u64,
    excluded: u64,
) -> Result<TrainReport, ApiError> {
    let bytes = bundle.to_bytes();
    let created = crate::now_ms();
    let store = Arc::clone(&state.store);
    let version = tokio::task::spawn_blocking(move || store.put_model(&bytes, created))
        .await
        .map_err(ApiError::internal)??;
    let apis = bundle.api_names();
    state
        .install_model(Arc::new(bundle), version, created)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    metrics::counter!("apiwarden_trainings_total").increment(1);
    tracing::info!(
        version,
        apis = apis.len(),
        used,
        excluded,
        "new model installed"
    );
    Ok(TrainReport {
        version,
        apis,
        records_used: used,
        records_excluded: excluded,
    })
}
