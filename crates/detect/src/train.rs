//! Training: from records to a [`ModelBundle`].
//!
//! Per API, in this order: the endpoint catalog; endpoint baselines; the
//! request forest and its threshold; the behavior model (fed the calibrated
//! request scores, as the engine will). Then "traffic that raised an alert is
//! not learned as normal": the training records are replayed through the
//! engine's own detectors, records over the request threshold and every
//! record of an entity the behavior layer flags are dropped, and the request
//! forest and behavior model are fitted again on the rest (endpoint
//! baselines are robust statistics and are kept).

use crate::bundle::ModelBundle;
use crate::calibrate::{quantile, ThresholdRule};
use crate::discovery::{api_name, endpoint_name, CatalogBuilder, UNKNOWN_TEMPLATE};
use crate::envelope::FORMAT_VERSION;
use crate::features::{
    request_features, EndpointAccumulator, EndpointBaseline, PooledBaseline, N_FEATURES,
};
use crate::model::{
    stable_hash64, typical_baseline, ApiModel, EndpointMap, PopulationModel, RequestDetector,
    Resolved, Resolver,
};
use apiwarden_alert::{EntityKind, EntityRef};
use apiwarden_behavior::{
    BehaviorConfig, BehaviorError, BehaviorModel, BehaviorTracker, BehaviorTrainer, Observation,
};
use apiwarden_forest::{ForestError, IsolationForestParams};
use apiwarden_monitor::{MonitorConfig, MonitorModel, MonitorSample, MonitorTrainer};
use apiwarden_record::AccessRecord;
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use thiserror::Error;

/// Quantile of an endpoint's training z-scores that extremeness is measured against.
const EXTREME_REFERENCE_QUANTILE: f64 = 0.99;

/// Training parameters. `Default` is the shipped configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Seed of every random choice (each API derives its own from it and its name).
    pub seed: u64,
    pub request_trees: usize,
    pub request_sample_size: usize,
    pub request_threshold: ThresholdRule,
    /// A path position is folded to `{id}` once it shows more than this many
    /// distinct values under the same prefix.
    pub fold_after: usize,
    /// Prefixes tracked per API while learning folds.
    pub max_prefixes: usize,
    /// Endpoints per API; traffic past the cap goes to one `{unknown}` endpoint.
    pub max_endpoints_per_api: usize,
    /// APIs with fewer training records are left to the population model.
    pub min_api_records: usize,
    /// Refit without the records of entities that would alert.
    pub exclude_alerted: bool,
    /// Feature rows (sampled over all APIs) the population forest is fitted on.
    pub population_rows: usize,
    pub behavior: BehaviorConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            seed: 42,
            request_trees: 50,
            request_sample_size: 256,
            request_threshold: ThresholdRule::default(),
            fold_after: 25,
            max_prefixes: 4096,
            max_endpoints_per_api: 2000,
            min_api_records: 50,
            exclude_alerted: true,
            population_rows: 50_000,
            behavior: BehaviorConfig::default(),
        }
    }
}

#[derive(Debug, Error)]
pub enum TrainError {
    #[error("no training records")]
    NoRecords,
    #[error(
        "no API has enough training records: at least {min} needed, the largest has {largest}"
    )]
    TooFewRecords { min: usize, largest: usize },
    #[error("API `{api}`: request forest: {source}")]
    Forest {
        api: String,
        #[source]
        source: ForestError,
    },
    #[error("API `{api}`: behavior model: {source}")]
    Behavior {
        api: String,
        #[source]
        source: BehaviorError,
    },
}

/// Collects training records, then fits every API's model.
pub struct Trainer {
    cfg: TrainConfig,
    by_api: BTreeMap<String, Vec<AccessRecord>>,
    records: u64,
}

impl Trainer {
    pub fn new(cfg: TrainConfig) -> Self {
        Trainer {
            cfg,
            by_api: BTreeMap::new(),
            records: 0,
        }
    }

