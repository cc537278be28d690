//! Request-level features: one fixed-size vector per record, normalized
//! against the baseline of its endpoint so one forest serves every endpoint
//! of an API.

use apiwarden_alert::Evidence;
use apiwarden_record::AccessRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Number of request features.
pub const N_FEATURES: usize = 12;

/// Feature names, in vector order (also used in evidence).
pub const FEATURE_NAMES: [&str; N_FEATURES] = [
    "latency_z",
    "request_bytes_z",
    "response_bytes_z",
    "status_rarity",
    "is_error",
    "method_rarity",
    "hour_sin",
    "hour_cos",
    "endpoint_rarity",
    "path_len_log",
    "query_len_log",
    "endpoint_known",
];

/// Robust z-scores are clipped here: beyond it every value is equally absurd,
/// and unbounded values would only stretch the forest's split ranges.
const Z_CLIP: f64 = 50.0;
/// At most this many distinct statuses are remembered per endpoint.
const MAX_STATUSES: usize = 16;

/// Median and scaled MAD of a log-transformed quantity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RobustStat {
    pub median: f64,
    /// 1.4826 * MAD, floored so constant quantities still give finite z-scores.
    pub scale: f64,
}

impl RobustStat {
    /// From raw (not yet log-transformed) values; `None` when empty.
    pub fn from_values(values: &mut [f64], min_scale: f64) -> Option<Self> {
        let median = median_in_place(values)?;
        let mut dev: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
        let mad = median_in_place(&mut dev).unwrap_or(0.0);
        Some(RobustStat {
            median,
            scale: (1.4826 * mad).max(min_scale),
        })
    }

    pub fn z(&self, value: f64) -> f64 {
        ((value - self.median) / self.scale).clamp(-Z_CLIP, Z_CLIP)
    }
}

