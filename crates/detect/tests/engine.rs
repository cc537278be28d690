//! Train on benign traffic, then score benign and attack traffic through the engine.

mod common;

use apiwarden_detect::{
    shard_of, AttackType, BundleError, Engine, EngineConfig, EntityKind, ModelBundle, ModelStatus,
    TrainConfig, Trainer, Verdict,
};
use apiwarden_record::{Fingerprint, GeoPoint};
use common::*;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

struct Fixture {
    bundle: Arc<ModelBundle>,
    test_benign: Vec<apiwarden_record::AccessRecord>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let us = users(60);
        let train = benign(1, &us, T0, 3, "tr");
        let mut trainer = Trainer::new(TrainConfig::default());
        for r in &train {
            trainer.observe(r);
        }
        let bundle = trainer.finish().expect("training succeeds");
        Fixture {
            bundle: Arc::new(bundle),
            test_benign: benign(2, &us, T0 + 3 * DAY_MS, 1, "te"),
        }
    })
}

fn run(
    bundle: &Arc<ModelBundle>,
    recs: &[apiwarden_record::AccessRecord],
) -> (Vec<Verdict>, Engine) {
    let mut engine = Engine::new(Arc::clone(bundle), EngineConfig::default());
    let verdicts = recs.iter().map(|r| engine.process(r)).collect();
    (verdicts, engine)
}

#[test]
fn training_discovers_apis_and_folds_endpoints() {
    let b = &fixture().bundle;
    assert_eq!(b.api_names(), vec!["payments", "shop"]);
    let shop = &b.apis["shop"];
    let names = shop.endpoints.names();
    for ep in [
        "GET /v1/products/{id}",
        "GET /v1/users/{id}/profile",
        "GET /v1/orders/{id}",
        "POST /v1/cart",
    ] {
        assert!(names.iter().any(|n| n == ep), "{ep} missing from {names:?}");
    }
    let payments = b.apis["payments"].endpoints.names();
    assert!(
        payments.iter().any(|n| n == "GET /v2/charges/{id}"),
        "{payments:?}"
    );
    assert!(
        payments.iter().any(|n| n == "GET /v2/balance"),
        "{payments:?}"
    );
    assert!(b.population.is_some());
    let t = shop.request.threshold;
    assert!(t > 0.5 && t < 1.0, "threshold {t}");
}

#[test]
fn benign_traffic_raises_almost_no_alerts() {
    let f = fixture();
    let (verdicts, engine) = run(&f.bundle, &f.test_benign);
    let alerts = engine.alerts();
    let flagged = verdicts.iter().filter(|v| v.attack.is_some()).count();
    assert!(
        alerts.len() <= 2,
        "{} alerts on {} benign records: {:#?}",
        alerts.len(),
        verdicts.len(),
        alerts.iter().take(3).collect::<Vec<_>>()
    );
    assert!(
        flagged * 500 <= verdicts.len(),
        "{flagged} flagged of {}",
        verdicts.len()
    );
    assert!(verdicts.iter().all(|v| (0.0..=1.0).contains(&v.score)));
}

#[test]
fn an_outlier_request_is_an_anomalous_request_alert_with_evidence() {
    let f = fixture();
    let mut odd = base(
        "odd-1".into(),
        T0 + 3 * DAY_MS + 5 * 3_600_000,
        Some("payments"),
        None,
        "GET",
        "/v2/balance?currency=eur".into(),
    );
    odd.latency_ms = 45_000.0;
    odd.request_bytes = 5_000_000;
    odd.response_bytes = 40_000_000;
    odd.status = 500;
    odd.client_ip = "81.10.0.1".parse().unwrap();
    let recs = merge(f.test_benign.clone(), vec![odd]);
    let (verdicts, engine) = run(&f.bundle, &recs);
    let v = verdicts.iter().find(|v| v.id == "odd-1").unwrap();
    assert!(v.score > 0.5, "{v:?}");
    assert!(v.attack.is_some(), "{v:?}");
    let alert = engine
        .alerts()
        .into_iter()
        .find(|a| a.request_ids.iter().any(|r| r == "odd-1"))
        .expect("an alert names the request");
    assert_eq!(alert.api, "payments");
    assert!(!alert.evidence.is_empty());
    if alert.attack == Some(AttackType::AnomalousRequest) {
        assert_eq!(alert.entity.kind, EntityKind::Ip);
        assert_eq!(alert.entity.value, "81.10.0.1");
        let features: Vec<&str> = alert.evidence.iter().map(|e| e.feature.as_str()).collect();
        assert!(
            features.contains(&"latency_ms") || features.contains(&"response_bytes"),
            "{features:?}"
        );
    }
}

