//! Scoring: live windows judged against the trained model, typed and explained verdicts.

use crate::features::{log_features, Feature, FeatureVector, ALL_FEATURES, N_FEATURES};
use crate::model::{
    calibrate_distance, calibrate_forest, BehaviorModel, EntityBaseline, KindModel, LightBaseline,
};
use crate::table::{record_entities, EntityKey, KindTables, KINDS};
use crate::trainer::{is_credential, kind_slot};
use crate::verdict::{attack_of, evidence_of, severity_of, Exceeded};
use crate::window::{EntityWindow, RecordFacts};
use crate::{sweep, BehaviorConfig, BehaviorOutcome, EntitySnapshot, EntityVerdict, Observation};
use apiwarden_alert::{AttackType, EntityKind, EntityRef};
use std::sync::Arc;

/// Highest score of an entity that is not flagged: the behavior score crosses 0.5 only
/// together with a verdict.
const UNFLAGGED_CAP: f64 = 0.49;
/// Fewest requests to one endpoint in 10 minutes that can count as hammering it.
const ENDPOINT_RATE_FLOOR: f64 = 20.0;
/// The same for an integration's key on an endpoint it called in training. A person's pace
/// on a page swings with the session (20 product views in 10 minutes is a busy shopper); a
/// program's pace on the calls it makes is set by its code and its workload, so several
/// times its own busiest pace, sustained, is a changed program (a retry loop, a stolen key
/// hammering) even at one request a minute.
const MACHINE_ENDPOINT_RATE_FLOOR: f64 = 10.0;
/// How long an entity's endpoint must stay over its own limit to count as hammered.
const SUSTAINED_EXCESS_MS: i64 = 10 * 60_000;
/// How long an entity must keep pulling with its 2-hour byte volume over its limit for
/// that volume to be evidence enough by itself.
const SUSTAINED_DRAIN_MS: i64 = 30 * 60_000;
/// A record feeds a byte-volume feature when its response is at least this share of the
/// window's average response.
const MIN_SHARE_OF_AVERAGE_BYTES: f64 = 0.25;
/// A window past its kind's p99 (but under every limit) is re-scored every this many requests.
const ABOVE_P99_RESCORE_EVERY: u32 = 4;
/// An endpoint bucket whose training maximum (10-minute requests) reached this was used.
const KNOWN_ENDPOINT_RATE: f64 = 0.5;
/// An address's request-rate floors are this many times a credential's.
const IP_FLOOD_FLOOR_FACTOR: f64 = 3.0;
/// Verdict scores are calibrated: 0.5 is the threshold of every detector.
const CALIBRATED_THRESHOLD: f64 = 0.5;

/// Per-kind limits precomputed from the model.
#[derive(Debug, Clone)]
struct KindLimits {
    /// Limit for entities without their own baseline; `INFINITY` = not evidence for this kind.
    population: FeatureVector,
    /// Floor of the limit for entities with their own baseline.
    known_floor: FeatureVector,
    /// Kind maxima: the reference shown for entities without their own baseline.
    max: FeatureVector,
    /// Kind p99: above it on any feature, re-run the models now.
    p99: FeatureVector,
}

impl KindLimits {
    fn new(kind: EntityKind, model: Option<&KindModel>, cfg: &BehaviorConfig) -> KindLimits {
        let mut l = KindLimits {
            population: [f64::INFINITY; N_FEATURES],
            known_floor: [f64::INFINITY; N_FEATURES],
            max: [0.0; N_FEATURES],
            p99: [0.0; N_FEATURES],
        };
        for f in ALL_FEATURES {
            let i = f.index();
            let (max, p99) = model
                .map(|m| (KindModel::stat(&m.max, f), KindModel::stat(&m.p99, f)))
                .unwrap_or((0.0, 0.0));
            l.max[i] = max;
            l.p99[i] = p99;
            let Some((attack, floor)) = f.gated_for(kind) else {
                continue;
            };
            // An address is a place: an office, a carrier's NAT or a crawler puts many
            // requests behind one. What floods from one address is a larger number than
            // what floods from one credential.
            let floor = if kind == EntityKind::Ip && attack == AttackType::ApiDos {
                floor * IP_FLOOD_FLOOR_FACTOR
            } else {
                floor
            };
            if f == Feature::TravelSpeedKmh {
                // Physics, not statistics: nobody outruns an airliner, however the training went.
                l.population[i] = floor;
                l.known_floor[i] = floor;
            } else {
                l.population[i] = (max * cfg.kind_margin).max(floor);
                l.known_floor[i] = (p99 * cfg.kind_margin).max(floor);
            }
        }
        l
    }
}

