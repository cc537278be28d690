//! The engine: scores records one at a time with the request forest and the
//! behavior layer, and keeps deduplicated alerts. Pure and deterministic: no
//! IO, no wall clock (traffic time only), state kept per API so sharding by
//! API gives the same verdicts as one engine.

use crate::alerts::{severity_of_calibrated, AlertBook, Flag};
use crate::bundle::ModelBundle;
use crate::discovery::ApiNamer;
use crate::features::request_evidence;
use crate::health::HealthState;
use crate::model::{stable_hash64, ApiModel, PopulationModel, RequestDetector, Resolver};
use crate::train::{named_entities, push_ip};
use apiwarden_alert::{Alert, AttackType, EntityKind, EntityRef, Evidence, Severity};
use apiwarden_behavior::{BehaviorConfig, BehaviorTracker, EntitySnapshot, Observation};
use apiwarden_monitor::EndpointFigures;
use apiwarden_record::AccessRecord;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Runtime settings. `Default` is the shipped configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// An alert closes after this much traffic time without a flagged record.
    pub alert_cooldown_ms: i64,
    /// An alert open this long rolls over into a new one at its next flag.
    pub alert_max_span_ms: i64,
    /// Alerts kept in memory per API (oldest dropped first).
    pub max_alerts_per_api: usize,
    /// Behavior settings; `None` = those the bundle was trained with.
    pub behavior: Option<BehaviorConfig>,
    /// APIs with state of their own; records of further new APIs (e.g. a
    /// flood of random Host headers) share the state of [`OVERFLOW_API`].
    pub max_apis: usize,
}

/// Where the records of APIs past `max_apis` go.
pub const OVERFLOW_API: &str = "_overflow";

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            alert_cooldown_ms: 15 * 60_000,
            alert_max_span_ms: 60 * 60_000,
            max_alerts_per_api: 100_000,
            behavior: None,
            max_apis: 10_000,
        }
    }
}

/// The verdict on one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub id: String,
    pub api: String,
    /// `GET /v1/accounts/{id}`.
    pub endpoint: String,
    pub ts_ms: i64,
    /// In [0,1]: the larger of the calibrated request and behavior scores
    /// (each detector's threshold maps to 0.5); at least 0.51 when `attack`
    /// is set.
    pub score: f64,
    /// Set when the record is over a threshold or one of its entities is
    /// under an open alert.
    pub attack: Option<AttackType>,
    /// Alerts opened or updated by this record, in their current state
    /// (shared with the engine: no copy per flagged record).
    pub alerts: Vec<Arc<Alert>>,
}

/// Which model an API is scored with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelStatus {
    /// Its own model from training.
    Trained,
    /// Not in training: the population model pooled from all trained APIs.
    Population,
    /// Learning mode: no model yet (an empty bundle, before the first
    /// training); records are stored and score 0 until then.
    #[serde(rename = "learning")]
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiStatus {
    pub name: String,
    /// Endpoint templates (`GET /v1/accounts/{id}`): from training, or as
    /// discovered live for an API on the population model.
    pub endpoints: Vec<String>,
    /// Records seen by this engine.
    pub records: u64,
    pub model: ModelStatus,
}

enum ApiModelKind {
    Trained(Arc<ApiModel>),
    Population(Arc<PopulationModel>),
    None,
}

/// The least score of a record with an attack verdict.
pub const ATTACK_SCORE_FLOOR: f64 = 0.51;

/// Endpoints remembered for an API on the population model (status only).
const MAX_LIVE_ENDPOINTS: usize = 1000;

struct ApiState {
    name: String,
    model: ApiModelKind,
    tracker: Option<BehaviorTracker>,
    alerts: AlertBook,
    records: u64,
    live_endpoints: BTreeSet<String>,
    incidents: IncidentWindow,
    /// API health: only for APIs whose trained model carries baselines.
    health: Option<HealthState>,
    /// Rewritten with each of a record's entities to look up its open
    /// alerts without allocating their names.
    probe: EntityRef,
}

