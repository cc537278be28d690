//! One entity's behavior window: decayed counters, distinct sketches, geo and id-walk state.
//! O(1) per record, a few hundred bytes per entity.

use crate::features::{Feature, FeatureVector, N_FEATURES};
use crate::geo::haversine_km;
use crate::sketch::{hash_bytes, DistinctSketch};
use crate::Observation;
use apiwarden_alert::EntityKind;

const MINUTE_MS: f64 = 60_000.0;
const TAU_FAST_MS: f64 = MINUTE_MS;
const TAU_MID_MS: f64 = 10.0 * MINUTE_MS;
const TAU_SLOW_MS: f64 = 120.0 * MINUTE_MS;
const SHORT_EPOCH_MS: i64 = 600_000;
const LONG_EPOCH_MS: i64 = 3_600_000;
const TRAVEL_MIN_KM: f64 = 500.0;
const TRAVEL_MEMORY_MS: i64 = 3_600_000;
const GAP_ALPHA: f32 = 0.1;
const MIN_REQUESTS_FOR_REGULARITY: u32 = 10;

/// What one record says, hashed once and shared by all of the record's entities.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordFacts {
    pub ts_ms: i64,
    pub denied: bool,
    pub not_found: bool,
    pub client_error: bool,
    pub server_error: bool,
    pub failed_login: bool,
    pub unauthorized: bool,
    pub auth_endpoint: bool,
    pub unknown_endpoint: bool,
    pub odd_method: bool,
    pub bytes_ratio: f32,
    pub bytes: f32,
    pub latency_ratio: f32,
    pub endpoint_hash: u64,
    pub object_hash: Option<u64>,
    pub object_number: Option<u64>,
    pub user_hash: Option<u64>,
    pub ip_hash: u64,
    /// The client's network (IPv4 /24, IPv6 /48), hashed.
    pub network_hash: u64,
    pub country_hash: Option<u64>,
    pub ua_hash: Option<u64>,
    /// The user agent without its version numbers: the device and client, which an app or
    /// browser update does not change.
    pub device_hash: Option<u64>,
    pub geo: Option<(f32, f32)>,
}

fn is_common_method(m: &str) -> bool {
    matches!(
        m,
        "GET"
            | "POST"
            | "PUT"
            | "PATCH"
            | "DELETE"
            | "HEAD"
            | "get"
            | "post"
            | "put"
            | "patch"
            | "delete"
            | "head"
    )
}

/// File types of a web front end's static assets: scripts, styles, images, fonts.
const STATIC_ASSET_EXTENSIONS: [&str; 15] = [
    "js", "mjs", "css", "map", "png", "jpg", "jpeg", "gif", "svg", "ico", "webp", "woff", "woff2",
    "ttf", "eot",
];

/// A static asset: the same public file for every client, not anyone's data. A browser
/// with a cold cache pulls megabytes of them in seconds, which says nothing about
/// exfiltration.
///
/// Byte searches (the delimiters are ASCII): it runs on every record, and `str::split`
/// with a set of chars costs several times as much.
fn is_static_asset(path: &str) -> bool {
    let b = path.as_bytes();
    let end = b
        .iter()
        .position(|&c| c == b'?' || c == b'#')
        .unwrap_or(b.len());
    let path = b.get(..end).unwrap_or(b);
    let file = match path.iter().rposition(|&c| c == b'/') {
        Some(slash) => path.get(slash + 1..).unwrap_or(&[]),
        None => path,
    };
    match file.iter().rposition(|&c| c == b'.') {
        Some(dot) if dot > 0 => {
            let ext = file.get(dot + 1..).unwrap_or(&[]);
            STATIC_ASSET_EXTENSIONS
                .iter()
                .any(|e| e.as_bytes().eq_ignore_ascii_case(ext))
        }
        _ => false,
    }
}

