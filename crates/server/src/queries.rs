//! Read routes and the operator's settings routes.

use crate::auth::{AdminRole, Authed, ReadRole};
use crate::error::ApiError;
use crate::policy::check_thresholds;
use crate::state::AppState;
use apiwarden_alert::{
    AlertFamily, ApiOwner, AttackType, EntityKind, MonitorKind, OwnedAlert, Severity,
};
use apiwarden_record::{format_ts_ms, parse_rfc3339_ms, AccessRecord};
use apiwarden_store::{AlertQuery, AllowEntry, ApiSettings};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// RFC 3339 or epoch milliseconds.
fn parse_time(name: &str, value: &str) -> Result<i64, ApiError> {
    value
        .parse::<i64>()
        .ok()
        .or_else(|| parse_rfc3339_ms(value))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "`{name}`: expected RFC 3339 or epoch milliseconds, got `{value}`"
            ))
        })
}

fn parse_limit(limit: Option<usize>) -> usize {
    limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

pub async fn score(
    _auth: Authed<ReadRole>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = state.store.score(&id)?.ok_or_else(|| {
        ApiError::NotFound(format!(
            "no score for request `{id}` (unknown, or not scored yet)"
        ))
    })?;
    Ok(Json(json!({
        "id": s.id,
        "api": s.api,
        "endpoint": s.endpoint,
        "ts": format_ts_ms(s.ts_ms),
        "score": s.score,
        "attack": s.attack,
    })))
}

/// A stored record as JSON (secrets are fingerprints already).
fn record_json(api: &str, r: &AccessRecord) -> Value {
    json!({
        "id": r.id,
        "ts": format_ts_ms(r.ts_ms),
        "api": api,
        "host": r.host,
        "method": r.method,
        "path": r.path,
        "status": r.status,
        "latency_ms": r.latency_ms,
        "request_bytes": r.request_bytes,
        "response_bytes": r.response_bytes,
        "client_ip": r.client_ip.to_string(),
        "country": r.country,
        "lat": r.geo.map(|g| g.lat),
        "lon": r.geo.map(|g| g.lon),
        "user": r.user,
        "api_key": r.api_key.as_ref().map(|f| f.as_str()),
        "token": r.token.as_ref().map(|f| f.as_str()),
        "user_agent": r.user_agent,
    })
}

pub async fn record(
    _auth: Authed<ReadRole>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let e = state
        .store
        .record(&id)?
        .ok_or_else(|| ApiError::NotFound(format!("no record `{id}`")))?;
    Ok(Json(record_json(&e.api, &e.record)))
}

#[derive(Debug, Deserialize)]
pub struct RecordsParams {
    pub api: String,
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: Option<usize>,
}

/// `GET /v1/records?api=&since=&until=&limit=`: an API's records in time order (an extension).
pub async fn records(
    _auth: Authed<ReadRole>,
    State(state): State<AppState>,
    Query(p): Query<RecordsParams>,
) -> Result<Json<Value>, ApiError> {
    let since = p
        .since
        .as_deref()
        .map(|v| parse_time("since", v))
        .transpose()?;
    let until = p
        .until
        .as_deref()
        .map(|v| parse_time("until", v))
        .transpose()?;
    let limit = parse_limit(p.limit).max(p.limit.unwrap_or(0).min(100_000));
    let store = state.store.clone();
    let api = p.api.clone();
    let entries = tokio::task::spawn_blocking(move || {
        store.records_range(
            &api,
            since.unwrap_or(i64::MIN),
            until.map_or(i64::MAX, |u| u.saturating_add(1)),
            limit,
        )
    })
    .await
    .map_err(ApiError::internal)??;
    let records: Vec<Value> = entries
        .iter()
        .map(|e| record_json(&e.api, &e.record))
        .collect();
    Ok(Json(json!({ "records": records })))
}

#[derive(Debug, Deserialize)]
pub struct AlertsParams {
    pub api: Option<String>,
    pub attack: Option<String>,
    pub family: Option<String>,
    pub monitor: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct AlertsAnswer {
    /// Each with its API's current owner.
    pub alerts: Vec<OwnedAlert>,
    pub next_cursor: Option<String>,
}

pub async fn alerts(
    _auth: Authed<ReadRole>,
    State(state): State<AppState>,
    Query(p): Query<AlertsParams>,
) -> Result<Json<AlertsAnswer>, ApiError> {
    let attack = p
        .attack
        .as_deref()
        .map(|a| {
            AttackType::parse(a)
                .ok_or_else(|| ApiError::BadRequest(format!("unknown attack type `{a}`")))
        })
        .transpose()?;
    let family = p
        .family
        .as_deref()
        .map(|f| {
            AlertFamily::parse(f).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "unknown alert family `{f}` (expected attack or monitoring)"
                ))
            })
        })
        .transpose()?;
    let monitor = p
        .monitor
        .as_deref()
        .map(|m| {
            MonitorKind::parse(m)
                .ok_or_else(|| ApiError::BadRequest(format!("unknown monitoring kind `{m}`")))
        })
        .transpose()?;
    let query = AlertQuery {
        api: p.api,
        attack,
        family,
        monitor,
        since_ms: p
            .since
            .as_deref()
            .map(|v| parse_time("since", v))
            .transpose()?,
        until_ms: p
            .until
            .as_deref()
            .map(|v| parse_time("until", v))
            .transpose()?,
        limit: parse_limit(p.limit),
        cursor: p.cursor,
    };
    let store = state.store.clone();
    let page = tokio::task::spawn_blocking(move || store.alerts(&query))
        .await
        .map_err(ApiError::internal)??;
    let owners = state.outputs.webhooks.owners();
    Ok(Json(AlertsAnswer {
        alerts: page.alerts.iter().map(|a| owners.stamp(a)).collect(),
        next_cursor: page.next_cursor,
    }))
}

