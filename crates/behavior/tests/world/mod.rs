//! A small, seeded synthetic API world for the behavior tests: users with session tokens,
//! partners with API keys, and injectable attacks. Every record carries what discovery
//! would have said about it, so tests drive the behavior layer exactly as the engine does.

#![allow(dead_code)]

use apiwarden_behavior::{
    BehaviorConfig, BehaviorModel, BehaviorOutcome, BehaviorTracker, BehaviorTrainer, Observation,
};
use apiwarden_record::{AccessRecord, Fingerprint, GeoPoint};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

pub const API: &str = "shop";
pub const HOUR: i64 = 3_600_000;
pub const MINUTE: i64 = 60_000;
/// 2026-01-05T00:00:00Z
pub const T0: i64 = 1_767_571_200_000;

/// (method, path prefix, median bytes, median latency, is_auth, object id)
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub bytes: f64,
    pub latency: f64,
    pub auth: bool,
    pub object: bool,
}

pub const ENDPOINTS: [Endpoint; 6] = [
    Endpoint {
        method: "GET",
        path: "/v1/items/",
        bytes: 1500.0,
        latency: 30.0,
        auth: false,
        object: true,
    },
    Endpoint {
        method: "GET",
        path: "/v1/search",
        bytes: 8000.0,
        latency: 80.0,
        auth: false,
        object: false,
    },
    Endpoint {
        method: "POST",
        path: "/v1/login",
        bytes: 300.0,
        latency: 50.0,
        auth: true,
        object: false,
    },
    Endpoint {
        method: "GET",
        path: "/v1/orders/",
        bytes: 2500.0,
        latency: 40.0,
        auth: false,
        object: true,
    },
    Endpoint {
        method: "GET",
        path: "/v1/reports/export",
        bytes: 200_000.0,
        latency: 500.0,
        auth: false,
        object: false,
    },
    Endpoint {
        method: "POST",
        path: "/v1/cart",
        bytes: 400.0,
        latency: 20.0,
        auth: false,
        object: false,
    },
];
pub const UNKNOWN_ENDPOINT: u32 = 99;

pub const CITIES: [(&str, f64, f64); 6] = [
    ("FR", 48.85, 2.35),
    ("DE", 52.52, 13.40),
    ("US", 40.71, -74.0),
    ("BR", -23.55, -46.63),
    ("JP", 35.68, 139.69),
    ("AU", -33.87, 151.21),
];

/// One record plus what discovery knows about it.
#[derive(Debug, Clone)]
pub struct Event {
    pub rec: AccessRecord,
    pub id: String,
    pub endpoint: u32,
    pub known: bool,
    pub object: Option<String>,
    pub auth: bool,
    pub bytes_base: f64,
    pub latency_base: f64,
    /// Test label: the attack this record belongs to (None = benign).
    pub attack: Option<&'static str>,
    /// The endpoint serves public content (`Observation::public`).
    pub public: bool,
}

pub fn fp(s: &str) -> Fingerprint {
    Fingerprint(format!(
        "fp:{:032x}",
        apiwarden_behavior::hash_bytes(s.as_bytes()) as u128
    ))
}

pub struct Who {
    pub ip: IpAddr,
    pub user: Option<String>,
    pub token: Option<Fingerprint>,
    pub api_key: Option<Fingerprint>,
    pub city: usize,
    pub ua: String,
}

pub fn event(
    rng: &mut Xoshiro256PlusPlus,
    ts: i64,
    who: &Who,
    ep: u32,
    status: u16,
    object: Option<String>,
    attack: Option<&'static str>,
) -> Event {
    let e = &ENDPOINTS[ep as usize % ENDPOINTS.len()];
    let jitter: f64 = rng.gen_range(0.5..1.8);
    let path = match &object {
        Some(o) => format!("{}{o}", e.path),
        None => e.path.to_string(),
    };
    let (country, lat, lon) = CITIES[who.city % CITIES.len()];
    Event {
        rec: AccessRecord {
            id: None,
            ts_ms: ts,
            api: Some(API.into()),
            host: None,
            method: e.method.into(),
            path,
            status,
            latency_ms: e.latency * jitter,
            request_bytes: 200,
            response_bytes: (e.bytes * jitter) as u64,
            client_ip: who.ip,
            country: Some(country.into()),
            geo: Some(GeoPoint { lat, lon }),
            user: who.user.clone(),
            api_key: who.api_key.clone(),
            token: who.token.clone(),
            user_agent: Some(who.ua.clone()),
        },
        id: String::new(),
        endpoint: ep,
        known: true,
        object: if e.object { object } else { None },
        auth: e.auth,
        bytes_base: e.bytes,
        latency_base: e.latency,
        attack,
        public: false,
    }
}

fn user_ip(u: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(81, (u / 250) as u8 + 10, (u % 250) as u8, 7))
}

