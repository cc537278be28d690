//! Monitoring incidents are opt-in: with them off, the output is the same
//! bytes as before they existed; with them on, only the listed windows change.

use apiwarden_sim::{generate, generate_with, write_dir_with, SimConfig, SimOptions, Simulation};

/// FNV-1a over every line the simulation writes (train, test, labels).
fn fingerprint(sim: &Simulation) -> u64 {
    fingerprint_of(sim, true)
}

/// FNV-1a over the train and test records, optionally also the labels.
fn fingerprint_of(sim: &Simulation, with_labels: bool) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    let mut buf = Vec::new();
    for r in sim.train.iter().chain(sim.test.iter()) {
        buf.clear();
        r.write_json(&mut buf);
        eat(&buf);
    }
    for l in sim.labels.iter().filter(|_| with_labels) {
        buf.clear();
        l.write_json(&mut buf);
        eat(&buf);
    }
    hash
}

/// Fingerprint of seed 7, scale 0.01, taken before monitoring incidents
/// existed, then again when labels gained `"variant"` (records unchanged:
/// `RECORDS_BEFORE_INCIDENTS` was taken with the first one).
const BEFORE_INCIDENTS: u64 = 0x8001_e891_b447_31b7;
const RECORDS_BEFORE_INCIDENTS: u64 = 0x5b61_9b31_b853_b68e;

fn small() -> SimConfig {
    SimConfig {
        seed: 7,
        scale: 0.01,
    }
}

#[test]
fn incidents_off_is_byte_identical_to_before() {
    let plain = generate(&small());
    assert_eq!(fingerprint_of(&plain, false), RECORDS_BEFORE_INCIDENTS);
    assert_eq!(fingerprint(&plain), BEFORE_INCIDENTS);
    let off = generate_with(&small(), &SimOptions::default());
    assert_eq!(fingerprint(&off), BEFORE_INCIDENTS);
    assert!(off.incidents.is_empty());
}

#[test]
fn incidents_on_are_listed_benign_and_visible() {
    let plain = generate(&small());
    let sim = generate_with(
        &small(),
        &SimOptions {
            monitoring_incidents: true,
            ..SimOptions::default()
        },
    );
    let kinds: Vec<&str> = sim.incidents.iter().map(|i| i.kind).collect();
    let mut sorted = kinds.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        ["country_shift", "error_rate_spike", "latency_regression"]
    );
    // Training traffic and the attack labels do not move.
    assert_eq!(sim.train, plain.train);
    let attacks = |s: &Simulation| s.labels.iter().filter(|l| l.attack.is_some()).count();
    assert_eq!(attacks(&sim), attacks(&plain));

    let latency = sim
        .incidents
        .iter()
        .find(|i| i.kind == "latency_regression")
        .expect("latency incident");
    assert_eq!(latency.end_ms - latency.start_ms, 30 * 60_000);
    let median_latency = |s: &Simulation| {
        let mut v: Vec<f64> = s
            .test
            .iter()
            .filter(|r| {
                r.truth.attack.is_none()
                    && r.endpoint.map(apiwarden_sim::endpoint_name) == latency.endpoint
                    && r.ts_ms >= latency.start_ms
                    && r.ts_ms < latency.end_ms
            })
            .map(|r| r.latency_ms)
            .collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let (slow, normal) = (median_latency(&sim), median_latency(&plain));
    assert!(slow >= 4.0 * normal && normal > 0.0, "{slow} vs {normal}");

    let shift = sim
        .incidents
        .iter()
        .find(|i| i.kind == "country_shift")
        .expect("country incident");
    let in_shift: Vec<_> = sim
        .test
        .iter()
        .filter(|r| {
            r.ts_ms >= shift.start_ms
                && r.ts_ms < shift.end_ms
                && r.endpoint
                    .map(|id| apiwarden_sim::world::endpoint(id).api.name())
                    == Some(shift.api)
        })
        .collect();
    let new_country = in_shift.iter().filter(|r| r.country == Some("VN")).count();
    let share = new_country as f64 / in_shift.len().max(1) as f64;
    assert!((0.2..0.45).contains(&share), "VN share {share}");
}

#[test]
fn incidents_file_is_written_only_when_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let on = SimOptions {
        monitoring_incidents: true,
        ..SimOptions::default()
    };
    write_dir_with(dir.path(), &small(), &on).expect("write");
    let text = std::fs::read_to_string(dir.path().join("incidents.ndjson")).expect("incidents");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(apiwarden_sim::endpoint_name(16), "GET /v2/accounts/{id}");
    assert_eq!(apiwarden_sim::endpoint_name(0), "GET /products");
    for l in &lines {
        assert!(l["start_ms"].as_i64() < l["end_ms"].as_i64());
        assert!(l["kind"].is_string() && l["api"].is_string());
    }
    let off = tempfile::tempdir().expect("tempdir");
    write_dir_with(off.path(), &small(), &SimOptions::default()).expect("write");
    assert!(!off.path().join("incidents.ndjson").exists());
}

#[test]
fn incidents_name_their_api_as_discovery_does() {
    let sim = generate_with(
        &small(),
        &SimOptions {
            monitoring_incidents: true,
            ..SimOptions::default()
        },
    );
    let shift = sim
        .incidents
        .iter()
        .find(|i| i.kind == "country_shift")
        .expect("country incident");
    // The shop's gateway sends no `api` field: discovery takes the host's
    // first label, and so do the alerts.
    assert_eq!(shift.api, "shop");
    assert!(sim
        .incidents
        .iter()
        .all(|i| ["shop", "payments", "partner", "identity"].contains(&i.api)));
}

#[test]
fn a_normal_day_has_no_attack_no_outage_and_no_surge() {
    let plain = generate(&small());
    let normal = generate_with(
        &small(),
        &SimOptions {
            normal_day: true,
            ..SimOptions::default()
        },
    );
    assert_eq!(normal.train, plain.train, "training traffic does not move");
    assert!(normal.incidents.is_empty());
    assert!(normal.labels.iter().all(|l| l.attack.is_none()));
    // The marketing surge (the default day's benign records beyond the
    // normal day's) is gone; the staff's bulk export stays.
    let benign = |s: &Simulation| s.labels.iter().filter(|l| l.attack.is_none()).count();
    assert!(benign(&normal) < benign(&plain));
    let exports = |s: &Simulation| s.test.iter().filter(|r| r.path.contains("/export")).count();
    assert!(exports(&normal) > 0);
    assert!(normal.test.len() > 1_000);
    assert!(normal.test.windows(2).all(|w| w[0].ts_ms <= w[1].ts_ms));

    // With the incidents asked for, the outage is one of them.
    let with_incidents = generate_with(
        &small(),
        &SimOptions {
            normal_day: true,
            monitoring_incidents: true,
        },
    );
    assert_eq!(with_incidents.incidents.len(), 3);
    let outage = with_incidents
        .incidents
        .iter()
        .find(|i| i.kind == "error_rate_spike")
        .expect("outage");
    // Benign traffic answers a rare 5xx; the outage's window is full of them.
    let errors_in_outage = |s: &Simulation| {
        s.test
            .iter()
            .filter(|r| r.status >= 500 && r.ts_ms >= outage.start_ms && r.ts_ms < outage.end_ms)
            .count()
    };
    let (with, without) = (errors_in_outage(&with_incidents), errors_in_outage(&normal));
    assert!(with >= 3 && without <= 1, "{with} vs {without} 5xx");
    assert!(with_incidents.labels.iter().all(|l| l.attack.is_none()));
}
