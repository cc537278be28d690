//! The detection engine: one pure, deterministic code path that both
//! `apiwarden score` (offline) and `apiwarden serve` (live) run.

pub use apiwarden_alert::{
    Alert, AlertFamily, AttackType, EntityKind, EntityRef, Evidence, Severity,
};
