//! The simulated world's fixed tables: APIs, their endpoints with per-endpoint
//! size / latency / status models, cities, address ranges and user agents.

use crate::record::TsFormat;

/// The four simulated APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Api {
    /// Public shop: the gateway sends no `api` field; it is discovered from the host.
    Shop,
    Payments,
    Partner,
    Identity,
}

impl Api {
    pub fn api_field(self) -> Option<&'static str> {
        match self {
            Api::Shop => None,
            Api::Payments => Some("payments"),
            Api::Partner => Some("partner"),
            Api::Identity => Some("identity"),
        }
    }

    /// The API's name as discovery gives it (and alerts carry): the `api`
    /// field, else the host's first label.
    pub fn name(self) -> &'static str {
        match self {
            Api::Shop => "shop",
            Api::Payments => "payments",
            Api::Partner => "partner",
            Api::Identity => "identity",
        }
    }

    pub fn host(self) -> &'static str {
        match self {
            Api::Shop => "shop.example.com",
            Api::Payments => "api.pay.example.com",
            Api::Partner => "partner.example.com",
            Api::Identity => "id.example.com",
        }
    }

    /// Each gateway writes `ts` its own way, so both contract forms occur.
    pub fn ts_format(self) -> TsFormat {
        match self {
            Api::Shop | Api::Identity => TsFormat::EpochMs,
            Api::Payments | Api::Partner => TsFormat::Rfc3339,
        }
    }

    /// Which gateways add lat/lon (all of them add the country).
    pub fn has_geo(self) -> bool {
        matches!(self, Api::Shop | Api::Identity)
    }
}

/// Index into [`ENDPOINTS`].
pub type EndpointId = u8;

/// A log-normal given by its median and the sigma of its log.
#[derive(Debug, Clone, Copy)]
pub struct LogNormal {
    pub median: f64,
    pub sigma: f64,
}

const fn ln(median: f64, sigma: f64) -> LogNormal {
    LogNormal { median, sigma }
}

/// One endpoint and how its benign responses look.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    pub api: Api,
    pub method: &'static str,
    /// Human-readable template; paths themselves are rendered in `traffic`.
    pub template: &'static str,
    pub request_bytes: LogNormal,
    pub response_bytes: LogNormal,
    pub latency_ms: LogNormal,
    /// Background rates of non-2xx answers.
    pub p_not_modified: f64,
    pub p_not_found: f64,
    pub p_bad_request: f64,
    pub p_unauthorized: f64,
    /// 201 instead of 200 on success.
    pub creates: bool,
}

const fn ep(
    api: Api,
    method: &'static str,
    template: &'static str,
    request_bytes: LogNormal,
    response_bytes: LogNormal,
    latency_ms: LogNormal,
) -> Endpoint {
    Endpoint {
        api,
        method,
        template,
        request_bytes,
        response_bytes,
        latency_ms,
        p_not_modified: 0.0,
        p_not_found: 0.0,
        p_bad_request: 0.002,
        p_unauthorized: 0.0,
        creates: false,
    }
}

const NO_BODY: LogNormal = ln(0.0, 0.0);

pub const SHOP_BROWSE: EndpointId = 0;
pub const SHOP_PRODUCT: EndpointId = 1;
pub const SHOP_SEARCH: EndpointId = 2;
pub const SHOP_CART: EndpointId = 3;
pub const SHOP_CART_ADD: EndpointId = 4;
pub const SHOP_ORDER_CREATE: EndpointId = 5;
pub const SHOP_ORDER: EndpointId = 6;
pub const SHOP_ORDERS: EndpointId = 7;
pub const SHOP_USER: EndpointId = 8;
pub const SHOP_STATIC: EndpointId = 9;
pub const PAY_CHARGE_CREATE: EndpointId = 10;
pub const PAY_CHARGE: EndpointId = 11;
pub const PAY_REFUND: EndpointId = 12;
pub const PAY_METHODS: EndpointId = 13;
pub const PAY_BALANCE: EndpointId = 14;
pub const PAY_CHARGES_LIST: EndpointId = 15;
pub const PARTNER_ACCOUNT: EndpointId = 16;
pub const PARTNER_INVOICES: EndpointId = 17;
pub const PARTNER_INVOICE: EndpointId = 18;
pub const PARTNER_EXPORT: EndpointId = 19;
pub const PARTNER_SEARCH: EndpointId = 20;
pub const PARTNER_WEBHOOK_TEST: EndpointId = 21;
pub const ID_TOKEN: EndpointId = 22;
pub const ID_LOGIN: EndpointId = 23;
pub const ID_PROFILE: EndpointId = 24;
pub const ID_PASSWORD_RESET: EndpointId = 25;
pub const ID_JWKS: EndpointId = 26;