/// Median of finite values (the slice is reordered).
pub fn median_in_place(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let mid = n / 2;
    Some(if n % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// What an endpoint (method + template) looks like in training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointBaseline {
    /// `GET /v1/accounts/{id}`.
    pub name: String,
    pub method: String,
    pub template: String,
    pub is_auth: bool,
    pub count: u64,
    /// Of ln(1 + latency_ms).
    pub latency: RobustStat,
    /// Of ln(1 + request_bytes).
    pub request_bytes: RobustStat,
    /// Of ln(1 + response_bytes).
    pub response_bytes: RobustStat,
    /// Median raw latency (ms), > 0.
    pub latency_median_ms: f64,
    /// Median raw response size (bytes), > 0.
    pub response_bytes_median: f64,
    /// -ln P(status | endpoint) for the statuses seen, smoothed.
    pub status_rarity: BTreeMap<u16, f64>,
    /// Rarity of any status not in `status_rarity`.
    pub unseen_status_rarity: f64,
    /// -ln P(method | template): how odd this method is on this path.
    pub method_rarity: f64,
    /// -ln P(endpoint | API).
    pub endpoint_rarity: f64,
    /// High quantile (0.99) of the robust z (upwards) of latency, request
    /// bytes and response bytes in training (the extremeness reference).
    #[serde(default)]
    pub max_z: [f64; 3],
    /// Share of its served training requests (status < 400) that carried no credential
    /// (user, API key or token). 0 in models from before.
    #[serde(default)]
    pub anonymous_share: f64,
    /// Served training requests that carried no credential.
    #[serde(default)]
    pub anonymous_served: u64,
}

/// An endpoint that served clients without any credential in training, more than now and
/// then, serves public content (a catalog, a search): anyone may read it, and pulling it is
/// no one's data. (Most shoppers browse signed in: a catalog's anonymous share is small.)
pub const PUBLIC_ANONYMOUS_SHARE: f64 = 0.02;
/// ... and at least this many anonymous requests served: a few are a gateway's quirk.
pub const PUBLIC_ANONYMOUS_MIN: u64 = 20;

/// Accumulates one endpoint's training values.
#[derive(Debug, Clone, Default)]
pub struct EndpointAccumulator {
    latency: Vec<f64>,
    request_bytes: Vec<f64>,
    response_bytes: Vec<f64>,
    statuses: BTreeMap<u16, u64>,
    served: u64,
    served_anonymously: u64,
}

impl EndpointAccumulator {
    pub fn observe(&mut self, rec: &AccessRecord) {
        if rec.status < 400 {
            self.served += 1;
            let anonymous = rec.user.is_none() && rec.api_key.is_none() && rec.token.is_none();
            self.served_anonymously += u64::from(anonymous);
        }
        self.latency.push(rec.latency_ms.max(0.0).ln_1p());
        self.request_bytes.push((rec.request_bytes as f64).ln_1p());
        self.response_bytes
            .push((rec.response_bytes as f64).ln_1p());
        *self.statuses.entry(rec.status).or_default() += 1;
    }

    pub fn count(&self) -> u64 {
        self.latency.len() as u64
    }

    /// `method_count_on_template`: records of any method on the same template;
    /// `api_count`: records of the API.
    pub fn finish(
        mut self,
        method: &str,
        template: &str,
        method_count_on_template: u64,
        api_count: u64,
    ) -> EndpointBaseline {
        let count = self.count();
        let n = count.max(1) as f64;
        let anonymous_share = self.served_anonymously as f64 / self.served.max(1) as f64;
        // Log quantities of real traffic vary by ~10% at least; a floor keeps
        // a perfectly constant endpoint from making every deviation infinite.
        let latency = RobustStat::from_values(&mut self.latency, 0.1).unwrap_or(RobustStat {
            median: 0.0,
            scale: 1.0,
        });
        let request_bytes =
            RobustStat::from_values(&mut self.request_bytes, 0.1).unwrap_or(RobustStat {
                median: 0.0,
                scale: 1.0,
            });
        let response_bytes =
            RobustStat::from_values(&mut self.response_bytes, 0.1).unwrap_or(RobustStat {
                median: 0.0,
                scale: 1.0,
            });
        let mut by_count: Vec<(u16, u64)> = self.statuses.into_iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        by_count.truncate(MAX_STATUSES);
        let distinct = by_count.len() as f64 + 1.0;
        let status_rarity = by_count
            .into_iter()
            .map(|(s, c)| (s, -((c as f64 + 1.0) / (n + distinct)).ln()))
            .collect();
        let unseen_status_rarity = -(1.0 / (n + distinct)).ln();
        EndpointBaseline {
            name: crate::discovery::endpoint_name(method, template),
            method: method.to_string(),
            template: template.to_string(),
            is_auth: crate::discovery::is_auth_path(template),
            count,
            latency_median_ms: latency.median.exp_m1().max(1.0),
            response_bytes_median: response_bytes.median.exp_m1().max(1.0),
            latency,
            request_bytes,
            response_bytes,
            status_rarity,
            unseen_status_rarity,
            method_rarity: -((count as f64 + 1.0) / (method_count_on_template as f64 + 2.0)).ln(),
            endpoint_rarity: -((count as f64 + 1.0) / (api_count as f64 + 2.0)).ln(),
            max_z: [0.0; 3],
            anonymous_share,
            anonymous_served: self.served_anonymously,
        }
    }
}

impl EndpointBaseline {
    /// A neutral baseline for endpoints with no history (an API seen only
    /// through the population model, or an endpoint unknown to training):
    /// the pooled statistics of all training traffic, maximal rarity.
    pub fn fallback(method: &str, template: &str, pooled: &PooledBaseline) -> EndpointBaseline {
        EndpointBaseline {
            name: crate::discovery::endpoint_name(method, template),
            method: method.to_string(),
            template: template.to_string(),
            is_auth: crate::discovery::is_auth_path(template),
            count: 0,
            latency: pooled.latency,
            request_bytes: pooled.request_bytes,
            response_bytes: pooled.response_bytes,
            latency_median_ms: pooled.latency.median.exp_m1().max(1.0),
            response_bytes_median: pooled.response_bytes.median.exp_m1().max(1.0),
            status_rarity: BTreeMap::new(),
            unseen_status_rarity: pooled.status_rarity_unseen,
            method_rarity: pooled.rarity_unseen,
            endpoint_rarity: pooled.rarity_unseen,
            max_z: [Z_CLIP; 3],
            anonymous_share: 0.0,
            anonymous_served: 0,
        }
    }

    /// Served to anonymous clients in training: public content.
    pub fn is_public(&self) -> bool {
        self.anonymous_share >= PUBLIC_ANONYMOUS_SHARE
            && self.anonymous_served >= PUBLIC_ANONYMOUS_MIN
    }

    pub fn status_rarity(&self, status: u16) -> f64 {
        self.status_rarity
            .get(&status)
            .copied()
            .unwrap_or(self.unseen_status_rarity)
    }
}

/// API-wide statistics used where an endpoint has no baseline of its own.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PooledBaseline {
    pub latency: RobustStat,
    pub request_bytes: RobustStat,
    pub response_bytes: RobustStat,
    pub status_rarity_unseen: f64,
    pub rarity_unseen: f64,
}

