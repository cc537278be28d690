//! The access record of CONTRACT §1 and everything that turns bytes into it.
//!
//! Secrets (`api_key`, `token`) are replaced by a keyed [`Fingerprint`] while
//! parsing: no code downstream of this crate ever sees them in clear.
//!
//! - Whole bodies (HTTP ingest): [`parse_bytes`] with an [`InputFormat`]
//!   (often from [`InputFormat::from_content_type`]).
//! - Files and streams: [`open_input`] (`-`, `.gz`) then [`RecordReader`],
//!   line by line in bounded memory.
//! - Gateway logs: [`InputFormat::NginxJson`] (see [`NGINX_LOG_FORMAT`]) and
//!   [`InputFormat::Combined`] (Apache / nginx combined log lines).
//! - Writing inputs (simulator, tests, clients): [`InputRecord`].
//!
//! Every rejected record becomes one [`RecordError`] naming its line (or
//! array position), the field to blame and a reason a person can act on; the
//! other records of the same input are unaffected. Empty strings and `null`
//! in optional fields mean "absent".
//!
//! ```
//! use apiwarden_record::{parse_bytes, Fingerprinter, InputFormat};
//!
//! let fp = Fingerprinter::new([7; 32]);
//! let body = br#"{"ts":"2026-12-04T20:03:15Z","method":"get","path":"/v1/orders/7","status":200,"latency_ms":12.5,"request_bytes":310,"response_bytes":2048,"client_ip":"203.0.113.9","api_key":"sk_live_1"}
//! {"ts":1796414595000,"method":"GET","path":"/v1/orders/8","status":700,"latency_ms":3,"request_bytes":0,"response_bytes":0,"client_ip":"203.0.113.9"}
//! "#;
//! let results = parse_bytes(body, InputFormat::Ndjson, &fp);
//! let record = results[0].as_ref().unwrap();
//! assert_eq!(record.method, "GET");
//! assert_eq!(record.api_key, Some(fp.fingerprint("sk_live_1")));
//! let error = results[1].as_ref().unwrap_err();
//! assert_eq!(error.to_string(), "line 2, field `status`: expected integer 100..=599, got 700");
//! ```

mod body;
mod combined;
mod contract;
mod fields;
mod fingerprint;
mod format;
mod line;
mod nginx;
mod open;
mod reader;
mod scalar;
mod timestamp;
mod validate;
mod wire;

pub use body::parse_bytes;
pub use fingerprint::{Fingerprinter, KeyError, KEY_BYTES};
pub use format::InputFormat;
pub use line::MAX_RECORD_BYTES;
pub use nginx::NGINX_LOG_FORMAT;
pub use open::{open_input, InputError};
pub use reader::RecordReader;
pub use wire::{InputRecord, InputTs};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// One API request as the gateway saw it, validated.
///
/// This is also the stored form: it (de)serializes with serde as is, with the
/// secrets already fingerprinted, so reading it back never fingerprints twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessRecord {
    /// Request id from the gateway; `None` when the input had none.
    pub id: Option<String>,
    /// Arrival time, epoch milliseconds (UTC).
    pub ts_ms: i64,
    pub api: Option<String>,
    pub host: Option<String>,
    /// Upper-cased HTTP method.
    pub method: String,
    /// Raw path, query string included.
    pub path: String,
    /// 100..=599.
    pub status: u16,
    pub latency_ms: f64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub client_ip: IpAddr,
    /// ISO 3166-1 alpha-2, upper-cased.
    pub country: Option<String>,
    pub geo: Option<GeoPoint>,
    pub user: Option<String>,
    pub api_key: Option<Fingerprint>,
    pub token: Option<Fingerprint>,
    pub user_agent: Option<String>,
}

impl AccessRecord {
    /// A `GET /` answered 200 in 1 ms to 10.0.0.1 at time 0, nothing else known: the base
    /// that tests override field by field.
    pub fn example() -> AccessRecord {
        AccessRecord {
            id: None,
            ts_ms: 0,
            api: None,
            host: None,
            method: "GET".into(),
            path: "/".into(),
            status: 200,
            latency_ms: 1.0,
            request_bytes: 0,
            response_bytes: 0,
            client_ip: IpAddr::from([10, 0, 0, 1]),
            country: None,
            geo: None,
            user: None,
            api_key: None,
            token: None,
            user_agent: None,
        }
    }
}

/// Latitude / longitude in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

/// A keyed fingerprint of a secret: `fp:` + 32 hex digits (128 bits of keyed BLAKE3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(pub String);

impl Fingerprint {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why one input record (a line of NDJSON, an element of an array) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("line {line}{}: {reason}", field.as_ref().map(|f| format!(", field `{f}`")).unwrap_or_default())]
pub struct RecordError {
    /// 1-based line (NDJSON, logs) or element position (JSON / MessagePack arrays).
    pub line: usize,
    /// The offending field, when one field is to blame.
    pub field: Option<String>,
    pub reason: String,
}

/// Epoch milliseconds as RFC 3339 UTC with millisecond precision, e.g.
/// `2026-12-04T20:03:15.123Z`: the one timestamp format of every output.
pub fn format_ts_ms(ts_ms: i64) -> String {
    let nanos = i128::from(ts_ms) * 1_000_000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => {
            let fmt = time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            );
            t.format(&fmt).unwrap_or_else(|_| ts_ms.to_string())
        }
        Err(_) => ts_ms.to_string(),
    }
}

/// Parse an RFC 3339 timestamp into epoch milliseconds.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod ts_tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip() {
        let ms = 1_764_878_595_123;
        let s = format_ts_ms(ms);
        assert_eq!(s, "2025-12-04T20:03:15.123Z");
        assert_eq!(parse_rfc3339_ms(&s), Some(ms));
        assert_eq!(parse_rfc3339_ms("2025-12-04T21:03:15.123+01:00"), Some(ms));
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }
}
