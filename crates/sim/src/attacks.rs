//! Attack episodes of the test day, each with a loud and a subtle variant.
//! Every record of an episode carries its type and episode number; the
//! victims' own concurrent traffic stays benign.

use crate::benign::{browse_flow, partner_actor, staff_actor, think_time_ms};
use crate::population::{
    datacenter_ip, far_city, geometric_at_least_one, lognormal, near_city, residential_ip, round4,
    stranger_username, Archetype, Client, Population,
};
use crate::record::{AttackType, SimRecord, Truth};
use crate::time::{HOUR_MS, MINUTE_MS, SECOND_MS};
use crate::traffic::{
    new_token, request, request_with, round_latency, unknown_request, Actor, PathCtx,
};
use crate::world::{self, Api, EndpointId, CITIES};
use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One generated episode before numbering.
#[derive(Debug, Clone)]
pub struct Episode {
    pub attack: AttackType,
    pub loud: bool,
    pub records: Vec<SimRecord>,
    /// Benign records produced alongside (the victim's own use of a stolen token).
    pub benign: Vec<SimRecord>,
    /// A flood slows this endpoint down for everybody in [start, end).
    pub slowdown: Option<Slowdown>,
}

#[derive(Debug, Clone, Copy)]
pub struct Slowdown {
    pub endpoint: EndpointId,
    pub start: i64,
    pub end: i64,
    pub factor: f64,
}

impl Slowdown {
    pub fn apply(&self, records: &mut [SimRecord]) {
        for r in records.iter_mut() {
            if r.endpoint == Some(self.endpoint) && r.ts_ms >= self.start && r.ts_ms < self.end {
                r.latency_ms = round_latency(r.latency_ms * self.factor);
            }
        }
    }
}

/// Episodes per attack type: at least 2 (one loud, one subtle), 6 at scale 1.
pub fn episodes_per_type(scale: f64) -> usize {
    ((2.0 + 4.0 * scale).round() as usize).clamp(2, 8)
}

pub struct AttackPlanner<'a> {
    pub population: &'a Population,
    /// Mean response bytes per day of each user in training.
    pub user_daily_bytes: BTreeMap<Arc<str>, f64>,
    pub test_start: i64,
    pub scale: f64,
}

const PROBE_PATHS: [&str; 32] = [
    "/admin",
    "/admin/login",
    "/.env",
    "/.git/config",
    "/wp-login.php",
    "/wp-admin/",
    "/phpmyadmin/",
    "/server-status",
    "/api/v1/../../etc/passwd",
    "/actuator/env",
    "/actuator/health",
    "/config.json",
    "/backup.zip",
    "/.aws/credentials",
    "/debug/pprof/",
    "/swagger.json",
    "/v3/api-docs",
    "/graphql",
    "/api/internal/users",
    "/console",
    "/cgi-bin/luci",
    "/.DS_Store",
    "/xmlrpc.php",
    "/solr/admin/info/system",
    "/_profiler/phpinfo",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/owa/auth/logon.aspx",
    "/api/v2/admin/users",
    "/telescope/requests",
    "/.svn/entries",
    "/HNAP1/",
    "/boaform/admin/formLogin",
];
const PROBE_METHODS: [&str; 6] = ["OPTIONS", "TRACE", "PROPFIND", "PUT", "DELETE", "PATCH"];
const SCANNER_UAS: [&str; 4] = [
    "Mozilla/5.00 (Nikto/2.5.0)",
    "Mozilla/5.0 zgrab/0.x",
    "sqlmap/1.7.2#stable",
    "Fuzz Faster U Fool v2.1.0",
];
const TOOL_UAS: [&str; 3] = ["python-requests/2.28.1", "curl/8.4.0", "Go-http-client/1.1"];

