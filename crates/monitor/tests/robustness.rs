//! Whatever records claim (any time order, NaN latencies, odd statuses,
//! strange names), training and tracking do not panic and stay bounded.

use apiwarden_monitor::{MonitorConfig, MonitorSample, MonitorTracker, MonitorTrainer};
use proptest::prelude::*;
use std::sync::Arc;

#[derive(Debug, Clone)]
struct Raw {
    api: String,
    endpoint: String,
    id: String,
    ts_ms: i64,
    status: u16,
    latency_ms: f64,
    request_bytes: u64,
    response_bytes: u64,
    country: Option<String>,
    client: Option<String>,
}

fn raw() -> impl Strategy<Value = Raw> {
    (
        prop_oneof![Just("a".to_string()), Just("b".to_string()), ".{0,8}"],
        prop_oneof![Just("GET /x".to_string()), ".{0,12}"],
        ".{0,10}",
        prop_oneof![
            0i64..4 * 3_600_000,
            any::<i64>(),
            Just(i64::MAX),
            Just(i64::MIN)
        ],
        any::<u16>(),
        prop_oneof![0.0f64..1e5, any::<f64>()],
        any::<u64>(),
        any::<u64>(),
        proptest::option::of("[A-Z]{2}"),
        proptest::option::of("[a-z0-9]{0,6}"),
    )
        .prop_map(
            |(api, endpoint, id, ts_ms, status, latency_ms, req, resp, country, client)| Raw {
                api,
                endpoint,
                id,
                ts_ms,
                status,
                latency_ms,
                request_bytes: req,
                response_bytes: resp,
                country,
                client,
            },
        )
}

fn sample(r: &Raw) -> MonitorSample<'_> {
    MonitorSample {
        api: &r.api,
        endpoint: &r.endpoint,
        id: &r.id,
        ts_ms: r.ts_ms,
        status: r.status,
        latency_ms: r.latency_ms,
        request_bytes: r.request_bytes,
        response_bytes: r.response_bytes,
        country: r.country.as_deref(),
        client: r.client.as_deref(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_records_are_handled(
        train in proptest::collection::vec(raw(), 0..200),
        live in proptest::collection::vec(raw(), 0..400),
    ) {
        let cfg = MonitorConfig { max_apis: 3, max_endpoints_per_api: 3, ..MonitorConfig::default() };
        let mut trainer = MonitorTrainer::new(cfg.clone());
        for r in &train {
            trainer.observe(&sample(r));
        }
        let model = trainer.finish();
        prop_assert!(model.apis.len() <= 3);
        let bytes = rmp_serde::to_vec_named(&model).expect("serialize");
        let back: apiwarden_monitor::MonitorModel = rmp_serde::from_slice(&bytes).expect("read back");
        prop_assert_eq!(back.apis.len(), model.apis.len());
        let mut tracker = MonitorTracker::new(Arc::new(model), cfg);
        for r in &live {
            for a in tracker.observe(&sample(r)) {
                prop_assert!(a.request_ids.len() <= 50);
                prop_assert!(a.first_seen_ms <= a.last_seen_ms);
            }
        }
        let figures = tracker.figures();
        prop_assert!(figures.len() <= 3 * (1 + 3));
        for f in &figures {
            prop_assert!(f.requests_per_second.is_finite());
        }
    }
}