/// Benign traffic from `start` for `hours`: `users` users in sessions, 4 partners.
/// `day` varies the session tokens (a token lives for one session).
pub fn benign(seed: u64, start: i64, hours: i64, users: usize) -> Vec<Event> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut out = Vec::new();
    let end = start + hours * HOUR;
    for u in 0..users {
        let city = u % CITIES.len();
        let ua = format!(
            "ShopApp/{} ({})",
            3 + u % 3,
            if u % 2 == 0 { "iOS" } else { "Android" }
        );
        let mut t = start + rng.gen_range(0..2 * HOUR);
        let mut session = 0;
        while t < end {
            session += 1;
            let who = Who {
                ip: user_ip(u),
                user: Some(format!("user{u}")),
                token: Some(fp(&format!("tok-{seed}-{u}-{session}"))),
                api_key: None,
                city,
                ua: ua.clone(),
            };
            // Login, sometimes with a typo first.
            if rng.gen_bool(0.03) {
                out.push(event(&mut rng, t, &who, 2, 401, None, None));
                t += rng.gen_range(3_000..10_000);
            }
            out.push(event(&mut rng, t, &who, 2, 200, None, None));
            let n = rng.gen_range(5..40);
            for _ in 0..n {
                t += rng.gen_range(1_000..30_000);
                let ep: u32 = match rng.gen_range(0..100) {
                    0..=44 => 0,
                    45..=74 => 1,
                    75..=89 => 3,
                    90..=98 => 5,
                    _ => 4,
                };
                let status = if rng.gen_bool(0.01) { 404 } else { 200 };
                let object = match ep {
                    0 => Some(rng.gen_range(1..50_000u32).to_string()),
                    3 => Some((u * 100 + rng.gen_range(0..5)).to_string()),
                    _ => None,
                };
                out.push(event(&mut rng, t, &who, ep, status, object, None));
            }
            t += rng.gen_range(HOUR..6 * HOUR);
        }
    }
    for p in 0..4usize {
        let who = Who {
            ip: IpAddr::V4(Ipv4Addr::new(34, 120, p as u8, 10)),
            user: None,
            token: None,
            api_key: Some(fp(&format!("partner-{p}"))),
            city: 2,
            ua: "partner-sync/2.1".into(),
        };
        let mut t = start + rng.gen_range(0..MINUTE);
        while t < end {
            t += rng.gen_range(5_000..15_000);
            let ep = if rng.gen_bool(0.5) { 0 } else { 1 };
            let object = (ep == 0).then(|| rng.gen_range(1..50_000u32).to_string());
            out.push(event(&mut rng, t, &who, ep, 200, object, None));
        }
        // Partner 0 exports every night at 02:00: a legitimate bulk export.
        if p == 0 {
            let mut day = start - start.rem_euclid(24 * HOUR) + 2 * HOUR;
            while day < end {
                if day >= start {
                    for i in 0..30 {
                        out.push(event(&mut rng, day + i * 20_000, &who, 4, 200, None, None));
                    }
                }
                day += 24 * HOUR;
            }
        }
    }
    finish(out)
}

/// Sort by time and number the ids.
pub fn finish(mut out: Vec<Event>) -> Vec<Event> {
    out.sort_by_key(|e| e.rec.ts_ms);
    for (i, e) in out.iter_mut().enumerate() {
        e.id = format!("r{i}");
        e.rec.id = Some(e.id.clone());
    }
    out
}

pub fn observation(e: &Event) -> Observation<'_> {
    Observation {
        rec: &e.rec,
        id: &e.id,
        api: API,
        endpoint: e.endpoint,
        endpoint_known: e.known,
        object_id: e.object.as_deref(),
        is_auth: e.auth,
        response_bytes_baseline: e.bytes_base,
        latency_baseline_ms: e.latency_base,
        request_score: 0.3,
        public: e.public,
    }
}

pub fn test_config() -> BehaviorConfig {
    BehaviorConfig {
        max_training_rows: 4000,
        n_trees: 50,
        ..BehaviorConfig::default()
    }
}

pub fn train(events: &[Event], seed: u64) -> BehaviorModel {
    let mut t = BehaviorTrainer::new(test_config(), seed);
    for e in events {
        t.observe(&observation(e));
    }
    match t.finish() {
        Ok(m) => m,
        Err(err) => panic!("training failed: {err}"),
    }
}

pub fn run(
    model: &Arc<BehaviorModel>,
    events: &[Event],
) -> (BehaviorTracker, Vec<BehaviorOutcome>) {
    let mut tracker = BehaviorTracker::new(model.clone(), test_config());
    let outcomes = events
        .iter()
        .map(|e| tracker.observe(&observation(e)))
        .collect();
    (tracker, outcomes)
}
