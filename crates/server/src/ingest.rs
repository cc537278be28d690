//! `POST /v1/records`: parse, assign ids, make durable, then score.

use crate::auth::{Authed, IngestRole};
use crate::error::ApiError;
use crate::state::AppState;
use apiwarden_record::{AccessRecord, InputFormat, RecordError};
use apiwarden_store::{RecordEntry, WriteBatch};
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::time::Instant;
use tokio::sync::oneshot;

/// Longest API name kept; longer explicit names are rejected.
const MAX_API_NAME: usize = 128;

#[derive(Debug, Deserialize)]
pub struct IngestParams {
    /// `json`, `ndjson`, `msgpack`, `nginx_json` or `combined`; overrides `Content-Type`.
    pub format: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct LineError {
    pub line: usize,
    pub field: Option<String>,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct IngestAnswer {
    pub accepted: usize,
    pub rejected: usize,
    pub errors: Vec<LineError>,
    /// Request ids of the accepted records, in input order (assigned when absent).
    pub ids: Vec<String>,
}

pub async fn ingest(
    Authed(caller, _): Authed<IngestRole>,
    State(state): State<AppState>,
    Query(params): Query<IngestParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestAnswer>, ApiError> {
    if state.is_shutting_down() {
        return Err(ApiError::Unavailable("shutting down".into()));
    }
    let started = Instant::now();
    let limit = state.config.limits.max_body_bytes;
    let raw = read_body(body, &headers, limit).await?;
    metrics::counter!("apiwarden_ingest_bytes_total").increment(raw.len() as u64);
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    let format = choose_format(params.format.as_deref(), &headers)?;

    let parse_state = state.clone();
    let (entries, errors) = tokio::task::spawn_blocking(move || {
        let bytes = match gzip.as_deref() {
            None | Some("identity") => raw,
            Some("gzip") | Some("x-gzip") => gunzip(&raw, limit)?,
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "unsupported Content-Encoding `{other}` (use gzip)"
                )))
            }
        };
        let format = sniff(format, &bytes);
        let parsed = apiwarden_record::parse_bytes(&bytes, format, &parse_state.fingerprinter);
        Ok(prepare(&parse_state, parsed))
    })
    .await
    .map_err(ApiError::internal)??;

    metrics::counter!("apiwarden_ingest_rejected_total").increment(errors.len() as u64);
    if let Err(retry_after_secs) = state.rate.take(&caller.name, entries.len()) {
        metrics::counter!("apiwarden_ingest_throttled_total").increment(1);
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let ids: Vec<String> = entries.iter().filter_map(|e| e.record.id.clone()).collect();
    let accepted = entries.len();
    if accepted > 0 {
        let (tx, rx) = oneshot::channel();
        let batch = WriteBatch {
            records: entries.clone(),
            ..WriteBatch::default()
        };
        state.store.submit(
            batch,
            Some(Box::new(move |res| {
                let _ = tx.send(res);
            })),
        )?;
        rx.await
            .map_err(|_| ApiError::Unavailable("store writer stopped".into()))??;
        metrics::counter!("apiwarden_ingest_records_total").increment(accepted as u64);
        state
            .shards
            .score(entries)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    }
    metrics::histogram!("apiwarden_ingest_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    Ok(Json(IngestAnswer {
        accepted,
        rejected: errors.len(),
        errors,
        ids,
    }))
}

/// The body, refused with 413 as soon as it passes `limit`.
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let mut buf = Vec::with_capacity(declared.map_or(64 * 1024, |n| n as usize));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("cannot read body: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// Decompressed, but never more than `limit` bytes (a gzip bomb gets 413).
fn gunzip(raw: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(limit));
    let mut decoder = flate2::read::MultiGzDecoder::new(raw).take(limit as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| ApiError::BadRequest(format!("cannot gunzip body: {e}")))?;
    if out.len() > limit {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    Ok(out)
}

fn choose_format(param: Option<&str>, headers: &HeaderMap) -> Result<InputFormat, ApiError> {
    if let Some(name) = param {
        return InputFormat::from_name(name).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "unknown format `{name}` (json, ndjson, msgpack, nginx_json, combined)"
            ))
        });
    }
    match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        None => Ok(InputFormat::Json),
        Some(ct) => InputFormat::from_content_type(ct).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "unsupported Content-Type `{ct}` (application/json, application/x-ndjson, application/msgpack, or ?format=)"
            ))
        }),
    }
}

/// JSON bodies that are objects one per line (as many shippers send under
/// `application/json`) are read as NDJSON; a single object reads the same either way.
fn sniff(format: InputFormat, bytes: &[u8]) -> InputFormat {
    if format != InputFormat::Json {
        return format;
    }
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => InputFormat::Ndjson,
        _ => InputFormat::Json,
    }
}

/// Accepted records with their API and an id; rejects as line errors.
fn prepare(
    state: &AppState,
    parsed: Vec<Result<AccessRecord, RecordError>>,
) -> (Vec<RecordEntry>, Vec<LineError>) {
    let mut entries = Vec::with_capacity(parsed.len());
    let mut errors = Vec::new();
    for (index, item) in parsed.into_iter().enumerate() {
        match item {
            Ok(mut record) => {
                if let Some(api) = &record.api {
                    if api.len() > MAX_API_NAME || api.chars().any(char::is_control) {
                        errors.push(LineError {
                            line: index + 1,
                            field: Some("api".into()),
                            reason: format!(
                                "API names are at most {MAX_API_NAME} bytes without control characters"
                            ),
                        });
                        continue;
                    }
                }
                if record.id.as_deref().is_none_or(str::is_empty) {
                    record.id = Some(state.ids.next_id());
                }
                let api = apiwarden_detect::api_name(&record);
                entries.push(RecordEntry { api, record });
            }
            Err(e) => errors.push(LineError {
                line: e.line,
                field: e.field,
                reason: e.reason,
            }),
        }
    }
    (entries, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_bomb_is_refused() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![b' '; 1_000_000]).expect("compress");
        let small = enc.finish().expect("finish");
        assert!(small.len() < 10_000);
        assert!(matches!(
            gunzip(&small, 100_000),
            Err(ApiError::PayloadTooLarge(_))
        ));
        assert_eq!(gunzip(&small, 2_000_000).expect("fits").len(), 1_000_000);
        assert!(matches!(
            gunzip(b"not gzip", 100),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn json_objects_per_line_are_ndjson() {
        assert_eq!(
            sniff(InputFormat::Json, b"  {\"a\":1}\n{}"),
            InputFormat::Ndjson
        );
        assert_eq!(sniff(InputFormat::Json, b"[{}]"), InputFormat::Json);
        assert_eq!(sniff(InputFormat::MsgPack, b"{"), InputFormat::MsgPack);
    }
}
