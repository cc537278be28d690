//! Live scoring: one engine per shard, each on its own OS thread, fed by a
//! bounded channel. Back-pressure reaches ingest when scoring falls behind:
//! at most [`MAX_BACKLOG_RECORDS`] acknowledged records wait for scoring, so
//! memory stays bounded however much faster ingest is than scoring.
//! Records are routed by API, so each API's state lives on one shard and
//! verdicts are the same as one engine scoring everything in order.

use crate::metrics::{ApiLabels, HotMetrics};
use crate::policy::Policy;
use crate::webhooks::Webhooks;
use apiwarden_alert::{Alert, EntityKind, Severity};
use apiwarden_detect::{ApiStatus, Engine, EngineConfig, EntitySnapshot, ModelBundle};
use apiwarden_store::{RecordEntry, Store, StoredScore, WriteBatch};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;
use tokio::sync::{broadcast, mpsc, oneshot, Semaphore};

const QUEUE: usize = 64;
/// APIs whose shard [`Shards::score`] remembers within one batch.
const MAX_APIS_REMEMBERED: usize = 32;
/// Records queued for scoring across all shards (a few seconds of scoring).
pub const MAX_BACKLOG_RECORDS: usize = 256 * 1024;
/// Remembered published alerts per shard before the memory is reset.
const MAX_PUBLISHED: usize = 200_000;

pub enum ShardMsg {
    Score {
        entries: Vec<RecordEntry>,
        /// When the batch was acknowledged (scoring lag is measured from it).
        acked: Instant,
        /// Backlog permits this message holds, given back once it is scored.
        permits: u32,
    },
    /// Snapshots of one entity on `api` (or on every API of the shard).
    Entity {
        api: Option<String>,
        kind: EntityKind,
        value: String,
        reply: oneshot::Sender<Vec<(String, EntitySnapshot)>>,
    },
    Status(oneshot::Sender<Vec<ApiStatus>>),
    /// Replace the engine (new models). Behavior state starts over: windows
    /// span 10 minutes (short) to an hour (long) of traffic time, so warming
    /// them by replaying stored traffic would mean re-reading up to an hour
    /// of records per swap (tens of millions at full ingest rate) while the
    /// shard stalls, and the records queued behind the swap are already
    /// stored, so a replay would count them twice unless deduplicated by id.
    /// Not done: after a swap, behavior scores ramp up over the short window.
    Swap(Arc<ModelBundle>),
    /// Answered once everything queued before it is scored and submitted.
    Barrier(oneshot::Sender<()>),
}

/// What every shard shares: where verdicts and alerts go.
pub struct ShardOutputs {
    pub store: Arc<dyn Store>,
    pub alerts: broadcast::Sender<Arc<Alert>>,
    pub webhooks: Webhooks,
    pub policy: Arc<Policy>,
    pub api_labels: Arc<ApiLabels>,
    /// Newest traffic time scored: "now" for alert openness (blocklist).
    pub latest_ts_ms: Arc<AtomicI64>,
    pub hot: HotMetrics,
    /// Permits for records waiting to be scored.
    pub backlog: Arc<Semaphore>,
}