/// FNV-1a over the user agent less its version numbers: a run of digits right after a '/'
/// ("ShopApp/5.0.0", "Chrome/131.0.0.0") or a dotted one after a space ("iOS 18.1",
/// "NT 10.0"). "ShopApp/5.0.0 (iPhone16,1; iOS 18.1)" and "ShopApp/4.12.1 (iPhone16,1;
/// iOS 17.6)" are one phone after updates; the model ("iPhone15,2", "Pixel 8", "SM-G991B")
/// stays. No allocation: it runs on every record.
fn device_hash(ua: &str) -> u64 {
    let b = ua.as_bytes();
    let is_version = |c: u8| c.is_ascii_digit() || c == b'.' || c == b'_';
    let mut h = 0xCBF2_9CE4_8422_2325u64;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let prev = if i == 0 {
            0
        } else {
            b.get(i - 1).copied().unwrap_or(0)
        };
        if c.is_ascii_digit() && (prev == b'/' || prev == b' ') {
            let end = b
                .get(i..)
                .and_then(|rest| rest.iter().position(|c| !is_version(*c)))
                .map_or(b.len(), |n| i + n);
            let dotted = b.get(i..end).is_some_and(|run| run.contains(&b'.'));
            if prev == b'/' || dotted {
                i = end;
                continue;
            }
        }
        h = (h ^ u64::from(c)).wrapping_mul(0x0000_0100_0000_01B3);
        i += 1;
    }
    crate::sketch::mix64(h)
}

impl RecordFacts {
    /// Which of the window's endpoint-rate buckets this record's endpoint falls in.
    pub fn endpoint_bucket(&self) -> usize {
        ((self.endpoint_hash >> 32) % ENDPOINT_BUCKETS as u64) as usize
    }

    /// The record's network as one bit of a [`NETWORK_BITS`]-bit set: (word, bit).
    pub fn network_bit(&self) -> (usize, u64) {
        let i = (self.network_hash % NETWORK_BITS as u64) as usize;
        (i / 64, 1u64 << (i % 64))
    }

    /// The record's device (user agent less versions) as one bit of a 64-bit set (0 when
    /// it has none).
    pub fn agent_bit(&self) -> u64 {
        self.device_hash.map(|h| 1u64 << (h % 64)).unwrap_or(0)
    }

    /// The record's country as one bit of a 64-bit set (0 when it has none).
    pub fn country_bit(&self) -> u64 {
        self.country_hash.map(|h| 1u64 << (h % 64)).unwrap_or(0)
    }

    pub fn of(obs: &Observation<'_>) -> RecordFacts {
        let rec = obs.rec;
        let status = rec.status;
        let auth_refused = status == 401 || status == 403;
        let bytes_base = if obs.response_bytes_baseline > 0.0 {
            obs.response_bytes_baseline
        } else {
            1.0
        };
        let latency_base = if obs.latency_baseline_ms > 0.0 {
            obs.latency_baseline_ms
        } else {
            1.0
        };
        let (ip_hash, network_hash) = match rec.client_ip {
            std::net::IpAddr::V4(v4) => {
                let o = v4.octets();
                (hash_bytes(&o), hash_bytes(&o[..3]))
            }
            std::net::IpAddr::V6(v6) => {
                let o = v6.octets();
                (hash_bytes(&o), hash_bytes(&o[..6]))
            }
        };
        RecordFacts {
            ts_ms: rec.ts_ms,
            denied: auth_refused && !obs.is_auth,
            not_found: status == 404,
            client_error: (400..500).contains(&status),
            server_error: status >= 500,
            failed_login: auth_refused && obs.is_auth,
            unauthorized: status == 401 || (auth_refused && obs.is_auth),
            auth_endpoint: obs.is_auth,
            unknown_endpoint: !obs.endpoint_known,
            odd_method: !is_common_method(&rec.method),
            bytes_ratio: ((rec.response_bytes as f64) / bytes_base).min(1e6) as f32,
            // Data volume counts data: static assets and public content (a catalog page)
            // move bytes but no one's data.
            bytes: if obs.public || is_static_asset(&rec.path) {
                0.0
            } else {
                rec.response_bytes as f32
            },
            latency_ratio: (rec.latency_ms.max(0.0) / latency_base).min(1e6) as f32,
            endpoint_hash: u64::from(obs.endpoint).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5555,
            object_hash: obs.object_id.map(|o| hash_bytes(o.as_bytes())),
            object_number: obs.object_id.and_then(|o| o.parse::<u64>().ok()),
            user_hash: rec.user.as_deref().map(|u| hash_bytes(u.as_bytes())),
            ip_hash,
            network_hash,
            country_hash: rec.country.as_deref().map(|c| hash_bytes(c.as_bytes())),
            ua_hash: rec.user_agent.as_deref().map(|u| hash_bytes(u.as_bytes())),
            device_hash: rec.user_agent.as_deref().map(device_hash),
            geo: rec
                .geo
                .filter(|g| g.lat.is_finite() && g.lon.is_finite())
                .map(|g| (g.lat as f32, g.lon as f32)),
        }
    }
}

