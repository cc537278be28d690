//! Generation and serialization speed:
//! `cargo run --release -p apiwarden-sim --example throughput -- [SCALE]`.

use apiwarden_sim::{generate, SimConfig};
use std::time::Instant;

/// CPU time of the whole process, all threads (Linux: utime + stime of
/// /proc/self/stat, in clock ticks of 10 ms).
fn cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesized command name; utime and stime are 14 and 15.
    let rest = text.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn main() {
    let scale = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let (started, cpu0) = (Instant::now(), cpu_seconds());
    let sim = generate(&SimConfig { seed: 1, scale });
    let (wall_generate, cpu1) = (started.elapsed().as_secs_f64(), cpu_seconds());
    let records = sim.train.len() + sim.test.len();
    print!("{}", sim.summary());

    let started = Instant::now();
    let mut buf = Vec::with_capacity(1 << 20);
    let mut bytes = 0usize;
    for r in sim.train.iter().chain(&sim.test) {
        r.write_json(&mut buf);
        buf.push(b'\n');
        if buf.len() > 1 << 20 {
            bytes += buf.len();
            buf.clear();
        }
    }
    bytes += buf.len();
    let (wall_serialize, cpu2) = (started.elapsed().as_secs_f64(), cpu_seconds());
    let (generated, serialized) = match (cpu0, cpu1, cpu2) {
        (Some(a), Some(b), Some(c)) => (b - a, c - b),
        _ => (wall_generate, wall_serialize),
    };
    println!(
        "wall: generate {wall_generate:.2}s, serialize {wall_serialize:.2}s ({:.2}M records/s generated)",
        records as f64 / wall_generate / 1e6
    );
    println!(
        "scale {scale}: {records} records; CPU time: generate {generated:.2}s ({:.2}M records/s); \
         serialize {serialized:.2}s ({:.2}M records/s, {:.0} MB); together {:.2}M records/s",
        records as f64 / generated / 1e6,
        records as f64 / serialized / 1e6,
        bytes as f64 / 1e6,
        records as f64 / (generated + serialized) / 1e6,
    );
}