/// A request is only reported as anomalous on evidence beyond doubt: a size
/// or latency past anything its endpoint showed in training (extremeness over
/// 0.5), or an endpoint (method + template) training never saw. The forest
/// score alone ranks requests; this keeps false alerts near zero.
fn has_hard_evidence(
    features: &[f64; crate::features::N_FEATURES],
    ep: &crate::features::EndpointBaseline,
    status: u16,
    known: bool,
) -> bool {
    !known || crate::features::extremeness(features, ep, status) > 0.5
}

/// A method the endpoint never served in training, which the server refused
/// as not allowed (405) or not implemented (501): a client built against the
/// API never sends it, so it is an outlier request however ordinary its sizes
/// and timings look to the forest (an API that starts serving a new method
/// answers it, it does not refuse it).
/// An outlier request's alert: on its client IP, the request forest's
/// raw score against its threshold.
fn anomalous_request(
    rec: &AccessRecord,
    severity: Severity,
    score: f64,
    threshold: f64,
    evidence: Vec<Evidence>,
) -> Flag {
    Flag {
        entity: EntityRef {
            kind: EntityKind::Ip,
            value: rec.client_ip.to_string(),
        },
        attack: AttackType::AnomalousRequest,
        severity,
        score,
        threshold,
        evidence,
    }
}

/// Whether a request's only hard evidence is its latency: a known endpoint
/// and sizes within what training showed.
fn latency_only(
    features: &[f64; crate::features::N_FEATURES],
    ep: &crate::features::EndpointBaseline,
    known: bool,
) -> bool {
    let mut sizes = *features;
    sizes[0] = 0.0;
    known && crate::features::extremeness(&sizes, ep, 200) <= 0.5
}

fn refused_method(status: u16, known: bool) -> bool {
    !known && (status == 405 || status == 501)
}

/// Separates data-exfiltration verdicts that one request explains: the
/// request is extreme for its endpoint by itself and its response is at least
/// half the byte volume the behavior evidence reports. Returns the other
/// verdicts, and whether any were separated.
fn split_single_request_volume(
    flagged: Vec<apiwarden_behavior::EntityVerdict>,
    rec: &AccessRecord,
    features: &[f64; crate::features::N_FEATURES],
    ep: &crate::features::EndpointBaseline,
) -> (Vec<apiwarden_behavior::EntityVerdict>, bool) {
    if !flagged
        .iter()
        .any(|v| v.attack == AttackType::DataExfiltration)
        || crate::features::extremeness(features, ep, rec.status) <= 0.5
    {
        return (flagged, false);
    }
    let bytes = rec.response_bytes as f64;
    let explained = |v: &apiwarden_behavior::EntityVerdict| {
        v.attack == AttackType::DataExfiltration
            && v.evidence
                .iter()
                .filter(|e| e.feature.starts_with("response_bytes"))
                .all(|e| bytes >= 0.5 * e.observed)
            && v.evidence
                .iter()
                .any(|e| e.feature.starts_with("response_bytes"))
    };
    let before = flagged.len();
    let rest: Vec<_> = flagged.into_iter().filter(|v| !explained(v)).collect();
    let split = rest.len() < before;
    (rest, split)
}

/// Outlier requests seen lately per endpoint, by client: when several
/// clients hit the same oddity at once (an outage, a slow backend, a new app
/// release), it is the API that changed, not an attacker.
#[derive(Default)]
struct IncidentWindow {
    /// Endpoint name → (ts_ms, client) of recent outliers, oldest first.
    recent: HashMap<String, Vec<(i64, u128)>>,
    /// Endpoint name → (ts_ms, client) of recent slowed requests (latency
    /// past [`SLOW_LATENCY_Z`]), oldest first.
    slow: HashMap<String, Vec<(i64, u128)>>,
}

