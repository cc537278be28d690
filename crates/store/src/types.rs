use apiwarden_alert::{Alert, AlertFamily, AttackType, MonitorKind};
use apiwarden_record::AccessRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A record with the API it was routed to (explicit or discovered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordEntry {
    pub api: String,
    pub record: AccessRecord,
}

/// A record's verdict as the service stored it, found by request id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredScore {
    pub id: String,
    pub api: String,
    pub endpoint: String,
    pub ts_ms: i64,
    pub score: f64,
    pub attack: Option<AttackType>,
}

/// A webhook delivery that kept failing, kept for an operator to replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub url: String,
    pub alert_id: String,
    pub attempts: u32,
    pub last_error: String,
    pub failed_ms: i64,
    pub body: String,
}

/// One unit of work for the writer. Everything in it becomes durable at the same flush.
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    pub records: Vec<RecordEntry>,
    pub scores: Vec<StoredScore>,
    /// Upserted by id; the last-seen index follows the newest state.
    pub alerts: Vec<Alert>,
    pub dead_letters: Vec<DeadLetter>,
}

impl WriteBatch {
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
            && self.scores.is_empty()
            && self.alerts.is_empty()
            && self.dead_letters.is_empty()
    }
}

/// Per-API settings an operator can change at run time.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ApiSettings {
    pub api: String,
    #[serde(default)]
    pub owner: Option<apiwarden_alert::ApiOwner>,
    /// Score threshold overrides by detector or entity kind (e.g. `"request"`, `"ip"`, `"token"`),
    /// each in [0,1] on the calibrated score scale.
    #[serde(default)]
    pub thresholds: BTreeMap<String, f64>,
}

/// An entity that never alerts (optionally only on one API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowEntry {
    pub kind: String,
    pub value: String,
    #[serde(default)]
    pub api: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredModel {
    pub version: u64,
    pub created_ms: i64,
    pub bytes: Vec<u8>,
}

/// Filters for [`crate::Store::alerts`]; times are epoch ms on `last_seen`.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    pub api: Option<String>,
    pub attack: Option<AttackType>,
    /// Attack alerts or monitoring alerts only.
    pub family: Option<AlertFamily>,
    /// Monitoring alerts of this kind only.
    pub monitor: Option<MonitorKind>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: usize,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AlertPage {
    pub alerts: Vec<Alert>,
    /// Pass back as `cursor` for the next (older) page; `None` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionStats {
    pub records: u64,
    pub scores: u64,
    pub alerts: u64,
}
