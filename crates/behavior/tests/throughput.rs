//! Throughput and memory of the tracker on the synthetic world. Run in release:
//! `cargo test --release -p apiwarden-behavior --test throughput -- --ignored --nocapture`

mod world;

use std::sync::Arc;
use std::time::Instant;
use world::*;

#[test]
#[ignore = "a measurement, run in release"]
fn tracker_throughput() {
    let train_events = benign(1, T0, 30, 400);
    let t = Instant::now();
    let model = Arc::new(train(&train_events, 7));
    let train_s = t.elapsed().as_secs_f64();
    let test = benign(2, T0 + 30 * HOUR, 24, 400);
    let observations: Vec<_> = test.iter().map(observation).collect();
    let mut tracker = apiwarden_behavior::BehaviorTracker::new(model, test_config());
    let t = Instant::now();
    let mut flagged = 0usize;
    for o in &observations {
        flagged += tracker.observe(o).flagged.len();
    }
    let s = t.elapsed().as_secs_f64();
    eprintln!(
        "train: {} records in {train_s:.2}s; score: {} records in {s:.3}s = {:.0} records/s, {:.2} us/record; {} active entities; {flagged} flags",
        train_events.len(),
        observations.len(),
        observations.len() as f64 / s,
        s * 1e6 / observations.len() as f64,
        tracker.active_entities()
    );
    eprintln!(
        "entity window: {} bytes",
        std::mem::size_of::<apiwarden_behavior::EntityWindow>()
    );
}
