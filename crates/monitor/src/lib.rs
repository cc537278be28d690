//! API health monitoring: a second alert family beside attacks.
//!
//! [`MonitorTrainer`] learns, per API and per endpoint (`METHOD template`,
//! given by the caller), baselines from training traffic: latency p50/p95/p99,
//! request and response size (p50/p95), 5xx and 4xx ratios, the country mix
//! (top [`MonitorConfig::top_countries`] + other) and the request rate per hour
//! of day (UTC), so a quiet night is not a traffic drop.
//!
//! [`MonitorTracker`] follows live traffic in rolling windows of traffic time
//! (`ts_ms`, never the wall clock): ticks of [`MonitorConfig::tick_ms`]
//! (15 s), windows of [`MonitorConfig::window_ticks`] ticks (60 s), evaluated
//! at each tick's end. A deviation must hold for
//! [`MonitorConfig::persistence_ticks`] consecutive evaluations (3: the
//! first plus 30 s) before an alert opens, so a lone burst is not alerted.
//! On the simulator (scale 0.5, seeds 1-8) the injected incidents were
//! alerted after: error spike 44-73 s, country shift 38-63 s, latency
//! regression 51-116 s (mean 69 s; its endpoint carries ~10 requests a
//! minute); the second training day of seeds 1-8, replayed against a model
//! of the first, raised nothing (seeds 1-3 also at scales 0.3 and 1.0); so
//! did `apiwarden simulate --normal-day` through the binary (seeds 1-8
//! at scale 0.3; `tests/service_monitoring.rs` runs seed 1). Through the
//! binary at scale 0.3 (`simulate --monitoring-incidents`, trained on its
//! training days), seeds 1-8 each got one alert per incident, first seen
//! within 63 s of its start except seed 6's country shift (+274 s: the
//! new country's first minutes are 3-6 of 12-20 clients a window, no
//! stronger than chance mixes of a quiet hour).
//!
//! Low volume. Requests come in sessions: an API of ~30 requests a minute
//! may be 3 session arrivals a minute, and a silent minute is then chance
//! (the simulated shop has a few a day at scale 0.3). A silence is a
//! `traffic_drop` once the client arrivals the baseline expected over it
//! (learned per hour of day, [`ApiBaseline::client_arrivals_per_hour`])
//! reach [`MonitorConfig::min_silence_arrivals`] (15: chance ~e^-15), so a
//! real outage of a quiet API is alerted after a few minutes rather than
//! one. Windows below the minimum sample counts are not judged for errors
//! and sizes, so low-traffic endpoints do not flap; latency is, by its
//! slow requests alone (at least [`MonitorConfig::min_errors`], with an
//! exact binomial chance as small as the z threshold's), so an endpoint
//! starved by a flood elsewhere still shows a regression. An API window
//! with too few clients for its country mix is pooled with the ones
//! before it (up to 4 minutes; exact binomial chance again). One alert per API
//! incident: a series (an endpoint's, or the API's) deviating within
//! [`MonitorConfig::cooldown_ms`] of its last alert grows that alert, and
//! another endpoint of the API showing an error spike or a size shift while
//! the API's alert of that kind is active (seen within a window of its
//! start) joins it, so an outage spreading over several endpoints is one
//! alert for whoever answers for the API. Error spikes group per class: a
//! 5xx outage and a wave of 4xx (say, credential stuffing) are two
//! problems. Latency stays per endpoint (an endpoint slows with its own
//! load, e.g. a flood on search) unless many endpoints slow at once. An alert
//! names its endpoint while it concerns one ([`MonitorAlert::endpoint`]);
//! grouping several, it is API-wide and lists them
//! ([`MonitorAlert::endpoints`], and evidence rows
//! [`ENDPOINT_EVIDENCE_PREFIX`]`<endpoint>`).
//!
//! Kinds and where they are judged: `latency_regression`,
//! `error_rate_spike` and `response_size_shift` per endpoint (judged
//! API-wide instead when [`MonitorConfig::api_wide_endpoints`] or more
//! endpoints deviate together, so many endpoints each just under their
//! persistence still make an alert); `traffic_surge`, `traffic_drop` and
//! `country_shift` per API.
//!
//! Time is traffic time: ticks close when a later record (of any API)
//! arrives, so a silent API is noticed as soon as other traffic moves the
//! clock, and a silent service when its traffic resumes.
//!
//! APIs and endpoints not seen in training are tracked for the figures but
//! not judged: they have no baseline until the next training.
//!
//! Memory is bounded: at most [`MonitorConfig::max_apis`] APIs,
//! [`MonitorConfig::max_endpoints_per_api`] endpoints each and
//! [`MonitorConfig::max_countries_per_api`] countries each (the rest count as
//! `other`); a tick holds sparse histograms (at most 128 buckets each) and at
//! most [`MonitorConfig::ids_per_tick`] request ids. Per record the work is
//! two map look-ups and a few bucket increments; per tick every series is
//! evaluated once.
//!
//! # Metric names (proposal for `/metrics`, from [`MonitorTracker::figures`])
//!
//! | metric | labels | figure |
//! |---|---|---|
//! | `apiwarden_api_latency_ms` | `api`, `endpoint`, `quantile` (`0.5`,`0.95`,`0.99`) | [`EndpointFigures::latency_ms`] (`endpoint=""` for the API) |
//! | `apiwarden_api_requests_per_second` | `api` | [`EndpointFigures::requests_per_second`] |
//! | `apiwarden_api_error_ratio` | `api`, `class` (`5xx`,`4xx`) | [`EndpointFigures::error_ratio_5xx`], [`EndpointFigures::error_ratio_4xx`] |
//! | `apiwarden_api_request_bytes` | `api`, `quantile` (`0.5`,`0.95`) | [`EndpointFigures::request_bytes`] |
//! | `apiwarden_api_response_bytes` | `api`, `quantile` (`0.5`,`0.95`) | [`EndpointFigures::response_bytes`] |
//! | `apiwarden_api_country_share` | `api`, `country` (top N + `other`) | [`EndpointFigures::country_share`] |
//! | `apiwarden_monitoring_alerts_total` | `kind` | alerts opened, per [`MonitorKind`] |
//!
//! [`EndpointFigures::gauges`] gives these samples ready to set as gauges.
//! Label cardinality stays bounded by the caps above; `endpoint` only on the
//! latency metric (the one operators drill into), `api` everywhere.
//! `scripts/grafana/apiwarden-dashboard.json` charts these metrics.

