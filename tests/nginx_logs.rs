//! Access logs written by a real nginx (Debian package) in front of a small
//! upstream, ingested by the real `apiwarden serve` with the `nginx_json` and
//! `combined` presets: every line is accepted, each record says what curl did,
//! scores are found by nginx's `$request_id`, a model trained on the logs
//! alerts on an id walk and not on ordinary traffic, hostile request lines get
//! a per-line answer, and no credential is ever shown in clear.
//! `scripts/nginx_e2e.sh` runs nginx and the traffic; without nginx (install
//! it with `scripts/ci_deps.sh`) the tests say so and pass.

mod service_common;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;
use service_common::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REQUESTS: usize = 300;
/// nginx's clock is cached per event-loop turn at millisecond resolution.
const CLOCK_SLACK_MS: f64 = 5.0;

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn nginx_binary() -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os("NGINX_BIN").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(explicit));
    }
    on_path("nginx").or_else(|| {
        let debian = PathBuf::from("/usr/sbin/nginx");
        debian.is_file().then_some(debian)
    })
}

/// The script and the nginx it started; both are stopped on drop, even when
/// an assertion fails or the script has to be killed.
struct NginxRun {
    script: Child,
    out: PathBuf,
}

impl NginxRun {
    fn start(nginx: &Path, out: &Path, requests: usize) -> NginxRun {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/nginx_e2e.sh");
        let log = |name: &str| std::fs::File::create(out.join(name)).expect("script log file");
        let script = Command::new("bash")
            .arg(script)
            .arg("--out")
            .arg(out)
            .args(["--requests", &requests.to_string(), "--seed", "7"])
            .env("NGINX_BIN", nginx)
            .stdin(Stdio::null())
            .stdout(log("script.out"))
            .stderr(log("script.err"))
            .spawn()
            .expect("spawn scripts/nginx_e2e.sh");
        NginxRun {
            script,
            out: out.to_path_buf(),
        }
    }

    /// Waits for the script (nginx stopped, logs complete); its stdout.
    fn finish(&mut self, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            match self.script.try_wait() {
                Ok(Some(status)) => {
                    let read = |name: &str| {
                        std::fs::read_to_string(self.out.join(name)).unwrap_or_default()
                    };
                    assert!(
                        status.success(),
                        "nginx_e2e.sh failed ({status}):\n{}\n{}",
                        read("script.out"),
                        read("script.err")
                    );
                    return read("script.out");
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Ok(None) => panic!("nginx_e2e.sh did not finish within {limit:?}"),
                Err(e) => panic!("waiting for nginx_e2e.sh: {e}"),
            }
        }
    }
}

impl Drop for NginxRun {
    fn drop(&mut self) {
        // TERM first: the script's exit trap stops and reaps nginx.
        if let Ok(None) = self.script.try_wait() {
            let pid = self.script.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let deadline = Instant::now() + Duration::from_secs(8);
            while matches!(self.script.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.script.kill();
        }
        let _ = self.script.wait();
        // nginx removes its pid file when it exits: a file left means it still runs.
        if let Ok(pid) = std::fs::read_to_string(self.out.join("nginx.pid")) {
            let pid = pid.trim();
            if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
                let _ = Command::new("kill").args(["-TERM", pid]).status();
            }
        }
    }
}

/// One line of the script's manifest: what curl sent and what it got back.
#[derive(Debug)]
struct Sent {
    client_ip: String,
    method: String,
    path: String,
    host: String,
    auth: String,
    secret: String,
    status: u16,
    time_total_ms: f64,
    size_download: u64,
    request_id: String,
    /// Request line, headers and body, as curl sent them (`%{size_request}`).
    request_bytes: u64,
    /// Headers and body, as curl received them.
    response_bytes: u64,
}