const INCIDENT_WINDOW_MS: i64 = 10 * 60_000;
const INCIDENT_CLIENTS: usize = 3;
const INCIDENT_MAX_ENDPOINTS: usize = 4096;
const INCIDENT_MAX_EVENTS: usize = 64;
/// A request this many robust deviations slower than its endpoint's
/// training median is slowed (half the bar of an extreme latency): a backend
/// that slows down makes a few requests extreme and many more merely slow,
/// across all its clients.
const SLOW_LATENCY_Z: f64 = crate::features::MIN_EXTREME_LATENCY_Z / 2.0;

/// The client of a record as a number (no allocation per record).
fn client_key(rec: &AccessRecord) -> u128 {
    match rec.client_ip {
        std::net::IpAddr::V4(a) => u128::from(u32::from(a)),
        std::net::IpAddr::V6(a) => u128::from(a),
    }
}

/// Records an event of `rec`'s client on `endpoint`; true when at least
/// `INCIDENT_CLIENTS` distinct clients (this one included) had one there
/// within the window.
fn note_event(
    map: &mut HashMap<String, Vec<(i64, u128)>>,
    endpoint: &str,
    rec: &AccessRecord,
) -> bool {
    let now = rec.ts_ms;
    if !map.contains_key(endpoint) {
        if map.len() >= INCIDENT_MAX_ENDPOINTS {
            map.retain(|_, v| v.last().is_some_and(|(t, _)| now - t <= INCIDENT_WINDOW_MS));
            if map.len() >= INCIDENT_MAX_ENDPOINTS {
                map.clear();
            }
        }
        map.insert(endpoint.to_string(), Vec::new());
    }
    let Some(events) = map.get_mut(endpoint) else {
        return false;
    };
    events.retain(|(t, _)| now - t <= INCIDENT_WINDOW_MS);
    if events.len() >= INCIDENT_MAX_EVENTS {
        events.remove(0);
    }
    events.push((now, client_key(rec)));
    let mut seen = [0u128; INCIDENT_CLIENTS];
    let mut distinct = 0;
    for (_, c) in events.iter() {
        if !seen[..distinct].contains(c) {
            seen[distinct] = *c;
            distinct += 1;
            if distinct == INCIDENT_CLIENTS {
                return true;
            }
        }
    }
    false
}

impl IncidentWindow {
    /// Records an outlier request; true when other clients had outliers on
    /// the same endpoint within the window (this one included: at least
    /// `INCIDENT_CLIENTS` distinct clients).
    fn is_incident(&mut self, endpoint: &str, rec: &AccessRecord) -> bool {
        note_event(&mut self.recent, endpoint, rec)
    }

    /// Records a slowed request; true when the endpoint is slow for several
    /// clients at once (this one included) within the window.
    fn endpoint_is_slow(&mut self, endpoint: &str, rec: &AccessRecord) -> bool {
        note_event(&mut self.slow, endpoint, rec)
    }
}

pub struct Engine {
    models: Arc<ModelBundle>,
    cfg: EngineConfig,
    behavior_cfg: BehaviorConfig,
    /// Looked up per record, never iterated for output without sorting.
    apis: HashMap<String, ApiState>,
    next_alert_seq: u64,
    namer: ApiNamer,
}

impl Engine {
    pub fn new(models: Arc<ModelBundle>, cfg: EngineConfig) -> Self {
        let behavior_cfg = cfg
            .behavior
            .clone()
            .unwrap_or_else(|| models.train_config.behavior.clone());
        Engine {
            models,
            cfg,
            behavior_cfg,
            apis: HashMap::new(),
            next_alert_seq: 0,
            namer: ApiNamer::default(),
        }
    }

    pub fn models(&self) -> &Arc<ModelBundle> {
        &self.models
    }

