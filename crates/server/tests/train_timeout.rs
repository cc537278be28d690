//! `POST /v1/train` answers with the training's real outcome however long
//! it takes: the request timeout does not cut it short (the models would be
//! trained and installed anyway, behind a 408).

use apiwarden_record::{AccessRecord, Fingerprinter};
use apiwarden_server::{app, AppState, Config, Role};
use apiwarden_store::{MemoryStore, RecordEntry, Store};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

const ADMIN: &str = "admin-secret";

fn record(i: u64) -> RecordEntry {
    let user = i % 300;
    let api = ["shop", "bank", "maps"][(i % 3) as usize];
    RecordEntry {
        api: api.into(),
        record: AccessRecord {
            id: None,
            ts_ms: 1_790_000_000_000 + i as i64 * 20,
            api: Some(api.into()),
            host: None,
            method: "GET".into(),
            path: format!("/v1/items/{}", i % 5000),
            status: if i.is_multiple_of(40) { 404 } else { 200 },
            latency_ms: 5.0 + (i % 30) as f64,
            request_bytes: 200 + i % 100,
            response_bytes: 1000 + (i * 7919) % 20_000,
            client_ip: std::net::IpAddr::from([10, 0, (user / 256) as u8, (user % 256) as u8]),
            country: None,
            geo: None,
            user: Some(format!("user{user}")),
            api_key: None,
            token: None,
            user_agent: Some("test/1".into()),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_longer_than_the_request_timeout_still_answers_with_its_model() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let mut records: Vec<RecordEntry> = (0..8_000).map(record).collect();
    let (tx, rx) = tokio::sync::oneshot::channel();
    store
        .submit_records(
            &mut records,
            Some(Box::new(move |res| {
                let _ = tx.send(res);
            })),
        )
        .expect("submit");
    rx.await.expect("ack").expect("stored");

    let mut config = Config::default();
    config.limits.request_timeout_secs = 1;
    config.train.learn_after_records = 0;
    let mut keys = apiwarden_server::auth::KeyRing::default();
    keys.add("admin", ADMIN, [Role::Admin]);
    let state =
        AppState::new(config, store, keys, Fingerprinter::new([7; 32])).expect("service state");
    let request = Request::post("/v1/train")
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Body::empty())
        .expect("request");
    let started = Instant::now();
    let response = app(state).oneshot(request).await.expect("response");
    let took = started.elapsed();
    assert!(
        took > Duration::from_secs(1),
        "training took {took:?}, under the 1 s timeout: give it more records"
    );
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let report: serde_json::Value = serde_json::from_slice(&body).expect("JSON report");
    assert_eq!(report["version"], 1, "{report}");
    assert_eq!(report["records_used"], 8_000, "{report}");
}
