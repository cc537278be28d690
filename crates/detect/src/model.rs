//! What training learns about one API (and the population fallback for APIs
//! it never saw), and how a record is resolved against it.

use crate::calibrate::calibrate;
use crate::discovery::{endpoint_name, is_auth_path, EndpointCatalog, Templated};
use crate::features::{
    extremeness, request_features, EndpointBaseline, PooledBaseline, N_FEATURES,
};
use apiwarden_behavior::BehaviorModel;
use apiwarden_forest::IsolationForest;
use apiwarden_monitor::MonitorModel;
use apiwarden_record::AccessRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Endpoint indices at or above this mark endpoints unknown to training; the
/// low bits are a stable hash of the endpoint, so distinct unknown paths stay
/// distinct for the behavior layer.
pub const UNKNOWN_ENDPOINT_BIT: u32 = 0x8000_0000;

/// The request-level detector: a forest over request features and its threshold.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestDetector {
    pub forest: IsolationForest,
    /// Raw forest score over which a request is anomalous.
    pub threshold: f64,
}

impl RequestDetector {
    /// Raw forest score, and the request score: the larger of the
    /// calibrated forest score (threshold at 0.5) and the extremeness of the
    /// record against its endpoint.
    pub fn score(
        &self,
        features: &[f64; N_FEATURES],
        ep: &EndpointBaseline,
        status: u16,
    ) -> (f64, f64) {
        let raw = self.forest.score_one(features);
        let raw = if raw.is_finite() { raw } else { 0.0 };
        let extreme = extremeness(features, ep, status);
        (raw, calibrate(raw, self.threshold).max(extreme))
    }
}

/// Endpoints of one API: the catalog that templates paths and the baseline
/// of every endpoint seen in training.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndpointMap {
    pub catalog: EndpointCatalog,
    /// Indexed by endpoint id; sorted by name.
    pub endpoints: Vec<EndpointBaseline>,
    /// Endpoint name (`GET /v1/x/{id}`) → index into `endpoints`.
    pub index: BTreeMap<String, u32>,
    /// Baseline used for endpoints never seen in training.
    pub unknown: EndpointBaseline,
}

/// The learned model of one API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiModel {
    pub name: String,
    /// Training records of this API (after exclusions).
    pub records: u64,
    pub endpoints: EndpointMap,
    pub request: RequestDetector,
    pub behavior: Arc<BehaviorModel>,
    /// API health baselines (latency, errors, sizes, traffic, countries).
    /// Last and defaulted so bundles written before monitoring still load,
    /// unmonitored.
    #[serde(default)]
    pub monitor: Option<Arc<MonitorModel>>,
}

/// The fallback for an API that has no model of its own: statistics pooled
/// over all trained APIs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PopulationModel {
    /// One baseline standing in for every endpoint (pooled spreads, typical rarities).
    pub typical: EndpointBaseline,
    pub request: RequestDetector,
    pub behavior: Option<Arc<BehaviorModel>>,
}

/// A record placed in its API's model.
#[derive(Debug)]
pub struct Resolved<'m> {
    pub templated: Templated,
    /// `GET /v1/accounts/{id}`.
    pub endpoint_name: String,
    pub endpoint: u32,
    pub known: bool,
    pub is_auth: bool,
    pub baseline: &'m EndpointBaseline,
}

/// How records of an API find their endpoint.
#[derive(Debug, Clone, Copy)]
pub enum Resolver<'m> {
    /// Against the endpoints learned for the API.
    Trained(&'m EndpointMap),
    /// No training for this API: every endpoint stands on the typical baseline.
    Population(&'m EndpointBaseline),
}

impl<'m> Resolver<'m> {
    pub fn resolve(self, rec: &AccessRecord) -> Resolved<'m> {
        match self {
            Resolver::Trained(m) => m.resolve(rec),
            Resolver::Population(typical) => {
                let templated = EndpointCatalog::default().template(&rec.path);
                let name = endpoint_name(&rec.method, &templated.template);
                let is_auth = is_auth_path(&templated.template);
                // No training says which endpoints exist: every one is
                // "known", indexed by a stable hash for distinct counts.
                Resolved {
                    endpoint: stable_hash32(&name) & !UNKNOWN_ENDPOINT_BIT,
                    endpoint_name: name,
                    templated,
                    known: true,
                    is_auth,
                    baseline: typical,
                }
            }
        }
    }

    /// Request features, raw and calibrated request scores of a record.
    pub fn score_request(
        self,
        detector: &RequestDetector,
        rec: &AccessRecord,
        r: &Resolved<'_>,
    ) -> ([f64; N_FEATURES], f64, f64) {
        let f = request_features(rec, r.baseline, r.known);
        let (raw, cal) = detector.score(&f, r.baseline, rec.status);
        (f, raw, cal)
    }
}

