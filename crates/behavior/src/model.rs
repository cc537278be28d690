//! The trained behavior model of one API: per entity kind, feature quantiles, an isolation
//! forest, archetypes and compact per-entity baselines.

use crate::archetypes::Archetypes;
use crate::features::{Feature, N_FEATURES};
use apiwarden_alert::EntityKind;
use apiwarden_forest::IsolationForest;
use foldhash::fast::RandomState;
use hashbrown::HashTable;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::hash::BuildHasher;
use std::sync::OnceLock;

/// Bumped when the serialized shape changes.
pub const MODEL_FORMAT: u32 = 1;

/// An isolation forest over log features and its calibrated threshold.
#[derive(Clone, Serialize, Deserialize)]
pub struct ScoredForest {
    pub forest: IsolationForest,
    pub threshold: f64,
}

impl fmt::Debug for ScoredForest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScoredForest")
            .field("threshold", &self.threshold)
            .finish_non_exhaustive()
    }
}

/// One entity's own training maxima: a heavy entity is judged against itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityBaseline {
    pub value: String,
    pub requests: u64,
    /// Per feature, in [`crate::ALL_FEATURES`] order.
    pub maxima: Vec<f32>,
    /// Countries the entity was used from in training, one bit per country hash mod 64:
    /// a record from one of them is its owner at home, not evidence of misuse.
    pub countries: u64,
    /// Maximum 10-minute request count per endpoint bucket: an integration hammering one
    /// endpoint it normally calls rarely shows even when its overall rate does not.
    #[serde(default)]
    pub endpoint_maxima: Vec<f32>,
    /// Networks (IPv4 /24, IPv6 /48) the entity was used from in training, a
    /// `NETWORK_BITS`-bit set of their hashes. Empty (a model from before): every
    /// network counts as known.
    #[serde(default)]
    pub networks: Vec<u64>,
    /// Devices (user agents less their versions) the entity was used on in training, one
    /// bit per device hash mod 64 (as [`LightBaseline::agents`]). 0 in models from before:
    /// a new country on a new device is then evidence for light credentials only.
    #[serde(default)]
    pub agents: u64,
}

impl EntityBaseline {
    /// Whether training saw the entity used from this record's network.
    pub(crate) fn knows_network(&self, (word, bit): (usize, u64)) -> bool {
        self.networks.is_empty() || self.networks.get(word).is_some_and(|w| w & bit != 0)
    }
}

/// Where and on what a light credential (too few training requests for a baseline of its
/// own) was used in training: enough to tell its owner's usual country and device from a
/// stranger's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LightBaseline {
    pub value: String,
    pub requests: u64,
    /// Countries, one bit per country hash mod 64 (as [`EntityBaseline::countries`]).
    pub countries: u64,
    /// User agents, one bit per user-agent hash mod 64.
    pub agents: u64,
    /// The most bytes it pulled in two hours of training: a staff member's monthly export
    /// is the owner's habit when it comes again, at home, on the owner's device. 0 in
    /// models from before (judged by the kind alone, as it was).
    #[serde(default)]
    pub pulled_2h: f32,
}

/// What training learned about one entity kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KindModel {
    pub kind: EntityKind,
    /// Feature vectors seen (one per record of an entity of this kind).
    pub observations: u64,
    pub p50: Vec<f64>,
    pub p99: Vec<f64>,
    pub max: Vec<f64>,
    pub forest: Option<ScoredForest>,
    pub archetypes: Option<Archetypes>,
    /// Sorted by `value`.
    pub baselines: Vec<EntityBaseline>,
    /// Credentials below the baseline threshold, sorted by `value`. Empty in models from
    /// before: light credentials are then judged by their kind alone, as they were.
    #[serde(default)]
    pub light: Vec<LightBaseline>,
    #[serde(skip)]
    pub(crate) baseline_positions: Positions,
    #[serde(skip)]
    pub(crate) light_positions: Positions,
}

impl KindModel {
    /// A model of `kind` with no baselines yet.
    pub fn new(kind: EntityKind) -> Self {
        KindModel {
            kind,
            observations: 0,
            p50: Vec::new(),
            p99: Vec::new(),
            max: Vec::new(),
            forest: None,
            archetypes: None,
            baselines: Vec::new(),
            light: Vec::new(),
            baseline_positions: Positions::default(),
            light_positions: Positions::default(),
        }
    }