    /// Takes one record (records in time order; within an API they are
    /// sorted by time again, stably, before fitting).
    pub fn observe(&mut self, rec: &AccessRecord) {
        self.records += 1;
        self.by_api
            .entry(api_name(rec))
            .or_default()
            .push(rec.clone());
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    pub fn finish(self) -> Result<ModelBundle, TrainError> {
        if self.records == 0 {
            return Err(TrainError::NoRecords);
        }
        let cfg = self.cfg;
        let created_at_ms = self
            .by_api
            .values()
            .flat_map(|v| v.iter().map(|r| r.ts_ms))
            .max()
            .unwrap_or(0);
        let largest = self.by_api.values().map(Vec::len).max().unwrap_or(0);
        let jobs: Vec<(String, Vec<AccessRecord>)> = self
            .by_api
            .into_iter()
            .filter(|(_, recs)| recs.len() >= cfg.min_api_records.max(2))
            .collect();
        if jobs.is_empty() {
            return Err(TrainError::TooFewRecords {
                min: cfg.min_api_records.max(2),
                largest,
            });
        }
        // APIs are independent: fit them on two threads, results in name order.
        let results: Vec<Result<TrainedApi, TrainError>> = std::thread::scope(|s| {
            let cfg = &cfg;
            let mut pending = Vec::new();
            let mut out = Vec::new();
            for (name, mut recs) in jobs {
                recs.sort_by_key(|r| r.ts_ms);
                pending.push(s.spawn(move || {
                    let (model, excluded) = train_api(&name, &recs, cfg)?;
                    Ok((model, excluded, recs))
                }));
                if pending.len() >= 2 {
                    out.push(join(pending.remove(0)));
                }
            }
            out.extend(pending.into_iter().map(join));
            out
        });
        let mut apis = BTreeMap::new();
        let mut excluded_records = 0;
        let mut kept: Vec<(Arc<ApiModel>, Vec<AccessRecord>)> = Vec::new();
        for r in results {
            let (model, excluded, recs) = r?;
            excluded_records += excluded;
            let model = Arc::new(model);
            apis.insert(model.name.clone(), Arc::clone(&model));
            kept.push((model, recs));
        }
        let population = train_population(&kept, &cfg)?;
        Ok(ModelBundle {
            format_version: FORMAT_VERSION,
            created_at_ms,
            train_config: cfg,
            records: self.records,
            excluded_records,
            apis,
            population: population.map(Arc::new),
        })
    }
}

/// A fitted API, its excluded-record count and its (time-sorted) records.
type TrainedApi = (ApiModel, u64, Vec<AccessRecord>);

fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    match h.join() {
        Ok(v) => v,
        // A panic in a training thread is a bug; surface it as one.
        Err(p) => std::panic::resume_unwind(p),
    }
}

fn api_seed(cfg: &TrainConfig, api: &str) -> u64 {
    cfg.seed.wrapping_add(stable_hash64(api))
}

/// Fits one API; returns the model and how many records were excluded.
fn train_api(
    api: &str,
    recs: &[AccessRecord],
    cfg: &TrainConfig,
) -> Result<(ApiModel, u64), TrainError> {
    let seed = api_seed(cfg, api);
    let endpoints = endpoint_map(recs, cfg);
    let resolver = Resolver::Trained(&endpoints);
    let all: Vec<&AccessRecord> = recs.iter().collect();
    let mut request = fit_rows(api, feature_rows(&all, resolver), cfg, seed)?;
    let mut behavior = fit_behavior(api, &all, resolver, &request, cfg, seed)?;
    let mut kept_count = recs.len();
    if cfg.exclude_alerted {
        let keep = normal_records(api, recs, resolver, &request, &behavior, cfg);
        let kept: Vec<&AccessRecord> = recs
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(r, _)| r)
            .collect();
        if kept.len() < recs.len() && kept.len() >= cfg.min_api_records.max(2) {
            request = fit_rows(api, feature_rows(&kept, resolver), cfg, seed)?;
            behavior = fit_behavior(api, &kept, resolver, &request, cfg, seed)?;
            kept_count = kept.len();
        }
    }
    let monitor = fit_monitor(api, recs, resolver);
    Ok((
        ApiModel {
            name: api.to_string(),
            records: kept_count as u64,
            endpoints,
            request,
            behavior: Arc::new(behavior),
            monitor: Some(Arc::new(monitor)),
        },
        (recs.len() - kept_count) as u64,
    ))
}