//! # Wiring
//!
//! - Training: feed [`MonitorTrainer::observe`] the training records with the
//!   API name and endpoint template discovery gave them, and keep
//!   [`MonitorTrainer::finish`]'s [`MonitorModel`] in the model bundle (serde;
//!   MessagePack round trip tested).
//! - Live: one [`MonitorTracker`] must see all of an API's records, roughly in
//!   time order (late records count in the open tick): shard by API, not by
//!   entity. Cost measured on simulated traffic (release, one core,
//!   `cargo run --release -p apiwarden-monitor --example throughput -- 1.0`):
//!   ~170 ns per training record, ~500 ns per tracked record (evaluation of
//!   every series each 15 s of traffic included), ~220 KiB of windows, on a
//!   quiet machine; 320-470 ns and 1.1-1.5 µs with the 2 cores shared
//!   (load 7-9).
//! - Alerts: [`MonitorTracker::observe`] returns alerts opened (`count == 1`)
//!   or grown by that record; count `apiwarden_monitoring_alerts_total{kind}`
//!   on the opened ones.
//! - `/metrics`: at scrape time set gauges from [`MonitorTracker::figures`]
//!   via [`EndpointFigures::gauges`].
//! - [`MonitorSample::client`]: a stable client key (user, else API key
//!   fingerprint, else IP): the country mix counts distinct clients.

mod checks;
mod histogram;
mod model;
mod tracker;
mod window;

pub use histogram::{bucket_of, bucket_value, DenseHistogram, SparseHistogram, BUCKETS};
pub use model::HourCountries;
pub use model::{
    ApiBaseline, CountryShare, MonitorModel, MonitorTrainer, SeriesBaseline, MODEL_VERSION,
};
pub use tracker::MonitorTracker;

// Defined in apiwarden-alert so an `Alert` can name its kind without this crate.
pub use apiwarden_alert::MonitorKind;
use apiwarden_alert::{Evidence, Severity};
use serde::{Deserialize, Serialize};

/// One request as the monitor sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonitorSample<'a> {
    pub api: &'a str,
    /// `METHOD template`, e.g. `GET /v1/accounts/{id}`.
    pub endpoint: &'a str,
    pub id: &'a str,
    pub ts_ms: i64,
    pub status: u16,
    pub latency_ms: f64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub country: Option<&'a str>,
    /// Who sent it (client IP, or any stable client key): the country mix is
    /// counted in distinct clients, so one busy client is not a country
    /// shift. `None` counts every request as its own client.
    pub client: Option<&'a str>,
}

