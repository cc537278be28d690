//! The tracker on synthetic traffic with known shape: drops, surges, dedup
//! with cool-down, API-wide alerts, live figures and bounded memory.

use apiwarden_monitor::{
    MonitorAlert, MonitorConfig, MonitorKind, MonitorModel, MonitorSample, MonitorTracker,
    MonitorTrainer, ENDPOINT_EVIDENCE_PREFIX,
};
use std::sync::{Arc, OnceLock};

const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;
const ENDPOINTS: [&str; 4] = ["GET /a", "GET /b", "POST /c", "GET /d/{id}"];

/// SplitMix64: a deterministic uniform in [0, 1) per counter.
fn uniform(counter: u64) -> f64 {
    let mut z = counter.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

/// What to change in a stretch of traffic.
#[derive(Clone, Copy, Default)]
struct Twist {
    rate_factor: f64,
    status: Option<u16>,
}

struct Request {
    id: String,
    ts_ms: i64,
    endpoint: &'static str,
    status: u16,
    latency_ms: f64,
    response_bytes: u64,
    country: &'static str,
    client: String,
}

/// `per_second` requests a second in [from, to), spread over the endpoints.
fn traffic(from: i64, to: i64, per_second: f64, twist: Twist) -> Vec<Request> {
    let rate = per_second
        * if twist.rate_factor > 0.0 {
            twist.rate_factor
        } else {
            1.0
        };
    let step = (1000.0 / rate) as i64;
    (0..)
        .map(|k| from + k * step.max(1))
        .take_while(|&ts| ts < to)
        .map(|ts| {
            let n = ts as u64;
            let client = (uniform(n ^ 1) * 400.0) as u64;
            Request {
                id: format!("r{ts}"),
                ts_ms: ts,
                endpoint: ENDPOINTS[(uniform(n ^ 2) * 4.0) as usize % 4],
                status: twist.status.unwrap_or(200),
                latency_ms: 20.0 + 20.0 * uniform(n ^ 3),
                response_bytes: 1_000 + (1_000.0 * uniform(n ^ 4)) as u64,
                country: if client % 10 < 7 { "FR" } else { "DE" },
                client: format!("c{client}"),
            }
        })
        .collect()
}

fn sample(r: &Request) -> MonitorSample<'_> {
    MonitorSample {
        api: "accounts",
        endpoint: r.endpoint,
        id: &r.id,
        ts_ms: r.ts_ms,
        status: r.status,
        latency_ms: r.latency_ms,
        request_bytes: 200,
        response_bytes: r.response_bytes,
        country: Some(r.country),
        client: Some(&r.client),
    }
}

/// One flat day at 5 requests a second.
fn model() -> Arc<MonitorModel> {
    static MODEL: OnceLock<Arc<MonitorModel>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let mut trainer = MonitorTrainer::new(MonitorConfig::default());
            for r in traffic(0, DAY_MS, 5.0, Twist::default()) {
                trainer.observe(&sample(&r));
            }
            Arc::new(trainer.finish())
        })
        .clone()
}

/// Replays stretches of (minutes, twist) from the start of day 2; returns
/// the alerts and when each was first returned.
fn replay(stretches: &[(i64, Twist)]) -> (Vec<MonitorAlert>, Vec<i64>, MonitorTracker) {
    let mut tracker = MonitorTracker::new(model(), MonitorConfig::default());
    let mut raised: Vec<(String, i64)> = Vec::new();
    let mut t = DAY_MS;
    for &(minutes, twist) in stretches {
        for r in traffic(t, t + minutes * MINUTE_MS, 5.0, twist) {
            for a in tracker.observe(&sample(&r)) {
                if !raised.iter().any(|(id, _)| *id == a.id) {
                    raised.push((a.id, r.ts_ms));
                }
            }
        }
        t += minutes * MINUTE_MS;
    }
    let alerts = tracker.alerts();
    let at = alerts
        .iter()
        .map(|a| {
            raised
                .iter()
                .find(|(id, _)| *id == a.id)
                .map_or(-1, |r| r.1)
        })
        .collect();
    (alerts, at, tracker)
}

