//! "Accepted means durable" under `kill -9`: clients ingest continuously,
//! the server is killed without warning mid-stream, restarted on the same
//! data, and every record of every acknowledged batch must be there.
//! (`scripts/crash_test.sh` does the same at a larger scale.)

mod service_common;

use serde_json::{json, Value};
use service_common::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn no_acknowledged_record_is_lost_to_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let config = write_config(dir.path(), "");
    let mut acked_total = 0;
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    for round in 0..2 {
        let server = Server::start(&data, &config);
        let url = server.url("/v1/records");
        let clients: Vec<_> = (0..3)
            .map(|c| {
                let (url, acked) = (url.clone(), Arc::clone(&acked));
                std::thread::spawn(move || {
                    let http = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(20))
                        .build()
                        .expect("client");
                    for n in 0.. {
                        let ids: Vec<String> =
                            (0..100).map(|i| format!("k{round}-{c}-{n}-{i}")).collect();
                        let body: String = ids
                            .iter()
                            .enumerate()
                            .map(|(i, id)| {
                                format!(
                                    "{}\n",
                                    json!({"id": id, "ts": 1_790_000_000_000_i64 + i as i64, "api": "crash",
                                        "method": "GET", "path": "/v1/x", "status": 200, "latency_ms": 1,
                                        "request_bytes": 1, "response_bytes": 1, "client_ip": "10.0.0.1"})
                                )
                            })
                            .collect();
                        let resp = http
                            .post(&url)
                            .bearer_auth(INGEST_KEY)
                            .header("content-type", "application/x-ndjson")
                            .body(body)
                            .send();
                        let Ok(resp) = resp else { return };
                        if resp.status() != 200 {
                            return;
                        }
                        let Ok(answer) = resp.json::<Value>() else { return };
                        assert_eq!(answer["accepted"], 100);
                        acked.lock().expect("lock").extend(ids);
                        // Keep the volume small enough to list in one query.
                        std::thread::sleep(Duration::from_millis(20));
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(2000));
        drop(server); // SIGKILL: no shutdown, no final flush
        for c in clients {
            c.join().expect("client thread");
        }
        let now = acked.lock().expect("lock").len();
        assert!(now > acked_total, "round {round} acknowledged nothing");
        acked_total = now;
    }

    let server = Server::start(&data, &config);
    let (status, listed) = {
        let r = client()
            .get(server.url("/v1/records?api=crash&limit=100000"))
            .bearer_auth(READ_KEY)
            .send()
            .expect("list");
        (r.status().as_u16(), r.json::<Value>().expect("json"))
    };
    assert_eq!(status, 200);
    let stored: std::collections::HashSet<&str> = listed["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(stored.len() < 100_000, "listing was cut; raise the limit");
    let acked = acked.lock().expect("lock");
    let lost: Vec<&String> = acked
        .iter()
        .filter(|id| !stored.contains(id.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged records lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
}