    fn state(&mut self, api: String) -> &mut ApiState {
        let models = &self.models;
        let cfg = &self.cfg;
        let behavior_cfg = &self.behavior_cfg;
        self.apis.entry(api).or_insert_with_key(|name| {
            let (model, behavior) = match (models.apis.get(name), &models.population) {
                (Some(m), _) => (
                    ApiModelKind::Trained(Arc::clone(m)),
                    Some(Arc::clone(&m.behavior)),
                ),
                (None, Some(p)) => (ApiModelKind::Population(Arc::clone(p)), p.behavior.clone()),
                (None, None) => (ApiModelKind::None, None),
            };
            let health = models
                .apis
                .get(name)
                .and_then(|m| m.monitor.clone())
                .map(|monitor| HealthState::new(monitor, cfg.max_alerts_per_api));
            ApiState {
                name: name.clone(),
                health,
                model,
                tracker: behavior.map(|b| {
                    let siblings = models
                        .apis
                        .iter()
                        .filter(|(other, _)| *other != name)
                        .map(|(_, m)| Arc::clone(&m.behavior))
                        .collect();
                    BehaviorTracker::new(b, behavior_cfg.clone()).with_siblings(siblings)
                }),
                alerts: AlertBook::new(
                    name,
                    cfg.alert_cooldown_ms,
                    cfg.alert_max_span_ms,
                    cfg.max_alerts_per_api,
                ),
                records: 0,
                live_endpoints: BTreeSet::new(),
                incidents: IncidentWindow::default(),
                probe: EntityRef {
                    kind: EntityKind::Ip,
                    value: String::new(),
                },
            }
        })
    }

    /// Scores one record. Its `id` should be set by the caller (the CLI uses
    /// `line-N`); without one the engine names it `<api>-<n>`.
    pub fn process(&mut self, rec: &AccessRecord) -> Verdict {
        let api = self.namer.name(rec);
        let mut seq = self.next_alert_seq;
        // One hash lookup for an API already seen (every record but its first).
        if let Some(state) = self.apis.get_mut(api) {
            let verdict = state.process(rec, &mut seq);
            self.next_alert_seq = seq;
            return verdict;
        }
        let api = api.to_string();
        let full =
            self.apis.len() >= self.cfg.max_apis.max(1) && !self.models.apis.contains_key(&api);
        let verdict = if full {
            self.state(OVERFLOW_API.to_string()).process(rec, &mut seq)
        } else {
            self.state(api).process(rec, &mut seq)
        };
        self.next_alert_seq = seq;
        verdict
    }

    /// Every retained alert, in opening order, in its final state.
    pub fn alerts(&self) -> Vec<Alert> {
        let mut all: Vec<(u64, &Alert)> = self
            .apis
            .values()
            .flat_map(|s| {
                let health = s
                    .health
                    .iter()
                    .flat_map(|h| h.alerts.iter().map(|(q, a)| (*q, a)));
                s.alerts.alerts().chain(health)
            })
            .collect();
        all.sort_by_key(|(seq, _)| *seq);
        all.into_iter().map(|(_, a)| a.clone()).collect()
    }

    /// Live health figures (for `/metrics`) of the first `max_apis` monitored
    /// APIs by name, each API's row then its busiest endpoints'; the cap
    /// bounds label cardinality.
    pub fn monitor_figures(&self, max_apis: usize) -> Vec<EndpointFigures> {
        let mut names: Vec<&String> = self
            .apis
            .iter()
            .filter(|(_, s)| s.health.is_some())
            .map(|(name, _)| name)
            .collect();
        names.sort();
        names
            .into_iter()
            .take(max_apis)
            .filter_map(|name| self.apis.get(name)?.health.as_ref())
            .flat_map(|h| h.tracker.figures())
            .collect()
    }

    pub fn entity(&self, api: &str, kind: EntityKind, value: &str) -> Option<EntitySnapshot> {
        self.apis.get(api)?.tracker.as_ref()?.entity(kind, value)
    }

