//! Tunables of the behavior layer. `Default` is the shipped configuration.

use serde::{Deserialize, Serialize};

/// Behavior windows, baselines and verdict rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BehaviorConfig {
    /// An entity idle this long (traffic time) loses its window.
    pub idle_evict_ms: i64,
    /// Cap of live windows per entity kind; the least recently seen go first.
    pub max_entities_per_kind: usize,
    /// How often (traffic time) idle windows are swept.
    pub sweep_interval_ms: i64,
    /// A feature is evidence when it exceeds the kind's training maximum times this.
    pub kind_margin: f64,
    /// For an entity with its own training baseline: its own maximum times this.
    pub entity_margin: f64,
    /// Same, for an entity whose own maximum is beyond its kind's p99 (a heavy hitter).
    pub heavy_entity_margin: f64,
    /// Evidence this many times over its limit flags even when the models are unsure.
    pub strong_ratio: f64,
    /// Re-run the forest and archetype scoring at least every N requests of an entity.
    pub rescore_every: u32,
    pub n_trees: usize,
    pub sample_size: usize,
    /// Reservoir of training feature rows kept per entity kind.
    pub max_training_rows: usize,
    /// Fewer rows than this: no forest / archetypes for the kind (evidence rules only).
    pub min_training_rows: usize,
    /// KMeans archetypes per entity kind.
    pub archetypes: usize,
    /// Forest threshold: this quantile of training scores plus `forest_margin`.
    pub forest_quantile: f64,
    pub forest_margin: f64,
    /// Archetype threshold: this quantile of training distances times `archetype_margin`.
    pub archetype_quantile: f64,
    pub archetype_margin: f64,
    /// Entities with at least this many training requests keep their own baseline.
    pub min_entity_requests: u64,
    /// Cap of per-entity baselines per kind in the model (most active first).
    pub max_entity_baselines: usize,
}

impl Default for BehaviorConfig {
    fn default() -> Self {
        BehaviorConfig {
            idle_evict_ms: 2 * 3_600_000,
            max_entities_per_kind: 200_000,
            sweep_interval_ms: 60_000,
            kind_margin: 1.5,
            entity_margin: 4.0,
            heavy_entity_margin: 10.0,
            strong_ratio: 1.5,
            rescore_every: 16,
            n_trees: 100,
            sample_size: 256,
            max_training_rows: 20_000,
            min_training_rows: 64,
            archetypes: 6,
            forest_quantile: 0.999,
            forest_margin: 0.02,
            archetype_quantile: 0.999,
            archetype_margin: 1.25,
            min_entity_requests: 30,
            max_entity_baselines: 10_000,
        }
    }
}
