//! Per-entity behavior: windows over each entity's recent traffic, baselines learned from
//! training (isolation forest + KMeans archetypes + per-feature and per-entity maxima), and
//! typed, explained verdicts.
//!
//! One [`BehaviorTrainer`] (training) or [`BehaviorTracker`] (scoring) per API. The caller
//! (the detect engine) hands every record over as an [`Observation`], in time order. Time
//! is traffic time (`rec.ts_ms`), never the wall clock, so offline and live agree exactly.
//!
//! Entities of a record: its client IP, user, API key and token (fingerprints), plus the
//! API as a whole (distributed attacks). Each has an [`EntityWindow`] of decayed counters
//! and small distinct sketches (see [`Feature`] for every feature and its meaning).
//!
//! Flag rule: an entity is flagged when at least one feature is beyond its limit — the
//! kind's training maximum times `kind_margin` (or, for an entity with its own training
//! baseline, its own maximum times `entity_margin`, never below the kind's p99 times
//! `kind_margin`), and never below the feature's absolute floor — AND either the forest or
//! the archetype distance is over its calibrated threshold or the evidence is
//! `strong_ratio` times over its limit. The attack type is read from the features over
//! their limits ([`Feature::gate`]).

mod archetypes;
mod config;
mod features;
mod geo;
mod model;
mod sketch;
mod sweep;
mod table;
mod tracker;
mod trainer;
mod verdict;
mod window;

pub use archetypes::Archetypes;
pub use config::BehaviorConfig;
pub use features::{Feature, FeatureVector, ALL_FEATURES, IMPOSSIBLE_SPEED_KMH, N_FEATURES};
pub use geo::haversine_km;
pub use model::{BehaviorModel, EntityBaseline, KindModel, ScoredForest, MODEL_FORMAT};
pub use sketch::{hash_bytes, DistinctSketch};
pub use tracker::BehaviorTracker;
pub use trainer::BehaviorTrainer;
pub use verdict::MAX_EVIDENCE;
pub use window::EntityWindow;

use apiwarden_alert::{AttackType, EntityRef, Evidence, Severity};
use serde::{Deserialize, Serialize};

/// One record as the behavior layer sees it, with what discovery learned about it.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub rec: &'a apiwarden_record::AccessRecord,
    /// Request id (always set by the caller).
    pub id: &'a str,
    pub api: &'a str,
    /// Index of the endpoint template within this API (stable within a model).
    pub endpoint: u32,
    /// Template seen in training (false => "unknown endpoint").
    pub endpoint_known: bool,
    /// Value of the last folded `{id}` segment, e.g. "1002".
    pub object_id: Option<&'a str>,
    /// Login / token / password endpoint.
    pub is_auth: bool,
    /// The endpoint's typical (median) response bytes, > 0.
    pub response_bytes_baseline: f64,
    /// The endpoint's typical (median) latency, > 0.
    pub latency_baseline_ms: f64,
    /// Request-level forest score in [0,1].
    pub request_score: f64,
    /// The endpoint serves public content (mostly anonymous clients in training): its
    /// bytes are no one's data and count for no exfiltration.
    pub public: bool,
}

/// The behavior layer's answer for one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BehaviorOutcome {
    /// [0,1]: the max over the record's entities, calibrated so that 0.5 is the threshold.
    /// Above 0.5 only when `flagged` is not empty.
    pub score: f64,
    /// Entities of this record that are over threshold now (usually empty).
    pub flagged: Vec<EntityVerdict>,
}

/// An entity over threshold, typed and explained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityVerdict {
    /// Kind + value (ip string, user name, "fp:..." fingerprint, api name).
    pub entity: EntityRef,
    pub attack: AttackType,
    pub severity: Severity,
    /// The entity's calibrated behavior score (>= `threshold`).
    pub score: f64,
    /// The calibrated threshold (0.5: every detector's threshold maps there).
    pub threshold: f64,
    /// Most deviating features first, observed vs the training reference, at most 5.
    pub evidence: Vec<Evidence>,
}

/// An entity's current behavior, for `GET /v1/entities/{kind}/{value}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntitySnapshot {
    pub entity: EntityRef,
    pub score: f64,
    pub threshold: f64,
    /// Current window features by name.
    pub features: Vec<(String, f64)>,
    /// The training reference of each feature (same order): the entity's own maximum
    /// when it has a baseline, else the kind's maximum.
    pub baseline: Vec<(String, f64)>,
    /// Nearest archetype.
    pub archetype: Option<usize>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub requests: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BehaviorError {
    #[error("isolation forest: {0}")]
    Forest(String),
    #[error("clustering: {0}")]
    Clustering(String),
    #[error("{kind} {what} has {got} features, this build computes {expected}: retrain")]
    FeatureCount {
        kind: String,
        what: String,
        expected: usize,
        got: usize,
    },
}