// Decayed counters, grouped by time constant (indices into the arrays below).
const M_REQ: usize = 0;
const M_DENIED: usize = 1;
const M_NOT_FOUND: usize = 2;
const M_CLIENT_ERR: usize = 3;
const M_SERVER_ERR: usize = 4;
const M_BYTES: usize = 5;
const M_FAILED: usize = 6;
const M_UNKNOWN: usize = 7;
const M_ODD: usize = 8;
const M_LATENCY: usize = 9;
const M_WALK: usize = 10;
const M_BYTES_ABS: usize = 11;
const N_MID: usize = 12;
const S_REQ: usize = 0;
const S_DENIED: usize = 1;
const S_BYTES_ABS: usize = 2;
const S_FAILED: usize = 3;
const S_UNKNOWN: usize = 4;
const S_WALK: usize = 5;
/// Bytes pulled from networks the credential never used in training.
const S_FOREIGN_BYTES: usize = 6;
const N_SLOW: usize = 7;
/// Per-endpoint rates share this many buckets. A browsing user touches a dozen endpoints
/// (every static bundle is one) in ten minutes; with 8 buckets their collisions summed into
/// a flood-sized rate on one bucket. 16 keep a human's pages apart for 32 more bytes.
pub(crate) const ENDPOINT_BUCKETS: usize = 16;

/// Share of its 10-minute average pace the last minute's failures must keep up.
const FAILURE_PACE_SHARE: f32 = 0.5;

/// An endpoint excess that stops for this long is over.
const HAMMER_GAP_MS: i64 = 5 * 60_000;

/// A pull that keeps the 2-hour volume over its limit and stops for this long is over: a
/// slow drain pages every few minutes.
const DRAIN_GAP_MS: i64 = 15 * 60_000;

/// Networks a credential was used from in training are kept as a set of this many bits
/// (a few dozen networks per integration at most: collisions stay rare).
pub(crate) const NETWORK_BITS: usize = 256;

/// Scoring state the tracker caches per entity (unused while training).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ScoreCache {
    /// Index of the entity's own training baseline in the kind model, `u32::MAX` = none.
    pub own_baseline: u32,
    /// Index of the credential's light training record (`KindModel::light`), `u32::MAX` = none.
    pub light_baseline: u32,
    pub forest: f32,
    pub archetype: f32,
    pub archetype_index: u8,
    pub scored_at_request: u32,
    pub scored: bool,
}

impl Default for ScoreCache {
    fn default() -> Self {
        ScoreCache {
            own_baseline: u32::MAX,
            light_baseline: u32::MAX,
            forest: 0.0,
            archetype: 0.0,
            archetype_index: u8::MAX,
            scored_at_request: 0,
            scored: false,
        }
    }
}

/// The behavior window of one entity.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityWindow {
    pub(crate) first_seen_ms: i64,
    pub(crate) last_seen_ms: i64,
    pub(crate) requests: u32,
    short_epoch: u32,
    long_epoch: u32,
    fast_requests: f32,
    /// Failed logins, 1 min decay: whether the failures the 10-minute count remembers are
    /// still coming.
    fast_failed: f32,
    mid: [f32; N_MID],
    endpoint_rates: [f32; ENDPOINT_BUCKETS],
    slow: [f32; N_SLOW],
    endpoints: DistinctSketch<2>,
    objects: DistinctSketch<4>,
    failed_users: DistinctSketch<4>,
    ips: DistinctSketch<1>,
    countries: DistinctSketch<1>,
    user_agents: DistinctSketch<1>,
    last_object: Option<u64>,
    /// NaN latitude: none yet (an `Option` would cost the window 4 bytes).
    last_geo: (f32, f32),
    last_geo_ms: i64,
    travel_kmh: f32,
    travel_ms: i64,
    gap_mean_s: f32,
    gap_sq_mean_s: f32,
    pub(crate) cache: ScoreCache,
    /// Country of the window's first authenticated use: where the owner was before any jump.
    /// 0: none yet (a country whose hash is 0 simply never becomes a home).
    pub(crate) home_country: u64,
    /// Countries (one bit per country hash mod 64) the credential was used from in other
    /// APIs' training, when this API's training never saw it; 0 = unknown.
    pub(crate) elsewhere_countries: u64,
    /// The last record stepped a sequential id walk.
    pub(crate) walked: bool,
    /// Since when one of the entity's endpoints has been busier than its own limit, and
    /// when that was last seen.
    hammering: Spell,
    /// The same for the 2-hour byte volume over its limit while more is pulled.
    draining: Spell,
}