pub struct Shards {
    count: usize,
    outputs: Arc<ShardOutputs>,
    /// Emptied by [`Shards::close`]: dropping the senders ends the shard threads.
    senders: RwLock<Vec<mpsc::Sender<ShardMsg>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Shards {
    pub fn start(
        count: usize,
        bundle: Arc<ModelBundle>,
        cfg: EngineConfig,
        outputs: Arc<ShardOutputs>,
    ) -> std::io::Result<Self> {
        let mut senders = Vec::new();
        let mut threads = Vec::new();
        for index in 0..count.max(1) {
            let (tx, rx) = mpsc::channel(QUEUE);
            let engine = Engine::new(Arc::clone(&bundle), cfg.clone());
            let outputs = Arc::clone(&outputs);
            let cfg = cfg.clone();
            let handle = std::thread::Builder::new()
                .name(format!("apiwarden-shard-{index}"))
                .spawn(move || run(engine, cfg, rx, outputs))?;
            senders.push(tx);
            threads.push(handle);
        }
        Ok(Shards {
            count: senders.len(),
            outputs,
            senders: RwLock::new(senders),
            threads: Mutex::new(threads),
        })
    }

    pub fn count(&self) -> usize {
        self.count
    }

    fn sender(&self, index: usize) -> Option<mpsc::Sender<ShardMsg>> {
        self.senders.read().ok()?.get(index).cloned()
    }

    fn all_senders(&self) -> Vec<mpsc::Sender<ShardMsg>> {
        self.senders.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// Route records (moved, not copied) to their shards, one message per
    /// shard; waits while the backlog is full or a shard's queue is.
    pub async fn score(
        &self,
        entries: Vec<RecordEntry>,
        acked: Instant,
    ) -> Result<(), ShardsClosed> {
        let n = self.count();
        let backlog = &self.outputs.backlog;
        let mut per_shard: Vec<Vec<RecordEntry>>;
        if n == 1 {
            per_shard = vec![entries];
        } else {
            let expected = entries.len() / n + entries.len() / 8;
            per_shard = (0..n).map(|_| Vec::with_capacity(expected)).collect();
            // The shard of each API of the batch, hashed once (a batch has
            // few APIs; a hash per record was measurable at full ingest).
            let mut known: Vec<(String, usize)> = Vec::new();
            for e in entries {
                let s = match known.iter().find(|(api, _)| *api == e.api) {
                    Some(&(_, s)) => s,
                    None => {
                        let s = apiwarden_detect::shard_of(&e.api, n);
                        if known.len() < MAX_APIS_REMEMBERED {
                            known.push((e.api.clone(), s));
                        }
                        s
                    }
                };
                if let Some(bucket) = per_shard.get_mut(s) {
                    bucket.push(e);
                }
            }
        }
        for (index, batch) in per_shard.into_iter().enumerate() {
            if batch.is_empty() {
                continue;
            }
            // A batch larger than the whole backlog takes all of it.
            let permits = u32::try_from(batch.len().min(MAX_BACKLOG_RECORDS)).unwrap_or(u32::MAX);
            backlog
                .acquire_many(permits)
                .await
                .map_err(|_| ShardsClosed)?
                .forget();
            let records = batch.len();
            self.outputs.hot.scoring_backlog.increment(records as f64);
            let sent = match self.sender(index) {
                Some(tx) => tx
                    .send(ShardMsg::Score {
                        entries: batch,
                        acked,
                        permits,
                    })
                    .await
                    .is_ok(),
                None => false,
            };
            if !sent {
                backlog.add_permits(permits as usize);
                self.outputs.hot.scoring_backlog.decrement(records as f64);
                return Err(ShardsClosed);
            }
        }
        Ok(())
    }

    pub async fn entity(
        &self,
        api: Option<&str>,
        kind: EntityKind,
        value: &str,
    ) -> Result<Vec<(String, EntitySnapshot)>, ShardsClosed> {
        let targets: Vec<usize> = match api {
            Some(api) => vec![apiwarden_detect::shard_of(api, self.count())],
            None => (0..self.count()).collect(),
        };
        let mut out = Vec::new();
        for index in targets {
            let (reply, rx) = oneshot::channel();
            let msg = ShardMsg::Entity {
                api: api.map(str::to_string),
                kind,
                value: value.to_string(),
                reply,
            };
            let tx = self.sender(index).ok_or(ShardsClosed)?;
            tx.send(msg).await.map_err(|_| ShardsClosed)?;
            out.extend(rx.await.map_err(|_| ShardsClosed)?);
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    pub async fn status(&self) -> Result<Vec<ApiStatus>, ShardsClosed> {
        let mut out = Vec::new();
        for tx in self.all_senders() {
            let (reply, rx) = oneshot::channel();
            tx.send(ShardMsg::Status(reply))
                .await
                .map_err(|_| ShardsClosed)?;
            out.extend(rx.await.map_err(|_| ShardsClosed)?);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub async fn swap(&self, bundle: Arc<ModelBundle>) -> Result<(), ShardsClosed> {
        for tx in self.all_senders() {
            tx.send(ShardMsg::Swap(Arc::clone(&bundle)))
                .await
                .map_err(|_| ShardsClosed)?;
        }
        Ok(())
    }

    /// Wait until every record sent so far is scored and its verdict submitted.
    pub async fn barrier(&self) -> Result<(), ShardsClosed> {
        for tx in self.all_senders() {
            let (reply, rx) = oneshot::channel();
            tx.send(ShardMsg::Barrier(reply))
                .await
                .map_err(|_| ShardsClosed)?;
            rx.await.map_err(|_| ShardsClosed)?;
        }
        Ok(())
    }

    /// Close the queues and wait (blocking) for the shards to score what they hold.
    pub fn close(&self) {
        if let Ok(mut s) = self.senders.write() {
            s.clear();
        }
        let threads = self
            .threads
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for t in threads {
            if t.join().is_err() {
                tracing::error!("a scoring shard panicked");
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("scoring shards are shut down")]
pub struct ShardsClosed;

fn run(
    mut engine: Engine,
    cfg: EngineConfig,
    mut rx: mpsc::Receiver<ShardMsg>,
    out: Arc<ShardOutputs>,
) {
    let mut published: HashMap<String, Severity> = HashMap::new();
    let mut figures_published: Option<Instant> = None;
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            ShardMsg::Score {
                entries,
                acked,
                permits,
            } => {
                let records = entries.len();
                let scored = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    score_batch(&mut engine, entries, &out, &mut published)
                }));
                out.backlog.add_permits(permits as usize);
                out.hot.scoring_backlog.decrement(records as f64);
                out.hot.scoring_lag.record(acked.elapsed().as_secs_f64());
                if figures_published.is_none_or(|at| at.elapsed() >= FIGURES_EVERY) {
                    publish_health_figures(&engine);
                    figures_published = Some(Instant::now());
                }
                if scored.is_err() {
                    // A bug in a detector must not take live scoring down for
                    // good: start this shard's engine over on the same models.
                    tracing::error!("scoring panicked; restarting this shard's engine");
                    metrics::counter!("apiwarden_scoring_panics_total").increment(1);
                    engine = Engine::new(Arc::clone(engine.models()), cfg.clone());
                }
            }
            ShardMsg::Entity {
                api,
                kind,
                value,
                reply,
            } => {
                let apis: Vec<String> = match api {
                    Some(a) => vec![a],
                    None => engine.api_status().into_iter().map(|s| s.name).collect(),
                };
                let found = apis
                    .into_iter()
                    .filter_map(|a| engine.entity(&a, kind, &value).map(|s| (a, s)))
                    .collect();
                let _ = reply.send(found);
            }
            ShardMsg::Status(reply) => {
                let _ = reply.send(engine.api_status());
            }
            ShardMsg::Swap(bundle) => {
                engine = Engine::new(bundle, cfg.clone());
                published.clear();
            }
            ShardMsg::Barrier(reply) => {
                let _ = reply.send(());
            }
        }
    }
}

/// How often a shard refreshes its APIs' health gauges.
const FIGURES_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// APIs per shard whose health figures are exported: bounds label cardinality.
const MAX_FIGURE_APIS: usize = 50;

/// Sets the `/metrics` gauges of the monitored figures (shards own disjoint
/// APIs, so no two shards set the same series).
fn publish_health_figures(engine: &Engine) {
    for figures in engine.monitor_figures(MAX_FIGURE_APIS) {
        for g in figures.gauges() {
            let labels: Vec<metrics::Label> = g
                .labels
                .into_iter()
                .map(|(k, v)| metrics::Label::new(k, v))
                .collect();
            metrics::gauge!(g.name, labels).set(g.value);
        }
    }
}

fn score_batch(
    engine: &mut Engine,
    batch: Vec<RecordEntry>,
    out: &ShardOutputs,
    published: &mut HashMap<String, Severity>,
) {
    let started = Instant::now();
    let policy = out.policy.snapshot();
    let mut scores = Vec::with_capacity(batch.len());
    // The newest state of each alert touched by this batch, in first-touch order.
    let mut touched: Vec<Alert> = Vec::new();
    let mut touched_index: HashMap<String, usize> = HashMap::new();
    let mut latest = i64::MIN;
    let mut size_histograms: HashMap<&str, (metrics::Histogram, metrics::Histogram)> =
        HashMap::new();
    for entry in &batch {
        let rec = &entry.record;
        // Histogram handles once per API and batch, not a registry lookup per record.
        let (req_size, resp_size) =
            size_histograms
                .entry(entry.api.as_str())
                .or_insert_with(|| {
                    let label = out.api_labels.label(&entry.api);
                    (
                        metrics::histogram!("apiwarden_request_size_bytes", "api" => label.clone()),
                        metrics::histogram!("apiwarden_response_size_bytes", "api" => label),
                    )
                });
        req_size.record(rec.request_bytes as f64);
        resp_size.record(rec.response_bytes as f64);
        let verdict = engine.process(rec);
        latest = latest.max(verdict.ts_ms);
        let mut attack = verdict.attack;
        let mut kept_alert = false;
        for alert in verdict.alerts {
            if !policy.alert_allowed(&alert, verdict.score) {
                continue;
            }
            kept_alert = true;
            match touched_index.get(&alert.id) {
                Some(&i) => {
                    if let Some(slot) = touched.get_mut(i) {
                        *slot = Arc::unwrap_or_clone(alert);
                    }
                }
                None => {
                    touched_index.insert(alert.id.clone(), touched.len());
                    touched.push(Arc::unwrap_or_clone(alert));
                }
            }
        }
        if attack.is_some() && !kept_alert && policy.record_allowlisted(&verdict.api, rec) {
            attack = None;
        }
        scores.push(StoredScore {
            id: verdict.id,
            api: verdict.api,
            endpoint: verdict.endpoint,
            ts_ms: verdict.ts_ms,
            score: verdict.score,
            attack,
        });
    }
    out.latest_ts_ms.fetch_max(latest, Ordering::Relaxed);
    out.hot.scored_records.increment(scores.len() as u64);
    out.hot
        .scoring_duration
        .record(started.elapsed().as_secs_f64());

    for alert in &touched {
        let escalated = match published.get(&alert.id) {
            None => {
                match (alert.attack, alert.monitor) {
                    (Some(attack), _) => {
                        metrics::counter!("apiwarden_alerts_total", "attack" => attack.as_str())
                            .increment(1)
                    }
                    (None, Some(kind)) => metrics::counter!(
                        "apiwarden_monitoring_alerts_total",
                        "kind" => kind.as_str()
                    )
                    .increment(1),
                    (None, None) => {}
                }
                true
            }
            Some(&sev) => alert.severity > sev,
        };
        if escalated {
            if published.len() >= MAX_PUBLISHED {
                published.clear();
            }
            published.insert(alert.id.clone(), alert.severity);
            let shared = Arc::new(alert.clone());
            // No subscriber is not an error.
            let _ = out.alerts.send(Arc::clone(&shared));
            out.webhooks.dispatch(&shared);
        }
    }
    let batch = WriteBatch {
        scores,
        alerts: touched,
        ..WriteBatch::default()
    };
    if let Err(e) = out.store.submit(batch, None) {
        tracing::error!(error = %e, "cannot store verdicts");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiwarden_record::{Fingerprinter, InputFormat};
    use apiwarden_store::MemoryStore;
    use std::time::Duration;

    fn entries(n: usize) -> Vec<RecordEntry> {
        let body: String = (0..n)
            .map(|i| {
                format!(
                    "{{\"id\":\"r{i}\",\"ts\":{},\"api\":\"shop\",\"method\":\"GET\",\"path\":\"/items/{i}\",\"status\":200,\"latency_ms\":5,\"request_bytes\":100,\"response_bytes\":900,\"client_ip\":\"10.0.0.1\"}}\n",
                    1_790_000_000_000_i64 + i as i64
                )
            })
            .collect();
        apiwarden_record::parse_bytes(
            body.as_bytes(),
            InputFormat::Ndjson,
            &Fingerprinter::new([7; 32]),
        )
        .into_iter()
        .map(|r| {
            let record = r.expect("valid record");
            RecordEntry {
                api: "shop".into(),
                record,
            }
        })
        .collect()
    }

    fn outputs() -> Arc<ShardOutputs> {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let (_shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        Arc::new(ShardOutputs {
            store: Arc::clone(&store),
            alerts: broadcast::channel(16).0,
            webhooks: Webhooks::start(Vec::new(), store, shutdown_rx),
            policy: Arc::new(Policy::default()),
            api_labels: Arc::new(ApiLabels::new(4)),
            latest_ts_ms: Arc::new(AtomicI64::new(i64::MIN)),
            hot: HotMetrics::register(),
            backlog: Arc::new(Semaphore::new(MAX_BACKLOG_RECORDS)),
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_record_of_an_api_goes_to_the_shard_of_its_api() {
        let outputs = outputs();
        let bundle = Arc::new(crate::state::empty_bundle(1));
        let shards = Shards::start(3, bundle, EngineConfig::default(), Arc::clone(&outputs))
            .expect("shards");
        // More APIs than a batch remembers the shards of, interleaved.
        let apis = MAX_APIS_REMEMBERED + 8;
        let mut batch = Vec::new();
        for round in 0..3 {
            for a in 0..apis {
                let mut e = entries(1).remove(0);
                e.api = format!("api{a}");
                e.record.api = Some(e.api.clone());
                e.record.ts_ms += round;
                batch.push(e);
            }
        }
        shards.score(batch, Instant::now()).await.expect("scored");
        shards.barrier().await.expect("barrier");
        let mut seen = 0;
        for index in 0..3 {
            let (reply, rx) = oneshot::channel();
            let tx = shards.sender(index).expect("sender");
            tx.send(ShardMsg::Status(reply)).await.expect("send");
            for api in rx.await.expect("status") {
                assert_eq!(
                    apiwarden_detect::shard_of(&api.name, 3),
                    index,
                    "{}",
                    api.name
                );
                assert_eq!(api.records, 3, "{}", api.name);
                seen += 1;
            }
        }
        assert_eq!(seen, apis);
        tokio::task::spawn_blocking(move || shards.close())
            .await
            .expect("close");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ingest_waits_while_the_scoring_backlog_is_full() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let (_shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let outputs = Arc::new(ShardOutputs {
            store: Arc::clone(&store),
            alerts: broadcast::channel(16).0,
            webhooks: Webhooks::start(Vec::new(), Arc::clone(&store), shutdown_rx),
            policy: Arc::new(Policy::default()),
            api_labels: Arc::new(ApiLabels::new(4)),
            latest_ts_ms: Arc::new(AtomicI64::new(i64::MIN)),
            hot: HotMetrics::register(),
            backlog: Arc::new(Semaphore::new(MAX_BACKLOG_RECORDS)),
        });
        let bundle = Arc::new(crate::state::empty_bundle(1));
        let shards = Shards::start(2, bundle, EngineConfig::default(), Arc::clone(&outputs))
            .expect("shards");

        // Scoring that has fallen behind: every backlog permit is held.
        let held = Arc::clone(&outputs.backlog)
            .acquire_many_owned(MAX_BACKLOG_RECORDS as u32)
            .await
            .expect("permits");
        let blocked = tokio::time::timeout(
            Duration::from_millis(300),
            shards.score(entries(10), Instant::now()),
        )
        .await;
        assert!(
            blocked.is_err(),
            "ingest must wait for the backlog to drain"
        );

        // Once scoring catches up, the batch goes through and is scored;
        // its permits come back when it is.
        drop(held);
        shards
            .score(entries(10), Instant::now())
            .await
            .expect("scored");
        shards.barrier().await.expect("barrier");
        assert_eq!(
            outputs.backlog.available_permits(),
            MAX_BACKLOG_RECORDS,
            "permits are returned after scoring"
        );
        store.flush().expect("flush");
        tokio::task::spawn_blocking(move || shards.close())
            .await
            .expect("close");
    }
}