const NORMAL: Twist = Twist {
    rate_factor: 1.0,
    status: None,
};

#[test]
fn normal_traffic_raises_nothing_and_a_drop_is_alerted_once() {
    let quiet = Twist {
        rate_factor: 0.05,
        status: None,
    };
    let (alerts, at, _) = replay(&[(30, NORMAL), (10, quiet), (20, NORMAL)]);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].kind, MonitorKind::TrafficDrop);
    let drop_start = DAY_MS + 30 * MINUTE_MS;
    assert!((drop_start..=drop_start + 2 * MINUTE_MS).contains(&at[0]));
    assert!(alerts[0].last_seen_ms <= drop_start + 12 * MINUTE_MS);
    assert_eq!(alerts[0].endpoint, None);
}

#[test]
fn silence_on_a_modest_api_is_a_drop() {
    // 1 request a second: 60 a window, too few for the z-score of a partial drop.
    let mut trainer = MonitorTrainer::new(MonitorConfig::default());
    for r in traffic(0, DAY_MS, 1.0, Twist::default()) {
        trainer.observe(&sample(&r));
    }
    let mut tracker = MonitorTracker::new(Arc::new(trainer.finish()), MonitorConfig::default());
    let mut opened = Vec::new();
    let mut t = DAY_MS;
    for (minutes, rate) in [(20, 1.0), (10, 0.0), (5, 1.0), (10, 0.5), (10, 1.0)] {
        if rate > 0.0 {
            for r in traffic(t, t + minutes * MINUTE_MS, rate, NORMAL) {
                opened.extend(
                    tracker
                        .observe(&sample(&r))
                        .into_iter()
                        .filter(|a| a.count == 1),
                );
            }
        }
        t += minutes * MINUTE_MS;
    }
    // The silent 10 minutes close their ticks when traffic resumes.
    let kinds: Vec<MonitorKind> = opened.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [MonitorKind::TrafficDrop], "{opened:#?}");
    assert_eq!(opened[0].severity, apiwarden_alert::Severity::Critical);
}

/// Session-shaped traffic in [from, to): a session starts every 15 s (4 a
/// minute, each its own client) and sends 10 requests 6 s apart, so ~40
/// requests a minute come from only ~4 session arrivals a minute. Requests
/// in a `silent` (from, to) stretch are dropped.
fn sessions(from: i64, to: i64, silent: Option<(i64, i64)>) -> Vec<Request> {
    let mut out = Vec::new();
    let mut start = from;
    while start < to {
        for k in 0..10 {
            let ts = start + k * 6_000;
            if ts >= to || silent.is_some_and(|(a, b)| (a..b).contains(&ts)) {
                continue;
            }
            out.push(Request {
                id: format!("s{start}-{k}"),
                ts_ms: ts,
                endpoint: ENDPOINTS[k as usize % 4],
                status: 200,
                latency_ms: 20.0 + 20.0 * uniform(ts as u64 ^ 3),
                response_bytes: 1_500,
                country: "FR",
                client: format!("session{start}"),
            });
        }
        start += 15_000;
    }
    out.sort_by_key(|r| r.ts_ms);
    out
}

/// Drops opened on day 2 of session traffic with the given silence (minutes
/// after the start of the day, length in minutes).
fn session_drops(silence_at: i64, silence_minutes: i64) -> Vec<MonitorAlert> {
    let mut trainer = MonitorTrainer::new(MonitorConfig::default());
    for r in sessions(0, DAY_MS, None) {
        trainer.observe(&sample(&r));
    }
    let mut tracker = MonitorTracker::new(Arc::new(trainer.finish()), MonitorConfig::default());
    let silent_from = DAY_MS + silence_at * MINUTE_MS;
    let silence = (silent_from, silent_from + silence_minutes * MINUTE_MS);
    for r in sessions(DAY_MS, DAY_MS + 60 * MINUTE_MS, Some(silence)) {
        tracker.observe(&sample(&r));
    }
    tracker.alerts()
}