#[test]
fn a_method_the_api_refuses_is_an_anomalous_request() {
    let f = fixture();
    let at = T0 + 3 * DAY_MS + 5 * 3_600_000;
    // Ordinary sizes and timings: only the method is wrong, and the API says so.
    let mut refused = base(
        "refused-1".into(),
        at,
        None,
        Some("shop.example.com"),
        "DELETE",
        "/v1/orders/10003".into(),
    );
    refused.status = 405;
    refused.client_ip = "81.10.0.2".parse().unwrap();
    let recs = merge(f.test_benign.clone(), vec![refused]);
    let (verdicts, engine) = run(&f.bundle, &recs);
    let v = verdicts.iter().find(|v| v.id == "refused-1").unwrap();
    assert_eq!(v.attack, Some(AttackType::AnomalousRequest), "{v:?}");
    assert!(v.score > 0.5, "{v:?}");
    let alert = engine
        .alerts()
        .into_iter()
        .find(|a| a.request_ids.iter().any(|r| r == "refused-1"))
        .expect("an alert names the request");
    assert_eq!(alert.entity.value, "81.10.0.2");
    assert!(
        alert.evidence.iter().any(|e| e.feature == "endpoint_known"),
        "{:?}",
        alert.evidence
    );
}

#[test]
fn a_slow_request_on_an_endpoint_slow_for_everyone_is_no_attack() {
    let f = fixture();
    let at = T0 + 3 * DAY_MS + 5 * 3_600_000;
    let ep = {
        let shop = &f.bundle.apis["payments"].endpoints;
        &shop.endpoints[shop.index["GET /v2/balance"] as usize]
    };
    // A latency `z` robust deviations over the endpoint's training median.
    let latency = |z: f64| (ep.latency.median + z * ep.latency.scale).exp_m1();
    let request = |id: &str, ts: i64, ip: &str, z: f64| {
        let mut r = base(
            id.into(),
            ts,
            Some("payments"),
            None,
            "GET",
            "/v2/balance?currency=eur".into(),
        );
        r.latency_ms = latency(z);
        r.response_bytes = ep.response_bytes_median as u64;
        r.request_bytes = ep.request_bytes.median.exp_m1() as u64;
        r.client_ip = ip.parse().unwrap();
        r
    };
    let slow = request("slow-1", at + 60_000, "81.10.0.3", 40.0);
    let alerted = |recs: Vec<apiwarden_record::AccessRecord>| {
        let (verdicts, engine) = run(&f.bundle, &merge(f.test_benign.clone(), recs));
        let v = verdicts.iter().find(|v| v.id == "slow-1").unwrap().clone();
        let alert = engine
            .alerts()
            .into_iter()
            .find(|a| a.request_ids.iter().any(|r| r == "slow-1"));
        (v, alert)
    };
    // Alone, a request far slower than anything its endpoint showed is an outlier.
    let (v, alert) = alerted(vec![slow.clone()]);
    assert_eq!(v.attack, Some(AttackType::AnomalousRequest), "{v:?}");
    assert!(alert.is_some());
    // The same request while two other clients find the endpoint slow (several
    // times its usual latency, short of extreme) is the backend's trouble.
    let crowd = vec![
        request("crowd-1", at, "81.20.0.1", 5.0),
        request("crowd-2", at + 20_000, "81.20.0.2", 5.0),
        slow,
    ];
    let (v, alert) = alerted(crowd);
    assert_eq!(v.attack, None, "{v:?}");
    assert!(alert.is_none(), "{alert:?}");
}

