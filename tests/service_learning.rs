//! Learning mode through the real binary: with no model at all, the service
//! trains by itself once an API has `train.learn_after_records` records, the
//! model status of each API shows in `GET /v1/apis`, and an API first seen
//! after training is scored on the bundle's population model.

mod service_common;

use serde_json::{json, Value};
use service_common::*;
use std::process::Command;

fn config_learning_after(dir: &std::path::Path, records: u64) -> std::path::PathBuf {
    let path = dir.join("learning.toml");
    let text = format!(
        r#"
shards = 2

[[keys]]
name = "gateway"
key = "{INGEST_KEY}"
roles = ["ingest"]

[[keys]]
name = "dashboard"
key = "{READ_KEY}"
roles = ["read"]

[train]
learn_after_records = {records}
"#
    );
    std::fs::write(&path, text).expect("write config");
    path
}

fn apis(server: &Server) -> Value {
    client()
        .get(server.url("/v1/apis"))
        .bearer_auth(READ_KEY)
        .send()
        .expect("apis")
        .json()
        .expect("apis json")
}

fn model_of<'a>(apis: &'a Value, name: &str) -> Option<&'a str> {
    apis["apis"]
        .as_array()?
        .iter()
        .find(|a| a["name"] == name)?["model"]
        .as_str()
}

#[test]
fn a_new_service_trains_itself_after_enough_traffic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = dir.path().join("sim");
    let out = Command::new(env!("CARGO_BIN_EXE_apiwarden"))
        .args(["simulate", "--scale", "0.05", "--seed", "5", "--out"])
        .arg(&sim)
        .output()
        .expect("simulate");
    assert!(out.status.success(), "{out:?}");
    let train = std::fs::read_to_string(sim.join("train.ndjson")).expect("train.ndjson");

    let data = dir.path().join("data");
    let config = config_learning_after(dir.path(), 2000);
    let server = Server::start(&data, &config);

    // Learning: no model yet, so no API is trained and records score 0.
    let first: Vec<&str> = train.lines().take(500).collect();
    let ids = ingest_ndjson(&server, &first.join("\n"), 500);
    let before = apis(&server);
    assert_eq!(before["model_version"], 0, "{before}");
    let names: Vec<String> = before["apis"]
        .as_array()
        .expect("apis")
        .iter()
        .filter_map(|a| a["name"].as_str().map(str::to_string))
        .collect();
    assert!(!names.is_empty(), "{before}");
    for name in &names {
        assert_eq!(model_of(&before, name), Some("learning"), "{before}");
    }
    let scored = eventually(30, "a score in learning mode", || {
        let r = client()
            .get(server.url(&format!("/v1/scores/{}", ids.first()?)))
            .bearer_auth(READ_KEY)
            .send()
            .ok()?;
        (r.status() == 200)
            .then(|| r.json::<Value>().ok())
            .flatten()
    });
    assert_eq!(scored["score"], 0.0, "{scored}");

    // Past the threshold the service trains on its own stored traffic.
    ingest_ndjson(&server, &train, 1000);
    let after = eventually(90, "automatic training", || {
        let a = apis(&server);
        (a["model_version"].as_u64() >= Some(1)).then_some(a)
    });
    let trained: Vec<&str> = after["apis"]
        .as_array()
        .expect("apis")
        .iter()
        .filter(|a| a["model"] == "trained")
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert!(!trained.is_empty(), "{after}");

    // An API first seen after training is scored on the population model.
    let newcomer: String = (0..50)
        .map(|i| {
            format!(
                "{}\n",
                json!({"ts": 1_790_000_000_000_i64 + i, "api": "newcomer", "method": "GET",
                       "path": format!("/v1/things/{i}"), "status": 200, "latency_ms": 12,
                       "request_bytes": 300, "response_bytes": 2000,
                       "client_ip": "10.9.8.7", "user": "u1"})
            )
        })
        .collect();
    ingest_ndjson(&server, &newcomer, 50);
    let seen = eventually(30, "the newcomer API in /v1/apis", || {
        let a = apis(&server);
        model_of(&a, "newcomer").map(str::to_string)
    });
    assert_eq!(seen, "population");

    // The learned model is persisted: a restart serves it again.
    assert!(server.stop().success());
    let server = Server::start(&data, &config);
    let reloaded = apis(&server);
    // (Later retrains, for APIs that reached the threshold after the first one, may have added versions.)
    assert!(
        reloaded["model_version"].as_u64() >= after["model_version"].as_u64(),
        "{reloaded}"
    );
    assert!(
        reloaded["apis"]
            .as_array()
            .expect("apis")
            .iter()
            .any(|a| a["model"] == "trained"),
        "{reloaded}"
    );
}
