//! The simulated access record (CONTRACT §1 with secrets in clear), its
//! ground truth, and its JSON form.

use crate::time::write_rfc3339_ms;
use crate::world::EndpointId;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::sync::Arc;

/// The attack types of CONTRACT §4: the project's one vocabulary.
pub use apiwarden_alert::AttackType;

/// How the gateway of an API writes `ts`: both forms of CONTRACT §1 occur.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsFormat {
    Rfc3339,
    EpochMs,
}

/// What a record really is; never written into the record itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Truth {
    pub attack: Option<AttackType>,
    /// Episode number `n` of `"En"`, set exactly when `attack` is.
    pub episode: Option<u32>,
    /// The episode's loud variant (fast, large) rather than its subtle one.
    pub loud: bool,
}

impl Truth {
    pub const BENIGN: Truth = Truth {
        attack: None,
        episode: None,
        loud: false,
    };

    pub fn attack(kind: AttackType, episode: u32, loud: bool) -> Truth {
        Truth {
            attack: Some(kind),
            episode: Some(episode),
            loud,
        }
    }
}

/// One simulated request. Serializes (serde or [`SimRecord::write_json`]) to
/// the CONTRACT §1 object; `truth` and `endpoint` stay out of it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimRecord {
    pub id: String,
    pub ts_ms: i64,
    pub ts_format: TsFormat,
    pub api: Option<&'static str>,
    pub host: Option<&'static str>,
    pub method: &'static str,
    pub path: String,
    pub status: u16,
    pub latency_ms: f64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub client_ip: Arc<str>,
    pub country: Option<&'static str>,
    /// (lat, lon): both or neither, as the contract requires.
    pub geo: Option<(f64, f64)>,
    pub user: Option<Arc<str>>,
    pub api_key: Option<Arc<str>>,
    pub token: Option<Arc<str>>,
    pub user_agent: Option<Arc<str>>,
    pub truth: Truth,
    /// The catalog endpoint the request was drawn from (`None` for unknown paths).
    pub endpoint: Option<EndpointId>,
}

impl SimRecord {
    /// The record as one line of contract JSON (no newline).
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(512);
        self.write_json(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Appends the record as one JSON object (no newline). Same content as the
    /// serde form, written by hand because output speed matters at 1M records.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"id\":");
        write_str(out, &self.id);
        out.extend_from_slice(b",\"ts\":");
        match self.ts_format {
            TsFormat::EpochMs => write_int(out, self.ts_ms),
            TsFormat::Rfc3339 => {
                out.push(b'"');
                write_rfc3339_ms(out, self.ts_ms);
                out.push(b'"');
            }
        }
        if let Some(api) = self.api {
            out.extend_from_slice(b",\"api\":");
            write_str(out, api);
        }
        if let Some(host) = self.host {
            out.extend_from_slice(b",\"host\":");
            write_str(out, host);
        }
        out.extend_from_slice(b",\"method\":");
        write_str(out, self.method);
        out.extend_from_slice(b",\"path\":");
        write_str(out, &self.path);
        out.extend_from_slice(b",\"status\":");
        write_int(out, i64::from(self.status));
        out.extend_from_slice(b",\"latency_ms\":");
        write_f64(out, self.latency_ms);
        out.extend_from_slice(b",\"request_bytes\":");
        write_u64(out, self.request_bytes);
        out.extend_from_slice(b",\"response_bytes\":");
        write_u64(out, self.response_bytes);
        out.extend_from_slice(b",\"client_ip\":");
        write_str(out, &self.client_ip);
        if let Some(country) = self.country {
            out.extend_from_slice(b",\"country\":");
            write_str(out, country);
        }
        if let Some((lat, lon)) = self.geo {
            out.extend_from_slice(b",\"lat\":");
            write_f64(out, lat);
            out.extend_from_slice(b",\"lon\":");
            write_f64(out, lon);
        }
        for (key, value) in [
            (&b",\"user\":"[..], &self.user),
            (&b",\"api_key\":"[..], &self.api_key),
            (&b",\"token\":"[..], &self.token),
            (&b",\"user_agent\":"[..], &self.user_agent),
        ] {
            if let Some(v) = value {
                out.extend_from_slice(key);
                write_str(out, v);
            }
        }
        out.push(b'}');
    }
}

