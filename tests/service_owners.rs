//! API ownership through the real binary (issue #5): owners from the config
//! file and from `PUT /v1/apis/{api}/owner`, validation, persistence across a
//! restart, the unowned APIs in `GET /v1/apis`, the owner on every alert, and
//! delivery to the owner's escalation webhook (a loopback receiver here).

mod service_common;

use serde_json::{json, Value};
use service_common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

const OWNER_SECRET: &str = "owner-hook-secret";

/// (path, signature header, body) of one POST the receiver got.
struct Delivery {
    path: String,
    signature: String,
    body: Vec<u8>,
}

/// A minimal HTTP/1.1 server on 127.0.0.1 answering 200 to every request and
/// reporting each one on the channel.
fn start_receiver() -> (String, mpsc::Receiver<Delivery>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
    let addr = listener.local_addr().expect("receiver address");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(stream) = conn else { continue };
            if let Some(d) = read_request(stream) {
                if tx.send(d).is_err() {
                    return;
                }
            }
        }
    });
    (format!("http://{addr}"), rx)
}

fn read_request(mut stream: TcpStream) -> Option<Delivery> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let path = request_line.split_whitespace().nth(1)?.to_string();
    let (mut length, mut signature) = (0usize, String::new());
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "x-apiwarden-signature" => signature = value.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    stream
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .ok()?;
    Some(Delivery {
        path,
        signature,
        body,
    })
}

fn get_json(path: &str, server: &Server) -> Value {
    let resp = client()
        .get(server.url(path))
        .bearer_auth(READ_KEY)
        .send()
        .expect("GET");
    assert_eq!(resp.status(), 200, "GET {path}");
    resp.json().expect("json")
}

