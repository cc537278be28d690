//! Monitoring on simulated traffic: each injected incident raises exactly one
//! alert of its kind within 2 minutes of traffic time, normal days raise none.

use apiwarden_monitor::{
    MonitorAlert, MonitorConfig, MonitorKind, MonitorModel, MonitorSample, MonitorTracker,
    MonitorTrainer,
};
use apiwarden_sim::{generate_with, SimConfig, SimOptions, SimRecord, Simulation};
use std::sync::{Arc, OnceLock};

/// Stand-in for detect's discovery: ids (numbers, UUIDs, long hex) become
/// `{id}` and the query string goes.
fn template(method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or("");
    let segments: Vec<&str> = path
        .split('/')
        .map(|seg| {
            let digits = !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit());
            let hexish = seg.len() >= 8
                && seg.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
                && seg.bytes().any(|b| b.is_ascii_digit());
            let prefixed_id = seg.len() >= 8
                && seg.contains('_')
                && seg.bytes().filter(|b| b.is_ascii_digit()).count() >= 3;
            if digits || hexish || prefixed_id {
                "{id}"
            } else {
                seg
            }
        })
        .collect();
    format!("{method} {}", segments.join("/"))
}

/// The stable client key a gateway integration would pass: the user, else
/// the API key, else the address (mobile addresses rotate).
fn client_of(r: &SimRecord) -> &str {
    r.user
        .as_deref()
        .or(r.api_key.as_deref())
        .unwrap_or(&r.client_ip)
}

/// Stand-in for detect's discovery: the `api` field, else the host's first label.
fn api_of(r: &SimRecord) -> &'static str {
    r.api
        .or_else(|| r.host.and_then(|h| h.split('.').next()))
        .unwrap_or("")
}

fn replay<'a>(records: impl Iterator<Item = &'a SimRecord>, mut f: impl FnMut(&MonitorSample<'_>)) {
    for r in records {
        let endpoint = template(r.method, &r.path);
        f(&MonitorSample {
            api: api_of(r),
            endpoint: &endpoint,
            id: &r.id,
            ts_ms: r.ts_ms,
            status: r.status,
            latency_ms: r.latency_ms,
            request_bytes: r.request_bytes,
            response_bytes: r.response_bytes,
            country: r.country,
            client: Some(client_of(r)),
        });
    }
}

fn train(sim: &Simulation) -> MonitorModel {
    train_on(&sim.train)
}

fn train_on(records: &[SimRecord]) -> MonitorModel {
    let mut trainer = MonitorTrainer::new(MonitorConfig::default());
    replay(records.iter(), |s| trainer.observe(s));
    trainer.finish()
}

/// The two training days: the first to learn, the second a normal day to replay.
fn split_days(sim: &Simulation) -> (&[SimRecord], &[SimRecord]) {
    let start = sim.train.first().map_or(0, |r| r.ts_ms);
    let day_ms = 86_400_000;
    let second = sim
        .train
        .partition_point(|r| r.ts_ms < start - start.rem_euclid(day_ms) + day_ms);
    sim.train.split_at(second)
}

/// Every alert with the traffic time of the record that first returned it.
fn track<'a>(
    model: &MonitorModel,
    records: impl Iterator<Item = &'a SimRecord>,
) -> (Vec<MonitorAlert>, Vec<(String, i64)>) {
    let mut tracker = MonitorTracker::new(Arc::new(model.clone()), MonitorConfig::default());
    let mut raised: Vec<(String, i64)> = Vec::new();
    replay(records, |s| {
        for a in tracker.observe(s) {
            if !raised.iter().any(|(id, _)| *id == a.id) {
                raised.push((a.id, s.ts_ms));
            }
        }
    });
    (tracker.alerts(), raised)
}

fn sim(seed: u64, scale: f64, incidents: bool) -> Simulation {
    generate_with(
        &SimConfig { seed, scale },
        &SimOptions {
            monitoring_incidents: incidents,
            ..SimOptions::default()
        },
    )
}

fn show(alerts: &[MonitorAlert]) -> String {
    alerts
        .iter()
        .map(|a| {
            format!(
                "{} {} {:?} {} [{}..{}] x{} {:?}\n",
                a.kind.as_str(),
                a.api,
                a.endpoint,
                a.score,
                a.first_seen_ms,
                a.last_seen_ms,
                a.count,
                a.evidence
                    .iter()
                    .map(|e| format!("{} {} vs {}", e.feature, e.observed, e.baseline))
                    .collect::<Vec<_>>()
            )
        })
        .collect()
}

/// Scale at which the simulated endpoints carry enough traffic per minute
/// (the outage's endpoint ~30 requests a minute at its hour).
const SCALE: f64 = 0.5;
const SEEDS: [u64; 3] = [1, 2, 3];
const TWO_MINUTES_MS: i64 = 120_000;

/// Seeds 1-3 with incidents on (their training traffic is that of incidents off).
fn sims() -> &'static [Simulation] {
    static SIMS: OnceLock<Vec<Simulation>> = OnceLock::new();
    SIMS.get_or_init(|| SEEDS.iter().map(|&seed| sim(seed, SCALE, true)).collect())
}