#[test]
fn a_scanner_is_flagged_and_its_records_carry_the_attack() {
    let f = fixture();
    let scan = scanner(T0 + 3 * DAY_MS + 10 * 3_600_000, 80);
    let recs = merge(f.test_benign.clone(), scan);
    let (verdicts, engine) = run(&f.bundle, &recs);
    let scan_verdicts: Vec<&Verdict> = verdicts
        .iter()
        .filter(|v| v.id.starts_with("scan-"))
        .collect();
    let marked = scan_verdicts.iter().filter(|v| v.attack.is_some()).count();
    assert!(
        verdicts
            .iter()
            .filter(|v| v.attack.is_some())
            .all(|v| v.score > 0.5),
        "an attack verdict always scores over 0.5"
    );
    assert!(
        marked * 2 >= scan_verdicts.len(),
        "{marked} of {} scanner records marked",
        scan_verdicts.len()
    );
    let scanner_alerts: Vec<_> = engine
        .alerts()
        .into_iter()
        .filter(|a| a.entity.value == "203.0.113.66")
        .collect();
    assert!(!scanner_alerts.is_empty());
    assert!(
        scanner_alerts.iter().any(|a| matches!(
            a.attack,
            Some(AttackType::Probing | AttackType::AnomalousRequest)
        )),
        "{scanner_alerts:#?}"
    );
    assert!(scanner_alerts.iter().all(|a| a.api == "shop"));
    // Deduplicated: the scan is one alert per (entity, attack), not one per record.
    assert!(scanner_alerts.len() <= 3, "{} alerts", scanner_alerts.len());
    let first = &verdicts.iter().find(|v| v.id == "scan-0").unwrap().endpoint;
    assert_eq!(first, "GET /admin");
}

#[test]
fn sharding_by_api_gives_identical_verdicts() {
    let f = fixture();
    let recs = merge(
        f.test_benign.clone(),
        scanner(T0 + 3 * DAY_MS + 7_200_000, 40),
    );
    let (whole, whole_engine) = run(&f.bundle, &recs);
    let mut shards: Vec<Engine> = (0..3)
        .map(|_| Engine::new(Arc::clone(&f.bundle), EngineConfig::default()))
        .collect();
    let mut by_id: BTreeMap<String, Verdict> = BTreeMap::new();
    for r in &recs {
        let s = shard_of(&apiwarden_detect::api_name(r), shards.len());
        let v = shards[s].process(r);
        by_id.insert(v.id.clone(), v);
    }
    for v in &whole {
        assert_eq!(by_id.get(&v.id), Some(v));
    }
    let mut sharded_alerts: Vec<_> = shards.iter().flat_map(|e| e.alerts()).collect();
    let mut whole_alerts = whole_engine.alerts();
    sharded_alerts.sort_by(|a, b| a.id.cmp(&b.id));
    whole_alerts.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(sharded_alerts, whole_alerts);
    assert_eq!(shard_of("shop", 1), 0);
    assert_eq!(shard_of("shop", 7), shard_of("shop", 7));
}

#[test]
fn training_is_deterministic_and_the_bundle_round_trips() {
    let f = fixture();
    let us = users(60);
    let train = benign(1, &us, T0, 3, "tr");
    let mut again = Trainer::new(TrainConfig::default());
    for r in &train {
        again.observe(r);
    }
    let again = again.finish().unwrap();
    let bytes = f.bundle.to_bytes();
    assert_eq!(bytes, again.to_bytes(), "same input and seed, same bundle");

    let dir = tempfile::tempdir().unwrap();
    f.bundle.save(dir.path()).unwrap();
    let loaded = Arc::new(ModelBundle::load(dir.path()).unwrap());
    assert_eq!(loaded.to_bytes(), bytes);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["apis"].as_array().unwrap().len(), 2);

    let recs: Vec<_> = f.test_benign.iter().take(3000).cloned().collect();
    let (a, _) = run(&f.bundle, &recs);
    let (b, _) = run(&loaded, &recs);
    assert_eq!(a, b);
}

