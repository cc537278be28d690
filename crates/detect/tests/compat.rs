//! Bundles written by earlier builds must keep loading (tantivy's
//! compat_tests idea). `models/fixtures/bundle-v1/` was written by format 1;
//! when the format changes, add a new fixture beside it and keep this one.
//!
//! Regenerate (only when adding a new format version!):
//! `cargo test -p apiwarden-detect --test compat -- --ignored write_fixture`

mod common;

use apiwarden_detect::{BehaviorConfig, Engine, EngineConfig, ModelBundle, TrainConfig, Trainer};
use common::*;
use std::path::PathBuf;
use std::sync::Arc;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/fixtures/bundle-v1")
}

/// A deliberately small model: few, shallow trees, so the fixture stays small.
fn small_config() -> TrainConfig {
    TrainConfig {
        seed: 3,
        request_trees: 10,
        request_sample_size: 32,
        behavior: BehaviorConfig {
            n_trees: 10,
            sample_size: 32,
            max_training_rows: 2000,
            max_entity_baselines: 50,
            ..BehaviorConfig::default()
        },
        ..TrainConfig::default()
    }
}

#[test]
#[ignore = "writes the committed fixture; run by hand for a new format version"]
fn write_fixture() {
    let us = users(30);
    let mut trainer = Trainer::new(small_config());
    for r in benign(5, &us, T0, 1, "fx") {
        trainer.observe(&r);
    }
    trainer.finish().unwrap().save(&fixture_dir()).unwrap();
}

#[test]
fn format_1_bundle_still_loads_and_scores() {
    let bundle = ModelBundle::load(&fixture_dir()).expect("the committed v1 fixture loads");
    assert_eq!(bundle.api_names(), vec!["payments", "shop"]);
    assert!(bundle.population.is_some());
    assert!(
        bundle.apis.values().all(|api| api.monitor.is_none()),
        "a bundle from before monitoring loads unmonitored"
    );
    let mut engine = Engine::new(Arc::new(bundle), EngineConfig::default());
    let us = users(30);
    let recs = benign(6, &us, T0 + DAY_MS, 1, "cx");
    let mut flagged = 0;
    for r in recs.iter().take(500) {
        let v = engine.process(r);
        assert!((0.0..=1.0).contains(&v.score));
        flagged += usize::from(v.attack.is_some());
    }
    assert!(flagged < 25, "{flagged} of 500 benign records flagged");
}
