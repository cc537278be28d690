//! Baselines learned from training traffic.

use crate::histogram::DenseHistogram;
use crate::{MonitorConfig, MonitorSample};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bumped when the serialized model changes shape.
pub const MODEL_VERSION: u32 = 1;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Normal figures of one API or endpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesBaseline {
    pub samples: u64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub latency_p99_ms: f64,
    pub request_bytes_p50: f64,
    pub request_bytes_p95: f64,
    /// Of 2xx responses only.
    pub response_bytes_p50: f64,
    pub response_bytes_p95: f64,
    pub error_ratio_5xx: f64,
    pub error_ratio_4xx: f64,
    /// Share of requests at least `latency_ratio` x the median (and
    /// `latency_min_increase_ms` above it): what a window's slow share is
    /// judged against.
    #[serde(default)]
    pub slow_ratio: f64,
}

/// One country's share of an API's training traffic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CountryShare {
    pub country: String,
    pub share: f64,
}

/// Country mix of one hour of day.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HourCountries {
    /// Client-windows seen in this hour (how much the shares are worth).
    pub clients: u64,
    pub countries: Vec<CountryShare>,
}

/// Client-windows an hour needs before its own mix is trusted.
const MIN_HOUR_CLIENTS: u64 = 50;

/// Everything learned about one API.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiBaseline {
    pub stats: SeriesBaseline,
    /// Requests per second by UTC hour of day (24 entries); hours never seen
    /// in training hold the overall mean.
    pub rate_per_hour: Vec<f64>,
    /// Overall mean requests per second.
    pub mean_rate: f64,
    /// Top countries by share of clients (distinct clients per window,
    /// summed over windows; records without a country count as `""`).
    pub countries: Vec<CountryShare>,
    /// Share of every other country together.
    pub other_country_share: f64,
    /// The same per UTC hour of day (24 entries), where the mix is diurnal.
    pub country_hours: Vec<HourCountries>,
    /// Endpoint (`METHOD template`) -> its figures.
    pub endpoints: BTreeMap<String, SeriesBaseline>,
    /// Client arrivals per second by UTC hour of day (24 entries, empty in
    /// models trained before them): clients of a window that the window
    /// before did not see. Sessions arrive about as a Poisson process where
    /// their requests do not, so this is what says how unlikely a silence is.
    #[serde(default)]
    pub client_arrivals_per_hour: Vec<f64>,
}

impl ApiBaseline {
    /// Expected requests per second at `ts_ms`, interpolated between the
    /// hourly means so the profile has no steps at the top of the hour.
    pub fn expected_rate(&self, ts_ms: i64) -> f64 {
        if self.rate_per_hour.len() != 24 {
            return self.mean_rate;
        }
        let hours = ts_ms.rem_euclid(DAY_MS) as f64 / HOUR_MS as f64 - 0.5;
        let below = hours.floor();
        let frac = hours - below;
        let at = |h: f64| {
            let index = (h as i64).rem_euclid(24) as usize;
            self.rate_per_hour
                .get(index)
                .copied()
                .unwrap_or(self.mean_rate)
        };
        at(below) * (1.0 - frac) + at(below + 1.0) * frac
    }

    /// Expected client arrivals per second at `ts_ms` (interpolated like
    /// [`ApiBaseline::expected_rate`]), if the model learned them.
    pub fn expected_arrival_rate(&self, ts_ms: i64) -> Option<f64> {
        let rates = &self.client_arrivals_per_hour;
        if rates.len() != 24 {
            return None;
        }
        let hours = ts_ms.rem_euclid(DAY_MS) as f64 / HOUR_MS as f64 - 0.5;
        let below = hours.floor();
        let frac = hours - below;
        let at = |h: f64| rates.get((h as i64).rem_euclid(24) as usize).copied();
        Some(at(below)? * (1.0 - frac) + at(below + 1.0)? * frac)
    }

    /// Baseline share of a country over the whole day (a country outside
    /// the top list gets a small share so its first requests are not news).
    pub fn country_share(&self, country: &str) -> f64 {
        share_in(&self.countries, country).unwrap_or(self.other_country_share.min(0.01))
    }

    /// Baseline share of a country at `ts_ms`: the largest of its hour and
    /// the two next to it (a mix drifts through the hour), or the whole
    /// day's where training saw too little of those hours.
    pub fn country_share_at(&self, country: &str, ts_ms: i64) -> f64 {
        let day = self.country_share(country);
        if self.country_hours.len() != 24 {
            return day;
        }
        let hour = ts_ms.rem_euclid(DAY_MS) / HOUR_MS;
        let mut best: Option<f64> = None;
        for h in [hour + 23, hour, hour + 1] {
            let Some(mix) = self.country_hours.get((h % 24) as usize) else {
                continue;
            };
            if mix.clients < MIN_HOUR_CLIENTS {
                return day;
            }
            let share = share_in(&mix.countries, country).unwrap_or(0.0);
            best = Some(best.map_or(share, |b: f64| b.max(share)));
        }
        best.unwrap_or(day).max(self.other_country_share.min(0.01))
    }
}

