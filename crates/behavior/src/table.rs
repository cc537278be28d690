//! Entity-keyed tables: one map per entity kind, looked up without allocating.

use apiwarden_alert::EntityKind;
use std::net::IpAddr;

/// An entity's key as a record carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntityKey<'a> {
    Ip(IpAddr),
    Name(&'a str),
}

impl EntityKey<'_> {
    pub fn value(&self) -> String {
        match self {
            EntityKey::Ip(ip) => ip.to_string(),
            EntityKey::Name(n) => (*n).to_string(),
        }
    }
}

/// The entities of one record, API-wide first (its 5xx ratio normalizes the others).
pub(crate) fn record_entities<'a>(
    obs: &'a crate::Observation<'a>,
) -> [(EntityKind, Option<EntityKey<'a>>); 5] {
    let rec = obs.rec;
    [
        (EntityKind::Api, Some(EntityKey::Name(obs.api))),
        (EntityKind::Ip, Some(EntityKey::Ip(rec.client_ip))),
        (EntityKind::User, rec.user.as_deref().map(EntityKey::Name)),
        (
            EntityKind::ApiKey,
            rec.api_key.as_ref().map(|k| EntityKey::Name(k.as_str())),
        ),
        (
            EntityKind::Token,
            rec.token.as_ref().map(|t| EntityKey::Name(t.as_str())),
        ),
    ]
}

/// hashbrown's map for its `entry_ref`: one hash and one probe per entity of every
/// record, where std's map needs a lookup, then another to insert or fetch.
///
/// The keys are what clients send (addresses, user names, keys, tokens): the hash is
/// seeded per process, so nobody can pick keys that collide and turn every lookup into a
/// walk of the table.
type Map<K, V> = hashbrown::HashMap<K, V, foldhash::fast::RandomState>;

/// One map per entity kind. Iteration order never reaches an output: eviction sorts.
///
/// Entries are boxed: a map's slots run from 1x to ~2.3x its length (power-of-two growth
/// at 7/8 load), and a slot of a few words wastes far less than a slot holding a whole
/// window of several hundred bytes.
#[derive(Debug, Clone)]
pub(crate) struct KindTables<V> {
    ips: Map<IpAddr, Slot<V>>,
    users: Map<Box<str>, Slot<V>>,
    api_keys: Map<Box<str>, Slot<V>>,
    tokens: Map<Box<str>, Slot<V>>,
    apis: Map<Box<str>, Slot<V>>,
}

/// An entry and the latest traffic time it was looked up at. The idle sweep reads the
/// stamp in the table itself: reading it from every boxed entry was a cache miss per
/// entity per sweep, a twentieth of the engine's time on a busy day.
#[derive(Debug, Clone)]
struct Slot<V> {
    seen_ms: i64,
    value: Box<V>,
}

impl<V> Slot<V> {
    fn new(seen_ms: i64, value: V) -> Self {
        Slot {
            seen_ms,
            value: Box::new(value),
        }
    }

    fn seen(&mut self, ts_ms: i64) -> &mut V {
        self.seen_ms = self.seen_ms.max(ts_ms);
        &mut self.value
    }
}

impl<V> Default for KindTables<V> {
    fn default() -> Self {
        KindTables {
            ips: Map::default(),
            users: Map::default(),
            api_keys: Map::default(),
            tokens: Map::default(),
            apis: Map::default(),
        }
    }
}

pub(crate) const KINDS: [EntityKind; 5] = [
    EntityKind::Api,
    EntityKind::Ip,
    EntityKind::User,
    EntityKind::ApiKey,
    EntityKind::Token,
];

impl<V> KindTables<V> {
    fn names(&self, kind: EntityKind) -> &Map<Box<str>, Slot<V>> {
        match kind {
            EntityKind::User => &self.users,
            EntityKind::ApiKey => &self.api_keys,
            EntityKind::Token => &self.tokens,
            EntityKind::Api | EntityKind::Ip => &self.apis,
        }
    }

    fn names_mut(&mut self, kind: EntityKind) -> &mut Map<Box<str>, Slot<V>> {
        match kind {
            EntityKind::User => &mut self.users,
            EntityKind::ApiKey => &mut self.api_keys,
            EntityKind::Token => &mut self.tokens,
            EntityKind::Api | EntityKind::Ip => &mut self.apis,
        }
    }

    /// The entry, created by `make` when absent, seen at traffic time `ts_ms`; `true` when
    /// it was just created.
    pub fn get_or_insert_with(
        &mut self,
        kind: EntityKind,
        key: EntityKey<'_>,
        ts_ms: i64,
        make: impl FnOnce() -> V,
    ) -> (&mut V, bool) {
        match key {
            EntityKey::Ip(ip) if kind == EntityKind::Ip => {
                let mut created = false;
                let slot = self.ips.entry(ip).or_insert_with(|| {
                    created = true;
                    Slot::new(ts_ms, make())
                });
                (slot.seen(ts_ms), created)
            }
            EntityKey::Ip(ip) => self.get_or_insert_name(kind, &ip.to_string(), ts_ms, make),
            EntityKey::Name(n) => self.get_or_insert_name(kind, n, ts_ms, make),
        }
    }

    fn get_or_insert_name(
        &mut self,
        kind: EntityKind,
        name: &str,
        ts_ms: i64,
        make: impl FnOnce() -> V,
    ) -> (&mut V, bool) {
        let map = self.names_mut(kind);
        // The key is allocated only on a miss.
        let mut created = false;
        let slot = map.entry_ref(name).or_insert_with(|| {
            created = true;
            Slot::new(ts_ms, make())
        });
        (slot.seen(ts_ms), created)
    }

    pub fn get(&self, kind: EntityKind, value: &str) -> Option<&V> {
        if kind == EntityKind::Ip {
            let ip: IpAddr = value.parse().ok()?;
            return self.ips.get(&ip).map(|s| &*s.value);
        }
        self.names(kind).get(value).map(|s| &*s.value)
    }

    pub fn len(&self, kind: EntityKind) -> usize {
        match kind {
            EntityKind::Ip => self.ips.len(),
            k => self.names(k).len(),
        }
    }

    pub fn total(&self) -> usize {
        KINDS.iter().map(|k| self.len(*k)).sum()
    }

    /// Keeps the entries for which `keep(last seen at, entry)` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(i64, &V) -> bool) {
        self.ips.retain(|_, s| keep(s.seen_ms, &s.value));
        self.users.retain(|_, s| keep(s.seen_ms, &s.value));
        self.api_keys.retain(|_, s| keep(s.seen_ms, &s.value));
        self.tokens.retain(|_, s| keep(s.seen_ms, &s.value));
        self.apis.retain(|_, s| keep(s.seen_ms, &s.value));
        self.shrink_sparse();
    }

    /// A map never gives back what a past peak made it grow to: after a burst of
    /// entities (a scan from many IPs, a busy hour) the slots would stay held for good.
    /// Shrinking once the map is under a quarter full keeps memory with the live entities,
    /// and the quarter keeps a map that hovers around one size from being rebuilt each sweep.
    fn shrink_sparse(&mut self) {
        fn shrink<K: std::hash::Hash + Eq, V>(map: &mut Map<K, V>) {
            if map.capacity() > 64 && map.len() * 4 < map.capacity() {
                map.shrink_to(map.len() + map.len() / 4);
            }
        }
        shrink(&mut self.ips);
        shrink(&mut self.users);
        shrink(&mut self.api_keys);
        shrink(&mut self.tokens);
        shrink(&mut self.apis);
    }

    /// Entries of one kind as (value string, entry), sorted by value: deterministic.
    pub fn sorted(&self, kind: EntityKind) -> Vec<(String, &V)> {
        let mut out: Vec<(String, &V)> = match kind {
            EntityKind::Ip => self
                .ips
                .iter()
                .map(|(k, s)| (k.to_string(), &*s.value))
                .collect(),
            k => self
                .names(k)
                .iter()
                .map(|(k, s)| (k.to_string(), &*s.value))
                .collect(),
        };
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Keep only the `keep` entries of `kind` that rank highest by `rank(last seen at,
    /// entry)` (ties by key).
    pub fn truncate_kind<R: Ord>(
        &mut self,
        kind: EntityKind,
        keep: usize,
        rank: impl Fn(i64, &V) -> R,
    ) {
        if self.len(kind) <= keep {
            return;
        }
        match kind {
            EntityKind::Ip => {
                let mut keys: Vec<(R, IpAddr)> = self
                    .ips
                    .iter()
                    .map(|(k, s)| (rank(s.seen_ms, &s.value), *k))
                    .collect();
                keys.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                for (_, k) in keys.into_iter().skip(keep) {
                    self.ips.remove(&k);
                }
            }
            k => {
                let map = self.names_mut(k);
                let mut keys: Vec<(R, Box<str>)> = map
                    .iter()
                    .map(|(k, s)| (rank(s.seen_ms, &s.value), k.clone()))
                    .collect();
                keys.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                for (_, k) in keys.into_iter().skip(keep) {
                    map.remove(&k);
                }
            }
        }
    }
}
