//! API keys with roles, checked in constant time.
//!
//! Keys are kept only as SHA-256 digests; a presented key is hashed and
//! compared against every known digest with `subtle`, without an early exit,
//! so timing says nothing about which key (or how much of one) matched.

use crate::config::{Config, ConfigError, Role};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::marker::PhantomData;
use subtle::ConstantTimeEq;

struct KnownKey {
    name: String,
    digest: [u8; 32],
    roles: BTreeSet<Role>,
}

/// Who made a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
}

#[derive(Default)]
pub struct KeyRing {
    keys: Vec<KnownKey>,
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl KeyRing {
    /// The keys of the config; `key_env` variables are read through `env`.
    pub fn from_config(
        cfg: &Config,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut ring = KeyRing::default();
        for k in &cfg.keys {
            let secret = match (&k.key, &k.key_env) {
                (Some(key), _) => key.clone(),
                (None, Some(var)) => env(var).filter(|s| !s.is_empty()).ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "key `{}`: environment variable {var} is not set",
                        k.name
                    ))
                })?,
                (None, None) => {
                    return Err(ConfigError::Invalid(format!(
                        "key `{}` has neither `key` nor `key_env`",
                        k.name
                    )))
                }
            };
            ring.add(&k.name, &secret, k.roles.iter().copied());
        }
        Ok(ring)
    }

    pub fn add(&mut self, name: &str, secret: &str, roles: impl IntoIterator<Item = Role>) {
        self.keys.push(KnownKey {
            name: name.to_string(),
            digest: digest(secret),
            roles: roles.into_iter().collect(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key's holder, if the presented key is known.
    fn lookup(&self, presented: &str) -> Option<&KnownKey> {
        let d = digest(presented);
        let mut found = None;
        for k in &self.keys {
            if bool::from(k.digest.ct_eq(&d)) {
                found = Some(k);
            }
        }
        found
    }

    /// 401 for a missing or unknown key, 403 for a key without `role`.
    pub fn authorize(&self, header: Option<&str>, role: Role) -> Result<Caller, ApiError> {
        let presented = header
            .and_then(|h| {
                let (scheme, rest) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|k| !k.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let key = self.lookup(presented).ok_or(ApiError::Unauthorized)?;
        if key.roles.contains(&role) || key.roles.contains(&Role::Admin) {
            Ok(Caller {
                name: key.name.clone(),
            })
        } else {
            Err(ApiError::Forbidden(role))
        }
    }
}

/// A role a route needs, as a type (see [`Authed`]).
pub trait NeedsRole {
    const ROLE: Role;
}

pub struct IngestRole;
pub struct ReadRole;
pub struct AdminRole;

impl NeedsRole for IngestRole {
    const ROLE: Role = Role::Ingest;
}
impl NeedsRole for ReadRole {
    const ROLE: Role = Role::Read;
}
impl NeedsRole for AdminRole {
    const ROLE: Role = Role::Admin;
}

/// Extractor: the request carries a key with role `R` (401 / 403 otherwise).
/// Put it first in a handler's arguments so auth is checked before the body is read.
pub struct Authed<R: NeedsRole>(pub Caller, pub PhantomData<R>);

impl<R: NeedsRole + Send + Sync> FromRequestParts<AppState> for Authed<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let caller = state.keys.authorize(header, R::ROLE)?;
        Ok(Authed(caller, PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        let mut r = KeyRing::default();
        r.add("gw", "ingest-key", [Role::Ingest]);
        r.add("ops", "admin-key", [Role::Admin]);
        r
    }

    #[test]
    fn roles_and_errors() {
        let r = ring();
        assert!(r.authorize(Some("Bearer ingest-key"), Role::Ingest).is_ok());
        assert!(matches!(
            r.authorize(Some("Bearer ingest-key"), Role::Read),
            Err(ApiError::Forbidden(Role::Read))
        ));
        assert!(r.authorize(Some("bearer admin-key"), Role::Read).is_ok());
        assert!(matches!(
            r.authorize(None, Role::Read),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(
            r.authorize(Some("Bearer nope"), Role::Read),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(
            r.authorize(Some("Basic admin-key"), Role::Read),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(
            r.authorize(Some("Bearer "), Role::Read),
            Err(ApiError::Unauthorized)
        ));
    }
}
