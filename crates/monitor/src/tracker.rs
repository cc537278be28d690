//! Live tracking: records into ticks, ticks into windows, windows into alerts.

use crate::checks::{self, Deviation};
use crate::model::{ApiBaseline, MonitorModel, SeriesBaseline};
use crate::window::{
    Series, WindowStats, FLAG_4XX, FLAG_5XX, FLAG_NEW_COUNTRY, FLAG_SIZE, FLAG_SLOW,
};
use crate::{
    EndpointFigures, MonitorAlert, MonitorConfig, MonitorKind, MonitorSample, Quantiles,
    ENDPOINT_EVIDENCE_PREFIX,
};
use apiwarden_alert::{Evidence, MAX_ALERT_REQUEST_IDS};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Endpoints reported per API by [`MonitorTracker::figures`] (the busiest).
const FIGURE_ENDPOINTS_PER_API: usize = 32;
/// Countries reported per API by [`MonitorTracker::figures`] before `other`.
const FIGURE_COUNTRIES: usize = 8;
/// Distinct clients counted per API tick (memory bound).
const MAX_TICK_CLIENTS: usize = 2_048;
/// A country below this baseline share is news when it shows up.
const NEW_COUNTRY_SHARE: f64 = 0.05;
/// Windows an API's ticks are kept for: its country mix is judged over up
/// to this many when one window has too few clients.
const POOLED_WINDOWS: u32 = 4;

struct EndpointState {
    name: String,
    baseline: Option<SeriesBaseline>,
    series: Series,
}

struct ApiState {
    name: String,
    baseline: Option<ApiBaseline>,
    series: Series,
    endpoints: Vec<EndpointState>,
    endpoint_index: BTreeMap<String, usize>,
    countries: Vec<String>,
    /// Baseline share of each entry of `countries`.
    country_baseline: Vec<f64>,
    country_index: BTreeMap<String, u16>,
    /// Traffic time of the API's latest request, to measure a silence.
    last_request_ms: Option<i64>,
}

/// What an alert groups: one API's deviations of one kind, whichever of
/// its endpoints show them (an outage hitting several endpoints is one
/// incident for whoever answers for the API), and for errors of one class
/// ([`error_class`]: a 5xx outage and a wave of 4xx are different problems).
type GroupKey = (usize, MonitorKind, u8);
/// One series' alert key: the API's series (`None`) or an endpoint's.
type SeriesKey = (usize, Option<usize>, MonitorKind, u8);

/// One deviation to raise from an evaluation.
struct Raised {
    key: GroupKey,
    /// The strongest deviation.
    deviation: Deviation,
    /// The endpoints deviating, each with its deviation (empty for the
    /// API-level kinds: traffic and countries).
    endpoints: Vec<(usize, Deviation)>,
    ids: Vec<String>,
    run_start_ms: i64,
}

/// An alert and what it groups.
struct TrackedAlert {
    alert: MonitorAlert,
    /// Evidence of the strongest deviation, before the endpoint rows.
    main_evidence: Vec<Evidence>,
    /// Endpoints in the order they joined, with the score and main figure
    /// of their strongest deviation.
    endpoints: Vec<(String, f64, Evidence)>,
    group: GroupKey,
    /// The series whose deviations it carries.
    series: Vec<SeriesKey>,
}

/// Follows live traffic against a [`MonitorModel`] and raises monitoring alerts.
pub struct MonitorTracker {
    model: Arc<MonitorModel>,
    cfg: MonitorConfig,
    apis: Vec<ApiState>,
    api_index: BTreeMap<String, usize>,
    /// The tick records currently go to; ticks before it are closed.
    current_tick: Option<i64>,
    first_tick: i64,
    last_ts_ms: i64,
    alerts: Vec<TrackedAlert>,
    /// Each series' latest alert: within the cool-down it grows again.
    latest_of_series: BTreeMap<SeriesKey, usize>,
    /// Each group's latest alert: other endpoints join it while it is active.
    latest_of_group: BTreeMap<GroupKey, usize>,
    scratch: WindowStats,
    /// A pooled span of several windows (quiet APIs' country mix).
    pooled: WindowStats,
    untracked_records: u64,
}

