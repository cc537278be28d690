//! A real scan in simulated traffic, through the real binary: the Netsparker
//! Apache log of `../shared/datasets/scanner_access_logs` (thinned to one line
//! in 25 so the test stays fast), read with apiwarden's own combined-log
//! parser, mixed into a small simulated benign day of `shop.example.com`.
//! `scripts/real_data_eval.sh` runs the full version of this on all three
//! scanners. The data set is not in the repository: without it the test says
//! so and passes (set `APIWARDEN_DATASETS` to point at it).

use apiwarden_record::{parse_bytes, parse_rfc3339_ms, Fingerprinter, InputFormat};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const HOST: &str = "shop.example.com";
const KEEP_ONE_IN: usize = 25;
/// The scan starts this long after the simulated test day begins.
const SCAN_START_MS: i64 = 9 * 3_600_000;

fn datasets() -> PathBuf {
    std::env::var_os("APIWARDEN_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets"))
}

fn run(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_apiwarden"))
        .env_remove("APIWARDEN_FINGERPRINT_KEY")
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "apiwarden {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

fn read_ndjson(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("readable output")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn ts_ms(record: &Value) -> i64 {
    match &record["ts"] {
        Value::Number(n) => n.as_i64().expect("integer ts"),
        Value::String(s) => parse_rfc3339_ms(s).expect("RFC 3339 ts"),
        other => panic!("unexpected ts {other}"),
    }
}

/// The scan's records as contract JSON, shifted to start at `start_ms`.
/// The log has no latency: the benign median of the host stands in, so the
/// latency says nothing either way.
fn scan_records(log: &Path, start_ms: i64, latency_ms: f64) -> Vec<Value> {
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(log).expect("scanner log opens"))
        .read_to_end(&mut bytes)
        .expect("scanner log decompresses");
    let fp = Fingerprinter::new([7; apiwarden_record::KEY_BYTES]);
    let mut parsed: Vec<_> = parse_bytes(&bytes, InputFormat::Combined, &fp)
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    assert!(
        parsed.len() > 7000,
        "the combined parser reads the Netsparker log: {} records",
        parsed.len()
    );
    parsed.sort_by_key(|r| r.ts_ms);
    let first = parsed[0].ts_ms;
    parsed
        .iter()
        .step_by(KEEP_ONE_IN)
        .enumerate()
        .map(|(i, r)| {
            json!({
                "id": format!("scan-{i:04}"),
                "ts": start_ms + (r.ts_ms - first),
                "host": HOST,
                "method": r.method,
                "path": r.path,
                "status": r.status,
                "latency_ms": latency_ms,
                "request_bytes": r.request_bytes,
                "response_bytes": r.response_bytes,
                "client_ip": r.client_ip.to_string(),
                "user_agent": r.user_agent,
            })
        })
        .collect()
}

#[test]
fn a_real_scan_in_simulated_traffic_is_alerted_as_probing_without_false_alerts() {
    let log = datasets().join("scanner_access_logs/netsparker.txt.gz");
    if !log.exists() {
        eprintln!(
            "skipped: {} not found (set APIWARDEN_DATASETS)",
            log.display()
        );
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = dir.path().join("sim");
    let model = dir.path().join("model");
    run(&[
        "simulate",
        "--out",
        p(&sim),
        "--scale",
        "0.01",
        "--seed",
        "11",
    ]);
    run(&[
        "train",
        "--input",
        p(&sim.join("train.ndjson")),
        "--out",
        p(&model),
        "--seed",
        "5",
    ]);

    let test = read_ndjson(&sim.join("test.ndjson"));
    let labels = read_ndjson(&sim.join("labels.ndjson"));
    let benign: Vec<Value> = test
        .into_iter()
        .zip(&labels)
        .filter(|(_, l)| l["label"] == "benign")
        .map(|(r, _)| r)
        .collect();
    let mut host_latencies: Vec<f64> = benign
        .iter()
        .filter(|r| r["host"] == HOST)
        .filter_map(|r| r["latency_ms"].as_f64())
        .collect();
    assert!(!host_latencies.is_empty(), "the simulator serves {HOST}");
    host_latencies.sort_by(f64::total_cmp);
    let median_latency = host_latencies[host_latencies.len() / 2];
    let day_start = ts_ms(&benign[0]).div_euclid(86_400_000) * 86_400_000;
    let scan = scan_records(&log, day_start + SCAN_START_MS, median_latency);
    let scan_ids: BTreeSet<String> = scan
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_string())
        .collect();

    let mut merged: Vec<(i64, Value)> = benign
        .into_iter()
        .chain(scan)
        .map(|r| (ts_ms(&r), r))
        .collect();
    merged.sort_by_key(|(ts, _)| *ts);
    let input = dir.path().join("mixed.ndjson");
    let body: String = merged.iter().map(|(_, r)| format!("{r}\n")).collect();
    std::fs::write(&input, body).expect("mixed input written");

    let scores = dir.path().join("scores.ndjson");
    let alerts = dir.path().join("alerts.ndjson");
    run(&[
        "score",
        "--models",
        p(&model),
        "--input",
        p(&input),
        "--out",
        p(&scores),
        "--alerts",
        p(&alerts),
    ]);

    let alerts = read_ndjson(&alerts);
    let names_scan = |a: &Value| {
        a["request_ids"].as_array().is_some_and(|ids| {
            ids.iter()
                .any(|id| id.as_str().is_some_and(|id| scan_ids.contains(id)))
        })
    };
    let scan_alerts: Vec<&Value> = alerts.iter().filter(|a| names_scan(a)).collect();
    assert!(
        scan_alerts.iter().any(|a| a["attack"] == "probing"),
        "the scan raises a probing alert: {scan_alerts:?}"
    );
    let false_probing: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["attack"] == "probing" && !names_scan(a))
        .collect();
    assert!(
        false_probing.is_empty(),
        "no probing alert on benign traffic: {false_probing:?}"
    );

    let marked = read_ndjson(&scores)
        .iter()
        .filter(|s| {
            s["id"].as_str().is_some_and(|id| scan_ids.contains(id)) && !s["attack"].is_null()
        })
        .count();
    assert!(
        marked * 10 >= scan_ids.len() * 9,
        "at least 90% of the scan's records carry an attack type: {marked}/{}",
        scan_ids.len()
    );
}