pub static ENDPOINTS: [Endpoint; 27] = [
    Endpoint {
        p_not_modified: 0.08,
        ..ep(
            Api::Shop,
            "GET",
            "/products?category={c}&page={n}",
            NO_BODY,
            ln(18_000.0, 0.45),
            ln(45.0, 0.5),
        )
    },
    Endpoint {
        p_not_modified: 0.12,
        p_not_found: 0.01,
        ..ep(
            Api::Shop,
            "GET",
            "/products/{id}",
            NO_BODY,
            ln(6_000.0, 0.35),
            ln(25.0, 0.45),
        )
    },
    ep(
        Api::Shop,
        "GET",
        "/search?q={q}",
        NO_BODY,
        ln(12_000.0, 0.7),
        ln(120.0, 0.6),
    ),
    Endpoint {
        p_unauthorized: 0.003,
        ..ep(
            Api::Shop,
            "GET",
            "/cart",
            NO_BODY,
            ln(2_000.0, 0.5),
            ln(20.0, 0.4),
        )
    },
    Endpoint {
        p_bad_request: 0.01,
        p_unauthorized: 0.003,
        creates: true,
        ..ep(
            Api::Shop,
            "POST",
            "/cart/items",
            ln(180.0, 0.3),
            ln(600.0, 0.3),
            ln(35.0, 0.4),
        )
    },
    Endpoint {
        p_bad_request: 0.02,
        p_unauthorized: 0.003,
        creates: true,
        ..ep(
            Api::Shop,
            "POST",
            "/orders",
            ln(900.0, 0.4),
            ln(1_200.0, 0.3),
            ln(250.0, 0.5),
        )
    },
    Endpoint {
        p_not_found: 0.01,
        p_unauthorized: 0.003,
        ..ep(
            Api::Shop,
            "GET",
            "/orders/{id}",
            NO_BODY,
            ln(3_000.0, 0.4),
            ln(40.0, 0.45),
        )
    },
    Endpoint {
        p_unauthorized: 0.003,
        ..ep(
            Api::Shop,
            "GET",
            "/orders?page={n}",
            NO_BODY,
            ln(9_000.0, 0.5),
            ln(60.0, 0.5),
        )
    },
    Endpoint {
        p_not_modified: 0.05,
        p_unauthorized: 0.003,
        ..ep(
            Api::Shop,
            "GET",
            "/users/{uuid}",
            NO_BODY,
            ln(1_500.0, 0.3),
            ln(22.0, 0.4),
        )
    },
    Endpoint {
        p_not_modified: 0.4,
        ..ep(
            Api::Shop,
            "GET",
            "/static/{hash}.js",
            NO_BODY,
            ln(80_000.0, 0.9),
            ln(8.0, 0.6),
        )
    },
    Endpoint {
        p_bad_request: 0.02,
        p_unauthorized: 0.002,
        creates: true,
        ..ep(
            Api::Payments,
            "POST",
            "/v1/charges",
            ln(420.0, 0.3),
            ln(800.0, 0.25),
            ln(380.0, 0.5),
        )
    },
    Endpoint {
        p_not_found: 0.005,
        ..ep(
            Api::Payments,
            "GET",
            "/v1/charges/ch_{hex}",
            NO_BODY,
            ln(900.0, 0.25),
            ln(30.0, 0.4),
        )
    },
    Endpoint {
        p_bad_request: 0.03,
        creates: true,
        ..ep(
            Api::Payments,
            "POST",
            "/v1/refunds",
            ln(200.0, 0.3),
            ln(500.0, 0.25),
            ln(300.0, 0.5),
        )
    },
    ep(
        Api::Payments,
        "GET",
        "/v1/payment-methods",
        NO_BODY,
        ln(1_400.0, 0.4),
        ln(40.0, 0.4),
    ),
    ep(
        Api::Payments,
        "GET",
        "/v1/balance",
        NO_BODY,
        ln(300.0, 0.2),
        ln(25.0, 0.4),
    ),
    ep(
        Api::Payments,
        "GET",
        "/v1/charges?limit=100&starting_after=ch_{hex}",
        NO_BODY,
        ln(22_000.0, 0.35),
        ln(95.0, 0.5),
    ),
    Endpoint {
        p_not_found: 0.003,
        ..ep(
            Api::Partner,
            "GET",
            "/v2/accounts/{id}",
            NO_BODY,
            ln(2_500.0, 0.3),
            ln(35.0, 0.4),
        )
    },
    ep(
        Api::Partner,
        "GET",
        "/v2/accounts/{id}/invoices?page={n}",
        NO_BODY,
        ln(24_000.0, 0.4),
        ln(90.0, 0.45),
    ),
    Endpoint {
        p_not_found: 0.005,
        ..ep(
            Api::Partner,
            "GET",
            "/v2/accounts/{id}/invoices/{inv}",
            NO_BODY,
            ln(4_000.0, 0.3),
            ln(30.0, 0.4),
        )
    },
    ep(
        Api::Partner,
        "GET",
        "/v2/reports/{name}/export?format=csv",
        NO_BODY,
        ln(12_000_000.0, 0.8),
        ln(4_000.0, 0.6),
    ),
    ep(
        Api::Partner,
        "GET",
        "/v2/search?q={q}",
        NO_BODY,
        ln(7_000.0, 0.5),
        ln(150.0, 0.5),
    ),
    ep(
        Api::Partner,
        "POST",
        "/v2/webhooks/test",
        ln(300.0, 0.3),
        ln(200.0, 0.2),
        ln(500.0, 0.6),
    ),
    Endpoint {
        p_bad_request: 0.005,
        p_unauthorized: 0.01,
        ..ep(
            Api::Identity,
            "POST",
            "/oauth/token",
            ln(350.0, 0.2),
            ln(1_100.0, 0.15),
            ln(85.0, 0.35),
        )
    },
    ep(
        Api::Identity,
        "POST",
        "/login",
        ln(120.0, 0.25),
        ln(900.0, 0.15),
        ln(110.0, 0.35),
    ),
    Endpoint {
        p_not_modified: 0.1,
        ..ep(
            Api::Identity,
            "GET",
            "/users/{id}/profile",
            NO_BODY,
            ln(1_300.0, 0.3),
            ln(30.0, 0.4),
        )
    },
    ep(
        Api::Identity,
        "POST",
        "/password/reset",
        ln(90.0, 0.2),
        ln(150.0, 0.2),
        ln(200.0, 0.4),
    ),
    Endpoint {
        p_not_modified: 0.5,
        ..ep(
            Api::Identity,
            "GET",
            "/.well-known/jwks.json",
            NO_BODY,
            ln(2_000.0, 0.05),
            ln(5.0, 0.5),
        )
    },
];

