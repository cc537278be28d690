//! One timed pass of the engine benchmark's workload (simulator seed 11,
//! scale 0.1 or `APIWARDEN_BENCH_SCALE`, every detector on), for profilers: criterion's repetitions and
//! the training pass would drown the engine in a callgrind or perf run.
//!
//! `cargo bench --bench engine_profile --no-run`, then e.g.
//! `valgrind --tool=callgrind --toggle-collect='*Engine*process*' <exe>`:
//! instructions in `Engine::process` divided by the printed count of records
//! processed are the instructions per record. `PASSES=n` times the test set n
//! times (a fresh engine each time, allocation counters off); one more pass
//! counts heap allocations per record.

use apiwarden_detect::{Engine, EngineConfig};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

#[path = "../crates/detect/tests/support/heap.rs"]
mod heap;
use heap::{allocations, uncounted, workload, Workload};

fn main() {
    let passes: usize = std::env::var("PASSES")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    // The engine bench's knob: `APIWARDEN_BENCH_SCALE=1` profiles the denser day.
    let scale = std::env::var("APIWARDEN_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0 && *s <= 4.0)
        .unwrap_or(0.1);
    let Workload { test, bundle, .. } = workload(scale);
    let score_all = || {
        let mut engine = Engine::new(Arc::clone(&bundle), EngineConfig::default());
        for r in &test {
            black_box(engine.process(r));
        }
    };
    let best = uncounted(|| {
        (0..passes)
            .map(|_| {
                let start = Instant::now();
                score_all();
                start.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    });
    let before = allocations();
    score_all();
    let allocs = allocations() - before;
    println!(
        "{} records; best of {passes}: {:.3} s = {:.0} records/s; {:.2} allocations/record \
         ({} records processed in all)",
        test.len(),
        best,
        test.len() as f64 / best,
        allocs as f64 / test.len() as f64,
        test.len() * (passes + 1)
    );
}
