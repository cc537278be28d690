//! One detection code path: the same file scored offline by `apiwarden score`
//! and ingested into `apiwarden serve` (same bundle, same fingerprint key)
//! gives every record the same score and verdict, and the same alerts.

mod service_common;

use serde_json::Value;
use service_common::*;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

fn apiwarden(args: &[&OsStr]) {
    let out = Command::new(env!("CARGO_BIN_EXE_apiwarden"))
        .args(args)
        .output()
        .expect("run apiwarden");
    assert!(
        out.status.success(),
        "apiwarden {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ndjson(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("read ndjson")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

#[test]
fn offline_score_and_the_live_service_agree_record_by_record() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sim = tmp.path().join("sim");
    let models = tmp.path().join("models");
    let scores = tmp.path().join("scores.ndjson");
    let alerts = tmp.path().join("alerts.ndjson");
    let os = |s: &'static str| OsStr::new(s);
    apiwarden(&[
        os("simulate"),
        os("--out"),
        sim.as_os_str(),
        os("--seed"),
        os("5"),
        os("--scale"),
        os("0.05"),
    ]);
    apiwarden(&[
        os("train"),
        os("--input"),
        sim.join("train.ndjson").as_os_str(),
        os("--out"),
        models.as_os_str(),
    ]);
    let test = sim.join("test.ndjson");
    apiwarden(&[
        os("score"),
        os("--models"),
        models.as_os_str(),
        os("--input"),
        test.as_os_str(),
        os("--out"),
        scores.as_os_str(),
        os("--alerts"),
        alerts.as_os_str(),
    ]);
    let offline = ndjson(&scores);
    let offline_alerts = ndjson(&alerts);
    assert!(
        offline.len() > 10_000,
        "a real day of traffic: {}",
        offline.len()
    );
    assert!(
        !offline_alerts.is_empty(),
        "the simulated attacks alert offline"
    );

    let data = tmp.path().join("data");
    let config = write_config(tmp.path(), "");
    let server = Server::start_with(&data, &config, &[os("--models"), models.as_os_str()]);
    // One sender, batches in file order: each API's records reach its shard in order.
    let text = std::fs::read_to_string(&test).expect("read test file");
    let ids = ingest_ndjson(&server, &text, 1000);
    assert_eq!(ids.len(), offline.len());

    let c = client();
    let live_score = |id: &str| -> Option<Value> {
        let resp = c
            .get(server.url(&format!("/v1/scores/{id}")))
            .bearer_auth(READ_KEY)
            .send()
            .ok()?;
        (resp.status() == 200).then(|| resp.json().ok())?
    };
    // Scoring runs after the durable ack: wait for the last record of the file.
    let last = offline.last().and_then(|l| l["id"].as_str()).expect("id");
    eventually(120, "the last record scored", || live_score(last));

    let mut mismatches = Vec::new();
    for line in &offline {
        let id = line["id"].as_str().expect("offline id");
        let live = eventually(60, "a record scored", || live_score(id));
        let same_score = match (line["score"].as_f64(), live["score"].as_f64()) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-12,
            _ => false,
        };
        if !same_score || line["attack"] != live["attack"] || line["api"] != live["api"] {
            mismatches.push(format!("{id}: offline {line} live {live}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} records differ, e.g. {:?}",
        mismatches.len(),
        offline.len(),
        &mismatches[..mismatches.len().min(3)]
    );

    let resp: Value = c
        .get(server.url("/v1/alerts?limit=1000"))
        .bearer_auth(READ_KEY)
        .send()
        .expect("alerts")
        .json()
        .expect("alerts json");
    let live_alerts = resp["alerts"].as_array().cloned().unwrap_or_default();
    let key = |a: &Value| {
        (
            a["id"].as_str().unwrap_or_default().to_string(),
            (
                a["attack"].clone(),
                a["entity"].clone(),
                a["first_seen"].clone(),
            ),
        )
    };
    let offline_set: BTreeMap<_, _> = offline_alerts.iter().map(key).collect();
    let live_set: BTreeMap<_, _> = live_alerts.iter().map(key).collect();
    assert_eq!(
        offline_set, live_set,
        "the same alerts, by id, type, entity and first sighting"
    );
    server.stop();
}
