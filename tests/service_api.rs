//! The service end to end through the real binary: ingest in every format,
//! answers per line, secrets never in clear, queries, limits, auth on every
//! route, and data that survives a restart.

mod service_common;

use serde_json::{json, Value};
use service_common::*;
use std::io::Write;

fn rec(id: &str, ts_ms: i64, path: &str) -> Value {
    json!({
        "id": id, "ts": ts_ms, "host": "shop.example.com", "method": "GET", "path": path,
        "status": 200, "latency_ms": 12.5, "request_bytes": 120, "response_bytes": 2400,
        "client_ip": "10.1.2.3", "user": "alice", "token": "secret-token-123",
        "user_agent": "test/1"
    })
}

fn post(server: &Server, query: &str, ct: &str, body: Vec<u8>, gzip: bool) -> (u16, Value) {
    let mut req = client()
        .post(server.url(&format!("/v1/records{query}")))
        .bearer_auth(INGEST_KEY)
        .header("content-type", ct);
    if gzip {
        req = req.header("content-encoding", "gzip");
    }
    let resp = req.body(body).send().expect("ingest");
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

fn get(server: &Server, path: &str, key: &str) -> (u16, Value) {
    let resp = client()
        .get(server.url(path))
        .bearer_auth(key)
        .send()
        .expect("get");
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

#[test]
fn ingest_every_format_then_query_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "");
    let server = Server::start(&dir.path().join("data"), &config);
    let t0 = 1_790_000_000_000_i64;

    // JSON array: one bad record among good ones is rejected alone, naming its field.
    let mut bad = rec("j-bad", t0, "/v1/items/1");
    bad["status"] = json!(700);
    let body = serde_json::to_vec(&json!([
        rec("j1", t0, "/v1/items/1"),
        bad,
        rec("j2", t0 + 1, "/v1/items/2")
    ]))
    .expect("json");
    let (status, v) = post(&server, "", "application/json", body, false);
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["accepted"].as_u64(), v["rejected"].as_u64()),
        (Some(2), Some(1)),
        "{v}"
    );
    assert_eq!(v["errors"][0]["line"], 2);
    assert_eq!(v["errors"][0]["field"], "status");
    assert_eq!(v["ids"], json!(["j1", "j2"]));

    // NDJSON, with records lacking an id: the service assigns unique ones.
    let mut a = rec("", t0 + 2, "/v1/items/3");
    a.as_object_mut().expect("object").remove("id");
    let b = a.clone();
    let body = format!("{a}\n{b}\n");
    let (status, v) = post(
        &server,
        "",
        "application/x-ndjson",
        body.into_bytes(),
        false,
    );
    assert_eq!(status, 200, "{v}");
    let ids = v["ids"].as_array().expect("ids");
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);

    // MessagePack array of maps.
    let body = rmp_serde::to_vec_named(&vec![rec("m1", t0 + 3, "/v1/items/4")]).expect("msgpack");
    let (status, v) = post(&server, "", "application/msgpack", body, false);
    assert_eq!((status, v["accepted"].as_u64()), (200, Some(1)), "{v}");

    // gzip-encoded NDJSON.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    writeln!(enc, "{}", rec("g1", t0 + 4, "/v1/items/5")).expect("gzip");
    let (status, v) = post(
        &server,
        "",
        "application/x-ndjson",
        enc.finish().expect("gzip"),
        true,
    );
    assert_eq!((status, v["accepted"].as_u64()), (200, Some(1)), "{v}");

    // Gateway presets: nginx JSON log lines and combined log lines.
    let nginx = r#"{"time_iso8601":"2026-10-01T12:00:00+00:00","remote_addr":"10.9.8.7","request_method":"POST","request_uri":"/v1/login","status":401,"request_time":0.012,"request_length":300,"bytes_sent":120,"http_host":"shop.example.com","http_user_agent":"curl/8","remote_user":"","http_authorization":"Bearer nginx-secret","http_x_api_key":"","request_id":"n1","geoip_country_code":"FR"}"#;
    let (status, v) = post(
        &server,
        "?format=nginx_json",
        "text/plain",
        nginx.as_bytes().to_vec(),
        false,
    );
    assert_eq!((status, v["accepted"].as_u64()), (200, Some(1)), "{v}");
    let combined = "10.9.8.6 - bob [01/Oct/2026:12:00:01 +0000] \"GET /v1/items/9 HTTP/1.1\" 200 512 \"-\" \"curl/8\" 0.004\nnot a log line\n";
    let (status, v) = post(
        &server,
        "?format=combined",
        "text/plain",
        combined.as_bytes().to_vec(),
        false,
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["accepted"].as_u64(), v["rejected"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    assert_eq!(v["errors"][0]["line"], 2);

    // Combined logs carry no host: `?api=` names the API of the batch.
    let combined = "10.9.8.5 - - [01/Oct/2026:12:00:02 +0000] \"GET /v1/items/10 HTTP/1.1\" 200 512 \"-\" \"curl/8\" 0.004\n";
    let (status, v) = post(
        &server,
        "?format=combined&api=storefront",
        "text/plain",
        combined.as_bytes().to_vec(),
        false,
    );
    assert_eq!((status, v["accepted"].as_u64()), (200, Some(1)), "{v}");
    let id = v["ids"][0].as_str().expect("assigned id").to_string();
    let (status, rec) = get(&server, &format!("/v1/records/{id}"), READ_KEY);
    assert_eq!(status, 200, "{rec}");
    assert!(rec.to_string().contains("\"storefront\""), "{rec}");
    let (status, _) = post(
        &server,
        "?format=combined&api=",
        "text/plain",
        combined.as_bytes().to_vec(),
        false,
    );
    assert_eq!(status, 400);

    // Bad requests.
    let (status, _) = post(&server, "", "text/csv", b"a,b".to_vec(), false);
    assert_eq!(status, 400);
    let (status, _) = post(
        &server,
        "?format=yaml",
        "application/json",
        b"[]".to_vec(),
        false,
    );
    assert_eq!(status, 400);
    // Over the body limit once decompressed (a gzip bomb is refused, not inflated).
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![b' '; 4_100_000]).expect("gzip");
    let (status, v) = post(
        &server,
        "",
        "application/json",
        enc.finish().expect("gzip"),
        true,
    );
    assert_eq!(status, 413, "{v}");
    assert!(v["error"].is_string());

    // Stored with secrets as fingerprints only.
    let (status, r) = get(&server, "/v1/records/j1", READ_KEY);
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["api"], "shop");
    let token = r["token"].as_str().expect("token");
    assert!(token.starts_with("fp:"), "{token}");
    assert!(!r.to_string().contains("secret-token-123"));
    let (_, n) = get(&server, "/v1/records/n1", READ_KEY);
    assert!(
        n["token"].as_str().is_some_and(|t| t.starts_with("fp:")),
        "{n}"
    );
    assert!(!n.to_string().contains("nginx-secret"));
    let (_, listed) = get(&server, "/v1/records?api=shop&limit=100", READ_KEY);
    let listed = listed["records"].as_array().expect("records").len();
    assert_eq!(
        listed, 7,
        "the shop records of the JSON, NDJSON, msgpack, gzip and nginx bodies"
    );

    // Every accepted record gets a score once scored.
    let score = eventually(30, "score of j2", || {
        let (status, v) = get(&server, "/v1/scores/j2", READ_KEY);
        (status == 200).then_some(v)
    });
    assert_eq!(score["api"], "shop");
    let s = score["score"].as_f64().expect("score");
    assert!((0.0..=1.0).contains(&s));
    assert_eq!(get(&server, "/v1/scores/no-such-id", READ_KEY).0, 404);

    let (status, apis) = get(&server, "/v1/apis", READ_KEY);
    assert_eq!(status, 200);
    let names: Vec<&str> = apis["apis"]
        .as_array()
        .expect("apis")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert!(names.contains(&"shop"), "{apis}");
    let (status, alerts) = get(&server, "/v1/alerts?limit=10", READ_KEY);
    assert_eq!(status, 200);
    assert!(alerts["alerts"].is_array());
    assert_eq!(get(&server, "/v1/alerts?attack=nonsense", READ_KEY).0, 400);
    assert_eq!(get(&server, "/v1/alerts?since=yesterday", READ_KEY).0, 400);

    let metrics = client()
        .get(server.url("/metrics"))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    assert!(
        metrics.contains("apiwarden_ingest_records_total"),
        "{metrics}"
    );
    assert!(metrics.contains("apiwarden_ingest_rejected_total"));
    assert_eq!(server.stop().code(), Some(0));
}