fn share_in(list: &[CountryShare], country: &str) -> Option<f64> {
    list.iter()
        .find(|c| crate::same_name(&c.country, country))
        .map(|c| c.share)
}

/// All baselines: one per API seen in training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorModel {
    pub version: u32,
    pub trained_records: u64,
    pub train_start_ms: i64,
    pub train_end_ms: i64,
    pub apis: BTreeMap<String, ApiBaseline>,
}

impl MonitorModel {
    pub fn api(&self, api: &str) -> Option<&ApiBaseline> {
        self.apis.get(api)
    }
}

#[derive(Default)]
struct SeriesAccumulator {
    latency: DenseHistogram,
    request_bytes: DenseHistogram,
    response_bytes: DenseHistogram,
    errors_5xx: u64,
    errors_4xx: u64,
}

impl SeriesAccumulator {
    fn add(&mut self, s: &MonitorSample<'_>) {
        self.latency.add(s.latency_ms);
        self.request_bytes.add(s.request_bytes as f64);
        if (200..300).contains(&s.status) {
            self.response_bytes.add(s.response_bytes as f64);
        }
        match s.status {
            500..=599 => self.errors_5xx += 1,
            400..=499 => self.errors_4xx += 1,
            _ => {}
        }
    }

    fn finish(&self, cfg: &MonitorConfig) -> SeriesBaseline {
        let n = self.latency.total();
        let ratio = |k: u64| if n == 0 { 0.0 } else { k as f64 / n as f64 };
        let p50 = self.latency.quantile(0.5);
        SeriesBaseline {
            slow_ratio: self.latency.share_from(slow_threshold_ms(p50, cfg)),
            samples: n,
            latency_p50_ms: self.latency.quantile(0.5),
            latency_p95_ms: self.latency.quantile(0.95),
            latency_p99_ms: self.latency.quantile(0.99),
            request_bytes_p50: self.request_bytes.quantile(0.5),
            request_bytes_p95: self.request_bytes.quantile(0.95),
            response_bytes_p50: self.response_bytes.quantile(0.5),
            response_bytes_p95: self.response_bytes.quantile(0.95),
            error_ratio_5xx: ratio(self.errors_5xx),
            error_ratio_4xx: ratio(self.errors_4xx),
        }
    }
}

#[derive(Default)]
struct ApiAccumulator {
    all: SeriesAccumulator,
    endpoints: BTreeMap<String, SeriesAccumulator>,
    untracked_endpoints: u64,
    per_hour: [u64; 24],
    country_names: Vec<String>,
    country_index: BTreeMap<String, u16>,
    /// The tumbling window being counted and its distinct clients.
    window: i64,
    window_clients: BTreeMap<u64, u16>,
    /// Client-windows per country (index; `OTHER_COUNTRY` past the cap), per hour.
    hour_clients: [BTreeMap<u16, u64>; 24],
    /// The previous window flushed and its clients, to tell arrivals.
    previous_window: Option<i64>,
    previous_clients: BTreeMap<u64, u16>,
    /// Clients new in their window (absent from the window before), per hour.
    hour_arrivals: [u64; 24],
}

const OTHER_COUNTRY: u16 = u16::MAX;
/// Distinct clients counted per training window and API.
const MAX_WINDOW_CLIENTS: usize = 4_096;

impl ApiAccumulator {
    fn flush_window(&mut self, window_ms: i64) {
        let hour = ((self.window * window_ms).rem_euclid(DAY_MS) / HOUR_MS) as usize;
        if let Some(counts) = self.hour_clients.get_mut(hour) {
            for &country in self.window_clients.values() {
                *counts.entry(country).or_default() += 1;
            }
        }
        // The first window of training has no window before it to compare
        // with: its clients are not counted as arrivals.
        if let Some(previous) = self.previous_window {
            let consecutive = previous + 1 == self.window;
            let arrivals = self
                .window_clients
                .keys()
                .filter(|c| !consecutive || !self.previous_clients.contains_key(c))
                .count() as u64;
            if let Some(slot) = self.hour_arrivals.get_mut(hour) {
                *slot += arrivals;
            }
        }
        if !self.window_clients.is_empty() {
            self.previous_window = Some(self.window);
            std::mem::swap(&mut self.previous_clients, &mut self.window_clients);
        }
        self.window_clients.clear();
    }

