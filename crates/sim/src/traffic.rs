//! Turning "this actor calls this endpoint at this time" into a record whose
//! status, sizes and latency follow the endpoint's benign model.

use crate::population::{hex, lognormal, Client};
use crate::record::{SimRecord, Truth};
use crate::world::{self, endpoint, EndpointId, CITIES};
use rand::Rng;
use std::sync::Arc;

/// Who sends a request, as the gateway sees it.
#[derive(Debug, Clone)]
pub struct Actor {
    pub ip: Arc<str>,
    pub country: &'static str,
    pub geo: (f64, f64),
    pub user: Option<Arc<str>>,
    pub token: Option<Arc<str>>,
    pub api_key: Option<Arc<str>>,
    pub user_agent: Option<Arc<str>>,
}

impl Actor {
    pub fn at_city(ip: Arc<str>, city: usize, user_agent: Option<Arc<str>>) -> Actor {
        let c = &CITIES[city % CITIES.len()];
        Actor {
            ip,
            country: c.country,
            geo: (c.lat, c.lon),
            user: None,
            token: None,
            api_key: None,
            user_agent,
        }
    }
}

/// Ids a client's paths refer to.
#[derive(Debug, Clone, Copy)]
pub struct PathCtx<'a> {
    pub uuid: &'a str,
    pub user_num: u64,
    pub accounts: &'a [u32],
    pub orders: &'a [u64],
}

impl<'a> PathCtx<'a> {
    pub fn of(client: &'a Client) -> PathCtx<'a> {
        PathCtx {
            uuid: &client.uuid,
            user_num: client.user_num,
            accounts: &client.accounts,
            orders: &client.orders,
        }
    }

    pub const ANONYMOUS: PathCtx<'static> = PathCtx {
        uuid: "00000000-0000-4000-a000-000000000000",
        user_num: 0,
        accounts: &[],
        orders: &[],
    };
}

/// A few long-lived asset bundles, as a real front end has.
static STATIC_ASSETS: [&str; 6] = [
    "/static/app.3f9a1c2e7b4d8a60.js",
    "/static/vendor.8c1d2e3f4a5b6c7d.js",
    "/static/checkout.a1b2c3d4e5f60718.js",
    "/static/search.0f1e2d3c4b5a6978.js",
    "/static/i18n-fr.77aa88bb99cc00dd.js",
    "/static/i18n-en.1234abcd5678ef90.js",
];

/// A popular-skewed product id.
pub fn product_id(rng: &mut impl Rng) -> u32 {
    let u: f64 = rng.gen();
    10_000 + (u * u * 90_000.0) as u32
}

fn pick<T: Copy>(rng: &mut impl Rng, items: &[T], fallback: T) -> T {
    if items.is_empty() {
        fallback
    } else {
        items[rng.gen_range(0..items.len())]
    }
}

/// A list page number: mostly the first pages.
pub fn page(rng: &mut impl Rng) -> u32 {
    let u: f64 = rng.gen();
    1 + (u * u * u * 8.0) as u32
}

/// A benign path for `ep` in the caller's context.
pub fn render_path(rng: &mut impl Rng, ep: EndpointId, ctx: &PathCtx<'_>) -> String {
    match ep {
        world::SHOP_BROWSE => format!(
            "/products?category={}&page={}",
            pick(rng, &world::CATEGORIES, "shoes"),
            page(rng)
        ),
        world::SHOP_PRODUCT => format!("/products/{}", product_id(rng)),
        world::SHOP_SEARCH => format!("/search?q={}", pick(rng, &world::SEARCH_TERMS, "lego")),
        world::SHOP_CART => "/cart".to_string(),
        world::SHOP_CART_ADD => "/cart/items".to_string(),
        world::SHOP_ORDER_CREATE => "/orders".to_string(),
        world::SHOP_ORDER => format!("/orders/{}", pick(rng, ctx.orders, 4_000_000)),
        world::SHOP_ORDERS => format!("/orders?page={}", 1 + rng.gen_range(0..2)),
        world::SHOP_USER => format!("/users/{}", ctx.uuid),
        world::SHOP_STATIC => pick(rng, &STATIC_ASSETS, "/static/app.js").to_string(),
        world::PAY_CHARGE_CREATE => "/v1/charges".to_string(),
        world::PAY_CHARGE => format!("/v1/charges/ch_{}", hex(rng, 24)),
        world::PAY_REFUND => "/v1/refunds".to_string(),
        world::PAY_METHODS => "/v1/payment-methods".to_string(),
        world::PAY_BALANCE => "/v1/balance".to_string(),
        world::PAY_CHARGES_LIST => {
            format!("/v1/charges?limit=100&starting_after=ch_{}", hex(rng, 24))
        }
        world::PARTNER_ACCOUNT => format!("/v2/accounts/{}", pick(rng, ctx.accounts, 100_000)),
        world::PARTNER_INVOICES => format!(
            "/v2/accounts/{}/invoices?page={}",
            pick(rng, ctx.accounts, 100_000),
            page(rng)
        ),
        world::PARTNER_INVOICE => format!(
            "/v2/accounts/{}/invoices/INV-2026-{:05}",
            pick(rng, ctx.accounts, 100_000),
            rng.gen_range(1..60_000)
        ),
        world::PARTNER_EXPORT => format!(
            "/v2/reports/{}/export?format=csv",
            pick(rng, &world::REPORT_NAMES, "ledger")
        ),
        world::PARTNER_SEARCH => format!(
            "/v2/search?q={}",
            pick(rng, &world::PARTNER_SEARCH_TERMS, "q")
        ),
        world::PARTNER_WEBHOOK_TEST => "/v2/webhooks/test".to_string(),
        world::ID_TOKEN => "/oauth/token".to_string(),
        world::ID_LOGIN => "/login".to_string(),
        world::ID_PROFILE => format!("/users/{}/profile", ctx.user_num),
        world::ID_PASSWORD_RESET => "/password/reset".to_string(),
        world::ID_JWKS => "/.well-known/jwks.json".to_string(),
        _ => "/".to_string(),
    }
}