/// Scores one API's traffic, record by record, against its [`BehaviorModel`].
pub struct BehaviorTracker {
    model: Arc<BehaviorModel>,
    /// The other APIs' models: where a credential new to this API was used elsewhere.
    siblings: Vec<Arc<BehaviorModel>>,
    cfg: BehaviorConfig,
    windows: KindTables<EntityWindow>,
    limits: Vec<KindLimits>,
    next_sweep_ms: i64,
}

impl BehaviorTracker {
    pub fn new(model: Arc<BehaviorModel>, cfg: BehaviorConfig) -> Self {
        let limits = KINDS
            .iter()
            .map(|k| KindLimits::new(*k, model.kind(*k), &cfg))
            .collect();
        BehaviorTracker {
            model,
            siblings: Vec::new(),
            cfg,
            windows: KindTables::default(),
            limits,
            next_sweep_ms: i64::MIN,
        }
    }

    /// The models of the service's other APIs. A credential this API's training never saw
    /// (a customer's first visit to the identity API) has a home all the same: the countries
    /// the other APIs' training saw it used from. Without it, the window's first use is its
    /// home, and a stranger who happens to come first makes the owner look like the stranger.
    pub fn with_siblings(mut self, siblings: Vec<Arc<BehaviorModel>>) -> Self {
        self.siblings = siblings;
        self
    }

    pub fn active_entities(&self) -> usize {
        self.windows.total()
    }

