//! The alert vocabulary of CONTRACT §4: attack types, severities, entities, evidence and the alert itself.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of attack an alert reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttackType {
    DataExfiltration,
    CredentialStuffing,
    TokenMisuse,
    Enumeration,
    ApiDos,
    Probing,
    AnomalousRequest,
}

impl AttackType {
    pub const ALL: [AttackType; 7] = [
        AttackType::DataExfiltration,
        AttackType::CredentialStuffing,
        AttackType::TokenMisuse,
        AttackType::Enumeration,
        AttackType::ApiDos,
        AttackType::Probing,
        AttackType::AnomalousRequest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttackType::DataExfiltration => "data_exfiltration",
            AttackType::CredentialStuffing => "credential_stuffing",
            AttackType::TokenMisuse => "token_misuse",
            AttackType::Enumeration => "enumeration",
            AttackType::ApiDos => "api_dos",
            AttackType::Probing => "probing",
            AttackType::AnomalousRequest => "anomalous_request",
        }
    }

    pub fn parse(s: &str) -> Option<AttackType> {
        AttackType::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for AttackType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// The kinds of entity whose behavior is tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Ip,
    User,
    ApiKey,
    Token,
    /// The API as a whole (distributed attacks: many IPs, each quiet).
    Api,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Ip => "ip",
            EntityKind::User => "user",
            EntityKind::ApiKey => "api_key",
            EntityKind::Token => "token",
            EntityKind::Api => "api",
        }
    }

    pub fn parse(s: &str) -> Option<EntityKind> {
        [
            EntityKind::Ip,
            EntityKind::User,
            EntityKind::ApiKey,
            EntityKind::Token,
            EntityKind::Api,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// `{"kind": "token", "value": "fp:3f9a..."}`; secrets only ever as fingerprints.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntityRef {
    pub kind: EntityKind,
    pub value: String,
}

/// One feature that deviates, observed against its baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub feature: String,
    pub observed: f64,
    pub baseline: f64,
}

/// Alert family: attacks (CONTRACT §4) or API health monitoring (an extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertFamily {
    #[default]
    Attack,
    Monitoring,
}

/// An alert, deduplicated per (api, entity, attack): one alert grows while the
/// behavior goes on, and a new one opens only after the cool-down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub attack: AttackType,
    pub severity: Severity,
    pub api: String,
    pub entity: EntityRef,
    pub score: f64,
    pub threshold: f64,
    /// RFC 3339.
    pub first_seen: String,
    /// RFC 3339.
    pub last_seen: String,
    /// Up to [`MAX_ALERT_REQUEST_IDS`] ids of the requests that made the alert.
    pub request_ids: Vec<String>,
    pub evidence: Vec<Evidence>,
    /// Extension: requests that contributed, including those past the id cap.
    #[serde(default)]
    pub count: u64,
    /// Extension: attack (default) or monitoring.
    #[serde(default)]
    pub family: AlertFamily,
    /// Extension: epoch ms of `first_seen` / `last_seen`, for range queries.
    #[serde(default)]
    pub first_seen_ms: i64,
    #[serde(default)]
    pub last_seen_ms: i64,
}

pub const MAX_ALERT_REQUEST_IDS: usize = 50;