impl PooledBaseline {
    /// From the endpoint baselines, weighted by their record counts.
    pub fn from_endpoints<'a>(endpoints: impl Iterator<Item = &'a EndpointBaseline>) -> Self {
        let mut lat = Vec::new();
        let mut req = Vec::new();
        let mut resp = Vec::new();
        let mut total = 0u64;
        for e in endpoints {
            lat.push((e.latency, e.count));
            req.push((e.request_bytes, e.count));
            resp.push((e.response_bytes, e.count));
            total += e.count;
        }
        let rarity = (total as f64 + 2.0).ln();
        PooledBaseline {
            latency: pooled_stat(&lat),
            request_bytes: pooled_stat(&req),
            response_bytes: pooled_stat(&resp),
            status_rarity_unseen: rarity,
            rarity_unseen: rarity,
        }
    }
}

/// A pooled robust statistic: weighted median of the medians, and a scale
/// that covers both the spread within endpoints and between them.
fn pooled_stat(stats: &[(RobustStat, u64)]) -> RobustStat {
    let total: u64 = stats.iter().map(|s| s.1).sum();
    if total == 0 {
        return RobustStat {
            median: 0.0,
            scale: 1.0,
        };
    }
    let mut sorted: Vec<(RobustStat, u64)> = stats.to_vec();
    sorted.sort_by(|a, b| a.0.median.total_cmp(&b.0.median));
    let mut acc = 0u64;
    let mut median = sorted[0].0.median;
    for (s, c) in &sorted {
        acc += c;
        if acc * 2 >= total {
            median = s.median;
            break;
        }
    }
    let spread: f64 = sorted
        .iter()
        .map(|(s, c)| (s.scale.powi(2) + (s.median - median).powi(2)) * *c as f64)
        .sum::<f64>()
        / total as f64;
    RobustStat {
        median,
        scale: spread.sqrt().max(0.1),
    }
}

/// The request feature vector of one record against its endpoint's baseline.
pub fn request_features(
    rec: &AccessRecord,
    ep: &EndpointBaseline,
    known: bool,
) -> [f64; N_FEATURES] {
    let hour = hour_of_day(rec.ts_ms);
    let angle = hour / 24.0 * std::f64::consts::TAU;
    [
        ep.latency.z(rec.latency_ms.max(0.0).ln_1p()),
        ep.request_bytes.z((rec.request_bytes as f64).ln_1p()),
        ep.response_bytes.z((rec.response_bytes as f64).ln_1p()),
        ep.status_rarity(rec.status),
        if rec.status >= 400 { 1.0 } else { 0.0 },
        ep.method_rarity,
        angle.sin(),
        angle.cos(),
        ep.endpoint_rarity,
        (rec.path.len() as f64).ln_1p(),
        (crate::discovery::query_len(&rec.path) as f64).ln_1p(),
        if known { 1.0 } else { 0.0 },
    ]
}

/// A size or latency is only extreme beyond this many robust deviations,
/// however tame the endpoint was in training.
pub const MIN_EXTREME_Z: f64 = 6.0;
/// Latency needs a wider floor than sizes: it is shared by every client of a
/// server, so load on the endpoint (a flood by someone else, a slow backend)
/// stretches an innocent request's latency several-fold, while a size is the
/// client's own doing. 8 deviations keep a request slowed 6x by a busy
/// endpoint below the limit and a deliberately expensive one far above it.
pub const MIN_EXTREME_LATENCY_Z: f64 = 8.0;
/// ... and beyond this multiple of the most extreme training value.
pub const EXTREME_MARGIN: f64 = 1.25;

/// Endpoints with fewer training records have no reliable spread: no
/// extremeness verdict on them (the forest still scores them).
pub const MIN_EXTREME_COUNT: u64 = 30;

