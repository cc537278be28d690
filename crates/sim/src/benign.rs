//! Benign traffic of every archetype over a period: diurnal sessions with
//! think time for people, steady machine traffic and nightly exports for
//! partners.

use crate::population::{
    carrier_ip, exponential, geometric_at_least_one, ipv6, lognormal, pick_weighted,
    residential_ip, round4, Archetype, Client, Population,
};
use crate::record::{SimRecord, Truth};
use crate::time::{DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS};
use crate::traffic::{new_token, request, request_with, Actor, PathCtx};
use crate::world::{self, EndpointId, CITIES};
use rand::Rng;
use std::sync::Arc;

/// A time window of the simulation.
#[derive(Debug, Clone, Copy)]
pub struct Period {
    pub start: i64,
    pub end: i64,
    pub is_test: bool,
}

impl Period {
    pub fn contains(&self, ts: i64) -> bool {
        ts >= self.start && ts < self.end
    }
}

/// Test-day events that change benign behavior (all labelled benign).
#[derive(Debug, Clone, Copy)]
pub struct Novelties {
    /// From here on, early adopters run the new app version.
    pub app_release_ms: i64,
    /// The traveler is in the air between these two instants.
    pub departure_ms: i64,
    pub arrival_ms: i64,
}

/// Relative load by local hour: quiet nights, lunch bump, evening peak.
static DIURNAL: [f64; 24] = [
    0.25, 0.15, 0.10, 0.08, 0.08, 0.12, 0.30, 0.60, 0.85, 0.90, 0.95, 1.00, 1.10, 1.00, 0.95, 0.95,
    1.00, 1.10, 1.25, 1.40, 1.45, 1.30, 0.90, 0.50,
];
/// Office hours for staff.
static BUSINESS: [f64; 24] = [
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.05, 0.3, 1.0, 1.2, 1.2, 1.1, 0.6, 1.0, 1.2, 1.2, 1.0, 0.6, 0.2,
    0.05, 0.0, 0.0, 0.0, 0.0,
];

const MOBILE_SESSIONS_PER_DAY: f64 = 3.0;
const WEB_SESSIONS_PER_DAY: f64 = 1.6;
const ADMIN_SESSIONS_PER_DAY: f64 = 3.0;
/// Anonymous shop visits per day at scale 1.
pub const ANONYMOUS_SESSIONS_PER_DAY: f64 = 6_000.0;
/// Mean gap between a partner integration's calls at activity 1.
const PARTNER_MEAN_GAP_MS: f64 = 35_000.0;

static MOBILE_MIX: [(EndpointId, f64); 11] = [
    (world::SHOP_BROWSE, 28.0),
    (world::SHOP_PRODUCT, 26.0),
    (world::SHOP_SEARCH, 10.0),
    (world::SHOP_CART, 7.0),
    (world::SHOP_CART_ADD, 6.0),
    (world::SHOP_ORDERS, 4.0),
    (world::SHOP_ORDER, 5.0),
    (world::SHOP_USER, 3.0),
    (world::PAY_METHODS, 2.0),
    (world::PAY_CHARGE, 1.0),
    (world::ID_PROFILE, 2.0),
];

static WEB_MIX: [(EndpointId, f64); 13] = [
    (world::SHOP_BROWSE, 26.0),
    (world::SHOP_PRODUCT, 22.0),
    (world::SHOP_SEARCH, 10.0),
    (world::SHOP_STATIC, 10.0),
    (world::SHOP_CART, 6.0),
    (world::SHOP_CART_ADD, 5.0),
    (world::SHOP_ORDERS, 4.0),
    (world::SHOP_ORDER, 4.0),
    (world::SHOP_USER, 3.0),
    (world::PAY_METHODS, 2.0),
    (world::PAY_BALANCE, 1.0),
    (world::PAY_CHARGES_LIST, 1.0),
    (world::ID_PROFILE, 2.0),
];

