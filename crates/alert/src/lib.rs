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

impl AlertFamily {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertFamily::Attack => "attack",
            AlertFamily::Monitoring => "monitoring",
        }
    }

    pub fn parse(s: &str) -> Option<AlertFamily> {
        [AlertFamily::Attack, AlertFamily::Monitoring]
            .into_iter()
            .find(|f| f.as_str() == s)
    }
}

/// What a monitoring alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorKind {
    LatencyRegression,
    ErrorRateSpike,
    TrafficDrop,
    TrafficSurge,
    ResponseSizeShift,
    CountryShift,
}

impl MonitorKind {
    pub const ALL: [MonitorKind; 6] = [
        MonitorKind::LatencyRegression,
        MonitorKind::ErrorRateSpike,
        MonitorKind::TrafficDrop,
        MonitorKind::TrafficSurge,
        MonitorKind::ResponseSizeShift,
        MonitorKind::CountryShift,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MonitorKind::LatencyRegression => "latency_regression",
            MonitorKind::ErrorRateSpike => "error_rate_spike",
            MonitorKind::TrafficDrop => "traffic_drop",
            MonitorKind::TrafficSurge => "traffic_surge",
            MonitorKind::ResponseSizeShift => "response_size_shift",
            MonitorKind::CountryShift => "country_shift",
        }
    }

    pub fn parse(s: &str) -> Option<MonitorKind> {
        MonitorKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An alert, deduplicated per (api, entity, attack): one alert grows while the
/// behavior goes on, and a new one opens only after the cool-down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    /// `null` on monitoring alerts (see `monitor`).
    pub attack: Option<AttackType>,
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
    /// Extension: what a monitoring alert is about; absent on attack alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<MonitorKind>,
    /// Extension: the endpoint (`METHOD template`) a monitoring alert is
    /// about when it concerns one; absent on API-wide monitoring alerts
    /// (those that group several endpoints list them in `evidence`) and on
    /// attack alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Extension: epoch ms of `first_seen` / `last_seen`, for range queries.
    #[serde(default)]
    pub first_seen_ms: i64,
    #[serde(default)]
    pub last_seen_ms: i64,
}

pub const MAX_ALERT_REQUEST_IDS: usize = 50;

/// Who answers for an API (issue #5): set in the config file or through
/// `PUT /v1/apis/{api}/owner`, and attached to every alert of that API.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiOwner {
    pub team: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// `http://` or `https://` URL that also receives this API's alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation_webhook: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl ApiOwner {
    /// The owner as shown to readers and on alerts: webhook URLs such as
    /// Slack's carry their secret in the path, so only the scheme and host
    /// are kept (`https://hooks.example.com/…`).
    pub fn redacted(&self) -> ApiOwner {
        ApiOwner {
            escalation_webhook: self.escalation_webhook.as_deref().map(redact_url),
            ..self.clone()
        }
    }
}

fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "…".into();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..end).unwrap_or("");
    // Credentials in the authority are secrets too.
    let host = authority.rsplit('@').next().unwrap_or("");
    if end < rest.len() && rest.get(end..) != Some("/") {
        format!("{scheme}://{host}/…")
    } else {
        format!("{scheme}://{host}/")
    }
}

pub const MAX_OWNER_TEAM_CHARS: usize = 128;
pub const MAX_OWNER_CONTACT_CHARS: usize = 256;
pub const MAX_OWNER_URL_CHARS: usize = 2048;
pub const MAX_OWNER_NOTES_CHARS: usize = 4096;

/// Why an owner record was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerError(pub String);

impl fmt::Display for OwnerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OwnerError {}

