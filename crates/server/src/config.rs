//! Service configuration: a TOML file (every field optional, unknown fields
//! rejected), then environment overrides, then command-line flags.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// What a key may do. `admin` may do everything; `read` and `ingest` only their own routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Ingest,
    Read,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Read => "read",
            Role::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// Who holds the key (logs and metrics show this, never the key).
    pub name: String,
    /// The key itself; prefer `key_env` so the file holds no secret.
    #[serde(default)]
    pub key: Option<String>,
    /// Name of an environment variable holding the key.
    #[serde(default)]
    pub key_env: Option<String>,
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body accepted, after gzip decoding too (413 above).
    pub max_body_bytes: usize,
    /// Line-based bodies (NDJSON, log presets) without Content-Encoding are
    /// streamed in slices with bounded memory, up to this many bytes.
    pub max_stream_bytes: u64,
    /// Requests taking longer get 408 (the alert stream and training excepted).
    pub request_timeout_secs: u64,
    /// Sustained records per second per ingest key (429 above); 0 = no limit.
    pub ingest_records_per_sec: f64,
    /// Records a key may send at once above the sustained rate.
    pub ingest_burst_records: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * 1024 * 1024,
            max_stream_bytes: 1 << 30,
            request_timeout_secs: 30,
            ingest_records_per_sec: 500_000.0,
            ingest_burst_records: 1_000_000.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// Records, scores and alerts older than this (by wall clock) are deleted; 0 keeps everything.
    pub max_age_hours: u64,
    pub check_interval_secs: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_age_hours: 24 * 14,
            check_interval_secs: 600,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http://` or `https://` URL the alert JSON is POSTed to.
    pub url: String,
    /// HMAC-SHA256 key for the `X-Apiwarden-Signature: sha256=<hex>` header.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Alerts below this severity are not sent.
    #[serde(default = "default_min_severity")]
    pub min_severity: apiwarden_alert::Severity,
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_backoff")]
    pub initial_backoff_ms: u64,
}

fn default_min_severity() -> apiwarden_alert::Severity {
    apiwarden_alert::Severity::Medium
}
fn default_attempts() -> u32 {
    5
}
fn default_backoff() -> u64 {
    500
}

/// `[[owners]]`: the default owner of one API (one set through
/// `PUT /v1/apis/{api}/owner` wins over it).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerConfig {
    pub api: String,
    pub team: String,
    #[serde(default)]
    pub contact: Option<String>,
    /// `http://` or `https://` URL that also receives this API's alerts.
    #[serde(default)]
    pub escalation_webhook: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
}

impl OwnerConfig {
    pub fn owner(&self) -> apiwarden_alert::ApiOwner {
        apiwarden_alert::ApiOwner {
            team: self.team.clone(),
            contact: self.contact.clone(),
            escalation_webhook: self.escalation_webhook.clone(),
            notes: self.notes.clone(),
        }
    }
}

/// `[owner_escalation]`: how alerts are delivered to owners' escalation
/// webhooks (same signing, retries and dead letters as `[[webhooks]]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EscalationConfig {
    /// HMAC-SHA256 key for `X-Apiwarden-Signature`; unsigned without one.
    pub secret: Option<String>,
    pub secret_env: Option<String>,
    pub min_severity: apiwarden_alert::Severity,
    pub max_attempts: u32,
    pub initial_backoff_ms: u64,
    /// Set by [`Config::apply_env`] when `secret_env` names an unset
    /// variable, so `validate` refuses the config before the service starts.
    #[serde(skip)]
    pub secret_env_missing: bool,
}

impl Default for EscalationConfig {
    fn default() -> Self {
        EscalationConfig {
            secret: None,
            secret_env: None,
            min_severity: default_min_severity(),
            max_attempts: default_attempts(),
            initial_backoff_ms: default_backoff(),
            secret_env_missing: false,
        }
    }
}

/// Longest API name an owner may be configured for.
pub const MAX_API_NAME_CHARS: usize = 256;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSettings {
    pub seed: u64,
    /// An API on population priors gets its own baseline (a retrain) once it has this many records; 0 = never automatically.
    pub learn_after_records: u64,
    /// Retrain from stored traffic this often; 0 = only on `POST /v1/train` and `learn_after_records`.
    pub retrain_interval_secs: u64,
    /// At most this many stored records feed one training.
    pub max_records: u64,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            seed: 7,
            learn_after_records: 50_000,
            retrain_interval_secs: 0,
            max_records: 2_000_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// sled page cache.
    pub cache_mb: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings { cache_mb: 256 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: String,
    pub data_dir: PathBuf,
    pub keys: Vec<KeyConfig>,
    pub limits: Limits,
    pub retention: Retention,
    /// Engine shards (threads); 0 = one per core.
    pub shards: usize,
    pub store: StoreSettings,
    pub webhooks: Vec<WebhookConfig>,
    pub train: TrainSettings,
    /// Alerts stay open (blocklist, verdicts) this long after their last flagged request, traffic time.
    pub alert_cooldown_secs: u64,
    /// Default API owners.
    pub owners: Vec<OwnerConfig>,
    pub owner_escalation: EscalationConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            keys: Vec::new(),
            limits: Limits::default(),
            retention: Retention::default(),
            shards: 0,
            store: StoreSettings::default(),
            webhooks: Vec::new(),
            train: TrainSettings::default(),
            alert_cooldown_secs: 15 * 60,
            owners: Vec::new(),
            owner_escalation: EscalationConfig::default(),
        }
    }
}