impl Serialize for SimRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &self.id)?;
        match self.ts_format {
            TsFormat::EpochMs => map.serialize_entry("ts", &self.ts_ms)?,
            TsFormat::Rfc3339 => map.serialize_entry("ts", &crate::time::rfc3339_ms(self.ts_ms))?,
        }
        if let Some(api) = self.api {
            map.serialize_entry("api", api)?;
        }
        if let Some(host) = self.host {
            map.serialize_entry("host", host)?;
        }
        map.serialize_entry("method", self.method)?;
        map.serialize_entry("path", &self.path)?;
        map.serialize_entry("status", &self.status)?;
        map.serialize_entry("latency_ms", &self.latency_ms)?;
        map.serialize_entry("request_bytes", &self.request_bytes)?;
        map.serialize_entry("response_bytes", &self.response_bytes)?;
        map.serialize_entry("client_ip", &*self.client_ip)?;
        if let Some(country) = self.country {
            map.serialize_entry("country", country)?;
        }
        if let Some((lat, lon)) = self.geo {
            map.serialize_entry("lat", &lat)?;
            map.serialize_entry("lon", &lon)?;
        }
        for (key, value) in [
            ("user", &self.user),
            ("api_key", &self.api_key),
            ("token", &self.token),
            ("user_agent", &self.user_agent),
        ] {
            if let Some(v) = value {
                map.serialize_entry(key, &**v)?;
            }
        }
        map.end()
    }
}

/// One line of `labels.ndjson`. `ts` (epoch ms) is an addition to the
/// contract's `{id, label, episode}`: the evaluator measures time to detect
/// with it; readers that do not know it ignore it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub id: String,
    pub attack: Option<AttackType>,
    pub episode: Option<u32>,
    /// Set exactly when `attack` is: true for a loud episode, false for a subtle one.
    pub loud: Option<bool>,
    pub ts_ms: i64,
}

impl Label {
    pub fn of(record: &SimRecord) -> Label {
        Label {
            id: record.id.clone(),
            attack: record.truth.attack,
            episode: record.truth.episode,
            loud: record.truth.attack.map(|_| record.truth.loud),
            ts_ms: record.ts_ms,
        }
    }

    /// `"benign"` or the attack type.
    pub fn label_str(&self) -> &'static str {
        self.attack.map_or("benign", AttackType::as_str)
    }

    /// `"loud"` or `"subtle"` for attack records (a labels-file extension).
    pub fn variant(&self) -> Option<&'static str> {
        self.loud.map(|loud| if loud { "loud" } else { "subtle" })
    }

    pub fn episode_id(&self) -> Option<String> {
        self.episode.map(|n| format!("E{n}"))
    }

    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"id\":");
        write_str(out, &self.id);
        out.extend_from_slice(b",\"label\":");
        write_str(out, self.label_str());
        out.extend_from_slice(b",\"episode\":");
        match self.episode {
            Some(n) => {
                out.extend_from_slice(b"\"E");
                write_u64(out, u64::from(n));
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null"),
        }
        if let Some(variant) = self.variant() {
            out.extend_from_slice(b",\"variant\":");
            write_str(out, variant);
        }
        out.extend_from_slice(b",\"ts\":");
        write_int(out, self.ts_ms);
        out.push(b'}');
    }
}

impl Serialize for Label {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(4 + usize::from(self.loud.is_some())))?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("label", self.label_str())?;
        map.serialize_entry("episode", &self.episode_id())?;
        if let Some(variant) = self.variant() {
            map.serialize_entry("variant", variant)?;
        }
        map.serialize_entry("ts", &self.ts_ms)?;
        map.end()
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let needs_escape = s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\');
    if needs_escape {
        for ch in s.chars() {
            match ch {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                c if (c as u32) < 0x20 => {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
                }
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
    } else {
        out.extend_from_slice(s.as_bytes());
    }
    out.push(b'"');
}

fn write_u64(out: &mut Vec<u8>, mut value: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn write_int(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    write_u64(out, value.unsigned_abs());
}

/// Shortest round-tripping form, as serde_json writes it.
fn write_f64(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &value);
    } else {
        out.push(b'0');
    }
}