impl ApiOwner {
    /// Field lengths, no control characters, and a webhook URL with an
    /// `http`/`https` scheme and a host.
    pub fn validate(&self) -> Result<(), OwnerError> {
        check_text("team", &self.team, MAX_OWNER_TEAM_CHARS, false)?;
        if self.team.trim().is_empty() {
            return Err(OwnerError("`team` is empty".into()));
        }
        if let Some(contact) = &self.contact {
            check_text("contact", contact, MAX_OWNER_CONTACT_CHARS, false)?;
        }
        if let Some(notes) = &self.notes {
            check_text("notes", notes, MAX_OWNER_NOTES_CHARS, true)?;
        }
        if let Some(url) = &self.escalation_webhook {
            check_text("escalation_webhook", url, MAX_OWNER_URL_CHARS, false)?;
            check_webhook_url(url)?;
        }
        Ok(())
    }
}

fn check_text(
    field: &str,
    value: &str,
    max_chars: usize,
    multiline: bool,
) -> Result<(), OwnerError> {
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(OwnerError(format!(
            "`{field}` is {chars} characters long; at most {max_chars} allowed"
        )));
    }
    let allowed = |c: char| !c.is_control() || (multiline && (c == '\n' || c == '\t'));
    if !value.chars().all(allowed) {
        return Err(OwnerError(format!("`{field}` contains control characters")));
    }
    Ok(())
}

fn check_webhook_url(url: &str) -> Result<(), OwnerError> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| {
            OwnerError(format!(
                "`escalation_webhook` must start with http:// or https://, got `{url}`"
            ))
        })?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    let host_only = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    if host_only.is_empty() {
        return Err(OwnerError(format!(
            "`escalation_webhook` has no host: `{url}`"
        )));
    }
    if url.chars().any(char::is_whitespace) {
        return Err(OwnerError(format!(
            "`escalation_webhook` contains whitespace: `{url}`"
        )));
    }
    if let Some(port) = host.strip_prefix('[').map_or_else(
        || host.split_once(':').map(|(_, p)| p),
        |v6| v6.split_once("]:").map(|(_, p)| p),
    ) {
        if port.parse::<u16>().is_err() {
            return Err(OwnerError(format!(
                "`escalation_webhook` has an invalid port `{port}`"
            )));
        }
    }
    Ok(())
}

/// An alert as the service outputs it (queries, SSE, webhooks): the stored
/// alert plus its API's current owner, a compatible extension of CONTRACT §4
/// (`owner` is absent when the API has none). The owner is looked up at output
/// time, so a change of owner shows on old alerts too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnedAlert {
    #[serde(flatten)]
    pub alert: Alert,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<ApiOwner>,
}

/// A complete attack alert for tests of code that carries alerts: one IP
/// entity, one request id, one second long.
#[cfg(any(test, feature = "test-support"))]
impl Alert {
    pub fn example(id: &str, api: &str, attack: AttackType, severity: Severity) -> Alert {
        Alert {
            id: id.into(),
            attack: Some(attack),
            severity,
            api: api.into(),
            entity: EntityRef {
                kind: EntityKind::Ip,
                value: "10.0.0.1".into(),
            },
            score: 0.9,
            threshold: 0.5,
            first_seen: "2026-12-01T00:00:00.000Z".into(),
            last_seen: "2026-12-01T00:00:01.000Z".into(),
            request_ids: vec!["r1".into()],
            evidence: vec![],
            count: 1,
            family: AlertFamily::Attack,
            monitor: None,
            endpoint: None,
            first_seen_ms: 0,
            last_seen_ms: 1000,
        }
    }
}

#[cfg(test)]
mod owner_tests {
    use super::*;

    fn owner(url: Option<&str>) -> ApiOwner {
        ApiOwner {
            team: "payments".into(),
            contact: Some("payments-oncall@example.com".into()),
            escalation_webhook: url.map(str::to_string),
            notes: Some("PCI scope.\nPage for critical.".into()),
        }
    }

    #[test]
    fn good_owners_pass() {
        for url in [
            None,
            Some("http://127.0.0.1:9000/hook"),
            Some("https://hooks.example.com/x?y=1"),
            Some("http://[::1]:8080/"),
        ] {
            assert_eq!(owner(url).validate(), Ok(()), "{url:?}");
        }
    }