/// A condition an entity's records show now and then (an endpoint over its limit, the
/// 2-hour volume over its limit): since when it has held, and when it was last seen.
/// Records that do not show it interleave; only a quiet spell longer than the gap ends it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spell {
    /// `i64::MIN`: not on now.
    since_ms: i64,
    last_ms: i64,
}

impl Spell {
    const OFF: Spell = Spell {
        since_ms: i64::MIN,
        last_ms: i64::MIN,
    };

    /// Notes whether the record at `ts_ms` shows the condition; returns for how long it
    /// has held (0 when it is not on now).
    fn track(&mut self, on: bool, ts_ms: i64, gap_ms: i64) -> i64 {
        let stopped = ts_ms.saturating_sub(self.last_ms) > gap_ms;
        if !on {
            if stopped {
                self.since_ms = i64::MIN;
            }
            return 0;
        }
        if self.since_ms == i64::MIN || stopped {
            self.since_ms = ts_ms;
        }
        self.last_ms = self.last_ms.max(ts_ms);
        ts_ms.saturating_sub(self.since_ms)
    }

    /// For how long it has held as of `ts_ms` (0 when not on).
    fn held_for(&self, ts_ms: i64) -> i64 {
        if self.since_ms == i64::MIN {
            0
        } else {
            ts_ms.saturating_sub(self.since_ms)
        }
    }
}

fn epoch(ts_ms: i64, len_ms: i64) -> u32 {
    u32::try_from(ts_ms.max(0) / len_ms).unwrap_or(u32::MAX)
}

fn decay(dt_ms: f64, tau_ms: f64) -> f32 {
    if dt_ms <= 0.0 {
        1.0
    } else {
        (-dt_ms / tau_ms).exp() as f32
    }
}

impl EntityWindow {
    pub(crate) fn new(ts_ms: i64) -> EntityWindow {
        EntityWindow {
            first_seen_ms: ts_ms,
            last_seen_ms: ts_ms,
            requests: 0,
            short_epoch: epoch(ts_ms, SHORT_EPOCH_MS),
            long_epoch: epoch(ts_ms, LONG_EPOCH_MS),
            fast_requests: 0.0,
            fast_failed: 0.0,
            mid: [0.0; N_MID],
            endpoint_rates: [0.0; ENDPOINT_BUCKETS],
            slow: [0.0; N_SLOW],
            endpoints: DistinctSketch::default(),
            objects: DistinctSketch::default(),
            failed_users: DistinctSketch::default(),
            ips: DistinctSketch::default(),
            countries: DistinctSketch::default(),
            user_agents: DistinctSketch::default(),
            last_object: None,
            last_geo: (f32::NAN, f32::NAN),
            last_geo_ms: ts_ms,
            travel_kmh: 0.0,
            travel_ms: i64::MIN / 2,
            gap_mean_s: 0.0,
            gap_sq_mean_s: 0.0,
            cache: ScoreCache::default(),
            home_country: 0,
            elsewhere_countries: 0,
            walked: false,
            hammering: Spell::OFF,
            draining: Spell::OFF,
        }
    }

    pub fn requests(&self) -> u64 {
        u64::from(self.requests)
    }