pub async fn alert(
    _auth: Authed<ReadRole>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<OwnedAlert>, ApiError> {
    let alert = state
        .store
        .alert(&id)?
        .ok_or_else(|| ApiError::NotFound(format!("no alert `{id}`")))?;
    Ok(Json(state.outputs.webhooks.owners().stamp(&alert)))
}

#[derive(Debug, Deserialize)]
pub struct EntityParams {
    pub api: Option<String>,
}

pub async fn entity(
    _auth: Authed<ReadRole>,
    State(state): State<AppState>,
    Path((kind, value)): Path<(String, String)>,
    Query(p): Query<EntityParams>,
) -> Result<Json<Value>, ApiError> {
    let kind = EntityKind::parse(&kind).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "unknown entity kind `{kind}` (ip, user, api_key, token, api)"
        ))
    })?;
    let found = state
        .shards
        .entity(p.api.as_deref(), kind, &value)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    if found.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no recent behavior for {} `{value}`",
            kind.as_str()
        )));
    }
    let score = found.iter().map(|(_, s)| s.score).fold(0.0_f64, f64::max);
    let apis: Vec<Value> = found
        .into_iter()
        .map(|(api, s)| {
            let features: BTreeMap<String, Value> = s
                .features
                .iter()
                .zip(s.baseline.iter())
                .map(|((name, observed), (_, baseline))| {
                    (
                        name.clone(),
                        json!({"observed": observed, "baseline": baseline}),
                    )
                })
                .collect();
            json!({
                "api": api,
                "score": s.score,
                "threshold": s.threshold,
                "archetype": s.archetype,
                "requests": s.requests,
                "first_seen": format_ts_ms(s.first_seen_ms),
                "last_seen": format_ts_ms(s.last_seen_ms),
                "features": features,
            })
        })
        .collect();
    Ok(Json(json!({
        "entity": {"kind": kind, "value": value},
        "score": score,
        "apis": apis,
    })))
}