impl MonitorTracker {
    pub fn new(model: Arc<MonitorModel>, cfg: MonitorConfig) -> Self {
        MonitorTracker {
            model,
            cfg: cfg.sanitized(),
            apis: Vec::new(),
            api_index: BTreeMap::new(),
            current_tick: None,
            first_tick: 0,
            last_ts_ms: i64::MIN,
            alerts: Vec::new(),
            latest_of_series: BTreeMap::new(),
            latest_of_group: BTreeMap::new(),
            scratch: WindowStats::default(),
            pooled: WindowStats::default(),
            untracked_records: 0,
        }
    }

    /// Alerts opened or updated by this record (usually empty): a record whose
    /// time closes ticks triggers their evaluation.
    pub fn observe(&mut self, s: &MonitorSample<'_>) -> Vec<MonitorAlert> {
        let clamped = MonitorSample {
            ts_ms: crate::clamp_ts(s.ts_ms),
            ..*s
        };
        let s = &clamped;
        let tick = s.ts_ms.div_euclid(self.cfg.tick_ms);
        let mut changed = Vec::new();
        let record_tick = match self.current_tick {
            None => {
                self.current_tick = Some(tick);
                self.first_tick = tick;
                tick
            }
            Some(current) if tick > current => {
                self.advance(current, tick, &mut changed);
                tick
            }
            // Late records count in the open tick: windows never reopen.
            Some(current) => current,
        };
        self.last_ts_ms = self.last_ts_ms.max(s.ts_ms);
        self.add(s, record_tick);
        changed
    }

    /// All alerts, in opening order, in their latest state (at most
    /// [`MonitorConfig::max_alerts`]: the oldest closed ones are forgotten).
    pub fn alerts(&self) -> Vec<MonitorAlert> {
        self.alerts.iter().map(|t| t.alert.clone()).collect()
    }

    /// Records not tracked because the API cap was reached.
    pub fn untracked_records(&self) -> u64 {
        self.untracked_records
    }

    /// Approximate heap bytes held by the live windows.
    pub fn memory_bytes(&self) -> usize {
        self.apis
            .iter()
            .map(|a| {
                a.series.heap_bytes()
                    + a.name.len()
                    + a.countries.iter().map(|c| c.len() + 48).sum::<usize>()
                    + a.endpoints
                        .iter()
                        .map(|e| e.series.heap_bytes() + 2 * e.name.len() + 256)
                        .sum::<usize>()
            })
            .sum()
    }

    fn add(&mut self, s: &MonitorSample<'_>, tick: i64) {
        let Some(api_pos) = self.api_position(s.api) else {
            self.untracked_records += 1;
            return;
        };
        let cfg = &self.cfg;
        let Some(api) = self.apis.get_mut(api_pos) else {
            return;
        };
        let country = intern_country(api, s.country.unwrap_or(""), cfg.max_countries_per_api);
        let endpoint_pos =
            endpoint_position(api, s.endpoint, &self.model, cfg.max_endpoints_per_api);
        let mut flags = match s.status {
            500..=599 => FLAG_5XX,
            400..=499 => FLAG_4XX,
            _ => 0,
        };
        if api
            .country_baseline
            .get(usize::from(country))
            .copied()
            .unwrap_or(0.0)
            < NEW_COUNTRY_SHARE
            && api.baseline.is_some()
        {
            flags |= FLAG_NEW_COUNTRY;
        }
        if let Some(endpoint) = endpoint_pos.and_then(|i| api.endpoints.get_mut(i)) {
            if let Some(base) = &endpoint.baseline {
                flags |= shift_flags(s, base, cfg);
            }
            let t = endpoint.series.tick_mut(tick, cfg.window_ticks);
            t.add(s.latency_ms, s.request_bytes, s.response_bytes, s.status);
            if flags & FLAG_SLOW != 0 {
                t.slow = t.slow.saturating_add(1);
            }
            t.keep_id(flags & !FLAG_NEW_COUNTRY, s.id, cfg.ids_per_tick);
        }
        api.last_request_ms = Some(api.last_request_ms.map_or(s.ts_ms, |t| t.max(s.ts_ms)));
        let t = api.series.tick_mut(tick, cfg.window_ticks * POOLED_WINDOWS);
        t.add(s.latency_ms, s.request_bytes, s.response_bytes, s.status);
        t.add_country(country);
        t.add_client(
            crate::client_hash(s.client, s.id),
            country,
            MAX_TICK_CLIENTS,
        );
        t.keep_id(flags, s.id, cfg.ids_per_tick);
    }

