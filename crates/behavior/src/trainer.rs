//! Training: run the same windows over training traffic, keep per-kind maxima, a reservoir of
//! feature rows and per-entity maxima, then fit forests and archetypes and calibrate.

use crate::archetypes::{quantile, Archetypes};
use crate::features::{log_features, Feature, FeatureVector, N_FEATURES};
use crate::model::{
    BehaviorModel, EntityBaseline, KindModel, LightBaseline, ScoredForest, MODEL_FORMAT,
};
use crate::table::{record_entities, KindTables, KINDS};
use crate::window::{EntityWindow, RecordFacts, ENDPOINT_BUCKETS, NETWORK_BITS};
use crate::{sweep, BehaviorConfig, BehaviorError, Observation};
use apiwarden_alert::EntityKind;
use apiwarden_forest::IsolationForestParams;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// One entity's training summary.
#[derive(Debug, Clone)]
struct EntityStats {
    requests: u64,
    maxima: [f32; N_FEATURES],
    countries: u64,
    /// Countries and devices of the credential's authenticated use and successful logins
    /// (a light credential's training is often its owner's logins and little else).
    light_countries: u64,
    agents: u64,
    endpoint_maxima: [f32; ENDPOINT_BUCKETS],
    networks: [u64; NETWORK_BITS / 64],
}

#[derive(Debug, Clone)]
struct KindAccumulator {
    observations: u64,
    max: FeatureVector,
    reservoir: Vec<FeatureVector>,
}

impl KindAccumulator {
    fn new() -> Self {
        KindAccumulator {
            observations: 0,
            max: [0.0; N_FEATURES],
            reservoir: Vec::new(),
        }
    }
}

/// Fewest training requests for a light credential's usual countries and devices to be
/// kept: one or two are a visit, not a habit. Three sign-ins over the training days are
/// (an identity service sees little else of most customers).
const MIN_LIGHT_REQUESTS: u64 = 3;

/// User, API key, token: an identity, unlike an IP (a place) or the API.
pub(crate) fn is_credential(kind: EntityKind) -> bool {
    matches!(
        kind,
        EntityKind::User | EntityKind::ApiKey | EntityKind::Token
    )
}

pub(crate) fn kind_slot(kind: EntityKind) -> usize {
    KINDS.iter().position(|k| *k == kind).unwrap_or(0)
}

/// Learns one API's behavior baselines from its training records, in time order.
pub struct BehaviorTrainer {
    cfg: BehaviorConfig,
    seed: u64,
    windows: KindTables<EntityWindow>,
    entities: KindTables<EntityStats>,
    kinds: Vec<KindAccumulator>,
    rng: Xoshiro256PlusPlus,
    next_sweep_ms: i64,
}

impl BehaviorTrainer {
    pub fn new(cfg: BehaviorConfig, seed: u64) -> Self {
        BehaviorTrainer {
            cfg,
            seed,
            windows: KindTables::default(),
            entities: KindTables::default(),
            kinds: KINDS.iter().map(|_| KindAccumulator::new()).collect(),
            rng: Xoshiro256PlusPlus::seed_from_u64(seed ^ 0xB3A7_10E5),
            next_sweep_ms: i64::MIN,
        }
    }

    pub fn observe(&mut self, obs: &Observation<'_>) {
        let facts = RecordFacts::of(obs);
        sweep::maybe_sweep(
            &mut self.windows,
            &mut self.next_sweep_ms,
            facts.ts_ms,
            &self.cfg,
        );
        let mut api_5xx = 0.0;
        for (kind, key) in record_entities(obs) {
            let Some(key) = key else { continue };
            let (w, _) = self
                .windows
                .get_or_insert_with(kind, key, facts.ts_ms, || EntityWindow::new(facts.ts_ms));
            w.update(&facts, kind);
            if kind == EntityKind::Api {
                api_5xx = w.server_error_ratio();
            }
            let features = w.features(api_5xx);
            let endpoint_rate = w.endpoint_rate(&facts);
            let acc = match self.kinds.get_mut(kind_slot(kind)) {
                Some(a) => a,
                None => continue,
            };
            acc.observations += 1;
            for (m, v) in acc.max.iter_mut().zip(features.iter()) {
                *m = m.max(*v);
            }
            // Reservoir sampling (Algorithm R): a uniform sample of all feature rows.
            if acc.reservoir.len() < self.cfg.max_training_rows {
                acc.reservoir.push(features);
            } else {
                let j = self.rng.gen_range(0..acc.observations);
                if let Some(slot) = usize::try_from(j)
                    .ok()
                    .and_then(|j| acc.reservoir.get_mut(j))
                {
                    *slot = features;
                }
            }
            // IPs are places, not identities (a partner's pool, a NAT): judged against
            // their kind only. Credentials keep their own baseline.
            if is_credential(kind) {
                let (stats, _) = self
                    .entities
                    .get_or_insert_with(kind, key, facts.ts_ms, || EntityStats {
                        requests: 0,
                        maxima: [0.0; N_FEATURES],
                        countries: 0,
                        light_countries: 0,
                        agents: 0,
                        endpoint_maxima: [0.0; ENDPOINT_BUCKETS],
                        networks: [0; NETWORK_BITS / 64],
                    });
                if let Some(m) = stats.endpoint_maxima.get_mut(facts.endpoint_bucket()) {
                    *m = m.max(endpoint_rate as f32);
                }
                stats.requests += 1;
                // The owner signing in from home says where home is, as much as using
                // the account does. A refused login is anyone's.
                if !facts.unauthorized {
                    stats.light_countries |= facts.country_bit();
                    stats.agents |= facts.agent_bit();
                }
                if !facts.unauthorized && !facts.auth_endpoint {
                    stats.countries |= facts.country_bit();
                    let (word, bit) = facts.network_bit();
                    if let Some(w) = stats.networks.get_mut(word) {
                        *w |= bit;
                    }
                }
                for (m, v) in stats.maxima.iter_mut().zip(features.iter()) {
                    *m = m.max(*v as f32);
                }
            }
        }
    }

