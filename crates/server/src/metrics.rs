//! Prometheus metrics: names `apiwarden_<name>_<unit>`, per-API labels capped
//! so a flood of discovered API names cannot blow up cardinality.

use metrics::{Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::collections::BTreeSet;
use std::sync::{OnceLock, RwLock};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Install the process-wide recorder once; later calls return the same handle.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0,
                    ],
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Suffix("_bytes".into()),
                        &[
                            64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0,
                            4194304.0, 16777216.0,
                        ],
                    )
                });
            let builder = match builder {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "metric buckets rejected; using summaries");
                    PrometheusBuilder::new()
                }
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => Some(handle),
                Err(_) => {
                    tracing::warn!("a metrics recorder was already installed");
                    None
                }
            }
        })
        .clone()
}

/// Handles of the metrics on the ingest and scoring paths, registered once:
/// a `counter!` at the call site is a registry lookup (hash + lock) each time.
/// Register after [`install`], or the handles are no-ops.
#[derive(Clone)]
pub struct HotMetrics {
    pub ingest_records: Counter,
    pub ingest_rejected: Counter,
    pub ingest_bytes: Counter,
    pub ingest_throttled: Counter,
    pub ingest_duration: Histogram,
    pub scored_records: Counter,
    pub scoring_dropped: Counter,
    pub scoring_duration: Histogram,
    /// From the durable ack of a batch to its verdicts being submitted.
    pub scoring_lag: Histogram,
    /// Acknowledged records not yet scored.
    pub scoring_backlog: Gauge,
}

impl HotMetrics {
    pub fn register() -> Self {
        HotMetrics {
            ingest_records: metrics::counter!("apiwarden_ingest_records_total"),
            ingest_rejected: metrics::counter!("apiwarden_ingest_rejected_total"),
            ingest_bytes: metrics::counter!("apiwarden_ingest_bytes_total"),
            ingest_throttled: metrics::counter!("apiwarden_ingest_throttled_total"),
            ingest_duration: metrics::histogram!("apiwarden_ingest_duration_seconds"),
            scored_records: metrics::counter!("apiwarden_scored_records_total"),
            scoring_dropped: metrics::counter!("apiwarden_scoring_dropped_records_total"),
            scoring_duration: metrics::histogram!("apiwarden_scoring_duration_seconds"),
            scoring_lag: metrics::histogram!("apiwarden_scoring_lag_seconds"),
            scoring_backlog: metrics::gauge!("apiwarden_scoring_backlog_records"),
        }
    }
}

/// Per-API label values: the first `cap` APIs by name keep theirs, the rest share `other`.
pub struct ApiLabels {
    cap: usize,
    known: RwLock<BTreeSet<String>>,
}

impl ApiLabels {
    pub fn new(cap: usize) -> Self {
        ApiLabels {
            cap,
            known: RwLock::new(BTreeSet::new()),
        }
    }

    pub fn label(&self, api: &str) -> String {
        if let Ok(known) = self.known.read() {
            if known.contains(api) {
                return api.to_string();
            }
            if known.len() >= self.cap {
                return "other".to_string();
            }
        }
        if let Ok(mut known) = self.known.write() {
            if known.len() < self.cap {
                known.insert(api.to_string());
                return api.to_string();
            }
        }
        "other".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_capped() {
        let l = ApiLabels::new(2);
        assert_eq!(l.label("a"), "a");
        assert_eq!(l.label("b"), "b");
        assert_eq!(l.label("c"), "other");
        assert_eq!(l.label("a"), "a");
    }
}