    fn api_position(&mut self, name: &str) -> Option<usize> {
        if let Some(&i) = self.api_index.get(name) {
            return Some(i);
        }
        if self.apis.len() >= self.cfg.max_apis {
            return None;
        }
        let baseline = self.model.api(name).cloned();
        let i = self.apis.len();
        self.apis.push(ApiState {
            name: name.to_string(),
            baseline,
            series: Series::default(),
            endpoints: Vec::new(),
            endpoint_index: BTreeMap::new(),
            countries: Vec::new(),
            country_baseline: Vec::new(),
            country_index: BTreeMap::new(),
            last_request_ms: None,
        });
        self.api_index.insert(name.to_string(), i);
        Some(i)
    }

    /// Closes ticks `from..to`; a long silence evaluates only as many empty
    /// windows as persistence needs, jumps, and evaluates the last ticks
    /// before `to` again (persistence's worth): by then the silence may be
    /// long enough to be a drop where a short one was not.
    fn advance(&mut self, from: i64, to: i64, changed: &mut Vec<MonitorAlert>) {
        let most = i64::from(self.cfg.window_ticks + self.cfg.persistence_ticks) + 1;
        let last = to.min(from.saturating_add(most));
        for closing in from..last {
            self.evaluate(closing, changed);
        }
        let tail = to
            .saturating_sub(i64::from(self.cfg.persistence_ticks))
            .max(last);
        for closing in tail..to {
            self.evaluate(closing, changed);
        }
        self.current_tick = Some(to);
    }

