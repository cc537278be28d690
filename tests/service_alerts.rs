//! Live detection through the real binary: benign traffic in, `POST
//! /v1/train`, then the simulator's attack traffic flows in while a client
//! watches `GET /v1/alerts/stream`; alerts, blocklist and entity behavior are
//! queried, and the model and alerts are still there after a restart.

mod service_common;

use serde_json::Value;
use service_common::*;
use std::io::{BufRead, BufReader};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn attack_traffic_raises_alerts_on_the_stream_and_survives_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = dir.path().join("sim");
    let status = Command::new(env!("CARGO_BIN_EXE_apiwarden"))
        .args(["simulate", "--scale", "0.05", "--seed", "3", "--out"])
        .arg(&sim)
        .output()
        .expect("simulate");
    assert!(status.status.success(), "{status:?}");
    let train = std::fs::read_to_string(sim.join("train.ndjson")).expect("train.ndjson");
    let test = std::fs::read_to_string(sim.join("test.ndjson")).expect("test.ndjson");

    let data = dir.path().join("data");
    let config = write_config(dir.path(), "");
    let server = Server::start(&data, &config);
    ingest_ndjson(&server, &train, 1000);

    let c = client();
    let trained: Value = c
        .post(server.url("/v1/train"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .expect("train")
        .json()
        .expect("train answer");
    assert_eq!(trained["version"], 1, "{trained}");
    assert!(!trained["apis"].as_array().expect("apis").is_empty());

    // Watch the stream while the attack traffic comes in.
    let (tx, rx) = mpsc::channel::<Value>();
    let stream = client()
        .get(server.url("/v1/alerts/stream"))
        .bearer_auth(READ_KEY)
        .send()
        .expect("stream");
    assert_eq!(stream.status(), 200);
    assert!(stream
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream")));
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(data) = line.strip_prefix("data:") {
                if let Ok(v) = serde_json::from_str::<Value>(data.trim()) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
        }
    });
    ingest_ndjson(&server, &test, 1000);
    let first = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("an alert on the stream");
    for field in [
        "id",
        "attack",
        "severity",
        "api",
        "entity",
        "score",
        "threshold",
        "first_seen",
        "last_seen",
        "request_ids",
        "evidence",
    ] {
        assert!(first.get(field).is_some(), "alert lacks `{field}`: {first}");
    }

    let alert_id = first["id"].as_str().expect("id").to_string();
    let stored = eventually(30, "the streamed alert in the store", || {
        let r = c
            .get(server.url(&format!("/v1/alerts/{alert_id}")))
            .bearer_auth(READ_KEY)
            .send()
            .ok()?;
        (r.status() == 200)
            .then(|| r.json::<Value>().ok())
            .flatten()
    });
    assert_eq!(stored["id"], first["id"]);
    let listed: Value = c
        .get(server.url("/v1/alerts?limit=500"))
        .bearer_auth(READ_KEY)
        .send()
        .expect("alerts")
        .json()
        .expect("alerts json");
    let alerts = listed["alerts"].as_array().expect("alerts").clone();
    assert!(!alerts.is_empty());
    let attack = first["attack"].as_str().expect("attack");
    let filtered: Value = c
        .get(server.url(&format!("/v1/alerts?attack={attack}&limit=500")))
        .bearer_auth(READ_KEY)
        .send()
        .expect("alerts")
        .json()
        .expect("alerts json");
    assert!(filtered["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .all(|a| a["attack"] == attack));

    // The blocklist names entities with open alerts (any severity here).
    let blocklist: Value = c
        .get(server.url("/v1/blocklist?severity=low,medium,high,critical"))
        .bearer_auth(READ_KEY)
        .send()
        .expect("blocklist")
        .json()
        .expect("blocklist json");
    assert!(blocklist["entities"].is_array(), "{blocklist}");

    // Behavior of the entities behind the alerts (not the API-wide one): at
    // least one still has live windows (idle entities may have been evicted).
    let mut found = 0;
    for a in alerts.iter().filter(|a| a["entity"]["kind"] != "api") {
        let kind = a["entity"]["kind"].as_str().expect("kind");
        let value = a["entity"]["value"].as_str().expect("value");
        let api = a["api"].as_str().expect("api");
        let r = c
            .get(server.url(&format!("/v1/entities/{kind}/{value}?api={api}")))
            .bearer_auth(READ_KEY)
            .send()
            .expect("entity");
        match r.status().as_u16() {
            200 => {
                let e: Value = r.json().expect("entity json");
                assert!(e["apis"][0]["features"].is_object(), "{e}");
                assert_eq!(e["entity"]["value"], value);
                found += 1;
            }
            404 => {}
            other => panic!("entity {kind} {value}: HTTP {other}"),
        }
    }
    assert!(found > 0, "no alerted entity has behavior state");
    let secrets_in_alerts = listed.to_string();
    assert!(
        !secrets_in_alerts.contains("pk_live_"),
        "API keys only as fingerprints"
    );

    assert_eq!(server.stop().code(), Some(0));
    let server = Server::start(&data, &config);
    let apis: Value = c
        .get(server.url("/v1/apis"))
        .bearer_auth(READ_KEY)
        .send()
        .expect("apis")
        .json()
        .expect("apis json");
    assert_eq!(apis["model_version"], 1, "the model is reloaded: {apis}");
    assert!(apis["apis"]
        .as_array()
        .expect("apis")
        .iter()
        .any(|a| a["model"] == "trained"));
    let r = c
        .get(server.url(&format!("/v1/alerts/{alert_id}")))
        .bearer_auth(READ_KEY)
        .send()
        .expect("alert");
    assert_eq!(r.status(), 200);
    let after: Value = c
        .get(server.url("/v1/blocklist?severity=low,medium,high,critical"))
        .bearer_auth(READ_KEY)
        .send()
        .expect("blocklist")
        .json()
        .expect("blocklist json");
    assert_eq!(
        after, blocklist,
        "open alerts stay on the blocklist across a restart"
    );
}