fn put_owner(server: &Server, api: &str, key: &str, body: &Value) -> (u16, Value) {
    let resp = client()
        .put(server.url(&format!("/v1/apis/{api}/owner")))
        .bearer_auth(key)
        .json(body)
        .send()
        .expect("PUT owner");
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

/// Alerts from `GET /v1/alerts/stream`, as they come.
fn watch_stream(server: &Server) -> mpsc::Receiver<Value> {
    let stream = client()
        .get(server.url("/v1/alerts/stream"))
        .bearer_auth(READ_KEY)
        .send()
        .expect("stream");
    assert_eq!(stream.status(), 200);
    let (tx, rx) = mpsc::channel();
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
    rx
}

fn simulate(dir: &std::path::Path) -> (String, String) {
    let sim = dir.join("sim");
    let out = Command::new(env!("CARGO_BIN_EXE_apiwarden"))
        .args(["simulate", "--scale", "0.05", "--seed", "3", "--out"])
        .arg(&sim)
        .output()
        .expect("simulate");
    assert!(out.status.success(), "{out:?}");
    (
        std::fs::read_to_string(sim.join("train.ndjson")).expect("train.ndjson"),
        std::fs::read_to_string(sim.join("test.ndjson")).expect("test.ndjson"),
    )
}

fn owners_config() -> String {
    r#"
[[owners]]
api = "partner"
team = "partner-config-team"
contact = "partners@example.com"

[[owners]]
api = "identity"
team = "identity-config-team"

[owner_escalation]
secret = "owner-hook-secret"
min_severity = "low"
initial_backoff_ms = 50
"#
    .to_string()
}

#[test]
fn owners_validate_survive_restart_and_reach_alerts_and_webhooks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (train, test) = simulate(dir.path());
    let (receiver, deliveries) = start_receiver();
    let data = dir.path().join("data");
    let config = write_config(dir.path(), &owners_config());
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

    // Before any PUT: config owners show, the rest (the discovered shop API too) is unowned.
    let listed = get_json("/v1/apis", &server);
    let apis = listed["apis"].as_array().expect("apis").clone();
    let names: Vec<String> = apis
        .iter()
        .filter_map(|a| a["name"].as_str().map(str::to_string))
        .collect();
    assert!(names.len() >= 4, "{listed}");
    let unowned: Vec<&str> = listed["unowned"]
        .as_array()
        .expect("unowned list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for a in &apis {
        let name = a["name"].as_str().expect("name");
        let configured = name == "partner" || name == "identity";
        assert_eq!(a["unowned"], !configured, "{a}");
        assert_eq!(unowned.contains(&name), !configured, "{listed}");
        if configured {
            assert_eq!(a["owner_source"], "config", "{a}");
            assert!(a["owner"]["team"]
                .as_str()
                .is_some_and(|t| t.ends_with("config-team")));
        } else {
            assert!(a["owner"].is_null(), "{a}");
        }
    }
    let shadow = names
        .iter()
        .find(|n| !["partner", "identity", "payments"].contains(&n.as_str()))
        .expect("the discovered (host-named) shop API")
        .clone();
    assert!(unowned.contains(&shadow.as_str()));
    assert_eq!(listed["owned_without_traffic"], json!([]), "{listed}");

    // Validation: clear 400s, nothing stored.
    for (body, field) in [
        (
            json!({"team": "t", "escalation_webhook": "ftp://x/"}),
            "escalation_webhook",
        ),
        (json!({"team": "t".repeat(129)}), "team"),
        (json!({"team": ""}), "team"),
        (json!({"team": "t", "notes": "n".repeat(4097)}), "notes"),
        (json!({"team": "t", "pager": "x"}), "pager"),
        (json!({"contact": "x"}), "team"),
    ] {
        let (status, answer) = put_owner(&server, "payments", ADMIN_KEY, &body);
        assert_eq!(status, 400, "{body} -> {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| e.contains(field)),
            "error names `{field}`: {answer}"
        );
    }
    assert!(get_json("/v1/apis/payments/owner", &server)["owner"].is_null());

    // Roles: read may GET, only admin may change; no key is 401.
    let (status, _) = put_owner(&server, "payments", READ_KEY, &json!({"team": "t"}));
    assert_eq!(status, 403);
    let (status, _) = put_owner(&server, "payments", INGEST_KEY, &json!({"team": "t"}));
    assert_eq!(status, 403);
    let anonymous = c
        .get(server.url("/v1/apis/payments/owner"))
        .send()
        .expect("GET");
    assert_eq!(anonymous.status(), 401);
    let anonymous = c
        .delete(server.url("/v1/apis/payments/owner"))
        .send()
        .expect("DELETE");
    assert_eq!(anonymous.status(), 401);

    // API-set owners: payments (new) and partner (over its config default).
    let hook = |api: &str| format!("{receiver}/owners/{api}");
    for api in ["payments", "partner", "identity"] {
        let body = json!({
            "team": format!("{api}-team"),
            "contact": format!("#{api}-oncall"),
            "escalation_webhook": hook(api),
            "notes": "set by the test",
        });
        let (status, answer) = put_owner(&server, api, ADMIN_KEY, &body);
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["source"], "api", "{answer}");
        assert_eq!(answer["owner"]["team"], format!("{api}-team"));
    }
    // DELETE returns to the config default; a second DELETE finds nothing.
    let removed: Value = c
        .delete(server.url("/v1/apis/identity/owner"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .expect("DELETE")
        .json()
        .expect("json");
    assert_eq!(removed["source"], "config", "{removed}");
    assert_eq!(removed["owner"]["team"], "identity-config-team");
    let again = c
        .delete(server.url("/v1/apis/identity/owner"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .expect("DELETE");
    assert_eq!(again.status(), 404);

    // Restart: the API-set owners are still there and still win.
    assert!(server.stop().success());
    let server = Server::start(&data, &config);
    let expected_team = |api: &str| match api {
        "payments" => Some("payments-team"),
        "partner" => Some("partner-team"),
        "identity" => Some("identity-config-team"),
        _ => None,
    };
    for api in ["payments", "partner", "identity"] {
        let got = get_json(&format!("/v1/apis/{api}/owner"), &server);
        assert_eq!(
            got["owner"]["team"],
            expected_team(api).unwrap_or(""),
            "{got}"
        );
    }
    // Webhook URLs often hold a secret: readers see scheme and host only, admins all of it.
    assert_eq!(
        get_json("/v1/apis/partner/owner", &server)["owner"]["escalation_webhook"],
        format!("{receiver}/…")
    );
    let as_admin: Value = c
        .get(server.url("/v1/apis/partner/owner"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .expect("GET")
        .json()
        .expect("json");
    assert_eq!(as_admin["owner"]["escalation_webhook"], hook("partner"));
    let (status, _) = put_owner(&server, "billing", ADMIN_KEY, &json!({"team": "billing"}));
    assert_eq!(status, 200, "an owner may be registered before any traffic");
    let listed = get_json("/v1/apis", &server);
    assert_eq!(
        listed["owned_without_traffic"],
        json!(["billing"]),
        "{listed}"
    );
    assert!(listed["unowned"]
        .as_array()
        .expect("unowned")
        .iter()
        .all(|a| a != "payments" && a != "partner" && a != "identity"));

    // Attack traffic: alerts carry their API's owner on the stream, in
    // queries and at owners' webhooks.
    let streamed = watch_stream(&server);
    ingest_ndjson(&server, &test, 1000);
    let on_stream = eventually(60, "an owned alert on the SSE stream", || {
        streamed
            .try_iter()
            .find(|a| a["api"].as_str().and_then(expected_team).is_some())
    });
    let api = on_stream["api"].as_str().expect("api");
    assert_eq!(
        on_stream["owner"]["team"],
        expected_team(api).unwrap_or(""),
        "{on_stream}"
    );
    let alerts = eventually(60, "alerts", || {
        let listed = get_json("/v1/alerts?limit=1000", &server);
        let alerts = listed["alerts"].as_array()?.clone();
        (!alerts.is_empty()).then_some(alerts)
    });
    let mut owned_alerts = 0;
    for a in &alerts {
        let api = a["api"].as_str().expect("api");
        match expected_team(api) {
            Some(team) => {
                assert_eq!(a["owner"]["team"], team, "{a}");
                owned_alerts += 1;
            }
            None => assert!(a.get("owner").is_none(), "unowned API, no owner: {a}"),
        }
    }
    assert!(owned_alerts > 0, "no alert on an owned API: {alerts:?}");
    let one = alerts
        .iter()
        .find(|a| a.get("owner").is_some())
        .expect("owned alert");
    let by_id = get_json(
        &format!("/v1/alerts/{}", one["id"].as_str().expect("id")),
        &server,
    );
    assert_eq!(by_id["owner"], one["owner"]);

    let delivery = deliveries
        .recv_timeout(Duration::from_secs(60))
        .expect("an alert at an owner's escalation webhook");
    assert_eq!(
        delivery.signature,
        apiwarden_server::webhooks::signature(OWNER_SECRET.as_bytes(), &delivery.body),
        "signed with [owner_escalation] secret"
    );
    let sent: Value = serde_json::from_slice(&delivery.body).expect("alert JSON");
    let api = sent["api"].as_str().expect("api");
    assert_eq!(
        delivery.path,
        format!("/owners/{api}"),
        "sent to its owner's URL"
    );
    assert_eq!(
        sent["owner"]["escalation_webhook"],
        format!("{receiver}/…"),
        "the URL's secret-bearing path stays out of alerts"
    );
    assert_eq!(sent["owner"]["team"], expected_team(api).unwrap_or(""));
    assert!(server.stop().success());
}