    /// Judges every series on the window ending with tick `closing`.
    fn evaluate(&mut self, closing: i64, changed: &mut Vec<MonitorAlert>) {
        let cfg = self.cfg.clone();
        // A window that began before the first record would read as a drop.
        let full = closing - self.first_tick + 1 >= i64::from(cfg.window_ticks);
        let window_start_ms = (closing - i64::from(cfg.window_ticks) + 1) * cfg.tick_ms;
        let window_end_ms = (closing + 1) * cfg.tick_ms;
        let window_seconds = (window_end_ms - window_start_ms) as f64 / 1000.0;
        // A run of `streak` deviating evaluations began with this tick.
        let run_start = |streak: u32| (closing - i64::from(streak) + 1) * cfg.tick_ms;
        let mut raised: Vec<Raised> = Vec::new();
        for (api_pos, api) in self.apis.iter_mut().enumerate() {
            api.series
                .expire(closing, cfg.window_ticks * POOLED_WINDOWS);
            let window_first_tick = closing - i64::from(cfg.window_ticks) + 1;
            let Some(api_base) = &api.baseline else {
                continue;
            };
            let mut endpoint_deviations: Vec<(usize, Deviation)> = Vec::new();
            for (pos, endpoint) in api.endpoints.iter_mut().enumerate() {
                endpoint.series.expire(closing, cfg.window_ticks);
                let Some(base) = &endpoint.baseline else {
                    continue;
                };
                // Most endpoints are quiet: judge nothing below the sample guard
                // without summing histograms (a few slow requests can tell a
                // latency regression below `min_window_samples`).
                if endpoint.series.requests() < cfg.min_window_samples.min(cfg.min_errors) {
                    endpoint.series.streaks = [0; 6];
                    continue;
                }
                endpoint.series.summarize(&mut self.scratch);
                let found = [
                    checks::latency(&self.scratch, base, &cfg),
                    checks::errors(&self.scratch, base, &cfg),
                    checks::response_size(&self.scratch, base, &cfg),
                ];
                endpoint_deviations.extend(found.into_iter().flatten().map(|d| (pos, d)));
            }
            for kind in [
                MonitorKind::LatencyRegression,
                MonitorKind::ErrorRateSpike,
                MonitorKind::ResponseSizeShift,
            ] {
                let deviating: Vec<&(usize, Deviation)> = endpoint_deviations
                    .iter()
                    .filter(|(_, d)| d.kind == kind)
                    .collect();
                let api_wide = deviating.len() >= cfg.api_wide_endpoints;
                for (pos, endpoint) in api.endpoints.iter_mut().enumerate() {
                    let hit = deviating.iter().find(|(p, _)| *p == pos);
                    let streak = &mut endpoint.series.streaks[kind_index(kind)];
                    match hit {
                        Some((_, d)) if !api_wide => {
                            *streak += 1;
                            let run = *streak;
                            if run >= cfg.persistence_ticks {
                                let ids =
                                    endpoint.series.ids(kind_mask(kind), MAX_ALERT_REQUEST_IDS);
                                raised.push(Raised {
                                    key: (api_pos, kind, error_class(d)),
                                    deviation: d.clone(),
                                    endpoints: vec![(pos, d.clone())],
                                    ids,
                                    run_start_ms: run_start(run),
                                });
                            }
                        }
                        _ => *streak = 0,
                    }
                }
                let streak = &mut api.series.streaks[kind_index(kind)];
                if api_wide {
                    *streak += 1;
                    let run = *streak;
                    let worst = deviating
                        .iter()
                        .max_by(|a, b| a.1.score.total_cmp(&b.1.score))
                        .map(|(_, d)| d.clone());
                    if let (true, Some(mut d)) = (run >= cfg.persistence_ticks, worst) {
                        d.evidence.push(Evidence {
                            feature: "endpoints_deviating".into(),
                            observed: deviating.len() as f64,
                            baseline: 0.0,
                        });
                        let ids = api.series.ids_since(
                            window_first_tick,
                            kind_mask(kind),
                            MAX_ALERT_REQUEST_IDS,
                        );
                        raised.push(Raised {
                            key: (api_pos, kind, error_class(&d)),
                            deviation: d,
                            endpoints: deviating.iter().map(|&(p, d)| (*p, d.clone())).collect(),
                            ids,
                            run_start_ms: run_start(run),
                        });
                    }
                } else {
                    *streak = 0;
                }
            }
            if !full {
                continue;
            }
            api.series
                .summarize_since(window_first_tick, &mut self.scratch);
            let expected = api_base.expected_rate(window_start_ms) * window_seconds;
            // The silence runs from the API's last request (or the first
            // tick's start) to the window's end.
            let silence_start = api
                .last_request_ms
                .unwrap_or(self.first_tick * cfg.tick_ms)
                .min(window_end_ms);
            let silence_arrivals = api_base
                .expected_arrival_rate(window_start_ms)
                .map(|rate| rate * (window_end_ms - silence_start) as f64 / 1000.0);
            let traffic = checks::traffic(
                self.scratch.requests,
                expected,
                window_seconds,
                silence_arrivals,
                &cfg,
            );
            let mut country = checks::countries(
                &self.scratch,
                api_base,
                &api.countries,
                window_start_ms,
                false,
                &cfg,
            );
            // Too few clients in the window to judge its mix: pool the
            // shortest span of up to `POOLED_WINDOWS` windows that has
            // enough (a quiet hour's shift shows in 2-3 minutes, not 1).
            if self.scratch.clients < cfg.min_country_clients {
                // Each longer span adds the window's worth of ticks before the last.
                self.pooled.clients_of(&self.scratch);
                let mut span_first = window_first_tick;
                for windows in 2..=POOLED_WINDOWS {
                    let first = closing - i64::from(cfg.window_ticks * windows) + 1;
                    if first < self.first_tick {
                        break;
                    }
                    api.series.add_clients(first, span_first, &mut self.pooled);
                    span_first = first;
                    if self.pooled.clients >= cfg.min_country_clients {
                        country = checks::countries(
                            &self.pooled,
                            api_base,
                            &api.countries,
                            first * cfg.tick_ms,
                            true,
                            &cfg,
                        );
                        break;
                    }
                }
            }
            for kind in [
                MonitorKind::TrafficSurge,
                MonitorKind::TrafficDrop,
                MonitorKind::CountryShift,
            ] {
                let hit = [&traffic, &country]
                    .into_iter()
                    .flatten()
                    .find(|d| d.kind == kind);
                let streak = &mut api.series.streaks[kind_index(kind)];
                match hit {
                    Some(d) => {
                        *streak += 1;
                        let run = *streak;
                        if run >= cfg.persistence_ticks {
                            let ids = api.series.ids_since(
                                window_first_tick,
                                kind_mask(kind),
                                MAX_ALERT_REQUEST_IDS,
                            );
                            raised.push(Raised {
                                key: (api_pos, kind, 0),
                                deviation: d.clone(),
                                endpoints: Vec::new(),
                                ids,
                                run_start_ms: run_start(run),
                            });
                        }
                    }
                    None => *streak = 0,
                }
            }
        }
        // Several endpoints of one alert in one evaluation: the alert is
        // reported once, in its state after all of them.
        let mut touched: Vec<usize> = Vec::new();
        for r in raised {
            let i = self.raise(r, window_end_ms);
            if !touched.contains(&i) {
                touched.push(i);
            }
        }
        changed.extend(
            touched
                .into_iter()
                .filter_map(|i| self.alerts.get(i).map(|t| t.alert.clone())),
        );
    }