static ANON_MIX: [(EndpointId, f64); 4] = [
    (world::SHOP_BROWSE, 35.0),
    (world::SHOP_PRODUCT, 35.0),
    (world::SHOP_SEARCH, 15.0),
    (world::SHOP_STATIC, 15.0),
];

static PARTNER_MIX: [(EndpointId, f64); 5] = [
    (world::PARTNER_INVOICES, 35.0),
    (world::PARTNER_ACCOUNT, 20.0),
    (world::PARTNER_INVOICE, 30.0),
    (world::PARTNER_SEARCH, 10.0),
    (world::PARTNER_WEBHOOK_TEST, 5.0),
];

static ADMIN_MIX: [(EndpointId, f64); 8] = [
    (world::ID_PROFILE, 20.0),
    (world::PARTNER_ACCOUNT, 20.0),
    (world::PARTNER_INVOICES, 10.0),
    (world::PARTNER_INVOICE, 10.0),
    (world::PAY_CHARGE, 15.0),
    (world::PAY_REFUND, 5.0),
    (world::SHOP_ORDER, 15.0),
    (world::PARTNER_SEARCH, 5.0),
];

pub fn pick_endpoint(rng: &mut impl Rng, mix: &[(EndpointId, f64)]) -> EndpointId {
    let total: f64 = mix.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen::<f64>() * total;
    for (e, w) in mix {
        if x < *w {
            return *e;
        }
        x -= w;
    }
    mix.last().map_or(world::SHOP_BROWSE, |(e, _)| *e)
}

/// Time between two requests of a person: mostly seconds, sometimes minutes.
pub fn think_time_ms(rng: &mut impl Rng) -> i64 {
    (lognormal(rng, 6_000.0, 1.0).min(600_000.0)) as i64 + 150
}

/// A UTC instant on `day_start` (UTC midnight) whose local hour follows `curve`.
fn local_instant(
    rng: &mut impl Rng,
    curve: &[f64; 24],
    day_start: i64,
    utc_offset_min: i64,
) -> i64 {
    let hour = pick_weighted(rng, curve) as i64;
    day_start + hour * HOUR_MS + rng.gen_range(0..HOUR_MS) - utc_offset_min * MINUTE_MS
}

/// Poisson count by inversion (means here are small).
fn poisson(rng: &mut impl Rng, mean: f64) -> usize {
    let limit = (-mean).exp();
    let mut product: f64 = rng.gen();
    let mut n = 0;
    while product > limit && n < 1_000 {
        product *= rng.gen::<f64>();
        n += 1;
    }
    n
}

/// Where a client is at an instant (the traveler moves once).
struct Place {
    city: usize,
    geo: (f64, f64),
}

fn place_of(client: &Client, ts: i64, is_traveler: bool, novelties: &Novelties) -> Option<Place> {
    if is_traveler {
        if ts >= novelties.departure_ms && ts < novelties.arrival_ms {
            return None; // in the air
        }
        if ts >= novelties.arrival_ms {
            let ny = &CITIES[world::NEW_YORK];
            return Some(Place {
                city: world::NEW_YORK,
                geo: (round4(ny.lat + 0.01), round4(ny.lon - 0.02)),
            });
        }
    }
    Some(Place {
        city: client.home_city,
        geo: client.geo,
    })
}

fn mobile_ip(rng: &mut impl Rng, client: &Client, city: usize) -> Arc<str> {
    let country = CITIES[city].country;
    match world::ipv6_prefix(country) {
        Some(prefix) if client.prefers_ipv6 && city == client.home_city => ipv6(rng, prefix),
        _ => carrier_ip(rng, country),
    }
}

fn mobile_user_agent(client: &Client, ts: i64, period: &Period, novelties: &Novelties) -> Arc<str> {
    if period.is_test && client.early_adopter && ts >= novelties.app_release_ms {
        format!(
            "ShopApp/{} ({})",
            world::MOBILE_APP_NEW_VERSION,
            client.mobile_device
        )
        .into()
    } else {
        client.user_agent.clone()
    }
}