fn read_manifest(path: &Path) -> Vec<Sent> {
    let text = std::fs::read_to_string(path).expect("manifest.tsv");
    text.lines()
        .skip(1)
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 13, "manifest line: {line}");
            let size = |col: usize| cols[col].parse::<u64>().expect("size");
            Sent {
                client_ip: cols[0].to_string(),
                method: cols[1].to_string(),
                path: cols[2].to_string(),
                host: cols[3].to_string(),
                auth: cols[4].to_string(),
                secret: cols[5].to_string(),
                status: cols[7].parse().expect("status"),
                time_total_ms: cols[8].parse::<f64>().expect("time_total") * 1000.0,
                size_download: size(9),
                request_id: cols[10].to_string(),
                request_bytes: size(11),
                response_bytes: size(12) + size(9),
            }
        })
        .collect()
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("access log")
        .lines()
        .map(str::to_string)
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// Ingests `lines` with `format`: the first half plain, the rest gzip-encoded.
/// Returns the ids in input order and the raw answers.
fn ingest_halves(server: &Server, format: &str, lines: &[String]) -> (Vec<String>, Vec<String>) {
    let (plain, gzipped) = lines.split_at(lines.len() / 2);
    let mut ids = Vec::new();
    let mut answers = Vec::new();
    for (part, encode) in [(plain, false), (gzipped, true)] {
        let body = format!("{}\n", part.join("\n")).into_bytes();
        let mut request = client()
            .post(server.url(&format!("/v1/records?format={format}")))
            .bearer_auth(INGEST_KEY)
            .header("content-type", "text/plain");
        let body = if encode {
            request = request.header("content-encoding", "gzip");
            gzip(&body)
        } else {
            body
        };
        let response = request.body(body).send().expect("ingest request");
        let status = response.status().as_u16();
        let text = response.text().expect("ingest answer");
        assert_eq!(status, 200, "{format} (gzip {encode}) ingest: {text}");
        let answer: Value = serde_json::from_str(&text).expect("ingest answer json");
        assert_eq!(
            answer["accepted"].as_u64(),
            Some(part.len() as u64),
            "{format} (gzip {encode}): every line accepted: {text}"
        );
        assert_eq!(answer["rejected"], 0, "{format} (gzip {encode}): {text}");
        let part_ids: Vec<String> = answer["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .filter_map(|id| id.as_str().map(str::to_string))
            .collect();
        assert_eq!(part_ids.len(), part.len(), "one id per accepted line");
        ids.extend(part_ids);
        answers.push(text);
    }
    (ids, answers)
}

/// GET as the read role: status and body text.
fn get(server: &Server, path: &str) -> (u16, String) {
    let response = client()
        .get(server.url(path))
        .bearer_auth(READ_KEY)
        .send()
        .expect("GET request");
    let status = response.status().as_u16();
    (status, response.text().unwrap_or_default())
}

fn get_json(server: &Server, path: &str, seen: &mut Vec<String>) -> Value {
    let (status, text) = get(server, path);
    assert_eq!(status, 200, "GET {path}: {text}");
    let value = serde_json::from_str(&text).expect("JSON answer");
    seen.push(text);
    value
}

/// Every credential string curl sent, including the Basic blobs nginx logged.
fn secrets_of(sent: &[Sent], json_log: &[Value]) -> Vec<String> {
    let mut secrets: Vec<String> = Vec::new();
    for (request, logged) in sent.iter().zip(json_log) {
        match request.auth.as_str() {
            "basic" => {
                let (_, password) = request.secret.split_once(':').expect("user:password");
                secrets.push(password.to_string());
                let header = logged["http_authorization"].as_str().unwrap_or_default();
                let blob = header.strip_prefix("Basic ").expect("Basic credentials");
                secrets.push(blob.to_string());
            }
            _ => secrets.extend(request.secret.split_whitespace().map(str::to_string)),
        }
    }
    secrets.sort();
    secrets.dedup();
    secrets
}

fn assert_latency(what: &str, record: &Value, logged_seconds: f64, request: &Sent) {
    let latency = record["latency_ms"].as_f64().expect("latency_ms");
    assert!(
        (latency - logged_seconds * 1000.0).abs() < 1e-6,
        "{what}: latency {latency} ms, nginx logged {logged_seconds} s"
    );
    assert!(
        latency <= request.time_total_ms + CLOCK_SLACK_MS,
        "{what}: nginx took {latency} ms, longer than curl's {} ms",
        request.time_total_ms
    );
}

fn assert_request_matches(what: &str, record: &Value, request: &Sent) {
    assert_eq!(record["method"], request.method.as_str(), "{what}: method");
    assert_eq!(record["path"], request.path.as_str(), "{what}: path");
    assert_eq!(record["status"], request.status, "{what}: status");
    assert_eq!(
        record["client_ip"],
        request.client_ip.as_str(),
        "{what}: client"
    );
}

/// The attack phase: (path, nginx request id, token), in order.
fn read_attack_manifest(path: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(path).expect("attack_manifest.tsv");
    text.lines()
        .skip(1)
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 5, "attack manifest line: {line}");
            (
                cols[1].to_string(),
                cols[4].to_string(),
                cols[2].to_string(),
            )
        })
        .collect()
}

