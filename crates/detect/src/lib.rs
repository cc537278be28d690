//! The detection engine: one pure, deterministic code path that both
//! `apiwarden score` (offline) and `apiwarden serve` (live) run.
//!
//! ```text
//! record ─ discovery (api, endpoint template, object id)
//!        ─ request features vs the endpoint baseline ─ request forest ─┐
//!        ─ behavior windows per entity (apiwarden-behavior) ───────────┴─ verdict, alerts
//! ```
//! [`Trainer`] learns a [`ModelBundle`] from records; [`Engine`] scores
//! records against it.

pub mod alerts;
pub mod bundle;
pub mod calibrate;
pub mod discovery;
pub mod engine;
pub mod envelope;
pub mod features;
mod health;
pub mod model;
pub mod train;

pub use apiwarden_alert::{
    Alert, AlertFamily, AttackType, EntityKind, EntityRef, Evidence, MonitorKind, Severity,
};
pub use apiwarden_behavior::{BehaviorConfig, EntitySnapshot};
pub use apiwarden_monitor::{EndpointFigures, Gauge};
pub use bundle::{ModelBundle, BUNDLE_FILE, FINGERPRINT_KEY_FILE, MANIFEST_FILE};
pub use discovery::api_name;
pub use engine::{shard_of, ApiStatus, Engine, EngineConfig, ModelStatus, Verdict};
pub use envelope::{BundleError, FORMAT_VERSION};
pub use train::{monitor_client, TrainConfig, TrainError, Trainer};
