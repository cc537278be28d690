//! Webhook delivery against a real local receiver: signed body, retry after
//! a failure, and a dead letter in the store when every attempt fails.

use apiwarden_alert::{Alert, AttackType, Severity};
use apiwarden_server::webhooks::{signature, Webhook, Webhooks, SIGNATURE_HEADER};
use apiwarden_store::{MemoryStore, Store};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// (signature header, body) of one delivery.
type Delivery = (String, Vec<u8>);

fn alert(severity: Severity) -> Alert {
    Alert::example("a1", "shop", AttackType::CredentialStuffing, severity)
}

fn hook(url: String, attempts: u32) -> Webhook {
    Webhook {
        url,
        secret: Some(b"hook-secret".to_vec()),
        min_severity: Severity::Medium,
        max_attempts: attempts,
        initial_backoff: Duration::from_millis(20),
    }
}

#[tokio::test]
async fn signed_delivery_retries_then_dead_letters() {
    // Receiver: fails the first call, then records what it gets.
    let seen: Arc<Mutex<Vec<Delivery>>> = Arc::default();
    let calls = Arc::new(Mutex::new(0u32));
    let (seen2, calls2) = (Arc::clone(&seen), Arc::clone(&calls));
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (seen, calls) = (Arc::clone(&seen2), Arc::clone(&calls2));
            async move {
                let n = {
                    let mut c = calls.lock().expect("lock");
                    *c += 1;
                    *c
                };
                if n == 1 {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                let sig = headers
                    .get(SIGNATURE_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                seen.lock().expect("lock").push((sig, body.to_vec()));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });

    // A port nobody listens on, for the dead letter.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let closed_addr = closed.local_addr().expect("addr");
    drop(closed);

    let store = Arc::new(MemoryStore::new());
    let (_tx, shutdown) = tokio::sync::watch::channel(false);
    let hooks = Webhooks::start(
        vec![
            hook(format!("http://{addr}/hook"), 3),
            hook(format!("http://{closed_addr}/hook"), 2),
        ],
        store.clone() as Arc<dyn Store>,
        shutdown,
    );
    hooks.dispatch(&Arc::new(alert(Severity::Low)));
    hooks.dispatch(&Arc::new(alert(Severity::High)));

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let delivered = seen.lock().expect("lock").len();
        let dead = store.dead_letters(10).expect("dead letters").len();
        if delivered >= 1 && dead >= 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivered={delivered} dead={dead}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen.len(),
        1,
        "the low-severity alert is below min_severity"
    );
    let (sig, body) = &seen[0];
    assert_eq!(
        sig,
        &signature(b"hook-secret", body),
        "body signed with the shared secret"
    );
    let sent: Alert = serde_json::from_slice(body).expect("alert JSON");
    assert_eq!(sent.severity, Severity::High);
    assert_eq!(*calls.lock().expect("lock"), 2, "one failure, one retry");
    let dead = store.dead_letters(10).expect("dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 2);
    assert_eq!(dead[0].alert_id, "a1");
}
