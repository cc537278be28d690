//! Alert webhooks: the alert JSON POSTed to each configured URL, signed with
//! HMAC-SHA256 (`X-Apiwarden-Signature: sha256=<hex>`), retried with
//! exponential backoff, and recorded as a dead letter in the store when every
//! attempt failed.
//!
//! Besides the configured webhooks, each alert also goes to its API owner's
//! escalation webhook when the owner has one (`[owner_escalation]` settings).
//! Every alert sent carries its API's current owner.

use crate::config::{Config, ConfigError, EscalationConfig, WebhookConfig};
use crate::owners::Owners;
use apiwarden_alert::{Alert, OwnedAlert, Severity};
use apiwarden_store::{DeadLetter, Store, WriteBatch};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch, Semaphore};

pub const SIGNATURE_HEADER: &str = "x-apiwarden-signature";
const QUEUE: usize = 1024;
/// Owner webhooks are many and independent: one slow owner must not hold the others up.
const CONCURRENT_ESCALATIONS: usize = 16;

pub struct Webhook {
    pub url: String,
    pub secret: Option<Vec<u8>>,
    pub min_severity: apiwarden_alert::Severity,
    pub max_attempts: u32,
    pub initial_backoff: Duration,
}

impl Webhook {
    pub fn from_config(
        cfg: &WebhookConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, crate::config::ConfigError> {
        let secret = match (&cfg.secret, &cfg.secret_env) {
            (Some(s), _) => Some(s.clone()),
            (None, Some(var)) => Some(env(var).ok_or_else(|| {
                crate::config::ConfigError::Invalid(format!(
                    "webhook {}: environment variable {var} is not set",
                    cfg.url
                ))
            })?),
            (None, None) => None,
        };
        Ok(Webhook {
            url: cfg.url.clone(),
            secret: secret.map(String::into_bytes),
            min_severity: cfg.min_severity,
            max_attempts: cfg.max_attempts.max(1),
            initial_backoff: Duration::from_millis(cfg.initial_backoff_ms),
        })
    }
}

/// `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        // HMAC takes keys of any length; this arm cannot be reached.
        Err(_) => String::new(),
    }
}

/// How alerts reach owners' escalation webhooks (the URL comes with each alert).
#[derive(Clone)]
struct EscalationSettings {
    secret: Option<Vec<u8>>,
    min_severity: Severity,
    max_attempts: u32,
    initial_backoff: Duration,
}

impl EscalationSettings {
    fn from_config(
        cfg: &EscalationConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let secret = match (&cfg.secret, &cfg.secret_env) {
            (Some(s), _) => Some(s.clone()),
            (None, Some(var)) => Some(env(var).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "owner_escalation: environment variable {var} is not set"
                ))
            })?),
            (None, None) => None,
        };
        Ok(EscalationSettings {
            secret: secret.map(String::into_bytes),
            min_severity: cfg.min_severity,
            max_attempts: cfg.max_attempts.max(1),
            initial_backoff: Duration::from_millis(cfg.initial_backoff_ms),
        })
    }

    fn hook_for(&self, url: String) -> Webhook {
        Webhook {
            url,
            secret: self.secret.clone(),
            min_severity: self.min_severity,
            max_attempts: self.max_attempts,
            initial_backoff: self.initial_backoff,
        }
    }
}

impl Default for EscalationSettings {
    fn default() -> Self {
        let cfg = EscalationConfig::default();
        EscalationSettings {
            secret: None,
            min_severity: cfg.min_severity,
            max_attempts: cfg.max_attempts.max(1),
            initial_backoff: Duration::from_millis(cfg.initial_backoff_ms),
        }
    }
}

/// One alert for one owner's webhook.
struct Escalation {
    url: String,
    alert: Arc<OwnedAlert>,
}

/// The queues of the running webhook senders, and the API owners whose
/// escalation webhooks also receive alerts.
#[derive(Clone, Default)]
pub struct Webhooks {
    queues: Vec<(Severity, mpsc::Sender<Arc<OwnedAlert>>)>,
    owners: Arc<Owners>,
    escalations: Option<mpsc::Sender<Escalation>>,
    escalation_settings: Arc<RwLock<EscalationSettings>>,
}