/// A benign status for the endpoint: mostly success, background noise of
/// 304/400/401/404 at the endpoint's rates, rare 5xx.
pub fn benign_status(rng: &mut impl Rng, ep: EndpointId) -> u16 {
    let e = endpoint(ep);
    let u: f64 = rng.gen();
    let mut edge = 0.0006;
    if u < edge {
        return [500, 502, 503, 504][rng.gen_range(0..4)];
    }
    for (p, status) in [
        (e.p_not_modified, 304),
        (e.p_not_found, 404),
        (e.p_bad_request, 400),
        (e.p_unauthorized, 401),
    ] {
        edge += p;
        if u < edge {
            return status;
        }
    }
    if e.creates {
        201
    } else {
        200
    }
}

/// Response size and latency that go with a status on this endpoint.
pub fn shape_response(rng: &mut impl Rng, ep: EndpointId, status: u16) -> (u64, f64) {
    let e = endpoint(ep);
    let latency = lognormal(rng, e.latency_ms.median, e.latency_ms.sigma);
    match status {
        200..=299 => {
            let bytes = lognormal(rng, e.response_bytes.median, e.response_bytes.sigma).round();
            // Big bodies take time to stream (~40 MB/s).
            (bytes as u64, latency + bytes / 40_000.0)
        }
        304 => (0, latency * 0.5),
        400..=499 => (rng.gen_range(60..420), latency * 0.4),
        _ => (rng.gen_range(100..320), latency * 2.5),
    }
}

pub fn round_latency(ms: f64) -> f64 {
    ((ms.max(0.1)) * 10.0).round() / 10.0
}

/// A request of `actor` to `ep` with an explicit path and status.
pub fn request_with(
    rng: &mut impl Rng,
    actor: &Actor,
    ep: EndpointId,
    path: String,
    status: u16,
    ts_ms: i64,
    truth: Truth,
) -> SimRecord {
    let e = endpoint(ep);
    let (response_bytes, latency) = shape_response(rng, ep, status);
    let request_bytes = if e.request_bytes.median > 0.0 {
        lognormal(rng, e.request_bytes.median, e.request_bytes.sigma).round() as u64
    } else {
        0
    };
    let api = e.api;
    SimRecord {
        id: String::new(),
        ts_ms,
        ts_format: api.ts_format(),
        api: api.api_field(),
        host: Some(api.host()),
        method: e.method,
        path,
        status,
        latency_ms: round_latency(latency),
        request_bytes,
        response_bytes,
        client_ip: actor.ip.clone(),
        country: Some(actor.country),
        geo: if api.has_geo() { Some(actor.geo) } else { None },
        user: actor.user.clone(),
        api_key: actor.api_key.clone(),
        token: actor.token.clone(),
        user_agent: actor.user_agent.clone(),
        truth,
        endpoint: Some(ep),
    }
}

/// A benign-looking request: benign path, status and shape.
pub fn request(
    rng: &mut impl Rng,
    actor: &Actor,
    ctx: &PathCtx<'_>,
    ep: EndpointId,
    ts_ms: i64,
    truth: Truth,
) -> SimRecord {
    let path = render_path(rng, ep, ctx);
    let status = benign_status(rng, ep);
    request_with(rng, actor, ep, path, status, ts_ms, truth)
}

/// A request to a path outside the catalog (scanners, typos), with the given status.
pub fn unknown_request(
    rng: &mut impl Rng,
    actor: &Actor,
    api: world::Api,
    method: &'static str,
    path: String,
    status: u16,
    ts_ms: i64,
) -> SimRecord {
    SimRecord {
        id: String::new(),
        ts_ms,
        ts_format: api.ts_format(),
        api: api.api_field(),
        host: Some(api.host()),
        method,
        path,
        status,
        latency_ms: round_latency(lognormal(rng, 6.0, 0.5)),
        request_bytes: if method == "GET" {
            0
        } else {
            rng.gen_range(0..200)
        },
        response_bytes: rng.gen_range(90..400),
        client_ip: actor.ip.clone(),
        country: Some(actor.country),
        geo: if api.has_geo() { Some(actor.geo) } else { None },
        user: actor.user.clone(),
        api_key: actor.api_key.clone(),
        token: actor.token.clone(),
        user_agent: actor.user_agent.clone(),
        truth: Truth::BENIGN,
        endpoint: None,
    }
}

/// An opaque bearer token as a gateway sees it.
pub fn new_token(rng: &mut impl Rng) -> Arc<str> {
    format!("at_{}", hex(rng, 40)).into()
}
