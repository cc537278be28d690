//! Operator policy applied to the engine's output: the allowlist (entities
//! that never alert) and per-API alert thresholds. Read on every scored
//! batch, so it is an immutable snapshot swapped whole on change.

use apiwarden_alert::{Alert, AttackType};
use apiwarden_record::AccessRecord;
use apiwarden_store::{AllowEntry, ApiSettings};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// The threshold key that applies to every attack type of an API.
pub const ALL_ATTACKS_KEY: &str = "alert_score";

#[derive(Default)]
pub struct PolicySnapshot {
    /// (kind, value) → the APIs it is allowed on (`None` = every API).
    allow: BTreeMap<(String, String), Vec<Option<String>>>,
    settings: BTreeMap<String, ApiSettings>,
}

impl PolicySnapshot {
    pub fn new(allow: &[AllowEntry], settings: &[ApiSettings]) -> Self {
        let mut snap = PolicySnapshot::default();
        for e in allow {
            snap.allow
                .entry((e.kind.clone(), e.value.clone()))
                .or_default()
                .push(e.api.clone());
        }
        for s in settings {
            snap.settings.insert(s.api.clone(), s.clone());
        }
        snap
    }

    pub fn is_allowlisted(&self, api: &str, kind: &str, value: &str) -> bool {
        self.allow
            .get(&(kind.to_string(), value.to_string()))
            .is_some_and(|apis| apis.iter().any(|a| a.as_deref().is_none_or(|a| a == api)))
    }

    pub fn record_allowlisted(&self, api: &str, rec: &AccessRecord) -> bool {
        if self.allow.is_empty() {
            return false;
        }
        self.is_allowlisted(api, "ip", &rec.client_ip.to_string())
            || rec
                .user
                .as_deref()
                .is_some_and(|u| self.is_allowlisted(api, "user", u))
            || rec
                .api_key
                .as_ref()
                .is_some_and(|k| self.is_allowlisted(api, "api_key", k.as_str()))
            || rec
                .token
                .as_ref()
                .is_some_and(|t| self.is_allowlisted(api, "token", t.as_str()))
    }

    /// The smallest verdict score at which `attack` may alert on `api` (0.0 = the engine decides).
    pub fn min_score(&self, api: &str, attack: AttackType) -> f64 {
        let Some(s) = self.settings.get(api) else {
            return 0.0;
        };
        s.thresholds
            .get(attack.as_str())
            .or_else(|| s.thresholds.get(ALL_ATTACKS_KEY))
            .copied()
            .unwrap_or(0.0)
    }

    /// Whether an alert the engine raised is kept: not on an allowlisted
    /// entity, and the verdict reaches the API's threshold for its attack
    /// (monitoring alerts have no attack threshold).
    pub fn alert_allowed(&self, alert: &Alert, verdict_score: f64) -> bool {
        !self.is_allowlisted(&alert.api, alert.entity.kind.as_str(), &alert.entity.value)
            && alert
                .attack
                .is_none_or(|attack| verdict_score >= self.min_score(&alert.api, attack))
    }
}

/// Validates threshold keys and values; `Err` names the bad one.
pub fn check_thresholds(thresholds: &BTreeMap<String, f64>) -> Result<(), String> {
    for (key, value) in thresholds {
        if key != ALL_ATTACKS_KEY && AttackType::parse(key).is_none() {
            return Err(format!(
                "unknown threshold `{key}`: use `{ALL_ATTACKS_KEY}` or an attack type"
            ));
        }
        if !(0.0..=1.0).contains(value) {
            return Err(format!("threshold `{key}` must be in [0,1], got {value}"));
        }
    }
    Ok(())
}

#[derive(Default)]
pub struct Policy {
    current: RwLock<Arc<PolicySnapshot>>,
}

impl Policy {
    pub fn snapshot(&self) -> Arc<PolicySnapshot> {
        self.current
            .read()
            .map(|g| Arc::clone(&g))
            .unwrap_or_default()
    }

    pub fn replace(&self, snap: PolicySnapshot) {
        if let Ok(mut g) = self.current.write() {
            *g = Arc::new(snap);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_scoped_by_api_and_thresholds_by_attack() {
        let allow = vec![
            AllowEntry {
                kind: "ip".into(),
                value: "10.0.0.1".into(),
                api: None,
                note: None,
            },
            AllowEntry {
                kind: "user".into(),
                value: "bot".into(),
                api: Some("shop".into()),
                note: None,
            },
        ];
        let mut s = ApiSettings {
            api: "shop".into(),
            ..ApiSettings::default()
        };
        s.thresholds.insert(ALL_ATTACKS_KEY.into(), 0.6);
        s.thresholds.insert("api_dos".into(), 0.9);
        let p = PolicySnapshot::new(&allow, &[s]);
        assert!(p.is_allowlisted("any", "ip", "10.0.0.1"));
        assert!(p.is_allowlisted("shop", "user", "bot"));
        assert!(!p.is_allowlisted("bank", "user", "bot"));
        assert_eq!(p.min_score("shop", AttackType::ApiDos), 0.9);
        assert_eq!(p.min_score("shop", AttackType::Probing), 0.6);
        assert_eq!(p.min_score("bank", AttackType::Probing), 0.0);
    }

    #[test]
    fn threshold_validation() {
        let mut t = BTreeMap::new();
        t.insert("probing".to_string(), 0.7);
        assert!(check_thresholds(&t).is_ok());
        t.insert("bogus".to_string(), 0.7);
        assert!(check_thresholds(&t).unwrap_err().contains("bogus"));
        let mut t = BTreeMap::new();
        t.insert(ALL_ATTACKS_KEY.to_string(), 1.5);
        assert!(check_thresholds(&t).is_err());
    }
}