impl Webhooks {
    /// One sender task per webhook, and one for owners' escalation webhooks;
    /// they stop when `shutdown` turns true. Owners set through the API are
    /// read from `store` here; config defaults come with [`Webhooks::configure_owners`].
    pub fn start(
        hooks: Vec<Webhook>,
        store: Arc<dyn Store>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let owners = Owners::from_store(store.as_ref()).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read API owners from the store; alerts go out without owners");
            Owners::default()
        });
        let escalation_settings = Arc::new(RwLock::new(EscalationSettings::default()));
        let (escalations, escalation_rx) = mpsc::channel(QUEUE);
        tokio::spawn(run_escalations(
            escalation_rx,
            Arc::clone(&escalation_settings),
            client.clone(),
            Arc::clone(&store),
            shutdown.clone(),
        ));
        let queues = hooks
            .into_iter()
            .map(|hook| {
                let (tx, rx) = mpsc::channel(QUEUE);
                let min = hook.min_severity;
                tokio::spawn(run(
                    hook,
                    rx,
                    client.clone(),
                    Arc::clone(&store),
                    shutdown.clone(),
                ));
                (min, tx)
            })
            .collect();
        Webhooks {
            queues,
            owners: Arc::new(owners),
            escalations: Some(escalations),
            escalation_settings,
        }
    }

    /// Take the config file's default owners and `[owner_escalation]` settings.
    pub fn configure_owners(
        &self,
        config: &Config,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let settings = EscalationSettings::from_config(&config.owner_escalation, env)?;
        if let Ok(mut s) = self.escalation_settings.write() {
            *s = settings;
        }
        self.owners.set_configured(&config.owners);
        Ok(())
    }

    /// The API owners every outgoing alert is stamped with.
    pub fn owners(&self) -> &Arc<Owners> {
        &self.owners
    }

    pub fn dispatch(&self, alert: &Arc<Alert>) {
        let owner = self.owners.owner_of(&alert.api);
        let owned = Arc::new(crate::owners::stamp_with(alert, owner.as_ref()));
        for (min, queue) in &self.queues {
            if alert.severity >= *min && queue.try_send(Arc::clone(&owned)).is_err() {
                metrics::counter!("apiwarden_webhook_dropped_total").increment(1);
            }
        }
        let Some(url) = owner.and_then(|o| o.escalation_webhook) else {
            return;
        };
        let min = self
            .escalation_settings
            .read()
            .map(|s| s.min_severity)
            .unwrap_or(Severity::Medium);
        if alert.severity < min {
            return;
        }
        if let Some(queue) = &self.escalations {
            if queue.try_send(Escalation { url, alert: owned }).is_err() {
                metrics::counter!("apiwarden_webhook_dropped_total").increment(1);
            }
        }
    }
}

async fn run_escalations(
    mut rx: mpsc::Receiver<Escalation>,
    settings: Arc<RwLock<EscalationSettings>>,
    client: reqwest::Client,
    store: Arc<dyn Store>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(CONCURRENT_ESCALATIONS));
    loop {
        let job = tokio::select! {
            j = rx.recv() => match j { Some(j) => j, None => return },
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let Ok(hook) = settings.read().map(|s| s.hook_for(job.url)) else {
            return;
        };
        let body = match serde_json::to_vec(job.alert.as_ref()) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode alert for an owner webhook");
                continue;
            }
        };
        let (client, store, mut shutdown) = (client.clone(), Arc::clone(&store), shutdown.clone());
        tokio::spawn(async move {
            let _slot = slot;
            if let Some(letter) =
                deliver(&hook, &client, &job.alert.alert.id, body, &mut shutdown).await
            {
                bury(store.as_ref(), letter);
            }
        });
    }
}

/// Keep a delivery that failed every attempt, for an operator to replay.
fn bury(store: &dyn Store, letter: DeadLetter) {
    metrics::counter!("apiwarden_webhook_dead_letters_total").increment(1);
    let batch = WriteBatch {
        dead_letters: vec![letter],
        ..WriteBatch::default()
    };
    if let Err(e) = store.submit(batch, None) {
        tracing::error!(error = %e, "cannot store webhook dead letter");
    }
}

async fn run(
    hook: Webhook,
    mut rx: mpsc::Receiver<Arc<OwnedAlert>>,
    client: reqwest::Client,
    store: Arc<dyn Store>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let alert = tokio::select! {
            a = rx.recv() => match a { Some(a) => a, None => return },
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let body = match serde_json::to_vec(alert.as_ref()) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode alert for webhook");
                continue;
            }
        };
        if let Some(letter) = deliver(&hook, &client, &alert.alert.id, body, &mut shutdown).await {
            bury(store.as_ref(), letter);
        }
    }
}