#[test]
fn damaged_bundles_give_typed_errors() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        ModelBundle::load(dir.path()),
        Err(BundleError::Io { .. })
    ));
    let bytes = f.bundle.to_bytes();
    let mut corrupt = bytes.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0xff;
    assert!(matches!(
        ModelBundle::from_bytes(&corrupt),
        Err(BundleError::ChecksumMismatch { .. })
    ));
    assert!(matches!(
        ModelBundle::from_bytes(&bytes[..bytes.len() / 3]),
        Err(BundleError::Truncated { .. })
    ));
    assert!(matches!(
        ModelBundle::from_bytes(b"{\"json\": true}"),
        Err(BundleError::NotABundle)
    ));
    // A well-formed envelope around garbage: a decode error, not a panic.
    let sealed = apiwarden_detect::envelope::seal(b"\x93\x01\x02");
    assert!(matches!(
        ModelBundle::from_bytes(&sealed),
        Err(BundleError::Decode(_))
    ));
}

#[test]
fn an_api_unseen_in_training_uses_the_population_model() {
    let f = fixture();
    let mut recs = Vec::new();
    for (i, r) in f
        .test_benign
        .iter()
        .enumerate()
        .filter(|(_, r)| r.api.as_deref() == Some("payments"))
    {
        let mut r = r.clone();
        r.api = Some("billing".into());
        r.id = Some(format!("bill-{i}"));
        recs.push(r);
    }
    let (verdicts, engine) = run(&f.bundle, &recs);
    let status = engine.api_status();
    let billing = status.iter().find(|s| s.name == "billing").unwrap();
    assert_eq!(billing.model, ModelStatus::Population);
    assert_eq!(billing.records, recs.len() as u64);
    assert!(
        billing.endpoints.iter().any(|e| e == "POST /v2/charges"),
        "{:?}",
        billing.endpoints
    );
    let shop = status.iter().find(|s| s.name == "shop").unwrap();
    assert_eq!((shop.model, shop.records), (ModelStatus::Trained, 0));
    let flagged = verdicts.iter().filter(|v| v.attack.is_some()).count();
    assert!(
        flagged * 100 <= verdicts.len(),
        "{flagged} of {} flagged",
        verdicts.len()
    );
}

#[test]
fn entity_snapshots_are_available_per_api() {
    let f = fixture();
    let recs: Vec<_> = f.test_benign.iter().take(2000).cloned().collect();
    let (_, engine) = run(&f.bundle, &recs);
    let r = recs.iter().rev().find(|r| r.host.is_some()).unwrap();
    let snap = engine.entity("shop", EntityKind::Ip, &r.client_ip.to_string());
    assert!(snap.is_some());
    assert!(engine.entity("nope", EntityKind::Ip, "1.2.3.4").is_none());
    assert!(engine.active_entities() > 0);
}

#[test]
fn traffic_that_alerts_is_not_learned_as_normal() {
    let us = users(60);
    let absurd = |id: &str, ts: i64| {
        let mut r = base(
            id.into(),
            ts,
            None,
            Some("shop.example.com"),
            "POST",
            "/v1/cart".into(),
        );
        r.latency_ms = 60_000.0;
        r.request_bytes = 9_000_000;
        r.client_ip = "81.10.0.1".parse().unwrap();
        r
    };
    let train = merge(
        benign(1, &us, T0, 3, "tr"),
        (0..3)
            .map(|i| absurd(&format!("bad-{i}"), T0 + DAY_MS + i * 3_600_000))
            .collect(),
    );
    let mut trainer = Trainer::new(TrainConfig::default());
    for r in &train {
        trainer.observe(r);
    }
    let bundle = Arc::new(trainer.finish().unwrap());
    assert!(
        bundle.excluded_records >= 3,
        "the absurd requests in training are left out: {} excluded",
        bundle.excluded_records
    );
    // ... and the same request in test is still an alert.
    let f = fixture();
    let recs = merge(
        f.test_benign.clone(),
        vec![absurd("bad-test", T0 + 3 * DAY_MS + 3_600_000)],
    );
    let (verdicts, _) = run(&bundle, &recs);
    let v = verdicts.iter().find(|v| v.id == "bad-test").unwrap();
    assert!(v.score > 0.5 && v.attack.is_some(), "{v:?}");
}