impl Config {
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// `APIWARDEN_LISTEN`, `APIWARDEN_DATA` and `APIWARDEN_ADMIN_KEY` (an
    /// extra admin key); `owner_escalation.secret_env` is read here too.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) {
        let escalation = &mut self.owner_escalation;
        if let (None, Some(var)) = (&escalation.secret, &escalation.secret_env) {
            match env(var).filter(|s| !s.is_empty()) {
                Some(secret) => {
                    escalation.secret = Some(secret);
                    escalation.secret_env = None;
                }
                None => escalation.secret_env_missing = true,
            }
        }
        if let Some(listen) = env("APIWARDEN_LISTEN").filter(|s| !s.is_empty()) {
            self.listen = listen;
        }
        if let Some(data) = env("APIWARDEN_DATA").filter(|s| !s.is_empty()) {
            self.data_dir = PathBuf::from(data);
        }
        if env("APIWARDEN_ADMIN_KEY").is_some_and(|k| !k.is_empty()) {
            self.keys.push(KeyConfig {
                name: "env-admin".into(),
                key: None,
                key_env: Some("APIWARDEN_ADMIN_KEY".into()),
                roles: vec![Role::Admin],
            });
        }
    }

    pub fn shard_count(&self) -> usize {
        if self.shards > 0 {
            self.shards
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.limits.max_body_bytes == 0 {
            return bad("limits.max_body_bytes must be > 0".into());
        }
        if self.limits.request_timeout_secs == 0 {
            return bad("limits.request_timeout_secs must be > 0".into());
        }
        let rate = self.limits.ingest_records_per_sec;
        if rate.is_nan() || rate < 0.0 {
            return bad("limits.ingest_records_per_sec must be >= 0".into());
        }
        for k in &self.keys {
            if k.roles.is_empty() {
                return bad(format!("key `{}` has no roles", k.name));
            }
            if k.key.is_some() == k.key_env.is_some() {
                return bad(format!(
                    "key `{}` needs exactly one of `key` and `key_env`",
                    k.name
                ));
            }
        }
        for w in &self.webhooks {
            if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                return bad(format!(
                    "webhook {}: only http:// and https:// URLs are supported",
                    w.url
                ));
            }
            if w.max_attempts == 0 {
                return bad(format!("webhook {}: max_attempts must be >= 1", w.url));
            }
        }
        self.validate_owners()
    }

    fn validate_owners(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::BTreeSet::new();
        for o in &self.owners {
            check_api_name(&o.api).map_err(|m| ConfigError::Invalid(format!("[[owners]]: {m}")))?;
            if !seen.insert(o.api.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "[[owners]]: API `{}` has two owners",
                    o.api
                )));
            }
            o.owner().validate().map_err(|e| {
                ConfigError::Invalid(format!("[[owners]] api = \"{}\": {e}", o.api))
            })?;
        }
        if let (true, Some(var)) = (
            self.owner_escalation.secret_env_missing,
            &self.owner_escalation.secret_env,
        ) {
            return Err(ConfigError::Invalid(format!(
                "owner_escalation: environment variable {var} is not set"
            )));
        }
        if self.owner_escalation.max_attempts == 0 {
            return Err(ConfigError::Invalid(
                "owner_escalation.max_attempts must be >= 1".into(),
            ));
        }
        if self.owner_escalation.secret.is_some() && self.owner_escalation.secret_env.is_some() {
            return Err(ConfigError::Invalid(
                "owner_escalation: give at most one of `secret` and `secret_env`".into(),
            ));
        }
        Ok(())
    }
}