    /// Every API of the bundle and every API seen, by name.
    pub fn api_status(&self) -> Vec<ApiStatus> {
        let mut names: BTreeSet<&str> = self.models.apis.keys().map(String::as_str).collect();
        names.extend(self.apis.keys().map(String::as_str));
        names
            .into_iter()
            .map(|name| {
                let seen = self.apis.get(name);
                let records = seen.map_or(0, |s| s.records);
                match (self.models.apis.get(name), seen) {
                    (Some(m), _) => ApiStatus {
                        name: name.to_string(),
                        endpoints: m.endpoints.names(),
                        records,
                        model: ModelStatus::Trained,
                    },
                    (None, Some(s)) => ApiStatus {
                        name: name.to_string(),
                        endpoints: s.live_endpoints.iter().cloned().collect(),
                        records,
                        model: match s.model {
                            ApiModelKind::Population(_) => ModelStatus::Population,
                            _ => ModelStatus::None,
                        },
                    },
                    (None, None) => ApiStatus {
                        name: name.to_string(),
                        endpoints: Vec::new(),
                        records,
                        model: ModelStatus::None,
                    },
                }
            })
            .collect()
    }

    /// Entities with live behavior windows, over all APIs.
    pub fn active_entities(&self) -> usize {
        self.apis
            .values()
            .filter_map(|s| s.tracker.as_ref())
            .map(BehaviorTracker::active_entities)
            .sum()
    }
}

impl ApiState {
    fn process(&mut self, rec: &AccessRecord, next_seq: &mut u64) -> Verdict {
        self.records += 1;
        let id = match &rec.id {
            Some(id) => id.clone(),
            None => numbered_id(&self.name, self.records),
        };
        let (resolver, detector): (Resolver<'_>, &RequestDetector) = match &self.model {
            ApiModelKind::Trained(m) => (Resolver::Trained(&m.endpoints), &m.request),
            ApiModelKind::Population(p) => (Resolver::Population(&p.typical), &p.request),
            ApiModelKind::None => {
                return Verdict {
                    id,
                    api: self.name.clone(),
                    endpoint: crate::discovery::endpoint_name(
                        &rec.method,
                        &crate::discovery::EndpointCatalog::default()
                            .template(&rec.path)
                            .template,
                    ),
                    ts_ms: rec.ts_ms,
                    score: 0.0,
                    attack: None,
                    alerts: Vec::new(),
                }
            }
        };
        let r = resolver.resolve(rec);
        let (features, raw, request_cal) = resolver.score_request(detector, rec, &r);
        if matches!(self.model, ApiModelKind::Population(_))
            && self.live_endpoints.len() < MAX_LIVE_ENDPOINTS
            && !self.live_endpoints.contains(&r.endpoint_name)
        {
            self.live_endpoints.insert(r.endpoint_name.clone());
        }
        let outcome = self.tracker.as_mut().map(|t| {
            t.observe(&Observation {
                rec,
                id: &id,
                api: &self.name,
                endpoint: r.endpoint,
                endpoint_known: r.known,
                object_id: r.templated.object_id.as_deref(),
                is_auth: r.is_auth,
                response_bytes_baseline: r.baseline.response_bytes_median,
                latency_baseline_ms: r.baseline.latency_median_ms,
                public: r.baseline.is_public(),
                request_score: request_cal,
            })
        });
        let (behavior_score, flagged) = match outcome {
            Some(o) => (o.score, o.flagged),
            None => (0.0, Vec::new()),
        };
        let score = combined_score(request_cal, behavior_score);
        let mut alerts = Vec::new();
        let mut attack: Option<(Severity, AttackType)> = None;
        let (flagged, one_request) =
            split_single_request_volume(flagged, rec, &features, r.baseline);
        if one_request {
            // The volume the behavior layer saw is this one request: an
            // outlier request, not a sustained exfiltration.
            let severity = severity_of_calibrated(request_cal);
            alerts.push(self.alerts.flag(
                anomalous_request(
                    rec,
                    severity,
                    raw,
                    detector.threshold,
                    request_evidence(rec, r.baseline, &features, r.known),
                ),
                rec.ts_ms,
                &id,
                next_seq,
            ));
            attack = Some((severity, AttackType::AnomalousRequest));
        }
        for v in flagged {
            let alert = self.alerts.flag(
                Flag {
                    entity: v.entity,
                    attack: v.attack,
                    severity: v.severity,
                    score: v.score,
                    threshold: v.threshold,
                    evidence: v.evidence,
                },
                rec.ts_ms,
                &id,
                next_seq,
            );
            attack = attack.max(Some((v.severity, v.attack)));
            alerts.push(alert);
        }
        // Every slowed request is noted, outlier or not: the slowdown of an
        // endpoint shows in the many requests it makes merely slow.
        let slow_endpoint =
            features[0] >= SLOW_LATENCY_Z && self.incidents.endpoint_is_slow(&r.endpoint_name, rec);
        if attack.is_none()
            && ((request_cal > 0.5
                && has_hard_evidence(&features, r.baseline, rec.status, r.known))
                || refused_method(rec.status, r.known))
        {
            // An outlier request: explained by an open behavior alert of its
            // entities if there is one; part of an incident when many clients
            // see the same on this endpoint; else an alert of its own.
            let incident = self.incidents.is_incident(&r.endpoint_name, rec);
            // A request whose only oddity is its slowness, on an endpoint
            // that is slow for other clients too, is the backend's trouble
            // (the health monitor reports it), not the caller's doing.
            let backend_slow = slow_endpoint && latency_only(&features, r.baseline, r.known);
            match open_attack(&self.alerts, &mut self.probe, rec) {
                Some(a) => attack = Some((Severity::Low, a)),
                None if incident || backend_slow => {}
                None => {
                    let severity = severity_of_calibrated(request_cal);
                    let alert = self.alerts.flag(
                        anomalous_request(
                            rec,
                            severity,
                            raw,
                            detector.threshold,
                            request_evidence(rec, r.baseline, &features, r.known),
                        ),
                        rec.ts_ms,
                        &id,
                        next_seq,
                    );
                    alerts.push(alert);
                    attack = Some((severity, AttackType::AnomalousRequest));
                }
            }
        }
        let attack = attack
            .map(|(_, a)| a)
            .or_else(|| open_attack(&self.alerts, &mut self.probe, rec));
        // Health alerts ride along in `alerts` but never make the record an
        // attack: a slow endpoint says nothing about who called it.
        if let Some(health) = self.health.as_mut() {
            alerts.extend(
                health
                    .observe(rec, &self.name, &r.endpoint_name, &id, next_seq)
                    .into_iter()
                    .map(Arc::new),
            );
        }
        // A record over threshold, or of an entity under alert, scores over
        // 0.5 whichever detector put it there: score and attack agree.
        let score = if attack.is_some() {
            score.max(ATTACK_SCORE_FLOOR)
        } else {
            score
        };
        Verdict {
            id,
            api: self.name.clone(),
            endpoint: r.endpoint_name,
            ts_ms: rec.ts_ms,
            score,
            attack,
            alerts,
        }
    }
}