    fn country_of(&mut self, country: &str, cap: usize) -> u16 {
        if let Some(&i) = self.country_index.get(country) {
            return i;
        }
        if self.country_names.len() >= cap.min(usize::from(OTHER_COUNTRY)) {
            return OTHER_COUNTRY;
        }
        let i = self.country_names.len() as u16;
        self.country_names.push(country.to_string());
        self.country_index.insert(country.to_string(), i);
        i
    }

    /// Top shares of `counts` (by country index) and the share of the rest.
    fn shares(&self, counts: &BTreeMap<u16, u64>, top: usize) -> (Vec<CountryShare>, f64, u64) {
        let total: u64 = counts.values().sum();
        let mut named: Vec<(&str, u64)> = counts
            .iter()
            .filter_map(|(&i, &n)| Some((self.country_names.get(usize::from(i))?.as_str(), n)))
            .collect();
        named.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let share = |n: u64| {
            if total == 0 {
                0.0
            } else {
                n as f64 / total as f64
            }
        };
        let kept: Vec<CountryShare> = named
            .iter()
            .take(top)
            .map(|(country, n)| CountryShare {
                country: country.to_string(),
                share: share(*n),
            })
            .collect();
        let kept_total: f64 = kept.iter().map(|c| c.share).sum();
        (kept, (1.0 - kept_total).max(0.0), total)
    }
}

/// Learns a [`MonitorModel`] from training samples (any order).
pub struct MonitorTrainer {
    cfg: MonitorConfig,
    apis: BTreeMap<String, ApiAccumulator>,
    untracked_apis: u64,
    records: u64,
    first_ms: i64,
    last_ms: i64,
}

impl MonitorTrainer {
    pub fn new(cfg: MonitorConfig) -> Self {
        MonitorTrainer {
            cfg: cfg.sanitized(),
            apis: BTreeMap::new(),
            untracked_apis: 0,
            records: 0,
            first_ms: i64::MAX,
            last_ms: i64::MIN,
        }
    }

    pub fn observe(&mut self, s: &MonitorSample<'_>) {
        let clamped = MonitorSample {
            ts_ms: crate::clamp_ts(s.ts_ms),
            ..*s
        };
        let s = &clamped;
        self.records += 1;
        self.first_ms = self.first_ms.min(s.ts_ms);
        self.last_ms = self.last_ms.max(s.ts_ms);
        if !self.apis.contains_key(s.api) {
            if self.apis.len() >= self.cfg.max_apis {
                self.untracked_apis += 1;
                return;
            }
            self.apis
                .insert(s.api.to_string(), ApiAccumulator::default());
        }
        let Some(api) = self.apis.get_mut(s.api) else {
            return;
        };
        api.all.add(s);
        let hour = (s.ts_ms.rem_euclid(DAY_MS) / HOUR_MS) as usize;
        if let Some(slot) = api.per_hour.get_mut(hour) {
            *slot += 1;
        }
        let endpoints = api.endpoints.len();
        match api.endpoints.get_mut(s.endpoint) {
            Some(e) => e.add(s),
            None if endpoints < self.cfg.max_endpoints_per_api => {
                let mut e = SeriesAccumulator::default();
                e.add(s);
                api.endpoints.insert(s.endpoint.to_string(), e);
            }
            None => api.untracked_endpoints += 1,
        }
        let country = api.country_of(s.country.unwrap_or(""), self.cfg.max_countries_per_api * 4);
        let window_ms = self.cfg.tick_ms * i64::from(self.cfg.window_ticks);
        let window = s.ts_ms.div_euclid(window_ms);
        if window != api.window {
            api.flush_window(window_ms);
            api.window = window;
        }
        if api.window_clients.len() < MAX_WINDOW_CLIENTS {
            api.window_clients
                .entry(crate::client_hash(s.client, s.id))
                .or_insert(country);
        }
    }