/// An API name as routes and config take it: not empty, bounded, printable.
pub fn check_api_name(api: &str) -> Result<(), String> {
    if api.trim().is_empty() {
        return Err("the API name is empty".into());
    }
    if api.chars().count() > MAX_API_NAME_CHARS {
        return Err(format!(
            "the API name is longer than {MAX_API_NAME_CHARS} characters"
        ));
    }
    if api.chars().any(char::is_control) {
        return Err("the API name contains control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_parse_and_bad_ones_are_refused_with_a_reason() {
        let ok = "[[owners]]\napi = \"payments\"\nteam = \"payments-core\"\ncontact = \"#pay-oncall\"\nescalation_webhook = \"https://hooks.example.com/pay\"\nnotes = \"PCI\"\n";
        let c = Config::from_toml(ok, Path::new("x.toml")).expect("parse");
        assert!(c.validate().is_ok());
        assert_eq!(c.owners[0].owner().team, "payments-core");

        let bad_url = ok.replace("https://hooks", "ftp://hooks");
        let err = Config::from_toml(&bad_url, Path::new("x.toml"))
            .expect("parse")
            .validate()
            .expect_err("ftp");
        assert!(err.to_string().contains("escalation_webhook"), "{err}");

        let twice = format!("{ok}{ok}");
        let err = Config::from_toml(&twice, Path::new("x.toml"))
            .expect("parse")
            .validate()
            .expect_err("duplicate");
        assert!(err.to_string().contains("two owners"), "{err}");

        let err = Config::from_toml(
            "[[owners]]\napi = \"x\"\nteem = \"y\"\n",
            Path::new("x.toml"),
        )
        .expect_err("unknown field");
        assert!(err.to_string().contains("teem"), "{err}");
    }

    #[test]
    fn empty_file_is_the_default() {
        let c = Config::from_toml("", Path::new("x.toml")).expect("parse");
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert!(c.validate().is_ok());
    }

    #[test]
    fn unknown_fields_are_rejected_with_their_name() {
        let err = Config::from_toml("listen = \"x\"\nlisen = 1\n", Path::new("x.toml"))
            .expect_err("unknown field");
        assert!(err.to_string().contains("lisen"), "{err}");
        let err = Config::from_toml("[limits]\nmax_body = 1\n", Path::new("x.toml"))
            .expect_err("unknown nested field");
        assert!(err.to_string().contains("max_body"), "{err}");
    }

    #[test]
    fn env_overrides_and_admin_key() {
        let mut c = Config::default();
        c.apply_env(|k| match k {
            "APIWARDEN_LISTEN" => Some("0.0.0.0:9".into()),
            "APIWARDEN_DATA" => Some("/tmp/x".into()),
            "APIWARDEN_ADMIN_KEY" => Some("s3cret".into()),
            _ => None,
        });
        assert_eq!(c.listen, "0.0.0.0:9");
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.keys.len(), 1);
        assert_eq!(c.keys[0].roles, vec![Role::Admin]);
        assert!(
            c.keys[0].key.is_none(),
            "the key itself is not copied around"
        );
    }

    #[test]
    fn owner_webhook_secret_comes_from_the_environment_or_the_config_is_refused() {
        let text = "[owner_escalation]\nsecret_env = \"OWNER_SECRET\"\n";
        let mut c = Config::from_toml(text, Path::new("x.toml")).expect("parse");
        c.apply_env(|k| (k == "OWNER_SECRET").then(|| "s3".to_string()));
        assert!(c.validate().is_ok());
        assert_eq!(c.owner_escalation.secret.as_deref(), Some("s3"));

        let mut c = Config::from_toml(text, Path::new("x.toml")).expect("parse");
        c.apply_env(|_| None);
        let err = c.validate().expect_err("unset variable");
        assert!(err.to_string().contains("OWNER_SECRET"), "{err}");
    }

    #[test]
    fn key_needs_exactly_one_source() {
        let c = Config::from_toml(
            "[[keys]]\nname = \"gw\"\nroles = [\"ingest\"]\n",
            Path::new("x.toml"),
        )
        .expect("parse");
        assert!(c.validate().is_err());
    }
}

#[cfg(test)]
mod shipped_config {
    use super::*;

    #[test]
    fn the_documented_config_parses_and_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/apiwarden.toml");
        let c = Config::load(&path).expect("config/apiwarden.toml parses");
        let d = Config::default();
        assert_eq!(c.listen, d.listen);
        assert_eq!(c.data_dir, d.data_dir);
        assert_eq!(c.limits.max_body_bytes, d.limits.max_body_bytes);
        assert_eq!(c.retention.max_age_hours, d.retention.max_age_hours);
        assert_eq!(c.train.learn_after_records, d.train.learn_after_records);
        assert_eq!(c.keys.len(), 2);
        let (e, de) = (&c.owner_escalation, &d.owner_escalation);
        assert_eq!(e.min_severity, de.min_severity);
        assert_eq!(e.max_attempts, de.max_attempts);
        assert_eq!(e.initial_backoff_ms, de.initial_backoff_ms);
        assert!(c.validate().is_ok());
    }
}