    /// Where `value`'s baseline is in `baselines`. Fill `baselines` before the first lookup.
    pub fn baseline_index(&self, value: &str) -> Option<usize> {
        self.baseline_positions
            .find(&self.baselines, value, |b| &b.value)
    }

    /// Where `value`'s light baseline is in `light`. Fill `light` before the first lookup.
    pub fn light_index(&self, value: &str) -> Option<usize> {
        self.light_positions.find(&self.light, value, |b| &b.value)
    }

    pub(crate) fn stat(v: &[f64], f: Feature) -> f64 {
        v.get(f.index()).copied().unwrap_or(0.0)
    }
}

/// Credential value -> its position in a list of baselines, built on the first lookup.
/// A new window looks its credential up in every API's model: a binary search over tens
/// of thousands of baselines took two cache misses a step (the entry, then its string),
/// a twentieth of the engine's time on a busy day. Here it is one probe and one compare.
/// Seeded per process like the entity tables: lookups are of what clients send.
#[derive(Default)]
pub(crate) struct Positions(OnceLock<(HashTable<u32>, RandomState)>);

impl Positions {
    fn find<T>(&self, items: &[T], value: &str, key: impl Fn(&T) -> &str) -> Option<usize> {
        let (table, seed) = self.0.get_or_init(|| {
            let seed = RandomState::default();
            let hash = |v: &str| seed.hash_one(v);
            let mut table = HashTable::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let Ok(position) = u32::try_from(i) else {
                    break;
                };
                let value = key(item);
                let rehash = |&j: &u32| items.get(j as usize).map_or(0, |it| hash(key(it)));
                // One baseline per credential; were two equal, the first would answer.
                if table
                    .find(hash(value), |&j: &u32| {
                        items.get(j as usize).is_some_and(|it| key(it) == value)
                    })
                    .is_none()
                {
                    table.insert_unique(hash(value), position, rehash);
                }
            }
            (table, seed)
        });
        table
            .find(seed.hash_one(value), |&i| {
                items.get(i as usize).is_some_and(|it| key(it) == value)
            })
            .map(|&i| i as usize)
    }
}

/// Built anew by a clone: an index is cheap next to what cloning a model copies.
impl Clone for Positions {
    fn clone(&self) -> Self {
        Positions::default()
    }
}

impl fmt::Debug for Positions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Positions")
    }
}

/// Per entity kind (absent kinds had no traffic in training).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BehaviorModel {
    pub format: u32,
    pub kinds: Vec<KindModel>,
}

impl BehaviorModel {
    pub fn kind(&self, kind: EntityKind) -> Option<&KindModel> {
        self.kinds.iter().find(|k| k.kind == kind)
    }

    /// What serde cannot check: every per-feature vector has this build's feature count.
    /// A model written by a build with other features would otherwise score NaN, silently.
    pub fn validate(&self) -> Result<(), crate::BehaviorError> {
        let mismatch = |kind: EntityKind, what: &str, got: usize| {
            Err(crate::BehaviorError::FeatureCount {
                kind: kind.as_str().to_string(),
                what: what.to_string(),
                expected: N_FEATURES,
                got,
            })
        };
        for k in &self.kinds {
            for (what, v) in [("p50", &k.p50), ("p99", &k.p99), ("max", &k.max)] {
                if v.len() != N_FEATURES {
                    return mismatch(k.kind, what, v.len());
                }
            }
            if let Some(f) = &k.forest {
                if f.forest.n_features() != N_FEATURES {
                    return mismatch(k.kind, "forest", f.forest.n_features());
                }
            }
            if let Some(a) = &k.archetypes {
                let bad = [a.mean.len(), a.std.len()]
                    .into_iter()
                    .chain(a.centroids.iter().map(Vec::len))
                    .find(|n| *n != N_FEATURES);
                if let Some(n) = bad {
                    return mismatch(k.kind, "archetypes", n);
                }
            }
            if let Some(b) = k.baselines.iter().find(|b| b.maxima.len() != N_FEATURES) {
                return mismatch(k.kind, "entity baseline", b.maxima.len());
            }
        }
        Ok(())
    }