#[test]
fn a_short_silence_of_few_sessions_is_chance_and_a_long_one_is_a_drop() {
    // 40 requests a minute (above `min_expected_for_drop`) but ~4 session
    // arrivals: 2 silent minutes were due only ~8 arrivals (e^-8 ~ 3e-4 a
    // time, several times a day): not a drop.
    let short = session_drops(20, 2);
    assert!(short.is_empty(), "{short:#?}");
    // 10 silent minutes were due ~40 arrivals: a drop, and critical. The
    // whole service is silent here, so its ticks close when traffic
    // resumes: the drop is dated in the silence, after the ~15 arrivals
    // (~4 minutes) it takes to be sure.
    let long = session_drops(20, 10);
    assert_eq!(long.len(), 1, "{long:#?}");
    assert_eq!(long[0].kind, MonitorKind::TrafficDrop);
    let from = DAY_MS + 20 * MINUTE_MS;
    assert!(
        (from + 3 * MINUTE_MS..from + 10 * MINUTE_MS).contains(&long[0].first_seen_ms),
        "{:?}",
        long[0].first_seen_ms - from
    );
    assert_eq!(long[0].severity, apiwarden_alert::Severity::Critical);
}

/// Busy traffic plus a quiet endpoint `GET /q` (one request every 10 s: 6 a
/// window, under `min_window_samples`) whose latency is x8 from `slow_from`.
fn with_quiet_endpoint(from: i64, to: i64, slow_from: i64) -> Vec<Request> {
    let mut out = traffic(from, to, 5.0, NORMAL);
    let mut ts = from + 3_000;
    while ts < to {
        let latency = 20.0 + 20.0 * uniform(ts as u64 ^ 7);
        out.push(Request {
            id: format!("q{ts}"),
            ts_ms: ts,
            endpoint: "GET /q",
            status: 200,
            latency_ms: if ts >= slow_from {
                8.0 * latency
            } else {
                latency
            },
            response_bytes: 1_500,
            country: "FR",
            client: format!("c{}", (uniform(ts as u64 ^ 1) * 400.0) as u64),
        });
        ts += 10_000;
    }
    out.sort_by_key(|r| r.ts_ms);
    out
}

#[test]
fn a_quiet_endpoint_slowing_down_is_alerted_from_its_few_slow_requests() {
    let mut trainer = MonitorTrainer::new(MonitorConfig::default());
    for r in with_quiet_endpoint(0, DAY_MS, i64::MAX) {
        trainer.observe(&sample(&r));
    }
    let mut tracker = MonitorTracker::new(Arc::new(trainer.finish()), MonitorConfig::default());
    let slow_from = DAY_MS + 20 * MINUTE_MS;
    for r in with_quiet_endpoint(DAY_MS, DAY_MS + 40 * MINUTE_MS, slow_from) {
        tracker.observe(&sample(&r));
    }
    let alerts = tracker.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let alert = &alerts[0];
    assert_eq!(alert.kind, MonitorKind::LatencyRegression);
    assert_eq!(alert.endpoint.as_deref(), Some("GET /q"));
    // Five slow requests (50 s) and persistence (30 s): within 2 minutes.
    let first_seen = alert.first_seen_ms - slow_from;
    assert!((0..=2 * MINUTE_MS).contains(&first_seen), "{first_seen}");
}

/// A quiet API: a request every 7 s (~8 distinct clients a window, under
/// `min_country_clients`); from `shift_from`, every other request comes
/// from a new client in Vietnam.
fn quiet_api(from: i64, to: i64, shift_from: i64) -> Vec<Request> {
    let mut out = traffic(from, to, 1.0 / 7.0, NORMAL);
    for (k, r) in out.iter_mut().enumerate() {
        if r.ts_ms >= shift_from && k % 2 == 0 {
            r.country = "VN";
            r.client = format!("vn{k}");
        }
    }
    out
}