    #[test]
    fn bad_urls_are_refused_with_the_field_named() {
        for url in [
            "ftp://x/",
            "http://",
            "http:///path",
            "https://host:notaport/",
            "http://exa mple.com/",
            "example.com",
        ] {
            let err = owner(Some(url)).validate().expect_err(url);
            assert!(err.0.contains("escalation_webhook"), "{url}: {err}");
        }
    }

    #[test]
    fn overlong_and_empty_fields_are_refused() {
        let mut o = owner(None);
        o.team = "t".repeat(MAX_OWNER_TEAM_CHARS + 1);
        assert!(o.validate().expect_err("long").0.contains("team"));
        o.team = "  ".into();
        assert!(o.validate().expect_err("empty").0.contains("team"));
        let mut o = owner(None);
        o.notes = Some("n".repeat(MAX_OWNER_NOTES_CHARS + 1));
        assert!(o.validate().expect_err("notes").0.contains("notes"));
        let mut o = owner(None);
        o.contact = Some("a\u{7}b".into());
        assert!(o.validate().expect_err("control").0.contains("contact"));
    }

    #[test]
    fn redaction_keeps_scheme_and_host_only() {
        let cases = [
            (
                "https://hooks.slack.com/services/T0/B0/secret",
                "https://hooks.slack.com/…",
            ),
            (
                "http://u:pw@10.0.0.1:8080/x?token=1",
                "http://10.0.0.1:8080/…",
            ),
            ("http://127.0.0.1:9000", "http://127.0.0.1:9000/"),
            ("http://127.0.0.1:9000/", "http://127.0.0.1:9000/"),
        ];
        for (url, shown) in cases {
            let o = owner(Some(url)).redacted();
            assert_eq!(o.escalation_webhook.as_deref(), Some(shown), "{url}");
            assert_eq!(o.team, "payments");
        }
        assert_eq!(owner(None).redacted(), owner(None));
    }

    #[test]
    fn owned_alert_serializes_as_the_alert_plus_owner() {
        let alert = Alert::example("a1", "payments", AttackType::Probing, Severity::High);
        let bare = serde_json::to_value(OwnedAlert {
            alert: alert.clone(),
            owner: None,
        })
        .expect("json");
        assert_eq!(bare, serde_json::to_value(&alert).expect("json"));
        assert!(bare.get("owner").is_none());
        let owned = OwnedAlert {
            alert: alert.clone(),
            owner: Some(owner(None)),
        };
        let text = serde_json::to_string(&owned).expect("json");
        let value: serde_json::Value = serde_json::from_str(&text).expect("parse");
        assert_eq!(value["owner"]["team"], "payments");
        assert_eq!(value["id"], "a1");
        let plain: Alert = serde_json::from_str(&text).expect("an old client still parses it");
        assert_eq!(plain, alert);
        let back: OwnedAlert = serde_json::from_str(&text).expect("round trip");
        assert_eq!(back, owned);
    }

    #[test]
    fn monitor_kind_is_written_only_on_monitoring_alerts() {
        let attack = Alert::example("a2", "shop", AttackType::Probing, Severity::Medium);
        let attack_json = serde_json::to_value(&attack).expect("json");
        assert!(attack_json.get("monitor").is_none());
        assert!(attack_json.get("endpoint").is_none());

        let monitoring = Alert {
            attack: None,
            family: AlertFamily::Monitoring,
            monitor: Some(MonitorKind::LatencyRegression),
            endpoint: Some("GET /search".into()),
            ..attack
        };
        let json = serde_json::to_value(&monitoring).expect("json");
        assert_eq!(json["family"], "monitoring");
        assert_eq!(json["monitor"], "latency_regression");
        assert_eq!(json["endpoint"], "GET /search");
        assert!(json["attack"].is_null(), "present and null: {json}");
        let back: Alert = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, monitoring);
    }

    #[test]
    fn monitor_kind_names_parse_back() {
        for kind in MonitorKind::ALL {
            assert_eq!(MonitorKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(MonitorKind::parse("latency"), None);
    }
}