    /// Opens an alert, or grows one: the last alert of one of the deviating
    /// series when it was seen within the cool-down, else (for the kinds
    /// that group endpoints) the API's alert of the same kind while it is
    /// active (seen within a window of this run's start: an incident
    /// spreading to another endpoint), adding the deviation's endpoints to
    /// it. Returns its index.
    fn raise(&mut self, r: Raised, now_ms: i64) -> usize {
        let Raised {
            key,
            deviation,
            endpoints,
            ids,
            run_start_ms,
        } = r;
        let (api_pos, kind, class) = key;
        let api = self.apis.get(api_pos);
        let named: Vec<(String, f64, Evidence)> = endpoints
            .iter()
            .filter_map(|(pos, d)| {
                let name = api?.endpoints.get(*pos)?.name.clone();
                Some((name, d.score, d.evidence.first()?.clone()))
            })
            .collect();
        let series: Vec<SeriesKey> = if endpoints.is_empty() {
            vec![(api_pos, None, kind, class)]
        } else {
            endpoints
                .iter()
                .map(|(pos, _)| (api_pos, Some(*pos), kind, class))
                .collect()
        };
        let alerts = &self.alerts;
        let seen_within = |i: usize, gap: i64| {
            alerts
                .get(i)
                .is_some_and(|t| t.alert.last_seen_ms + gap >= run_start_ms)
        };
        let same_series = series
            .iter()
            .filter_map(|k| self.latest_of_series.get(k).copied())
            .find(|&i| seen_within(i, self.cfg.cooldown_ms));
        let window_ms = i64::from(self.cfg.window_ticks) * self.cfg.tick_ms;
        let active = self
            .latest_of_group
            .get(&key)
            .copied()
            .filter(|&i| groups_endpoints(kind) && seen_within(i, window_ms));
        if let Some(i) = same_series.or(active) {
            if let Some(t) = self.alerts.get_mut(i) {
                let alert = &mut t.alert;
                // One evaluation counts once, however many endpoints it hit.
                if now_ms > alert.last_seen_ms {
                    alert.count += 1;
                }
                alert.last_seen_ms = alert.last_seen_ms.max(now_ms);
                if deviation.score > alert.score {
                    alert.score = deviation.score;
                    alert.severity = alert.severity.max(deviation.severity);
                    t.main_evidence = deviation.evidence;
                }
                for id in ids {
                    if alert.request_ids.len() >= MAX_ALERT_REQUEST_IDS {
                        break;
                    }
                    if !alert.request_ids.contains(&id) {
                        alert.request_ids.push(id);
                    }
                }
                for (name, score, row) in named {
                    match t.endpoints.iter_mut().find(|e| e.0 == name) {
                        Some(e) if score > e.1 => *e = (name, score, row),
                        Some(_) => {}
                        None => t.endpoints.push((name, score, row)),
                    }
                }
                for k in &series {
                    if !t.series.contains(k) {
                        t.series.push(*k);
                    }
                }
                t.refresh();
                for k in series {
                    self.latest_of_series.insert(k, i);
                }
                self.latest_of_group.insert(key, i);
                return i;
            }
        }
        if self.alerts.len() >= self.cfg.max_alerts {
            self.forget_old_alerts(now_ms);
        }
        let api_name = self
            .apis
            .get(api_pos)
            .map(|a| a.name.clone())
            .unwrap_or_default();
        let first_endpoint = named.first().map(|e| e.0.clone());
        let mut tracked = TrackedAlert {
            alert: MonitorAlert {
                id: alert_id(&api_name, first_endpoint.as_deref(), kind, run_start_ms),
                kind,
                severity: deviation.severity,
                api: api_name,
                endpoint: None,
                endpoints: Vec::new(),
                score: deviation.score,
                threshold: deviation.threshold,
                first_seen_ms: run_start_ms,
                last_seen_ms: now_ms,
                request_ids: ids.into_iter().take(MAX_ALERT_REQUEST_IDS).collect(),
                evidence: Vec::new(),
                count: 1,
            },
            main_evidence: deviation.evidence,
            endpoints: named,
            group: key,
            series: series.clone(),
        };
        tracked.refresh();
        let i = self.alerts.len();
        for k in series {
            self.latest_of_series.insert(k, i);
        }
        self.latest_of_group.insert(key, i);
        self.alerts.push(tracked);
        i
    }