fn benign_test_day(s: &Simulation) -> impl Iterator<Item = &SimRecord> {
    s.test
        .iter()
        .zip(&s.labels)
        .filter(|(_, l)| l.attack.is_none())
        .map(|(r, _)| r)
}

#[test]
fn each_incident_raises_one_alert_of_its_kind_within_two_minutes() {
    for (seed, s) in SEEDS.iter().zip(sims()) {
        let model = train(s);
        let (alerts, raised) = track(&model, benign_test_day(s));
        assert_eq!(s.incidents.len(), 3, "seed {seed}");
        for incident in &s.incidents {
            let kind = MonitorKind::parse(incident.kind).expect("known kind");
            let endpoint = incident
                .endpoint
                .as_deref()
                .map(|e| e.split('?').next().unwrap_or(e).to_string());
            let matching: Vec<(&MonitorAlert, i64)> = alerts
                .iter()
                .zip(&raised)
                .filter(|(a, _)| {
                    a.kind == kind
                        && a.api == incident.api
                        && (a.endpoint.is_none() || a.endpoint == endpoint)
                        && a.last_seen_ms >= incident.start_ms
                        && a.first_seen_ms <= incident.end_ms
                })
                .map(|(a, (_, at))| (a, *at))
                .collect();
            assert_eq!(
                matching.len(),
                1,
                "seed {seed} {incident:?}\n{}",
                show(&alerts)
            );
            let (alert, raised_at) = matching[0];
            let delay = raised_at - incident.start_ms;
            assert!(
                (0..=TWO_MINUTES_MS).contains(&delay),
                "seed {seed} {} raised {delay} ms after start",
                incident.kind
            );
            assert_eq!(alert.endpoint, endpoint, "seed {seed}: names the endpoint");
            assert!(!alert.request_ids.is_empty() && alert.request_ids.len() <= 50);
            let in_incident: Vec<&SimRecord> = s
                .test
                .iter()
                .filter(|r| alert.request_ids.contains(&r.id))
                .collect();
            assert_eq!(in_incident.len(), alert.request_ids.len());
            assert!(
                in_incident
                    .iter()
                    .all(|r| r.ts_ms >= incident.start_ms - 60_000
                        && r.ts_ms <= incident.end_ms + 60_000),
                "seed {seed}: request ids come from the incident's windows"
            );
            assert!(!alert.evidence.is_empty());
        }
    }
}

#[test]
fn a_normal_day_raises_no_alert() {
    for (seed, s) in SEEDS.iter().zip(sims()) {
        let (day1, day2) = split_days(s);
        assert!(day1.len() > 10_000 && day2.len() > 10_000);
        let (alerts, _) = track(&train_on(day1), day2.iter());
        assert!(alerts.is_empty(), "seed {seed}:\n{}", show(&alerts));
    }
}

#[test]
fn replay_is_deterministic_and_survives_a_model_round_trip() {
    let s = &sims()[0];
    let model = train(s);
    let bytes = rmp_serde::to_vec_named(&model).expect("serialize");
    let restored: MonitorModel = rmp_serde::from_slice(&bytes).expect("deserialize");
    assert_eq!(restored, model);
    let (first, _) = track(&model, benign_test_day(s));
    let (second, _) = track(&restored, benign_test_day(s));
    assert!(!first.is_empty());
    assert_eq!(
        serde_json::to_string(&first).expect("json"),
        serde_json::to_string(&second).expect("json")
    );
    let json = serde_json::to_value(&first[0]).expect("json");
    assert!(MonitorKind::parse(json["kind"].as_str().unwrap_or("")).is_some());
}

#[test]
fn a_flood_that_slows_search_gets_a_latency_alert_beside_it() {
    let s = &sims()[0];
    let model = train(s);
    let (alerts, _) = track(&model, s.test.iter());
    // Loud floods hit the shop's search and slow it for everybody.
    let mut floods: Vec<(i64, i64)> = Vec::new();
    for (r, l) in s.test.iter().zip(&s.labels) {
        let on_search = api_of(r) == "shop" && template(r.method, &r.path) == "GET /search";
        if l.attack.map(|a| a.as_str()) == Some("api_dos") && on_search {
            match floods.last_mut() {
                Some(f) if r.ts_ms - f.1 < 10 * 60_000 => f.1 = r.ts_ms,
                _ => floods.push((r.ts_ms, r.ts_ms)),
            }
        }
    }
    assert!(!floods.is_empty(), "seed 1 has a loud flood on search");
    for (from, to) in floods {
        let beside = alerts.iter().any(|a| {
            a.kind == MonitorKind::LatencyRegression
                && a.endpoint.as_deref() == Some("GET /search")
                && a.first_seen_ms <= to
                && a.last_seen_ms >= from
        });
        assert!(beside, "flood [{from}..{to}]\n{}", show(&alerts));
    }
}
