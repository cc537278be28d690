//! Group-commit throughput of the sled store: THREADS writers each submitting
//! BATCH-record batches and waiting for durability.
//!
//! `cargo run --release -p apiwarden-store --example storebench -- [SECONDS] [THREADS] [BATCH]`

use apiwarden_record::AccessRecord;
use apiwarden_store::{write_durable, RecordEntry, SledConfig, SledStore, StoredScore, WriteBatch};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).map_or(Ok(5), |s| s.parse())?;
    let threads: usize = args.get(2).map_or(Ok(8), |s| s.parse())?;
    let size: usize = args.get(3).map_or(Ok(1000), |s| s.parse())?;
    let with_scores = std::env::var("WITH_SCORES").is_ok();
    let dir = tempfile::tempdir()?;
    let store = Arc::new(SledStore::open(dir.path(), &SledConfig::default())?);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let records: Vec<RecordEntry> = (0..size)
                        .map(|i| {
                            let id = format!("t{t}-{n}-{i}");
                            RecordEntry {
                                api: ["shop", "bank", "maps"][i % 3].to_string(),
                                record: AccessRecord {
                                    id: Some(id),
                                    ts_ms: 1_780_000_000_000 + (n * size as u64 + i as u64) as i64,
                                    api: None,
                                    host: Some("shop.example.com".into()),
                                    method: "GET".into(),
                                    path: format!("/v1/items/{i}"),
                                    status: 200,
                                    latency_ms: 12.0,
                                    request_bytes: 300,
                                    response_bytes: 4000,
                                    client_ip: "10.1.2.3".parse().expect("ip"),
                                    country: None,
                                    geo: None,
                                    user: Some(format!("user{i}")),
                                    api_key: None,
                                    token: None,
                                    user_agent: Some("bench/1".into()),
                                },
                            }
                        })
                        .collect();
                    let scores = if with_scores {
                        records
                            .iter()
                            .map(|r| StoredScore {
                                id: r.record.id.clone().unwrap_or_default(),
                                api: r.api.clone(),
                                endpoint: "GET /v1/items/{id}".into(),
                                ts_ms: r.record.ts_ms,
                                score: 0.1,
                                attack: None,
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    write_durable(
                        store.as_ref(),
                        WriteBatch {
                            records,
                            scores,
                            ..WriteBatch::default()
                        },
                    )
                    .expect("durable write");
                    n += 1;
                }
                n * size as u64
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "records_per_sec={:.0} records={total} seconds={secs:.1} threads={threads} batch={size} scores={with_scores}",
        total as f64 / secs
    );
    Ok(())
}