fn endpoint_map(recs: &[AccessRecord], cfg: &TrainConfig) -> EndpointMap {
    let mut builder = CatalogBuilder::new(cfg.fold_after, cfg.max_prefixes);
    for r in recs {
        builder.observe(&r.path);
    }
    let catalog = builder.finish();
    let mut acc: BTreeMap<(String, String), EndpointAccumulator> = BTreeMap::new();
    for r in recs {
        let t = catalog.template(&r.path);
        let mut key = (r.method.clone(), t.template);
        if !acc.contains_key(&key) && acc.len() >= cfg.max_endpoints_per_api {
            key.1 = UNKNOWN_TEMPLATE.to_string();
        }
        acc.entry(key).or_default().observe(r);
    }
    let mut per_template: BTreeMap<String, u64> = BTreeMap::new();
    for ((_, t), a) in &acc {
        *per_template.entry(t.clone()).or_default() += a.count();
    }
    let api_count = recs.len() as u64;
    let mut endpoints: Vec<EndpointBaseline> = acc
        .into_iter()
        .map(|((m, t), a)| {
            let on_template = per_template.get(&t).copied().unwrap_or(0);
            a.finish(&m, &t, on_template, api_count)
        })
        .collect();
    endpoints.sort_by(|a, b| a.name.cmp(&b.name));
    let by_name: BTreeMap<String, usize> = endpoints
        .iter()
        .enumerate()
        .map(|(i, e)| (e.name.clone(), i))
        .collect();
    // The extremeness reference: a high quantile of each endpoint's z-scores,
    // not the maximum, so a few absurd records in training do not excuse
    // their kind forever (they are then over threshold and excluded).
    let mut zs: Vec<[Vec<f64>; 3]> = vec![Default::default(); endpoints.len()];
    for r in recs {
        let t = catalog.template(&r.path);
        let name = endpoint_name(&r.method, &t.template);
        let i = by_name
            .get(&name)
            .or_else(|| by_name.get(&endpoint_name(&r.method, UNKNOWN_TEMPLATE)));
        if let Some((&i, ep)) = i.and_then(|i| Some((i, endpoints.get(*i)?))) {
            let f = request_features(r, ep, true);
            if let Some(slot) = zs.get_mut(i) {
                for (v, z) in slot.iter_mut().zip(&f[..3]) {
                    v.push(*z);
                }
            }
        }
    }
    for (ep, slot) in endpoints.iter_mut().zip(&zs) {
        for (m, v) in ep.max_z.iter_mut().zip(slot) {
            *m = quantile(v, EXTREME_REFERENCE_QUANTILE)
                .unwrap_or(0.0)
                .max(0.0);
        }
    }
    let index = endpoints
        .iter()
        .enumerate()
        .map(|(i, e)| (endpoint_name(&e.method, &e.template), i as u32))
        .collect();
    let pooled = PooledBaseline::from_endpoints(endpoints.iter());
    EndpointMap {
        catalog,
        endpoints,
        index,
        unknown: EndpointBaseline::fallback("*", UNKNOWN_TEMPLATE, &pooled),
    }
}

fn feature_rows(recs: &[&AccessRecord], resolver: Resolver<'_>) -> Array2<f64> {
    let mut rows = Array2::<f64>::zeros((recs.len(), N_FEATURES));
    for (mut row, rec) in rows.rows_mut().into_iter().zip(recs) {
        let r = resolver.resolve(rec);
        let f = request_features(rec, r.baseline, r.known);
        row.assign(&ndarray::ArrayView1::from(&f[..]));
    }
    rows
}

fn fit_rows(
    api: &str,
    rows: Array2<f64>,
    cfg: &TrainConfig,
    seed: u64,
) -> Result<RequestDetector, TrainError> {
    let forest = IsolationForestParams::new()
        .n_trees(cfg.request_trees)
        .sample_size(cfg.request_sample_size)
        .seed(seed)
        .fit(rows.view())
        .map_err(|source| TrainError::Forest {
            api: api.to_string(),
            source,
        })?;
    let scores = forest.score_batch(rows.view());
    let threshold = cfg.request_threshold.threshold(&scores);
    Ok(RequestDetector { forest, threshold })
}