impl<'a> MonitorSample<'a> {
    /// The sample of an access record whose API, endpoint template, id and
    /// client key (e.g. the client IP as text) the caller has resolved.
    pub fn of_record(
        record: &'a apiwarden_record::AccessRecord,
        api: &'a str,
        endpoint: &'a str,
        id: &'a str,
        client: Option<&'a str>,
    ) -> Self {
        MonitorSample {
            api,
            endpoint,
            id,
            ts_ms: record.ts_ms,
            status: record.status,
            latency_ms: record.latency_ms,
            request_bytes: record.request_bytes,
            response_bytes: record.response_bytes,
            country: record.country.as_deref(),
            client,
        }
    }
}

/// String equality without a `memcmp` call: country codes are two bytes, and
/// the country checks compare them thousands of times per window.
#[inline]
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// Timestamps are clamped to ±3,000 years around 1970 so that no window
/// arithmetic can overflow, whatever a record claims.
pub(crate) fn clamp_ts(ts_ms: i64) -> i64 {
    const LIMIT_MS: i64 = 100_000_000_000_000;
    ts_ms.clamp(-LIMIT_MS, LIMIT_MS)
}

/// FNV-1a of the client key (the request id when there is none).
pub(crate) fn client_hash(client: Option<&str>, id: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let (tag, key) = match client {
        Some(c) => (1u8, c),
        None => (2u8, id),
    };
    for &b in std::iter::once(&tag).chain(key.as_bytes()) {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Windows, thresholds and caps. The defaults are tuned on the simulator:
/// no alert on normal days, each injected incident alerted once within 2
/// minutes (see `tests/incidents.rs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MonitorConfig {
    /// Length of a tick, the unit of evaluation (ms of traffic time).
    pub tick_ms: i64,
    /// Ticks per rolling window.
    pub window_ticks: u32,
    /// Consecutive deviating evaluations before an alert opens.
    pub persistence_ticks: u32,
    /// A deviation within this long of an alert's last one grows it.
    pub cooldown_ms: i64,
    /// Requests a window needs before latency, size and errors are judged.
    pub min_window_samples: u64,
    /// Distinct clients an API window needs before its country mix is judged.
    pub min_country_clients: u64,
    /// Distinct clients a country needs in a window to count as shifted.
    pub min_shifted_clients: u64,
    /// Window median latency >= this x baseline median (and p95 above the
    /// baseline p95); or a third of the window this slow (a binomial
    /// z-score against the training share), which catches a step earlier.
    pub latency_ratio: f64,
    /// ... and at least this many ms above the baseline median.
    pub latency_min_increase_ms: f64,
    /// Error ratio at least this far above the baseline's (5xx; 4xx uses twice).
    pub error_ratio_increase: f64,
    /// Binomial / Poisson z-score a deviation needs.
    pub z_threshold: f64,
    /// Errors a window needs before an error spike is judged.
    pub min_errors: u64,
    /// Window median response size off the baseline median by this factor.
    pub response_size_ratio: f64,
    /// Window count >= this x the expected count (hour of day).
    pub surge_ratio: f64,
    /// Window count <= this x the expected count.
    pub drop_ratio: f64,
    /// Expected window count below which a drop is not judged. Above it, a
    /// silence is a drop once it is long enough (see
    /// `min_silence_arrivals`); a partial drop needs the z-score.
    pub min_expected_for_drop: f64,
    /// Clients the baseline expected to arrive (new in their window, per
    /// hour of day) during a silence before the silence is a drop. Requests
    /// come in sessions, so a busy-looking API with few sessions can fall
    /// silent for a minute by chance; client arrivals are close to Poisson,
    /// so a silence over which `k` arrivals were due has chance ~`e^-k`
    /// (15: ~3e-7). Models trained before the arrival rates were learned
    /// judge a silent window alone.
    pub min_silence_arrivals: f64,
    /// Variance / mean of a window's request count: requests come in
    /// sessions, so counts vary several times more than Poisson's.
    pub traffic_dispersion: f64,
    /// A country's share must move by at least this much.
    pub country_share_change: f64,
    /// Countries kept with their own share in the baseline.
    pub top_countries: usize,
    /// This many endpoints deviating together make one API-wide alert.
    pub api_wide_endpoints: usize,
    pub max_apis: usize,
    pub max_endpoints_per_api: usize,
    pub max_countries_per_api: usize,
    /// Request ids kept per tick and series, to name requests on alerts.
    pub ids_per_tick: usize,
    /// Alerts kept for [`MonitorTracker::alerts`]; past it, closed alerts
    /// (and then the oldest) are forgotten: callers keep what `observe`
    /// returned.
    pub max_alerts: usize,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            tick_ms: 15_000,
            window_ticks: 4,
            persistence_ticks: 3,
            cooldown_ms: 30 * 60_000,
            min_window_samples: 8,
            min_country_clients: 12,
            min_shifted_clients: 4,
            latency_ratio: 3.0,
            latency_min_increase_ms: 20.0,
            error_ratio_increase: 0.1,
            z_threshold: 6.0,
            min_errors: 5,
            response_size_ratio: 4.0,
            surge_ratio: 3.0,
            drop_ratio: 0.25,
            min_expected_for_drop: 30.0,
            min_silence_arrivals: 15.0,
            traffic_dispersion: 6.0,
            country_share_change: 0.15,
            top_countries: 16,
            api_wide_endpoints: 3,
            max_apis: 64,
            max_endpoints_per_api: 256,
            max_countries_per_api: 64,
            ids_per_tick: 16,
            max_alerts: 4_096,
        }
    }
}

