//! The detection engine: one pure, deterministic code path that both
//! `apiwarden score` (offline) and `apiwarden serve` (live) run.

pub mod alerts;
pub mod calibrate;
pub mod discovery;
pub mod envelope;
pub mod features;

pub use apiwarden_alert::{
    Alert, AlertFamily, AttackType, EntityKind, EntityRef, Evidence, Severity,
};
pub use discovery::api_name;
pub use envelope::BundleError;
