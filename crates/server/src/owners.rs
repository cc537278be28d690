//! Who owns each API (issue #5): owners from the config file are the
//! defaults, owners set through `PUT /v1/apis/{api}/owner` (persisted in the
//! store's API settings) win over them. Every alert leaving the service is
//! stamped with its API's owner at that moment.

use crate::config::OwnerConfig;
use apiwarden_alert::{Alert, ApiOwner, OwnedAlert};
use apiwarden_store::{ApiSettings, Store, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Mutex, RwLock};

/// Where an API's current owner comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerSource {
    /// `PUT /v1/apis/{api}/owner`, stored.
    Api,
    /// `[[owners]]` in the config file.
    Config,
}

#[derive(Default)]
struct Directory {
    configured: BTreeMap<String, ApiOwner>,
    assigned: BTreeMap<String, ApiOwner>,
}

/// The owners in memory, read on every alert; writes go to the store first.
#[derive(Default)]
pub struct Owners {
    directory: RwLock<Directory>,
    /// Owners and thresholds share one stored `ApiSettings` per API: changes
    /// are read-modify-write, so they take turns (no lost update).
    settings_writes: Mutex<()>,
}

impl Owners {
    /// The owners set through the API, as stored.
    pub fn from_store(store: &dyn Store) -> Result<Self, StoreError> {
        let assigned = store
            .all_api_settings()?
            .into_iter()
            .filter_map(|s| s.owner.map(|o| (s.api, o)))
            .collect();
        Ok(Owners {
            directory: RwLock::new(Directory {
                configured: BTreeMap::new(),
                assigned,
            }),
            settings_writes: Mutex::new(()),
        })
    }

    /// Replace the config-file defaults.
    pub fn set_configured(&self, owners: &[OwnerConfig]) {
        let configured = owners.iter().map(|o| (o.api.clone(), o.owner())).collect();
        if let Ok(mut d) = self.directory.write() {
            d.configured = configured;
        }
    }

    /// The current owner of `api` and where it comes from.
    pub fn lookup(&self, api: &str) -> Option<(ApiOwner, OwnerSource)> {
        let d = self.directory.read().ok()?;
        d.assigned
            .get(api)
            .map(|o| (o.clone(), OwnerSource::Api))
            .or_else(|| {
                d.configured
                    .get(api)
                    .map(|o| (o.clone(), OwnerSource::Config))
            })
    }

    pub fn owner_of(&self, api: &str) -> Option<ApiOwner> {
        self.lookup(api).map(|(o, _)| o)
    }

    /// Every API with an owner (configured or assigned), sorted.
    pub fn owned_apis(&self) -> Vec<String> {
        let Ok(d) = self.directory.read() else {
            return Vec::new();
        };
        let mut apis: Vec<String> = d
            .configured
            .keys()
            .chain(d.assigned.keys())
            .cloned()
            .collect();
        apis.sort();
        apis.dedup();
        apis
    }

    /// The alert as it goes out, with its API's current owner (webhook URL
    /// redacted: alerts reach every reader and webhook).
    pub fn stamp(&self, alert: &Alert) -> OwnedAlert {
        stamp_with(alert, self.owner_of(&alert.api).as_ref())
    }

    /// Change the stored settings of `api` (created when absent) and store
    /// them, durable on return; every writer of API settings goes through here.
    pub fn update_settings(
        &self,
        store: &dyn Store,
        api: &str,
        change: impl FnOnce(&mut ApiSettings),
    ) -> Result<ApiSettings, StoreError> {
        let _turn = self
            .settings_writes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut settings = store.api_settings(api)?.unwrap_or_else(|| ApiSettings {
            api: api.to_string(),
            ..ApiSettings::default()
        });
        change(&mut settings);
        store.put_api_settings(&settings)?;
        Ok(settings)
    }

    /// Persist `owner` for `api` (durable on return), then use it.
    pub fn assign(&self, store: &dyn Store, api: &str, owner: ApiOwner) -> Result<(), StoreError> {
        let stored = owner.clone();
        self.update_settings(store, api, |s| s.owner = Some(stored))?;
        if let Ok(mut d) = self.directory.write() {
            d.assigned.insert(api.to_string(), owner);
        }
        Ok(())
    }

    /// Forget the owner set through the API (the config default, if any,
    /// applies again); `true` when there was one.
    pub fn unassign(&self, store: &dyn Store, api: &str) -> Result<bool, StoreError> {
        if store.api_settings(api)?.is_none_or(|s| s.owner.is_none()) {
            if let Ok(mut d) = self.directory.write() {
                d.assigned.remove(api);
            }
            return Ok(false);
        }
        let mut existed = false;
        self.update_settings(store, api, |s| existed = s.owner.take().is_some())?;
        if let Ok(mut d) = self.directory.write() {
            d.assigned.remove(api);
        }
        Ok(existed)
    }
}

/// `alert` as it goes out with `owner` (redacted).
pub fn stamp_with(alert: &Alert, owner: Option<&ApiOwner>) -> OwnedAlert {
    OwnedAlert {
        alert: alert.clone(),
        owner: owner.map(ApiOwner::redacted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiwarden_store::MemoryStore;

    fn owner(team: &str) -> ApiOwner {
        ApiOwner {
            team: team.into(),
            ..ApiOwner::default()
        }
    }

    fn configured(api: &str, team: &str) -> OwnerConfig {
        OwnerConfig {
            api: api.into(),
            team: team.into(),
            contact: None,
            escalation_webhook: None,
            notes: None,
        }
    }

    #[test]
    fn assigned_owner_wins_over_config_and_survives_reload() {
        let store = MemoryStore::new();
        let owners = Owners::from_store(&store).expect("load");
        owners.set_configured(&[configured("payments", "config-team")]);
        assert_eq!(
            owners.lookup("payments"),
            Some((owner("config-team"), OwnerSource::Config))
        );
        owners
            .assign(&store, "payments", owner("api-team"))
            .expect("assign");
        assert_eq!(
            owners.lookup("payments"),
            Some((owner("api-team"), OwnerSource::Api))
        );

        let reloaded = Owners::from_store(&store).expect("reload");
        reloaded.set_configured(&[configured("payments", "config-team")]);
        assert_eq!(reloaded.owner_of("payments"), Some(owner("api-team")));

        assert!(reloaded.unassign(&store, "payments").expect("unassign"));
        assert!(!reloaded.unassign(&store, "payments").expect("again"));
        assert_eq!(reloaded.owner_of("payments"), Some(owner("config-team")));
        assert_eq!(reloaded.owner_of("search"), None);
    }

    #[test]
    fn assigning_keeps_the_apis_thresholds() {
        let store = MemoryStore::new();
        let mut s = ApiSettings {
            api: "shop".into(),
            ..ApiSettings::default()
        };
        s.thresholds.insert("request".into(), 0.7);
        store.put_api_settings(&s).expect("put");
        let owners = Owners::default();
        owners.assign(&store, "shop", owner("t")).expect("assign");
        let stored = store.api_settings("shop").expect("get").expect("some");
        assert_eq!(stored.thresholds.get("request"), Some(&0.7));
        assert_eq!(stored.owner, Some(owner("t")));
    }
}