/// The extremeness score in [0,1): how far the record's most deviating size
/// or latency is past what its endpoint showed in training; 0.5 at the limit
/// (`max(floor, EXTREME_MARGIN x training max)`, the floor being
/// `MIN_EXTREME_LATENCY_Z` for latency and `MIN_EXTREME_Z` for sizes). A second opinion
/// beside the forest, which dilutes one absurd feature among many ordinary
/// ones. Only excesses count: a small response or a fast answer harms no
/// one, and a slow answer that failed (5xx) is the server's trouble, not the
/// client's doing.
pub fn extremeness(features: &[f64; N_FEATURES], ep: &EndpointBaseline, status: u16) -> f64 {
    if ep.count < MIN_EXTREME_COUNT {
        return 0.0;
    }
    let mut best: f64 = 0.0;
    for (i, (z, max)) in features[..3].iter().zip(ep.max_z).enumerate() {
        if i == 0 && status >= 500 {
            continue;
        }
        let floor = if i == 0 {
            MIN_EXTREME_LATENCY_Z
        } else {
            MIN_EXTREME_Z
        };
        let limit = (max * EXTREME_MARGIN).max(floor);
        let z = z.max(0.0);
        let s = if z <= limit {
            0.5 * z / limit
        } else {
            1.0 - 0.5 * limit / z
        };
        best = best.max(s);
    }
    best
}

/// Fractional UTC hour of day of an epoch-ms timestamp.
fn hour_of_day(ts_ms: i64) -> f64 {
    ts_ms.rem_euclid(86_400_000) as f64 / 3_600_000.0
}