    pub fn observe(&mut self, obs: &Observation<'_>) -> BehaviorOutcome {
        let facts = RecordFacts::of(obs);
        sweep::maybe_sweep(
            &mut self.windows,
            &mut self.next_sweep_ms,
            facts.ts_ms,
            &self.cfg,
        );
        let mut outcome = BehaviorOutcome {
            score: 0.0,
            flagged: Vec::new(),
        };
        let mut api_5xx = 0.0;
        let mut user_vouches_volume = false;
        for (kind, key) in record_entities(obs) {
            let Some(key) = key else { continue };
            let kind_model = self.model.kind(kind);
            let (w, created) = self
                .windows
                .get_or_insert_with(kind, key, facts.ts_ms, || EntityWindow::new(facts.ts_ms));
            if created && is_credential(kind) {
                let value = key.value();
                if let Some(m) = kind_model {
                    if let Some(i) = m.baseline_index(&value) {
                        w.cache.own_baseline = u32::try_from(i).unwrap_or(u32::MAX);
                    } else if let Some(i) = m.light_index(&value) {
                        w.cache.light_baseline = u32::try_from(i).unwrap_or(u32::MAX);
                    }
                }
                if w.cache.own_baseline == u32::MAX && w.cache.light_baseline == u32::MAX {
                    w.elsewhere_countries = countries_elsewhere(&self.siblings, kind, &value);
                }
            }
            w.update(&facts, kind);
            if own_baseline(kind_model, w).is_some_and(|b| !b.knows_network(facts.network_bit())) {
                w.note_foreign_pull(&facts);
            }
            if kind == EntityKind::Api {
                api_5xx = w.server_error_ratio();
            }
            let features = w.features(api_5xx);
            let Some(limits) = self.limits.get(kind_slot(kind)) else {
                continue;
            };
            let mut judged = judge(kind, kind_model, limits, w, &features, &facts, &self.cfg);
            let pulls = |j: &Option<Judgement>| {
                j.as_ref().is_some_and(|j| {
                    j.exceeded
                        .iter()
                        .any(|e| e.attack == AttackType::DataExfiltration)
                })
            };
            if kind == EntityKind::User {
                // What the user pulled in training, within the tight margin: a heavy
                // hitter's slack is the user's own, not every session's.
                let volume = Feature::ResponseBytes2h.index();
                let pulled = own_baseline(kind_model, w)
                    .and_then(|b| b.maxima.get(volume).copied())
                    .or_else(|| light_baseline(kind_model, w).map(|l| l.pulled_2h));
                user_vouches_volume = pulled
                    .is_some_and(|p| features[volume] <= f64::from(p) * self.cfg.entity_margin)
                    && !pulls(&judged);
            }
            // A session token is its user's: volume its user's own history accounts for
            // (the same windows, summed over all the user's sessions) is no theft through
            // a fresh token either. An hours-long drain through one session is not vouched
            // for: that is a thief's pace, not a user's burst.
            if kind == EntityKind::Token
                && user_vouches_volume
                && pulls(&judged)
                && w.draining_for(facts.ts_ms) < SUSTAINED_DRAIN_MS
            {
                judged = judged.and_then(|mut j| {
                    j.exceeded
                        .retain(|e| e.attack != AttackType::DataExfiltration);
                    (!j.exceeded.is_empty()).then_some(j)
                });
            }
            // Every window, the API-wide one included, speaks only through the records that
            // do what its evidence says.
            let attack = judged.as_ref().and_then(|j| attack_of(&j.exceeded));
            let hot_endpoint = endpoint_is_hot(kind_model, w, &facts);
            let attack = attack
                .filter(|a| {
                    judged.as_ref().is_some_and(|j| {
                        j.exceeded.iter().any(|e| {
                            e.attack == *a
                                && feeds(e.feature, &facts, &features, w.walked, hot_endpoint)
                        })
                    })
                })
                .or_else(|| {
                    // An integration's key is one program: when it floods an endpoint while
                    // the stronger evidence against it is another misuse (walking account
                    // ids it does not own), the flood's records are the flood. (A user's
                    // records mix the owner's session with a thief's, whose token answers
                    // for them.)
                    let flood = kind == EntityKind::ApiKey
                        && judged.as_ref().is_some_and(|j| {
                            j.exceeded.iter().any(|e| {
                                e.feature == Feature::TopEndpointRate10m
                                    && e.attack == AttackType::ApiDos
                            })
                        })
                        && endpoint_over_own_limit(kind, kind_model, w, &facts, &self.cfg);
                    flood.then_some(AttackType::ApiDos)
                });
            let score = match (&judged, attack) {
                (Some(j), Some(_)) => j.score,
                _ => unflagged_score(w.cache_score()),
            };
            // Until the verdicts are final, only what no verdict needs counts.
            outcome.score = outcome.score.max(score.min(UNFLAGGED_CAP));
            if let (Some(mut j), Some(attack)) = (judged, attack) {
                let best = j.exceeded.iter().map(|e| e.ratio).fold(0.0, f64::max);
                let severity = severity_of(best, j.exceeded.len());
                outcome.flagged.push(EntityVerdict {
                    entity: EntityRef {
                        kind,
                        value: key_value(key),
                    },
                    attack,
                    severity,
                    score: j.score,
                    threshold: CALIBRATED_THRESHOLD,
                    evidence: evidence_of(&mut j.exceeded, attack),
                });
            }
        }
        let has_credential =
            obs.rec.user.is_some() || obs.rec.api_key.is_some() || obs.rec.token.is_some();
        outcome.flagged = one_verdict_per_attack(outcome.flagged, has_credential);
        outcome.score = outcome
            .flagged
            .iter()
            .map(|v| v.score)
            .fold(outcome.score, f64::max);
        outcome
    }