#[test]
fn a_country_shift_on_a_quiet_api_is_judged_over_pooled_windows() {
    let mut trainer = MonitorTrainer::new(MonitorConfig::default());
    for r in quiet_api(0, DAY_MS, i64::MAX) {
        trainer.observe(&sample(&r));
    }
    let model = Arc::new(trainer.finish());
    let replay = |shift_from: i64| {
        let mut tracker = MonitorTracker::new(model.clone(), MonitorConfig::default());
        for r in quiet_api(DAY_MS, DAY_MS + 60 * MINUTE_MS, shift_from) {
            tracker.observe(&sample(&r));
        }
        tracker.alerts()
    };
    assert!(replay(i64::MAX).is_empty(), "a quiet normal hour");
    let shift_from = DAY_MS + 20 * MINUTE_MS;
    let alerts = replay(shift_from);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].kind, MonitorKind::CountryShift);
    let first_seen = alerts[0].first_seen_ms - shift_from;
    assert!((0..=3 * MINUTE_MS).contains(&first_seen), "{first_seen}");
}

#[test]
fn a_surge_is_alerted_once() {
    let busy = Twist {
        rate_factor: 5.0,
        status: None,
    };
    let (alerts, at, _) = replay(&[(20, NORMAL), (10, busy), (10, NORMAL)]);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].kind, MonitorKind::TrafficSurge);
    assert!(at[0] - (DAY_MS + 20 * MINUTE_MS) <= 2 * MINUTE_MS);
    let rps = &alerts[0].evidence[0];
    assert_eq!(rps.feature, "requests_per_second");
    assert!(
        rps.observed > 20.0 && (rps.baseline - 5.0).abs() < 0.5,
        "{rps:?}"
    );
}

#[test]
fn an_outage_on_every_endpoint_is_one_api_wide_alert_that_grows_within_the_cooldown() {
    let outage = Twist {
        rate_factor: 1.0,
        status: Some(503),
    };
    let (alerts, _, _) = replay(&[
        (10, NORMAL),
        (3, outage),
        (5, NORMAL),
        (3, outage),
        (5, NORMAL),
    ]);
    let errors: Vec<&MonitorAlert> = alerts
        .iter()
        .filter(|a| a.kind == MonitorKind::ErrorRateSpike)
        .collect();
    assert_eq!(errors.len(), 1, "{alerts:#?}");
    let alert = errors[0];
    assert_eq!(alert.endpoint, None, "four endpoints deviate together");
    assert_eq!(alert.endpoints.len(), 4, "{alert:#?}");
    assert!(alert
        .evidence
        .iter()
        .any(|e| e.feature == "endpoints_deviating" && e.observed == 4.0));
    assert!(
        alert.last_seen_ms >= DAY_MS + 18 * MINUTE_MS,
        "the second outage grew it"
    );
    assert!(alert.count >= 8);
    assert!(!alert.request_ids.is_empty() && alert.request_ids.len() <= 50);

    // After the cool-down, the same outage opens a new alert.
    let (alerts, _, _) = replay(&[
        (10, NORMAL),
        (3, outage),
        (40, NORMAL),
        (3, outage),
        (5, NORMAL),
    ]);
    let errors = alerts
        .iter()
        .filter(|a| a.kind == MonitorKind::ErrorRateSpike)
        .count();
    assert_eq!(errors, 2, "{alerts:#?}");
}

