//! What the engine holds per active entity, counted by the allocator: every
//! table, window, sketch, alert and per-entity map the engine keeps, not an
//! estimate from struct sizes. Issue #3 target: <= 1 KiB per active entity.

use apiwarden_detect::{Engine, EngineConfig, ModelBundle};
use apiwarden_record::AccessRecord;
use std::sync::Arc;

#[path = "support/heap.rs"]
mod heap;
use heap::{live_bytes, workload, Workload};

#[test]
fn the_engine_holds_at_most_one_kib_per_active_entity() {
    let Workload { test, bundle, .. } = workload(0.1);
    // API health monitoring holds a fixed, capped state per API, not per
    // entity: the per-entity figure is taken without it, and its own cost
    // is bounded per API below.
    let mut unmonitored = (*bundle).clone();
    for api in unmonitored.apis.values_mut() {
        let mut model = (**api).clone();
        model.monitor = None;
        *api = Arc::new(model);
    }
    let unmonitored = Arc::new(unmonitored);
    // Statics filled on first use (lookup tables) are not the engine's.
    let mut warm = Engine::new(Arc::clone(&bundle), EngineConfig::default());
    for r in test.iter().take(100) {
        warm.process(r);
    }
    drop(warm);

    let (held, entities, alerts) = held_by_engine(&unmonitored, &test);
    assert!(entities > 100, "only {entities} active entities");
    let per_entity = held as f64 / entities as f64;
    println!(
        "{held} bytes held for {entities} active entities = {per_entity:.0} bytes/entity, \
         {alerts} alerts"
    );
    assert!(
        per_entity <= 1024.0,
        "{per_entity:.0} bytes per active entity"
    );

    let (monitored, _, _) = held_by_engine(&bundle, &test);
    let per_api = (monitored - held) as f64 / bundle.apis.len().max(1) as f64;
    println!("monitoring: {per_api:.0} bytes per API");
    assert!(
        per_api <= 512.0 * 1024.0,
        "monitoring holds {per_api:.0} bytes per API"
    );
}

/// Live bytes an engine holds after scoring `test`, its active entities and alerts.
fn held_by_engine(bundle: &Arc<ModelBundle>, test: &[AccessRecord]) -> (isize, usize, usize) {
    // Verdicts are dropped as they come, as `score` does once it wrote them.
    let before = live_bytes();
    let mut engine = Engine::new(Arc::clone(bundle), EngineConfig::default());
    for r in test {
        drop(engine.process(r));
    }
    let held = live_bytes() - before;
    (held, engine.active_entities(), engine.alerts().len())
}