    /// Drops closed alerts (past their cool-down), then the oldest half if
    /// all are open, and re-points the dedup indexes at what is left.
    fn forget_old_alerts(&mut self, now_ms: i64) {
        let cooldown = self.cfg.cooldown_ms;
        self.alerts
            .retain(|t| t.alert.last_seen_ms + cooldown >= now_ms);
        if self.alerts.len() >= self.cfg.max_alerts {
            let excess = self.alerts.len() - self.cfg.max_alerts / 2;
            self.alerts.drain(..excess);
        }
        self.latest_of_series.clear();
        self.latest_of_group.clear();
        for (i, t) in self.alerts.iter().enumerate() {
            for k in &t.series {
                self.latest_of_series.insert(*k, i);
            }
            self.latest_of_group.insert(t.group, i);
        }
    }

    /// Live figures of every API and its busiest endpoints over the current window.
    pub fn figures(&self) -> Vec<EndpointFigures> {
        let Some(current) = self.current_tick else {
            return Vec::new();
        };
        let window_start_ms = (current - i64::from(self.cfg.window_ticks) + 1) * self.cfg.tick_ms;
        let covered_ms = (self.last_ts_ms - window_start_ms + 1).clamp(
            self.cfg.tick_ms,
            i64::from(self.cfg.window_ticks) * self.cfg.tick_ms,
        );
        let seconds = covered_ms as f64 / 1000.0;
        let mut stats = WindowStats::default();
        let mut out = Vec::new();
        for api in &self.apis {
            summarize_current(&api.series, current, &self.cfg, &mut stats);
            let mut row = figures_of(&api.name, None, &stats, seconds);
            let mut shares: Vec<(String, f64)> = stats
                .countries
                .iter()
                .filter_map(|&(i, n)| {
                    let name = api.countries.get(usize::from(i))?;
                    Some((name.clone(), n as f64 / stats.requests.max(1) as f64))
                })
                .collect();
            shares.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let other: f64 = shares.iter().skip(FIGURE_COUNTRIES).map(|s| s.1).sum();
            shares.truncate(FIGURE_COUNTRIES);
            if other > 0.0 {
                shares.push(("other".to_string(), other));
            }
            row.country_share = shares;
            out.push(row);
            let mut endpoints: Vec<EndpointFigures> = api
                .endpoints
                .iter()
                .filter_map(|e| {
                    summarize_current(&e.series, current, &self.cfg, &mut stats);
                    (stats.requests > 0)
                        .then(|| figures_of(&api.name, Some(&e.name), &stats, seconds))
                })
                .collect();
            endpoints.sort_by(|a, b| {
                b.requests
                    .cmp(&a.requests)
                    .then_with(|| a.endpoint.cmp(&b.endpoint))
            });
            endpoints.truncate(FIGURE_ENDPOINTS_PER_API);
            out.extend(endpoints);
        }
        out
    }
}

