//! Per-record cost of training and tracking on simulated traffic.
//! `cargo run --release -p apiwarden-monitor --example throughput -- 1.0`

use apiwarden_monitor::{MonitorConfig, MonitorSample, MonitorTracker, MonitorTrainer};
use apiwarden_sim::{generate_with, SimConfig, SimOptions, SimRecord};
use std::sync::Arc;
use std::time::Instant;

struct Prepared {
    endpoint: String,
    client: String,
}

fn template(method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or("");
    let segments: Vec<&str> = path
        .split('/')
        .map(|seg| {
            if seg.bytes().any(|b| b.is_ascii_digit()) && seg.len() >= 2 {
                "{id}"
            } else {
                seg
            }
        })
        .collect();
    format!("{method} {}", segments.join("/"))
}

fn sample<'a>(r: &'a SimRecord, p: &'a Prepared) -> MonitorSample<'a> {
    MonitorSample {
        api: r.api.or(r.host).unwrap_or(""),
        endpoint: &p.endpoint,
        id: &r.id,
        ts_ms: r.ts_ms,
        status: r.status,
        latency_ms: r.latency_ms,
        request_bytes: r.request_bytes,
        response_bytes: r.response_bytes,
        country: r.country,
        client: Some(&p.client),
    }
}

fn main() {
    let scale: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let sim = generate_with(
        &SimConfig { seed: 1, scale },
        &SimOptions {
            monitoring_incidents: true,
            ..SimOptions::default()
        },
    );
    let prepare = |records: &[SimRecord]| -> Vec<Prepared> {
        records
            .iter()
            .map(|r| Prepared {
                endpoint: template(r.method, &r.path),
                client: r
                    .user
                    .as_deref()
                    .or(r.api_key.as_deref())
                    .unwrap_or(&r.client_ip)
                    .to_string(),
            })
            .collect()
    };
    let (train_prep, test_prep) = (prepare(&sim.train), prepare(&sim.test));

    let started = Instant::now();
    let mut trainer = MonitorTrainer::new(MonitorConfig::default());
    for (r, p) in sim.train.iter().zip(&train_prep) {
        trainer.observe(&sample(r, p));
    }
    let model = Arc::new(trainer.finish());
    let train_ns = started.elapsed().as_nanos() as f64 / sim.train.len().max(1) as f64;

    let started = Instant::now();
    // A second argument overrides the tick (ms), to separate per-record and per-tick cost.
    let mut cfg = MonitorConfig::default();
    if let Some(tick_ms) = std::env::args().nth(2).and_then(|s| s.parse().ok()) {
        cfg.tick_ms = tick_ms;
    }
    let mut tracker = MonitorTracker::new(model, cfg);
    let mut updates = 0usize;
    let mut peak_bytes = 0;
    for (i, (r, p)) in sim.test.iter().zip(&test_prep).enumerate() {
        updates += tracker.observe(&sample(r, p)).len();
        if i % 4096 == 0 {
            peak_bytes = peak_bytes.max(tracker.memory_bytes());
        }
    }
    let track_ns = started.elapsed().as_nanos() as f64 / sim.test.len().max(1) as f64;
    println!(
        "scale {scale}: train {} records {train_ns:.0} ns/record; track {} records {track_ns:.0} ns/record, {} alerts ({updates} updates), peak window memory {} KiB",
        sim.train.len(),
        sim.test.len(),
        tracker.alerts().len(),
        peak_bytes / 1024
    );
}