fn observation<'a>(
    rec: &'a AccessRecord,
    id: &'a str,
    api: &'a str,
    r: &'a Resolved<'_>,
    request_score: f64,
) -> Observation<'a> {
    Observation {
        rec,
        id,
        api,
        endpoint: r.endpoint,
        endpoint_known: r.known,
        object_id: r.templated.object_id.as_deref(),
        is_auth: r.is_auth,
        response_bytes_baseline: r.baseline.response_bytes_median,
        latency_baseline_ms: r.baseline.latency_median_ms,
        public: r.baseline.is_public(),
        request_score,
    }
}

fn fit_behavior(
    api: &str,
    recs: &[&AccessRecord],
    resolver: Resolver<'_>,
    request: &RequestDetector,
    cfg: &TrainConfig,
    seed: u64,
) -> Result<BehaviorModel, TrainError> {
    let mut trainer = BehaviorTrainer::new(cfg.behavior.clone(), seed);
    let mut ids = IdSource::default();
    for rec in recs {
        let r = resolver.resolve(rec);
        let (_, _, cal) = resolver.score_request(request, rec, &r);
        let id = ids.id(rec);
        trainer.observe(&observation(rec, &id, api, &r, cal));
    }
    trainer.finish().map_err(|source| TrainError::Behavior {
        api: api.to_string(),
        source,
    })
}

/// Which training records look normal to the fitted models: not over the
/// request threshold, and not of an entity the behavior layer flags.
fn normal_records(
    api: &str,
    recs: &[AccessRecord],
    resolver: Resolver<'_>,
    request: &RequestDetector,
    behavior: &BehaviorModel,
    cfg: &TrainConfig,
) -> Vec<bool> {
    let mut tracker = BehaviorTracker::new(Arc::new(behavior.clone()), cfg.behavior.clone());
    let mut flagged: BTreeSet<EntityRef> = BTreeSet::new();
    let mut over_request = vec![false; recs.len()];
    let mut ids = IdSource::default();
    for (over, rec) in over_request.iter_mut().zip(recs) {
        let r = resolver.resolve(rec);
        let (_, _, cal) = resolver.score_request(request, rec, &r);
        *over = cal > 0.5;
        let id = ids.id(rec);
        let out = tracker.observe(&observation(rec, &id, api, &r, cal));
        for v in out.flagged {
            // API-wide flags describe everyone's traffic, not one actor's.
            if v.entity.kind != EntityKind::Api {
                flagged.insert(v.entity);
            }
        }
    }
    recs.iter()
        .zip(over_request)
        .map(|(rec, over)| !over && !entities_of(rec).iter().any(|e| flagged.contains(e)))
        .collect()
}

/// The behavior entities of a record (not the API-wide one).
pub fn entities_of(rec: &AccessRecord) -> Vec<EntityRef> {
    let mut v = Vec::with_capacity(4);
    v.push(EntityRef {
        kind: EntityKind::Ip,
        value: rec.client_ip.to_string(),
    });
    v.extend(named_entities(rec).into_iter().filter_map(|(kind, value)| {
        Some(EntityRef {
            kind,
            value: value?.to_string(),
        })
    }));
    v
}

/// The record's entities after its address, in [`entities_of`]'s order, borrowed.
pub(crate) fn named_entities(rec: &AccessRecord) -> [(EntityKind, Option<&str>); 3] {
    [
        (EntityKind::User, rec.user.as_deref()),
        (EntityKind::ApiKey, rec.api_key.as_ref().map(|k| k.as_str())),
        (EntityKind::Token, rec.token.as_ref().map(|t| t.as_str())),
    ]
}

/// Health baselines of one API from all its training records: records the
/// attack detectors exclude are still real traffic the API served.
fn fit_monitor(api: &str, recs: &[AccessRecord], resolver: Resolver<'_>) -> MonitorModel {
    let mut trainer = MonitorTrainer::new(MonitorConfig::default());
    for rec in recs {
        let endpoint = resolver.resolve(rec).endpoint_name;
        let client = monitor_client(rec);
        let id = rec.id.as_deref().unwrap_or("");
        trainer.observe(&MonitorSample::of_record(
            rec,
            api,
            &endpoint,
            id,
            Some(&client),
        ));
    }
    trainer.finish()
}