impl TrackedAlert {
    /// The alert's endpoint and evidence from what it groups: one endpoint
    /// is named on the alert; several make it API-wide, each listed as an
    /// `endpoint:<METHOD template>` evidence row (its main figure, observed
    /// vs baseline, at its strongest).
    fn refresh(&mut self) {
        let a = &mut self.alert;
        a.endpoints = self.endpoints.iter().map(|e| e.0.clone()).collect();
        a.endpoint = match self.endpoints.as_slice() {
            [(name, _, _)] => Some(name.clone()),
            _ => None,
        };
        a.evidence = self.main_evidence.clone();
        if self.endpoints.len() > 1 {
            a.evidence
                .extend(self.endpoints.iter().map(|(name, _, row)| Evidence {
                    feature: format!("{ENDPOINT_EVIDENCE_PREFIX}{name}"),
                    observed: row.observed,
                    baseline: row.baseline,
                }));
        }
    }
}

/// Sums a series' ticks that are still inside the window ending at `current`.
fn summarize_current(series: &Series, current: i64, cfg: &MonitorConfig, into: &mut WindowStats) {
    // Ticks expire lazily; a series idle for longer than a window is empty here.
    series.summarize_since(current - i64::from(cfg.window_ticks) + 1, into);
}

fn figures_of(api: &str, endpoint: Option<&str>, w: &WindowStats, seconds: f64) -> EndpointFigures {
    let ratio = |k: u64| {
        if w.requests == 0 {
            0.0
        } else {
            k as f64 / w.requests as f64
        }
    };
    let quantiles = |h: &crate::DenseHistogram| Quantiles {
        p50: h.quantile(0.5),
        p95: h.quantile(0.95),
        p99: h.quantile(0.99),
    };
    EndpointFigures {
        api: api.to_string(),
        endpoint: endpoint.map(str::to_string),
        requests: w.requests,
        requests_per_second: w.requests as f64 / seconds.max(1e-3),
        latency_ms: quantiles(&w.latency),
        request_bytes: quantiles(&w.request_bytes),
        response_bytes: quantiles(&w.response_bytes),
        error_ratio_5xx: ratio(w.errors_5xx),
        error_ratio_4xx: ratio(w.errors_4xx),
        country_share: Vec::new(),
    }
}

