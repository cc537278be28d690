//! Opt-in API health incidents of the test day (not attacks: labelled
//! benign), for the monitoring alerts: a 5xx outage (the hard case's), a
//! latency regression on one endpoint and a country shift on one API.

use crate::benign::BenignGenerator;
use crate::hard_cases::HardCases;
use crate::record::SimRecord;
use crate::time::{HOUR_MS, MINUTE_MS};
use crate::traffic::round_latency;
use crate::world::{self, Api, EndpointId, CITIES};
use rand::Rng;
use std::collections::BTreeMap;

/// One injected incident, as written to `incidents.ndjson`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MonitoringIncident {
    /// `error_rate_spike`, `latency_regression` or `country_shift`.
    pub kind: &'static str,
    /// The API by the name alerts carry: the `api` field, else the host's
    /// first label (`shop` for `shop.example.com`), as discovery names it.
    pub api: &'static str,
    /// `METHOD template` of the endpoint ([`endpoint_name`]); `None` for
    /// API-wide incidents.
    pub endpoint: Option<String>,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// The API name discovery gives records of `api`, and alerts carry.
pub fn api_name(api: Api) -> &'static str {
    api.name()
}

/// `METHOD template` of an endpoint of the catalog, as discovery names it:
/// no query, every placeholder segment `{id}` (`GET /v1/charges/{id}`).
pub fn endpoint_name(id: EndpointId) -> String {
    let ep = world::endpoint(id);
    let path = ep.template.split('?').next().unwrap_or("");
    let segments: Vec<&str> = path
        .split('/')
        .map(|seg| if seg.contains('{') { "{id}" } else { seg })
        .collect();
    format!("{} {}", ep.method, segments.join("/"))
}

/// The country that suddenly sends traffic: no simulated user lives there.
const NEW_COUNTRY_CITY: &str = "Hanoi";
/// Share of the API's traffic the new country takes during the shift.
const NEW_COUNTRY_SHARE: f64 = 0.3;

/// Rewrites and extends `test` (benign records only, before attacks are
/// added) and returns what was injected, in start order.
pub fn inject(
    rng: &mut impl Rng,
    generator: &BenignGenerator<'_>,
    test_start: i64,
    hard_cases: &HardCases,
    test: &mut Vec<SimRecord>,
) -> Vec<MonitoringIncident> {
    let mut incidents = vec![MonitoringIncident {
        kind: "error_rate_spike",
        api: api_name(world::endpoint(hard_cases.incident_endpoint).api),
        endpoint: Some(endpoint_name(hard_cases.incident_endpoint)),
        start_ms: hard_cases.incident_start,
        end_ms: hard_cases.incident_end,
    }];
    incidents.push(latency_regression(
        rng,
        test_start,
        hard_cases.incident_endpoint,
        test,
    ));
    if let Some(shift) = country_shift(rng, generator, test_start, test) {
        incidents.push(shift);
    }
    incidents.sort_by_key(|i| i.start_ms);
    incidents
}

/// The busiest endpoint of the late morning (other than the outage's) gets
/// x5-x10 latency for 30 min.
fn latency_regression(
    rng: &mut impl Rng,
    test_start: i64,
    outage_endpoint: EndpointId,
    test: &mut [SimRecord],
) -> MonitoringIncident {
    let start = test_start + 9 * HOUR_MS + rng.gen_range(0..2 * HOUR_MS);
    let end = start + 30 * MINUTE_MS;
    let mut counts: BTreeMap<EndpointId, usize> = BTreeMap::new();
    for r in test.iter() {
        if let Some(id) = r.endpoint {
            if id != outage_endpoint && r.ts_ms >= start && r.ts_ms < end {
                *counts.entry(id).or_default() += 1;
            }
        }
    }
    let endpoint = counts
        .iter()
        .max_by_key(|(id, n)| (**n, std::cmp::Reverse(**id)))
        .map(|(id, _)| *id)
        .unwrap_or(world::ID_TOKEN);
    let factor = rng.gen_range(5.0..10.0);
    for r in test.iter_mut() {
        if r.endpoint == Some(endpoint) && r.ts_ms >= start && r.ts_ms < end {
            r.latency_ms = round_latency(r.latency_ms * factor * rng.gen_range(0.9..1.1));
        }
    }
    MonitoringIncident {
        kind: "latency_regression",
        api: api_name(world::endpoint(endpoint).api),
        endpoint: Some(endpoint_name(endpoint)),
        start_ms: start,
        end_ms: end,
    }
}

/// Anonymous visitors from a new country make ~30% of the shop's traffic for an hour.
fn country_shift(
    rng: &mut impl Rng,
    generator: &BenignGenerator<'_>,
    test_start: i64,
    test: &mut Vec<SimRecord>,
) -> Option<MonitoringIncident> {
    let city = CITIES.iter().position(|c| c.name == NEW_COUNTRY_CITY)?;
    let start = test_start + 11 * HOUR_MS + rng.gen_range(0..HOUR_MS);
    let end = start + HOUR_MS;
    let in_shift = |r: &SimRecord| {
        r.ts_ms >= start
            && r.ts_ms < end
            && r.endpoint.map(|id| world::endpoint(id).api) == Some(Api::Shop)
    };
    let normal = test.iter().filter(|r| in_shift(r)).count();
    let target = (normal as f64 * NEW_COUNTRY_SHARE / (1.0 - NEW_COUNTRY_SHARE)).ceil() as usize;
    let mix = [
        (world::SHOP_BROWSE, 45.0),
        (world::SHOP_PRODUCT, 40.0),
        (world::SHOP_SEARCH, 15.0),
    ];
    let mut extra = Vec::new();
    let mut inside = 0;
    // Sessions start up to half an hour before the window (their earlier
    // requests are dropped) so the share is there from its first minute.
    let lead = 30 * MINUTE_MS;
    while inside < target.max(1) {
        let before = extra.len();
        let session_start = start - lead + rng.gen_range(0..HOUR_MS + lead);
        generator.anonymous_session(rng, city, session_start, &mix, &mut extra);
        inside += extra
            .get(before..)
            .unwrap_or(&[])
            .iter()
            .filter(|r| in_shift(r))
            .count();
    }
    extra.retain(in_shift);
    test.append(&mut extra);
    Some(MonitoringIncident {
        kind: "country_shift",
        api: api_name(Api::Shop),
        endpoint: None,
        start_ms: start,
        end_ms: end,
    })
}