/// Replays normal traffic from the start of day 2 for `minutes`, with the
/// requests of `failing` endpoints answered `status` in their (from, to)
/// minutes.
fn replay_failing(minutes: i64, failing: &[(&str, i64, i64, u16)]) -> Vec<MonitorAlert> {
    let mut tracker = MonitorTracker::new(model(), MonitorConfig::default());
    for mut r in traffic(DAY_MS, DAY_MS + minutes * MINUTE_MS, 5.0, NORMAL) {
        let minute = (r.ts_ms - DAY_MS) / MINUTE_MS;
        if let Some(&(_, _, _, status)) = failing
            .iter()
            .find(|&&(e, from, to, _)| e == r.endpoint && (from..to).contains(&minute))
        {
            r.status = status;
        }
        tracker.observe(&sample(&r));
    }
    tracker.alerts()
}

#[test]
fn an_outage_spreading_over_two_endpoints_is_one_alert_listing_both() {
    // "GET /b" starts failing two minutes after "GET /a": two endpoints,
    // fewer than make an API-wide deviation in one window, each alerted on
    // its own persistence, grouped into the API's one error alert.
    let alerts = replay_failing(30, &[("GET /a", 10, 18, 503), ("GET /b", 12, 18, 503)]);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let alert = &alerts[0];
    assert_eq!(alert.kind, MonitorKind::ErrorRateSpike);
    assert_eq!(alert.endpoint, None, "two endpoints: API-wide");
    assert_eq!(alert.endpoints, ["GET /a", "GET /b"]);
    let listed: Vec<&str> = alert
        .evidence
        .iter()
        .filter_map(|e| e.feature.strip_prefix(ENDPOINT_EVIDENCE_PREFIX))
        .collect();
    assert_eq!(listed, ["GET /a", "GET /b"]);
    assert!(alert
        .evidence
        .iter()
        .filter(|e| e.feature.starts_with(ENDPOINT_EVIDENCE_PREFIX))
        .all(|e| e.observed > 0.9 && e.baseline < 0.01));
    assert!(alert.first_seen_ms <= DAY_MS + 11 * MINUTE_MS);
    // Counted per evaluation, not per endpoint: at most one a tick (15 s).
    let ticks = (alert.last_seen_ms - alert.first_seen_ms) / 15_000;
    assert!(alert.count as i64 <= ticks + 1, "{alert:#?}");

    // One endpoint failing: the alert names it and lists nothing.
    let alerts = replay_failing(30, &[("GET /a", 10, 18, 503)]);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].endpoint.as_deref(), Some("GET /a"));
    assert_eq!(alerts[0].endpoints, ["GET /a"]);
    assert!(!alerts[0]
        .evidence
        .iter()
        .any(|e| e.feature.starts_with(ENDPOINT_EVIDENCE_PREFIX)));

    // Another endpoint failing after the first recovered is another
    // incident, even within the first one's cool-down; the first endpoint
    // failing again within it grows its own alert.
    let alerts = replay_failing(
        60,
        &[
            ("GET /a", 10, 14, 503),
            ("GET /b", 25, 29, 503),
            ("GET /a", 35, 39, 503),
        ],
    );
    let endpoints: Vec<Option<&str>> = alerts.iter().map(|a| a.endpoint.as_deref()).collect();
    assert_eq!(endpoints, [Some("GET /a"), Some("GET /b")], "{alerts:#?}");
    assert!(alerts[0].last_seen_ms >= DAY_MS + 35 * MINUTE_MS);

    // A wave of 4xx on one endpoint and a 5xx outage on another at the same
    // time are two problems: two alerts.
    let alerts = replay_failing(30, &[("GET /a", 10, 18, 404), ("GET /b", 10, 18, 503)]);
    let endpoints: Vec<Option<&str>> = alerts.iter().map(|a| a.endpoint.as_deref()).collect();
    assert_eq!(endpoints.len(), 2, "{alerts:#?}");
    assert!(endpoints.contains(&Some("GET /a")) && endpoints.contains(&Some("GET /b")));
}