/// The client key the monitor counts the country mix in: user, else API key
/// fingerprint, else IP, so one busy client is one client.
pub fn monitor_client(rec: &AccessRecord) -> String {
    let mut client = String::new();
    write_monitor_client(rec, &mut client);
    client
}

/// [`monitor_client`] written over `out`: the engine keeps one buffer for
/// it instead of formatting a new string per record.
pub(crate) fn write_monitor_client(rec: &AccessRecord, out: &mut String) {
    out.clear();
    match (&rec.user, &rec.api_key) {
        (Some(user), _) => {
            out.push_str("user:");
            out.push_str(user);
        }
        (None, Some(key)) => {
            out.push_str("key:");
            out.push_str(key.as_str());
        }
        (None, None) => {
            out.push_str("ip:");
            push_ip(out, rec.client_ip);
        }
    }
}

/// Appends an IP as its `Display` writes it; IPv4 by hand (the formatter
/// costs several times as much, on every record).
pub(crate) fn push_ip(out: &mut String, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(ip) => {
            for (i, octet) in ip.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if octet >= 100 {
                    out.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    out.push(char::from(b'0' + octet / 10 % 10));
                }
                out.push(char::from(b'0' + octet % 10));
            }
        }
        std::net::IpAddr::V6(ip) => {
            use std::fmt::Write;
            // Writing to a String cannot fail.
            let _ = write!(out, "{ip}");
        }
    }
}

/// Request ids for records without one: deterministic by position.
#[derive(Default)]
pub(crate) struct IdSource {
    next: u64,
}

impl IdSource {
    pub(crate) fn id(&mut self, rec: &AccessRecord) -> String {
        self.next += 1;
        match &rec.id {
            Some(id) => id.clone(),
            None => format!("anon-{}", self.next),
        }
    }
}

fn train_population(
    kept: &[(Arc<ApiModel>, Vec<AccessRecord>)],
    cfg: &TrainConfig,
) -> Result<Option<PopulationModel>, TrainError> {
    let models: Vec<&ApiModel> = kept.iter().map(|(m, _)| m.as_ref()).collect();
    if models.is_empty() {
        return Ok(None);
    }
    let typical = typical_baseline(&models);
    let total: usize = kept.iter().map(|(_, r)| r.len()).sum();
    // Every k-th record of every API: deterministic and proportional.
    let step = total.div_ceil(cfg.population_rows.max(2)).max(1);
    let sampled: Vec<&AccessRecord> = kept
        .iter()
        .flat_map(|(_, r)| r.iter().step_by(step))
        .collect();
    if sampled.len() < 2 {
        return Ok(None);
    }
    let rows = feature_rows(&sampled, Resolver::Population(&typical));
    let request = fit_rows("*", rows, cfg, cfg.seed)?;
    let behaviors: Vec<&BehaviorModel> = models.iter().map(|m| m.behavior.as_ref()).collect();
    Ok(Some(PopulationModel {
        typical,
        request,
        behavior: BehaviorModel::population(&behaviors).map(Arc::new),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiwarden_record::Fingerprint;

    #[test]
    fn monitor_client_reads_as_formatted() {
        let mut rec = AccessRecord::example();
        for ip in [
            "0.0.0.0",
            "10.0.0.9",
            "1.20.100.7",
            "99.100.109.250",
            "255.255.255.255",
            "2001:db8::1",
            "::ffff:10.0.0.1",
        ] {
            rec.client_ip = ip.parse().unwrap();
            assert_eq!(monitor_client(&rec), format!("ip:{}", rec.client_ip));
        }
        rec.api_key = Some(Fingerprint("fp:ab".into()));
        assert_eq!(monitor_client(&rec), "key:fp:ab");
        rec.user = Some("alice".into());
        assert_eq!(monitor_client(&rec), "user:alice");
        let mut reused = String::from("left over");
        write_monitor_client(&rec, &mut reused);
        assert_eq!(reused, "user:alice");
    }
}