pub struct BenignGenerator<'a> {
    pub population: &'a Population,
    pub period: Period,
    pub novelties: Novelties,
    pub scale: f64,
}

impl BenignGenerator<'_> {
    pub fn generate(&self, rng: &mut impl Rng) -> Vec<SimRecord> {
        // About 300k records a day at scale 1 (growth would copy them all).
        let days = (self.period.end - self.period.start) as f64 / DAY_MS as f64;
        let mut out = Vec::with_capacity((days * 320_000.0 * self.scale) as usize);
        let first_day = self.period.start.div_euclid(DAY_MS) - 1;
        let last_day = (self.period.end - 1).div_euclid(DAY_MS) + 1;
        for client in &self.population.clients {
            if client.joins_in_test && !self.period.is_test {
                continue;
            }
            match client.archetype {
                Archetype::Partner => self.partner(rng, client, &mut out),
                _ => {
                    for day in first_day..=last_day {
                        self.person_day(rng, client, day * DAY_MS, &mut out);
                    }
                }
            }
        }
        for day in first_day..=last_day {
            let n = poisson(rng, ANONYMOUS_SESSIONS_PER_DAY * self.scale);
            for _ in 0..n {
                let city = pick_weighted(rng, &CITIES.map(|c| c.user_weight));
                let start = local_instant(rng, &DIURNAL, day * DAY_MS, CITIES[city].utc_offset_min);
                self.anonymous_session(rng, city, start, &ANON_MIX, &mut out);
            }
            self.crawler(rng, day * DAY_MS, &mut out);
        }
        out.retain(|r| self.period.contains(r.ts_ms));
        out
    }

    fn person_day(
        &self,
        rng: &mut impl Rng,
        client: &Client,
        day_start: i64,
        out: &mut Vec<SimRecord>,
    ) {
        let offset = client.city().utc_offset_min;
        let is_traveler = client.index == self.population.traveler;
        let (mean, curve) = match client.archetype {
            Archetype::Mobile => (MOBILE_SESSIONS_PER_DAY, &DIURNAL),
            Archetype::Web => (WEB_SESSIONS_PER_DAY, &DIURNAL),
            _ => (ADMIN_SESSIONS_PER_DAY, &BUSINESS),
        };
        let mut starts: Vec<i64> = (0..poisson(rng, mean * client.activity))
            .map(|_| local_instant(rng, curve, day_start, offset))
            .collect();
        if is_traveler
            && self.period.contains(self.novelties.departure_ms)
            && self.period.contains(day_start)
        {
            // Before the flight in Paris, after landing in New York.
            starts.push(self.novelties.departure_ms - 50 * MINUTE_MS);
            starts.push(self.novelties.arrival_ms + 40 * MINUTE_MS);
            starts.push(self.novelties.arrival_ms + 4 * HOUR_MS);
        }
        starts.sort_unstable();
        for start in starts {
            let Some(place) = place_of(client, start, is_traveler, &self.novelties) else {
                continue;
            };
            match client.archetype {
                Archetype::Mobile => self.mobile_session(rng, client, &place, start, out),
                Archetype::Web => self.web_session(rng, client, &place, start, out),
                _ => self.admin_session(rng, client, start, out),
            }
        }
        if client.archetype == Archetype::Admin && !self.period.is_test {
            // Every admin exports now and then, so an export in test has history.
            let day_index = day_start.div_euclid(DAY_MS);
            if (day_index + client.index as i64) % 2 == 0 {
                let at = local_instant(rng, &BUSINESS, day_start, offset);
                let reports = rng.gen_range(2..5);
                admin_export(rng, client, at, reports, out);
            }
        }
    }

    fn mobile_session(
        &self,
        rng: &mut impl Rng,
        client: &Client,
        place: &Place,
        start: i64,
        out: &mut Vec<SimRecord>,
    ) {
        let actor = Actor {
            ip: mobile_ip(rng, client, place.city),
            country: CITIES[place.city].country,
            geo: place.geo,
            user: client.user.clone(),
            token: Some(new_token(rng)),
            api_key: None,
            user_agent: Some(mobile_user_agent(
                client,
                start,
                &self.period,
                &self.novelties,
            )),
        };
        let ctx = PathCtx::of(client);
        let mut t = start;
        if rng.gen_bool(0.4) {
            out.push(request(
                rng,
                &actor,
                &ctx,
                world::ID_TOKEN,
                t,
                Truth::BENIGN,
            ));
            t += rng.gen_range(80..400);
        }
        let n = geometric_at_least_one(rng, 10.0);
        browse_flow(rng, &actor, &ctx, &MOBILE_MIX, n, t, false, out);
    }

    fn web_session(
        &self,
        rng: &mut impl Rng,
        client: &Client,
        place: &Place,
        start: i64,
        out: &mut Vec<SimRecord>,
    ) {
        let at_home = place.city == client.home_city;
        let ip = match client.ips.first() {
            Some(ip) if at_home => ip.clone(),
            _ => residential_ip(rng, CITIES[place.city].country),
        };
        let mut actor = Actor {
            ip,
            country: CITIES[place.city].country,
            geo: place.geo,
            user: client.user.clone(),
            token: None,
            api_key: None,
            user_agent: Some(client.user_agent.clone()),
        };
        let ctx = PathCtx::of(client);
        let t = login(rng, &mut actor, &ctx, start, out);
        let n = geometric_at_least_one(rng, 13.0);
        browse_flow(rng, &actor, &ctx, &WEB_MIX, n, t, true, out);
    }

    fn admin_session(
        &self,
        rng: &mut impl Rng,
        client: &Client,
        start: i64,
        out: &mut Vec<SimRecord>,
    ) {
        let mut actor = staff_actor(client);
        let ctx = PathCtx::of(client);
        let mut t = login(rng, &mut actor, &ctx, start, out);
        for _ in 0..geometric_at_least_one(rng, 18.0) {
            let ep = pick_endpoint(rng, &ADMIN_MIX);
            // Staff look at anybody's objects.
            let other_accounts = [rng.gen_range(100_000..101_200u32)];
            let other_orders = [rng.gen_range(3_000_000..9_000_000u64)];
            let wide = PathCtx {
                uuid: &client.uuid,
                user_num: 10_000 + rng.gen_range(0..40_000),
                accounts: &other_accounts,
                orders: &other_orders,
            };
            out.push(request(rng, &actor, &wide, ep, t, Truth::BENIGN));
            t += think_time_ms(rng);
        }
    }

    fn partner(&self, rng: &mut impl Rng, client: &Client, out: &mut Vec<SimRecord>) {
        let ctx = PathCtx::of(client);
        let offset = client.city().utc_offset_min;
        let mean_gap = PARTNER_MEAN_GAP_MS / client.activity;
        let mut t = self.period.start + exponential(rng, mean_gap) as i64;
        while t < self.period.end {
            let local_hour = ((t + offset * MINUTE_MS).rem_euclid(DAY_MS) / HOUR_MS) as usize;
            // Machine traffic, but following its customers' working day a bit.
            let keep = 0.45 + 0.55 * BUSINESS.get(local_hour).copied().unwrap_or(0.0) / 1.2;
            if rng.gen_bool(keep.clamp(0.0, 1.0)) {
                let actor = partner_actor(rng, client);
                let ep = pick_endpoint(rng, &PARTNER_MIX);
                out.push(request(rng, &actor, &ctx, ep, t, Truth::BENIGN));
            }
            t += exponential(rng, mean_gap) as i64 + 1;
        }
        // Nightly bulk export at ~02:00 local.
        let first_day = self.period.start.div_euclid(DAY_MS) - 1;
        let last_day = (self.period.end - 1).div_euclid(DAY_MS) + 1;
        for day in first_day..=last_day {
            let at =
                day * DAY_MS + 2 * HOUR_MS - offset * MINUTE_MS + rng.gen_range(0..30 * MINUTE_MS);
            nightly_export(rng, client, at, out);
        }
    }

    pub fn anonymous_session(
        &self,
        rng: &mut impl Rng,
        city: usize,
        start: i64,
        mix: &[(EndpointId, f64)],
        out: &mut Vec<SimRecord>,
    ) {
        let ua: Arc<str> = world::BROWSER_UAS[rng.gen_range(0..world::BROWSER_UAS.len())].into();
        let c = &CITIES[city % CITIES.len()];
        let mut actor = Actor::at_city(residential_ip(rng, c.country), city, Some(ua));
        actor.geo = (
            round4(c.lat + rng.gen_range(-0.1..0.1)),
            round4(c.lon + rng.gen_range(-0.1..0.1)),
        );
        let n = geometric_at_least_one(rng, 6.0);
        browse_flow(rng, &actor, &PathCtx::ANONYMOUS, mix, n, start, false, out);
    }

    /// A search-engine crawler: steady product fetches for about an hour.
    fn crawler(&self, rng: &mut impl Rng, day_start: i64, out: &mut Vec<SimRecord>) {
        let crawls = poisson(rng, (3.0 * self.scale).max(0.5));
        for _ in 0..crawls {
            let ip: Arc<str> =
                format!("66.249.{}.{}", rng.gen_range(64..80), rng.gen_range(1..254)).into();
            let mut actor = Actor::at_city(ip, world::NEW_YORK + 2, Some(world::CRAWLER_UA.into()));
            actor.country = "US";
            let mut t = day_start + rng.gen_range(0..DAY_MS);
            for _ in 0..rng.gen_range(200..900) {
                let ep = if rng.gen_bool(0.8) {
                    world::SHOP_PRODUCT
                } else {
                    world::SHOP_BROWSE
                };
                out.push(request(
                    rng,
                    &actor,
                    &PathCtx::ANONYMOUS,
                    ep,
                    t,
                    Truth::BENIGN,
                ));
                t += rng.gen_range(2 * SECOND_MS..9 * SECOND_MS);
            }
        }
    }
}