#[test]
fn a_flood_of_new_apis_shares_one_overflow_state() {
    let f = fixture();
    let cfg = EngineConfig {
        max_apis: 3,
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(Arc::clone(&f.bundle), cfg);
    for i in 0..50 {
        let mut r = f.test_benign[i].clone();
        r.api = None;
        r.host = Some(format!("h{i}.example.com"));
        engine.process(&r);
    }
    let status = engine.api_status();
    // The two trained APIs are always listed; new ones are capped (+ the overflow).
    assert!(status.len() <= 2 + 3 + 1, "{status:?}");
    assert!(status
        .iter()
        .any(|s| s.name == apiwarden_detect::engine::OVERFLOW_API));
}

#[test]
fn the_owner_after_a_stranger_on_an_api_new_to_the_credential_is_at_home() {
    // Training: the shop and payments see `us` (from their own countries); an identity
    // API sees other people only.
    let us = users(60);
    let others: Vec<User> = users(90).into_iter().skip(60).collect();
    let identity = |mut r: apiwarden_record::AccessRecord| {
        r.api = Some("identity".into());
        r.host = None;
        r
    };
    let train = merge(
        benign(1, &us, T0, 3, "tr"),
        benign(3, &others, T0, 3, "id")
            .into_iter()
            .map(identity)
            .collect(),
    );
    let mut trainer = Trainer::new(TrainConfig::default());
    for r in &train {
        trainer.observe(r);
    }
    let bundle = Arc::new(trainer.finish().expect("training succeeds"));
    assert!(bundle.apis.contains_key("identity"));

    // A stranger in Johannesburg uses a French customer's token on the identity API (its
    // first use there), then the customer signs in again at home, a few minutes later.
    let owner = us
        .iter()
        .find(|u| u.country == "FR")
        .expect("a French user");
    let at = T0 + 3 * DAY_MS + 5 * 3_600_000;
    let visit = |id: String, ts: i64, ip: &str, country: &str, geo: GeoPoint, token: &str| {
        let mut r = base(
            id,
            ts,
            Some("identity"),
            None,
            "GET",
            format!("/v1/users/{}/profile", owner.name),
        );
        r.client_ip = ip.parse().unwrap();
        r.country = Some(country.into());
        r.geo = Some(geo);
        r.user = Some(owner.name.clone());
        r.token = Some(Fingerprint(token.into()));
        r.response_bytes = 800;
        r
    };
    let johannesburg = GeoPoint {
        lat: -26.2,
        lon: 28.05,
    };
    let mut extra: Vec<_> = (0..4)
        .map(|i| {
            visit(
                format!("thief-{i}"),
                at + i * 60_000,
                "41.10.0.9",
                "ZA",
                johannesburg,
                &owner.token.0,
            )
        })
        .collect();
    extra.extend((0..4).map(|i| {
        visit(
            format!("owner-{i}"),
            at + 6 * 60_000 + i * 30_000,
            &owner.ip,
            owner.country,
            owner.geo,
            "fp:0000000000000000000000000000beef",
        )
    }));
    let f = fixture();
    let (verdicts, engine) = run(&bundle, &merge(f.test_benign.clone(), extra));
    let flagged: Vec<_> = verdicts
        .iter()
        .filter(|v| v.id.starts_with("owner-") && v.attack.is_some())
        .collect();
    assert!(
        flagged.is_empty(),
        "the owner at home flagged: {flagged:#?}"
    );
    let blamed: Vec<_> = engine
        .alerts()
        .into_iter()
        .filter(|a| a.request_ids.iter().any(|r| r.starts_with("owner-")))
        .collect();
    assert!(
        blamed.is_empty(),
        "alerts naming the owner's requests: {blamed:#?}"
    );
}