pub fn endpoint(id: EndpointId) -> &'static Endpoint {
    &ENDPOINTS[usize::from(id) % ENDPOINTS.len()]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continent {
    Europe,
    NorthAmerica,
    SouthAmerica,
    Asia,
    Oceania,
    Africa,
}

#[derive(Debug, Clone, Copy)]
pub struct City {
    pub name: &'static str,
    pub country: &'static str,
    pub lat: f64,
    pub lon: f64,
    /// Standard-time UTC offset in minutes (November: no DST in the north).
    pub utc_offset_min: i64,
    pub continent: Continent,
    /// Share of the service's own users living here.
    pub user_weight: f64,
}

const fn city(
    name: &'static str,
    country: &'static str,
    lat: f64,
    lon: f64,
    utc_offset_min: i64,
    continent: Continent,
    user_weight: f64,
) -> City {
    City {
        name,
        country,
        lat,
        lon,
        utc_offset_min,
        continent,
        user_weight,
    }
}

use Continent::*;

pub static CITIES: [City; 28] = [
    city("Paris", "FR", 48.8566, 2.3522, 60, Europe, 14.0),
    city("Lyon", "FR", 45.764, 4.8357, 60, Europe, 4.0),
    city("Berlin", "DE", 52.52, 13.405, 60, Europe, 8.0),
    city("Munich", "DE", 48.1351, 11.582, 60, Europe, 5.0),
    city("London", "GB", 51.5074, -0.1278, 0, Europe, 10.0),
    city("Manchester", "GB", 53.4808, -2.2426, 0, Europe, 3.0),
    city("Madrid", "ES", 40.4168, -3.7038, 60, Europe, 5.0),
    city("Milan", "IT", 45.4642, 9.19, 60, Europe, 4.0),
    city("Amsterdam", "NL", 52.3676, 4.9041, 60, Europe, 4.0),
    city("Warsaw", "PL", 52.2297, 21.0122, 60, Europe, 3.0),
    city("Stockholm", "SE", 59.3293, 18.0686, 60, Europe, 2.0),
    city("New York", "US", 40.7128, -74.006, -300, NorthAmerica, 9.0),
    city("Chicago", "US", 41.8781, -87.6298, -360, NorthAmerica, 4.0),
    city(
        "San Francisco",
        "US",
        37.7749,
        -122.4194,
        -480,
        NorthAmerica,
        4.0,
    ),
    city("Austin", "US", 30.2672, -97.7431, -360, NorthAmerica, 2.0),
    city("Toronto", "CA", 43.6532, -79.3832, -300, NorthAmerica, 3.0),
    city(
        "Mexico City",
        "MX",
        19.4326,
        -99.1332,
        -360,
        NorthAmerica,
        1.5,
    ),
    city(
        "Sao Paulo",
        "BR",
        -23.5505,
        -46.6333,
        -180,
        SouthAmerica,
        2.0,
    ),
    city(
        "Buenos Aires",
        "AR",
        -34.6037,
        -58.3816,
        -180,
        SouthAmerica,
        1.0,
    ),
    city("Tokyo", "JP", 35.6762, 139.6503, 540, Asia, 2.0),
    city("Singapore", "SG", 1.3521, 103.8198, 480, Asia, 1.0),
    city("Mumbai", "IN", 19.076, 72.8777, 330, Asia, 1.5),
    city("Seoul", "KR", 37.5665, 126.978, 540, Asia, 1.0),
    city("Sydney", "AU", -33.8688, 151.2093, 660, Oceania, 1.5),
    city("Lagos", "NG", 6.5244, 3.3792, 60, Africa, 0.5),
    city("Johannesburg", "ZA", -26.2041, 28.0473, 120, Africa, 0.5),
    city("Moscow", "RU", 55.7558, 37.6173, 180, Europe, 0.0),
    city("Hanoi", "VN", 21.0278, 105.8342, 420, Asia, 0.0),
];