    pub fn entity(&self, kind: EntityKind, value: &str) -> Option<EntitySnapshot> {
        let w = self.windows.get(kind, value)?;
        let api_5xx = self
            .api_window()
            .map(|a| a.server_error_ratio())
            .unwrap_or(0.0);
        let features = w.features(api_5xx);
        let limits = self.limits.get(kind_slot(kind))?;
        let own = own_maxima(self.model.kind(kind), w);
        let baseline = ALL_FEATURES
            .iter()
            .map(|f| {
                let i = f.index();
                let reference = own
                    .and_then(|o| o.get(i))
                    .map(|v| f64::from(*v))
                    .unwrap_or(limits.max[i]);
                (f.name().to_string(), reference)
            })
            .collect();
        Some(EntitySnapshot {
            entity: EntityRef {
                kind,
                value: value.to_string(),
            },
            score: w.cache_score().min(1.0),
            threshold: CALIBRATED_THRESHOLD,
            features: ALL_FEATURES
                .iter()
                .map(|f| (f.name().to_string(), features[f.index()]))
                .collect(),
            baseline,
            archetype: (w.cache.archetype_index != u8::MAX)
                .then_some(usize::from(w.cache.archetype_index)),
            first_seen_ms: w.first_seen_ms,
            last_seen_ms: w.last_seen_ms,
            requests: w.requests(),
        })
    }

    /// The API-wide window (a tracker serves one API).
    fn api_window(&self) -> Option<&EntityWindow> {
        self.windows
            .sorted(EntityKind::Api)
            .into_iter()
            .next()
            .map(|(_, w)| w)
    }
}

/// A client IP is where a credential was used from, not who: on a record that carries a
/// credential, the credential answers for what the record shows and the IP's verdict is
/// dropped (one alert on the stolen token, not a second on the IP, and no IP alert made
/// only of its owner's own requests). Stuffing is the opposite: the IP acts, its `user`
/// is only a name being tried.
fn one_verdict_per_attack(
    verdicts: Vec<EntityVerdict>,
    has_credential: bool,
) -> Vec<EntityVerdict> {
    let ip_stuffing = verdicts
        .iter()
        .any(|v| v.entity.kind == EntityKind::Ip && v.attack == AttackType::CredentialStuffing);
    verdicts
        .into_iter()
        .filter(|v| match (v.entity.kind, v.attack) {
            (EntityKind::User, AttackType::CredentialStuffing) => !ip_stuffing,
            (EntityKind::Ip, AttackType::CredentialStuffing) => true,
            (EntityKind::Ip, _) => !has_credential,
            _ => true,
        })
        .collect()
}

/// Whether the record's endpoint is busier for this entity than it ever was in training
/// (always, for an entity without its own baseline): the endpoint carrying the excess.
fn endpoint_is_hot(model: Option<&KindModel>, w: &EntityWindow, facts: &RecordFacts) -> bool {
    match own_baseline(model, w) {
        Some(b) => {
            let own_max = b
                .endpoint_maxima
                .get(facts.endpoint_bucket())
                .copied()
                .unwrap_or(0.0);
            w.endpoint_rate(facts) > f64::from(own_max)
        }
        None => true,
    }
}

/// Whether this record itself feeds the feature: long windows remember an attack for
/// hours, and the entity's later innocent requests must not re-open it.
fn feeds(
    feature: Feature,
    facts: &RecordFacts,
    features: &FeatureVector,
    walked: bool,
    hot_endpoint: bool,
) -> bool {
    // Volume is carried by records of about its window's average size or more: small
    // requests on a busy endpoint, after a big export, are not what it measures (the
    // decaying 10-minute window still remembers a burst a quarter of an hour on).
    let carries_bytes =
        |volume: Feature, requests: Feature| carries_bytes(facts, features, volume, requests);
    match feature {
        Feature::Denied10m | Feature::Denied2h => facts.denied,
        Feature::NotFound10m => facts.not_found,
        Feature::DistinctObjects10m => facts.object_hash.is_some(),
        Feature::IdWalk10m | Feature::IdWalk2h => walked,
        Feature::ResponseBytes10m => {
            hot_endpoint && carries_bytes(Feature::ResponseBytes10m, Feature::Rate10m)
        }
        Feature::ResponseBytes2h => {
            hot_endpoint && carries_bytes(Feature::ResponseBytes2h, Feature::Requests2h)
        }
        Feature::FailedUsernames10m | Feature::FailedLogins10m | Feature::FailedLogins2h => {
            facts.failed_login
        }
        Feature::UnknownEndpoints10m | Feature::UnknownEndpoints2h => facts.unknown_endpoint,
        Feature::OddMethods10m => facts.odd_method,
        _ => true,
    }
}

