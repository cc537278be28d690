//! The client population: who calls the APIs, from where, with what.

use crate::world::{self, Continent, CITIES, DATACENTER_PREFIXES};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archetype {
    /// App user: a fresh token per session, a carrier IP that changes per session.
    Mobile,
    /// Browser user: logs in, stable home or office IP.
    Web,
    /// B2B integration: API key, datacenter IPs, steady rate, nightly export.
    Partner,
    /// Back-office staff: wide access, occasional exports.
    Admin,
}

#[derive(Debug, Clone)]
pub struct Client {
    pub index: usize,
    pub archetype: Archetype,
    pub user: Option<Arc<str>>,
    /// Numeric user id in the identity API.
    pub user_num: u64,
    pub uuid: Arc<str>,
    pub home_city: usize,
    /// Fixed per client: a point near the home city.
    pub geo: (f64, f64),
    /// Stable addresses (web, partner, admin); mobile clients draw per session.
    pub ips: Vec<Arc<str>>,
    pub prefers_ipv6: bool,
    pub user_agent: Arc<str>,
    pub mobile_device: &'static str,
    pub api_key: Option<Arc<str>>,
    /// Relative activity (log-normal around 1).
    pub activity: f64,
    /// Partner accounts this client may read.
    pub accounts: Vec<u32>,
    /// Own shop order ids.
    pub orders: Vec<u64>,
    /// Exists only from the test period on (a benign novelty).
    pub joins_in_test: bool,
    /// Gets the new app release when it ships.
    pub early_adopter: bool,
}

impl Client {
    pub fn city(&self) -> &'static world::City {
        &CITIES[self.home_city % CITIES.len()]
    }
}

/// Head counts at scale 1.0; `--scale` multiplies them.
pub const MOBILE_USERS: f64 = 3_000.0;
pub const WEB_USERS: f64 = 2_200.0;
pub const PARTNERS: f64 = 30.0;
pub const ADMINS: f64 = 12.0;
/// Share of users that first appear in the test period.
const NEW_USER_SHARE: f64 = 0.04;
/// Share of web users behind a shared office address.
const OFFICE_SHARE: f64 = 0.12;

#[derive(Debug, Clone)]
pub struct Population {
    pub clients: Vec<Client>,
    /// The user who travels Paris -> New York during the test day.
    pub traveler: usize,
}

impl Population {
    pub fn by_archetype(&self, archetype: Archetype) -> impl Iterator<Item = &Client> {
        self.clients
            .iter()
            .filter(move |c| c.archetype == archetype)
    }

    /// Clients that exist in training too (attack victims must have a baseline).
    pub fn established(&self, archetype: Archetype) -> Vec<usize> {
        self.by_archetype(archetype)
            .filter(|c| !c.joins_in_test && c.index != self.traveler)
            .map(|c| c.index)
            .collect()
    }
}

fn count(base: f64, scale: f64, min: usize) -> usize {
    ((base * scale).round() as usize).max(min)
}