pub fn staff_actor(client: &Client) -> Actor {
    let c = client.city();
    Actor {
        ip: client
            .ips
            .first()
            .cloned()
            .unwrap_or_else(|| "198.51.100.10".into()),
        country: c.country,
        geo: client.geo,
        user: client.user.clone(),
        token: None,
        api_key: None,
        user_agent: Some(client.user_agent.clone()),
    }
}

pub fn partner_actor(rng: &mut impl Rng, client: &Client) -> Actor {
    let ip = if client.ips.is_empty() {
        "203.0.113.7".into()
    } else {
        client.ips[rng.gen_range(0..client.ips.len())].clone()
    };
    Actor {
        ip,
        country: client.city().country,
        geo: client.geo,
        user: None,
        token: None,
        api_key: client.api_key.clone(),
        user_agent: Some(client.user_agent.clone()),
    }
}

/// Interactive login on the identity API, with the occasional typo; sets the
/// actor's token and returns when the session continues.
pub fn login(
    rng: &mut impl Rng,
    actor: &mut Actor,
    ctx: &PathCtx<'_>,
    start: i64,
    out: &mut Vec<SimRecord>,
) -> i64 {
    let mut t = start;
    if rng.gen_bool(0.035) {
        let failures = if rng.gen_bool(0.2) { 2 } else { 1 };
        for _ in 0..failures {
            out.push(request_with(
                rng,
                actor,
                world::ID_LOGIN,
                "/login".into(),
                401,
                t,
                Truth::BENIGN,
            ));
            t += rng.gen_range(4 * SECOND_MS..20 * SECOND_MS);
        }
        if failures == 2 && rng.gen_bool(0.3) {
            out.push(request(
                rng,
                actor,
                ctx,
                world::ID_PASSWORD_RESET,
                t,
                Truth::BENIGN,
            ));
            t += rng.gen_range(2 * MINUTE_MS..6 * MINUTE_MS);
        }
    }
    out.push(request_with(
        rng,
        actor,
        world::ID_LOGIN,
        "/login".into(),
        200,
        t,
        Truth::BENIGN,
    ));
    actor.token = Some(new_token(rng));
    t + rng.gen_range(300..2_000)
}

