//! Load client for `apiwarden serve`: POSTs 1k-record NDJSON batches over
//! loopback from several connections for a bounded time and reports
//! end-to-end records/s and ack latency percentiles (an ack means durable).
//!
//! `cargo run --release -p apiwarden-server --example loadgen -- URL KEY [SECONDS] [CONNECTIONS] [BATCH]`
//!
//! The client shares the machine with the server, so it is kept light: one
//! thread, bodies built before the clock starts, and of each answer only
//! `accepted` is decoded. It reports its own CPU time (`client_cpu_s`) so
//! what it costs is on record next to the figure.

use std::time::{Duration, Instant};

/// Only the count: the 1000 ids of each answer are skipped, not allocated.
#[derive(serde::Deserialize)]
struct Ack {
    accepted: u64,
}

/// This process's user + system CPU seconds (Linux `/proc`, 100 ticks/s).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn batch(seed: u64, size: usize, start_ms: i64) -> String {
    let apis = [
        "shop.example.com",
        "bank.example.com",
        "maps.example.com",
        "auth.example.com",
    ];
    let mut out = String::with_capacity(size * 260);
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    for i in 0..size {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = (x >> 33) as usize;
        let host = apis[r % apis.len()];
        let user = r % 5000;
        let item = (r / 7) % 100_000;
        out.push_str(&format!(
            "{{\"ts\":{},\"host\":\"{host}\",\"method\":\"GET\",\"path\":\"/v1/items/{item}\",\"status\":{},\"latency_ms\":{},\"request_bytes\":{},\"response_bytes\":{},\"client_ip\":\"10.{}.{}.{}\",\"user\":\"user{user}\",\"token\":\"tok-{user}\",\"user_agent\":\"loadgen/1\"}}\n",
            start_ms + i as i64,
            if r.is_multiple_of(50) { 404 } else { 200 },
            5 + r % 40,
            200 + r % 300,
            1000 + r % 20_000,
            (user / 65536) % 256,
            (user / 256) % 256,
            user % 256,
        ));
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .ok_or("usage: loadgen URL KEY [SECONDS] [CONNECTIONS] [BATCH]")?
        .clone();
    let key = args.get(2).ok_or("missing KEY")?.clone();
    let seconds: u64 = args.get(3).map_or(Ok(10), |s| s.parse())?;
    let conns: usize = args.get(4).map_or(Ok(8), |s| s.parse())?;
    let size: usize = args.get(5).map_or(Ok(1000), |s| s.parse())?;

    // Pre-built bodies so the client spends its CPU on sending, not formatting.
    let bodies: Vec<bytes::Bytes> = (0..64)
        .map(|i| bytes::Bytes::from(batch(i, size, 1_780_000_000_000 + i as i64 * size as i64)))
        .collect();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(conns)
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let cpu_started = cpu_seconds();
    let mut workers = Vec::new();
    for w in 0..conns {
        let client = client.clone();
        let bodies = bodies.clone();
        let url = format!("{}/v1/records", url.trim_end_matches('/'));
        let key = key.clone();
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut accepted = 0u64;
            let mut failures = 0u64;
            let mut n = w;
            while Instant::now() < deadline {
                let body = bodies[n % bodies.len()].clone();
                n += conns;
                let t = Instant::now();
                let resp = client
                    .post(&url)
                    .bearer_auth(&key)
                    .header("content-type", "application/x-ndjson")
                    .body(body)
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status().is_success() => {
                        let body = r.bytes().await.unwrap_or_default();
                        lat.push(t.elapsed());
                        accepted += serde_json::from_slice::<Ack>(&body).map_or(0, |a| a.accepted);
                    }
                    Ok(r) => {
                        failures += 1;
                        if failures < 3 {
                            eprintln!("HTTP {}", r.status());
                        }
                    }
                    Err(e) => {
                        failures += 1;
                        if failures < 3 {
                            eprintln!("error: {e}");
                        }
                    }
                }
            }
            (lat, accepted, failures)
        }));
    }
    let mut lat = Vec::new();
    let mut accepted = 0;
    let mut failures = 0;
    for w in workers {
        let (l, a, f) = w.await?;
        lat.extend(l);
        accepted += a;
        failures += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let client_cpu = cpu_seconds() - cpu_started;
    lat.sort();
    println!(
        "records_per_sec={:.0} accepted={accepted} batches={} failures={failures} seconds={elapsed:.1} connections={conns} batch={size} p50_ms={:.1} p99_ms={:.1} max_ms={:.1} client_cpu_s={client_cpu:.2} client_cores={:.2}",
        accepted as f64 / elapsed,
        lat.len(),
        percentile(&lat, 0.5).as_secs_f64() * 1000.0,
        percentile(&lat, 0.99).as_secs_f64() * 1000.0,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        client_cpu / elapsed,
    );
    Ok(())
}