pub fn build(rng: &mut Xoshiro256PlusPlus, scale: f64) -> Population {
    let weights: Vec<f64> = CITIES.iter().map(|c| c.user_weight).collect();
    let mut clients = Vec::new();
    let mut offices: Vec<(usize, Arc<str>)> = Vec::new();
    let plan = [
        (Archetype::Mobile, count(MOBILE_USERS, scale, 30)),
        (Archetype::Web, count(WEB_USERS, scale, 24)),
        (Archetype::Partner, count(PARTNERS, scale, 4)),
        (Archetype::Admin, count(ADMINS, scale, 2)),
    ];
    let mut next_account: u32 = 100_000;
    for (archetype, n) in plan {
        for _ in 0..n {
            let index = clients.len();
            let home_city = pick_weighted(rng, &weights);
            let c = &CITIES[home_city];
            let geo = (
                round4(c.lat + rng.gen_range(-0.08..0.08)),
                round4(c.lon + rng.gen_range(-0.08..0.08)),
            );
            let user_num = 10_000 + index as u64 * 7 + rng.gen_range(0..7);
            let user: Option<Arc<str>> = match archetype {
                Archetype::Partner => None,
                Archetype::Admin => Some(format!("admin.{}", username(rng, index)).into()),
                _ => Some(username(rng, index).into()),
            };
            let device = world::MOBILE_DEVICES[rng.gen_range(0..world::MOBILE_DEVICES.len())];
            let app_version =
                world::MOBILE_APP_VERSIONS[rng.gen_range(0..world::MOBILE_APP_VERSIONS.len())];
            let user_agent: Arc<str> = match archetype {
                Archetype::Mobile => format!("ShopApp/{app_version} ({device})").into(),
                Archetype::Partner => {
                    world::PARTNER_UAS[rng.gen_range(0..world::PARTNER_UAS.len())].into()
                }
                _ => world::BROWSER_UAS[rng.gen_range(0..world::BROWSER_UAS.len())].into(),
            };
            let ips: Vec<Arc<str>> = match archetype {
                Archetype::Mobile => Vec::new(),
                Archetype::Web if rng.gen_bool(OFFICE_SHARE) => {
                    vec![office_ip(rng, &mut offices, home_city)]
                }
                Archetype::Web | Archetype::Admin => vec![residential_ip(rng, c.country)],
                Archetype::Partner => (0..rng.gen_range(2..5))
                    .map(|_| datacenter_ip(rng))
                    .collect(),
            };
            let accounts = match archetype {
                Archetype::Partner => {
                    let n = rng.gen_range(5..40);
                    let first = next_account;
                    next_account += n + rng.gen_range(3..30);
                    (first..first + n).collect()
                }
                _ => Vec::new(),
            };
            let orders = (0..rng.gen_range(1..12))
                .map(|_| rng.gen_range(3_000_000..9_000_000u64))
                .collect();
            let api_key = match archetype {
                Archetype::Partner => Some(format!("pk_live_{}", hex(rng, 32)).into()),
                _ => None,
            };
            let joins_in_test = matches!(archetype, Archetype::Mobile | Archetype::Web)
                && rng.gen_bool(NEW_USER_SHARE);
            // Partners range from tiny shops to big integrators.
            let activity_sigma = if archetype == Archetype::Partner {
                0.9
            } else {
                0.6
            };
            let activity = lognormal(rng, 1.0, activity_sigma);
            clients.push(Client {
                index,
                archetype,
                user,
                user_num,
                uuid: uuid(rng).into(),
                home_city,
                geo,
                ips,
                prefers_ipv6: archetype == Archetype::Mobile
                    && world::ipv6_prefix(c.country).is_some()
                    && rng.gen_bool(0.3),
                user_agent,
                mobile_device: device,
                api_key,
                activity: activity.clamp(0.05, 8.0),
                accounts,
                orders,
                joins_in_test,
                early_adopter: rng.gen_bool(0.5),
            });
        }
    }
    // The traveler: an established Paris mobile user (made so if needed).
    let traveler = clients
        .iter()
        .position(|c| c.archetype == Archetype::Mobile)
        .unwrap_or(0);
    if let Some(t) = clients.get_mut(traveler) {
        t.home_city = world::PARIS;
        t.geo = (48.8566, 2.3522);
        t.joins_in_test = false;
        t.prefers_ipv6 = false;
        t.activity = t.activity.max(1.5);
    }
    Population { clients, traveler }
}

/// A log-normal draw given its median and the sigma of its log.
pub fn lognormal(rng: &mut impl Rng, median: f64, sigma: f64) -> f64 {
    let z: f64 = rng.sample(StandardNormal);
    median * (sigma * z).exp()
}

/// Exponential waiting time with the given mean.
pub fn exponential(rng: &mut impl Rng, mean: f64) -> f64 {
    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
    -mean * u.ln()
}

/// 1 + a geometric count with the given mean (>= 1).
pub fn geometric_at_least_one(rng: &mut impl Rng, mean: f64) -> usize {
    let p = 1.0 / mean.max(1.0);
    if p >= 1.0 {
        return 1;
    }
    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
    1 + (u.ln() / (1.0 - p).ln()).floor() as usize
}

pub fn pick_weighted(rng: &mut impl Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.gen::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len().saturating_sub(1)
}

pub fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn username(rng: &mut impl Rng, index: usize) -> String {
    let first = world::FIRST_NAMES[rng.gen_range(0..world::FIRST_NAMES.len())];
    let last = world::LAST_NAMES[rng.gen_range(0..world::LAST_NAMES.len())];
    let domain = world::EMAIL_DOMAINS[rng.gen_range(0..world::EMAIL_DOMAINS.len())];
    // The index keeps names unique across the population.
    format!("{first}.{last}{index}@{domain}")
}

