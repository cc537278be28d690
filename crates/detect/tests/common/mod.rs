//! A small deterministic traffic generator for the engine tests: two APIs,
//! a few dozen users with tokens, sessions over days.

#![allow(dead_code)]

use apiwarden_record::{AccessRecord, Fingerprint, GeoPoint};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

pub const DAY_MS: i64 = 86_400_000;
pub const T0: i64 = 1_764_547_200_000; // 2025-12-01T00:00:00Z

pub struct User {
    pub name: String,
    pub token: Fingerprint,
    pub ip: String,
    pub country: &'static str,
    pub geo: GeoPoint,
}

pub fn users(n: usize) -> Vec<User> {
    let cities = [
        ("FR", 48.85, 2.35),
        ("DE", 52.52, 13.40),
        ("US", 40.71, -74.0),
        ("GB", 51.5, -0.12),
    ];
    (0..n)
        .map(|i| {
            let (country, lat, lon) = cities[i % cities.len()];
            User {
                name: format!("user{}", char::from(b'a' + (i % 26) as u8)).repeat(1 + i / 26),
                token: Fingerprint(format!("fp:{:032x}", 0xabc000 + i)),
                ip: format!("81.{}.{}.{}", 10 + i % 40, i / 7, 1 + i % 200),
                country,
                geo: GeoPoint { lat, lon },
            }
        })
        .collect()
}

pub fn base(
    id: String,
    ts_ms: i64,
    api: Option<&str>,
    host: Option<&str>,
    method: &str,
    path: String,
) -> AccessRecord {
    AccessRecord {
        id: Some(id),
        ts_ms,
        api: api.map(str::to_string),
        host: host.map(str::to_string),
        method: method.into(),
        path,
        status: 200,
        latency_ms: 20.0,
        request_bytes: 200,
        response_bytes: 2000,
        client_ip: "10.0.0.1".parse().unwrap(),
        country: None,
        geo: None,
        user: None,
        api_key: None,
        token: None,
        user_agent: Some("app/1.0".into()),
    }
}

fn lognormal(rng: &mut impl Rng, median: f64, sigma: f64) -> f64 {
    // Sum of uniforms ~ normal: good enough and dependency-free.
    let z: f64 = (0..12).map(|_| rng.gen::<f64>()).sum::<f64>() - 6.0;
    median * (sigma * z).exp()
}

/// Benign sessions of `users` over `[start, start + days)`; ids `prefix-N`.
pub fn benign(seed: u64, users: &[User], start: i64, days: i64, prefix: &str) -> Vec<AccessRecord> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut out = Vec::new();
    for (ui, u) in users.iter().enumerate() {
        let mut t = start + rng.gen_range(0..3_600_000);
        while t < start + days * DAY_MS {
            // A session: a handful of requests with think time.
            let n = rng.gen_range(3..12);
            for _ in 0..n {
                let (api, host, method, path, lat, resp, req) = match rng.gen_range(0..10) {
                    0..=3 => (
                        None,
                        Some("shop.example.com"),
                        "GET",
                        format!("/v1/products/{}", rng.gen_range(1..500)),
                        30.0,
                        3000.0,
                        150.0,
                    ),
                    4 => (
                        None,
                        Some("shop.example.com"),
                        "GET",
                        format!("/v1/users/{}/profile", u.name),
                        25.0,
                        800.0,
                        150.0,
                    ),
                    5 => (
                        None,
                        Some("shop.example.com"),
                        "POST",
                        "/v1/cart".to_string(),
                        60.0,
                        400.0,
                        900.0,
                    ),
                    6 => (
                        None,
                        Some("shop.example.com"),
                        "GET",
                        format!("/v1/orders/{}", 10_000 + ui * 10 + rng.gen_range(0..5)),
                        40.0,
                        1500.0,
                        150.0,
                    ),
                    7 => (
                        Some("payments"),
                        None,
                        "POST",
                        "/v2/charges".to_string(),
                        120.0,
                        300.0,
                        600.0,
                    ),
                    8 => (
                        Some("payments"),
                        None,
                        "GET",
                        format!(
                            "/v2/charges/ch_{:x}{}",
                            rng.gen::<u32>(),
                            rng.gen_range(10..99)
                        ),
                        35.0,
                        700.0,
                        120.0,
                    ),
                    _ => (
                        Some("payments"),
                        None,
                        "GET",
                        "/v2/balance?currency=eur".to_string(),
                        15.0,
                        200.0,
                        120.0,
                    ),
                };
                let mut r = base(
                    format!("{prefix}-{}", out.len()),
                    t,
                    api,
                    host,
                    method,
                    path,
                );
                r.latency_ms = lognormal(&mut rng, lat, 0.3);
                r.response_bytes = lognormal(&mut rng, resp, 0.4) as u64;
                r.request_bytes = lognormal(&mut rng, req, 0.2) as u64;
                r.status = match rng.gen_range(0..100) {
                    0 => 404,
                    1 => 400,
                    _ => 200,
                };
                r.client_ip = u.ip.parse().unwrap();
                r.country = Some(u.country.into());
                r.geo = Some(u.geo);
                r.user = Some(u.name.clone());
                r.token = Some(u.token.clone());
                out.push(r);
                t += rng.gen_range(2_000..40_000);
            }
            t += rng.gen_range(1_800_000..6 * 3_600_000);
        }
    }
    out.sort_by_key(|r| r.ts_ms);
    for (i, r) in out.iter_mut().enumerate() {
        r.id = Some(format!("{prefix}-{i}"));
    }
    out
}

/// Inserts `extra` into `records` keeping time order (stable).
pub fn merge(mut records: Vec<AccessRecord>, extra: Vec<AccessRecord>) -> Vec<AccessRecord> {
    records.extend(extra);
    records.sort_by_key(|r| r.ts_ms);
    records
}

/// A scanner walking unknown paths on the shop, mostly 404.
pub fn scanner(start: i64, n: usize) -> Vec<AccessRecord> {
    let paths = [
        "/admin",
        "/.env",
        "/wp-login.php",
        "/phpmyadmin/index.php",
        "/api/v1/../../etc/passwd",
        "/.git/config",
        "/backup.zip",
        "/server-status",
        "/config.json",
        "/console",
    ];
    (0..n)
        .map(|i| {
            let mut r = base(
                format!("scan-{i}"),
                start + i as i64 * 700,
                None,
                Some("shop.example.com"),
                if i % 7 == 3 { "PROPFIND" } else { "GET" },
                format!(
                    "{}{}",
                    paths[i % paths.len()],
                    if i >= paths.len() {
                        format!("/{}", i / paths.len())
                    } else {
                        String::new()
                    }
                ),
            );
            r.status = 404;
            r.latency_ms = 3.0;
            r.response_bytes = 150;
            r.client_ip = "203.0.113.66".parse().unwrap();
            r.user_agent = Some("sqlmap/1.7".into());
            r
        })
        .collect()
}