/// Whether the record is about the window's average size or more: what a byte volume
/// measures, not a small request on a busy endpoint.
fn carries_bytes(
    facts: &RecordFacts,
    features: &FeatureVector,
    volume: Feature,
    requests: Feature,
) -> bool {
    let average = features[volume.index()] / features[requests.index()].max(1.0);
    f64::from(facts.bytes) >= MIN_SHARE_OF_AVERAGE_BYTES * average
}

/// The score of an entity that is not flagged, below 0.5 but still ordered by its model
/// score: a constant cap would tie every model-suspicious entity and flatten the ranking.
fn unflagged_score(model_score: f64) -> f64 {
    if model_score.is_finite() {
        model_score.clamp(0.0, 1.0) * UNFLAGGED_CAP
    } else {
        0.0
    }
}

fn key_value(key: EntityKey<'_>) -> String {
    key.value()
}

impl EntityWindow {
    fn cache_score(&self) -> f64 {
        f64::from(self.cache.forest.max(self.cache.archetype))
    }
}

/// The countries other APIs' training saw a credential used from (0: none saw it).
fn countries_elsewhere(siblings: &[Arc<BehaviorModel>], kind: EntityKind, value: &str) -> u64 {
    siblings
        .iter()
        .filter_map(|m| m.kind(kind))
        .map(|m| {
            m.baseline_index(value)
                .and_then(|i| m.baselines.get(i))
                .map(|b| b.countries)
                .or_else(|| {
                    m.light_index(value)
                        .and_then(|i| m.light.get(i))
                        .map(|l| l.countries)
                })
                .unwrap_or(0)
        })
        .fold(0, |a, b| a | b)
}

fn own_baseline<'m>(model: Option<&'m KindModel>, w: &EntityWindow) -> Option<&'m EntityBaseline> {
    if w.cache.own_baseline == u32::MAX {
        return None;
    }
    let i = usize::try_from(w.cache.own_baseline).ok()?;
    model?.baselines.get(i)
}

fn light_baseline<'m>(model: Option<&'m KindModel>, w: &EntityWindow) -> Option<&'m LightBaseline> {
    if w.cache.light_baseline == u32::MAX {
        return None;
    }
    let i = usize::try_from(w.cache.light_baseline).ok()?;
    model?.light.get(i)
}

fn own_maxima<'m>(model: Option<&'m KindModel>, w: &EntityWindow) -> Option<&'m [f32]> {
    own_baseline(model, w).map(|b| b.maxima.as_slice())
}

/// The rate of the record's endpoint for an entity with its own baseline: (rate, its own
/// training maximum, its limit).
fn own_endpoint_rate(
    kind: EntityKind,
    model: Option<&KindModel>,
    w: &EntityWindow,
    facts: &RecordFacts,
    cfg: &BehaviorConfig,
) -> Option<(f64, f64, f64)> {
    let b = own_baseline(model, w)?;
    let own_max = b
        .endpoint_maxima
        .get(facts.endpoint_bucket())
        .map(|v| f64::from(*v))
        .unwrap_or(f64::INFINITY);
    let floor = if kind == EntityKind::ApiKey && own_max >= KNOWN_ENDPOINT_RATE {
        MACHINE_ENDPOINT_RATE_FLOOR
    } else {
        ENDPOINT_RATE_FLOOR
    };
    let limit = (own_max * cfg.entity_margin).max(floor);
    Some((w.endpoint_rate(facts), own_max, limit))
}

/// Whether the record's own endpoint is busier than the entity's own limit for it.
fn endpoint_over_own_limit(
    kind: EntityKind,
    model: Option<&KindModel>,
    w: &EntityWindow,
    facts: &RecordFacts,
    cfg: &BehaviorConfig,
) -> bool {
    own_endpoint_rate(kind, model, w, facts, cfg).is_some_and(|(rate, _, limit)| rate > limit)
}

struct Judgement {
    exceeded: Vec<Exceeded>,
    score: f64,
}