    /// Fold one record in. Records slightly out of order are taken as simultaneous.
    pub(crate) fn update(&mut self, f: &RecordFacts, kind: EntityKind) {
        let now = f.ts_ms.max(self.last_seen_ms);
        let dt = (now - self.last_seen_ms) as f64;
        if self.requests > 0 {
            let gap_s = (dt / 1000.0) as f32;
            if self.requests == 1 {
                self.gap_mean_s = gap_s;
                self.gap_sq_mean_s = gap_s * gap_s;
            } else {
                self.gap_mean_s += GAP_ALPHA * (gap_s - self.gap_mean_s);
                self.gap_sq_mean_s += GAP_ALPHA * (gap_s * gap_s - self.gap_sq_mean_s);
            }
        }
        let (df, dm, ds) = (
            decay(dt, TAU_FAST_MS),
            decay(dt, TAU_MID_MS),
            decay(dt, TAU_SLOW_MS),
        );
        self.fast_requests = self.fast_requests * df + 1.0;
        self.fast_failed = self.fast_failed * df + if f.failed_login { 1.0 } else { 0.0 };
        for v in &mut self.mid {
            *v *= dm;
        }
        for v in &mut self.endpoint_rates {
            *v *= dm;
        }
        if let Some(v) = self.endpoint_rates.get_mut(f.endpoint_bucket()) {
            *v += 1.0;
        }
        for v in &mut self.slow {
            *v *= ds;
        }
        let one = |b: bool| if b { 1.0f32 } else { 0.0 };
        self.mid[M_REQ] += 1.0;
        self.mid[M_DENIED] += one(f.denied);
        self.mid[M_NOT_FOUND] += one(f.not_found);
        self.mid[M_CLIENT_ERR] += one(f.client_error);
        self.mid[M_SERVER_ERR] += one(f.server_error);
        self.mid[M_BYTES] += f.bytes_ratio;
        self.mid[M_FAILED] += one(f.failed_login);
        self.mid[M_UNKNOWN] += one(f.unknown_endpoint);
        self.mid[M_ODD] += one(f.odd_method);
        self.mid[M_LATENCY] += f.latency_ratio;
        self.mid[M_BYTES_ABS] += f.bytes;
        self.slow[S_BYTES_ABS] += f.bytes;
        self.slow[S_REQ] += 1.0;
        self.slow[S_DENIED] += one(f.denied);
        self.slow[S_FAILED] += one(f.failed_login);
        self.slow[S_UNKNOWN] += one(f.unknown_endpoint);

        let short = epoch(now, SHORT_EPOCH_MS);
        let long = epoch(now, LONG_EPOCH_MS);
        let short_steps = u64::from(short.saturating_sub(self.short_epoch));
        let long_steps = u64::from(long.saturating_sub(self.long_epoch));
        self.short_epoch = self.short_epoch.max(short);
        self.long_epoch = self.long_epoch.max(long);
        self.endpoints.rotate(short_steps);
        self.objects.rotate(short_steps);
        self.failed_users.rotate(short_steps);
        self.ips.rotate(long_steps);
        self.countries.rotate(long_steps);
        self.user_agents.rotate(long_steps);

        self.endpoints.insert(f.endpoint_hash);
        if let Some(h) = f.object_hash {
            self.objects.insert(h);
        }
        if f.failed_login {
            if let Some(u) = f.user_hash {
                self.failed_users.insert(u);
            }
        }
        let mut walked = false;
        if let Some(n) = f.object_number {
            if let Some(prev) = self.last_object {
                let step = n.abs_diff(prev);
                walked = (1..=3).contains(&step);
                if walked {
                    self.mid[M_WALK] += 1.0;
                    self.slow[S_WALK] += 1.0;
                }
            }
            self.last_object = Some(n);
        }
        // A refused credential (401) is only a name someone typed, and a login is not yet a
        // use of the account (a stuffer's lucky hit is the stuffing alert's business): only
        // authenticated use moves a credential's places and devices.
        if kind != EntityKind::Api && !f.unauthorized && !f.auth_endpoint {
            self.ips.insert(f.ip_hash);
            if let Some(c) = f.country_hash {
                self.countries.insert(c);
                if self.home_country == 0 {
                    self.home_country = c;
                }
            }
            if let Some(u) = f.ua_hash {
                self.user_agents.insert(u);
            }
            if let Some((lat, lon)) = f.geo {
                let (plat, plon) = self.last_geo;
                if !plat.is_nan() {
                    let km = haversine_km(
                        f64::from(plat),
                        f64::from(plon),
                        f64::from(lat),
                        f64::from(lon),
                    );
                    if km > TRAVEL_MIN_KM {
                        // A jump within the same second is at least a jump within one second.
                        let hours = ((now - self.last_geo_ms).max(1000) as f64) / 3_600_000.0;
                        let speed = (km / hours).min(1e6) as f32;
                        if speed > self.travel_kmh || now - self.travel_ms > TRAVEL_MEMORY_MS {
                            self.travel_kmh = speed;
                            self.travel_ms = now;
                        }
                    }
                }
                self.last_geo = (lat, lon);
                self.last_geo_ms = now;
            }
        }
        self.walked = walked;
        self.requests = self.requests.saturating_add(1);
        self.last_seen_ms = now;
    }

    /// Notes whether the record at `ts_ms` found an endpoint over its limit; returns for how
    /// long the excess has lasted (0 when it is not on now). Records of the entity's other
    /// endpoints interleave with the hammered one's: only a quiet spell of `HAMMER_GAP_MS`
    /// without any excess ends it.
    pub(crate) fn track_hammering(&mut self, over: bool, ts_ms: i64) -> i64 {
        self.hammering.track(over, ts_ms, HAMMER_GAP_MS)
    }

    /// Notes whether the record at `ts_ms` pulled more while the 2-hour byte volume was over
    /// its limit; returns for how long the entity has kept pulling over it (0 when not now).
    pub(crate) fn track_draining(&mut self, over: bool, ts_ms: i64) -> i64 {
        self.draining.track(over, ts_ms, DRAIN_GAP_MS)
    }