#[test]
fn every_route_needs_a_key_with_the_right_role() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "");
    let server = Server::start(&dir.path().join("data"), &config);
    let c = client();
    for (method, path, role) in apiwarden_server::ROUTES {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let call = |key: Option<&str>| {
            let mut req = c.request(method.clone(), server.url(path));
            if let Some(k) = key {
                req = req.bearer_auth(k);
            }
            req.send().expect("request").status().as_u16()
        };
        match role {
            None => assert_eq!(call(None), 200, "{method} {path} is open"),
            Some(role) => {
                assert_eq!(call(None), 401, "{method} {path} without a key");
                assert_eq!(
                    call(Some("not-a-key")),
                    401,
                    "{method} {path} with an unknown key"
                );
                let wrong = match role {
                    apiwarden_server::Role::Ingest => READ_KEY,
                    _ => INGEST_KEY,
                };
                assert_eq!(
                    call(Some(wrong)),
                    403,
                    "{method} {path} with the wrong role"
                );
                if *role == apiwarden_server::Role::Admin {
                    assert_eq!(call(Some(READ_KEY)), 403, "{method} {path} with a read key");
                }
            }
        }
    }
}

#[test]
fn records_scores_and_settings_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let config = write_config(dir.path(), "");
    let server = Server::start(&data, &config);
    let lines: String = (0..50)
        .map(|i| {
            format!(
                "{}\n",
                rec(
                    &format!("r{i}"),
                    1_790_000_000_000 + i * 1000,
                    "/v1/items/7"
                )
            )
        })
        .collect();
    let ids = ingest_ndjson(&server, &lines, 20);
    assert_eq!(ids.len(), 50);
    eventually(30, "score of r49", || {
        (get(&server, "/v1/scores/r49", READ_KEY).0 == 200).then_some(())
    });
    let c = client();
    let put = c
        .put(server.url("/v1/apis/shop/thresholds"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"thresholds": {"alert_score": 0.7, "api_dos": 0.9}}))
        .send()
        .expect("put thresholds");
    assert_eq!(put.status(), 200);
    let bad = c
        .put(server.url("/v1/apis/shop/thresholds"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"thresholds": {"alert_score": 7}}))
        .send()
        .expect("put thresholds");
    assert_eq!(bad.status(), 400);
    let put = c
        .put(server.url("/v1/allowlist"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"kind": "ip", "value": "10.1.2.3", "note": "our monitor"}))
        .send()
        .expect("put allowlist");
    assert_eq!(put.status(), 200);
    assert_eq!(server.stop().code(), Some(0), "clean exit on SIGTERM");

    let server = Server::start(&data, &config);
    for id in ["r0", "r25", "r49"] {
        assert_eq!(
            get(&server, &format!("/v1/records/{id}"), READ_KEY).0,
            200,
            "{id}"
        );
        assert_eq!(
            get(&server, &format!("/v1/scores/{id}"), READ_KEY).0,
            200,
            "{id}"
        );
    }
    let (_, t) = get(&server, "/v1/apis/shop/thresholds", READ_KEY);
    assert_eq!(t["thresholds"]["alert_score"], 0.7);
    let (_, a) = get(&server, "/v1/allowlist", READ_KEY);
    assert_eq!(a["entries"][0]["value"], "10.1.2.3");
    let del = c
        .delete(server.url("/v1/allowlist?kind=ip&value=10.1.2.3"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .expect("delete");
    assert_eq!(del.status(), 200);
    let (_, a) = get(&server, "/v1/allowlist", READ_KEY);
    assert_eq!(a["entries"], json!([]));
    // New ids after a restart never collide with the old ones.
    let more = ingest_ndjson(
        &server,
        &format!(
            "{}\n",
            json!({"ts": 1_790_000_100_000_i64, "host": "shop.example.com", "method": "GET", "path": "/", "status": 200, "latency_ms": 1, "request_bytes": 1, "response_bytes": 1, "client_ip": "10.0.0.9"})
        ),
        10,
    );
    assert!(!ids.contains(&more[0]));
    assert_eq!(server.stop().code(), Some(0));
}

#[test]
fn large_ndjson_bodies_stream_past_the_body_limit_with_global_line_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "");
    let server = Server::start(&dir.path().join("data"), &config);
    // ~5 MB of NDJSON: over `max_body_bytes` (4 MB), taken in slices as it streams.
    let mut body = String::new();
    let n = 20_000;
    for i in 0..n {
        if i == 15_000 {
            body.push_str("{\"ts\": 1, \"method\": \"GET\"}\n");
        }
        body.push_str(&rec(&format!("s{i}"), 1_790_000_000_000 + i, "/v1/items/1").to_string());
        body.push('\n');
    }
    assert!(body.len() > 4_000_000);
    let (status, v) = post(
        &server,
        "",
        "application/x-ndjson",
        body.into_bytes(),
        false,
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["accepted"], n);
    assert_eq!(v["rejected"], 1);
    assert_eq!(
        v["errors"][0]["line"], 15_001,
        "line numbers count from the start of the body"
    );
    assert_eq!(get(&server, "/v1/records/s19999", READ_KEY).0, 200);
}