/// POST /v1/train from what is stored; the number of records it used.
fn train(server: &Server) -> u64 {
    let response = client()
        .post(server.url("/v1/train"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .expect("train request");
    let status = response.status().as_u16();
    let text = response.text().expect("train answer");
    assert_eq!(status, 200, "POST /v1/train: {text}");
    let trained: Value = serde_json::from_str(&text).expect("train JSON");
    trained["records_used"].as_u64().unwrap_or(0)
}

/// After training on the ordinary logs, the token walking account ids is
/// alerted as enumeration, on its own requests only. A summary for the report.
fn enumeration_is_alerted(
    server: &Server,
    out: &Path,
    attack: &[(String, String, String)],
    seen: &mut Vec<String>,
) -> String {
    let attack_lines = lines(&out.join("logs/attack.json"));
    assert_eq!(
        attack_lines.len(),
        attack.len(),
        "one attack log line per request"
    );
    let (ids, answers) = ingest_halves(server, "nginx_json", &attack_lines);
    seen.extend(answers);
    let attack_ids: Vec<&str> = attack.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(ids, attack_ids);
    let (first_path, first_id, _) = attack.first().expect("attack requests");
    let first = get_json(server, &format!("/v1/records/{first_id}"), seen);
    assert_eq!(first["path"], first_path.as_str());
    let fingerprint = first["token"]
        .as_str()
        .expect("attacker token fingerprint")
        .to_string();

    let alert = eventually(30, "an alert on the enumerating token", || {
        let (status, text) = get(server, "/v1/alerts?limit=1000");
        assert_eq!(status, 200, "alerts: {text}");
        let answer: Value = serde_json::from_str(&text).ok()?;
        let found = answer["alerts"].as_array()?.iter().find(|alert| {
            alert["entity"]["kind"] == "token" && alert["entity"]["value"] == fingerprint.as_str()
        })?;
        seen.push(text.clone());
        Some(found.clone())
    });
    assert_eq!(alert["attack"], "enumeration", "{alert}");
    let blamed: Vec<&str> = alert["request_ids"]
        .as_array()
        .expect("request_ids")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(!blamed.is_empty(), "{alert}");
    for id in &blamed {
        assert!(
            attack_ids.contains(id),
            "alert blames {id}, not an attack request"
        );
    }
    format!(
        "enumeration alert (score {:.2}, severity {}) on {} of {} attack requests",
        alert["score"].as_f64().unwrap_or(f64::NAN),
        alert["severity"].as_str().unwrap_or("?"),
        blamed.len(),
        attack.len()
    )
}

/// Runs `scripts/nginx_e2e.sh` into `DIR/nginx`; `None` (after saying why)
/// when nginx or curl is not installed.
fn run_nginx(requests: usize) -> Option<tempfile::TempDir> {
    let (Some(nginx), Some(_curl)) = (nginx_binary(), on_path("curl")) else {
        eprintln!(
            "SKIPPED nginx_logs: nginx or curl is not installed (scripts/ci_deps.sh installs them)"
        );
        return None;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("nginx");
    std::fs::create_dir_all(&out).expect("nginx dir");
    let mut run = NginxRun::start(&nginx, &out, requests);
    let summary = run.finish(Duration::from_secs(120));
    drop(run);
    eprintln!("{summary}");
    Some(dir)
}

/// What the service made of each hostile request's log line: `None` when
/// accepted, else the rejection reason. Keyed by the kind of request.
fn hostile_outcomes(
    server: &Server,
    out: &Path,
    format: &str,
    file: &str,
) -> Vec<(String, Option<String>)> {
    let kinds: Vec<String> = std::fs::read_to_string(out.join("hostile_manifest.tsv"))
        .expect("hostile_manifest.tsv")
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect();
    // Raw bytes: nginx's escape=json passes non-UTF-8 header bytes through.
    let body = std::fs::read(out.join("logs").join(file)).expect("hostile log");
    let line_count = body
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert_eq!(
        line_count,
        kinds.len(),
        "{file}: one line per hostile request"
    );
    let response = client()
        .post(server.url(&format!("/v1/records?format={format}")))
        .bearer_auth(INGEST_KEY)
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .expect("ingest request");
    let status = response.status().as_u16();
    let text = response.text().expect("ingest answer");
    assert_eq!(
        status, 200,
        "{format}: a per-line answer, not a failed batch: {text}"
    );
    let answer: Value = serde_json::from_str(&text).expect("ingest answer JSON");
    let rejected = answer["rejected"].as_u64().expect("rejected");
    let accepted = answer["accepted"].as_u64().expect("accepted");
    assert_eq!(accepted + rejected, kinds.len() as u64, "{format}: {text}");
    let mut outcomes: Vec<(String, Option<String>)> =
        kinds.into_iter().map(|kind| (kind, None)).collect();
    for error in answer["errors"].as_array().expect("errors") {
        let line = error["line"].as_u64().expect("1-based line number") as usize;
        let reason = error["reason"].as_str().expect("reason").to_string();
        assert!(!reason.is_empty(), "{format}: a rejection says why");
        let slot = line
            .checked_sub(1)
            .and_then(|index| outcomes.get_mut(index))
            .unwrap_or_else(|| panic!("{format}: error names line {line}: {text}"));
        slot.1 = Some(reason);
    }
    assert_eq!(
        outcomes
            .iter()
            .filter(|(_, reason)| reason.is_some())
            .count() as u64,
        rejected,
        "{format}: one reason per rejected line"
    );
    for (kind, reason) in &outcomes {
        eprintln!(
            "hostile {format:<10} {kind:<20} {}",
            reason
                .as_deref()
                .map_or("accepted".to_string(), |r| format!("rejected: {r}"))
        );
    }
    outcomes
}

fn accepted(outcomes: &[(String, Option<String>)], kind: &str) -> bool {
    outcomes
        .iter()
        .filter(|(k, _)| k == kind)
        .all(|(_, reason)| reason.is_none())
}

/// Malformed request lines and odd request forms as a real nginx logs them:
/// every line gets an answer, and what the presets accept today stays accepted.
#[test]
fn hostile_requests_get_a_per_line_answer() {
    let Some(dir) = run_nginx(1) else {
        return;
    };
    let out = dir.path().join("nginx");
    let server = Server::start(&dir.path().join("data"), &write_config(dir.path(), ""));
    let json = hostile_outcomes(&server, &out, "nginx_json", "hostile.json");
    let combined = hostile_outcomes(&server, &out, "combined", "hostile.log");
    for kind in [
        "non_utf8_user_agent",
        "absolute_form",
        "asterisk_form",
        "http_0_9",
    ] {
        assert!(accepted(&combined, kind), "combined: {kind} is accepted");
    }
    for kind in ["absolute_form", "http_0_9"] {
        assert!(accepted(&json, kind), "nginx_json: {kind} is accepted");
    }
}

/// A User-Agent with bytes that are not UTF-8 must not hide a request (and its
/// credential) from detection; nginx's escape=json writes such bytes raw.
#[test]
fn non_utf8_header_bytes_do_not_hide_requests_in_nginx_json() {
    let Some(dir) = run_nginx(1) else {
        return;
    };
    let out = dir.path().join("nginx");
    let server = Server::start(&dir.path().join("data"), &write_config(dir.path(), ""));
    let json = hostile_outcomes(&server, &out, "nginx_json", "hostile.json");
    assert!(accepted(&json, "non_utf8_user_agent"), "{json:?}");
}

#[test]
fn the_recommended_log_format_is_the_one_nginx_runs() {
    let conf = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/nginx/nginx.conf.in"),
    )
    .expect("scripts/nginx/nginx.conf.in");
    let used = conf
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("log_format apiwarden "))
        .expect("log_format apiwarden in the template");
    let recommended = apiwarden_record::NGINX_LOG_FORMAT.to_string();
    assert_eq!(used, recommended);
}

#[test]
fn nginx_json_and_combined_logs_of_a_real_nginx_are_ingested() {
    let Some(dir) = run_nginx(REQUESTS) else {
        return;
    };
    let started = Instant::now();
    let out = dir.path().join("nginx");
    let sent = read_manifest(&out.join("manifest.tsv"));
    let json_lines = lines(&out.join("logs/access.json"));
    let combined_lines = lines(&out.join("logs/access.log"));
    assert_eq!(sent.len(), REQUESTS, "one manifest line per request");
    assert_eq!(json_lines.len(), REQUESTS, "one JSON log line per request");
    assert_eq!(
        combined_lines.len(),
        REQUESTS,
        "one combined line per request"
    );
    let json_log: Vec<Value> = json_lines
        .iter()
        .map(|line| serde_json::from_str(line).expect("nginx escape=json writes JSON"))
        .collect();
    for (request, logged) in sent.iter().zip(&json_log) {
        assert_eq!(
            logged["request_id"], request.request_id,
            "requests are sequential, so the log is in manifest order"
        );
    }
    let attack = read_attack_manifest(&out.join("attack_manifest.tsv"));
    let mut secrets = secrets_of(&sent, &json_log);
    secrets.extend(attack.iter().map(|(_, _, secret)| secret.clone()));
    secrets.sort();
    secrets.dedup();
    assert!(
        secrets.len() >= 10,
        "traffic carries credentials: {secrets:?}"
    );

    let data = dir.path().join("data");
    let config = write_config(dir.path(), "");
    let server = Server::start(&data, &config);
    // Two thirds of the JSON log and the combined log, train, then the last
    // third: ordinary traffic scored by the trained model must not alert.
    let (before_training, after_training) = json_lines.split_at(REQUESTS * 2 / 3);
    let ingest_started = Instant::now();
    let (mut json_ids, mut seen) = ingest_halves(&server, "nginx_json", before_training);
    let (combined_ids, combined_answers) = ingest_halves(&server, "combined", &combined_lines);
    let mut ingest_time = ingest_started.elapsed();
    seen.extend(combined_answers);
    let trained_on = train(&server);
    assert!(trained_on > 0, "trained on the nginx logs");
    let ingest_started = Instant::now();
    let (later_ids, later_answers) = ingest_halves(&server, "nginx_json", after_training);
    ingest_time += ingest_started.elapsed();
    json_ids.extend(later_ids);
    seen.extend(later_answers);
    let nginx_ids: Vec<&str> = sent.iter().map(|s| s.request_id.as_str()).collect();
    assert_eq!(
        json_ids, nginx_ids,
        "the JSON log keeps nginx's $request_id"
    );

    // The JSON log: what curl did, credentials only as fingerprints.
    let mut fingerprints: BTreeMap<String, String> = BTreeMap::new();
    let mut user_agents: Vec<Value> = Vec::new();
    let mut apis: Vec<String> = Vec::new();
    for (request, logged) in sent.iter().zip(&json_log) {
        let what = format!(
            "{} {} ({})",
            request.method, request.path, request.request_id
        );
        let record = get_json(
            &server,
            &format!("/v1/records/{}", request.request_id),
            &mut seen,
        );
        assert_request_matches(&what, &record, request);
        assert_eq!(record["host"], request.host.as_str(), "{what}: host");
        assert_eq!(
            record["request_bytes"], request.request_bytes,
            "{what}: $request_length is what curl sent"
        );
        assert_eq!(
            record["response_bytes"], request.response_bytes,
            "{what}: $bytes_sent is what curl received"
        );
        let logged_time = logged["request_time"].as_f64().expect("request_time");
        assert_latency(&what, &record, logged_time, request);
        user_agents.push(record["user_agent"].clone());
        let token = record["token"].as_str();
        let api_key = record["api_key"].as_str();
        let (expect_token, expect_key) = match request.auth.as_str() {
            "bearer" | "basic" => (true, false),
            "api_key" => (false, true),
            "bearer_and_key" => (true, true),
            _ => (false, false),
        };
        assert_eq!(token.is_some(), expect_token, "{what}: token {token:?}");
        assert_eq!(api_key.is_some(), expect_key, "{what}: api_key {api_key:?}");
        let credentials: Vec<&str> = match request.auth.as_str() {
            "basic" => vec![request.secret.as_str()],
            _ => request.secret.split_whitespace().collect(),
        };
        for (credential, fingerprint) in credentials.iter().zip(token.iter().chain(&api_key)) {
            assert!(fingerprint.starts_with("fp:"), "{what}: {fingerprint}");
            let previous = fingerprints.insert(credential.to_string(), fingerprint.to_string());
            assert!(
                previous.is_none_or(|p| p == *fingerprint),
                "{what}: one credential, one fingerprint"
            );
        }
        if request.auth == "basic" {
            let (user, _) = request.secret.split_once(':').expect("user:password");
            assert_eq!(record["user"], user, "{what}: Basic user");
        }
        if let Some(api) = record["api"].as_str() {
            if !apis.iter().any(|a| a == api) {
                apis.push(api.to_string());
            }
        }
    }
    let mut distinct: Vec<&String> = fingerprints.values().collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        fingerprints.len(),
        "different credentials, different fingerprints"
    );

    // Scores by nginx's $request_id, once live scoring has caught up.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut scored = 0;
    for request in &sent {
        let path = format!("/v1/scores/{}", request.request_id);
        let text = loop {
            let (status, text) = get(&server, &path);
            if status == 200 {
                break text;
            }
            assert!(status == 404, "GET {path}: {status} {text}");
            assert!(
                Instant::now() < deadline,
                "{scored} of {REQUESTS} scores after 60 s; {path} still 404"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let score: Value = serde_json::from_str(&text).expect("score JSON");
        assert_eq!(score["id"], request.request_id.as_str());
        let value = score["score"].as_f64().expect("score");
        assert!((0.0..=1.0).contains(&value), "{path}: score {value}");
        seen.push(text);
        scored += 1;
    }

    // The combined log: same requests, ids assigned by the service, sizes are bodies.
    let combined = sent.iter().zip(&combined_ids).zip(&combined_lines);
    for (((request, id), line), json_user_agent) in combined.zip(&user_agents) {
        let what = format!("combined {} {} ({id})", request.method, request.path);
        let record = get_json(&server, &format!("/v1/records/{id}"), &mut seen);
        assert_request_matches(&what, &record, request);
        assert_eq!(
            record["response_bytes"], request.size_download,
            "{what}: $body_bytes_sent is what curl downloaded"
        );
        let logged_time: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|t| t.parse().ok())
            .expect("trailing $request_time");
        assert_latency(&what, &record, logged_time, request);
        assert_eq!(
            &record["user_agent"], json_user_agent,
            "{what}: \\xHH-escaped and JSON-escaped user agents read the same"
        );
        let user = match request.auth.as_str() {
            "basic" => request.secret.split_once(':').map(|(user, _)| user),
            _ => None,
        };
        assert_eq!(record["user"].as_str(), user, "{what}: $remote_user");
        assert!(record["token"].is_null() && record["api_key"].is_null());
        if let Some(api) = record["api"].as_str() {
            if !apis.iter().any(|a| a == api) {
                apis.push(api.to_string());
            }
        }
    }

    let alert = enumeration_is_alerted(&server, &out, &attack, &mut seen);
    let alerts = get_json(&server, "/v1/alerts?limit=1000", &mut seen);
    let benign: Vec<&String> = fingerprints.values().collect();
    let all_alerts = alerts["alerts"].as_array().expect("alerts");
    let alert_kinds: Vec<String> = all_alerts
        .iter()
        .map(|a| {
            format!(
                "{}/{}",
                a["attack"].as_str().unwrap_or("-"),
                a["entity"]["kind"].as_str().unwrap_or("-")
            )
        })
        .collect();
    for alert in all_alerts {
        let value = alert["entity"]["value"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            !benign.contains(&&value),
            "ordinary credential alerted after training: {alert}"
        );
    }

    // Secrets in clear nowhere: ingest answers, records, scores, alerts, listings, entities.
    get_json(&server, "/v1/alerts?limit=1000", &mut seen);
    get_json(&server, "/v1/apis", &mut seen);
    for api in &apis {
        get_json(
            &server,
            &format!("/v1/records?api={api}&limit=1000"),
            &mut seen,
        );
    }
    for fingerprint in fingerprints.values() {
        let (status, text) = get(&server, &format!("/v1/entities/token/{fingerprint}"));
        assert!(
            status == 200 || status == 404,
            "entity {fingerprint}: {status}"
        );
        seen.push(text);
    }
    for answer in &seen {
        for secret in &secrets {
            assert!(
                !answer.contains(secret.as_str()),
                "a credential is shown in clear: `{secret}` in {answer}"
            );
        }
    }
    eprintln!(
        "nginx_logs: {REQUESTS} requests, {} JSON + {} combined lines accepted, 0 rejected; \
         ingest {:.0} ms; {scored} scores by $request_id; trained on {trained_on}; {alert}; alerts in all: {alert_kinds:?}; \
         {} answers checked for {} secrets; total {:.1} s",
        json_ids.len(),
        combined_ids.len(),
        ingest_time.as_secs_f64() * 1000.0,
        seen.len(),
        secrets.len(),
        started.elapsed().as_secs_f64()
    );
    let status = server.stop();
    assert!(status.success(), "apiwarden serve exit: {status}");
}
