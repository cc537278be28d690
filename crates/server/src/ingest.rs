//! `POST /v1/records`: parse, make durable (the store assigns missing ids), then score.

use crate::auth::{Authed, IngestRole};
use crate::error::ApiError;
use crate::state::AppState;
use apiwarden_record::{AccessRecord, InputFormat, RecordError};
use apiwarden_store::RecordEntry;
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
    /// API name for records that carry none (`api` field absent): a log file
    /// of one gateway route, or combined logs, which have no host.
    pub api: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct LineError {
    pub line: usize,
    pub field: Option<String>,
    pub reason: String,
}

#[derive(Debug, Default, Serialize)]
pub struct IngestAnswer {
    pub accepted: usize,
    pub rejected: usize,
    /// The first [`MAX_ERRORS_LISTED`] rejected lines (`rejected` counts them all).
    pub errors: Vec<LineError>,
    /// Request ids of the accepted records, in input order (assigned when
    /// absent); the first [`MAX_IDS_LISTED`] of them.
    pub ids: Vec<String>,
    /// Set when `ids` was cut at [`MAX_IDS_LISTED`].
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ids_truncated: bool,
}

/// Streamed line-based bodies are parsed and stored in slices of about this size.
const SLICE_BYTES: usize = 1 << 20;
/// Slice buffers handed back after parsing and reused: a fresh megabyte per
/// request costs page faults and zeroing on every request at full rate.
static SLICE_BUFFERS: BufferPool = BufferPool::new(8);
pub const MAX_ERRORS_LISTED: usize = 1000;
pub const MAX_IDS_LISTED: usize = 100_000;

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
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| v != "identity");
    let format = choose_format(params.format.as_deref(), &headers)?;
    let default_api = match params.api {
        Some(api) if !valid_api_name(&api) => {
            return Err(ApiError::BadRequest(format!(
                "query parameter `api`: API names are 1 to {MAX_API_NAME} bytes without control characters"
            )))
        }
        other => other.map(std::sync::Arc::<str>::from),
    };
    let mut answer = IngestAnswer::default();
    if encoding.is_none() && format.is_line_based() {
        ingest_stream(
            &state,
            &caller.name,
            body,
            &headers,
            format,
            &default_api,
            &mut answer,
        )
        .await?;
    } else {
        let raw = read_body(body, &headers, limit).await?;
        state.outputs.hot.ingest_bytes.increment(raw.len() as u64);
        let bytes = tokio::task::spawn_blocking(move || match encoding.as_deref() {
            None => Ok(raw),
            Some("gzip") | Some("x-gzip") => gunzip(&raw, limit),
            Some(other) => Err(ApiError::BadRequest(format!(
                "unsupported Content-Encoding `{other}` (use gzip)"
            ))),
        })
        .await
        .map_err(ApiError::internal)??;
        let format = sniff(format, &bytes);
        ingest_slice(
            &state,
            &caller.name,
            bytes,
            format,
            &default_api,
            0,
            &mut answer,
        )
        .await?;
    }
    state
        .outputs
        .hot
        .ingest_duration
        .record(started.elapsed().as_secs_f64());
    Ok(Json(answer))
}

/// Line-based bodies are taken in slices of whole lines as they arrive, each
/// made durable before the next is read: memory stays bounded by the slice
/// size whatever the body size (up to `limits.max_stream_bytes`).
async fn ingest_stream(
    state: &AppState,
    caller: &str,
    body: Body,
    headers: &HeaderMap,
    format: InputFormat,
    default_api: &Option<std::sync::Arc<str>>,
    answer: &mut IngestAnswer,
) -> Result<(), ApiError> {
    let limit = state.config.limits.max_stream_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge(limit as usize));
    }
    let mut total = 0u64;
    let mut lines_done = 0usize;
    let mut buf = SLICE_BUFFERS.take();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("cannot read body: {e}")))?;
        total += chunk.len() as u64;
        if total > limit {
            return Err(ApiError::PayloadTooLarge(limit as usize));
        }
        state.outputs.hot.ingest_bytes.increment(chunk.len() as u64);
        buf.extend_from_slice(&chunk);
        if buf.len() >= SLICE_BYTES {
            if let Some(last_nl) = buf.iter().rposition(|&b| b == b'\n') {
                let mut rest = SLICE_BUFFERS.take();
                rest.extend_from_slice(buf.get(last_nl + 1..).unwrap_or_default());
                buf.truncate(last_nl + 1);
                let slice = std::mem::replace(&mut buf, rest);
                let lines = slice.iter().filter(|&&b| b == b'\n').count();
                ingest_slice(
                    state,
                    caller,
                    slice,
                    format,
                    default_api,
                    lines_done,
                    answer,
                )
                .await?;
                lines_done += lines;
            } else if buf.len() > apiwarden_record::MAX_RECORD_BYTES * 2 {
                return Err(ApiError::BadRequest(format!(
                    "line {} is over the {}-byte record limit",
                    lines_done + 1,
                    apiwarden_record::MAX_RECORD_BYTES
                )));
            }
        }
    }
    if buf.is_empty() {
        SLICE_BUFFERS.put(buf);
    } else {
        ingest_slice(state, caller, buf, format, default_api, lines_done, answer).await?;
    }
    Ok(())
}

