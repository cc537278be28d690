//! One timed pass of the engine benchmark's workload (simulator seed 11,
//! scale 0.1, every detector on), for profilers: criterion's repetitions and
//! the training pass would drown the engine in a callgrind or perf run.
//!
//! `cargo bench --bench engine_profile --no-run`, then e.g.
//! `valgrind --tool=callgrind --toggle-collect='*Engine*process*' <exe>`:
//! instructions in `Engine::process` divided by the printed record count are
//! the instructions per record. Also prints heap allocations per record.
//! `PASSES=n` scores the test set n times (a fresh engine each time).

use apiwarden_detect::{Engine, EngineConfig, TrainConfig, Trainer};
use apiwarden_record::{parse_bytes, AccessRecord, Fingerprinter, InputFormat};
use apiwarden_sim::{generate, SimConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Simulated records through the NDJSON parser, as `benches/engine.rs` has them.
fn records(sim: &[apiwarden_sim::SimRecord], fp: &Fingerprinter) -> Vec<AccessRecord> {
    let mut body = Vec::new();
    for r in sim {
        body.extend_from_slice(r.to_json().as_bytes());
        body.push(b'\n');
    }
    parse_bytes(&body, InputFormat::Ndjson, fp)
        .into_iter()
        .filter_map(Result::ok)
        .collect()
}

struct CountingAllocs;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for CountingAllocs {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocs = CountingAllocs;

fn main() {
    let passes: usize = std::env::var("PASSES")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let sim = generate(&SimConfig {
        seed: 11,
        scale: 0.1,
    });
    let fp = Fingerprinter::new([7; 32]);
    let train = records(&sim.train, &fp);
    let test = records(&sim.test, &fp);
    let mut trainer = Trainer::new(TrainConfig::default());
    for r in &train {
        trainer.observe(r);
    }
    let bundle = match trainer.finish() {
        Ok(b) => Arc::new(b),
        Err(e) => panic!("training on simulated traffic failed: {e}"),
    };
    let mut best = f64::INFINITY;
    let mut allocs = 0;
    for _ in 0..passes {
        let start = Instant::now();
        let before = ALLOCS.load(Ordering::Relaxed);
        let mut engine = Engine::new(Arc::clone(&bundle), EngineConfig::default());
        for r in &test {
            black_box(engine.process(r));
        }
        allocs = ALLOCS.load(Ordering::Relaxed) - before;
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