impl MonitorConfig {
    /// The configuration with every value brought into a workable range
    /// (a config file can hold anything).
    pub fn sanitized(&self) -> MonitorConfig {
        let finite = |v: f64, default: f64| if v.is_finite() && v > 0.0 { v } else { default };
        let d = MonitorConfig::default();
        MonitorConfig {
            tick_ms: self.tick_ms.clamp(1_000, 3_600_000),
            window_ticks: self.window_ticks.clamp(1, 240),
            persistence_ticks: self.persistence_ticks.clamp(1, 240),
            cooldown_ms: self.cooldown_ms.clamp(0, 7 * 86_400_000),
            min_window_samples: self.min_window_samples.max(1),
            min_country_clients: self.min_country_clients.max(1),
            min_shifted_clients: self.min_shifted_clients.max(1),
            latency_ratio: finite(self.latency_ratio, d.latency_ratio).max(1.0),
            latency_min_increase_ms: finite(
                self.latency_min_increase_ms,
                d.latency_min_increase_ms,
            ),
            error_ratio_increase: finite(self.error_ratio_increase, d.error_ratio_increase)
                .min(1.0),
            z_threshold: finite(self.z_threshold, d.z_threshold),
            min_errors: self.min_errors.max(1),
            response_size_ratio: finite(self.response_size_ratio, d.response_size_ratio).max(1.0),
            surge_ratio: finite(self.surge_ratio, d.surge_ratio).max(1.0),
            drop_ratio: finite(self.drop_ratio, d.drop_ratio).min(1.0),
            min_expected_for_drop: finite(self.min_expected_for_drop, d.min_expected_for_drop),
            min_silence_arrivals: finite(self.min_silence_arrivals, d.min_silence_arrivals),
            traffic_dispersion: finite(self.traffic_dispersion, d.traffic_dispersion).max(1.0),
            country_share_change: finite(self.country_share_change, d.country_share_change)
                .min(1.0),
            top_countries: self.top_countries.clamp(1, 64),
            api_wide_endpoints: self.api_wide_endpoints.max(2),
            max_apis: self.max_apis.clamp(1, 10_000),
            max_endpoints_per_api: self.max_endpoints_per_api.clamp(1, 10_000),
            max_countries_per_api: self.max_countries_per_api.clamp(1, 1_000),
            ids_per_tick: self.ids_per_tick.clamp(1, 50),
            max_alerts: self.max_alerts.clamp(2, 1_000_000),
        }
    }
}

/// Feature name prefix of the evidence rows that list the endpoints of a
/// grouped alert: `endpoint:GET /products/{id}`, observed vs baseline of
/// that endpoint's main figure (error ratio, latency p95, response size p50)
/// at its strongest.
pub const ENDPOINT_EVIDENCE_PREFIX: &str = "endpoint:";