    /// Counts the last record's bytes as pulled by a stranger: from a network the
    /// credential's own baseline never saw it use. Call after [`Self::update`].
    pub(crate) fn note_foreign_pull(&mut self, f: &RecordFacts) {
        self.slow[S_FOREIGN_BYTES] += f.bytes;
    }

    /// The 2-hour byte volume pulled from networks the credential never used in training.
    pub(crate) fn foreign_bytes_2h(&self) -> f64 {
        f64::from(self.slow[S_FOREIGN_BYTES])
    }

    /// For how long the entity has kept pulling with its 2-hour volume over its limit, as
    /// of `ts_ms` (0 when not now).
    pub(crate) fn draining_for(&self, ts_ms: i64) -> i64 {
        self.draining.held_for(ts_ms)
    }

    /// Whether failed logins still arrive at half the pace the 10-minute count averages or
    /// more: an attack going on, not the fading memory of one that stopped.
    pub(crate) fn failures_current(&self) -> bool {
        let per_minute_10m = self.mid[M_FAILED] * (TAU_FAST_MS / TAU_MID_MS) as f32;
        self.fast_failed >= FAILURE_PACE_SHARE * per_minute_10m
    }

    /// Requests (10 min decay) to the endpoint bucket of `f`.
    pub(crate) fn endpoint_rate(&self, f: &RecordFacts) -> f64 {
        self.endpoint_rates
            .get(f.endpoint_bucket())
            .map(|v| f64::from(*v))
            .unwrap_or(0.0)
    }

    /// The 5xx share of the window (used API-wide to normalize entities' 5xx ratios).
    pub(crate) fn server_error_ratio(&self) -> f64 {
        f64::from(self.mid[M_SERVER_ERR]) / f64::from(self.mid[M_REQ]).max(1.0)
    }

