//! Harness for the service tests: the real `apiwarden serve` binary on port 0.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const INGEST_KEY: &str = "ingest-key-for-tests";
pub const READ_KEY: &str = "read-key-for-tests";
pub const ADMIN_KEY: &str = "admin-key-for-tests";

/// Keys for each role; the admin key comes from `APIWARDEN_ADMIN_KEY`.
pub fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("apiwarden.toml");
    let text = format!(
        r#"
alert_cooldown_secs = 900
shards = 2

[[keys]]
name = "gateway"
key = "{INGEST_KEY}"
roles = ["ingest"]

[[keys]]
name = "dashboard"
key = "{READ_KEY}"
roles = ["read"]

[limits]
max_body_bytes = 4000000

[train]
learn_after_records = 0

{extra}
"#
    );
    std::fs::write(&path, text).expect("write config");
    path
}

pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    pub fn start(data: &Path, config: &Path) -> Server {
        Server::start_with(data, config, &[])
    }

    /// [`Server::start`] with more `serve` arguments.
    pub fn start_with(data: &Path, config: &Path, extra: &[&std::ffi::OsStr]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_apiwarden"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .arg("--config")
            .arg(config)
            .args(extra)
            .env("APIWARDEN_ADMIN_KEY", ADMIN_KEY)
            .env("APIWARDEN_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn apiwarden serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("apiwarden listening on ") {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                panic!("apiwarden serve did not print its address");
            }
        };
        Server { child, base }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("apiwarden serve did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("http client")
}

/// Poll `f` until it returns `Some`, or panic after `secs`.
pub fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// POST NDJSON lines in batches of `batch`; returns every accepted id.
pub fn ingest_ndjson(server: &Server, text: &str, batch: usize) -> Vec<String> {
    let c = client();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut ids = Vec::new();
    for chunk in lines.chunks(batch) {
        let body = chunk.join("\n");
        let resp = c
            .post(server.url("/v1/records"))
            .bearer_auth(INGEST_KEY)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .expect("ingest request");
        assert_eq!(resp.status(), 200, "ingest failed");
        let v: serde_json::Value = resp.json().expect("ingest answer");
        assert_eq!(v["rejected"], 0, "rejected lines: {v}");
        ids.extend(
            v["ids"]
                .as_array()
                .expect("ids")
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string)),
        );
    }
    ids
}