/// A monitoring alert: same shape as an attack alert where it can be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorAlert {
    pub id: String,
    pub kind: MonitorKind,
    pub severity: Severity,
    pub api: String,
    /// The endpoint when the alert concerns exactly one; `None` for
    /// API-level kinds and for alerts grouping several endpoints.
    pub endpoint: Option<String>,
    /// Every endpoint the alert groups, in the order they deviated (empty
    /// for API-level kinds); with two or more, `evidence` ends with one
    /// [`ENDPOINT_EVIDENCE_PREFIX`] row each.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// The strongest deviation seen (a ratio or a z-score, see `threshold`).
    pub score: f64,
    /// What `score` had to reach.
    pub threshold: f64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// Up to 50 requests of the deviating windows (the deviating ones first
    /// where the kind says which: errors, slow, shifted size, new country).
    pub request_ids: Vec<String>,
    /// Observed vs baseline of the strongest window, e.g. `latency_p95_ms`.
    pub evidence: Vec<Evidence>,
    /// Deviating evaluations (ticks) since the alert opened.
    pub count: u64,
}

/// Quantiles of a live window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

/// One Prometheus sample of the proposed metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct Gauge {
    pub name: &'static str,
    /// Label pairs in a fixed order.
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

impl EndpointFigures {
    /// The figures as samples of the metrics in the crate docs: API rows give
    /// every metric (latency with `endpoint=""`), endpoint rows only latency.
    pub fn gauges(&self) -> Vec<Gauge> {
        let api = || ("api", self.api.clone());
        let gauge = |name, labels, value| Gauge {
            name,
            labels,
            value,
        };
        let mut out = Vec::new();
        let endpoint = self.endpoint.clone().unwrap_or_default();
        for (q, v) in [
            ("0.5", self.latency_ms.p50),
            ("0.95", self.latency_ms.p95),
            ("0.99", self.latency_ms.p99),
        ] {
            out.push(gauge(
                "apiwarden_api_latency_ms",
                vec![
                    api(),
                    ("endpoint", endpoint.clone()),
                    ("quantile", q.into()),
                ],
                v,
            ));
        }
        if self.endpoint.is_some() {
            return out;
        }
        out.push(gauge(
            "apiwarden_api_requests_per_second",
            vec![api()],
            self.requests_per_second,
        ));
        for (class, v) in [("5xx", self.error_ratio_5xx), ("4xx", self.error_ratio_4xx)] {
            out.push(gauge(
                "apiwarden_api_error_ratio",
                vec![api(), ("class", class.into())],
                v,
            ));
        }
        for (name, q) in [
            ("apiwarden_api_request_bytes", &self.request_bytes),
            ("apiwarden_api_response_bytes", &self.response_bytes),
        ] {
            for (quantile, v) in [("0.5", q.p50), ("0.95", q.p95)] {
                out.push(gauge(name, vec![api(), ("quantile", quantile.into())], v));
            }
        }
        for (country, share) in &self.country_share {
            out.push(gauge(
                "apiwarden_api_country_share",
                vec![api(), ("country", country.clone())],
                *share,
            ));
        }
        out
    }
}

/// Live figures of one API (`endpoint: None`) or endpoint over the current
/// window, for `/metrics`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndpointFigures {
    pub api: String,
    pub endpoint: Option<String>,
    /// Requests in the window.
    pub requests: u64,
    pub requests_per_second: f64,
    pub latency_ms: Quantiles,
    pub request_bytes: Quantiles,
    pub response_bytes: Quantiles,
    pub error_ratio_5xx: f64,
    pub error_ratio_4xx: f64,
    /// Top countries by share, then `other` (API rows only).
    pub country_share: Vec<(String, f64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_config_takes_defaults_and_nonsense_is_brought_into_range() {
        let cfg: MonitorConfig = serde_json::from_str(
            r#"{"tick_ms": 10, "latency_ratio": -3.0, "persistence_ticks": 2}"#,
        )
        .expect("config");
        assert_eq!(cfg.window_ticks, MonitorConfig::default().window_ticks);
        assert_eq!(cfg.persistence_ticks, 2);
        let sane = cfg.sanitized();
        assert_eq!(sane.tick_ms, 1_000);
        assert_eq!(sane.latency_ratio, MonitorConfig::default().latency_ratio);
        assert_eq!(
            MonitorConfig::default().sanitized(),
            MonitorConfig::default()
        );
    }

    #[test]
    fn kinds_spell_as_the_wire_does() {
        for kind in MonitorKind::ALL {
            let json = serde_json::to_string(&kind).expect("json");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(MonitorKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(MonitorKind::parse("latency"), None);
    }
}