/// What the blocking half of a slice produced.
struct Parsed {
    entries: Vec<RecordEntry>,
    errors: Vec<LineError>,
    /// Set when the records were admitted by the rate limit and already
    /// submitted to the store: resolves once they are durable.
    durable: Option<oneshot::Receiver<Result<(), apiwarden_store::StoreError>>>,
    /// Seconds to wait when the rate limit refused them.
    throttled: Option<u64>,
}

/// Parse, make durable, hand to the shards, and add to the answer.
async fn ingest_slice(
    state: &AppState,
    caller: &str,
    bytes: Vec<u8>,
    format: InputFormat,
    default_api: &Option<std::sync::Arc<str>>,
    line_offset: usize,
    answer: &mut IngestAnswer,
) -> Result<(), ApiError> {
    let worker = state.clone();
    let default_api = default_api.clone();
    let caller_key = caller.to_string();
    // Parsing, encoding and id indexing all run on one blocking thread, and
    // the records are submitted from there too when the rate limit admits
    // them: no hop back to the async workers between parse and store.
    let parsed = tokio::task::spawn_blocking(move || {
        let parsed = apiwarden_record::parse_bytes(&bytes, format, &worker.fingerprinter);
        SLICE_BUFFERS.put(bytes);
        let (mut entries, errors) = prepare(parsed, default_api.as_deref(), line_offset);
        if entries.is_empty() {
            return Ok::<_, ApiError>(Parsed {
                entries,
                errors,
                durable: None,
                throttled: None,
            });
        }
        match worker.rate.take(&caller_key, entries.len()) {
            Ok(()) => {
                let durable = submit(&worker, &mut entries)?;
                Ok(Parsed {
                    entries,
                    errors,
                    durable: Some(durable),
                    throttled: None,
                })
            }
            Err(wait) => Ok(Parsed {
                entries,
                errors,
                durable: None,
                throttled: Some(wait),
            }),
        }
    })
    .await
    .map_err(ApiError::internal)??;
    let Parsed {
        mut entries,
        errors,
        durable,
        mut throttled,
    } = parsed;
    let hot = &state.outputs.hot;
    hot.ingest_rejected.increment(errors.len() as u64);
    answer.rejected += errors.len();
    let room = MAX_ERRORS_LISTED.saturating_sub(answer.errors.len());
    answer.errors.extend(errors.into_iter().take(room));
    if entries.is_empty() {
        return Ok(());
    }
    let durable = match durable {
        Some(d) => d,
        None => {
            while let Some(wait) = throttled {
                // Mid-stream, earlier slices are already stored: slow the sender down instead of failing.
                if answer.accepted == 0 {
                    hot.ingest_throttled.increment(1);
                    return Err(ApiError::TooManyRequests {
                        retry_after_secs: wait,
                    });
                }
                tokio::time::sleep(std::time::Duration::from_secs(wait.min(5))).await;
                throttled = state.rate.take(caller, entries.len()).err();
            }
            submit(state, &mut entries)?
        }
    };
    durable
        .await
        .map_err(|_| ApiError::Unavailable("store writer stopped".into()))??;
    let acked = Instant::now();
    let accepted = entries.len();
    hot.ingest_records.increment(accepted as u64);
    answer.accepted += accepted;
    let room = MAX_IDS_LISTED.saturating_sub(answer.ids.len());
    if room < accepted {
        answer.ids_truncated = true;
    }
    answer.ids.extend(
        entries
            .iter()
            .filter_map(|e| e.record.id.clone())
            .take(room),
    );
    // The records are durable and acknowledged whatever happens to scoring:
    // failing the request now would only make the sender store them twice.
    if let Err(e) = state.shards.score(entries, acked).await {
        hot.scoring_dropped.increment(accepted as u64);
        tracing::error!(error = %e, records = accepted, "stored records not scored");
    }
    Ok(())
}

