//! Training learns each API's health baselines beside its attack models,
//! keyed the way detection names endpoints, and the bundle keeps them.

mod common;

use apiwarden_detect::{ModelBundle, TrainConfig, Trainer};
use common::*;

fn trained() -> ModelBundle {
    let us = users(30);
    let mut trainer = Trainer::new(TrainConfig {
        seed: 5,
        request_trees: 10,
        request_sample_size: 32,
        ..TrainConfig::default()
    });
    for r in benign(7, &us, T0, 1, "mm") {
        trainer.observe(&r);
    }
    trainer.finish().expect("trains")
}

#[test]
fn every_trained_api_has_health_baselines_for_its_endpoints() {
    let bundle = trained();
    assert!(!bundle.apis.is_empty());
    for (name, api) in &bundle.apis {
        let monitor = api.monitor.as_ref().expect("monitor model");
        let baseline = monitor
            .api(name)
            .expect("baseline under the API's own name");
        assert!(
            !baseline.endpoints.is_empty(),
            "{name}: no endpoint baselines"
        );
        for endpoint in baseline.endpoints.keys() {
            assert!(
                api.endpoints.index.contains_key(endpoint),
                "{name}: monitor endpoint {endpoint:?} is not a detection endpoint"
            );
        }
    }
}

#[test]
fn health_baselines_survive_save_and_load() {
    let bundle = trained();
    let dir = tempfile::tempdir().expect("tempdir");
    bundle.save(dir.path()).expect("save");
    let loaded = ModelBundle::load(dir.path()).expect("load");
    for (name, api) in &bundle.apis {
        let before = api.monitor.as_ref().and_then(|m| m.api(name));
        let after = loaded
            .apis
            .get(name)
            .and_then(|a| a.monitor.as_ref())
            .and_then(|m| m.api(name));
        let (Some(before), Some(after)) = (before, after) else {
            panic!("{name}: monitor baseline lost in the round trip");
        };
        assert_eq!(
            before.endpoints.keys().collect::<Vec<_>>(),
            after.endpoints.keys().collect::<Vec<_>>()
        );
    }
}