pub async fn apis(
    _auth: Authed<ReadRole>,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    // The version first: a new model reaches the shards' queues before its version is
    // published, so statuses asked for after reading a version are of that model or a
    // newer one. Read the other way round, a training finishing in between reported its
    // version beside the statuses of the engines it replaced.
    let (version, created_ms) = state
        .model
        .lock()
        .map(|m| (m.version, m.created_ms))
        .unwrap_or((0, 0));
    let statuses = state
        .shards
        .status()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let settings: BTreeMap<String, ApiSettings> = state
        .store
        .all_api_settings()?
        .into_iter()
        .map(|s| (s.api.clone(), s))
        .collect();
    let owners = state.outputs.webhooks.owners();
    let mut unowned = Vec::new();
    let apis: Vec<Value> = statuses
        .into_iter()
        .map(|s| {
            let thresholds = settings
                .get(&s.name)
                .map(|x| x.thresholds.clone())
                .unwrap_or_default();
            let owner = owners.lookup(&s.name);
            if owner.is_none() {
                unowned.push(s.name.clone());
            }
            json!({
                "name": s.name,
                "endpoints": s.endpoints,
                "records": s.records,
                "model": s.model,
                "thresholds": thresholds,
                "unowned": owner.is_none(),
                "owner_source": owner.as_ref().map(|(_, source)| *source),
                "owner": owner.map(|(o, _)| o.redacted()),
            })
        })
        .collect();
    unowned.sort();
    let seen: BTreeSet<&str> = apis.iter().filter_map(|a| a["name"].as_str()).collect();
    // Owners registered ahead of traffic (or for a misspelled API name).
    let owned_without_traffic: Vec<String> = owners
        .owned_apis()
        .into_iter()
        .filter(|api| !seen.contains(api.as_str()))
        .collect();
    Ok(Json(json!({
        "apis": apis,
        "unowned": unowned,
        "owned_without_traffic": owned_without_traffic,
        "model_version": version,
        "model_created": (version > 0).then(|| format_ts_ms(created_ms)),
    })))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Thresholds {
    pub api: String,
    pub thresholds: BTreeMap<String, f64>,
}

pub async fn get_thresholds(
    _auth: Authed<ReadRole>,
    State(state): State<AppState>,
    Path(api): Path<String>,
) -> Result<Json<Thresholds>, ApiError> {
    let thresholds = state
        .store
        .api_settings(&api)?
        .map(|s| s.thresholds)
        .unwrap_or_default();
    Ok(Json(Thresholds { api, thresholds }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdsBody {
    pub thresholds: BTreeMap<String, f64>,
}

pub async fn put_thresholds(
    _auth: Authed<AdminRole>,
    State(state): State<AppState>,
    Path(api): Path<String>,
    Json(body): Json<ThresholdsBody>,
) -> Result<Json<Thresholds>, ApiError> {
    check_thresholds(&body.thresholds).map_err(ApiError::BadRequest)?;
    let settings =
        state
            .outputs
            .webhooks
            .owners()
            .update_settings(state.store.as_ref(), &api, |s| {
                s.thresholds = body.thresholds
            })?;
    state.reload_policy()?;
    Ok(Json(Thresholds {
        api,
        thresholds: settings.thresholds,
    }))
}

/// The answer of the owner routes: the owner now in force (`null` for
/// none); the webhook URL in full only for admin keys.
fn owner_answer(state: &AppState, api: String, full: bool) -> Value {
    let found = state.outputs.webhooks.owners().lookup(&api);
    json!({
        "api": api,
        "source": found.as_ref().map(|(_, source)| *source),
        "owner": found.map(|(o, _)| if full { o } else { o.redacted() }),
    })
}

fn checked_api(api: &str) -> Result<(), ApiError> {
    crate::config::check_api_name(api).map_err(ApiError::BadRequest)
}

/// `GET /v1/apis/{api}/owner`: `{"api", "owner": {...} | null, "source": "api" | "config" | null}`.
pub async fn get_owner(
    _auth: Authed<ReadRole>,
    State(state): State<AppState>,
    Path(api): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Json<Value>, ApiError> {
    checked_api(&api)?;
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let admin = state.keys.authorize(bearer, crate::Role::Admin).is_ok();
    Ok(Json(owner_answer(&state, api, admin)))
}

/// `PUT /v1/apis/{api}/owner` with `{"team", "contact"?, "escalation_webhook"?, "notes"?}`:
/// stored (durable on return), and wins over the config file's owner.
pub async fn put_owner(
    _auth: Authed<AdminRole>,
    State(state): State<AppState>,
    Path(api): Path<String>,
    body: Result<Json<ApiOwner>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    checked_api(&api)?;
    let Json(owner) = body.map_err(|e| {
        ApiError::BadRequest(format!(
            "owner: {} (expected {{\"team\", \"contact\", \"escalation_webhook\", \"notes\"}})",
            e.body_text()
        ))
    })?;
    owner
        .validate()
        .map_err(|e| ApiError::BadRequest(format!("owner: {e}")))?;
    let store = state.store.clone();
    let owners = Arc::clone(state.outputs.webhooks.owners());
    let target = api.clone();
    tokio::task::spawn_blocking(move || owners.assign(store.as_ref(), &target, owner))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(owner_answer(&state, api, true)))
}

/// `DELETE /v1/apis/{api}/owner`: forgets the owner set through the API; the
/// config file's owner, if any, applies again (the answer shows it).
pub async fn delete_owner(
    _auth: Authed<AdminRole>,
    State(state): State<AppState>,
    Path(api): Path<String>,
) -> Result<Json<Value>, ApiError> {
    checked_api(&api)?;
    let store = state.store.clone();
    let owners = Arc::clone(state.outputs.webhooks.owners());
    let target = api.clone();
    let removed = tokio::task::spawn_blocking(move || owners.unassign(store.as_ref(), &target))
        .await
        .map_err(ApiError::internal)??;
    if !removed {
        return Err(ApiError::NotFound(format!(
            "API `{api}` has no owner set through the API"
        )));
    }
    Ok(Json(owner_answer(&state, api, true)))
}

pub async fn get_allowlist(
    _auth: Authed<ReadRole>,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "entries": state.store.allowlist()? })))
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum AllowBody {
    One(AllowEntry),
    Many(Vec<AllowEntry>),
}

pub async fn put_allowlist(
    _auth: Authed<AdminRole>,
    State(state): State<AppState>,
    Json(body): Json<AllowBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let entries = match body {
        AllowBody::One(e) => vec![e],
        AllowBody::Many(v) => v,
    };
    for e in &entries {
        if EntityKind::parse(&e.kind).is_none() {
            return Err(ApiError::BadRequest(format!(
                "unknown entity kind `{}` (ip, user, api_key, token, api)",
                e.kind
            )));
        }
        if e.value.is_empty() {
            return Err(ApiError::BadRequest("allowlist `value` is empty".into()));
        }
    }
    for e in &entries {
        state.store.put_allow(e)?;
    }
    state.reload_policy()?;
    Ok((
        StatusCode::OK,
        Json(json!({ "entries": state.store.allowlist()? })),
    ))
}

#[derive(Debug, Deserialize)]
pub struct AllowDelete {
    pub kind: String,
    pub value: String,
}

pub async fn delete_allowlist(
    _auth: Authed<AdminRole>,
    State(state): State<AppState>,
    Query(p): Query<AllowDelete>,
) -> Result<Json<Value>, ApiError> {
    let removed = state.store.remove_allow(&p.kind, &p.value)?;
    state.reload_policy()?;
    if !removed {
        return Err(ApiError::NotFound(format!(
            "no allowlist entry {} `{}`",
            p.kind, p.value
        )));
    }
    Ok(Json(json!({ "removed": true })))
}

#[derive(Debug, Deserialize)]
pub struct BlocklistParams {
    /// Comma-separated severities; default `high,critical`.
    pub severity: Option<String>,
    pub api: Option<String>,
}

/// Entities with open alerts (last flagged within the cool-down, in traffic
/// time) of the chosen severities, one line per (kind, value) — for gateways.
pub async fn blocklist(
    _auth: Authed<ReadRole>,
    State(state): State<AppState>,
    Query(p): Query<BlocklistParams>,
) -> Result<Json<Value>, ApiError> {
    let severities: BTreeSet<Severity> = match p.severity.as_deref() {
        None => [Severity::High, Severity::Critical].into_iter().collect(),
        Some(list) => list
            .split(',')
            .map(|s| {
                serde_json::from_value::<Severity>(Value::String(s.trim().to_string()))
                    .map_err(|_| ApiError::BadRequest(format!("unknown severity `{s}`")))
            })
            .collect::<Result<_, _>>()?,
    };
    let latest = state
        .outputs
        .latest_ts_ms
        .load(std::sync::atomic::Ordering::Relaxed);
    let cooldown = state.engine_config.alert_cooldown_ms;
    let policy = state.outputs.policy.snapshot();
    let mut entities: BTreeMap<(String, String), Value> = BTreeMap::new();
    if latest != i64::MIN {
        let mut query = AlertQuery {
            api: p.api,
            since_ms: Some(latest.saturating_sub(cooldown)),
            limit: MAX_LIMIT,
            ..AlertQuery::default()
        };
        loop {
            let page = state.store.alerts(&query)?;
            for a in &page.alerts {
                if !severities.contains(&a.severity)
                    || a.entity.kind == EntityKind::Api
                    || policy.is_allowlisted(&a.api, a.entity.kind.as_str(), &a.entity.value)
                {
                    continue;
                }
                entities
                    .entry((a.entity.kind.as_str().to_string(), a.entity.value.clone()))
                    .or_insert_with(|| {
                        json!({
                            "kind": a.entity.kind,
                            "value": a.entity.value,
                            "api": a.api,
                            "attack": a.attack,
                            "severity": a.severity,
                            "alert_id": a.id,
                            "last_seen": a.last_seen,
                        })
                    });
            }
            match page.next_cursor {
                Some(c) if entities.len() < 100_000 => query.cursor = Some(c),
                _ => break,
            }
        }
    }
    let list: Vec<Value> = entities.into_values().collect();
    Ok(Json(json!({ "entities": list })))
}

#[derive(Debug, Deserialize)]
pub struct LimitParams {
    pub limit: Option<usize>,
}

pub async fn dead_letters(
    _auth: Authed<AdminRole>,
    State(state): State<AppState>,
    Query(p): Query<LimitParams>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({
        "dead_letters": state.store.dead_letters(parse_limit(p.limit))?
    })))
}