/// Hand records to the store's writer (encoded on this thread, not copied);
/// records without an id get theirs from the store here.
fn submit(
    state: &AppState,
    entries: &mut [RecordEntry],
) -> Result<oneshot::Receiver<Result<(), apiwarden_store::StoreError>>, ApiError> {
    let (tx, rx) = oneshot::channel();
    state.store.submit_records(
        entries,
        Some(Box::new(move |res| {
            let _ = tx.send(res);
        })),
    )?;
    Ok(rx)
}

/// A few reusable slice buffers (the pool never holds more than `max`).
struct BufferPool {
    max: usize,
    free: std::sync::Mutex<Vec<Vec<u8>>>,
}

impl BufferPool {
    const fn new(max: usize) -> Self {
        BufferPool {
            max,
            free: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn take(&self) -> Vec<u8> {
        self.free
            .lock()
            .ok()
            .and_then(|mut free| free.pop())
            .unwrap_or_else(|| Vec::with_capacity(SLICE_BYTES + 64 * 1024))
    }

    /// Kept only when it is slice-sized (a whole non-streamed body may be far bigger).
    fn put(&self, mut buf: Vec<u8>) {
        if buf.capacity() < SLICE_BYTES || buf.capacity() > 2 * SLICE_BYTES {
            return;
        }
        buf.clear();
        if let Ok(mut free) = self.free.lock() {
            if free.len() < self.max {
                free.push(buf);
            }
        }
    }
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

/// Accepted records with their API; rejects as line errors.
fn prepare(
    parsed: Vec<Result<AccessRecord, RecordError>>,
    default_api: Option<&str>,
    line_offset: usize,
) -> (Vec<RecordEntry>, Vec<LineError>) {
    let mut entries = Vec::with_capacity(parsed.len());
    let mut errors = Vec::new();
    for (index, item) in parsed.into_iter().enumerate() {
        match item {
            Ok(mut record) => {
                if record.api.is_none() {
                    record.api = default_api.map(str::to_string);
                }
                if let Some(api) = &record.api {
                    if !valid_api_name(api) {
                        // The record's position among the parsed ones: its line unless the body has blank lines.
                        errors.push(LineError {
                            line: line_offset + index + 1,
                            field: Some("api".into()),
                            reason: format!(
                                "API names are at most {MAX_API_NAME} bytes without control characters"
                            ),
                        });
                        continue;
                    }
                }
                let api = apiwarden_detect::api_name(&record);
                entries.push(RecordEntry { api, record });
            }
            Err(e) => errors.push(LineError {
                line: line_offset + e.line,
                field: e.field,
                reason: e.reason,
            }),
        }
    }
    (entries, errors)
}

fn valid_api_name(api: &str) -> bool {
    !api.is_empty() && api.len() <= MAX_API_NAME && !api.chars().any(char::is_control)
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
    fn slice_buffers_are_reused_and_bounded() {
        let pool = BufferPool::new(1);
        let mut a = pool.take();
        a.extend_from_slice(b"x\n");
        let ptr = a.as_ptr();
        pool.put(a);
        pool.put(pool_sized_buffer());
        let b = pool.take();
        assert!(b.is_empty(), "handed back cleared");
        assert_eq!(b.as_ptr(), ptr, "the same allocation again");
        // A small or huge buffer is not kept.
        pool.put(Vec::with_capacity(16));
        pool.put(Vec::with_capacity(4 * SLICE_BYTES));
        assert!(pool.free.lock().expect("pool").is_empty());
    }

    fn pool_sized_buffer() -> Vec<u8> {
        Vec::with_capacity(SLICE_BYTES + 1)
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