    /// The feature vector as of the last update. `api_server_error_ratio`: the API-wide
    /// 5xx share at the same moment.
    pub(crate) fn features(&self, api_server_error_ratio: f64) -> FeatureVector {
        let mut v = [0.0; N_FEATURES];
        let mid = |i: usize| f64::from(self.mid[i]);
        let slow = |i: usize| f64::from(self.slow[i]);
        let req10 = mid(M_REQ).max(1.0);
        v[Feature::Rate1m.index()] = f64::from(self.fast_requests);
        v[Feature::Rate10m.index()] = mid(M_REQ);
        v[Feature::Requests2h.index()] = slow(S_REQ);
        v[Feature::Denied10m.index()] = mid(M_DENIED);
        v[Feature::Denied2h.index()] = slow(S_DENIED);
        v[Feature::NotFound10m.index()] = mid(M_NOT_FOUND);
        v[Feature::ClientErrors10m.index()] = mid(M_CLIENT_ERR);
        v[Feature::ServerErrorExcess10m.index()] =
            (mid(M_SERVER_ERR) / req10 - api_server_error_ratio).max(0.0);
        v[Feature::DistinctEndpoints10m.index()] = self.endpoints.estimate();
        v[Feature::DistinctObjects10m.index()] = self.objects.estimate();
        v[Feature::IdWalk10m.index()] = mid(M_WALK);
        v[Feature::IdWalk2h.index()] = slow(S_WALK);
        v[Feature::ResponseBytes10m.index()] = mid(M_BYTES_ABS);
        v[Feature::ResponseBytes2h.index()] = slow(S_BYTES_ABS);
        v[Feature::ResponseBytesRatio10m.index()] = mid(M_BYTES) / req10;
        v[Feature::DistinctIps1h.index()] = self.ips.estimate();
        v[Feature::DistinctCountries1h.index()] = self.countries.estimate();
        v[Feature::DistinctUserAgents1h.index()] = self.user_agents.estimate();
        v[Feature::TravelSpeedKmh.index()] =
            if self.last_seen_ms - self.travel_ms <= TRAVEL_MEMORY_MS {
                f64::from(self.travel_kmh)
            } else {
                0.0
            };
        v[Feature::FailedUsernames10m.index()] = self.failed_users.estimate();
        v[Feature::FailedLogins10m.index()] = mid(M_FAILED);
        v[Feature::FailedLogins2h.index()] = slow(S_FAILED);
        v[Feature::UnknownEndpoints10m.index()] = mid(M_UNKNOWN);
        v[Feature::UnknownEndpoints2h.index()] = slow(S_UNKNOWN);
        v[Feature::OddMethods10m.index()] = mid(M_ODD);
        v[Feature::GapRegularity.index()] =
            if self.requests >= MIN_REQUESTS_FOR_REGULARITY && self.gap_mean_s > 0.0 {
                let mean = f64::from(self.gap_mean_s);
                let var = (f64::from(self.gap_sq_mean_s) - mean * mean).max(0.0);
                (1.0 - var.sqrt() / mean).clamp(0.0, 1.0)
            } else {
                0.0
            };
        v[Feature::LatencyRatio10m.index()] = mid(M_LATENCY) / req10;
        v[Feature::TopEndpointRate10m.index()] =
            f64::from(self.endpoint_rates.iter().fold(0.0f32, |a, b| a.max(*b)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The `str`-splitting version of [`is_static_asset`], the oracle of its test.
    fn is_static_asset_by_splitting(path: &str) -> bool {
        let path = path.split(['?', '#']).next().unwrap_or(path);
        let file = path.rsplit('/').next().unwrap_or(path);
        match file.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => STATIC_ASSET_EXTENSIONS
                .iter()
                .any(|e| e.eq_ignore_ascii_case(ext)),
            _ => false,
        }
    }

    proptest! {
        #[test]
        fn static_assets_by_bytes_agree_with_splitting(
            path in "(/[a-zA-Zé0-9._-]{0,8}){0,4}(\\.(js|JS|woff2|map|png|zip|x))?([?#][a-z=./#?]{0,8})?"
        ) {
            prop_assert_eq!(is_static_asset(&path), is_static_asset_by_splitting(&path));
        }
    }

    fn facts(ts_ms: i64) -> RecordFacts {
        RecordFacts {
            ts_ms,
            denied: false,
            not_found: false,
            client_error: false,
            server_error: false,
            failed_login: false,
            unauthorized: false,
            auth_endpoint: false,
            unknown_endpoint: false,
            odd_method: false,
            bytes_ratio: 1.0,
            bytes: 1000.0,
            latency_ratio: 1.0,
            endpoint_hash: 1,
            object_hash: None,
            object_number: None,
            user_hash: None,
            ip_hash: 7,
            network_hash: 8,
            country_hash: Some(3),
            ua_hash: Some(5),
            device_hash: Some(5),
            geo: None,
        }
    }

    fn feature(w: &EntityWindow, f: Feature) -> f64 {
        w.features(0.0)[f.index()]
    }

    #[test]
    fn static_assets_are_recognised_by_their_file_type() {
        assert!(is_static_asset("/static/app.3f9a1c2e.js"));
        assert!(is_static_asset("/assets/logo.SVG?v=3"));
        assert!(is_static_asset("/fonts/inter.woff2"));
        assert!(!is_static_asset("/v2/reports/ledger/export?format=csv"));
        assert!(!is_static_asset("/backup.zip"));
        assert!(!is_static_asset("/v1/users/42"));
        assert!(!is_static_asset("/static/.js"));
        assert!(!is_static_asset("/v1/search?q=app.js"));
    }

    #[test]
    fn an_app_update_is_the_same_device_and_another_phone_is_not() {
        let old = device_hash("ShopApp/4.12.2 (Android 13; SM-G991B)");
        assert_eq!(old, device_hash("ShopApp/5.0.0 (Android 13; SM-G991B)"));
        assert_eq!(
            device_hash("ShopApp/4.12.1 (iPhone16,1; iOS 17.6)"),
            device_hash("ShopApp/5.0.0 (iPhone16,1; iOS 18.1)")
        );
        assert_ne!(
            device_hash("ShopApp/4.12.1 (iPhone16,1; iOS 18.1)"),
            device_hash("ShopApp/4.12.1 (iPhone15,2; iOS 18.1)")
        );
        assert_ne!(old, device_hash("ShopApp/4.12.2 (Android 13; SM-G981B)"));
        assert_ne!(old, device_hash("ShopApp/4.12.2 (Android 14; Pixel 8)"));
        assert_ne!(old, device_hash("ShopApp/4.12.2 (iPhone15,2; iOS 17.6)"));
        assert_ne!(
            device_hash("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/133.0"),
            device_hash("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0")
        );
    }

    #[test]
    fn counters_track_recent_rate_and_decay() {
        let mut w = EntityWindow::new(0);
        // One request per second for 10 minutes.
        for s in 0..600 {
            w.update(&facts(s * 1000), EntityKind::Token);
        }
        let r1 = feature(&w, Feature::Rate1m);
        let r10 = feature(&w, Feature::Rate10m);
        assert!((55.0..62.0).contains(&r1), "rate_1m {r1}");
        assert!((350.0..610.0).contains(&r10), "rate_10m {r10}");
        // 30 quiet minutes later, the short window has forgotten, the long one not.
        w.update(&facts(600_000 + 30 * 60_000), EntityKind::Token);
        assert!(feature(&w, Feature::Rate1m) < 1.5);
        assert!(feature(&w, Feature::Rate10m) < r10 * 0.1);
        assert!(feature(&w, Feature::Requests2h) > 300.0);
        assert!(feature(&w, Feature::ResponseBytes2h) > 300_000.0);
    }

    #[test]
    fn sequential_ids_score_as_a_walk_and_random_ids_do_not() {
        let mut walk = EntityWindow::new(0);
        let mut random = EntityWindow::new(0);
        for i in 0..50u64 {
            let mut f = facts(i as i64 * 2000);
            f.object_number = Some(1000 + i);
            f.object_hash = Some(crate::sketch::mix64(1000 + i));
            walk.update(&f, EntityKind::ApiKey);
            let r = crate::sketch::mix64(i) % 100_000;
            f.object_number = Some(r);
            f.object_hash = Some(crate::sketch::mix64(r));
            random.update(&f, EntityKind::ApiKey);
        }
        assert!(feature(&walk, Feature::IdWalk10m) > 40.0);
        assert!(feature(&random, Feature::IdWalk10m) < 2.0);
        let d = feature(&walk, Feature::DistinctObjects10m);
        assert!((42.0..58.0).contains(&d), "distinct objects {d}");
    }

    #[test]
    fn impossible_travel_is_measured_and_a_flight_is_not() {
        let mut w = EntityWindow::new(0);
        let mut f = facts(0);
        f.geo = Some((48.85, 2.35)); // Paris
        w.update(&f, EntityKind::Token);
        f.ts_ms = 60_000;
        f.geo = Some((-33.87, 151.21)); // Sydney a minute later
        w.update(&f, EntityKind::Token);
        assert!(feature(&w, Feature::TravelSpeedKmh) > 100_000.0);

        let mut flight = EntityWindow::new(0);
        f.ts_ms = 0;
        f.geo = Some((48.85, 2.35));
        flight.update(&f, EntityKind::User);
        f.ts_ms = 8 * 3_600_000;
        f.geo = Some((40.71, -74.0)); // New York 8 hours later: ~730 km/h
        flight.update(&f, EntityKind::User);
        let v = feature(&flight, Feature::TravelSpeedKmh);
        assert!(v > 500.0 && v < crate::IMPOSSIBLE_SPEED_KMH, "{v}");
    }

    #[test]
    fn regular_bots_read_as_regular() {
        let mut bot = EntityWindow::new(0);
        for i in 0..100 {
            bot.update(&facts(i * 5000), EntityKind::Ip);
        }
        assert!(feature(&bot, Feature::GapRegularity) > 0.95);
        let mut human = EntityWindow::new(0);
        let mut t = 0;
        for i in 0..100u64 {
            t += 1000 + (crate::sketch::mix64(i) % 60_000) as i64;
            human.update(&facts(t), EntityKind::Ip);
        }
        assert!(feature(&human, Feature::GapRegularity) < 0.6);
    }

    #[test]
    fn server_errors_count_only_beyond_the_api_wide_ratio() {
        let mut w = EntityWindow::new(0);
        for i in 0..20 {
            let mut f = facts(i * 1000);
            f.server_error = i % 2 == 0;
            w.update(&f, EntityKind::User);
        }
        let own = w.server_error_ratio();
        assert!((own - 0.5).abs() < 0.05);
        assert!(w.features(0.5)[Feature::ServerErrorExcess10m.index()] < 0.05);
        assert!(w.features(0.0)[Feature::ServerErrorExcess10m.index()] > 0.4);
    }

    #[test]
    fn an_active_entity_costs_under_one_kib() {
        // The window itself, its key (a 35-byte fingerprint, boxed), and the hash table's
        // slot and control byte.
        let window = std::mem::size_of::<EntityWindow>();
        let slot = std::mem::size_of::<(Box<str>, EntityWindow)>() + 1;
        let key = "fp:0123456789abcdef0123456789abcdef".len();
        let per_entity = slot + key;
        assert!(window <= 512, "window is {window} bytes");
        assert!(per_entity <= 1024, "{per_entity} bytes per entity");
    }
}
