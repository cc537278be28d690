//! One timed pass of the engine benchmark's workload (simulator seed 11,
//! scale 0.1, every detector on), for profilers: criterion's repetitions and
//! the training pass would drown the engine in a callgrind or perf run.
//!
//! `cargo bench --bench engine_profile --no-run`, then e.g.
//! `valgrind --tool=callgrind --toggle-collect='*Engine*process*' <exe>`:
//! instructions in `Engine::process` divided by the printed record count are
//! the instructions per record. Also prints heap allocations per record.
//! `PASSES=n` scores the test set n times (a fresh engine each time).

use apiwarden_detect::{Engine, EngineConfig};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

#[path = "../crates/detect/tests/support/heap.rs"]
mod heap;
use heap::{allocations, workload, Workload};

fn main() {
    let passes: usize = std::env::var("PASSES")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let Workload { test, bundle, .. } = workload(0.1);
    let mut best = f64::INFINITY;
    let mut allocs = 0;
    for _ in 0..passes {
        let start = Instant::now();
        let before = allocations();
        let mut engine = Engine::new(Arc::clone(&bundle), EngineConfig::default());
        for r in &test {
            black_box(engine.process(r));
        }
        allocs = allocations() - before;
        drop(engine);
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "{} records; best of {passes}: {:.3} s = {:.0} records/s; {:.2} allocations/record",
        test.len(),
        best,
        test.len() as f64 / best,
        allocs as f64 / test.len() as f64
    );
}