#[test]
fn kept_alerts_are_bounded() {
    let outage = Twist {
        rate_factor: 1.0,
        status: Some(503),
    };
    let cfg = MonitorConfig {
        cooldown_ms: 0,
        max_alerts: 4,
        ..MonitorConfig::default()
    };
    let mut tracker = MonitorTracker::new(model(), cfg);
    let mut opened = std::collections::BTreeSet::new();
    let mut t = DAY_MS;
    for round in 0..10 {
        for (minutes, twist) in [(4, NORMAL), (3, outage)] {
            for r in traffic(t, t + minutes * MINUTE_MS, 5.0, twist) {
                for a in tracker.observe(&sample(&r)) {
                    opened.insert(a.id);
                }
            }
            t += minutes * MINUTE_MS;
        }
        assert!(tracker.alerts().len() <= 4, "round {round}");
    }
    assert_eq!(opened.len(), 10, "each outage opened its own alert");
}

#[test]
fn figures_describe_the_current_window() {
    let (_, _, tracker) = replay(&[(5, NORMAL)]);
    let figures = tracker.figures();
    assert_eq!(figures.len(), 1 + ENDPOINTS.len());
    let api = &figures[0];
    assert_eq!(api.endpoint, None);
    assert!((api.requests_per_second - 5.0).abs() < 0.5, "{api:?}");
    assert!((20.0..45.0).contains(&api.latency_ms.p50), "{api:?}");
    assert_eq!(api.error_ratio_5xx, 0.0);
    let fr = api.country_share.iter().find(|c| c.0 == "FR").map(|c| c.1);
    assert!(
        fr.is_some_and(|s| (0.5..0.9).contains(&s)),
        "{:?}",
        api.country_share
    );
    assert!(figures[1..].iter().all(|f| f.endpoint.is_some()));

    let gauges = api.gauges();
    let rps = gauges
        .iter()
        .find(|g| g.name == "apiwarden_api_requests_per_second")
        .expect("rate gauge");
    assert_eq!(rps.labels, vec![("api", "accounts".to_string())]);
    assert!(gauges
        .iter()
        .any(|g| g.name == "apiwarden_api_country_share"
            && g.labels.contains(&("country", "FR".to_string()))));
    let endpoint_gauges = figures[1].gauges();
    assert!(endpoint_gauges
        .iter()
        .all(|g| g.name == "apiwarden_api_latency_ms"));
    assert_eq!(endpoint_gauges.len(), 3);
}

#[test]
fn memory_stays_bounded_whatever_the_volume_or_the_endpoints() {
    let cfg = MonitorConfig::default();
    let mut tracker = MonitorTracker::new(model(), cfg.clone());
    let mut peak = 0;
    for (i, r) in traffic(DAY_MS, DAY_MS + 3 * 3_600_000, 20.0, NORMAL)
        .iter()
        .enumerate()
    {
        tracker.observe(&sample(r));
        if i % 10_000 == 0 {
            peak = peak.max(tracker.memory_bytes());
        }
    }
    // 216k requests: the windows hold a minute (the API's four, for a
    // quiet API's country mix), not the stream.
    assert!(peak < 128 * 1024, "{peak} bytes");

    // A scanner inventing endpoints: tracked ones stop at the cap.
    let mut names = Vec::new();
    for k in 0..5_000 {
        names.push(format!("GET /probe/{k}"));
    }
    let start = DAY_MS + 4 * 3_600_000;
    for (k, name) in names.iter().enumerate() {
        let id = format!("p{k}");
        tracker.observe(&MonitorSample {
            api: "accounts",
            endpoint: name,
            id: &id,
            ts_ms: start + k as i64,
            status: 404,
            latency_ms: 3.0,
            request_bytes: 0,
            response_bytes: 100,
            country: Some("FR"),
            client: Some("scanner"),
        });
    }
    let bound = cfg.max_endpoints_per_api * 4 * 1024;
    assert!(tracker.memory_bytes() < bound, "{}", tracker.memory_bytes());
    let endpoint_rows = tracker
        .figures()
        .iter()
        .filter(|f| f.endpoint.is_some())
        .count();
    assert!(endpoint_rows <= 32);
}
