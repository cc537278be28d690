//! Engine throughput with every detector on (discovery, request forest,
//! extremeness, behavior windows and models, alert dedup), in records per
//! second on one core, over simulated traffic; and the heap the engine holds
//! per active entity, measured by a counting allocator.
//!
//! `cargo bench --bench engine` (targets, issue #3: >= 300k records/s per
//! core; <= 1 KiB per entity). `APIWARDEN_BENCH_SCALE=1 cargo bench --bench
//! engine` times a denser day.

use apiwarden_detect::{Engine, EngineConfig, TrainConfig, Trainer};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

#[path = "../crates/detect/tests/support/heap.rs"]
mod heap;
use heap::{live_bytes, uncounted, workload, Workload};

fn bench_engine(c: &mut Criterion) {
    // Scale 0.1 is a day of about 50k records: sparse enough that the health monitor's
    // per-tick work (one evaluation per API every 15 s of traffic) is a sizeable share.
    // `APIWARDEN_BENCH_SCALE=1` times a denser day (ten times the records per tick), closer
    // to the traffic at which throughput matters.
    let scale = std::env::var("APIWARDEN_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0 && *s <= 4.0)
        .unwrap_or(0.1);
    println!("engine bench: simulated day at scale {scale}");
    let Workload {
        train,
        test,
        bundle,
    } = workload(scale);

    // Memory: live heap the engine adds while scoring the test set, per
    // entity with a live behavior window (alerts and discovery state included).
    // What the model builds on first use (lookup tables, the credential index) is the
    // model's, shared by every engine: built before the count, as the memory test does.
    let mut warm = Engine::new(Arc::clone(&bundle), EngineConfig::default());
    for r in test.iter().take(100) {
        black_box(warm.process(r));
    }
    drop(warm);
    let before = live_bytes();
    let mut engine = Engine::new(Arc::clone(&bundle), EngineConfig::default());
    for r in &test {
        black_box(engine.process(r));
    }
    let held = live_bytes() - before;
    let entities = engine.active_entities().max(1);
    println!(
        "engine memory: {held} bytes held for {entities} active entities = {:.0} bytes/entity \
         ({} records, {} alerts)",
        held as f64 / entities as f64,
        test.len(),
        engine.alerts().len()
    );
    drop(engine);

    // Timed with the allocation counters off, as the binary runs.
    uncounted(|| {
        timed(c, "engine", "process_all_detectors", test.len(), || {
            let mut engine = Engine::new(Arc::clone(&bundle), EngineConfig::default());
            for r in &test {
                black_box(engine.process(r));
            }
        });
        timed(c, "train", "trainer_finish", train.len(), || {
            let mut trainer = Trainer::new(TrainConfig::default());
            for r in &train {
                trainer.observe(r);
            }
            black_box(trainer.finish().is_ok());
        });
    });
}

/// Ten samples of `run` over 10 s, reported per element (record).
fn timed(c: &mut Criterion, group: &str, name: &str, elements: usize, mut run: impl FnMut()) {
    let mut group = c.benchmark_group(group);
    group.throughput(Throughput::Elements(elements as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function(name, |b| b.iter(&mut run));
    group.finish();
}

criterion_group!(benches, bench_engine);
criterion_main!(benches);
