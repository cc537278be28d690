//! The engine raises API health alerts beside attack alerts: each incident
//! the simulator injects gives one monitoring alert of its kind within two
//! minutes of traffic time, and monitoring never marks a record an attack.

use apiwarden_detect::{
    AlertFamily, Engine, EngineConfig, EntityKind, MonitorKind, TrainConfig, Trainer,
};
use apiwarden_record::{parse_bytes, AccessRecord, Fingerprinter, InputFormat};
use apiwarden_sim::{generate_with, SimConfig, SimOptions, SimRecord};
use std::sync::Arc;

const TWO_MINUTES_MS: i64 = 120_000;

fn records(sim: &[SimRecord], fp: &Fingerprinter) -> Vec<AccessRecord> {
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

#[test]
fn each_incident_raises_one_monitoring_alert_of_its_kind_in_time() {
    let sim = generate_with(
        &SimConfig {
            seed: 1,
            scale: 0.3,
        },
        &SimOptions {
            monitoring_incidents: true,
            ..SimOptions::default()
        },
    );
    assert_eq!(sim.incidents.len(), 3);
    let fp = Fingerprinter::new([7; 32]);
    let mut trainer = Trainer::new(TrainConfig::default());
    for r in &records(&sim.train, &fp) {
        trainer.observe(r);
    }
    let bundle = Arc::new(trainer.finish().expect("training on the simulator"));
    let mut engine = Engine::new(bundle, EngineConfig::default());
    let mut raised_at: Vec<(String, i64)> = Vec::new();
    for r in &records(&sim.test, &fp) {
        let verdict = engine.process(r);
        for a in verdict.alerts.iter().filter(|a| a.monitor.is_some()) {
            if !raised_at.iter().any(|(id, _)| *id == a.id) {
                raised_at.push((a.id.clone(), r.ts_ms));
            }
        }
    }
    let figures = engine.monitor_figures(usize::MAX);
    let apis: Vec<&str> = figures
        .iter()
        .filter(|f| f.endpoint.is_none())
        .map(|f| f.api.as_str())
        .collect();
    assert!(apis.len() >= 2, "{apis:?}");
    assert!(apis.windows(2).all(|w| w[0] < w[1]), "by name: {apis:?}");
    assert!(figures.iter().all(|f| f.requests_per_second >= 0.0));
    let capped = engine.monitor_figures(1);
    assert!(capped.iter().all(|f| f.api == apis[0]), "one API only");
    assert!(
        capped.iter().any(|f| f.endpoint.is_some()),
        "with its endpoints"
    );
    let monitoring: Vec<_> = engine
        .alerts()
        .into_iter()
        .filter(|a| a.family == AlertFamily::Monitoring)
        .collect();
    for a in &monitoring {
        assert!(a.attack.is_none(), "{a:?}");
        assert_eq!(a.entity.kind, EntityKind::Api);
        assert_eq!(a.entity.value, a.api);
    }
    for incident in &sim.incidents {
        let kind = MonitorKind::parse(incident.kind).expect("known kind");
        let matching: Vec<_> = monitoring
            .iter()
            .filter(|a| {
                a.monitor == Some(kind)
                    && a.api == incident.api
                    && a.last_seen_ms >= incident.start_ms
                    && a.first_seen_ms <= incident.end_ms
            })
            .collect();
        assert_eq!(matching.len(), 1, "{incident:?}\n{monitoring:#?}");
        let at = raised_at
            .iter()
            .find(|(id, _)| *id == matching[0].id)
            .map(|(_, at)| *at)
            .expect("returned by a verdict");
        if incident.kind == "latency_regression" {
            // The alert names the one endpoint it is about.
            assert_eq!(matching[0].endpoint, incident.endpoint, "{:?}", matching[0]);
        }
        let delay = at - incident.start_ms;
        assert!(
            (0..=TWO_MINUTES_MS).contains(&delay),
            "{} raised {delay} ms after its start",
            incident.kind
        );
    }
}