impl AttackPlanner<'_> {
    pub fn plan(&self, rng: &mut impl Rng) -> Vec<Episode> {
        let per_type = episodes_per_type(self.scale);
        let mut episodes = Vec::new();
        for attack in AttackType::ALL {
            for i in 0..per_type {
                let loud = i % 2 == 0;
                // Late enough for history, early enough for hours-long subtle variants.
                let start = self.test_start + HOUR_MS + rng.gen_range(0..17 * HOUR_MS);
                let mut ep = Episode {
                    attack,
                    loud,
                    records: Vec::new(),
                    benign: Vec::new(),
                    slowdown: None,
                };
                match attack {
                    AttackType::DataExfiltration => self.exfiltration(rng, &mut ep, start, i),
                    AttackType::CredentialStuffing => {
                        self.credential_stuffing(rng, &mut ep, start, i)
                    }
                    AttackType::TokenMisuse => self.token_misuse(rng, &mut ep, start),
                    AttackType::Enumeration => self.enumeration(rng, &mut ep, start, i),
                    AttackType::ApiDos => self.dos(rng, &mut ep, start),
                    AttackType::Probing => self.probing(rng, &mut ep, start, i),
                    AttackType::AnomalousRequest => self.anomalous(rng, &mut ep, start),
                }
                for r in &mut ep.records {
                    r.truth = Truth::attack(attack, 0, ep.loud);
                }
                if !ep.records.is_empty() {
                    episodes.push(ep);
                }
            }
        }
        episodes
    }

    fn victim(&self, rng: &mut impl Rng, archetype: Archetype) -> Option<&Client> {
        let candidates = self.population.established(archetype);
        let index = candidates.choose(rng)?;
        self.population.clients.get(*index)
    }

    fn exfiltration(&self, rng: &mut impl Rng, ep: &mut Episode, start: i64, i: usize) {
        if ep.loud {
            // Tens of big exports and a sweep of every list in minutes.
            let (actor, accounts): (Actor, Vec<u32>) = if (i / 2).is_multiple_of(2) {
                let Some(partner) = self.victim(rng, Archetype::Partner) else {
                    return;
                };
                let mut actor = partner_actor(rng, partner);
                actor.ip = datacenter_ip(rng); // stolen key, attacker's server
                (actor, partner.accounts.clone())
            } else {
                let Some(admin) = self.victim(rng, Archetype::Admin) else {
                    return;
                };
                let mut actor = staff_actor(admin);
                actor.token = Some(new_token(rng)); // insider with a valid session
                (actor, (100_000..100_400).collect())
            };
            let ctx = PathCtx {
                accounts: &accounts,
                ..PathCtx::ANONYMOUS
            };
            let mut t = start;
            for _ in 0..rng.gen_range(25..60) {
                let path = render(rng, world::PARTNER_EXPORT, &ctx);
                let mut r = request_with(
                    rng,
                    &actor,
                    world::PARTNER_EXPORT,
                    path,
                    200,
                    t,
                    Truth::BENIGN,
                );
                r.response_bytes = lognormal(rng, 40_000_000.0, 0.5) as u64;
                r.latency_ms = round_latency(
                    lognormal(rng, 4_000.0, 0.6) + r.response_bytes as f64 / 40_000.0,
                );
                ep.records.push(r);
                t += rng.gen_range(2 * SECOND_MS..15 * SECOND_MS);
            }
            for account in accounts.iter().take(60) {
                for page in 1..=rng.gen_range(3..9u32) {
                    let path = format!("/v2/accounts/{account}/invoices?page={page}");
                    ep.records.push(request_with(
                        rng,
                        &actor,
                        world::PARTNER_INVOICES,
                        path,
                        200,
                        t,
                        Truth::BENIGN,
                    ));
                    t += rng.gen_range(150..900);
                }
            }
        } else {
            // Steady paging for hours, 5-20x the user's usual daily volume.
            let Some(user) = self.victim(rng, Archetype::Web) else {
                return;
            };
            let daily = user
                .user
                .as_ref()
                .and_then(|u| self.user_daily_bytes.get(u))
                .copied()
                .unwrap_or(200_000.0)
                .max(50_000.0);
            let multiple = rng.gen_range(5.0..20.0);
            let n = ((daily * multiple / 22_000.0) as usize).clamp(60, 1_500);
            let duration = rng.gen_range(2 * HOUR_MS..5 * HOUR_MS);
            let mut actor = Actor {
                ip: user
                    .ips
                    .first()
                    .cloned()
                    .unwrap_or_else(|| residential_ip(rng, user.city().country)),
                country: user.city().country,
                geo: user.geo,
                user: user.user.clone(),
                token: Some(new_token(rng)),
                api_key: None,
                user_agent: Some(user.user_agent.clone()),
            };
            if (i / 2) % 2 == 1 {
                // Token lifted from the device, replayed from elsewhere in the same country.
                actor.ip = residential_ip(rng, user.city().country);
            }
            let ctx = PathCtx::of(user);
            let gap = duration / n as i64;
            let mut t = start;
            for _ in 0..n {
                ep.records.push(request(
                    rng,
                    &actor,
                    &ctx,
                    world::PAY_CHARGES_LIST,
                    t,
                    Truth::BENIGN,
                ));
                t += (gap as f64 * rng.gen_range(0.5..1.5)) as i64 + 1;
            }
        }
    }

    fn credential_stuffing(&self, rng: &mut impl Rng, ep: &mut Episode, start: i64, i: usize) {
        let users: Vec<Arc<str>> = self
            .population
            .clients
            .iter()
            .filter_map(|c| c.user.clone())
            .collect();
        let endpoint = if (i / 2).is_multiple_of(2) {
            world::ID_LOGIN
        } else {
            world::ID_TOKEN
        };
        if ep.loud {
            let ips: Vec<Arc<str>> = (0..rng.gen_range(1..4))
                .map(|_| datacenter_ip(rng))
                .collect();
            let city = far_city(rng, world::PARIS);
            let ua: Arc<str> = TOOL_UAS[rng.gen_range(0..TOOL_UAS.len())].into();
            let mut t = start;
            for k in 0..rng.gen_range(300..700) {
                let (user, real) = stuffing_username(rng, &users);
                let mut actor = Actor::at_city(ips[k % ips.len()].clone(), city, Some(ua.clone()));
                actor.user = Some(user);
                ep.records
                    .push(stuffing_attempt(rng, endpoint, &actor, real, t, 0.03));
                t += rng.gen_range(80..600);
            }
        } else {
            // A botnet: many home addresses, one to three tries each, spread out.
            let bots = rng.gen_range(150..400);
            let span = rng.gen_range(2 * HOUR_MS..4 * HOUR_MS);
            for _ in 0..bots {
                let city = rng.gen_range(0..CITIES.len());
                let ua: Arc<str> =
                    world::BROWSER_UAS[rng.gen_range(0..world::BROWSER_UAS.len())].into();
                let mut actor =
                    Actor::at_city(residential_ip(rng, CITIES[city].country), city, Some(ua));
                actor.geo = (
                    round4(actor.geo.0 + rng.gen_range(-0.2..0.2)),
                    round4(actor.geo.1 + rng.gen_range(-0.2..0.2)),
                );
                let mut t = start + rng.gen_range(0..span);
                for _ in 0..rng.gen_range(1..4) {
                    let (user, real) = stuffing_username(rng, &users);
                    actor.user = Some(user);
                    ep.records
                        .push(stuffing_attempt(rng, endpoint, &actor, real, t, 0.04));
                    t += rng.gen_range(20 * SECOND_MS..10 * MINUTE_MS);
                }
            }
        }
    }

    fn token_misuse(&self, rng: &mut impl Rng, ep: &mut Episode, start: i64) {
        let Some(victim) = self.victim(rng, Archetype::Mobile) else {
            return;
        };
        let token = new_token(rng);
        let home = victim.city();
        let owner = Actor {
            ip: residential_ip(rng, home.country),
            country: home.country,
            geo: victim.geo,
            user: victim.user.clone(),
            token: Some(token.clone()),
            api_key: None,
            user_agent: Some(victim.user_agent.clone()),
        };
        let ctx = PathCtx::of(victim);
        // The owner keeps using the app at home meanwhile (benign).
        let owner_requests = geometric_at_least_one(rng, 14.0);
        let owner_mix = [
            (world::SHOP_BROWSE, 3.0),
            (world::SHOP_PRODUCT, 3.0),
            (world::SHOP_CART, 1.0),
        ];
        browse_flow(
            rng,
            &owner,
            &ctx,
            &owner_mix,
            owner_requests,
            start - 10 * MINUTE_MS,
            false,
            &mut ep.benign,
        );
        let (city, ua, n, spacing): (usize, Arc<str>, usize, i64) = if ep.loud {
            let ua: Arc<str> = [
                "okhttp/4.9.3",
                "python-requests/2.28.1",
                world::BROWSER_UAS[3],
            ][rng.gen_range(0..3)]
            .into();
            (
                far_city(rng, victim.home_city),
                ua,
                rng.gen_range(25..60),
                40 * SECOND_MS,
            )
        } else {
            let device = world::MOBILE_DEVICES[rng.gen_range(0..world::MOBILE_DEVICES.len())];
            let ua: Arc<str> = format!("ShopApp/4.12.2 ({device})").into();
            (
                near_city(rng, victim.home_city),
                ua,
                rng.gen_range(3..9),
                3 * MINUTE_MS,
            )
        };
        let c = &CITIES[city];
        let attacker = Actor {
            ip: if ep.loud && rng.gen_bool(0.5) {
                datacenter_ip(rng)
            } else {
                residential_ip(rng, c.country)
            },
            country: c.country,
            geo: (
                round4(c.lat + rng.gen_range(-0.05..0.05)),
                round4(c.lon + rng.gen_range(-0.05..0.05)),
            ),
            user: victim.user.clone(),
            token: Some(token),
            api_key: None,
            user_agent: Some(ua),
        };
        let takeover = [
            (world::SHOP_USER, 3.0),
            (world::SHOP_ORDERS, 3.0),
            (world::SHOP_ORDER, 2.0),
            (world::PAY_METHODS, 2.0),
            (world::ID_PROFILE, 2.0),
            (world::SHOP_PRODUCT, 2.0),
        ];
        let mut t = start;
        for _ in 0..n {
            let e = crate::benign::pick_endpoint(rng, &takeover);
            ep.records
                .push(request(rng, &attacker, &ctx, e, t, Truth::BENIGN));
            t += (spacing as f64 * rng.gen_range(0.2..1.8)) as i64;
        }
    }

    fn enumeration(&self, rng: &mut impl Rng, ep: &mut Episode, start: i64, i: usize) {
        if ep.loud {
            let Some(user) = self.victim(rng, Archetype::Web) else {
                return;
            };
            let mut actor = Actor {
                ip: user
                    .ips
                    .first()
                    .cloned()
                    .unwrap_or_else(|| residential_ip(rng, user.city().country)),
                country: user.city().country,
                geo: user.geo,
                user: user.user.clone(),
                token: Some(new_token(rng)),
                api_key: None,
                user_agent: Some(TOOL_UAS[rng.gen_range(0..TOOL_UAS.len())].into()),
            };
            if rng.gen_bool(0.5) {
                actor.user_agent = Some(user.user_agent.clone());
            }
            let by_orders = (i / 2).is_multiple_of(2);
            let first: u64 = if by_orders {
                rng.gen_range(3_000_000..8_000_000)
            } else {
                rng.gen_range(10_000..30_000)
            };
            let count: u64 = rng.gen_range(250..800);
            let mut t = start;
            for id in first..first + count {
                let (e, path) = if by_orders {
                    (world::SHOP_ORDER, format!("/orders/{id}"))
                } else {
                    (world::ID_PROFILE, format!("/users/{id}/profile"))
                };
                let status = match rng.gen_range(0..100) {
                    0..=2 => 200, // broken access control on a few objects
                    3..=40 => 403,
                    _ => 404,
                };
                ep.records
                    .push(request_with(rng, &actor, e, path, status, t, Truth::BENIGN));
                t += rng.gen_range(100..700);
            }
        } else {
            // A partner key walking account ids it does not own, slowly.
            let Some(partner) = self.victim(rng, Archetype::Partner) else {
                return;
            };
            let owned = &partner.accounts;
            let first: u32 = owned.last().copied().unwrap_or(100_000) + rng.gen_range(1..20);
            let count: u32 = rng.gen_range(80..250);
            let mut t = start;
            for id in first..first + count {
                let actor = partner_actor(rng, partner);
                let status = match rng.gen_range(0..100) {
                    0..=7 => 200,
                    8..=80 => 403,
                    _ => 404,
                };
                let path = format!("/v2/accounts/{id}");
                ep.records.push(request_with(
                    rng,
                    &actor,
                    world::PARTNER_ACCOUNT,
                    path,
                    status,
                    t,
                    Truth::BENIGN,
                ));
                t += rng.gen_range(20 * SECOND_MS..90 * SECOND_MS);
            }
        }
    }

    fn dos(&self, rng: &mut impl Rng, ep: &mut Episode, start: i64) {
        if ep.loud {
            let ips: Vec<Arc<str>> = (0..rng.gen_range(2..6))
                .map(|_| datacenter_ip(rng))
                .collect();
            let city = rng.gen_range(0..CITIES.len());
            let ua: Arc<str> = "Mozilla/5.0".into();
            let duration = rng.gen_range(8 * MINUTE_MS..12 * MINUTE_MS);
            let per_second = 12.0 * self.scale.max(0.05);
            let n = (per_second * duration as f64 / 1_000.0) as usize;
            let mut t = start;
            let gap = duration as f64 / n.max(1) as f64;
            for k in 0..n {
                let actor = Actor::at_city(ips[k % ips.len()].clone(), city, Some(ua.clone()));
                // Cache-busting queries.
                let path = format!("/search?q={}", crate::population::hex(rng, 10));
                let progress = k as f64 / n.max(1) as f64;
                let status = if progress > 0.5 && rng.gen_bool(0.3) {
                    503
                } else {
                    200
                };
                let mut r = request_with(
                    rng,
                    &actor,
                    world::SHOP_SEARCH,
                    path,
                    status,
                    t,
                    Truth::BENIGN,
                );
                r.latency_ms = round_latency(r.latency_ms * (1.0 + 12.0 * progress));
                ep.records.push(r);
                t += (gap * rng.gen_range(0.2..1.8)) as i64;
            }
            ep.slowdown = Some(Slowdown {
                endpoint: world::SHOP_SEARCH,
                start,
                end: start + duration,
                factor: 6.0,
            });
        } else {
            // An authenticated integration hammering search at 20-50x its rate.
            let Some(partner) = self.victim(rng, Archetype::Partner) else {
                return;
            };
            let normal_per_hour = 0.1 * 3_600_000.0 / 35_000.0 * partner.activity;
            let per_hour = normal_per_hour * rng.gen_range(20.0..50.0);
            let duration = rng.gen_range(30 * MINUTE_MS..45 * MINUTE_MS);
            let n = ((per_hour * duration as f64 / HOUR_MS as f64) as usize).clamp(60, 5_000);
            let gap = duration as f64 / n as f64;
            let ctx = PathCtx::of(partner);
            let mut t = start;
            for _ in 0..n {
                let actor = partner_actor(rng, partner);
                ep.records.push(request(
                    rng,
                    &actor,
                    &ctx,
                    world::PARTNER_SEARCH,
                    t,
                    Truth::BENIGN,
                ));
                t += (gap * rng.gen_range(0.5..1.5)) as i64 + 1;
            }
        }
    }

    fn probing(&self, rng: &mut impl Rng, ep: &mut Episode, start: i64, i: usize) {
        let api = [Api::Shop, Api::Partner, Api::Payments][(i / 2) % 3];
        let known = match api {
            Api::Shop => world::SHOP_PRODUCT,
            Api::Partner => world::PARTNER_ACCOUNT,
            _ => world::PAY_BALANCE,
        };
        let (actor, n, spacing) = if ep.loud {
            let ua = if rng.gen_bool(0.3) {
                None
            } else {
                Some(SCANNER_UAS[rng.gen_range(0..SCANNER_UAS.len())].into())
            };
            (
                Actor::at_city(datacenter_ip(rng), rng.gen_range(0..CITIES.len()), ua),
                rng.gen_range(250..600),
                600,
            )
        } else {
            let city = rng.gen_range(0..CITIES.len());
            let ua: Arc<str> =
                world::BROWSER_UAS[rng.gen_range(0..world::BROWSER_UAS.len())].into();
            (
                Actor::at_city(residential_ip(rng, CITIES[city].country), city, Some(ua)),
                rng.gen_range(25..50),
                100 * SECOND_MS,
            )
        };
        let mut t = start;
        for _ in 0..n {
            let roll = rng.gen_range(0..100);
            if !ep.loud && roll < 25 {
                // Blend in with ordinary requests.
                ep.records.push(request(
                    rng,
                    &actor,
                    &PathCtx::ANONYMOUS,
                    known,
                    t,
                    Truth::BENIGN,
                ));
            } else if roll < 80 {
                let base = PROBE_PATHS[rng.gen_range(0..PROBE_PATHS.len())];
                let path = if rng.gen_bool(0.3) {
                    format!("{base}?id=1%27%20OR%201=1--")
                } else {
                    base.to_string()
                };
                let status = if base.contains("admin") {
                    403
                } else if base.contains("..") {
                    400
                } else {
                    404
                };
                ep.records
                    .push(unknown_request(rng, &actor, api, "GET", path, status, t));
            } else {
                let method = PROBE_METHODS[rng.gen_range(0..PROBE_METHODS.len())];
                let path = crate::traffic::render_path(rng, known, &PathCtx::ANONYMOUS);
                ep.records
                    .push(unknown_request(rng, &actor, api, method, path, 405, t));
            }
            t += (spacing as f64 * rng.gen_range(0.3..1.7)) as i64 + 1;
        }
    }

    fn anomalous(&self, rng: &mut impl Rng, ep: &mut Episode, start: i64) {
        let archetype = if rng.gen_bool(0.5) {
            Archetype::Mobile
        } else {
            Archetype::Web
        };
        let Some(client) = self.victim(rng, archetype) else {
            return;
        };
        let actor = Actor {
            ip: client
                .ips
                .first()
                .cloned()
                .unwrap_or_else(|| residential_ip(rng, client.city().country)),
            country: client.city().country,
            geo: client.geo,
            user: client.user.clone(),
            token: Some(new_token(rng)),
            api_key: None,
            user_agent: Some(client.user_agent.clone()),
        };
        let ctx = PathCtx::of(client);
        let n = if ep.loud { rng.gen_range(2..4) } else { 1 };
        let mut t = start;
        for _ in 0..n {
            let kind = rng.gen_range(0..4);
            let r = match (kind, ep.loud) {
                (0, loud) => {
                    // A body on a GET-ish endpoint.
                    let mut r = request(rng, &actor, &ctx, world::SHOP_PRODUCT, t, Truth::BENIGN);
                    r.request_bytes = if loud {
                        rng.gen_range(2_000_000..8_000_000)
                    } else {
                        rng.gen_range(60_000..300_000)
                    };
                    r
                }
                (1, loud) => {
                    let mut r = request_with(
                        rng,
                        &actor,
                        world::SHOP_CART,
                        "/cart".into(),
                        200,
                        t,
                        Truth::BENIGN,
                    );
                    r.latency_ms = round_latency(if loud {
                        rng.gen_range(40_000.0..90_000.0)
                    } else {
                        rng.gen_range(5_000.0..12_000.0)
                    });
                    r
                }
                (2, loud) => {
                    let method = if loud { "TRACE" } else { "DELETE" };
                    let path = crate::traffic::render_path(rng, world::SHOP_ORDER, &ctx);
                    unknown_request(rng, &actor, Api::Shop, method, path, 405, t)
                }
                (_, loud) => {
                    let mut r = request_with(
                        rng,
                        &actor,
                        world::SHOP_USER,
                        format!("/users/{}", ctx.uuid),
                        200,
                        t,
                        Truth::BENIGN,
                    );
                    r.response_bytes = if loud {
                        rng.gen_range(5_000_000..20_000_000)
                    } else {
                        rng.gen_range(150_000..400_000)
                    };
                    r
                }
            };
            ep.records.push(r);
            t += think_time_ms(rng);
        }
    }
}

fn render(rng: &mut impl Rng, e: EndpointId, ctx: &PathCtx<'_>) -> String {
    crate::traffic::render_path(rng, e, ctx)
}

/// A name from a leaked list: a quarter of them are real users here.
fn stuffing_username(rng: &mut impl Rng, users: &[Arc<str>]) -> (Arc<str>, bool) {
    if rng.gen_bool(0.25) {
        if let Some(u) = users.choose(rng) {
            return (u.clone(), true);
        }
    }
    (stranger_username(rng).into(), false)
}

/// One password guess; real users who reused a leaked password get in.
fn stuffing_attempt(
    rng: &mut impl Rng,
    endpoint: EndpointId,
    actor: &Actor,
    real: bool,
    t: i64,
    success_rate: f64,
) -> SimRecord {
    let status = if real && rng.gen_bool(success_rate) {
        200
    } else {
        401
    };
    let path = if endpoint == world::ID_LOGIN {
        "/login"
    } else {
        "/oauth/token"
    };
    request_with(
        rng,
        actor,
        endpoint,
        path.to_string(),
        status,
        t,
        Truth::BENIGN,
    )
}