    /// Pool several APIs' models into population priors for an API that has no model yet:
    /// quantiles and maxima are the element-wise maxima (conservative: fewer false alerts),
    /// forest and archetypes come from the API with the most observations of that kind,
    /// and there are no per-entity baselines (entities of another API say nothing here).
    pub fn population(models: &[&BehaviorModel]) -> Option<BehaviorModel> {
        if models.is_empty() {
            return None;
        }
        let mut kinds = Vec::new();
        for kind in crate::table::KINDS {
            let parts: Vec<&KindModel> = models.iter().filter_map(|m| m.kind(kind)).collect();
            let Some(richest) = parts.iter().max_by_key(|k| k.observations) else {
                continue;
            };
            let fold = |get: fn(&KindModel) -> &Vec<f64>| -> Vec<f64> {
                (0..N_FEATURES)
                    .map(|i| {
                        parts
                            .iter()
                            .map(|p| get(p).get(i).copied().unwrap_or(0.0))
                            .fold(0.0, f64::max)
                    })
                    .collect()
            };
            kinds.push(KindModel {
                kind,
                observations: parts.iter().map(|p| p.observations).sum(),
                p50: fold(|k| &k.p50),
                p99: fold(|k| &k.p99),
                max: fold(|k| &k.max),
                forest: richest.forest.clone(),
                archetypes: richest.archetypes.clone(),
                ..KindModel::new(kind)
            });
        }
        Some(BehaviorModel {
            format: MODEL_FORMAT,
            kinds,
        })
    }
}

/// Map a forest score so that its threshold lands at 0.5.
pub(crate) fn calibrate_forest(raw: f64, threshold: f64) -> f64 {
    let t = threshold.clamp(1e-6, 1.0 - 1e-6);
    let v = if raw <= t {
        0.5 * raw / t
    } else {
        0.5 + 0.5 * (raw - t) / (1.0 - t)
    };
    v.clamp(0.0, 1.0)
}

/// Map an archetype distance (in spreads) so that its threshold lands at 0.5.
pub(crate) fn calibrate_distance(raw: f64, threshold: f64) -> f64 {
    if !(threshold.is_finite() && threshold > 0.0 && raw.is_finite()) {
        return 0.0;
    }
    let v = if raw <= threshold {
        0.5 * raw / threshold
    } else {
        0.5 + 0.5 * (1.0 - threshold / raw)
    };
    v.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn light(value: &str) -> LightBaseline {
        LightBaseline {
            value: value.to_string(),
            requests: 1,
            countries: 0,
            agents: 0,
            pulled_2h: 0.0,
        }
    }

    proptest! {
        /// The index finds what a binary search of the sorted list finds, and nothing for
        /// values not in it; a model read back from JSON (index not serialized) too.
        #[test]
        fn credential_lookup_agrees_with_the_sorted_list(
            values in prop::collection::btree_set("[a-f0-9]{0,12}", 0..200),
            probes in prop::collection::vec("[a-f0-9]{0,12}", 0..50),
        ) {
            let mut model = KindModel::new(EntityKind::User);
            model.light = values.iter().map(|v| light(v)).collect();
            let back: KindModel = serde_json::from_str(&serde_json::to_string(&model).unwrap()).unwrap();
            for probe in values.iter().chain(&probes) {
                let sorted = model.light.binary_search_by(|b| b.value.as_str().cmp(probe)).ok();
                prop_assert_eq!(model.light_index(probe), sorted);
                prop_assert_eq!(back.light_index(probe), sorted);
                prop_assert_eq!(model.baseline_index(probe), None);
            }
        }
    }

    #[test]
    fn calibration_maps_threshold_to_half_and_is_monotone() {
        assert!((calibrate_forest(0.62, 0.62) - 0.5).abs() < 1e-12);
        assert!(calibrate_forest(0.7, 0.62) > 0.5);
        assert!(calibrate_forest(0.3, 0.62) < calibrate_forest(0.4, 0.62));
        assert!((calibrate_forest(1.0, 0.62) - 1.0).abs() < 1e-12);
        assert!((calibrate_distance(3.0, 3.0) - 0.5).abs() < 1e-12);
        assert!(calibrate_distance(30.0, 3.0) < 1.0 && calibrate_distance(30.0, 3.0) > 0.9);
        assert_eq!(calibrate_distance(1.0, f64::INFINITY), 0.0);
    }
}