/// The attack of an open alert on one of the record's entities (the
/// API-wide entity excepted: its alert says the API is attacked, not
/// that this record is part of it).
fn open_attack(
    alerts: &AlertBook,
    probe: &mut EntityRef,
    rec: &AccessRecord,
) -> Option<AttackType> {
    if !alerts.may_have_open(rec.ts_ms) {
        return None;
    }
    // The entities of `entities_of`, in its order, through one buffer.
    probe.kind = EntityKind::Ip;
    probe.value.clear();
    push_ip(&mut probe.value, rec.client_ip);
    if let Some(a) = alerts.open_attack(probe, rec.ts_ms) {
        return Some(a);
    }
    for (kind, value) in named_entities(rec) {
        let Some(value) = value else { continue };
        probe.kind = kind;
        probe.value.clear();
        probe.value.push_str(value);
        if let Some(a) = alerts.open_attack(probe, rec.ts_ms) {
            return Some(a);
        }
    }
    None
}

/// `<api>-<n>`, the id of a record that came without one: written by hand
/// because `format!` costs several times as much on every such record.
fn numbered_id(api: &str, n: u64) -> String {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + (rest % 10) as u8;
        }
        rest /= 10;
        if rest == 0 || at == 0 {
            break;
        }
    }
    let mut id = String::with_capacity(api.len() + 1 + digits.len() - at);
    id.push_str(api);
    id.push('-');
    for &d in digits.get(at..).unwrap_or(&[]) {
        id.push(char::from(d));
    }
    id
}