pub const PARIS: usize = 0;
pub const NEW_YORK: usize = 11;

/// Residential / mobile IPv4 /16 prefixes per country.
pub fn ipv4_prefixes(country: &str) -> &'static [(u8, u8)] {
    match country {
        "FR" => &[(82, 64), (90, 12), (176, 128), (86, 246)],
        "DE" => &[(84, 150), (91, 64), (217, 80), (93, 199)],
        "GB" => &[(81, 2), (86, 128), (151, 224)],
        "ES" => &[(83, 32), (88, 10), (79, 148)],
        "IT" => &[(79, 16), (93, 40), (151, 38)],
        "NL" => &[(145, 53), (84, 104)],
        "PL" => &[(83, 24), (89, 64)],
        "SE" => &[(78, 66), (94, 234)],
        "US" => &[(24, 60), (68, 40), (73, 12), (98, 200), (172, 58)],
        "CA" => &[(70, 48), (99, 224)],
        "MX" => &[(187, 140), (201, 160)],
        "BR" => &[(177, 32), (189, 60)],
        "AR" => &[(181, 44), (190, 16)],
        "JP" => &[(126, 200), (153, 240)],
        "SG" => &[(116, 86), (175, 156)],
        "IN" => &[(49, 36), (117, 200)],
        "KR" => &[(121, 128), (211, 234)],
        "AU" => &[(101, 160), (120, 144)],
        "NG" => &[(102, 88), (105, 112)],
        "ZA" => &[(41, 160), (105, 224)],
        "RU" => &[(95, 24), (178, 64)],
        "VN" => &[(113, 160), (14, 160)],
        _ => &[(100, 64)],
    }
}