    pub fn finish(self) -> MonitorModel {
        let coverage = hour_coverage_seconds(self.first_ms, self.last_ms);
        let span_s = if self.records == 0 {
            0.0
        } else {
            ((self.last_ms - self.first_ms).max(1)) as f64 / 1000.0
        };
        let top = self.cfg.top_countries;
        let window_ms = self.cfg.tick_ms * i64::from(self.cfg.window_ticks);
        let apis = self
            .apis
            .into_iter()
            .map(|(name, mut acc)| {
                acc.flush_window(window_ms);
                let total = acc.all.latency.total();
                let mean_rate = if span_s > 0.0 {
                    total as f64 / span_s
                } else {
                    0.0
                };
                let rate_per_hour = (0..24)
                    .map(|h| {
                        let seconds = coverage.get(h).copied().unwrap_or(0.0);
                        let count = acc.per_hour.get(h).copied().unwrap_or(0);
                        // An hour seen for under 30 minutes says little.
                        if seconds >= 1_800.0 {
                            count as f64 / seconds
                        } else {
                            mean_rate
                        }
                    })
                    .collect();
                let mut day: BTreeMap<u16, u64> = BTreeMap::new();
                for hour in &acc.hour_clients {
                    for (&country, &n) in hour {
                        *day.entry(country).or_default() += n;
                    }
                }
                let (countries, other_country_share, _) = acc.shares(&day, top);
                let country_hours = acc
                    .hour_clients
                    .iter()
                    .map(|counts| {
                        let (countries, _, clients) = acc.shares(counts, top);
                        HourCountries { clients, countries }
                    })
                    .collect();
                let client_arrivals_per_hour = (0..24)
                    .map(|h| {
                        let seconds = coverage.get(h).copied().unwrap_or(0.0);
                        let arrivals = acc.hour_arrivals.get(h).copied().unwrap_or(0);
                        // As for the request rate: an hour seen for under 30
                        // minutes takes the day's mean.
                        if seconds >= 1_800.0 {
                            arrivals as f64 / seconds
                        } else {
                            acc.hour_arrivals.iter().sum::<u64>() as f64 / span_s.max(1.0)
                        }
                    })
                    .collect();
                let baseline = ApiBaseline {
                    client_arrivals_per_hour,
                    stats: acc.all.finish(&self.cfg),
                    rate_per_hour,
                    mean_rate,
                    countries,
                    other_country_share,
                    country_hours,
                    endpoints: acc
                        .endpoints
                        .iter()
                        .map(|(e, a)| (e.clone(), a.finish(&self.cfg)))
                        .collect(),
                };
                (name, baseline)
            })
            .collect();
        MonitorModel {
            version: MODEL_VERSION,
            trained_records: self.records,
            train_start_ms: if self.records == 0 { 0 } else { self.first_ms },
            train_end_ms: if self.records == 0 { 0 } else { self.last_ms },
            apis,
        }
    }
}

/// Latency at which a request counts as slow against a median of `p50_ms`.
pub(crate) fn slow_threshold_ms(p50_ms: f64, cfg: &MonitorConfig) -> f64 {
    (cfg.latency_ratio * p50_ms.max(1.0)).max(p50_ms + cfg.latency_min_increase_ms)
}

/// Seconds of [first, last] that fall in each UTC hour of day.
fn hour_coverage_seconds(first_ms: i64, last_ms: i64) -> [f64; 24] {
    let mut coverage = [0.0; 24];
    if first_ms > last_ms {
        return coverage;
    }
    // Whole days add an hour to every slot; only the remainder is walked.
    let span = last_ms - first_ms;
    let whole_days = span / DAY_MS;
    coverage
        .iter_mut()
        .for_each(|c| *c = whole_days as f64 * 3_600.0);
    let mut t = first_ms + whole_days * DAY_MS;
    while t < last_ms {
        let hour_end = (t.div_euclid(HOUR_MS) + 1) * HOUR_MS;
        let until = hour_end.min(last_ms);
        let hour = (t.rem_euclid(DAY_MS) / HOUR_MS) as usize;
        if let Some(slot) = coverage.get_mut(hour) {
            *slot += (until - t) as f64 / 1000.0;
        }
        t = until;
    }
    coverage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_of_two_days_is_two_hours_per_slot() {
        let c = hour_coverage_seconds(0, 2 * DAY_MS);
        assert!(c.iter().all(|s| (*s - 7_200.0).abs() < 1e-9));
        let half = hour_coverage_seconds(HOUR_MS / 2, HOUR_MS * 2);
        assert_eq!(half[0], 1_800.0);
        assert_eq!(half[1], 3_600.0);
        assert_eq!(half[2], 0.0);
    }

    #[test]
    fn diurnal_rate_follows_the_hour() {
        let mut trainer = MonitorTrainer::new(MonitorConfig::default());
        // 10 requests a minute by day (08-20 UTC), 1 a minute at night, 2 days.
        for minute in 0..2 * 24 * 60i64 {
            let hour = (minute / 60) % 24;
            let n = if (8..20).contains(&hour) { 10 } else { 1 };
            for k in 0..n {
                trainer.observe(&MonitorSample {
                    api: "a",
                    endpoint: "GET /x",
                    id: "r",
                    ts_ms: minute * 60_000 + k * 1_000,
                    status: 200,
                    latency_ms: 10.0,
                    request_bytes: 0,
                    response_bytes: 100,
                    country: Some("FR"),
                    client: Some("c1"),
                });
            }
        }
        let model = trainer.finish();
        let api = model.api("a").expect("api a");
        let noon = api.expected_rate(12 * HOUR_MS);
        let night = api.expected_rate(2 * HOUR_MS);
        assert!((noon - 10.0 / 60.0).abs() < 0.01, "{noon}");
        assert!((night - 1.0 / 60.0).abs() < 0.01, "{night}");
        assert_eq!(api.countries.first().map(|c| c.share), Some(1.0));
    }
}