/// The record's score: the larger of the two calibrated scores; under 0.5 the
/// smaller one adds a little, so records that both detectors find somewhat
/// odd rank above those only one does (without ever crossing a threshold).
fn combined_score(request_cal: f64, behavior: f64) -> f64 {
    let (hi, lo) = if request_cal >= behavior {
        (request_cal, behavior)
    } else {
        (behavior, request_cal)
    };
    let hi = if hi.is_finite() {
        hi.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let lo = if lo.is_finite() {
        lo.clamp(0.0, 1.0)
    } else {
        0.0
    };
    if hi >= 0.5 {
        hi
    } else {
        (hi + TIE_BREAK_WEIGHT * lo).min(BELOW_THRESHOLD)
    }
}

/// Weight of the smaller score in [`combined_score`].
const TIE_BREAK_WEIGHT: f64 = 0.05;
/// The highest combined score of a record no detector put over its threshold.
const BELOW_THRESHOLD: f64 = 0.499;

/// The shard of an API among `shards` (a stable hash, the same in every
/// process and release).
pub fn shard_of(api: &str, shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    (stable_hash64(api) % shards as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{request_features, EndpointAccumulator};
    use apiwarden_alert::Evidence;
    use apiwarden_behavior::EntityVerdict;

    fn rec(resp: u64) -> AccessRecord {
        AccessRecord {
            api: Some("shop".into()),
            path: "/users/1".into(),
            latency_ms: 20.0,
            response_bytes: resp,
            client_ip: "10.0.0.9".parse().unwrap(),
            ..AccessRecord::example()
        }
    }

    fn exfil(observed: f64) -> EntityVerdict {
        EntityVerdict {
            entity: EntityRef {
                kind: EntityKind::Token,
                value: "fp:1".into(),
            },
            attack: AttackType::DataExfiltration,
            severity: Severity::High,
            score: 0.9,
            threshold: 0.5,
            evidence: vec![Evidence {
                feature: "response_bytes_10m".into(),
                observed,
                baseline: 1e5,
            }],
        }
    }

    #[test]
    fn numbered_ids_read_as_format_writes_them() {
        for n in [0, 1, 9, 10, 99, 100, 12_345, u64::MAX] {
            assert_eq!(numbered_id("shop", n), format!("shop-{n}"));
        }
        assert_eq!(numbered_id("", 7), "-7");
    }

    #[test]
    fn scores_under_threshold_rank_by_both_detectors_without_crossing_it() {
        assert!(combined_score(0.3, 0.2) > combined_score(0.3, 0.0));
        assert!(combined_score(0.3, 0.2) < combined_score(0.33, 0.0));
        assert!(combined_score(0.49, 0.49) < 0.5);
        assert_eq!(combined_score(0.7, 0.4), 0.7);
        assert_eq!(combined_score(f64::NAN, 0.2), 0.2);
    }

    #[test]
    fn one_extreme_request_that_is_the_whole_volume_is_not_exfiltration() {
        let mut acc = EndpointAccumulator::default();
        for i in 0..100 {
            acc.observe(&rec(1000 + i * 10));
        }
        let mut ep = acc.finish("GET", "/users/{id}", 100, 100);
        ep.max_z = [2.0, 2.0, 2.0];
        let huge = rec(12_000_000);
        let f = request_features(&huge, &ep, true);
        let (rest, split) = split_single_request_volume(vec![exfil(15e6)], &huge, &f, &ep);
        assert!(split && rest.is_empty());
        // Most of the volume came from other requests: a sustained behavior.
        let (rest, split) = split_single_request_volume(vec![exfil(80e6)], &huge, &f, &ep);
        assert!(!split && rest.len() == 1);
        // An ordinary request never splits.
        let small = rec(1100);
        let f = request_features(&small, &ep, true);
        let (rest, split) = split_single_request_volume(vec![exfil(1500.0)], &small, &f, &ep);
        assert!(!split && rest.len() == 1);
    }
}