/// A plausible username that belongs to nobody (credential-stuffing lists).
pub fn stranger_username(rng: &mut impl Rng) -> String {
    let first = world::FIRST_NAMES[rng.gen_range(0..world::FIRST_NAMES.len())];
    let last = world::LAST_NAMES[rng.gen_range(0..world::LAST_NAMES.len())];
    let domain = world::EMAIL_DOMAINS[rng.gen_range(0..world::EMAIL_DOMAINS.len())];
    format!(
        "{first}{}{last}{}@{domain}",
        ["", ".", "_"][rng.gen_range(0..3)],
        rng.gen_range(1..99_999)
    )
}

pub fn hex(rng: &mut impl Rng, len: usize) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(len);
    let mut bits = 0u64;
    for i in 0..len {
        // One 64-bit draw gives 16 digits.
        if i % 16 == 0 {
            bits = rng.gen();
        }
        out.push(char::from(DIGITS[(bits & 0xf) as usize]));
        bits >>= 4;
    }
    out
}

fn uuid(rng: &mut impl Rng) -> String {
    let h = hex(rng, 32);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

pub fn residential_ip(rng: &mut impl Rng, country: &str) -> Arc<str> {
    let prefixes = world::ipv4_prefixes(country);
    let (a, b) = prefixes.choose(rng).copied().unwrap_or((100, 64));
    format!(
        "{a}.{b}.{}.{}",
        rng.gen_range(0..=255u8),
        rng.gen_range(1..=254u8)
    )
    .into()
}

/// A carrier-grade NAT address: mobile carriers put many subscribers behind
/// a small pool, so unrelated users share addresses over a day.
pub fn carrier_ip(rng: &mut impl Rng, country: &str) -> Arc<str> {
    let prefixes = world::ipv4_prefixes(country);
    let (a, b) = prefixes.choose(rng).copied().unwrap_or((100, 64));
    format!(
        "{a}.{b}.{}.{}",
        200 + rng.gen_range(0..8u8),
        rng.gen_range(1..33u8)
    )
    .into()
}

pub fn ipv6(rng: &mut impl Rng, prefix: &str) -> Arc<str> {
    format!(
        "{prefix}:{:x}:{:x}::{:x}",
        rng.gen_range(0..0xffffu32),
        rng.gen_range(0..0xffffu32),
        rng.gen_range(1..0xffffu32)
    )
    .into()
}

pub fn datacenter_ip(rng: &mut impl Rng) -> Arc<str> {
    let (a, b) = DATACENTER_PREFIXES.choose(rng).copied().unwrap_or((34, 90));
    format!(
        "{a}.{b}.{}.{}",
        rng.gen_range(0..=255u8),
        rng.gen_range(1..=254u8)
    )
    .into()
}

fn office_ip(rng: &mut impl Rng, offices: &mut Vec<(usize, Arc<str>)>, city: usize) -> Arc<str> {
    if let Some((_, ip)) = offices.iter().find(|(c, _)| *c == city) {
        if rng.gen_bool(0.8) {
            return ip.clone();
        }
    }
    let ip = residential_ip(rng, CITIES[city].country);
    offices.push((city, ip.clone()));
    ip
}

/// A city on another continent than `home` (impossible travel).
pub fn far_city(rng: &mut impl Rng, home: usize) -> usize {
    let continent = CITIES[home].continent;
    let far: Vec<usize> = (0..CITIES.len())
        .filter(|&i| CITIES[i].continent != continent)
        .collect();
    far.choose(rng).copied().unwrap_or(world::NEW_YORK)
}

/// Another country on the same continent (subtle credential misuse).
pub fn near_city(rng: &mut impl Rng, home: usize) -> usize {
    let h = &CITIES[home];
    let near: Vec<usize> = (0..CITIES.len())
        .filter(|&i| CITIES[i].continent == h.continent && CITIES[i].country != h.country)
        .collect();
    near.choose(rng).copied().unwrap_or_else(|| {
        if h.continent == Continent::Europe {
            2
        } else {
            world::PARIS
        }
    })
}