    /// Fit forests and archetypes per entity kind and calibrate their thresholds.
    pub fn finish(mut self) -> Result<BehaviorModel, BehaviorError> {
        // Taken before the baselines' cut below drops every light credential.
        let mut lights: Vec<Vec<LightBaseline>> =
            KINDS.iter().map(|k| self.light_baselines(*k)).collect();
        let mut kinds = Vec::new();
        for (slot, kind) in KINDS.iter().enumerate() {
            let Some(acc) = self.kinds.get(slot) else {
                continue;
            };
            if acc.observations == 0 {
                continue;
            }
            let kind_seed = self
                .seed
                .wrapping_add((slot as u64 + 1).wrapping_mul(0x9E37_79B9));
            let mut p50 = vec![0.0; N_FEATURES];
            let mut p99 = vec![0.0; N_FEATURES];
            for j in 0..N_FEATURES {
                let mut col: Vec<f64> = acc.reservoir.iter().map(|r| r[j]).collect();
                p50[j] = quantile(&mut col, 0.5);
                p99[j] = quantile(&mut col, 0.99);
            }
            let logs: Vec<FeatureVector> = acc.reservoir.iter().map(log_features).collect();
            let (forest, archetypes) = if logs.len() >= self.cfg.min_training_rows {
                (
                    Some(fit_forest(&logs, &self.cfg, kind_seed)?),
                    Some(Archetypes::fit(
                        &logs,
                        self.cfg.archetypes,
                        kind_seed,
                        self.cfg.archetype_quantile,
                        self.cfg.archetype_margin,
                    )?),
                )
            } else {
                (None, None)
            };
            let min_req = self.cfg.min_entity_requests;
            let cap = self.cfg.max_entity_baselines;
            let light = lights.get_mut(slot).map(std::mem::take).unwrap_or_default();
            self.entities.retain(|_, s| s.requests >= min_req);
            self.entities.truncate_kind(*kind, cap, |_, s| s.requests);
            let baselines = self
                .entities
                .sorted(*kind)
                .into_iter()
                .map(|(value, s)| EntityBaseline {
                    value,
                    requests: s.requests,
                    maxima: s.maxima.to_vec(),
                    countries: s.countries,
                    endpoint_maxima: s.endpoint_maxima.to_vec(),
                    networks: s.networks.to_vec(),
                    agents: s.agents,
                })
                .collect();
            kinds.push(KindModel {
                kind: *kind,
                observations: acc.observations,
                p50,
                p99,
                max: acc.max.to_vec(),
                forest,
                archetypes,
                baselines,
                light,
                ..KindModel::new(*kind)
            });
        }
        Ok(BehaviorModel {
            format: MODEL_FORMAT,
            kinds,
        })
    }
}

impl BehaviorTrainer {
    /// Credentials too light for a baseline still keep where and on what they were used,
    /// when training saw them often enough for that to be their owner's habit.
    fn light_baselines(&self, kind: EntityKind) -> Vec<LightBaseline> {
        if !is_credential(kind) {
            return Vec::new();
        }
        let min_req = self.cfg.min_entity_requests;
        let mut light: Vec<LightBaseline> = self
            .entities
            .sorted(kind)
            .into_iter()
            .filter(|(_, s)| {
                s.requests < min_req
                    && s.requests >= MIN_LIGHT_REQUESTS
                    && s.light_countries != 0
                    && s.agents != 0
            })
            .map(|(value, s)| LightBaseline {
                value,
                requests: s.requests,
                countries: s.light_countries,
                agents: s.agents,
                pulled_2h: s.maxima[Feature::ResponseBytes2h.index()],
            })
            .collect();
        let cap = self.cfg.max_entity_baselines;
        if light.len() > cap {
            // Most active first, then back in `value` order for the lookup.
            light.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.value.cmp(&b.value)));
            light.truncate(cap);
            light.sort_by(|a, b| a.value.cmp(&b.value));
        }
        light
    }
}

fn fit_forest(
    logs: &[FeatureVector],
    cfg: &BehaviorConfig,
    seed: u64,
) -> Result<ScoredForest, BehaviorError> {
    let mut data = Array2::<f64>::zeros((logs.len(), N_FEATURES));
    for (i, r) in logs.iter().enumerate() {
        for (j, v) in r.iter().enumerate() {
            data[[i, j]] = *v;
        }
    }
    let forest = IsolationForestParams::new()
        .n_trees(cfg.n_trees)
        .sample_size(cfg.sample_size)
        .seed(seed)
        .fit(data.view())
        .map_err(|e| BehaviorError::Forest(e.to_string()))?;
    let mut scores: Vec<f64> = logs.iter().map(|r| forest.score_one(r)).collect();
    let threshold = (quantile(&mut scores, cfg.forest_quantile) + cfg.forest_margin).min(0.99);
    Ok(ScoredForest { forest, threshold })
}