/// Why a request stands out: the features furthest from their endpoint's
/// baseline, in the units a person reads (ms, bytes), most deviating first.
pub fn request_evidence(
    rec: &AccessRecord,
    ep: &EndpointBaseline,
    features: &[f64; N_FEATURES],
    known: bool,
) -> Vec<Evidence> {
    let common_status_rarity = ep
        .status_rarity
        .values()
        .copied()
        .fold(ep.unseen_status_rarity, f64::min);
    let mut scored: Vec<(f64, Evidence)> = vec![
        (
            features[0].abs(),
            Evidence {
                feature: "latency_ms".into(),
                observed: rec.latency_ms,
                baseline: ep.latency_median_ms,
            },
        ),
        (
            features[1].abs(),
            Evidence {
                feature: "request_bytes".into(),
                observed: rec.request_bytes as f64,
                baseline: ep.request_bytes.median.exp_m1().max(0.0),
            },
        ),
        (
            features[2].abs(),
            Evidence {
                feature: "response_bytes".into(),
                observed: rec.response_bytes as f64,
                baseline: ep.response_bytes_median,
            },
        ),
        (
            features[3] - common_status_rarity,
            Evidence {
                feature: "status_rarity".into(),
                observed: features[3],
                baseline: common_status_rarity,
            },
        ),
        (
            features[5],
            Evidence {
                feature: "method_rarity".into(),
                observed: features[5],
                baseline: 0.0,
            },
        ),
    ];
    if !known {
        scored.push((
            Z_CLIP,
            Evidence {
                feature: "endpoint_known".into(),
                observed: 0.0,
                baseline: 1.0,
            },
        ));
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored
        .into_iter()
        .filter(|(s, _)| *s > 1.0)
        .take(5)
        .map(|(_, e)| e)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(latency: f64, resp: u64, status: u16) -> AccessRecord {
        AccessRecord {
            ts_ms: 6 * 3_600_000,
            path: "/v1/a?x=1".into(),
            status,
            latency_ms: latency,
            request_bytes: 100,
            response_bytes: resp,
            ..AccessRecord::example()
        }
    }

    fn baseline() -> EndpointBaseline {
        let mut acc = EndpointAccumulator::default();
        for i in 0..200u64 {
            acc.observe(&rec(
                20.0 + (i % 10) as f64,
                1000 + (i % 50) * 10,
                if i % 20 == 0 { 404 } else { 200 },
            ));
        }
        acc.finish("GET", "/v1/a", 200, 1000)
    }

    #[test]
    fn an_endpoint_that_serves_anonymous_clients_serves_public_content() {
        let mut signed_in = rec(20.0, 5000, 200);
        signed_in.user = Some("alice".into());
        let finish = |anonymous: usize| {
            let mut acc = EndpointAccumulator::default();
            for i in 0..1000 {
                let mut r = signed_in.clone();
                if i < anonymous {
                    r.user = None;
                }
                acc.observe(&r);
            }
            // Refused anonymous requests say nothing of what the endpoint serves.
            for _ in 0..200 {
                acc.observe(&rec(20.0, 100, 401));
            }
            acc.finish("GET", "/v1/a", 1200, 1200)
        };
        // A catalog most shoppers browse signed in, some not.
        assert!(finish(40).is_public());
        // Signed-in clients only (a handful of anonymous requests is a gateway's quirk).
        assert!(!finish(0).is_public());
        assert!(!finish(5).is_public());
    }

    #[test]
    fn extremeness_is_one_half_at_the_limit() {
        let mut ep = baseline();
        ep.max_z = [2.0, 8.0, 0.0];
        let mut f = [0.0; N_FEATURES];
        f[0] = 8.0;
        assert!((extremeness(&f, &ep, 200) - 0.5).abs() < 1e-12);
        f[0] = 7.0;
        assert!(
            extremeness(&f, &ep, 200) < 0.5,
            "a latency a busy endpoint can cause is not extreme"
        );
        f[0] = 0.0;
        f[2] = 7.0;
        assert!(
            extremeness(&f, &ep, 200) > 0.5,
            "the same deviation in size is"
        );
        f[2] = 0.0;
        f[0] = 8.0;
        f[0] = 60.0;
        assert!(extremeness(&f, &ep, 200) > 0.9);
        assert!(
            extremeness(&f, &ep, 503) < 0.5,
            "a slow failure is the server's"
        );
        f[0] = -60.0;
        assert!(extremeness(&f, &ep, 200) < 0.5, "fast is fine");
        f[0] = 0.0;
        f[1] = 9.5;
        assert!(
            extremeness(&f, &ep, 200) < 0.5,
            "8 x 1.25 = 10 is the limit"
        );
        f[1] = 60.0;
        ep.count = 5;
        assert_eq!(extremeness(&f, &ep, 200), 0.0, "too few records to judge");
    }

    #[test]
    fn median_and_mad() {
        let s = RobustStat::from_values(&mut [1.0, 2.0, 3.0, 4.0, 100.0], 0.0).unwrap();
        assert_eq!(s.median, 3.0);
        assert!((s.scale - 1.4826).abs() < 1e-9);
        assert!(RobustStat::from_values(&mut [], 0.1).is_none());
        let constant = RobustStat::from_values(&mut [5.0; 10], 0.1).unwrap();
        assert_eq!(constant.scale, 0.1);
    }

    #[test]
    fn features_of_a_typical_request_are_small_and_of_an_odd_one_large() {
        let ep = baseline();
        let normal = request_features(&rec(24.0, 1200, 200), &ep, true);
        assert!(normal[0].abs() < 2.0 && normal[2].abs() < 2.0, "{normal:?}");
        assert!(normal[3] < 0.2);
        assert!((normal[6] - 1.0).abs() < 1e-9, "06:00 is a quarter turn");
        assert_eq!(normal[11], 1.0);
        let odd = request_features(&rec(9000.0, 50_000_000, 500), &ep, true);
        assert!(odd[0] > 10.0 && odd[2] > 10.0, "{odd:?}");
        assert!(odd[3] > normal[3] + 2.0);
        assert_eq!(odd[4], 1.0);
        assert!(odd.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn evidence_names_the_deviating_quantities_first() {
        let ep = baseline();
        let r = rec(25.0, 50_000_000, 200);
        let f = request_features(&r, &ep, true);
        let ev = request_evidence(&r, &ep, &f, true);
        assert_eq!(ev[0].feature, "response_bytes");
        assert_eq!(ev[0].observed, 50_000_000.0);
        assert!(ev[0].baseline > 1000.0 && ev[0].baseline < 2000.0);
    }

    #[test]
    fn pooled_baseline_covers_endpoints() {
        let ep = baseline();
        let pooled = PooledBaseline::from_endpoints([ep.clone(), ep.clone()].iter());
        assert!((pooled.latency.median - ep.latency.median).abs() < 1e-9);
        let fb = EndpointBaseline::fallback("GET", "/new", &pooled);
        assert_eq!(fb.name, "GET /new");
        assert!(fb.endpoint_rarity > ep.endpoint_rarity);
    }
}
