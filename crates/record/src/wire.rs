//! The input form of a record (CONTRACT §1), for code that writes inputs:
//! the simulator, tests, clients. Secrets are in clear here, which is why
//! `Debug` redacts them.

use crate::{format_ts_ms, AccessRecord};
use serde::{Deserialize, Serialize};
use std::fmt;

/// `ts` as the contract allows it: epoch milliseconds or RFC 3339 text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum InputTs {
    EpochMs(i64),
    Rfc3339(String),
}

/// One access record as a gateway sends it (field names and types of CONTRACT §1).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub ts: InputTs,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub latency_ms: f64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub client_ip: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

impl fmt::Debug for InputRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |secret: &Option<String>| secret.as_ref().map(|_| "<secret>");
        f.debug_struct("InputRecord")
            .field("id", &self.id)
            .field("ts", &self.ts)
            .field("api", &self.api)
            .field("host", &self.host)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("status", &self.status)
            .field("latency_ms", &self.latency_ms)
            .field("request_bytes", &self.request_bytes)
            .field("response_bytes", &self.response_bytes)
            .field("client_ip", &self.client_ip)
            .field("country", &self.country)
            .field("lat", &self.lat)
            .field("lon", &self.lon)
            .field("user", &self.user)
            .field("api_key", &redacted(&self.api_key))
            .field("token", &redacted(&self.token))
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

impl InputRecord {
    /// The input form of a parsed record, `ts` as RFC 3339. Its secrets are
    /// already fingerprints, so they are written as such (re-ingesting them
    /// fingerprints the fingerprints: fine for replays, not equal to the original).
    pub fn from_record(record: &AccessRecord) -> Self {
        Self {
            id: record.id.clone(),
            ts: InputTs::Rfc3339(format_ts_ms(record.ts_ms)),
            api: record.api.clone(),
            host: record.host.clone(),
            method: record.method.clone(),
            path: record.path.clone(),
            status: record.status,
            latency_ms: record.latency_ms,
            request_bytes: record.request_bytes,
            response_bytes: record.response_bytes,
            client_ip: record.client_ip.to_string(),
            country: record.country.clone(),
            lat: record.geo.map(|g| g.lat),
            lon: record.geo.map(|g| g.lon),
            user: record.user.clone(),
            api_key: record.api_key.as_ref().map(|fp| fp.0.clone()),
            token: record.token.as_ref().map(|fp| fp.0.clone()),
            user_agent: record.user_agent.clone(),
        }
    }
}