/// Evidence against limits, model scores when worth it, and the flag rule:
/// flagged = some feature over its limit AND (forest or archetype over threshold, or the
/// evidence alone `strong_ratio` times over its limit).
fn judge(
    kind: EntityKind,
    model: Option<&KindModel>,
    limits: &KindLimits,
    w: &mut EntityWindow,
    features: &FeatureVector,
    facts: &RecordFacts,
    cfg: &BehaviorConfig,
) -> Option<Judgement> {
    let own = own_maxima(model, w);
    // The owner using the credential from a country it was used from in training is not
    // the misuse, even while the window still remembers the stranger's places.
    // A light credential's home is where training saw it used. Without any training
    // record, home is where the window first saw the credential used: the owner coming back
    // from a stranger's use is not a second misuse.
    let light = light_baseline(model, w);
    let at_home = match (own_baseline(model, w), light) {
        (Some(b), _) => b.countries & facts.country_bit() != 0,
        (None, Some(l)) => l.countries & facts.country_bit() != 0,
        (None, None) if w.elsewhere_countries != 0 => {
            w.elsewhere_countries & facts.country_bit() != 0
        }
        (None, None) => w.home_country != 0 && facts.country_hash == Some(w.home_country),
    };
    let home_network = own_baseline(model, w).is_none_or(|b| b.knows_network(facts.network_bit()));
    // The owner, from a network it used in training, pulling from an endpoint it pulled in
    // training: a larger run of a known pattern (a staff member's export, a partner's
    // nightly sync, a long browsing session), judged like a heavy hitter's volume. A thief
    // pulls what the credential never pulled, or from elsewhere.
    let known_pull = home_network
        && own_baseline(model, w).is_some_and(|b| {
            b.endpoint_maxima
                .get(facts.endpoint_bucket())
                .is_some_and(|m| f64::from(*m) >= KNOWN_ENDPOINT_RATE)
        });
    let light_pull = light
        .filter(|l| l.countries & facts.country_bit() != 0 && l.agents & facts.agent_bit() != 0)
        .map_or(0.0, |l| f64::from(l.pulled_2h));
    let mut exceeded: Vec<Exceeded> = Vec::new();
    let mut above_p99 = false;
    for f in ALL_FEATURES {
        let i = f.index();
        // The owner at home is judged on its own pull: what a stranger pulled through the
        // credential from elsewhere was judged (and alerted) when it came, and would echo in
        // the 2-hour volume for hours, blaming the owner's next export for the theft.
        let v = if f == Feature::ResponseBytes2h && home_network {
            (features[i] - w.foreign_bytes_2h()).max(0.0)
        } else {
            features[i]
        };
        above_p99 |= v > limits.p99[i] * cfg.kind_margin && v > 0.0;
        let population = limits.population[i];
        if v <= limits.known_floor[i].min(population) {
            continue;
        }
        let volume = f
            .gate()
            .is_some_and(|g| g.0 == AttackType::DataExfiltration);
        let (limit, reference) = match own.and_then(|o| o.get(i)) {
            Some(own_max) if f != Feature::TravelSpeedKmh => {
                let own_max = f64::from(*own_max);
                // Heavy hitters (own maximum beyond the kind's p99: exporters, integrations)
                // are bursty by nature; light entities are held to a tighter margin. The
                // slack is the owner's: a credential used from a network it never used in
                // training (a stolen key on the thief's server) is held to the tight one.
                // Volume pulled from a known endpoint at home is the owner's known pattern.
                let heavy = (own_max > limits.p99[i] && home_network) || (volume && known_pull);
                let margin = if heavy {
                    cfg.heavy_entity_margin
                } else {
                    cfg.entity_margin
                };
                ((own_max * margin).max(limits.known_floor[i]), own_max)
            }
            // A light credential at home on its own device pulling again what it pulled in
            // training (a staff member's periodic export) is held to the heavy margin of
            // its own pull; anywhere else, to its kind's.
            _ if volume && light_pull > 0.0 => {
                let own = light_pull * cfg.heavy_entity_margin;
                (population.max(own), light_pull)
            }
            _ => (population, limits.max[i]),
        };
        if v > limit {
            if let Some((attack, _)) = f.gated_for(kind) {
                if at_home && attack == apiwarden_alert::AttackType::TokenMisuse {
                    continue;
                }
                exceeded.push(Exceeded {
                    feature: f,
                    label: None,
                    attack,
                    observed: v,
                    reference,
                    ratio: v / limit,
                });
            }
        }
    }
    // A light credential (a customer who signs in now and then) has no maxima to exceed:
    // one stranger using it looks like one user. What training did see is its owner's
    // countries and devices; authenticated use from a country AND on a device it never
    // used is someone else holding the credential. Both at once: a trip alone, or a new
    // phone alone, is the owner. A credential with a baseline of its own is judged so too:
    // a thief taking a regular's session from the next country over on another phone,
    // a few quiet requests, exceeds none of its maxima either.
    let habits = match (own_baseline(model, w), light) {
        (Some(b), _) if b.agents != 0 => Some((b.countries, b.agents)),
        (None, Some(l)) => Some((l.countries, l.agents)),
        _ => None,
    };
    if let Some((countries, agents)) = habits {
        let (country, agent) = (facts.country_bit(), facts.agent_bit());
        let used = !facts.unauthorized && !facts.auth_endpoint;
        if used && country != 0 && agent != 0 && countries & country == 0 && agents & agent == 0 {
            let new = [
                (
                    Feature::DistinctCountries1h,
                    "country_new_to_credential",
                    countries,
                ),
                (
                    Feature::DistinctUserAgents1h,
                    "device_new_to_credential",
                    agents,
                ),
            ];
            for (feature, label, known) in new {
                let stronger = exceeded
                    .iter()
                    .filter(|e| e.feature == feature)
                    .map(|e| e.ratio)
                    .fold(cfg.strong_ratio, f64::max);
                exceeded.retain(|e| e.feature != feature);
                exceeded.push(Exceeded {
                    feature,
                    label: Some(label),
                    attack: AttackType::TokenMisuse,
                    // This record's country (device) is one training never saw; the
                    // reference is how many the credential was used from in training.
                    observed: 1.0,
                    reference: f64::from(known.count_ones()),
                    ratio: stronger,
                });
            }
        }
    }
    if let Some((rate, own_max, limit)) = own_endpoint_rate(kind, model, w, facts, cfg) {
        let already = exceeded
            .iter()
            .any(|e| e.feature == Feature::TopEndpointRate10m);
        if rate > limit && !already {
            exceeded.push(Exceeded {
                feature: Feature::TopEndpointRate10m,
                label: None,
                attack: apiwarden_alert::AttackType::ApiDos,
                observed: rate,
                reference: own_max,
                ratio: rate / limit,
            });
        }
    }
    // An integration's sync or a user's busy session hammers one endpoint for a few
    // minutes and stops; a flood goes on. For an entity with its own baseline, an endpoint
    // over its own limit is evidence once the excess has lasted `SUSTAINED_EXCESS_MS`, and
    // then enough by itself (however modest the rate: a sustained 10x is the attack).
    if own_baseline(model, w).is_some() {
        let top = |e: &Exceeded| e.feature == Feature::TopEndpointRate10m;
        let lasted = w.track_hammering(exceeded.iter().any(top), facts.ts_ms);
        if lasted < SUSTAINED_EXCESS_MS {
            exceeded.retain(|e| !top(e));
        } else {
            for e in exceeded.iter_mut().filter(|e| top(e)) {
                e.ratio = e.ratio.max(cfg.strong_ratio);
            }
        }
    }
    // A big pull lifts the 2-hour volume over its limit for a while after it ends; a slow
    // drain (a stolen session paging through every charge, a few pages every 10 minutes,
    // for hours) keeps it there by pulling more. Half an hour of that is the attack, however
    // little the volume is over the limit (the limit's floor is what a small API's heaviest
    // users never reach).
    let volume = |e: &Exceeded| e.feature == Feature::ResponseBytes2h;
    let pulling = exceeded.iter().any(volume)
        && carries_bytes(
            facts,
            features,
            Feature::ResponseBytes2h,
            Feature::Requests2h,
        );
    if w.track_draining(pulling, facts.ts_ms) >= SUSTAINED_DRAIN_MS {
        for e in exceeded.iter_mut().filter(|e| volume(e)) {
            e.ratio = e.ratio.max(cfg.strong_ratio);
        }
    }
    // Models are most of the engine's cost. Evidence over a limit needs them now (the flag
    // rule asks them); a window merely past the kind's p99 (the API-wide window is, most of
    // the time) moves slowly enough that every few requests keeps its score current.
    let since = w.requests.wrapping_sub(w.cache.scored_at_request);
    // An entity's first request says little the limits have not already checked (a third of
    // entities never send a second one): its models first run at its second.
    // Evidence strong enough to flag by itself does not wait for the models' opinion.
    let models_decide = !exceeded.is_empty() && exceeded.iter().all(|e| e.ratio < cfg.strong_ratio);
    // The API-wide window sums everyone: it sits past its p99 much of the time and moves
    // too slowly for a few requests to change its score.
    let p99_every = if kind == EntityKind::Api {
        cfg.rescore_every
    } else {
        ABOVE_P99_RESCORE_EVERY
    };
    let due = (!w.cache.scored && w.requests >= 2)
        || models_decide
        || (!exceeded.is_empty() && since >= ABOVE_P99_RESCORE_EVERY)
        || (above_p99 && since >= p99_every)
        || since >= cfg.rescore_every;
    if due {
        rescore(model, w, features);
    }
    // Reading many different objects and being given them is browsing (a shopper on a sale
    // day, a catalog crawler). Enumeration walks ids, or is refused the objects it is not
    // entitled to: the count of distinct objects is evidence only beside one of those.
    let walks_or_refused = exceeded.iter().any(|e| {
        matches!(
            e.feature,
            Feature::IdWalk10m | Feature::IdWalk2h | Feature::Denied10m | Feature::Denied2h
        )
    });
    if !walks_or_refused {
        exceeded.retain(|e| e.feature != Feature::DistinctObjects10m);
    }
    // New places alone are a trip: misuse needs impossible travel, or a second sign (new
    // devices as well as new countries, say).
    let misuse: Vec<Feature> = exceeded
        .iter()
        .filter(|e| e.attack == AttackType::TokenMisuse)
        .map(|e| e.feature)
        .collect();
    if !misuse.is_empty() && misuse.len() < 2 && !misuse.contains(&Feature::TravelSpeedKmh) {
        exceeded.retain(|e| e.attack != AttackType::TokenMisuse);
    }
    // The API-wide window sees everyone's typos; one number over its limit there is
    // also what the tail of a finished attack looks like. It needs two, and failures that
    // are still coming: a benign typo a quarter of an hour after a stuffing run stopped
    // finds the 10-minute counts still high, but not the last minute's.
    if kind == EntityKind::Api && !w.failures_current() {
        exceeded.retain(|e| e.attack != AttackType::CredentialStuffing);
    }
    let needed = if kind == EntityKind::Api { 2 } else { 1 };
    if exceeded.len() < needed {
        return None;
    }
    let best = exceeded.iter().map(|e| e.ratio).fold(0.0, f64::max);
    let models_agree = f64::from(w.cache.forest) >= 0.5 || f64::from(w.cache.archetype) >= 0.5;
    if !(models_agree || best >= cfg.strong_ratio) {
        return None;
    }
    let evidence_score = 0.5 + 0.5 * (1.0 - 1.0 / best);
    let score = w.cache_score().max(evidence_score).clamp(0.5, 1.0);
    Some(Judgement { exceeded, score })
}

fn rescore(model: Option<&KindModel>, w: &mut EntityWindow, features: &FeatureVector) {
    w.cache.scored = true;
    w.cache.scored_at_request = w.requests;
    let Some(model) = model else { return };
    let logs = log_features(features);
    if let Some(f) = &model.forest {
        w.cache.forest = calibrate_forest(f.forest.score_one(&logs), f.threshold) as f32;
    }
    if let Some(a) = &model.archetypes {
        let (c, d) = a.score(&logs);
        w.cache.archetype = calibrate_distance(d, a.threshold) as f32;
        w.cache.archetype_index = u8::try_from(c).unwrap_or(u8::MAX);
    }
}