/// `None` when delivered; the dead letter when every attempt failed.
async fn deliver(
    hook: &Webhook,
    client: &reqwest::Client,
    alert_id: &str,
    body: Vec<u8>,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<DeadLetter> {
    let mut backoff = hook.initial_backoff;
    let mut last_error = String::new();
    for attempt in 1..=hook.max_attempts {
        let mut req = client
            .post(&hook.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
        if let Some(secret) = &hook.secret {
            req = req.header(SIGNATURE_HEADER, signature(secret, &body));
        }
        match req.send().await {
            Ok(resp) if resp.status().is_success() => {
                metrics::counter!("apiwarden_webhook_delivered_total").increment(1);
                return None;
            }
            Ok(resp) => last_error = format!("HTTP {}", resp.status()),
            Err(e) => last_error = e.to_string(),
        }
        tracing::warn!(url = %hook.url, attempt, error = %last_error, "webhook delivery failed");
        if attempt < hook.max_attempts {
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
            backoff = backoff.saturating_mul(2);
        }
    }
    Some(DeadLetter {
        url: hook.url.clone(),
        alert_id: alert_id.to_string(),
        attempts: hook.max_attempts,
        last_error,
        failed_ms: crate::now_ms(),
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiwarden_alert::{ApiOwner, AttackType};
    use apiwarden_store::MemoryStore;
    use axum::http::HeaderMap;
    use std::sync::Mutex;

    fn alert(api: &str, severity: Severity) -> Arc<Alert> {
        let id = format!("{api}-{}", severity.as_str());
        Arc::new(Alert::example(&id, api, AttackType::Enumeration, severity))
    }

    type Seen = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

    /// A receiver recording (path, signature, body) of every POST.
    async fn receiver() -> (String, Seen) {
        let seen: Seen = Arc::default();
        let record = Arc::clone(&seen);
        let app = axum::Router::new().route(
            "/{*path}",
            axum::routing::post(
                move |axum::extract::Path(path): axum::extract::Path<String>,
                      headers: HeaderMap,
                      body: axum::body::Bytes| {
                    let record = Arc::clone(&record);
                    async move {
                        let sig = headers
                            .get(SIGNATURE_HEADER)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        if let Ok(mut s) = record.lock() {
                            s.push((path, sig, body.to_vec()));
                        }
                        "ok"
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), seen)
    }

    #[tokio::test]
    async fn alerts_reach_their_owners_webhook_signed_and_stamped() {
        let (base, seen) = receiver().await;
        let store = Arc::new(MemoryStore::new());
        let (_tx, shutdown) = watch::channel(false);
        let hooks = Webhooks::start(Vec::new(), store.clone() as Arc<dyn Store>, shutdown);
        let config = Config::from_toml(
            "[owner_escalation]\nsecret = \"s3\"\nmin_severity = \"high\"\nmax_attempts = 2\ninitial_backoff_ms = 10\n",
            std::path::Path::new("x.toml"),
        )
        .expect("config");
        hooks
            .configure_owners(&config, |_| None)
            .expect("configure");
        let owner = |api: &str, url: String| ApiOwner {
            team: format!("{api}-team"),
            escalation_webhook: Some(url),
            ..ApiOwner::default()
        };
        let owners = hooks.owners();
        owners
            .assign(store.as_ref(), "pay", owner("pay", format!("{base}/pay")))
            .expect("assign");
        // Nobody listens on port 9 of loopback: every attempt fails.
        owners
            .assign(
                store.as_ref(),
                "gone",
                owner("gone", "http://127.0.0.1:9/x".into()),
            )
            .expect("assign");

        hooks.dispatch(&alert("pay", Severity::Medium));
        hooks.dispatch(&alert("pay", Severity::Critical));
        hooks.dispatch(&alert("nobody", Severity::Critical));
        hooks.dispatch(&alert("gone", Severity::Critical));

        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while store.dead_letters(10).expect("dead letters").is_empty()
            || seen.lock().map(|s| s.is_empty()).unwrap_or(true)
        {
            assert!(tokio::time::Instant::now() < deadline, "no delivery");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(
            seen.len(),
            1,
            "below min_severity and unowned alerts are not sent"
        );
        let (path, sig, body) = &seen[0];
        assert_eq!(path, "pay");
        assert_eq!(sig, &signature(b"s3", body));
        let sent: OwnedAlert = serde_json::from_slice(body).expect("json");
        assert_eq!(sent.alert.id, "pay-critical");
        assert_eq!(sent.owner.map(|o| o.team), Some("pay-team".into()));
        let dead = store.dead_letters(10).expect("dead letters");
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].alert_id, "gone-critical");
        assert_eq!(dead[0].attempts, 2);
    }

    #[tokio::test]
    async fn https_owner_webhooks_are_spoken_to_in_tls() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let first_byte = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.expect("accept");
            let mut byte = [0u8; 1];
            conn.read_exact(&mut byte).await.expect("read");
            byte[0]
        });
        let store = Arc::new(MemoryStore::new());
        let (_tx, shutdown) = watch::channel(false);
        let hooks = Webhooks::start(Vec::new(), store.clone() as Arc<dyn Store>, shutdown);
        let owner = ApiOwner {
            team: "t".into(),
            escalation_webhook: Some(format!("https://{addr}/hook")),
            ..ApiOwner::default()
        };
        hooks
            .owners()
            .assign(store.as_ref(), "pay", owner)
            .expect("assign");
        hooks.dispatch(&alert("pay", Severity::Critical));
        let byte = tokio::time::timeout(Duration::from_secs(20), first_byte)
            .await
            .expect("a connection")
            .expect("task");
        assert_eq!(byte, 0x16, "a TLS handshake record opens the connection");
    }

    #[test]
    fn signature_matches_rfc4231_case_2() {
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