impl EndpointMap {
    pub fn resolve(&self, rec: &AccessRecord) -> Resolved<'_> {
        let templated = self.catalog.template(&rec.path);
        let name = endpoint_name(&rec.method, &templated.template);
        match self
            .index
            .get(&name)
            .and_then(|&i| Some((i, self.endpoints.get(i as usize)?)))
        {
            Some((i, ep)) => Resolved {
                templated,
                endpoint_name: name,
                endpoint: i,
                known: true,
                is_auth: ep.is_auth,
                baseline: ep,
            },
            None => {
                let is_auth = is_auth_path(&templated.template);
                Resolved {
                    endpoint: UNKNOWN_ENDPOINT_BIT | stable_hash32(&name),
                    endpoint_name: name,
                    templated,
                    known: false,
                    is_auth,
                    baseline: &self.unknown,
                }
            }
        }
    }

    pub fn names(&self) -> Vec<String> {
        self.endpoints.iter().map(|e| e.name.clone()).collect()
    }
}

/// A stable 32-bit hash (not std's randomized one): bundle and verdicts must
/// not change between runs.
pub fn stable_hash32(s: &str) -> u32 {
    let h = blake3::hash(s.as_bytes());
    let b = h.as_bytes();
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// A stable 64-bit hash of a string.
pub fn stable_hash64(s: &str) -> u64 {
    let h = blake3::hash(s.as_bytes());
    let b = h.as_bytes();
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// The pooled "typical endpoint" of the population model.
pub fn typical_baseline(models: &[&ApiModel]) -> EndpointBaseline {
    let pooled =
        PooledBaseline::from_endpoints(models.iter().flat_map(|m| m.endpoints.endpoints.iter()));
    let mut typical = EndpointBaseline::fallback("*", "/*", &pooled);
    let weighted = |f: fn(&EndpointBaseline) -> f64| {
        let mut v: Vec<(f64, u64)> = models
            .iter()
            .flat_map(|m| m.endpoints.endpoints.iter())
            .map(|e| (f(e), e.count))
            .collect();
        weighted_median(&mut v)
    };
    if let Some(m) = weighted(|e| e.method_rarity) {
        typical.method_rarity = m;
    }
    if let Some(m) = weighted(|e| e.endpoint_rarity) {
        typical.endpoint_rarity = m;
    }
    // Status rarity by status, pooled over endpoints (weighted by traffic).
    let mut by_status: BTreeMap<u16, Vec<(f64, u64)>> = BTreeMap::new();
    for e in models.iter().flat_map(|m| m.endpoints.endpoints.iter()) {
        for (s, r) in &e.status_rarity {
            by_status.entry(*s).or_default().push((*r, e.count));
        }
    }
    typical.status_rarity = by_status
        .into_iter()
        .filter_map(|(s, mut v)| Some((s, weighted_median(&mut v)?)))
        .collect();
    if let Some(m) = weighted(|e| e.unseen_status_rarity) {
        typical.unseen_status_rarity = m;
    }
    typical
}

fn weighted_median(v: &mut [(f64, u64)]) -> Option<f64> {
    let total: u64 = v.iter().map(|x| x.1).sum();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut acc = 0;
    for (x, w) in v.iter() {
        acc += w;
        if acc * 2 >= total {
            return Some(*x);
        }
    }
    v.last().map(|x| x.0)
}