fn intern_country(api: &mut ApiState, country: &str, cap: usize) -> u16 {
    if let Some(&i) = api.country_index.get(country) {
        return i;
    }
    // Past the cap, countries share the last slot ("other").
    if api.countries.len() >= cap.min(usize::from(u16::MAX)) {
        return (api.countries.len() - 1) as u16;
    }
    let i = api.countries.len() as u16;
    let share = api
        .baseline
        .as_ref()
        .map_or(0.0, |b| b.country_share(country));
    let name = if api.countries.len() + 1 == cap {
        "other"
    } else {
        country
    };
    api.countries.push(name.to_string());
    api.country_baseline.push(share);
    api.country_index.insert(country.to_string(), i);
    i
}

fn endpoint_position(
    api: &mut ApiState,
    name: &str,
    model: &MonitorModel,
    cap: usize,
) -> Option<usize> {
    if let Some(&i) = api.endpoint_index.get(name) {
        return Some(i);
    }
    if api.endpoints.len() >= cap {
        return None;
    }
    let baseline = model
        .api(&api.name)
        .and_then(|a| a.endpoints.get(name))
        .cloned();
    let i = api.endpoints.len();
    api.endpoints.push(EndpointState {
        name: name.to_string(),
        baseline,
        series: Series::default(),
    });
    api.endpoint_index.insert(name.to_string(), i);
    Some(i)
}

/// Which of a record's figures are off its endpoint's baseline.
fn shift_flags(s: &MonitorSample<'_>, base: &SeriesBaseline, cfg: &MonitorConfig) -> u8 {
    let mut flags = 0;
    if s.latency_ms >= crate::model::slow_threshold_ms(base.latency_p50_ms, cfg) {
        flags |= FLAG_SLOW;
    }
    if base.response_bytes_p50 >= 64.0 && (200..300).contains(&s.status) {
        let bytes = (s.response_bytes as f64).max(1.0);
        let ratio = bytes / base.response_bytes_p50;
        if ratio.max(1.0 / ratio) >= cfg.response_size_ratio {
            flags |= FLAG_SIZE;
        }
    }
    flags
}

/// Whether another endpoint's deviation of this kind joins the API's active
/// alert. Errors and sizes: a failing backend or a release shows on one
/// endpoint after another. Not latency: an endpoint slows with its own load
/// (a flood on search slows search), so a slow endpoint beside another is
/// usually a second problem, named on its own alert; a backend slowing the
/// whole API shows on many endpoints at once, judged API-wide.
fn groups_endpoints(kind: MonitorKind) -> bool {
    matches!(
        kind,
        MonitorKind::ErrorRateSpike | MonitorKind::ResponseSizeShift
    )
}

/// The error class of an error deviation (1: 5xx, 2: 4xx), 0 for other kinds.
fn error_class(d: &Deviation) -> u8 {
    match d.evidence.first().map(|e| e.feature.as_str()) {
        _ if d.kind != MonitorKind::ErrorRateSpike => 0,
        Some("error_ratio_5xx") => 1,
        Some("error_ratio_4xx") => 2,
        _ => 0,
    }
}

fn kind_index(kind: MonitorKind) -> usize {
    kind as usize
}

fn kind_mask(kind: MonitorKind) -> u8 {
    match kind {
        MonitorKind::LatencyRegression => FLAG_SLOW,
        MonitorKind::ErrorRateSpike => FLAG_5XX | FLAG_4XX,
        MonitorKind::ResponseSizeShift => FLAG_SIZE,
        MonitorKind::CountryShift => FLAG_NEW_COUNTRY,
        MonitorKind::TrafficDrop | MonitorKind::TrafficSurge => 0,
    }
}

/// A stable id: the same traffic gives the same ids (FNV-1a of the key).
fn alert_id(api: &str, endpoint: Option<&str>, kind: MonitorKind, first_seen_ms: i64) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let parts = [
        api.as_bytes(),
        endpoint.unwrap_or("").as_bytes(),
        kind.as_str().as_bytes(),
        &first_seen_ms.to_le_bytes(),
    ];
    for part in parts {
        for &b in part.iter().chain(std::iter::once(&0xff)) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("mon-{hash:016x}")
}