/// A person's click path: think time between requests, page assets in
/// bursts, and a checkout after some add-to-carts.
#[allow(clippy::too_many_arguments)]
pub fn browse_flow(
    rng: &mut impl Rng,
    actor: &Actor,
    ctx: &PathCtx<'_>,
    mix: &[(EndpointId, f64)],
    n: usize,
    start: i64,
    with_assets: bool,
    out: &mut Vec<SimRecord>,
) {
    let mut t = start;
    for _ in 0..n {
        let ep = pick_endpoint(rng, mix);
        out.push(request(rng, actor, ctx, ep, t, Truth::BENIGN));
        if with_assets && rng.gen_bool(0.2) {
            let at = t + rng.gen_range(30..400);
            out.push(request(
                rng,
                actor,
                ctx,
                world::SHOP_STATIC,
                at,
                Truth::BENIGN,
            ));
        }
        if ep == world::SHOP_CART_ADD && actor.token.is_some() && rng.gen_bool(0.25) {
            t += think_time_ms(rng);
            out.push(request(
                rng,
                actor,
                ctx,
                world::SHOP_ORDER_CREATE,
                t,
                Truth::BENIGN,
            ));
            t += rng.gen_range(SECOND_MS..3 * SECOND_MS);
            out.push(request(
                rng,
                actor,
                ctx,
                world::PAY_CHARGE_CREATE,
                t,
                Truth::BENIGN,
            ));
        }
        t += think_time_ms(rng);
    }
}