#[test]
fn ingest_over_the_per_key_rate_gets_429_with_retry_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("limited.toml");
    std::fs::write(
        &config,
        format!(
            "[[keys]]\nname = \"gw\"\nkey = \"{INGEST_KEY}\"\nroles = [\"ingest\"]\n\n\
             [limits]\ningest_records_per_sec = 1.0\ningest_burst_records = 30.0\n"
        ),
    )
    .expect("config");
    let server = Server::start(&dir.path().join("data"), &config);
    let batch = |from: i64| -> Vec<u8> {
        (from..from + 20)
            .map(|i| {
                format!(
                    "{}\n",
                    rec(&format!("q{i}"), 1_790_000_000_000 + i, "/v1/items/1")
                )
            })
            .collect::<String>()
            .into_bytes()
    };
    let (status, v) = post(&server, "", "application/x-ndjson", batch(0), false);
    assert_eq!(status, 200, "{v}");
    let resp = client()
        .post(server.url("/v1/records"))
        .bearer_auth(INGEST_KEY)
        .header("content-type", "application/x-ndjson")
        .body(batch(20))
        .send()
        .expect("ingest");
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After header");
    assert!(retry >= 1);
    let v: Value = resp.json().expect("json error body");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("rate")),
        "{v}"
    );
    // Nothing of the refused batch was stored.
    assert_eq!(get(&server, "/v1/records/q20", ADMIN_KEY).0, 404);
}