/// IPv6 /32 prefixes of the countries whose carriers hand out IPv6.
pub fn ipv6_prefix(country: &str) -> Option<&'static str> {
    match country {
        "FR" => Some("2a01:cb00"),
        "DE" => Some("2003:e4"),
        "US" => Some("2600:1700"),
        "GB" => Some("2a00:23c5"),
        "JP" => Some("240b:10"),
        _ => None,
    }
}

/// Hosting-provider /16 prefixes (partners' servers, attackers' VPS).
pub static DATACENTER_PREFIXES: [(u8, u8); 8] = [
    (34, 90),
    (35, 180),
    (52, 14),
    (18, 196),
    (104, 248),
    (159, 65),
    (45, 77),
    (5, 188),
];

pub static BROWSER_UAS: [&str; 8] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
];

/// Device part of the mobile app's UA; the app version is prepended.
pub static MOBILE_DEVICES: [&str; 6] = [
    "iPhone15,2; iOS 17.6",
    "iPhone16,1; iOS 18.1",
    "Android 14; Pixel 8",
    "Android 13; SM-G991B",
    "Android 14; SM-S918B",
    "iPad13,4; iPadOS 17.5",
];

pub static MOBILE_APP_VERSIONS: [&str; 3] = ["4.12.1", "4.12.2", "4.11.3"];
/// The release that ships during the test day (a benign novelty).
pub const MOBILE_APP_NEW_VERSION: &str = "5.0.0";

pub static PARTNER_UAS: [&str; 6] = [
    "acme-erp-sync/2.3 (+https://acme.example)",
    "Go-http-client/2.0",
    "python-requests/2.31.0",
    "Java/17.0.9",
    "okhttp/4.12.0",
    "ledgerbridge/1.8.4",
];

pub static CRAWLER_UA: &str =
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

pub static CATEGORIES: [&str; 10] = [
    "shoes", "jackets", "kitchen", "garden", "toys", "books", "phones", "laptops", "beauty",
    "sports",
];

pub static SEARCH_TERMS: [&str; 16] = [
    "running+shoes",
    "usb-c+cable",
    "winter+coat",
    "coffee+grinder",
    "lego",
    "headphones",
    "yoga+mat",
    "desk+lamp",
    "backpack",
    "iphone+case",
    "air+fryer",
    "wool+socks",
    "monitor",
    "kettle",
    "sunglasses",
    "gift+card",
];

pub static PARTNER_SEARCH_TERMS: [&str; 8] = [
    "status%3Aoverdue",
    "customer%3A4411",
    "amount%3E1000",
    "status%3Apaid",
    "currency%3AEUR",
    "q%3Dacme",
    "due%3A2026-11",
    "tag%3Aenterprise",
];

pub static REPORT_NAMES: [&str; 6] = [
    "invoices-daily",
    "ledger",
    "payouts",
    "customers",
    "usage-monthly",
    "tax-summary",
];

pub static FIRST_NAMES: [&str; 24] = [
    "alice", "bruno", "chloe", "david", "emma", "felix", "giulia", "hugo", "ines", "jonas",
    "karin", "liam", "maria", "noah", "olga", "pierre", "quentin", "rosa", "sven", "tara", "ugo",
    "vera", "wen", "yusuf",
];

pub static LAST_NAMES: [&str; 20] = [
    "martin", "schmidt", "smith", "garcia", "rossi", "dubois", "novak", "jensen", "kowalski",
    "silva", "tanaka", "kim", "patel", "nguyen", "muller", "lefebvre", "brown", "lopez", "bernard",
    "weber",
];

pub static EMAIL_DOMAINS: [&str; 5] = [
    "mail.example",
    "inbox.example",
    "post.example",
    "gmx.example",
    "corp.example",
];