/// A partner's nightly sync: report exports, then paging through its accounts.
pub fn nightly_export(rng: &mut impl Rng, client: &Client, start: i64, out: &mut Vec<SimRecord>) {
    let ctx = PathCtx::of(client);
    let mut t = start;
    for _ in 0..rng.gen_range(2..6) {
        let actor = partner_actor(rng, client);
        out.push(request(
            rng,
            &actor,
            &ctx,
            world::PARTNER_EXPORT,
            t,
            Truth::BENIGN,
        ));
        t += lognormal(rng, 20_000.0, 0.5) as i64;
    }
    let actor = partner_actor(rng, client);
    for account in client.accounts.iter().take(12) {
        for page in 1..=rng.gen_range(1..4u32) {
            let path = format!("/v2/accounts/{account}/invoices?page={page}");
            let status = crate::traffic::benign_status(rng, world::PARTNER_INVOICES);
            out.push(request_with(
                rng,
                &actor,
                world::PARTNER_INVOICES,
                path,
                status,
                t,
                Truth::BENIGN,
            ));
            t += rng.gen_range(300..2_500);
        }
    }
}

/// Staff exporting reports by hand.
pub fn admin_export(
    rng: &mut impl Rng,
    client: &Client,
    start: i64,
    reports: usize,
    out: &mut Vec<SimRecord>,
) {
    let mut actor = staff_actor(client);
    let ctx = PathCtx::of(client);
    let mut t = login(rng, &mut actor, &ctx, start, out);
    for _ in 0..reports {
        out.push(request(
            rng,
            &actor,
            &ctx,
            world::PARTNER_EXPORT,
            t,
            Truth::BENIGN,
        ));
        t += lognormal(rng, 90_000.0, 0.6) as i64;
    }
}
