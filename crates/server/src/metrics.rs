//! Prometheus metrics: names `apiwarden_<name>_<unit>`, per-API labels capped
//! so a flood of discovered API names cannot blow up cardinality.

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
